//! Deletes that report what they removed per model, cascades included.
//!
//! `on_delete` actions are carried out by PostgreSQL (the foreign keys are declared with
//! `ON DELETE CASCADE`, `SET NULL`...), so the rows a cascade removes are never seen by the
//! client. To report them per model as Django does, the DELETE runs in one pipelined round
//! trip between two reads of `pg_stat_xact_user_tables`, the server's own count of the rows
//! each table lost in the current transaction: the difference is exactly what this DELETE
//! removed, in every table it reached, however deep or circular the cascade. The three
//! statements form one implicit transaction (or run inside the caller's `atomic` block).
//!
//! Tables are named by the model declared for them (any model whose metadata this process
//! has built); a table no model names is reported by its table name. With the server's
//! `track_counts` turned off the statistics stay at zero, and only the model's own rows (the
//! DELETE's command tag) are reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use hyperdjango_pgwire::SyncMode;

use crate::compiler::Compiled;
use crate::error::{Error, Result};
use crate::model::ModelMeta;

/// The rows each table lost (or had updated) so far in the current transaction.
const STATS: &str = "SELECT schemaname::text, relname::text, n_tup_del, n_tup_upd \
                     FROM pg_stat_xact_user_tables WHERE n_tup_del > 0 OR n_tup_upd > 0";

fn tables() -> &'static Mutex<HashMap<&'static str, &'static str>> {
    static T: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

/// Notes that model `name` lives in `table` (called when a model's metadata is built; the
/// first model for a table keeps it, so a proxy does not rename its concrete model's rows).
pub(crate) fn register_table(table: &'static str, name: &'static str) {
    tables()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(table)
        .or_insert(name);
}

/// The model name for `table`, or the table name itself (interned: there are only so many
/// tables) when no model in this process declares it.
fn model_name(table: &str) -> &'static str {
    let mut map = tables().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(name) = map.get(table) {
        return name;
    }
    let leaked: &'static str = Box::leak(table.to_string().into_boxed_str());
    map.insert(leaked, leaked);
    leaked
}

/// What a counted DELETE did.
pub(crate) struct Deleted {
    /// All rows deleted, cascades included.
    pub(crate) total: u64,
    /// Rows deleted per model (or table).
    pub(crate) per_model: BTreeMap<&'static str, u64>,
    /// Every table whose rows were deleted or updated (SET NULL / SET DEFAULT), for the
    /// query cache.
    pub(crate) changed: Vec<String>,
}

/// A DELETE's foreign key violation (15) or restrict violation (18) as
/// [`Error::Protected`]: in a DELETE both can only mean rows still refer to the deleted ones.
fn refused(
    own: &'static ModelMeta,
    e: hyperdjango_pgwire::Error,
) -> std::result::Result<Error, hyperdjango_pgwire::Error> {
    use hyperdjango_pgwire::SqlState;
    let code = e.code();
    if code != Some(&SqlState::FOREIGN_KEY_VIOLATION) && code != Some(&SqlState::RESTRICT_VIOLATION)
    {
        return Err(e);
    }
    Ok(Error::Protected {
        model: own.name,
        referenced_by: e.as_db_error().and_then(|d| d.table()).map(str::to_string),
        source: e,
    })
}

type Counts = HashMap<(String, String), (i64, i64)>;

fn read_counts(rows: &[hyperdjango_pgwire::Row]) -> Result<Counts> {
    let mut out = HashMap::new();
    for r in rows {
        let schema: String = r.get(0)?;
        let table: String = r.get(1)?;
        out.insert(
            (schema, table),
            (r.get::<usize, i64>(2)?, r.get::<usize, i64>(3)?),
        );
    }
    Ok(out)
}

/// Runs the DELETE `c` on `alias` (whose rows belong to `own`) and counts what it removed.
pub(crate) async fn delete_counted(
    alias: &Arc<str>,
    c: &Compiled,
    own: &'static ModelMeta,
) -> Result<Deleted> {
    let mut conn = crate::db::connection(alias).await?;
    let mut results = {
        let mut batch = conn.get().pipeline(SyncMode::Atomic);
        batch.query(STATS, &[])?;
        batch.execute(&*c.sql, &c.refs())?;
        batch.query(STATS, &[])?;
        batch.run().await?
    };
    drop(conn);
    if results.len() != 3 {
        return Err(Error::Usage(format!(
            "{}: the counted delete got {} results instead of 3",
            own.name,
            results.len()
        )));
    }
    let after = results.pop().and_then(|r| r.ok());
    let deleted = results.pop().map_or_else(
        || Err(Error::Usage("the DELETE has no result".into())),
        |r| r.map_err(|e| refused(own, e).unwrap_or_else(|e| c.map_err(e.into()))),
    )?;
    let before = results.pop().and_then(|r| r.ok());
    let own_rows = deleted.rows_affected();
    let (Some(before), Some(after)) = (before, after) else {
        return Err(Error::Usage(format!(
            "{}: the statistics around the delete could not be read",
            own.name
        )));
    };
    let before = read_counts(before.rows())?;
    let after = read_counts(after.rows())?;
    let mut per_model: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut changed: HashSet<String> = HashSet::new();
    changed.insert(own.table.to_string());
    for (key, (del, upd)) in &after {
        let (del0, upd0) = before.get(key).copied().unwrap_or((0, 0));
        let gone = u64::try_from(del - del0).unwrap_or(0);
        if gone > 0 {
            *per_model.entry(model_name(&key.1)).or_default() += gone;
        }
        if gone > 0 || upd > &upd0 {
            changed.insert(key.1.clone());
        }
    }
    // Without statistics (track_counts off) the command tag still counts the own rows.
    let own_entry = per_model.entry(own.name).or_default();
    if *own_entry < own_rows {
        *own_entry = own_rows;
    }
    per_model.retain(|_, n| *n > 0);
    if per_model.is_empty() {
        per_model.insert(own.name, 0);
    }
    Ok(Deleted {
        total: per_model.values().sum(),
        per_model,
        changed: changed.into_iter().collect(),
    })
}
