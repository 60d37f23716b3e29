//! Results as a stream of rows, with bounded memory.
//!
//! [`Connection::query_stream`] sends a command as `query` does and hands out rows as they
//! are read: the socket provides the backpressure, and memory stays bounded by the read
//! buffer whatever the result's size. If the stream is dropped early, the connection settles
//! the rest before its next command (cancelling the query if that takes long).
//!
//! [`Connection::query_portal`] also bounds the work done on the server: it asks for
//! `max_rows` rows at a time (Execute with a row limit, then Flush, and again after each
//! PortalSuspended). A stream dropped early costs at most one batch: the connection closes
//! the portal and ends the cycle with a Sync at its next use.

use std::sync::Arc;

use super::Connection;
use super::extended::{Params, Plan, is_stale_statement};
use crate::error::{Error, Result};
use crate::proto::backend::Message;
use crate::proto::frontend::{self, Target};
use crate::row::{Column, Row};
use crate::statement::ToStatement;

/// Rows of one command, read on demand. Created by [`Connection::query_stream`] and
/// [`Connection::query_portal`].
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// let mut rows = conn.query_stream("SELECT g FROM generate_series(1, 1000000) g", &[]).await?;
/// let mut sum = 0i64;
/// while let Some(row) = rows.next().await {
///     sum += i64::from(row?.get::<_, i32>(0)?);
/// }
/// assert_eq!(rows.rows_affected(), Some(1_000_000));
/// # Ok(()) }
/// ```
pub struct RowStream<'c> {
    conn: &'c mut Connection,
    plan: Plan,
    columns: Option<Arc<[Column]>>,
    /// Rows per Execute in portal mode; 0 for a single Execute.
    max_rows: i32,
    parsed: bool,
    described: bool,
    error: Option<Error>,
    rows_affected: Option<u64>,
    /// Rows received (a portal's last CommandComplete counts only its last batch).
    rows_seen: u64,
    done: bool,
}

impl Connection {
    /// Runs a statement and returns its rows as a stream (see [`RowStream`]).
    pub async fn query_stream<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<RowStream<'_>>
    where
        S: ToStatement + ?Sized,
    {
        self.start_stream(statement, params, 0).await
    }

    /// Runs a statement through a portal that returns at most `max_rows` rows per round trip,
    /// for results too large to produce at once (see [`RowStream`]).
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let mut rows = conn.query_portal("SELECT * FROM events ORDER BY id", &[], 10_000).await?;
    /// while let Some(row) = rows.next().await {
    ///     let row = row?;
    ///     // Stop whenever: at most one batch more was produced by the server.
    /// #   let _ = row;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn query_portal<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
        max_rows: u32,
    ) -> Result<RowStream<'_>>
    where
        S: ToStatement + ?Sized,
    {
        let max_rows = i32::try_from(max_rows.max(1)).unwrap_or(i32::MAX);
        self.start_stream(statement, params, max_rows).await
    }

    async fn start_stream<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
        max_rows: i32,
    ) -> Result<RowStream<'_>>
    where
        S: ToStatement + ?Sized,
    {
        self.ready().await?;
        let mut buf = std::mem::take(&mut self.write_buf);
        let portal = max_rows > 0;
        let plan = self.encode_command_limited(&mut buf, statement, params, !portal, max_rows);
        if portal && plan.is_ok() {
            frontend::flush(&mut buf);
        }
        self.write_buf = buf;
        let plan = plan?;
        self.mark_parses_sent();
        if portal {
            // The cycle stays open until the portal is exhausted and a Sync ends it.
            self.open_portal = true;
            self.start_deadline();
            self.flush().await?;
        } else {
            self.send(false).await?;
        }
        let columns = match &plan {
            Plan::Known { columns, .. } => Some(columns.clone()),
            Plan::Describe { .. } => None,
        };
        Ok(RowStream {
            conn: self,
            plan,
            columns,
            max_rows,
            parsed: false,
            described: false,
            error: None,
            rows_affected: None,
            rows_seen: 0,
            done: false,
        })
    }

    /// Ends an open portal cycle: Sync (after which the server answers ReadyForQuery).
    fn end_portal_cycle(&mut self) {
        frontend::sync(&mut self.write_buf);
        self.open_portal = false;
        self.pending_syncs += 1;
        self.in_flight_simple = false;
    }

    /// Settles a portal stream abandoned mid-way: closes the portal and ends the cycle.
    pub(crate) fn abandon_portal(&mut self) {
        if self.open_portal {
            let _ = frontend::close(Target::Portal, "", &mut self.write_buf);
            self.end_portal_cycle();
        }
    }
}

impl RowStream<'_> {
    /// The next row, `None` at the end. An error ends the stream.
    pub async fn next(&mut self) -> Option<Result<Row>> {
        if self.done {
            return None;
        }
        match self.advance().await {
            Ok(Some(row)) => Some(Ok(row)),
            Ok(None) => {
                self.done = true;
                self.error.take().map(Err)
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// The columns of the rows, once known (after the first row, or at the end).
    pub fn columns(&self) -> Option<&[Column]> {
        self.columns.as_deref()
    }

    /// The rows the command affected or returned, from its command tag, once it has ended.
    pub fn rows_affected(&self) -> Option<u64> {
        self.rows_affected
    }

    /// Reads until a row or the end of the command (its ReadyForQuery).
    async fn advance(&mut self) -> Result<Option<Row>> {
        let conn = &mut *self.conn;
        loop {
            match conn.read_message().await? {
                Message::DataRow(data) => {
                    let row = conn.make_row(&self.columns, data)?;
                    self.rows_seen += 1;
                    if self.error.is_none() {
                        return Ok(Some(row));
                    }
                }
                Message::ParseComplete => self.parsed = true,
                Message::BindComplete | Message::CloseComplete => {}
                Message::RowDescription(fields) => {
                    // Types met for the first time stay unresolved in a stream: the lookup
                    // would need a round trip in the middle of it.
                    self.columns = Some(conn.type_cache.columns(fields));
                    self.described = true;
                }
                Message::NoData => {
                    self.columns = Some(Arc::from(Vec::new()));
                    self.described = true;
                }
                Message::PortalSuspended => {
                    // The batch is done: ask for the next one.
                    frontend::execute("", self.max_rows, &mut conn.write_buf)?;
                    frontend::flush(&mut conn.write_buf);
                    conn.flush().await?;
                }
                Message::CommandComplete(tag) => {
                    let count = tag.rows_affected().unwrap_or(0);
                    // In portal mode the tag counts only the last batch of a SELECT.
                    let portal_select =
                        self.max_rows > 0 && matches!(tag.command(), "SELECT" | "FETCH");
                    self.rows_affected = Some(if portal_select { self.rows_seen } else { count });
                    if conn.open_portal {
                        conn.end_portal_cycle();
                        conn.flush().await?;
                    }
                }
                Message::EmptyQueryResponse => {
                    self.rows_affected = Some(0);
                    if conn.open_portal {
                        conn.end_portal_cycle();
                        conn.flush().await?;
                    }
                }
                Message::ErrorResponse(e) => {
                    if let Plan::Known {
                        cached: Some((key, name)),
                        ..
                    } = &self.plan
                    {
                        if is_stale_statement(&e) {
                            conn.cache.evict(*key, name);
                        }
                    }
                    conn.note_error(e, &mut self.error)?;
                    // After an error the server skips to the Sync; an open cycle needs one.
                    if conn.open_portal {
                        conn.end_portal_cycle();
                        conn.flush().await?;
                    }
                }
                Message::ReadyForQuery(status) => {
                    conn.ready_for_query(status);
                    let columns = self.described.then(|| self.columns.clone()).flatten();
                    conn.finish_parse(&self.plan, self.parsed, columns);
                    return Ok(None);
                }
                Message::CopyInResponse(_) | Message::CopyOutResponse(_) => {
                    return Err(conn.fail(Error::Unsupported(
                        "COPY cannot run through a row stream (use the COPY API); the connection was closed".into(),
                    )));
                }
                other => return Err(conn.unexpected(&other, "a row stream")),
            }
        }
    }
}
