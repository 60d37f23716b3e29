//! Transactions on a pooled connection: `BEGIN` with isolation level, read-only and
//! deferrable; nested savepoints; commit, rollback, and rollback on drop; `on_commit`
//! callbacks.
//!
//! A [`Transaction`] borrows the connection mutably, and a savepoint borrows its parent, so
//! the borrow checker enforces the nesting. Dropping one without `commit` rolls it back:
//! `Drop` can't wait, so it queues `ROLLBACK` (or `ROLLBACK TO SAVEPOINT` and `RELEASE`) on
//! the connection with [`Connection::defer_statement`](hyperdjango_pgwire::Connection::defer_statement),
//! and it goes out before the next command, or when the pool cleans the returned connection.

use hyperdjango_pgwire::{
    Params, Row, SimpleQueryMessage, Statement, ToStatement, TransactionStatus,
};

use crate::error::{Error, Result};
use crate::guard::PooledConnection;

/// A callback run after the outermost transaction commits.
type Callback = Box<dyn FnOnce() + Send>;

/// A transaction isolation level.
///
/// ```
/// use hyperdjango_pool::IsolationLevel;
/// assert_eq!(IsolationLevel::Serializable.as_sql(), "SERIALIZABLE");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// `READ UNCOMMITTED` (the same as `READ COMMITTED` in PostgreSQL).
    ReadUncommitted,
    /// `READ COMMITTED`, PostgreSQL's default.
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`.
    Serializable,
}

impl IsolationLevel {
    /// The SQL spelling.
    ///
    /// ```
    /// assert_eq!(hyperdjango_pool::IsolationLevel::RepeatableRead.as_sql(), "REPEATABLE READ");
    /// ```
    pub fn as_sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

/// Options for `BEGIN` ([`PooledConnection::build_transaction`]).
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
/// use hyperdjango_pool::IsolationLevel;
/// let tx = conn
///     .build_transaction()
///     .isolation_level(IsolationLevel::Serializable)
///     .read_only(true)
///     .deferrable(true)
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TransactionBuilder<'a> {
    conn: &'a mut PooledConnection,
    isolation: Option<IsolationLevel>,
    read_only: Option<bool>,
    deferrable: Option<bool>,
}

impl<'a> TransactionBuilder<'a> {
    /// Sets the isolation level.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let tx = conn.build_transaction()
    ///     .isolation_level(hyperdjango_pool::IsolationLevel::RepeatableRead)
    ///     .start().await?;
    /// # Ok(()) }
    /// ```
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// `READ ONLY` (true) or `READ WRITE` (false).
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let tx = conn.build_transaction().read_only(true).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = Some(on);
        self
    }

    /// `DEFERRABLE` (true) or `NOT DEFERRABLE` (false); it matters for serializable,
    /// read-only transactions.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let tx = conn.build_transaction().deferrable(true).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn deferrable(mut self, on: bool) -> Self {
        self.deferrable = Some(on);
        self
    }

    /// The `BEGIN` statement these options make.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) {
    /// let sql = conn.build_transaction().read_only(true).sql();
    /// assert_eq!(sql, "BEGIN READ ONLY");
    /// # }
    /// ```
    pub fn sql(&self) -> String {
        let mut modes: Vec<String> = Vec::new();
        if let Some(level) = self.isolation {
            modes.push(format!("ISOLATION LEVEL {}", level.as_sql()));
        }
        if let Some(ro) = self.read_only {
            modes.push(if ro { "READ ONLY" } else { "READ WRITE" }.into());
        }
        if let Some(d) = self.deferrable {
            modes.push(if d { "DEFERRABLE" } else { "NOT DEFERRABLE" }.into());
        }
        if modes.is_empty() {
            "BEGIN".into()
        } else {
            format!("BEGIN {}", modes.join(", "))
        }
    }

    /// Sends `BEGIN` and returns the transaction.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let tx = conn.build_transaction().start().await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start(self) -> Result<Transaction<'a>> {
        let sql = self.sql();
        // A transaction dropped earlier may have queued its ROLLBACK.
        self.conn.wait_idle().await?;
        if self.conn.transaction_status() != TransactionStatus::Idle {
            return Err(Error::Driver(hyperdjango_pgwire::Error::Usage(
                "a transaction is already open on this connection; use savepoint() to nest".into(),
            )));
        }
        let conn = self.conn;
        conn.batch_execute(&sql).await?;
        Ok(Transaction {
            conn,
            depth: 0,
            done: false,
            callbacks: Vec::new(),
            parent_callbacks: None,
        })
    }
}

/// A transaction, or a savepoint inside one. Dropped without [`commit`](Self::commit), it
/// rolls back.
///
/// ```no_run
/// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
/// let mut conn = pool.acquire().await?;
/// let mut tx = conn.transaction().await?;
/// tx.execute("UPDATE accounts SET balance = balance - $1 WHERE id = $2", &[&10i64, &1i64]).await?;
/// {
///     let mut sp = tx.savepoint().await?;
///     if sp.execute("UPDATE accounts SET balance = balance + $1 WHERE id = $2", &[&10i64, &2i64]).await.is_err() {
///         sp.rollback().await?; // only the savepoint's work is undone
///     } else {
///         sp.commit().await?;
///     }
/// }
/// tx.on_commit(|| println!("transfer committed"));
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct Transaction<'a> {
    conn: &'a mut PooledConnection,
    /// 0 for the transaction, n for the n-th nested savepoint.
    depth: usize,
    done: bool,
    callbacks: Vec<Callback>,
    /// Where a committed savepoint's callbacks go.
    parent_callbacks: Option<&'a mut Vec<Callback>>,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("depth", &self.depth)
            .field("callbacks", &self.callbacks.len())
            .finish_non_exhaustive()
    }
}

impl PooledConnection {
    /// Starts a transaction (`BEGIN`).
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let mut tx = conn.transaction().await?;
    /// tx.execute("INSERT INTO log (msg) VALUES ($1)", &[&"hello"]).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction(&mut self) -> Result<Transaction<'_>> {
        self.build_transaction().start().await
    }

    /// A transaction with options: isolation level, read-only, deferrable.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let tx = conn.build_transaction().read_only(true).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn build_transaction(&mut self) -> TransactionBuilder<'_> {
        TransactionBuilder {
            conn: self,
            isolation: None,
            read_only: None,
            deferrable: None,
        }
    }
}

impl Transaction<'_> {
    /// The savepoint's name (quoted), for depth > 0.
    fn savepoint_name(&self) -> String {
        format!("\"hd_savepoint_{}\"", self.depth)
    }

    /// How deeply nested this is: 0 for the transaction, 1 for its first savepoint, ...
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let mut tx = conn.transaction().await?;
    /// assert_eq!(tx.depth(), 0);
    /// assert_eq!(tx.savepoint().await?.depth(), 1);
    /// # Ok(()) }
    /// ```
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Starts a nested savepoint (`SAVEPOINT`). Its [`commit`](Self::commit) releases it;
    /// its rollback (or drop) undoes only its own work.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let mut tx = conn.transaction().await?;
    /// let sp = tx.savepoint().await?;
    /// sp.rollback().await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn savepoint(&mut self) -> Result<Transaction<'_>> {
        let depth = self.depth + 1;
        let sql = format!("SAVEPOINT \"hd_savepoint_{depth}\"");
        self.conn.batch_execute(&sql).await?;
        Ok(Transaction {
            conn: &mut *self.conn,
            depth,
            done: false,
            callbacks: Vec::new(),
            parent_callbacks: Some(&mut self.callbacks),
        })
    }

    /// Registers `f` to run after the outermost transaction commits. Dropped, not run, if
    /// this transaction or savepoint (or an enclosing one) rolls back.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let mut tx = conn.transaction().await?;
    /// tx.on_commit(|| println!("sending the confirmation e-mail"));
    /// tx.commit().await?; // prints now
    /// # Ok(()) }
    /// ```
    pub fn on_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.callbacks.push(Box::new(f));
    }

    /// Commits: `COMMIT`, then the `on_commit` callbacks in order; for a savepoint,
    /// `RELEASE SAVEPOINT`, its callbacks passing to the enclosing transaction. If an
    /// earlier error aborted the transaction, it is rolled back instead and this returns
    /// [`Error::TransactionAborted`].
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let tx = conn.transaction().await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn commit(mut self) -> Result<()> {
        // A savepoint dropped inside may have queued its ROLLBACK TO.
        self.conn.wait_idle().await?;
        if self.conn.transaction_status() == TransactionStatus::Failed {
            self.rollback_now().await?;
            return Err(Error::TransactionAborted);
        }
        if self.depth == 0 {
            let result = self.conn.batch_execute("COMMIT").await;
            if self.conn.transaction_status() == TransactionStatus::Idle {
                // Committed, or ended by the server (a failed COMMIT rolls back).
                self.done = true;
            }
            result?;
            for callback in std::mem::take(&mut self.callbacks) {
                callback();
            }
        } else {
            let sql = format!("RELEASE SAVEPOINT {}", self.savepoint_name());
            self.conn.batch_execute(&sql).await?;
            self.done = true;
            if let Some(parent) = self.parent_callbacks.take() {
                parent.append(&mut self.callbacks);
            }
        }
        Ok(())
    }

    /// Rolls back: `ROLLBACK`, or for a savepoint `ROLLBACK TO SAVEPOINT` and `RELEASE`.
    /// The `on_commit` callbacks registered here are dropped.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pool::PooledConnection) -> hyperdjango_pool::Result<()> {
    /// let tx = conn.transaction().await?;
    /// tx.rollback().await?;
    /// # Ok(()) }
    /// ```
    pub async fn rollback(mut self) -> Result<()> {
        self.rollback_now().await
    }

    async fn rollback_now(&mut self) -> Result<()> {
        self.callbacks.clear();
        let sql = if self.depth == 0 {
            "ROLLBACK".to_string()
        } else {
            let name = self.savepoint_name();
            format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
        };
        self.conn.batch_execute(&sql).await?;
        self.done = true;
        Ok(())
    }

    /// [`Connection::query`](hyperdjango_pgwire::Connection::query) in the transaction,
    /// under the query timeout.
    ///
    /// ```no_run
    /// # async fn f(tx: &mut hyperdjango_pool::Transaction<'_>) -> hyperdjango_pool::Result<()> {
    /// let rows = tx.query("SELECT id FROM t WHERE x = $1 FOR UPDATE", &[&1i32]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn query<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Vec<Row>>
    where
        S: ToStatement + ?Sized,
    {
        self.conn.query(statement, params).await
    }

    /// [`Connection::query_one`](hyperdjango_pgwire::Connection::query_one) in the
    /// transaction.
    ///
    /// ```no_run
    /// # async fn f(tx: &mut hyperdjango_pool::Transaction<'_>) -> hyperdjango_pool::Result<()> {
    /// let n: i64 = tx.query_one("SELECT count(*) FROM t", &[]).await?.get(0)?;
    /// # Ok(()) }
    /// ```
    pub async fn query_one<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Row>
    where
        S: ToStatement + ?Sized,
    {
        self.conn.query_one(statement, params).await
    }

    /// [`Connection::query_opt`](hyperdjango_pgwire::Connection::query_opt) in the
    /// transaction.
    ///
    /// ```no_run
    /// # async fn f(tx: &mut hyperdjango_pool::Transaction<'_>) -> hyperdjango_pool::Result<()> {
    /// let row = tx.query_opt("SELECT 1 FROM t WHERE id = $1", &[&5i32]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn query_opt<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Option<Row>>
    where
        S: ToStatement + ?Sized,
    {
        self.conn.query_opt(statement, params).await
    }

    /// [`Connection::execute`](hyperdjango_pgwire::Connection::execute) in the transaction.
    ///
    /// ```no_run
    /// # async fn f(tx: &mut hyperdjango_pool::Transaction<'_>) -> hyperdjango_pool::Result<()> {
    /// tx.execute("INSERT INTO t VALUES ($1)", &[&1i32]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn execute<S>(&mut self, statement: &S, params: Params<'_>) -> Result<u64>
    where
        S: ToStatement + ?Sized,
    {
        self.conn.execute(statement, params).await
    }

    /// [`Connection::prepare`](hyperdjango_pgwire::Connection::prepare) in the transaction.
    ///
    /// ```no_run
    /// # async fn f(tx: &mut hyperdjango_pool::Transaction<'_>) -> hyperdjango_pool::Result<()> {
    /// let stmt = tx.prepare("SELECT $1::int4").await?;
    /// # Ok(()) }
    /// ```
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.conn.prepare(sql).await
    }

    /// [`Connection::simple_query`](hyperdjango_pgwire::Connection::simple_query) in the
    /// transaction.
    ///
    /// ```no_run
    /// # async fn f(tx: &mut hyperdjango_pool::Transaction<'_>) -> hyperdjango_pool::Result<()> {
    /// tx.simple_query("SELECT 1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>> {
        self.conn.simple_query(sql).await
    }

    /// [`Connection::batch_execute`](hyperdjango_pgwire::Connection::batch_execute) in the
    /// transaction.
    ///
    /// ```no_run
    /// # async fn f(tx: &mut hyperdjango_pool::Transaction<'_>) -> hyperdjango_pool::Result<()> {
    /// tx.batch_execute("LOCK TABLE t IN SHARE MODE").await?;
    /// # Ok(()) }
    /// ```
    pub async fn batch_execute(&mut self, sql: &str) -> Result<()> {
        self.conn.batch_execute(sql).await
    }

    /// The pooled connection, for what the transaction does not wrap.
    ///
    /// ```no_run
    /// # async fn f(tx: &mut hyperdjango_pool::Transaction<'_>) {
    /// let pid = tx.connection().process_id();
    /// # }
    /// ```
    pub fn connection(&mut self) -> &mut PooledConnection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    /// Rolls back a transaction (or savepoint) that was neither committed nor rolled back:
    /// the statements are queued on the connection and go out before its next command.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(live) = self.conn.live_mut() else {
            return;
        };
        // A connection that can't take them is closed, and the pool discards it anyway.
        if self.depth == 0 {
            let _ = live.conn.defer_statement("ROLLBACK");
        } else {
            let name = format!("\"hd_savepoint_{}\"", self.depth);
            let _ = live
                .conn
                .defer_statement(&format!("ROLLBACK TO SAVEPOINT {name}"));
            let _ = live
                .conn
                .defer_statement(&format!("RELEASE SAVEPOINT {name}"));
        }
    }
}
