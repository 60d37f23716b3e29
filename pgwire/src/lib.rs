//! A zero-copy, binary-protocol PostgreSQL client on tokio, with a sans-I/O protocol layer.
//!
#![doc = include_str!("../GUIDE.md")]

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
