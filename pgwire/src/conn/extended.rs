//! The extended-protocol engine shared by single queries and pipelines: encoding a command
//! (through the statement cache), and reading one command's replies.
//!
//! A command is encoded as one of:
//!
//! - Bind, Execute: a prepared [`crate::Statement`] or a cache hit (columns known);
//! - Parse, Bind, Describe, Execute: a cache miss, with a new statement name;
//! - Parse, Bind, Describe, Execute on the unnamed statement, when caching is off.
//!
//! followed by Sync (single queries, per-query pipelines) or nothing (atomic pipelines, whose
//! one Sync comes last). A Parse sent for the cache is recorded in
//! [`Connection::pending_parses`] before anything is written, so that if the caller's future
//! is dropped, the statement name is closed rather than leaked.

use std::sync::Arc;

use bytes::BytesMut;
use smallvec::SmallVec;

use super::Connection;
use super::cache::{ParamOids, PendingParse, StatementCache};
use crate::db_error::DbError;
use crate::error::{Error, Result};
use crate::proto::ProtocolError;
use crate::proto::backend::{DataRow, Message, TransactionStatus};
use crate::proto::frontend::{self, Bind, Format, Target};
use crate::row::{Column, Row};
use crate::sqlstate::SqlState;
use crate::statement::ToStatement;
use crate::types::Type;

/// The parameters of a query: any mix of Rust values that implement [`crate::ToSql`].
pub type Params<'a> = &'a [&'a (dyn crate::ToSql + Sync)];

/// Where a command's rows go.
pub(crate) trait RowSink {
    fn row(&mut self, row: Row) -> Result<()>;
}

/// Collecting every row is the common sink (`query`, pipelines).
impl RowSink for Vec<Row> {
    #[inline]
    fn row(&mut self, row: Row) -> Result<()> {
        self.push(row);
        Ok(())
    }
}

/// How the replies to an encoded command are to be read.
pub(crate) enum Plan {
    /// The result columns are known (a prepared or cached statement).
    Known {
        columns: Arc<[Column]>,
        /// The cache key and name, for a cached statement.
        cached: Option<(u64, Arc<str>)>,
    },
    /// A Describe asks the server; `parse` names the statement being prepared for the cache.
    Describe { parse: Option<Arc<str>> },
}

/// How far to read one command's replies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Through its ReadyForQuery (the command ended with its own Sync).
    Ready,
    /// Through CommandComplete, or the ErrorResponse (a command inside an atomic pipeline).
    Complete,
}

/// What one command's replies said.
pub(crate) struct Reply {
    pub(crate) rows_affected: u64,
    pub(crate) error: Option<Error>,
    /// The error said a cached statement is stale (evicted already).
    pub(crate) stale: bool,
    /// Rows reached the sink.
    pub(crate) delivered: bool,
}

impl Connection {
    /// Encodes one command into `buf`. `sync` appends its own Sync.
    pub(crate) fn encode_command<S>(
        &mut self,
        buf: &mut BytesMut,
        statement: &S,
        params: Params<'_>,
        sync: bool,
    ) -> Result<Plan>
    where
        S: ToStatement + ?Sized,
    {
        self.encode_command_limited(buf, statement, params, sync, 0)
    }

    /// Like [`Connection::encode_command`], with Execute returning at most `max_rows` rows
    /// (0 = all) before PortalSuspended.
    pub(crate) fn encode_command_limited<S>(
        &mut self,
        buf: &mut BytesMut,
        statement: &S,
        params: Params<'_>,
        sync: bool,
        max_rows: i32,
    ) -> Result<Plan>
    where
        S: ToStatement + ?Sized,
    {
        let mark = buf.len();
        let result = self.encode_command_inner(buf, statement, params, max_rows);
        match result {
            Ok(plan) => {
                if sync {
                    frontend::sync(buf);
                }
                Ok(plan)
            }
            Err(e) => {
                buf.truncate(mark);
                Err(e)
            }
        }
    }

    fn encode_command_inner<S>(
        &mut self,
        buf: &mut BytesMut,
        statement: &S,
        params: Params<'_>,
        max_rows: i32,
    ) -> Result<Plan>
    where
        S: ToStatement + ?Sized,
    {
        let sql = match statement.as_statement() {
            Ok(stmt) => {
                if stmt.connection_id() != self.id {
                    return Err(Error::Usage(
                        "this statement was prepared on a different connection".into(),
                    ));
                }
                let types = stmt.params();
                check_params(types, params)?;
                if let Some(sql) = stmt.unnamed_sql() {
                    let oids: ParamOids = types.iter().map(Type::oid).collect();
                    frontend::parse("", sql, &oids, buf)?;
                }
                encode_bind(buf, stmt.name(), params, types.iter().map(Type::base))?;
                frontend::execute("", max_rows, buf)?;
                return Ok(Plan::Known {
                    columns: stmt.columns_arc().clone(),
                    cached: None,
                });
            }
            Err(sql) => sql,
        };
        let types: SmallVec<[Type; 16]> = params.iter().map(|p| p.sql_type()).collect();
        let oids: ParamOids = types.iter().map(Type::oid).collect();
        if !self.cache.is_enabled() {
            frontend::parse("", sql, &oids, buf)?;
            encode_bind(buf, "", params, types.iter())?;
            frontend::describe(Target::Portal, "", buf)?;
            frontend::execute("", max_rows, buf)?;
            return Ok(Plan::Describe { parse: None });
        }
        let key = StatementCache::key(sql, &oids);
        if let Some(hit) = self.cache.get(key, sql, &oids) {
            let (name, columns) = (hit.name.clone(), hit.columns.clone());
            encode_bind(buf, &name, params, types.iter())?;
            frontend::execute("", max_rows, buf)?;
            return Ok(Plan::Known {
                columns,
                cached: Some((key, name)),
            });
        }
        // A statement this batch is already preparing: bind to it, describe again.
        if let Some(p) = self
            .pending_parses
            .iter()
            .find(|p| p.key == key && &*p.sql == sql && p.oids == oids)
        {
            let name = p.name.clone();
            encode_bind(buf, &name, params, types.iter())?;
            frontend::describe(Target::Portal, "", buf)?;
            frontend::execute("", max_rows, buf)?;
            return Ok(Plan::Describe { parse: None });
        }
        self.next_statement += 1;
        let name: Arc<str> = Arc::from(format!("hd{}", self.next_statement));
        frontend::parse(&name, sql, &oids, buf)?;
        encode_bind(buf, &name, params, types.iter())?;
        frontend::describe(Target::Portal, "", buf)?;
        frontend::execute("", max_rows, buf)?;
        self.pending_parses.push(PendingParse {
            sent: false,
            key,
            sql: sql.into(),
            oids,
            name: name.clone(),
        });
        Ok(Plan::Describe { parse: Some(name) })
    }

    /// Marks every encoded Parse as sent: called as their bytes go to the write buffer.
    pub(crate) fn mark_parses_sent(&mut self) {
        for p in &mut self.pending_parses {
            p.sent = true;
        }
    }

    /// Forgets the pending Parses of commands whose encoding was abandoned before sending.
    pub(crate) fn forget_unsent_parses(&mut self, plans: &[Plan]) {
        for plan in plans {
            if let Plan::Describe { parse: Some(name) } = plan {
                self.pending_parses.retain(|p| !Arc::ptr_eq(&p.name, name));
            }
        }
    }

    /// Reads one command's replies, feeding rows to `sink`. Returns `Err` only when the
    /// connection itself failed; the command's own error is in [`Reply::error`].
    pub(crate) async fn read_reply<K: RowSink + Send>(
        &mut self,
        plan: &Plan,
        sink: &mut K,
        until: Until,
    ) -> Result<Reply> {
        let (mut columns, cached) = match plan {
            Plan::Known { columns, cached } => (Some(columns.clone()), cached.as_ref()),
            Plan::Describe { .. } => (None, None),
        };
        let mut reply = Reply {
            rows_affected: 0,
            error: None,
            stale: false,
            delivered: false,
        };
        let mut parsed = false;
        let mut described = false;
        // Whether the command ended (CommandComplete, EmptyQueryResponse or an error): a
        // ReadyForQuery before that is a server out of step, never an empty result.
        let mut ended = false;
        loop {
            match self.read_message().await? {
                Message::DataRow(data) => {
                    let row = self.make_row(&columns, data)?;
                    reply.delivered = true;
                    if reply.error.is_none() {
                        if let Err(e) = sink.row(row) {
                            reply.error = Some(e);
                        }
                    }
                }
                Message::BindComplete | Message::CloseComplete => {}
                Message::ParseComplete => parsed = true,
                Message::RowDescription(fields) => {
                    columns = Some(self.type_cache.columns(fields));
                    described = true;
                }
                Message::NoData => {
                    columns = Some(Arc::from(Vec::new()));
                    described = true;
                }
                Message::CommandComplete(tag) => {
                    ended = true;
                    reply.rows_affected = tag.rows_affected().unwrap_or(0);
                    if until == Until::Complete {
                        break;
                    }
                }
                Message::EmptyQueryResponse => {
                    ended = true;
                    if until == Until::Complete {
                        break;
                    }
                }
                Message::ErrorResponse(e) => {
                    ended = true;
                    reply.stale |= cached.is_some() && is_stale_statement(&e);
                    self.note_error(e, &mut reply.error)?;
                    if until == Until::Complete {
                        break;
                    }
                }
                Message::ReadyForQuery(_) if !ended && reply.error.is_none() => {
                    return Err(self.fail_protocol(ProtocolError::new(
                        "ReadyForQuery arrived before the command completed (no CommandComplete)",
                    )));
                }
                Message::ReadyForQuery(status) => {
                    self.ready_for_query(status);
                    if until == Until::Ready {
                        break;
                    }
                    return Err(self.fail_protocol(ProtocolError::new(
                        "ReadyForQuery arrived in the middle of a pipeline",
                    )));
                }
                Message::CopyInResponse(_) if until == Until::Ready => {
                    reply.error.get_or_insert(copy_error("COPY FROM STDIN"));
                    self.refuse_copy_in().await?;
                }
                Message::CopyInResponse(_) => {
                    // Failing a COPY in the middle of a pipeline would desynchronise the
                    // replies of the commands after it: give the connection up instead.
                    return Err(self.fail(Error::Unsupported(
                        "COPY FROM STDIN cannot run inside a pipeline; the connection was closed"
                            .into(),
                    )));
                }
                Message::CopyOutResponse(_) => {
                    reply.error.get_or_insert(copy_error("COPY TO STDOUT"));
                }
                Message::CopyData(_) | Message::CopyDone => {}
                other => return Err(self.unexpected(&other, "a query")),
            }
        }
        self.finish_parse(plan, parsed, described.then_some(columns).flatten());
        if reply.stale {
            if let Some((key, name)) = cached {
                self.cache.evict(*key, name);
            }
            if reply.error.as_ref().and_then(Error::code)
                == Some(&SqlState::INVALID_SQL_STATEMENT_NAME)
            {
                // The session dropped its prepared statements (DISCARD ALL, DEALLOCATE ALL):
                // none of the cached ones exist any more.
                self.cache.clear_forgetting();
            }
        }
        Ok(reply)
    }

    /// Moves a confirmed statement into the cache, or closes a name whose state is unclear.
    pub(crate) fn finish_parse(
        &mut self,
        plan: &Plan,
        parsed: bool,
        columns: Option<Arc<[Column]>>,
    ) {
        let Plan::Describe { parse: Some(name) } = plan else {
            return;
        };
        let Some(at) = self
            .pending_parses
            .iter()
            .position(|p| Arc::ptr_eq(&p.name, name))
        else {
            return;
        };
        let parse = self.pending_parses.swap_remove(at);
        match (parsed, columns) {
            (true, Some(columns)) => self.cache.insert(parse, columns),
            (true, None) => self.cache.close_later(parse.name),
            // The Parse failed: there is nothing to close.
            (false, _) => {}
        }
    }

    /// Whether a stale-statement error may be retried: nothing was delivered and no
    /// transaction block was aborted by it.
    pub(crate) fn can_retry(&self, reply: &Reply) -> bool {
        reply.stale && !reply.delivered && self.tx_status == TransactionStatus::Idle
    }

    /// Pairs a DataRow with its columns, checking the field count.
    #[inline]
    pub(crate) fn make_row(
        &mut self,
        columns: &Option<Arc<[Column]>>,
        data: DataRow,
    ) -> Result<Row> {
        let Some(columns) = columns else {
            return Err(self.fail_protocol(ProtocolError::new(
                "DataRow arrived before its RowDescription",
            )));
        };
        if data.len() != columns.len() {
            let e = ProtocolError::new(format!(
                "DataRow has {} fields but the RowDescription has {} columns",
                data.len(),
                columns.len()
            ));
            return Err(self.fail_protocol(e));
        }
        Ok(Row::new(columns.clone(), data))
    }
}

/// Checks a prepared statement's parameter count and types against the values given.
fn check_params(types: &[Type], params: Params<'_>) -> Result<()> {
    if types.len() != params.len() {
        return Err(Error::ParamCount {
            expected: types.len(),
            got: params.len(),
        });
    }
    for (i, (p, ty)) in params.iter().zip(types).enumerate() {
        // Domains are checked and encoded as their base type.
        if !p.accepts(ty.base()) {
            return Err(Error::Param {
                index: i + 1,
                message: format!(
                    "Rust type {} cannot be sent as PostgreSQL type {ty}, which the statement expects",
                    p.rust_type()
                ),
            });
        }
    }
    Ok(())
}

/// Whether the server rejected a cached statement itself rather than the query: its plan
/// can no longer produce the cached result type (SQLSTATE 0A000 raised by the plan cache's
/// revalidation), or it no longer exists (26000, after DISCARD ALL or DEALLOCATE).
pub(crate) fn is_stale_statement(e: &DbError) -> bool {
    let code = e.code();
    (*code == SqlState::FEATURE_NOT_SUPPORTED && e.routine() == Some("RevalidateCachedQuery"))
        || *code == SqlState::INVALID_SQL_STATEMENT_NAME
}

/// Appends a Bind of `statement` with `params` encoded as `types`, binary in and out.
pub(crate) fn encode_bind<'t>(
    buf: &mut BytesMut,
    statement: &str,
    params: Params<'_>,
    types: impl Iterator<Item = &'t Type>,
) -> Result<()> {
    let mut bind = Bind::begin(buf, "", statement, &[Format::Binary], params.len())?;
    for (i, (p, ty)) in params.iter().zip(types).enumerate() {
        bind.param(|b| p.to_sql(ty, b).map(Into::into))
            .map_err(|e| Error::Param {
                index: i + 1,
                message: format!(
                    "cannot encode Rust type {} as PostgreSQL type {ty}: {e}",
                    p.rust_type()
                ),
            })?;
    }
    bind.finish(&[Format::Binary])?;
    Ok(())
}

pub(crate) fn copy_error(what: &str) -> Error {
    Error::Unsupported(format!(
        "{what} is not supported through query/execute/simple_query (use the COPY API); the statement was aborted"
    ))
}

// Used by the Bind encoder: `IsNull::Yes` becomes a NULL parameter.
impl From<crate::types::IsNull> for frontend::ParamValue {
    fn from(v: crate::types::IsNull) -> Self {
        match v {
            crate::types::IsNull::Yes => frontend::ParamValue::Null,
            crate::types::IsNull::No => frontend::ParamValue::Written,
        }
    }
}
