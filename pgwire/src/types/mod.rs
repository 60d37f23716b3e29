//! Moving values between Rust and PostgreSQL in the binary format.
//!
//! [`ToSql`] encodes a Rust value as a bind parameter and declares the PostgreSQL type it is
//! sent as, so the server never has to guess. [`FromSql`] decodes a column value, borrowing
//! from the row where it can (`&str`, `&[u8]`). Both check the PostgreSQL type: reading an
//! `int8` column into an `i32` is an error that names the column and both types, never a
//! silent truncation. A lossless widening (int2 or int4 into `i64`, float4 into `f64`) is
//! allowed.
//!
//! User types plug in through the same two traits the built-in types use.
//!
//! | PostgreSQL | Rust |
//! | --- | --- |
//! | bool | `bool` |
//! | "char" | `i8` |
//! | int2 | `i16` |
//! | int4 | `i32` (reads int2 too) |
//! | int8 | `i64` (reads int2, int4 too) |
//! | oid | `u32` |
//! | float4 | `f32` |
//! | float8 | `f64` (reads float4 too) |
//! | text, varchar, bpchar, name, unknown | `String`, `&str` |
//! | bytea | `Vec<u8>`, `&[u8]` |
//! | any, NULL | `Option<T>` |

mod primitives;

use std::error::Error as StdError;
use std::fmt;

use bytes::BytesMut;

/// A PostgreSQL object identifier; types are identified by their OID.
pub type Oid = u32;

/// The error type that [`ToSql`] and [`FromSql`] implementations return.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A PostgreSQL type, identified by its OID.
///
/// ```
/// use hyperdjango_pgwire::types::Type;
/// assert_eq!(Type::INT4.oid(), 23);
/// assert_eq!(Type::INT4.to_string(), "int4");
/// assert_eq!(Type::from_oid(99999).to_string(), "oid 99999");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Type(Oid);

macro_rules! builtin_types {
    ($($name:ident = $oid:literal, $pg:literal;)*) => {
        impl Type {
            $(
                #[doc = concat!("`", $pg, "` (oid ", stringify!($oid), ").")]
                pub const $name: Type = Type($oid);
            )*

            /// The type's name, for the built-in types this crate knows.
            pub fn name(&self) -> Option<&'static str> {
                match self.0 {
                    $($oid => Some($pg),)*
                    _ => None,
                }
            }
        }
    };
}

builtin_types! {
    UNSPECIFIED = 0, "unspecified";
    BOOL = 16, "bool";
    BYTEA = 17, "bytea";
    CHAR = 18, "\"char\"";
    NAME = 19, "name";
    INT8 = 20, "int8";
    INT2 = 21, "int2";
    INT4 = 23, "int4";
    TEXT = 25, "text";
    OID = 26, "oid";
    JSON = 114, "json";
    XML = 142, "xml";
    FLOAT4 = 700, "float4";
    FLOAT8 = 701, "float8";
    UNKNOWN = 705, "unknown";
    MONEY = 790, "money";
    BPCHAR = 1042, "bpchar";
    VARCHAR = 1043, "varchar";
    DATE = 1082, "date";
    TIME = 1083, "time";
    TIMESTAMP = 1114, "timestamp";
    TIMESTAMPTZ = 1184, "timestamptz";
    INTERVAL = 1186, "interval";
    TIMETZ = 1266, "timetz";
    NUMERIC = 1700, "numeric";
    VOID = 2278, "void";
    UUID = 2950, "uuid";
    JSONB = 3802, "jsonb";
    BOOL_ARRAY = 1000, "bool[]";
    BYTEA_ARRAY = 1001, "bytea[]";
    INT2_ARRAY = 1005, "int2[]";
    INT4_ARRAY = 1007, "int4[]";
    TEXT_ARRAY = 1009, "text[]";
    VARCHAR_ARRAY = 1015, "varchar[]";
    INT8_ARRAY = 1016, "int8[]";
    FLOAT4_ARRAY = 1021, "float4[]";
    FLOAT8_ARRAY = 1022, "float8[]";
}

impl Type {
    /// The type with the given OID.
    pub const fn from_oid(oid: Oid) -> Type {
        Type(oid)
    }

    /// The OID.
    pub const fn oid(&self) -> Oid {
        self.0
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "oid {}", self.0),
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
///     fn accepts(&self, ty: Type) -> bool { ty == Type::INT8 }
///     fn to_sql(&self, _ty: Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
///         out.put_i64(self.0);
///         Ok(IsNull::No)
///     }
/// }
/// let mut buf = BytesMut::new();
/// Cents(5).to_sql(Type::INT8, &mut buf).unwrap();
/// assert_eq!(&buf[..], &5i64.to_be_bytes());
/// ```
pub trait ToSql {
    /// The type this value is declared as when a query is sent without preparing it first.
    fn sql_type(&self) -> Type;

    /// Whether this value can be encoded as a parameter of type `ty` (checked against the
    /// parameter types of a prepared statement).
    fn accepts(&self, ty: Type) -> bool;

    /// Appends the binary encoding for type `ty` to `out`, or returns [`IsNull::Yes`] (having
    /// written nothing) for NULL.
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, BoxError>;

    /// A name for the Rust type, used in error messages.
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

/// A Rust type that can be read from a binary column value. `'a` is the row's lifetime, so
/// `&'a str` and `&'a [u8]` borrow from it without copying.
///
/// ```
/// use hyperdjango_pgwire::types::{BoxError, FromSql, Type};
///
/// /// An int8 column read as a cents amount.
/// struct Cents(i64);
///
/// impl<'a> FromSql<'a> for Cents {
///     fn accepts(ty: Type) -> bool { ty == Type::INT8 }
///     fn from_sql(ty: Type, raw: &'a [u8]) -> Result<Self, BoxError> {
///         i64::from_sql(ty, raw).map(Cents)
///     }
/// }
/// assert_eq!(Cents::from_sql(Type::INT8, &7i64.to_be_bytes()).unwrap().0, 7);
/// ```
pub trait FromSql<'a>: Sized {
    /// Whether a column of type `ty` can be read as this Rust type.
    fn accepts(ty: Type) -> bool;

    /// Decodes a non-NULL value of type `ty`.
    fn from_sql(ty: Type, raw: &'a [u8]) -> Result<Self, BoxError>;

    /// Decodes a NULL. The default is an error; `Option<T>` returns `None`.
    fn from_sql_null(ty: Type) -> Result<Self, BoxError> {
        Err(format!(
            "is NULL, which Rust type {} cannot hold (read it as Option<_>) [column type {ty}]",
            std::any::type_name::<Self>()
        )
        .into())
    }

    /// Decodes an optional value: dispatches to [`FromSql::from_sql`] or
    /// [`FromSql::from_sql_null`].
    fn from_sql_nullable(ty: Type, raw: Option<&'a [u8]>) -> Result<Self, BoxError> {
        match raw {
            Some(raw) => Self::from_sql(ty, raw),
            None => Self::from_sql_null(ty),
        }
    }
}

/// A type that owns its data: it can be decoded from a row of any lifetime.
pub trait FromSqlOwned: for<'a> FromSql<'a> {}

impl<T> FromSqlOwned for T where T: for<'a> FromSql<'a> {}
