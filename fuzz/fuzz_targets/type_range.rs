//! Fuzzes the decoder of ranges and multiranges: arbitrary bytes must give a value or an error,
//! never a panic, a hang or an allocation far beyond the input's size.
#![no_main]
use hyperdjango_pgwire::types::{FromSql, Multirange, Numeric, Range, Timestamp, TimestampTz, Type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Range::<i32>::from_sql(&Type::INT4RANGE, data);
    let _ = Range::<i64>::from_sql(&Type::INT8RANGE, data);
    let _ = Range::<Numeric>::from_sql(&Type::NUMRANGE, data);
    let _ = Range::<Timestamp>::from_sql(&Type::TSRANGE, data);
    let _ = Range::<TimestampTz>::from_sql(&Type::TSTZRANGE, data);
    let _ = Range::<chrono::NaiveDate>::from_sql(&Type::DATERANGE, data);
    let _ = Multirange::<i32>::from_sql(&Type::INT4MULTIRANGE, data);
    let _ = Multirange::<i64>::from_sql(&Type::INT8MULTIRANGE, data);
    let _ = Multirange::<TimestampTz>::from_sql(&Type::TSTZMULTIRANGE, data);
});
