//! [`RawValue`]: a field for a column type the ORM has no Rust type for (`point`,
//! `tsvector`, a type from an extension). It holds the value's binary wire bytes as the
//! server sends them, and sends them back unchanged, with the column's type left for the
//! server to infer. `inspectdb` writes such fields with a comment and
//! `Field::new().db_type("point")`.
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::raw_value::RawValue;
//! model! {
//!     #[table = "places"]
//!     pub struct Place {
//!         pub id: Auto<i64> = Field::new().primary_key(),
//!         // point: no Rust type; the raw binary value.
//!         pub location: Option<RawValue> = Field::new().db_type("point"),
//!     }
//! }
//! assert!(hyperdjango_orm::ddl::create_table_sql::<Place>()[0].contains(r#""location" point"#));
//! ```

use hyperdjango_pgwire::__private::BytesMut;
use hyperdjango_pgwire::types::{BoxError, FromSql, IsNull, ToSql, Type};

use crate::field::{FieldType, NotNull};

/// The binary wire form of a value of any type (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RawValue(pub Vec<u8>);

impl ToSql for RawValue {
    fn sql_type(&self) -> Type {
        Type::UNSPECIFIED
    }
    fn accepts(&self, _: &Type) -> bool {
        true
    }
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
    fn declared_type() -> Type {
        Type::UNSPECIFIED
    }
}

impl<'a> FromSql<'a> for RawValue {
    fn accepts(_: &Type) -> bool {
        true
    }
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(RawValue(raw.to_vec()))
    }
}

impl FieldType for RawValue {
    type Base = RawValue;
    /// `BYTEA` unless the field says `db_type(..)` (which it should: the bytes are the
    /// column type's binary form).
    fn db_type() -> &'static str {
        "BYTEA"
    }
    fn zero() -> Self {
        RawValue::default()
    }
    fn as_base(&self) -> Option<&Self> {
        Some(self)
    }
    fn from_base(b: Self) -> Self {
        b
    }
}

impl NotNull for RawValue {}
