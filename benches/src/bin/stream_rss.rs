//! Memory of a large result: streams 1,000,000 rows through `query_stream` and prints the
//! process's peak resident set size (VmHWM), then does the same with `query`, which collects
//! every row, for contrast. Each mode runs in its own process (this binary re-runs itself), so
//! one mode's peak cannot hide the other's.
//!
//! Run it as `cargo run --release -p hyperdjango-benches --bin stream_rss`.

use hyperdjango_benches::{BenchEnv, Result};
use hyperdjango_pgwire::Connection;

const ROWS: i32 = 1_000_000;
/// 1M rows of an int4 and a 100-byte text: about 120 MB on the wire.
const SQL: &str = "SELECT g, repeat('x', 100) FROM generate_series(1, $1) g";

/// The process's peak resident set size in KiB, from /proc/self/status.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn stream(url: &str) -> Result<u64> {
    let mut conn = Connection::connect_url(url).await?;
    let mut rows = conn.query_stream(SQL, &[&ROWS]).await?;
    let mut bytes = 0u64;
    while let Some(row) = rows.next().await {
        let row = row?;
        bytes += row.get::<_, &str>(1)?.len() as u64 + 4;
    }
    Ok(bytes)
}

async fn collect(url: &str) -> Result<u64> {
    let mut conn = Connection::connect_url(url).await?;
    let rows = conn.query(SQL, &[&ROWS]).await?;
    let mut bytes = 0u64;
    for row in &rows {
        bytes += row.get::<_, &str>(1)?.len() as u64 + 4;
    }
    Ok(bytes)
}

fn main() -> Result<()> {
    let mode = std::env::args().nth(1);
    let rt = tokio::runtime::Runtime::new()?;
    if let (Some(mode), Ok(url)) = (mode.as_deref(), std::env::var("STREAM_RSS_URL")) {
        let before = peak_rss_kib().unwrap_or(0);
        let bytes = rt.block_on(async {
            match mode {
                "stream" => stream(&url).await,
                _ => collect(&url).await,
            }
        })?;
        let peak = peak_rss_kib().unwrap_or(0);
        println!(
            "{mode}: {ROWS} rows, {} MiB of values read; peak RSS {} MiB (at start {} MiB)",
            bytes >> 20,
            peak / 1024,
            before / 1024
        );
        return Ok(());
    }
    let env = BenchEnv::setup(&rt)?;
    let exe = std::env::current_exe()?;
    println!("## Memory: 1,000,000 rows ({SQL}), peak RSS of the client process\n");
    for mode in ["stream", "collect"] {
        let out = std::process::Command::new(&exe)
            .arg(mode)
            .env("STREAM_RSS_URL", env.url())
            .output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            return Err(format!("the {mode} run failed").into());
        }
    }
    Ok(())
}
