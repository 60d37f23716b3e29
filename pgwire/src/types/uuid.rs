//! `uuid` as `uuid::Uuid` (feature `uuid`): 16 bytes, both ways.

use bytes::{BufMut, BytesMut};
use uuid::Uuid;

use super::{BoxError, FromSql, IsNull, ToSql, Type, fixed};

impl ToSql for Uuid {
    fn sql_type(&self) -> Type {
        Type::UUID
    }
    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::UUID
    }
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_slice(self.as_bytes());
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "uuid::Uuid"
    }
    fn declared_type() -> Type {
        Type::UUID
    }
}

impl<'a> FromSql<'a> for Uuid {
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Uuid::from_bytes(fixed(ty, raw)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_length() {
        let u = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let mut b = BytesMut::new();
        u.to_sql(&Type::UUID, &mut b).unwrap();
        assert_eq!(Uuid::from_sql(&Type::UUID, &b).unwrap(), u);
        assert!(Uuid::from_sql(&Type::UUID, &b[..15]).is_err());
        assert!(!<Uuid as FromSql>::accepts(&Type::TEXT));
    }
}
