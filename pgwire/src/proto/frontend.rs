//! Encoding of every frontend (client-to-server) message of protocol 3.x.
//!
//! Each function appends one complete message to a [`BytesMut`]. Nothing here does I/O, so a
//! caller can queue several messages (Parse, Describe, Bind, Execute, Sync) and send them in a
//! single write. Strings that PostgreSQL transmits NUL-terminated are checked for interior NUL
//! bytes: such a string cannot be represented on the wire, and silently truncating it would
//! change the query, so it is an [`EncodeError`].
//!
//! ```
//! use bytes::BytesMut;
//! use hyperdjango_pgwire::proto::frontend;
//!
//! let mut buf = BytesMut::new();
//! frontend::query("SELECT 1", &mut buf).unwrap();
//! frontend::sync(&mut buf);
//! assert_eq!(&buf[..], b"Q\0\0\0\x0dSELECT 1\0S\0\0\0\x04");
//! ```

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::types::Oid;

/// The protocol version number that StartupMessage carries for 3.0.
pub const PROTOCOL_3_0: i32 = 3 << 16;
/// The protocol version number for 3.2 (PostgreSQL 18: variable-length cancel keys).
pub const PROTOCOL_3_2: i32 = (3 << 16) | 2;
/// The request code of SSLRequest.
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
/// The request code of GSSENCRequest.
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
/// The request code of CancelRequest.
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;

/// A message that cannot be encoded.
///
/// ```
/// use bytes::BytesMut;
/// use hyperdjango_pgwire::proto::frontend;
///
/// let err = frontend::query("SELECT '\0'", &mut BytesMut::new()).unwrap_err();
/// assert!(err.to_string().contains("NUL"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    message: String,
}

impl EncodeError {
    /// Creates an error with the given description.
    ///
    /// ```
    /// let e = hyperdjango_pgwire::proto::frontend::EncodeError::new("too many parameters");
    /// assert_eq!(e.to_string(), "too many parameters");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        EncodeError {
            message: message.into(),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EncodeError {}

/// Writes `s` followed by a NUL terminator; `what` names the string in the error.
fn put_cstr(buf: &mut BytesMut, s: &[u8], what: &str) -> Result<(), EncodeError> {
    if memchr::memchr(0, s).is_some() {
        return Err(EncodeError::new(format!(
            "{what} contains a NUL byte, which the PostgreSQL protocol cannot carry"
        )));
    }
    buf.put_slice(s);
    buf.put_u8(0);
    Ok(())
}

/// Writes a message: the tag byte, a length placeholder, the body written by `body`, then
/// patches the length. On error the buffer is restored to its previous length, so a failed
/// message never leaves half a frame behind.
#[inline]
fn message<F>(tag: Option<u8>, buf: &mut BytesMut, body: F) -> Result<(), EncodeError>
where
    F: FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
{
    let start = buf.len();
    if let Some(tag) = tag {
        buf.put_u8(tag);
    }
    let len_at = buf.len();
    buf.put_i32(0);
    if let Err(e) = body(buf) {
        buf.truncate(start);
        return Err(e);
    }
    let len = buf.len() - len_at;
    let Ok(len) = i32::try_from(len) else {
        buf.truncate(start);
        return Err(EncodeError::new(format!(
            "message of {len} bytes exceeds the protocol's 2 GiB limit"
        )));
    };
    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Infallible body variant of [`message`], for messages that carry no user strings.
#[inline]
fn fixed(tag: u8, buf: &mut BytesMut, body: &[u8]) {
    buf.put_u8(tag);
    buf.put_i32(4 + body.len() as i32);
    buf.put_slice(body);
}

/// StartupMessage: the protocol version and `name`/`value` parameter pairs (user, database,
/// options, application_name, any run-time parameter).
///
/// ```
/// use bytes::BytesMut;
/// use hyperdjango_pgwire::proto::frontend;
///
/// let mut buf = BytesMut::new();
/// frontend::startup(frontend::PROTOCOL_3_0, [("user", "bob")], &mut buf).unwrap();
/// assert_eq!(&buf[..], b"\0\0\0\x12\0\x03\0\0user\0bob\0\0");
/// ```
pub fn startup<'a, I>(version: i32, params: I, buf: &mut BytesMut) -> Result<(), EncodeError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    message(None, buf, |buf| {
        buf.put_i32(version);
        for (name, value) in params {
            put_cstr(buf, name.as_bytes(), "startup parameter name")?;
            put_cstr(buf, value.as_bytes(), name)?;
        }
        buf.put_u8(0);
        Ok(())
    })
}

/// SSLRequest: asks the server whether it will speak TLS. The server answers with one byte.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::ssl_request(&mut buf);
/// assert_eq!(&buf[..], b"\0\0\0\x08\x04\xd2\x16\x2f");
/// ```
pub fn ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_i32(SSL_REQUEST_CODE);
}

/// GSSENCRequest: asks whether the server will use GSSAPI encryption.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::gssenc_request(&mut buf);
/// assert_eq!(buf.len(), 8);
/// ```
pub fn gssenc_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_i32(GSSENC_REQUEST_CODE);
}

/// CancelRequest, sent on a new connection: the backend's process id and its secret key (4
/// bytes in protocol 3.0, up to 256 bytes in 3.2).
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::cancel_request(42, &[1, 2, 3, 4], &mut buf).unwrap();
/// assert_eq!(&buf[..], b"\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x2a\x01\x02\x03\x04");
/// ```
pub fn cancel_request(
    process_id: i32,
    secret_key: &[u8],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    if secret_key.len() > 256 {
        return Err(EncodeError::new(format!(
            "cancel key of {} bytes exceeds the 256-byte maximum",
            secret_key.len()
        )));
    }
    message(None, buf, |buf| {
        buf.put_i32(CANCEL_REQUEST_CODE);
        buf.put_i32(process_id);
        buf.put_slice(secret_key);
        Ok(())
    })
}

/// PasswordMessage with a cleartext or MD5-hashed password.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::password(b"pw", &mut buf).unwrap();
/// assert_eq!(&buf[..], b"p\0\0\0\x07pw\0");
/// ```
pub fn password(password: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    message(Some(b'p'), buf, |buf| put_cstr(buf, password, "password"))
}

/// SASLInitialResponse: the chosen mechanism and the client-first message.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::sasl_initial_response("SCRAM-SHA-256", b"n,,n=,r=x", &mut buf).unwrap();
/// assert_eq!(buf[0], b'p');
/// ```
pub fn sasl_initial_response(
    mechanism: &str,
    data: &[u8],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    message(Some(b'p'), buf, |buf| {
        put_cstr(buf, mechanism.as_bytes(), "SASL mechanism")?;
        buf.put_i32(len_i32(data.len(), "SASL data")?);
        buf.put_slice(data);
        Ok(())
    })
}

/// SASLResponse: a later message of the SASL exchange.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::sasl_response(b"c=biws", &mut buf);
/// assert_eq!(&buf[..], b"p\0\0\0\x0ac=biws");
/// ```
pub fn sasl_response(data: &[u8], buf: &mut BytesMut) {
    fixed(b'p', buf, data);
}

/// Query: the simple query protocol. The string may hold several statements.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::query("SELECT 1; SELECT 2", &mut buf).unwrap();
/// assert_eq!(buf[0], b'Q');
/// ```
pub fn query(sql: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
    message(Some(b'Q'), buf, |buf| {
        put_cstr(buf, sql.as_bytes(), "query")
    })
}

/// Parse: prepares `sql` as statement `name` ("" is the unnamed statement). `param_types`
/// declares parameter OIDs; 0 lets the server infer one.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::parse("", "SELECT $1", &[23], &mut buf).unwrap();
/// assert_eq!(&buf[..], b"P\0\0\0\x15\0SELECT $1\0\0\x01\0\0\0\x17");
/// ```
pub fn parse(
    name: &str,
    sql: &str,
    param_types: &[Oid],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let count = param_count_u16(param_types.len())?;
    message(Some(b'P'), buf, |buf| {
        put_cstr(buf, name.as_bytes(), "statement name")?;
        put_cstr(buf, sql.as_bytes(), "query")?;
        buf.put_u16(count);
        for &oid in param_types {
            buf.put_u32(oid);
        }
        Ok(())
    })
}

/// Which kind of object Describe and Close refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A prepared statement.
    Statement,
    /// A portal (a bound statement ready to execute).
    Portal,
}

impl Target {
    fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// Describe: asks for a statement's ParameterDescription and RowDescription, or a portal's
/// RowDescription.
///
/// ```
/// use hyperdjango_pgwire::proto::frontend::{self, Target};
/// let mut buf = bytes::BytesMut::new();
/// frontend::describe(Target::Statement, "", &mut buf).unwrap();
/// assert_eq!(&buf[..], b"D\0\0\0\x06S\0");
/// ```
pub fn describe(target: Target, name: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
    message(Some(b'D'), buf, |buf| {
        buf.put_u8(target.byte());
        put_cstr(buf, name.as_bytes(), "statement or portal name")
    })
}

/// Close: releases a prepared statement or a portal on the server.
///
/// ```
/// use hyperdjango_pgwire::proto::frontend::{self, Target};
/// let mut buf = bytes::BytesMut::new();
/// frontend::close(Target::Statement, "s1", &mut buf).unwrap();
/// assert_eq!(&buf[..], b"C\0\0\0\x08Ss1\0");
/// ```
pub fn close(target: Target, name: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
    message(Some(b'C'), buf, |buf| {
        buf.put_u8(target.byte());
        put_cstr(buf, name.as_bytes(), "statement or portal name")
    })
}

/// Execute: runs a portal, returning at most `max_rows` rows (0 = all).
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::execute("", 0, &mut buf).unwrap();
/// assert_eq!(&buf[..], b"E\0\0\0\x09\0\0\0\0\0");
/// ```
pub fn execute(portal: &str, max_rows: i32, buf: &mut BytesMut) -> Result<(), EncodeError> {
    message(Some(b'E'), buf, |buf| {
        put_cstr(buf, portal.as_bytes(), "portal name")?;
        buf.put_i32(max_rows);
        Ok(())
    })
}

/// Sync: ends an extended-query cycle; the server answers with ReadyForQuery.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::sync(&mut buf);
/// assert_eq!(&buf[..], b"S\0\0\0\x04");
/// ```
pub fn sync(buf: &mut BytesMut) {
    fixed(b'S', buf, &[]);
}

/// Flush: asks the server to send what it has buffered, without ending the cycle.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::flush(&mut buf);
/// assert_eq!(&buf[..], b"H\0\0\0\x04");
/// ```
pub fn flush(buf: &mut BytesMut) {
    fixed(b'H', buf, &[]);
}

/// CopyData: a chunk of a COPY FROM STDIN stream.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::copy_data(b"1\n", &mut buf).unwrap();
/// assert_eq!(&buf[..], b"d\0\0\0\x061\n");
/// ```
pub fn copy_data(data: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    let len = len_i32(data.len().saturating_add(4), "CopyData chunk")?;
    buf.reserve(1 + 4 + data.len());
    buf.put_u8(b'd');
    buf.put_i32(len);
    buf.put_slice(data);
    Ok(())
}

/// CopyDone: the COPY FROM STDIN stream is complete.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::copy_done(&mut buf);
/// assert_eq!(&buf[..], b"c\0\0\0\x04");
/// ```
pub fn copy_done(buf: &mut BytesMut) {
    fixed(b'c', buf, &[]);
}

/// CopyFail: aborts a COPY FROM STDIN with an error message for the server.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::copy_fail("bad row", &mut buf).unwrap();
/// assert_eq!(&buf[..], b"f\0\0\0\x0cbad row\0");
/// ```
pub fn copy_fail(reason: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
    message(Some(b'f'), buf, |buf| {
        put_cstr(buf, reason.as_bytes(), "CopyFail message")
    })
}

/// Terminate: the client is closing the connection.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// hyperdjango_pgwire::proto::frontend::terminate(&mut buf);
/// assert_eq!(&buf[..], b"X\0\0\0\x04");
/// ```
pub fn terminate(buf: &mut BytesMut) {
    fixed(b'X', buf, &[]);
}

/// Format code of a parameter or result column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i16)]
pub enum Format {
    /// PostgreSQL's text representation.
    Text = 0,
    /// PostgreSQL's binary (send/recv) representation.
    Binary = 1,
}

/// What a parameter writer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamValue {
    /// NULL: nothing was written.
    Null,
    /// The value's bytes were written.
    Written,
}

/// Writes a Bind message incrementally, so parameter values are encoded straight into the
/// output buffer with no intermediate allocation.
///
/// ```
/// use bytes::BufMut;
/// use hyperdjango_pgwire::proto::frontend::{Bind, Format, ParamValue};
///
/// let mut buf = bytes::BytesMut::new();
/// let mut bind = Bind::begin(&mut buf, "", "", &[Format::Binary], 2).unwrap();
/// bind.param(|b| { b.put_i32(7); Ok::<_, std::convert::Infallible>(ParamValue::Written) }).unwrap();
/// bind.null();
/// bind.finish(&[Format::Binary]).unwrap();
/// assert_eq!(buf[0], b'B');
/// ```
pub struct Bind<'b> {
    buf: &'b mut BytesMut,
    start: usize,
    expected: u16,
    written: u16,
}

impl<'b> Bind<'b> {
    /// Starts a Bind of `statement` into `portal` with `param_count` parameters. `param_formats`
    /// is empty (all text), one format for all, or one per parameter.
    pub fn begin(
        buf: &'b mut BytesMut,
        portal: &str,
        statement: &str,
        param_formats: &[Format],
        param_count: usize,
    ) -> Result<Bind<'b>, EncodeError> {
        let expected = param_count_u16(param_count)?;
        let nformats = param_count_u16(param_formats.len())?;
        let start = buf.len();
        buf.put_u8(b'B');
        buf.put_i32(0);
        let header = (|| {
            put_cstr(buf, portal.as_bytes(), "portal name")?;
            put_cstr(buf, statement.as_bytes(), "statement name")
        })();
        if let Err(e) = header {
            buf.truncate(start);
            return Err(e);
        }
        buf.put_u16(nformats);
        for f in param_formats {
            buf.put_i16(*f as i16);
        }
        buf.put_u16(expected);
        Ok(Bind {
            buf,
            start,
            expected,
            written: 0,
        })
    }

    /// Appends a NULL parameter.
    pub fn null(&mut self) {
        self.buf.put_i32(-1);
        self.written = self.written.saturating_add(1);
    }

    /// Appends a parameter whose bytes `write` produces; `write` returns
    /// [`ParamValue::Null`] (having written nothing) to send NULL instead. If `write` fails,
    /// the caller abandons the Bind: dropping the builder without [`Bind::finish`] removes it.
    pub fn param<E>(
        &mut self,
        write: impl FnOnce(&mut BytesMut) -> Result<ParamValue, E>,
    ) -> Result<(), E> {
        let len_at = self.buf.len();
        self.buf.put_i32(0);
        let len = match write(self.buf)? {
            ParamValue::Null => {
                self.buf.truncate(len_at + 4);
                -1
            }
            // A value over 1 GiB is rejected by the server anyway; i32 covers 2 GiB.
            ParamValue::Written => i32::try_from(self.buf.len() - len_at - 4).unwrap_or(i32::MAX),
        };
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        self.written = self.written.saturating_add(1);
        Ok(())
    }

    /// Appends a parameter that is either NULL (`None`) or the given bytes.
    pub fn raw(&mut self, value: Option<&[u8]>) {
        match value {
            None => self.null(),
            Some(bytes) => {
                let _ = self.param(|b| {
                    b.put_slice(bytes);
                    Ok::<_, std::convert::Infallible>(ParamValue::Written)
                });
            }
        }
    }

    /// Writes the result-column formats and completes the message.
    pub fn finish(self, result_formats: &[Format]) -> Result<(), EncodeError> {
        let mut this = std::mem::ManuallyDrop::new(self);
        let fail = |this: &mut Bind<'_>, e: EncodeError| {
            this.buf.truncate(this.start);
            Err(e)
        };
        if this.written != this.expected {
            let e = EncodeError::new(format!(
                "Bind declared {} parameters but {} were written",
                this.expected, this.written
            ));
            return fail(&mut this, e);
        }
        let n = match param_count_u16(result_formats.len()) {
            Ok(n) => n,
            Err(e) => return fail(&mut this, e),
        };
        this.buf.put_u16(n);
        for f in result_formats {
            this.buf.put_i16(*f as i16);
        }
        let len = this.buf.len() - this.start - 1;
        let Ok(len) = i32::try_from(len) else {
            let e = EncodeError::new(format!(
                "Bind message of {len} bytes exceeds the protocol's 2 GiB limit"
            ));
            return fail(&mut this, e);
        };
        let at = this.start + 1;
        this.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

impl Drop for Bind<'_> {
    /// An unfinished Bind is removed from the buffer, so no half message is ever sent.
    fn drop(&mut self) {
        self.buf.truncate(self.start);
    }
}

fn param_count_u16(n: usize) -> Result<u16, EncodeError> {
    u16::try_from(n).map_err(|_| {
        EncodeError::new(format!(
            "{n} parameters exceed the protocol's limit of 65535"
        ))
    })
}

fn len_i32(n: usize, what: &str) -> Result<i32, EncodeError> {
    i32::try_from(n).map_err(|_| {
        EncodeError::new(format!(
            "{what} of {n} bytes exceeds the protocol's 2 GiB limit"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_strings_is_rejected_and_leaves_no_partial_message() {
        let mut buf = BytesMut::new();
        sync(&mut buf);
        assert!(parse("s\0", "SELECT 1", &[], &mut buf).is_err());
        assert!(parse("", "SELECT '\0'", &[], &mut buf).is_err());
        assert!(startup(PROTOCOL_3_0, [("user", "a\0b")], &mut buf).is_err());
        assert!(password(b"a\0", &mut buf).is_err());
        assert!(Bind::begin(&mut buf, "p\0", "", &[], 0).is_err());
        assert_eq!(&buf[..], b"S\0\0\0\x04");
    }

    #[test]
    fn bind_layout() {
        let mut buf = BytesMut::new();
        let mut bind = Bind::begin(&mut buf, "p", "s", &[Format::Binary], 2).unwrap();
        bind.raw(Some(b"ab"));
        bind.null();
        bind.finish(&[Format::Binary]).unwrap();
        let expected: &[u8] =
            b"B\0\0\0\x1cp\0s\0\0\x01\0\x01\0\x02\0\0\0\x02ab\xff\xff\xff\xff\0\x01\0\x01";
        assert_eq!(&buf[..], expected);
    }

    #[test]
    fn bind_with_wrong_count_or_dropped_leaves_nothing() {
        let mut buf = BytesMut::new();
        let bind = Bind::begin(&mut buf, "", "", &[], 1).unwrap();
        assert!(
            bind.finish(&[])
                .unwrap_err()
                .to_string()
                .contains("declared 1")
        );
        assert!(buf.is_empty());
        {
            let mut bind = Bind::begin(&mut buf, "", "", &[], 1).unwrap();
            bind.null();
        }
        assert!(buf.is_empty());
        let mut bind = Bind::begin(&mut buf, "", "", &[], 1).unwrap();
        let r: Result<(), &str> = bind.param(|b| {
            b.put_u8(1);
            Err("boom")
        });
        assert_eq!(r, Err("boom"));
        drop(bind);
        assert!(buf.is_empty());
        let mut bind = Bind::begin(&mut buf, "", "", &[], 1).unwrap();
        bind.param(|b| {
            b.put_u8(9);
            Ok::<_, ()>(ParamValue::Null)
        })
        .unwrap();
        bind.finish(&[]).unwrap();
        assert_eq!(&buf[..], b"B\0\0\0\x10\0\0\0\0\0\x01\xff\xff\xff\xff\0\0");
        buf.clear();
        let mut bind = Bind::begin(&mut buf, "", "", &[], 1).unwrap();
        let r: Result<(), &str> = bind.param(|_| Err("boom"));
        assert_eq!(r, Err("boom"));
        drop(bind);
        assert!(buf.is_empty());
    }

    #[test]
    fn too_many_parameters() {
        let oids = vec![0; 70_000];
        let err = parse("", "x", &oids, &mut BytesMut::new()).unwrap_err();
        assert!(err.to_string().contains("70000 parameters"));
    }

    #[test]
    fn cancel_with_long_key() {
        let mut buf = BytesMut::new();
        cancel_request(1, &[9; 32], &mut buf).unwrap();
        assert_eq!(buf.len(), 12 + 32);
        assert_eq!(&buf[..4], &(44i32).to_be_bytes());
        assert!(cancel_request(1, &[0; 300], &mut buf).is_err());
    }

    #[test]
    fn describe_close_execute_flush_copy() {
        let mut buf = BytesMut::new();
        describe(Target::Portal, "p", &mut buf).unwrap();
        close(Target::Portal, "p", &mut buf).unwrap();
        execute("p", 10, &mut buf).unwrap();
        flush(&mut buf);
        copy_data(b"xyz", &mut buf).unwrap();
        copy_done(&mut buf);
        copy_fail("no", &mut buf).unwrap();
        terminate(&mut buf);
        gssenc_request(&mut buf);
        sasl_initial_response("SCRAM-SHA-256", b"abc", &mut buf).unwrap();
        let expected: &[u8] = b"D\0\0\0\x07Pp\0C\0\0\0\x07Pp\0E\0\0\0\x0ap\0\0\0\0\x0aH\0\0\0\x04d\0\0\0\x07xyzc\0\0\0\x04f\0\0\0\x07no\0X\0\0\0\x04\0\0\0\x08\x04\xd2\x16\x30p\0\0\0\x19SCRAM-SHA-256\0\0\0\0\x03abc";
        assert_eq!(&buf[..], expected);
    }
}
