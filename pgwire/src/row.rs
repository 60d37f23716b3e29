//! Result rows: a shared column description plus one zero-copy [`DataRow`].

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::proto::backend::{DataRow, FieldDescription};
use crate::types::{FromSql, Type};

/// A result column's description: name, type and origin.
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// use hyperdjango_pgwire::Type;
/// let row = conn.query_one("SELECT 1::int8 AS n", &[]).await?;
/// let col = &row.columns()[0];
/// assert_eq!((col.name(), col.type_()), ("n", &Type::INT8));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    field: FieldDescription,
    ty: Type,
}

impl Column {
    /// A column described by `field`, whose type the connection resolved to `ty`.
    pub(crate) fn new(field: FieldDescription, ty: Type) -> Column {
        Column { field, ty }
    }

    /// The column's type: built in, or looked up by the connection (enums, domains,
    /// composites, extension types). Domains are reported as themselves; values decode as
    /// their base type.
    pub fn type_(&self) -> &Type {
        &self.ty
    }

    /// The description the server sent.
    pub fn field(&self) -> &FieldDescription {
        &self.field
    }

    /// The column's name (or alias) in the result.
    pub fn name(&self) -> &str {
        self.field.name()
    }

    /// The OID of the table the column comes from, or 0.
    pub fn table_oid(&self) -> u32 {
        self.field.table_oid()
    }

    /// The column's attribute number in that table, or 0.
    pub fn column_id(&self) -> i16 {
        self.field.column_id()
    }

    /// The OID of the column's data type.
    pub fn type_oid(&self) -> u32 {
        self.field.type_oid()
    }

    /// The type's size (`pg_type.typlen`); negative for variable-width types.
    pub fn type_size(&self) -> i16 {
        self.field.type_size()
    }

    /// The type modifier (`pg_attribute.atttypmod`), e.g. varchar's length + 4, or -1.
    pub fn type_modifier(&self) -> i32 {
        self.field.type_modifier()
    }

    /// The format code: 0 text, 1 binary.
    pub fn format(&self) -> i16 {
        self.field.format()
    }

    /// The same column with its type replaced (after the connection resolved it).
    pub(crate) fn with_type(&self, ty: Type) -> Column {
        Column {
            field: self.field.clone(),
            ty,
        }
    }
}

/// Something that picks a column: its 0-based index or its name.
///
/// ```
/// use hyperdjango_pgwire::RowIndex;
/// fn first<I: RowIndex>(i: I) -> I { i }
/// first(0usize);
/// first("id");
/// ```
pub trait RowIndex: fmt::Display {
    /// The position of the column in `columns`, if there is one.
    fn index(&self, columns: &[Column]) -> Option<usize>;
}

impl RowIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl RowIndex for str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name() == self)
    }
}

impl<T: RowIndex + ?Sized> RowIndex for &T {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (**self).index(columns)
    }
}

/// One row of a query result, in binary format.
///
/// Values are decoded on access with [`Row::get`], which checks the column's type: a mismatch
/// or an unexpected NULL is an error naming the column and both types.
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// let row = conn.query_one("SELECT 1::int4 AS n, 'hi'::text AS s", &[]).await?;
/// let n: i32 = row.get("n")?;
/// let s: &str = row.get(1)?; // borrowed from the row, no copy
/// assert_eq!((n, s), (1, "hi"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Row {
    columns: Arc<[Column]>,
    data: DataRow,
}

impl Row {
    pub(crate) fn new(columns: Arc<[Column]>, data: DataRow) -> Row {
        Row { columns, data }
    }

    pub(crate) fn columns_arc(&self) -> Arc<[Column]> {
        self.columns.clone()
    }

    /// The row with its column descriptions replaced (same data; used once types are
    /// resolved).
    /// The shared column description, without a reference-count increment.
    pub(crate) fn columns_shared(&self) -> &Arc<[Column]> {
        &self.columns
    }

    pub(crate) fn with_columns(self, columns: Arc<[Column]>) -> Row {
        Row {
            columns,
            data: self.data,
        }
    }

    pub(crate) fn into_data(self) -> DataRow {
        self.data
    }

    /// The columns of the row.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Decodes column `idx` (an index or a name) as `T`.
    pub fn get<'a, I, T>(&'a self, idx: I) -> Result<T>
    where
        I: RowIndex,
        T: FromSql<'a>,
    {
        let i = idx
            .index(&self.columns)
            .ok_or_else(|| Error::ColumnNotFound(describe_missing(&idx, &self.columns)))?;
        let column = &self.columns[i];
        let ty = column.type_();
        // Domains decode as their base type; errors name the column's own type.
        let base = ty.base();
        if !T::accepts(base) {
            return Err(Error::decode(
                column.name(),
                i,
                format!(
                    "cannot read PostgreSQL type {ty} as Rust type {}",
                    std::any::type_name::<T>()
                ),
            ));
        }
        // The DataRow's field count was checked against the description when the row arrived.
        let raw = self.data.get(i).unwrap_or(None);
        T::from_sql_nullable(base, raw).map_err(|e| Error::decode(column.name(), i, e.to_string()))
    }

    /// The raw binary bytes of column `idx`, or `None` for NULL.
    pub fn raw<I: RowIndex>(&self, idx: I) -> Result<Option<&[u8]>> {
        let i = idx
            .index(&self.columns)
            .ok_or_else(|| Error::ColumnNotFound(describe_missing(&idx, &self.columns)))?;
        Ok(self.data.get(i).unwrap_or(None))
    }
}

fn describe_missing(idx: &dyn fmt::Display, columns: &[Column]) -> String {
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    format!(
        "{idx} (the row has {} columns: {})",
        columns.len(),
        names.join(", ")
    )
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, c) in self.columns.iter().enumerate() {
            match self.data.get(i).unwrap_or(None) {
                Some(raw) => m.entry(
                    &c.name(),
                    &format_args!("<{} bytes of {}>", raw.len(), c.type_()),
                ),
                None => m.entry(&c.name(), &"NULL"),
            };
        }
        m.finish()
    }
}

/// One row of a simple-query result, in text format.
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// use hyperdjango_pgwire::SimpleQueryMessage;
/// for msg in conn.simple_query("SELECT 1 AS a, NULL AS b").await? {
///     if let SimpleQueryMessage::Row(row) = msg {
///         assert_eq!(row.get("a")?, Some("1"));
///         assert_eq!(row.get(1)?, None);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SimpleQueryRow {
    columns: Arc<[Column]>,
    data: DataRow,
}

impl SimpleQueryRow {
    pub(crate) fn new(columns: Arc<[Column]>, data: DataRow) -> SimpleQueryRow {
        SimpleQueryRow { columns, data }
    }

    /// The columns of the row.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The text of column `idx`, or `None` for NULL.
    pub fn get<I: RowIndex>(&self, idx: I) -> Result<Option<&str>> {
        let i = idx
            .index(&self.columns)
            .ok_or_else(|| Error::ColumnNotFound(describe_missing(&idx, &self.columns)))?;
        match self.data.get(i).unwrap_or(None) {
            None => Ok(None),
            Some(raw) => std::str::from_utf8(raw).map(Some).map_err(|e| {
                Error::decode(
                    self.columns[i].name(),
                    i,
                    format!("text value is not valid UTF-8: {e}"),
                )
            }),
        }
    }
}

impl fmt::Debug for SimpleQueryRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, c) in self.columns.iter().enumerate() {
            m.entry(&c.name(), &self.get(i).ok().flatten());
        }
        m.finish()
    }
}

/// One item of a [`crate::Connection::simple_query`] result.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SimpleQueryMessage {
    /// The columns of the rows that follow (sent once per row-returning statement).
    RowDescription(Arc<[Column]>),
    /// A row.
    Row(SimpleQueryRow),
    /// A statement finished; the count of rows it affected or returned.
    CommandComplete(u64),
}
