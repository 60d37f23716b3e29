//! hyperdjango: what Django's ORM gives Python services, for Rust, on a hand-written
//! PostgreSQL driver.
//!
#![doc = include_str!("../GUIDE.md")]

pub use hyperdjango_orm as orm;
pub use hyperdjango_pgwire as pgwire;
pub use hyperdjango_pool as pool;
pub use hyperdjango_pool::Pool;

pub use hyperdjango_pgwire::{
    CancelToken, Column, Config, Connection, DbError, Error, FromSql, Notification, Result, Row,
    SimpleQueryMessage, SqlState, Statement, ToSql, TransactionStatus, Type,
};

/// Guides that span the crates.
pub mod guide {
    #[doc = include_str!("../docs/coming-from-django.md")]
    pub mod coming_from_django {}
}
