//! Custom field types, and the spec's built-in ones: arrays, JSON and money.
//!
//! A field's Rust type decides its column through [`FieldType`]. Besides the scalar types,
//! the spec's custom-field examples are built in:
//!
//! | spec | hyperdjango | column |
//! | --- | --- | --- |
//! | `ArrayField(base_type="TEXT")` | `Vec<String>` (any [`ArrayElement`]: `Vec<i32>`, `Vec<f64>`, ...) | `TEXT[]`, `INTEGER[]`, ... |
//! | `JSONField(default_factory=dict)` | `serde_json::Value`, or `Json<T>` for a typed document (feature `serde_json`) | `JSONB` |
//! | `MoneyField()` | [`Money`] (feature `rust_decimal`) | `NUMERIC(12, 2)` |
//!
//! Your own types become fields with [`CustomField`], the spec's three methods:
//! `db_type` (the column type), `to_db_value` (into a type the driver already sends) and
//! `from_db_value` (back), then [`custom_field!`](crate::custom_field) to implement the
//! rest:
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::{custom_field, CustomField};
//!
//! /// A colour stored as "#rrggbb" text.
//! #[derive(Debug, Clone, Copy, PartialEq, Default)]
//! pub struct Rgb(pub u8, pub u8, pub u8);
//!
//! impl CustomField for Rgb {
//!     type Db = String;
//!     fn db_type() -> &'static str { "VARCHAR(7)" }
//!     fn to_db_value(&self) -> Result<String, String> {
//!         Ok(format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2))
//!     }
//!     fn from_db_value(v: String) -> Result<Self, String> {
//!         let hex = v.strip_prefix('#').filter(|h| h.len() == 6).ok_or_else(|| format!("{v:?} is not #rrggbb"))?;
//!         let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string());
//!         Ok(Rgb(byte(0)?, byte(2)?, byte(4)?))
//!     }
//! }
//! custom_field!(Rgb);
//!
//! model! {
//!     #[table = "themes"]
//!     pub struct Theme {
//!         pub id: Auto<i64> = Field::new().primary_key(),
//!         pub accent: Rgb,
//!         pub tags: Vec<String>,
//!         pub border: Option<Rgb>,
//!     }
//! }
//! let ddl = hyperdjango_orm::ddl::create_table_sql::<Theme>();
//! assert!(ddl[0].contains(r#""accent" VARCHAR(7) NOT NULL"#), "{}", ddl[0]);
//! assert!(ddl[0].contains(r#""tags" TEXT[] NOT NULL"#));
//! assert!(ddl[0].contains(r#""border" VARCHAR(7),"#) || ddl[0].contains(r#""border" VARCHAR(7))"#));
//! ```
//!
//! A value `to_db_value` refuses is an encoding error naming the Rust type; a stored value
//! `from_db_value` refuses is a decoding error naming the column. Neither panics.

use hyperdjango_pgwire::__private::BytesMut;
use hyperdjango_pgwire::types::{BoxError, FromSql, IsNull, ToSql, Type};

use crate::field::{FieldType, NotNull};

/// Element types of array fields (`Vec<T>` is a `T[]` column). Not `u8`: `Vec<u8>` is
/// `BYTEA`.
///
/// ```
/// use hyperdjango_orm::FieldType;
/// assert_eq!(<Vec<i32> as FieldType>::db_type(), "INTEGER[]");
/// assert_eq!(<Vec<String> as FieldType>::db_type(), "TEXT[]");
/// ```
pub trait ArrayElement: NotNull {
    /// The array column type.
    const ARRAY_DB_TYPE: &'static str;
}

macro_rules! array_elements {
    ($($t:ty => $sql:literal;)*) => {$(
        impl ArrayElement for $t {
            const ARRAY_DB_TYPE: &'static str = $sql;
        }
    )*};
}

array_elements! {
    i16 => "SMALLINT[]";
    i32 => "INTEGER[]";
    i64 => "BIGINT[]";
    f32 => "REAL[]";
    f64 => "DOUBLE PRECISION[]";
    bool => "BOOLEAN[]";
    String => "TEXT[]";
}

#[cfg(feature = "chrono")]
array_elements! {
    chrono::DateTime<chrono::Utc> => "TIMESTAMPTZ[]";
    chrono::NaiveDate => "DATE[]";
}

#[cfg(feature = "uuid")]
array_elements! {
    uuid::Uuid => "UUID[]";
}

#[cfg(feature = "rust_decimal")]
array_elements! {
    rust_decimal::Decimal => "NUMERIC[]";
}

impl<T: ArrayElement> FieldType for Vec<T>
where
    Vec<T>: ToSql + hyperdjango_pgwire::types::FromSqlOwned,
{
    type Base = Vec<T>;
    fn db_type() -> &'static str {
        T::ARRAY_DB_TYPE
    }
    fn zero() -> Self {
        Vec::new()
    }
    fn as_base(&self) -> Option<&Self> {
        Some(self)
    }
    fn from_base(b: Self) -> Self {
        b
    }
}

impl<T: ArrayElement> NotNull for Vec<T> where
    Vec<T>: ToSql + hyperdjango_pgwire::types::FromSqlOwned
{
}

/// A type stored through another one the driver already moves (the spec's custom fields).
/// Implement it, then call [`custom_field!`](crate::custom_field) for the type. See the
/// [module docs](self) for an example.
pub trait CustomField: Clone + Default + Send + Sync + 'static {
    /// The type the value is stored as (`String`, `i64`, `serde_json::Value`, ...).
    type Db: ToSql + hyperdjango_pgwire::types::FromSqlOwned + Send + Sync + 'static;
    /// The column type in DDL.
    fn db_type() -> &'static str;
    /// Into the stored type, before INSERT/UPDATE (an `Err` is an encoding error).
    fn to_db_value(&self) -> Result<Self::Db, String>;
    /// From the stored type, after SELECT (an `Err` is a decoding error).
    fn from_db_value(value: Self::Db) -> Result<Self, String>;
}

/// What [`custom_field!`](crate::custom_field) expands to; not part of the API.
#[doc(hidden)]
pub mod __custom {
    use super::*;

    pub fn sql_type<C: CustomField>(v: &C) -> Type {
        match v.to_db_value() {
            Ok(db) => db.sql_type(),
            Err(_) => <C::Db as ToSql>::declared_type(),
        }
    }

    pub fn to_sql<C: CustomField>(
        v: &C,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, BoxError> {
        let db = v.to_db_value().map_err(|e| -> BoxError {
            format!("{}::to_db_value: {e}", std::any::type_name::<C>()).into()
        })?;
        db.to_sql(ty, out)
    }

    pub fn accepts<C: CustomField>(v: &C, ty: &Type) -> bool {
        v.to_db_value().map_or(true, |db| db.accepts(ty))
    }

    pub fn from_sql<C: CustomField>(ty: &Type, raw: &[u8]) -> Result<C, BoxError> {
        let db = <C::Db as FromSql>::from_sql(ty, raw)?;
        C::from_db_value(db).map_err(|e| -> BoxError {
            format!("{}::from_db_value: {e}", std::any::type_name::<C>()).into()
        })
    }

    pub fn from_sql_accepts<C: CustomField>(ty: &Type) -> bool {
        <C::Db as FromSql>::accepts(ty)
    }
}

/// Makes a [`CustomField`] type a field type: implements `ToSql`, `FromSql`, `FieldType`
/// and `NotNull` for it (so `T` and `Option<T>` can be model fields).
///
/// ```
/// use hyperdjango_orm::{custom_field, CustomField, FieldType};
/// #[derive(Clone, Default)]
/// struct Percent(f64);
/// impl CustomField for Percent {
///     type Db = f64;
///     fn db_type() -> &'static str { "DOUBLE PRECISION" }
///     fn to_db_value(&self) -> Result<f64, String> {
///         if (0.0..=100.0).contains(&self.0) { Ok(self.0) } else { Err(format!("{} is not a percentage", self.0)) }
///     }
///     fn from_db_value(v: f64) -> Result<Self, String> { Ok(Percent(v)) }
/// }
/// custom_field!(Percent);
/// assert_eq!(<Percent as FieldType>::db_type(), "DOUBLE PRECISION");
/// ```
#[macro_export]
macro_rules! custom_field {
    ($t:ty) => {
        impl $crate::ToSql for $t {
            fn sql_type(&self) -> $crate::__private::Type {
                $crate::custom_field::__custom::sql_type(self)
            }
            fn accepts(&self, ty: &$crate::__private::Type) -> bool {
                $crate::custom_field::__custom::accepts(self, ty)
            }
            fn to_sql(
                &self,
                ty: &$crate::__private::Type,
                out: &mut $crate::__private::BytesMut,
            ) -> ::core::result::Result<$crate::__private::IsNull, $crate::__private::BoxError>
            {
                $crate::custom_field::__custom::to_sql(self, ty, out)
            }
            fn declared_type() -> $crate::__private::Type {
                <<$t as $crate::CustomField>::Db as $crate::ToSql>::declared_type()
            }
        }
        impl<'a> $crate::__private::FromSql<'a> for $t {
            fn accepts(ty: &$crate::__private::Type) -> bool {
                $crate::custom_field::__custom::from_sql_accepts::<$t>(ty)
            }
            fn from_sql(
                ty: &$crate::__private::Type,
                raw: &'a [u8],
            ) -> ::core::result::Result<Self, $crate::__private::BoxError> {
                $crate::custom_field::__custom::from_sql::<$t>(ty, raw)
            }
        }
        impl $crate::FieldType for $t {
            type Base = $t;
            fn db_type() -> &'static str {
                <$t as $crate::CustomField>::db_type()
            }
            fn zero() -> Self {
                <$t as ::core::default::Default>::default()
            }
            fn as_base(&self) -> ::core::option::Option<&Self> {
                ::core::option::Option::Some(self)
            }
            fn from_base(b: Self) -> Self {
                b
            }
        }
        impl $crate::field::NotNull for $t {}
    };
}

/// Makes a [`pg_enum!`](crate::pg_enum) type a field type: its column type is the enum
/// type `$pg`, and `$zero` is the value of a field that was not given.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// hyperdjango_orm::pg_enum! {
///     pub enum Mood("mood") { Sad = "sad", Happy = "happy" }
/// }
/// hyperdjango_orm::enum_field!(Mood, "mood", Mood::Sad);
/// model! {
///     #[table = "people"]
///     pub struct Person { pub id: Auto<i64> = Field::new().primary_key(), pub mood: Mood }
/// }
/// assert!(hyperdjango_orm::ddl::create_table_sql::<Person>()[0].contains(r#""mood" mood NOT NULL"#));
/// assert_eq!(Person::default().mood, Mood::Sad);
/// ```
#[macro_export]
macro_rules! enum_field {
    ($t:ty, $pg:literal, $zero:expr) => {
        impl $crate::FieldType for $t {
            type Base = $t;
            fn db_type() -> &'static str {
                $pg
            }
            fn zero() -> Self {
                $zero
            }
            fn as_base(&self) -> ::core::option::Option<&Self> {
                ::core::option::Option::Some(self)
            }
            fn from_base(b: Self) -> Self {
                b
            }
        }
        impl $crate::field::NotNull for $t {}
    };
}

/// A money amount: `NUMERIC(12, 2)`, rounded to cents (banker's rounding is not used:
/// half away from zero, as accountants expect) when stored — the spec's `MoneyField`.
///
/// ```
/// use hyperdjango_orm::custom_field::Money;
/// use hyperdjango_orm::{CustomField, FieldType};
/// use rust_decimal::Decimal;
/// let m = Money(Decimal::new(12345, 3)); // 12.345
/// assert_eq!(m.to_db_value().unwrap(), Decimal::new(1235, 2)); // 12.35
/// assert_eq!(<Money as FieldType>::db_type(), "NUMERIC(12, 2)");
/// assert!(Money(Decimal::new(1, 0) * Decimal::new(10_000_000_000, 0)).to_db_value().is_err());
/// ```
#[cfg(feature = "rust_decimal")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub rust_decimal::Decimal);

#[cfg(feature = "rust_decimal")]
impl CustomField for Money {
    type Db = rust_decimal::Decimal;
    fn db_type() -> &'static str {
        "NUMERIC(12, 2)"
    }
    fn to_db_value(&self) -> Result<rust_decimal::Decimal, String> {
        let cents = self
            .0
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        // NUMERIC(12, 2): at most 10 digits before the point.
        if cents.abs() >= rust_decimal::Decimal::new(10_000_000_000, 0) {
            return Err(format!("{} does not fit NUMERIC(12, 2)", self.0));
        }
        Ok(cents)
    }
    fn from_db_value(v: rust_decimal::Decimal) -> Result<Self, String> {
        Ok(Money(v))
    }
}

#[cfg(feature = "rust_decimal")]
crate::custom_field!(Money);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq)]
    struct Upper(String);
    impl CustomField for Upper {
        type Db = String;
        fn db_type() -> &'static str {
            "TEXT"
        }
        fn to_db_value(&self) -> Result<String, String> {
            if self.0.is_empty() {
                return Err("empty".into());
            }
            Ok(self.0.to_uppercase())
        }
        fn from_db_value(v: String) -> Result<Self, String> {
            if v.chars().any(|c| c.is_lowercase()) {
                return Err(format!("{v:?} has lower case"));
            }
            Ok(Upper(v))
        }
    }
    crate::custom_field!(Upper);

    #[test]
    fn custom_fields_convert_both_ways_and_refuse_with_clear_errors() {
        let mut out = BytesMut::new();
        let v = Upper("abc".into());
        assert_eq!(v.sql_type(), Type::TEXT);
        v.to_sql(&Type::TEXT, &mut out).unwrap();
        assert_eq!(&out[..], b"ABC");
        let back = <Upper as FromSql>::from_sql(&Type::TEXT, b"ABC").unwrap();
        assert_eq!(back, Upper("ABC".into()));
        let err = <Upper as FromSql>::from_sql(&Type::TEXT, b"AbC").unwrap_err();
        assert!(
            err.to_string().contains("from_db_value") && err.to_string().contains("lower case")
        );
        let err = Upper(String::new())
            .to_sql(&Type::TEXT, &mut out)
            .unwrap_err();
        assert!(err.to_string().contains("to_db_value: empty"), "{err}");
        assert!(<Upper as FromSql>::accepts(&Type::TEXT));
        assert!(!<Upper as FromSql>::accepts(&Type::INT4));
    }
}
