//! `json` and `jsonb`.
//!
//! Without any feature, `String` and `&str` read and write both as raw JSON text (for jsonb,
//! the version byte is added and checked). With the `serde_json` feature,
//! `serde_json::Value` and [`Json<T>`] for any `Serialize`/`Deserialize` type read and write
//! them too.
//!
//! jsonb's binary format is a version byte (1) followed by the JSON text; json's is the text.

#[cfg(feature = "serde_json")]
pub use self::serde_impls::Json;

#[cfg(feature = "serde_json")]
mod serde_impls {
    use bytes::{BufMut, BytesMut};
    use serde::{Deserialize, Serialize};

    use crate::types::{BoxError, FromSql, IsNull, ToSql, Type, oids};

    /// A value stored as JSON: any `Serialize` type is sent as jsonb (or json), and any
    /// `Deserialize` type is read from json or jsonb.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::{FromSql, Json, ToSql, Type};
    /// let mut buf = bytes::BytesMut::new();
    /// Json(vec![1, 2]).to_sql(&Type::JSONB, &mut buf).unwrap();
    /// assert_eq!(&buf[..], b"\x01[1,2]");
    /// let Json(v): Json<Vec<i32>> = Json::from_sql(&Type::JSONB, &buf).unwrap();
    /// assert_eq!(v, [1, 2]);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Json<T>(pub T);

    fn is_json(ty: &Type) -> bool {
        matches!(ty.oid(), oids::JSON | oids::JSONB)
    }

    fn encode<T: Serialize + ?Sized>(
        v: &T,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, BoxError> {
        if ty.oid() != oids::JSON {
            out.put_u8(1);
        }
        serde_json::to_writer(out.writer(), v)?;
        // PostgreSQL text cannot hold NUL; JSON writes it as \u0000, which jsonb refuses
        // with its own clear error, so nothing to do here.
        Ok(IsNull::No)
    }

    fn text<'a>(ty: &Type, raw: &'a [u8]) -> Result<&'a [u8], BoxError> {
        if ty.oid() == oids::JSON {
            return Ok(raw);
        }
        match raw {
            [1, rest @ ..] => Ok(rest),
            [v, ..] => Err(format!("jsonb value has unknown format version {v}").into()),
            [] => Err("jsonb value is empty".into()),
        }
    }

    impl<T: Serialize> ToSql for Json<T> {
        fn sql_type(&self) -> Type {
            Type::JSONB
        }
        fn accepts(&self, ty: &Type) -> bool {
            is_json(ty)
        }
        fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
            encode(&self.0, ty, out)
        }
        fn rust_type(&self) -> &'static str {
            std::any::type_name::<Self>()
        }
        fn declared_type() -> Type {
            Type::JSONB
        }
    }

    impl<'a, T: Deserialize<'a>> FromSql<'a> for Json<T> {
        fn accepts(ty: &Type) -> bool {
            is_json(ty)
        }
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
            Ok(Json(serde_json::from_slice(text(ty, raw)?)?))
        }
    }

    impl ToSql for serde_json::Value {
        fn sql_type(&self) -> Type {
            Type::JSONB
        }
        fn accepts(&self, ty: &Type) -> bool {
            is_json(ty)
        }
        fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
            encode(self, ty, out)
        }
        fn rust_type(&self) -> &'static str {
            "serde_json::Value"
        }
        fn declared_type() -> Type {
            Type::JSONB
        }
    }

    impl<'a> FromSql<'a> for serde_json::Value {
        fn accepts(ty: &Type) -> bool {
            is_json(ty)
        }
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
            Ok(serde_json::from_slice(text(ty, raw)?)?)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn versions_and_garbage_are_errors() {
            let v = serde_json::json!({"a": "é\u{1F600}", "b": [1, null]});
            let mut b = BytesMut::new();
            v.to_sql(&Type::JSON, &mut b).unwrap();
            assert_eq!(serde_json::Value::from_sql(&Type::JSON, &b).unwrap(), v);
            assert!(
                serde_json::Value::from_sql(&Type::JSONB, &b).is_err(),
                "no version byte"
            );
            assert!(serde_json::Value::from_sql(&Type::JSONB, &[2, b'1']).is_err());
            assert!(serde_json::Value::from_sql(&Type::JSONB, &[]).is_err());
            assert!(serde_json::Value::from_sql(&Type::JSONB, &[1, b'{']).is_err());
            assert!(Json::<u8>::from_sql(&Type::JSONB, b"\x01300").is_err());
        }
    }
}
