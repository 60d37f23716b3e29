//! The criterion benches of W1..W6 and P1 (the pool workload of issue 5): one server and data set, then one benchmark group per
//! workload ("W1 select1", ..., see `hyperdjango_benches::Workload`) with one function per
//! driver, all on tokio's default multi-threaded runtime. The workload code is the library's,
//! the same as `compare` runs.
//!
//! One bench binary for all workloads (each binary links sqlx, tokio-postgres and criterion,
//! about 12 s of CI build time apiece); pick workloads with criterion's filter:
//!
//! ```text
//! cargo bench -p hyperdjango-benches --bench workloads -- "W3"
//! ```

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hyperdjango_benches::{BenchEnv, Client, DriverKind, W5Data, Workload};

/// Benchmarks every workload on every driver.
fn bench_workloads(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let env = BenchEnv::setup(&rt).unwrap_or_else(|e| panic!("benchmark setup: {e}"));
    let data = Arc::new(W5Data::new());
    let mut clients: Vec<Option<Client>> = DriverKind::ALL
        .iter()
        .map(|&d| {
            Some(
                rt.block_on(Client::connect(d, env.url()))
                    .unwrap_or_else(|e| panic!("{}: {e}", d.name())),
            )
        })
        .collect();
    for w in Workload::ALL {
        let mut group = c.benchmark_group(w.name());
        if w.needs_reset()
            || w == Workload::W3Fetch
            || matches!(w, Workload::P1PoolGet | Workload::P1PoolCheckout)
        {
            // Iterations of 10-1000 ms.
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(10));
        }
        for slot in clients.iter_mut() {
            let client = slot.as_mut().expect("client");
            let name = client.kind().name();
            if !client.supports(w) {
                continue;
            }
            if client.is_fallback(w) {
                eprintln!("{w} on {name}: fallback: {}", client.note(w).unwrap_or(""));
            }
            let probe = rt
                .block_on(async {
                    client.reset(w).await?;
                    client.run(w, &data).await
                })
                .unwrap_or_else(|e| panic!("{w} on {name}: {e}"));
            group.throughput(Throughput::Elements(probe.units));
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    // Each batch runs as a spawned task on a runtime worker, as `compare` does
                    // (and as a server's request handler would).
                    let mut c = slot.take().expect("client");
                    let data = Arc::clone(&data);
                    let (c, total) = rt
                        .block_on(rt.spawn(async move {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                c.reset(w).await.expect("reset");
                                let start = Instant::now();
                                let out = c.run(w, &data).await.expect("run");
                                total += start.elapsed();
                                std::hint::black_box(out);
                            }
                            (c, total)
                        }))
                        .expect("benchmark task");
                    *slot = Some(c);
                    total
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_workloads);
criterion_main!(benches);
