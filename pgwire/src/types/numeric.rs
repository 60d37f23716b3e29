//! `numeric` in its binary format, as [`Numeric`] (exact: never loses a digit) and, with the
//! `rust_decimal` feature, as `rust_decimal::Decimal` (an error when a value does not fit);
//! and `money` as [`Money`].
//!
//! The binary format is base 10000: a digit count, the weight of the first digit (the power
//! of 10000 it is multiplied by), a sign word (which also encodes NaN and ±Infinity), the
//! display scale (digits after the decimal point), then the digits.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

use super::{BoxError, FromSql, IsNull, Reader, ToSql, Type};

const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;
/// PostgreSQL's largest display scale (NUMERIC_DSCALE_MAX).
const MAX_DSCALE: u16 = 0x3FFF;
/// The largest exponent accepted when parsing, far beyond what numeric can hold (131072
/// digits before the point, 16383 after), so parsing never allocates without bound.
const MAX_PARSE_EXPONENT: i64 = 1_000_000;

/// An exact decimal number as PostgreSQL's `numeric` holds it: any number of digits, a display
/// scale, and the special values NaN, Infinity and -Infinity.
///
/// Parse one from a string and print it with `Display`; both are exact. Equality compares
/// the representation, display scale included, so `1.50` and `1.5` differ (as their text
/// does), and NaN equals NaN.
///
/// ```
/// use hyperdjango_pgwire::types::Numeric;
/// let n: Numeric = "-12345678901234567890.000123".parse().unwrap();
/// assert_eq!(n.to_string(), "-12345678901234567890.000123");
/// assert_eq!(n.scale(), 6);
/// assert!("NaN".parse::<Numeric>().unwrap().is_nan());
/// assert_eq!("1e3".parse::<Numeric>().unwrap().to_string(), "1000");
/// assert!("12a".parse::<Numeric>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Numeric(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    NaN,
    Infinity,
    NegInfinity,
    Finite {
        negative: bool,
        /// The power of 10000 of the first digit.
        weight: i16,
        dscale: u16,
        /// Base-10000 digits, no leading or trailing zero digits (zero has none).
        digits: Vec<i16>,
    },
}

impl Numeric {
    /// NaN.
    pub const NAN: Numeric = Numeric(Repr::NaN);
    /// Infinity (PostgreSQL 14 and later).
    pub const INFINITY: Numeric = Numeric(Repr::Infinity);
    /// -Infinity (PostgreSQL 14 and later).
    pub const NEG_INFINITY: Numeric = Numeric(Repr::NegInfinity);

    /// Zero, with display scale 0.
    ///
    /// ```
    /// assert_eq!(hyperdjango_pgwire::types::Numeric::zero().to_string(), "0");
    /// ```
    pub fn zero() -> Numeric {
        Numeric(Repr::Finite {
            negative: false,
            weight: 0,
            dscale: 0,
            digits: Vec::new(),
        })
    }

    /// Whether this is NaN.
    pub fn is_nan(&self) -> bool {
        matches!(self.0, Repr::NaN)
    }

    /// Whether this is Infinity or -Infinity.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Numeric;
    /// assert!(Numeric::NEG_INFINITY.is_infinite());
    /// ```
    pub fn is_infinite(&self) -> bool {
        matches!(self.0, Repr::Infinity | Repr::NegInfinity)
    }

    /// Whether this is below zero (-Infinity included).
    pub fn is_negative(&self) -> bool {
        matches!(
            self.0,
            Repr::NegInfinity | Repr::Finite { negative: true, .. }
        )
    }

    /// The display scale: how many digits follow the decimal point (0 for the special values).
    pub fn scale(&self) -> u16 {
        match self.0 {
            Repr::Finite { dscale, .. } => dscale,
            _ => 0,
        }
    }

    /// Builds a finite value from its parts, removing leading and trailing zero digits.
    fn finite(
        negative: bool,
        weight: i32,
        dscale: u16,
        mut digits: Vec<i16>,
    ) -> Result<Numeric, BoxError> {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        let weight = weight - lead as i32;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Numeric(Repr::Finite {
                negative: false,
                weight: 0,
                dscale,
                digits,
            }));
        }
        let weight = i16::try_from(weight).map_err(|_| {
            format!("numeric value is out of range: 10000^{weight} exceeds numeric's limits")
        })?;
        Ok(Numeric(Repr::Finite {
            negative,
            weight,
            dscale,
            digits,
        }))
    }

    /// The decimal digits and the scale: `-1.50` gives `("150", 2, true)`. `None` for the
    /// special values.
    fn decimal_digits(&self) -> Option<(String, u16, bool)> {
        let Repr::Finite {
            negative,
            weight,
            dscale,
            digits,
        } = &self.0
        else {
            return None;
        };
        let mut s = String::new();
        // Integer part: groups of weight >= 0.
        for w in (0..=i32::from(*weight)).rev() {
            let d = digit_at(digits, *weight, w);
            s.push_str(&format!("{d:04}"));
        }
        // Fraction: groups of weight < 0, cut to the display scale.
        let mut frac = String::new();
        let mut w = -1;
        while frac.len() < usize::from(*dscale) {
            frac.push_str(&format!("{:04}", digit_at(digits, *weight, w)));
            w -= 1;
        }
        frac.truncate(usize::from(*dscale));
        let s = s.trim_start_matches('0').to_owned() + &frac;
        Some((s, *dscale, *negative))
    }
}

/// The base-10000 digit of weight `w`, or 0 outside the stored digits.
fn digit_at(digits: &[i16], weight: i16, w: i32) -> i16 {
    let i = i32::from(weight) - w;
    if i < 0 {
        return 0;
    }
    digits.get(i as usize).copied().unwrap_or(0)
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::NaN => f.write_str("NaN"),
            Repr::Infinity => f.write_str("Infinity"),
            Repr::NegInfinity => f.write_str("-Infinity"),
            Repr::Finite { .. } => {
                let Some((digits, scale, negative)) = self.decimal_digits() else {
                    return Ok(());
                };
                let scale = usize::from(scale);
                let (int, frac) = if digits.len() > scale {
                    digits.split_at(digits.len() - scale)
                } else {
                    ("", digits.as_str())
                };
                if negative {
                    f.write_str("-")?;
                }
                f.write_str(if int.is_empty() { "0" } else { int })?;
                if scale > 0 {
                    f.write_str(".")?;
                    for _ in frac.len()..scale {
                        f.write_str("0")?;
                    }
                    f.write_str(frac)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Numeric({self})")
    }
}

/// The error from parsing a [`Numeric`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNumericError(String);

impl fmt::Display for ParseNumericError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseNumericError {}

impl FromStr for Numeric {
    type Err = ParseNumericError;

    fn from_str(s: &str) -> Result<Numeric, ParseNumericError> {
        let bad = |why: &str| ParseNumericError(format!("invalid numeric {s:?}: {why}"));
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "nan" => return Ok(Numeric::NAN),
            "infinity" | "+infinity" | "inf" | "+inf" => return Ok(Numeric::INFINITY),
            "-infinity" | "-inf" => return Ok(Numeric::NEG_INFINITY),
            _ => {}
        }
        let (negative, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exponent) = match t.find(['e', 'E']) {
            Some(i) => {
                let e: i64 = t[i + 1..]
                    .parse()
                    .map_err(|_| bad("the exponent is not an integer"))?;
                if e.abs() > MAX_PARSE_EXPONENT {
                    return Err(bad("the exponent is out of range"));
                }
                (&t[..i], e)
            }
            None => (t, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad("no digits"));
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad("expected digits, a point and an exponent"));
        }
        // All digits, and how many of them are before the point.
        let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        let point = int.len() as i64 + exponent;
        let scale = (digits.len() as i64 - point).max(0);
        if scale > i64::from(MAX_DSCALE) {
            return Err(bad("more than 16383 digits after the decimal point"));
        }
        // Align to base-10000 groups: pad the front so the point falls on a group boundary.
        let lead_pad = (4 - point.rem_euclid(4)) % 4;
        let first_weight = (point + lead_pad) / 4 - 1;
        let mut padded: Vec<u8> = vec![0; lead_pad as usize];
        padded.extend_from_slice(&digits);
        while padded.len() % 4 != 0 {
            padded.push(0);
        }
        let groups: Vec<i16> = padded
            .chunks(4)
            .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(*d)))
            .collect();
        let weight = i32::try_from(first_weight).map_err(|_| bad("out of range"))?;
        Numeric::finite(negative, weight, scale as u16, groups).map_err(|e| bad(&e.to_string()))
    }
}

impl ToSql for Numeric {
    fn sql_type(&self) -> Type {
        Type::NUMERIC
    }
    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let (sign, weight, dscale, digits): (u16, i16, u16, &[i16]) = match &self.0 {
            Repr::NaN => (SIGN_NAN, 0, 0, &[]),
            Repr::Infinity => (SIGN_PINF, 0, 0, &[]),
            Repr::NegInfinity => (SIGN_NINF, 0, 0, &[]),
            Repr::Finite {
                negative,
                weight,
                dscale,
                digits,
            } => (
                if *negative { SIGN_NEG } else { SIGN_POS },
                *weight,
                *dscale,
                digits,
            ),
        };
        let n = i16::try_from(digits.len()).map_err(|_| {
            format!(
                "numeric value has {} base-10000 digits, more than numeric's limit",
                digits.len()
            )
        })?;
        out.put_i16(n);
        out.put_i16(weight);
        out.put_u16(sign);
        out.put_u16(dscale);
        for d in digits {
            out.put_i16(*d);
        }
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "Numeric"
    }
    fn declared_type() -> Type {
        Type::NUMERIC
    }
}

impl<'a> FromSql<'a> for Numeric {
    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let mut r = Reader::new(ty, raw);
        let n = r.i16()?;
        let weight = r.i16()?;
        let sign = r.u16()?;
        let dscale = r.u16()?;
        if n < 0 {
            return Err(format!("numeric value has a negative digit count {n}").into());
        }
        if dscale > MAX_DSCALE {
            return Err(format!("numeric value has display scale {dscale}, above 16383").into());
        }
        let negative = match sign {
            SIGN_POS => false,
            SIGN_NEG => true,
            SIGN_NAN | SIGN_PINF | SIGN_NINF => {
                r.finish()?;
                return Ok(Numeric(match sign {
                    SIGN_NAN => Repr::NaN,
                    SIGN_PINF => Repr::Infinity,
                    _ => Repr::NegInfinity,
                }));
            }
            other => {
                return Err(format!("numeric value has an invalid sign word {other:#06x}").into());
            }
        };
        if r.remaining() != n as usize * 2 {
            return Err(format!(
                "numeric value declares {n} digits but carries {} bytes of them",
                r.remaining()
            )
            .into());
        }
        let mut digits = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let d = r.i16()?;
            if !(0..10000).contains(&d) {
                return Err(format!("numeric value has an invalid base-10000 digit {d}").into());
            }
            digits.push(d);
        }
        let value = Numeric::finite(negative, i32::from(weight), dscale, digits)?;
        // Digits the display scale would hide would be lost on printing: refuse them.
        if let Repr::Finite { weight, digits, .. } = &value.0 {
            let last_weight = i32::from(*weight) - digits.len() as i32 + 1;
            let last = digits.last().copied().unwrap_or(1);
            let trailing_zeros = [10, 100, 1000]
                .iter()
                .take_while(|p| last % **p == 0)
                .count() as i32;
            if last_weight < 0 && (-last_weight) * 4 - trailing_zeros > i32::from(dscale) {
                return Err(
                    format!("numeric value has digits beyond its display scale {dscale}").into(),
                );
            }
        }
        Ok(value)
    }
}

impl PartialOrd for Numeric {
    /// Orders numerically (NaN is not ordered, as with floats; -Infinity < finite <
    /// Infinity). Equal numbers with different scales compare `Equal`.
    fn partial_cmp(&self, other: &Numeric) -> Option<Ordering> {
        fn rank(n: &Numeric) -> i8 {
            match n.0 {
                Repr::NegInfinity => -2,
                Repr::Infinity => 2,
                _ => 0,
            }
        }
        if self.is_nan() || other.is_nan() {
            return if self.is_nan() && other.is_nan() {
                Some(Ordering::Equal)
            } else {
                None
            };
        }
        let (a, b) = (rank(self), rank(other));
        if a != 0 || b != 0 {
            return Some(a.cmp(&b));
        }
        let (
            Repr::Finite {
                negative: na,
                weight: wa,
                digits: da,
                ..
            },
            Repr::Finite {
                negative: nb,
                weight: wb,
                digits: db,
                ..
            },
        ) = (&self.0, &other.0)
        else {
            return None;
        };
        let mag = |n: bool, d: &[i16]| {
            if d.is_empty() {
                0
            } else if n {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (mag(*na, da), mag(*nb, db));
        if sa != sb || sa == 0 {
            return Some(sa.cmp(&sb));
        }
        // Same sign, both non-zero: compare magnitudes digit by digit from the top weight.
        let top = (*wa).max(*wb);
        let bottom = (i32::from(*wa) - da.len() as i32).min(i32::from(*wb) - db.len() as i32);
        let mut ord = Ordering::Equal;
        let mut w = i32::from(top);
        while w > bottom && ord == Ordering::Equal {
            ord = digit_at(da, *wa, w).cmp(&digit_at(db, *wb, w));
            w -= 1;
        }
        Some(if sa < 0 { ord.reverse() } else { ord })
    }
}

macro_rules! numeric_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Numeric {
            fn from(v: $t) -> Numeric {
                // The decimal text of an integer always parses.
                v.to_string().parse().unwrap_or_else(|_| Numeric::zero())
            }
        }
    )*};
}

numeric_from_int!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128);

/// A `money` value: an amount in the currency's smallest unit (cents for the usual
/// `lc_monetary` settings with two decimal places), exactly as PostgreSQL stores it.
///
/// ```
/// use hyperdjango_pgwire::types::Money;
/// let price = Money(12_50);
/// assert_eq!(price.0, 1250);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

impl ToSql for Money {
    fn sql_type(&self) -> Type {
        Type::MONEY
    }
    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::MONEY
    }
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0);
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "Money"
    }
    fn declared_type() -> Type {
        Type::MONEY
    }
}

impl<'a> FromSql<'a> for Money {
    fn accepts(ty: &Type) -> bool {
        *ty == Type::MONEY
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Money(i64::from_be_bytes(super::fixed(ty, raw)?)))
    }
}

#[cfg(feature = "rust_decimal")]
mod decimal {
    //! `rust_decimal::Decimal`: at most 28 digits after the point and a 96-bit mantissa.

    use rust_decimal::Decimal;

    use super::*;

    /// The exact conversion: an error when the value does not fit a `Decimal`.
    impl TryFrom<&Numeric> for Decimal {
        type Error = BoxError;

        fn try_from(n: &Numeric) -> Result<Decimal, BoxError> {
            let Some((mut digits, scale, negative)) = n.decimal_digits() else {
                return Err(format!("numeric {n} has no rust_decimal::Decimal equivalent").into());
            };
            let mut scale = u32::from(scale);
            // Trailing fractional zeros beyond Decimal's 28 places carry no value: drop them.
            while scale > 28 && digits.ends_with('0') {
                digits.pop();
                scale -= 1;
            }
            if scale > 28 {
                return Err(format!(
                    "numeric {n} has {scale} significant decimal places; rust_decimal::Decimal holds at most 28"
                )
                .into());
            }
            let digits = digits.trim_start_matches('0');
            let mantissa: i128 = if digits.is_empty() {
                0
            } else if digits.len() > 29 {
                return Err(format!(
                    "numeric {n} does not fit rust_decimal::Decimal (96-bit mantissa)"
                )
                .into());
            } else {
                digits
                    .parse()
                    .map_err(|_| format!("numeric {n} is not a decimal number"))?
            };
            let mantissa = if negative { -mantissa } else { mantissa };
            Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| {
                format!("numeric {n} does not fit rust_decimal::Decimal (96-bit mantissa)").into()
            })
        }
    }

    impl From<Decimal> for Numeric {
        fn from(d: Decimal) -> Numeric {
            // Decimal prints every digit it holds, scale included.
            d.to_string().parse().unwrap_or_else(|_| Numeric::zero())
        }
    }

    impl ToSql for Decimal {
        fn sql_type(&self) -> Type {
            Type::NUMERIC
        }
        fn accepts(&self, ty: &Type) -> bool {
            *ty == Type::NUMERIC
        }
        fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
            Numeric::from(*self).to_sql(ty, out)
        }
        fn rust_type(&self) -> &'static str {
            "rust_decimal::Decimal"
        }
        fn declared_type() -> Type {
            Type::NUMERIC
        }
    }

    impl<'a> FromSql<'a> for Decimal {
        fn accepts(ty: &Type) -> bool {
            *ty == Type::NUMERIC
        }
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
            Decimal::try_from(&Numeric::from_sql(ty, raw)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(n: &Numeric) -> Vec<u8> {
        let mut b = BytesMut::new();
        n.to_sql(&Type::NUMERIC, &mut b).unwrap();
        b.to_vec()
    }

    fn rt(s: &str) -> String {
        let n: Numeric = s.parse().unwrap();
        Numeric::from_sql(&Type::NUMERIC, &enc(&n))
            .unwrap()
            .to_string()
    }

    #[test]
    fn parses_prints_and_round_trips() {
        for s in [
            "0",
            "1",
            "-1",
            "0.5",
            "-0.0001",
            "10000",
            "9999.9999",
            "123456789.123456789",
            "0.000000001",
            "1.50",
            "100",
            "NaN",
            "Infinity",
            "-Infinity",
            "0.00",
        ] {
            assert_eq!(rt(s), s);
        }
        assert_eq!(rt("-0"), "0");
        assert_eq!(rt("00012.3400"), "12.3400");
        assert_eq!(rt("1.5e2"), "150");
        assert_eq!(rt("1.5e-3"), "0.0015");
        assert_eq!(rt(".5"), "0.5");
        let big = "9".repeat(1000) + "." + &"1".repeat(1000);
        assert_eq!(rt(&big), big);
    }

    #[test]
    fn wire_format_matches_postgres() {
        // SELECT numeric_send(12345.678) = \x0003 0001 0000 0003 0001 0929 1a7c
        let n: Numeric = "12345.678".parse().unwrap();
        assert_eq!(
            enc(&n),
            [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
    }

    #[test]
    fn rejects_bad_text_and_bad_bytes() {
        for s in ["", "-", "1.2.3", "abc", "1e", "1e9999999", "--1", " 1 2"] {
            assert!(s.parse::<Numeric>().is_err(), "{s:?}");
        }
        let good = enc(&"12345.678".parse().unwrap());
        for cut in 0..good.len() {
            assert!(Numeric::from_sql(&Type::NUMERIC, &good[..cut]).is_err());
        }
        let mut bad_digit = good.clone();
        bad_digit[8] = 0x7f;
        assert!(Numeric::from_sql(&Type::NUMERIC, &bad_digit).is_err());
        let mut bad_sign = good.clone();
        bad_sign[4] = 0x12;
        assert!(Numeric::from_sql(&Type::NUMERIC, &bad_sign).is_err());
        let mut hidden = good;
        hidden[7] = 0; // dscale 0 with fractional digits
        assert!(Numeric::from_sql(&Type::NUMERIC, &hidden).is_err());
        assert!(Numeric::from_sql(&Type::NUMERIC, &[0xff, 0xff, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn orders_numerically() {
        let n = |s: &str| s.parse::<Numeric>().unwrap();
        assert!(n("1.5") < n("2"));
        assert!(n("-2") < n("-1.5"));
        assert!(n("-Infinity") < n("-99999999"));
        assert_eq!(n("1.50").partial_cmp(&n("1.5")), Some(Ordering::Equal));
        assert!(n("0.0001") > n("0"));
        assert_eq!(n("NaN").partial_cmp(&n("1")), None);
    }

    #[cfg(feature = "rust_decimal")]
    #[test]
    fn decimal_conversions_are_exact_or_errors() {
        use rust_decimal::Decimal;
        let d = |s: &str| Decimal::try_from(&s.parse::<Numeric>().unwrap());
        assert_eq!(d("1.50").unwrap().to_string(), "1.50");
        assert_eq!(d("-79228162514264337593543950335").unwrap(), Decimal::MIN);
        assert!(d("79228162514264337593543950336").is_err());
        assert!(d("0.00000000000000000000000000001").is_err());
        assert_eq!(
            d("1.00000000000000000000000000000000").unwrap().to_string(),
            "1.0000000000000000000000000000"
        );
        assert!(d("NaN").is_err());
        assert_eq!(
            Numeric::from(Decimal::new(-12345, 3)).to_string(),
            "-12.345"
        );
    }
}
