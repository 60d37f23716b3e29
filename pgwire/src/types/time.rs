//! Dates, times, timestamps and intervals.
//!
//! The types here hold exactly what PostgreSQL sends and need no feature: [`Date`] (days since
//! 2000-01-01), [`Timestamp`] and [`TimestampTz`] (microseconds since 2000-01-01 00:00, UTC
//! for `TimestampTz`), [`Time`], [`TimeTz`] and [`Interval`] (months, days and microseconds
//! kept apart). They cover PostgreSQL's whole range, 4713 BC to 5874897 AD for dates and to
//! 294276 AD for timestamps, and `infinity`/`-infinity`.
//!
//! With the `chrono` feature, `NaiveDate`, `NaiveDateTime`, `DateTime<Utc>`,
//! `DateTime<FixedOffset>` and `NaiveTime` are read and written too. A value chrono cannot
//! hold (beyond year 262142, infinity) is an error, and so is a chrono value with more
//! precision than PostgreSQL's microseconds (it would be silently truncated otherwise).
//! [`Infinite<T>`] reads a chrono type where infinity may appear.

use bytes::{BufMut, BytesMut};

use super::{BoxError, FromSql, IsNull, Reader, ToSql, Type, fixed};

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// A `date`: days since 2000-01-01, with `i32::MAX` for `infinity` and `i32::MIN` for
/// `-infinity` (as PostgreSQL stores it).
///
/// ```
/// use hyperdjango_pgwire::types::Date;
/// assert_eq!(Date(0).to_string(), "2000-01-01");
/// assert_eq!(Date(-2451545).to_string(), "4714-11-24 BC"); // Julian day 0
/// assert_eq!(Date::INFINITY.to_string(), "infinity");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

impl Date {
    /// `infinity`.
    pub const INFINITY: Date = Date(i32::MAX);
    /// `-infinity`.
    pub const NEG_INFINITY: Date = Date(i32::MIN);

    /// Whether this is `infinity` or `-infinity`.
    pub fn is_infinite(self) -> bool {
        self == Date::INFINITY || self == Date::NEG_INFINITY
    }

    /// The proleptic Gregorian (year, month, day), year 0 being 1 BC; `None` for infinity.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Date;
    /// assert_eq!(Date(366).ymd(), Some((2001, 1, 1)));
    /// ```
    pub fn ymd(self) -> Option<(i32, u32, u32)> {
        if self.is_infinite() {
            return None;
        }
        Some(civil_from_days(i64::from(self.0) + DAYS_1970_TO_2000))
    }

    /// The date of a proleptic Gregorian (year, month, day), year 0 being 1 BC; `None` if
    /// the day does not exist or is out of range.
    ///
    /// ```
    /// use hyperdjango_pgwire::types::Date;
    /// assert_eq!(Date::from_ymd(2000, 1, 2), Some(Date(1)));
    /// assert_eq!(Date::from_ymd(2001, 2, 29), None);
    /// ```
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let days = days_from_civil(year, month, day) - DAYS_1970_TO_2000;
        i32::try_from(days).ok().map(Date)
    }
}

const DAYS_1970_TO_2000: i64 = 10_957;

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

impl std::fmt::Display for Date {
    /// ISO form, with ` BC` for years before 1 AD (as PostgreSQL prints them).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ymd() {
            None if *self == Date::INFINITY => f.write_str("infinity"),
            None => f.write_str("-infinity"),
            Some((y, m, d)) if y <= 0 => write!(f, "{:04}-{m:02}-{d:02} BC", 1 - y),
            Some((y, m, d)) => write!(f, "{y:04}-{m:02}-{d:02}"),
        }
    }
}

/// A `timestamp` (without time zone): microseconds since 2000-01-01 00:00:00, with
/// `i64::MAX`/`i64::MIN` for `infinity`/`-infinity`.
///
/// ```
/// use hyperdjango_pgwire::types::Timestamp;
/// assert_eq!(Timestamp(86_400_000_001).to_string(), "2000-01-02 00:00:00.000001");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A `timestamptz`: microseconds since 2000-01-01 00:00:00 UTC, with `i64::MAX`/`i64::MIN`
/// for `infinity`/`-infinity`.
///
/// ```
/// use hyperdjango_pgwire::types::TimestampTz;
/// assert_eq!(TimestampTz(0).to_string(), "2000-01-01 00:00:00+00");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimestampTz(pub i64);

macro_rules! timestamp_common {
    ($t:ident, $suffix:literal) => {
        impl $t {
            /// `infinity`.
            pub const INFINITY: $t = $t(i64::MAX);
            /// `-infinity`.
            pub const NEG_INFINITY: $t = $t(i64::MIN);

            /// Whether this is `infinity` or `-infinity`.
            pub fn is_infinite(self) -> bool {
                self == $t::INFINITY || self == $t::NEG_INFINITY
            }

            /// The date and the microseconds since midnight; `None` for infinity.
            pub fn date_and_time(self) -> Option<(Date, i64)> {
                if self.is_infinite() {
                    return None;
                }
                let days = self.0.div_euclid(DAY_MICROS);
                Some((
                    Date(i32::try_from(days).ok()?),
                    self.0.rem_euclid(DAY_MICROS),
                ))
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.date_and_time() {
                    None if *self == $t::INFINITY => f.write_str("infinity"),
                    None => f.write_str("-infinity"),
                    Some((date, micros)) => {
                        let time = Time(micros);
                        match date.ymd() {
                            Some((y, m, d)) if y <= 0 => {
                                write!(f, "{:04}-{m:02}-{d:02} {time}{} BC", 1 - y, $suffix)
                            }
                            _ => write!(f, "{date} {time}{}", $suffix),
                        }
                    }
                }
            }
        }
    };
}

timestamp_common!(Timestamp, "");
timestamp_common!(TimestampTz, "+00");

/// A `time` (without time zone): microseconds since midnight, 0 to 86 400 000 000
/// (`24:00:00` included, as PostgreSQL allows).
///
/// ```
/// use hyperdjango_pgwire::types::Time;
/// assert_eq!(Time(45_296_000_007).to_string(), "12:34:56.000007");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i64);

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = self.0;
        let (h, m, s, frac) = (
            us / 3_600_000_000,
            us / 60_000_000 % 60,
            us / 1_000_000 % 60,
            us % 1_000_000,
        );
        write!(f, "{h:02}:{m:02}:{s:02}")?;
        if frac != 0 {
            let digits = format!("{frac:06}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        Ok(())
    }
}

/// A `timetz`: a time of day and the UTC offset in seconds east of Greenwich (`+02:00` is
/// 7200; PostgreSQL's wire format counts seconds west, and this type converts).
///
/// ```
/// use hyperdjango_pgwire::types::{Time, TimeTz};
/// let t = TimeTz { time: Time(0), utc_offset: 7200 };
/// assert_eq!(t.to_string(), "00:00:00+02:00");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeTz {
    /// The local time of day.
    pub time: Time,
    /// Seconds east of UTC.
    pub utc_offset: i32,
}

impl std::fmt::Display for TimeTz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = self.utc_offset;
        let sign = if o < 0 { '-' } else { '+' };
        let o = o.unsigned_abs();
        write!(f, "{}{sign}{:02}:{:02}", self.time, o / 3600, o / 60 % 60)?;
        if o % 60 != 0 {
            write!(f, ":{:02}", o % 60)?;
        }
        Ok(())
    }
}

/// An `interval`, with its three parts kept apart as PostgreSQL does: a month is not a fixed
/// number of days, nor a day a fixed number of hours (across a DST change).
///
/// ```
/// use hyperdjango_pgwire::types::Interval;
/// let i = Interval { months: 14, days: 3, microseconds: 4_000_000 };
/// assert_eq!(i.months, 14);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    /// Months (a year is 12).
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds.
    pub microseconds: i64,
}

macro_rules! raw_time_type {
    ($t:ty, $pg:expr, $name:literal, |$ty:ident, $raw:ident| $dec:expr, |$v:ident, $out:ident| $enc:expr) => {
        impl ToSql for $t {
            fn sql_type(&self) -> Type {
                $pg
            }
            fn accepts(&self, ty: &Type) -> bool {
                *ty == $pg
            }
            fn to_sql(&self, _ty: &Type, $out: &mut BytesMut) -> Result<IsNull, BoxError> {
                let $v = self;
                $enc;
                Ok(IsNull::No)
            }
            fn rust_type(&self) -> &'static str {
                $name
            }
            fn declared_type() -> Type {
                $pg
            }
        }

        impl<'a> FromSql<'a> for $t {
            fn accepts(ty: &Type) -> bool {
                *ty == $pg
            }
            fn from_sql($ty: &Type, $raw: &'a [u8]) -> Result<Self, BoxError> {
                $dec
            }
        }
    };
}

raw_time_type!(
    Date,
    Type::DATE,
    "Date",
    |ty, raw| Ok(Date(i32::from_be_bytes(fixed(ty, raw)?))),
    |v, out| out.put_i32(v.0)
);
raw_time_type!(
    Timestamp,
    Type::TIMESTAMP,
    "Timestamp",
    |ty, raw| Ok(Timestamp(i64::from_be_bytes(fixed(ty, raw)?))),
    |v, out| out.put_i64(v.0)
);
raw_time_type!(
    TimestampTz,
    Type::TIMESTAMPTZ,
    "TimestampTz",
    |ty, raw| Ok(TimestampTz(i64::from_be_bytes(fixed(ty, raw)?))),
    |v, out| out.put_i64(v.0)
);
raw_time_type!(
    Time,
    Type::TIME,
    "Time",
    |ty, raw| {
        let us = i64::from_be_bytes(fixed(ty, raw)?);
        if !(0..=DAY_MICROS).contains(&us) {
            return Err(format!("time value {us} µs is outside 00:00 to 24:00").into());
        }
        Ok(Time(us))
    },
    |v, out| {
        if !(0..=DAY_MICROS).contains(&v.0) {
            return Err(format!("time value {} µs is outside 00:00 to 24:00", v.0).into());
        }
        out.put_i64(v.0)
    }
);
raw_time_type!(
    TimeTz,
    Type::TIMETZ,
    "TimeTz",
    |ty, raw| {
        let mut r = Reader::new(ty, raw);
        let us = r.i64()?;
        let west = r.i32()?;
        r.finish()?;
        if !(0..=DAY_MICROS).contains(&us) {
            return Err(format!("timetz value {us} µs is outside 00:00 to 24:00").into());
        }
        let utc_offset = west
            .checked_neg()
            .ok_or("timetz value has an invalid zone")?;
        Ok(TimeTz {
            time: Time(us),
            utc_offset,
        })
    },
    |v, out| {
        out.put_i64(v.time.0);
        out.put_i32(
            v.utc_offset
                .checked_neg()
                .ok_or("timetz offset out of range")?,
        )
    }
);
raw_time_type!(
    Interval,
    Type::INTERVAL,
    "Interval",
    |ty, raw| {
        let mut r = Reader::new(ty, raw);
        let microseconds = r.i64()?;
        let days = r.i32()?;
        let months = r.i32()?;
        r.finish()?;
        Ok(Interval {
            months,
            days,
            microseconds,
        })
    },
    |v, out| {
        out.put_i64(v.microseconds);
        out.put_i32(v.days);
        out.put_i32(v.months)
    }
);

/// A value that may be `infinity` or `-infinity`, for a type (such as chrono's) that cannot
/// represent them itself.
///
/// ```
/// use hyperdjango_pgwire::types::time::Infinite;
/// let v: Infinite<i32> = Infinite::Value(3);
/// assert_eq!(v.value(), Some(&3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Infinite<T> {
    /// `-infinity`.
    NegInfinity,
    /// A finite value.
    Value(T),
    /// `infinity`.
    Infinity,
}

impl<T> Infinite<T> {
    /// The finite value, if it is one.
    pub fn value(&self) -> Option<&T> {
        match self {
            Infinite::Value(v) => Some(v),
            _ => None,
        }
    }
}

#[cfg(feature = "chrono")]
mod chrono_impls {
    //! chrono's types, converted through the exact types above.

    use chrono::{
        DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
    };

    use super::*;

    fn epoch() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default()
    }

    fn out_of_range(what: impl std::fmt::Display, ty: &str) -> BoxError {
        format!("{what} is outside the range of chrono's {ty} (years -262143 to 262142)").into()
    }

    fn infinite(ty: &str) -> BoxError {
        format!(
            "is infinite, which chrono's {ty} cannot hold (read it as Infinite<{ty}> or as hyperdjango's exact type)"
        )
        .into()
    }

    fn micros_of(delta: TimeDelta, what: &dyn std::fmt::Display) -> Result<i64, BoxError> {
        if delta.subsec_nanos() % 1000 != 0 {
            return Err(format!(
                "{what} has nanoseconds; PostgreSQL keeps microseconds (round or truncate it first)"
            )
            .into());
        }
        delta
            .num_microseconds()
            .ok_or_else(|| format!("{what} is out of PostgreSQL's range").into())
    }

    impl TryFrom<Date> for NaiveDate {
        type Error = BoxError;
        fn try_from(d: Date) -> Result<NaiveDate, BoxError> {
            if d.is_infinite() {
                return Err(infinite("NaiveDate"));
            }
            epoch()
                .date()
                .checked_add_signed(TimeDelta::days(i64::from(d.0)))
                .ok_or_else(|| out_of_range(d, "NaiveDate"))
        }
    }

    impl TryFrom<NaiveDate> for Date {
        type Error = BoxError;
        fn try_from(d: NaiveDate) -> Result<Date, BoxError> {
            let days = d.signed_duration_since(epoch().date()).num_days();
            i32::try_from(days)
                .map(Date)
                .map_err(|_| format!("{d} is out of PostgreSQL's date range").into())
        }
    }

    impl TryFrom<Timestamp> for NaiveDateTime {
        type Error = BoxError;
        fn try_from(t: Timestamp) -> Result<NaiveDateTime, BoxError> {
            if t.is_infinite() {
                return Err(infinite("NaiveDateTime"));
            }
            epoch()
                .checked_add_signed(TimeDelta::microseconds(t.0))
                .ok_or_else(|| out_of_range(t, "NaiveDateTime"))
        }
    }

    impl TryFrom<NaiveDateTime> for Timestamp {
        type Error = BoxError;
        fn try_from(t: NaiveDateTime) -> Result<Timestamp, BoxError> {
            micros_of(t.signed_duration_since(epoch()), &t).map(Timestamp)
        }
    }

    impl TryFrom<Time> for NaiveTime {
        type Error = BoxError;
        fn try_from(t: Time) -> Result<NaiveTime, BoxError> {
            let secs = u32::try_from(t.0 / 1_000_000).unwrap_or(u32::MAX);
            let micros = (t.0 % 1_000_000) as u32;
            NaiveTime::from_num_seconds_from_midnight_opt(secs, micros * 1000).ok_or_else(|| {
                format!("time {t} is outside chrono's NaiveTime (24:00:00 has no NaiveTime)").into()
            })
        }
    }

    impl TryFrom<NaiveTime> for Time {
        type Error = BoxError;
        fn try_from(t: NaiveTime) -> Result<Time, BoxError> {
            if t.nanosecond() % 1000 != 0 || t.nanosecond() >= 1_000_000_000 {
                return Err(format!(
                    "time {t} has nanoseconds or a leap second; PostgreSQL keeps microseconds"
                )
                .into());
            }
            Ok(Time(
                i64::from(t.num_seconds_from_midnight()) * 1_000_000
                    + i64::from(t.nanosecond() / 1000),
            ))
        }
    }

    /// Declares a chrono type through one of the exact types.
    macro_rules! via {
        ($t:ty, $exact:ty, $pg:expr, $name:literal) => {
            impl ToSql for $t {
                fn sql_type(&self) -> Type {
                    $pg
                }
                fn accepts(&self, ty: &Type) -> bool {
                    *ty == $pg
                }
                fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
                    <$exact>::try_from(*self)?.to_sql(ty, out)
                }
                fn rust_type(&self) -> &'static str {
                    $name
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
                    <$t>::try_from(<$exact>::from_sql(ty, raw)?)
                }
            }

            impl ToSql for Infinite<$t> {
                fn sql_type(&self) -> Type {
                    $pg
                }
                fn accepts(&self, ty: &Type) -> bool {
                    *ty == $pg
                }
                fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
                    match self {
                        Infinite::Value(v) => v.to_sql(ty, out),
                        Infinite::Infinity => <$exact>::INFINITY.to_sql(ty, out),
                        Infinite::NegInfinity => <$exact>::NEG_INFINITY.to_sql(ty, out),
                    }
                }
                fn rust_type(&self) -> &'static str {
                    concat!("Infinite<", $name, ">")
                }
                fn declared_type() -> Type {
                    $pg
                }
            }

            impl<'a> FromSql<'a> for Infinite<$t> {
                fn accepts(ty: &Type) -> bool {
                    *ty == $pg
                }
                fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
                    let exact = <$exact>::from_sql(ty, raw)?;
                    Ok(if exact == <$exact>::INFINITY {
                        Infinite::Infinity
                    } else if exact == <$exact>::NEG_INFINITY {
                        Infinite::NegInfinity
                    } else {
                        Infinite::Value(<$t>::try_from(exact)?)
                    })
                }
            }
        };
    }

    impl TryFrom<TimestampTz> for DateTime<Utc> {
        type Error = BoxError;
        fn try_from(t: TimestampTz) -> Result<DateTime<Utc>, BoxError> {
            if t.is_infinite() {
                return Err(infinite("DateTime<Utc>"));
            }
            NaiveDateTime::try_from(Timestamp(t.0))
                .map(|n| n.and_utc())
                .map_err(|_| out_of_range(t, "DateTime<Utc>"))
        }
    }

    impl TryFrom<DateTime<Utc>> for TimestampTz {
        type Error = BoxError;
        fn try_from(t: DateTime<Utc>) -> Result<TimestampTz, BoxError> {
            Timestamp::try_from(t.naive_utc()).map(|t| TimestampTz(t.0))
        }
    }

    impl TryFrom<TimestampTz> for DateTime<FixedOffset> {
        type Error = BoxError;
        fn try_from(t: TimestampTz) -> Result<DateTime<FixedOffset>, BoxError> {
            DateTime::<Utc>::try_from(t).map(|t| t.fixed_offset())
        }
    }

    impl TryFrom<DateTime<FixedOffset>> for TimestampTz {
        type Error = BoxError;
        fn try_from(t: DateTime<FixedOffset>) -> Result<TimestampTz, BoxError> {
            TimestampTz::try_from(t.to_utc())
        }
    }

    via!(NaiveDate, Date, Type::DATE, "chrono::NaiveDate");
    via!(
        NaiveDateTime,
        Timestamp,
        Type::TIMESTAMP,
        "chrono::NaiveDateTime"
    );
    via!(
        DateTime<Utc>,
        TimestampTz,
        Type::TIMESTAMPTZ,
        "chrono::DateTime<Utc>"
    );
    via!(
        DateTime<FixedOffset>,
        TimestampTz,
        Type::TIMESTAMPTZ,
        "chrono::DateTime<FixedOffset>"
    );

    impl ToSql for NaiveTime {
        fn sql_type(&self) -> Type {
            Type::TIME
        }
        fn accepts(&self, ty: &Type) -> bool {
            *ty == Type::TIME
        }
        fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
            Time::try_from(*self)?.to_sql(ty, out)
        }
        fn rust_type(&self) -> &'static str {
            "chrono::NaiveTime"
        }
        fn declared_type() -> Type {
            Type::TIME
        }
    }

    impl<'a> FromSql<'a> for NaiveTime {
        fn accepts(ty: &Type) -> bool {
            *ty == Type::TIME
        }
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
            NaiveTime::try_from(Time::from_sql(ty, raw)?)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn chrono_conversions() {
            let d = NaiveDate::from_ymd_opt(-4712, 1, 1).unwrap();
            let back = NaiveDate::try_from(Date::try_from(d).unwrap()).unwrap();
            assert_eq!(back, d);
            assert!(NaiveDate::try_from(Date::INFINITY).is_err());
            assert!(NaiveDate::try_from(Date(100_000_000)).is_err());
            let ts = NaiveDate::from_ymd_opt(2024, 2, 29)
                .unwrap()
                .and_hms_micro_opt(23, 59, 59, 999_999)
                .unwrap();
            assert_eq!(
                NaiveDateTime::try_from(Timestamp::try_from(ts).unwrap()).unwrap(),
                ts
            );
            let nanos = ts + TimeDelta::nanoseconds(1);
            assert!(
                Timestamp::try_from(nanos)
                    .unwrap_err()
                    .to_string()
                    .contains("nanoseconds")
            );
            assert!(NaiveTime::try_from(Time(DAY_MICROS)).is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_arithmetic_matches_postgres() {
        assert_eq!(Date::from_ymd(-4713, 11, 24), Some(Date(-2_451_545)));
        assert_eq!(Date(-2_451_545).to_string(), "4714-11-24 BC");
        assert_eq!(Date::from_ymd(5_874_897, 12, 31), Some(Date(2_145_031_948)));
        assert_eq!(Date(2_145_031_948).to_string(), "5874897-12-31");
        assert_eq!(Timestamp(-1).to_string(), "1999-12-31 23:59:59.999999");
        for days in [-2_451_545, -1, 0, 59, 60, 365, 1_000_000] {
            let (y, m, d) = Date(days).ymd().unwrap();
            assert_eq!(Date::from_ymd(y, m, d), Some(Date(days)));
        }
    }

    #[test]
    fn malformed_bytes_are_errors() {
        assert!(Date::from_sql(&Type::DATE, &[0, 0, 1]).is_err());
        assert!(Timestamp::from_sql(&Type::TIMESTAMP, &[0; 7]).is_err());
        assert!(Time::from_sql(&Type::TIME, &(-1i64).to_be_bytes()).is_err());
        assert!(Time::from_sql(&Type::TIME, &(DAY_MICROS + 1).to_be_bytes()).is_err());
        assert!(TimeTz::from_sql(&Type::TIMETZ, &[0; 11]).is_err());
        assert!(TimeTz::from_sql(&Type::TIMETZ, &[0; 13]).is_err());
        let mut b = [0u8; 12];
        b[8..].copy_from_slice(&i32::MIN.to_be_bytes());
        assert!(TimeTz::from_sql(&Type::TIMETZ, &b).is_err());
        assert!(Interval::from_sql(&Type::INTERVAL, &[0; 15]).is_err());
        assert!(Interval::from_sql(&Type::INTERVAL, &[0; 17]).is_err());
    }
}
