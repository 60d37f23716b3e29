//! A connection to one PostgreSQL backend.
//!
//! One task owns a [`Connection`] through `&mut`: there is no background task and no channel
//! hop per query (the pool provides concurrency). The connection is a thin loop around the
//! sans-I/O [`crate::proto`] layer: it encodes messages into a write buffer, sends them in one
//! write, and decodes replies from a read buffer.
//!
//! # Cancel safety
//!
//! Every query method may be dropped at any `.await`. The connection keeps two facts that make
//! that safe: the bytes not yet written stay in its write buffer, and it counts the Sync
//! messages the server has not yet answered with ReadyForQuery. Before the next command it
//! finishes the write and reads (and discards) replies until every Sync is answered, so a
//! dropped query's rows can never be mistaken for the next query's. A dropped query that was
//! already sent still runs on the server, as with every PostgreSQL driver.

mod cache;
mod copy;
mod deferred;
mod extended;
mod idle;
mod pipeline;
mod query;
mod row_stream;
mod socket;
mod startup;
#[cfg(feature = "tls")]
mod tls;
mod type_cache;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use self::copy::{BinaryCopyInWriter, BinaryCopyOutReader, CopyIn, CopyOut, quote_identifier};
pub use self::extended::Params;
pub use self::pipeline::{Pipeline, QueryResult, SyncMode};
pub use self::row_stream::RowStream;
use self::socket::Stream;
pub use self::startup::CancelToken;
use crate::db_error::{DbError, Severity};
use crate::error::{Error, Result};
use crate::proto::ProtocolError;
use crate::proto::backend::{Message, Notification, TransactionStatus, split_frame};
use crate::proto::frontend;
use crate::statement::CloseQueue;

/// How long the server may stay silent after a timed-out query was cancelled, before the
/// connection is given up as unresponsive.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// How much, and for how long, the server may keep sending after a timed-out query was
/// cancelled (each arrival restarts [`CANCEL_GRACE`]) before the cancel is sent again. A
/// real server stops within what its socket buffers hold (a few MiB), but it ignores a
/// cancel that reaches the backend while it is between two protocol messages (the statement
/// has not started yet), so a server that sent more than [`CANCEL_RESEND_BYTES`] over more
/// than [`CANCEL_RESEND_AFTER`] since the last cancel gets another one, up to
/// [`CANCEL_RESENDS`] times; one that keeps streaming after all of them (endless notices or
/// rows) is given up on. Both bounds must pass: a slow client may need seconds to drain the
/// buffers, and a fast one drains many MiB at once.
const CANCEL_RESEND_AFTER: Duration = Duration::from_secs(1);

/// See [`CANCEL_RESEND_AFTER`].
const CANCEL_RESEND_BYTES: usize = 4 * 1024 * 1024;

/// How many times a CancelRequest is sent again to a server that keeps streaming.
const CANCEL_RESENDS: u8 = 3;

/// How many notices the server may send before the first ReadyForQuery. A real server sends
/// a handful at most; endless notices during startup are a hostile server, refused even when
/// no connect_timeout is set.
const STARTUP_NOTICE_LIMIT: u32 = 1000;

/// How long settling an abandoned command may take before it is cancelled on the server.
const DRAIN_CANCEL_AFTER: Duration = Duration::from_millis(100);

/// How much to grow the read buffer by when it runs low.
const READ_CHUNK: usize = 64 * 1024;

/// Identifies connections within the process, so a statement can't be run on another one.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Receives the server's notices (NoticeResponse): warnings, `RAISE NOTICE`, and so on.
pub type NoticeHandler = Arc<dyn Fn(&DbError) + Send + Sync>;

/// The default notice handler: like libpq's, it prints the notice to standard error, so
/// notices are never dropped silently. Replace it with [`Connection::set_notice_handler`].
pub fn default_notice_handler() -> NoticeHandler {
    Arc::new(|notice: &DbError| eprintln!("{}:  {}", notice.severity(), notice.message()))
}

/// A connection to a PostgreSQL server.
///
/// ```no_run
/// use hyperdjango_pgwire::Connection;
///
/// # async fn f() -> hyperdjango_pgwire::Result<()> {
/// let mut conn = Connection::connect_url("postgres://postgres@localhost/postgres").await?;
/// let row = conn.query_one("SELECT $1::int4 + 1", &[&41i32]).await?;
/// assert_eq!(row.get::<_, i32>(0)?, 42);
/// conn.close().await?;
/// # Ok(()) }
/// ```
pub struct Connection {
    id: u64,
    stream: Stream,
    endpoint: String,
    /// Where to send a CancelRequest.
    target: Option<startup::CancelTarget>,
    /// How long a CancelRequest may take to connect.
    cancel_connect_timeout: Option<Duration>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    parameters: HashMap<String, String>,
    process_id: i32,
    secret_key: Bytes,
    protocol_minor: u16,
    tx_status: TransactionStatus,
    /// Sync (or Query) messages sent whose ReadyForQuery has not been read yet.
    pending_syncs: usize,
    /// Whether the command in flight used the simple query protocol (matters when an
    /// abandoned COPY FROM STDIN has to be failed).
    in_flight_simple: bool,
    /// Why the connection can no longer be used, once it can't.
    broken: Option<String>,
    notice_handler: NoticeHandler,
    notifications: VecDeque<Notification>,
    next_statement: u64,
    /// Whether named prepared statements may be used (`prepared_statements`); when false,
    /// every statement is the unnamed one, parsed again with each command (safe behind a
    /// transaction-pooling PgBouncer, where consecutive transactions may run on different
    /// server connections).
    named_statements: bool,
    close_queue: Arc<CloseQueue>,
    /// Types defined in the database, looked up by OID (see `type_cache`).
    type_cache: type_cache::TypeCache,
    cache: cache::StatementCache,
    /// Parses for the statement cache that were sent but not yet confirmed.
    pending_parses: Vec<cache::PendingParse>,
    /// The per-query timeout, if any.
    query_timeout: Option<Duration>,
    /// When the command in flight times out (then: when the server must have answered the
    /// CancelRequest).
    deadline: Option<Instant>,
    /// Whether a CancelRequest was sent for the command in flight.
    cancel_sent: bool,
    /// When the last CancelRequest was answered (see [`CANCEL_RESEND_AFTER`]).
    cancelled_at: Instant,
    /// Bytes read since then.
    read_after_cancel: usize,
    /// How many times the CancelRequest was sent again (see [`CANCEL_RESENDS`]).
    cancel_resends: u8,
    /// Notices still accepted before ReadyForQuery, during startup (then `None`).
    startup_notices: Option<u32>,
    /// Part of an atomic batch was written but not its Sync (see `pipeline`).
    open_batch: bool,
    /// A portal stream's cycle is open: no Sync sent yet (see `row_stream`).
    open_portal: bool,
    /// A COPY FROM STDIN is in progress (see `copy`).
    copy_in_open: bool,
    /// The name of a statement `prepare` sent but has not seen confirmed or refused.
    preparing: Option<Arc<str>>,
    /// The `tls-server-end-point` channel binding data, over TLS.
    tls_end_point: Option<Vec<u8>>,
    /// Whether the login was bound to the TLS channel (SCRAM-SHA-256-PLUS).
    channel_binding_used: bool,
    /// How TLS was started, for cancel requests.
    #[cfg(feature = "tls")]
    tls_setup: Option<tls::TlsSetup>,
    /// Whether query spans show parameter values ([`crate::Config::trace_parameters`]).
    #[cfg(feature = "tracing")]
    trace_parameters: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.stream.is_tls())
            .field("process_id", &self.process_id)
            .field("transaction_status", &self.tx_status)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(stream: Stream, endpoint: String) -> Connection {
        Connection {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            stream,
            endpoint,
            target: None,
            cancel_connect_timeout: None,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::with_capacity(8 * 1024),
            parameters: HashMap::new(),
            process_id: 0,
            secret_key: Bytes::new(),
            protocol_minor: 0,
            tx_status: TransactionStatus::Idle,
            pending_syncs: 0,
            in_flight_simple: false,
            broken: None,
            notice_handler: default_notice_handler(),
            notifications: VecDeque::new(),
            next_statement: 0,
            named_statements: true,
            close_queue: Arc::new(CloseQueue::default()),
            type_cache: type_cache::TypeCache::default(),
            cache: cache::StatementCache::new(0, false),
            pending_parses: Vec::new(),
            query_timeout: None,
            deadline: None,
            cancel_sent: false,
            cancelled_at: Instant::now(),
            read_after_cancel: 0,
            cancel_resends: 0,
            startup_notices: Some(STARTUP_NOTICE_LIMIT),
            open_batch: false,
            open_portal: false,
            copy_in_open: false,
            preparing: None,
            tls_end_point: None,
            channel_binding_used: false,
            #[cfg(feature = "tls")]
            tls_setup: None,
            #[cfg(feature = "tracing")]
            trace_parameters: false,
        }
    }

    /// A run-time parameter the server reported (ParameterStatus): `server_version`,
    /// `TimeZone`, `server_encoding`, `integer_datetimes`, `application_name`, ...
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// The server's version number as `major * 10000 + minor` (e.g. 150018 for 15.18),
    /// parsed from the `server_version` parameter.
    pub fn server_version_num(&self) -> Option<u32> {
        parse_server_version(self.parameter("server_version")?)
    }

    /// The backend's process id (as `pg_backend_pid()` returns).
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// The length in bytes of the cancel key the server sent: 4 in protocol 3.0, up to 256 in
    /// protocol 3.2 (PostgreSQL 18 sends 32).
    ///
    /// ```no_run
    /// # async fn f() -> hyperdjango_pgwire::Result<()> {
    /// let conn = hyperdjango_pgwire::Connection::connect_url("postgres://db/app").await?;
    /// assert_eq!(conn.cancel_key_len(), 4); // protocol 3.0, the default
    /// # Ok(()) }
    /// ```
    pub fn cancel_key_len(&self) -> usize {
        self.secret_key.len()
    }

    /// The negotiated protocol minor version (0 for 3.0, 2 for 3.2).
    pub fn protocol_minor_version(&self) -> u16 {
        self.protocol_minor
    }

    /// The transaction status from the last ReadyForQuery. While [`Connection::is_busy`] is
    /// true, an abandoned command may still change it: call [`Connection::wait_idle`] first
    /// when the answer matters (a pool returning a connection, for example).
    pub fn transaction_status(&self) -> TransactionStatus {
        self.tx_status
    }

    /// Whether a command is still in flight: a dropped query future whose replies have not
    /// been read, or bytes not yet written. The next command settles it first.
    pub fn is_busy(&self) -> bool {
        self.pending_syncs > 0
            || !self.write_buf.is_empty()
            || self.open_batch
            || self.open_portal
            || self.copy_in_open
    }

    /// Settles whatever abandoned commands left behind (as the next command would) and
    /// returns the true transaction status.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::TransactionStatus;
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// if conn.wait_idle().await? != TransactionStatus::Idle {
    ///     conn.batch_execute("ROLLBACK").await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait_idle(&mut self) -> Result<TransactionStatus> {
        self.ready().await?;
        if !self.write_buf.is_empty() {
            // Closes queued by `ready` ride on the next command; send them now instead.
            frontend::sync(&mut self.write_buf);
            self.pending_syncs += 1;
            self.in_flight_simple = false;
            self.drain().await?;
        }
        Ok(self.tx_status)
    }

    /// Sets the per-query timeout (`None`: no limit). A command that runs longer is cancelled
    /// on the server and returns [`Error::Timeout`]; the connection stays usable. The default
    /// comes from [`crate::Config::query_timeout`] (`HYPERDJANGO_QUERY_TIMEOUT`).
    pub fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.query_timeout = timeout.filter(|t| !t.is_zero());
    }

    /// Records a ReadyForQuery: one Sync answered; with none left, the command's deadline ends.
    fn ready_for_query(&mut self, status: TransactionStatus) {
        self.pending_syncs = self.pending_syncs.saturating_sub(1);
        self.tx_status = status;
        if self.pending_syncs == 0 {
            self.deadline = None;
            self.cancel_sent = false;
        }
    }

    /// Starts the clock for the commands just queued.
    fn start_deadline(&mut self) {
        if let (Some(limit), None) = (self.query_timeout, self.deadline) {
            self.deadline = Some(Instant::now() + limit);
            self.cancel_sent = false;
        }
    }

    /// How many statements the connection's LRU cache holds.
    pub fn cached_statements(&self) -> usize {
        self.cache.len()
    }

    /// Whether the connection is unusable (server gone, protocol error, fatal error).
    pub fn is_closed(&self) -> bool {
        self.broken.is_some()
    }

    /// Replaces the handler for server notices (see [`default_notice_handler`]).
    pub fn set_notice_handler(&mut self, handler: impl Fn(&DbError) + Send + Sync + 'static) {
        self.notice_handler = Arc::new(handler);
    }

    /// Takes the notifications (LISTEN/NOTIFY) received so far.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.notifications.drain(..).collect()
    }

    /// Closes the connection cleanly: finishes any abandoned command, then sends Terminate.
    pub async fn close(mut self) -> Result<()> {
        if self.broken.is_some() {
            return Ok(());
        }
        self.ready().await?;
        frontend::terminate(&mut self.write_buf);
        self.flush().await?;
        let _ = self.stream.shutdown().await;
        self.broken = Some("the connection was closed".into());
        Ok(())
    }

    /// Marks the connection unusable and returns the error to report.
    fn fail(&mut self, error: Error) -> Error {
        if self.broken.is_none() {
            self.broken = Some(error.to_string());
        }
        error
    }

    fn fail_protocol(&mut self, e: ProtocolError) -> Error {
        self.fail(Error::Protocol(e))
    }

    /// Reports an error from the server. FATAL and PANIC end the session: the connection is
    /// marked unusable, since no ReadyForQuery will follow.
    fn db_error(&mut self, e: Box<DbError>) -> Error {
        if *e.code() == crate::sqlstate::SqlState::QUERY_CANCELED {
            if let Some(limit) = self.query_timeout {
                // Cancelled by our own timer, or by the server's statement_timeout set to the
                // same limit: either way the query ran out of time.
                if self.cancel_sent || self.deadline.is_some_and(|d| Instant::now() >= d) {
                    return Error::Timeout(format!(
                        "the query ran longer than query_timeout ({} ms) and was cancelled on the server",
                        limit.as_millis()
                    ));
                }
            }
        }
        match e.parsed_severity() {
            Some(Severity::Fatal | Severity::Panic) => {
                self.pending_syncs = 0;
                self.fail(Error::Db(e))
            }
            _ => Error::Db(e),
        }
    }

    /// Records the server's error for the command in flight in `slot` (the first one wins).
    /// An error that ended the session (FATAL, PANIC) is returned instead: the caller stops.
    fn note_error(&mut self, e: Box<DbError>, slot: &mut Option<Error>) -> Result<()> {
        let e = self.db_error(e);
        if self.broken.is_some() {
            return Err(e);
        }
        slot.get_or_insert(e);
        Ok(())
    }

    /// An unexpected message in the middle of an exchange: the stream can't be trusted.
    fn unexpected(&mut self, message: &Message, during: &str) -> Error {
        let name = message.name();
        self.fail_protocol(ProtocolError::new(format!(
            "unexpected {name} message during {during}"
        )))
    }

    /// Reads the next message that the caller must handle. Notices go to the notice handler,
    /// notifications to the queue, and parameter changes to the parameter map.
    async fn read_message(&mut self) -> Result<Message> {
        loop {
            match split_frame(&mut self.read_buf) {
                Ok(Some((tag, body))) => match Message::decode(tag, body) {
                    Ok(Message::NoticeResponse(notice)) => {
                        if let Some(left) = &mut self.startup_notices {
                            if *left == 0 {
                                return Err(self.fail_protocol(ProtocolError::new(format!(
                                    "the server sent more than {STARTUP_NOTICE_LIMIT} notices before the connection was ready"
                                ))));
                            }
                            *left -= 1;
                        }
                        (self.notice_handler)(&notice)
                    }
                    Ok(Message::NotificationResponse(n)) => self.notifications.push_back(n),
                    Ok(Message::ParameterStatus { name, value }) => {
                        self.parameters.insert(name, value);
                    }
                    Ok(message) => return Ok(message),
                    Err(e) => return Err(self.fail_protocol(e)),
                },
                Ok(None) => self.fill().await?,
                Err(e) => return Err(self.fail_protocol(e)),
            }
        }
    }

    /// Reads more bytes from the socket into the read buffer. When the command in flight has
    /// a deadline and it passes, a CancelRequest goes to the server and reading goes on: the
    /// server answers with query_canceled and ReadyForQuery, so the connection stays usable.
    /// If even that answer does not come within [`CANCEL_GRACE`], the server is unresponsive
    /// and the connection is given up.
    async fn fill(&mut self) -> Result<()> {
        if self.read_buf.capacity() - self.read_buf.len() < 4096 {
            self.read_buf.reserve(READ_CHUNK);
        }
        let read = loop {
            let Some(deadline) = self.deadline else {
                break self.stream.read_buf(&mut self.read_buf).await;
            };
            // `timeout_at` polls the read first, and a fast stream always has bytes ready:
            // check the clock explicitly so a deadline also ends a command that keeps sending.
            let expired = if Instant::now() >= deadline {
                Err(())
            } else {
                tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.read_buf))
                    .await
                    .map_err(|_| ())
            };
            match expired {
                Ok(read) => break read,
                Err(()) if !self.cancel_sent => {
                    self.cancel_sent = true;
                    self.cancel_resends = 0;
                    self.send_cancel().await;
                }
                Err(()) => {
                    let e = Error::Timeout(format!(
                        "the server at {} did not answer within {} s of cancelling a query that exceeded query_timeout",
                        self.endpoint,
                        CANCEL_GRACE.as_secs()
                    ));
                    return Err(self.fail(e));
                }
            }
        };
        if let (true, Ok(n @ 1..)) = (self.cancel_sent, &read) {
            // The grace is for a server that went silent: one still sending (the rows it had
            // produced before the cancel) is alive, so the grace starts again; but a server
            // still sending long after the cancel ignored it.
            self.read_after_cancel = self.read_after_cancel.saturating_add(*n);
            if self.read_after_cancel > CANCEL_RESEND_BYTES
                && self.cancelled_at.elapsed() > CANCEL_RESEND_AFTER
            {
                if self.cancel_resends == CANCEL_RESENDS {
                    let e = Error::Timeout(format!(
                        "the server at {} kept sending (more than {} MiB over more than {} s) after each of {} cancel requests for a query that exceeded query_timeout",
                        self.endpoint,
                        CANCEL_RESEND_BYTES >> 20,
                        CANCEL_RESEND_AFTER.as_secs(),
                        CANCEL_RESENDS + 1
                    ));
                    return Err(self.fail(e));
                }
                // The server may have ignored the cancel (see CANCEL_RESEND_AFTER): again.
                self.cancel_resends += 1;
                self.send_cancel().await;
            }
            self.deadline = Some(Instant::now() + CANCEL_GRACE);
        }
        match read {
            Ok(0) => {
                let e = Error::Closed(format!(
                    "the server at {} closed the connection unexpectedly",
                    self.endpoint
                ));
                Err(self.fail(e))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                let e = Error::io(format!("reading from {}", self.endpoint), e);
                Err(self.fail(e))
            }
        }
    }

    /// Sends a CancelRequest for the command in flight and waits until the server has
    /// processed it. Best effort, and bounded by [`CANCEL_GRACE`]: if the cancel cannot be
    /// delivered, the grace deadline that starts afterwards decides.
    async fn send_cancel(&mut self) {
        let token = self.cancel_token();
        // Boxed: the cancel future (a TLS handshake, when the connection uses TLS) is large,
        // and `fill` is inlined into every query's future.
        let _ = tokio::time::timeout(CANCEL_GRACE, Box::pin(token.cancel())).await;
        self.cancelled_at = Instant::now();
        self.read_after_cancel = 0;
        self.deadline = Some(self.cancelled_at + CANCEL_GRACE);
    }

    /// Writes the whole write buffer. Cancel safe: what was written is removed from the
    /// buffer, and what was not stays there for the next call.
    async fn flush(&mut self) -> Result<()> {
        while !self.write_buf.is_empty() {
            match self.stream.write_buf(&mut self.write_buf).await {
                Ok(0) => {
                    let e = Error::Closed(format!(
                        "the server at {} stopped accepting data",
                        self.endpoint
                    ));
                    return Err(self.fail(e));
                }
                Ok(_) => {}
                Err(e) => {
                    let e = Error::io(format!("writing to {}", self.endpoint), e);
                    return Err(self.fail(e));
                }
            }
        }
        Ok(())
    }

    /// Brings the connection to a clean state before a new command: finishes writing what an
    /// abandoned command left, reads and discards replies until every Sync is answered, and
    /// queues Close messages for dropped statements (they ride on the next write).
    async fn ready(&mut self) -> Result<()> {
        if let Some(why) = &self.broken {
            return Err(Error::Closed(why.clone()));
        }
        if self.open_batch {
            // A Sync now would commit the abandoned half of an atomic batch; closing the
            // connection makes the server roll it back.
            let e = Error::Closed(
                "an atomic batch was abandoned before its end; the connection was closed so the server rolls it back".into(),
            );
            let _ = self.stream.shutdown().await;
            return Err(self.fail(e));
        }
        // A portal stream dropped mid-way: close the portal and end its cycle. A COPY writer
        // dropped before finishing: abort the COPY.
        self.abandon_portal();
        self.abandon_copy_in();
        if self.pending_syncs > 0 || !self.write_buf.is_empty() {
            self.drain().await?;
        }
        if let Some(name) = self.preparing.take() {
            self.cache.close_later(name);
        }
        // An abandoned command's Parse may or may not have happened: close the name. Parses
        // not yet sent belong to a pipeline being built and stay.
        let mut i = 0;
        while i < self.pending_parses.len() {
            if self.pending_parses[i].sent {
                let parse = self.pending_parses.swap_remove(i);
                self.cache.close_later(parse.name);
            } else {
                i += 1;
            }
        }
        self.cache.drain_closes_into(&mut self.write_buf);
        self.close_queue.drain_into(&mut self.write_buf);
        Ok(())
    }

    async fn drain(&mut self) -> Result<()> {
        self.flush().await?;
        // An abandoned command that is still running would hold up this one for as long as
        // it runs: if it has not finished shortly, cancel it (nothing else is in flight).
        let soon = Instant::now() + DRAIN_CANCEL_AFTER;
        if self.pending_syncs > 0 && self.deadline.is_none_or(|d| d > soon) && !self.cancel_sent {
            self.deadline = Some(soon);
        }
        while self.pending_syncs > 0 {
            match self.read_message().await? {
                Message::ReadyForQuery(status) => self.ready_for_query(status),
                Message::CopyInResponse(_) => self.refuse_copy_in().await?,
                Message::ErrorResponse(e) => {
                    // The abandoned command's error belongs to nobody, unless it ended the session.
                    if matches!(e.parsed_severity(), Some(Severity::Fatal | Severity::Panic)) {
                        return Err(self.db_error(e));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Answers a COPY FROM STDIN the caller did not start through the COPY API with
    /// CopyFail. In the extended protocol the server ignored the Sync that followed Execute
    /// while it was in copy-in mode, so a new Sync replaces it.
    async fn refuse_copy_in(&mut self) -> Result<()> {
        frontend::copy_fail(
            "COPY FROM STDIN is not supported by this call",
            &mut self.write_buf,
        )?;
        if !self.in_flight_simple {
            frontend::sync(&mut self.write_buf);
        }
        self.flush().await
    }
}

/// Parses `server_version` ("15.18 (Debian 15.18-0+deb12u1)", "9.6.24", "18beta1") into
/// PostgreSQL's `server_version_num` form.
fn parse_server_version(v: &str) -> Option<u32> {
    let v = v
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    if major < 10 {
        // Before 10 the version had three parts: 9.6.24 is 90624.
        let patch = parts.next().flatten().unwrap_or(0);
        return Some(major * 10000 + minor * 100 + patch);
    }
    Some(major * 10000 + minor)
}

impl Drop for Connection {
    /// Sends Terminate if that can be done without waiting, so the server logs a clean exit.
    fn drop(&mut self) {
        if self.broken.is_none() && self.write_buf.is_empty() {
            let _ = self.stream.try_write(b"X\0\0\0\x04");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_server_version;

    #[test]
    fn server_versions() {
        assert_eq!(
            parse_server_version("15.18 (Debian 15.18-0+deb12u1)"),
            Some(150018)
        );
        assert_eq!(parse_server_version("9.6.24"), Some(90624));
        assert_eq!(parse_server_version("18beta1"), Some(180000));
        assert_eq!(parse_server_version("10.1"), Some(100001));
        assert_eq!(parse_server_version("devel"), None);
    }
}
