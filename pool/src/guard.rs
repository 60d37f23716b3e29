//! [`PooledConnection`]: a checked-out connection, and what happens when it is given back.
//!
//! # Release never waits
//!
//! Dropping the guard decides synchronously:
//! - a broken connection (closed, or a query that could not be cancelled) is discarded;
//! - one that reached its query count or lifetime is rotated: closed, with its successor
//!   opened in the background;
//! - a clean one (idle, nothing unread, no reset or hook configured) goes straight to the
//!   first waiter or the idle stack;
//! - anything else (inside a transaction, replies of an abandoned query still unread,
//!   session reset, `after_checkout` hook) is finished by a background task: drain,
//!   `ROLLBACK`, reset, hook, within the release timeout, then returned or discarded.
//!
//! # The query timeout
//!
//! The pool hands `HYPERDJANGO_QUERY_TIMEOUT` to the driver (and so to every connection):
//! a command that runs too long is cancelled on the server with a CancelRequest and the
//! connection stays usable; if the server does not answer even the cancellation, the driver
//! closes the connection and the pool discards it. The guard's query methods (which take
//! precedence over the [`Connection`] methods that the guard also derefs to) report that as
//! [`Error::QueryTimeout`] and count queries for rotation. Each mutable use of the
//! [`Connection`] itself, through `Deref`, counts as one query.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use hyperdjango_pgwire::{
    Connection, Params, Row, SimpleQueryMessage, Statement, ToStatement, TransactionStatus, Type,
};

use crate::error::{Error, Result};
use crate::live::Live;
use crate::metrics::bump;
use crate::pool::Shared;

/// What happens to a connection when its guard is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Clean it if needed and give it back.
    Keep,
    /// Discard it: it is broken.
    Broken,
    /// Discard it and open a successor: it is due for rotation.
    Rotate,
}

/// Session reset that keeps prepared statements (so a statement cache stays valid):
/// `DISCARD ALL` without `DEALLOCATE ALL` (and without `DISCARD PLANS`, which would only
/// make the cached statements plan again).
const RESET_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
     UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// Runs a `Connection` method for the guard: counts it for rotation and turns the driver's
/// query timeout into [`Error::QueryTimeout`].
macro_rules! run {
    ($guard:expr, $method:ident($($arg:expr),*)) => {{
        let guard: &mut PooledConnection = $guard;
        match guard.begin_command() {
            Err(e) => Err(e),
            Ok(live) => {
                let result = live.conn.$method($($arg),*).await;
                guard.settle(result)
            }
        }
    }};
}

/// A connection checked out of the [`Pool`](crate::Pool). Dropping it gives the connection
/// back without waiting.
///
/// Its query methods shadow the [`Connection`]'s of the same names and add the pool's
/// query timeout; everything else of the [`Connection`] is reachable through `Deref`.
///
/// ```no_run
/// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
/// let mut conn = pool.acquire().await?;
/// let rows = conn.query("SELECT id FROM users WHERE name = $1", &[&"ann"]).await?;
/// println!("backend {} found {} rows", conn.process_id(), rows.len());
/// # Ok(()) }
/// ```
pub struct PooledConnection {
    live: Option<Live>,
    pub(crate) shared: Arc<Shared>,
    fate: Fate,
    /// The connection was opened for this checkout (see [`PooledConnection::mark_handed_out`]).
    fresh: bool,
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledConnection")
            .field("connection", &self.live.as_ref().map(|l| &l.conn))
            .field("fate", &self.fate)
            .finish()
    }
}

impl PooledConnection {
    pub(crate) fn new(live: Live, shared: Arc<Shared>) -> PooledConnection {
        PooledConnection {
            live: Some(live),
            shared,
            fate: Fate::Keep,
            fresh: false,
        }
    }

    /// Records the hand-out: whether the connection had never been handed out before (it
    /// was opened for this checkout, or by `min_idle` just before).
    pub(crate) fn mark_handed_out(&mut self) {
        if let Some(live) = &mut self.live {
            self.fresh = std::mem::replace(&mut live.fresh, false);
        }
    }

    /// Whether this checkout got a connection that had never been handed out before: one
    /// opened for it (or opened ahead of time for `min_idle`).
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let first = pool.acquire().await?;
    /// assert!(first.is_new_connection()); // an empty pool opened it
    /// drop(first);
    /// assert!(!pool.acquire().await?.is_new_connection()); // the same one, reused
    /// # Ok(()) }
    /// ```
    pub fn is_new_connection(&self) -> bool {
        self.fresh
    }

    pub(crate) fn live_mut(&mut self) -> Option<&mut Live> {
        self.live.as_mut()
    }

    /// Takes the connection out without giving it back (the caller takes over).
    pub(crate) fn take_live(&mut self) -> Option<Live> {
        self.live.take()
    }

    pub(crate) fn set_fate(&mut self, fate: Fate) {
        self.fate = fate;
    }

    pub(crate) fn gone() -> Error {
        Error::Driver(hyperdjango_pgwire::Error::Closed(
            "the pooled connection was already given back".into(),
        ))
    }

    /// Before a command: refuses on a discarded connection and counts the query.
    pub(crate) fn begin_command(&mut self) -> Result<&mut Live> {
        if self.fate == Fate::Broken {
            return Err(Error::Driver(hyperdjango_pgwire::Error::Closed(
                "the connection was discarded by the pool".into(),
            )));
        }
        match self.live.as_mut() {
            Some(live) => {
                live.queries += 1;
                Ok(live)
            }
            None => Err(Self::gone()),
        }
    }

    /// Before a batch of `n` commands: like [`PooledConnection::begin_command`], counting
    /// `n` queries for rotation.
    pub(crate) fn begin_commands(&mut self, n: usize) -> Result<&mut Live> {
        let live = self.begin_command()?;
        live.queries += n.saturating_sub(1) as u64;
        Ok(live)
    }

    /// Whether the connection reached its query count or lifetime (it is rotated when
    /// given back).
    pub(crate) fn rotation_due(&self) -> bool {
        self.live
            .as_ref()
            .is_some_and(|l| l.expired(&self.shared.config, std::time::Instant::now()))
    }

    /// Turns a command's result into the caller's: the driver's query timeout becomes
    /// [`Error::QueryTimeout`], saying whether the connection survived it.
    pub(crate) fn settle<T>(&mut self, result: hyperdjango_pgwire::Result<T>) -> Result<T> {
        match result {
            Ok(v) => Ok(v),
            Err(hyperdjango_pgwire::Error::Timeout(message)) => {
                let Some(limit) = self.shared.config.query_timeout else {
                    return Err(Error::Driver(hyperdjango_pgwire::Error::Timeout(message)));
                };
                bump(&self.shared.counters.query_timeouts);
                let discarded = self.live.as_ref().is_none_or(|l| l.conn.is_closed());
                Err(Error::QueryTimeout { limit, discarded })
            }
            Err(e) => Err(Error::Driver(e)),
        }
    }

    /// The connection.
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let conn = pool.acquire().await?;
    /// println!("{:?}", conn.connection().parameter("server_version"));
    /// # Ok(()) }
    /// ```
    pub fn connection(&self) -> &Connection {
        self
    }

    /// The connection, for what the guard does not wrap. Commands run this way are not
    /// under the query timeout; each call counts as one query for rotation.
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let mut conn = pool.acquire().await?;
    /// conn.connection_mut().set_notice_handler(|_| {});
    /// # Ok(()) }
    /// ```
    pub fn connection_mut(&mut self) -> &mut Connection {
        self
    }

    /// Closes this connection instead of giving it back (for a connection whose session
    /// state you changed in a way the pool can't undo).
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let mut conn = pool.acquire().await?;
    /// conn.batch_execute("SET ROLE reporting").await?;
    /// conn.discard();
    /// # Ok(()) }
    /// ```
    pub fn discard(mut self) {
        if let Some(live) = self.live.take() {
            drop(live);
            self.shared.forget(false);
        }
    }

    /// [`Connection::query`], counted for rotation.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let rows = conn.query("SELECT n FROM generate_series(1, $1) n", &[&3i32]).await?;
    /// assert_eq!(rows.len(), 3);
    /// # Ok(()) }
    /// ```
    pub async fn query<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Vec<Row>>
    where
        S: ToStatement + ?Sized,
    {
        run!(self, query(statement, params))
    }

    /// [`Connection::query_one`], counted for rotation.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let n: i64 = conn.query_one("SELECT count(*) FROM pg_class", &[]).await?.get(0)?;
    /// # Ok(()) }
    /// ```
    pub async fn query_one<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Row>
    where
        S: ToStatement + ?Sized,
    {
        run!(self, query_one(statement, params))
    }

    /// [`Connection::query_opt`], counted for rotation.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let row = conn.query_opt("SELECT 1 WHERE false", &[]).await?;
    /// assert!(row.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn query_opt<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Option<Row>>
    where
        S: ToStatement + ?Sized,
    {
        run!(self, query_opt(statement, params))
    }

    /// [`Connection::execute`], counted for rotation.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let n = conn.execute("DELETE FROM sessions WHERE expires < now()", &[]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn execute<S>(&mut self, statement: &S, params: Params<'_>) -> Result<u64>
    where
        S: ToStatement + ?Sized,
    {
        run!(self, execute(statement, params))
    }

    /// [`Connection::prepare`], counted for rotation.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let stmt = conn.prepare("SELECT $1::int8 + 1").await?;
    /// let row = conn.query_one(&stmt, &[&41i64]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement> {
        run!(self, prepare(sql))
    }

    /// [`Connection::prepare_typed`], counted for rotation.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// use hyperdjango_pgwire::Type;
    /// let stmt = conn.prepare_typed("SELECT $1", &[Type::INT8]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn prepare_typed(&mut self, sql: &str, types: &[Type]) -> Result<Statement> {
        run!(self, prepare_typed(sql, types))
    }

    /// [`Connection::simple_query`], counted for rotation.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let messages = conn.simple_query("SELECT 1; SELECT 2").await?;
    /// # Ok(()) }
    /// ```
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>> {
        run!(self, simple_query(sql))
    }

    /// [`Connection::wait_idle`]: finishes what abandoned commands (or a dropped
    /// transaction's queued `ROLLBACK`) left, and returns the true transaction status.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// use hyperdjango_pgwire::TransactionStatus;
    /// assert_eq!(conn.wait_idle().await?, TransactionStatus::Idle);
    /// # Ok(()) }
    /// ```
    pub async fn wait_idle(&mut self) -> Result<TransactionStatus> {
        if !self.is_busy() {
            return Ok(self.transaction_status());
        }
        run!(self, wait_idle())
    }

    /// [`Connection::batch_execute`], counted for rotation.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// conn.batch_execute("CREATE TEMP TABLE t (id int); INSERT INTO t VALUES (1)").await?;
    /// # Ok(()) }
    /// ```
    pub async fn batch_execute(&mut self, sql: &str) -> Result<()> {
        run!(self, batch_execute(sql))
    }
}

/// The connection's own methods (`process_id`, `transaction_status`, `parameter`, ...).
///
/// ```no_run
/// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
/// let conn = pool.acquire().await?;
/// let pid = conn.process_id();
/// # Ok(()) }
/// ```
impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match &self.live {
            Some(live) => &live.conn,
            // `live` is only taken by `Drop`, `discard` (both consume the guard) and a
            // failed hand-off (which never gives the guard to anyone).
            None => unreachable!("a PooledConnection is used after it was given back"),
        }
    }
}

/// Mutable access to the connection; each use counts as one query for rotation and is not
/// under the query timeout.
///
/// ```no_run
/// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
/// let mut conn = pool.acquire().await?;
/// let notes = conn.take_notifications();
/// # Ok(()) }
/// ```
impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        match &mut self.live {
            Some(live) => {
                live.queries += 1;
                &mut live.conn
            }
            None => unreachable!("a PooledConnection is used after it was given back"),
        }
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            release(&self.shared, live, self.fate);
        }
    }
}

/// Gives a connection back without waiting (see the module docs).
fn release(shared: &Arc<Shared>, live: Live, fate: Fate) {
    match fate {
        Fate::Broken => return shared.discard_broken(live),
        Fate::Rotate => return shared.rotate(live),
        Fate::Keep => {}
    }
    if live.conn.is_closed() {
        return shared.discard_broken(live);
    }
    if live.expired(&shared.config, std::time::Instant::now()) {
        return shared.rotate(live);
    }
    let needs_cleanup = live.conn.is_busy()
        || live.conn.transaction_status() != TransactionStatus::Idle
        || shared.config.reset_session
        || shared.hooks.after_checkout.is_some();
    if !needs_cleanup {
        return shared.put_back(live);
    }
    let lease = Lease {
        live: Some(live),
        shared: shared.clone(),
    };
    shared.runtime.spawn(lease.clean());
}

/// A connection being cleaned in the background. If the task is dropped before it
/// finishes (runtime shutdown), the connection is discarded and its slot freed.
struct Lease {
    live: Option<Live>,
    shared: Arc<Shared>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            self.shared.discard_broken(live);
        }
    }
}

impl Lease {
    async fn clean(mut self) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        let limit = self.shared.config.release_timeout;
        let cleaned = tokio::time::timeout(limit, cleanup(&self.shared, &mut live.conn)).await;
        if let (Ok(Ok(())), Some(live)) = (cleaned, self.live.take()) {
            self.shared.put_back(live);
        }
        // Otherwise `Drop` discards it.
    }
}

/// Brings a returned connection back to idle: finish unread replies, roll back, reset,
/// run the hook, and check the result.
async fn cleanup(shared: &Shared, conn: &mut Connection) -> hyperdjango_pgwire::Result<()> {
    if conn.wait_idle().await? != TransactionStatus::Idle {
        conn.batch_execute("ROLLBACK").await?;
    }
    if shared.config.reset_session {
        conn.batch_execute(RESET_SESSION).await?;
        if let Some(hook) = &shared.hooks.after_connect {
            hook(conn).await?;
        }
    }
    if let Some(hook) = &shared.hooks.after_checkout {
        hook(conn).await?;
    }
    if conn.transaction_status() != TransactionStatus::Idle || conn.is_busy() {
        return Err(hyperdjango_pgwire::Error::Usage(
            "the after_checkout hook left the connection inside a transaction".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    fn assert_send<T: Send>(_: &T) {}

    /// The guard's futures must be `Send`, to run on a multi-threaded runtime.
    #[allow(dead_code)]
    fn futures_are_send(conn: &mut super::PooledConnection) {
        assert_send(&conn.query("SELECT 1", &[&1i32]));
        assert_send(&conn.batch_execute(""));
        assert_send(&conn.prepare(""));
    }
}
