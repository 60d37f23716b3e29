//! One-shot queries through the pool, pipelined: [`Pool::query`], [`Pool::query_one`],
//! [`Pool::query_opt`] and [`Pool::execute`].
//!
//! # How it works
//!
//! A caller encodes its parameters at once ([`EncodedParams`]), queues the query and waits
//! for its reply. Up to `max_size` *runner* tasks, spawned on demand, each check out a
//! connection with [`Pool::acquire`] (so the health checks, hooks, rotation and fairness
//! of the pool apply), take every queued query (up to [`MAX_BATCH`]) and send them in
//! one write as a [`Pipeline`](hyperdjango_pgwire::Pipeline) with a Sync after each
//! query: each query succeeds or fails on its own, in its own implicit transaction, as if
//! it had run alone. While the server answers one batch, the next one queues up. With many
//! concurrent callers this replaces one round trip (and two context switches) per query
//! with one per batch.
//!
//! A runner gives its connection back when the queue is empty, when the connection is due
//! for rotation, when it broke, and after each batch when a caller of [`Pool::acquire`]
//! is waiting, so queries through these methods never starve checked-out users.
//!
//! # Cancellation
//!
//! The query runs on a runner task, not in the caller: dropping the caller's future
//! stops the wait, not the query. A query already written to the server runs to its end
//! (as with tokio-postgres's pipelined client). A runner cancelled by runtime shutdown
//! drops its queries, whose callers see an error saying so.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyperdjango_pgwire::{EncodedParams, Params, QueryResult, Row, SyncMode};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::guard::PooledConnection;
use crate::pool::Pool;

/// The most queries one pipelined batch takes from the queue.
pub const MAX_BATCH: usize = 256;

/// A queued query.
struct Request {
    sql: Box<str>,
    params: EncodedParams,
    reply: oneshot::Sender<Result<QueryResult>>,
}

/// The queue of one-shot queries and its runners (part of the pool's shared state).
#[derive(Default)]
pub(crate) struct Dispatch {
    queue: Mutex<VecDeque<Request>>,
    /// Runner tasks alive (at most the pool's `max_size`).
    runners: AtomicUsize,
}

impl Dispatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Request>> {
        // Nothing that can panic runs under this lock.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one more runner if fewer than `max` run.
    fn try_start_runner(&self, max: usize) -> bool {
        self.runners
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Takes up to [`MAX_BATCH`] queued queries.
    fn take_batch(&self) -> Vec<Request> {
        let mut queue = self.lock();
        let n = queue.len().min(MAX_BATCH);
        queue.drain(..n).collect()
    }

    /// Fails every queued query with `error` (a runner could not get a connection).
    fn fail_all(&self, error: &Error) {
        let queued: Vec<Request> = self.lock().drain(..).collect();
        for request in queued {
            let _ = request.reply.send(Err(copy_error(error)));
        }
    }
}

/// A second report of an error that several queries share: the same kind where it matters
/// to callers (exhausted pool, timeouts, closed pool), else the message as a driver error.
fn copy_error(error: &Error) -> Error {
    match error {
        Error::Exhausted {
            waited,
            max_size,
            in_use,
            opening,
        } => Error::Exhausted {
            waited: *waited,
            max_size: *max_size,
            in_use: *in_use,
            opening: *opening,
        },
        Error::ConnectTimeout(t) => Error::ConnectTimeout(*t),
        Error::QueryTimeout { limit, discarded } => Error::QueryTimeout {
            limit: *limit,
            discarded: *discarded,
        },
        Error::Closed => Error::Closed,
        Error::Connect(e) => Error::Connect(hyperdjango_pgwire::Error::Closed(e.to_string())),
        other => Error::Driver(hyperdjango_pgwire::Error::Closed(other.to_string())),
    }
}

impl Pool {
    /// Runs a query on a pooled connection and returns its rows, pipelined with the
    /// concurrent one-shot queries of other tasks.
    ///
    /// The parameters are encoded at once and the query is queued. Up to `max_size` runner
    /// tasks check out connections with [`Pool::acquire`] (so health checks, hooks,
    /// rotation and fairness apply) and send what is queued, up to 256 queries, in one
    /// write with a Sync after each query: each query commits or fails on its own, as if it
    /// ran alone, while many share one round trip. A runner gives its connection back when
    /// the queue is empty, when the connection is due for rotation, and after each batch when
    /// an `acquire` caller is waiting. Dropping the returned future stops the wait, not a
    /// query already sent (it runs to its end, as with tokio-postgres's pipelined client).
    ///
    /// Use [`Pool::acquire`] for anything that needs one connection across statements
    /// (transactions, session settings, prepared [`Statement`](hyperdjango_pgwire::Statement)s).
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let rows = pool.query("SELECT n FROM generate_series(1, $1) n", &[&3i32]).await?;
    /// assert_eq!(rows.len(), 3);
    /// # Ok(()) }
    /// ```
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        Ok(self.run_pipelined(sql, params).await?.into_rows())
    }

    /// Runs a query that returns exactly one row, pipelined like [`Pool::query`]. Zero
    /// or several rows are [`hyperdjango_pgwire::Error::RowCount`].
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let row = pool.query_one("SELECT $1::int8 * 2", &[&21i64]).await?;
    /// assert_eq!(row.get::<_, i64>(0)?, 42);
    /// # Ok(()) }
    /// ```
    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row> {
        let mut rows = self.query(sql, params).await?.into_iter();
        match (rows.next(), rows.len()) {
            (Some(row), 0) => Ok(row),
            (first, more) => Err(Error::Driver(hyperdjango_pgwire::Error::RowCount {
                expected: "exactly one row",
                got: usize::from(first.is_some()) + more,
            })),
        }
    }

    /// Runs a query that returns zero or one row, pipelined like [`Pool::query`].
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let row = pool.query_opt("SELECT 1 WHERE false", &[]).await?;
    /// assert!(row.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let mut rows = self.query(sql, params).await?.into_iter();
        match (rows.next(), rows.len()) {
            (row, 0) => Ok(row),
            (_, more) => Err(Error::Driver(hyperdjango_pgwire::Error::RowCount {
                expected: "at most one row",
                got: 1 + more,
            })),
        }
    }

    /// Runs a statement and returns the rows it affected (or returned), pipelined like
    /// [`Pool::query`]. Each statement commits on its own (autocommit).
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let n = pool.execute("DELETE FROM sessions WHERE expires < now()", &[]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        Ok(self.run_pipelined(sql, params).await?.rows_affected())
    }

    /// Queues a query, makes sure a runner will take it, and waits for its result.
    async fn run_pipelined(&self, sql: &str, params: Params<'_>) -> Result<QueryResult> {
        let params = EncodedParams::encode(params).map_err(Error::Driver)?;
        let (reply, answer) = oneshot::channel();
        let shared = &self.shared;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        shared.dispatch.lock().push_back(Request {
            sql: sql.into(),
            params,
            reply,
        });
        // Either a runner starts here, or every runner is alive and each looks at the queue
        // again after counting itself out (see `run`), so the query is never stranded.
        if shared
            .dispatch
            .try_start_runner(shared.config.max_size.max(1))
        {
            shared.runtime.spawn(run(self.clone()));
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(Error::Driver(hyperdjango_pgwire::Error::Closed(
                "the task running this pipelined query was stopped (runtime shutdown) before it answered"
                    .into(),
            ))),
        }
    }
}

/// A runner: serves the queue until it is empty, then ends.
async fn run(pool: Pool) {
    let dispatch = &pool.shared.dispatch;
    loop {
        serve(&pool).await;
        dispatch.runners.fetch_sub(1, Ordering::SeqCst);
        // A caller that found every runner alive may have queued after this runner's last
        // look: look again, and carry on if there is room.
        let queued = !dispatch.lock().is_empty();
        if !queued || !dispatch.try_start_runner(pool.shared.config.max_size.max(1)) {
            return;
        }
    }
}

/// Checks out a connection and runs batches on it while there is work and no reason to
/// give it back.
async fn serve(pool: &Pool) {
    let dispatch = &pool.shared.dispatch;
    if dispatch.lock().is_empty() {
        return;
    }
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => return dispatch.fail_all(&e),
    };
    loop {
        let batch = dispatch.take_batch();
        if batch.is_empty() {
            return;
        }
        run_batch(&mut conn, batch).await;
        if conn.is_closed() || conn.rotation_due() || pool.shared.has_waiters() {
            return;
        }
    }
}

/// Sends a batch as one pipeline (a Sync per query) and answers each query.
async fn run_batch(conn: &mut PooledConnection, batch: Vec<Request>) {
    let counters = &conn.shared.counters;
    counters
        .pipelined_queries
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    counters.pipelined_batches.fetch_add(1, Ordering::Relaxed);
    let live = match conn.begin_commands(batch.len()) {
        Ok(live) => live,
        Err(e) => {
            for request in batch {
                let _ = request.reply.send(Err(copy_error(&e)));
            }
            return;
        }
    };
    let mut pipeline = live.conn.pipeline(SyncMode::PerQuery);
    let mut sent = Vec::with_capacity(batch.len());
    for request in batch {
        let params = request.params.as_refs();
        match pipeline.query(&*request.sql, &params) {
            Ok(_) => sent.push(request.reply),
            // This query alone can't be sent (too many parameters, ...).
            Err(e) => drop(request.reply.send(Err(Error::Driver(e)))),
        }
    }
    match pipeline.run().await {
        Ok(results) => {
            for (reply, result) in sent.into_iter().zip(results) {
                let _ = reply.send(conn.settle(result));
            }
        }
        Err(e) => {
            let e = conn.settle::<()>(Err(e)).unwrap_err();
            for reply in sent {
                let _ = reply.send(Err(copy_error(&e)));
            }
        }
    }
}
