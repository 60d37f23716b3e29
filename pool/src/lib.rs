//! The hyperdjango connection pool.
//!
//! A [`Pool`] hands out [`hyperdjango_pgwire::Connection`]s wrapped in a
//! [`PooledConnection`] guard, and takes them back when the guard is dropped, without the
//! caller ever waiting for the clean-up. It is configured by a [`PoolBuilder`], whose every
//! setting overrides a `HYPERDJANGO_*` environment variable (see [`config`] for the
//! table).
//!
//! - **Pipelined one-shot queries.** [`Pool::query`], [`Pool::query_one`],
//!   [`Pool::query_opt`] and [`Pool::execute`] need no checkout: concurrent calls from many
//!   tasks are sent over a few connections as pipelines, a Sync per query, so each one still
//!   commits or fails alone (see [`Pool::query`]).
//! - **Fair acquire.** Waiters are served in FIFO order, with a timeout that says
//!   `pool exhausted after N ms (size S, in use S)`.
//! - **Clean returns.** A connection comes back idle: inside a transaction it is rolled
//!   back, unread replies are drained, a broken one is discarded. Optionally session state
//!   is reset, keeping prepared statements.
//! - **Rotation** after `max_queries` queries or `max_lifetime` (with jitter), the successor
//!   opened in the background.
//! - **Health**: every checkout checks, without a round trip, that the server has not
//!   closed the connection; one idle for long is pinged first.
//! - **Query timeout** (`HYPERDJANGO_QUERY_TIMEOUT`), handed to the driver, which cancels a
//!   query that runs too long on the server; the connection stays usable.
//! - **Transactions** with savepoints, isolation levels, rollback on drop and `on_commit`
//!   callbacks ([`Transaction`]).
//! - **LISTEN/NOTIFY** through a [`Listener`] that reconnects and reports gaps.
//! - **Metrics**: sizes, counters and acquire-wait percentiles ([`Pool::metrics`]).
//! - **Replicas**: a [`ReplicaSet`] probes streaming replicas and keeps the ones that are up,
//!   still standbys and within a replay-lag bound in the read set.
//! - **Tracing** (feature `tracing`): each [`Pool::acquire`] is a DEBUG span
//!   `hyperdjango.pool.acquire` with `pool.max_size`, `pool.size`, `pool.in_use` and
//!   `pool.waiters` when it started, `pool.new_connection` (the connection was opened for
//!   it), `duration_ms` (the wait) and `error.type`; the driver's connect and query spans come
//!   with it. [`PoolBuilder::trace_parameters`] opts in to (some) parameter values. Without
//!   the feature no tracing code is compiled in.
//!
//! Deployment behind PgBouncer, with replicas and with failover is described in
//! `pool/DEPLOYMENT.md`.
//!
//! ```no_run
//! use std::time::Duration;
//! use hyperdjango_pool::Pool;
//!
//! # async fn f() -> hyperdjango_pool::Result<()> {
//! let pool = Pool::builder()
//!     .max_size(8)
//!     .acquire_timeout(Duration::from_secs(2))
//!     .build()?; // HYPER_DATABASE_URL and the other HYPERDJANGO_* variables fill the rest
//!
//! let mut conn = pool.acquire().await?;
//! let mut tx = conn.transaction().await?;
//! tx.execute("INSERT INTO events (kind) VALUES ($1)", &[&"signup"]).await?;
//! tx.on_commit(|| println!("committed"));
//! tx.commit().await?;
//! # Ok(()) }
//! ```

mod builder;
pub mod config;
mod env;
mod error;
pub(crate) mod guard;
mod hooks;
mod listener;
mod live;
mod metrics;
mod pipelined;
mod pool;
pub mod replicas;
mod transaction;

pub use builder::PoolBuilder;
pub use config::{ConfigError, PoolConfig};
pub use error::{Error, Result};
pub use guard::PooledConnection;
pub use hooks::{Hook, HookFuture};
pub use listener::{Listener, ListenerEvent};
pub use metrics::{Metrics, Status, WaitPercentiles};
pub use pool::Pool;
pub use replicas::{ReplicaHealth, ReplicaSet, ReplicaStatus};
pub use transaction::{IsolationLevel, Transaction, TransactionBuilder};
