//! Transactions: [`atomic`], with savepoints when nested.
//!
//! `atomic(fut)` checks a connection out of the database's pool, sends `BEGIN`, and runs
//! `fut` with that connection as the one every ORM call for that database uses (a tokio
//! task-local, so calls in the same task reach it without passing it around: Django's
//! semantics). If `fut` returns `Ok`, it commits and then runs the `on_commit` callbacks;
//! on `Err` it rolls back. An `atomic` inside another, for the same database, is a
//! `SAVEPOINT`: released on `Ok`, rolled back to on `Err`, leaving the outer transaction
//! usable. A nested `atomic` whose future is dropped before its body finishes (a timeout,
//! a `select!`) is treated as failed: its savepoint is rolled back to and released before
//! the next statement on the transaction's connection.
//!
//! Why not the pool's `Transaction` type directly: it borrows the connection (`&mut`), and a
//! borrowed value cannot be shared with the calls inside `fut` through a task-local. The pool
//! still guarantees the safety net: a connection returned inside a transaction (a future
//! dropped half-way) is rolled back before anyone else gets it.
//!
//! Tasks spawned inside `atomic` do not inherit the transaction (like threads in Django).

use std::future::Future;
use std::sync::Arc;

use hyperdjango_pgwire::Connection;
use hyperdjango_pool::PooledConnection;
use tokio::sync::Mutex;

use crate::db;
use crate::error::{Error, Result};

/// The connection of an open transaction.
pub(crate) struct TxConn {
    pub(crate) conn: PooledConnection,
    savepoints: usize,
    depth: usize,
    on_commit: Vec<(usize, Box<dyn FnOnce() + Send>)>,
    /// Tables written in the transaction: the query cache drops their results again at
    /// COMMIT.
    pub(crate) written: Vec<String>,
}

type TxMap = Arc<Vec<(Arc<str>, Arc<Mutex<TxConn>>)>>;

tokio::task_local! {
    static TX: TxMap;
}

pub(crate) fn current_tx(alias: &Arc<str>) -> Option<Arc<Mutex<TxConn>>> {
    TX.try_with(|m| {
        m.iter()
            .rev()
            .find(|(a, _)| a == alias)
            .map(|(_, t)| t.clone())
    })
    .ok()
    .flatten()
}

/// Runs `fut` in a transaction on the default database (or the [`using_database`](crate::using_database)
/// scope's); nested, in a savepoint. Commits on `Ok`, rolls back on `Err`.
///
/// ```no_run
/// use hyperdjango_orm::{atomic, Error};
/// # async fn f() -> Result<(), Error> {
/// let n = atomic(async {
///     // ORM calls here share one connection and commit together
///     atomic(async { Ok::<_, Error>(()) }).await?; // a savepoint
///     Ok::<_, Error>(42)
/// })
/// .await?;
/// # let _ = n; Ok(()) }
/// ```
pub async fn atomic<F, T, E>(fut: F) -> std::result::Result<T, E>
where
    F: Future<Output = std::result::Result<T, E>>,
    E: From<Error>,
{
    atomic_using(None, fut).await
}

/// [`atomic`] on the database registered as `alias`.
///
/// ```no_run
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// hyperdjango_orm::atomic_using(Some("audit"), async { Ok::<_, hyperdjango_orm::Error>(()) }).await?;
/// # Ok(()) }
/// ```
pub async fn atomic_using<F, T, E>(alias: Option<&str>, fut: F) -> std::result::Result<T, E>
where
    F: Future<Output = std::result::Result<T, E>>,
    E: From<Error>,
{
    let alias = db::resolve(alias.map(Arc::from).as_ref());
    if let Some(tx) = current_tx(&alias) {
        let (name, depth) = {
            let mut g = tx.lock().await;
            g.savepoints += 1;
            g.depth += 1;
            let name = format!("hd_sp_{}", g.savepoints);
            let d = g.depth;
            exec(&mut g.conn, &format!("SAVEPOINT {name}")).await?;
            (name, d)
        };
        // The guard owns `fut`, so that if this future is dropped half-way, `fut` (and any
        // lock on the transaction it holds) is dropped first and the guard can then queue
        // the savepoint's rollback on the connection.
        let mut guard = SavepointGuard {
            fut: Some(Box::pin(fut)),
            tx: tx.clone(),
            name: name.clone(),
            depth,
        };
        let r = match guard.fut.as_mut() {
            Some(f) => f.await,
            None => unreachable!("the future is set until the guard is disarmed"),
        };
        guard.disarm();
        let mut g = tx.lock().await;
        g.depth = depth - 1;
        match &r {
            Ok(_) => {
                exec(&mut g.conn, &format!("RELEASE SAVEPOINT {name}")).await?;
                for cb in g.on_commit.iter_mut() {
                    if cb.0 >= depth {
                        cb.0 = depth - 1;
                    }
                }
            }
            Err(_) => {
                exec(&mut g.conn, &format!("ROLLBACK TO SAVEPOINT {name}")).await?;
                exec(&mut g.conn, &format!("RELEASE SAVEPOINT {name}")).await?;
                g.on_commit.retain(|cb| cb.0 < depth);
            }
        }
        return r;
    }
    let pool = db::database(&alias)?;
    let mut conn = pool.acquire().await.map_err(Error::from)?;
    exec(&mut conn, "BEGIN").await?;
    let tx = Arc::new(Mutex::new(TxConn {
        conn,
        savepoints: 0,
        depth: 0,
        on_commit: Vec::new(),
        written: Vec::new(),
    }));
    let mut map: Vec<(Arc<str>, Arc<Mutex<TxConn>>)> =
        TX.try_with(|m| m.to_vec()).unwrap_or_default();
    map.push((alias.clone(), tx.clone()));
    let r = TX.scope(Arc::new(map), fut).await;
    let mut g = tx.lock().await;
    match &r {
        Ok(_) => {
            let aborted =
                g.conn.transaction_status() == hyperdjango_pgwire::TransactionStatus::Failed;
            if aborted {
                exec(&mut g.conn, "ROLLBACK").await?;
                return Err(Error::Pool(hyperdjango_pool::Error::TransactionAborted).into());
            }
            exec(&mut g.conn, "COMMIT").await?;
            crate::cache::wrote(g.written.iter().map(String::as_str));
            for (_, cb) in std::mem::take(&mut g.on_commit) {
                cb();
            }
        }
        Err(_) => exec(&mut g.conn, "ROLLBACK").await?,
    }
    r
}

/// A nested [`atomic`]'s savepoint while its future runs. Dropped armed (the `atomic`
/// future was dropped before its body finished), it drops the body first, then queues
/// `ROLLBACK TO SAVEPOINT` and `RELEASE SAVEPOINT` on the transaction's connection with
/// [`Connection::defer_statement`] (they run before the next command on it), restores the
/// nesting depth and forgets the body's `on_commit` callbacks: as if the body had failed.
struct SavepointGuard<F> {
    fut: Option<std::pin::Pin<Box<F>>>,
    tx: Arc<Mutex<TxConn>>,
    name: String,
    depth: usize,
}

impl<F> SavepointGuard<F> {
    /// The body finished: nothing to clean up here.
    fn disarm(&mut self) {
        self.fut = None;
        self.depth = 0;
    }
}

impl<F> Drop for SavepointGuard<F> {
    fn drop(&mut self) {
        if self.depth == 0 {
            return;
        }
        // The body (and any transaction lock it holds) goes first.
        drop(self.fut.take());
        // Only this task uses the transaction, and nothing of the body is left, so the lock
        // is free unless a sibling future of the same task (a join) holds it right now;
        // then the savepoint stays until the transaction ends, which rolls back or commits
        // it with everything else.
        let Ok(mut g) = self.tx.try_lock() else {
            return;
        };
        let name = &self.name;
        let queued = g
            .conn
            .defer_statement(&format!("ROLLBACK TO SAVEPOINT {name}"))
            .and_then(|()| g.conn.defer_statement(&format!("RELEASE SAVEPOINT {name}")));
        // A connection that cannot queue is broken: the pool discards it, and the
        // transaction fails at its next statement.
        let _ = queued;
        let depth = self.depth;
        g.depth = depth - 1;
        g.on_commit.retain(|cb| cb.0 < depth);
    }
}

async fn exec(conn: &mut Connection, sql: &str) -> Result<()> {
    conn.batch_execute(sql).await.map_err(Error::from)
}

/// Runs `f` after the current transaction on the default database commits (at once when
/// there is none). Dropped if the transaction, or the savepoint it was registered in, rolls
/// back.
///
/// ```no_run
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// hyperdjango_orm::atomic(async {
///     hyperdjango_orm::on_commit(|| println!("committed")).await;
///     Ok::<_, hyperdjango_orm::Error>(())
/// }).await?;
/// # Ok(()) }
/// ```
pub async fn on_commit(f: impl FnOnce() + Send + 'static) {
    let alias = db::resolve(None);
    match current_tx(&alias) {
        Some(tx) => {
            let mut g = tx.lock().await;
            let d = g.depth;
            g.on_commit.push((d, Box::new(f)));
        }
        None => f(),
    }
}

/// Whether the calls of this task for the default database are inside [`atomic`].
///
/// ```
/// assert!(!hyperdjango_orm::in_atomic_block());
/// ```
pub fn in_atomic_block() -> bool {
    current_tx(&db::resolve(None)).is_some()
}
