//! A zero-copy, binary-protocol PostgreSQL client on tokio.
//!
//! - [`proto`]: the wire protocol with no I/O: encoders for every frontend message, decoders
//!   for every backend message, and the authentication exchanges (MD5, SCRAM-SHA-256).
//! - [`Connection`]: one backend connection, owned by one task, speaking the extended protocol
//!   with binary parameters and results.
//! - [`types`]: [`ToSql`] and [`FromSql`], the binary encoders and decoders.
//! - [`Config`]: libpq-style URLs, `key=value` strings, PG* environment defaults.
//! - `testing` (feature `testing`): a throwaway PostgreSQL server for tests and demos.
//!
//! # Tracing
//!
//! With the feature `tracing`, connecting opens an INFO span `hyperdjango.connect` (server,
//! port, database, user, TLS, authentication method, protocol version: never the password)
//! and every query a DEBUG span `hyperdjango.query` (`db.system = "postgresql"`,
//! `db.statement`, `db.response.rows`, `duration_ms`, `error.type`). Parameter values are
//! recorded only after [`Config::trace_parameters`]`(true)`, and then only numbers and
//! booleans (text and other values show as `<redacted TYPE>`). Without the feature no tracing
//! code is compiled in. The spans go to whatever `tracing` subscriber the application installs.
//!
//! ```no_run
//! use hyperdjango_pgwire::Connection;
//!
//! # async fn f() -> hyperdjango_pgwire::Result<()> {
//! let mut conn = Connection::connect_env().await?; // HYPER_DATABASE_URL, or PG* variables
//! conn.batch_execute("CREATE TEMP TABLE items (id int8 PRIMARY KEY, name text NOT NULL)").await?;
//! conn.execute("INSERT INTO items VALUES ($1, $2)", &[&1i64, &"widget"]).await?;
//! for row in conn.query("SELECT id, name FROM items", &[]).await? {
//!     let (id, name): (i64, &str) = (row.get("id")?, row.get("name")?);
//!     println!("{id}: {name}");
//! }
//! # Ok(()) }
//! ```

pub mod config;
mod conn;
mod db_error;
pub mod encoded;
mod error;
pub mod proto;
mod row;
mod sqlstate;
mod statement;
#[cfg(feature = "testing")]
pub mod testing;
#[doc(hidden)]
pub mod trace;
pub mod types;

pub use config::{
    AuthMethod, ChannelBindingMode, Config, ConfigError, Host, ProtocolVersion, RequireAuth,
    SslMode, SslNegotiation,
};
pub use conn::{
    BinaryCopyInWriter, BinaryCopyOutReader, CancelToken, Connection, CopyIn, CopyOut,
    NoticeHandler, Pipeline, QueryResult, RowStream, SyncMode, default_notice_handler,
    quote_identifier,
};
pub use db_error::{DbError, ErrorPosition, Severity};
pub use encoded::{EncodedParam, EncodedParams};
pub use error::{Error, Result};
pub use proto::backend::{Notification, TransactionStatus};
pub use row::{Column, Row, RowIndex, SimpleQueryMessage, SimpleQueryRow};
pub use sqlstate::SqlState;
pub use statement::{Statement, ToStatement};
pub use types::{FromSql, ToSql, Type};

/// The parameter list type of the query methods.
pub use conn::Params;

/// What the crate's macros refer to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use bytes::BytesMut;
    #[cfg(feature = "tracing")]
    pub use tracing;
}
