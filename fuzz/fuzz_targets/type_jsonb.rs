//! Fuzzes the decoder of json and jsonb, as text and as serde_json values: arbitrary bytes must give a value or an error,
//! never a panic, a hang or an allocation far beyond the input's size.
#![no_main]
use hyperdjango_pgwire::types::{FromSql, Json, Type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::Value::from_sql(&Type::JSONB, data);
    let _ = serde_json::Value::from_sql(&Type::JSON, data);
    let _ = Json::<std::collections::HashMap<String, i64>>::from_sql(&Type::JSONB, data);
    let _ = Json::<Vec<serde_json::Value>>::from_sql(&Type::JSON, data);
    let _ = <&str>::from_sql(&Type::JSONB, data);
});
