//! Decoding of every backend (server-to-client) message of protocol 3.x.
//!
//! Decoding is two steps, both free of I/O:
//!
//! 1. [`split_frame`] takes one complete message off the front of a read buffer, checking the
//!    length field against [`MAX_MESSAGE_LEN`] before anything is allocated for it;
//! 2. [`Message::decode`] turns the tag and body into a [`Message`], validating every length,
//!    count and string against the bytes that are really there.
//!
//! Bodies are [`Bytes`] split off the read buffer, so no message is copied. A [`DataRow`] is
//! the body plus an inline table of field offsets: there is no allocation per field, and a
//! field's value is a borrowed `&[u8]` (or a `Bytes` view) into the row.
//!
//! Hostile input is an error, never a panic: a truncated body, a length that lies, a count
//! larger than the body, an unknown tag or a non-UTF-8 string each give a [`ProtocolError`]
//! that names the message and what was wrong.
//!
//! ```
//! use bytes::BytesMut;
//! use hyperdjango_pgwire::proto::backend::{split_frame, Message};
//!
//! let mut buf = BytesMut::from(&b"D\0\0\0\x0f\0\x02\0\0\0\x01a\xff\xff\xff\xffZ\0\0\0\x05I"[..]);
//! let (tag, body) = split_frame(&mut buf).unwrap().unwrap();
//! let Message::DataRow(row) = Message::decode(tag, body).unwrap() else { unreachable!() };
//! assert_eq!(row.get(0), Some(Some(&b"a"[..])));
//! assert_eq!(row.get(1), Some(None));
//! let (tag, body) = split_frame(&mut buf).unwrap().unwrap();
//! assert!(matches!(Message::decode(tag, body).unwrap(), Message::ReadyForQuery(_)));
//! ```

use bytes::{Buf, Bytes, BytesMut};
use smallvec::SmallVec;

use super::ProtocolError;
use crate::db_error::DbError;
use crate::types::Oid;

/// The largest message this client accepts: 1 GiB, PostgreSQL's own limit for a field value.
/// A length field above it is treated as corruption instead of an allocation request.
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

/// The smallest step by which [`split_frame`] grows a buffer that holds part of a message.
const MIN_RESERVE: usize = 64 * 1024;

/// Takes one complete message (tag and body) off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole message; in that case it reserves
/// room for more of it (geometrically, bounded by what has arrived), so the caller's next read
/// can fill it.
///
/// ```
/// use bytes::BytesMut;
/// use hyperdjango_pgwire::proto::backend::split_frame;
///
/// let mut buf = BytesMut::from(&b"Z\0\0\0\x05"[..]);
/// assert!(split_frame(&mut buf).unwrap().is_none()); // body byte still missing
/// buf.extend_from_slice(b"I");
/// let (tag, body) = split_frame(&mut buf).unwrap().unwrap();
/// assert_eq!((tag, &body[..]), (b'Z', &b"I"[..]));
/// ```
#[inline]
pub fn split_frame(buf: &mut BytesMut) -> Result<Option<(u8, Bytes)>, ProtocolError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let tag = buf[0];
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 {
        return Err(ProtocolError::new(format!(
            "message '{}' has length {len}, below the minimum of 4",
            tag_name(tag)
        )));
    }
    let len = len as usize;
    if len > MAX_MESSAGE_LEN {
        return Err(ProtocolError::new(format!(
            "message '{}' claims {len} bytes, over the {MAX_MESSAGE_LEN}-byte limit",
            tag_name(tag)
        )));
    }
    let total = 1 + len;
    if buf.len() < total {
        // Grow with the bytes that really arrive, not with what the length field claims: a
        // hostile server announcing 1 GiB and sending nothing costs at most twice what it sent.
        let missing = total - buf.len();
        buf.reserve(missing.min(buf.len().max(MIN_RESERVE)));
        return Ok(None);
    }
    let mut frame = buf.split_to(total);
    frame.advance(5);
    Ok(Some((tag, frame.freeze())))
}

fn tag_name(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        (tag as char).to_string()
    } else {
        format!("\\x{tag:02x}")
    }
}

/// The transaction status that ReadyForQuery reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Not in a transaction block.
    Idle,
    /// In a transaction block.
    InTransaction,
    /// In a failed transaction block: queries are rejected until it ends.
    Failed,
}

/// Describes one result column (one entry of RowDescription).
///
/// ```
/// # use hyperdjango_pgwire::proto::backend::FieldDescription;
/// fn show(c: &FieldDescription) -> String { format!("{} (oid {})", c.name(), c.type_oid()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    name: String,
    table_oid: Oid,
    column_id: i16,
    type_oid: Oid,
    type_size: i16,
    type_modifier: i32,
    format: i16,
}

impl FieldDescription {
    /// The column's name (or alias) in the result.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The OID of the table the column comes from, or 0.
    pub fn table_oid(&self) -> Oid {
        self.table_oid
    }
    /// The column's attribute number in that table, or 0.
    pub fn column_id(&self) -> i16 {
        self.column_id
    }
    /// The OID of the column's data type.
    pub fn type_oid(&self) -> Oid {
        self.type_oid
    }
    /// The type's size (`pg_type.typlen`); negative for variable-width types.
    pub fn type_size(&self) -> i16 {
        self.type_size
    }
    /// The type modifier (`pg_attribute.atttypmod`), e.g. varchar's length + 4, or -1.
    pub fn type_modifier(&self) -> i32 {
        self.type_modifier
    }
    /// The format code: 0 text, 1 binary. Statement descriptions always say 0.
    pub fn format(&self) -> i16 {
        self.format
    }
    /// A binary-format description for a column known only by name and type (the rows of a
    /// binary COPY, for example).
    pub fn synthetic(name: String, type_oid: Oid) -> FieldDescription {
        FieldDescription {
            name,
            table_oid: 0,
            column_id: 0,
            type_oid,
            type_size: -1,
            type_modifier: -1,
            format: 1,
        }
    }

    /// Returns a copy with the format set (the Describe of a statement reports text; the
    /// connection records the format it asks for in Bind).
    pub fn with_format(mut self, format: i16) -> Self {
        self.format = format;
        self
    }
}

/// One result row: the message body plus field offsets. Values borrow from it.
///
/// ```
/// use bytes::Bytes;
/// use hyperdjango_pgwire::proto::backend::DataRow;
///
/// let row = DataRow::parse(Bytes::from_static(b"\0\x01\0\0\0\x02hi")).unwrap();
/// assert_eq!(row.len(), 1);
/// assert_eq!(row.get(0), Some(Some(&b"hi"[..])));
/// ```
#[derive(Debug, Clone)]
pub struct DataRow {
    body: Bytes,
    /// Where each field's value starts in `body`. Its length is the 4 bytes just before
    /// (-1 for NULL), validated by `parse`: keeping only the start keeps a row small, which
    /// matters when a million of them are collected.
    starts: SmallVec<[u32; 14]>,
}

impl DataRow {
    /// Parses a DataRow body, checking every field length against the bytes present.
    pub fn parse(body: Bytes) -> Result<DataRow, ProtocolError> {
        let bad = |what: String| ProtocolError::new(format!("malformed DataRow: {what}"));
        if body.len() < 2 {
            return Err(bad(format!(
                "body of {} bytes has no field count",
                body.len()
            )));
        }
        let count = i16::from_be_bytes([body[0], body[1]]);
        if count < 0 {
            return Err(bad(format!("negative field count {count}")));
        }
        let count = count as usize;
        // Each field needs at least its 4-byte length: reject impossible counts before
        // reserving room for them.
        if count * 4 > body.len() - 2 {
            return Err(bad(format!(
                "{count} fields cannot fit in {} bytes",
                body.len() - 2
            )));
        }
        let mut starts = SmallVec::with_capacity(count);
        let mut pos = 2usize;
        for i in 0..count {
            let Some(len_bytes) = body.get(pos..pos + 4) else {
                return Err(bad(format!("field {i}'s length is cut off")));
            };
            let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
            pos += 4;
            starts.push(pos as u32);
            if len == -1 {
                continue;
            }
            if len < 0 {
                return Err(bad(format!("field {i} has invalid length {len}")));
            }
            let remaining = body.len() - pos;
            if len as usize > remaining {
                return Err(bad(format!(
                    "field {i} claims {len} bytes but only {remaining} remain"
                )));
            }
            pos += len as usize;
        }
        if pos != body.len() {
            return Err(bad(format!(
                "{} unexpected bytes after the last field",
                body.len() - pos
            )));
        }
        Ok(DataRow { body, starts })
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the row has no fields.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Field `i`'s position in the body: `Some(None)` for NULL.
    #[inline]
    fn range(&self, i: usize) -> Option<Option<std::ops::Range<usize>>> {
        let start = *self.starts.get(i)? as usize;
        // `parse` checked that the 4 bytes before `start` hold the length and that the value
        // fits; `get` keeps this free of any panic path all the same.
        let len = self.body.get(start.checked_sub(4)?..start)?;
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        if len < 0 {
            return Some(None);
        }
        Some(Some(start..start + len as usize))
    }

    /// Field `i`: `None` if out of range, `Some(None)` for NULL, else the value's bytes.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Option<&[u8]>> {
        match self.range(i)? {
            None => Some(None),
            Some(r) => self.body.get(r).map(Some),
        }
    }

    /// Like [`DataRow::get`] but returns a `Bytes` view sharing the row's buffer.
    pub fn get_bytes(&self, i: usize) -> Option<Option<Bytes>> {
        match self.range(i)? {
            None => Some(None),
            Some(r) => Some(Some(self.body.slice(r))),
        }
    }

    /// The raw message body, shared.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// The tag of CommandComplete, e.g. `INSERT 0 3` or `CREATE TABLE`.
///
/// ```
/// use bytes::Bytes;
/// use hyperdjango_pgwire::proto::backend::CommandTag;
///
/// let tag = CommandTag::parse(Bytes::from_static(b"INSERT 0 3\0")).unwrap();
/// assert_eq!(tag.as_str(), "INSERT 0 3");
/// assert_eq!(tag.rows_affected(), Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTag {
    tag: Bytes,
}

impl CommandTag {
    /// Parses a CommandComplete body (a NUL-terminated ASCII string).
    pub fn parse(body: Bytes) -> Result<CommandTag, ProtocolError> {
        let mut r = Reader::new(&body, "CommandComplete");
        let len = r.cstr()?.len();
        r.finish()?;
        Ok(CommandTag {
            tag: body.slice(..len),
        })
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        // Validated as UTF-8 in `parse`.
        std::str::from_utf8(&self.tag).unwrap_or_default()
    }

    /// The command word: `INSERT`, `SELECT`, `CREATE TABLE`, ...
    pub fn command(&self) -> &str {
        let s = self.as_str();
        match s.rsplit_once(' ') {
            Some((head, last)) if last.bytes().all(|b| b.is_ascii_digit()) && !last.is_empty() => {
                // INSERT carries "oid rows": strip the oid as well.
                match head.rsplit_once(' ') {
                    Some((cmd, oid))
                        if cmd == "INSERT" && oid.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        cmd
                    }
                    _ => head,
                }
            }
            _ => s,
        }
    }

    /// The row count for commands that report one (INSERT, UPDATE, DELETE, MERGE, SELECT,
    /// MOVE, FETCH, COPY); `None` for others.
    pub fn rows_affected(&self) -> Option<u64> {
        let s = self.as_str();
        let (head, last) = s.rsplit_once(' ')?;
        let rows: u64 = last.parse().ok()?;
        let cmd = head.split(' ').next()?;
        matches!(
            cmd,
            "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "SELECT" | "MOVE" | "FETCH" | "COPY"
        )
        .then_some(rows)
    }
}

/// A NOTIFY delivered to this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The process id of the notifying backend.
    pub process_id: i32,
    /// The channel name.
    pub channel: String,
    /// The payload ("" when none was given).
    pub payload: String,
}

/// The body of CopyInResponse, CopyOutResponse and CopyBothResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResponse {
    /// 0 for text/CSV, 1 for binary.
    pub format: i8,
    /// The per-column format codes.
    pub column_formats: Vec<i16>,
}

/// The secret key of BackendKeyData: a credential (it lets anyone cancel the backend's
/// queries), so `Debug` shows only its length.
///
/// ```
/// use bytes::Bytes;
/// use hyperdjango_pgwire::proto::backend::SecretKey;
///
/// let key = SecretKey::new(Bytes::from_static(b"\x01\x02\x03\x04"));
/// assert_eq!(key.as_bytes(), b"\x01\x02\x03\x04");
/// assert_eq!(format!("{key:?}"), "SecretKey(<4 bytes>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Bytes);

impl SecretKey {
    /// Wraps key bytes.
    pub fn new(key: Bytes) -> SecretKey {
        SecretKey(key)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key as shared bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(<{} bytes>)", self.0.len())
    }
}

/// One backend message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Message {
    /// Authentication succeeded.
    AuthenticationOk,
    /// Kerberos V5 is required (unsupported since PostgreSQL 9.3).
    AuthenticationKerberosV5,
    /// A cleartext password is required.
    AuthenticationCleartextPassword,
    /// An MD5-hashed password is required, salted with these bytes.
    AuthenticationMd5Password {
        /// The salt.
        salt: [u8; 4],
    },
    /// GSSAPI authentication is required.
    AuthenticationGss,
    /// GSSAPI or SSPI continuation data.
    AuthenticationGssContinue(Bytes),
    /// SSPI authentication is required.
    AuthenticationSspi,
    /// SASL authentication: the list of mechanisms (NUL-terminated names, then a NUL).
    AuthenticationSasl(Bytes),
    /// SASL challenge data.
    AuthenticationSaslContinue(Bytes),
    /// SASL outcome data.
    AuthenticationSaslFinal(Bytes),
    /// Cancellation key data: process id and secret key (4 bytes, or up to 256 in 3.2).
    BackendKeyData {
        /// The backend's process id.
        process_id: i32,
        /// The secret key.
        secret_key: SecretKey,
    },
    /// Bind completed.
    BindComplete,
    /// Close completed.
    CloseComplete,
    /// A command completed, with its tag.
    CommandComplete(CommandTag),
    /// COPY data.
    CopyData(Bytes),
    /// The COPY TO STDOUT stream ended.
    CopyDone,
    /// The server is ready for COPY FROM STDIN data.
    CopyInResponse(CopyResponse),
    /// The server starts a COPY TO STDOUT stream.
    CopyOutResponse(CopyResponse),
    /// Both-direction COPY started (replication).
    CopyBothResponse(CopyResponse),
    /// A result row.
    DataRow(DataRow),
    /// The query string was empty.
    EmptyQueryResponse,
    /// An error.
    ErrorResponse(Box<DbError>),
    /// The result of a FunctionCall: `None` for NULL.
    FunctionCallResponse(Option<Bytes>),
    /// The server does not support the requested minor version or protocol options.
    NegotiateProtocolVersion {
        /// The newest minor version of protocol 3 the server supports.
        newest_minor: i32,
        /// Protocol options the server did not recognise.
        unrecognized: Vec<String>,
    },
    /// The statement returns no rows.
    NoData,
    /// A notice (warning, info) that is not an error.
    NoticeResponse(Box<DbError>),
    /// A NOTIFY for a channel this session listens on.
    NotificationResponse(Notification),
    /// The parameter types of a prepared statement.
    ParameterDescription(Vec<Oid>),
    /// A run-time parameter's current value (server_version, TimeZone, ...).
    ParameterStatus {
        /// The parameter's name.
        name: String,
        /// Its value.
        value: String,
    },
    /// Parse completed.
    ParseComplete,
    /// Execute stopped at its row limit; the portal can run again.
    PortalSuspended,
    /// The server is ready for a new query.
    ReadyForQuery(TransactionStatus),
    /// The columns of the rows to come.
    RowDescription(Vec<FieldDescription>),
}

impl Message {
    /// The message's name, as the protocol documentation spells it.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::backend::Message;
    /// assert_eq!(Message::NoData.name(), "NoData");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Message::AuthenticationOk => "AuthenticationOk",
            Message::AuthenticationKerberosV5 => "AuthenticationKerberosV5",
            Message::AuthenticationCleartextPassword => "AuthenticationCleartextPassword",
            Message::AuthenticationMd5Password { .. } => "AuthenticationMD5Password",
            Message::AuthenticationGss => "AuthenticationGSS",
            Message::AuthenticationGssContinue(_) => "AuthenticationGSSContinue",
            Message::AuthenticationSspi => "AuthenticationSSPI",
            Message::AuthenticationSasl(_) => "AuthenticationSASL",
            Message::AuthenticationSaslContinue(_) => "AuthenticationSASLContinue",
            Message::AuthenticationSaslFinal(_) => "AuthenticationSASLFinal",
            Message::BackendKeyData { .. } => "BackendKeyData",
            Message::BindComplete => "BindComplete",
            Message::CloseComplete => "CloseComplete",
            Message::CommandComplete(_) => "CommandComplete",
            Message::CopyData(_) => "CopyData",
            Message::CopyDone => "CopyDone",
            Message::CopyInResponse(_) => "CopyInResponse",
            Message::CopyOutResponse(_) => "CopyOutResponse",
            Message::CopyBothResponse(_) => "CopyBothResponse",
            Message::DataRow(_) => "DataRow",
            Message::EmptyQueryResponse => "EmptyQueryResponse",
            Message::ErrorResponse(_) => "ErrorResponse",
            Message::FunctionCallResponse(_) => "FunctionCallResponse",
            Message::NegotiateProtocolVersion { .. } => "NegotiateProtocolVersion",
            Message::NoData => "NoData",
            Message::NoticeResponse(_) => "NoticeResponse",
            Message::NotificationResponse(_) => "NotificationResponse",
            Message::ParameterDescription(_) => "ParameterDescription",
            Message::ParameterStatus { .. } => "ParameterStatus",
            Message::ParseComplete => "ParseComplete",
            Message::PortalSuspended => "PortalSuspended",
            Message::ReadyForQuery(_) => "ReadyForQuery",
            Message::RowDescription(_) => "RowDescription",
        }
    }

    /// Decodes the body of a message with the given tag.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use hyperdjango_pgwire::proto::backend::Message;
    ///
    /// let m = Message::decode(b'S', Bytes::from_static(b"TimeZone\0UTC\0")).unwrap();
    /// assert!(matches!(m, Message::ParameterStatus { ref name, ref value } if name == "TimeZone" && value == "UTC"));
    /// assert!(Message::decode(b'?', Bytes::new()).is_err());
    /// ```
    pub fn decode(tag: u8, body: Bytes) -> Result<Message, ProtocolError> {
        let empty = |m: Message, name: &str| {
            if body.is_empty() {
                Ok(m)
            } else {
                Err(ProtocolError::new(format!(
                    "{name} carries {} unexpected bytes",
                    body.len()
                )))
            }
        };
        match tag {
            b'D' => DataRow::parse(body).map(Message::DataRow),
            b'C' => CommandTag::parse(body).map(Message::CommandComplete),
            b'Z' => decode_ready_for_query(&body),
            b'2' => empty(Message::BindComplete, "BindComplete"),
            b'1' => empty(Message::ParseComplete, "ParseComplete"),
            b'3' => empty(Message::CloseComplete, "CloseComplete"),
            b'n' => empty(Message::NoData, "NoData"),
            b'I' => empty(Message::EmptyQueryResponse, "EmptyQueryResponse"),
            b's' => empty(Message::PortalSuspended, "PortalSuspended"),
            b'c' => empty(Message::CopyDone, "CopyDone"),
            b'd' => Ok(Message::CopyData(body)),
            b'T' => decode_row_description(&body),
            b't' => decode_parameter_description(&body),
            b'E' => DbError::parse(&body).map(|e| Message::ErrorResponse(Box::new(e))),
            b'N' => DbError::parse(&body).map(|e| Message::NoticeResponse(Box::new(e))),
            b'S' => {
                let mut r = Reader::new(&body, "ParameterStatus");
                let name = r.cstr()?.to_owned();
                let value = r.cstr()?.to_owned();
                r.finish()?;
                Ok(Message::ParameterStatus { name, value })
            }
            b'A' => {
                let mut r = Reader::new(&body, "NotificationResponse");
                let process_id = r.i32()?;
                let channel = r.cstr()?.to_owned();
                let payload = r.cstr()?.to_owned();
                r.finish()?;
                Ok(Message::NotificationResponse(Notification {
                    process_id,
                    channel,
                    payload,
                }))
            }
            b'K' => {
                let mut r = Reader::new(&body, "BackendKeyData");
                let process_id = r.i32()?;
                let key_len = r.remaining();
                if !(4..=256).contains(&key_len) {
                    return Err(ProtocolError::new(format!(
                        "BackendKeyData secret key of {key_len} bytes (expected 4 to 256)"
                    )));
                }
                Ok(Message::BackendKeyData {
                    process_id,
                    secret_key: SecretKey(body.slice(4..)),
                })
            }
            b'R' => decode_authentication(body),
            b'G' => decode_copy_response(&body, "CopyInResponse").map(Message::CopyInResponse),
            b'H' => decode_copy_response(&body, "CopyOutResponse").map(Message::CopyOutResponse),
            b'W' => decode_copy_response(&body, "CopyBothResponse").map(Message::CopyBothResponse),
            b'v' => {
                let mut r = Reader::new(&body, "NegotiateProtocolVersion");
                // Servers send the full version number (major << 16 | minor), as the
                // StartupMessage carries it; the documentation calls it the minor version.
                // Accept both spellings, but only for major version 3.
                let raw = r.i32()?;
                let newest_minor = match raw >> 16 {
                    0 | 3 => raw & 0xFFFF,
                    _ => {
                        return Err(ProtocolError::new(format!(
                            "NegotiateProtocolVersion names protocol {}.{}, not 3.x",
                            raw >> 16,
                            raw & 0xFFFF
                        )));
                    }
                };
                let n = r.count_i32("option count", 1)?;
                let mut unrecognized = Vec::with_capacity(n);
                for _ in 0..n {
                    unrecognized.push(r.cstr()?.to_owned());
                }
                r.finish()?;
                Ok(Message::NegotiateProtocolVersion {
                    newest_minor,
                    unrecognized,
                })
            }
            b'V' => {
                let mut r = Reader::new(&body, "FunctionCallResponse");
                let len = r.i32()?;
                if len == -1 {
                    r.finish()?;
                    return Ok(Message::FunctionCallResponse(None));
                }
                let len = usize::try_from(len).map_err(|_| {
                    ProtocolError::new(format!("FunctionCallResponse has invalid length {len}"))
                })?;
                r.take(len)?;
                r.finish()?;
                Ok(Message::FunctionCallResponse(Some(body.slice(4..4 + len))))
            }
            other => Err(ProtocolError::new(format!(
                "unknown message type '{}' ({} bytes)",
                tag_name(other),
                body.len()
            ))),
        }
    }
}

fn decode_ready_for_query(body: &[u8]) -> Result<Message, ProtocolError> {
    let status = match body {
        [b'I'] => TransactionStatus::Idle,
        [b'T'] => TransactionStatus::InTransaction,
        [b'E'] => TransactionStatus::Failed,
        _ => {
            return Err(ProtocolError::new(format!(
                "ReadyForQuery with invalid status {body:?}"
            )));
        }
    };
    Ok(Message::ReadyForQuery(status))
}

fn decode_row_description(body: &[u8]) -> Result<Message, ProtocolError> {
    let mut r = Reader::new(body, "RowDescription");
    // Each field takes at least 19 bytes (empty name + 18 fixed bytes).
    let n = r.count_i16("field count", 19)?;
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        fields.push(FieldDescription {
            name: r.cstr()?.to_owned(),
            table_oid: r.u32()?,
            column_id: r.i16()?,
            type_oid: r.u32()?,
            type_size: r.i16()?,
            type_modifier: r.i32()?,
            format: r.i16()?,
        });
    }
    r.finish()?;
    Ok(Message::RowDescription(fields))
}

fn decode_parameter_description(body: &[u8]) -> Result<Message, ProtocolError> {
    let mut r = Reader::new(body, "ParameterDescription");
    // The count is a uint16 on the wire since PostgreSQL 14 allows 65535 parameters.
    let n = r.u16()? as usize;
    r.need(n * 4, "parameter types")?;
    let mut oids = Vec::with_capacity(n);
    for _ in 0..n {
        oids.push(r.u32()?);
    }
    r.finish()?;
    Ok(Message::ParameterDescription(oids))
}

fn decode_copy_response(body: &[u8], name: &'static str) -> Result<CopyResponse, ProtocolError> {
    let mut r = Reader::new(body, name);
    let format = r.u8()? as i8;
    let n = r.count_i16("column count", 2)?;
    let mut column_formats = Vec::with_capacity(n);
    for _ in 0..n {
        column_formats.push(r.i16()?);
    }
    r.finish()?;
    Ok(CopyResponse {
        format,
        column_formats,
    })
}

fn decode_authentication(body: Bytes) -> Result<Message, ProtocolError> {
    let mut r = Reader::new(&body, "Authentication");
    let code = r.i32()?;
    let rest = || body.slice(4..);
    let m = match code {
        0 => Message::AuthenticationOk,
        2 => Message::AuthenticationKerberosV5,
        3 => Message::AuthenticationCleartextPassword,
        5 => {
            let s = r.take(4)?;
            Message::AuthenticationMd5Password {
                salt: [s[0], s[1], s[2], s[3]],
            }
        }
        7 => Message::AuthenticationGss,
        8 => return Ok(Message::AuthenticationGssContinue(rest())),
        9 => Message::AuthenticationSspi,
        10 => return Ok(Message::AuthenticationSasl(rest())),
        11 => return Ok(Message::AuthenticationSaslContinue(rest())),
        12 => return Ok(Message::AuthenticationSaslFinal(rest())),
        other => {
            return Err(ProtocolError::new(format!(
                "unknown authentication request code {other}"
            )));
        }
    };
    r.finish()?;
    Ok(m)
}

/// A bounds-checked cursor over a message body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn need(&self, n: usize, field: &str) -> Result<(), ProtocolError> {
        if n > self.remaining() {
            return Err(ProtocolError::new(format!(
                "malformed {}: {field} needs {n} bytes but only {} remain",
                self.what,
                self.remaining()
            )));
        }
        Ok(())
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        self.need(n, "a field")?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, ProtocolError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn u16(&mut self) -> Result<u16, ProtocolError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, ProtocolError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32(&mut self) -> Result<u32, ProtocolError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a non-negative i16 count whose items take at least `min_item` bytes each.
    fn count_i16(&mut self, field: &str, min_item: usize) -> Result<usize, ProtocolError> {
        let n = self.i16()?;
        self.check_count(n as i64, field, min_item)
    }

    fn count_i32(&mut self, field: &str, min_item: usize) -> Result<usize, ProtocolError> {
        let n = self.i32()?;
        self.check_count(n as i64, field, min_item)
    }

    fn check_count(&self, n: i64, field: &str, min_item: usize) -> Result<usize, ProtocolError> {
        if n < 0 {
            return Err(ProtocolError::new(format!(
                "malformed {}: negative {field} {n}",
                self.what
            )));
        }
        let n = n as usize;
        if n.saturating_mul(min_item) > self.remaining() {
            return Err(ProtocolError::new(format!(
                "malformed {}: {field} {n} cannot fit in {} bytes",
                self.what,
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// Reads a NUL-terminated UTF-8 string.
    pub(crate) fn cstr(&mut self) -> Result<&'a str, ProtocolError> {
        let rest = &self.buf[self.pos..];
        let Some(end) = memchr::memchr(0, rest) else {
            return Err(ProtocolError::new(format!(
                "malformed {}: string is not NUL-terminated",
                self.what
            )));
        };
        let s = std::str::from_utf8(&rest[..end]).map_err(|e| {
            ProtocolError::new(format!(
                "malformed {}: string is not valid UTF-8 ({e})",
                self.what
            ))
        })?;
        self.pos += end + 1;
        Ok(s)
    }

    /// Whether every byte has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub(crate) fn finish(&self) -> Result<(), ProtocolError> {
        if !self.is_done() {
            return Err(ProtocolError::new(format!(
                "malformed {}: {} unexpected trailing bytes",
                self.what,
                self.remaining()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8, body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.extend_from_slice(&[tag]);
        b.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        b.extend_from_slice(body);
        b
    }

    fn decode(tag: u8, body: &[u8]) -> Result<Message, ProtocolError> {
        let mut b = frame(tag, body);
        let (t, body) = split_frame(&mut b)?.expect("complete frame");
        Message::decode(t, body)
    }

    #[test]
    fn truncated_frames_wait_for_more() {
        let full = frame(b'C', b"SELECT 1\0");
        for cut in 0..full.len() {
            let mut b = BytesMut::from(&full[..cut]);
            assert!(split_frame(&mut b).unwrap().is_none(), "cut at {cut}");
            assert_eq!(b.len(), cut, "nothing consumed");
        }
    }

    #[test]
    fn lying_and_huge_lengths_are_errors() {
        let mut b = BytesMut::from(&b"Z\0\0\0\x02"[..]);
        assert!(
            split_frame(&mut b)
                .unwrap_err()
                .to_string()
                .contains("below the minimum")
        );
        let mut b = BytesMut::from(&b"D\x7f\xff\xff\xff"[..]);
        let e = split_frame(&mut b).unwrap_err().to_string();
        assert!(e.contains("over the 1073741824-byte limit"), "{e}");
        assert!(b.capacity() < 1 << 20, "no allocation for the claimed size");
        let mut b = BytesMut::from(&b"D\xff\xff\xff\xff"[..]);
        assert!(split_frame(&mut b).is_err());
        // Just under the limit: accepted as a length, but memory follows the bytes received.
        let mut b = BytesMut::from(&b"D\x3f\xff\xff\xff\0\x01"[..]);
        assert!(split_frame(&mut b).unwrap().is_none());
        assert!(b.capacity() <= 2 * MIN_RESERVE, "capacity {}", b.capacity());
    }

    #[test]
    fn unknown_tag() {
        let e = decode(b'@', b"x").unwrap_err().to_string();
        assert!(e.contains("unknown message type '@'"), "{e}");
        assert!(decode(0x01, b"").unwrap_err().to_string().contains("\\x01"));
    }

    #[test]
    fn data_row_bad_shapes() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "no field count"),
            (b"\xff\xff", "negative field count"),
            (b"\0\x05\0\0\0\0", "cannot fit"),
            (b"\0\x01\0\0\0\x09abc", "claims 9 bytes but only 3 remain"),
            (b"\0\x01\xff\xff\xff\xfe", "invalid length -2"),
            (b"\0\x01\0\0\0\x01ab", "unexpected bytes"),
            (b"\0\x02\0\0\0\x01a\0\0\0", "cut off"),
        ];
        for (body, want) in cases {
            let e = DataRow::parse(Bytes::copy_from_slice(body))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{body:?}: {e}");
        }
    }

    #[test]
    fn data_row_many_fields_and_views() {
        assert!(
            std::mem::size_of::<DataRow>() <= 96,
            "a DataRow stays small: {} bytes",
            std::mem::size_of::<DataRow>()
        );
        let mut body = vec![0u8, 40];
        for i in 0..40u8 {
            if i % 3 == 0 {
                body.extend_from_slice(&(-1i32).to_be_bytes());
            } else {
                body.extend_from_slice(&1i32.to_be_bytes());
                body.push(i);
            }
        }
        let row = DataRow::parse(Bytes::from(body)).unwrap();
        assert_eq!(row.len(), 40);
        for i in 0..40usize {
            let want = if i % 3 == 0 {
                None
            } else {
                Some(&[i as u8][..])
            };
            assert_eq!(row.get(i), Some(want));
            assert_eq!(row.get_bytes(i).unwrap().as_deref(), want);
        }
        assert_eq!(row.get(40), None);
    }

    #[test]
    fn every_simple_message() {
        assert!(matches!(decode(b'2', b"").unwrap(), Message::BindComplete));
        assert!(matches!(decode(b'1', b"").unwrap(), Message::ParseComplete));
        assert!(matches!(decode(b'3', b"").unwrap(), Message::CloseComplete));
        assert!(matches!(decode(b'n', b"").unwrap(), Message::NoData));
        assert!(matches!(
            decode(b'I', b"").unwrap(),
            Message::EmptyQueryResponse
        ));
        assert!(matches!(
            decode(b's', b"").unwrap(),
            Message::PortalSuspended
        ));
        assert!(matches!(decode(b'c', b"").unwrap(), Message::CopyDone));
        assert!(decode(b'2', b"x").is_err());
        assert!(matches!(decode(b'd', b"abc").unwrap(), Message::CopyData(b) if &b[..] == b"abc"));
        for (s, st) in [
            (b"I", TransactionStatus::Idle),
            (b"T", TransactionStatus::InTransaction),
            (b"E", TransactionStatus::Failed),
        ] {
            assert!(matches!(decode(b'Z', s).unwrap(), Message::ReadyForQuery(x) if x == st));
        }
        assert!(decode(b'Z', b"Q").is_err());
        assert!(decode(b'Z', b"").is_err());
    }

    #[test]
    fn backend_key_data_both_versions() {
        let m = decode(b'K', b"\0\0\0\x07\x01\x02\x03\x04").unwrap();
        assert!(
            matches!(m, Message::BackendKeyData { process_id: 7, ref secret_key } if secret_key.as_bytes().len() == 4)
        );
        let mut long = vec![0, 0, 0, 9];
        long.extend_from_slice(&[0xab; 32]);
        let m = decode(b'K', &long).unwrap();
        assert!(
            matches!(m, Message::BackendKeyData { process_id: 9, ref secret_key } if secret_key.as_bytes().len() == 32)
        );
        assert!(decode(b'K', b"\0\0\0\x07\x01").is_err());
        let mut too_long = vec![0, 0, 0, 9];
        too_long.extend_from_slice(&[0; 257]);
        assert!(decode(b'K', &too_long).is_err());
    }

    #[test]
    fn negotiate_protocol_version() {
        let m = decode(b'v', b"\0\0\0\0\0\0\0\x01_pq_.x\0").unwrap();
        match m {
            Message::NegotiateProtocolVersion {
                newest_minor,
                unrecognized,
            } => {
                assert_eq!(newest_minor, 0);
                assert_eq!(unrecognized, vec!["_pq_.x".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(decode(b'v', b"\0\0\0\0\x7f\xff\xff\xff").is_err());
        // What PostgreSQL 15 really sends: the full version number 3.0.
        let m = decode(b'v', b"\0\x03\0\0\0\0\0\0").unwrap();
        assert!(
            matches!(
                m,
                Message::NegotiateProtocolVersion {
                    newest_minor: 0,
                    ..
                }
            ),
            "{m:?}"
        );
        assert!(
            decode(b'v', b"\0\x04\0\0\0\0\0\0")
                .unwrap_err()
                .to_string()
                .contains("4.0")
        );
    }

    #[test]
    fn notification_and_parameter_status() {
        let m = decode(b'A', b"\0\0\0\x05chan\0hello\0").unwrap();
        assert!(
            matches!(m, Message::NotificationResponse(ref n) if n.process_id == 5 && n.channel == "chan" && n.payload == "hello")
        );
        assert!(decode(b'A', b"\0\0\0\x05chan").is_err());
        assert!(decode(b'S', b"a\0b\0extra").is_err());
        assert!(
            decode(b'S', b"a\xff\0b\0")
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }

    #[test]
    fn row_and_parameter_descriptions() {
        let mut body = vec![0, 1];
        body.extend_from_slice(b"id\0");
        body.extend_from_slice(&16384u32.to_be_bytes());
        body.extend_from_slice(&1i16.to_be_bytes());
        body.extend_from_slice(&23u32.to_be_bytes());
        body.extend_from_slice(&4i16.to_be_bytes());
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        match decode(b'T', &body).unwrap() {
            Message::RowDescription(f) => {
                assert_eq!(f.len(), 1);
                assert_eq!(
                    (
                        f[0].name(),
                        f[0].type_oid(),
                        f[0].table_oid(),
                        f[0].column_id()
                    ),
                    ("id", 23, 16384, 1)
                );
                assert_eq!(
                    (f[0].type_size(), f[0].type_modifier(), f[0].format()),
                    (4, -1, 0)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(decode(b'T', &body[..body.len() - 1]).is_err());
        assert!(
            decode(b'T', b"\x7f\xff")
                .unwrap_err()
                .to_string()
                .contains("cannot fit")
        );
        match decode(b't', b"\0\x02\0\0\0\x17\0\0\0\x19").unwrap() {
            Message::ParameterDescription(p) => assert_eq!(p, vec![23, 25]),
            other => panic!("{other:?}"),
        }
        assert!(decode(b't', b"\xff\xff\0\0").is_err());
    }

    #[test]
    fn authentication_requests() {
        assert!(matches!(
            decode(b'R', b"\0\0\0\0").unwrap(),
            Message::AuthenticationOk
        ));
        assert!(matches!(
            decode(b'R', b"\0\0\0\x03").unwrap(),
            Message::AuthenticationCleartextPassword
        ));
        assert!(
            matches!(decode(b'R', b"\0\0\0\x05abcd").unwrap(), Message::AuthenticationMd5Password { salt } if &salt == b"abcd")
        );
        assert!(decode(b'R', b"\0\0\0\x05ab").is_err());
        assert!(matches!(
            decode(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0").unwrap(),
            Message::AuthenticationSasl(_)
        ));
        assert!(
            matches!(decode(b'R', b"\0\0\0\x0bxyz").unwrap(), Message::AuthenticationSaslContinue(b) if &b[..] == b"xyz")
        );
        assert!(matches!(
            decode(b'R', b"\0\0\0\x0cv=1").unwrap(),
            Message::AuthenticationSaslFinal(_)
        ));
        assert!(matches!(
            decode(b'R', b"\0\0\0\x07").unwrap(),
            Message::AuthenticationGss
        ));
        assert!(matches!(
            decode(b'R', b"\0\0\0\x09").unwrap(),
            Message::AuthenticationSspi
        ));
        assert!(matches!(
            decode(b'R', b"\0\0\0\x02").unwrap(),
            Message::AuthenticationKerberosV5
        ));
        assert!(matches!(
            decode(b'R', b"\0\0\0\x08zz").unwrap(),
            Message::AuthenticationGssContinue(_)
        ));
        assert!(
            decode(b'R', b"\0\0\0\x63")
                .unwrap_err()
                .to_string()
                .contains("code 99")
        );
        assert!(decode(b'R', b"\0\0").is_err());
    }

    #[test]
    fn copy_responses_and_function_call() {
        match decode(b'G', b"\x01\0\x02\0\x01\0\x01").unwrap() {
            Message::CopyInResponse(c) => assert_eq!((c.format, c.column_formats), (1, vec![1, 1])),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(b'H', b"\0\0\0").unwrap(),
            Message::CopyOutResponse(_)
        ));
        assert!(matches!(
            decode(b'W', b"\0\0\0").unwrap(),
            Message::CopyBothResponse(_)
        ));
        assert!(decode(b'G', b"\x01\0\x09").is_err());
        assert!(matches!(
            decode(b'V', b"\xff\xff\xff\xff").unwrap(),
            Message::FunctionCallResponse(None)
        ));
        assert!(
            matches!(decode(b'V', b"\0\0\0\x01z").unwrap(), Message::FunctionCallResponse(Some(b)) if &b[..] == b"z")
        );
        assert!(decode(b'V', b"\0\0\0\x05z").is_err());
    }

    #[test]
    fn command_tags() {
        let t = |s: &str| CommandTag::parse(Bytes::from(format!("{s}\0"))).unwrap();
        assert_eq!(t("INSERT 0 5").rows_affected(), Some(5));
        assert_eq!(t("INSERT 0 5").command(), "INSERT");
        assert_eq!(t("UPDATE 12").rows_affected(), Some(12));
        assert_eq!(t("DELETE 0").rows_affected(), Some(0));
        assert_eq!(t("SELECT 3").rows_affected(), Some(3));
        assert_eq!(t("MERGE 2").rows_affected(), Some(2));
        assert_eq!(t("COPY 100").rows_affected(), Some(100));
        assert_eq!(t("FETCH 1").command(), "FETCH");
        assert_eq!(t("CREATE TABLE").rows_affected(), None);
        assert_eq!(t("CREATE TABLE").command(), "CREATE TABLE");
        assert!(CommandTag::parse(Bytes::from_static(b"SELECT 1")).is_err());
        assert!(CommandTag::parse(Bytes::from_static(b"SELECT 1\0x")).is_err());
    }

    /// Every prefix and many corruptions of valid messages decode to Ok or Err, never panic.
    #[test]
    fn garbage_never_panics() {
        let samples: &[(u8, &[u8])] = &[
            (b'D', b"\0\x02\0\0\0\x01a\xff\xff\xff\xff"),
            (
                b'T',
                b"\0\x01id\0\0\0\0\0\0\x01\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
            ),
            (b'E', b"SERROR\0C42P01\0Mno\0\0"),
            (b'R', b"\0\0\0\x05abcd"),
            (b'v', b"\0\0\0\0\0\0\0\x01a\0"),
            (b'K', b"\0\0\0\x01\0\0\0\x02"),
            (b't', b"\0\x01\0\0\0\x17"),
            (b'A', b"\0\0\0\x01c\0p\0"),
        ];
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (tag, body) in samples {
            for cut in 0..=body.len() {
                let _ = Message::decode(*tag, Bytes::copy_from_slice(&body[..cut]));
            }
            for _ in 0..2000 {
                let mut b = body.to_vec();
                let flips = 1 + next() % 3;
                for _ in 0..flips {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                let _ = Message::decode(*tag, Bytes::from(b));
            }
        }
    }
}
