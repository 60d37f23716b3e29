//! `bit(n)` and `varbit` as [`BitString`].
//!
//! The binary format: the bit count, then the bits packed into bytes, most significant bit
//! first, the unused low bits of the last byte zero.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::{BoxError, FromSql, IsNull, Reader, ToSql, Type, oids, wire_len};

/// A string of bits.
///
/// ```
/// use hyperdjango_pgwire::types::BitString;
/// let b: BitString = "10110".parse().unwrap();
/// assert_eq!(b.len(), 5);
/// assert_eq!(b.get(2), Some(true));
/// assert_eq!(b.to_string(), "10110");
/// assert_eq!(BitString::from_bools([true, false]).to_string(), "10");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BitString {
    len: usize,
    bytes: Vec<u8>,
}

impl BitString {
    /// The bits of `bools`, in order.
    pub fn from_bools(bools: impl IntoIterator<Item = bool>) -> BitString {
        let mut b = BitString::default();
        for bit in bools {
            b.push(bit);
        }
        b
    }

    /// Appends a bit.
    pub fn push(&mut self, bit: bool) {
        if self.len % 8 == 0 {
            self.bytes.push(0);
        }
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 0x80 >> (self.len % 8);
            }
        }
        self.len += 1;
    }

    /// The number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bit `i` (0 is the leftmost).
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.len).then(|| self.bytes[i / 8] & (0x80 >> (i % 8)) != 0)
    }

    /// The bits, in order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).filter_map(|i| self.get(i))
    }

    /// The packed bytes (most significant bit first).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Display for BitString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for bit in self.iter() {
            f.write_str(if bit { "1" } else { "0" })?;
        }
        Ok(())
    }
}

impl std::str::FromStr for BitString {
    type Err = BoxError;
    fn from_str(s: &str) -> Result<BitString, BoxError> {
        s.chars()
            .map(|c| match c {
                '0' => Ok(false),
                '1' => Ok(true),
                _ => Err(format!("{c:?} is not a bit").into()),
            })
            .collect::<Result<Vec<bool>, BoxError>>()
            .map(BitString::from_bools)
    }
}

fn is_bits(ty: &Type) -> bool {
    matches!(ty.oid(), oids::BIT | oids::VARBIT)
}

impl ToSql for BitString {
    fn sql_type(&self) -> Type {
        Type::VARBIT
    }
    fn accepts(&self, ty: &Type) -> bool {
        is_bits(ty)
    }
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i32(wire_len(self.len, "bit string length")?);
        out.put_slice(&self.bytes);
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "BitString"
    }
    fn declared_type() -> Type {
        Type::VARBIT
    }
}

impl<'a> FromSql<'a> for BitString {
    fn accepts(ty: &Type) -> bool {
        is_bits(ty)
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let mut r = Reader::new(ty, raw);
        let len = r.i32()?;
        let len =
            usize::try_from(len).map_err(|_| format!("{ty} value has negative length {len}"))?;
        let bytes = r.rest();
        if bytes.len() != len.div_ceil(8) {
            return Err(format!("{ty} value of {len} bits carries {} bytes", bytes.len()).into());
        }
        if len % 8 != 0 && bytes.last().is_some_and(|b| b & (0xff >> (len % 8)) != 0) {
            return Err(format!("{ty} value has bits set past its length {len}").into());
        }
        Ok(BitString {
            len,
            bytes: bytes.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_lengths() {
        let b: BitString = "1010101011".parse().unwrap();
        let mut out = BytesMut::new();
        b.to_sql(&Type::VARBIT, &mut out).unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 10, 0b1010_1010, 0b1100_0000]);
        assert_eq!(BitString::from_sql(&Type::BIT, &out).unwrap(), b);
        for cut in 0..out.len() {
            assert!(BitString::from_sql(&Type::BIT, &out[..cut]).is_err());
        }
        assert!(BitString::from_sql(&Type::BIT, &[0, 0, 0, 2, 0xff]).is_err());
        assert!(BitString::from_sql(&Type::BIT, &[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!("102".parse::<BitString>().is_err());
    }
}
