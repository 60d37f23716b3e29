//! The terminal methods that read: all, get, first, last, count, exists, latest, earliest,
//! in_bulk, values, values_list, aggregate, iterator, explain, raw.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use hyperdjango_pgwire::Row;
use hyperdjango_pgwire::types::FromSqlOwned;

use crate::compiler::{self, Compiled};
use crate::db::{self, connection};
use crate::error::{Error, Result};
use crate::expr::{IntoExpr, Node, Param};
use crate::lookup::Q;
use crate::model::Model;
use crate::query::{OrderTerm, QuerySet, Select};

/// A row of `values()`: read columns by name with `get`.
pub type Values = Row;

/// Decoding a row into a tuple (for `values_list`).
///
/// ```
/// fn f<T: hyperdjango_orm::FromRow>() {}
/// f::<(i32, String)>();
/// ```
pub trait FromRow: Sized {
    /// Decodes the row.
    fn from_row(row: &Row) -> Result<Self>;
}

macro_rules! tuple_from_row {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<$($t: FromSqlOwned),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self> {
                Ok(($(row.get::<usize, $t>($i)?,)+))
            }
        }
    )*};
}
tuple_from_row! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

pub(crate) async fn run(alias: &Arc<str>, c: &Compiled) -> Result<Vec<Row>> {
    let mut conn = connection(alias).await?;
    conn.get()
        .query(&*c.sql, &c.refs())
        .await
        .map_err(|e| c.map_err(e.into()))
}

/// Runs `c` and hands each row to `f` as it is read (no `Vec<Row>` in between).
pub(crate) async fn run_each<F>(alias: &Arc<str>, c: &Compiled, f: F) -> Result<u64>
where
    F: FnMut(Row) -> Result<()> + Send,
{
    let mut conn = connection(alias).await?;
    conn.get()
        .query_each(&*c.sql, &c.refs(), f)
        .await
        .map_err(|e| c.map_err(e))
}

pub(crate) async fn run_execute(alias: &Arc<str>, c: &Compiled) -> Result<u64> {
    let mut conn = connection(alias).await?;
    conn.get()
        .execute(&*c.sql, &c.refs())
        .await
        .map_err(|e| c.map_err(e.into()))
}

/// The row map of a model select.
fn row_map<M: Model>(select: &Select) -> std::borrow::Cow<'static, [Option<usize>]> {
    let meta = M::meta();
    match select {
        Select::Model(Some(idx)) => {
            let mut map = vec![None; meta.fields.len()];
            for (pos, &i) in idx.iter().enumerate() {
                map[i] = Some(pos);
            }
            std::borrow::Cow::Owned(map)
        }
        _ => std::borrow::Cow::Borrowed(&meta.all_map),
    }
}

/// An async iterator over model instances, fetched in chunks through a server-side portal
/// (see [`QuerySet::iterator`]).
pub struct ModelIter<M> {
    rx: tokio::sync::mpsc::Receiver<Result<M>>,
}

impl<M> ModelIter<M> {
    /// The next instance, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<M>> {
        self.rx.recv().await
    }
}

impl<M: Model> QuerySet<M> {
    /// Where reads go: `.using`, Meta.database, the routers, the scope, `default`.
    fn alias(&self) -> Arc<str> {
        match &self.db {
            Some(a) => a.clone(),
            None => crate::router::read_alias(M::meta()).unwrap_or_else(|| db::resolve(None)),
        }
    }

    /// Where writes go: `.using`, Meta.database, the routers, the scope, `default`.
    pub(crate) fn write_alias(&self) -> Arc<str> {
        match &self.db {
            Some(a) => a.clone(),
            None => crate::router::write_alias(M::meta()).unwrap_or_else(|| db::resolve(None)),
        }
    }

    /// How long this query's results may be cached when read on `alias` (`None`: not at
    /// all: no TTL, a row lock, or inside a transaction, whose reads may see its own writes).
    fn cache_ttl(&self, alias: &Arc<str>) -> Option<std::time::Duration> {
        use crate::cache::CachePolicy;
        let ttl = match self.query.cache {
            CachePolicy::Off => None,
            CachePolicy::Ttl(t) => Some(t),
            CachePolicy::Model => M::meta().cache_ttl,
        }?;
        if self.query.lock.is_some() || crate::transaction::current_tx(alias).is_some() {
            return None;
        }
        Some(ttl)
    }

    /// Runs `c` (compiled from this queryset) through the query cache when it applies.
    async fn read(&self, alias: &Arc<str>, c: &Compiled) -> Result<Vec<Row>> {
        let Some(ttl) = self.cache_ttl(alias) else {
            return run(alias, c).await;
        };
        let Some(tables) = crate::cache::tables_read(&self.query) else {
            return run(alias, c).await;
        };
        match crate::cache::lookup(alias, c, &tables, ttl) {
            None => run(alias, c).await,
            Some(Ok(rows)) => Ok(rows.as_ref().clone()),
            Some(Err(miss)) => {
                let rows = run(alias, c).await?;
                crate::cache::store(miss, Arc::new(rows.clone()));
                Ok(rows)
            }
        }
    }

    fn model_select(&self) -> Result<()> {
        match self.query.select {
            Select::Model(_) => Ok(()),
            _ => Err(Error::Usage(format!(
                "{}: this queryset selects values; fetch it with fetch_values or values_list",
                M::meta().name
            ))),
        }
    }

    fn decode(&self, rows: &[Row], alias: &Arc<str>) -> Result<Vec<M>> {
        let map = row_map::<M>(&self.query.select);
        let related = self.related_nodes()?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut m = M::__decode(row, &map)?;
            for node in &related {
                m.__load_related(row, node)?;
            }
            m.state_mut().db = Some(alias.clone());
            out.push(m);
        }
        Ok(out)
    }

    /// Fetches every matching instance.
    pub async fn all(&self) -> Result<Vec<M>> {
        self.model_select()?;
        let c = compiler::compile_select(&self.query)?;
        let alias = self.alias();
        if self.cache_ttl(&alias).is_some() {
            let rows = self.read(&alias, &c).await?;
            return self.decode(&rows, &alias);
        }
        self.fetch_models(&alias, &c).await
    }

    /// Runs a compiled model select, decoding each row into an instance as it is read.
    async fn fetch_models(&self, alias: &Arc<str>, c: &Compiled) -> Result<Vec<M>> {
        let map = row_map::<M>(&self.query.select);
        let related = self.related_nodes()?;
        let mut out = Vec::new();
        run_each(alias, c, |row| {
            let mut m = M::__decode(&row, &map)?;
            for node in &related {
                m.__load_related(&row, node)?;
            }
            m.state_mut().db = Some(alias.clone());
            out.push(m);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// The `select_related` tree (empty without one).
    fn related_nodes(&self) -> Result<Vec<crate::relations::RelatedNode>> {
        if self.query.related.is_empty() {
            return Ok(Vec::new());
        }
        compiler::related_nodes(&self.query)
    }

    /// Fetches the raw rows of whatever the queryset selects (instances' columns and
    /// annotations, or values).
    pub async fn rows(&self) -> Result<Vec<Row>> {
        let c = compiler::compile_select(&self.query)?;
        self.read(&self.alias(), &c).await
    }

    /// Fetches instances with their annotations: each instance with its row, from which
    /// annotations are read by name.
    pub async fn all_annotated(&self) -> Result<Vec<(M, Row)>> {
        self.model_select()?;
        let c = compiler::compile_select(&self.query)?;
        let alias = self.alias();
        let rows = self.read(&alias, &c).await?;
        let models = self.decode(&rows, &alias)?;
        Ok(models.into_iter().zip(rows).collect())
    }

    /// Fetches the rows of `values()`, read by name: `row.get::<_, String>("name")`.
    pub async fn fetch_values(&self) -> Result<Vec<Values>> {
        if !matches!(self.query.select, Select::Values(_)) {
            return Err(Error::Usage(format!(
                "{}: fetch_values needs values(&[...]) first",
                M::meta().name
            )));
        }
        self.rows().await
    }

    /// Fetches the named fields or annotations as tuples (Django's `values_list`).
    pub async fn values_list<T: FromRow>(&self, fields: &[&str]) -> Result<Vec<T>> {
        let rows = self.values(fields).rows().await?;
        rows.iter().map(T::from_row).collect()
    }

    /// Fetches one field or annotation as a flat list (`values_list(flat=True)`).
    pub async fn values_list_flat<T: FromSqlOwned>(&self, field: &str) -> Result<Vec<T>> {
        let rows = self.values(&[field]).rows().await?;
        rows.iter()
            .map(|r| r.get::<usize, T>(0).map_err(Error::from))
            .collect()
    }

    /// The one instance matching `q`: [`Error::DoesNotExist`] if none,
    /// [`Error::MultipleObjectsReturned`] if more.
    pub async fn get(&self, q: Q<M>) -> Result<M> {
        self.filter(q).into_one().await
    }

    /// The one instance of this queryset (Django's `get()` with no arguments).
    pub async fn get_one(&self) -> Result<M> {
        self.clone().into_one().await
    }

    /// [`QuerySet::get_one`] on an owned queryset (no clone).
    async fn into_one(mut self) -> Result<M> {
        if self.query.limit.is_none() {
            self.query.limit = Some(21);
        }
        let mut v = self.all().await?;
        match v.len() {
            0 => Err(Error::DoesNotExist {
                model: M::meta().name,
            }),
            1 => Ok(v.pop().expect("one")),
            n => Err(Error::MultipleObjectsReturned {
                model: M::meta().name,
                count: n,
            }),
        }
    }

    fn pk_order(&self) -> Vec<OrderTerm> {
        let o = self.effective_order();
        if o.is_empty() {
            vec![OrderTerm {
                node: Node::Field(M::meta().pk_index),
                desc: false,
                nulls: None,
            }]
        } else {
            o
        }
    }

    /// The first instance (by the order, or by primary key), or `None`.
    pub async fn first(&self) -> Result<Option<M>> {
        let mut qs = self.clone();
        qs.query.order = Some(self.pk_order());
        Ok(qs.limit(1).all().await?.pop())
    }

    /// The last instance (by the order reversed, or by primary key descending), or `None`.
    pub async fn last(&self) -> Result<Option<M>> {
        let mut qs = self.clone();
        qs.query.order = Some(self.pk_order());
        Ok(qs.reverse().limit(1).all().await?.pop())
    }

    fn latest_field(&self, field: Option<&str>) -> Result<String> {
        match field
            .map(str::to_string)
            .or_else(|| M::meta().get_latest_by.clone())
        {
            Some(f) => Ok(f),
            None => Err(Error::Usage(format!(
                "{}: latest() and earliest() need a field or Meta.get_latest_by",
                M::meta().name
            ))),
        }
    }

    /// The latest instance by `field` (or Meta.get_latest_by); `DoesNotExist` if none.
    pub async fn latest(&self, field: Option<&str>) -> Result<M> {
        let f = self.latest_field(field)?;
        let term = OrderTerm::parse(&f);
        let mut qs = self.clone();
        qs.query.order = Some(vec![OrderTerm {
            desc: !term.desc,
            ..term
        }]);
        qs.limit(1).all().await?.pop().ok_or(Error::DoesNotExist {
            model: M::meta().name,
        })
    }

    /// The earliest instance by `field` (or Meta.get_latest_by); `DoesNotExist` if none.
    pub async fn earliest(&self, field: Option<&str>) -> Result<M> {
        let f = self.latest_field(field)?;
        let mut qs = self.clone();
        qs.query.order = Some(vec![OrderTerm::parse(&f)]);
        qs.limit(1).all().await?.pop().ok_or(Error::DoesNotExist {
            model: M::meta().name,
        })
    }

    /// The number of matching rows.
    pub async fn count(&self) -> Result<i64> {
        let q = &self.query;
        let c = if q.limit.is_some()
            || q.offset.is_some()
            || q.distinct
            || q.combinator.is_some()
            || q.grouped()
        {
            let inner = compiler::compile_select(q)?;
            Compiled {
                sql: format!("SELECT COUNT(*) FROM ({}) AS \"sub\"", inner.sql).into(),
                ..inner
            }
        } else {
            let mut q = q.clone();
            q.order = Some(Vec::new());
            compiler::compile_custom(
                &q,
                vec![(
                    "count".into(),
                    Node::Agg {
                        func: "COUNT",
                        distinct: false,
                        arg: None,
                        filter: None,
                    },
                )],
            )?
        };
        let rows = self.read(&self.alias(), &c).await?;
        Ok(rows
            .first()
            .map(|r| r.get::<usize, i64>(0))
            .transpose()?
            .unwrap_or(0))
    }

    /// Whether any row matches.
    pub async fn exists(&self) -> Result<bool> {
        let mut q = self.query.clone();
        q.order = Some(Vec::new());
        if q.combinator.is_some() || q.distinct || q.grouped() {
            return Ok(self.count().await? > 0);
        }
        q.limit = Some(1);
        let c =
            compiler::compile_custom(&q, vec![("one".into(), Node::Raw("1".into(), Vec::new()))])?;
        Ok(!self.read(&self.alias(), &c).await?.is_empty())
    }

    /// The instances whose primary key is in `ids`, keyed by it.
    pub async fn in_bulk<K>(&self, ids: impl IntoIterator<Item = K>) -> Result<HashMap<K, M>>
    where
        K: FromSqlOwned + hyperdjango_pgwire::ToSql + Send + Sync + Clone + Eq + Hash + 'static,
    {
        let meta = M::meta();
        let list: Vec<Node> = ids.into_iter().map(|k| Node::Param(Arc::new(k))).collect();
        let qs = self.filter_where(crate::lookup::Where::Lookup {
            lhs: Node::Field(meta.pk_index),
            op: crate::lookup::Lookup::In,
            rhs: crate::lookup::Rhs::List(list),
        });
        let mut qs = qs.clone();
        qs.query.order = Some(Vec::new());
        let c = compiler::compile_select(&qs.query)?;
        let alias = self.alias();
        let map = row_map::<M>(&qs.query.select);
        let pk_col = map[meta.pk_index].unwrap_or(0);
        let mut out = HashMap::new();
        run_each(&alias, &c, |row| {
            let k: K = row.get(pk_col)?;
            let mut m = M::__decode(&row, &map)?;
            m.state_mut().db = Some(alias.clone());
            out.insert(k, m);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// One aggregate over the matching rows, read as `R` (use `Option<R>` where it can be
    /// NULL, e.g. the Sum of no rows).
    pub async fn aggregate<R: FromSqlOwned, B>(&self, e: impl IntoExpr<M, B>) -> Result<R> {
        let node = e.into_expr().node;
        let row = self.aggregate_row(vec![("agg".into(), node)]).await?;
        Ok(row.get::<usize, R>(0)?)
    }

    /// Several aggregates at once, read from the row by name.
    pub async fn aggregates(
        &self,
        aggs: Vec<(&str, crate::expr::Expr<M, crate::expr::Dyn>)>,
    ) -> Result<Row> {
        self.aggregate_row(
            aggs.into_iter()
                .map(|(n, e)| (n.to_string(), e.node))
                .collect(),
        )
        .await
    }

    async fn aggregate_row(&self, select: Vec<(String, Node)>) -> Result<Row> {
        let q = &self.query;
        let c = if q.limit.is_some()
            || q.offset.is_some()
            || q.distinct
            || q.combinator.is_some()
            || q.grouped()
        {
            return Err(Error::Usage(format!(
                "{}: aggregate over a sliced, distinct, combined or grouped queryset is not supported",
                M::meta().name
            )));
        } else {
            let mut q = q.clone();
            q.order = Some(Vec::new());
            compiler::compile_custom(&q, select)?
        };
        let mut rows = run(&self.alias(), &c).await?;
        rows.pop()
            .ok_or_else(|| Error::Usage("aggregate returned no row".into()))
    }

    /// A server-side cursor: the rows come `chunk` at a time through a portal, decoded into
    /// instances as they arrive, so memory stays bounded however many rows match. The
    /// connection is held until the iterator ends or is dropped.
    pub fn iterator(&self, chunk: u32) -> ModelIter<M> {
        let chunk = chunk.max(1);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<M>>(chunk as usize);
        let qs = self.clone();
        let alias = self.alias();
        let compiled = self
            .model_select()
            .and_then(|_| compiler::compile_select(&self.query));
        let conn = crate::transaction::current_tx(&alias);
        tokio::spawn(async move {
            let c = match compiled {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let mut conn = match conn {
                Some(t) => db::Conn::Tx(t.lock_owned().await),
                None => match db::database(&alias) {
                    Ok(p) => match p.acquire().await {
                        Ok(c) => db::Conn::Pooled(Box::new(c)),
                        Err(e) => {
                            let _ = tx.send(Err(e.into())).await;
                            return;
                        }
                    },
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                },
            };
            let refs = c.refs();
            let mut stream = match conn.get().query_portal(&*c.sql, &refs, chunk).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            let map = row_map::<M>(&qs.query.select);
            while let Some(row) = stream.next().await {
                let item = row.map_err(Error::from).and_then(|r| {
                    let mut m = M::__decode(&r, &map)?;
                    m.state_mut().db = Some(alias.clone());
                    Ok(m)
                });
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    return;
                }
            }
        });
        ModelIter { rx }
    }

    /// The server's plan (`EXPLAIN`, with options such as `"ANALYZE, FORMAT JSON"`; the
    /// options are SQL text, not user input).
    pub async fn explain(&self, options: &str) -> Result<String> {
        let c = compiler::compile_explain(&self.query, options)?;
        let rows = run(&self.alias(), &c).await?;
        let lines: Vec<String> = rows
            .iter()
            .map(|r| r.get::<usize, String>(0))
            .collect::<std::result::Result<_, _>>()?;
        Ok(lines.join("\n"))
    }

    /// Raw SQL (trusted text, no parameters) on this queryset's database, or the
    /// transaction's connection: the rows as they come.
    pub async fn raw_rows(&self, sql: &str) -> Result<Vec<Row>> {
        let c = Compiled {
            sql: sql.into(),
            params: Vec::new(),
            regex_fields: Vec::new(),
            model: M::meta().name,
        };
        run(&self.alias(), &c).await
    }

    /// Raw SQL into instances: columns are matched to fields by name (missing ones are
    /// deferred). `params` are bind parameters (`$1`, `$2`, ...).
    pub async fn raw(&self, sql: &str, params: Vec<Param>) -> Result<Vec<M>> {
        let alias = self.alias();
        let c = Compiled {
            sql: sql.into(),
            params,
            regex_fields: Vec::new(),
            model: M::meta().name,
        };
        let mut map = None;
        let mut out = Vec::new();
        run_each(&alias, &c, |row| {
            let map = map.get_or_insert_with(|| crate::instance::name_map::<M>(&row));
            let mut m = M::__decode(&row, map)?;
            m.state_mut().db = Some(alias.clone());
            out.push(m);
            Ok(())
        })
        .await?;
        Ok(out)
    }
}
