//! What every criterion bench does: one server and data set per bench binary, then one
//! benchmark group per workload with one function per driver, all on tokio's default
//! multi-threaded runtime. The workload code is the library's, the same as `compare` runs.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hyperdjango_benches::{BenchEnv, Client, DriverKind, W5Data, Workload};

/// Benchmarks `workloads` on every driver.
pub fn bench_workloads(c: &mut Criterion, workloads: &[Workload]) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let env = BenchEnv::setup(&rt).unwrap_or_else(|e| panic!("benchmark setup: {e}"));
    let data = W5Data::new();
    let mut clients: Vec<Client> = DriverKind::ALL
        .iter()
        .map(|&d| {
            rt.block_on(Client::connect(d, env.url()))
                .unwrap_or_else(|e| panic!("{}: {e}", d.name()))
        })
        .collect();
    for &w in workloads {
        let mut group = c.benchmark_group(w.name());
        if w.needs_reset() || w == Workload::W3Fetch {
            // Iterations of 10-1000 ms.
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(10));
        }
        for client in clients.iter_mut() {
            let name = client.kind().name();
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
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            client.reset(w).await.expect("reset");
                            let start = Instant::now();
                            let out = client.run(w, &data).await.expect("run");
                            total += start.elapsed();
                            std::hint::black_box(out);
                        }
                        total
                    })
                })
            });
        }
        group.finish();
    }
}
