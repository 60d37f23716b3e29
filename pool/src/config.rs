//! The pool's settings: [`PoolConfig`], resolved from builder overrides, the `HYPERDJANGO_*`
//! environment variables, and defaults, in that order.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `HYPER_DATABASE_URL` | none (then `PG*`) | the server to connect to |
//! | `HYPERDJANGO_POOL_SIZE` | 0 | maximum connections; 0 means CPU cores × 2 |
//! | `HYPERDJANGO_POOL_MAX_QUERIES` | 10000 | rotate a connection after this many queries; 0 never |
//! | `HYPERDJANGO_POOL_MAX_LIFETIME` | 3600 | seconds; rotate a connection after about this long (minus up to 10 % jitter); 0 never |
//! | `HYPERDJANGO_STATEMENT_CACHE_SIZE` | 256 | per-connection statement cache capacity; 0 disables it |
//! | `HYPERDJANGO_PREPARED_STATEMENTS` | true | use named prepared statements; `false` behind PgBouncer in transaction mode (older than 1.21): only the unnamed statement, parsed with each command |
//! | `HYPERDJANGO_CONNECT_TIMEOUT` | 10000 | ms to open a connection (with the `after_connect` hook); 0 no limit |
//! | `HYPERDJANGO_QUERY_TIMEOUT` | 0 | ms a query may run before it is cancelled; 0 no limit |
//! | `HYPERDJANGO_POOL_ACQUIRE_TIMEOUT` | 30000 | ms to wait for a free connection; 0 no limit |
//! | `HYPERDJANGO_POOL_MIN_IDLE` | 0 | idle connections kept open |
//! | `HYPERDJANGO_POOL_IDLE_TIMEOUT` | 600 | seconds; close connections idle this long (above the minimum); 0 never |
//! | `HYPERDJANGO_POOL_HEALTH_CHECK_AFTER` | 30000 | ms; ping a connection idle this long before handing it out; 0 never |
//!
//! An invalid value is an error that names the variable and the value; an empty variable
//! counts as unset.

use std::fmt;
use std::time::Duration;

use crate::env::{self, Unit};

/// `HYPER_DATABASE_URL`: the server to connect to.
pub const DATABASE_URL: &str = "HYPER_DATABASE_URL";
/// `HYPERDJANGO_POOL_SIZE`: maximum connections; 0 means CPU cores × 2.
pub const POOL_SIZE: &str = "HYPERDJANGO_POOL_SIZE";
/// `HYPERDJANGO_POOL_MAX_QUERIES`: rotate a connection after this many queries; 0 never.
pub const POOL_MAX_QUERIES: &str = "HYPERDJANGO_POOL_MAX_QUERIES";
/// `HYPERDJANGO_POOL_MAX_LIFETIME`: seconds before a connection is rotated; 0 never.
pub const POOL_MAX_LIFETIME: &str = "HYPERDJANGO_POOL_MAX_LIFETIME";
/// `HYPERDJANGO_STATEMENT_CACHE_SIZE`: per-connection statement cache capacity.
pub const STATEMENT_CACHE_SIZE: &str = "HYPERDJANGO_STATEMENT_CACHE_SIZE";
/// `HYPERDJANGO_PREPARED_STATEMENTS`: use prepared statements.
pub const PREPARED_STATEMENTS: &str = "HYPERDJANGO_PREPARED_STATEMENTS";
/// `HYPERDJANGO_CONNECT_TIMEOUT`: ms to open a connection; 0 no limit.
pub const CONNECT_TIMEOUT: &str = "HYPERDJANGO_CONNECT_TIMEOUT";
/// `HYPERDJANGO_QUERY_TIMEOUT`: ms a query may run; 0 no limit.
pub const QUERY_TIMEOUT: &str = "HYPERDJANGO_QUERY_TIMEOUT";
/// `HYPERDJANGO_POOL_ACQUIRE_TIMEOUT`: ms to wait for a free connection; 0 no limit.
pub const POOL_ACQUIRE_TIMEOUT: &str = "HYPERDJANGO_POOL_ACQUIRE_TIMEOUT";
/// `HYPERDJANGO_POOL_MIN_IDLE`: idle connections kept open.
pub const POOL_MIN_IDLE: &str = "HYPERDJANGO_POOL_MIN_IDLE";
/// `HYPERDJANGO_POOL_IDLE_TIMEOUT`: seconds before an idle connection is closed; 0 never.
pub const POOL_IDLE_TIMEOUT: &str = "HYPERDJANGO_POOL_IDLE_TIMEOUT";
/// `HYPERDJANGO_POOL_HEALTH_CHECK_AFTER`: ms of idleness after which a connection is pinged
/// before it is handed out; 0 never.
pub const POOL_HEALTH_CHECK_AFTER: &str = "HYPERDJANGO_POOL_HEALTH_CHECK_AFTER";

/// Upper bound of the pool size (PostgreSQL's own `max_connections` limit is 262143).
const MAX_POOL_SIZE: u64 = 262_143;
/// Upper bound of the statement cache size.
const MAX_STATEMENT_CACHE: u64 = 1_000_000;

/// An invalid pool setting. The message names the variable (or builder method) and the value.
///
/// ```
/// use hyperdjango_pool::PoolBuilder;
///
/// let env = |name: &str| (name == "HYPERDJANGO_QUERY_TIMEOUT").then(|| "-5".to_string());
/// let err = PoolBuilder::new().env(env).config().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"invalid pool configuration: HYPERDJANGO_QUERY_TIMEOUT="-5": expected a whole number from 0 to 3153600000000 (milliseconds, 0 means no limit)"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            message: message.into(),
        }
    }

    /// The message, e.g. `HYPERDJANGO_POOL_SIZE="abc": expected a whole number ...`.
    ///
    /// ```
    /// use hyperdjango_pool::{Error, PoolBuilder};
    ///
    /// let env = |name: &str| (name == "HYPERDJANGO_POOL_SIZE").then(|| "abc".to_string());
    /// let Err(Error::Config(e)) = PoolBuilder::new().env(env).config() else { panic!() };
    /// assert!(e.message().starts_with(r#"HYPERDJANGO_POOL_SIZE="abc": "#));
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Shows the message.
///
/// ```
/// use hyperdjango_pool::{Error, PoolBuilder};
///
/// let env = |name: &str| (name == "HYPERDJANGO_PREPARED_STATEMENTS").then(|| "maybe".to_string());
/// let Err(Error::Config(e)) = PoolBuilder::new().env(env).config() else { panic!() };
/// assert!(e.to_string().contains("maybe"));
/// ```
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A configuration error is a standard error.
///
/// ```
/// use hyperdjango_pool::{Error, PoolBuilder};
///
/// let env = |name: &str| (name == "HYPERDJANGO_POOL_SIZE").then(|| "-1".to_string());
/// let Err(Error::Config(e)) = PoolBuilder::new().env(env).config() else { panic!() };
/// let _: Box<dyn std::error::Error> = Box::new(e);
/// ```
impl std::error::Error for ConfigError {}

/// Where the connection settings come from when the builder gives them.
#[derive(Clone)]
pub(crate) enum ConnectSource {
    Url(String),
    Config(Box<hyperdjango_pgwire::Config>),
}

/// The builder's explicit settings, in the environment's terms (0 means off / default).
#[derive(Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) connect: Option<ConnectSource>,
    pub(crate) max_size: Option<usize>,
    pub(crate) max_queries: Option<u64>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) statement_cache_size: Option<usize>,
    pub(crate) prepared_statements: Option<bool>,
    pub(crate) trace_parameters: Option<bool>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) query_timeout: Option<Duration>,
    pub(crate) acquire_timeout: Option<Duration>,
    pub(crate) min_idle: Option<usize>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) health_check_after: Option<Duration>,
    pub(crate) reset_session: Option<bool>,
    pub(crate) release_timeout: Option<Duration>,
    pub(crate) maintenance_interval: Option<Duration>,
}

/// The resolved settings of a pool. Get one from [`PoolBuilder::config`] (to check the
/// environment at startup) or [`Pool::config`].
///
/// Durations that are "off" (`0` in the environment) are `None`.
///
/// [`PoolBuilder::config`]: crate::PoolBuilder::config
/// [`Pool::config`]: crate::Pool::config
///
/// ```
/// use std::time::Duration;
/// use hyperdjango_pool::PoolBuilder;
///
/// let env = |name: &str| match name {
///     "HYPER_DATABASE_URL" => Some("postgres://app@db/app".to_string()),
///     "HYPERDJANGO_POOL_SIZE" => Some("16".to_string()),
///     "HYPERDJANGO_QUERY_TIMEOUT" => Some("1500".to_string()),
///     _ => None,
/// };
/// let config = PoolBuilder::new().env(env).max_queries(500).config()?;
/// assert_eq!(config.max_size(), 16);
/// assert_eq!(config.max_queries(), Some(500)); // the builder wins over the environment
/// assert_eq!(config.query_timeout(), Some(Duration::from_millis(1500)));
/// assert_eq!(config.max_lifetime(), Some(Duration::from_secs(3600)));
/// assert_eq!(config.connect().get_dbname(), Some("app"));
/// # Ok::<(), hyperdjango_pool::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub(crate) connect: hyperdjango_pgwire::Config,
    pub(crate) max_size: usize,
    pub(crate) max_queries: Option<u64>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) statement_cache_size: usize,
    pub(crate) prepared_statements: bool,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) query_timeout: Option<Duration>,
    pub(crate) acquire_timeout: Option<Duration>,
    pub(crate) min_idle: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) health_check_after: Option<Duration>,
    pub(crate) reset_session: bool,
    pub(crate) release_timeout: Duration,
    pub(crate) maintenance_interval: Duration,
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// The builder's value, else the variable's, else the default.
fn pick<T>(
    over: Option<T>,
    env: &dyn Fn(&str) -> Option<String>,
    var: &str,
    parse: impl FnOnce(&str, &str) -> Result<T, ConfigError>,
    default: T,
) -> Result<T, ConfigError> {
    if let Some(v) = over {
        return Ok(v);
    }
    match env::lookup(env, var) {
        Some(value) => parse(var, &value),
        None => Ok(default),
    }
}

fn ms(meaning: &'static str) -> impl FnOnce(&str, &str) -> Result<Duration, ConfigError> {
    move |var, value| env::duration(var, value, Unit::Millis, meaning)
}

fn secs(meaning: &'static str) -> impl FnOnce(&str, &str) -> Result<Duration, ConfigError> {
    move |var, value| env::duration(var, value, Unit::Seconds, meaning)
}

/// CPU cores × 2, what `HYPERDJANGO_POOL_SIZE=0` means.
fn default_size() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) * 2
}

impl PoolConfig {
    pub(crate) fn resolve(
        o: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PoolConfig, ConfigError> {
        let pg_error = |what: &str, e: hyperdjango_pgwire::ConfigError| {
            ConfigError::new(format!("{what}: {}", e.message()))
        };
        let whole = |max: u64, meaning: &'static str| {
            move |var: &str, value: &str| env::whole(var, value, max, meaning)
        };
        let size = pick(
            o.max_size.map(|n| n as u64),
            env,
            POOL_SIZE,
            whole(MAX_POOL_SIZE, ", 0 means CPU cores x 2"),
            0,
        )?;
        let max_size = match size {
            0 => default_size(),
            n => n as usize,
        };
        let max_queries = pick(
            o.max_queries,
            env,
            POOL_MAX_QUERIES,
            whole(u64::MAX, ", 0 means no limit"),
            10_000,
        )?;
        let max_lifetime = pick(
            o.max_lifetime,
            env,
            POOL_MAX_LIFETIME,
            secs(", 0 means no limit"),
            Duration::from_secs(3600),
        )?;
        // These three are the driver's: checked here first (so that an error names the
        // variable the pool's way), then the builder's or the environment's value goes into
        // the connection settings; else the connection settings' own (from the URL) stand.
        let statement_cache_size = pick(
            o.statement_cache_size.map(|n| Some(n as u64)),
            env,
            STATEMENT_CACHE_SIZE,
            |var, value| whole(MAX_STATEMENT_CACHE, ", 0 disables the cache")(var, value).map(Some),
            None,
        )?;
        let prepared_statements = pick(
            o.prepared_statements.map(Some),
            env,
            PREPARED_STATEMENTS,
            |var, value| env::boolean(var, value).map(Some),
            None,
        )?;
        let connect_timeout = pick(
            o.connect_timeout,
            env,
            CONNECT_TIMEOUT,
            ms(", 0 means no limit"),
            Duration::from_secs(10),
        )?;
        let query_timeout = pick(
            o.query_timeout.map(Some),
            env,
            QUERY_TIMEOUT,
            |var, value| ms(", 0 means no limit")(var, value).map(Some),
            None,
        )?;
        let mut connect = match &o.connect {
            Some(ConnectSource::Config(c)) => (**c).clone(),
            Some(ConnectSource::Url(url)) => {
                let mut c = hyperdjango_pgwire::Config::parse(url)
                    .map_err(|e| pg_error("the URL given to PoolBuilder::url", e))?;
                c.apply_env(env)
                    .map_err(|e| pg_error("the environment", e))?;
                c
            }
            None => hyperdjango_pgwire::Config::from_env_with(env)
                .map_err(|e| pg_error("the connection settings", e))?,
        };
        if let Some(n) = statement_cache_size {
            connect.statement_cache_size(n as usize);
        }
        if let Some(on) = prepared_statements {
            connect.prepared_statements(on);
        }
        if let Some(on) = o.trace_parameters {
            connect.trace_parameters(on);
        }
        if let Some(limit) = query_timeout {
            connect.query_timeout(limit);
        }
        // The driver's own connect timeout (per host, and for sending a CancelRequest)
        // defaults to the pool's.
        if connect.get_connect_timeout().is_none() && !connect_timeout.is_zero() {
            connect.connect_timeout(connect_timeout);
        }
        let acquire_timeout = pick(
            o.acquire_timeout,
            env,
            POOL_ACQUIRE_TIMEOUT,
            ms(", 0 means no limit"),
            Duration::from_secs(30),
        )?;
        let min_idle = pick(
            o.min_idle.map(|n| n as u64),
            env,
            POOL_MIN_IDLE,
            whole(MAX_POOL_SIZE, ""),
            0,
        )? as usize;
        let idle_timeout = pick(
            o.idle_timeout,
            env,
            POOL_IDLE_TIMEOUT,
            secs(", 0 means never"),
            Duration::from_secs(600),
        )?;
        let health_check_after = pick(
            o.health_check_after,
            env,
            POOL_HEALTH_CHECK_AFTER,
            ms(", 0 means never"),
            Duration::from_secs(30),
        )?;
        if min_idle > max_size {
            return Err(ConfigError::new(format!(
                "the minimum of idle connections ({POOL_MIN_IDLE} or PoolBuilder::min_idle: {min_idle}) is larger than the pool size ({max_size})"
            )));
        }
        Ok(PoolConfig {
            max_size,
            max_queries: (max_queries != 0).then_some(max_queries),
            max_lifetime: nonzero(max_lifetime),
            statement_cache_size: connect.get_statement_cache_size(),
            prepared_statements: connect.get_prepared_statements(),
            query_timeout: connect.get_query_timeout(),
            connect_timeout: nonzero(connect_timeout),
            acquire_timeout: nonzero(acquire_timeout),
            min_idle,
            idle_timeout: nonzero(idle_timeout),
            health_check_after: nonzero(health_check_after),
            reset_session: o.reset_session.unwrap_or(false),
            release_timeout: o.release_timeout.unwrap_or(Duration::from_secs(10)),
            connect,
            maintenance_interval: o
                .maintenance_interval
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(1)),
        })
    }

    /// The connection settings (host, user, database, ...). Its `Debug` hides the password.
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new()
    ///     .url("postgres://app:secret@db/app")
    ///     .config()?;
    /// assert_eq!(config.connect().get_user(), Some("app"));
    /// assert!(!format!("{config:?}").contains("secret"));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn connect(&self) -> &hyperdjango_pgwire::Config {
        &self.connect
    }

    /// The maximum number of connections (`HYPERDJANGO_POOL_SIZE`; 0 there means CPU
    /// cores × 2, resolved here).
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// assert_eq!(config.max_size(), cores * 2);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Queries after which a connection is rotated (`HYPERDJANGO_POOL_MAX_QUERIES`);
    /// `None` when unlimited.
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert_eq!(config.max_queries(), Some(10_000));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn max_queries(&self) -> Option<u64> {
        self.max_queries
    }

    /// How long a connection lives before it is rotated (`HYPERDJANGO_POOL_MAX_LIFETIME`);
    /// each connection's actual lifetime is up to 10 % shorter, at random, so that
    /// connections opened together are not all replaced together. `None` when unlimited.
    ///
    /// ```
    /// use std::time::Duration;
    /// let env = |n: &str| (n == "HYPERDJANGO_POOL_MAX_LIFETIME").then(|| "0".to_string());
    /// let config = hyperdjango_pool::PoolBuilder::new().env(env).config()?;
    /// assert_eq!(config.max_lifetime(), None);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }

    /// The per-connection statement cache capacity (`HYPERDJANGO_STATEMENT_CACHE_SIZE`);
    /// 0 disables the cache. Passed to the driver through [`connect`](Self::connect).
    ///
    /// ```
    /// let env = |n: &str| (n == "HYPERDJANGO_STATEMENT_CACHE_SIZE").then(|| "64".to_string());
    /// let config = hyperdjango_pool::PoolBuilder::new().env(env).config()?;
    /// assert_eq!(config.statement_cache_size(), 64);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn statement_cache_size(&self) -> usize {
        self.statement_cache_size
    }

    /// Whether to use prepared statements (`HYPERDJANGO_PREPARED_STATEMENTS`); `false` suits
    /// transaction-pooling PgBouncer. Passed to the driver through [`connect`](Self::connect).
    ///
    /// ```
    /// let env = |n: &str| (n == "HYPERDJANGO_PREPARED_STATEMENTS").then(|| "off".to_string());
    /// let config = hyperdjango_pool::PoolBuilder::new().env(env).config()?;
    /// assert!(!config.prepared_statements());
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn prepared_statements(&self) -> bool {
        self.prepared_statements
    }

    /// The limit on opening one connection, `after_connect` hook included
    /// (`HYPERDJANGO_CONNECT_TIMEOUT`); `None` when unlimited. It also bounds a health
    /// check's ping.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert_eq!(config.connect_timeout(), Some(Duration::from_secs(10)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// How long a query may take before it is cancelled on the server
    /// (`HYPERDJANGO_QUERY_TIMEOUT`); `None` when unlimited. Passed to the driver through
    /// [`connect`](Self::connect), which enforces it on every command of every connection
    /// (and sets it as the session's `statement_timeout`).
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert_eq!(config.query_timeout(), None);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }

    /// How long `acquire` waits for a free connection (`HYPERDJANGO_POOL_ACQUIRE_TIMEOUT`);
    /// `None` when it waits for ever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert_eq!(config.acquire_timeout(), Some(Duration::from_secs(30)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn acquire_timeout(&self) -> Option<Duration> {
        self.acquire_timeout
    }

    /// Idle connections kept open (`HYPERDJANGO_POOL_MIN_IDLE`).
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).min_idle(2).config()?;
    /// assert_eq!(config.min_idle(), 2);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn min_idle(&self) -> usize {
        self.min_idle
    }

    /// How long a connection may sit idle (above the minimum) before it is closed
    /// (`HYPERDJANGO_POOL_IDLE_TIMEOUT`); `None` for never.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert_eq!(config.idle_timeout(), Some(Duration::from_secs(600)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// A connection idle at least this long is pinged (one round trip) before it is handed
    /// out (`HYPERDJANGO_POOL_HEALTH_CHECK_AFTER`); `None` for never. Every checkout also
    /// makes a check that costs no round trip (has the server closed the connection?).
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert_eq!(config.health_check_after(), Some(Duration::from_secs(30)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn health_check_after(&self) -> Option<Duration> {
        self.health_check_after
    }

    /// Whether session state is reset when a connection is returned (see
    /// [`PoolBuilder::reset_session`](crate::PoolBuilder::reset_session)).
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert!(!config.reset_session());
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn reset_session(&self) -> bool {
        self.reset_session
    }

    /// How long the background clean-up of a returned connection (drain, rollback, reset,
    /// `after_checkout` hook) may take before the connection is discarded instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert_eq!(config.release_timeout(), Duration::from_secs(10));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn release_timeout(&self) -> Duration {
        self.release_timeout
    }

    /// How often the background task looks at idle connections (lifetime, idle timeout,
    /// minimum idle, dead connections).
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new().env(|_| None).config()?;
    /// assert_eq!(config.maintenance_interval(), Duration::from_secs(1));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn maintenance_interval(&self) -> Duration {
        self.maintenance_interval
    }
}
