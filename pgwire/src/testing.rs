//! A throwaway PostgreSQL server for tests, the demo and users' own tests.
//!
//! [`TestCluster`] runs `initdb` into a fresh temporary directory, creates a
//! few roles (one per authentication method), writes a `pg_hba.conf` and
//! starts the server on a free TCP port of `127.0.0.1` and on a private Unix
//! socket directory. Only `std` is used: this module does not depend on the
//! rest of the crate, and the bootstrap SQL runs through `postgres --single`
//! (single-user mode, SQL on stdin) before the server is started.
//!
//! # Which server binaries are used
//!
//! `initdb`, `postgres` and `pg_ctl` are looked up, in this order:
//!
//! 1. the directory named by the environment variable `HYPER_PG_BIN`
//!    ([`ENV_PG_BIN`]); if it lacks one of the three binaries that is an error;
//! 2. `pg_config --bindir`, if `pg_config` runs and that directory has `initdb`;
//! 3. the directory of `initdb` found on `PATH` (symlinks resolved);
//! 4. the highest-version `/usr/lib/postgresql/*/bin` (the Debian/Ubuntu layout).
//!
//! If none is found the error says where it looked and how to fix it:
//! `apt-get install -y postgresql`, or set `HYPER_PG_BIN`.
//!
//! # Using an existing server instead
//!
//! If `HYPER_TEST_DATABASE_URL` ([`ENV_DATABASE_URL`]) is set and non-empty,
//! [`TestCluster::shared`] starts nothing: the cluster is *external* and
//! [`TestCluster::url`] returns that URL. Everything that cannot be known about
//! such a server (port, directories, the test roles) is `None`.
//! [`TestCluster::start`] always starts a private server: it exists for tests
//! that stop or restart the server, which an external one cannot offer.
//!
//! # Layout
//!
//! Each cluster lives in `$TMPDIR/hyperdjango-pg-<pid>-<nanos>/` holding
//! `data/` (the data directory, mode 0700), `sock/` (the Unix socket
//! directory) and `server.log`.
//!
//! # Running as root
//!
//! `initdb` and `postgres` refuse to run as root. When the process runs as
//! root, the base directory is handed (`chown`) to the `postgres` OS user and
//! every server command runs as that user. The Debian `postgresql` package
//! creates it; if it is missing, starting fails with an error that says so.
//! The `postgres` user must be able to reach the temporary directory (the
//! default `/tmp` is fine).
//!
//! # Teardown
//!
//! Rust never drops statics, so the shared cluster cannot be stopped by a
//! destructor. Instead every cluster has a *watchdog*: a small `sh` process
//! that blocks reading a pipe whose only write end this process holds. When
//! the process ends for any reason (success, panic, `abort`, `SIGKILL`,
//! Ctrl-C), the kernel closes the pipe; the watchdog then runs
//! `pg_ctl -m immediate stop` and deletes the base directory. The watchdog
//! is in its own process group, so a Ctrl-C in the terminal does not kill it
//! before it has cleaned up. A cluster from [`TestCluster::start`] is also
//! stopped and removed synchronously when it is dropped.
//!
//! # Roles
//!
//! | [`TestUser`]   | role          | password         | `pg_hba.conf` method (TCP) |
//! |----------------|---------------|------------------|----------------------------|
//! | `Superuser`    | `postgres`    | none             | `trust`                    |
//! | `Trust`        | `hd_trust`    | none             | `trust`                    |
//! | `Password`     | `hd_password` | `hd_password_pw` | `password` (cleartext)     |
//! | `Md5`          | `hd_md5`      | `hd_md5_pw`      | `md5` (md5 verifier stored)|
//! | `Scram`        | `hd_scram`    | `hd_scram_pw`    | `scram-sha-256`            |
//!
//! The four `hd_*` roles are not superusers; they have `CREATEDB` and may
//! create objects in schema `public` of database `postgres`. Unix-socket
//! connections are `trust` for everyone.
//!
//! # Replication, other versions, PgBouncer
//!
//! - [`TestCluster::start_standby`] makes a hot standby of a cluster with
//!   `pg_basebackup -R` on a free port; [`TestCluster::stop`], [`TestCluster::start_again`]
//!   and [`TestCluster::promote`] drive a failover; [`wait_for_replay`] waits (bounded) until
//!   the standby has replayed what the primary wrote.
//! - [`ClusterOptions::bin_dir`] starts a cluster from other binaries than the usual lookup
//!   finds (PostgreSQL 15 and 18 side by side); [`ClusterOptions::settings`] adds
//!   `postgresql.conf` lines.
//! - [`TestPgBouncer`] runs PgBouncer in front of a cluster, in session or transaction
//!   pooling mode.
//!
//! # Example
//!
//! ```no_run
//! use hyperdjango_pgwire::testing::{TestCluster, TestUser};
//!
//! let cluster = TestCluster::shared().expect("no PostgreSQL for the tests");
//! let url = cluster.url(); // postgres://postgres@127.0.0.1:<port>/postgres
//! if let Some(md5_url) = cluster.url_for(TestUser::Md5) {
//!     // postgres://hd_md5:hd_md5_pw@127.0.0.1:<port>/postgres
//!     println!("{url} {md5_url}");
//! }
//! ```

mod pgbouncer;
mod replication;

pub use pgbouncer::{ENV_PGBOUNCER, PgBouncerOptions, PoolMode, TestPgBouncer};
pub use replication::{wait_for_lsn, wait_for_replay};

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variable naming the directory that holds `initdb`, `postgres`
/// and `pg_ctl`; it wins over every other way of finding them.
///
/// ```
/// assert_eq!(hyperdjango_pgwire::testing::ENV_PG_BIN, "HYPER_PG_BIN");
/// ```
pub const ENV_PG_BIN: &str = "HYPER_PG_BIN";

/// Environment variable with the URL of an existing database: when it is set,
/// [`TestCluster::shared`] starts no server and hands out that URL.
///
/// ```
/// assert_eq!(
///     hyperdjango_pgwire::testing::ENV_DATABASE_URL,
///     "HYPER_TEST_DATABASE_URL"
/// );
/// ```
pub const ENV_DATABASE_URL: &str = "HYPER_TEST_DATABASE_URL";

/// The superuser role of a test cluster (no password; `trust` everywhere).
///
/// ```
/// use hyperdjango_pgwire::testing::{SUPERUSER, TestUser};
/// assert_eq!(TestUser::Superuser.name(), SUPERUSER);
/// ```
pub const SUPERUSER: &str = "postgres";

/// Role that logs in over TCP with `trust` (no password).
///
/// ```
/// use hyperdjango_pgwire::testing::{TRUST_USER, TestUser};
/// assert_eq!(TestUser::Trust.name(), TRUST_USER);
/// ```
pub const TRUST_USER: &str = "hd_trust";

/// Role that logs in over TCP with the cleartext `password` method.
///
/// ```
/// use hyperdjango_pgwire::testing::{PASSWORD_USER, TestUser};
/// assert_eq!(TestUser::Password.name(), PASSWORD_USER);
/// ```
pub const PASSWORD_USER: &str = "hd_password";

/// Password of [`PASSWORD_USER`].
///
/// ```
/// use hyperdjango_pgwire::testing::{PASSWORD_USER_PASSWORD, TestUser};
/// assert_eq!(TestUser::Password.password(), Some(PASSWORD_USER_PASSWORD));
/// ```
pub const PASSWORD_USER_PASSWORD: &str = "hd_password_pw";

/// Role that logs in over TCP with `md5` (its stored verifier is md5).
///
/// ```
/// use hyperdjango_pgwire::testing::{MD5_USER, TestUser};
/// assert_eq!(TestUser::Md5.name(), MD5_USER);
/// ```
pub const MD5_USER: &str = "hd_md5";

/// Password of [`MD5_USER`].
///
/// ```
/// use hyperdjango_pgwire::testing::{MD5_USER_PASSWORD, TestUser};
/// assert_eq!(TestUser::Md5.password(), Some(MD5_USER_PASSWORD));
/// ```
pub const MD5_USER_PASSWORD: &str = "hd_md5_pw";

/// Role that logs in over TCP with `scram-sha-256`.
///
/// ```
/// use hyperdjango_pgwire::testing::{SCRAM_USER, TestUser};
/// assert_eq!(TestUser::Scram.name(), SCRAM_USER);
/// ```
pub const SCRAM_USER: &str = "hd_scram";

/// Password of [`SCRAM_USER`].
///
/// ```
/// use hyperdjango_pgwire::testing::{SCRAM_USER_PASSWORD, TestUser};
/// assert_eq!(TestUser::Scram.password(), Some(SCRAM_USER_PASSWORD));
/// ```
pub const SCRAM_USER_PASSWORD: &str = "hd_scram_pw";

/// The TCP address the server listens on.
const HOST: &str = "127.0.0.1";
/// How many ports `start` tries when the chosen one gets taken meanwhile.
const START_ATTEMPTS: usize = 3;
/// `pg_ctl -t`: seconds to wait for start/stop.
const PG_CTL_TIMEOUT: &str = "60";
/// Longest Unix socket path (`sun_path` holds 108 bytes, NUL included).
const MAX_SOCKET_PATH: usize = 107;
/// How many lines of `server.log` go into an error message.
const LOG_TAIL_LINES: usize = 40;

/// Bootstrap SQL for `postgres --single`: one statement per line.
const BOOTSTRAP_SQL: &[&str] = &[
    "CREATE ROLE hd_trust LOGIN NOSUPERUSER CREATEDB;",
    "SET password_encryption = 'scram-sha-256';",
    "CREATE ROLE hd_password LOGIN NOSUPERUSER CREATEDB PASSWORD 'hd_password_pw';",
    "SET password_encryption = 'md5';",
    "CREATE ROLE hd_md5 LOGIN NOSUPERUSER CREATEDB PASSWORD 'hd_md5_pw';",
    "SET password_encryption = 'scram-sha-256';",
    "CREATE ROLE hd_scram LOGIN NOSUPERUSER CREATEDB PASSWORD 'hd_scram_pw';",
    "GRANT ALL ON SCHEMA public TO PUBLIC;",
];

/// The watchdog: wait for EOF on stdin (this process exited), then stop the
/// server (`$1` = pg_ctl, `$2` = data dir) and delete the base dir (`$3`).
/// A SIGSTOPped postmaster (see [`TestCluster::postmaster_pid`]) is woken
/// first so that it can obey the stop request.
const WATCHDOG_SCRIPT: &str = r#"cat >/dev/null
pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ]; then kill -CONT "$pid" 2>/dev/null; fi
"$1" -D "$2" -m immediate -w -t 30 stop >/dev/null 2>&1
rm -rf "$3""#;

/// How to set up a private cluster ([`TestCluster::start_with`]).
///
/// ```
/// use hyperdjango_pgwire::testing::ClusterOptions;
///
/// let options = ClusterOptions::default();
/// assert!(options.tls.is_none() && options.hba_lines.is_empty());
/// assert!(options.settings.is_empty() && options.bin_dir.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Turns `ssl` on with this certificate and key.
    pub tls: Option<ServerTls>,
    /// `pg_hba.conf` lines placed before the default ones (the first matching line wins),
    /// e.g. `hostssl all hd_cert 127.0.0.1/32 cert`.
    pub hba_lines: Vec<String>,
    /// SQL run in single-user mode after the test roles are created, one statement per line
    /// (e.g. `CREATE ROLE hd_cert LOGIN;`).
    pub bootstrap_sql: Vec<String>,
    /// `postgresql.conf` lines appended after `initdb`, e.g. `wal_keep_size = '64MB'`.
    pub settings: Vec<String>,
    /// The directory of `initdb`, `postgres` and `pg_ctl` for this cluster, instead of the
    /// usual lookup (so one test can run PostgreSQL 15 and 18 side by side).
    pub bin_dir: Option<PathBuf>,
}

/// The server side of TLS for a test cluster: PEM texts.
///
/// `Debug` does not show the key.
///
/// ```
/// use hyperdjango_pgwire::testing::ServerTls;
///
/// let tls = ServerTls {
///     cert_pem: "-----BEGIN CERTIFICATE-----...".into(),
///     key_pem: "-----BEGIN PRIVATE KEY-----secret".into(),
///     client_ca_pem: None,
/// };
/// assert!(!format!("{tls:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct ServerTls {
    /// The server's certificate chain (`ssl_cert_file`).
    pub cert_pem: String,
    /// The server's private key (`ssl_key_file`).
    pub key_pem: String,
    /// The CA that signs client certificates (`ssl_ca_file`), for `cert` authentication.
    pub client_ca_pem: Option<String>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .field(
                "client_ca_pem",
                &self.client_ca_pem.as_ref().map(String::len),
            )
            .finish()
    }
}

/// Which test role to connect as.
///
/// ```
/// use hyperdjango_pgwire::testing::TestUser;
///
/// assert_eq!(TestUser::Scram.name(), "hd_scram");
/// assert_eq!(TestUser::Scram.password(), Some("hd_scram_pw"));
/// assert_eq!(TestUser::Superuser.password(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestUser {
    /// `postgres`, the superuser (`trust`, no password).
    Superuser,
    /// `hd_trust`: `trust` over TCP, no password.
    Trust,
    /// `hd_password`: cleartext `password` over TCP.
    Password,
    /// `hd_md5`: `md5` over TCP; its stored verifier is md5.
    Md5,
    /// `hd_scram`: `scram-sha-256` over TCP.
    Scram,
}

impl TestUser {
    /// Every test user, superuser first.
    ///
    /// ```
    /// use hyperdjango_pgwire::testing::TestUser;
    /// assert_eq!(TestUser::ALL.len(), 5);
    /// ```
    pub const ALL: [TestUser; 5] = [
        TestUser::Superuser,
        TestUser::Trust,
        TestUser::Password,
        TestUser::Md5,
        TestUser::Scram,
    ];

    /// The role name.
    ///
    /// ```
    /// use hyperdjango_pgwire::testing::TestUser;
    /// assert_eq!(TestUser::Superuser.name(), "postgres");
    /// assert_eq!(TestUser::Md5.name(), "hd_md5");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            TestUser::Superuser => SUPERUSER,
            TestUser::Trust => TRUST_USER,
            TestUser::Password => PASSWORD_USER,
            TestUser::Md5 => MD5_USER,
            TestUser::Scram => SCRAM_USER,
        }
    }

    /// The role's password, `None` for the password-less `trust` roles.
    ///
    /// ```
    /// use hyperdjango_pgwire::testing::TestUser;
    /// assert_eq!(TestUser::Password.password(), Some("hd_password_pw"));
    /// assert_eq!(TestUser::Trust.password(), None);
    /// ```
    pub fn password(&self) -> Option<&'static str> {
        match self {
            TestUser::Superuser | TestUser::Trust => None,
            TestUser::Password => Some(PASSWORD_USER_PASSWORD),
            TestUser::Md5 => Some(MD5_USER_PASSWORD),
            TestUser::Scram => Some(SCRAM_USER_PASSWORD),
        }
    }

    /// The `pg_hba.conf` method this role gets on TCP connections.
    ///
    /// ```
    /// use hyperdjango_pgwire::testing::TestUser;
    /// assert_eq!(TestUser::Scram.auth_method(), "scram-sha-256");
    /// assert_eq!(TestUser::Superuser.auth_method(), "trust");
    /// ```
    pub fn auth_method(&self) -> &'static str {
        match self {
            TestUser::Superuser | TestUser::Trust => "trust",
            TestUser::Password => "password",
            TestUser::Md5 => "md5",
            TestUser::Scram => "scram-sha-256",
        }
    }
}

/// Why a test cluster could not be started or controlled.
///
/// The message says what failed (with the output of the failing command or
/// the tail of `server.log`) and, where it can, how to fix it. `Debug` prints
/// the same text, so `TestCluster::shared().unwrap()` panics readably.
///
/// ```no_run
/// use hyperdjango_pgwire::testing::TestCluster;
///
/// match TestCluster::start() {
///     Ok(cluster) => println!("listening on {:?}", cluster.port()),
///     Err(e) => eprintln!("no test server: {e}"),
/// }
/// ```
pub struct TestClusterError {
    message: String,
}

impl TestClusterError {
    fn new(message: impl Into<String>) -> Self {
        TestClusterError {
            message: message.into(),
        }
    }
}

impl fmt::Display for TestClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for TestClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestClusterError: {}", self.message)
    }
}

impl std::error::Error for TestClusterError {}

type Result<T, E = TestClusterError> = std::result::Result<T, E>;

/// A throwaway PostgreSQL server (or, with `HYPER_TEST_DATABASE_URL`, an
/// external one). See the [module docs](self).
///
/// ```no_run
/// use hyperdjango_pgwire::testing::{TestCluster, TestUser};
///
/// // Most tests share one server per test process:
/// let shared = TestCluster::shared().unwrap();
/// println!("{}", shared.url());
///
/// // Tests that stop or restart the server get their own:
/// let own = TestCluster::start().unwrap();
/// own.restart().unwrap();
/// println!("{:?}", own.url_for(TestUser::Scram));
/// drop(own); // stopped and deleted
/// ```
pub struct TestCluster {
    inner: Inner,
}

enum Inner {
    External { url: String },
    Local(Box<Local>),
}

/// A server this process started.
struct Local {
    /// From [`TestCluster::start`] (may be stopped/restarted by its owner).
    owned: bool,
    paths: Paths,
    runner: Runner,
    port: u16,
    version: Option<String>,
    /// Serializes stop/start/restart.
    control: Mutex<()>,
    /// `None` only after teardown.
    watchdog: Option<Watchdog>,
}

/// The directories and files of one cluster.
struct Paths {
    bin: PathBuf,
    base: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    log: PathBuf,
}

impl Paths {
    fn new(bin: PathBuf, base: PathBuf) -> Self {
        Paths {
            data: base.join("data"),
            sock: base.join("sock"),
            log: base.join("server.log"),
            bin,
            base,
        }
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// The OS user the server commands run as, when that is not this process's.
#[derive(Clone, Copy)]
struct Ids {
    uid: u32,
    gid: u32,
}

/// Builds commands that run as the right user, in the base dir, with a clean
/// environment.
struct Runner {
    ids: Option<Ids>,
    cwd: PathBuf,
}

impl Runner {
    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.cwd)
            .env("LC_ALL", "C")
            .env("LANG", "C");
        // PGPORT, PGDATA, PGOPTIONS, ... must not leak into the server.
        for (key, _) in std::env::vars_os() {
            if key.as_encoded_bytes().starts_with(b"PG") {
                cmd.env_remove(key);
            }
        }
        if let Some(ids) = self.ids {
            cmd.uid(ids.uid).gid(ids.gid);
        }
        cmd
    }

    /// Runs `cmd` with stdin closed and returns its output (whatever its
    /// exit status).
    fn output(&self, mut cmd: Command, what: &str) -> Result<Output> {
        cmd.stdin(Stdio::null());
        cmd.output().map_err(|e| self.spawn_error(what, &e))
    }

    /// Like [`Runner::output`], but a non-zero exit status is an error.
    fn run(&self, cmd: Command, what: &str) -> Result<Output> {
        let out = self.output(cmd, what)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(TestClusterError::new(format!(
                "{what} failed ({}):\n{}",
                out.status,
                output_text(&out)
            )))
        }
    }

    fn spawn_error(&self, what: &str, e: &std::io::Error) -> TestClusterError {
        let mut msg = format!("could not run {what}: {e}");
        if self.ids.is_some() {
            msg.push_str(&format!(
                "\nThis process runs as root, so PostgreSQL commands run as the `postgres` OS \
                 user, which must be able to reach {}. Point TMPDIR at a directory it can \
                 access (e.g. TMPDIR=/tmp).",
                self.cwd.display()
            ));
        }
        TestClusterError::new(msg)
    }
}

/// The `sh` process that stops the server and deletes the base dir once
/// `stdin` is closed (explicitly, or by the kernel when this process exits).
struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
    base: PathBuf,
}

impl Watchdog {
    fn spawn(paths: &Paths, runner: &Runner) -> Result<Watchdog> {
        let mut cmd = runner.command("/bin/sh");
        cmd.arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("sh")
            .arg(paths.tool("pg_ctl"))
            .arg(&paths.data)
            .arg(&paths.base)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Not in our process group: a Ctrl-C must not kill it before
            // it has cleaned up.
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| runner.spawn_error("the cleanup watchdog (/bin/sh)", &e))?;
        let stdin = child.stdin.take();
        Ok(Watchdog {
            child,
            stdin,
            base: paths.base.clone(),
        })
    }

    /// Stops the server and removes the base dir, waiting until done.
    fn shutdown(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
        if fs::symlink_metadata(&self.base).is_ok() {
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why `pg_ctl start` failed.
enum StartError {
    /// The port was taken between choosing it and the server binding it.
    PortTaken(TestClusterError),
    Other(TestClusterError),
}

impl From<TestClusterError> for StartError {
    fn from(e: TestClusterError) -> Self {
        StartError::Other(e)
    }
}

impl StartError {
    fn into_error(self) -> TestClusterError {
        match self {
            StartError::PortTaken(e) | StartError::Other(e) => e,
        }
    }
}

impl TestCluster {
    /// The cluster shared by every test in this process, started on first use.
    ///
    /// If `HYPER_TEST_DATABASE_URL` is set, no server is started: the cluster
    /// is external and [`url`](Self::url) returns that URL. The outcome is
    /// cached, errors included, so a missing PostgreSQL fails once and
    /// cheaply. The server is stopped and deleted when the process exits
    /// (see "Teardown" in the [module docs](self)).
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// assert!(cluster.url().starts_with("postgres://"));
    /// ```
    pub fn shared() -> Result<&'static TestCluster, &'static TestClusterError> {
        static SHARED: OnceLock<Result<TestCluster, TestClusterError>> = OnceLock::new();
        SHARED
            .get_or_init(|| match external_url() {
                Some(url) => Ok(TestCluster {
                    inner: Inner::External { url },
                }),
                None => launch(false, &ClusterOptions::default()),
            })
            .as_ref()
    }

    /// A private cluster owned by the caller, for tests that stop or restart
    /// the server. It is stopped and its directory removed on drop (or, if
    /// the process dies first, by the watchdog). It ignores
    /// `HYPER_TEST_DATABASE_URL`: it always starts a local server.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// cluster.stop().unwrap();
    /// cluster.start_again().unwrap();
    /// ```
    pub fn start() -> Result<TestCluster, TestClusterError> {
        launch(true, &ClusterOptions::default())
    }

    /// A private cluster like [`start`](Self::start), set up with `options`: TLS with the
    /// given certificate, extra `pg_hba.conf` lines and extra roles.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::{ClusterOptions, TestCluster};
    ///
    /// let options = ClusterOptions {
    ///     hba_lines: vec!["host all hd_nobody 127.0.0.1/32 reject".into()],
    ///     bootstrap_sql: vec!["CREATE ROLE hd_nobody LOGIN;".into()],
    ///     ..ClusterOptions::default()
    /// };
    /// let cluster = TestCluster::start_with(&options).unwrap();
    /// ```
    pub fn start_with(options: &ClusterOptions) -> Result<TestCluster, TestClusterError> {
        launch(true, options)
    }

    /// Whether this is an external server from `HYPER_TEST_DATABASE_URL`.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// if cluster.is_external() {
    ///     println!("using {}", cluster.url());
    /// }
    /// ```
    pub fn is_external(&self) -> bool {
        matches!(self.inner, Inner::External { .. })
    }

    /// The TCP host, `"127.0.0.1"`; `None` when external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// assert_eq!(cluster.host(), Some("127.0.0.1"));
    /// ```
    pub fn host(&self) -> Option<&str> {
        self.local().map(|_| HOST)
    }

    /// The TCP port (also part of the Unix socket's name); `None` when external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// let port = cluster.port().unwrap();
    /// std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    /// ```
    pub fn port(&self) -> Option<u16> {
        self.local().map(|l| l.port)
    }

    /// The Unix socket directory (holding `.s.PGSQL.<port>`); `None` when external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// let socket = cluster
    ///     .socket_dir()
    ///     .unwrap()
    ///     .join(format!(".s.PGSQL.{}", cluster.port().unwrap()));
    /// assert!(socket.exists());
    /// ```
    pub fn socket_dir(&self) -> Option<&Path> {
        self.local().map(|l| l.paths.sock.as_path())
    }

    /// The superuser URL, `postgres://postgres@127.0.0.1:PORT/postgres`; when
    /// external, the URL from `HYPER_TEST_DATABASE_URL`.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let url = TestCluster::shared().unwrap().url();
    /// println!("connect to {url}");
    /// ```
    pub fn url(&self) -> String {
        match &self.inner {
            Inner::External { url } => url.clone(),
            Inner::Local(l) => tcp_url(l.port, TestUser::Superuser),
        }
    }

    /// The TCP URL for `user`, password included, e.g.
    /// `postgres://hd_md5:hd_md5_pw@127.0.0.1:PORT/postgres`; `None` when
    /// external (the test roles only exist on servers started here).
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::{TestCluster, TestUser};
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// if let Some(url) = cluster.url_for(TestUser::Scram) {
    ///     assert!(url.starts_with("postgres://hd_scram:hd_scram_pw@127.0.0.1:"));
    /// }
    /// ```
    pub fn url_for(&self, user: TestUser) -> Option<String> {
        self.local().map(|l| tcp_url(l.port, user))
    }

    /// The superuser URL over the Unix socket:
    /// `postgres://postgres@/postgres?host=<percent-encoded socket dir>&port=PORT`
    /// (the port names the socket file); `None` when external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// if let Some(url) = cluster.socket_url() {
    ///     assert!(url.starts_with("postgres://postgres@/postgres?host=%2F"));
    /// }
    /// ```
    pub fn socket_url(&self) -> Option<String> {
        self.local().map(|l| socket_url(&l.paths.sock, l.port))
    }

    /// The server version from `postgres --version`, e.g. `"15.18"`; `None`
    /// when external or unknown.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// if let Some(version) = cluster.server_version() {
    ///     let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    ///     assert!(major >= 10);
    /// }
    /// ```
    pub fn server_version(&self) -> Option<&str> {
        self.local().and_then(|l| l.version.as_deref())
    }

    /// The directory of `initdb`, `postgres`, `pg_ctl` (and usually `psql`);
    /// `None` when external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// if let Some(bin) = cluster.bin_dir() {
    ///     assert!(bin.join("pg_ctl").exists());
    /// }
    /// ```
    pub fn bin_dir(&self) -> Option<&Path> {
        self.local().map(|l| l.paths.bin.as_path())
    }

    /// The base directory `$TMPDIR/hyperdjango-pg-<pid>-<nanos>` holding
    /// `data/`, `sock/` and `server.log`; `None` when external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// let base = cluster.base_dir().unwrap().to_owned();
    /// drop(cluster);
    /// assert!(!base.exists());
    /// ```
    pub fn base_dir(&self) -> Option<&Path> {
        self.local().map(|l| l.paths.base.as_path())
    }

    /// The data directory; `None` when external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// if let Some(data) = cluster.data_dir() {
    ///     assert!(data.join("PG_VERSION").exists());
    /// }
    /// ```
    pub fn data_dir(&self) -> Option<&Path> {
        self.local().map(|l| l.paths.data.as_path())
    }

    /// The server log (`server.log`); `None` when external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// if let Some(log) = cluster.log_path() {
    ///     println!("{}", std::fs::read_to_string(log).unwrap_or_default());
    /// }
    /// ```
    pub fn log_path(&self) -> Option<&Path> {
        self.local().map(|l| l.paths.log.as_path())
    }

    /// Stops the server (`pg_ctl -m fast stop`). Only for clusters from
    /// [`start`](Self::start); an error for the shared or an external one.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// cluster.stop().unwrap();
    /// assert!(std::net::TcpStream::connect(("127.0.0.1", cluster.port().unwrap())).is_err());
    /// ```
    pub fn stop(&self) -> Result<(), TestClusterError> {
        self.stop_mode("fast")
    }

    /// Stops the server at once (`pg_ctl -m immediate stop`): every backend exits without
    /// finishing its work, as in a crash, so nothing in flight can complete. The next start
    /// runs crash recovery. Only for clusters from [`start`](Self::start).
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// cluster.stop_immediate().unwrap();
    /// assert!(std::net::TcpStream::connect(("127.0.0.1", cluster.port().unwrap())).is_err());
    /// ```
    pub fn stop_immediate(&self) -> Result<(), TestClusterError> {
        self.stop_mode("immediate")
    }

    fn stop_mode(&self, mode: &str) -> Result<(), TestClusterError> {
        let local = self.owned("stop")?;
        let _guard = lock(&local.control);
        let mut cmd = local.runner.command(local.paths.tool("pg_ctl"));
        cmd.arg("-D")
            .arg(&local.paths.data)
            .args(["-m", mode, "-w", "-t", PG_CTL_TIMEOUT, "stop"]);
        local
            .runner
            .run(cmd, "pg_ctl stop")
            .map(drop)
            .map_err(|e| with_log_tail(e, &local.paths.log))
    }

    /// Starts the server again, on the same port, after [`stop`](Self::stop).
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// cluster.stop().unwrap();
    /// cluster.start_again().unwrap();
    /// std::net::TcpStream::connect(("127.0.0.1", cluster.port().unwrap())).unwrap();
    /// ```
    pub fn start_again(&self) -> Result<(), TestClusterError> {
        let local = self.owned("start_again")?;
        let _guard = lock(&local.control);
        pg_ctl_start(&local.paths, &local.runner, local.port, "start")
            .map_err(StartError::into_error)
    }

    /// Restarts the server (`pg_ctl -m fast restart`), on the same port.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// let before = cluster.postmaster_pid();
    /// cluster.restart().unwrap();
    /// assert_ne!(before, cluster.postmaster_pid());
    /// ```
    pub fn restart(&self) -> Result<(), TestClusterError> {
        let local = self.owned("restart")?;
        let _guard = lock(&local.control);
        pg_ctl_start(&local.paths, &local.runner, local.port, "restart")
            .map_err(StartError::into_error)
    }

    /// A hot standby of this cluster: a base backup (`pg_basebackup -R -X stream`) started
    /// on a free port of `127.0.0.1`, streaming from this server. It is a private cluster of
    /// its own (stopped and deleted on drop or at exit, like one from
    /// [`start`](Self::start)); it can be stopped, restarted and [promoted](Self::promote).
    /// The primary needs nothing special: `wal_level` is `replica` by default and the
    /// harness's `pg_hba.conf` lets loopback replication connections in. An error when this
    /// cluster is external.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let primary = TestCluster::start().unwrap();
    /// let standby = primary.start_standby().unwrap();
    /// assert_ne!(primary.port(), standby.port());
    /// ```
    pub fn start_standby(&self) -> Result<TestCluster, TestClusterError> {
        let primary = self.local().ok_or_else(|| {
            TestClusterError::new(
                "TestCluster::start_standby() needs a server started here, not an external one \
                 (HYPER_TEST_DATABASE_URL)",
            )
        })?;
        let port = primary.port;
        launch_in(true, primary.paths.bin.clone(), |paths, runner| {
            base_backup(paths, runner, port)
        })
    }

    /// Promotes this standby to a primary (`pg_ctl promote -w`: returns once it accepts
    /// writes). Only for private clusters; an error for a server that is not a standby.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let primary = TestCluster::start().unwrap();
    /// let standby = primary.start_standby().unwrap();
    /// primary.stop().unwrap();
    /// standby.promote().unwrap();
    /// ```
    pub fn promote(&self) -> Result<(), TestClusterError> {
        let local = self.owned("promote")?;
        let _guard = lock(&local.control);
        let mut cmd = local.runner.command(local.paths.tool("pg_ctl"));
        cmd.arg("-D")
            .arg(&local.paths.data)
            .args(["-w", "-t", PG_CTL_TIMEOUT, "promote"]);
        local
            .runner
            .run(cmd, "pg_ctl promote")
            .map(drop)
            .map_err(|e| with_log_tail(e, &local.paths.log))
    }

    /// The postmaster's pid (first line of `data/postmaster.pid`), e.g. to
    /// `SIGSTOP` the server; `None` when external or not running.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestCluster;
    ///
    /// let cluster = TestCluster::start().unwrap();
    /// let pid = cluster.postmaster_pid().unwrap();
    /// std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap();
    /// // ... test timeouts ...
    /// std::process::Command::new("kill").args(["-CONT", &pid.to_string()]).status().unwrap();
    /// ```
    pub fn postmaster_pid(&self) -> Option<u32> {
        let local = self.local()?;
        let text = fs::read_to_string(local.paths.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn local(&self) -> Option<&Local> {
        match &self.inner {
            Inner::Local(l) => Some(l),
            Inner::External { .. } => None,
        }
    }

    fn owned(&self, what: &str) -> Result<&Local> {
        match &self.inner {
            Inner::Local(l) if l.owned => Ok(l),
            Inner::Local(_) => Err(TestClusterError::new(format!(
                "TestCluster::{what}() is not allowed on the shared cluster: other tests use it. \
                 Use TestCluster::start() to get a private cluster."
            ))),
            Inner::External { .. } => Err(TestClusterError::new(format!(
                "TestCluster::{what}() is not possible on an external server \
                 (HYPER_TEST_DATABASE_URL). Use TestCluster::start() to get a private cluster."
            ))),
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Inner::Local(local) = &mut self.inner {
            if let Some(mut watchdog) = local.watchdog.take() {
                watchdog.shutdown();
            }
        }
    }
}

impl fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::External { .. } => f
                .debug_struct("TestCluster")
                .field("external", &true)
                .finish_non_exhaustive(),
            Inner::Local(l) => f
                .debug_struct("TestCluster")
                .field("owned", &l.owned)
                .field("port", &l.port)
                .field("base_dir", &l.paths.base)
                .field("version", &l.version)
                .finish_non_exhaustive(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `HYPER_TEST_DATABASE_URL`, if set and not empty.
fn external_url() -> Option<String> {
    std::env::var(ENV_DATABASE_URL)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// Everything from finding the binaries to a running server.
fn launch(owned: bool, options: &ClusterOptions) -> Result<TestCluster> {
    let bin = match &options.bin_dir {
        Some(dir) => {
            let missing = missing_binaries(dir);
            if !missing.is_empty() {
                return Err(TestClusterError::new(format!(
                    "ClusterOptions::bin_dir {} lacks {}",
                    dir.display(),
                    missing.join(", ")
                )));
            }
            dir.clone()
        }
        None => BinLookup::from_env().find()?,
    };
    launch_in(owned, bin, |paths, runner| {
        init_cluster(paths, runner, options)
    })
}

/// Sets up the directories and the watchdog, fills the data directory with `populate`
/// (`initdb`, or a base backup for a standby), and starts the server on a free port.
fn launch_in(
    owned: bool,
    bin: PathBuf,
    populate: impl FnOnce(&Paths, &Runner) -> Result<()>,
) -> Result<TestCluster> {
    let version = server_version(&bin);
    let ids = server_identity()?;
    let base = create_base_dir()?;
    let paths = Paths::new(bin, base);
    let runner = Runner {
        ids,
        cwd: paths.base.clone(),
    };
    // From here on the watchdog owns cleanup: dropping it (on any error
    // below, or at process exit) stops the server and deletes the base dir.
    let watchdog = match prepare_dirs(&paths, ids).and_then(|()| Watchdog::spawn(&paths, &runner)) {
        Ok(w) => w,
        Err(e) => {
            let _ = fs::remove_dir_all(&paths.base);
            return Err(e);
        }
    };
    populate(&paths, &runner)?;
    let port = start_on_free_port(&paths, &runner)?;
    Ok(TestCluster {
        inner: Inner::Local(Box::new(Local {
            owned,
            paths,
            runner,
            port,
            version,
            control: Mutex::new(()),
            watchdog: Some(watchdog),
        })),
    })
}

// ---------------------------------------------------------------------------
// Finding the binaries

const REQUIRED_BINARIES: [&str; 3] = ["initdb", "postgres", "pg_ctl"];

fn missing_binaries(dir: &Path) -> Vec<&'static str> {
    REQUIRED_BINARIES
        .into_iter()
        .filter(|name| !is_executable(&dir.join(name)))
        .collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where to look for the server binaries: the environment, made explicit
/// so that the lookup can be tested.
struct BinLookup {
    /// `HYPER_PG_BIN`.
    pg_bin: Option<OsString>,
    /// `PATH`.
    path: Option<OsString>,
    /// `/usr/lib/postgresql`.
    lib_root: PathBuf,
}

impl BinLookup {
    fn from_env() -> Self {
        BinLookup {
            pg_bin: std::env::var_os(ENV_PG_BIN),
            path: std::env::var_os("PATH"),
            lib_root: PathBuf::from("/usr/lib/postgresql"),
        }
    }

    /// The server binary directory, in the documented lookup order.
    fn find(&self) -> Result<PathBuf> {
        if let Some(dir) = self.pg_bin.as_ref().filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            let missing = missing_binaries(&dir);
            if missing.is_empty() {
                return Ok(dir);
            }
            return Err(not_found(&[format!(
                "{ENV_PG_BIN}={} (lacks {})",
                dir.display(),
                missing.join(", ")
            )]));
        }
        let mut looked = vec![format!("{ENV_PG_BIN}: not set")];
        let candidates = [
            ("`pg_config --bindir`", self.bindir_from_pg_config()),
            ("`initdb` on PATH", self.bindir_from_path()),
            (
                "/usr/lib/postgresql/*/bin",
                highest_versioned_bindir(&self.lib_root),
            ),
        ];
        for (how, dir) in candidates {
            match dir {
                Some(dir) => {
                    let missing = missing_binaries(&dir);
                    if missing.is_empty() {
                        return Ok(dir);
                    }
                    looked.push(format!(
                        "{how}: {} (lacks {})",
                        dir.display(),
                        missing.join(", ")
                    ));
                }
                None => looked.push(format!("{how}: nothing found")),
            }
        }
        Err(not_found(&looked))
    }

    /// `name` in the directories of `PATH`.
    fn find_in_path(&self, name: &str) -> Option<PathBuf> {
        std::env::split_paths(self.path.as_deref()?)
            .map(|dir| dir.join(name))
            .find(|file| is_executable(file))
    }

    fn bindir_from_pg_config(&self) -> Option<PathBuf> {
        let out = Command::new(self.find_in_path("pg_config")?)
            .arg("--bindir")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        is_executable(&dir.join("initdb")).then_some(dir)
    }

    fn bindir_from_path(&self) -> Option<PathBuf> {
        // Resolve e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb,
        // where postgres and pg_ctl live too.
        let initdb = fs::canonicalize(self.find_in_path("initdb")?).ok()?;
        initdb.parent().map(Path::to_path_buf)
    }
}

/// The "binaries not found" error, listing where we looked.
fn not_found(looked: &[String]) -> TestClusterError {
    TestClusterError::new(format!(
        "PostgreSQL server binaries (initdb, postgres, pg_ctl) were not found.\n\
         Looked in:\n  - {}\n\
         To fix: install PostgreSQL (`apt-get install -y postgresql` on Debian/Ubuntu), \
         or set {ENV_PG_BIN} to the directory holding initdb, postgres and pg_ctl \
         (e.g. /usr/lib/postgresql/15/bin), \
         or set {ENV_DATABASE_URL} to the URL of an existing database \
         (honoured by TestCluster::shared() only).",
        looked.join("\n  - ")
    ))
}

/// `<root>/<highest version>/bin` among `<root>/*/bin` holding `initdb`.
fn highest_versioned_bindir(root: &Path) -> Option<PathBuf> {
    fs::read_dir(root)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = version_key(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            is_executable(&bin.join("initdb")).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// "9.6" -> [9, 6], "15" -> [15]; `None` for names that are not versions.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// `postgres --version` -> "15.18".
fn server_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin.join("postgres"))
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> "15.18".
fn parse_version(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let after_name = words.clone().skip_while(|w| *w != "(PostgreSQL)").nth(1);
    after_name
        .or_else(|| words.find(|w| w.starts_with(|c: char| c.is_ascii_digit())))
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------
// Users and directories

/// `None` if the server commands can run as this process's user; the
/// `postgres` user's ids when this process is root.
fn server_identity() -> Result<Option<Ids>> {
    if !running_as_root() {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    match lookup_user(&passwd, SUPERUSER) {
        Some(ids) => Ok(Some(ids)),
        None => Err(TestClusterError::new(
            "This process runs as root, and PostgreSQL refuses to run as root, so the server \
             must run as the `postgres` OS user, but /etc/passwd has no `postgres` user. \
             To fix: install the server package (`apt-get install -y postgresql` creates the \
             user), or create it (`useradd --system postgres`), or run the tests as a non-root \
             user, or set HYPER_TEST_DATABASE_URL to an existing database.",
        )),
    }
}

fn running_as_root() -> bool {
    if let Ok(meta) = fs::metadata("/proc/self") {
        return meta.uid() == 0;
    }
    Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Finds `user` in the text of /etc/passwd (`name:pw:uid:gid:...`).
fn lookup_user(passwd: &str, user: &str) -> Option<Ids> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != user {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.trim().parse().ok()?;
        let gid = fields.next()?.trim().parse().ok()?;
        Some(Ids { uid, gid })
    })
}

/// Creates `$TMPDIR/hyperdjango-pg-<pid>-<nanos>` (mode 0700).
fn create_base_dir() -> Result<PathBuf> {
    let tmp = std::env::temp_dir();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut last_error = None;
    for attempt in 0..100u128 {
        let base = tmp.join(format!(
            "hyperdjango-pg-{}-{}",
            std::process::id(),
            nanos + attempt
        ));
        check_socket_path_length(&base)?;
        match fs::DirBuilder::new().mode(0o700).create(&base) {
            Ok(()) => return Ok(base),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => {
                return Err(TestClusterError::new(format!(
                    "could not create the test cluster directory {}: {e}. \
                     Set TMPDIR to a writable directory.",
                    base.display()
                )));
            }
        }
    }
    Err(TestClusterError::new(format!(
        "could not create a fresh directory under {}: {}",
        tmp.display(),
        last_error.map_or_else(String::new, |e| e.to_string())
    )))
}

/// Unix socket paths are limited to 107 bytes; fail clearly if TMPDIR is too deep.
fn check_socket_path_length(base: &Path) -> Result<()> {
    let socket = base.join("sock").join(".s.PGSQL.65535.lock");
    let len = socket.as_os_str().len();
    if len <= MAX_SOCKET_PATH {
        return Ok(());
    }
    Err(TestClusterError::new(format!(
        "the Unix socket path {} would be {len} bytes, more than the {MAX_SOCKET_PATH} the OS \
         allows. Set TMPDIR to a shorter directory (e.g. TMPDIR=/tmp).",
        socket.display()
    )))
}

/// Creates `data/` and `sock/` (0700) and, when root, hands the tree to
/// the `postgres` user.
fn prepare_dirs(paths: &Paths, ids: Option<Ids>) -> Result<()> {
    for dir in [&paths.data, &paths.sock] {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_error("create", dir, &e))?;
    }
    for dir in [&paths.base, &paths.data, &paths.sock] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("set permissions of", dir, &e))?;
        if let Some(ids) = ids {
            std::os::unix::fs::chown(dir, Some(ids.uid), Some(ids.gid))
                .map_err(|e| io_error("chown (to the postgres user)", dir, &e))?;
        }
    }
    Ok(())
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> TestClusterError {
    TestClusterError::new(format!("could not {what} {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// initdb, roles, pg_hba.conf

fn init_cluster(paths: &Paths, runner: &Runner, options: &ClusterOptions) -> Result<()> {
    let mut initdb = runner.command(paths.tool("initdb"));
    initdb.arg("-D").arg(&paths.data).args([
        "-U",
        SUPERUSER,
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    runner.run(initdb, "initdb")?;
    bootstrap_roles(paths, runner, &options.bootstrap_sql)?;
    let hba = paths.data.join("pg_hba.conf");
    let mut conf = String::from("# Extra lines from ClusterOptions (first match wins).\n");
    for line in &options.hba_lines {
        conf.push_str(line);
        conf.push('\n');
    }
    conf.push_str(&pg_hba_conf());
    fs::write(&hba, conf).map_err(|e| io_error("write", &hba, &e))?;
    if let Some(tls) = &options.tls {
        write_tls_files(paths, runner, tls)?;
    }
    if !options.settings.is_empty() {
        let mut text = String::from("\n# From ClusterOptions::settings\n");
        for line in &options.settings {
            text.push_str(line);
            text.push('\n');
        }
        append_to_conf(paths, &text)?;
    }
    Ok(())
}

/// Appends `text` to the data directory's `postgresql.conf`.
fn append_to_conf(paths: &Paths, text: &str) -> Result<()> {
    let conf = paths.data.join("postgresql.conf");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .map_err(|e| io_error("open", &conf, &e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| io_error("append to", &conf, &e))
}

/// Fills an empty data directory with a base backup of the server on `primary_port`
/// (`pg_basebackup -R`: it starts as a hot standby streaming from that server).
fn base_backup(paths: &Paths, runner: &Runner, primary_port: u16) -> Result<()> {
    let mut cmd = runner.command(paths.tool("pg_basebackup"));
    cmd.arg("-D")
        .arg(&paths.data)
        .args([
            "-h", HOST, "-U", SUPERUSER, "-R", "-X", "stream", "-c", "fast",
        ])
        .arg("-p")
        .arg(primary_port.to_string())
        .arg("--no-sync");
    runner.run(cmd, "pg_basebackup (making a standby)")?;
    Ok(())
}

/// Writes the server's certificate, key and client CA into the data directory (owned by the
/// server's user, the key readable by it alone) and turns `ssl` on.
fn write_tls_files(paths: &Paths, runner: &Runner, tls: &ServerTls) -> Result<()> {
    let mut files = vec![
        ("server.crt", tls.cert_pem.as_str(), 0o644),
        ("server.key", tls.key_pem.as_str(), 0o600),
    ];
    if let Some(ca) = &tls.client_ca_pem {
        files.push(("client_ca.crt", ca.as_str(), 0o644));
    }
    for (name, text, mode) in &files {
        let path = paths.data.join(name);
        fs::write(&path, text).map_err(|e| io_error("write", &path, &e))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode))
            .map_err(|e| io_error("set permissions of", &path, &e))?;
        if let Some(ids) = runner.ids {
            std::os::unix::fs::chown(&path, Some(ids.uid), Some(ids.gid))
                .map_err(|e| io_error("chown (to the postgres user)", &path, &e))?;
        }
    }
    let mut settings = String::from(
        "\n# TLS, from ClusterOptions\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
    );
    if tls.client_ca_pem.is_some() {
        settings.push_str("ssl_ca_file = 'client_ca.crt'\n");
    }
    append_to_conf(paths, &settings)
}

/// Creates the test roles through single-user mode.
fn bootstrap_roles(paths: &Paths, runner: &Runner, extra_sql: &[String]) -> Result<()> {
    let mut cmd = runner.command(paths.tool("postgres"));
    cmd.arg("--single")
        .arg("-D")
        .arg(&paths.data)
        .args(["-F", "postgres"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = "postgres --single (creating the test roles)";
    let mut child = cmd.spawn().map_err(|e| runner.spawn_error(what, &e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means postgres exited early; its output says why.
        let _ = stdin.write_all(BOOTSTRAP_SQL.join("\n").as_bytes());
        let _ = stdin.write_all(b"\n");
        for line in extra_sql {
            let _ = stdin.write_all(line.as_bytes());
            let _ = stdin.write_all(b"\n");
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| runner.spawn_error(what, &e))?;
    let text = output_text(&out);
    let errors = error_lines(&text);
    if out.status.success() && errors.is_empty() {
        return Ok(());
    }
    Err(TestClusterError::new(format!(
        "{what} failed ({}):\n{}\n--- full output ---\n{text}",
        out.status,
        errors.join("\n")
    )))
}

/// The ERROR/FATAL/PANIC lines of single-user mode output.
fn error_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| {
            ["ERROR:", "FATAL:", "PANIC:"]
                .iter()
                .any(|level| line.contains(level))
        })
        .collect()
}

fn pg_hba_conf() -> String {
    let mut conf = String::from(
        "# Written by hyperdjango's testing module.\n\
         # TYPE  DATABASE     USER         ADDRESS        METHOD\n\
         local   all          all                         trust\n\
         local   replication  all                         trust\n",
    );
    for address in ["127.0.0.1/32", "::1/128"] {
        for user in &TestUser::ALL[1..] {
            conf.push_str(&format!(
                "host    all          {:<12} {address:<14} {}\n",
                user.name(),
                user.auth_method()
            ));
        }
        conf.push_str(&format!(
            "host    all          all          {address:<14} trust\n\
             host    replication  all          {address:<14} trust\n"
        ));
    }
    conf
}

// ---------------------------------------------------------------------------
// Starting the server

/// Picks a free port and starts the server on it, retrying with a new
/// port if it got taken in between.
fn start_on_free_port(paths: &Paths, runner: &Runner) -> Result<u16> {
    let mut last = None;
    for _ in 0..START_ATTEMPTS {
        let port = free_port()?;
        match pg_ctl_start(paths, runner, port, "start") {
            Ok(()) => return Ok(port),
            Err(StartError::PortTaken(e)) => last = Some(e),
            Err(StartError::Other(e)) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| TestClusterError::new("the server did not start")))
}

fn free_port() -> Result<u16> {
    TcpListener::bind((HOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| {
            TestClusterError::new(format!("could not find a free TCP port on {HOST}: {e}"))
        })
}

/// The postgres options passed through `pg_ctl -o` (run by `sh`, hence quoting).
fn server_options(port: u16, sock: &Path) -> String {
    format!(
        "-p {port} -c listen_addresses={HOST} -c unix_socket_directories={} \
         -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
         -c max_connections=300 -c shared_buffers=128MB",
        shell_quote(&sock.to_string_lossy())
    )
}

/// `pg_ctl start` or `pg_ctl restart` on `port`, waiting until it accepts
/// connections.
fn pg_ctl_start(paths: &Paths, runner: &Runner, port: u16, action: &str) -> Result<(), StartError> {
    let log_offset = fs::metadata(&paths.log).map_or(0, |m| m.len());
    let mut cmd = runner.command(paths.tool("pg_ctl"));
    cmd.arg("-D")
        .arg(&paths.data)
        .arg("-l")
        .arg(&paths.log)
        .args(["-w", "-t", PG_CTL_TIMEOUT]);
    if action == "restart" {
        cmd.args(["-m", "fast"]);
    }
    cmd.arg("-o")
        .arg(server_options(port, &paths.sock))
        .arg(action);
    let what = format!("pg_ctl {action} (port {port})");
    let out = runner.output(cmd, &what)?;
    if out.status.success() {
        return Ok(());
    }
    let new_log = read_log_from(&paths.log, log_offset);
    let error = with_log_tail(
        TestClusterError::new(format!(
            "{what} failed ({}):\n{}",
            out.status,
            output_text(&out)
        )),
        &paths.log,
    );
    if new_log.contains("could not bind") || new_log.contains("Address already in use") {
        Err(StartError::PortTaken(error))
    } else {
        Err(StartError::Other(error))
    }
}

fn read_log_from(log: &Path, offset: u64) -> String {
    let bytes = fs::read(log).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Appends the last lines of `server.log` to an error.
fn with_log_tail(error: TestClusterError, log: &Path) -> TestClusterError {
    let text = String::from_utf8_lossy(&fs::read(log).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    TestClusterError::new(format!(
        "{}\n--- last lines of {} ---\n{tail}",
        error.message,
        log.display()
    ))
}

// ---------------------------------------------------------------------------
// Small helpers

/// stdout then stderr of a finished command, as text.
fn output_text(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !text.is_empty() && !stderr.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&stderr);
    text.trim_end().to_owned()
}

/// Single-quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `user:password` (percent-encoded) for a URL, or just `user` when it has no password.
fn userinfo(user: TestUser) -> String {
    match user.password() {
        Some(password) => format!(
            "{}:{}",
            percent_encode(user.name()),
            percent_encode(password)
        ),
        None => percent_encode(user.name()),
    }
}

fn tcp_url(port: u16, user: TestUser) -> String {
    format!("postgres://{}@{HOST}:{port}/postgres", userinfo(user))
}

fn socket_url(sock: &Path, port: u16) -> String {
    format!(
        "postgres://{SUPERUSER}@/postgres?host={}&port={port}",
        percent_encode(&sock.to_string_lossy())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    /// Set in the child process of [`shared_cluster_is_removed_at_exit`].
    const CHILD_ENV: &str = "HYPERDJANGO_TESTING_WATCHDOG_CHILD";

    fn accepts(port: u16) -> bool {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
    }

    /// Whether `pid` is a live (not zombie) process.
    fn alive(pid: u32) -> bool {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X'))
        })
    }

    fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        done()
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("/tmp/a b/sock"), "%2Ftmp%2Fa%20b%2Fsock");
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("p@ss:w/rd%"), "p%40ss%3Aw%2Frd%25");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(
            socket_url(Path::new("/tmp/hyperdjango-pg-1-2/sock"), 5433),
            "postgres://postgres@/postgres?host=%2Ftmp%2Fhyperdjango-pg-1-2%2Fsock&port=5433"
        );
        assert_eq!(
            tcp_url(5433, TestUser::Md5),
            "postgres://hd_md5:hd_md5_pw@127.0.0.1:5433/postgres"
        );
        assert_eq!(
            tcp_url(5433, TestUser::Superuser),
            "postgres://postgres@127.0.0.1:5433/postgres"
        );
    }

    #[test]
    fn small_parsers() {
        assert_eq!(
            parse_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n").as_deref(),
            Some("15.18")
        );
        assert_eq!(parse_version("postgres 17.2").as_deref(), Some("17.2"));
        assert_eq!(version_key("9.6"), Some(vec![9, 6]));
        assert_eq!(version_key("common"), None);
        assert!(version_key("15") > version_key("9.6"));
        let ids = lookup_user(
            "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104:PG:/var/lib/postgresql:/bin/bash\n",
            "postgres",
        );
        assert!(matches!(ids, Some(Ids { uid: 101, gid: 104 })));
        assert!(lookup_user("root:x:0:0::/root:/bin/sh\n", "postgres").is_none());
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(
            error_lines("backend> \n2024 UTC [1] ERROR:  role exists\nok"),
            vec!["2024 UTC [1] ERROR:  role exists"]
        );
        let hba = pg_hba_conf();
        assert!(hba.contains("hd_md5       127.0.0.1/32   md5\n"));
        assert!(hba.contains("hd_scram     ::1/128        scram-sha-256\n"));
    }

    #[test]
    fn binaries_not_found_message() {
        let lookup = BinLookup {
            pg_bin: None,
            path: Some(OsString::from("/nonexistent-hd-bin")),
            lib_root: PathBuf::from("/nonexistent-hd-lib"),
        };
        let msg = lookup.find().unwrap_err().to_string();
        assert!(msg.contains("PostgreSQL server binaries"), "{msg}");
        assert!(msg.contains("were not found"), "{msg}");
        assert!(msg.contains("apt-get install -y postgresql"), "{msg}");
        assert!(msg.contains("HYPER_PG_BIN"), "{msg}");
        assert!(msg.contains("HYPER_TEST_DATABASE_URL"), "{msg}");
        assert!(
            msg.contains("/usr/lib/postgresql/*/bin: nothing found"),
            "{msg}"
        );

        let lookup = BinLookup {
            pg_bin: Some(OsString::from("/nonexistent-hd-bin")),
            ..lookup
        };
        let msg = lookup.find().unwrap_err().to_string();
        assert!(
            msg.contains("HYPER_PG_BIN=/nonexistent-hd-bin (lacks initdb, postgres, pg_ctl)"),
            "{msg}"
        );
        assert!(msg.contains("apt-get install -y postgresql"), "{msg}");
    }

    /// Runs `psql` from the cluster's bin dir, if there is one.
    fn psql(
        cluster: &TestCluster,
        user: TestUser,
        password: Option<&str>,
        sql: &str,
    ) -> Option<Output> {
        let psql = cluster.bin_dir()?.join("psql");
        if !is_executable(&psql) {
            return None;
        }
        let mut cmd = Command::new(psql);
        cmd.args([
            "-X",
            "-A",
            "-t",
            "-w",
            "-h",
            HOST,
            "-d",
            "postgres",
            "-U",
            user.name(),
        ])
        .arg("-p")
        .arg(cluster.port()?.to_string())
        .arg("-c")
        .arg(sql)
        .env_remove("PGPASSWORD");
        if let Some(password) = password {
            cmd.env("PGPASSWORD", password);
        }
        cmd.output().ok()
    }

    #[test]
    fn owned_cluster_lifecycle() {
        let started = Instant::now();
        let cluster = match TestCluster::start() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        eprintln!("cluster start took {:?}: {cluster:?}", started.elapsed());
        assert!(!cluster.is_external());
        assert_eq!(cluster.host(), Some("127.0.0.1"));
        let port = cluster.port().unwrap();
        assert!(accepts(port), "port {port} does not accept TCP");
        let socket = cluster
            .socket_dir()
            .unwrap()
            .join(format!(".s.PGSQL.{port}"));
        assert!(socket.exists(), "{} missing", socket.display());
        assert!(cluster.server_version().is_some());
        assert_eq!(
            cluster.url(),
            format!("postgres://postgres@127.0.0.1:{port}/postgres")
        );
        let data = cluster.data_dir().unwrap();
        let mode = fs::metadata(data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        // The roles and pg_hba.conf, checked with psql when it is installed.
        if let Some(out) = psql(
            &cluster,
            TestUser::Superuser,
            None,
            "SELECT rolname || '=' || coalesce(left(rolpassword, 6), '-') || ' ' || rolsuper::text || ' ' || rolcreatedb::text \
             FROM pg_authid WHERE rolname LIKE 'hd\\_%' ORDER BY 1",
        ) {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{}", output_text(&out));
            assert!(text.contains("hd_md5=md5"), "{text}");
            assert!(text.contains("hd_scram=SCRAM-"), "{text}");
            assert_eq!(
                text.matches(" false true").count(),
                4,
                "4 CREATEDB non-superusers expected: {text}"
            );
            assert!(text.contains("hd_trust=-"), "{text}");
            for user in &TestUser::ALL[1..] {
                let create = format!("CREATE TABLE t_{0} (x int); DROP TABLE t_{0}", user.name());
                let out = psql(&cluster, *user, user.password(), &create).unwrap();
                assert!(out.status.success(), "{user:?}: {}", output_text(&out));
                if user.password().is_some() {
                    let bad = psql(&cluster, *user, Some("wrong"), "SELECT 1").unwrap();
                    assert!(!bad.status.success(), "{user:?} accepted a wrong password");
                    let text = output_text(&bad);
                    assert!(text.contains("authentication failed"), "{user:?}: {text}");
                }
            }
        }

        let pid = cluster.postmaster_pid().unwrap();
        cluster.restart().unwrap();
        assert_ne!(cluster.postmaster_pid(), Some(pid));
        assert!(accepts(port));

        cluster.stop().unwrap();
        assert!(!accepts(port), "port {port} still accepts after stop()");
        assert_eq!(cluster.postmaster_pid(), None);
        cluster.start_again().unwrap();
        assert!(accepts(port));
        assert!(socket.exists());

        let base = cluster.base_dir().unwrap().to_path_buf();
        let started = Instant::now();
        drop(cluster);
        eprintln!("cluster drop took {:?}", started.elapsed());
        assert!(!base.exists(), "{} still exists after drop", base.display());
        assert!(!accepts(port), "port {port} still accepts after drop");
    }

    /// Clusters started concurrently must not inherit each other's watchdog
    /// pipe, or dropping one would hang until the other one is gone.
    #[test]
    fn parallel_owned_clusters() {
        let handles: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(TestCluster::start))
            .collect();
        let clusters: Vec<TestCluster> = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_ne!(clusters[0].port(), clusters[1].port());
        for cluster in clusters {
            let port = cluster.port().unwrap();
            assert!(accepts(port));
            let started = Instant::now();
            drop(cluster);
            assert!(started.elapsed() < Duration::from_secs(10));
            assert!(!accepts(port));
        }
    }

    #[test]
    fn shared_cluster_refuses_control() {
        if std::env::var_os(CHILD_ENV).is_some() {
            return;
        }
        // Only checks the error path; does not start the shared cluster.
        let external = TestCluster {
            inner: Inner::External {
                url: "postgres://x@h/db".into(),
            },
        };
        assert!(external.stop().is_err());
        assert_eq!(external.url(), "postgres://x@h/db");
        assert_eq!(external.url_for(TestUser::Md5), None);
        assert_eq!(external.port(), None);
    }

    /// The child half of [`shared_cluster_is_removed_at_exit`]: a no-op
    /// unless [`CHILD_ENV`] is set.
    #[test]
    fn shared_cluster_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let cluster = TestCluster::shared().unwrap();
        println!(
            "HD_CHILD base={} port={} pid={}",
            cluster.base_dir().unwrap().display(),
            cluster.port().unwrap(),
            cluster.postmaster_pid().unwrap()
        );
        if std::env::var_os(format!("{CHILD_ENV}_ABORT")).is_some() {
            std::process::abort();
        }
    }

    fn run_child(abort: bool) {
        let exe = std::env::current_exe().unwrap();
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, rest)| rest);
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            &format!("{module}::shared_cluster_child"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env_remove(ENV_DATABASE_URL)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
        if abort {
            cmd.env(format!("{CHILD_ENV}_ABORT"), "1");
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("HD_CHILD ").map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("child printed no cluster:\n{stdout}"));
        let mut fields = line.split(' ').map(|f| f.split_once('=').unwrap().1);
        let base = PathBuf::from(fields.next().unwrap());
        let port: u16 = fields.next().unwrap().parse().unwrap();
        let pid: u32 = fields.next().unwrap().parse().unwrap();
        let started = Instant::now();
        assert!(
            wait_until(Duration::from_secs(10), || !base.exists()),
            "{} still exists 10 s after the child exited",
            base.display()
        );
        eprintln!(
            "watchdog cleanup (abort={abort}) took {:?}",
            started.elapsed()
        );
        assert!(!accepts(port), "port {port} still accepts");
        assert!(
            wait_until(Duration::from_secs(5), || !alive(pid)),
            "postmaster {pid} still running"
        );
    }

    #[test]
    fn shared_cluster_is_removed_at_exit() {
        if std::env::var_os(CHILD_ENV).is_some() {
            return;
        }
        run_child(false);
        run_child(true);
    }
}
