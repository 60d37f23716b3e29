//! Criterion bench: see `hyperdjango_benches::Workload` for what it runs.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use hyperdjango_benches::Workload;

fn bench(c: &mut Criterion) {
    common::bench_workloads(c, &[Workload::W6ArraysBytea]);
}

criterion_group!(benches, bench);
criterion_main!(benches);
