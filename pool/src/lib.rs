//! The hyperdjango connection pool: FIFO-fair checkout, pipelined one-shot queries, rotation,
//! health checks, transactions, LISTEN/NOTIFY, metrics and replica health.
//!
#![doc = include_str!("../GUIDE.md")]

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
