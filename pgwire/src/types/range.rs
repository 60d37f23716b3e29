//! Ranges ([`Range<T>`]) and multiranges ([`Multirange<T>`]) over any subtype: the built-in
//! int4range, int8range, numrange, tsrange, tstzrange and daterange (and their multiranges),
//! and ranges defined in the database.
//!
//! The binary format of a range: a flags byte (empty, which bounds are inclusive, which are
//! infinite), then each finite bound as a length and its bytes. A multirange is a count and
//! then each range as a length and its bytes. The server normalises discrete ranges: `[1,3]`
//! comes back as `[1,4)`.

use std::ops::Bound;

use bytes::{BufMut, BytesMut};

use super::{BoxError, FromSql, IsNull, Kind, Reader, ToSql, Type, wire_len};

const EMPTY: u8 = 0x01;
const LB_INC: u8 = 0x02;
const UB_INC: u8 = 0x04;
const LB_INF: u8 = 0x08;
const UB_INF: u8 = 0x10;
/// Flags the server never sends in a stored range value (null bounds, contain-empty).
const KNOWN: u8 = EMPTY | LB_INC | UB_INC | LB_INF | UB_INF;

/// A range value: empty, or two bounds, each included, excluded or unbounded.
///
/// ```
/// use std::ops::Bound;
/// use hyperdjango_pgwire::types::Range;
/// let r = Range::new(Bound::Included(1), Bound::Excluded(10));
/// assert!(r.contains(&1) && !r.contains(&10));
/// assert!(!Range::<i32>::Empty.contains(&1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Range<T> {
    /// The empty range.
    Empty,
    /// A range with bounds.
    Bounded {
        /// The lower bound.
        lower: Bound<T>,
        /// The upper bound.
        upper: Bound<T>,
    },
}

impl<T> Range<T> {
    /// A range with these bounds.
    pub fn new(lower: Bound<T>, upper: Bound<T>) -> Range<T> {
        Range::Bounded { lower, upper }
    }

    /// Whether `v` lies in the range.
    pub fn contains(&self, v: &T) -> bool
    where
        T: PartialOrd,
    {
        match self {
            Range::Empty => false,
            Range::Bounded { lower, upper } => {
                let above = match lower {
                    Bound::Included(l) => v >= l,
                    Bound::Excluded(l) => v > l,
                    Bound::Unbounded => true,
                };
                let below = match upper {
                    Bound::Included(u) => v <= u,
                    Bound::Excluded(u) => v < u,
                    Bound::Unbounded => true,
                };
                above && below
            }
        }
    }
}

/// A multirange: a list of ranges (the server keeps them sorted and non-overlapping).
///
/// ```
/// use std::ops::Bound;
/// use hyperdjango_pgwire::types::{Multirange, Range};
/// let m = Multirange(vec![Range::new(Bound::Included(1), Bound::Excluded(3))]);
/// assert_eq!(m.0.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Multirange<T>(pub Vec<Range<T>>);

fn subtype(ty: &Type) -> Option<&Type> {
    match ty.base().kind() {
        Kind::Range(s) => Some(s),
        _ => None,
    }
}

fn range_of(ty: &Type) -> Option<&Type> {
    match ty.base().kind() {
        Kind::Multirange(r) => Some(r),
        _ => None,
    }
}

fn decode_range<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8]) -> Result<Range<T>, BoxError> {
    let sub = subtype(ty)
        .ok_or_else(|| format!("{ty} is not a range type"))?
        .base();
    let mut r = Reader::new(ty, raw);
    let flags = r.u8()?;
    if flags & !KNOWN != 0 {
        return Err(format!("{ty} value has unknown flags {flags:#04x}").into());
    }
    if flags & EMPTY != 0 {
        r.finish()?;
        return Ok(Range::Empty);
    }
    let mut bound = |inf: u8, inc: u8| -> Result<Bound<T>, BoxError> {
        if flags & inf != 0 {
            return Ok(Bound::Unbounded);
        }
        let raw = r
            .value()?
            .ok_or_else(|| format!("{ty} value has a NULL bound"))?;
        let v = T::from_sql(sub, raw)?;
        Ok(if flags & inc != 0 {
            Bound::Included(v)
        } else {
            Bound::Excluded(v)
        })
    };
    let lower = bound(LB_INF, LB_INC)?;
    let upper = bound(UB_INF, UB_INC)?;
    r.finish()?;
    Ok(Range::Bounded { lower, upper })
}

fn encode_range<T: ToSql>(range: &Range<T>, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    let sub = subtype(ty)
        .ok_or_else(|| {
            format!("{ty} is not a range type (ranges over types defined in the database need a prepared statement)")
        })?
        .base();
    let (lower, upper) = match range {
        Range::Empty => {
            out.put_u8(EMPTY);
            return Ok(());
        }
        Range::Bounded { lower, upper } => (lower, upper),
    };
    let flag = |b: &Bound<T>, inf: u8, inc: u8| match b {
        Bound::Unbounded => inf,
        Bound::Included(_) => inc,
        Bound::Excluded(_) => 0,
    };
    out.put_u8(flag(lower, LB_INF, LB_INC) | flag(upper, UB_INF, UB_INC));
    for b in [lower, upper] {
        if let Bound::Included(v) | Bound::Excluded(v) = b {
            let at = out.len();
            super::write_nested(out, v, sub)?;
            if out[at..at + 4] == (-1i32).to_be_bytes() {
                return Err("a range bound cannot be NULL (use Bound::Unbounded)".into());
            }
        }
    }
    Ok(())
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Range<T> {
    fn accepts(ty: &Type) -> bool {
        subtype(ty).is_some_and(|s| T::accepts(s.base()))
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode_range(ty, raw)
    }
}

impl<T: ToSql> ToSql for Range<T> {
    fn sql_type(&self) -> Type {
        T::declared_type().range_type()
    }
    fn accepts(&self, ty: &Type) -> bool {
        let Some(sub) = subtype(ty) else { return false };
        match self {
            Range::Bounded { lower, upper } => [lower, upper].into_iter().all(|b| match b {
                Bound::Included(v) | Bound::Excluded(v) => v.accepts(sub.base()),
                Bound::Unbounded => true,
            }),
            Range::Empty => true,
        }
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        encode_range(self, ty, out)?;
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
    fn declared_type() -> Type {
        T::declared_type().range_type()
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Multirange<T> {
    fn accepts(ty: &Type) -> bool {
        range_of(ty).is_some_and(<Range<T> as FromSql>::accepts)
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let range_ty = range_of(ty).ok_or_else(|| format!("{ty} is not a multirange type"))?;
        let mut r = Reader::new(ty, raw);
        let n = r.i32()?;
        if n < 0 || n as usize > r.remaining() / 5 {
            return Err(
                format!("{ty} value declares {n} ranges in {} bytes", r.remaining()).into(),
            );
        }
        let mut ranges = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let raw = r
                .value()?
                .ok_or_else(|| format!("{ty} value has a NULL range"))?;
            ranges.push(decode_range(range_ty, raw)?);
        }
        r.finish()?;
        Ok(Multirange(ranges))
    }
}

impl<T: ToSql> ToSql for Multirange<T> {
    fn sql_type(&self) -> Type {
        T::declared_type().range_type().multirange_type()
    }
    fn accepts(&self, ty: &Type) -> bool {
        range_of(ty).is_some_and(|r| self.0.iter().all(|x| x.accepts(r)))
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let range_ty = range_of(ty).ok_or_else(|| {
            format!("{ty} is not a multirange type (multiranges over types defined in the database need a prepared statement)")
        })?;
        out.put_i32(wire_len(self.0.len(), "multirange length")?);
        for range in &self.0 {
            let at = out.len();
            out.put_i32(0);
            encode_range(range, range_ty, out)?;
            let len = wire_len(out.len() - at - 4, "range size")?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
    fn declared_type() -> Type {
        T::declared_type().range_type().multirange_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: ToSql>(v: &T) -> Vec<u8> {
        let mut b = BytesMut::new();
        v.to_sql(&v.sql_type(), &mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn ranges_round_trip() {
        for r in [
            Range::Empty,
            Range::new(Bound::Included(1i64), Bound::Excluded(5)),
            Range::new(Bound::Unbounded, Bound::Included(-3)),
            Range::new(Bound::Excluded(7), Bound::Unbounded),
            Range::new(Bound::Unbounded, Bound::Unbounded),
        ] {
            assert_eq!(
                Range::<i64>::from_sql(&Type::INT8RANGE, &enc(&r)).unwrap(),
                r
            );
        }
        let m = Multirange(vec![
            Range::new(Bound::Included(1i32), Bound::Excluded(3)),
            Range::new(Bound::Included(5), Bound::Unbounded),
        ]);
        assert_eq!(m.sql_type(), Type::INT4MULTIRANGE);
        assert_eq!(
            Multirange::<i32>::from_sql(&Type::INT4MULTIRANGE, &enc(&m)).unwrap(),
            m
        );
    }

    #[test]
    fn garbage_is_an_error() {
        let good = enc(&Range::new(Bound::Included(1i32), Bound::Excluded(5)));
        for cut in 0..good.len() {
            assert!(Range::<i32>::from_sql(&Type::INT4RANGE, &good[..cut]).is_err());
        }
        assert!(Range::<i32>::from_sql(&Type::INT4RANGE, &[0x20]).is_err());
        assert!(Range::<i32>::from_sql(&Type::INT4RANGE, &[EMPTY, 0]).is_err());
        assert!(Range::<i32>::from_sql(&Type::INT4, &[EMPTY]).is_err());
        assert!(Multirange::<i32>::from_sql(&Type::INT4MULTIRANGE, &[0x7f, 0, 0, 0]).is_err());
        assert!(
            Multirange::<i32>::from_sql(&Type::INT4MULTIRANGE, &[0, 0, 0, 1, 0, 0, 0, 1]).is_err()
        );
        let mut b = BytesMut::new();
        let null_bound = Range::new(Bound::Included(None::<i32>), Bound::Unbounded);
        assert!(null_bound.to_sql(&Type::INT4RANGE, &mut b).is_err());
    }
}
