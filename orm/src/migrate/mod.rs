//! Migrations: the schema of the models compared with the live database, written as
//! numbered SQL files, applied once, safely.
//!
//! The 2005 reference's readers asked how every install gets the schema changes when it
//! updates its code. Here: `makemigrations` compares the models with the database
//! (`pg_catalog`) and writes the difference as a plain SQL file (`0002_auto.sql`, with UP
//! and DOWN sections); each install runs `migrate`, which applies the files it has not
//! applied yet, each in its own transaction, under an advisory lock, refusing any applied
//! file that was edited since.
//!
//! ```no_run
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::migrate::{self, Models};
//!
//! model! { #[table = "customers"] pub struct Customer { pub id: Auto<i64> = Field::new().primary_key(), pub name: String } }
//!
//! #[tokio::main]
//! async fn main() {
//!     let models = Models::new().add::<Customer>();
//!     // `my-app makemigrations`, `my-app migrate`, `my-app check`, ... (see `cli`)
//!     std::process::exit(migrate::cli::run(&models, std::env::args().skip(1)).await);
//! }
//! ```
//!
//! Modules: [`introspect`] (reading pg_catalog), [`desired`] (the models' schema in the
//! server's spelling), [`autodetect`] (the diff), [`operation`] (each change's UP/DOWN SQL),
//! [`file`](mod@file) (the files), [`runner`] (applying them), [`check`] (model checks),
//! [`inspectdb`] (models from an existing database), [`cli`] (the commands). The guide is
//! `orm/MIGRATIONS.md`.

pub mod autodetect;
pub mod check;
pub mod cli;
pub mod desired;
pub mod file;
pub mod inspectdb;
pub mod introspect;
pub mod operation;
pub mod runner;

use std::path::{Path, PathBuf};

use hyperdjango_pgwire::Connection;

pub use autodetect::{DetectOptions, Plan, Step};
pub use operation::Operation;

use crate::ddl::TableDef;
use crate::error::{Error, Result};
use crate::many_to_many::ManyToMany;
use crate::model::{Model, ModelMeta};

/// The set of models a project migrates: registered explicitly.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// use hyperdjango_orm::migrate::Models;
/// use hyperdjango_orm::many_to_many::ManyToMany;
/// model! { #[table = "articles"] pub struct Article { pub id: Auto<i64> = Field::new().primary_key() } }
/// model! { #[table = "tags"] pub struct Tag { pub id: Auto<i64> = Field::new().primary_key() } }
/// const TAGS: ManyToMany<Article, Tag> = ManyToMany::new("articles_tags");
/// let models = Models::new().add::<Article>().add::<Tag>().m2m(&TAGS);
/// let names: Vec<String> = models.table_defs().unwrap().into_iter().map(|t| t.name).collect();
/// assert_eq!(names, ["articles", "tags", "articles_tags"]);
/// ```
#[derive(Default)]
pub struct Models {
    metas: Vec<&'static ModelMeta>,
    junctions: Vec<Result<TableDef>>,
    ignored: Vec<String>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field(
                "models",
                &self.metas.iter().map(|m| m.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// `models![A, B, C]` is `Models::new().add::<A>().add::<B>().add::<C>()`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! { #[table = "a"] pub struct A { pub id: Auto<i64> = Field::new().primary_key() } }
/// model! { #[table = "b"] pub struct B { pub id: Auto<i64> = Field::new().primary_key() } }
/// let models = hyperdjango_orm::models![A, B];
/// assert_eq!(models.metas().len(), 2);
/// ```
#[macro_export]
macro_rules! models {
    ($($m:ty),* $(,)?) => {
        $crate::migrate::Models::new()$(.add::<$m>())*
    };
}

impl Models {
    /// No models.
    pub fn new() -> Models {
        Models::default()
    }

    /// Adds model `M` (proxy models share their parent's table: add the parent).
    pub fn add<M: Model>(mut self) -> Models {
        self.metas.push(M::meta());
        self
    }

    /// Adds a many-to-many relation's junction table (a `through` model adds nothing: add
    /// the through model itself).
    pub fn m2m<A: Model, B: Model>(mut self, rel: &ManyToMany<A, B>) -> Models {
        match rel.table_def() {
            Ok(Some(t)) => self.junctions.push(Ok(t)),
            Ok(None) => {}
            Err(e) => self.junctions.push(Err(e)),
        }
        self
    }

    /// A table the migrations leave alone (never dropped, never altered).
    pub fn ignore_table(mut self, table: &str) -> Models {
        self.ignored.push(table.to_string());
        self
    }

    /// Whether `table` is left alone (the history table always is).
    pub fn is_ignored(&self, table: &str) -> bool {
        table == runner::HISTORY_TABLE || self.ignored.iter().any(|t| t == table)
    }

    /// The registered models' metadata.
    pub fn metas(&self) -> &[&'static ModelMeta] {
        &self.metas
    }

    /// Every table the models want: each model's, then each junction's. A model with a
    /// declaration mistake is an error (run `check` for all of them).
    pub fn table_defs(&self) -> Result<Vec<TableDef>> {
        let mut out = Vec::new();
        for m in &self.metas {
            m.check()?;
            out.push(TableDef::from_model(m));
        }
        for j in &self.junctions {
            match j {
                Ok(t) => out.push(t.clone()),
                Err(e) => return Err(Error::Migration(e.to_string())),
            }
        }
        Ok(out)
    }
}

/// Options of [`makemigrations`].
#[derive(Debug, Clone, Default)]
pub struct MakeOptions {
    /// The file's name after the number (default `auto`, `initial` for the first).
    pub name: Option<String>,
    /// Write destructive steps (dropped tables/columns, narrowing types, NOT NULL on full
    /// tables); without it they are refused.
    pub allow_destructive: bool,
    /// Print the files instead of writing them.
    pub dry_run: bool,
    /// Rename handling.
    pub detect: DetectOptions,
}

/// What [`makemigrations`] produced.
#[derive(Debug, Clone, Default)]
pub struct Made {
    /// The plan it wrote.
    pub plan: Plan,
    /// The files written (or, on a dry run, that would be): (path, text).
    pub files: Vec<(PathBuf, String)>,
}

/// Compares the models with the database on `conn` (after the migrations in `dir` — apply
/// them first) and writes the difference as new migration files in `dir`: one file, plus a
/// second `-- hyperdjango: no-transaction` one when indexes are built CONCURRENTLY.
pub async fn makemigrations(
    conn: &mut Connection,
    models: &Models,
    dir: &Path,
    options: &MakeOptions,
) -> Result<Made> {
    let files = file::load_dir(dir)?;
    let done = runner::applied(conn).await?;
    if let Some(m) = files
        .iter()
        .find(|m| !done.iter().any(|(n, _)| *n == m.name))
    {
        return Err(Error::Migration(format!(
            "migration {} is not applied to this database: run migrate first (the models are compared with the database)",
            m.name
        )));
    }
    let plan = Box::pin(autodetect::detect(conn, models, &options.detect)).await?;
    let hazards = plan.hazards();
    if !hazards.is_empty() && !options.allow_destructive {
        return Err(Error::Migration(format!(
            "the changes are destructive; review them and pass --allow-destructive to write them:\n  - {}",
            hazards.join("\n  - ")
        )));
    }
    let mut made = Made {
        plan: plan.clone(),
        files: Vec::new(),
    };
    if plan.is_empty() {
        return Ok(made);
    }
    let (tx, no_tx): (Vec<&Step>, Vec<&Step>) =
        plan.steps.iter().partition(|s| !s.op.no_transaction());
    let base = options
        .name
        .clone()
        .unwrap_or_else(|| if files.is_empty() { "initial" } else { "auto" }.to_string());
    let mut number = files.last().map_or(1, |m| m.number + 1);
    for (steps, concurrent) in [(tx, false), (no_tx, true)] {
        if steps.is_empty() {
            continue;
        }
        let new = new_migration(&steps, concurrent);
        let words = if concurrent {
            format!("{base}_concurrently")
        } else {
            base.clone()
        };
        let words: String = words
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("{number:04}_{words}");
        let path = dir.join(format!("{name}.sql"));
        let text = file::render(&name, &new);
        if !options.dry_run {
            file::write(&path, &text)?;
        }
        made.files.push((path, text));
        number += 1;
    }
    Ok(made)
}

/// The file contents of some steps: UP in order, DOWN in reverse.
fn new_migration(steps: &[&Step], no_transaction: bool) -> file::NewMigration {
    let mut m = file::NewMigration {
        no_transaction,
        ..Default::default()
    };
    for s in steps {
        m.comments.push(s.op.describe());
        m.up.extend(s.op.up());
        if let Some(h) = &s.hazard {
            m.destructive.push(h.clone());
        }
        if let Some(h) = down_hazard(&s.op) {
            m.destructive_down.push(h);
        }
    }
    for s in steps.iter().rev() {
        m.down.extend(s.op.down());
    }
    m
}

/// What reverting an operation destroys.
fn down_hazard(op: &Operation) -> Option<String> {
    match op {
        Operation::CreateTable { table, .. } => {
            Some(format!("reverting drops table {table} and its data"))
        }
        Operation::AddColumn { table, column, .. } => Some(format!(
            "reverting drops column {table}.{column} and its data"
        )),
        Operation::AlterColumnType {
            table,
            column,
            from,
            to,
        } if operation::is_narrowing(to, from) => Some(format!(
            "reverting changes {table}.{column} back from {to} to {from}"
        )),
        _ => None,
    }
}
