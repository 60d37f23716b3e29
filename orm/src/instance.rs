//! Instance methods: save (INSERT or UPDATE by primary-key state), delete, refresh_from_db,
//! from_db, deferred fields and serializable_value. `model!` generates inherent methods
//! that call these.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use hyperdjango_pgwire::{Row, ToSql};

use crate::compiler::{Compiled, quote};
use crate::db;
use crate::error::{Error, Result};
use crate::expr::Param;
use crate::model::Model;
use crate::query::write::is_null;
use crate::signals::{self, DeleteEvent, SaveEvent, SignalKind};

/// Options of `save_with`.
///
/// ```
/// let o = hyperdjango_orm::SaveOptions { update_fields: Some(vec!["price".into()]), ..Default::default() };
/// assert!(!o.force_insert);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// Always INSERT (an error if the row exists).
    pub force_insert: bool,
    /// Always UPDATE (an error if no row was updated).
    pub force_update: bool,
    /// UPDATE only these fields (an error if no row was updated).
    pub update_fields: Option<Vec<String>>,
    /// The database alias (default: where the instance came from, else the default).
    pub using: Option<String>,
}

/// Where an instance's save or delete goes: the alias named, Meta.database, the routers,
/// the database the instance came from, the scope, `default`.
fn alias_of<M: Model>(m: &M, using: Option<&str>) -> Arc<str> {
    if let Some(a) = using {
        return Arc::from(a);
    }
    if let Some(a) = crate::router::write_alias(M::meta()) {
        return a;
    }
    match &m.state().db {
        Some(a) => a.clone(),
        None => db::resolve(None),
    }
}

async fn run(alias: &Arc<str>, c: &Compiled) -> Result<Vec<Row>> {
    crate::query::exec::run(alias, c).await
}

fn pk_unset<M: Model>(m: &M) -> bool {
    m.__field_ref(M::meta().pk_index).is_none_or(is_null)
}

/// Saves `m` (see `SaveOptions`).
pub async fn save<M: Model>(m: &mut M, opts: SaveOptions) -> Result<()> {
    let meta = M::meta();
    meta.check()?;
    if opts.force_insert && (opts.force_update || opts.update_fields.is_some()) {
        return Err(Error::Usage(format!(
            "{}: cannot force both insert and updating in model saving",
            meta.name
        )));
    }
    let alias = alias_of(m, opts.using.as_deref());
    let unset = pk_unset(m);
    if let Some(fields) = &opts.update_fields {
        if unset {
            return Err(Error::Usage(format!(
                "{}: cannot update_fields of an unsaved instance",
                meta.name
            )));
        }
        for f in fields {
            meta.field_or_err(f)?;
        }
        if fields.is_empty() {
            return Ok(());
        }
    }
    if unset && opts.force_update {
        return Err(Error::Usage(format!(
            "{}: cannot force an update in save() with no primary key",
            meta.name
        )));
    }
    let insert = opts.force_insert
        || unset
        || (m.state().adding && !opts.force_update && opts.update_fields.is_none());
    if !signals::has_receivers::<M>(true) {
        save_rows(m, &alias, &opts, insert).await?;
        return Ok(());
    }
    // Receivers and the write succeed or fail together.
    let event = SaveEvent {
        created: insert,
        using: alias.clone(),
        update_fields: opts.update_fields.clone(),
    };
    // Boxed: the rare path must not make every save's future larger.
    Box::pin(crate::transaction::atomic_using(Some(&alias), async {
        signals::send_pre_save(m, &event).await?;
        let created = save_rows(m, &alias, &opts, insert).await?;
        let event = SaveEvent { created, ..event };
        signals::send_post_save(m, &event).await
    }))
    .await
}

/// The writes of a save: INSERT, or UPDATE (falling back to INSERT when no row matched and
/// nothing forbids it). Returns whether a row was inserted.
async fn save_rows<M: Model>(
    m: &mut M,
    alias: &Arc<str>,
    opts: &SaveOptions,
    insert: bool,
) -> Result<bool> {
    let meta = M::meta();
    m.__pre_save(insert);
    crate::vector::check_dimensions(m)?;
    let mut inserted = insert;
    if insert {
        crate::ordering::place_last(m, alias).await?;
        insert_row(m, alias).await?;
    } else {
        let n = update_row(m, alias, opts.update_fields.as_deref()).await?;
        if n == 0 {
            if opts.force_update {
                return Err(Error::Usage(format!(
                    "{}: forced update did not affect any rows",
                    meta.name
                )));
            }
            if opts.update_fields.is_some() {
                return Err(Error::Usage(format!(
                    "{}: save with update_fields did not affect any rows",
                    meta.name
                )));
            }
            crate::ordering::place_last(m, alias).await?;
            insert_row(m, alias).await?;
            inserted = true;
        }
    }
    crate::cache::note_write(alias, &[meta.table]).await;
    let st = m.state_mut();
    st.adding = false;
    st.db = Some(alias.clone());
    Ok(inserted)
}

async fn insert_row<M: Model>(m: &mut M, alias: &Arc<str>) -> Result<()> {
    let meta = M::meta();
    let skip_pk = meta.pk().auto && pk_unset(m);
    let make = || {
        let cols: Vec<usize> = (0..meta.fields.len())
            .filter(|&i| !(skip_pk && i == meta.pk_index))
            .collect();
        let names: Vec<String> = cols.iter().map(|&i| quote(meta.fields[i].column)).collect();
        let mut sql = format!("INSERT INTO {} ", meta.qtable());
        if cols.is_empty() {
            sql.push_str("DEFAULT VALUES");
        } else {
            let ph: Vec<String> = (1..=cols.len()).map(|k| format!("${k}")).collect();
            let _ = write!(sql, "({}) VALUES ({})", names.join(", "), ph.join(", "));
        }
        let _ = write!(sql, " RETURNING {}", quote(meta.pk().column));
        (sql, cols)
    };
    // The common shape (an auto key, all other fields) is compiled once per model.
    let owned;
    let (sql, cols) = if skip_pk {
        let (s, c) = meta.sql.insert.get_or_init(make);
        (s.as_str(), c.as_slice())
    } else {
        owned = make();
        (owned.0.as_str(), owned.1.as_slice())
    };
    let refs: Vec<&(dyn ToSql + Sync)> = cols.iter().filter_map(|&i| m.__field_ref(i)).collect();
    let mut conn = db::connection(alias).await?;
    let row = conn
        .get()
        .query_one(sql, &refs)
        .await
        .map_err(|e| not_null_error(meta, e.into()))?;
    drop(refs);
    drop(conn);
    m.__set_field(meta.pk_index, &row, 0)?;
    Ok(())
}

/// A NOT NULL violation names the model and the column.
fn not_null_error(meta: &crate::ModelMeta, e: Error) -> Error {
    if e.code() == Some(&hyperdjango_pgwire::SqlState::NOT_NULL_VIOLATION) {
        let col = match &e {
            Error::Driver(d) => d
                .as_db_error()
                .and_then(|d| d.column())
                .unwrap_or("?")
                .to_string(),
            _ => "?".into(),
        };
        let name = meta
            .fields
            .iter()
            .find(|f| f.column == col)
            .map(|f| f.name.to_string())
            .unwrap_or(col);
        return Error::field(meta.name, name, format!("NULL into a non-null field: {e}"));
    }
    e
}

async fn update_row<M: Model>(
    m: &mut M,
    alias: &Arc<str>,
    fields: Option<&[String]>,
) -> Result<u64> {
    let meta = M::meta();
    let version = meta.version;
    let make = |cols: &[usize]| {
        let mut sets: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(k, &i)| format!("{} = ${}", quote(meta.fields[i].column), k + 1))
            .collect();
        let pk = quote(meta.pk().column);
        let n = cols.len();
        match version {
            None => format!(
                "UPDATE {} SET {} WHERE {pk} = ${}",
                meta.qtable(),
                sets.join(", "),
                n + 1
            ),
            Some(v) => {
                let col = quote(meta.fields[v].column);
                sets.push(format!("{col} = {col} + 1"));
                format!(
                    "UPDATE {} SET {} WHERE {pk} = ${} AND {col} = ${} RETURNING {col}",
                    meta.qtable(),
                    sets.join(", "),
                    n + 1,
                    n + 2
                )
            }
        }
    };
    let cols: Vec<usize> = match fields {
        Some(names) => names
            .iter()
            .filter_map(|n| meta.field(n))
            .map(|f| f.index)
            .filter(|&i| i != meta.pk_index && Some(i) != version)
            .collect(),
        None => (0..meta.fields.len())
            .filter(|&i| i != meta.pk_index && Some(i) != version)
            .collect(),
    };
    if cols.is_empty() && version.is_none() {
        return Ok(1);
    }
    let owned;
    let sql = if fields.is_none() {
        meta.sql.update_all.get_or_init(|| make(&cols)).as_str()
    } else {
        owned = make(&cols);
        owned.as_str()
    };
    let mut refs: Vec<&(dyn ToSql + Sync)> =
        cols.iter().filter_map(|&i| m.__field_ref(i)).collect();
    if let Some(pk) = m.__field_ref(meta.pk_index) {
        refs.push(pk);
    }
    let Some(v) = version else {
        let mut conn = db::connection(alias).await?;
        return conn
            .get()
            .execute(sql, &refs)
            .await
            .map_err(|e| not_null_error(meta, e.into()));
    };
    if let Some(current) = m.__field_ref(v) {
        refs.push(current);
    }
    let mut conn = db::connection(alias).await?;
    let row = conn
        .get()
        .query_opt(sql, &refs)
        .await
        .map_err(|e| not_null_error(meta, e.into()))?;
    drop(refs);
    let Some(row) = row else {
        // Stale, or gone? Only a missing row may be inserted by the caller.
        let exists = format!(
            "SELECT 1 FROM {} WHERE {} = $1",
            meta.qtable(),
            quote(meta.pk().column)
        );
        let pk: Vec<&(dyn ToSql + Sync)> = m.__field_ref(meta.pk_index).into_iter().collect();
        if conn.get().query_opt(exists.as_str(), &pk).await?.is_some() {
            return Err(Error::Conflict {
                model: meta.name,
                message: format!(
                    "the row was changed since this instance read it (its {} is stale); nothing was saved: reload it with refresh_from_db and apply the change again",
                    meta.fields[v].name
                ),
            });
        }
        return Ok(0);
    };
    drop(conn);
    m.__set_field(v, &row, 0)?;
    Ok(1)
}

/// Deletes `m`'s row: `(total, per model)`. On a soft-delete model ([`crate::mixins`]) the
/// row is marked deleted instead, and the instance keeps its key.
pub async fn delete<M: Model>(m: &mut M) -> Result<(u64, BTreeMap<&'static str, u64>)> {
    delete_with(m, M::meta().soft_delete).await
}

/// Deletes `m`'s row for good, also on a soft-delete model.
pub async fn hard_delete<M: Model>(m: &mut M) -> Result<(u64, BTreeMap<&'static str, u64>)> {
    delete_with(m, None).await
}

/// A DELETE (or, with `soft`, an UPDATE of that soft-delete field to now), with signals.
async fn delete_with<M: Model>(
    m: &mut M,
    soft: Option<usize>,
) -> Result<(u64, BTreeMap<&'static str, u64>)> {
    let meta = M::meta();
    meta.check()?;
    if pk_unset(m) {
        return Err(Error::Usage(format!(
            "{} object can't be deleted because its {} attribute is unset",
            meta.name,
            meta.pk().name
        )));
    }
    let alias = alias_of(m, None);
    let n = if signals::has_receivers::<M>(false) {
        let event = DeleteEvent {
            using: alias.clone(),
        };
        Box::pin(crate::transaction::atomic_using(Some(&alias), async {
            signals::send_delete(m, SignalKind::PreDelete, &event).await?;
            let n = delete_statement(m, &alias, soft).await?;
            signals::send_delete(m, SignalKind::PostDelete, &event).await?;
            Ok::<_, Error>(n)
        }))
        .await?
    } else {
        delete_statement(m, &alias, soft).await?
    };
    if soft.is_none() {
        // As Django sets the pk to None: a later save inserts a new row with a new key.
        if meta.pk().auto {
            m.__reset_field(meta.pk_index);
        }
        m.state_mut().adding = true;
    }
    Ok(n)
}

async fn delete_statement<M: Model>(
    m: &mut M,
    alias: &Arc<str>,
    soft: Option<usize>,
) -> Result<(u64, BTreeMap<&'static str, u64>)> {
    let meta = M::meta();
    let pk: Param = m
        .__field_param(meta.pk_index)
        .ok_or_else(|| Error::Usage("no primary key".into()))?;
    let Some(field) = soft else {
        let sql = meta.sql.delete_pk.get_or_init(|| {
            format!(
                "DELETE FROM {} WHERE {} = $1",
                meta.qtable(),
                quote(meta.pk().column)
            )
        });
        let c = Compiled {
            sql: sql.as_str().into(),
            params: vec![pk],
            regex_fields: Vec::new(),
            model: meta.name,
        };
        let d = crate::cascade::delete_counted(alias, &c, meta).await;
        crate::cache::note_write(alias, &[meta.table]).await;
        let d = d?;
        let changed: Vec<&str> = d.changed.iter().map(String::as_str).collect();
        crate::cache::note_write(alias, &changed).await;
        return Ok((d.total, d.per_model));
    };
    let now = crate::mixins::soft_delete_now(meta, field)?;
    let n = set_soft_delete(m, alias, field, Some(now)).await?;
    Ok((n, BTreeMap::from([(meta.name, n)])))
}

/// Sets (or, with `None`, clears) the soft-delete field of `m`'s row and of `m`.
async fn set_soft_delete<M: Model>(
    m: &mut M,
    alias: &Arc<str>,
    field: usize,
    value: Option<Param>,
) -> Result<u64> {
    let meta = M::meta();
    let col = quote(meta.fields[field].column);
    let sql = format!(
        "UPDATE {} SET {col} = $1 WHERE {} = $2 RETURNING {col}",
        meta.qtable(),
        quote(meta.pk().column)
    );
    let null: Option<i32> = None;
    let value: &(dyn ToSql + Sync) = match &value {
        Some(v) => v.as_ref() as &(dyn ToSql + Sync),
        None => &null,
    };
    let pk = m
        .__field_ref(meta.pk_index)
        .ok_or_else(|| Error::Usage("no primary key".into()))?;
    let mut conn = db::connection(alias).await?;
    let row = conn.get().query_opt(sql.as_str(), &[value, pk]).await;
    drop(conn);
    crate::cache::note_write(alias, &[meta.table]).await;
    let row = row?;
    match row {
        Some(row) => {
            m.__set_field(field, &row, 0)?;
            Ok(1)
        }
        None => Ok(0),
    }
}

/// Clears the soft-delete field of `m` and its row (`restore`).
pub async fn restore<M: Model>(m: &mut M) -> Result<()> {
    let meta = M::meta();
    meta.check()?;
    let Some(field) = meta.soft_delete else {
        return Err(Error::Usage(format!(
            "{} has no soft-delete field: nothing to restore (declare one with Field::new().soft_delete() or #[mixins(SoftDelete)])",
            meta.name
        )));
    };
    if pk_unset(m) {
        return Err(Error::Usage(format!(
            "{}: cannot restore an unsaved instance",
            meta.name
        )));
    }
    let alias = alias_of(m, None);
    match set_soft_delete(m, &alias, field, None).await? {
        0 => Err(Error::DoesNotExist { model: meta.name }),
        _ => Ok(()),
    }
}

/// Reloads `m` (all fields, or the named ones) from the database.
pub async fn refresh<M: Model>(m: &mut M, fields: Option<&[&str]>) -> Result<()> {
    let meta = M::meta();
    meta.check()?;
    if pk_unset(m) {
        return Err(Error::Usage(format!(
            "{}: cannot refresh an unsaved instance",
            meta.name
        )));
    }
    let idx: Vec<usize> = match fields {
        Some(names) => names
            .iter()
            .map(|n| meta.field_or_err(n).map(|f| f.index))
            .collect::<Result<_>>()?,
        None => (0..meta.fields.len()).collect(),
    };
    let sql = if fields.is_none() {
        meta.sql
            .refresh
            .get_or_init(|| {
                format!(
                    "SELECT {} FROM {} WHERE {} = $1",
                    crate::compiler::select_list(meta),
                    meta.qtable(),
                    quote(meta.pk().column)
                )
            })
            .clone()
    } else {
        let t = meta.qtable();
        let cols: Vec<String> = idx
            .iter()
            .map(|&i| format!("{t}.{}", quote(meta.fields[i].column)))
            .collect();
        format!(
            "SELECT {} FROM {t} WHERE {} = $1",
            cols.join(", "),
            quote(meta.pk().column)
        )
    };
    let alias = alias_of(m, None);
    let pk: Param = m
        .__field_param(meta.pk_index)
        .ok_or_else(|| Error::Usage("no primary key".into()))?;
    let c = Compiled {
        sql: sql.into(),
        params: vec![pk],
        regex_fields: Vec::new(),
        model: meta.name,
    };
    let rows = run(&alias, &c).await?;
    let row = rows
        .first()
        .ok_or(Error::DoesNotExist { model: meta.name })?;
    for (col, &i) in idx.iter().enumerate() {
        m.__set_field(i, row, col)?;
    }
    Ok(())
}

/// The names of `m`'s deferred fields.
pub fn deferred_fields<M: Model>(m: &M) -> Vec<&'static str> {
    let meta = M::meta();
    m.state()
        .deferred
        .iter()
        .filter_map(|&i| meta.fields.get(i).map(|f| f.name))
        .collect()
}

/// A field's value by name.
pub fn serializable_value<M: Model>(m: &M, field: &str) -> Result<Param> {
    let meta = M::meta();
    let f = meta.field_or_err(field)?;
    m.__field_param(f.index)
        .ok_or_else(|| meta.no_such_field(field))
}

/// The row map of a row whose columns are named like the model's.
pub(crate) fn name_map<M: Model>(row: &Row) -> Vec<Option<usize>> {
    let meta = M::meta();
    meta.fields
        .iter()
        .map(|f| row.columns().iter().position(|c| c.name() == f.column))
        .collect()
}

/// Decodes an instance from a row with columns named like the model's.
pub fn from_db<M: Model>(row: &Row) -> Result<M> {
    let map = name_map::<M>(row);
    M::__decode(row, &map)
}
