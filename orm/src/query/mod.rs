//! QuerySets: lazy, immutable queries over a model.
//!
//! Every builder method returns a new [`QuerySet`]; nothing runs until a terminal method
//! (`all`, `get`, `count`, `update`, ...) is awaited. [`QuerySet::to_sql`] shows the SQL and
//! parameters without running anything.

pub(crate) mod exec;
pub(crate) mod write;

use std::marker::PhantomData;
use std::sync::Arc;

use crate::expr::{IntoExpr, IntoOrdering, Node};
use crate::lookup::{Q, Where};
use crate::model::{Model, ModelMeta};

pub use exec::{FromRow, Values};
pub use write::{BulkOptions, Conflict};

/// An ORDER BY term, untyped.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct OrderTerm {
    pub(crate) node: Node,
    pub(crate) desc: bool,
    pub(crate) nulls: Option<bool>,
}

impl OrderTerm {
    pub(crate) fn parse(s: &str) -> OrderTerm {
        if s == "?" {
            return OrderTerm {
                node: Node::Random,
                desc: false,
                nulls: None,
            };
        }
        let (desc, name) = match s.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, s),
        };
        OrderTerm {
            node: Node::Name(name.to_string()),
            desc,
            nulls: None,
        }
    }
}

/// What a query selects.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub enum Select {
    /// Model instances: the loaded fields (`None`: all).
    Model(Option<Vec<usize>>),
    /// Named expressions (values/values_list): (output name, expression).
    Values(Vec<(String, Node)>),
    /// `SELECT COUNT(*)`, `SELECT 1`, aggregates...: given by the terminal method.
    Custom(Vec<(String, Node)>),
}

/// Row locking (`select_for_update`).
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct Lock {
    pub(crate) nowait: bool,
    pub(crate) skip_locked: bool,
    pub(crate) of: Vec<String>,
    pub(crate) no_key: bool,
}

/// A set operation.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct Combinator {
    pub(crate) op: &'static str,
    pub(crate) all: bool,
    pub(crate) others: Vec<Query>,
}

/// The untyped query a QuerySet builds.
#[doc(hidden)]
#[derive(Clone)]
pub struct Query {
    pub(crate) model: &'static ModelMeta,
    pub(crate) filters: Vec<Where>,
    pub(crate) order: Option<Vec<OrderTerm>>,
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
    pub(crate) distinct: bool,
    pub(crate) distinct_on: Vec<Node>,
    pub(crate) select: Select,
    pub(crate) annotations: Vec<(String, Node)>,
    pub(crate) lock: Option<Lock>,
    pub(crate) combinator: Option<Combinator>,
    pub(crate) errors: Vec<Arc<crate::Error>>,
    /// How many of the first `filters` are the mixins' default filters (`unscoped`).
    pub(crate) scope: usize,
    /// Foreign keys to load with JOINs (`select_related`), as `a__b` paths.
    pub(crate) related: Vec<String>,
    /// Whether results come from the query cache.
    pub(crate) cache: crate::cache::CachePolicy,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Query({})", self.model.name)
    }
}

impl Query {
    pub(crate) fn new(model: &'static ModelMeta) -> Query {
        Query {
            model,
            filters: Vec::new(),
            order: None,
            limit: None,
            offset: None,
            distinct: false,
            distinct_on: Vec::new(),
            select: Select::Model(None),
            annotations: Vec::new(),
            lock: None,
            combinator: None,
            errors: Vec::new(),
            scope: 0,
            related: Vec::new(),
            cache: crate::cache::CachePolicy::Model,
        }
    }

    /// Whether the result is grouped (an aggregate among the annotations).
    pub(crate) fn grouped(&self) -> bool {
        self.annotations.iter().any(|(_, n)| n.has_aggregate())
    }
}

/// A lazy, immutable query over model `M`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product {
///         pub id: Auto<i32> = Field::new().primary_key(),
///         pub name: String = Field::new(),
///         pub price: f64 = Field::new(),
///         pub is_active: bool = Field::new(),
///     }
/// }
/// let qs = Product::objects()
///     .filter(Product::price.lt(10.0) & Product::is_active.eq(true))
///     .order_by(Product::name.desc())
///     .limit(10);
/// let (sql, params) = qs.to_sql().unwrap();
/// assert_eq!(
///     sql,
///     r#"SELECT "products"."id", "products"."name", "products"."price", "products"."is_active" FROM "products" WHERE ("products"."price" < $1 AND "products"."is_active" = $2) ORDER BY "products"."name" DESC LIMIT $3"#
/// );
/// assert_eq!(params.len(), 3);
/// ```
pub struct QuerySet<M> {
    pub(crate) query: Query,
    pub(crate) db: Option<Arc<str>>,
    _t: PhantomData<fn() -> M>,
}

impl<M> Clone for QuerySet<M> {
    fn clone(&self) -> Self {
        QuerySet {
            query: self.query.clone(),
            db: self.db.clone(),
            _t: PhantomData,
        }
    }
}

impl<M: Model> Default for QuerySet<M> {
    fn default() -> Self {
        QuerySet::new()
    }
}

impl<M: Model> QuerySet<M> {
    /// Every row of the model (what `M::objects()` returns).
    pub fn new() -> Self {
        let meta = M::meta();
        let mut query = Query::new(meta);
        if meta.soft_delete.is_some() || meta.owner.is_some() {
            query.filters = crate::mixins::scope_filters(meta);
            query.scope = query.filters.len();
        }
        QuerySet {
            query,
            db: None,
            _t: PhantomData,
        }
    }

    fn with(&self, f: impl FnOnce(&mut Query)) -> Self {
        let mut qs = self.clone();
        f(&mut qs.query);
        qs
    }

    pub(crate) fn into_query(self) -> Query {
        self.query
    }

    pub(crate) fn filter_where(&self, w: Where) -> Self {
        self.with(|q| q.filters.push(w))
    }

    /// The same rows (Django's `all()` as a QuerySet; see [`QuerySet::all`] to fetch).
    pub fn clone_qs(&self) -> Self {
        self.clone()
    }

    /// Keeps the rows matching `q`.
    pub fn filter(&self, q: Q<M>) -> Self {
        self.filter_where(q.into_where())
    }

    /// Keeps the rows not matching `q`.
    pub fn exclude(&self, q: Q<M>) -> Self {
        self.filter_where(Where::Not(Box::new(q.into_where())))
    }

    /// Loads the objects these foreign keys point at in the same query, with JOINs (LEFT
    /// JOIN where a key in the path is nullable): `"customer"`, or `"author__publisher"`
    /// through several. Their fields then answer `get()`. A name that is not a foreign key
    /// is an error (reported when the query runs) naming the model and the name.
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// use hyperdjango_orm::relations::ForeignKey;
    /// model! { #[derive(Debug, Clone)] #[table = "authors"] pub struct Author { pub id: Auto<i64> = Field::new().primary_key(), pub name: String } }
    /// model! { #[derive(Debug, Clone)] #[table = "books"] pub struct Book { pub id: Auto<i64> = Field::new().primary_key(), pub author: ForeignKey<Author> } }
    /// let (sql, _) = Book::objects().select_related(["author"]).to_sql()?;
    /// assert!(sql.contains(r#"INNER JOIN "authors" AS "sr1" ON "sr1"."id" = "books"."author_id""#), "{sql}");
    /// assert!(Book::objects().select_related(["title"]).to_sql().is_err());
    /// # Ok::<(), hyperdjango_orm::Error>(())
    /// ```
    pub fn select_related<const N: usize>(&self, paths: [&str; N]) -> Self {
        let meta = M::meta();
        self.with(|q| {
            for p in paths {
                match crate::relations::related_tree(meta, &[p.to_string()], 0) {
                    Ok(_) => {
                        if !q.related.iter().any(|r| r == p) {
                            q.related.push(p.to_string());
                        }
                    }
                    Err(e) => q.errors.push(Arc::new(e)),
                }
            }
        })
    }

    /// The order (replacing any earlier one and the model's default).
    pub fn order_by(&self, ordering: impl IntoOrdering<M>) -> Self {
        let terms = ordering.into_terms();
        self.with(|q| q.order = Some(terms))
    }

    /// No order at all (not even the model's default).
    pub fn unordered(&self) -> Self {
        self.with(|q| q.order = Some(Vec::new()))
    }

    /// The order reversed.
    pub fn reverse(&self) -> Self {
        let terms = self.effective_order();
        self.with(|q| {
            q.order = Some(
                terms
                    .into_iter()
                    .map(|mut t| {
                        t.desc = !t.desc;
                        t.nulls = t.nulls.map(|n| !n);
                        t
                    })
                    .collect(),
            )
        })
    }

    pub(crate) fn effective_order(&self) -> Vec<OrderTerm> {
        match &self.query.order {
            Some(o) => o.clone(),
            None => self
                .query
                .model
                .ordering
                .iter()
                .map(|s| OrderTerm::parse(s))
                .collect(),
        }
    }

    /// At most `n` rows (`LIMIT`).
    pub fn limit(&self, n: i64) -> Self {
        self.with(|q| q.limit = Some(n.max(0)))
    }

    /// Skips `n` rows (`OFFSET`).
    pub fn offset(&self, n: i64) -> Self {
        self.with(|q| q.offset = Some(n.max(0)))
    }

    /// Rows `range.start..range.end` (Django's slicing `qs[5:10]`).
    pub fn slice(&self, range: std::ops::Range<i64>) -> Self {
        self.offset(range.start)
            .limit((range.end - range.start).max(0))
    }

    /// `SELECT DISTINCT`.
    pub fn distinct(&self) -> Self {
        self.with(|q| q.distinct = true)
    }

    /// `SELECT DISTINCT ON (fields)` (the order must start with them, as PostgreSQL requires).
    pub fn distinct_on(&self, fields: &[&str]) -> Self {
        let nodes = fields.iter().map(|f| Node::Name(f.to_string())).collect();
        self.with(|q| {
            q.distinct = true;
            q.distinct_on = nodes;
        })
    }

    /// Adds a named expression to each row (Django's `annotate`). An aggregate groups: by the
    /// primary key for model rows, by the `values` columns after [`values`](Self::values).
    pub fn annotate<B>(&self, name: &str, e: impl IntoExpr<M, B>) -> Self {
        let node = e.into_expr().node;
        let name = name.to_string();
        self.with(|q| {
            if q.model.field(&name).is_some() {
                q.errors.push(Arc::new(crate::Error::field(
                    q.model.name,
                    name.clone(),
                    "an annotation cannot have a field's name",
                )));
            }
            q.annotations.push((name.clone(), node.clone()));
            if let Select::Values(v) = &mut q.select {
                v.push((name.clone(), Node::Name(name)));
            }
        })
    }

    /// Selects named fields or annotations instead of model instances (Django's `values`);
    /// fetch with [`fetch_values`](Self::fetch_values) (maps by name) or
    /// [`values_list`](Self::values_list) (tuples). Followed by `annotate` with an
    /// aggregate, it groups by these columns.
    pub fn values(&self, fields: &[&str]) -> Self {
        let v: Vec<(String, Node)> = fields
            .iter()
            .map(|f| (f.to_string(), Node::Name(f.to_string())))
            .collect();
        self.with(|q| q.select = Select::Values(v))
    }

    /// Loads only these fields (and the primary key); the others are deferred.
    pub fn only(&self, fields: &[&str]) -> Self {
        let meta = M::meta();
        let mut idx = vec![meta.pk_index];
        let mut errors = Vec::new();
        for f in fields {
            match meta.field(f) {
                Some(fm) => idx.push(fm.index),
                None => errors.push(Arc::new(meta.no_such_field(f))),
            }
        }
        idx.sort_unstable();
        idx.dedup();
        self.with(|q| {
            q.select = Select::Model(Some(idx));
            q.errors.extend(errors);
        })
    }

    /// Defers these fields: they are not loaded (they hold their type's zero) and
    /// `get_deferred_fields` names them.
    pub fn defer(&self, fields: &[&str]) -> Self {
        let meta = M::meta();
        let mut errors = Vec::new();
        for f in fields {
            if meta.field(f).is_none() {
                errors.push(Arc::new(meta.no_such_field(f)));
            }
        }
        let current: Vec<usize> = match &self.query.select {
            Select::Model(Some(v)) => v.clone(),
            _ => (0..meta.fields.len()).collect(),
        };
        let idx: Vec<usize> = current
            .into_iter()
            .filter(|&i| i == meta.pk_index || !fields.contains(&meta.fields[i].name))
            .collect();
        self.with(|q| {
            q.select = Select::Model(Some(idx));
            q.errors.extend(errors);
        })
    }

    /// Locks the rows (`FOR UPDATE`); run inside [`atomic`](crate::atomic).
    pub fn select_for_update(&self) -> Self {
        self.with(|q| q.lock = Some(Lock::default()))
    }

    /// Locks the rows with options: `nowait`, `skip_locked`, `of` (tables by model name or
    /// `self`), and `no_key` (`FOR NO KEY UPDATE`).
    pub fn select_for_update_with(
        &self,
        nowait: bool,
        skip_locked: bool,
        of: &[&str],
        no_key: bool,
    ) -> Self {
        let lock = Lock {
            nowait,
            skip_locked,
            of: of.iter().map(|s| s.to_string()).collect(),
            no_key,
        };
        self.with(|q| q.lock = Some(lock))
    }

    fn combine(&self, op: &'static str, all: bool, others: Vec<QuerySet<M>>) -> Self {
        let others = others.into_iter().map(|o| o.query).collect();
        self.with(|q| q.combinator = Some(Combinator { op, all, others }))
    }

    /// `UNION` (`all`: `UNION ALL`) with other querysets of the same model.
    pub fn union(&self, others: impl IntoIterator<Item = QuerySet<M>>, all: bool) -> Self {
        self.combine("UNION", all, others.into_iter().collect())
    }

    /// `INTERSECT` with other querysets.
    pub fn intersection(&self, others: impl IntoIterator<Item = QuerySet<M>>) -> Self {
        self.combine("INTERSECT", false, others.into_iter().collect())
    }

    /// `EXCEPT`: the rows not in the others.
    pub fn difference(&self, others: impl IntoIterator<Item = QuerySet<M>>) -> Self {
        self.combine("EXCEPT", false, others.into_iter().collect())
    }

    /// Caches this query's results for `ttl` (see [`crate::cache`]), whatever the model's
    /// `Meta::cache_ttl` says.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hyperdjango_orm::prelude::*;
    /// model! { #[table = "countries"] pub struct Country { pub code: String = Field::new().primary_key() } }
    /// let _qs = Country::objects().cache(Duration::from_secs(30));
    /// ```
    pub fn cache(&self, ttl: std::time::Duration) -> Self {
        self.with(|q| q.cache = crate::cache::CachePolicy::Ttl(ttl))
    }

    /// Never answers this query from the cache, even on a model with `Meta::cache_ttl`.
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// model! { #[table = "countries"] pub struct Country { pub code: String = Field::new().primary_key() } }
    /// let _qs = Country::objects().no_cache();
    /// ```
    pub fn no_cache(&self) -> Self {
        self.with(|q| q.cache = crate::cache::CachePolicy::Off)
    }

    /// Runs on the database registered as `alias` instead of the default.
    pub fn using(&self, alias: &str) -> Self {
        let mut qs = self.clone();
        qs.db = Some(Arc::from(alias));
        qs
    }

    /// The SQL and parameters of the SELECT this queryset runs.
    pub fn to_sql(&self) -> crate::Result<(String, Vec<crate::Param>)> {
        let c = crate::compiler::compile_select(&self.query)?;
        Ok((c.sql.to_string(), c.params))
    }
}
