//! bool, integers, floats, text, bytea and `Option<T>`.

use bytes::{BufMut, BytesMut};

use super::{BoxError, FromSql, IsNull, Kind, ToSql, Type, fixed, oids};

macro_rules! fixed_width {
    // $t: Rust type; $send: the type it is declared as; $reads: types it decodes from,
    // with the width-specific decoder for each.
    ($t:ty, $send:expr, $put:ident, [$($read:expr => $dec:expr),+ $(,)?]) => {
        impl ToSql for $t {
            fn sql_type(&self) -> Type {
                $send
            }
            fn accepts(&self, ty: &Type) -> bool {
                *ty == $send
            }
            #[inline]
            fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
                out.$put(*self);
                Ok(IsNull::No)
            }
            fn rust_type(&self) -> &'static str {
                stringify!($t)
            }
            fn declared_type() -> Type {
                $send
            }
        }

        impl<'a> FromSql<'a> for $t {
            fn accepts(ty: &Type) -> bool {
                $(*ty == $read)||+
            }
            #[inline]
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
                $(
                    if *ty == $read {
                        let f: fn(&Type, &[u8]) -> Result<$t, BoxError> = $dec;
                        return f(ty, raw);
                    }
                )+
                Err(format!("cannot read {ty} as {}", stringify!($t)).into())
            }
        }
    };
}

fixed_width!(i8, Type::CHAR, put_i8, [Type::CHAR => |ty, raw| Ok(i8::from_be_bytes(fixed(ty, raw)?))]);
fixed_width!(i16, Type::INT2, put_i16, [Type::INT2 => |ty, raw| Ok(i16::from_be_bytes(fixed(ty, raw)?))]);
fixed_width!(i32, Type::INT4, put_i32, [
    Type::INT4 => |ty, raw| Ok(i32::from_be_bytes(fixed(ty, raw)?)),
    Type::INT2 => |ty, raw| Ok(i16::from_be_bytes(fixed(ty, raw)?).into()),
]);
fixed_width!(i64, Type::INT8, put_i64, [
    Type::INT8 => |ty, raw| Ok(i64::from_be_bytes(fixed(ty, raw)?)),
    Type::INT4 => |ty, raw| Ok(i32::from_be_bytes(fixed(ty, raw)?).into()),
    Type::INT2 => |ty, raw| Ok(i16::from_be_bytes(fixed(ty, raw)?).into()),
]);
fixed_width!(u32, Type::OID, put_u32, [Type::OID => |ty, raw| Ok(u32::from_be_bytes(fixed(ty, raw)?))]);
fixed_width!(f32, Type::FLOAT4, put_f32, [Type::FLOAT4 => |ty, raw| Ok(f32::from_be_bytes(fixed(ty, raw)?))]);
fixed_width!(f64, Type::FLOAT8, put_f64, [
    Type::FLOAT8 => |ty, raw| Ok(f64::from_be_bytes(fixed(ty, raw)?)),
    Type::FLOAT4 => |ty, raw| Ok(f32::from_be_bytes(fixed(ty, raw)?).into()),
]);

impl ToSql for bool {
    fn sql_type(&self) -> Type {
        Type::BOOL
    }
    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::BOOL
    }
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_u8(*self as u8);
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "bool"
    }
    fn declared_type() -> Type {
        Type::BOOL
    }
}

impl<'a> FromSql<'a> for bool {
    fn accepts(ty: &Type) -> bool {
        *ty == Type::BOOL
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        match fixed::<1>(ty, raw)? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(format!("bool value byte {b} is neither 0 nor 1").into()),
        }
    }
}

/// How a Rust string travels as a value of type `ty`, if it can.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TextForm {
    /// The bytes themselves (text, varchar, bpchar, name, unknown, citext, xml, json, enums).
    Plain,
    /// jsonb: a version byte (1), then the JSON text.
    Jsonb,
}

/// The types a Rust string is read from and can be sent as: the text types, `unknown`,
/// `citext` (by name), `xml`, `json` and `jsonb` (as raw JSON text), and enums (their
/// labels).
fn text_form(ty: &Type) -> Option<TextForm> {
    match ty.oid() {
        oids::TEXT
        | oids::VARCHAR
        | oids::BPCHAR
        | oids::NAME
        | oids::UNKNOWN
        | oids::XML
        | oids::JSON => Some(TextForm::Plain),
        oids::JSONB => Some(TextForm::Jsonb),
        _ if matches!(ty.kind(), Kind::Enum(_)) || ty.is_named("citext") => Some(TextForm::Plain),
        _ => None,
    }
}

impl ToSql for str {
    fn sql_type(&self) -> Type {
        Type::TEXT
    }
    fn accepts(&self, ty: &Type) -> bool {
        text_form(ty).is_some()
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        // text's binary format is the bytes themselves, but PostgreSQL strings cannot hold NUL:
        // the server would reject it with an encoding error, so say precisely why here.
        if let Some(at) = memchr::memchr(0, self.as_bytes()) {
            return Err(format!(
                "{ty} value contains a NUL byte at offset {at}, which PostgreSQL text cannot store"
            )
            .into());
        }
        if text_form(ty) == Some(TextForm::Jsonb) {
            out.put_u8(1);
        }
        out.put_slice(self.as_bytes());
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "&str"
    }
}

impl ToSql for String {
    fn sql_type(&self) -> Type {
        Type::TEXT
    }
    fn accepts(&self, ty: &Type) -> bool {
        text_form(ty).is_some()
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.as_str().to_sql(ty, out)
    }
    fn rust_type(&self) -> &'static str {
        "String"
    }
    fn declared_type() -> Type {
        Type::TEXT
    }
}

impl<'a> FromSql<'a> for &'a str {
    fn accepts(ty: &Type) -> bool {
        text_form(ty).is_some()
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let raw = match (text_form(ty), raw) {
            (Some(TextForm::Jsonb), [1, rest @ ..]) => rest,
            (Some(TextForm::Jsonb), [v, ..]) => {
                return Err(format!("jsonb value has unknown format version {v}").into());
            }
            (Some(TextForm::Jsonb), []) => return Err("jsonb value is empty".into()),
            _ => raw,
        };
        std::str::from_utf8(raw).map_err(|e| format!("{ty} value is not valid UTF-8: {e}").into())
    }
}

impl<'a> FromSql<'a> for String {
    fn accepts(ty: &Type) -> bool {
        text_form(ty).is_some()
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        <&str>::from_sql(ty, raw).map(str::to_owned)
    }
}

impl ToSql for [u8] {
    fn sql_type(&self) -> Type {
        Type::BYTEA
    }
    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::BYTEA
    }
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_slice(self);
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "&[u8]"
    }
}

impl ToSql for Vec<u8> {
    fn sql_type(&self) -> Type {
        Type::BYTEA
    }
    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::BYTEA
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.as_slice().to_sql(ty, out)
    }
    fn rust_type(&self) -> &'static str {
        "Vec<u8>"
    }
    fn declared_type() -> Type {
        Type::BYTEA
    }
}

impl<'a> FromSql<'a> for &'a [u8] {
    fn accepts(ty: &Type) -> bool {
        *ty == Type::BYTEA
    }
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(raw)
    }
}

impl<'a> FromSql<'a> for Vec<u8> {
    fn accepts(ty: &Type) -> bool {
        *ty == Type::BYTEA
    }
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(raw.to_vec())
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn sql_type(&self) -> Type {
        match self {
            Some(v) => v.sql_type(),
            // Without a value there is no Rust type to ask: leave the parameter's type
            // unspecified and let the server infer it from the query. A NULL has no bytes, so
            // its format cannot be misread.
            None => Type::UNSPECIFIED,
        }
    }
    fn accepts(&self, ty: &Type) -> bool {
        match self {
            Some(v) => v.accepts(ty),
            None => true,
        }
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Some(v) => v.to_sql(ty, out),
            None => Ok(IsNull::Yes),
        }
    }
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
    fn declared_type() -> Type {
        T::declared_type()
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn accepts(ty: &Type) -> bool {
        T::accepts(ty)
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        T::from_sql(ty, raw).map(Some)
    }
    fn from_sql_null(_ty: &Type) -> Result<Self, BoxError> {
        Ok(None)
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn sql_type(&self) -> Type {
        (**self).sql_type()
    }
    fn accepts(&self, ty: &Type) -> bool {
        (**self).accepts(ty)
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        (**self).to_sql(ty, out)
    }
    fn rust_type(&self) -> &'static str {
        (**self).rust_type()
    }
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn sql_type(&self) -> Type {
        (**self).sql_type()
    }
    fn accepts(&self, ty: &Type) -> bool {
        (**self).accepts(ty)
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        (**self).to_sql(ty, out)
    }
    fn rust_type(&self) -> &'static str {
        (**self).rust_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: ToSql>(v: T) -> Vec<u8> {
        let mut b = BytesMut::new();
        assert_eq!(v.to_sql(&v.sql_type(), &mut b).unwrap(), IsNull::No);
        b.to_vec()
    }

    #[test]
    fn integers_round_trip_and_widen() {
        assert_eq!(
            i32::from_sql(&Type::INT4, &enc(i32::MIN)).unwrap(),
            i32::MIN
        );
        assert_eq!(
            i64::from_sql(&Type::INT8, &enc(i64::MAX)).unwrap(),
            i64::MAX
        );
        assert_eq!(i16::from_sql(&Type::INT2, &enc(-7i16)).unwrap(), -7);
        assert_eq!(i64::from_sql(&Type::INT2, &enc(-7i16)).unwrap(), -7);
        assert_eq!(i32::from_sql(&Type::INT2, &enc(300i16)).unwrap(), 300);
        assert_eq!(
            u32::from_sql(&Type::OID, &enc(4_000_000_000u32)).unwrap(),
            4_000_000_000
        );
        assert_eq!(
            i8::from_sql(&Type::CHAR, &enc(b'x' as i8)).unwrap(),
            b'x' as i8
        );
        assert!(!<i32 as FromSql>::accepts(&Type::INT8), "no narrowing");
        assert!(
            i32::from_sql(&Type::INT4, &[0, 0, 1])
                .unwrap_err()
                .to_string()
                .contains("3 bytes, expected 4")
        );
    }

    #[test]
    fn floats_keep_special_values() {
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            f64::MIN_POSITIVE,
        ] {
            let back = f64::from_sql(&Type::FLOAT8, &enc(v)).unwrap();
            assert_eq!(back.to_bits(), v.to_bits());
        }
        assert_eq!(f64::from_sql(&Type::FLOAT4, &enc(1.5f32)).unwrap(), 1.5);
    }

    #[test]
    fn bools_strings_bytes() {
        assert!(bool::from_sql(&Type::BOOL, &[1]).unwrap());
        assert!(bool::from_sql(&Type::BOOL, &[2]).is_err());
        assert_eq!(
            <&str>::from_sql(&Type::VARCHAR, b"h\xc3\xa9").unwrap(),
            "hé"
        );
        assert!(
            String::from_sql(&Type::TEXT, b"\xff")
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
        let mut b = BytesMut::new();
        let e = "a\0b".to_sql(&Type::TEXT, &mut b).unwrap_err().to_string();
        assert!(e.contains("NUL byte at offset 1"), "{e}");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(
            <&[u8]>::from_sql(&Type::BYTEA, &enc(all.clone())).unwrap(),
            &all[..]
        );
    }

    #[test]
    fn options_and_nulls() {
        let mut b = BytesMut::new();
        assert_eq!(
            None::<i32>.to_sql(&Type::INT4, &mut b).unwrap(),
            IsNull::Yes
        );
        assert!(b.is_empty());
        assert_eq!(
            Option::<i32>::from_sql_nullable(&Type::INT4, None).unwrap(),
            None
        );
        let e = i32::from_sql_nullable(&Type::INT4, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is NULL") && e.contains("Option"), "{e}");
    }
}
