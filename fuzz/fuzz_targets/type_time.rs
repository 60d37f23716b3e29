//! Fuzzes the decoder of date, time, timetz, timestamp, timestamptz and interval, exact and as chrono: arbitrary bytes must give a value or an error,
//! never a panic, a hang or an allocation far beyond the input's size.
#![no_main]
use hyperdjango_pgwire::types::time::Infinite;
use hyperdjango_pgwire::types::{Date, FromSql, Interval, Time, TimeTz, Timestamp, TimestampTz, Type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Date::from_sql(&Type::DATE, data);
    let _ = Time::from_sql(&Type::TIME, data);
    let _ = TimeTz::from_sql(&Type::TIMETZ, data);
    let _ = Timestamp::from_sql(&Type::TIMESTAMP, data);
    let _ = TimestampTz::from_sql(&Type::TIMESTAMPTZ, data);
    let _ = Interval::from_sql(&Type::INTERVAL, data);
    let _ = chrono::NaiveDate::from_sql(&Type::DATE, data);
    let _ = chrono::NaiveTime::from_sql(&Type::TIME, data);
    let _ = chrono::NaiveDateTime::from_sql(&Type::TIMESTAMP, data);
    let _ = chrono::DateTime::<chrono::Utc>::from_sql(&Type::TIMESTAMPTZ, data);
    let _ = Infinite::<chrono::NaiveDateTime>::from_sql(&Type::TIMESTAMP, data);
    let _ = Infinite::<chrono::DateTime<chrono::Utc>>::from_sql(&Type::TIMESTAMPTZ, data);
    let _ = Infinite::<chrono::NaiveDate>::from_sql(&Type::DATE, data);
});
