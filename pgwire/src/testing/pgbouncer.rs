//! A throwaway PgBouncer in front of a [`TestCluster`].
//!
//! [`TestPgBouncer::start`] writes a configuration into a fresh temporary directory and runs
//! `pgbouncer` in the foreground on a free port of `127.0.0.1`, forwarding every database
//! name (`* = host=127.0.0.1 port=<cluster port>`) to the cluster. Client authentication
//! mirrors the cluster's roles (`auth_type = hba`, one line per [`TestUser`] with its
//! method); PgBouncer logs in to the server with the plain-text passwords of its
//! `auth_file`. As root, PgBouncer runs as the `postgres` OS user, like the server.
//!
//! The binary is `HYPER_PGBOUNCER` ([`ENV_PGBOUNCER`]) if set, else `pgbouncer` on `PATH`,
//! else `/usr/sbin/pgbouncer` (Debian's package `pgbouncer`). It is stopped and its
//! directory deleted on drop, or by a watchdog when the process exits any other way.

use std::fmt::Write as _;
use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    HOST, Result, Runner, TestCluster, TestClusterError, TestUser, free_port, io_error,
    is_executable, output_text, percent_encode, server_identity, userinfo,
};

/// Environment variable naming the `pgbouncer` binary to use.
///
/// ```
/// assert_eq!(hyperdjango_pgwire::testing::ENV_PGBOUNCER, "HYPER_PGBOUNCER");
/// ```
pub const ENV_PGBOUNCER: &str = "HYPER_PGBOUNCER";

/// How long PgBouncer may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The watchdog: wait for EOF on stdin (this process exited), then stop PgBouncer (`$1` =
/// pid) and delete its directory (`$2`).
const WATCHDOG_SCRIPT: &str = r#"cat >/dev/null
kill -TERM "$1" 2>/dev/null
rm -rf "$2""#;

/// PgBouncer's `pool_mode`.
///
/// ```
/// use hyperdjango_pgwire::testing::PoolMode;
/// assert_eq!(PoolMode::Transaction.as_str(), "transaction");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolMode {
    /// A server connection per client connection, for the client's whole session.
    Session,
    /// A server connection per transaction: session state does not survive a commit.
    #[default]
    Transaction,
    /// A server connection per statement (multi-statement transactions are refused).
    Statement,
}

impl PoolMode {
    /// The configuration value.
    ///
    /// ```
    /// use hyperdjango_pgwire::testing::PoolMode;
    /// assert_eq!(PoolMode::Session.as_str(), "session");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }
}

/// How to set up a [`TestPgBouncer`].
///
/// ```
/// use hyperdjango_pgwire::testing::{PgBouncerOptions, PoolMode};
///
/// let options = PgBouncerOptions {
///     pool_mode: PoolMode::Session,
///     ..PgBouncerOptions::default()
/// };
/// assert_eq!(options.default_pool_size, 4);
/// ```
#[derive(Debug, Clone)]
pub struct PgBouncerOptions {
    /// `pool_mode` (default: transaction).
    pub pool_mode: PoolMode,
    /// `default_pool_size`: server connections per (database, user) pair (default 4).
    pub default_pool_size: u32,
    /// `max_prepared_statements` (PgBouncer 1.21+): protocol-level prepared statements in
    /// transaction mode. `None` leaves it out of the file (older versions reject it).
    pub max_prepared_statements: Option<u32>,
    /// `ignore_startup_parameters`, e.g. `statement_timeout` (empty: left out).
    pub ignore_startup_parameters: Vec<String>,
    /// More `key = value` lines for the `[pgbouncer]` section.
    pub settings: Vec<String>,
}

impl Default for PgBouncerOptions {
    fn default() -> Self {
        PgBouncerOptions {
            pool_mode: PoolMode::Transaction,
            default_pool_size: 4,
            max_prepared_statements: None,
            ignore_startup_parameters: Vec::new(),
            settings: Vec::new(),
        }
    }
}

/// A running PgBouncer in front of a test cluster; stopped and deleted on drop.
///
/// ```no_run
/// use hyperdjango_pgwire::testing::{PgBouncerOptions, TestCluster, TestPgBouncer, TestUser};
///
/// let cluster = TestCluster::shared().unwrap();
/// let bouncer = TestPgBouncer::start(cluster, &PgBouncerOptions::default()).unwrap();
/// let url = bouncer.url_for(TestUser::Scram, "postgres");
/// assert!(url.starts_with("postgres://hd_scram:hd_scram_pw@127.0.0.1:"));
/// ```
pub struct TestPgBouncer {
    child: Child,
    watchdog: Option<Child>,
    dir: PathBuf,
    port: u16,
    version: String,
}

impl TestPgBouncer {
    /// The `pgbouncer` binary: `HYPER_PGBOUNCER`, else on `PATH`, else
    /// `/usr/sbin/pgbouncer`; the error says how to install it.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestPgBouncer;
    /// println!("{}", TestPgBouncer::binary().unwrap().display());
    /// ```
    pub fn binary() -> Result<PathBuf> {
        if let Some(bin) = std::env::var_os(ENV_PGBOUNCER).filter(|b| !b.is_empty()) {
            let bin = PathBuf::from(bin);
            return if is_executable(&bin) {
                Ok(bin)
            } else {
                Err(TestClusterError::new(format!(
                    "{ENV_PGBOUNCER}={} is not an executable file",
                    bin.display()
                )))
            };
        }
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("pgbouncer"))
                .find(|file| is_executable(file))
        });
        on_path
            .or_else(|| {
                let debian = PathBuf::from("/usr/sbin/pgbouncer");
                is_executable(&debian).then_some(debian)
            })
            .ok_or_else(|| {
                TestClusterError::new(format!(
                    "pgbouncer was not found (looked at {ENV_PGBOUNCER}, PATH, \
                     /usr/sbin/pgbouncer). To fix: `apt-get install -y pgbouncer`, or set \
                     {ENV_PGBOUNCER} to the binary."
                ))
            })
    }

    /// The version of the `pgbouncer` binary, e.g. `"1.18.0"`.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::TestPgBouncer;
    /// println!("{}", TestPgBouncer::binary_version().unwrap());
    /// ```
    pub fn binary_version() -> Result<String> {
        let bin = Self::binary()?;
        let out = Command::new(&bin)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                TestClusterError::new(format!("running {} --version: {e}", bin.display()))
            })?;
        parse_version(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
            TestClusterError::new(format!(
                "{} --version printed no version: {}",
                bin.display(),
                output_text(&out)
            ))
        })
    }

    /// Starts PgBouncer in front of `cluster` (which must be a server started here).
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::testing::{PgBouncerOptions, PoolMode, TestCluster, TestPgBouncer};
    ///
    /// let cluster = TestCluster::shared().unwrap();
    /// let options = PgBouncerOptions { pool_mode: PoolMode::Session, ..Default::default() };
    /// let bouncer = TestPgBouncer::start(cluster, &options).unwrap();
    /// println!("PgBouncer {} on port {}", bouncer.version(), bouncer.port());
    /// ```
    pub fn start(cluster: &TestCluster, options: &PgBouncerOptions) -> Result<TestPgBouncer> {
        let server_port = cluster.port().ok_or_else(|| {
            TestClusterError::new(
                "TestPgBouncer::start needs a server started here, not an external one",
            )
        })?;
        let bin = Self::binary()?;
        let version = Self::binary_version()?;
        let ids = server_identity()?;
        let dir = super::create_base_dir()?;
        let runner = Runner {
            ids,
            cwd: dir.clone(),
        };
        let result = (|| {
            if let Some(ids) = ids {
                std::os::unix::fs::chown(&dir, Some(ids.uid), Some(ids.gid))
                    .map_err(|e| io_error("chown (to the postgres user)", &dir, &e))?;
            }
            let mut last = None;
            for _ in 0..3 {
                let port = free_port()?;
                write_files(&dir, port, server_port, options, &version)?;
                match spawn(&bin, &dir, &runner, port) {
                    Ok(child) => return Ok((child, port)),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| TestClusterError::new("PgBouncer did not start")))
        })();
        let (child, port) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let watchdog = runner
            .command("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("sh")
            .arg(child.id().to_string())
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok();
        Ok(TestPgBouncer {
            child,
            watchdog,
            dir,
            port,
            version,
        })
    }

    /// The port PgBouncer listens on (on `127.0.0.1`).
    ///
    /// ```no_run
    /// # use hyperdjango_pgwire::testing::*;
    /// # let b = TestPgBouncer::start(TestCluster::shared().unwrap(), &Default::default()).unwrap();
    /// std::net::TcpStream::connect(("127.0.0.1", b.port())).unwrap();
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PgBouncer version, e.g. `"1.18.0"`.
    ///
    /// ```no_run
    /// # use hyperdjango_pgwire::testing::*;
    /// # let b = TestPgBouncer::start(TestCluster::shared().unwrap(), &Default::default()).unwrap();
    /// assert!(b.version().starts_with("1."));
    /// ```
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether this version has protocol-level prepared statements (`max_prepared_statements`,
    /// PgBouncer 1.21 and later).
    ///
    /// ```no_run
    /// # use hyperdjango_pgwire::testing::*;
    /// # let b = TestPgBouncer::start(TestCluster::shared().unwrap(), &Default::default()).unwrap();
    /// if !b.supports_prepared_statements() {
    ///     println!("PgBouncer {} predates max_prepared_statements", b.version());
    /// }
    /// ```
    pub fn supports_prepared_statements(&self) -> bool {
        version_at_least(&self.version, (1, 21))
    }

    /// The URL for `user` and database `dbname` through PgBouncer, password included.
    ///
    /// ```no_run
    /// # use hyperdjango_pgwire::testing::*;
    /// # let b = TestPgBouncer::start(TestCluster::shared().unwrap(), &Default::default()).unwrap();
    /// let url = b.url_for(TestUser::Md5, "postgres");
    /// assert!(url.ends_with("/postgres"));
    /// ```
    pub fn url_for(&self, user: TestUser, dbname: &str) -> String {
        format!(
            "postgres://{}@{HOST}:{}/{}",
            userinfo(user),
            self.port,
            percent_encode(dbname)
        )
    }

    /// PgBouncer's log file.
    ///
    /// ```no_run
    /// # use hyperdjango_pgwire::testing::*;
    /// # let b = TestPgBouncer::start(TestCluster::shared().unwrap(), &Default::default()).unwrap();
    /// println!("{}", std::fs::read_to_string(b.log_path()).unwrap_or_default());
    /// ```
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("pgbouncer.log")
    }
}

impl Drop for TestPgBouncer {
    fn drop(&mut self) {
        // PgBouncer runs as another user when we are root: signal it through `kill`.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl std::fmt::Debug for TestPgBouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPgBouncer")
            .field("port", &self.port)
            .field("version", &self.version)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// "PgBouncer 1.18.0\nlibevent ..." -> "1.18.0".
fn parse_version(text: &str) -> Option<String> {
    let first = text.lines().next()?;
    let mut words = first.split_whitespace();
    (words.next()? == "PgBouncer").then_some(())?;
    words.next().map(str::to_owned)
}

/// Whether "1.21.0" (or "1.21") is at least (major, minor).
fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// `pgbouncer.ini`, `userlist.txt` and `hba.conf` in `dir`, readable by the server's user.
fn write_files(
    dir: &Path,
    port: u16,
    server_port: u16,
    options: &PgBouncerOptions,
    version: &str,
) -> Result<()> {
    let mut ini = String::new();
    let _ = writeln!(ini, "[databases]\n* = host={HOST} port={server_port}\n");
    let _ = writeln!(ini, "[pgbouncer]");
    let _ = writeln!(ini, "listen_addr = {HOST}\nlisten_port = {port}");
    let _ = writeln!(ini, "unix_socket_dir =");
    let _ = writeln!(ini, "auth_type = hba");
    let _ = writeln!(ini, "auth_hba_file = {}", dir.join("hba.conf").display());
    let _ = writeln!(ini, "auth_file = {}", dir.join("userlist.txt").display());
    let _ = writeln!(ini, "logfile = {}", dir.join("pgbouncer.log").display());
    let _ = writeln!(ini, "pool_mode = {}", options.pool_mode.as_str());
    let _ = writeln!(ini, "default_pool_size = {}", options.default_pool_size);
    let _ = writeln!(ini, "max_client_conn = 500");
    let _ = writeln!(ini, "admin_users = {}", TestUser::Superuser.name());
    if let Some(n) = options.max_prepared_statements {
        if !version_at_least(version, (1, 21)) {
            return Err(TestClusterError::new(format!(
                "max_prepared_statements needs PgBouncer 1.21 or later; this is {version}"
            )));
        }
        let _ = writeln!(ini, "max_prepared_statements = {n}");
    }
    if !options.ignore_startup_parameters.is_empty() {
        let _ = writeln!(
            ini,
            "ignore_startup_parameters = {}",
            options.ignore_startup_parameters.join(",")
        );
    }
    for line in &options.settings {
        let _ = writeln!(ini, "{line}");
    }
    let mut users = String::new();
    let mut hba = String::new();
    for user in TestUser::ALL {
        let _ = writeln!(
            users,
            "\"{}\" \"{}\"",
            user.name(),
            user.password().unwrap_or("")
        );
        let _ = writeln!(
            hba,
            "host all {} 127.0.0.1/32 {}",
            user.name(),
            user.auth_method()
        );
    }
    for (name, text) in [
        ("pgbouncer.ini", ini),
        ("userlist.txt", users),
        ("hba.conf", hba),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| io_error("write", &path, &e))?;
    }
    Ok(())
}

/// Runs PgBouncer in the foreground and waits until it accepts TCP connections.
fn spawn(bin: &Path, dir: &Path, runner: &Runner, port: u16) -> Result<Child> {
    let mut cmd = runner.command(bin);
    cmd.arg(dir.join("pgbouncer.ini"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| runner.spawn_error("pgbouncer", &e))?;
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
            return Err(TestClusterError::new(format!(
                "pgbouncer exited ({status}) before accepting connections on port {port}:\n{log}"
            )));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TestClusterError::new(format!(
                "pgbouncer did not accept connections on port {port} within {READY_TIMEOUT:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("PgBouncer 1.18.0\nlibevent 2.1.12-stable\n").as_deref(),
            Some("1.18.0")
        );
        assert_eq!(parse_version("something else"), None);
        assert!(version_at_least("1.21.0", (1, 21)));
        assert!(version_at_least("1.24", (1, 21)));
        assert!(!version_at_least("1.18.0", (1, 21)));
        assert!(version_at_least("2.0.0", (1, 21)));
    }
}
