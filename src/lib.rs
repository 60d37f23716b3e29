//! hyperdjango: what Django's ORM gives Python services, for Rust, on a hand-written
//! PostgreSQL driver.
//!
//! This facade re-exports the workspace's crates:
//!
//! - [`pgwire`]: the zero-copy, binary-protocol PostgreSQL driver;
//! - [`pool`]: the connection pool ([`Pool`]);
//! - [`orm`]: models and QuerySets declared with `macro_rules!`.
//!
//! The driver's main types are also re-exported at the top level.
//!
//! With the feature `tracing`, connects, queries, pool checkouts (and migrations) are
//! [`tracing`](https://docs.rs/tracing) spans named `hyperdjango.*`, with OpenTelemetry's
//! database fields (`db.system = "postgresql"`, `db.statement`, ...): see
//! [`pgwire`]'s crate documentation for the list. Passwords are never recorded, parameter
//! values only after [`Config::trace_parameters`]`(true)`.
//!
//! ```no_run
//! use hyperdjango::{Connection, SqlState};
//!
//! # async fn f() -> hyperdjango::Result<()> {
//! let mut conn = Connection::connect_env().await?; // HYPER_DATABASE_URL or PG* variables
//! match conn.execute("INSERT INTO users (email) VALUES ($1)", &[&"a@example.com"]).await {
//!     Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => println!("already registered"),
//!     other => { other?; }
//! }
//! # Ok(()) }
//! ```

pub use hyperdjango_orm as orm;
pub use hyperdjango_pgwire as pgwire;
pub use hyperdjango_pool as pool;
pub use hyperdjango_pool::Pool;

pub use hyperdjango_pgwire::{
    CancelToken, Column, Config, Connection, DbError, Error, FromSql, Notification, Result, Row,
    SimpleQueryMessage, SqlState, Statement, ToSql, TransactionStatus, Type,
};
