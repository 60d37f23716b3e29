//! `compare`: every workload of issue 4 (and issue 5's pool workload, P1, where the
//! tokio-postgres column is deadpool-postgres and the sqlx column is sqlx's `PgPool`) on
//! hyperdjango, tokio-postgres and sqlx in one process
//! against one server, plus the pgbench / EXPLAIN floors, printed as a markdown table.
//!
//! ```text
//! cargo run --release -p hyperdjango-benches --bin compare -- --quick
//! ```
//!
//! Options:
//! - `--quick`: short budgets (the whole run takes about a minute and a half on 2 cores);
//! - `--only W1,W3`: only workloads whose name starts with one of these;
//! - `--drivers hyperdjango,sqlx`: only these drivers (ratios need hyperdjango and a peer);
//! - `--no-floor`: skip pgbench and EXPLAIN;
//! - `--block-on`: run the drivers on the main thread (`Runtime::block_on`) instead of as a
//!   task on a runtime worker (the default, as a server's request handlers run);
//! - `--report [DIR]`: also write the table as `DIR/compare.md` and a chart of each driver's
//!   throughput relative to tokio-postgres per workload as `DIR/compare.svg` (default
//!   `benches/report/`);
//! - `--loop-secs N`: run only the first of `--drivers` on the selected workloads for N
//!   seconds and print nothing else (for `perf record` / callgrind).
//!
//! Figures are medians of per-iteration times; the drivers take turns in rounds so that a
//! slow phase of the machine hits all of them. Only the ratios mean anything across machines.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use hyperdjango_benches::floor::{self, PgbenchResult};
use hyperdjango_benches::{
    BenchEnv, Client, DriverKind, Outcome, P1_CONNS, P1_GETS, P1_TASKS, Result, W2_QUERIES,
    W3_ROWS, W5Data, Workload,
};
use hyperdjango_benches::{assoc, chart};

struct Options {
    quick: bool,
    only: Vec<String>,
    drivers: Vec<DriverKind>,
    floor: bool,
    loop_secs: Option<u64>,
    block_on: bool,
    /// `--report [DIR]`: where to write `compare.md` and `compare.svg`.
    report: Option<PathBuf>,
}

/// Writes a line to a `String` (the report is printed and, with `--report`, saved).
macro_rules! outln {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Where `--report` writes when given no directory: `benches/report/`.
const DEFAULT_REPORT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/report");

fn parse_args() -> Result<Options> {
    let mut o = Options {
        quick: false,
        only: Vec::new(),
        drivers: DriverKind::ALL.to_vec(),
        floor: true,
        loop_secs: None,
        block_on: false,
        report: None,
    };
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--no-floor" => o.floor = false,
            "--block-on" => o.block_on = true,
            "--report" => {
                let dir = args.next_if(|a| !a.starts_with("--"));
                o.report =
                    Some(dir.map_or_else(|| PathBuf::from(DEFAULT_REPORT_DIR), PathBuf::from));
            }
            "--only" => {
                let v = args.next().ok_or("--only needs a value")?;
                o.only = v.split(',').map(|s| s.trim().to_uppercase()).collect();
            }
            "--drivers" => {
                let v = args.next().ok_or("--drivers needs a value")?;
                o.drivers = v
                    .split(',')
                    .map(|s| {
                        DriverKind::ALL
                            .into_iter()
                            .find(|d| d.name() == s.trim())
                            .ok_or_else(|| format!("unknown driver {s}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--loop-secs" => {
                let v = args.next().ok_or("--loop-secs needs a value")?;
                o.loop_secs = Some(v.parse()?);
            }
            "-h" | "--help" => {
                println!(
                    "compare [--quick] [--only W1,W3] [--drivers hyperdjango,tokio-postgres,sqlx] \
                     [--no-floor] [--block-on] [--loop-secs N] [--report [DIR]]"
                );
                std::process::exit(0);
            }
            // `cargo bench` passes --bench to every target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(o)
}

/// How long to measure.
struct Budget {
    /// Per workload and driver, all rounds together.
    cell: Duration,
    /// The drivers take turns this many times per workload.
    rounds: u32,
    /// At least this many samples per cell, whatever the time.
    min_samples: usize,
    /// A sample batches iterations until it takes about this long (not for W5).
    sample: Duration,
    /// Each pgbench run.
    pgbench: Duration,
}

impl Budget {
    fn new(quick: bool) -> Budget {
        if quick {
            Budget {
                cell: Duration::from_millis(1500),
                rounds: 10,
                min_samples: 10,
                sample: Duration::from_millis(10),
                pgbench: Duration::from_secs(3),
            }
        } else {
            Budget {
                cell: Duration::from_secs(6),
                rounds: 20,
                min_samples: 20,
                sample: Duration::from_millis(20),
                pgbench: Duration::from_secs(10),
            }
        }
    }
}

/// The per-iteration times of one workload on one driver.
#[derive(Default)]
struct Cell {
    /// Seconds per iteration, one entry per sample.
    samples: Vec<f64>,
    units_per_iter: u64,
    /// Process CPU time over the measured iterations, and how many there were.
    cpu_ns: u64,
    cpu_iters: u64,
    outcome: Option<Outcome>,
    error: Option<String>,
}

impl Cell {
    fn median(&self) -> Option<f64> {
        if self.samples.is_empty() {
            return None;
        }
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        Some(if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        })
    }

    /// Units per second at the median.
    fn rate(&self) -> Option<f64> {
        self.median().map(|m| self.units_per_iter as f64 / m)
    }

    /// Client CPU time per unit, in seconds.
    fn cpu_per_unit(&self) -> Option<f64> {
        (self.cpu_iters > 0 && self.units_per_iter > 0)
            .then(|| self.cpu_ns as f64 / 1e9 / self.cpu_iters as f64 / self.units_per_iter as f64)
    }

    /// Relative half-width of the interquartile range, for the noise column.
    fn spread(&self) -> Option<f64> {
        if self.samples.len() < 4 {
            return None;
        }
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        let q = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
        Some((q(0.75) - q(0.25)) / 2.0 / self.median()?)
    }
}

/// Runs `iters` iterations and returns the time they took (W5: the untimed reset before each).
async fn timed(
    client: &mut Client,
    w: Workload,
    data: &W5Data,
    iters: u32,
) -> Result<(Duration, Outcome)> {
    let mut total = Duration::ZERO;
    let mut last = Outcome::default();
    if w.needs_reset() {
        for _ in 0..iters {
            client.reset(w).await?;
            let start = Instant::now();
            last = client.run(w, data).await?;
            total += start.elapsed();
        }
    } else {
        let start = Instant::now();
        for _ in 0..iters {
            last = client.run(w, data).await?;
        }
        total = start.elapsed();
    }
    Ok((total, last))
}

/// One driver's turn on `w`: samples until `budget` is spent and `min_samples` taken.
async fn measure(
    client: &mut Client,
    w: Workload,
    data: &W5Data,
    cell: &mut Cell,
    budget: Duration,
    min_samples: usize,
    sample: Duration,
) -> Result<()> {
    // How many iterations make a sample: one for the long W5 ones, else about `sample`.
    let (probe, outcome) = timed(client, w, data, 1).await?;
    let per_sample = if w.needs_reset() {
        1
    } else {
        (sample.as_secs_f64() / probe.as_secs_f64().max(1e-9)).clamp(1.0, 10_000.0) as u32
    };
    cell.units_per_iter = outcome.units;
    let start = Instant::now();
    let cpu_start = hyperdjango_benches::process_cpu_ns();
    let mut taken = 0;
    while start.elapsed() < budget || taken < min_samples {
        let (t, outcome) = timed(client, w, data, per_sample).await?;
        cell.samples.push(t.as_secs_f64() / f64::from(per_sample));
        cell.outcome = Some(outcome);
        taken += 1;
    }
    if let (Some(a), Some(b)) = (cpu_start, hyperdjango_benches::process_cpu_ns()) {
        cell.cpu_ns += b.saturating_sub(a);
        cell.cpu_iters += taken as u64 * u64::from(per_sample);
    }
    Ok(())
}

fn fmt_rate(r: f64, unit: &str) -> String {
    let u = if unit == "queries" { "q/s" } else { "rows/s" };
    if r >= 1e6 {
        format!("{:.2}M {u}", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k {u}", r / 1e3)
    } else {
        format!("{r:.1} {u}")
    }
}

fn fmt_time(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else if secs >= 1e-6 {
        format!("{:.1} µs", secs * 1e6)
    } else {
        format!("{:.0} ns", secs * 1e9)
    }
}

/// A floor for the table: its rate and where it comes from.
struct Floor {
    rate: Option<f64>,
    label: String,
}

fn main() -> Result<()> {
    let opts = parse_args()?;
    let budget = Budget::new(opts.quick);
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| {
            opts.only.is_empty()
                || opts
                    .only
                    .iter()
                    .any(|p| w.name().to_uppercase().starts_with(p.as_str()))
        })
        .collect();
    let started = Instant::now();
    // tokio's default runtime: multi-threaded, one worker per core.
    let rt = tokio::runtime::Runtime::new()?;
    eprintln!("setting up the server and the data ...");
    let env = BenchEnv::setup(&rt)?;
    let data = W5Data::new();

    if let Some(secs) = opts.loop_secs {
        let driver = opts.drivers[0];
        let url = env.url().to_string();
        return rt.block_on(
            rt.spawn(async move { profile_loop(&url, driver, &workloads, &data, secs).await }),
        )?;
    }

    eprintln!("{} (setup {:.1?})", env.describe(), started.elapsed());
    let clients: Vec<Client> = rt.block_on(async {
        let mut v = Vec::new();
        for &d in &opts.drivers {
            v.push(Client::connect(d, env.url()).await?);
        }
        Ok::<_, hyperdjango_benches::BoxError>(v)
    })?;

    let mut cells: HashMap<(Workload, DriverKind), Cell> = HashMap::new();
    let data = Arc::new(data);
    let mut slots: Vec<Option<Client>> = clients.into_iter().map(Some).collect();
    for &w in &workloads {
        eprintln!("{w} ...");
        let turn = budget.cell / budget.rounds;
        let min_per_turn = budget.min_samples.div_ceil(budget.rounds as usize);
        let sample = budget.sample;
        for round in 0..budget.rounds {
            for slot in slots.iter_mut() {
                let Some(mut client) = slot.take() else {
                    continue;
                };
                let kind = client.kind();
                let mut cell = cells.remove(&(w, kind)).unwrap_or_default();
                if !client.supports(w) {
                    cell.error = Some("n/a".into());
                }
                if cell.error.is_some() {
                    cells.insert((w, kind), cell);
                    *slot = Some(client);
                    continue;
                }
                let data = Arc::clone(&data);
                let turn_fut = async move {
                    let result = async {
                        if round == 0 {
                            // Warm-up: statement caches, buffers, the server's plan cache.
                            timed(&mut client, w, &data, 2).await?;
                        }
                        measure(&mut client, w, &data, &mut cell, turn, min_per_turn, sample).await
                    }
                    .await;
                    (client, cell, result)
                };
                // By default the turn runs as a task on a runtime worker, the way a request
                // handler runs in a server; `--block-on` runs it on the main thread instead.
                let (client, mut cell, result) = if opts.block_on {
                    rt.block_on(turn_fut)
                } else {
                    rt.block_on(rt.spawn(turn_fut))?
                };
                if let Err(e) = result {
                    eprintln!("  {} failed: {e}", kind.name());
                    cell.error = Some(e.to_string());
                }
                cells.insert((w, kind), cell);
                *slot = Some(client);
            }
        }
    }
    let clients: Vec<Client> = slots.into_iter().flatten().collect();

    // The floors.
    let mut floors: HashMap<Workload, Floor> = HashMap::new();
    if opts.floor {
        let pgbench = floor::pgbench_path(&env);
        let runs: [(Workload, String, u32, &str); 2] = [
            (
                Workload::W1Select1,
                floor::PGBENCH_SELECT1.to_string(),
                1,
                "pgbench -M prepared, SELECT 1",
            ),
            (
                Workload::W2PipelineAtomic,
                floor::pgbench_pipeline_script(),
                W2_QUERIES as u32,
                "pgbench -M prepared, \\startpipeline x100",
            ),
        ];
        for (w, script, per_tx, label) in runs {
            if !workloads.contains(&w) {
                continue;
            }
            eprintln!("{label} ...");
            let floor = match floor::pgbench(&pgbench, env.url(), &script, per_tx, budget.pgbench) {
                Ok(PgbenchResult {
                    statements_per_sec, ..
                }) => Floor {
                    rate: Some(statements_per_sec),
                    label: label.to_string(),
                },
                Err(e) => Floor {
                    rate: None,
                    label: format!("{label}: failed: {e}"),
                },
            };
            floors.insert(w, floor);
        }
        if workloads.contains(&Workload::W3Fetch) {
            let limit = rt.block_on(floor::w3_server_time(
                env.url(),
                env.server_version_num(),
                if opts.quick { 5 } else { 15 },
            ));
            let floor = match limit {
                Ok(Some(secs)) => Floor {
                    rate: Some(W3_ROWS as f64 / secs),
                    label: format!(
                        "server limit: EXPLAIN (ANALYZE, SERIALIZE binary) execution time {}",
                        fmt_time(secs)
                    ),
                },
                Ok(None) => Floor {
                    rate: None,
                    label: format!(
                        "server limit unavailable: EXPLAIN (SERIALIZE) needs PostgreSQL 17+, \
                         this server is {}",
                        env.server_version_num()
                    ),
                },
                Err(e) => Floor {
                    rate: None,
                    label: format!("server limit: EXPLAIN failed: {e}"),
                },
            };
            floors.insert(Workload::W3Fetch, floor);
        }
    }

    let markdown = report(
        &env,
        &opts,
        &workloads,
        &clients,
        &cells,
        &floors,
        started.elapsed(),
    );
    print!("{markdown}");
    if let Some(dir) = &opts.report {
        write_report(dir, &markdown, &workloads, &clients, &cells)?;
    }
    Ok(())
}

/// `--report`: writes the table as `compare.md` and the chart as `compare.svg` in `dir`.
fn write_report(
    dir: &Path,
    markdown: &str,
    workloads: &[Workload],
    clients: &[Client],
    cells: &HashMap<(Workload, DriverKind), Cell>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let md = dir.join("compare.md");
    std::fs::write(&md, markdown).map_err(|e| format!("writing {}: {e}", md.display()))?;
    let reference = DriverKind::TokioPostgres;
    let drivers: Vec<DriverKind> = clients.iter().map(Client::kind).collect();
    if !drivers.contains(&reference) {
        eprintln!(
            "no chart: its ratios are against {}, which was not run",
            reference.name()
        );
        return Ok(());
    }
    let groups: Vec<(String, Vec<Option<f64>>)> = workloads
        .iter()
        .map(|&w| {
            let base = cells[&(w, reference)].rate();
            let ratios = drivers
                .iter()
                .map(|&d| Some(cells[&(w, d)].rate()? / base?))
                .collect();
            (w.to_string(), ratios)
        })
        .collect();
    let names: Vec<&str> = drivers.iter().map(|d| d.name()).collect();
    let svg = dir.join("compare.svg");
    let chart = chart::Chart {
        title: "Throughput per workload, relative to tokio-postgres (higher is faster)",
        reference: reference.name(),
        drivers: &names,
        groups: &groups,
    };
    chart::write_svg(&chart, &svg).map_err(|e| format!("writing {}: {e}", svg.display()))?;
    eprintln!("wrote {} and {}", md.display(), svg.display());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    env: &BenchEnv,
    opts: &Options,
    workloads: &[Workload],
    clients: &[Client],
    cells: &HashMap<(Workload, DriverKind), Cell>,
    floors: &HashMap<Workload, Floor>,
    elapsed: Duration,
) -> String {
    let mut out = String::new();
    let drivers: Vec<DriverKind> = clients.iter().map(Client::kind).collect();
    let peers: Vec<DriverKind> = drivers
        .iter()
        .copied()
        .filter(|&d| d != DriverKind::Hyperdjango)
        .collect();
    let has_hd = drivers.contains(&DriverKind::Hyperdjango);
    outln!(out);
    outln!(
        out,
        "## hyperdjango vs peers ({}, {} cores, tokio multi-thread runtime, {}{})",
        env.describe(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if opts.block_on {
            "drivers on the block_on thread"
        } else {
            "drivers in a spawned task"
        },
        if opts.quick { ", --quick" } else { "" }
    );
    outln!(out);
    outln!(
        out,
        "Each cell: median time per iteration, and the rate at that median. Ratios are"
    );
    outln!(
        out,
        "hyperdjango's rate over the other's (> 1 = hyperdjango faster)."
    );
    outln!(out);
    let mut header = String::from("| workload |");
    let mut rule = String::from("| --- |");
    for d in &drivers {
        header.push_str(&format!(" {} |", d.name()));
        rule.push_str(" --- |");
    }
    header.push_str(" floor |");
    rule.push_str(" --- |");
    if has_hd {
        for p in &peers {
            header.push_str(&format!(" hd / {} |", p.name()));
            rule.push_str(" ---: |");
        }
        header.push_str(" hd / floor |");
        rule.push_str(" ---: |");
    }
    outln!(out, "{header}");
    outln!(out, "{rule}");

    let mut notes: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for &w in workloads {
        let mut line = format!("| {w} |");
        for client in clients {
            let d = client.kind();
            let cell = &cells[&(w, d)];
            let fallback = if client.is_fallback(w) {
                " (fallback)"
            } else {
                ""
            };
            match (cell.median(), cell.rate(), &cell.error) {
                (_, _, Some(e)) if e == "n/a" => line.push_str(" n/a |"),
                (_, _, Some(e)) => line.push_str(&format!(" failed: {e} |")),
                (Some(m), Some(r), None) => line.push_str(&format!(
                    " {} · {}{fallback} |",
                    fmt_time(m),
                    fmt_rate(r, w.unit())
                )),
                _ => line.push_str(" - |"),
            }
        }
        let floor = floors.get(&w);
        match floor.and_then(|f| f.rate) {
            Some(r) => line.push_str(&format!(" {} |", fmt_rate(r, w.unit()))),
            None => line.push_str(" - |"),
        }
        if has_hd {
            let hd = cells[&(w, DriverKind::Hyperdjango)].rate();
            for &p in &peers {
                match (hd, cells[&(w, p)].rate()) {
                    (Some(a), Some(b)) => line.push_str(&format!(" {:.2}x |", a / b)),
                    _ => line.push_str(" - |"),
                }
            }
            match (hd, floor.and_then(|f| f.rate)) {
                (Some(a), Some(b)) => line.push_str(&format!(" {:.2}x |", a / b)),
                _ => line.push_str(" - |"),
            }
        }
        outln!(out, "{line}");

        for client in clients {
            if let Some(n) = client.note(w) {
                notes.push(format!("{w}, {}: {n}", client.kind().name()));
            }
        }
        if let Some(f) = floor {
            notes.push(format!("{w}, floor: {}", f.label));
        }
        // Every driver must have done the same work.
        let outcomes: Vec<(DriverKind, Outcome)> = drivers
            .iter()
            .filter_map(|&d| cells[&(w, d)].outcome.map(|o| (d, o)))
            .collect();
        if let Some(&(d0, o0)) = outcomes.first() {
            for &(d, o) in &outcomes[1..] {
                if o != o0 {
                    warnings.push(format!(
                        "{w}: {} and {} disagree: {o0:?} vs {o:?}",
                        d0.name(),
                        d.name()
                    ));
                }
            }
        }
    }

    outln!(out);
    outln!(out, "Samples per cell and noise (IQR half-width / median):");
    for &w in workloads {
        let parts: Vec<String> = drivers
            .iter()
            .map(|&d| {
                let c = &cells[&(w, d)];
                match c.spread() {
                    _ if c.samples.is_empty() => format!("{} n/a", d.name()),
                    Some(s) => format!("{} n={} ±{:.0}%", d.name(), c.samples.len(), s * 100.0),
                    None => format!("{} n={}", d.name(), c.samples.len()),
                }
            })
            .collect();
        outln!(out, "- {w}: {}", parts.join(", "));
    }
    outln!(out);
    outln!(
        out,
        "Client CPU per unit (this process, all threads; the drivers take turns, so this is"
    );
    outln!(
        out,
        "each driver's own cost, much less disturbed by a busy machine than wall time)."
    );
    outln!(
        out,
        "Ratios are the peer's CPU over hyperdjango's (> 1 = hyperdjango cheaper)."
    );
    outln!(out);
    let mut header = String::from("| workload |");
    let mut rule = String::from("| --- |");
    for d in &drivers {
        header.push_str(&format!(" {} |", d.name()));
        rule.push_str(" --- |");
    }
    if has_hd {
        for p in &peers {
            header.push_str(&format!(" {} / hd |", p.name()));
            rule.push_str(" ---: |");
        }
    }
    outln!(out, "{header}");
    outln!(out, "{rule}");
    for &w in workloads {
        let unit = if w.unit() == "queries" {
            "query"
        } else {
            "row"
        };
        let mut line = format!("| {w} |");
        for &d in &drivers {
            match cells[&(w, d)].cpu_per_unit() {
                Some(c) => line.push_str(&format!(" {}/{unit} |", fmt_time(c))),
                None => line.push_str(" - |"),
            }
        }
        if has_hd {
            let hd = cells[&(w, DriverKind::Hyperdjango)].cpu_per_unit();
            for &p in &peers {
                match (hd, cells[&(w, p)].cpu_per_unit()) {
                    (Some(a), Some(b)) => line.push_str(&format!(" {:.2}x |", b / a)),
                    _ => line.push_str(" - |"),
                }
            }
        }
        outln!(out, "{line}");
    }

    outln!(out);
    outln!(out, "Notes:");
    outln!(
        out,
        "- W1: one query per iteration; W2: 100 queries per iteration; W3: {} rows; W4: one \
         query (about 600 rows of pg_type, 12 columns, all decoded); W5: 10,000 rows in one \
         transaction, table truncated before each iteration (not timed); W6: 1,000 rows; \
         P1: {P1_TASKS} tasks x {P1_GETS} gets = {} primary-key SELECTs per iteration through \
         one pool of {P1_CONNS} connections per driver, the tasks spawned on the runtime; \
         \"P1 pool pk get\" uses each pool's one-shot query where it has one (hyperdjango's \
         pipelined Pool::query_one, sqlx's fetch_one(&pool)), \"P1 pool checkout per get\" \
         acquires, queries and releases per get in every pool.",
        W3_ROWS,
        P1_TASKS * P1_GETS
    );
    outln!(
        out,
        "- Every value of every row is decoded by each driver (W3's timestamptz as \
         chrono::DateTime<Utc>, W6's int4[] as Vec<i32> and bytea as &[u8], by all three); a \
         checksum over them is compared across drivers."
    );
    outln!(
        out,
        "- ORM: `bench_orm` holds 10,000 rows (serial id, int8, text, float8, bool); \
         hyperdjango's column is the ORM (model instances), except in the \"hd raw driver\" \
         rows; the peers run raw SQL (prepared statements, Row::get per column) in both rows \
         of each pair."
    );
    outln!(
        out,
        "- ORM assoc (diesel_bench's loading associations sequentially): {} users x {} posts \
         x {} comments ({} rows) in three queries, assembled into Vec<(User, Vec<(Post, \
         Vec<Comment>)>)> and checked for shape (every row once, under its own parent) every \
         iteration by every driver; the unit is a row.",
        assoc::USERS,
        assoc::POSTS_PER_USER,
        assoc::COMMENTS_PER_POST,
        assoc::ROWS
    );
    if has_hd {
        for (orm, raw, what) in [
            (Workload::OrmFetch, Workload::OrmFetchRaw, "ORM fetch 10k"),
            (Workload::OrmPkGet, Workload::OrmPkGetRaw, "ORM pk get"),
            (
                Workload::OrmAssoc,
                Workload::OrmAssocRaw,
                "ORM assoc 100x10x10",
            ),
        ] {
            let rate = |w| {
                cells
                    .get(&(w, DriverKind::Hyperdjango))
                    .and_then(Cell::rate)
            };
            if let (Some(a), Some(b)) = (rate(orm), rate(raw)) {
                outln!(
                    out,
                    "- {what} over hyperdjango's raw driver (same run): {:.2}x",
                    a / b
                );
            }
        }
    }
    for n in notes {
        outln!(out, "- {n}");
    }
    if warnings.is_empty() {
        outln!(out, "- Checksums: all drivers agree on every workload.");
    } else {
        for w in warnings {
            outln!(out, "- WARNING: {w}");
        }
    }
    outln!(out, "- Total run time: {:.1?}.", elapsed);
    out
}

/// `--loop-secs`: one driver alone (the first of `--drivers`), for a profiler.
async fn profile_loop(
    url: &str,
    driver: DriverKind,
    workloads: &[Workload],
    data: &W5Data,
    secs: u64,
) -> Result<()> {
    let mut client = Client::connect(driver, url).await?;
    let per = Duration::from_secs(secs) / workloads.len().max(1) as u32;
    for &w in workloads {
        let start = Instant::now();
        let cpu = hyperdjango_benches::process_cpu_ns().unwrap_or(0);
        let mut iters = 0u64;
        while start.elapsed() < per {
            client.reset(w).await?;
            client.run(w, data).await?;
            iters += 1;
        }
        let cpu = hyperdjango_benches::process_cpu_ns().unwrap_or(0) - cpu;
        eprintln!(
            "{w} on {}: {iters} iterations in {:.1?}, client CPU {} per iteration",
            driver.name(),
            start.elapsed(),
            fmt_time(cpu as f64 / 1e9 / iters.max(1) as f64)
        );
    }
    Ok(())
}
