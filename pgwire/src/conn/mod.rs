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

mod idle;
mod pending;
mod query;
mod startup;
mod stream;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use self::query::Params;
pub use self::startup::CancelToken;
use self::stream::Stream;
use crate::db_error::{DbError, Severity};
use crate::error::{Error, Result};
use crate::proto::ProtocolError;
use crate::proto::backend::{Message, Notification, TransactionStatus, split_frame};
use crate::proto::frontend;
use crate::statement::CloseQueue;

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
    target: Option<(crate::config::Host, u16)>,
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
    close_queue: Arc<CloseQueue>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
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
            close_queue: Arc::new(CloseQueue::default()),
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
        let v = self.parameter("server_version")?;
        let v = v
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?;
        let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next().flatten().unwrap_or(0);
        Some(major * 10000 + minor)
    }

    /// The backend's process id (as `pg_backend_pid()` returns).
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// The negotiated protocol minor version (0 for 3.0, 2 for 3.2).
    pub fn protocol_minor_version(&self) -> u16 {
        self.protocol_minor
    }

    /// The transaction status from the last ReadyForQuery.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.tx_status
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
        match e.parsed_severity() {
            Some(Severity::Fatal | Severity::Panic) => {
                self.pending_syncs = 0;
                self.fail(Error::Db(e))
            }
            _ => Error::Db(e),
        }
    }

    /// An unexpected message in the middle of an exchange: the stream can't be trusted.
    fn unexpected(&mut self, message: &Message, during: &str) -> Error {
        let name = format!("{message:?}");
        let name = name.split(['(', ' ', '{']).next().unwrap_or("?").to_owned();
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
                    Ok(Message::NoticeResponse(notice)) => (self.notice_handler)(&notice),
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

    /// Reads more bytes from the socket into the read buffer.
    async fn fill(&mut self) -> Result<()> {
        if self.read_buf.capacity() - self.read_buf.len() < 4096 {
            self.read_buf.reserve(READ_CHUNK);
        }
        match self.stream.read_buf(&mut self.read_buf).await {
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
        if self.pending_syncs > 0 || !self.write_buf.is_empty() {
            self.drain().await?;
        }
        self.close_queue.drain_into(&mut self.write_buf);
        Ok(())
    }

    async fn drain(&mut self) -> Result<()> {
        self.flush().await?;
        while self.pending_syncs > 0 {
            match self.read_message().await? {
                Message::ReadyForQuery(status) => {
                    self.pending_syncs -= 1;
                    self.tx_status = status;
                }
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

impl Drop for Connection {
    /// Sends Terminate if that can be done without waiting, so the server logs a clean exit.
    fn drop(&mut self) {
        if self.broken.is_none() && self.write_buf.is_empty() {
            let _ = self.stream.try_write(b"X\0\0\0\x04");
        }
    }
}
