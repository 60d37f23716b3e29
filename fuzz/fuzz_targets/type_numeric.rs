//! Fuzzes the decoder of numeric and money, also as rust_decimal::Decimal: arbitrary bytes must give a value or an error,
//! never a panic, a hang or an allocation far beyond the input's size.
#![no_main]
use hyperdjango_pgwire::types::{FromSql, Money, Numeric, Type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Numeric::from_sql(&Type::NUMERIC, data) {
        // Whatever decodes must also display, and the text must parse back.
        let text = n.to_string();
        assert!(text.parse::<Numeric>().is_ok(), "{text:?} does not parse back");
        let _ = n.is_nan() || n.is_infinite() || n.is_negative();
        let _ = n.scale();
    }
    let _ = rust_decimal::Decimal::from_sql(&Type::NUMERIC, data);
    let _ = Money::from_sql(&Type::MONEY, data);
});
