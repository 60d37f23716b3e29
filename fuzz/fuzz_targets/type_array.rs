//! Fuzzes the decoder of arrays of several element types, one and more dimensions: arbitrary bytes must give a value or an error,
//! never a panic, a hang or an allocation far beyond the input's size.
#![no_main]
use hyperdjango_pgwire::types::{Array, FromSql, Numeric, Type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Array::<Option<i32>>::from_sql(&Type::INT4_ARRAY, data);
    let _ = Array::<Option<i64>>::from_sql(&Type::INT8_ARRAY, data);
    let _ = Array::<Option<&str>>::from_sql(&Type::TEXT_ARRAY, data);
    let _ = Array::<Option<Numeric>>::from_sql(&Type::NUMERIC_ARRAY, data);
    let _ = Array::<Option<f64>>::from_sql(&Type::FLOAT8_ARRAY, data);
    let _ = Vec::<Option<i32>>::from_sql(&Type::INT4_ARRAY, data);
    let _ = Vec::<Option<String>>::from_sql(&Type::TEXT_ARRAY, data);
    let _ = Vec::<Option<bool>>::from_sql(&Type::BOOL_ARRAY, data);
});
