//! Databases: the registry of pools by alias, the default database, and how each ORM call
//! finds its connection.
//!
//! The `default` database is the pool registered as `"default"` with [`register_database`],
//! or else one built from the environment (`HYPER_DATABASE_URL` and the `HYPERDJANGO_*`
//! variables) on first use. `.using(alias)` on a QuerySet (or [`SaveOptions::using`](crate::SaveOptions::using)) picks
//! another; [`using_database`] makes an alias the default for everything a future does.
//!
//! Inside [`atomic`](crate::atomic), every call for that database runs on the
//! transaction's connection: nothing leaks to another connection.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use hyperdjango_pgwire::Connection;
use hyperdjango_pool::{Pool, PooledConnection};
use tokio::sync::OwnedMutexGuard;

use crate::error::{Error, Result};
use crate::transaction::{TxConn, current_tx};

/// The alias of the default database.
pub const DEFAULT_DB: &str = "default";

fn registry() -> &'static RwLock<HashMap<String, Pool>> {
    static R: OnceLock<RwLock<HashMap<String, Pool>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Registers (or replaces) the pool for `alias`.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = hyperdjango_pool::Pool::builder().url("postgres://app@db/app").build()?;
/// hyperdjango_orm::register_database("default", pool);
/// # Ok(()) }
/// ```
pub fn register_database(alias: &str, pool: Pool) {
    registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(alias.to_string(), pool);
}

/// Removes the pool registered for `alias` (and closes it), returning whether there was one.
///
/// ```
/// assert!(!hyperdjango_orm::unregister_database("nothing-here"));
/// ```
pub fn unregister_database(alias: &str) -> bool {
    let p = registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(alias);
    if let Some(p) = &p {
        p.close();
    }
    p.is_some()
}

/// The pool registered for `alias`; for `default` with none registered, one is built from
/// the environment (`HYPER_DATABASE_URL`, `HYPERDJANGO_*`) and registered.
///
/// ```
/// assert!(hyperdjango_orm::database("not-registered").is_err());
/// ```
pub fn database(alias: &str) -> Result<Pool> {
    if let Some(p) = registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(alias)
    {
        return Ok(p.clone());
    }
    if alias != DEFAULT_DB {
        return Err(Error::UnknownDatabase(alias.to_string()));
    }
    if std::env::var("HYPER_DATABASE_URL").map_or(true, |v| v.is_empty()) {
        return Err(Error::UnknownDatabase(format!(
            "{alias} (register one with register_database, or set HYPER_DATABASE_URL)"
        )));
    }
    let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = reg.get(alias) {
        return Ok(p.clone());
    }
    let pool = Pool::from_env()?;
    reg.insert(alias.to_string(), pool.clone());
    Ok(pool)
}

tokio::task_local! {
    static SCOPE_DB: Arc<str>;
}

/// Runs `fut` with `alias` as the default database of every ORM call in it (that names no
/// other). Useful in tests, where each test has its own database or pool.
///
/// ```no_run
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// hyperdjango_orm::using_database("replica", async {
///     // every query here runs on the "replica" pool
///     Ok::<_, hyperdjango_orm::Error>(())
/// }).await?;
/// # Ok(()) }
/// ```
pub async fn using_database<F: std::future::Future>(alias: &str, fut: F) -> F::Output {
    SCOPE_DB.scope(Arc::from(alias), fut).await
}

/// The alias a call uses: the one it names, else the scope's, else `default`.
pub(crate) fn resolve(alias: Option<&Arc<str>>) -> Arc<str> {
    match alias {
        Some(a) => a.clone(),
        None => SCOPE_DB
            .try_with(|a| a.clone())
            .unwrap_or_else(|_| Arc::from(DEFAULT_DB)),
    }
}

/// The alias calls of this task use when they name none (the [`using_database`] scope's, or
/// `default`).
///
/// ```
/// assert_eq!(&*hyperdjango_orm::db::resolve_current(), "default");
/// ```
pub fn resolve_current() -> String {
    resolve(None).to_string()
}

/// A connection for one ORM call: the transaction's, or one from the pool.
pub(crate) enum Conn {
    Pooled(Box<PooledConnection>),
    Tx(OwnedMutexGuard<TxConn>),
}

tokio::task_local! {
    static QUERY_COUNT: Arc<std::sync::atomic::AtomicUsize>;
}

/// Runs `fut` and counts the statements the ORM sends for it (in this task): a query-count
/// assertion helper, to prove that `select_related` (or anything else) costs the queries
/// it should. Transaction control (`BEGIN`, `SAVEPOINT`, `COMMIT`) is not counted.
///
/// ```no_run
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "t"] pub struct T { pub id: Auto<i64> = Field::new().primary_key() } }
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// let (rows, queries) = hyperdjango_orm::db::count_queries(T::objects().all()).await;
/// assert_eq!(queries, 1);
/// # let _ = rows?; Ok(()) }
/// ```
pub async fn count_queries<F: std::future::Future>(fut: F) -> (F::Output, usize) {
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let out = QUERY_COUNT.scope(counter.clone(), fut).await;
    (out, counter.load(std::sync::atomic::Ordering::Relaxed))
}

impl Conn {
    /// The connection, for one statement (counted by [`count_queries`]).
    pub(crate) fn get(&mut self) -> &mut Connection {
        let _ = QUERY_COUNT.try_with(|c| c.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        match self {
            Conn::Pooled(c) => c,
            Conn::Tx(t) => &mut t.conn,
        }
    }
}

/// The connection for a call on `alias` (resolved as [`resolve`] does).
pub(crate) async fn connection(alias: &Arc<str>) -> Result<Conn> {
    if let Some(tx) = current_tx(alias) {
        return Ok(Conn::Tx(tx.lock_owned().await));
    }
    let pool = database(alias)?;
    Ok(Conn::Pooled(Box::new(pool.acquire().await?)))
}
