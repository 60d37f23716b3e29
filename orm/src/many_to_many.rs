//! Many-to-many relations through a junction table.
//!
//! A [`ManyToMany`] names the two models and the junction table (`articles_tags`, with the
//! columns `article_id` and `tag_id`, both foreign keys, together the primary key). Its
//! manager methods take the instance on the left and run **one statement each**, and are
//! idempotent: adding a link twice, or removing one that is not there, changes nothing.
//!
//! ```no_run
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::many_to_many::ManyToMany;
//!
//! model! { #[derive(Debug, Clone)] #[table = "articles"] pub struct Article { pub id: Auto<i64> = Field::new().primary_key(), pub title: String } }
//! model! { #[derive(Debug, Clone)] #[table = "tags"] pub struct Tag { pub id: Auto<i64> = Field::new().primary_key(), pub name: String } }
//!
//! /// Article ↔ Tag (the spec's `tags = ManyToManyField("articles_tags")`).
//! pub const ARTICLE_TAGS: ManyToMany<Article, Tag> = ManyToMany::new("articles_tags");
//!
//! # async fn f(article: Article, rust: Tag, sql: Tag) -> hyperdjango_orm::Result<()> {
//! ARTICLE_TAGS.create_table().await?;                 // CREATE TABLE articles_tags (...)
//! ARTICLE_TAGS.add(&article, &[&rust, &sql]).await?;  // INSERT .. ON CONFLICT DO NOTHING
//! let tags = ARTICLE_TAGS.all(&article)?.order_by(Tag::name).all().await?;
//! let n = ARTICLE_TAGS.count(&article).await?;
//! ARTICLE_TAGS.remove(&article, &[&sql]).await?;
//! ARTICLE_TAGS.set(&article, &[&rust]).await?;       // exactly these, in one statement
//! ARTICLE_TAGS.clear(&article).await?;
//! let articles = ARTICLE_TAGS.reverse(&rust)?.all().await?; // the other way round
//! # Ok(()) }
//! ```
//!
//! **Extra columns** (the 2005 readers' question: where do they go?) belong on a junction
//! model of your own, with a foreign key to each side: [`ManyToMany::through`] reads its
//! table and key columns from it. Create links with that model (so its extra fields get
//! values); `all`, `reverse`, `remove`, `clear` and `count` work as above.

use std::marker::PhantomData;

use crate::compiler::quote;
use crate::ddl::{ColumnDef, ForeignKeyDef, TableDef};
use crate::error::{Error, Result};
use crate::expr::Param;
use crate::lookup::Q;
use crate::model::{Model, ModelMeta};
use crate::query::QuerySet;
use crate::relations::Prefetched;

/// The annotation that carries, with each prefetched row, the keys of the items it is
/// linked to.
const PREFETCH_KEYS: &str = "hd_prefetch_keys";

/// A many-to-many relation between `A` and `B` (see the [module docs](self)).
pub struct ManyToMany<A, B> {
    table: &'static str,
    through: Option<fn() -> &'static ModelMeta>,
    _m: PhantomData<fn() -> (A, B)>,
}

impl<A, B> Clone for ManyToMany<A, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A, B> Copy for ManyToMany<A, B> {}

impl<A, B> std::fmt::Debug for ManyToMany<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManyToMany")
            .field("table", &self.table)
            .finish()
    }
}

/// The junction's layout: table and the two key columns.
struct Junction {
    table: &'static str,
    a: String,
    b: String,
}

impl<A: Model, B: Model> ManyToMany<A, B> {
    /// A relation through the junction table `table`, whose columns are the lower-case
    /// model names plus `_id` (`article_id`, `tag_id`).
    pub const fn new(table: &'static str) -> Self {
        ManyToMany {
            table,
            through: None,
            _m: PhantomData,
        }
    }

    /// A relation through a junction model `J` of your own (extra columns): its table, and
    /// its foreign keys to `A` and to `B`.
    pub const fn through<J: Model>() -> Self {
        ManyToMany {
            table: "",
            through: Some(J::meta),
            _m: PhantomData,
        }
    }

    fn junction(&self) -> Result<Junction> {
        let (a, b) = (A::meta(), B::meta());
        let Some(through) = self.through else {
            return Ok(Junction {
                table: self.table,
                a: format!("{}_id", a.name.to_lowercase()),
                b: format!("{}_id", b.name.to_lowercase()),
            });
        };
        let j = through();
        let key_to = |target: &ModelMeta, skip: Option<&str>| {
            j.fields
                .iter()
                .filter(|f| Some(f.column) != skip)
                .find(|f| {
                    f.relation
                        .is_some_and(|r| std::ptr::eq((r.target)(), target))
                })
                .map(|f| f.column.to_string())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "{}: the through model has no foreign key to {}",
                        j.name, target.name
                    ))
                })
        };
        let a_col = key_to(a, None)?;
        let b_col = key_to(b, Some(&a_col))?;
        Ok(Junction {
            table: j.table,
            a: a_col,
            b: b_col,
        })
    }

    /// The statement that creates the junction table (for `new`; a `through` model is
    /// created like any model).
    ///
    /// ```
    /// # use hyperdjango_orm::prelude::*;
    /// # use hyperdjango_orm::many_to_many::ManyToMany;
    /// # model! { #[table = "articles"] pub struct Article { pub id: Auto<i64> = Field::new().primary_key() } }
    /// # model! { #[table = "tags"] pub struct Tag { pub id: Auto<i32> = Field::new().primary_key() } }
    /// let sql = ManyToMany::<Article, Tag>::new("articles_tags").create_table_sql()?;
    /// assert_eq!(sql, concat!(
    ///     r#"CREATE TABLE "articles_tags" ("article_id" BIGINT NOT NULL REFERENCES "articles" ("id") ON DELETE CASCADE, "#,
    ///     r#""tag_id" INTEGER NOT NULL REFERENCES "tags" ("id") ON DELETE CASCADE, PRIMARY KEY ("article_id", "tag_id"))"#));
    /// # Ok::<(), hyperdjango_orm::Error>(())
    /// ```
    pub fn create_table_sql(&self) -> Result<String> {
        match self.table_def()? {
            Some(t) => Ok(t.create_table_sql(None)),
            None => Err(Error::Usage(format!(
                "{}: a through model's table is created like any model's",
                self.junction()?.table
            ))),
        }
    }

    /// The junction table as DDL data (for `new`; `None` for a `through` model, which is a
    /// model of its own): what [`Models::m2m`](crate::migrate::Models::m2m) adds to the
    /// migration system's model set.
    pub fn table_def(&self) -> Result<Option<TableDef>> {
        if self.through.is_some() {
            return Ok(None);
        }
        let j = self.junction()?;
        let col = |name: &str, m: &ModelMeta| {
            let pk = m.pk();
            // The key column of a SERIAL/BIGSERIAL key is INTEGER/BIGINT.
            let ty = match pk.sql_type {
                "SERIAL" => "INTEGER",
                "BIGSERIAL" => "BIGINT",
                "SMALLSERIAL" => "SMALLINT",
                t => t,
            };
            ColumnDef {
                name: name.to_string(),
                sql_type: ty.to_string(),
                nullable: false,
                default: None,
                primary_key: false,
                unique: false,
                references: Some(ForeignKeyDef {
                    table: m.table.to_string(),
                    column: pk.column.to_string(),
                    on_delete: "CASCADE".into(),
                }),
                checks: Vec::new(),
            }
        };
        Ok(Some(TableDef {
            name: j.table.to_string(),
            columns: vec![col(&j.a, A::meta()), col(&j.b, B::meta())],
            composite_pk: vec![j.a.clone(), j.b.clone()],
            unique_together: Vec::new(),
            checks: Vec::new(),
            indexes: Vec::new(),
            unlogged: false,
        }))
    }

    /// Creates the junction table on the current database.
    pub async fn create_table(&self) -> Result<()> {
        crate::ddl::execute_batch(&self.create_table_sql()?).await
    }

    /// The `B`s linked to each of `items`, in ONE query however many items (Django's
    /// `prefetch_related("tags")`): read each item's with [`Prefetched::for_key`] and the
    /// item's primary key. A `B` linked to several items is in each of their lists (a clone
    /// per extra item, so `B` must be `Clone`).
    ///
    /// ```no_run
    /// # use hyperdjango_orm::prelude::*;
    /// # use hyperdjango_orm::many_to_many::ManyToMany;
    /// # model! { #[derive(Debug, Clone)] #[table = "articles"] pub struct Article { pub id: Auto<i64> = Field::new().primary_key() } }
    /// # model! { #[derive(Debug, Clone)] #[table = "tags"] pub struct Tag { pub id: Auto<i32> = Field::new().primary_key(), pub name: String } }
    /// const TAGS: ManyToMany<Article, Tag> = ManyToMany::new("articles_tags");
    /// # async fn f() -> hyperdjango_orm::Result<()> {
    /// let articles = Article::objects().all().await?;
    /// let tags = TAGS.prefetch::<i64>(&articles).await?; // one query
    /// for a in &articles {
    ///     let names: Vec<&str> = tags.for_key(&a.id.get().unwrap()).iter().map(|t| t.name.as_str()).collect();
    ///     println!("{names:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn prefetch<K>(&self, items: &[A]) -> Result<Prefetched<K, B>>
    where
        K: crate::field::SqlValue + hyperdjango_pgwire::types::FromSqlOwned + std::hash::Hash + Eq,
        B: Clone,
    {
        self.prefetch_with(items, QuerySet::new()).await
    }

    /// [`prefetch`](Self::prefetch) through a QuerySet of `B` of your own (Django's
    /// `Prefetch("tags", queryset=...)`): its filters, ordering and `select_related` apply.
    pub async fn prefetch_with<K>(
        &self,
        items: &[A],
        queryset: QuerySet<B>,
    ) -> Result<Prefetched<K, B>>
    where
        K: crate::field::SqlValue + hyperdjango_pgwire::types::FromSqlOwned + std::hash::Hash + Eq,
        B: Clone,
    {
        let mut keys: Vec<K> = Vec::with_capacity(items.len());
        let mut seen = std::collections::HashSet::new();
        for a in items {
            let k = crate::relations::key_of::<A, K>(a)?;
            if seen.insert(k.clone()) {
                keys.push(k);
            }
        }
        let mut groups: std::collections::HashMap<K, Vec<B>> = std::collections::HashMap::new();
        if keys.is_empty() {
            return Ok(Prefetched { groups });
        }
        let j = self.junction()?;
        let b = B::meta();
        let (t, ja, jb) = (quote(j.table), quote(&j.a), quote(&j.b));
        let pk = format!("{}.{}", b.qtable(), quote(b.pk().column));
        let keys: Param = std::sync::Arc::new(keys);
        // Each B once, with the keys of the items (among those asked for) it is linked to.
        let linked = crate::lookup::Where::Raw(
            format!("{pk} IN (SELECT {jb} FROM {t} WHERE {ja} = ANY(%s))"),
            vec![keys.clone()],
            Some(vec![j.table]),
        );
        let owners = crate::expr::raw_sql::<B, Vec<K>>(
            &format!("ARRAY(SELECT {ja} FROM {t} WHERE {jb} = {pk} AND {ja} = ANY(%s))"),
            vec![keys],
        );
        let rows = queryset
            .filter(Q::from_where(linked))
            .annotate(PREFETCH_KEYS, owners)
            .all_annotated()
            .await?;
        for (object, row) in rows {
            let owners: Vec<K> = row.get(PREFETCH_KEYS)?;
            if let Some((last, rest)) = owners.split_last() {
                for k in rest {
                    groups.entry(k.clone()).or_default().push(object.clone());
                }
                groups.entry(last.clone()).or_default().push(object);
            }
        }
        Ok(Prefetched { groups })
    }

    /// `B`s linked to `a`, as a QuerySet (filter, order, count it as any other).
    pub fn all(&self, a: &A) -> Result<QuerySet<B>> {
        let j = self.junction()?;
        linked(&j.b, j.table, &j.a, key(a)?)
    }

    /// `A`s linked to `b` (the reverse side), as a QuerySet.
    pub fn reverse(&self, b: &B) -> Result<QuerySet<A>> {
        let j = self.junction()?;
        linked(&j.a, j.table, &j.b, key(b)?)
    }

    /// Links `a` to each of `bs` (one INSERT; links that exist are left alone). Returns
    /// how many links were created. Not for a `through` model: create its rows.
    pub async fn add(&self, a: &A, bs: &[&B]) -> Result<u64> {
        let j = self.plain("add")?;
        if bs.is_empty() {
            return Ok(0);
        }
        let (params, ph) = keys(a, bs)?;
        let values: Vec<String> = ph.iter().map(|p| format!("($1, {p})")).collect();
        let sql = format!(
            "INSERT INTO {} ({}, {}) VALUES {} ON CONFLICT DO NOTHING",
            quote(j.table),
            quote(&j.a),
            quote(&j.b),
            values.join(", ")
        );
        execute(j.table, &sql, params).await
    }

    /// Unlinks `a` from each of `bs` (one DELETE). Returns how many links were removed.
    pub async fn remove(&self, a: &A, bs: &[&B]) -> Result<u64> {
        let j = self.junction()?;
        if bs.is_empty() {
            return Ok(0);
        }
        let (params, ph) = keys(a, bs)?;
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1 AND {} IN ({})",
            quote(j.table),
            quote(&j.a),
            quote(&j.b),
            ph.join(", ")
        );
        execute(j.table, &sql, params).await
    }

    /// Unlinks `a` from everything (one DELETE). Returns how many links were removed.
    pub async fn clear(&self, a: &A) -> Result<u64> {
        let j = self.junction()?;
        let sql = format!("DELETE FROM {} WHERE {} = $1", quote(j.table), quote(&j.a));
        execute(j.table, &sql, vec![key(a)?]).await
    }

    /// Makes `a` linked to exactly `bs`: one statement removes the other links and adds the
    /// missing ones. Returns how many links were added.
    pub async fn set(&self, a: &A, bs: &[&B]) -> Result<u64> {
        let j = self.plain("set")?;
        if bs.is_empty() {
            self.clear(a).await?;
            return Ok(0);
        }
        let (params, ph) = keys(a, bs)?;
        let (t, ca, cb) = (quote(j.table), quote(&j.a), quote(&j.b));
        let list = ph.join(", ");
        let values: Vec<String> = ph.iter().map(|p| format!("($1, {p})")).collect();
        let sql = format!(
            "WITH gone AS (DELETE FROM {t} WHERE {ca} = $1 AND {cb} NOT IN ({list})) \
             INSERT INTO {t} ({ca}, {cb}) VALUES {} ON CONFLICT DO NOTHING",
            values.join(", ")
        );
        execute(j.table, &sql, params).await
    }

    /// How many `B`s are linked to `a` (one COUNT).
    pub async fn count(&self, a: &A) -> Result<i64> {
        let j = self.junction()?;
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} = $1",
            quote(j.table),
            quote(&j.a)
        );
        let alias = crate::db::resolve(None);
        let p = key(a)?;
        let mut conn = crate::db::connection(&alias).await?;
        let row = conn.get().query_one(sql.as_str(), &[p.as_ref()]).await?;
        Ok(row.get(0)?)
    }

    /// The junction of a relation the manager may write to directly.
    fn plain(&self, op: &str) -> Result<Junction> {
        if let Some(through) = self.through {
            return Err(Error::Usage(format!(
                "{op}: this many-to-many goes through the model {}: create or delete its rows to link with its extra fields",
                through().name
            )));
        }
        self.junction()
    }
}

/// The rows of `M` whose key is in the junction's `want` column next to `key` in its
/// `by` column: `pk IN (SELECT want FROM junction WHERE by = key)`.
fn linked<M: Model>(
    want: &str,
    junction: &'static str,
    by: &str,
    key: Param,
) -> Result<QuerySet<M>> {
    let m = M::meta();
    let cond = format!(
        "{}.{} IN (SELECT {} FROM {} WHERE {} = %s)",
        quote(m.table),
        quote(m.pk().column),
        quote(want),
        quote(junction),
        quote(by)
    );
    let raw = crate::lookup::Where::Raw(cond, vec![key], Some(vec![junction]));
    Ok(QuerySet::new().filter(Q::from_where(raw)))
}

/// The keys of `a` (`$1`) and of each of `bs`, with the placeholders of the latter.
fn keys<A: Model, B: Model>(a: &A, bs: &[&B]) -> Result<(Vec<Param>, Vec<String>)> {
    let mut params = vec![key(a)?];
    let mut placeholders = Vec::with_capacity(bs.len());
    for b in bs {
        params.push(key(*b)?);
        placeholders.push(format!("${}", params.len()));
    }
    Ok((params, placeholders))
}

/// The primary key of a saved instance, as a parameter.
fn key<M: Model>(m: &M) -> Result<Param> {
    let meta = M::meta();
    let unsaved = || {
        Error::Usage(format!(
            "{}: an unsaved instance (no primary key) cannot be linked",
            meta.name
        ))
    };
    let v = m.__field_ref(meta.pk_index).ok_or_else(unsaved)?;
    if crate::query::write::is_null(v) {
        return Err(unsaved());
    }
    m.__field_param(meta.pk_index).ok_or_else(unsaved)
}

/// Runs a write of the junction table `table`, then invalidates the query cache for it.
async fn execute(table: &str, sql: &str, params: Vec<Param>) -> Result<u64> {
    let alias = crate::db::resolve(None);
    let refs: Vec<&(dyn crate::ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn crate::ToSql + Sync))
        .collect();
    let mut conn = crate::db::connection(&alias).await?;
    let n = conn.get().execute(sql, &refs).await;
    drop(refs);
    drop(conn);
    crate::cache::note_write(&alias, &[table]).await;
    Ok(n?)
}
