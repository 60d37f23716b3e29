//! The commands: `makemigrations`, `migrate`, `sqlmigrate`, `showmigrations`, `check`,
//! `inspectdb`, `dbshell`.
//!
//! A project's own binary calls [`run`] with its models (every command works); the
//! `hyperdjango` binary of the facade crate calls [`run_without_models`] (every command
//! but `makemigrations` and `check`, which need the models).
//!
//! ```text
//! my-app makemigrations [--name NAME] [--allow-destructive] [--rename TABLE.OLD:NEW]...
//!                       [--no-infer-renames] [--dry-run] [--empty]
//! my-app migrate [NUMBER|zero] [--dry-run] [--allow-destructive]
//! my-app sqlmigrate NAME|NUMBER [--backwards]
//! my-app showmigrations
//! my-app check
//! my-app inspectdb [--table TABLE]... [--orm-path hyperdjango::orm]
//! my-app dbshell [-c SQL] [--psql PATH] [-- PSQL-ARGS...]
//!
//! Everywhere: --database-url URL (default $HYPER_DATABASE_URL), --dir DIR (default
//! "migrations"). The schema is the connection's current one (set search_path with the
//! URL's options=-csearch_path=app).
//! ```

use std::io::Write;
use std::path::PathBuf;

use hyperdjango_pgwire::Connection;
use hyperdjango_pgwire::config::{Config, Host, SslMode};

use super::autodetect::DetectOptions;
use super::runner::{MigrateOptions, Target};
use super::{MakeOptions, Models, file, inspectdb, introspect, runner};
use crate::error::{Error, Result};

const USAGE: &str = "usage: COMMAND [OPTIONS]
commands:
  makemigrations [--name NAME] [--allow-destructive] [--rename TABLE.OLD:NEW]... [--no-infer-renames] [--dry-run] [--empty]
  migrate [NUMBER|zero] [--dry-run] [--allow-destructive]
  sqlmigrate NAME|NUMBER [--backwards]
  showmigrations
  check
  inspectdb [--table TABLE]... [--orm-path PATH]
  dbshell [-c SQL] [--psql PATH] [-- PSQL-ARGS...]
options: --database-url URL (default $HYPER_DATABASE_URL), --dir DIR (default migrations)";

/// Runs a command with the project's models; prints to stdout/stderr and returns the
/// process exit code (0 ok, 1 failed or refused, 2 bad usage).
///
/// ```no_run
/// # async fn f(models: hyperdjango_orm::migrate::Models) {
/// let code = hyperdjango_orm::migrate::cli::run(&models, ["showmigrations"]).await;
/// # let _ = code; }
/// ```
pub async fn run<I, S>(models: &Models, args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    exit_code(Some(models), args.into_iter().map(Into::into).collect()).await
}

/// Runs a command that needs no models (everything but `makemigrations` and `check`).
pub async fn run_without_models<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    exit_code(None, args.into_iter().map(Into::into).collect()).await
}

async fn exit_code(models: Option<&Models>, args: Vec<String>) -> i32 {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    match Box::pin(run_to(models, args, &mut out, &mut err)).await {
        Ok(()) => 0,
        Err(Error::Usage(m)) => {
            let _ = writeln!(err, "error: {m}\n{USAGE}");
            2
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

/// The parsed command line.
#[derive(Debug, Default)]
struct Args {
    command: String,
    positional: Vec<String>,
    database_url: Option<String>,
    dir: PathBuf,
    flags: Vec<String>,
    values: Vec<(String, String)>,
    passthrough: Vec<String>,
}

impl Args {
    fn parse(args: Vec<String>) -> Result<Args> {
        let mut a = Args {
            dir: PathBuf::from("migrations"),
            ..Args::default()
        };
        let mut it = args.into_iter();
        let takes_value = [
            "--database-url",
            "--dir",
            "--name",
            "--rename",
            "--table",
            "--orm-path",
            "-c",
            "--psql",
        ];
        let flags = [
            "--allow-destructive",
            "--dry-run",
            "--empty",
            "--no-infer-renames",
            "--backwards",
        ];
        while let Some(arg) = it.next() {
            if arg == "--" {
                a.passthrough = it.by_ref().collect();
                break;
            }
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            if takes_value.contains(&key.as_str()) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| Error::Usage(format!("{key} needs a value")))?,
                };
                match key.as_str() {
                    "--database-url" => a.database_url = Some(v),
                    "--dir" => a.dir = PathBuf::from(v),
                    _ => a.values.push((key, v)),
                }
            } else if flags.contains(&key.as_str()) {
                a.flags.push(key);
            } else if key.starts_with('-') {
                return Err(Error::Usage(format!("unknown option {arg}")));
            } else if a.command.is_empty() {
                a.command = arg;
            } else {
                a.positional.push(arg);
            }
        }
        Ok(a)
    }

    fn flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    fn value(&self, k: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, k: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn url(&self) -> Result<String> {
        match &self.database_url {
            Some(u) => Ok(u.clone()),
            None => std::env::var("HYPER_DATABASE_URL")
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    Error::Usage(
                        "no database: pass --database-url or set HYPER_DATABASE_URL".into(),
                    )
                }),
        }
    }

    async fn connect(&self) -> Result<Connection> {
        Ok(Connection::connect_url(&self.url()?).await?)
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Migration(format!("writing output: {e}"))
}

/// Runs a command, writing its output to `out` and progress and notes to `err`.
///
/// ```no_run
/// # async fn f(models: &hyperdjango_orm::migrate::Models) -> hyperdjango_orm::Result<()> {
/// let mut out = Vec::new();
/// hyperdjango_orm::migrate::cli::run_to(Some(models), vec!["check".into()], &mut out, &mut std::io::stderr()).await?;
/// # Ok(()) }
/// ```
pub async fn run_to(
    models: Option<&Models>,
    args: Vec<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let a = Args::parse(args)?;
    let need_models = || {
        models.ok_or_else(|| {
            Error::Usage(format!(
                "{} needs the models: run it from your project's binary (hyperdjango_orm::migrate::cli::run)",
                a.command
            ))
        })
    };
    match a.command.as_str() {
        "makemigrations" => Box::pin(makemigrations(&a, need_models()?, out, err)).await,
        "migrate" => Box::pin(migrate(&a, out, err)).await,
        "sqlmigrate" => sqlmigrate(&a, out),
        "showmigrations" => Box::pin(showmigrations(&a, out)).await,
        "check" => check(need_models()?, out),
        "inspectdb" => Box::pin(inspect(&a, out)).await,
        "dbshell" => dbshell(&a),
        "" | "help" | "--help" => {
            writeln!(out, "{USAGE}").map_err(io)?;
            Ok(())
        }
        other => Err(Error::Usage(format!("unknown command {other:?}"))),
    }
}

async fn makemigrations(
    a: &Args,
    models: &Models,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let found = super::check::check(models);
    if let Some(e) = found.iter().find(|m| m.level == super::check::Level::Error) {
        return Err(Error::Migration(format!(
            "the models have errors (run check): {e}"
        )));
    }
    if a.flag("--empty") {
        let files = file::load_dir(&a.dir)?;
        let number = files.last().map_or(1, |m| m.number + 1);
        let words = a.value("--name").unwrap_or("custom");
        let name = format!("{number:04}_{words}");
        if file::number_of(&format!("{name}.sql")).is_none() {
            return Err(Error::Usage(format!(
                "{words:?} is not a valid migration name (lower-case letters, digits, _)"
            )));
        }
        let text = format!(
            "-- hyperdjango migration {name}\n-- Hand-written (RunSQL). Add `-- hyperdjango: no-transaction` above for CREATE INDEX CONCURRENTLY.\n-- +up\n\n-- +down\n\n"
        );
        let path = a.dir.join(format!("{name}.sql"));
        if !a.flag("--dry-run") {
            file::write(&path, &text)?;
        }
        writeln!(out, "{}", path.display()).map_err(io)?;
        return Ok(());
    }
    let mut renames = Vec::new();
    for r in a.all("--rename") {
        let parsed = r
            .split_once('.')
            .and_then(|(t, rest)| rest.split_once(':').map(|(o, n)| (t, o, n)));
        match parsed {
            Some((t, o, n)) if !t.is_empty() && !o.is_empty() && !n.is_empty() => {
                renames.push((t.to_string(), o.to_string(), n.to_string()))
            }
            _ => {
                return Err(Error::Usage(format!("--rename {r:?}: write TABLE.OLD:NEW")));
            }
        }
    }
    let options = MakeOptions {
        name: a.value("--name").map(str::to_string),
        allow_destructive: a.flag("--allow-destructive"),
        dry_run: a.flag("--dry-run"),
        detect: DetectOptions {
            renames,
            no_inferred_renames: a.flag("--no-infer-renames"),
        },
    };
    let mut conn = a.connect().await?;
    let made = Box::pin(super::makemigrations(&mut conn, models, &a.dir, &options)).await?;
    for n in &made.plan.notes {
        writeln!(err, "note: {n}").map_err(io)?;
    }
    if made.plan.is_empty() {
        writeln!(out, "No changes detected").map_err(io)?;
        return Ok(());
    }
    for (path, text) in &made.files {
        if options.dry_run {
            writeln!(out, "-- {} (dry run, not written)\n{text}", path.display()).map_err(io)?;
        } else {
            writeln!(out, "{}", path.display()).map_err(io)?;
        }
    }
    for s in &made.plan.steps {
        writeln!(
            err,
            "  - {}{}",
            s.op.describe(),
            s.hazard
                .as_ref()
                .map(|h| format!(" [DESTRUCTIVE: {h}]"))
                .unwrap_or_default()
        )
        .map_err(io)?;
    }
    Ok(())
}

fn target(a: &Args, files: &[file::Migration]) -> Result<Target> {
    match a.positional.first().map(String::as_str) {
        None => Ok(Target::Latest),
        Some("zero") => Ok(Target::To(0)),
        Some(t) => find(files, t).map(|m| Target::To(m.number)),
    }
}

/// A migration by number (`2`, `0002`) or name (`0002_auto`).
fn find<'a>(files: &'a [file::Migration], key: &str) -> Result<&'a file::Migration> {
    let n = key.split('_').next().and_then(|d| d.parse::<u32>().ok());
    files
        .iter()
        .find(|m| m.name == key || (Some(m.number) == n && !key.contains('_')))
        .ok_or_else(|| {
            Error::Migration(format!(
                "no migration {key:?} in the migrations directory (known: {})",
                files
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

async fn migrate(a: &Args, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let files = file::load_dir(&a.dir)?;
    let target = target(a, &files)?;
    let options = MigrateOptions {
        dry_run: a.flag("--dry-run"),
        allow_destructive: a.flag("--allow-destructive"),
    };
    let mut conn = a.connect().await?;
    let report = runner::migrate(&mut conn, &files, target, options, out, err).await?;
    if !options.dry_run {
        if report.applied.is_empty() && report.reverted.is_empty() {
            writeln!(out, "No migrations to apply").map_err(io)?;
        }
        for r in &report.reverted {
            writeln!(out, "Reverted {r}").map_err(io)?;
        }
        for r in &report.applied {
            writeln!(out, "Applied {r}").map_err(io)?;
        }
    }
    Ok(())
}

fn sqlmigrate(a: &Args, out: &mut dyn Write) -> Result<()> {
    let files = file::load_dir(&a.dir)?;
    let key = a
        .positional
        .first()
        .ok_or_else(|| Error::Usage("sqlmigrate needs a migration name or number".into()))?;
    let m = find(&files, key)?;
    let backwards = a.flag("--backwards");
    let statements = if backwards { &m.down } else { &m.up };
    runner::write_sql(out, statements, m.no_transaction)
}

async fn showmigrations(a: &Args, out: &mut dyn Write) -> Result<()> {
    let files = file::load_dir(&a.dir)?;
    let mut conn = a.connect().await?;
    for s in runner::status(&mut conn, &files).await? {
        let mark = if s.applied { "[X]" } else { "[ ]" };
        let note = if s.file_missing {
            "  (applied, but the file is missing)"
        } else if s.tampered {
            "  (EDITED after it was applied: migrate will refuse)"
        } else {
            ""
        };
        writeln!(out, "{mark} {}{note}", s.name).map_err(io)?;
    }
    Ok(())
}

fn check(models: &Models, out: &mut dyn Write) -> Result<()> {
    let found = super::check::check(models);
    for m in &found {
        writeln!(out, "{m}").map_err(io)?;
    }
    let errors = found
        .iter()
        .filter(|m| m.level == super::check::Level::Error)
        .count();
    if errors > 0 {
        return Err(Error::Migration(format!("check found {errors} error(s)")));
    }
    writeln!(
        out,
        "System check identified no errors ({} warning(s)).",
        found.len()
    )
    .map_err(io)?;
    Ok(())
}

async fn inspect(a: &Args, out: &mut dyn Write) -> Result<()> {
    let mut conn = a.connect().await?;
    let schema = introspect::current_schema(&mut conn).await?;
    let db = introspect::read_schema(&mut conn, &schema).await?;
    let options = inspectdb::InspectOptions {
        orm_path: a
            .value("--orm-path")
            .unwrap_or("hyperdjango_orm")
            .to_string(),
        tables: a.all("--table").into_iter().map(str::to_string).collect(),
    };
    out.write_all(inspectdb::render(&db, &options).as_bytes())
        .map_err(io)
}

/// The environment psql gets for `url`: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD,
/// PGOPTIONS, PGSSLMODE, PGAPPNAME (the password never goes on the command line).
///
/// ```
/// let env = hyperdjango_orm::migrate::cli::psql_env("postgres://app:s3cret@db.example:6543/shop").unwrap();
/// assert!(env.contains(&("PGPASSWORD".to_string(), "s3cret".to_string())));
/// assert!(env.contains(&("PGPORT".to_string(), "6543".to_string())));
/// ```
pub fn psql_env(url: &str) -> Result<Vec<(String, String)>> {
    let cfg = Config::parse(url).map_err(|e| Error::Usage(format!("database URL: {e}")))?;
    let mut env = Vec::new();
    let mut put = |k: &str, v: String| env.push((k.to_string(), v));
    let hosts: Vec<String> = cfg
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(n) => n.clone(),
            Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        put("PGHOST", hosts.join(","));
    }
    let ports: Vec<String> = cfg.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        put("PGPORT", ports.join(","));
    }
    if let Some(u) = cfg.get_user() {
        put("PGUSER", u.to_string());
    }
    if let Some(d) = cfg.get_dbname() {
        put("PGDATABASE", d.to_string());
    }
    if let Some(p) = cfg.get_password() {
        put("PGPASSWORD", String::from_utf8_lossy(p).into_owned());
    }
    if let Some(o) = cfg.get_options() {
        put("PGOPTIONS", o.to_string());
    }
    if let Some(n) = cfg.get_application_name() {
        put("PGAPPNAME", n.to_string());
    }
    let mode = match cfg.get_ssl_mode() {
        SslMode::Disable => "disable",
        SslMode::Allow => "allow",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    };
    put("PGSSLMODE", mode.to_string());
    Ok(env)
}

fn dbshell(a: &Args) -> Result<()> {
    let env = psql_env(&a.url()?)?;
    let psql = a
        .value("--psql")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HYPER_PSQL").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("HYPER_PG_BIN")
                .map(|d| PathBuf::from(d).join("psql"))
                .filter(|p| p.exists())
        })
        .unwrap_or_else(|| PathBuf::from("psql"));
    let mut cmd = std::process::Command::new(&psql);
    // Only what the URL says: clear PG* variables that could point psql elsewhere.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env);
    if let Some(c) = a.value("-c") {
        cmd.arg("-c").arg(c);
    }
    cmd.args(&a.passthrough);
    let status = cmd.status().map_err(|e| {
        Error::Migration(format!(
            "running {}: {e} (install psql, or pass --psql PATH / set HYPER_PSQL)",
            psql.display()
        ))
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Migration(format!("psql exited with {status}")))
    }
}
