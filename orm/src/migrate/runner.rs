//! Applying and reverting migration files.
//!
//! - The history table `hyperdjango_migrations` (in the connection's current schema) records
//!   each applied migration with its checksum and when and how long it took.
//! - A session advisory lock (per schema) is held while migrating, so two processes never
//!   migrate at once: the second waits, then finds the work done.
//! - Each migration runs in its own transaction (its statements and its history row commit
//!   together), unless its header says `-- hyperdjango: no-transaction` (CREATE INDEX
//!   CONCURRENTLY): then each statement commits alone and the history row comes last.
//! - Before anything runs, every applied migration's file is checked against the recorded
//!   checksum: an edited (or deleted) applied migration is refused.
//! - Each statement is reported to the progress writer as it starts, with its elapsed time
//!   when done.

use std::io::Write;
use std::time::Instant;

use hyperdjango_pgwire::Connection;

use crate::error::{Error, Result};
use crate::migrate::file::Migration;

/// The history table's name.
pub const HISTORY_TABLE: &str = "hyperdjango_migrations";

/// The first key of the advisory lock (the second is a hash of the schema's name).
const LOCK_CLASS: i32 = 0x4844_4a4d; // "HDJM"

const CREATE_HISTORY: &str = "CREATE TABLE hyperdjango_migrations (\
     name text PRIMARY KEY, checksum text NOT NULL, \
     applied_at timestamptz NOT NULL DEFAULT now(), duration_ms bigint NOT NULL)";

/// Where to migrate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Apply every migration.
    Latest,
    /// Apply up to and including number `n`, and revert those after it (`0`: revert all).
    To(u32),
}

/// Options of [`migrate`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MigrateOptions {
    /// Print the SQL instead of running it.
    pub dry_run: bool,
    /// Allow running DOWN sections marked destructive.
    pub allow_destructive: bool,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Migrations applied, in order.
    pub applied: Vec<String>,
    /// Migrations reverted, in order.
    pub reverted: Vec<String>,
}

/// A migration's status.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The migration's name.
    pub name: String,
    /// Whether it is applied.
    pub applied: bool,
    /// Applied, but the file changed since (or is gone: `file_missing`).
    pub tampered: bool,
    /// Applied, but its file is missing.
    pub file_missing: bool,
}

/// The applied migrations: (name, checksum), by name. Empty when the history table does not
/// exist yet.
pub async fn applied(conn: &mut Connection) -> Result<Vec<(String, String)>> {
    if !history_exists(conn).await? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for row in conn
        .query(
            "SELECT name, checksum FROM hyperdjango_migrations ORDER BY name",
            &[],
        )
        .await?
    {
        out.push((row.get(0)?, row.get(1)?));
    }
    Ok(out)
}

/// Whether the history table exists in the current schema.
async fn history_exists(conn: &mut Connection) -> Result<bool> {
    Ok(conn
        .query_one(
            "SELECT to_regclass('hyperdjango_migrations') IS NOT NULL",
            &[],
        )
        .await?
        .get(0)?)
}

/// Every migration's status (files and history together), by number.
pub async fn status(conn: &mut Connection, files: &[Migration]) -> Result<Vec<Status>> {
    let done = applied(conn).await?;
    let mut out: Vec<Status> = files
        .iter()
        .map(|m| {
            let rec = done.iter().find(|(n, _)| *n == m.name);
            Status {
                name: m.name.clone(),
                applied: rec.is_some(),
                tampered: rec.is_some_and(|(_, c)| *c != m.checksum),
                file_missing: false,
            }
        })
        .collect();
    for (name, _) in &done {
        if !files.iter().any(|m| &m.name == name) {
            out.push(Status {
                name: name.clone(),
                applied: true,
                tampered: true,
                file_missing: true,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Refuses when an applied migration's file changed or is gone.
fn verify(files: &[Migration], done: &[(String, String)]) -> Result<()> {
    for (name, sum) in done {
        match files.iter().find(|m| &m.name == name) {
            None => {
                return Err(Error::Migration(format!(
                    "migration {name} is applied but its file is missing: restore it (applied migrations must stay)"
                )));
            }
            Some(m) if &m.checksum != sum => {
                return Err(Error::Migration(format!(
                    "migration {name} was edited after it was applied (checksum {} recorded, the file has {}): restore it and put the change in a new migration",
                    &sum[..12.min(sum.len())],
                    &m.checksum[..12]
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Applies (or reverts, for a target below the applied ones) migrations on `conn`, holding
/// the advisory lock; progress goes to `progress`, a dry run's SQL to `out`.
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_orm::Result<()> {
/// use hyperdjango_orm::migrate::{file, runner};
/// let files = file::load_dir(std::path::Path::new("migrations"))?;
/// let report = runner::migrate(conn, &files, runner::Target::Latest, runner::MigrateOptions::default(),
///     &mut std::io::stdout(), &mut std::io::stderr()).await?;
/// println!("applied {:?}", report.applied);
/// # Ok(()) }
/// ```
pub async fn migrate(
    conn: &mut Connection,
    files: &[Migration],
    target: Target,
    options: MigrateOptions,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<Report> {
    if options.dry_run {
        let done = applied(conn).await?;
        verify(files, &done)?;
        return plan(files, &done, target, options, out);
    }
    conn.query_one(
        "SELECT pg_advisory_lock($1, hashtext(current_schema()))",
        &[&LOCK_CLASS],
    )
    .await?;
    let result = Box::pin(migrate_locked(conn, files, target, options, progress)).await;
    // The lock goes with the session anyway; release it for a connection that lives on.
    let unlock = conn
        .query_one(
            "SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
            &[&LOCK_CLASS],
        )
        .await;
    let report = result?;
    unlock?;
    Ok(report)
}

/// What a run would do, printed as SQL.
fn plan(
    files: &[Migration],
    done: &[(String, String)],
    target: Target,
    options: MigrateOptions,
    out: &mut dyn Write,
) -> Result<Report> {
    let (forward, backward) = select(files, done, target, options)?;
    let mut report = Report::default();
    let w = |out: &mut dyn Write, s: String| {
        writeln!(out, "{s}").map_err(|e| Error::Migration(format!("writing output: {e}")))
    };
    for m in backward {
        w(out, format!("-- revert {}", m.name))?;
        write_sql(out, &m.down, m.no_transaction)?;
        report.reverted.push(m.name.clone());
    }
    for m in forward {
        w(out, format!("-- apply {}", m.name))?;
        write_sql(out, &m.up, m.no_transaction)?;
        report.applied.push(m.name.clone());
    }
    Ok(report)
}

/// Prints statements as a script, inside `BEGIN`/`COMMIT` unless `no_transaction`.
///
/// ```
/// let mut out = Vec::new();
/// hyperdjango_orm::migrate::runner::write_sql(&mut out, &["SELECT 1".to_string()], false).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), "BEGIN;\nSELECT 1;\nCOMMIT;\n");
/// ```
pub fn write_sql(out: &mut dyn Write, statements: &[String], no_transaction: bool) -> Result<()> {
    let mut lines: Vec<String> = statements.iter().map(|s| format!("{s};")).collect();
    if !no_transaction {
        lines.insert(0, "BEGIN;".into());
        lines.push("COMMIT;".into());
    }
    for l in lines {
        writeln!(out, "{l}").map_err(|e| Error::Migration(format!("writing output: {e}")))?;
    }
    Ok(())
}

/// The migrations to apply (in order) and to revert (in order).
fn select<'a>(
    files: &'a [Migration],
    done: &[(String, String)],
    target: Target,
    options: MigrateOptions,
) -> Result<(Vec<&'a Migration>, Vec<&'a Migration>)> {
    let is_done = |m: &Migration| done.iter().any(|(n, _)| *n == m.name);
    let limit = match target {
        Target::Latest => u32::MAX,
        Target::To(n) => {
            if n != 0 && !files.iter().any(|m| m.number == n) {
                return Err(Error::Migration(format!(
                    "no migration numbered {n:04} (known: {})",
                    files
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            n
        }
    };
    let forward: Vec<&Migration> = files
        .iter()
        .filter(|m| m.number <= limit && !is_done(m))
        .collect();
    let backward: Vec<&Migration> = files
        .iter()
        .rev()
        .filter(|m| m.number > limit && is_done(m))
        .collect();
    for m in &backward {
        if m.down.is_empty() {
            return Err(Error::Migration(format!(
                "migration {} has no DOWN section: it cannot be reverted",
                m.name
            )));
        }
        if !m.destructive_down.is_empty() && !options.allow_destructive {
            return Err(Error::Migration(format!(
                "reverting {} is destructive ({}); pass --allow-destructive to do it",
                m.name,
                m.destructive_down.join("; ")
            )));
        }
    }
    Ok((forward, backward))
}

async fn migrate_locked(
    conn: &mut Connection,
    files: &[Migration],
    target: Target,
    options: MigrateOptions,
    progress: &mut dyn Write,
) -> Result<Report> {
    if !history_exists(conn).await? {
        conn.batch_execute(CREATE_HISTORY).await?;
    }
    // Read the history only now, under the lock: another process may just have migrated.
    let done = applied(conn).await?;
    verify(files, &done)?;
    let (forward, backward) = select(files, &done, target, options)?;
    let mut report = Report::default();
    for m in backward {
        run_one(conn, m, false, progress).await?;
        report.reverted.push(m.name.clone());
    }
    for m in forward {
        run_one(conn, m, true, progress).await?;
        report.applied.push(m.name.clone());
    }
    Ok(report)
}

/// Runs one migration's UP (`forward`) or DOWN section and records it.
async fn run_one(
    conn: &mut Connection,
    m: &Migration,
    forward: bool,
    progress: &mut dyn Write,
) -> Result<()> {
    // Feature `tracing`: a span per migration file; each of its statements is the driver's
    // `hyperdjango.query` span (with `db.statement`) inside it.
    let span = hyperdjango_pgwire::__trace_span!(INFO, "hyperdjango.migrate", {
        db.system = "postgresql",
        migration.name = m.name.as_str(),
        migration.direction = if forward { "up" } else { "down" },
        migration.statements = if forward { m.up.len() } else { m.down.len() },
        migration.transaction = !m.no_transaction
    }, []);
    let result = span
        .instrument(run_one_untraced(conn, m, forward, progress))
        .await;
    #[cfg(feature = "tracing")]
    if let Err(e) = &result {
        span.error(match e {
            Error::Driver(e) => hyperdjango_pgwire::trace::error_kind(e),
            _ => "migration",
        });
    }
    span.finish();
    result
}

/// [`run_one`] without its span.
async fn run_one_untraced(
    conn: &mut Connection,
    m: &Migration,
    forward: bool,
    progress: &mut dyn Write,
) -> Result<()> {
    let started = Instant::now();
    let verb = if forward { "Applying" } else { "Reverting" };
    let _ = writeln!(progress, "{verb} {}", m.name);
    let statements = if forward { &m.up } else { &m.down };
    let tx = !m.no_transaction;
    if tx {
        conn.batch_execute("BEGIN").await?;
    }
    let body = async {
        for s in statements {
            let first = s
                .lines()
                .find(|l| !l.trim_start().starts_with("--"))
                .unwrap_or(s);
            let short: String = first.chars().take(100).collect();
            let _ = write!(
                progress,
                "  {short}{} ...",
                if short.len() < first.len() { "…" } else { "" }
            );
            let _ = progress.flush();
            let t = Instant::now();
            conn.batch_execute(s).await.map_err(|e| {
                Error::Migration(format!(
                    "{} failed{}: {e}\n  statement: {s}",
                    m.name,
                    if tx {
                        " and was rolled back"
                    } else {
                        " (no transaction: the statements before this one stay applied)"
                    }
                ))
            })?;
            let _ = writeln!(progress, " {} ms", t.elapsed().as_millis());
        }
        let ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        if forward {
            conn.execute(
                "INSERT INTO hyperdjango_migrations (name, checksum, duration_ms) VALUES ($1, $2, $3)",
                &[&m.name, &m.checksum, &ms],
            )
            .await?;
        } else {
            conn.execute(
                "DELETE FROM hyperdjango_migrations WHERE name = $1",
                &[&m.name],
            )
            .await?;
        }
        Ok::<(), Error>(())
    };
    let result = Box::pin(body).await;
    if tx {
        match &result {
            Ok(()) => conn.batch_execute("COMMIT").await?,
            Err(_) => {
                let _ = conn.batch_execute("ROLLBACK").await;
            }
        }
    }
    let _ = writeln!(
        progress,
        "{verb} {} done in {} ms",
        m.name,
        started.elapsed().as_millis()
    );
    result
}
