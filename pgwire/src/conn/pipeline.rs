//! Pipelining: many commands in one write, and one statement over many parameter sets.
//!
//! A [`Pipeline`] encodes each command as it is added (through the statement cache), then
//! [`Pipeline::run`] writes them together and reads every command's result in order. With
//! [`SyncMode::PerQuery`] each command ends with its own Sync, so each succeeds or fails on
//! its own. With [`SyncMode::Atomic`] one Sync ends the batch: the commands run in one
//! implicit transaction (unless a transaction block is open), and after a failure the server
//! skips the rest.
//!
//! Large batches are written in windows of [`WINDOW`] bytes, reading replies in between, so
//! neither side can block forever on a full socket buffer. Between windows of an atomic batch
//! a Flush asks the server to send what it has, since its Sync comes only at the end.
//!
//! If a future is dropped after part of an atomic batch was written but before its Sync, the
//! connection is closed at its next use: sending a Sync then would commit the partial batch,
//! and closing lets the server roll it back.

use bytes::BytesMut;

use super::Connection;
use super::extended::{Params, Plan, Until};
use crate::error::{Error, Result};
use crate::proto::backend::Message;
use crate::proto::frontend;
use crate::row::Row;
use crate::statement::ToStatement;

/// How many bytes of commands may be written ahead of the replies being read.
pub const WINDOW: usize = 64 * 1024;

/// How the commands of a pipeline are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Each command ends with its own Sync: an error affects only that command.
    PerQuery,
    /// One Sync ends the batch: the commands form one implicit transaction, and after an
    /// error the rest are skipped and nothing in the batch is committed.
    Atomic,
}

/// The result of one command of a pipeline.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    rows: Vec<Row>,
    rows_affected: u64,
}

impl QueryResult {
    /// The rows the command returned.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The rows, owned.
    pub fn into_rows(self) -> Vec<Row> {
        self.rows
    }

    /// The rows the command affected (or returned), from its command tag.
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

struct Entry {
    plan: Plan,
    /// Where this command's bytes end in the pipeline buffer.
    end: usize,
}

/// A batch of commands sent in one write. Create it with [`Connection::pipeline`].
///
/// ```no_run
/// use hyperdjango_pgwire::SyncMode;
///
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// let mut batch = conn.pipeline(SyncMode::PerQuery);
/// for i in 0..100i32 {
///     batch.query("SELECT $1::int4 * 2", &[&i])?;
/// }
/// let results = batch.run().await?;
/// for (i, result) in results.into_iter().enumerate() {
///     let doubled: i32 = result?.rows()[0].get(0)?;
///     assert_eq!(doubled, 2 * i as i32);
/// }
/// # Ok(()) }
/// ```
pub struct Pipeline<'c> {
    conn: &'c mut Connection,
    mode: SyncMode,
    buf: BytesMut,
    entries: Vec<Entry>,
}

impl Connection {
    /// Starts a pipeline: commands added to it are sent together by [`Pipeline::run`].
    pub fn pipeline(&mut self, mode: SyncMode) -> Pipeline<'_> {
        Pipeline {
            conn: self,
            mode,
            buf: BytesMut::new(),
            entries: Vec::new(),
        }
    }

    /// Runs one statement once per parameter set, all in one implicit transaction (unless a
    /// transaction block is open), written in large batches; returns the total rows affected.
    ///
    /// The statement is prepared first, so every parameter set is checked against the types
    /// the server expects. After an error the server skips the remaining sets, nothing is
    /// committed, and the error ([`Error::InBatch`]) names the failing set's position.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::ToSql;
    ///
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let items = vec![(1i32, "one"), (2, "two")];
    /// let n = conn
    ///     .execute_many(
    ///         "INSERT INTO items (id, name) VALUES ($1, $2)",
    ///         items.iter().map(|(id, name)| [id as &(dyn ToSql + Sync), name]),
    ///     )
    ///     .await?;
    /// assert_eq!(n, 2);
    /// # Ok(()) }
    /// ```
    pub async fn execute_many<'p, S, I, P>(&mut self, statement: &S, param_sets: I) -> Result<u64>
    where
        S: ToStatement + ?Sized,
        I: IntoIterator<Item = P>,
        P: AsRef<[&'p (dyn crate::ToSql + Sync)]>,
    {
        let mut sets = param_sets.into_iter().peekable();
        let owned;
        let stmt = match statement.as_statement() {
            Ok(stmt) => stmt,
            Err(sql) => {
                let Some(first) = sets.peek() else {
                    return Ok(0);
                };
                let types: Vec<crate::Type> = first.as_ref().iter().map(|p| p.sql_type()).collect();
                owned = self.prepare_typed(sql, &types).await?;
                &owned
            }
        };
        self.ready().await?;
        self.start_deadline();
        let mut written = 0usize;
        let mut completed = 0usize;
        let mut total = 0u64;
        let mut batch = BytesMut::new();
        let mut failure: Option<(usize, Error)> = None;
        for params in sets {
            let index = written;
            let encoded = self.encode_command(&mut batch, stmt, params.as_ref(), false);
            if let Err(e) = encoded {
                failure = Some((index, e));
                break;
            }
            written += 1;
            if batch.len() >= WINDOW {
                frontend::flush(&mut batch);
                self.write_buf.extend_from_slice(&batch);
                batch.clear();
                self.open_batch = true;
                self.flush().await?;
                // Stay at most two windows ahead of the replies.
                while failure.is_none() && written - completed > 2 * WINDOW_SETS {
                    self.read_many_reply(&mut completed, &mut total, &mut failure)
                        .await?;
                }
                if failure.is_some() {
                    break;
                }
            }
        }
        if let Some((index, e)) = failure.take() {
            // A parameter set could not be encoded: none of the batch may be committed.
            if !self.open_batch {
                // Nothing was sent yet: send nothing.
                return Err(Error::InBatch {
                    index,
                    source: Box::new(e),
                });
            }
            // Windows already went out: make the server fail the implicit transaction before
            // the Sync, by executing a portal that does not exist.
            frontend::execute(ABORT_PORTAL, 0, &mut batch)?;
            frontend::sync(&mut batch);
            self.write_buf.extend_from_slice(&batch);
            self.end_batch();
            self.flush().await?;
            let mut ours = None;
            self.read_through_ready(&mut ours).await?;
            return Err(Error::InBatch {
                index,
                source: Box::new(e),
            });
        }
        frontend::sync(&mut batch);
        self.write_buf.extend_from_slice(&batch);
        self.end_batch();
        self.flush().await?;
        while failure.is_none() && completed < written {
            self.read_many_reply(&mut completed, &mut total, &mut failure)
                .await?;
        }
        self.read_through_ready(&mut failure).await?;
        match failure {
            Some((index, source)) => Err(Error::InBatch {
                index,
                source: Box::new(source),
            }),
            None => Ok(total),
        }
    }

    /// Reads the replies to one Bind/Execute of `execute_many`.
    async fn read_many_reply(
        &mut self,
        completed: &mut usize,
        total: &mut u64,
        failure: &mut Option<(usize, Error)>,
    ) -> Result<()> {
        loop {
            match self.read_message().await? {
                Message::BindComplete | Message::DataRow(_) | Message::CloseComplete => {}
                Message::CommandComplete(tag) => {
                    *total += tag.rows_affected().unwrap_or(0);
                    *completed += 1;
                    return Ok(());
                }
                Message::EmptyQueryResponse => {
                    *completed += 1;
                    return Ok(());
                }
                Message::ErrorResponse(e) => {
                    let e = self.db_error(e);
                    if self.broken.is_some() {
                        return Err(e);
                    }
                    *failure = Some((*completed, e));
                    return Ok(());
                }
                Message::CopyInResponse(_) => {
                    return Err(self.fail(Error::Unsupported(
                        "COPY FROM STDIN cannot run inside execute_many; the connection was closed"
                            .into(),
                    )));
                }
                other => return Err(self.unexpected(&other, "execute_many")),
            }
        }
    }
}

/// A portal name that never exists: executing it aborts an unfinished batch on purpose.
const ABORT_PORTAL: &str = "hyperdjango abort batch";

/// How many parameter sets of `execute_many` may be outstanding (about a window's worth of
/// small rows); replies to that many always fit in the socket buffers.
const WINDOW_SETS: usize = 1024;

impl<'c> Pipeline<'c> {
    /// Adds a command whose rows are collected.
    pub fn query<S>(&mut self, statement: &S, params: Params<'_>) -> Result<&mut Self>
    where
        S: ToStatement + ?Sized,
    {
        let sync = self.mode == SyncMode::PerQuery;
        let plan = self
            .conn
            .encode_command(&mut self.buf, statement, params, sync)?;
        self.entries.push(Entry {
            plan,
            end: self.buf.len(),
        });
        Ok(self)
    }

    /// Adds a command whose rows, if any, are discarded (its result still counts them).
    pub fn execute<S>(&mut self, statement: &S, params: Params<'_>) -> Result<&mut Self>
    where
        S: ToStatement + ?Sized,
    {
        self.query(statement, params)
    }

    /// How many commands have been added.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no command has been added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sends every command and reads every result, in order. The outer `Result` fails only if
    /// the connection does; each command has its own `Result`.
    pub async fn run(self) -> Result<Vec<Result<QueryResult>>> {
        let span = crate::__trace_span!(DEBUG, "hyperdjango.pipeline", {
            db.system = "postgresql",
            db.operation.batch.size = self.entries.len(),
            atomic = self.mode == SyncMode::Atomic
        }, []);
        let result = span.instrument(self.run_untraced()).await;
        crate::trace::finish(&span, &result);
        result
    }

    /// [`Pipeline::run`] without its span.
    async fn run_untraced(mut self) -> Result<Vec<Result<QueryResult>>> {
        let entries = std::mem::take(&mut self.entries);
        let mut buf = std::mem::take(&mut self.buf);
        let atomic = self.mode == SyncMode::Atomic;
        let conn = &mut *self.conn;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        conn.ready().await?;
        conn.mark_parses_sent();
        conn.start_deadline();
        if atomic {
            frontend::sync(&mut buf);
        }
        let last_end = entries[entries.len() - 1].end;
        let mut results = Vec::with_capacity(entries.len());
        let mut written = 0usize;
        let mut failed = false;
        for (i, entry) in entries.iter().enumerate() {
            if written < entry.end {
                // Write through this entry, and whole entries up to a window beyond what has
                // been read (everything, when the batch is small).
                let read_upto = if i == 0 { 0 } else { entries[i - 1].end };
                let limit = entry.end.max(read_upto + WINDOW);
                let upto = entries[i..]
                    .iter()
                    .map(|e| e.end)
                    .take_while(|&end| end <= limit)
                    .last()
                    .unwrap_or(entry.end);
                let last = upto == last_end;
                let end = if last { buf.len() } else { upto };
                conn.write_pipeline_part(&buf[written..end], atomic, last)
                    .await?;
                written = end;
            }
            if atomic && failed {
                results.push(Err(Error::Skipped(
                    "an earlier command of this atomic pipeline failed, so the server skipped it"
                        .into(),
                )));
                continue;
            }
            let mut rows = Vec::new();
            let until = if atomic {
                Until::Complete
            } else {
                Until::Ready
            };
            let reply = conn.read_reply(&entry.plan, &mut rows, until).await?;
            match reply.error {
                Some(e) => {
                    failed = true;
                    results.push(Err(e));
                }
                None => results.push(Ok(QueryResult {
                    rows,
                    rows_affected: reply.rows_affected,
                })),
            }
        }
        if atomic {
            conn.read_through_ready(&mut None).await?;
        }
        // Column types defined in the database are looked up once the connection is idle.
        for result in results.iter_mut().flatten() {
            conn.resolve_rows(&mut result.rows).await?;
        }
        Ok(results)
    }
}

impl Connection {
    /// Writes a window of a pipeline. Per-query windows carry their own Syncs; an atomic
    /// batch's windows end with a Flush, and the last one with the batch's Sync.
    async fn write_pipeline_part(&mut self, part: &[u8], atomic: bool, last: bool) -> Result<()> {
        self.write_buf.extend_from_slice(part);
        if atomic {
            if last {
                self.end_batch();
            } else {
                frontend::flush(&mut self.write_buf);
                self.open_batch = true;
            }
        } else {
            self.pending_syncs += count_syncs(part);
            self.in_flight_simple = false;
        }
        self.flush().await
    }

    /// Marks the end of a batch whose Sync is now in the write buffer.
    fn end_batch(&mut self) {
        self.pending_syncs += 1;
        self.in_flight_simple = false;
        self.open_batch = false;
    }

    /// Reads and discards replies through the next ReadyForQuery (after an error, the server
    /// skipped everything up to the Sync). A server error seen on the way is recorded in
    /// `failure` at position 0 if none is recorded yet.
    async fn read_through_ready(&mut self, failure: &mut Option<(usize, Error)>) -> Result<()> {
        loop {
            match self.read_message().await? {
                Message::ReadyForQuery(status) => {
                    self.ready_for_query(status);
                    return Ok(());
                }
                Message::ErrorResponse(e) => {
                    let e = self.db_error(e);
                    if self.broken.is_some() {
                        return Err(e);
                    }
                    failure.get_or_insert((0, e));
                }
                _ => {}
            }
        }
    }
}

/// Counts the Sync messages in a buffer of whole frontend messages.
fn count_syncs(buf: &[u8]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while at + 5 <= buf.len() {
        let len = u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
        if buf[at] == b'S' && len == 4 {
            n += 1;
        }
        at += 1 + len;
    }
    n
}

impl Drop for Pipeline<'_> {
    /// A pipeline dropped before `run` sent nothing: forget the statements it meant to prepare.
    fn drop(&mut self) {
        let plans: Vec<Plan> = self.entries.drain(..).map(|e| e.plan).collect();
        self.conn.forget_unsent_parses(&plans);
    }
}
