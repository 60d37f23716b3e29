//! Moving values between Rust and PostgreSQL in the binary format.
//!
//! [`ToSql`] encodes a Rust value as a bind parameter and declares the PostgreSQL type it is
//! sent as, so the server never has to guess. [`FromSql`] decodes a column value, borrowing
//! from the row where it can (`&str`, `&[u8]`). Both check the PostgreSQL type: reading an
//! `int8` column into an `i32` is an error that names the column and both types, never a
//! silent truncation. A lossless widening (int2 or int4 into `i64`, float4 into `f64`) is
//! allowed. Every decoder checks lengths and returns an error, never panics, on malformed
//! bytes.
//!
//! User types plug in through the same two traits the built-in types use.
//!
//! # Types
//!
//! A [`Type`] is a built-in type (an OID with a static name and [`Kind`]) or a type defined
//! in the database (an enum, a domain, a composite, an extension's type such as `vector` or
//! `hstore`, an array or range of one of those). The connection looks the latter up in the
//! catalog the first time it meets their OID, and caches them, so [`FromSql::accepts`] sees
//! the name and the structure: an enum's labels, a domain's base type, a composite's fields.
//!
//! Values of database-defined types are declared as [`Type::UNSPECIFIED`] when a query is
//! sent without preparing it, so the server infers their type from the query (`$1::mood`,
//! or the column an `INSERT` writes to); they still travel in binary.
//!
//! # The type families
//!
//! One module per family, each with its Rust types: [`numeric`] (exact decimals, money),
//! [`time`] (dates, times, intervals, with `chrono` behind its feature), [`json`], [`net`]
//! (inet, cidr, macaddr), [`bits`] (bit, varbit), [`array`](mod@array) (N-dimensional arrays),
//! [`range`] (ranges and multiranges), [`custom`] (enums, composites, hstore, pgvector), and
//! `uuid` (feature `uuid`). The README has the full table of PostgreSQL types, Rust types and
//! feature flags.

pub mod array;
pub mod bits;
pub mod custom;
pub mod json;
pub mod net;
pub mod numeric;
mod primitives;
pub mod range;
pub mod time;
#[cfg(feature = "uuid")]
mod uuid;

use std::error::Error as StdError;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::BytesMut;

pub use self::array::{Array, Dimension};
pub use self::bits::BitString;
pub use self::custom::{Composite, HalfVector, SparseVector, Vector};
#[cfg(feature = "serde_json")]
pub use self::json::Json;
pub use self::net::{Inet, MacAddr, MacAddr8};
pub use self::numeric::{Money, Numeric};
pub use self::range::{Multirange, Range};
pub use self::time::{Date, Interval, Time, TimeTz, Timestamp, TimestampTz};

/// A PostgreSQL object identifier; types are identified by their OID.
pub type Oid = u32;

/// The error type that [`ToSql`] and [`FromSql`] implementations return.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A PostgreSQL type: its OID, name, schema and [`Kind`].
///
/// Built-in types are constants (`Type::INT4`, `Type::TEXT_ARRAY`, ...). Types defined in the
/// database are looked up by the connection; their `Type` carries what the catalog says.
/// Cloning is cheap (a copy or a reference count), and two `Type`s are equal when their OIDs
/// are.
///
/// ```
/// use hyperdjango_pgwire::types::{Kind, Type};
/// assert_eq!(Type::INT4.oid(), 23);
/// assert_eq!(Type::INT4.to_string(), "int4");
/// assert_eq!(Type::INT4_ARRAY.kind(), &Kind::Array(Type::INT4));
/// assert_eq!(Type::from_oid(99999).to_string(), "oid 99999");
///
/// let mood = Type::new(16500, "mood", "public", Kind::Enum(vec!["sad".into(), "happy".into()]));
/// assert_eq!(mood.name(), Some("mood"));
/// assert_eq!(mood, Type::from_oid(16500));
/// ```
#[derive(Clone)]
pub struct Type(Repr);

#[derive(Clone)]
enum Repr {
    /// A built-in type, or an OID not (yet) resolved.
    Oid(Oid),
    /// A type described by the catalog.
    Described(Arc<TypeInfo>),
}

struct TypeInfo {
    oid: Oid,
    name: String,
    schema: String,
    kind: Kind,
}

/// What kind of type a [`Type`] is, with what it is built on.
///
/// ```
/// use hyperdjango_pgwire::types::{Kind, Type};
/// assert_eq!(Type::INT4RANGE.kind(), &Kind::Range(Type::INT4));
/// assert_eq!(Type::TEXT.kind(), &Kind::Simple);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A base type (int4, text, or an extension's type such as `vector`).
    Simple,
    /// A pseudo-type (`unknown`, `record`, `void`, ...).
    Pseudo,
    /// An enum, with its labels in sort order.
    Enum(Vec<String>),
    /// A domain over the base type.
    Domain(Type),
    /// A composite type, with its fields in order.
    Composite(Vec<Field>),
    /// An array of the element type.
    Array(Type),
    /// A range over the subtype.
    Range(Type),
    /// A multirange of the range type.
    Multirange(Type),
}

/// A field of a composite type.
///
/// ```
/// use hyperdjango_pgwire::types::{Field, Type};
/// let f = Field::new("x", Type::INT4);
/// assert_eq!((f.name(), f.type_()), ("x", &Type::INT4));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    name: String,
    ty: Type,
}

impl Field {
    /// A field named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: Type) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field's type.
    pub fn type_(&self) -> &Type {
        &self.ty
    }
}

/// A built-in type's static description.
struct Builtin {
    oid: Oid,
    name: &'static str,
    kind: Kind,
}

static SIMPLE: Kind = Kind::Simple;

macro_rules! builtin_types {
    ($($name:ident = $oid:literal, $pg:literal, $kind:ident $(($of:expr))?;)*) => {
        impl Type {
            $(
                #[doc = concat!("`", $pg, "` (oid ", stringify!($oid), ").")]
                pub const $name: Type = Type(Repr::Oid($oid));
            )*
        }

        /// The built-in types' OIDs, for `match`.
        #[allow(dead_code)]
        pub(crate) mod oids {
            $(pub(crate) const $name: u32 = $oid;)*
        }

        /// Every built-in type, sorted by OID.
        pub(super) static BUILTINS: &[Builtin] = &[
            $(Builtin { oid: $oid, name: $pg, kind: Kind::$kind $(($of))? },)*
        ];
    };
}

mod builtin;

use self::builtin::BUILTINS;
pub(crate) use self::builtin::oids;

fn builtin(oid: Oid) -> Option<&'static Builtin> {
    BUILTINS
        .binary_search_by_key(&oid, |b| b.oid)
        .ok()
        .map(|i| &BUILTINS[i])
}

impl Type {
    /// The type with the given OID. For a built-in type this is the constant; any other OID
    /// gives a type with no name until the connection resolves it.
    pub const fn from_oid(oid: Oid) -> Type {
        Type(Repr::Oid(oid))
    }

    /// A type described by the catalog (this is what the connection builds for types defined
    /// in the database; tests and custom code can build them too).
    pub fn new(oid: Oid, name: impl Into<String>, schema: impl Into<String>, kind: Kind) -> Type {
        Type(Repr::Described(Arc::new(TypeInfo {
            oid,
            name: name.into(),
            schema: schema.into(),
            kind,
        })))
    }

    /// The OID.
    pub fn oid(&self) -> Oid {
        match &self.0 {
            Repr::Oid(oid) => *oid,
            Repr::Described(info) => info.oid,
        }
    }

    /// The type's name (`int4`, `text[]`, `mood`), or `None` for an OID that is neither
    /// built in nor resolved.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Type;
    /// assert_eq!(Type::TEXT_ARRAY.name(), Some("text[]"));
    /// assert_eq!(Type::from_oid(123456).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        match &self.0 {
            Repr::Oid(oid) => builtin(*oid).map(|b| b.name),
            Repr::Described(info) => Some(&info.name),
        }
    }

    /// The schema the type lives in (`pg_catalog` for built-in types), if known.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Type;
    /// assert_eq!(Type::INT4.schema(), Some("pg_catalog"));
    /// ```
    pub fn schema(&self) -> Option<&str> {
        match &self.0 {
            Repr::Oid(oid) => builtin(*oid).map(|_| "pg_catalog"),
            Repr::Described(info) => Some(&info.schema),
        }
    }

    /// What kind of type this is. An unresolved OID is reported as [`Kind::Simple`].
    pub fn kind(&self) -> &Kind {
        match &self.0 {
            Repr::Oid(oid) => builtin(*oid).map_or(&SIMPLE, |b| &b.kind),
            Repr::Described(info) => &info.kind,
        }
    }

    /// Whether the name and kind are known: built in, or described by the catalog.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Type;
    /// assert!(Type::BOOL.is_resolved());
    /// assert!(!Type::from_oid(700_000).is_resolved());
    /// ```
    pub fn is_resolved(&self) -> bool {
        match &self.0 {
            Repr::Oid(oid) => builtin(*oid).is_some(),
            Repr::Described(_) => true,
        }
    }

    /// The type values are stored as: for a domain, its base type (recursively); for any
    /// other type, itself. Decoders see this type.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::{Kind, Type};
    /// let email = Type::new(20000, "email", "public", Kind::Domain(Type::TEXT));
    /// assert_eq!(email.base(), &Type::TEXT);
    /// ```
    pub fn base(&self) -> &Type {
        let mut ty = self;
        // Domains over domains are finite (the catalog forbids cycles); the bound guards
        // against a hand-built cycle.
        for _ in 0..64 {
            match &ty.0 {
                // Built-in types (and unresolved OIDs) are never domains: no table lookup on
                // this path, which every `Row::get` takes.
                Repr::Oid(_) => break,
                Repr::Described(info) => match &info.kind {
                    Kind::Domain(base) => ty = base,
                    _ => break,
                },
            }
        }
        ty
    }

    /// For an array type, the element type (domains not unwrapped).
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Type;
    /// assert_eq!(Type::INT8_ARRAY.array_element(), Some(&Type::INT8));
    /// assert_eq!(Type::INT8.array_element(), None);
    /// ```
    pub fn array_element(&self) -> Option<&Type> {
        match self.kind() {
            Kind::Array(elem) => Some(elem),
            _ => None,
        }
    }

    /// The built-in array type whose elements have this type, or [`Type::UNSPECIFIED`] when
    /// there is none (arrays of database-defined types are looked up at run time).
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Type;
    /// assert_eq!(Type::INT4.array_type(), Type::INT4_ARRAY);
    /// assert_eq!(Type::UNSPECIFIED.array_type(), Type::UNSPECIFIED);
    /// ```
    pub fn array_type(&self) -> Type {
        builtin::array_of(self.oid()).map_or(Type::UNSPECIFIED, Type::from_oid)
    }

    /// The built-in range type over this subtype, or [`Type::UNSPECIFIED`].
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Type;
    /// assert_eq!(Type::DATE.range_type(), Type::DATERANGE);
    /// ```
    pub fn range_type(&self) -> Type {
        builtin::range_of(self.oid()).map_or(Type::UNSPECIFIED, Type::from_oid)
    }

    /// The built-in multirange type of this range type, or [`Type::UNSPECIFIED`].
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Type;
    /// assert_eq!(Type::INT8RANGE.multirange_type(), Type::INT8MULTIRANGE);
    /// ```
    pub fn multirange_type(&self) -> Type {
        builtin::multirange_of(self.oid()).map_or(Type::UNSPECIFIED, Type::from_oid)
    }

    /// Whether this type (after unwrapping domains) is named `name` (schema ignored). This is
    /// how extension types, whose OIDs differ between databases, are recognised.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::{Kind, Type};
    /// let v = Type::new(30000, "vector", "public", Kind::Simple);
    /// assert!(v.is_named("vector"));
    /// ```
    pub fn is_named(&self, name: &str) -> bool {
        self.base().name() == Some(name)
    }
}

impl PartialEq for Type {
    fn eq(&self, other: &Type) -> bool {
        self.oid() == other.oid()
    }
}

impl Eq for Type {}

impl Hash for Type {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.oid().hash(state);
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.0, self.name()) {
            (Repr::Described(info), Some(n))
                if !matches!(info.schema.as_str(), "pg_catalog" | "public" | "") =>
            {
                write!(f, "{}.{n}", info.schema)
            }
            (_, Some(n)) => f.write_str(n),
            (_, None) => write!(f, "oid {}", self.oid()),
        }
    }
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Type({self})")
    }
}

/// Whether an encoded value is NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsNull {
    /// NULL: nothing was written.
    Yes,
    /// A value was written.
    No,
}

/// A Rust value that can be sent to PostgreSQL as a binary bind parameter.
///
/// Implement it for your own types to send them; the trait is object-safe, so parameters are
/// passed as `&[&(dyn ToSql + Sync)]`.
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use hyperdjango_pgwire::types::{BoxError, IsNull, ToSql, Type};
///
/// /// A cents amount stored in an int8 column.
/// struct Cents(i64);
///
/// impl ToSql for Cents {
///     fn sql_type(&self) -> Type { Type::INT8 }
///     fn accepts(&self, ty: &Type) -> bool { *ty == Type::INT8 }
///     fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
///         out.put_i64(self.0);
///         Ok(IsNull::No)
///     }
/// }
/// let mut buf = BytesMut::new();
/// Cents(5).to_sql(&Type::INT8, &mut buf).unwrap();
/// assert_eq!(&buf[..], &5i64.to_be_bytes());
/// ```
pub trait ToSql {
    /// The type this value is declared as when a query is sent without preparing it first.
    /// Values of types defined in the database return [`Type::UNSPECIFIED`], so the server
    /// infers the type from the query.
    fn sql_type(&self) -> Type;

    /// Whether this value can be encoded as a parameter of type `ty` (checked against the
    /// parameter types of a prepared statement; domains are unwrapped to their base type).
    fn accepts(&self, ty: &Type) -> bool;

    /// Appends the binary encoding for type `ty` to `out`, or returns [`IsNull::Yes`] (having
    /// written nothing) for NULL. `ty` is [`ToSql::sql_type`] for a query sent without
    /// preparing, or the prepared statement's parameter type.
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError>;

    /// A name for the Rust type, used in error messages.
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// The type values of this Rust type are declared as, known without a value: arrays
    /// (`Vec<T>`), ranges and NULLs (`None::<T>`) are declared from it. The default,
    /// [`Type::UNSPECIFIED`], lets the server infer the type.
    fn declared_type() -> Type
    where
        Self: Sized,
    {
        Type::UNSPECIFIED
    }
}

/// A Rust type that can be read from a binary column value. `'a` is the row's lifetime, so
/// `&'a str` and `&'a [u8]` borrow from it without copying.
///
/// `ty` is the column's type with domains unwrapped to their base type.
///
/// ```
/// use hyperdjango_pgwire::types::{BoxError, FromSql, Type};
///
/// /// An int8 column read as a cents amount.
/// struct Cents(i64);
///
/// impl<'a> FromSql<'a> for Cents {
///     fn accepts(ty: &Type) -> bool { *ty == Type::INT8 }
///     fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
///         i64::from_sql(ty, raw).map(Cents)
///     }
/// }
/// assert_eq!(Cents::from_sql(&Type::INT8, &7i64.to_be_bytes()).unwrap().0, 7);
/// ```
pub trait FromSql<'a>: Sized {
    /// Whether a column of type `ty` can be read as this Rust type.
    fn accepts(ty: &Type) -> bool;

    /// Decodes a non-NULL value of type `ty`.
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError>;

    /// Decodes a NULL. The default is an error; `Option<T>` returns `None`.
    fn from_sql_null(ty: &Type) -> Result<Self, BoxError> {
        Err(format!(
            "is NULL, which Rust type {} cannot hold (read it as Option<_>) [column type {ty}]",
            std::any::type_name::<Self>()
        )
        .into())
    }

    /// Decodes an optional value: dispatches to [`FromSql::from_sql`] or
    /// [`FromSql::from_sql_null`].
    fn from_sql_nullable(ty: &Type, raw: Option<&'a [u8]>) -> Result<Self, BoxError> {
        match raw {
            Some(raw) => Self::from_sql(ty, raw),
            None => Self::from_sql_null(ty),
        }
    }
}

/// A type that owns its data: it can be decoded from a row of any lifetime.
pub trait FromSqlOwned: for<'a> FromSql<'a> {}

impl<T> FromSqlOwned for T where T: for<'a> FromSql<'a> {}

/// Checks a fixed-width value's length.
#[inline]
pub(crate) fn fixed<const N: usize>(ty: &Type, raw: &[u8]) -> Result<[u8; N], BoxError> {
    raw.try_into()
        .map_err(|_| format!("{ty} value has {} bytes, expected {N}", raw.len()).into())
}

/// A cursor over a binary value that turns every short read into an error naming the type.
pub(crate) struct Reader<'a, 't> {
    buf: &'a [u8],
    what: &'t Type,
}

impl<'a, 't> Reader<'a, 't> {
    pub(crate) fn new(what: &'t Type, buf: &'a [u8]) -> Reader<'a, 't> {
        Reader { buf, what }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], BoxError> {
        if self.buf.len() < n {
            return Err(format!(
                "{} value is truncated: needed {n} more bytes, {} left",
                self.what,
                self.buf.len()
            )
            .into());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], BoxError> {
        let s = self.take(N)?;
        let mut a = [0; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, BoxError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn i16(&mut self) -> Result<i16, BoxError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, BoxError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, BoxError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, BoxError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, BoxError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub(crate) fn f32(&mut self) -> Result<f32, BoxError> {
        Ok(f32::from_be_bytes(self.array()?))
    }

    /// A length-prefixed value: `None` for length -1 (NULL).
    pub(crate) fn value(&mut self) -> Result<Option<&'a [u8]>, BoxError> {
        match self.i32()? {
            -1 => Ok(None),
            n if n < 0 => Err(format!("{} value has a negative length {n}", self.what).into()),
            n => self.take(n as usize).map(Some),
        }
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Errors if bytes are left over.
    pub(crate) fn finish(&self) -> Result<(), BoxError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} value has {} unexpected trailing bytes",
                self.what,
                self.buf.len()
            )
            .into())
        }
    }
}

/// Writes a length-prefixed value (the form array elements, composite fields and range
/// bounds take): reserves the length, encodes, and patches it (-1 for NULL).
pub(crate) fn write_nested(
    out: &mut BytesMut,
    value: &dyn ToSql,
    ty: &Type,
) -> Result<(), BoxError> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let len = match value.to_sql(ty, out)? {
        IsNull::Yes => {
            out.truncate(at + 4);
            -1
        }
        IsNull::No => i32::try_from(out.len() - at - 4)
            .map_err(|_| format!("a {ty} value is larger than 2 GiB"))?,
    };
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Converts a length or count to the i32 the wire uses, or errors.
pub(crate) fn wire_len(n: usize, what: &str) -> Result<i32, BoxError> {
    i32::try_from(n).map_err(|_| format!("{what} {n} does not fit the protocol's int32").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_is_sorted_and_consistent() {
        for w in BUILTINS.windows(2) {
            assert!(w[0].oid < w[1].oid, "{} before {}", w[0].name, w[1].name);
        }
        for b in BUILTINS {
            match &b.kind {
                Kind::Array(e) => {
                    assert!(e.is_resolved(), "{}", b.name);
                    assert!(b.name.ends_with("[]") || b.name.ends_with("vector"));
                }
                Kind::Range(s) => assert_eq!(s.range_type().oid(), b.oid),
                Kind::Multirange(r) => assert_eq!(r.multirange_type().oid(), b.oid),
                _ => {}
            }
        }
        assert_eq!(Type::CHAR.to_string(), "\"char\"");
        assert_eq!(Type::UNSPECIFIED.name(), Some("unspecified"));
        assert_eq!(Type::NUMERIC.array_type(), Type::NUMERIC_ARRAY);
        assert_eq!(Type::INT4RANGE.multirange_type(), Type::INT4MULTIRANGE);
    }

    #[test]
    fn described_types_compare_by_oid_and_display_their_schema() {
        let t = Type::new(40000, "thing", "app", Kind::Simple);
        assert_eq!(t, Type::from_oid(40000));
        assert_eq!(t.to_string(), "app.thing");
        assert_eq!(
            Type::new(40001, "thing", "public", Kind::Simple).to_string(),
            "thing"
        );
        // A cycle of domains built by hand does not hang.
        let d = Type::new(1, "d", "public", Kind::Domain(Type::from_oid(1)));
        let _ = d.base();
    }

    #[test]
    fn reader_errors_instead_of_panicking() {
        let mut r = Reader::new(&Type::INT4, &[0, 0, 0]);
        assert!(r.i32().unwrap_err().to_string().contains("truncated"));
        let mut r = Reader::new(&Type::INT4, &[0xff, 0xff, 0xff, 0xfe]);
        assert!(r.value().unwrap_err().to_string().contains("negative"));
        let mut r = Reader::new(&Type::INT4, &[0, 0, 0, 9, 1]);
        assert!(r.value().is_err());
    }
}
