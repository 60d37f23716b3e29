//! Fuzzes the decoder of pgvector's vector, halfvec and sparsevec: arbitrary bytes must give a value or an error,
//! never a panic, a hang or an allocation far beyond the input's size.
#![no_main]
use hyperdjango_pgwire::types::{FromSql, HalfVector, Kind, SparseVector, Type, Vector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let vector = Type::new(30000, "vector", "public", Kind::Simple);
    let halfvec = Type::new(30001, "halfvec", "public", Kind::Simple);
    let sparsevec = Type::new(30002, "sparsevec", "public", Kind::Simple);
    let _ = Vector::from_sql(&vector, data);
    let _ = HalfVector::from_sql(&halfvec, data);
    if let Ok(s) = SparseVector::from_sql(&sparsevec, data) {
        // The dense form is as long as the claimed dimension: only touch it when small.
        if s.dim() <= 1 << 16 {
            let _ = s.to_dense();
        }
    }
});
