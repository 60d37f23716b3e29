//! Connection configuration, in the shapes libpq and tokio-postgres users know.
//!
//! A [`Config`] can be made four ways, and they combine:
//!
//! * a libpq URL: `postgresql://bob:secret@db.example.com:5433/app?sslmode=require`
//!   ([`Config::parse`], [`Config::from_url`], `str::parse`);
//! * a libpq key=value string: `host=/tmp port=5433 user=bob password='a b'`
//!   (the same functions: anything not starting with a `scheme://` is read as one);
//! * the `PG*` environment variables ([`Config::from_env`], [`Config::apply_env`]),
//!   which only fill what the URL or string left unset;
//! * the builder methods ([`Config::host`], [`Config::port`], [`Config::user`], ...).
//!
//! ```
//! use hyperdjango_pgwire::config::{Config, Host, SslMode};
//!
//! let cfg = Config::parse("postgresql://bob@db.example.com:5433/app?sslmode=require")?;
//! assert_eq!(cfg.endpoints()?, vec![(Host::Tcp("db.example.com".into()), 5433)]);
//! assert_eq!(cfg.get_user(), Some("bob"));
//! assert_eq!(cfg.get_ssl_mode(), SslMode::Require);
//!
//! let cfg: Config = "host=/var/run/postgresql user=bob dbname=app".parse()?;
//! assert_eq!(cfg.get_hosts(), &[Host::Unix("/var/run/postgresql".into())]);
//! # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
//! ```
//!
//! # URLs
//!
//! `postgres[ql]://[user[:password]@][host][:port][,host2[:port2]...][/dbname][?param=value&...]`,
//! as in [libpq](https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS).
//! Every component is percent-decoded; the password may decode to any bytes, everything else
//! must be UTF-8. IPv6 addresses go in brackets (`[::1]:5433`). A host that decodes to a path
//! starting with `/` is a Unix socket directory (`postgresql://%2Fvar%2Frun%2Fpostgresql/app`),
//! as is a `host=/dir` query parameter. Query parameters override the parts before them.
//! An unencoded `@` after the host is refused: it means a `/` in the password ended the host
//! early, and the rest of the password would become the database name.
//!
//! # key=value strings
//!
//! libpq's syntax: `keyword = value` pairs separated by whitespace; a value containing spaces
//! is written in single quotes, with `\'` and `\\` as escapes (`password='it\'s a secret'`).
//!
//! # Parameters
//!
//! The same names are accepted as URL query parameters and as key=value keywords. An empty
//! value (`?sslmode=` or `sslmode=''`) means "unset", so the environment or the default applies.
//!
//! | Parameter | Environment | Value |
//! |---|---|---|
//! | `host` | `PGHOST` | comma-separated host names, IP addresses or Unix socket directories (starting with `/`); default: the socket directory `/var/run/postgresql` or `/tmp` if it holds the server's socket, else `localhost` |
//! | `hostaddr` | | like `host`; wins over `host` when both are given |
//! | `port` | `PGPORT` | comma-separated ports, 1..=65535: one for all hosts, or one per host; default 5432 |
//! | `user` | `PGUSER` | user name; default `$USER` / `$LOGNAME` ([`Config::effective_user`]) |
//! | `password` | `PGPASSWORD` | password (any bytes in a URL) |
//! | `dbname` | `PGDATABASE` | database name; default: the user name |
//! | `application_name` | `PGAPPNAME` | reported to the server as `application_name` |
//! | `fallback_application_name` | | used when `application_name` is not set anywhere |
//! | `connect_timeout` | `PGCONNECT_TIMEOUT` | whole seconds >= 0; `0` means no timeout |
//! | `options` | `PGOPTIONS` | command-line options for the server, e.g. `-c search_path=app` |
//! | `sslmode` | `PGSSLMODE` | `disable`, `allow`, `prefer` (default), `require`, `verify-ca`, `verify-full` |
//! | `sslnegotiation` | `PGSSLNEGOTIATION` | `postgres` (default) or `direct` (needs `sslmode` `require` or stronger) |
//! | `sslrootcert` | `PGSSLROOTCERT` | path of the trusted root certificates |
//! | `sslcert` | `PGSSLCERT` | path of the client certificate |
//! | `sslkey` | `PGSSLKEY` | path of the client certificate's key |
//! | `channel_binding` | `PGCHANNELBINDING` | `disable`, `prefer` (default), `require`: SCRAM-SHA-256-PLUS with `tls-server-end-point` over TLS |
//! | `require_auth` | `PGREQUIREAUTH` | comma-separated methods the server may use: `password`, `md5`, `scram-sha-256`, `gss`, `sspi`, `none`; or all negated (`!password,!md5`) |
//! | `target_session_attrs` | `PGTARGETSESSIONATTRS` | `any` (default), `read-write`, `read-only`, `primary`, `standby`, `prefer-standby` |
//! | `min_protocol_version` | `PGMINPROTOCOLVERSION` | `3.0` (default), `3.2`, `latest` (= 3.2) |
//! | `max_protocol_version` | `PGMAXPROTOCOLVERSION` | `3.0`, `3.2`, `latest` (= 3.2); default 3.0, or 3.2 when the minimum is above 3.0. A server or pooler that refuses a 3.2 startup outright (PgBouncer before 1.24: `08P01 bad packet header`) is tried again at 3.0 when the minimum is 3.0 |
//! | `client_encoding` | | only `UTF8`: the driver always speaks UTF-8 |
//! | `keepalives` | | `0` or `1`; accepted for compatibility and ignored |
//! | `scram_max_iterations` | | hyperdjango extension: the most SCRAM iterations a server may ask for (a whole number >= 1; default 600000) |
//! | `statement_cache_size` | `HYPERDJANGO_STATEMENT_CACHE_SIZE` | hyperdjango extension: prepared statements cached per connection (default 256; 0 = no cache) |
//! | `prepared_statements` | `HYPERDJANGO_PREPARED_STATEMENTS` | hyperdjango extension: `false` uses only unnamed statements, for PgBouncer's transaction pooling (default true) |
//! | `query_timeout` | `HYPERDJANGO_QUERY_TIMEOUT` | hyperdjango extension: per-query timeout in milliseconds, also sent as `statement_timeout` (default 0 = none) |
//!
//! [`Config::from_env`] reads `HYPER_DATABASE_URL` (a URL or key=value string) if it is set,
//! then fills the remaining gaps from the `PG*` variables above. Environment values are
//! checked as strictly as URL ones; an error names the variable (`PGPORT: invalid port "abc"`).
//!
//! Error messages never contain the password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The port used when none is configured.
const DEFAULT_PORT: u16 = 5432;
/// The default for [`Config::get_statement_cache_size`].
pub const DEFAULT_STATEMENT_CACHE_SIZE: usize = 256;

/// The default for [`Config::get_scram_max_iterations`].
const DEFAULT_SCRAM_MAX_ITERATIONS: u32 = 600_000;
/// Where to look for the server's Unix socket when no host is configured, in order.
const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];
/// The environment variable [`Config::from_env`] reads a URL from.
const URL_ENV_VAR: &str = "HYPER_DATABASE_URL";

/// Every parameter accepted in a URL query or a key=value string.
const PARAMS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "application_name",
    "fallback_application_name",
    "connect_timeout",
    "options",
    "sslmode",
    "sslnegotiation",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "channel_binding",
    "require_auth",
    "target_session_attrs",
    "min_protocol_version",
    "max_protocol_version",
    "client_encoding",
    "keepalives",
    "scram_max_iterations",
    "statement_cache_size",
    "prepared_statements",
    "query_timeout",
];

/// The environment variables [`Config::apply_env`] reads, and the parameter each one sets.
const ENV_VARS: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGPORT", "port"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGDATABASE", "dbname"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGOPTIONS", "options"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGREQUIREAUTH", "require_auth"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGMINPROTOCOLVERSION", "min_protocol_version"),
    ("PGMAXPROTOCOLVERSION", "max_protocol_version"),
    ("HYPERDJANGO_STATEMENT_CACHE_SIZE", "statement_cache_size"),
    ("HYPERDJANGO_PREPARED_STATEMENTS", "prepared_statements"),
    ("HYPERDJANGO_QUERY_TIMEOUT", "query_timeout"),
];

/// A place to connect to.
///
/// ```
/// use hyperdjango_pgwire::config::{Config, Host};
///
/// let cfg = Config::parse("host=db.example.com,/tmp")?;
/// assert_eq!(
///     cfg.get_hosts(),
///     &[Host::Tcp("db.example.com".into()), Host::Unix("/tmp".into())]
/// );
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address (IPv6 without brackets), reached over TCP.
    Tcp(String),
    /// A Unix socket *directory*; the socket file is `<dir>/.s.PGSQL.<port>`
    /// ([`Host::socket_file`]).
    Unix(PathBuf),
}

impl Host {
    /// The socket file for `port` when this is a [`Host::Unix`] directory, else `None`.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Host;
    /// use std::path::PathBuf;
    ///
    /// let host = Host::Unix("/tmp".into());
    /// assert_eq!(host.socket_file(5432), Some(PathBuf::from("/tmp/.s.PGSQL.5432")));
    /// assert_eq!(Host::Tcp("localhost".into()).socket_file(5432), None);
    /// ```
    pub fn socket_file(&self, port: u16) -> Option<PathBuf> {
        match self {
            Host::Tcp(_) => None,
            Host::Unix(dir) => Some(socket_file(dir, port)),
        }
    }
}

/// Shows the host name, or the socket directory's path.
///
/// ```
/// use hyperdjango_pgwire::config::Host;
///
/// assert_eq!(Host::Tcp("::1".into()).to_string(), "::1");
/// assert_eq!(Host::Unix("/tmp".into()).to_string(), "/tmp");
/// ```
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Tcp(name) => f.write_str(name),
            Host::Unix(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// Whether and how to use TLS (`sslmode`), with libpq's meanings.
///
/// ```
/// use hyperdjango_pgwire::config::{Config, SslMode};
///
/// assert_eq!(Config::new().get_ssl_mode(), SslMode::Prefer);
/// assert_eq!(Config::parse("sslmode=verify-full")?.get_ssl_mode(), SslMode::VerifyFull);
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SslMode {
    /// `disable`: never use TLS.
    Disable,
    /// `allow`: try without TLS first, then with it.
    Allow,
    /// `prefer` (the default): try TLS first, then without it.
    #[default]
    Prefer,
    /// `require`: TLS only, without checking the server's certificate.
    Require,
    /// `verify-ca`: TLS only, with a certificate signed by a trusted authority.
    VerifyCa,
    /// `verify-full`: like `verify-ca`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    const ALL: [(&'static str, SslMode); 6] = [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    pub(crate) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }
}

/// How to start TLS (`sslnegotiation`).
///
/// ```
/// use hyperdjango_pgwire::config::{Config, SslNegotiation};
///
/// let cfg = Config::parse("sslmode=require sslnegotiation=direct")?;
/// assert_eq!(cfg.get_ssl_negotiation(), SslNegotiation::Direct);
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SslNegotiation {
    /// `postgres` (the default): ask with an SSLRequest message first.
    #[default]
    Postgres,
    /// `direct`: start the TLS handshake at once (PostgreSQL 17+, ALPN `postgresql`).
    Direct,
}

/// Whether SCRAM uses TLS channel binding (`channel_binding`), with libpq's meanings.
///
/// ```
/// use hyperdjango_pgwire::config::{ChannelBindingMode, Config};
///
/// assert_eq!(Config::new().get_channel_binding(), ChannelBindingMode::Prefer);
/// let cfg = Config::parse("sslmode=require channel_binding=require")?;
/// assert_eq!(cfg.get_channel_binding(), ChannelBindingMode::Require);
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChannelBindingMode {
    /// `disable`: never bind (SCRAM-SHA-256 with the `n` flag).
    Disable,
    /// `prefer` (the default): bind when the connection is TLS and the server offers
    /// SCRAM-SHA-256-PLUS.
    #[default]
    Prefer,
    /// `require`: the server must authenticate with SCRAM-SHA-256-PLUS over TLS; any other
    /// authentication (trust, password, md5, SCRAM without binding) is refused.
    Require,
}

impl ChannelBindingMode {
    const ALL: [(&'static str, ChannelBindingMode); 3] = [
        ("disable", ChannelBindingMode::Disable),
        ("prefer", ChannelBindingMode::Prefer),
        ("require", ChannelBindingMode::Require),
    ];
}

/// An authentication method, as named in `require_auth`.
///
/// ```
/// use hyperdjango_pgwire::config::AuthMethod;
///
/// assert_eq!(AuthMethod::ScramSha256.name(), "scram-sha-256");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `password`: the cleartext password.
    Password,
    /// `md5`: the MD5 hash of the password.
    Md5,
    /// `scram-sha-256`: SCRAM-SHA-256, with or without channel binding.
    ScramSha256,
    /// `gss`: Kerberos / GSSAPI (not supported by this driver).
    Gss,
    /// `sspi`: Windows SSPI (not supported by this driver).
    Sspi,
    /// `none`: the server asked for no authentication at all (`trust`, `cert`, ...).
    None,
}

impl AuthMethod {
    const ALL: [(&'static str, AuthMethod); 6] = [
        ("password", AuthMethod::Password),
        ("md5", AuthMethod::Md5),
        ("scram-sha-256", AuthMethod::ScramSha256),
        ("gss", AuthMethod::Gss),
        ("sspi", AuthMethod::Sspi),
        ("none", AuthMethod::None),
    ];

    /// The name used in `require_auth`.
    ///
    /// ```
    /// assert_eq!(hyperdjango_pgwire::config::AuthMethod::None.name(), "none");
    /// ```
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }
}

/// Which authentication methods the server may use (`require_auth`), as in libpq: a list of
/// allowed methods, or a list of forbidden ones (every item starting with `!`).
///
/// It stops a server (or a man in the middle) from downgrading the login, e.g. asking for the
/// cleartext password when the user expects SCRAM. The check is made when the server asks:
/// the password is never sent for a forbidden method.
///
/// ```
/// use hyperdjango_pgwire::config::{AuthMethod, Config};
///
/// let cfg = Config::parse("require_auth=scram-sha-256")?;
/// let policy = cfg.get_require_auth().unwrap();
/// assert!(policy.allows(AuthMethod::ScramSha256));
/// assert!(!policy.allows(AuthMethod::Password));
///
/// let cfg = Config::parse("require_auth=!password,!md5")?;
/// let policy = cfg.get_require_auth().unwrap();
/// assert!(policy.allows(AuthMethod::None));
/// assert!(!policy.allows(AuthMethod::Md5));
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequireAuth {
    methods: Vec<AuthMethod>,
    negated: bool,
}

impl RequireAuth {
    /// Allows exactly these methods.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{AuthMethod, RequireAuth};
    /// let p = RequireAuth::allow([AuthMethod::ScramSha256]);
    /// assert!(!p.allows(AuthMethod::Md5));
    /// ```
    pub fn allow(methods: impl IntoIterator<Item = AuthMethod>) -> RequireAuth {
        RequireAuth {
            methods: methods.into_iter().collect(),
            negated: false,
        }
    }

    /// Allows every method but these.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{AuthMethod, RequireAuth};
    /// let p = RequireAuth::forbid([AuthMethod::Password]);
    /// assert!(p.allows(AuthMethod::Md5));
    /// assert!(!p.allows(AuthMethod::Password));
    /// ```
    pub fn forbid(methods: impl IntoIterator<Item = AuthMethod>) -> RequireAuth {
        RequireAuth {
            methods: methods.into_iter().collect(),
            negated: true,
        }
    }

    /// Whether the server may authenticate with `method`.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{AuthMethod, RequireAuth};
    /// assert!(RequireAuth::allow([AuthMethod::None]).allows(AuthMethod::None));
    /// ```
    pub fn allows(&self, method: AuthMethod) -> bool {
        self.methods.contains(&method) != self.negated
    }

    /// Parses the connection-string form (`scram-sha-256,md5`, `!password,!md5`).
    fn parse(s: &str) -> Result<RequireAuth, String> {
        let mut methods = Vec::new();
        let mut negated = None;
        for item in s.split(',') {
            let item = item.trim();
            let (neg, name) = match item.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, item),
            };
            if *negated.get_or_insert(neg) != neg {
                return Err(format!(
                    "invalid value \"{s}\" (negated and plain methods cannot be mixed)"
                ));
            }
            let Some((_, method)) = AuthMethod::ALL.iter().find(|(n, _)| *n == name) else {
                return Err(format!(
                    "invalid method \"{name}\" in \"{s}\" (expected password, md5, scram-sha-256, gss, sspi or none, each optionally with a leading !)"
                ));
            };
            if methods.contains(method) {
                return Err(format!("method \"{name}\" is listed twice in \"{s}\""));
            }
            methods.push(*method);
        }
        Ok(RequireAuth {
            methods,
            negated: negated.unwrap_or(false),
        })
    }
}

/// Shows the setting as written in a connection string.
///
/// ```
/// use hyperdjango_pgwire::config::{AuthMethod, RequireAuth};
/// assert_eq!(RequireAuth::allow([AuthMethod::ScramSha256, AuthMethod::None]).to_string(), "scram-sha-256,none");
/// ```
impl fmt::Display for RequireAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.methods.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if self.negated {
                f.write_str("!")?;
            }
            f.write_str(m.name())?;
        }
        Ok(())
    }
}

/// A protocol version, as in `min_protocol_version` / `max_protocol_version`.
///
/// ```
/// use hyperdjango_pgwire::config::ProtocolVersion;
///
/// assert!(ProtocolVersion::V3_0 < ProtocolVersion::V3_2);
/// assert_eq!(ProtocolVersion::V3_2.to_string(), "3.2");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion {
    /// The major version (3).
    pub major: u16,
    /// The minor version.
    pub minor: u16,
}

impl ProtocolVersion {
    /// Protocol 3.0, spoken by every server since PostgreSQL 7.4.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::ProtocolVersion;
    /// assert_eq!(ProtocolVersion::V3_0, ProtocolVersion { major: 3, minor: 0 });
    /// ```
    pub const V3_0: ProtocolVersion = ProtocolVersion { major: 3, minor: 0 };
    /// Protocol 3.2 (PostgreSQL 18+; longer cancel keys). Also what `latest` means.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, ProtocolVersion};
    /// let cfg = Config::parse("max_protocol_version=latest")?;
    /// assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_2);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub const V3_2: ProtocolVersion = ProtocolVersion { major: 3, minor: 2 };
}

/// Shows `major.minor`.
///
/// ```
/// use hyperdjango_pgwire::config::ProtocolVersion;
/// assert_eq!(ProtocolVersion::V3_0.to_string(), "3.0");
/// ```
impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Which kind of server session is acceptable (`target_session_attrs`).
///
/// ```
/// use hyperdjango_pgwire::config::{Config, TargetSessionAttrs};
///
/// let cfg = Config::parse("postgresql://a,b/app?target_session_attrs=read-write")?;
/// assert_eq!(cfg.get_target_session_attrs(), TargetSessionAttrs::ReadWrite);
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetSessionAttrs {
    /// `any` (the default): any server will do.
    #[default]
    Any,
    /// `read-write`: the session must accept writes.
    ReadWrite,
    /// `read-only`: the session must be read-only.
    ReadOnly,
    /// `primary`: the server must not be in hot standby.
    Primary,
    /// `standby`: the server must be in hot standby.
    Standby,
    /// `prefer-standby`: a standby if there is one, else any server.
    PreferStandby,
}

impl TargetSessionAttrs {
    const ALL: [(&'static str, TargetSessionAttrs); 6] = [
        ("any", TargetSessionAttrs::Any),
        ("read-write", TargetSessionAttrs::ReadWrite),
        ("read-only", TargetSessionAttrs::ReadOnly),
        ("primary", TargetSessionAttrs::Primary),
        ("standby", TargetSessionAttrs::Standby),
        ("prefer-standby", TargetSessionAttrs::PreferStandby),
    ];
}

/// An error in the configuration.
///
/// The message names where the bad value came from and what is wrong with it, e.g.
/// `invalid port "abc" in URL`, `PGPORT: invalid port "abc"`, `unknown URL parameter "foo"`.
/// It never contains a password.
///
/// ```
/// use hyperdjango_pgwire::config::Config;
///
/// let err = Config::parse("postgresql://bob:secret@db:abc/app").unwrap_err();
/// assert_eq!(err.to_string(), r#"invalid port "abc" in URL"#);
/// assert!(!err.to_string().contains("secret"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// An error with this message (which must not contain a password).
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            message: message.into(),
        }
    }

    /// The same error, with `source: ` in front.
    fn prefixed(self, source: &str) -> ConfigError {
        ConfigError::new(format!("{source}: {}", self.message))
    }

    /// The message, as shown by `Display`.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let err = Config::parse("postgresql://db/app?foo=1").unwrap_err();
    /// assert_eq!(err.message(), r#"unknown URL parameter "foo""#);
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Shows the message.
///
/// ```
/// use hyperdjango_pgwire::config::Config;
///
/// let err = Config::parse("connect_timeout=-3").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"connect_timeout: invalid value "-3" (seconds, a whole number >= 0)"#
/// );
/// ```
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A configuration error is a standard error.
///
/// ```
/// use hyperdjango_pgwire::config::Config;
///
/// let err: Box<dyn std::error::Error> = Config::parse("mysql://db").unwrap_err().into();
/// assert!(err.to_string().contains("mysql"));
/// ```
impl std::error::Error for ConfigError {}

/// Connection configuration: where to connect, as whom, and how.
///
/// Fields that were never set report their defaults through the getters; the "unset" state
/// is kept so that [`Config::apply_env`] fills only the gaps.
///
/// ```
/// use hyperdjango_pgwire::config::{Config, Host, SslMode};
/// use std::time::Duration;
///
/// let mut cfg = Config::new();
/// cfg.host("db.example.com")
///     .port(5433)
///     .user("bob")
///     .password("secret")
///     .dbname("app")
///     .connect_timeout(Duration::from_secs(5))
///     .ssl_mode(SslMode::Require);
/// assert_eq!(cfg.endpoints()?, vec![(Host::Tcp("db.example.com".into()), 5433)]);
/// assert!(!format!("{cfg:?}").contains("secret"));
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
#[derive(Clone, Default)]
pub struct Config {
    hosts: Vec<Host>,
    ports: Vec<u16>,
    user: Option<String>,
    password: Option<Vec<u8>>,
    dbname: Option<String>,
    application_name: Option<String>,
    fallback_application_name: Option<String>,
    options: Option<String>,
    /// `Some(Duration::ZERO)` means "explicitly no timeout".
    connect_timeout: Option<Duration>,
    ssl_mode: Option<SslMode>,
    ssl_negotiation: Option<SslNegotiation>,
    ssl_root_cert: Option<PathBuf>,
    ssl_cert: Option<PathBuf>,
    ssl_key: Option<PathBuf>,
    channel_binding: Option<ChannelBindingMode>,
    require_auth: Option<RequireAuth>,
    target_session_attrs: Option<TargetSessionAttrs>,
    min_protocol_version: Option<ProtocolVersion>,
    max_protocol_version: Option<ProtocolVersion>,
    scram_max_iterations: Option<u32>,
    statement_cache_size: Option<usize>,
    prepared_statements: Option<bool>,
    /// `Some(Duration::ZERO)` means "explicitly no timeout".
    query_timeout: Option<Duration>,
    /// Whether query spans record (some) parameter values; set only in code.
    trace_parameters: bool,
}

/// Shows every field, with the password as `"<redacted>"`.
///
/// ```
/// use hyperdjango_pgwire::config::Config;
///
/// let cfg = Config::parse("postgresql://bob:hunter2@db/app")?;
/// let shown = format!("{cfg:?}");
/// assert!(shown.contains("<redacted>"));
/// assert!(!shown.contains("hunter2"));
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("hosts", &self.hosts)
            .field("ports", &self.ports)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .field("application_name", &self.application_name)
            .field("fallback_application_name", &self.fallback_application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_negotiation", &self.ssl_negotiation)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("ssl_cert", &self.ssl_cert)
            .field("ssl_key", &self.ssl_key)
            .field("channel_binding", &self.channel_binding)
            .field("require_auth", &self.require_auth)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("min_protocol_version", &self.min_protocol_version)
            .field("max_protocol_version", &self.max_protocol_version)
            .field("scram_max_iterations", &self.scram_max_iterations)
            .field("statement_cache_size", &self.statement_cache_size)
            .field("prepared_statements", &self.prepared_statements)
            .field("query_timeout", &self.query_timeout)
            .field("trace_parameters", &self.trace_parameters)
            .finish()
    }
}

/// Parses a URL or key=value string like [`Config::parse`] (no environment).
///
/// ```
/// use hyperdjango_pgwire::config::Config;
///
/// let cfg: Config = "postgres://bob@localhost/app".parse()?;
/// assert_eq!(cfg.get_dbname(), Some("app"));
/// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
/// ```
impl FromStr for Config {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s)
    }
}

impl Config {
    /// An empty configuration; nothing is read from the environment.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let cfg = Config::new();
    /// assert!(cfg.get_hosts().is_empty());
    /// assert_eq!(cfg.get_user(), None);
    /// ```
    pub fn new() -> Config {
        Config::default()
    }

    /// Parses a libpq URL (`postgres://` or `postgresql://`) or a key=value string,
    /// without reading the environment.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, Host};
    ///
    /// let cfg = Config::parse("postgresql://bob:pa%40ss@[::1]:5433/app?application_name=web")?;
    /// assert_eq!(cfg.get_hosts(), &[Host::Tcp("::1".into())]);
    /// assert_eq!(cfg.get_ports(), &[5433]);
    /// assert_eq!(cfg.get_password(), Some(&b"pa@ss"[..]));
    /// assert_eq!(cfg.get_application_name(), Some("web"));
    ///
    /// let cfg = Config::parse("host=/tmp port=5433 user=bob password='a b'")?;
    /// assert_eq!(cfg.get_hosts(), &[Host::Unix("/tmp".into())]);
    /// assert_eq!(cfg.get_password(), Some(&b"a b"[..]));
    ///
    /// let err = Config::parse("postgresql://db:abc/app").unwrap_err();
    /// assert_eq!(err.message(), r#"invalid port "abc" in URL"#);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn parse(s: &str) -> Result<Config, ConfigError> {
        let cfg = Config::parse_raw(s)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses like [`Config::parse`], then fills unset fields from the process environment
    /// (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, ...; see the module docs).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let cfg = Config::from_url("postgresql://bob@db.example.com/app")?;
    /// assert_eq!(cfg.get_user(), Some("bob")); // the URL wins over PGUSER
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn from_url(s: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::parse_raw(s)?;
        cfg.apply_env(process_env)?;
        Ok(cfg)
    }

    /// `HYPER_DATABASE_URL` if it is set (then the `PG*` variables fill the rest),
    /// else the `PG*` variables alone.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// match Config::from_env() {
    ///     Ok(cfg) => println!("connecting to {:?}", cfg.endpoints()),
    ///     Err(err) => println!("bad configuration: {err}"),
    /// }
    /// ```
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_env_with(process_env)
    }

    /// [`Config::from_env`] with an injected environment lookup: `env("HYPER_DATABASE_URL")`,
    /// `env("PGPORT")`, ... An empty value counts as unset.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, Host};
    ///
    /// let env = |name: &str| match name {
    ///     "HYPER_DATABASE_URL" => Some("postgresql://bob@db/app".to_string()),
    ///     "PGPORT" => Some("5433".to_string()),
    ///     "PGUSER" => Some("alice".to_string()),
    ///     _ => None,
    /// };
    /// let cfg = Config::from_env_with(env)?;
    /// assert_eq!(cfg.endpoints()?, vec![(Host::Tcp("db".into()), 5433)]);
    /// assert_eq!(cfg.get_user(), Some("bob"));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn from_env_with(env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut cfg = match env(URL_ENV_VAR).filter(|url| !url.trim().is_empty()) {
            Some(url) => Config::parse_raw(&url).map_err(|e| e.prefixed(URL_ENV_VAR))?,
            None => Config::new(),
        };
        cfg.apply_env(&env)?;
        Ok(cfg)
    }

    /// Fills unset fields from an environment lookup (`PGHOST`, `PGPORT`, ...; see the
    /// module docs), then checks the result. Empty values count as unset; bad values are
    /// errors naming the variable.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let mut cfg = Config::parse("postgresql://bob@db/app")?;
    /// cfg.apply_env(|name| (name == "PGPASSWORD").then(|| "secret".to_string()))?;
    /// assert_eq!(cfg.get_password(), Some(&b"secret"[..]));
    ///
    /// let err = cfg.apply_env(|name| (name == "PGPORT").then(|| "abc".to_string()));
    /// assert_eq!(err.unwrap_err().message(), r#"PGPORT: invalid port "abc""#);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for &(var, key) in ENV_VARS {
            if self.is_set(key) {
                continue;
            }
            let Some(value) = env(var).filter(|v| !v.is_empty()) else {
                continue;
            };
            self.set_param(key, value.as_bytes())
                .map_err(|msg| ConfigError::new(format!("{var}: {msg}")))?;
        }
        self.validate()
    }

    // ----- builders -----

    /// Adds a host to try. A value starting with `/` is a Unix socket directory.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, Host};
    ///
    /// let mut cfg = Config::new();
    /// cfg.host("db1").host("/var/run/postgresql");
    /// assert_eq!(
    ///     cfg.get_hosts(),
    ///     &[Host::Tcp("db1".into()), Host::Unix("/var/run/postgresql".into())]
    /// );
    /// ```
    pub fn host(&mut self, host: &str) -> &mut Config {
        self.hosts.push(host_from(host));
        self
    }

    /// Adds a Unix socket directory to try.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, Host};
    ///
    /// let mut cfg = Config::new();
    /// cfg.host_path("/tmp");
    /// assert_eq!(cfg.get_hosts(), &[Host::Unix("/tmp".into())]);
    /// ```
    pub fn host_path(&mut self, dir: impl AsRef<Path>) -> &mut Config {
        self.hosts.push(Host::Unix(dir.as_ref().to_path_buf()));
        self
    }

    /// Adds a port: give either one port for all hosts, or one per host (in order).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, Host};
    ///
    /// let mut cfg = Config::new();
    /// cfg.host("a").port(5433).host("b").port(5434);
    /// assert_eq!(
    ///     cfg.endpoints()?,
    ///     vec![(Host::Tcp("a".into()), 5433), (Host::Tcp("b".into()), 5434)]
    /// );
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn port(&mut self, port: u16) -> &mut Config {
        self.ports.push(port);
        self
    }

    /// Sets the user name.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::new().user("bob").get_user(), Some("bob"));
    /// ```
    pub fn user(&mut self, user: &str) -> &mut Config {
        self.user = Some(user.to_owned());
        self
    }

    /// Sets the password (any bytes).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::new().password("pw").get_password(), Some(&b"pw"[..]));
    /// ```
    pub fn password(&mut self, password: impl AsRef<[u8]>) -> &mut Config {
        self.password = Some(password.as_ref().to_vec());
        self
    }

    /// Sets the database name.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::new().dbname("app").get_dbname(), Some("app"));
    /// ```
    pub fn dbname(&mut self, dbname: &str) -> &mut Config {
        self.dbname = Some(dbname.to_owned());
        self
    }

    /// Sets the `application_name` reported to the server.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let mut cfg = Config::new();
    /// cfg.application_name("web");
    /// assert_eq!(cfg.get_application_name(), Some("web"));
    /// ```
    pub fn application_name(&mut self, name: &str) -> &mut Config {
        self.application_name = Some(name.to_owned());
        self
    }

    /// Sets the command-line options sent to the server (`-c name=value ...`).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let mut cfg = Config::new();
    /// cfg.options("-c search_path=app");
    /// assert_eq!(cfg.get_options(), Some("-c search_path=app"));
    /// ```
    pub fn options(&mut self, options: &str) -> &mut Config {
        self.options = Some(options.to_owned());
        self
    }

    /// Sets the time allowed for connecting to each host. `Duration::ZERO` means no timeout.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    /// use std::time::Duration;
    ///
    /// let mut cfg = Config::new();
    /// cfg.connect_timeout(Duration::from_secs(3));
    /// assert_eq!(cfg.get_connect_timeout(), Some(Duration::from_secs(3)));
    /// cfg.connect_timeout(Duration::ZERO);
    /// assert_eq!(cfg.get_connect_timeout(), None);
    /// ```
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets the TLS mode.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, SslMode};
    ///
    /// assert_eq!(Config::new().ssl_mode(SslMode::Disable).get_ssl_mode(), SslMode::Disable);
    /// ```
    pub fn ssl_mode(&mut self, mode: SslMode) -> &mut Config {
        self.ssl_mode = Some(mode);
        self
    }

    /// Sets how TLS is started. [`SslNegotiation::Direct`] needs [`SslMode::Require`] or
    /// stronger ([`Config::endpoints`] checks).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, SslMode, SslNegotiation};
    ///
    /// let mut cfg = Config::new();
    /// cfg.ssl_mode(SslMode::Require).ssl_negotiation(SslNegotiation::Direct);
    /// assert_eq!(cfg.get_ssl_negotiation(), SslNegotiation::Direct);
    /// ```
    pub fn ssl_negotiation(&mut self, negotiation: SslNegotiation) -> &mut Config {
        self.ssl_negotiation = Some(negotiation);
        self
    }

    /// Sets the file of trusted root certificates.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    /// use std::path::Path;
    ///
    /// let mut cfg = Config::new();
    /// cfg.ssl_root_cert("/etc/ssl/root.crt");
    /// assert_eq!(cfg.get_ssl_root_cert(), Some(Path::new("/etc/ssl/root.crt")));
    /// ```
    pub fn ssl_root_cert(&mut self, path: impl AsRef<Path>) -> &mut Config {
        self.ssl_root_cert = Some(path.as_ref().to_path_buf());
        self
    }

    /// Sets the client certificate file.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    /// use std::path::Path;
    ///
    /// let mut cfg = Config::new();
    /// cfg.ssl_cert("client.crt");
    /// assert_eq!(cfg.get_ssl_cert(), Some(Path::new("client.crt")));
    /// ```
    pub fn ssl_cert(&mut self, path: impl AsRef<Path>) -> &mut Config {
        self.ssl_cert = Some(path.as_ref().to_path_buf());
        self
    }

    /// Sets the client certificate's key file.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    /// use std::path::Path;
    ///
    /// let mut cfg = Config::new();
    /// cfg.ssl_key("client.key");
    /// assert_eq!(cfg.get_ssl_key(), Some(Path::new("client.key")));
    /// ```
    pub fn ssl_key(&mut self, path: impl AsRef<Path>) -> &mut Config {
        self.ssl_key = Some(path.as_ref().to_path_buf());
        self
    }

    /// Sets whether SCRAM uses TLS channel binding.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{ChannelBindingMode, Config};
    ///
    /// let mut cfg = Config::new();
    /// cfg.channel_binding(ChannelBindingMode::Disable);
    /// assert_eq!(cfg.get_channel_binding(), ChannelBindingMode::Disable);
    /// ```
    pub fn channel_binding(&mut self, mode: ChannelBindingMode) -> &mut Config {
        self.channel_binding = Some(mode);
        self
    }

    /// Sets which authentication methods the server may use (libpq's `require_auth`).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{AuthMethod, Config, RequireAuth};
    ///
    /// let mut cfg = Config::new();
    /// cfg.require_auth(RequireAuth::allow([AuthMethod::ScramSha256]));
    /// assert_eq!(cfg.get_require_auth().unwrap().to_string(), "scram-sha-256");
    /// ```
    pub fn require_auth(&mut self, policy: RequireAuth) -> &mut Config {
        self.require_auth = Some(policy);
        self
    }

    /// Sets which kind of session is acceptable.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, TargetSessionAttrs};
    ///
    /// let mut cfg = Config::new();
    /// cfg.target_session_attrs(TargetSessionAttrs::Primary);
    /// assert_eq!(cfg.get_target_session_attrs(), TargetSessionAttrs::Primary);
    /// ```
    pub fn target_session_attrs(&mut self, attrs: TargetSessionAttrs) -> &mut Config {
        self.target_session_attrs = Some(attrs);
        self
    }

    /// Sets the lowest protocol version accepted.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, ProtocolVersion};
    ///
    /// let mut cfg = Config::new();
    /// cfg.min_protocol_version(ProtocolVersion::V3_2);
    /// assert_eq!(cfg.get_min_protocol_version(), ProtocolVersion::V3_2);
    /// ```
    pub fn min_protocol_version(&mut self, version: ProtocolVersion) -> &mut Config {
        self.min_protocol_version = Some(version);
        self
    }

    /// Sets the protocol version asked for (the highest accepted).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, ProtocolVersion};
    ///
    /// let mut cfg = Config::new();
    /// cfg.max_protocol_version(ProtocolVersion::V3_2);
    /// assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_2);
    /// ```
    pub fn max_protocol_version(&mut self, version: ProtocolVersion) -> &mut Config {
        self.max_protocol_version = Some(version);
        self
    }

    /// Sets the most SCRAM-SHA-256 iterations a server may ask for (a guard against a
    /// server making the client burn CPU).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let mut cfg = Config::new();
    /// cfg.scram_max_iterations(100_000);
    /// assert_eq!(cfg.get_scram_max_iterations(), 100_000);
    /// ```
    pub fn scram_max_iterations(&mut self, iterations: u32) -> &mut Config {
        self.scram_max_iterations = Some(iterations);
        self
    }

    /// Sets how many prepared statements each connection keeps in its LRU cache
    /// (`HYPERDJANGO_STATEMENT_CACHE_SIZE`, default 256). 0 disables the cache: every query
    /// then uses the unnamed statement.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let mut cfg = Config::new();
    /// cfg.statement_cache_size(1024);
    /// assert_eq!(cfg.get_statement_cache_size(), 1024);
    /// ```
    pub fn statement_cache_size(&mut self, size: usize) -> &mut Config {
        self.statement_cache_size = Some(size);
        self
    }

    /// Sets whether queries are cached as named prepared statements
    /// (`HYPERDJANGO_PREPARED_STATEMENTS`, default true). `false` sends every query with the
    /// unnamed statement, which PgBouncer before 1.21 needs in transaction-pooling mode
    /// (consecutive transactions may run on different server connections): the statement
    /// cache is off, and [`Connection::prepare`](crate::Connection::prepare) describes the
    /// unnamed statement and parses it again at each execution, so no named statement is
    /// ever left on a server connection.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let cfg = Config::parse("postgresql://db/app?prepared_statements=false")?;
    /// assert!(!cfg.get_prepared_statements());
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn prepared_statements(&mut self, enabled: bool) -> &mut Config {
        self.prepared_statements = Some(enabled);
        self
    }

    /// Sets the per-query timeout (`HYPERDJANGO_QUERY_TIMEOUT`, in milliseconds; 0 = none).
    /// A query that runs longer is cancelled on the server and fails with a timeout error;
    /// the connection stays usable. It also becomes the session's `statement_timeout`, sent
    /// as a startup parameter: PgBouncer refuses it unless its `ignore_startup_parameters`
    /// lists `statement_timeout` (the client-side timeout still applies then).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let mut cfg = Config::new();
    /// cfg.query_timeout(Duration::from_millis(1500));
    /// assert_eq!(cfg.get_query_timeout(), Some(Duration::from_millis(1500)));
    /// ```
    pub fn query_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.query_timeout = Some(timeout);
        self
    }

    /// The statement cache capacity (default 256).
    ///
    /// ```
    /// assert_eq!(hyperdjango_pgwire::config::Config::new().get_statement_cache_size(), 256);
    /// ```
    pub fn get_statement_cache_size(&self) -> usize {
        self.statement_cache_size
            .unwrap_or(DEFAULT_STATEMENT_CACHE_SIZE)
    }

    /// Whether named prepared statements are used (default true).
    ///
    /// ```
    /// assert!(hyperdjango_pgwire::config::Config::new().get_prepared_statements());
    /// ```
    pub fn get_prepared_statements(&self) -> bool {
        self.prepared_statements.unwrap_or(true)
    }

    /// The per-query timeout: `None` if unset or 0.
    ///
    /// ```
    /// assert_eq!(hyperdjango_pgwire::config::Config::new().get_query_timeout(), None);
    /// ```
    pub fn get_query_timeout(&self) -> Option<std::time::Duration> {
        self.query_timeout.filter(|d| !d.is_zero())
    }

    /// Opts in to recording parameter values in the `hyperdjango.query` spans of the
    /// `tracing` feature (field `db.query.parameters`; default off, and without the feature
    /// this does nothing). Even then only booleans, integers, floats and OIDs are shown:
    /// text, bytea, json, arrays and every other value are recorded as `<redacted TYPE>`,
    /// since that is where passwords, tokens and personal data travel. It can be set only
    /// in code, never from a URL or the environment.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let mut cfg = Config::parse("postgresql://db/app")?;
    /// assert!(!cfg.get_trace_parameters());
    /// cfg.trace_parameters(true);
    /// assert!(cfg.get_trace_parameters());
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn trace_parameters(&mut self, enabled: bool) -> &mut Config {
        self.trace_parameters = enabled;
        self
    }

    /// Whether query spans record parameter values (see [`Config::trace_parameters`]).
    ///
    /// ```
    /// assert!(!hyperdjango_pgwire::config::Config::new().get_trace_parameters());
    /// ```
    pub fn get_trace_parameters(&self) -> bool {
        self.trace_parameters
    }

    // ----- getters -----

    /// The configured hosts, in order (empty: use the default, see [`Config::endpoints`]).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, Host};
    ///
    /// let cfg = Config::parse("postgresql://a,b/app")?;
    /// assert_eq!(cfg.get_hosts(), &[Host::Tcp("a".into()), Host::Tcp("b".into())]);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The configured ports (empty: 5432 for every host).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::parse("postgresql://a:1,b:2")?.get_ports(), &[1, 2]);
    /// assert!(Config::parse("postgresql://a")?.get_ports().is_empty());
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_ports(&self) -> &[u16] {
        &self.ports
    }

    /// The configured user name (see [`Config::effective_user`] for the default).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::parse("user=bob")?.get_user(), Some("bob"));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The configured password.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let cfg = Config::parse("postgresql://bob:%FF%00@db")?;
    /// assert_eq!(cfg.get_password(), Some(&[0xff, 0x00][..]));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_password(&self) -> Option<&[u8]> {
        self.password.as_deref()
    }

    /// The configured database name (see [`Config::effective_dbname`] for the default).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::parse("postgresql:///my%20db")?.get_dbname(), Some("my db"));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The application name: `application_name` if set, else `fallback_application_name`.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let cfg = Config::parse("fallback_application_name=tool")?;
    /// assert_eq!(cfg.get_application_name(), Some("tool"));
    /// let cfg = Config::parse("application_name=web fallback_application_name=tool")?;
    /// assert_eq!(cfg.get_application_name(), Some("web"));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_application_name(&self) -> Option<&str> {
        self.application_name
            .as_deref()
            .or(self.fallback_application_name.as_deref())
    }

    /// The command-line options for the server.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let cfg = Config::parse("postgresql://db?options=-c%20geqo%3Doff")?;
    /// assert_eq!(cfg.get_options(), Some("-c geqo=off"));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// The connect timeout per host; `None` means no timeout (unset, or set to 0).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    /// use std::time::Duration;
    ///
    /// let cfg = Config::parse("connect_timeout=10")?;
    /// assert_eq!(cfg.get_connect_timeout(), Some(Duration::from_secs(10)));
    /// assert_eq!(Config::parse("connect_timeout=0")?.get_connect_timeout(), None);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout.filter(|t| !t.is_zero())
    }

    /// The TLS mode (default [`SslMode::Prefer`]).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, SslMode};
    ///
    /// assert_eq!(Config::parse("sslmode=disable")?.get_ssl_mode(), SslMode::Disable);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_ssl_mode(&self) -> SslMode {
        self.ssl_mode.unwrap_or_default()
    }

    /// How TLS is started (default [`SslNegotiation::Postgres`]).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, SslNegotiation};
    ///
    /// assert_eq!(Config::new().get_ssl_negotiation(), SslNegotiation::Postgres);
    /// ```
    pub fn get_ssl_negotiation(&self) -> SslNegotiation {
        self.ssl_negotiation.unwrap_or_default()
    }

    /// The file of trusted root certificates, if set.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    /// use std::path::Path;
    ///
    /// let cfg = Config::parse("sslrootcert=/etc/root.crt")?;
    /// assert_eq!(cfg.get_ssl_root_cert(), Some(Path::new("/etc/root.crt")));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_ssl_root_cert(&self) -> Option<&Path> {
        self.ssl_root_cert.as_deref()
    }

    /// The client certificate file, if set.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    /// use std::path::Path;
    ///
    /// let cfg = Config::parse("sslcert=me.crt")?;
    /// assert_eq!(cfg.get_ssl_cert(), Some(Path::new("me.crt")));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_ssl_cert(&self) -> Option<&Path> {
        self.ssl_cert.as_deref()
    }

    /// The client certificate's key file, if set.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    /// use std::path::Path;
    ///
    /// let cfg = Config::parse("sslkey=me.key")?;
    /// assert_eq!(cfg.get_ssl_key(), Some(Path::new("me.key")));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_ssl_key(&self) -> Option<&Path> {
        self.ssl_key.as_deref()
    }

    /// Whether SCRAM uses TLS channel binding (default [`ChannelBindingMode::Prefer`]).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{ChannelBindingMode, Config};
    ///
    /// let cfg = Config::parse("channel_binding=disable")?;
    /// assert_eq!(cfg.get_channel_binding(), ChannelBindingMode::Disable);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_channel_binding(&self) -> ChannelBindingMode {
        self.channel_binding.unwrap_or_default()
    }

    /// The authentication methods the server may use, if restricted (`require_auth`).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert!(Config::new().get_require_auth().is_none());
    /// let cfg = Config::parse("require_auth=md5,scram-sha-256")?;
    /// assert_eq!(cfg.get_require_auth().unwrap().to_string(), "md5,scram-sha-256");
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_require_auth(&self) -> Option<&RequireAuth> {
        self.require_auth.as_ref()
    }

    /// Which kind of session is acceptable (default [`TargetSessionAttrs::Any`]).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, TargetSessionAttrs};
    ///
    /// let cfg = Config::parse("target_session_attrs=prefer-standby")?;
    /// assert_eq!(cfg.get_target_session_attrs(), TargetSessionAttrs::PreferStandby);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_target_session_attrs(&self) -> TargetSessionAttrs {
        self.target_session_attrs.unwrap_or_default()
    }

    /// The lowest protocol version accepted (default 3.0).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, ProtocolVersion};
    ///
    /// assert_eq!(Config::new().get_min_protocol_version(), ProtocolVersion::V3_0);
    /// ```
    pub fn get_min_protocol_version(&self) -> ProtocolVersion {
        self.min_protocol_version.unwrap_or(ProtocolVersion::V3_0)
    }

    /// The protocol version to ask for. Default 3.0, or 3.2 (`latest`) when the minimum is
    /// above 3.0, as in libpq.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, ProtocolVersion};
    ///
    /// assert_eq!(Config::new().get_max_protocol_version(), ProtocolVersion::V3_0);
    /// let cfg = Config::parse("min_protocol_version=3.2")?;
    /// assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_2);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_max_protocol_version(&self) -> ProtocolVersion {
        match self.max_protocol_version {
            Some(max) => max,
            None if self.get_min_protocol_version() > ProtocolVersion::V3_0 => {
                ProtocolVersion::V3_2
            }
            None => ProtocolVersion::V3_0,
        }
    }

    /// The most SCRAM-SHA-256 iterations a server may ask for (default 600000).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::new().get_scram_max_iterations(), 600_000);
    /// assert_eq!(Config::parse("scram_max_iterations=4096")?.get_scram_max_iterations(), 4096);
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn get_scram_max_iterations(&self) -> u32 {
        self.scram_max_iterations
            .unwrap_or(DEFAULT_SCRAM_MAX_ITERATIONS)
    }

    // ----- resolution -----

    /// The endpoints to try, in order, with defaults applied.
    ///
    /// libpq's pairing rules: give no port (5432 for every host), one port (for every
    /// host), or one port per host; anything else is an error naming both counts. With no
    /// host, the default is the Unix socket directory `/var/run/postgresql` if it holds
    /// `.s.PGSQL.<port>`, else `/tmp` if it does, else `Tcp("localhost")`.
    /// Also checks the configuration is consistent (e.g. `sslnegotiation=direct` needs
    /// `sslmode=require` or stronger).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::{Config, Host};
    ///
    /// let cfg = Config::parse("postgresql://a,b:6000,[::1]:6001/app")?;
    /// assert_eq!(
    ///     cfg.endpoints()?,
    ///     vec![
    ///         (Host::Tcp("a".into()), 5432),
    ///         (Host::Tcp("b".into()), 6000),
    ///         (Host::Tcp("::1".into()), 6001),
    ///     ]
    /// );
    ///
    /// let err = Config::parse("host=a,b,c port=1,2")?.endpoints().unwrap_err();
    /// assert!(err.message().starts_with("2 ports given for 3 hosts"));
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn endpoints(&self) -> Result<Vec<(Host, u16)>, ConfigError> {
        self.endpoints_with(|path| path.exists())
    }

    /// [`Config::endpoints`] with an injected "does this socket file exist" check.
    fn endpoints_with(
        &self,
        exists: impl Fn(&Path) -> bool,
    ) -> Result<Vec<(Host, u16)>, ConfigError> {
        self.validate()?;
        let hosts = self.hosts.len().max(1);
        let ports = self.ports.len();
        if ports > 1 && ports != hosts {
            let what = if self.hosts.is_empty() {
                "no host (the default host takes one port)".to_string()
            } else {
                count(self.hosts.len(), "host")
            };
            return Err(ConfigError::new(format!(
                "{} given for {what}: give one port for all hosts, or one per host",
                count(ports, "port")
            )));
        }
        let port_at = |i: usize| match self.ports.len() {
            0 => DEFAULT_PORT,
            1 => self.ports[0],
            _ => self.ports[i],
        };
        if self.hosts.is_empty() {
            let port = port_at(0);
            return Ok(vec![(default_host(port, exists), port)]);
        }
        Ok(self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, host)| (host.clone(), port_at(i)))
            .collect())
    }

    /// The user to log in as: the configured one, else `$USER`, else `$LOGNAME` (from the
    /// process environment), else an error.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::parse("user=bob")?.effective_user()?, "bob");
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn effective_user(&self) -> Result<String, ConfigError> {
        self.effective_user_with(process_env)
    }

    /// [`Config::effective_user`] with an injected environment lookup for `USER` / `LOGNAME`.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let cfg = Config::new();
    /// let env = |name: &str| (name == "LOGNAME").then(|| "carol".to_string());
    /// assert_eq!(cfg.effective_user_with(env)?, "carol");
    /// let err = cfg.effective_user_with(|_| None).unwrap_err();
    /// assert_eq!(err.message(), "no user name given: set it in the URL or PGUSER");
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn effective_user_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<String, ConfigError> {
        if let Some(user) = &self.user {
            return Ok(user.clone());
        }
        ["USER", "LOGNAME"]
            .into_iter()
            .find_map(|var| env(var).filter(|v| !v.is_empty()))
            .ok_or_else(|| ConfigError::new("no user name given: set it in the URL or PGUSER"))
    }

    /// The database to connect to: the configured one, else the user name
    /// ([`Config::effective_user`]).
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// assert_eq!(Config::parse("postgresql://bob@db")?.effective_dbname()?, "bob");
    /// assert_eq!(Config::parse("postgresql://bob@db/app")?.effective_dbname()?, "app");
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn effective_dbname(&self) -> Result<String, ConfigError> {
        self.effective_dbname_with(process_env)
    }

    /// [`Config::effective_dbname`] with an injected environment lookup for `USER` / `LOGNAME`.
    ///
    /// ```
    /// use hyperdjango_pgwire::config::Config;
    ///
    /// let env = |name: &str| (name == "USER").then(|| "dave".to_string());
    /// assert_eq!(Config::new().effective_dbname_with(env)?, "dave");
    /// # Ok::<(), hyperdjango_pgwire::config::ConfigError>(())
    /// ```
    pub fn effective_dbname_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<String, ConfigError> {
        match &self.dbname {
            Some(db) => Ok(db.clone()),
            None => self.effective_user_with(env),
        }
    }

    // ----- parsing internals -----

    /// Parses a URL or key=value string without checking the whole for consistency.
    fn parse_raw(s: &str) -> Result<Config, ConfigError> {
        let s = s.trim();
        let mut cfg = Config::new();
        match split_scheme(s) {
            Some((scheme, rest)) => {
                if scheme.eq_ignore_ascii_case("postgres")
                    || scheme.eq_ignore_ascii_case("postgresql")
                {
                    cfg.parse_url(rest)?;
                } else {
                    return Err(ConfigError::new(format!(
                        "unsupported URL scheme \"{scheme}\" (expected postgres:// or postgresql://)"
                    )));
                }
            }
            None => cfg.parse_conninfo(s)?,
        }
        Ok(cfg)
    }

    /// Parses what follows `postgresql://`.
    fn parse_url(&mut self, rest: &str) -> Result<(), ConfigError> {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        };
        if let Err(err) = self.parse_authority(authority) {
            if tail.contains('@') {
                // Likely an unencoded '/' or '?' in the user name or password: the error
                // would quote a piece of the password, so say something general instead.
                return Err(ConfigError::new(
                    "invalid URL: could not read the host and port; percent-encode any \"/\", \
                     \"?\" or \"@\" in the user name and password (%2F, %3F, %40)",
                ));
            }
            return Err(err);
        }
        if path.contains('@') {
            // The host ended at a '/' that was part of the password: the rest of the password
            // would become the database name (and show up in messages). A real '@' in a
            // database name is written %40.
            return Err(ConfigError::new(
                "invalid URL: \"@\" after the host; percent-encode any \"/\", \"?\" or \"@\" \
                 in the user name and password (%2F, %3F, %40), and \"@\" in the database name",
            ));
        }
        if let Some(db) = path.strip_prefix('/') {
            self.dbname = non_empty(decode_str(db, "database name")?);
        }
        let mut hostaddr = None;
        let mut after_password = false;
        for pair in query.unwrap_or("").split('&') {
            if pair.is_empty() {
                continue;
            }
            let Some((raw_key, raw_value)) = pair.split_once('=') else {
                // Text right after a password may be the rest of it (an unencoded '&'):
                // never quote it.
                if after_password {
                    return Err(ConfigError::new(
                        "URL parameter after the password has no value (if the password contains '&', percent-encode it as %26)",
                    ));
                }
                return Err(ConfigError::new(format!(
                    "URL parameter \"{pair}\" has no value (expected name=value)"
                )));
            };
            after_password = raw_key == "password";
            let key = decode_str(raw_key, "parameter name")?;
            let value = percent_decode(raw_value).map_err(|bad| {
                if key == "password" {
                    ConfigError::new("invalid percent-encoding in the password in URL")
                } else {
                    ConfigError::new(format!("invalid percent-encoding \"{bad}\" in URL"))
                }
            })?;
            if !PARAMS.contains(&key.as_str()) {
                return Err(ConfigError::new(format!("unknown URL parameter \"{key}\"")));
            }
            self.apply_param(&key, &value, &mut hostaddr)?;
        }
        self.apply_hostaddr(hostaddr);
        Ok(())
    }

    /// Parses `[user[:password]@][host][:port][,host[:port]...]`.
    fn parse_authority(&mut self, authority: &str) -> Result<(), ConfigError> {
        let (userinfo, hostports) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            self.user = non_empty(decode_str(user, "user name")?);
            if let Some(password) = password {
                let password = percent_decode(password).map_err(|_| {
                    ConfigError::new("invalid percent-encoding in the password in URL")
                })?;
                self.password = (!password.is_empty()).then_some(password);
            }
        }
        if hostports.is_empty() {
            return Ok(());
        }
        let specs: Vec<&str> = hostports.split(',').collect();
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for spec in &specs {
            let (raw_host, raw_port) = if let Some(inner) = spec.strip_prefix('[') {
                let Some(close) = inner.find(']') else {
                    return Err(ConfigError::new(format!(
                        "unterminated IPv6 address \"{spec}\" in URL"
                    )));
                };
                let (addr, after) = (&inner[..close], &inner[close + 1..]);
                if addr.is_empty() {
                    return Err(ConfigError::new("empty IPv6 address \"[]\" in URL"));
                }
                let port = match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None if after.is_empty() => None,
                    None => {
                        return Err(ConfigError::new(format!(
                            "unexpected \"{after}\" after IPv6 address \"[{addr}]\" in URL"
                        )));
                    }
                };
                (addr, port)
            } else {
                match spec.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (*spec, None),
                }
            };
            let host = decode_str(raw_host, "host name")?;
            let port = match raw_port {
                None | Some("") => None,
                Some(raw) => {
                    let port = decode_str(raw, "port")?;
                    Some(
                        parse_port(&port)
                            .map_err(|msg| ConfigError::new(format!("{msg} in URL")))?,
                    )
                }
            };
            if host.is_empty() {
                if specs.len() > 1 {
                    return Err(ConfigError::new(format!(
                        "empty host in URL host list \"{hostports}\""
                    )));
                }
            } else {
                hosts.push(host_from(&host));
            }
            ports.push(port);
        }
        self.hosts = hosts;
        self.ports = if ports.iter().any(Option::is_some) {
            ports
                .into_iter()
                .map(|p| p.unwrap_or(DEFAULT_PORT))
                .collect()
        } else {
            Vec::new()
        };
        Ok(())
    }

    /// Parses a libpq key=value string.
    fn parse_conninfo(&mut self, s: &str) -> Result<(), ConfigError> {
        let mut chars = s.chars().peekable();
        let mut hostaddr = None;
        let mut prev_key: Option<String> = None;
        // A stray word right after an unquoted password is probably part of the password.
        let after_password = |prev: &Option<String>| prev.as_deref() == Some("password");
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.peek().is_none() {
                break;
            }
            let mut key = String::new();
            while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
                key.push(c);
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.next_if_eq(&'=').is_none() {
                return Err(ConfigError::new(if key.is_empty() {
                    "missing parameter name before \"=\" in connection string".to_string()
                } else if after_password(&prev_key) {
                    "missing \"=\" after the password in connection string (quote values \
                     that contain spaces: password='...')"
                        .to_string()
                } else {
                    format!("missing \"=\" after \"{key}\" in connection string")
                }));
            }
            if key.is_empty() {
                return Err(ConfigError::new(
                    "missing parameter name before \"=\" in connection string",
                ));
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let mut value = String::new();
            if chars.next_if_eq(&'\'').is_some() {
                loop {
                    match chars.next() {
                        None => {
                            return Err(ConfigError::new(format!(
                                "unterminated quoted value of \"{key}\" in connection string"
                            )));
                        }
                        Some('\'') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => value.push(c),
                            None => {
                                return Err(ConfigError::new(format!(
                                    "unterminated quoted value of \"{key}\" in connection string"
                                )));
                            }
                        },
                        Some(c) => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    if c == '\\' {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    } else {
                        value.push(c);
                    }
                }
            }
            if !PARAMS.contains(&key.as_str()) {
                return Err(ConfigError::new(if after_password(&prev_key) {
                    "unknown connection parameter after the password (quote values that \
                     contain spaces: password='...')"
                        .to_string()
                } else {
                    format!("unknown connection parameter \"{key}\"")
                }));
            }
            self.apply_param(&key, value.as_bytes(), &mut hostaddr)?;
            prev_key = Some(key);
        }
        self.apply_hostaddr(hostaddr);
        Ok(())
    }

    /// Sets one parameter from a URL or key=value string; `hostaddr` is kept aside.
    fn apply_param(
        &mut self,
        key: &str,
        value: &[u8],
        hostaddr: &mut Option<Vec<Host>>,
    ) -> Result<(), ConfigError> {
        let result = if key == "hostaddr" {
            std::str::from_utf8(value)
                .map_err(|_| "value is not valid UTF-8".to_string())
                .and_then(parse_host_list)
                .map(|hosts| *hostaddr = Some(hosts))
        } else {
            self.set_param(key, value)
        };
        result.map_err(|msg| ConfigError::new(format!("{key}: {msg}")))
    }

    /// `hostaddr`, when given, replaces the host list.
    fn apply_hostaddr(&mut self, hostaddr: Option<Vec<Host>>) {
        if let Some(hosts) = hostaddr.filter(|h| !h.is_empty()) {
            self.hosts = hosts;
        }
    }

    /// Sets one parameter (any but `hostaddr`); an empty value unsets it. The error is the
    /// message without the parameter's name.
    fn set_param(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        if key == "password" {
            self.password = (!value.is_empty()).then(|| value.to_vec());
            return Ok(());
        }
        let value =
            std::str::from_utf8(value).map_err(|_| "value is not valid UTF-8".to_string())?;
        let v = (!value.is_empty()).then_some(value);
        let owned = v.map(str::to_owned);
        match key {
            "host" => self.hosts = v.map(parse_host_list).transpose()?.unwrap_or_default(),
            "port" => self.ports = v.map(parse_port_list).transpose()?.unwrap_or_default(),
            "user" => self.user = owned,
            "dbname" => self.dbname = owned,
            "application_name" => self.application_name = owned,
            "fallback_application_name" => self.fallback_application_name = owned,
            "options" => self.options = owned,
            "connect_timeout" => self.connect_timeout = v.map(parse_timeout).transpose()?,
            "sslmode" => self.ssl_mode = v.map(|v| parse_choice(v, &SslMode::ALL)).transpose()?,
            "sslnegotiation" => {
                let choices = [
                    ("postgres", SslNegotiation::Postgres),
                    ("direct", SslNegotiation::Direct),
                ];
                self.ssl_negotiation = v.map(|v| parse_choice(v, &choices)).transpose()?;
            }
            "sslrootcert" => self.ssl_root_cert = owned.map(PathBuf::from),
            "sslcert" => self.ssl_cert = owned.map(PathBuf::from),
            "sslkey" => self.ssl_key = owned.map(PathBuf::from),
            "channel_binding" => {
                self.channel_binding = v
                    .map(|v| parse_choice(v, &ChannelBindingMode::ALL))
                    .transpose()?;
            }
            "require_auth" => self.require_auth = v.map(RequireAuth::parse).transpose()?,
            "target_session_attrs" => {
                self.target_session_attrs = v
                    .map(|v| parse_choice(v, &TargetSessionAttrs::ALL))
                    .transpose()?;
            }
            "min_protocol_version" => {
                self.min_protocol_version = v.map(parse_protocol_version).transpose()?;
            }
            "max_protocol_version" => {
                self.max_protocol_version = v.map(parse_protocol_version).transpose()?;
            }
            "client_encoding" => {
                if let Some(v) = v {
                    if !v.eq_ignore_ascii_case("utf8") {
                        return Err(format!(
                            "unsupported value \"{v}\" (the driver always speaks UTF8)"
                        ));
                    }
                }
            }
            "keepalives" => {
                if let Some(v) = v {
                    if !matches!(v.trim(), "0" | "1") {
                        return Err(format!("invalid value \"{v}\" (expected 0 or 1)"));
                    }
                }
            }
            "statement_cache_size" => {
                self.statement_cache_size = v
                    .map(|v| match v.trim().parse::<usize>() {
                        Ok(n) if is_digits(v.trim()) => Ok(n),
                        _ => Err(format!("invalid value \"{v}\" (a whole number >= 0)")),
                    })
                    .transpose()?;
            }
            "prepared_statements" => {
                self.prepared_statements = v
                    .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                        "true" | "1" | "on" | "yes" => Ok(true),
                        "false" | "0" | "off" | "no" => Ok(false),
                        _ => Err(format!("invalid value \"{v}\" (true or false)")),
                    })
                    .transpose()?;
            }
            "query_timeout" => {
                self.query_timeout = v
                    .map(|v| match v.trim().parse::<u64>() {
                        Ok(ms) if is_digits(v.trim()) => Ok(Duration::from_millis(ms)),
                        _ => Err(format!(
                            "invalid value \"{v}\" (milliseconds, a whole number >= 0)"
                        )),
                    })
                    .transpose()?;
            }
            "scram_max_iterations" => {
                self.scram_max_iterations = v
                    .map(|v| match v.trim().parse::<u32>() {
                        Ok(n) if n >= 1 && is_digits(v.trim()) => Ok(n),
                        _ => Err(format!("invalid value \"{v}\" (a whole number >= 1)")),
                    })
                    .transpose()?;
            }
            _ => return Err("unknown parameter".to_string()),
        }
        Ok(())
    }

    /// Whether the field a parameter sets has a value (so the environment must not fill it).
    fn is_set(&self, key: &str) -> bool {
        match key {
            "host" => !self.hosts.is_empty(),
            "port" => !self.ports.is_empty(),
            "user" => self.user.is_some(),
            "password" => self.password.is_some(),
            "dbname" => self.dbname.is_some(),
            "application_name" => self.application_name.is_some(),
            "options" => self.options.is_some(),
            "connect_timeout" => self.connect_timeout.is_some(),
            "sslmode" => self.ssl_mode.is_some(),
            "sslnegotiation" => self.ssl_negotiation.is_some(),
            "sslrootcert" => self.ssl_root_cert.is_some(),
            "sslcert" => self.ssl_cert.is_some(),
            "sslkey" => self.ssl_key.is_some(),
            "channel_binding" => self.channel_binding.is_some(),
            "require_auth" => self.require_auth.is_some(),
            "target_session_attrs" => self.target_session_attrs.is_some(),
            "min_protocol_version" => self.min_protocol_version.is_some(),
            "max_protocol_version" => self.max_protocol_version.is_some(),
            "statement_cache_size" => self.statement_cache_size.is_some(),
            "prepared_statements" => self.prepared_statements.is_some(),
            "query_timeout" => self.query_timeout.is_some(),
            _ => false,
        }
    }

    /// Checks the settings agree with each other.
    fn validate(&self) -> Result<(), ConfigError> {
        let (min, max) = (
            self.get_min_protocol_version(),
            self.get_max_protocol_version(),
        );
        if min > max {
            return Err(ConfigError::new(format!(
                "min_protocol_version {min} is greater than max_protocol_version {max}"
            )));
        }
        let mode = self.get_ssl_mode();
        if self.get_ssl_negotiation() == SslNegotiation::Direct
            && matches!(mode, SslMode::Disable | SslMode::Allow | SslMode::Prefer)
        {
            return Err(ConfigError::new(format!(
                "sslnegotiation=direct needs sslmode=require, verify-ca or verify-full \
                 (sslmode is {})",
                mode.name()
            )));
        }
        if self.get_channel_binding() == ChannelBindingMode::Require
            && matches!(mode, SslMode::Disable | SslMode::Allow)
        {
            return Err(ConfigError::new(format!(
                "channel_binding=require needs TLS, but sslmode is {}",
                mode.name()
            )));
        }
        Ok(())
    }
}

// ----- helpers -----

/// The process environment, as an injectable lookup.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `<dir>/.s.PGSQL.<port>`.
fn socket_file(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!(".s.PGSQL.{port}"))
}

/// The host used when none is configured.
fn default_host(port: u16, exists: impl Fn(&Path) -> bool) -> Host {
    DEFAULT_SOCKET_DIRS
        .iter()
        .map(Path::new)
        .find(|dir| exists(&socket_file(dir, port)))
        .map_or_else(
            || Host::Tcp("localhost".to_string()),
            |dir| Host::Unix(dir.to_path_buf()),
        )
}

/// A host from its text: a path starting with `/` is a socket directory.
fn host_from(s: &str) -> Host {
    if s.starts_with('/') {
        Host::Unix(PathBuf::from(s))
    } else {
        Host::Tcp(s.to_owned())
    }
}

/// `"1 port"`, `"2 ports"`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `scheme` and the rest when `s` starts with `scheme://`.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// Decodes `%XX` escapes; the error is the bad escape's text.
fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i += 3;
                }
                _ => return Err(s[i..].chars().take(3).collect()),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-decodes a URL component that must be UTF-8 (`what` names it in errors).
fn decode_str(s: &str, what: &str) -> Result<String, ConfigError> {
    let bytes = percent_decode(s)
        .map_err(|bad| ConfigError::new(format!("invalid percent-encoding \"{bad}\" in URL")))?;
    String::from_utf8(bytes).map_err(|_| {
        ConfigError::new(format!(
            "{what} in URL is not valid UTF-8 after percent-decoding"
        ))
    })
}

/// A port, 1..=65535.
fn parse_port(s: &str) -> Result<u16, String> {
    let t = s.trim();
    match t.parse::<u16>() {
        Ok(port) if port != 0 && is_digits(t) => Ok(port),
        _ => Err(format!("invalid port \"{s}\"")),
    }
}

/// A comma-separated port list; empty items mean 5432, all empty means unset.
fn parse_port_list(s: &str) -> Result<Vec<u16>, String> {
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    if items.iter().all(|item| item.is_empty()) {
        return Ok(Vec::new());
    }
    items
        .into_iter()
        .map(|item| {
            if item.is_empty() {
                Ok(DEFAULT_PORT)
            } else {
                parse_port(item)
            }
        })
        .collect()
}

/// A comma-separated host list; all empty means unset.
fn parse_host_list(s: &str) -> Result<Vec<Host>, String> {
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    if items.iter().all(|item| item.is_empty()) {
        return Ok(Vec::new());
    }
    items
        .into_iter()
        .map(|item| {
            if item.is_empty() {
                return Err(format!("empty host in list \"{s}\""));
            }
            let item = item
                .strip_prefix('[')
                .and_then(|i| i.strip_suffix(']'))
                .unwrap_or(item);
            Ok(host_from(item))
        })
        .collect()
}

/// Whole seconds >= 0.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    match t.parse::<u64>() {
        Ok(secs) if is_digits(t) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "invalid value \"{s}\" (seconds, a whole number >= 0)"
        )),
    }
}

/// One of a fixed set of names.
fn parse_choice<T: Copy>(s: &str, choices: &[(&str, T)]) -> Result<T, String> {
    if let Some((_, value)) = choices.iter().find(|(name, _)| *name == s) {
        return Ok(*value);
    }
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let (last, rest) = names.split_last().unwrap_or((&"", &[]));
    Err(format!(
        "invalid value \"{s}\" (expected {} or {last})",
        rest.join(", ")
    ))
}

/// `3.0`, `3.2` or `latest`.
fn parse_protocol_version(s: &str) -> Result<ProtocolVersion, String> {
    match s {
        "3.0" => Ok(ProtocolVersion::V3_0),
        "3.2" | "latest" => Ok(ProtocolVersion::V3_2),
        _ => Err(format!(
            "invalid value \"{s}\" (expected 3.0, 3.2 or latest)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(s: &str) -> Config {
        Config::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> String {
        match Config::parse(s) {
            Ok(cfg) => panic!("{s:?} parsed: {cfg:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn tcp(s: &str) -> Host {
        Host::Tcp(s.to_string())
    }

    fn unix(s: &str) -> Host {
        Host::Unix(PathBuf::from(s))
    }

    fn endpoints(cfg: &Config) -> Vec<(Host, u16)> {
        cfg.endpoints_with(|_| false).unwrap()
    }

    // ----- URLs -----

    #[test]
    fn url_all_components() {
        let cfg = parse("postgresql://bob:secret@db.example.com:5433/app");
        assert_eq!(cfg.get_hosts(), &[tcp("db.example.com")]);
        assert_eq!(cfg.get_ports(), &[5433]);
        assert_eq!(cfg.get_user(), Some("bob"));
        assert_eq!(cfg.get_password(), Some(&b"secret"[..]));
        assert_eq!(cfg.get_dbname(), Some("app"));
        assert_eq!(endpoints(&cfg), vec![(tcp("db.example.com"), 5433)]);
    }

    #[test]
    fn url_both_schemes_and_case() {
        for s in [
            "postgres://h/db",
            "postgresql://h/db",
            "POSTGRESQL://h/db",
            "  postgres://h/db\n",
        ] {
            let cfg = parse(s);
            assert_eq!(cfg.get_hosts(), &[tcp("h")], "{s}");
            assert_eq!(cfg.get_dbname(), Some("db"), "{s}");
        }
    }

    #[test]
    fn url_minimal_forms() {
        let cfg = parse("postgresql://");
        assert!(cfg.get_hosts().is_empty());
        assert!(cfg.get_ports().is_empty());
        assert_eq!(cfg.get_user(), None);
        assert_eq!(cfg.get_dbname(), None);

        let cfg = parse("postgresql://localhost");
        assert_eq!(cfg.get_hosts(), &[tcp("localhost")]);
        assert!(cfg.get_ports().is_empty());

        let cfg = parse("postgresql://localhost/");
        assert_eq!(cfg.get_dbname(), None);

        let cfg = parse("postgresql:///mydb");
        assert!(cfg.get_hosts().is_empty());
        assert_eq!(cfg.get_dbname(), Some("mydb"));

        let cfg = parse("postgresql://:5433");
        assert!(cfg.get_hosts().is_empty());
        assert_eq!(cfg.get_ports(), &[5433]);

        let cfg = parse("postgresql://user@");
        assert_eq!(cfg.get_user(), Some("user"));
        assert!(cfg.get_hosts().is_empty());

        let cfg = parse("postgresql://h?");
        assert_eq!(cfg.get_hosts(), &[tcp("h")]);
    }

    #[test]
    fn url_user_without_password_and_empty_parts() {
        let cfg = parse("postgresql://bob@h");
        assert_eq!(cfg.get_user(), Some("bob"));
        assert_eq!(cfg.get_password(), None);

        let cfg = parse("postgresql://bob:@h");
        assert_eq!(cfg.get_password(), None);

        let cfg = parse("postgresql://:pw@h");
        assert_eq!(cfg.get_user(), None);
        assert_eq!(cfg.get_password(), Some(&b"pw"[..]));

        let cfg = parse("postgresql://@h");
        assert_eq!(cfg.get_user(), None);
    }

    #[test]
    fn url_percent_decoding() {
        let cfg = parse("postgresql://b%40b:p%40ss%3Aw%2Fo%3Frd%25@h%2Dx/d%20b");
        assert_eq!(cfg.get_user(), Some("b@b"));
        assert_eq!(cfg.get_password(), Some(&b"p@ss:w/o?rd%"[..]));
        assert_eq!(cfg.get_hosts(), &[tcp("h-x")]);
        assert_eq!(cfg.get_dbname(), Some("d b"));

        // Unencoded ':' and '@' in the password also work (first ':' and last '@' split).
        let cfg = parse("postgresql://bob:a:b@c@h/db");
        assert_eq!(cfg.get_user(), Some("bob"));
        assert_eq!(cfg.get_password(), Some(&b"a:b@c"[..]));
        assert_eq!(cfg.get_hosts(), &[tcp("h")]);

        // '+' is not a space.
        let cfg = parse("postgresql://h/a+b?application_name=x+y");
        assert_eq!(cfg.get_dbname(), Some("a+b"));
        assert_eq!(cfg.get_application_name(), Some("x+y"));

        // Lower-case hex and multi-byte UTF-8.
        let cfg = parse("postgresql://h/caf%c3%a9");
        assert_eq!(cfg.get_dbname(), Some("café"));

        // Password bytes need not be UTF-8.
        let cfg = parse("postgresql://u:%ff%fe@h");
        assert_eq!(cfg.get_password(), Some(&[0xff, 0xfe][..]));
        let cfg = parse("postgresql://h?password=%ff");
        assert_eq!(cfg.get_password(), Some(&[0xff][..]));

        // Query keys are decoded too.
        let cfg = parse("postgresql://h?%73slmode=require");
        assert_eq!(cfg.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn url_percent_errors() {
        assert_eq!(
            err("postgresql://h/d%zzb"),
            r#"invalid percent-encoding "%zz" in URL"#
        );
        assert_eq!(
            err("postgresql://h/db%"),
            r#"invalid percent-encoding "%" in URL"#
        );
        assert_eq!(
            err("postgresql://h/db%4"),
            r#"invalid percent-encoding "%4" in URL"#
        );
        assert_eq!(
            err("postgresql://u%g1@h"),
            r#"invalid percent-encoding "%g1" in URL"#
        );
        assert_eq!(
            err("postgresql://h%xx"),
            r#"invalid percent-encoding "%xx" in URL"#
        );
        assert_eq!(
            err("postgresql://h?application_name=%q"),
            r#"invalid percent-encoding "%q" in URL"#
        );
        assert_eq!(
            err("postgresql://h?%zz=1"),
            r#"invalid percent-encoding "%zz" in URL"#
        );
        assert_eq!(
            err("postgresql://h/%ff"),
            "database name in URL is not valid UTF-8 after percent-decoding"
        );
        assert_eq!(
            err("postgresql://%ff@h"),
            "user name in URL is not valid UTF-8 after percent-decoding"
        );
        assert_eq!(
            err("postgresql://%ff"),
            "host name in URL is not valid UTF-8 after percent-decoding"
        );
        assert_eq!(
            err("postgresql://h?dbname=%ff"),
            "dbname: value is not valid UTF-8"
        );
    }

    #[test]
    fn url_password_percent_errors_do_not_leak() {
        let e = err("postgresql://u:sec%zzret@h");
        assert_eq!(e, "invalid percent-encoding in the password in URL");
        assert!(!e.contains("sec") && !e.contains("%zz"));
        let e = err("postgresql://h?password=sec%zzret");
        assert_eq!(e, "invalid percent-encoding in the password in URL");
    }

    #[test]
    fn url_unencoded_slash_in_password_does_not_leak() {
        let e = err("postgresql://bob:Xq/Zk@h/db");
        assert!(!e.contains("Xq"), "{e}");
        assert!(
            e.starts_with("invalid URL: could not read the host and port"),
            "{e}"
        );
        let e = err("postgresql://bob:Xq?Zk@h/db");
        assert!(!e.contains("Xq"), "{e}");
    }

    #[test]
    fn url_ipv6() {
        let cfg = parse("postgresql://[::1]:5433/db");
        assert_eq!(cfg.get_hosts(), &[tcp("::1")]);
        assert_eq!(cfg.get_ports(), &[5433]);

        let cfg = parse("postgresql://[2001:db8::1234]/db");
        assert_eq!(cfg.get_hosts(), &[tcp("2001:db8::1234")]);
        assert!(cfg.get_ports().is_empty());

        let cfg = parse("postgresql://u:p@[fe80::1%25eth0]:1,[::2]/db");
        assert_eq!(cfg.get_hosts(), &[tcp("fe80::1%eth0"), tcp("::2")]);
        assert_eq!(cfg.get_ports(), &[1, 5432]);

        assert_eq!(
            err("postgresql://[::1/db"),
            r#"unterminated IPv6 address "[::1" in URL"#
        );
        assert_eq!(
            err("postgresql://[]:5/db"),
            r#"empty IPv6 address "[]" in URL"#
        );
        assert_eq!(
            err("postgresql://[::1]x/db"),
            r#"unexpected "x" after IPv6 address "[::1]" in URL"#
        );
        assert_eq!(err("postgresql://[::1]:x/db"), r#"invalid port "x" in URL"#);
    }

    #[test]
    fn url_unix_socket_dirs() {
        let cfg = parse("postgresql://%2Fvar%2Frun%2Fpostgresql/db");
        assert_eq!(cfg.get_hosts(), &[unix("/var/run/postgresql")]);
        assert_eq!(cfg.get_dbname(), Some("db"));

        let cfg = parse("postgresql://%2Ftmp:5433/db");
        assert_eq!(endpoints(&cfg), vec![(unix("/tmp"), 5433)]);

        let cfg = parse("postgresql:///db?host=/var/lib/postgresql");
        assert_eq!(cfg.get_hosts(), &[unix("/var/lib/postgresql")]);

        let cfg = parse("postgresql:///db?host=%2Ftmp");
        assert_eq!(cfg.get_hosts(), &[unix("/tmp")]);

        let cfg = parse("postgresql://bob@%2Fsock%3Adir/db");
        assert_eq!(cfg.get_hosts(), &[unix("/sock:dir")]);

        assert_eq!(
            unix("/tmp").socket_file(5433),
            Some(PathBuf::from("/tmp/.s.PGSQL.5433"))
        );
    }

    #[test]
    fn url_multi_host() {
        let cfg = parse("postgresql://h1:1,h2:2,h3:3/db");
        assert_eq!(cfg.get_hosts(), &[tcp("h1"), tcp("h2"), tcp("h3")]);
        assert_eq!(cfg.get_ports(), &[1, 2, 3]);
        assert_eq!(
            endpoints(&cfg),
            vec![(tcp("h1"), 1), (tcp("h2"), 2), (tcp("h3"), 3)]
        );

        // Hosts without a port get 5432 when others have one.
        let cfg = parse("postgresql://h1:6000,h2/db");
        assert_eq!(cfg.get_ports(), &[6000, 5432]);
        assert_eq!(endpoints(&cfg), vec![(tcp("h1"), 6000), (tcp("h2"), 5432)]);

        let cfg = parse("postgresql://h1,h2/db");
        assert!(cfg.get_ports().is_empty());
        assert_eq!(endpoints(&cfg), vec![(tcp("h1"), 5432), (tcp("h2"), 5432)]);

        let cfg = parse("postgresql://h1,%2Ftmp,[::1]:7/db");
        assert_eq!(cfg.get_hosts(), &[tcp("h1"), unix("/tmp"), tcp("::1")]);
        assert_eq!(cfg.get_ports(), &[5432, 5432, 7]);

        // An empty port after ':' counts as no port.
        let cfg = parse("postgresql://h1:/db");
        assert!(cfg.get_ports().is_empty());

        assert_eq!(
            err("postgresql://h1,,h2/db"),
            r#"empty host in URL host list "h1,,h2""#
        );
        assert_eq!(
            err("postgresql://h1,:5/db"),
            r#"empty host in URL host list "h1,:5""#
        );
    }

    #[test]
    fn url_port_errors() {
        assert_eq!(err("postgresql://h:abc/db"), r#"invalid port "abc" in URL"#);
        assert_eq!(err("postgresql://h:0/db"), r#"invalid port "0" in URL"#);
        assert_eq!(
            err("postgresql://h:65536/db"),
            r#"invalid port "65536" in URL"#
        );
        assert_eq!(err("postgresql://h:-1/db"), r#"invalid port "-1" in URL"#);
        assert_eq!(err("postgresql://h:+5/db"), r#"invalid port "+5" in URL"#);
        assert_eq!(err("postgresql://h:1:2/db"), r#"invalid port "1:2" in URL"#);
        assert_eq!(err("postgresql://a:1,b:x/db"), r#"invalid port "x" in URL"#);
        let cfg = parse("postgresql://h:65535/db");
        assert_eq!(cfg.get_ports(), &[65535]);
        let cfg = parse("postgresql://h:1/db");
        assert_eq!(cfg.get_ports(), &[1]);
    }

    #[test]
    fn url_scheme_errors() {
        assert_eq!(
            err("mysql://h/db"),
            r#"unsupported URL scheme "mysql" (expected postgres:// or postgresql://)"#
        );
        assert_eq!(
            err("http://bob:secret@h/db"),
            r#"unsupported URL scheme "http" (expected postgres:// or postgresql://)"#
        );
        assert_eq!(
            err("pg+ssl://h"),
            r#"unsupported URL scheme "pg+ssl" (expected postgres:// or postgresql://)"#
        );
    }

    #[test]
    fn url_query_overrides_url_parts() {
        let cfg =
            parse("postgresql://bob:pw@h1:1/db1?host=h2&port=2&user=alice&password=pw2&dbname=db2");
        assert_eq!(cfg.get_hosts(), &[tcp("h2")]);
        assert_eq!(cfg.get_ports(), &[2]);
        assert_eq!(cfg.get_user(), Some("alice"));
        assert_eq!(cfg.get_password(), Some(&b"pw2"[..]));
        assert_eq!(cfg.get_dbname(), Some("db2"));

        // Later parameters win over earlier ones.
        let cfg = parse("postgresql://h?sslmode=disable&sslmode=require");
        assert_eq!(cfg.get_ssl_mode(), SslMode::Require);

        // Empty value = unset.
        let cfg = parse("postgresql://bob@h/db?user=&dbname=&host=&sslmode=");
        assert_eq!(cfg.get_user(), None);
        assert_eq!(cfg.get_dbname(), None);
        assert!(cfg.get_hosts().is_empty());
        assert_eq!(cfg.get_ssl_mode(), SslMode::Prefer);

        // Empty segments are skipped.
        let cfg = parse("postgresql://h?&sslmode=require&&");
        assert_eq!(cfg.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn url_every_param() {
        let cfg = parse(
            "postgresql://h/db?application_name=web&fallback_application_name=fb\
             &connect_timeout=10&options=-c%20search_path%3Dapp&sslmode=verify-full\
             &sslnegotiation=direct&sslrootcert=%2Fr.crt&sslcert=c.crt&sslkey=c.key\
             &target_session_attrs=read-write&min_protocol_version=3.0\
             &max_protocol_version=latest&client_encoding=UTF8&keepalives=1\
             &scram_max_iterations=10000&hostaddr=10.0.0.1",
        );
        assert_eq!(cfg.get_hosts(), &[tcp("10.0.0.1")]);
        assert_eq!(cfg.get_application_name(), Some("web"));
        assert_eq!(cfg.get_connect_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(cfg.get_options(), Some("-c search_path=app"));
        assert_eq!(cfg.get_ssl_mode(), SslMode::VerifyFull);
        assert_eq!(cfg.get_ssl_negotiation(), SslNegotiation::Direct);
        assert_eq!(cfg.get_ssl_root_cert(), Some(Path::new("/r.crt")));
        assert_eq!(cfg.get_ssl_cert(), Some(Path::new("c.crt")));
        assert_eq!(cfg.get_ssl_key(), Some(Path::new("c.key")));
        assert_eq!(
            cfg.get_target_session_attrs(),
            TargetSessionAttrs::ReadWrite
        );
        assert_eq!(cfg.get_min_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(cfg.get_scram_max_iterations(), 10000);
    }

    #[test]
    fn url_enum_values() {
        for (s, m) in SslMode::ALL {
            assert_eq!(
                parse(&format!("postgresql://h?sslmode={s}")).get_ssl_mode(),
                m
            );
        }
        for (s, t) in TargetSessionAttrs::ALL {
            let cfg = parse(&format!("postgresql://h?target_session_attrs={s}"));
            assert_eq!(cfg.get_target_session_attrs(), t);
        }
        let cfg = parse("postgresql://h?sslnegotiation=postgres");
        assert_eq!(cfg.get_ssl_negotiation(), SslNegotiation::Postgres);
        for (s, v) in [
            ("3.0", ProtocolVersion::V3_0),
            ("3.2", ProtocolVersion::V3_2),
            ("latest", ProtocolVersion::V3_2),
        ] {
            let cfg = parse(&format!(
                "postgresql://h?min_protocol_version={s}&max_protocol_version=3.2"
            ));
            assert_eq!(cfg.get_min_protocol_version(), v);
            let cfg = parse(&format!("postgresql://h?max_protocol_version={s}"));
            assert_eq!(cfg.get_max_protocol_version(), v);
        }
        for enc in ["UTF8", "utf8", "Utf8"] {
            parse(&format!("postgresql://h?client_encoding={enc}"));
        }
        parse("postgresql://h?keepalives=0");
        parse("postgresql://h?keepalives=1");
    }

    #[test]
    fn url_param_errors() {
        assert_eq!(
            err("postgresql://h?foo=1"),
            r#"unknown URL parameter "foo""#
        );
        assert_eq!(
            err("postgresql://h?SSLMODE=require"),
            r#"unknown URL parameter "SSLMODE""#
        );
        assert_eq!(
            err("postgresql://h?sslmode"),
            r#"URL parameter "sslmode" has no value (expected name=value)"#
        );
        let leak = err("postgresql://h?password=s3cr&3t");
        assert!(!leak.contains("3t") && leak.contains("%26"), "{leak}");
        assert_eq!(
            err("postgresql://h?connect_timeout=-3"),
            r#"connect_timeout: invalid value "-3" (seconds, a whole number >= 0)"#
        );
        assert_eq!(
            err("postgresql://h?connect_timeout=abc"),
            r#"connect_timeout: invalid value "abc" (seconds, a whole number >= 0)"#
        );
        assert_eq!(
            err("postgresql://h?connect_timeout=1.5"),
            r#"connect_timeout: invalid value "1.5" (seconds, a whole number >= 0)"#
        );
        assert_eq!(
            err("postgresql://h?port=abc"),
            r#"port: invalid port "abc""#
        );
        assert_eq!(err("postgresql://h?port=1,0"), r#"port: invalid port "0""#);
        assert_eq!(
            err("postgresql://h?sslmode=on"),
            r#"sslmode: invalid value "on" (expected disable, allow, prefer, require, verify-ca or verify-full)"#
        );
        assert_eq!(
            err("postgresql://h?sslnegotiation=tls"),
            r#"sslnegotiation: invalid value "tls" (expected postgres or direct)"#
        );
        assert_eq!(
            err("postgresql://h?target_session_attrs=master"),
            r#"target_session_attrs: invalid value "master" (expected any, read-write, read-only, primary, standby or prefer-standby)"#
        );
        assert_eq!(
            err("postgresql://h?min_protocol_version=3.1"),
            r#"min_protocol_version: invalid value "3.1" (expected 3.0, 3.2 or latest)"#
        );
        assert_eq!(
            err("postgresql://h?max_protocol_version=2"),
            r#"max_protocol_version: invalid value "2" (expected 3.0, 3.2 or latest)"#
        );
        assert_eq!(
            err("postgresql://h?client_encoding=LATIN1"),
            r#"client_encoding: unsupported value "LATIN1" (the driver always speaks UTF8)"#
        );
        assert_eq!(
            err("postgresql://h?keepalives=2"),
            r#"keepalives: invalid value "2" (expected 0 or 1)"#
        );
        assert_eq!(
            err("postgresql://h?scram_max_iterations=0"),
            r#"scram_max_iterations: invalid value "0" (a whole number >= 1)"#
        );
        assert_eq!(
            err("postgresql://h?scram_max_iterations=lots"),
            r#"scram_max_iterations: invalid value "lots" (a whole number >= 1)"#
        );
        assert_eq!(
            err("postgresql://h?host=a,,b"),
            r#"host: empty host in list "a,,b""#
        );
        assert_eq!(
            err("postgresql://h?hostaddr=a,,b"),
            r#"hostaddr: empty host in list "a,,b""#
        );
    }

    #[test]
    fn connect_timeout_values() {
        assert_eq!(
            parse("postgresql://h?connect_timeout=0").get_connect_timeout(),
            None
        );
        assert_eq!(
            parse("postgresql://h?connect_timeout=1").get_connect_timeout(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            parse("connect_timeout=' 7 '").get_connect_timeout(),
            Some(Duration::from_secs(7))
        );
        // 0 is "set": the environment does not override it.
        let mut cfg = parse("connect_timeout=0");
        cfg.apply_env(env_of(&[("PGCONNECT_TIMEOUT", "5")]))
            .unwrap();
        assert_eq!(cfg.get_connect_timeout(), None);
    }

    #[test]
    fn fallback_application_name() {
        let cfg = parse("postgresql://h?fallback_application_name=fb");
        assert_eq!(cfg.get_application_name(), Some("fb"));
        let cfg = parse("postgresql://h?fallback_application_name=fb&application_name=app");
        assert_eq!(cfg.get_application_name(), Some("app"));
        // PGAPPNAME wins over a fallback, as in libpq.
        let mut cfg = parse("postgresql://h?fallback_application_name=fb");
        cfg.apply_env(env_of(&[("PGAPPNAME", "envapp")])).unwrap();
        assert_eq!(cfg.get_application_name(), Some("envapp"));
    }

    #[test]
    fn hostaddr_wins_over_host() {
        let cfg = parse("postgresql://h?hostaddr=10.0.0.1");
        assert_eq!(cfg.get_hosts(), &[tcp("10.0.0.1")]);
        let cfg = parse("hostaddr=10.0.0.1 host=name");
        assert_eq!(cfg.get_hosts(), &[tcp("10.0.0.1")]);
        let cfg = parse("host=name hostaddr=''");
        assert_eq!(cfg.get_hosts(), &[tcp("name")]);
        let cfg = parse("hostaddr=::1,10.0.0.2 port=1,2");
        assert_eq!(endpoints(&cfg), vec![(tcp("::1"), 1), (tcp("10.0.0.2"), 2)]);
    }

    #[test]
    fn protocol_version_rules() {
        let cfg = parse("min_protocol_version=3.2");
        assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(
            err("min_protocol_version=3.2 max_protocol_version=3.0"),
            "min_protocol_version 3.2 is greater than max_protocol_version 3.0"
        );
        let mut cfg = Config::new();
        cfg.min_protocol_version(ProtocolVersion::V3_2)
            .max_protocol_version(ProtocolVersion::V3_0);
        assert_eq!(
            cfg.endpoints().unwrap_err().message(),
            "min_protocol_version 3.2 is greater than max_protocol_version 3.0"
        );
        assert_eq!(ProtocolVersion::V3_0.to_string(), "3.0");
        assert_eq!(ProtocolVersion { major: 3, minor: 2 }.to_string(), "3.2");
    }

    #[test]
    fn direct_negotiation_needs_strong_sslmode() {
        assert_eq!(
            err("sslnegotiation=direct"),
            "sslnegotiation=direct needs sslmode=require, verify-ca or verify-full (sslmode is prefer)"
        );
        assert_eq!(
            err("postgresql://h?sslnegotiation=direct&sslmode=allow"),
            "sslnegotiation=direct needs sslmode=require, verify-ca or verify-full (sslmode is allow)"
        );
        for mode in ["require", "verify-ca", "verify-full"] {
            parse(&format!("sslnegotiation=direct sslmode={mode}"));
        }
        // The environment may supply the sslmode.
        let cfg = Config::from_env_with(env_of(&[
            ("HYPER_DATABASE_URL", "postgresql://h?sslnegotiation=direct"),
            ("PGSSLMODE", "require"),
        ]))
        .unwrap();
        assert_eq!(cfg.get_ssl_mode(), SslMode::Require);
        // Builder misuse is caught by endpoints().
        let mut cfg = Config::new();
        cfg.ssl_negotiation(SslNegotiation::Direct)
            .ssl_mode(SslMode::Disable);
        assert!(
            cfg.endpoints()
                .unwrap_err()
                .message()
                .contains("sslmode is disable")
        );
    }

    // ----- key=value strings -----

    #[test]
    fn conninfo_basic() {
        let cfg = parse("host=/tmp port=5433 user=bob password='a b' dbname=app");
        assert_eq!(cfg.get_hosts(), &[unix("/tmp")]);
        assert_eq!(cfg.get_ports(), &[5433]);
        assert_eq!(cfg.get_user(), Some("bob"));
        assert_eq!(cfg.get_password(), Some(&b"a b"[..]));
        assert_eq!(cfg.get_dbname(), Some("app"));
    }

    #[test]
    fn conninfo_syntax() {
        // Spaces around '=', tabs and newlines between pairs.
        let cfg = parse("  host = db\t port=\n5433   user =bob ");
        assert_eq!(cfg.get_hosts(), &[tcp("db")]);
        assert_eq!(cfg.get_ports(), &[5433]);
        assert_eq!(cfg.get_user(), Some("bob"));

        // Quotes with escapes.
        let cfg = parse(r"password='it\'s a \\ test' options='-c a=b'");
        assert_eq!(cfg.get_password(), Some(&br"it's a \ test"[..]));
        assert_eq!(cfg.get_options(), Some("-c a=b"));

        // Backslash escapes in unquoted values.
        let cfg = parse(r"password=a\ b\\c");
        assert_eq!(cfg.get_password(), Some(&br"a b\c"[..]));

        // Empty quoted value = unset; '=' inside a value.
        let cfg = parse("user='' options=-cx=y");
        assert_eq!(cfg.get_user(), None);
        assert_eq!(cfg.get_options(), Some("-cx=y"));

        // Unicode.
        let cfg = parse("dbname='café crème'");
        assert_eq!(cfg.get_dbname(), Some("café crème"));

        // Later keys win; empty string is an empty config.
        let cfg = parse("port=1 port=2");
        assert_eq!(cfg.get_ports(), &[2]);
        let cfg = parse("");
        assert!(cfg.get_hosts().is_empty());
        let cfg = parse("   ");
        assert_eq!(cfg.get_user(), None);

        // A value may contain "://" without being taken for a URL.
        let cfg = parse("application_name=x://y");
        assert_eq!(cfg.get_application_name(), Some("x://y"));

        // libpq: after '=' whitespace is skipped, so `host= port=5` sets host to "port=5".
        let cfg = parse("host= port=5");
        assert_eq!(cfg.get_hosts(), &[tcp("port=5")]);
    }

    #[test]
    fn conninfo_lists_and_every_key() {
        let cfg = parse(
            "host=a,b,/tmp port=1,2,3 application_name=web fallback_application_name=fb \
             connect_timeout=3 options='-c x=y' sslmode=verify-ca sslnegotiation=direct \
             sslrootcert=r sslcert=c sslkey=k target_session_attrs=standby \
             min_protocol_version=latest max_protocol_version=3.2 client_encoding=utf8 \
             keepalives=0 scram_max_iterations=5",
        );
        assert_eq!(
            endpoints(&cfg),
            vec![(tcp("a"), 1), (tcp("b"), 2), (unix("/tmp"), 3)]
        );
        assert_eq!(cfg.get_application_name(), Some("web"));
        assert_eq!(cfg.get_connect_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(cfg.get_options(), Some("-c x=y"));
        assert_eq!(cfg.get_ssl_mode(), SslMode::VerifyCa);
        assert_eq!(cfg.get_ssl_negotiation(), SslNegotiation::Direct);
        assert_eq!(cfg.get_ssl_root_cert(), Some(Path::new("r")));
        assert_eq!(cfg.get_ssl_cert(), Some(Path::new("c")));
        assert_eq!(cfg.get_ssl_key(), Some(Path::new("k")));
        assert_eq!(cfg.get_target_session_attrs(), TargetSessionAttrs::Standby);
        assert_eq!(cfg.get_min_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(cfg.get_scram_max_iterations(), 5);

        // Spaces in lists, bracketed IPv6, empty ports meaning 5432.
        let cfg = parse("host='a, [::1]' port=',7'");
        assert_eq!(endpoints(&cfg), vec![(tcp("a"), 5432), (tcp("::1"), 7)]);
    }

    #[test]
    fn conninfo_errors() {
        assert_eq!(err("foo=1"), r#"unknown connection parameter "foo""#);
        assert_eq!(
            err("host"),
            r#"missing "=" after "host" in connection string"#
        );
        assert_eq!(
            err("host localhost"),
            r#"missing "=" after "host" in connection string"#
        );
        assert_eq!(
            err("=x"),
            r#"missing parameter name before "=" in connection string"#
        );
        assert_eq!(
            err("user='bob"),
            r#"unterminated quoted value of "user" in connection string"#
        );
        assert_eq!(
            err(r"user='bob\"),
            r#"unterminated quoted value of "user" in connection string"#
        );
        assert_eq!(err("port=abc"), r#"port: invalid port "abc""#);
        assert_eq!(
            err("connect_timeout=-3"),
            r#"connect_timeout: invalid value "-3" (seconds, a whole number >= 0)"#
        );
        assert_eq!(
            err("sslmode=verify_full"),
            r#"sslmode: invalid value "verify_full" (expected disable, allow, prefer, require, verify-ca or verify-full)"#
        );
        assert_eq!(
            err("client_encoding=SQL_ASCII"),
            r#"client_encoding: unsupported value "SQL_ASCII" (the driver always speaks UTF8)"#
        );
    }

    #[test]
    fn conninfo_errors_do_not_leak_password() {
        let e = err("user=bob password=hunter two host=h");
        assert!(!e.contains("two"), "{e}");
        assert!(e.contains("after the password"), "{e}");
        let e = err("password=hunter two=x");
        assert!(!e.contains("two"), "{e}");
        assert!(e.contains("after the password"), "{e}");
        let e = err("password='hunter2");
        assert!(!e.contains("hunter2"), "{e}");
    }

    // ----- environment -----

    #[test]
    fn env_fills_gaps() {
        let env = env_of(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGDATABASE", "envdb"),
            ("PGAPPNAME", "envapp"),
            ("PGCONNECT_TIMEOUT", "9"),
            ("PGOPTIONS", "-c x=1"),
            ("PGSSLMODE", "require"),
            ("PGSSLNEGOTIATION", "direct"),
            ("PGSSLROOTCERT", "/r"),
            ("PGSSLCERT", "/c"),
            ("PGSSLKEY", "/k"),
            ("PGTARGETSESSIONATTRS", "primary"),
            ("PGMINPROTOCOLVERSION", "3.0"),
            ("PGMAXPROTOCOLVERSION", "3.2"),
        ]);
        let cfg = Config::from_env_with(&env).unwrap();
        assert_eq!(cfg.get_hosts(), &[tcp("envhost")]);
        assert_eq!(cfg.get_ports(), &[6000]);
        assert_eq!(cfg.get_user(), Some("envuser"));
        assert_eq!(cfg.get_password(), Some(&b"envpw"[..]));
        assert_eq!(cfg.get_dbname(), Some("envdb"));
        assert_eq!(cfg.get_application_name(), Some("envapp"));
        assert_eq!(cfg.get_connect_timeout(), Some(Duration::from_secs(9)));
        assert_eq!(cfg.get_options(), Some("-c x=1"));
        assert_eq!(cfg.get_ssl_mode(), SslMode::Require);
        assert_eq!(cfg.get_ssl_negotiation(), SslNegotiation::Direct);
        assert_eq!(cfg.get_ssl_root_cert(), Some(Path::new("/r")));
        assert_eq!(cfg.get_ssl_cert(), Some(Path::new("/c")));
        assert_eq!(cfg.get_ssl_key(), Some(Path::new("/k")));
        assert_eq!(cfg.get_target_session_attrs(), TargetSessionAttrs::Primary);
        assert_eq!(cfg.get_min_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_2);

        // Partly filled: only the gaps.
        let mut cfg = parse("postgresql://bob@h/db?sslmode=disable");
        cfg.apply_env(&env).unwrap_err(); // direct + disable
        let mut cfg = parse("postgresql://bob@h/db?sslmode=verify-full");
        cfg.apply_env(&env).unwrap();
        assert_eq!(cfg.get_hosts(), &[tcp("h")]);
        assert_eq!(cfg.get_ports(), &[6000]); // the URL gave no port
        assert_eq!(cfg.get_user(), Some("bob"));
        assert_eq!(cfg.get_password(), Some(&b"envpw"[..]));
        assert_eq!(cfg.get_dbname(), Some("db"));
        assert_eq!(cfg.get_ssl_mode(), SslMode::VerifyFull);
    }

    #[test]
    fn url_wins_over_env() {
        let env = env_of(&[
            (
                "HYPER_DATABASE_URL",
                "postgresql://bob:urlpw@urlhost:1/urldb?application_name=u&connect_timeout=0",
            ),
            ("PGHOST", "envhost"),
            ("PGPORT", "2"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGDATABASE", "envdb"),
            ("PGAPPNAME", "e"),
            ("PGCONNECT_TIMEOUT", "5"),
        ]);
        let cfg = Config::from_env_with(env).unwrap();
        assert_eq!(
            cfg.endpoints_with(|_| false).unwrap(),
            vec![(tcp("urlhost"), 1)]
        );
        assert_eq!(cfg.get_user(), Some("bob"));
        assert_eq!(cfg.get_password(), Some(&b"urlpw"[..]));
        assert_eq!(cfg.get_dbname(), Some("urldb"));
        assert_eq!(cfg.get_application_name(), Some("u"));
        assert_eq!(cfg.get_connect_timeout(), None);
    }

    #[test]
    fn env_url_may_be_conninfo_and_empty_vars_are_unset() {
        let cfg = Config::from_env_with(env_of(&[
            ("HYPER_DATABASE_URL", "host=/tmp dbname=x"),
            ("PGPORT", ""),
            ("PGUSER", ""),
        ]))
        .unwrap();
        assert_eq!(cfg.get_hosts(), &[unix("/tmp")]);
        assert!(cfg.get_ports().is_empty());
        assert_eq!(cfg.get_user(), None);

        let cfg = Config::from_env_with(env_of(&[("HYPER_DATABASE_URL", "  ")])).unwrap();
        assert!(cfg.get_hosts().is_empty());

        let cfg = Config::from_env_with(no_env).unwrap();
        assert!(cfg.get_hosts().is_empty());
        assert_eq!(cfg.get_user(), None);
    }

    #[test]
    fn env_lists() {
        let cfg = Config::from_env_with(env_of(&[("PGHOST", "a,b,/run/pg"), ("PGPORT", "1,2,3")]))
            .unwrap();
        assert_eq!(
            endpoints(&cfg),
            vec![(tcp("a"), 1), (tcp("b"), 2), (unix("/run/pg"), 3)]
        );
        let cfg = Config::from_env_with(env_of(&[("PGHOST", "a,b"), ("PGPORT", "7")])).unwrap();
        assert_eq!(endpoints(&cfg), vec![(tcp("a"), 7), (tcp("b"), 7)]);
        let cfg = Config::from_env_with(env_of(&[("PGHOST", "a,b"), ("PGPORT", "1,2,3")])).unwrap();
        assert_eq!(
            cfg.endpoints().unwrap_err().message(),
            "3 ports given for 2 hosts: give one port for all hosts, or one per host"
        );
    }

    #[test]
    fn env_errors_name_the_variable() {
        let cases = [
            ("PGPORT", "abc", r#"PGPORT: invalid port "abc""#),
            ("PGPORT", "1,x", r#"PGPORT: invalid port "x""#),
            ("PGPORT", "70000", r#"PGPORT: invalid port "70000""#),
            ("PGHOST", "a,,b", r#"PGHOST: empty host in list "a,,b""#),
            (
                "PGCONNECT_TIMEOUT",
                "-3",
                r#"PGCONNECT_TIMEOUT: invalid value "-3" (seconds, a whole number >= 0)"#,
            ),
            (
                "PGSSLMODE",
                "maybe",
                r#"PGSSLMODE: invalid value "maybe" (expected disable, allow, prefer, require, verify-ca or verify-full)"#,
            ),
            (
                "PGSSLNEGOTIATION",
                "x",
                r#"PGSSLNEGOTIATION: invalid value "x" (expected postgres or direct)"#,
            ),
            (
                "PGTARGETSESSIONATTRS",
                "rw",
                r#"PGTARGETSESSIONATTRS: invalid value "rw" (expected any, read-write, read-only, primary, standby or prefer-standby)"#,
            ),
            (
                "PGMINPROTOCOLVERSION",
                "4",
                r#"PGMINPROTOCOLVERSION: invalid value "4" (expected 3.0, 3.2 or latest)"#,
            ),
            (
                "PGMAXPROTOCOLVERSION",
                "3.1",
                r#"PGMAXPROTOCOLVERSION: invalid value "3.1" (expected 3.0, 3.2 or latest)"#,
            ),
        ];
        for (var, value, want) in cases {
            let got = Config::from_env_with(env_of(&[(var, value)])).unwrap_err();
            assert_eq!(got.message(), want);
        }
        // A value the URL already set is not read, so it cannot be an error.
        let cfg = Config::from_env_with(env_of(&[
            ("HYPER_DATABASE_URL", "postgresql://h:5/db"),
            ("PGPORT", "abc"),
        ]))
        .unwrap();
        assert_eq!(cfg.get_ports(), &[5]);
    }

    #[test]
    fn env_url_errors_are_prefixed() {
        let e = Config::from_env_with(env_of(&[(
            "HYPER_DATABASE_URL",
            "postgresql://bob:pw@h:x/db",
        )]))
        .unwrap_err();
        assert_eq!(
            e.message(),
            r#"HYPER_DATABASE_URL: invalid port "x" in URL"#
        );
        let e = Config::from_env_with(env_of(&[("HYPER_DATABASE_URL", "mysql://h")])).unwrap_err();
        assert!(
            e.message()
                .starts_with("HYPER_DATABASE_URL: unsupported URL scheme \"mysql\"")
        );
    }

    #[test]
    fn from_url_reads_process_env_only_for_gaps() {
        // Whatever the process environment holds, the URL's values stay.
        if let Ok(cfg) = Config::from_url("postgresql://bob:pw@h:5/db?sslmode=disable") {
            assert_eq!(cfg.get_user(), Some("bob"));
            assert_eq!(cfg.get_ports(), &[5]);
            assert_eq!(cfg.get_ssl_mode(), SslMode::Disable);
        }
        assert!(Config::from_url("postgresql://h:x").is_err());
    }

    // ----- endpoints -----

    #[test]
    fn endpoints_pairing() {
        let mut cfg = Config::new();
        assert_eq!(endpoints(&cfg), vec![(tcp("localhost"), 5432)]);
        cfg.port(6000);
        assert_eq!(endpoints(&cfg), vec![(tcp("localhost"), 6000)]);
        cfg.port(6001);
        assert_eq!(
            cfg.endpoints_with(|_| false).unwrap_err().message(),
            "2 ports given for no host (the default host takes one port): give one port for all hosts, or one per host"
        );

        let mut cfg = Config::new();
        cfg.host("a").host("b").host("c");
        assert_eq!(
            endpoints(&cfg),
            vec![(tcp("a"), 5432), (tcp("b"), 5432), (tcp("c"), 5432)]
        );
        cfg.port(1);
        assert_eq!(
            endpoints(&cfg),
            vec![(tcp("a"), 1), (tcp("b"), 1), (tcp("c"), 1)]
        );
        cfg.port(2);
        assert_eq!(
            cfg.endpoints().unwrap_err().message(),
            "2 ports given for 3 hosts: give one port for all hosts, or one per host"
        );
        cfg.port(3);
        assert_eq!(
            endpoints(&cfg),
            vec![(tcp("a"), 1), (tcp("b"), 2), (tcp("c"), 3)]
        );
        cfg.port(4);
        assert_eq!(
            cfg.endpoints().unwrap_err().message(),
            "4 ports given for 3 hosts: give one port for all hosts, or one per host"
        );

        let mut cfg = Config::new();
        cfg.host("a").port(1).port(2);
        assert_eq!(
            cfg.endpoints().unwrap_err().message(),
            "2 ports given for 1 host: give one port for all hosts, or one per host"
        );
    }

    #[test]
    fn endpoints_default_host() {
        let cfg = Config::new();
        let run = Path::new("/var/run/postgresql/.s.PGSQL.5432");
        let tmp = Path::new("/tmp/.s.PGSQL.5432");
        assert_eq!(
            cfg.endpoints_with(|p| p == run || p == tmp).unwrap(),
            vec![(unix("/var/run/postgresql"), 5432)]
        );
        assert_eq!(
            cfg.endpoints_with(|p| p == tmp).unwrap(),
            vec![(unix("/tmp"), 5432)]
        );
        assert_eq!(
            cfg.endpoints_with(|_| false).unwrap(),
            vec![(tcp("localhost"), 5432)]
        );

        // The socket file checked depends on the port.
        let cfg = parse("port=5433");
        let tmp5433 = Path::new("/tmp/.s.PGSQL.5433");
        assert_eq!(
            cfg.endpoints_with(|p| p == tmp).unwrap(),
            vec![(tcp("localhost"), 5433)]
        );
        assert_eq!(
            cfg.endpoints_with(|p| p == tmp5433).unwrap(),
            vec![(unix("/tmp"), 5433)]
        );

        // The real check runs without error.
        assert_eq!(Config::new().endpoints().unwrap().len(), 1);
    }

    // ----- builder, effective user -----

    #[test]
    fn builder_and_getters() {
        let mut cfg = Config::new();
        cfg.host("db")
            .host("/sock")
            .host_path("/other")
            .port(1)
            .port(2)
            .port(3)
            .user("u")
            .password(b"\xffpw")
            .dbname("d")
            .application_name("a")
            .options("-c x=y")
            .connect_timeout(Duration::from_millis(1500))
            .ssl_mode(SslMode::VerifyCa)
            .ssl_negotiation(SslNegotiation::Direct)
            .ssl_root_cert("/r")
            .ssl_cert(PathBuf::from("/c"))
            .ssl_key(Path::new("/k"))
            .target_session_attrs(TargetSessionAttrs::ReadOnly)
            .min_protocol_version(ProtocolVersion::V3_0)
            .max_protocol_version(ProtocolVersion::V3_2)
            .scram_max_iterations(7);
        assert_eq!(cfg.get_hosts(), &[tcp("db"), unix("/sock"), unix("/other")]);
        assert_eq!(cfg.get_ports(), &[1, 2, 3]);
        assert_eq!(cfg.get_user(), Some("u"));
        assert_eq!(cfg.get_password(), Some(&b"\xffpw"[..]));
        assert_eq!(cfg.get_dbname(), Some("d"));
        assert_eq!(cfg.get_application_name(), Some("a"));
        assert_eq!(cfg.get_options(), Some("-c x=y"));
        assert_eq!(cfg.get_connect_timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(cfg.get_ssl_mode(), SslMode::VerifyCa);
        assert_eq!(cfg.get_ssl_negotiation(), SslNegotiation::Direct);
        assert_eq!(cfg.get_ssl_root_cert(), Some(Path::new("/r")));
        assert_eq!(cfg.get_ssl_cert(), Some(Path::new("/c")));
        assert_eq!(cfg.get_ssl_key(), Some(Path::new("/k")));
        assert_eq!(cfg.get_target_session_attrs(), TargetSessionAttrs::ReadOnly);
        assert_eq!(cfg.get_min_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(cfg.get_scram_max_iterations(), 7);
        assert_eq!(
            cfg.endpoints().unwrap(),
            vec![(tcp("db"), 1), (unix("/sock"), 2), (unix("/other"), 3)]
        );
    }

    #[test]
    fn defaults() {
        let cfg = Config::default();
        assert_eq!(cfg.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(cfg.get_ssl_negotiation(), SslNegotiation::Postgres);
        assert_eq!(cfg.get_target_session_attrs(), TargetSessionAttrs::Any);
        assert_eq!(cfg.get_min_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(cfg.get_max_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(cfg.get_scram_max_iterations(), 600_000);
        assert_eq!(cfg.get_connect_timeout(), None);
        assert_eq!(cfg.get_password(), None);
        assert_eq!(cfg.get_application_name(), None);
        assert_eq!(cfg.get_ssl_root_cert(), None);
    }

    #[test]
    fn from_str_matches_parse() {
        let a: Config = "postgresql://bob@h:1/db".parse().unwrap();
        assert_eq!(a.get_user(), Some("bob"));
        assert_eq!(a.get_ports(), &[1]);
        let e = "postgresql://h:x".parse::<Config>().unwrap_err();
        assert_eq!(e, ConfigError::new(r#"invalid port "x" in URL"#));
    }

    #[test]
    fn effective_user_and_dbname() {
        let cfg = Config::new();
        assert_eq!(
            cfg.effective_user_with(env_of(&[("USER", "u1"), ("LOGNAME", "l1")]))
                .unwrap(),
            "u1"
        );
        assert_eq!(
            cfg.effective_user_with(env_of(&[("LOGNAME", "l1")]))
                .unwrap(),
            "l1"
        );
        assert_eq!(
            cfg.effective_user_with(env_of(&[("USER", ""), ("LOGNAME", "l1")]))
                .unwrap(),
            "l1"
        );
        assert_eq!(
            cfg.effective_user_with(no_env).unwrap_err().message(),
            "no user name given: set it in the URL or PGUSER"
        );
        assert_eq!(
            cfg.effective_dbname_with(no_env).unwrap_err().message(),
            "no user name given: set it in the URL or PGUSER"
        );
        assert_eq!(
            cfg.effective_dbname_with(env_of(&[("USER", "u1")]))
                .unwrap(),
            "u1"
        );

        let cfg = parse("user=bob");
        assert_eq!(
            cfg.effective_user_with(env_of(&[("USER", "u1")])).unwrap(),
            "bob"
        );
        assert_eq!(cfg.effective_dbname_with(no_env).unwrap(), "bob");
        assert_eq!(cfg.effective_user().unwrap(), "bob");
        let cfg = parse("user=bob dbname=app");
        assert_eq!(cfg.effective_dbname().unwrap(), "app");
    }

    // ----- secrecy -----

    #[test]
    fn debug_never_shows_password() {
        let cfg = parse("postgresql://bob:Sup3rS3cretPw@h/db");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("Sup3rS3cretPw"), "{shown}");
        assert!(shown.contains(r#"password: Some("<redacted>")"#), "{shown}");
        let shown = format!("{cfg:#?}");
        assert!(!shown.contains("Sup3rS3cretPw"), "{shown}");
        // Not even as bytes.
        assert!(!shown.contains(&format!("{:?}", b"Sup3rS3cretPw")));

        let shown = format!("{:?}", Config::new());
        assert!(shown.contains("password: None"), "{shown}");

        let mut cfg = Config::new();
        cfg.password("Sup3rS3cretPw");
        assert!(!format!("{cfg:?}").contains("Sup3rS3cretPw"));
        let cfg = Config::from_env_with(env_of(&[("PGPASSWORD", "Sup3rS3cretPw")])).unwrap();
        assert!(!format!("{cfg:?}").contains("Sup3rS3cretPw"));
    }

    #[test]
    fn errors_never_show_password() {
        let pw = "Sup3rS3cretPw";
        let urls = [
            format!("postgresql://bob:{pw}@h:abc/db"),
            format!("postgresql://bob:{pw}@h/db?foo=1"),
            format!("postgresql://bob:{pw}@h/db?connect_timeout=x"),
            format!("postgresql://bob:{pw}@[::1/db"),
            format!("postgresql://bob:{pw}@h/d%zz"),
            format!("postgresql://bob:{pw}%zz@h/db"),
            format!("postgresql://bob:{pw}@h/db?sslnegotiation=direct"),
            format!("postgresql://bob:{pw}@h,,i/db"),
            format!("postgresql://bob:{pw}/x@h/db"),
            format!("postgresql://bob:x@y/{pw}@h/db"),
            format!("postgresql://bob:x@y:5/{pw}@h/db"),
            format!("postgresql://bob:x/{pw}@h/db"),
            format!("postgresql://h/db?password={pw}%zz"),
            format!("postgresql://h/db?password={pw}&sslmode=x"),
            format!("mysql://bob:{pw}@h/db"),
            format!("user=bob password={pw} port=x"),
            format!("password='{pw}"),
            format!("password={pw} {pw}"),
            format!("password={pw} {pw}=1"),
        ];
        for url in &urls {
            let e = Config::parse(url).unwrap_err();
            assert!(!e.to_string().contains(pw), "{url}: {e}");
            assert!(!format!("{e:?}").contains(pw), "{url}: {e:?}");
            let e = Config::from_env_with(env_of(&[("HYPER_DATABASE_URL", url)])).unwrap_err();
            assert!(!e.to_string().contains(pw), "{url}: {e}");
        }
    }

    #[test]
    fn channel_binding_and_require_auth() {
        let cfg = parse("channel_binding=require sslmode=verify-full require_auth=!password,!md5");
        assert_eq!(cfg.get_channel_binding(), ChannelBindingMode::Require);
        let policy = cfg.get_require_auth().unwrap();
        assert!(policy.allows(AuthMethod::ScramSha256) && policy.allows(AuthMethod::None));
        assert!(!policy.allows(AuthMethod::Password) && !policy.allows(AuthMethod::Md5));
        assert_eq!(policy.to_string(), "!password,!md5");
        assert_eq!(
            err("channel_binding=maybe"),
            r#"channel_binding: invalid value "maybe" (expected disable, prefer or require)"#
        );
        assert!(err("require_auth=md5,!password").contains("cannot be mixed"));
        assert!(err("require_auth=kerberos").contains(r#"invalid method "kerberos""#));
        assert!(err("require_auth=md5,md5").contains("listed twice"));
        assert!(err("require_auth=md5,").contains(r#"invalid method """#));
        assert_eq!(
            err("sslmode=allow channel_binding=require"),
            "channel_binding=require needs TLS, but sslmode is allow"
        );
        // The environment fills them like the others.
        let cfg = Config::from_env_with(env_of(&[
            ("PGCHANNELBINDING", "disable"),
            ("PGREQUIREAUTH", "scram-sha-256"),
        ]))
        .unwrap();
        assert_eq!(cfg.get_channel_binding(), ChannelBindingMode::Disable);
        assert_eq!(cfg.get_require_auth().unwrap().to_string(), "scram-sha-256");
        let e = Config::from_env_with(env_of(&[("PGREQUIREAUTH", "nope")])).unwrap_err();
        assert!(e.message().starts_with("PGREQUIREAUTH: "), "{e}");
    }

    #[test]
    fn host_display() {
        assert_eq!(tcp("db").to_string(), "db");
        assert_eq!(unix("/tmp").to_string(), "/tmp");
        assert_eq!(tcp("db").socket_file(1), None);
    }
}
