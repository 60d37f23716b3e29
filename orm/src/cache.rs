//! The query cache: results of reads kept for a time-to-live, dropped on any write to a
//! table they read.
//!
//! Turn it on for a model with [`Meta::cache_ttl`](crate::Meta::cache_ttl), or for one
//! query with [`QuerySet::cache`](crate::QuerySet::cache) (and off with
//! [`QuerySet::no_cache`](crate::QuerySet::no_cache)). Entries are keyed by database alias,
//! SQL text and the bytes of every bind parameter, and hold the rows the server sent.
//!
//! **No stale reads within a process.** Every table a query reads is known when it is
//! compiled: its model's, the `select_related` joins', every subquery's and every relation
//! path's (`order_by("customer__name")`). A query with raw SQL in it reads tables nobody can
//! name, so it is never cached. Each table has a generation, bumped by every write the ORM
//! makes to it: saves, deletes (and the tables their cascades reached), `update`,
//! `bulk_create`, `bulk_update`, soft deletes and restores, many-to-many changes. Bulk
//! operations send no signals, but they do invalidate. An entry is used only while the
//! generations of all its tables are the ones it was filled at, and a result is stored only
//! if no write happened to its tables while the query ran. Inside [`atomic`](crate::atomic)
//! reads bypass the cache (they may see the transaction's own writes), and the tables a
//! transaction wrote are invalidated again when it commits (until then other connections
//! still see the old rows, which are correct for them).
//!
//! Not seen: writes by other processes (the TTL bounds how long they go unnoticed) and raw SQL
//! sent around the ORM; after those, call [`invalidate`] or [`clear`].
//!
//! ```
//! use std::time::Duration;
//! use hyperdjango_orm::prelude::*;
//! model! {
//!     #[table = "countries"]
//!     #[meta = Meta::new().cache_ttl(Duration::from_secs(60))]
//!     pub struct Country { pub code: String = Field::new().primary_key(), pub name: String }
//! }
//! # async fn f() -> hyperdjango_orm::Result<()> {
//! let _cached = Country::objects().all().await?;             // cached for 60 s
//! let _fresh = Country::objects().no_cache().all().await?;   // always asks the server
//! hyperdjango_orm::cache::invalidate("countries");           // after a raw write
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hyperdjango_pgwire::Row;
use hyperdjango_pgwire::types::IsNull;

use crate::compiler::Compiled;
use crate::expr::Node;
use crate::lookup::{Rhs, Where};
use crate::model::ModelMeta;
use crate::query::{Query, Select};

/// How many results the cache keeps (least recently used go first) unless
/// [`set_capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Whether a query uses the cache.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CachePolicy {
    /// As the model's `Meta::cache_ttl` says.
    #[default]
    Model,
    /// Cached for this long.
    Ttl(Duration),
    /// Never cached.
    Off,
}

#[derive(Hash, PartialEq, Eq)]
struct Key {
    alias: Arc<str>,
    sql: Arc<str>,
    params: Vec<u8>,
}

struct Entry {
    rows: Arc<Vec<Row>>,
    expires: Instant,
    tables: Vec<(Arc<str>, u64)>,
}

struct State {
    entries: lru::LruCache<Key, Entry>,
    generations: HashMap<Arc<str>, u64>,
}

impl State {
    fn generation(&self, table: &str) -> u64 {
        self.generations.get(table).copied().unwrap_or(0)
    }
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        Mutex::new(State {
            entries: lru::LruCache::new(
                NonZeroUsize::new(DEFAULT_CAPACITY).unwrap_or(NonZeroUsize::MIN),
            ),
            generations: HashMap::new(),
        })
    })
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    state().lock().unwrap_or_else(|e| e.into_inner())
}

static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);
static STORES: AtomicU64 = AtomicU64::new(0);

/// Counters of the cache since the process started.
///
/// ```
/// let s = hyperdjango_orm::cache::stats();
/// assert!(s.entries <= hyperdjango_orm::cache::DEFAULT_CAPACITY);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Cacheable reads that went to the server.
    pub misses: u64,
    /// Results stored.
    pub stores: u64,
    /// Entries held now (some may be invalid, waiting to be dropped).
    pub entries: usize,
}

/// The cache's counters.
pub fn stats() -> CacheStats {
    CacheStats {
        hits: HITS.load(Ordering::Relaxed),
        misses: MISSES.load(Ordering::Relaxed),
        stores: STORES.load(Ordering::Relaxed),
        entries: lock().entries.len(),
    }
}

/// Drops every cached result whose query read `table` (after a write the ORM did not make).
///
/// ```
/// hyperdjango_orm::cache::invalidate("products");
/// ```
pub fn invalidate(table: &str) {
    wrote([table]);
}

/// Drops every cached result.
///
/// ```
/// hyperdjango_orm::cache::clear();
/// assert_eq!(hyperdjango_orm::cache::stats().entries, 0);
/// ```
pub fn clear() {
    lock().entries.clear();
}

/// Sets how many results the cache keeps (at least one).
///
/// ```
/// hyperdjango_orm::cache::set_capacity(50_000);
/// ```
pub fn set_capacity(n: usize) {
    lock()
        .entries
        .resize(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN));
}

/// Bumps the generations of `tables`: results that read them are no longer used.
pub(crate) fn wrote<'a>(tables: impl IntoIterator<Item = &'a str>) {
    let mut s = lock();
    for t in tables {
        match s.generations.get_mut(t) {
            Some(g) => *g += 1,
            None => {
                s.generations.insert(Arc::from(t), 1);
            }
        }
    }
}

/// [`wrote`], also remembered by the open transaction on `alias` (if any) to be invalidated
/// again when it commits.
pub(crate) async fn note_write(alias: &Arc<str>, tables: &[&str]) {
    wrote(tables.iter().copied());
    if let Some(tx) = crate::transaction::current_tx(alias) {
        let mut g = tx.lock().await;
        for t in tables {
            if !g.written.iter().any(|w| w == t) {
                g.written.push((*t).to_string());
            }
        }
    }
}

/// The tables `q` reads, or `None` when it has raw SQL (whose tables are unknown).
pub(crate) fn tables_read(q: &Query) -> Option<Vec<&'static str>> {
    let mut out = Vec::new();
    query_tables(q, &mut out).then_some(out)
}

fn push(out: &mut Vec<&'static str>, table: &'static str) {
    if !out.contains(&table) {
        out.push(table);
    }
}

/// The tables along a relation path of `meta` (`customer__country__name`).
fn path_tables(meta: &'static ModelMeta, path: &str, out: &mut Vec<&'static str>) {
    let mut m = meta;
    for part in path.split("__") {
        match m.field(part).and_then(|f| f.relation) {
            Some(rel) => {
                m = (rel.target)();
                push(out, m.table);
            }
            None => break,
        }
    }
}

fn query_tables(q: &Query, out: &mut Vec<&'static str>) -> bool {
    push(out, q.model.table);
    for path in &q.related {
        path_tables(q.model, path, out);
    }
    if q.order.is_none() {
        // The model's default ordering may follow relations too.
        for term in &q.model.ordering {
            path_tables(q.model, term.trim_start_matches('-'), out);
        }
    }
    let m = q.model;
    let select_ok = match &q.select {
        Select::Model(_) => true,
        Select::Values(v) | Select::Custom(v) => v.iter().all(|(_, n)| node_tables(m, n, out)),
    };
    select_ok
        && q.annotations.iter().all(|(_, n)| node_tables(m, n, out))
        && q.distinct_on.iter().all(|n| node_tables(m, n, out))
        && q.order
            .iter()
            .flatten()
            .all(|t| node_tables(m, &t.node, out))
        && q.filters.iter().all(|w| where_tables(q.model, w, out))
        && q.combinator
            .as_ref()
            .is_none_or(|c| c.others.iter().all(|o| query_tables(o, out)))
}

fn where_tables(m: &'static ModelMeta, w: &Where, out: &mut Vec<&'static str>) -> bool {
    match w {
        Where::And(v) | Where::Or(v) | Where::Xor(v) => v.iter().all(|w| where_tables(m, w, out)),
        Where::Not(w) => where_tables(m, w, out),
        Where::Lookup { lhs, rhs, .. } => {
            node_tables(m, lhs, out)
                && match rhs {
                    Rhs::Node(n) => node_tables(m, n, out),
                    Rhs::List(l) => l.iter().all(|n| node_tables(m, n, out)),
                    Rhs::Pair(a, b) => node_tables(m, a, out) && node_tables(m, b, out),
                    Rhs::Query(q) => query_tables(q, out),
                    Rhs::Bool(_) => true,
                }
        }
        Where::Exists(q) => query_tables(q, out),
        Where::Const(_) | Where::Invalid(_) => true,
        Where::Raw(_, _, Some(tables)) => {
            for t in tables {
                push(out, t);
            }
            true
        }
        Where::Raw(_, _, None) => false,
    }
}

fn node_tables(m: &'static ModelMeta, n: &Node, out: &mut Vec<&'static str>) -> bool {
    match n {
        Node::Name(name) => {
            path_tables(m, name, out);
            true
        }
        Node::Binary(a, _, b) => node_tables(m, a, out) && node_tables(m, b, out),
        Node::Neg(a) | Node::Extract(_, a) | Node::Cast(a, _) => node_tables(m, a, out),
        Node::Func(_, args) | Node::Array(args) => args.iter().all(|a| node_tables(m, a, out)),
        Node::Agg { arg, filter, .. } => {
            arg.as_ref().is_none_or(|a| node_tables(m, a, out))
                && filter.as_ref().is_none_or(|w| where_tables(m, w, out))
        }
        Node::Case(whens, default) => {
            whens
                .iter()
                .all(|(w, n)| where_tables(m, w, out) && node_tables(m, n, out))
                && default.as_ref().is_none_or(|d| node_tables(m, d, out))
        }
        Node::Subquery(q) => query_tables(q, out),
        Node::Cond(w) => where_tables(m, w, out),
        Node::Raw(..) => false,
        Node::Field(_) | Node::Outer(_) | Node::Param(_) | Node::Null | Node::Random => true,
    }
}

/// A cacheable read being run: what to look up, and what to check when storing.
pub(crate) struct Lookup {
    key: Key,
    ttl: Duration,
    tables: Vec<(Arc<str>, u64)>,
}

/// The cache entry of `c` on `alias` if it is valid (a hit), or what [`store`] needs after
/// running it (a miss). `None`: `c` is not cacheable (a parameter that cannot be encoded).
pub(crate) fn lookup(
    alias: &Arc<str>,
    c: &Compiled,
    tables: &[&'static str],
    ttl: Duration,
) -> Option<Result<Arc<Vec<Row>>, Lookup>> {
    let mut params = Vec::new();
    for p in &c.params {
        let ty = p.sql_type();
        params.extend_from_slice(&ty.oid().to_be_bytes());
        let mut buf = hyperdjango_pgwire::__private::BytesMut::new();
        match p.to_sql(&ty, &mut buf) {
            Ok(IsNull::Yes) => params.push(0),
            Ok(IsNull::No) => {
                params.push(1);
                params.extend_from_slice(&(buf.len() as u64).to_be_bytes());
                params.extend_from_slice(&buf);
            }
            Err(_) => return None,
        }
    }
    let key = Key {
        alias: alias.clone(),
        sql: c.sql.clone(),
        params,
    };
    let mut s = lock();
    let now = Instant::now();
    let valid = match s.entries.peek(&key) {
        Some(e) => e.expires > now && e.tables.iter().all(|(t, g)| s.generation(t) == *g),
        None => false,
    };
    if valid {
        if let Some(e) = s.entries.get(&key) {
            HITS.fetch_add(1, Ordering::Relaxed);
            return Some(Ok(e.rows.clone()));
        }
    }
    s.entries.pop(&key);
    MISSES.fetch_add(1, Ordering::Relaxed);
    let tables = tables
        .iter()
        .map(|t| {
            let g = s.generation(t);
            (Arc::from(*t), g)
        })
        .collect();
    Some(Err(Lookup { key, ttl, tables }))
}

/// Stores the rows of a missed read, unless one of its tables was written while it ran.
pub(crate) fn store(l: Lookup, rows: Arc<Vec<Row>>) {
    let mut s = lock();
    if l.tables.iter().any(|(t, g)| s.generation(t) != *g) {
        return;
    }
    STORES.fetch_add(1, Ordering::Relaxed);
    s.entries.put(
        l.key,
        Entry {
            rows,
            expires: Instant::now() + l.ttl,
            tables: l.tables,
        },
    );
}
