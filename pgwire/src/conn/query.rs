//! Running statements: the extended protocol (binary parameters and results) and the simple
//! query protocol.

use std::sync::Arc;

use smallvec::SmallVec;

use super::Connection;
use super::extended::{Params, RowSink, Until, copy_error};
use crate::error::{Error, Result};
use crate::proto::backend::{FieldDescription, Message};
use crate::proto::frontend::{self, Format, Target};
use crate::row::{Column, Row, SimpleQueryMessage, SimpleQueryRow};
use crate::statement::{Statement, ToStatement};
use crate::types::Type;

/// Keeps the first row and counts the rest.
struct First(Option<Row>, usize);

impl RowSink for First {
    fn row(&mut self, row: Row) -> Result<()> {
        if self.0.is_none() {
            self.0 = Some(row);
        }
        self.1 += 1;
        Ok(())
    }
}

struct Discard;

impl RowSink for Discard {
    fn row(&mut self, _row: Row) -> Result<()> {
        Ok(())
    }
}

/// Hands each row to a caller's function as it is read ([`Connection::query_each`]). Rows
/// whose column types need a catalog lookup first (types defined in the database, seen for
/// the first time on this connection) are held back and handed over once the lookup is done,
/// after the command's replies.
struct Each<'f, F, E> {
    f: &'f mut F,
    /// The function's first error: no row is handed over after it.
    error: Option<E>,
    /// Rows held back for type resolution (every later row of the command joins them, so
    /// the order is kept).
    held: Vec<Row>,
    /// The column description last seen to be fully resolved (the rows of one command share
    /// it, so one pointer comparison per row decides).
    resolved: Option<Arc<[Column]>>,
}

impl<F, E> RowSink for Each<'_, F, E>
where
    F: FnMut(Row) -> std::result::Result<(), E>,
{
    #[inline]
    fn row(&mut self, row: Row) -> Result<()> {
        if self.held.is_empty() {
            let columns = row.columns_shared();
            let mut ready = self
                .resolved
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(r, columns));
            if !ready && all_resolved(columns) {
                self.resolved = Some(columns.clone());
                ready = true;
            }
            if ready {
                return (self.f)(row).map_err(|e| {
                    self.error = Some(e);
                    Error::Usage("the row function failed".into())
                });
            }
        }
        self.held.push(row);
        Ok(())
    }
}

/// Whether every column's type is known without a catalog lookup.
fn all_resolved(columns: &[Column]) -> bool {
    columns
        .iter()
        .all(|c| c.type_().is_resolved() || c.type_oid() == 0)
}

impl Connection {
    /// Runs a statement and returns all its rows.
    ///
    /// `statement` is SQL text (sent with Parse, Bind, Describe, Execute and Sync in one write:
    /// one round trip, with parameter types declared from the Rust values) or a prepared
    /// [`Statement`]. Parameters and results travel in binary.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let rows = conn.query("SELECT n FROM generate_series(1, $1) AS n", &[&3i32]).await?;
    /// let ns: Vec<i32> = rows.iter().map(|r| r.get(0)).collect::<Result<_, _>>()?;
    /// assert_eq!(ns, [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub async fn query<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Vec<Row>>
    where
        S: ToStatement + ?Sized,
    {
        let mut rows = self.query_unresolved(statement, params).await?;
        self.resolve_rows(&mut rows).await?;
        Ok(rows)
    }

    /// [`Connection::query`] without looking up the types of the columns (the type lookup
    /// itself runs through this).
    pub(super) async fn query_unresolved<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<Vec<Row>>
    where
        S: ToStatement + ?Sized,
    {
        let mut rows = Vec::new();
        self.run(statement, params, &mut rows).await?;
        Ok(rows)
    }

    /// Runs a statement and hands each row to `f` as it is read, without collecting them:
    /// the way to decode rows straight into your own values (memory stays bounded by what
    /// `f` keeps). Returns the number of rows the command returned or affected.
    ///
    /// `f`'s error type `E` is the caller's (it must hold this crate's [`Error`]). After `f`
    /// fails, the remaining rows are read and dropped, and its error is returned; the
    /// connection stays usable. Rows whose column types are defined in the database and not
    /// yet known to this connection are handed over after the command's last reply, once
    /// the types are looked up.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let mut total = 0i64;
    /// let n = conn
    ///     .query_each("SELECT n FROM generate_series(1, $1) AS n", &[&4i32], |row| {
    ///         total += i64::from(row.get::<_, i32>(0)?);
    ///         Ok::<_, hyperdjango_pgwire::Error>(())
    ///     })
    ///     .await?;
    /// assert_eq!((n, total), (4, 10));
    /// # Ok(()) }
    /// ```
    pub async fn query_each<S, F, E>(
        &mut self,
        statement: &S,
        params: Params<'_>,
        mut f: F,
    ) -> std::result::Result<u64, E>
    where
        S: ToStatement + ?Sized,
        F: FnMut(Row) -> std::result::Result<(), E> + Send,
        E: From<Error> + Send,
    {
        let mut sink = Each {
            f: &mut f,
            error: None,
            held: Vec::new(),
            resolved: None,
        };
        let result = self.run(statement, params, &mut sink).await;
        if let Some(e) = sink.error.take() {
            return Err(e);
        }
        let n = result?;
        if !sink.held.is_empty() {
            let mut held = std::mem::take(&mut sink.held);
            self.resolve_rows(&mut held).await?;
            for row in held {
                f(row)?;
            }
        }
        Ok(n)
    }

    /// Runs a statement that must return exactly one row.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let n: i64 = conn.query_one("SELECT count(*) FROM pg_class", &[]).await?.get(0)?;
    /// # Ok(()) }
    /// ```
    pub async fn query_one<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Row>
    where
        S: ToStatement + ?Sized,
    {
        let mut sink = First(None, 0);
        self.run(statement, params, &mut sink).await?;
        let sink = First(self.resolve_row(sink.0).await?, sink.1);
        match sink {
            First(Some(row), 1) => Ok(row),
            First(_, got) => Err(Error::RowCount {
                expected: "exactly one row",
                got,
            }),
        }
    }

    /// Runs a statement that returns zero or one row.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let row = conn.query_opt("SELECT 1 WHERE false", &[]).await?;
    /// assert!(row.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn query_opt<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Option<Row>>
    where
        S: ToStatement + ?Sized,
    {
        let mut sink = First(None, 0);
        self.run(statement, params, &mut sink).await?;
        let sink = First(self.resolve_row(sink.0).await?, sink.1);
        match sink {
            First(row, 0 | 1) => Ok(row),
            First(_, got) => Err(Error::RowCount {
                expected: "at most one row",
                got,
            }),
        }
    }

    /// Runs a statement and returns the number of rows it affected (or returned).
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let n = conn.execute("UPDATE t SET x = x + 1 WHERE id = $1", &[&7i64]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn execute<S>(&mut self, statement: &S, params: Params<'_>) -> Result<u64>
    where
        S: ToStatement + ?Sized,
    {
        self.run(statement, params, &mut Discard).await
    }

    /// Prepares a statement whose parameter types the server infers.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let stmt = conn.prepare("SELECT $1::int8 * 2").await?;
    /// let row = conn.query_one(&stmt, &[&21i64]).await?;
    /// assert_eq!(row.get::<_, i64>(0)?, 42);
    /// # Ok(()) }
    /// ```
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.prepare_typed(sql, &[]).await
    }

    /// Prepares a statement, declaring the types of its first `types.len()` parameters.
    pub async fn prepare_typed(&mut self, sql: &str, types: &[Type]) -> Result<Statement> {
        let span = crate::__trace_span!(DEBUG, "hyperdjango.prepare",
            { db.system = "postgresql", db.statement = sql }, [db.statement.name]);
        let result = span.instrument(self.prepare_untraced(sql, types)).await;
        if let Ok(stmt) = &result {
            span.record("db.statement.name", stmt.name());
        }
        crate::trace::finish(&span, &result);
        result
    }

    /// [`Connection::prepare_typed`] without its span.
    async fn prepare_untraced(&mut self, sql: &str, types: &[Type]) -> Result<Statement> {
        self.ready().await?;
        // With prepared statements off the unnamed statement is described here and parsed
        // again at each execution: nothing named is left on the server.
        let name = if self.named_statements {
            self.next_statement += 1;
            format!("hd{}", self.next_statement)
        } else {
            String::new()
        };
        let oids: SmallVec<[u32; 16]> = types.iter().map(Type::oid).collect();
        let mark = self.write_buf.len();
        let encoded = (|| {
            frontend::parse(&name, sql, &oids, &mut self.write_buf)?;
            frontend::describe(Target::Statement, &name, &mut self.write_buf)?;
            frontend::sync(&mut self.write_buf);
            Ok::<_, Error>(())
        })();
        if let Err(e) = encoded {
            self.write_buf.truncate(mark);
            return Err(e);
        }
        // If this future is dropped from here on, `ready` closes the statement.
        self.preparing = (!name.is_empty()).then(|| Arc::from(name.as_str()));
        self.send(false).await?;

        let mut error = None;
        let mut params = None;
        let mut columns: Option<Vec<FieldDescription>> = None;
        loop {
            match self.read_message().await? {
                Message::ParseComplete | Message::CloseComplete | Message::NoData => {}
                Message::ParameterDescription(p) => params = Some(p),
                Message::RowDescription(c) => columns = Some(c),
                Message::ErrorResponse(e) => {
                    self.note_error(e, &mut error)?;
                }
                Message::ReadyForQuery(status) => {
                    self.ready_for_query(status);
                    break;
                }
                other => return Err(self.unexpected(&other, "prepare")),
            }
        }
        self.preparing = None;
        if let Some(e) = error {
            return Err(e);
        }
        let params = params.unwrap_or_default();
        let columns = columns.unwrap_or_default();
        // Types defined in the database are looked up once per connection.
        self.resolve_statement_types(&name, &params, &columns)
            .await?;
        let params = params.into_iter().map(|oid| self.type_of(oid)).collect();
        // Rows of this statement will be requested in binary.
        let columns: Arc<[Column]> = self.type_cache.columns(
            columns
                .into_iter()
                .map(|c| c.with_format(Format::Binary as i16))
                .collect(),
        );
        let unnamed_sql = name.is_empty().then(|| Box::from(sql));
        Ok(Statement::new(
            name,
            unnamed_sql,
            self.id,
            params,
            columns,
            &self.close_queue,
        ))
    }

    /// Runs one command through the extended protocol, feeding rows to `sink`. A cached
    /// statement that the server no longer accepts (its plan changed result type after a
    /// schema change, or the session deallocated it) is evicted and the command runs once
    /// more with a fresh Parse, when that is safe: outside a transaction block and before any
    /// row was delivered.
    async fn run<S, K>(&mut self, statement: &S, params: Params<'_>, sink: &mut K) -> Result<u64>
    where
        S: ToStatement + ?Sized,
        K: RowSink + Send,
    {
        let span = crate::__trace_span!(
            DEBUG,
            "hyperdjango.query",
            { db.system = "postgresql" },
            [
                db.statement,
                db.statement.name,
                db.query.parameters,
                db.response.rows
            ]
        );
        #[cfg(feature = "tracing")]
        span.with(|span| {
            match statement.as_statement() {
                Ok(stmt) => span.record("db.statement.name", stmt.name()),
                Err(sql) => span.record("db.statement", sql),
            }
            if self.trace_parameters {
                span.record(
                    "db.query.parameters",
                    crate::trace::show_parameters(params).as_str(),
                );
            }
        });
        let result = span
            .instrument(self.run_untraced(statement, params, sink))
            .await;
        if let Ok(rows) = &result {
            span.record("db.response.rows", *rows);
        }
        crate::trace::finish(&span, &result);
        result
    }

    /// [`Connection::run`] without its span.
    async fn run_untraced<S, K>(
        &mut self,
        statement: &S,
        params: Params<'_>,
        sink: &mut K,
    ) -> Result<u64>
    where
        S: ToStatement + ?Sized,
        K: RowSink + Send,
    {
        let mut retried = false;
        loop {
            self.ready().await?;
            let mut buf = std::mem::take(&mut self.write_buf);
            let plan = self.encode_command(&mut buf, statement, params, true);
            self.write_buf = buf;
            let plan = plan?;
            self.send(false).await?;
            let reply = self.read_reply(&plan, sink, Until::Ready).await?;
            let retry = !retried && self.can_retry(&reply);
            match reply.error {
                None => return Ok(reply.rows_affected),
                Some(_) if retry => retried = true,
                Some(e) => return Err(e),
            }
        }
    }

    /// Sends what is queued; the queued commands end with one Sync (or one Query).
    pub(crate) async fn send(&mut self, simple: bool) -> Result<()> {
        self.mark_parses_sent();
        self.pending_syncs += 1;
        self.in_flight_simple = simple;
        self.start_deadline();
        self.flush().await
    }

    /// Runs SQL through the simple query protocol: no parameters, text results, and the
    /// string may hold several statements separated by semicolons (run in one implicit
    /// transaction unless they manage their own).
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// use hyperdjango_pgwire::SimpleQueryMessage;
    /// let msgs = conn.simple_query("SELECT 1; SELECT 'two'").await?;
    /// let rows = msgs.iter().filter(|m| matches!(m, SimpleQueryMessage::Row(_))).count();
    /// assert_eq!(rows, 2);
    /// # Ok(()) }
    /// ```
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>> {
        let span = crate::__trace_span!(DEBUG, "hyperdjango.query",
            { db.system = "postgresql", db.statement = sql }, [db.response.rows]);
        let result = span.instrument(self.simple_query_untraced(sql)).await;
        if let Ok(messages) = &result {
            span.record_with("db.response.rows", || {
                messages
                    .iter()
                    .map(|m| match m {
                        SimpleQueryMessage::CommandComplete(n) => *n,
                        _ => 0,
                    })
                    .sum::<u64>()
            });
        }
        crate::trace::finish(&span, &result);
        result
    }

    /// [`Connection::simple_query`] without its span.
    async fn simple_query_untraced(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>> {
        self.ready().await?;
        let mark = self.write_buf.len();
        if let Err(e) = frontend::query(sql, &mut self.write_buf) {
            self.write_buf.truncate(mark);
            return Err(e.into());
        }
        self.send(true).await?;

        let mut out = Vec::new();
        let mut columns: Option<Arc<[Column]>> = None;
        let mut error: Option<Error> = None;
        loop {
            match self.read_message().await? {
                Message::RowDescription(fields) => {
                    let c: Arc<[Column]> = self.type_cache.columns(fields);
                    out.push(SimpleQueryMessage::RowDescription(c.clone()));
                    columns = Some(c);
                }
                Message::DataRow(data) => {
                    let row = self.make_row(&columns, data)?;
                    out.push(SimpleQueryMessage::Row(SimpleQueryRow::new(
                        row.columns_arc(),
                        row.into_data(),
                    )));
                }
                Message::CommandComplete(tag) => {
                    out.push(SimpleQueryMessage::CommandComplete(
                        tag.rows_affected().unwrap_or(0),
                    ));
                    columns = None;
                }
                Message::EmptyQueryResponse | Message::CloseComplete => {}
                Message::ErrorResponse(e) => {
                    self.note_error(e, &mut error)?;
                }
                Message::ReadyForQuery(status) => {
                    self.ready_for_query(status);
                    break;
                }
                Message::CopyInResponse(_) => {
                    error.get_or_insert(copy_error("COPY FROM STDIN"));
                    self.refuse_copy_in().await?;
                }
                Message::CopyOutResponse(_) => {
                    error.get_or_insert(copy_error("COPY TO STDOUT"));
                }
                Message::CopyData(_) | Message::CopyDone => {}
                other => return Err(self.unexpected(&other, "a simple query")),
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Runs one or more statements through the simple query protocol, discarding rows.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// conn.batch_execute("CREATE TEMP TABLE t (id int); INSERT INTO t VALUES (1)").await?;
    /// # Ok(()) }
    /// ```
    pub async fn batch_execute(&mut self, sql: &str) -> Result<()> {
        self.simple_query(sql).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Query futures must be `Send`, so they can run on a multi-threaded runtime and be
    /// spawned. This is checked at compile time; the futures are never polled.
    #[allow(dead_code)]
    fn futures_are_send(conn: &mut Connection, stmt: &Statement) {
        assert_send(&conn.query("SELECT 1", &[&1i32]));
        assert_send(&conn.query(stmt, &[]));
        assert_send(&conn.query_one(&String::new(), &[]));
        assert_send(&conn.query_opt("", &[]));
        assert_send(&conn.query_each("", &[], |_| Ok::<_, Error>(())));
        assert_send(&conn.execute("", &[]));
        assert_send(&conn.prepare(""));
        assert_send(&conn.simple_query(""));
        assert_send(&conn.batch_execute(""));
    }
}
