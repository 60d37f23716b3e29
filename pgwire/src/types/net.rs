//! `inet` and `cidr` as [`Inet`] (a `std::net::IpAddr` with its prefix length) or as a bare
//! `IpAddr` (an `inet` with a full-length prefix); `macaddr` and `macaddr8` as [`MacAddr`]
//! and [`MacAddr8`].
//!
//! The inet/cidr binary format: family (2 for IPv4, 3 for IPv6), prefix length, is-cidr
//! flag, address length, address bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use super::{BoxError, FromSql, IsNull, Reader, ToSql, Type, fixed, oids};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 3;

/// An address with a prefix length: an `inet` value (a host in a network) or a `cidr`
/// value (a network; no bits set beyond the prefix, which the server checks).
///
/// ```
/// use hyperdjango_pgwire::types::Inet;
/// let net = Inet::new("10.1.0.0".parse().unwrap(), 16).unwrap();
/// assert_eq!(net.to_string(), "10.1.0.0/16");
/// assert!(Inet::new("10.1.0.0".parse().unwrap(), 33).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inet {
    addr: IpAddr,
    prefix: u8,
}

impl Inet {
    /// An address and prefix length (at most 32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Inet, BoxError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(
                format!("prefix length {prefix} is longer than {max} bits for {addr}").into(),
            );
        }
        Ok(Inet { addr, prefix })
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for Inet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn is_inet(ty: &Type) -> bool {
    matches!(ty.oid(), oids::INET | oids::CIDR)
}

fn encode(addr: IpAddr, prefix: u8, ty: &Type, out: &mut BytesMut) {
    let cidr = u8::from(ty.oid() == oids::CIDR);
    match addr {
        IpAddr::V4(a) => {
            out.put_slice(&[AF_INET, prefix, cidr, 4]);
            out.put_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.put_slice(&[AF_INET6, prefix, cidr, 16]);
            out.put_slice(&a.octets());
        }
    }
}

fn decode(ty: &Type, raw: &[u8]) -> Result<Inet, BoxError> {
    let mut r = Reader::new(ty, raw);
    let [family, prefix, _cidr, len] = r.array::<4>()?;
    let addr = match (family, len) {
        (AF_INET, 4) => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
        (AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
        _ => {
            return Err(format!("{ty} value has family {family} with a {len}-byte address").into());
        }
    };
    r.finish()?;
    Inet::new(addr, prefix)
}

impl ToSql for Inet {
    fn sql_type(&self) -> Type {
        Type::INET
    }
    fn accepts(&self, ty: &Type) -> bool {
        is_inet(ty)
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        encode(self.addr, self.prefix, ty, out);
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "Inet"
    }
    fn declared_type() -> Type {
        Type::INET
    }
}

impl<'a> FromSql<'a> for Inet {
    fn accepts(ty: &Type) -> bool {
        is_inet(ty)
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode(ty, raw)
    }
}

impl ToSql for IpAddr {
    fn sql_type(&self) -> Type {
        Type::INET
    }
    fn accepts(&self, ty: &Type) -> bool {
        is_inet(ty)
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        encode(*self, if self.is_ipv4() { 32 } else { 128 }, ty, out);
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "std::net::IpAddr"
    }
    fn declared_type() -> Type {
        Type::INET
    }
}

impl<'a> FromSql<'a> for IpAddr {
    fn accepts(ty: &Type) -> bool {
        is_inet(ty)
    }
    /// Reads a host address; a value with a shorter prefix (a network) is an error, since
    /// the prefix would be lost (read it as [`Inet`]).
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let v = decode(ty, raw)?;
        let full = if v.addr.is_ipv4() { 32 } else { 128 };
        if v.prefix != full {
            return Err(format!(
                "{ty} value {v} has a /{} prefix that IpAddr cannot hold (read it as Inet)",
                v.prefix
            )
            .into());
        }
        Ok(v.addr)
    }
}

/// A `macaddr`: six bytes.
///
/// ```
/// use hyperdjango_pgwire::types::MacAddr;
/// assert_eq!(MacAddr([8, 0, 0x2b, 1, 2, 3]).to_string(), "08:00:2b:01:02:03");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// A `macaddr8`: eight bytes (EUI-64).
///
/// ```
/// use hyperdjango_pgwire::types::MacAddr8;
/// assert_eq!(MacAddr8([8, 0, 0x2b, 1, 2, 3, 4, 5]).to_string(), "08:00:2b:01:02:03:04:05");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr8(pub [u8; 8]);

macro_rules! mac {
    ($t:ident, $n:literal, $pg:expr) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for (i, b) in self.0.iter().enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl ToSql for $t {
            fn sql_type(&self) -> Type {
                $pg
            }
            fn accepts(&self, ty: &Type) -> bool {
                *ty == $pg
            }
            fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
                out.put_slice(&self.0);
                Ok(IsNull::No)
            }
            fn rust_type(&self) -> &'static str {
                stringify!($t)
            }
            fn declared_type() -> Type {
                $pg
            }
        }

        impl<'a> FromSql<'a> for $t {
            fn accepts(ty: &Type) -> bool {
                *ty == $pg
            }
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
                Ok($t(fixed::<$n>(ty, raw)?))
            }
        }
    };
}

mac!(MacAddr, 6, Type::MACADDR);
mac!(MacAddr8, 8, Type::MACADDR8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let v6 = Inet::new("2001:db8::1".parse().unwrap(), 64).unwrap();
        let mut b = BytesMut::new();
        v6.to_sql(&Type::CIDR, &mut b).unwrap();
        assert_eq!(b[..4], [3, 64, 1, 16]);
        assert_eq!(Inet::from_sql(&Type::CIDR, &b).unwrap(), v6);
        assert!(
            IpAddr::from_sql(&Type::CIDR, &b).is_err(),
            "prefix would be lost"
        );
        for cut in 0..b.len() {
            assert!(Inet::from_sql(&Type::INET, &b[..cut]).is_err());
        }
        assert!(Inet::from_sql(&Type::INET, &[2, 33, 0, 4, 1, 2, 3, 4]).is_err());
        assert!(Inet::from_sql(&Type::INET, &[2, 8, 0, 16, 1, 2, 3, 4]).is_err());
        assert!(Inet::from_sql(&Type::INET, &[9, 8, 0, 4, 1, 2, 3, 4]).is_err());
        assert!(MacAddr::from_sql(&Type::MACADDR, &[1, 2, 3]).is_err());
        assert!(MacAddr8::from_sql(&Type::MACADDR8, &[0; 9]).is_err());
    }
}
