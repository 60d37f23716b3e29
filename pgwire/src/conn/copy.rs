//! COPY: bulk data in and out, raw (text, CSV) or binary with typed rows.
//!
//! - [`Connection::copy_in`] starts `COPY ... FROM STDIN` and returns a [`CopyIn`] that takes
//!   raw bytes; [`BinaryCopyInWriter`] wraps it to write typed rows in the binary format.
//! - [`Connection::copy_out`] starts `COPY ... TO STDOUT` and returns a [`CopyOut`] that yields
//!   raw chunks; [`BinaryCopyOutReader`] wraps it to read typed [`Row`]s.
//! - [`Connection::copy_in_rows`] is a bulk insert: binary COPY into named columns, with the
//!   column types looked up first so every value is checked before it is sent.
//!
//! A [`CopyIn`] dropped before [`CopyIn::finish`] is aborted with CopyFail at the
//! connection's next use: nothing of it is committed and the connection stays usable. A
//! [`CopyOut`] dropped early is settled like any abandoned command.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::Connection;
use crate::error::{Error, Result};
use crate::proto::backend::{CopyResponse, DataRow, FieldDescription, Message};
use crate::proto::frontend;
use crate::row::{Column, Row};
use crate::types::{IsNull, ToSql, Type};

/// Data is sent in CopyData messages of about this size.
const COPY_CHUNK: usize = 64 * 1024;

/// The signature that starts PostgreSQL's binary COPY format.
const BINARY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

impl Connection {
    /// Starts `COPY ... FROM STDIN`. Write the data with [`CopyIn::write`], then call
    /// [`CopyIn::finish`].
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let mut copy = conn.copy_in("COPY items (id, name) FROM STDIN (FORMAT csv)").await?;
    /// copy.write(b"1,widget\n2,gadget\n").await?;
    /// assert_eq!(copy.finish().await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn copy_in(&mut self, sql: &str) -> Result<CopyIn<'_>> {
        let response = self
            .start_copy(sql, "copy_in", "COPY ... FROM STDIN")
            .await?;
        self.copy_in_open = true;
        Ok(CopyIn {
            conn: self,
            pending: BytesMut::with_capacity(COPY_CHUNK),
            response,
        })
    }

    /// Starts `COPY ... TO STDOUT`; read the data with [`CopyOut::next`].
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let mut out = conn.copy_out("COPY items TO STDOUT (FORMAT csv)").await?;
    /// let mut csv = Vec::new();
    /// while let Some(chunk) = out.next().await {
    ///     csv.extend_from_slice(&chunk?);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_>> {
        let response = self
            .start_copy(sql, "copy_out", "COPY ... TO STDOUT")
            .await?;
        Ok(CopyOut {
            conn: self,
            response,
            rows: None,
            done: false,
        })
    }

    /// Inserts rows with binary COPY into `columns` of `table` (an unqualified name, found
    /// through the search path; both are quoted). The columns' types are looked up first, so
    /// a value of the wrong type is an error naming its row and column before anything is
    /// sent. Returns the number of rows copied.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::ToSql;
    ///
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// let rows = vec![(1i64, "one"), (2, "two")];
    /// let n = conn
    ///     .copy_in_rows("items", &["id", "name"], rows.iter().map(|(id, name)| [id as &(dyn ToSql + Sync), name]))
    ///     .await?;
    /// assert_eq!(n, 2);
    /// # Ok(()) }
    /// ```
    pub async fn copy_in_rows<'p, I, P>(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: I,
    ) -> Result<u64>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[&'p (dyn ToSql + Sync)]>,
    {
        let types = self.column_types(table, columns).await?;
        let column_list = columns
            .iter()
            .map(|c| quote_identifier(c))
            .collect::<Result<Vec<_>>>()?;
        let sql = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            quote_identifier(table)?,
            column_list.join(", ")
        );
        let copy = self.copy_in(&sql).await?;
        let mut writer = BinaryCopyInWriter::new(copy, &types);
        for (i, row) in rows.into_iter().enumerate() {
            if let Err(e) = writer.write(row.as_ref()).await {
                // Nothing of the COPY may be committed: abort it, then report the row.
                let _ = writer.abort("a row could not be encoded").await;
                return Err(Error::InBatch {
                    index: i,
                    source: Box::new(e),
                });
            }
        }
        writer.finish().await
    }

    /// The types of `columns` of `table`, in order, from the catalog.
    async fn column_types(&mut self, table: &str, columns: &[&str]) -> Result<Vec<Type>> {
        let quoted = quote_identifier(table)?;
        let rows = self
            .query(
                "SELECT a.attname::text, a.atttypid FROM pg_attribute a \
                 WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped",
                &[&quoted],
            )
            .await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            found.push((row.get::<_, String>(0)?, row.get::<_, u32>(1)?));
        }
        // Columns of types defined in the database (enums, domains, ...) need their
        // descriptions for the values' `accepts` and encoding.
        self.resolve_oids(found.iter().map(|(_, oid)| *oid)).await?;
        let found: Vec<(String, Type)> = found
            .into_iter()
            .map(|(name, oid)| (name, self.type_of(oid)))
            .collect();
        columns
            .iter()
            .map(|c| {
                found
                    .iter()
                    .find(|(name, _)| name == c)
                    .map(|(_, ty)| ty.clone())
                    .ok_or_else(|| Error::Usage(format!("table {quoted} has no column \"{c}\"")))
            })
            .collect()
    }

    /// Sends a COPY statement and waits for the server to enter copy mode.
    async fn start_copy(&mut self, sql: &str, api: &str, wanted: &str) -> Result<CopyResponse> {
        self.ready().await?;
        frontend::query(sql, &mut self.write_buf)?;
        self.send(true).await?;
        let mut error = None;
        loop {
            match self.read_message().await? {
                Message::CopyInResponse(r) if api == "copy_in" => return Ok(r),
                Message::CopyOutResponse(r) if api == "copy_out" => return Ok(r),
                Message::CopyInResponse(_) => {
                    error.get_or_insert(Error::Usage(format!("{api} needs a {wanted} statement")));
                    self.refuse_copy_in().await?;
                }
                Message::ErrorResponse(e) => {
                    self.note_error(e, &mut error)?;
                }
                Message::ReadyForQuery(status) => {
                    self.ready_for_query(status);
                    return Err(error.unwrap_or_else(|| {
                        Error::Usage(format!("{api} needs a {wanted} statement"))
                    }));
                }
                _ => {
                    error.get_or_insert_with(|| {
                        Error::Usage(format!("{api} needs a {wanted} statement"))
                    });
                }
            }
        }
    }

    /// Aborts a COPY FROM STDIN whose writer was dropped (see the module docs).
    pub(crate) fn abandon_copy_in(&mut self) {
        if self.copy_in_open {
            self.copy_in_open = false;
            let _ =
                frontend::copy_fail("the COPY was abandoned by the client", &mut self.write_buf);
        }
    }
}

/// Quotes an identifier for SQL: `"` around it, inner `"` doubled. NUL is refused.
///
/// ```
/// use hyperdjango_pgwire::quote_identifier;
/// assert_eq!(quote_identifier("items").unwrap(), r#""items""#);
/// assert_eq!(quote_identifier(r#"we"ird"#).unwrap(), r#""we""ird""#);
/// assert!(quote_identifier("a\0b").is_err());
/// ```
pub fn quote_identifier(name: &str) -> Result<String> {
    if name.contains('\0') {
        return Err(Error::Usage(format!(
            "identifier {name:?} contains a NUL byte"
        )));
    }
    if name.is_empty() {
        return Err(Error::Usage("an identifier cannot be empty".into()));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// The data side of `COPY ... FROM STDIN`. Created by [`Connection::copy_in`].
pub struct CopyIn<'c> {
    conn: &'c mut Connection,
    pending: BytesMut,
    response: CopyResponse,
}

impl CopyIn<'_> {
    /// Whether the server expects the binary COPY format.
    pub fn is_binary(&self) -> bool {
        self.response.format == 1
    }

    /// The number of columns the COPY expects.
    pub fn column_count(&self) -> usize {
        self.response.column_formats.len()
    }

    /// Appends data: text or CSV lines, or binary-format bytes. It is sent in chunks of
    /// about 64 KiB.
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= COPY_CHUNK {
            self.send_pending().await?;
        }
        Ok(())
    }

    async fn send_pending(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            frontend::copy_data(&self.pending, &mut self.conn.write_buf)?;
            self.pending.clear();
        }
        self.conn.flush().await
    }

    /// Ends the data and returns the number of rows the server copied.
    pub async fn finish(mut self) -> Result<u64> {
        if !self.pending.is_empty() {
            frontend::copy_data(&self.pending, &mut self.conn.write_buf)?;
            self.pending.clear();
        }
        frontend::copy_done(&mut self.conn.write_buf);
        self.conn.copy_in_open = false;
        self.conn.flush().await?;
        let mut rows = 0;
        let mut error = None;
        loop {
            match self.conn.read_message().await? {
                Message::CommandComplete(tag) => rows = tag.rows_affected().unwrap_or(0),
                Message::ErrorResponse(e) => {
                    self.conn.note_error(e, &mut error)?;
                }
                Message::ReadyForQuery(status) => {
                    self.conn.ready_for_query(status);
                    break;
                }
                other => return Err(self.conn.unexpected(&other, "COPY FROM STDIN")),
            }
        }
        error.map_or(Ok(rows), Err)
    }

    /// Aborts the COPY with CopyFail: nothing is copied and the connection stays usable.
    pub async fn abort(mut self, reason: &str) -> Result<()> {
        self.pending.clear();
        self.conn.copy_in_open = false;
        frontend::copy_fail(reason, &mut self.conn.write_buf)?;
        self.conn.flush().await?;
        loop {
            match self.conn.read_message().await? {
                Message::ReadyForQuery(status) => {
                    self.conn.ready_for_query(status);
                    return Ok(());
                }
                Message::ErrorResponse(e) => {
                    // The server confirms the abort with query_canceled; anything fatal matters.
                    let e = self.conn.db_error(e);
                    if self.conn.broken.is_some() {
                        return Err(e);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Writes typed rows in PostgreSQL's binary COPY format.
///
/// ```no_run
/// use hyperdjango_pgwire::{BinaryCopyInWriter, Type};
///
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// let copy = conn.copy_in("COPY items (id, name) FROM STDIN (FORMAT binary)").await?;
/// let mut writer = BinaryCopyInWriter::new(copy, &[Type::INT8, Type::TEXT]);
/// writer.write(&[&1i64, &"widget"]).await?;
/// writer.write(&[&2i64, &None::<&str>]).await?;
/// assert_eq!(writer.finish().await?, 2);
/// # Ok(()) }
/// ```
pub struct BinaryCopyInWriter<'c> {
    copy: CopyIn<'c>,
    types: Vec<Type>,
}

impl<'c> BinaryCopyInWriter<'c> {
    /// Wraps a binary-format [`CopyIn`] whose columns have these types.
    pub fn new(mut copy: CopyIn<'c>, types: &[Type]) -> BinaryCopyInWriter<'c> {
        copy.pending.extend_from_slice(BINARY_SIGNATURE);
        copy.pending.put_i32(0); // flags
        copy.pending.put_i32(0); // header extension length
        BinaryCopyInWriter {
            copy,
            types: types.to_vec(),
        }
    }

    /// Writes one row. Each value must be accepted by its column's type; NULL is `None`.
    pub async fn write(&mut self, row: &[&(dyn ToSql + Sync)]) -> Result<()> {
        if row.len() != self.types.len() {
            return Err(Error::ParamCount {
                expected: self.types.len(),
                got: row.len(),
            });
        }
        let start = self.copy.pending.len();
        if let Err(e) = encode_tuple(&mut self.copy.pending, row, &self.types) {
            self.copy.pending.truncate(start);
            return Err(e);
        }
        if self.copy.pending.len() >= COPY_CHUNK {
            self.copy.send_pending().await?;
        }
        Ok(())
    }

    /// Writes the trailer, ends the COPY, and returns the number of rows copied.
    pub async fn finish(mut self) -> Result<u64> {
        self.copy.pending.put_i16(-1);
        self.copy.finish().await
    }

    /// Aborts the COPY: nothing is copied.
    pub async fn abort(self, reason: &str) -> Result<()> {
        self.copy.abort(reason).await
    }
}

/// Encodes one binary COPY tuple: the field count, then each field's length and bytes.
fn encode_tuple(buf: &mut BytesMut, row: &[&(dyn ToSql + Sync)], types: &[Type]) -> Result<()> {
    buf.put_i16(
        i16::try_from(row.len())
            .map_err(|_| Error::Usage(format!("{} columns are too many for COPY", row.len())))?,
    );
    for (i, (value, ty)) in row.iter().zip(types).enumerate() {
        // Domains are checked and encoded as their base type.
        if !value.accepts(ty.base()) {
            return Err(Error::Param {
                index: i + 1,
                message: format!(
                    "Rust type {} cannot be copied into a column of type {ty}",
                    value.rust_type()
                ),
            });
        }
        let len_at = buf.len();
        buf.put_i32(0);
        let is_null = value.to_sql(ty.base(), buf).map_err(|e| Error::Param {
            index: i + 1,
            message: format!("cannot encode Rust type {} as {ty}: {e}", value.rust_type()),
        })?;
        let len = match is_null {
            IsNull::Yes => {
                buf.truncate(len_at + 4);
                -1
            }
            IsNull::No => i32::try_from(buf.len() - len_at - 4).map_err(|_| Error::Param {
                index: i + 1,
                message: "value exceeds 2 GiB".into(),
            })?,
        };
        buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// The data side of `COPY ... TO STDOUT`. Created by [`Connection::copy_out`].
pub struct CopyOut<'c> {
    conn: &'c mut Connection,
    response: CopyResponse,
    rows: Option<u64>,
    done: bool,
}

impl CopyOut<'_> {
    /// Whether the data is in the binary COPY format.
    pub fn is_binary(&self) -> bool {
        self.response.format == 1
    }

    /// The number of rows copied, once the data has ended.
    pub fn rows_affected(&self) -> Option<u64> {
        self.rows
    }

    /// The next chunk of data (the server sends one row per chunk), `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Bytes>> {
        if self.done {
            return None;
        }
        let mut error = None;
        loop {
            let message = match self.conn.read_message().await {
                Ok(m) => m,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            match message {
                Message::CopyData(data) if error.is_none() => return Some(Ok(data)),
                Message::CopyData(_) | Message::CopyDone => {}
                Message::CommandComplete(tag) => self.rows = Some(tag.rows_affected().unwrap_or(0)),
                Message::ErrorResponse(e) => {
                    let e = self.conn.db_error(e);
                    if self.conn.broken.is_some() {
                        self.done = true;
                        return Some(Err(e));
                    }
                    error.get_or_insert(e);
                }
                Message::ReadyForQuery(status) => {
                    self.conn.ready_for_query(status);
                    self.done = true;
                    return error.map(Err);
                }
                other => {
                    self.done = true;
                    return Some(Err(self.conn.unexpected(&other, "COPY TO STDOUT")));
                }
            }
        }
    }
}

/// Reads typed rows from a binary-format [`CopyOut`].
///
/// ```no_run
/// use hyperdjango_pgwire::{BinaryCopyOutReader, Type};
///
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// let out = conn.copy_out("COPY items (id, name) TO STDOUT (FORMAT binary)").await?;
/// let mut reader = BinaryCopyOutReader::new(out, &[Type::INT8, Type::TEXT]);
/// while let Some(row) = reader.next().await {
///     let row = row?;
///     let (id, name): (i64, Option<&str>) = (row.get(0)?, row.get(1)?);
/// #   let _ = (id, name);
/// }
/// # Ok(()) }
/// ```
pub struct BinaryCopyOutReader<'c> {
    out: CopyOut<'c>,
    columns: Arc<[Column]>,
    buf: BytesMut,
    header_read: bool,
    finished: bool,
}

impl<'c> BinaryCopyOutReader<'c> {
    /// Wraps a binary-format [`CopyOut`] whose columns have these types. The rows' columns
    /// are named `column1`, `column2`, ...
    pub fn new(out: CopyOut<'c>, types: &[Type]) -> BinaryCopyOutReader<'c> {
        let columns = types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                let field = FieldDescription::synthetic(format!("column{}", i + 1), ty.oid());
                Column::new(field, ty.clone())
            })
            .collect();
        BinaryCopyOutReader {
            out,
            columns,
            buf: BytesMut::new(),
            header_read: false,
            finished: false,
        }
    }

    /// The next row, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Row>> {
        loop {
            match self.parse() {
                Ok(Some(row)) => return Some(Ok(row)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.out.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Some(Err(e)),
                None if self.finished => return None,
                None => {
                    return Some(Err(Error::Protocol(crate::proto::ProtocolError::new(
                        format!(
                            "binary COPY data ended without its trailer ({} bytes left over)",
                            self.buf.len()
                        ),
                    ))));
                }
            }
        }
    }

    /// Takes one complete tuple off the buffer, if there is one.
    fn parse(&mut self) -> Result<Option<Row>> {
        let bad = |what: String| {
            Error::Protocol(crate::proto::ProtocolError::new(format!(
                "malformed binary COPY data: {what}"
            )))
        };
        if self.finished {
            return Ok(None);
        }
        if !self.header_read {
            if self.buf.len() < 19 {
                return Ok(None);
            }
            if &self.buf[..11] != BINARY_SIGNATURE {
                return Err(bad(
                    "the signature is missing (is the COPY in FORMAT binary?)".into(),
                ));
            }
            let flags =
                i32::from_be_bytes([self.buf[11], self.buf[12], self.buf[13], self.buf[14]]);
            if flags & (1 << 16) != 0 {
                return Err(bad(
                    "rows carry OIDs, which this reader does not support".into()
                ));
            }
            let ext = i32::from_be_bytes([self.buf[15], self.buf[16], self.buf[17], self.buf[18]]);
            let ext = usize::try_from(ext)
                .map_err(|_| bad(format!("negative header extension length {ext}")))?;
            if self.buf.len() < 19 + ext {
                return Ok(None);
            }
            self.buf.advance(19 + ext);
            self.header_read = true;
        }
        if self.buf.len() < 2 {
            return Ok(None);
        }
        let count = i16::from_be_bytes([self.buf[0], self.buf[1]]);
        if count == -1 {
            self.finished = true;
            self.buf.advance(2);
            return Ok(None);
        }
        if count as usize != self.columns.len() {
            return Err(bad(format!(
                "a row has {count} fields, but {} column types were given",
                self.columns.len()
            )));
        }
        // Find the tuple's end; wait for more data if it is not all here.
        let mut at = 2usize;
        for _ in 0..count {
            let Some(len) = self.buf.get(at..at + 4) else {
                return Ok(None);
            };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            at += 4;
            if len >= 0 {
                at += len as usize;
            }
        }
        if self.buf.len() < at {
            return Ok(None);
        }
        // A binary COPY tuple is laid out exactly like a DataRow body.
        let tuple = self.buf.split_to(at).freeze();
        let data = DataRow::parse(tuple)?;
        Ok(Some(Row::new(self.columns.clone(), data)))
    }
}
