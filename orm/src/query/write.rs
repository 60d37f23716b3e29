//! The terminal methods that write: update, delete, create, bulk_create, bulk_update,
//! get_or_create, update_or_create.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hyperdjango_pgwire::ToSql;

use crate::compiler::{self, Compiled, quote};
use crate::error::{Error, Result};
use crate::expr::{IntoAssignments, Node, Param};
use crate::lookup::Q;
use crate::model::Model;
use crate::query::QuerySet;
use crate::query::exec::{run, run_execute};

/// What `bulk_create` does on a conflict.
#[derive(Debug, Clone, Default)]
pub enum Conflict {
    /// Fail (the default).
    #[default]
    Error,
    /// `ON CONFLICT DO NOTHING` (Django's `ignore_conflicts`); primary keys are not set.
    Ignore,
    /// `ON CONFLICT (unique_fields) DO UPDATE SET update_fields` (Django's
    /// `update_conflicts`).
    Update {
        /// The fields of the unique constraint.
        unique_fields: Vec<String>,
        /// The fields to overwrite.
        update_fields: Vec<String>,
    },
}

/// Options of `bulk_create`.
///
/// ```
/// let o = hyperdjango_orm::BulkOptions { batch_size: Some(500), ..Default::default() };
/// assert_eq!(o.batch_size, Some(500));
/// ```
#[derive(Debug, Clone, Default)]
pub struct BulkOptions {
    /// Rows per INSERT (default: as many as fit in 65535 parameters).
    pub batch_size: Option<usize>,
    /// What to do on conflicts.
    pub conflict: Conflict,
}

pub(crate) fn cast_type(sql_type: &str) -> &str {
    match sql_type {
        "SERIAL" => "INTEGER",
        "BIGSERIAL" => "BIGINT",
        t => t,
    }
}

pub(crate) fn is_null(p: &(dyn ToSql + Sync)) -> bool {
    let mut buf = hyperdjango_pgwire::__private::BytesMut::new();
    matches!(
        p.to_sql(&p.sql_type(), &mut buf),
        Ok(hyperdjango_pgwire::types::IsNull::Yes)
    )
}

impl<M: Model> QuerySet<M> {
    /// Updates the matching rows (`Product::stock.set(F(Product::stock) - 1)`, or an array of
    /// assignments); returns how many rows changed.
    pub async fn update(&self, assignments: impl IntoAssignments<M>) -> Result<u64> {
        let sets = assignments.into_assignments();
        let c = compiler::compile_update(&self.query, &sets)?;
        self.write(&c).await
    }

    /// The string form of `update`: field names checked against the model.
    pub async fn update_by_name(&self, values: Vec<(&str, Option<Param>)>) -> Result<u64> {
        let meta = M::meta();
        let mut sets = Vec::new();
        for (name, v) in values {
            let f = meta.field_or_err(name)?;
            sets.push((f.index, v.map(Node::Param).unwrap_or(Node::Null)));
        }
        let c = compiler::compile_update(&self.query, &sets)?;
        self.write(&c).await
    }

    /// Deletes the matching rows; returns the total and the count per model. On a
    /// soft-delete model ([`crate::mixins`]) the rows are marked deleted instead
    /// (`hard_delete` removes them).
    pub async fn delete(&self) -> Result<(u64, BTreeMap<&'static str, u64>)> {
        if let Some(field) = M::meta().soft_delete {
            return self.soft_delete_rows(field).await;
        }
        self.delete_rows().await
    }

    /// The DELETE statement of `delete` and `hard_delete`.
    pub(crate) async fn delete_rows(&self) -> Result<(u64, BTreeMap<&'static str, u64>)> {
        let c = compiler::compile_delete(&self.query)?;
        let alias = self.write_alias();
        let d = crate::cascade::delete_counted(&alias, &c, M::meta()).await;
        crate::cache::note_write(&alias, &[M::meta().table]).await;
        let d = d?;
        let changed: Vec<&str> = d.changed.iter().map(String::as_str).collect();
        crate::cache::note_write(&alias, &changed).await;
        Ok((d.total, d.per_model))
    }

    /// Runs an UPDATE of this model's table, then invalidates the query cache for it.
    async fn write(&self, c: &Compiled) -> Result<u64> {
        let alias = self.write_alias();
        let n = run_execute(&alias, c).await;
        crate::cache::note_write(&alias, &[M::meta().table]).await;
        n
    }

    /// Inserts `obj` and returns it saved (its `Auto` key set).
    pub async fn create(&self, mut obj: M) -> Result<M> {
        let opts = crate::SaveOptions {
            force_insert: true,
            using: self.db.as_deref().map(str::to_string),
            ..Default::default()
        };
        crate::instance::save(&mut obj, opts).await?;
        Ok(obj)
    }

    /// Inserts many instances in few statements (multi-row `INSERT ... RETURNING`); their
    /// `Auto` keys are set (except with `Conflict::Ignore`). Returns them.
    pub async fn bulk_create(&self, mut objs: Vec<M>, options: BulkOptions) -> Result<Vec<M>> {
        let meta = M::meta();
        meta.check()?;
        if objs.is_empty() {
            return Ok(objs);
        }
        let alias = self.write_alias();
        for o in objs.iter_mut() {
            o.__pre_save(true);
            crate::vector::check_dimensions(o)?;
        }
        let ncols = meta.fields.len();
        let max_rows = (65535 / ncols.max(1)).max(1);
        let batch = options.batch_size.unwrap_or(max_rows).clamp(1, max_rows);
        let cols: Vec<String> = meta.fields.iter().map(|f| quote(f.column)).collect();
        let conflict = match &options.conflict {
            Conflict::Error => String::new(),
            Conflict::Ignore => " ON CONFLICT DO NOTHING".into(),
            Conflict::Update {
                unique_fields,
                update_fields,
            } => {
                let u: Vec<String> = unique_fields
                    .iter()
                    .map(|n| meta.field_or_err(n).map(|f| quote(f.column)))
                    .collect::<Result<_>>()?;
                let s: Vec<String> = update_fields
                    .iter()
                    .map(|n| {
                        meta.field_or_err(n)
                            .map(|f| format!("{0} = EXCLUDED.{0}", quote(f.column)))
                    })
                    .collect::<Result<_>>()?;
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    u.join(", "),
                    s.join(", ")
                )
            }
        };
        let returning = !matches!(options.conflict, Conflict::Ignore);
        let pk = meta.pk_index;
        let mut start = 0;
        while start < objs.len() {
            let end = (start + batch).min(objs.len());
            let mut sql = format!(
                "INSERT INTO {} ({}) VALUES ",
                meta.qtable(),
                cols.join(", ")
            );
            let mut params: Vec<Param> = Vec::new();
            for (r, o) in objs[start..end].iter().enumerate() {
                if r > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for i in 0..ncols {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    let p = o
                        .__field_param(i)
                        .ok_or_else(|| Error::Usage("field out of range".into()))?;
                    if meta.fields[i].auto && is_null(&*p) {
                        sql.push_str("DEFAULT");
                    } else {
                        params.push(p);
                        let _ = write!(sql, "${}", params.len());
                    }
                }
                sql.push(')');
            }
            sql.push_str(&conflict);
            if returning {
                let _ = write!(sql, " RETURNING {}", quote(meta.pk().column));
            }
            let c = Compiled {
                sql: sql.into(),
                params,
                regex_fields: Vec::new(),
                model: meta.name,
            };
            let rows = run(&alias, &c).await;
            crate::cache::note_write(&alias, &[meta.table]).await;
            let rows = rows?;
            if returning {
                for (o, row) in objs[start..end].iter_mut().zip(rows.iter()) {
                    o.__set_field(pk, row, 0)?;
                    let st = o.state_mut();
                    st.adding = false;
                    st.db = Some(alias.clone());
                }
            }
            start = end;
        }
        Ok(objs)
    }

    /// Updates `fields` of each instance by primary key, in batches
    /// (`UPDATE ... FROM (VALUES ...)`); returns how many rows changed.
    pub async fn bulk_update(
        &self,
        objs: &[M],
        fields: &[&str],
        batch_size: Option<usize>,
    ) -> Result<u64> {
        let meta = M::meta();
        meta.check()?;
        if objs.is_empty() || fields.is_empty() {
            return Ok(0);
        }
        let alias = self.write_alias();
        let mut idx = vec![meta.pk_index];
        for f in fields {
            let fm = meta.field_or_err(f)?;
            if fm.index == meta.pk_index {
                return Err(Error::field(
                    meta.name,
                    *f,
                    "bulk_update cannot change the primary key",
                ));
            }
            idx.push(fm.index);
        }
        let per_row = idx.len();
        let max_rows = (65535 / per_row).max(1);
        let batch = batch_size.unwrap_or(max_rows).clamp(1, max_rows);
        let names: Vec<String> = (0..per_row).map(|k| quote(&format!("c{k}"))).collect();
        let sets: Vec<String> = idx[1..]
            .iter()
            .enumerate()
            .map(|(k, &i)| format!("{} = \"v\".{}", quote(meta.fields[i].column), names[k + 1]))
            .collect();
        let mut total = 0;
        for chunk in objs.chunks(batch) {
            let mut sql = format!(
                "UPDATE {} SET {} FROM (VALUES ",
                meta.qtable(),
                sets.join(", ")
            );
            let mut params: Vec<Param> = Vec::new();
            for (r, o) in chunk.iter().enumerate() {
                if r > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for (k, &i) in idx.iter().enumerate() {
                    if k > 0 {
                        sql.push_str(", ");
                    }
                    let p = o
                        .__field_param(i)
                        .ok_or_else(|| Error::Usage("field out of range".into()))?;
                    if i == meta.pk_index && is_null(&*p) {
                        return Err(Error::field(
                            meta.name,
                            meta.pk().name,
                            "bulk_update needs saved instances (the primary key is unset)",
                        ));
                    }
                    params.push(p);
                    let _ = write!(
                        sql,
                        "CAST(${} AS {})",
                        params.len(),
                        cast_type(meta.fields[i].sql_type)
                    );
                }
                sql.push(')');
            }
            let _ = write!(
                sql,
                ") AS \"v\" ({}) WHERE {}.{} = \"v\".{}",
                names.join(", "),
                meta.qtable(),
                quote(meta.pk().column),
                names[0]
            );
            let c = Compiled {
                sql: sql.into(),
                params,
                regex_fields: Vec::new(),
                model: meta.name,
            };
            let n = run_execute(&alias, &c).await;
            crate::cache::note_write(&alias, &[meta.table]).await;
            total += n?;
        }
        Ok(total)
    }

    /// The instance matching `q`, or a new one from `make()` inserted now: `(instance,
    /// created)`. Race-safe: the insert runs in a savepoint, and on a unique violation (a
    /// concurrent insert won) the row is read again.
    pub async fn get_or_create(&self, q: Q<M>, make: impl FnOnce() -> M) -> Result<(M, bool)> {
        match self.get(q.clone()).await {
            Ok(m) => return Ok((m, false)),
            Err(Error::DoesNotExist { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut obj = make();
        let alias = self.write_alias();
        let opts = crate::SaveOptions {
            force_insert: true,
            using: Some(alias.to_string()),
            ..Default::default()
        };
        let r = crate::atomic_using(Some(&alias), async {
            crate::instance::save(&mut obj, opts).await?;
            Ok::<_, Error>(())
        })
        .await;
        match r {
            Ok(()) => Ok((obj, true)),
            Err(e) if e.is_unique_violation() => match self.get(q).await {
                Ok(m) => Ok((m, false)),
                Err(_) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Updates the instance matching `q` with `apply` (locking it with `SELECT ... FOR
    /// UPDATE` in a transaction), or creates one from `make()` with `apply` applied:
    /// `(instance, created)`.
    pub async fn update_or_create(
        &self,
        q: Q<M>,
        make: impl FnOnce() -> M,
        apply: impl Fn(&mut M),
    ) -> Result<(M, bool)> {
        let alias = self.write_alias();
        let this = self.using(&alias);
        crate::atomic_using(Some(&alias), async {
            match this.select_for_update().get(q.clone()).await {
                Ok(mut m) => {
                    apply(&mut m);
                    m.save().await?;
                    Ok((m, false))
                }
                Err(Error::DoesNotExist { .. }) => {
                    let (mut m, created) = this
                        .get_or_create(q, || {
                            let mut m = make();
                            apply(&mut m);
                            m
                        })
                        .await?;
                    if !created {
                        apply(&mut m);
                        crate::instance::save(&mut m, crate::SaveOptions::default()).await?;
                    }
                    Ok((m, created))
                }
                Err(e) => Err(e),
            }
        })
        .await
    }
}

/// Save through the generic path (used where only `M: Model` is known).
trait SaveExt {
    fn save(&mut self) -> impl std::future::Future<Output = Result<()>> + Send;
}
impl<M: Model> SaveExt for M {
    fn save(&mut self) -> impl std::future::Future<Output = Result<()>> + Send {
        crate::instance::save(self, crate::SaveOptions::default())
    }
}
