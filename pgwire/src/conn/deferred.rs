//! Queuing a statement from code that cannot wait: a transaction guard dropped without
//! `commit` must be rolled back although `Drop` cannot `.await`.

use super::Connection;
use crate::error::{Error, Result};
use crate::proto::frontend::{self, Bind};

impl Connection {
    /// Queues one SQL statement (no parameters) to run before the next command, without
    /// waiting and without doing I/O: for cleanup from code that cannot `.await`, such as a
    /// transaction guard's `Drop` queuing `ROLLBACK`. Its result, rows and error are
    /// discarded, as for an abandoned command; [`is_busy`](Connection::is_busy) is true until
    /// it has run, and [`wait_idle`](Connection::wait_idle) runs it.
    ///
    /// Statements run in the order they were queued, before any later command. Only one
    /// statement per call (it goes through the extended protocol, unnamed).
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// conn.batch_execute("BEGIN").await?;
    /// conn.defer_statement("ROLLBACK")?;
    /// assert!(conn.is_busy());
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
