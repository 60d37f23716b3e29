//! The pool's error type.
//!
//! Errors from the driver pass through unchanged ([`Error::Driver`]); the pool adds its own
//! failures (an exhausted pool, a timed-out query or connect, a failing hook, a bad setting),
//! each with a message that says what happened and which setting is involved.

use std::fmt;
use std::time::Duration;

use hyperdjango_pgwire::SqlState;

use crate::config::ConfigError;

/// A convenient alias for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any error of the pool.
///
/// ```
/// use std::time::Duration;
/// use hyperdjango_pool::Error;
///
/// let e = Error::Exhausted { waited: Duration::from_millis(250), max_size: 4, in_use: 4, opening: 0 };
/// assert_eq!(e.to_string(), "pool exhausted after 250 ms (size 4, in use 4)");
/// // Connections still being opened (a slow server) are named:
/// let e = Error::Exhausted { waited: Duration::from_millis(250), max_size: 4, in_use: 1, opening: 3 };
/// assert_eq!(e.to_string(), "pool exhausted after 250 ms (size 4, in use 1, opening 3)");
/// assert!(e.is_timeout());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An error from the driver: the server's error, a lost connection, a decoding error, ...
    Driver(hyperdjango_pgwire::Error),
    /// Opening a new connection failed.
    Connect(hyperdjango_pgwire::Error),
    /// Opening a new connection (including the `after_connect` hook) took longer than the
    /// connect timeout (`HYPERDJANGO_CONNECT_TIMEOUT`).
    ConnectTimeout(Duration),
    /// No connection became free within the acquire timeout.
    Exhausted {
        /// How long the caller waited.
        waited: Duration,
        /// The pool's maximum size.
        max_size: usize,
        /// How many connections were in use (checked out, or being cleaned up) then.
        in_use: usize,
        /// How many connections were still being opened then (shown when not 0).
        opening: usize,
    },
    /// A query ran longer than the query timeout (`HYPERDJANGO_QUERY_TIMEOUT`); it was
    /// cancelled on the server.
    QueryTimeout {
        /// The timeout.
        limit: Duration,
        /// Whether the connection had to be discarded (the server did not confirm the
        /// cancellation in time). Otherwise it is still usable.
        discarded: bool,
    },
    /// A hook (`after_connect`, `before_checkout`, `after_checkout`) failed.
    Hook {
        /// Which hook.
        hook: &'static str,
        /// Its error.
        source: hyperdjango_pgwire::Error,
    },
    /// `commit` found the transaction already aborted by an earlier error; it was rolled
    /// back and no `on_commit` callback ran.
    TransactionAborted,
    /// A setting is invalid.
    Config(ConfigError),
    /// The pool was closed.
    Closed,
}

impl Error {
    /// The server's SQLSTATE, if the server reported this error.
    ///
    /// ```
    /// # fn f(e: hyperdjango_pool::Error) {
    /// use hyperdjango_pgwire::SqlState;
    /// if e.code() == Some(&SqlState::UNIQUE_VIOLATION) { /* a duplicate */ }
    /// # }
    /// ```
    pub fn code(&self) -> Option<&SqlState> {
        match self {
            Error::Driver(e) | Error::Connect(e) | Error::Hook { source: e, .. } => e.code(),
            _ => None,
        }
    }

    /// Whether this is a timeout: acquire, connect, or query.
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = hyperdjango_pool::Error::ConnectTimeout(Duration::from_secs(10));
    /// assert!(e.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Exhausted { .. } | Error::ConnectTimeout(_) | Error::QueryTimeout { .. } => true,
            Error::Driver(e) | Error::Connect(e) => {
                matches!(e, hyperdjango_pgwire::Error::Timeout(_))
            }
            _ => false,
        }
    }

    /// The driver's error, if this is one.
    ///
    /// ```
    /// # fn f(e: hyperdjango_pool::Error) {
    /// if let Some(driver) = e.as_driver() {
    ///     println!("connection closed: {}", driver.is_closed());
    /// }
    /// # }
    /// ```
    pub fn as_driver(&self) -> Option<&hyperdjango_pgwire::Error> {
        match self {
            Error::Driver(e) | Error::Connect(e) | Error::Hook { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Driver(e) => fmt::Display::fmt(e, f),
            Error::Connect(e) => write!(f, "could not open a pool connection: {e}"),
            Error::ConnectTimeout(limit) => write!(
                f,
                "could not open a pool connection: connecting took longer than the connect timeout ({} ms, HYPERDJANGO_CONNECT_TIMEOUT)",
                limit.as_millis()
            ),
            Error::Exhausted {
                waited,
                max_size,
                in_use,
                opening,
            } => {
                write!(
                    f,
                    "pool exhausted after {} ms (size {max_size}, in use {in_use}",
                    waited.as_millis()
                )?;
                if *opening > 0 {
                    write!(f, ", opening {opening}")?;
                }
                f.write_str(")")
            }
            Error::QueryTimeout { limit, discarded } => {
                write!(
                    f,
                    "query cancelled: it ran longer than the query timeout ({} ms, HYPERDJANGO_QUERY_TIMEOUT)",
                    limit.as_millis()
                )?;
                if *discarded {
                    f.write_str(
                        "; the server did not confirm the cancellation, so the connection was discarded",
                    )?;
                }
                Ok(())
            }
            Error::Hook { hook, source } => write!(f, "the {hook} hook failed: {source}"),
            Error::TransactionAborted => f.write_str(
                "cannot commit: the transaction was aborted by an earlier error and has been rolled back",
            ),
            Error::Config(e) => write!(f, "invalid pool configuration: {e}"),
            Error::Closed => f.write_str("the pool is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Driver(e) | Error::Connect(e) | Error::Hook { source: e, .. } => Some(e),
            Error::Config(e) => Some(e),
            _ => None,
        }
    }
}

/// Errors from the driver pass through as [`Error::Driver`].
///
/// ```
/// let e: hyperdjango_pool::Error = hyperdjango_pgwire::Error::Closed("gone".into()).into();
/// assert!(matches!(e, hyperdjango_pool::Error::Driver(_)));
/// ```
impl From<hyperdjango_pgwire::Error> for Error {
    fn from(e: hyperdjango_pgwire::Error) -> Self {
        Error::Driver(e)
    }
}

/// A bad setting is [`Error::Config`].
///
/// ```
/// use hyperdjango_pool::PoolBuilder;
/// let env = |name: &str| (name == "HYPERDJANGO_POOL_SIZE").then(|| "abc".to_string());
/// let e: hyperdjango_pool::Error = PoolBuilder::new().env(env).config().unwrap_err();
/// assert!(matches!(e, hyperdjango_pool::Error::Config(_)));
/// ```
impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// The kind of a pool error, for a span's `error.type`: the driver's kind (a SQLSTATE for a
/// server error) or the variant's name.
#[cfg(feature = "tracing")]
pub(crate) fn kind(e: &Error) -> &str {
    match e {
        Error::Driver(e) | Error::Connect(e) | Error::Hook { source: e, .. } => {
            hyperdjango_pgwire::trace::error_kind(e)
        }
        Error::ConnectTimeout(_) => "connect_timeout",
        Error::Exhausted { .. } => "exhausted",
        Error::QueryTimeout { .. } => "query_timeout",
        Error::TransactionAborted => "transaction_aborted",
        Error::Config(_) => "config",
        Error::Closed => "closed",
    }
}
