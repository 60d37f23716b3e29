//! The floors the drivers are compared with: libpq's `pgbench -M prepared` (W1, W2) and the
//! server's own time to produce the W3 rows, `EXPLAIN (ANALYZE, SERIALIZE binary)` (PostgreSQL
//! 17+).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hyperdjango_pgwire::{Connection, SimpleQueryMessage};

use crate::{BenchEnv, Result, W2_QUERIES, W3_SQL};

/// A pgbench script: `SELECT 1`, one statement per transaction.
pub const PGBENCH_SELECT1: &str = "SELECT 1;\n";

/// A pgbench script in pipeline mode: 100 `SELECT $1::int4` between `\startpipeline` and
/// `\endpipeline` (one Sync for the batch, as pgbench's pipeline mode sends).
pub fn pgbench_pipeline_script() -> String {
    let mut s = String::from("\\set i random(0, 99)\n\\startpipeline\n");
    for _ in 0..W2_QUERIES {
        s.push_str("SELECT :i::int4;\n");
    }
    s.push_str("\\endpipeline\n");
    s
}

/// What a pgbench run measured.
#[derive(Debug, Clone, Copy)]
pub struct PgbenchResult {
    /// Transactions per second (without the initial connection time).
    pub tps: f64,
    /// Statements per second: `tps * statements per transaction`.
    pub statements_per_sec: f64,
}

/// The `pgbench` to run: the one beside the cluster's server binaries, else the one on PATH.
pub fn pgbench_path(env: &BenchEnv) -> PathBuf {
    env.cluster()
        .and_then(|c| c.bin_dir())
        .map(|d| d.join("pgbench"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("pgbench"))
}

/// Runs `pgbench -n -M prepared -c 1 -j 1 -T secs -f script` against `url` (given as the
/// database name, which libpq expands) and parses its tps.
pub fn pgbench(
    pgbench: &Path,
    url: &str,
    script: &str,
    statements_per_tx: u32,
    duration: Duration,
) -> Result<PgbenchResult> {
    let dir = std::env::temp_dir().join(format!("hyperdjango-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("script-{statements_per_tx}.sql"));
    std::fs::write(&file, script)?;
    let out = Command::new(pgbench)
        .args(["-n", "-M", "prepared", "-c", "1", "-j", "1", "-T"])
        .arg(duration.as_secs().max(1).to_string())
        .arg("-f")
        .arg(&file)
        .arg(url)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.map_err(|e| format!("running {}: {e}", pgbench.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "pgbench failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let tps = parse_tps(&stdout).ok_or_else(|| format!("no tps in pgbench output: {stdout}"))?;
    Ok(PgbenchResult {
        tps,
        statements_per_sec: tps * f64::from(statements_per_tx),
    })
}

/// The `tps = N (without initial connection time)` figure of pgbench's report.
pub fn parse_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .filter(|l| l.starts_with("tps = "))
        .find(|l| !l.contains("including"))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The server's own time to execute W3 and serialize its rows in binary, in seconds
/// (median of `runs`), from `EXPLAIN (ANALYZE, SERIALIZE binary)`; `None` before
/// PostgreSQL 17, which lacks SERIALIZE.
pub async fn w3_server_time(
    url: &str,
    server_version_num: u32,
    runs: usize,
) -> Result<Option<f64>> {
    if server_version_num < 170_000 {
        return Ok(None);
    }
    let mut conn = Connection::connect_url(url).await?;
    let sql = format!("EXPLAIN (ANALYZE, SERIALIZE binary, TIMING off) {W3_SQL}");
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let mut ms = None;
        for msg in conn.simple_query(&sql).await? {
            if let SimpleQueryMessage::Row(row) = msg {
                if let Some(t) = row.get(0)?.and_then(parse_execution_time_ms) {
                    ms = Some(t);
                }
            }
        }
        times.push(ms.ok_or("no 'Execution Time' in EXPLAIN output")? / 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(Some(times[times.len() / 2]))
}

/// `Execution Time: 12.345 ms` → 12.345.
pub fn parse_execution_time_ms(line: &str) -> Option<f64> {
    line.trim()
        .strip_prefix("Execution Time: ")?
        .strip_suffix(" ms")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pgbench_output() {
        let out = "transaction type: s.sql\nlatency average = 0.070 ms\n\
                   initial connection time = 2.041 ms\n\
                   tps = 14234.567890 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(14234.56789));
        assert_eq!(parse_tps("nothing"), None);
    }

    #[test]
    fn parses_explain_time() {
        assert_eq!(
            parse_execution_time_ms("Execution Time: 41.5 ms"),
            Some(41.5)
        );
        assert_eq!(parse_execution_time_ms("Planning Time: 0.1 ms"), None);
    }

    #[test]
    fn pipeline_script_has_100_statements() {
        let s = pgbench_pipeline_script();
        assert_eq!(s.matches("SELECT :i::int4;").count(), 100);
        assert!(s.contains("\\startpipeline") && s.contains("\\endpipeline"));
    }
}
