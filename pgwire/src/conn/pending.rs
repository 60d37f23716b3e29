//! Commands that are not finished yet: checking for them, finishing them, and queuing a
//! statement from code that cannot wait (a `Drop`).
//!
//! These exist for connection pools and transaction guards: a pool must know, without
//! waiting, whether a returned connection still has replies in flight, and a transaction
//! dropped without `commit` must be rolled back although `Drop` cannot `.await`.

use super::Connection;
use crate::error::{Error, Result};
use crate::proto::frontend::{self, Bind};

impl Connection {
    /// Whether an abandoned (dropped) or deferred command still has bytes to write or
    /// replies to read. The next command finishes it first; [`finish_pending`] does that
    /// on its own. This never does I/O.
    ///
    /// [`finish_pending`]: Connection::finish_pending
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// assert!(!conn.has_pending_replies());
    /// conn.defer_statement("ROLLBACK")?;
    /// assert!(conn.has_pending_replies());
    /// conn.finish_pending().await?;
    /// assert!(!conn.has_pending_replies());
    /// # Ok(()) }
    /// ```
    pub fn has_pending_replies(&self) -> bool {
        self.pending_syncs > 0 || !self.write_buf.is_empty()
    }

    /// Finishes what abandoned or deferred commands left: writes the rest of their messages
    /// and reads (and discards) their replies up to the last ReadyForQuery, so that
    /// [`transaction_status`](Connection::transaction_status) is current. Returns at once
    /// when nothing is pending. Cancel safe, like every query method.
    ///
    /// Errors only when the connection can no longer be used.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// use hyperdjango_pgwire::TransactionStatus;
    /// conn.finish_pending().await?;
    /// if conn.transaction_status() != TransactionStatus::Idle {
    ///     conn.batch_execute("ROLLBACK").await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn finish_pending(&mut self) -> Result<()> {
        if let Some(why) = &self.broken {
            return Err(Error::Closed(why.clone()));
        }
        if self.has_pending_replies() {
            self.drain().await?;
        }
        Ok(())
    }

    /// Queues one SQL statement (no parameters) to run before the next command, without
    /// waiting and without doing I/O: for cleanup from code that cannot `.await`, such as a
    /// transaction guard's `Drop` queuing `ROLLBACK`. Its result, rows and error are
    /// discarded, as for an abandoned command.
    ///
    /// Statements run in the order they were queued, before any later command. Only one
    /// statement per call (it goes through the extended protocol).
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// conn.batch_execute("BEGIN").await?;
    /// conn.defer_statement("ROLLBACK")?;
    /// // The ROLLBACK goes out, and its reply is read, before this query.
    /// conn.query("SELECT 1", &[]).await?;
    /// assert_eq!(conn.transaction_status(), hyperdjango_pgwire::TransactionStatus::Idle);
    /// # Ok(()) }
    /// ```
    pub fn defer_statement(&mut self, sql: &str) -> Result<()> {
        if let Some(why) = &self.broken {
            return Err(Error::Closed(why.clone()));
        }
        let mark = self.write_buf.len();
        let encoded = (|| {
            frontend::parse("", sql, &[], &mut self.write_buf)?;
            Bind::begin(&mut self.write_buf, "", "", &[], 0)?.finish(&[])?;
            frontend::execute("", 0, &mut self.write_buf)?;
            frontend::sync(&mut self.write_buf);
            Ok::<_, Error>(())
        })();
        if let Err(e) = encoded {
            self.write_buf.truncate(mark);
            return Err(e);
        }
        self.pending_syncs += 1;
        Ok(())
    }
}
