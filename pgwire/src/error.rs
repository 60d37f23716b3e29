//! The driver's error type.
//!
//! Every failure names the thing that is wrong: the column and both types for a decode error,
//! the parameter for an encode error, the SQLSTATE for a server error, the address for a
//! connection error. Nothing here ever contains a password.

use std::fmt;
use std::io;

use crate::config::ConfigError;
use crate::db_error::DbError;
use crate::proto::ProtocolError;
use crate::proto::auth::AuthError;
use crate::proto::frontend::EncodeError;
use crate::sqlstate::SqlState;

/// A convenient alias for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any error of the driver.
///
/// ```
/// use hyperdjango_pgwire::{Error, SqlState};
///
/// fn is_duplicate(e: &Error) -> bool {
///     e.code() == Some(&SqlState::UNIQUE_VIOLATION)
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server reported an error (ErrorResponse).
    Db(Box<DbError>),
    /// A socket error, with what the driver was doing.
    Io {
        /// What was being done, e.g. "connecting to 127.0.0.1:5432".
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The server sent bytes that are not valid protocol; the connection is closed.
    Protocol(ProtocolError),
    /// A message could not be encoded (a NUL byte in a query, too many parameters, ...).
    Encode(EncodeError),
    /// A parameter value could not be sent as the type the statement expects.
    Param {
        /// The 1-based parameter number ($1, $2, ...).
        index: usize,
        /// What went wrong.
        message: String,
    },
    /// A column value could not be read as the requested Rust type.
    Decode {
        /// The column's name.
        column: String,
        /// The column's 0-based index.
        index: usize,
        /// What went wrong, naming the PostgreSQL type and the Rust type.
        message: String,
    },
    /// A column was asked for by a name or index the row does not have.
    ColumnNotFound(String),
    /// The statement takes a different number of parameters than were given.
    ParamCount {
        /// What the statement takes.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// `query_one` got no row or more than one; `query_opt` got more than one.
    RowCount {
        /// What was expected, e.g. "exactly one row".
        expected: &'static str,
        /// How many rows came back (a lower bound when more than one).
        got: usize,
    },
    /// The configuration is invalid.
    Config(ConfigError),
    /// Authentication failed on the client side (bad SCRAM exchange, unsupported method, ...).
    Auth(AuthError),
    /// The connection is closed or unusable, with the reason.
    Closed(String),
    /// TLS could not be set up or was refused: a certificate that does not verify, a server
    /// without TLS when `sslmode` requires it, bytes injected before the handshake, an
    /// unreadable certificate or key file, ...
    Tls(String),
    /// An operation did not finish in time.
    Timeout(String),
    /// One parameter set of `execute_many` failed: the server skipped the rest and nothing
    /// of the batch was committed.
    InBatch {
        /// The 0-based position of the failing parameter set.
        index: usize,
        /// Its error.
        source: Box<Error>,
    },
    /// A pipeline command was not run because an earlier one of its atomic batch failed.
    Skipped(String),
    /// The API was used in a way that cannot work (a statement run on a connection other
    /// than the one that prepared it, ...). The connection is still usable.
    Usage(String),
    /// The server asked for something this client does not do (an authentication method, a
    /// COPY outside the COPY API, ...).
    Unsupported(String),
}

impl Error {
    /// The server's SQLSTATE, if the server reported this error.
    pub fn code(&self) -> Option<&SqlState> {
        self.as_db_error().map(DbError::code)
    }

    /// The server's error, if the server reported this error.
    pub fn as_db_error(&self) -> Option<&DbError> {
        match self {
            Error::Db(e) => Some(e),
            Error::InBatch { source, .. } => source.as_db_error(),
            _ => None,
        }
    }

    /// Whether the connection that returned this error can no longer be used.
    pub fn is_closed(&self) -> bool {
        match self {
            Error::Closed(_) | Error::Io { .. } | Error::Protocol(_) | Error::Tls(_) => true,
            Error::InBatch { source, .. } => source.is_closed(),
            // FATAL and PANIC end the session: the server closes the connection after them.
            Error::Db(e) => matches!(
                e.parsed_severity(),
                Some(crate::db_error::Severity::Fatal | crate::db_error::Severity::Panic)
            ),
            _ => false,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn decode(column: &str, index: usize, message: impl Into<String>) -> Error {
        Error::Decode {
            column: column.to_owned(),
            index,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Db(e) => fmt::Display::fmt(e, f),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Encode(e) => write!(f, "cannot encode message: {e}"),
            Error::Param { index, message } => write!(f, "parameter ${index}: {message}"),
            Error::Decode {
                column,
                index,
                message,
            } => write!(f, "column {index} \"{column}\": {message}"),
            Error::ColumnNotFound(c) => write!(f, "no column {c} in the row"),
            Error::ParamCount { expected, got } => write!(
                f,
                "the statement takes {expected} parameter{} but {got} {} given",
                if *expected == 1 { "" } else { "s" },
                if *got == 1 { "was" } else { "were" }
            ),
            Error::RowCount { expected, got } => {
                write!(
                    f,
                    "query returned {got} row{} where {expected} was expected",
                    if *got == 1 { "" } else { "s" }
                )
            }
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::Auth(e) => write!(f, "authentication failed: {e}"),
            Error::Closed(why) => write!(f, "connection closed: {why}"),
            Error::Tls(why) => write!(f, "TLS: {why}"),
            Error::Timeout(what) => write!(f, "timed out: {what}"),
            Error::Unsupported(what) => write!(f, "not supported: {what}"),
            Error::Usage(what) => write!(f, "invalid use: {what}"),
            Error::InBatch { index, source } => {
                write!(f, "parameter set {index} of the batch: {source}")
            }
            Error::Skipped(why) => write!(f, "not run: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Db(e) => Some(&**e),
            Error::Io { source, .. } => Some(source),
            Error::Protocol(e) => Some(e),
            Error::Encode(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Auth(e) => Some(e),
            Error::InBatch { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Auth(e)
    }
}

impl From<Box<DbError>> for Error {
    fn from(e: Box<DbError>) -> Self {
        Error::Db(e)
    }
}
