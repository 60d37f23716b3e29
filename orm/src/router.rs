//! Multi-database routing: which database alias a model's reads and writes use.
//!
//! The alias of an ORM call is, in order of precedence:
//!
//! 1. the one the call names: `.using(alias)` or `SaveOptions::using`;
//! 2. the model's `Meta::database`;
//! 3. the first registered [`Router`] with an answer (`db_for_read` / `db_for_write`);
//! 4. for saves and deletes of an instance, the database it was loaded from or saved to;
//! 5. the [`using_database`](crate::using_database) scope, else `default`.
//!
//! [`PrimaryReplicaRouter`] is the usual setup: writes to the primary, reads spread over the
//! replicas, and reads inside a transaction on the primary stay on the primary. With
//! [`PrimaryReplicaRouter::health`] reads go only to replicas a
//! [`ReplicaSet`](hyperdjango_pool::ReplicaSet) finds up, still standbys and within its lag
//! bound, and to the primary when none is. Inside [`read_your_writes`] (one per request),
//! every read after the request's first write goes to the primary too, so a request sees its
//! own writes even when the replicas lag behind.
//!
//! ```no_run
//! use hyperdjango_orm::router::{add_router, PrimaryReplicaRouter};
//! # fn f(primary: hyperdjango_pool::Pool, replica: hyperdjango_pool::Pool) {
//! hyperdjango_orm::register_database("default", primary);
//! hyperdjango_orm::register_database("replica1", replica);
//! let handle = add_router(PrimaryReplicaRouter::new("default", ["replica1"]));
//! // every model now reads from replica1 and writes to default
//! handle.remove();
//! # }
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use hyperdjango_pool::ReplicaSet;

use crate::model::ModelMeta;

tokio::task_local! {
    /// Set by [`read_your_writes`]: whether this request wrote through a primary/replica
    /// router.
    static WROTE: Arc<AtomicBool>;
}

/// Runs `fut` as one request whose reads stick to the primary once it has written: after
/// the first write a [`PrimaryReplicaRouter`] routes (or an explicit [`stick_to_primary`]),
/// every read it routes goes to the primary, which already has the write, instead of a
/// replica that may not have replayed it yet. Reads before the first write still go to the
/// replicas. The scope is a Tokio task-local: tasks spawned inside it are outside it.
///
/// ```no_run
/// use hyperdjango_orm::router::{add_router, read_your_writes, PrimaryReplicaRouter};
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "a"] #[derive(Debug, Clone)] pub struct A { pub id: Auto<i64> = Field::new().primary_key() } }
/// # async fn f() -> Result<(), hyperdjango_orm::Error> {
/// add_router(PrimaryReplicaRouter::new("default", ["replica"])).forget();
/// read_your_writes(async {
///     A::objects().count().await?; // a replica
///     A::objects().create(A::default()).await?; // the primary
///     A::objects().count().await // the primary: sees the new row
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn read_your_writes<F: std::future::Future>(fut: F) -> F::Output {
    WROTE.scope(Arc::new(AtomicBool::new(false)), fut).await
}

/// Inside [`read_your_writes`], sends the rest of the request's routed reads to the primary
/// as if it had written (e.g. after a write through raw SQL); returns whether there was a
/// scope to mark.
///
/// ```
/// use hyperdjango_orm::router::{read_your_writes, stick_to_primary, sticks_to_primary};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(!stick_to_primary(), "no scope outside read_your_writes");
/// read_your_writes(async {
///     assert!(!sticks_to_primary());
///     assert!(stick_to_primary());
///     assert!(sticks_to_primary());
/// })
/// .await;
/// # });
/// ```
pub fn stick_to_primary() -> bool {
    WROTE.try_with(|w| w.store(true, Ordering::Relaxed)).is_ok()
}

/// Whether this request's routed reads now go to the primary (it wrote inside
/// [`read_your_writes`]).
///
/// ```
/// assert!(!hyperdjango_orm::router::sticks_to_primary());
/// ```
pub fn sticks_to_primary() -> bool {
    WROTE
        .try_with(|w| w.load(Ordering::Relaxed))
        .unwrap_or(false)
}

/// Decides databases per model, like Django's database routers. Every method may return
/// `None` ("no opinion"): the next router, then the defaults, decide.
///
/// ```
/// use hyperdjango_orm::ModelMeta;
/// use hyperdjango_orm::router::Router;
///
/// /// Audit tables live in their own database.
/// struct AuditRouter;
/// impl Router for AuditRouter {
///     fn db_for_read(&self, model: &ModelMeta) -> Option<String> {
///         model.table.starts_with("audit_").then(|| "audit".to_string())
///     }
///     fn db_for_write(&self, model: &ModelMeta) -> Option<String> {
///         self.db_for_read(model)
///     }
///     fn allow_migrate(&self, db: &str, model: &ModelMeta) -> Option<bool> {
///         Some((db == "audit") == model.table.starts_with("audit_"))
///     }
/// }
/// ```
pub trait Router: Send + Sync + 'static {
    /// The database to read `model` from.
    fn db_for_read(&self, _model: &ModelMeta) -> Option<String> {
        None
    }

    /// The database to write `model` to.
    fn db_for_write(&self, _model: &ModelMeta) -> Option<String> {
        None
    }

    /// Whether a relation between instances of `a` and `b` is allowed.
    fn allow_relation(&self, _a: &ModelMeta, _b: &ModelMeta) -> Option<bool> {
        None
    }

    /// Whether `model`'s table belongs in database `db` (migrations ask this).
    fn allow_migrate(&self, _db: &str, _model: &ModelMeta) -> Option<bool> {
        None
    }
}

struct Registered {
    id: u64,
    router: Arc<dyn Router>,
}

static ROUTERS: RwLock<Vec<Registered>> = RwLock::new(Vec::new());
static COUNT: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A registered router; [`RouterHandle::remove`] unregisters it. Dropping the handle keeps
/// the router.
#[derive(Debug)]
#[must_use = "keep the handle to remove the router later, or call .forget()"]
pub struct RouterHandle {
    id: u64,
}

impl RouterHandle {
    /// Unregisters the router; returns whether it was registered.
    ///
    /// ```
    /// # use hyperdjango_orm::router::*;
    /// struct Nothing;
    /// impl Router for Nothing {}
    /// assert!(add_router(Nothing).remove());
    /// ```
    pub fn remove(self) -> bool {
        let mut all = ROUTERS.write().unwrap_or_else(|e| e.into_inner());
        let before = all.len();
        all.retain(|r| r.id != self.id);
        let removed = all.len() != before;
        if removed {
            COUNT.fetch_sub(1, Ordering::SeqCst);
        }
        removed
    }

    /// Keeps the router for good.
    ///
    /// ```
    /// # use hyperdjango_orm::router::*;
    /// struct Nothing;
    /// impl Router for Nothing {}
    /// add_router(Nothing).forget();
    /// ```
    pub fn forget(self) {}
}

/// Adds a router after those already registered (the first with an answer wins).
///
/// ```
/// # use hyperdjango_orm::router::*;
/// let h = add_router(PrimaryReplicaRouter::new("default", ["replica"]));
/// h.remove();
/// ```
pub fn add_router(router: impl Router) -> RouterHandle {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    ROUTERS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(Registered {
            id,
            router: Arc::new(router),
        });
    COUNT.fetch_add(1, Ordering::SeqCst);
    RouterHandle { id }
}

/// Asks the routers in order; the first answer wins.
fn ask<T>(f: impl Fn(&dyn Router) -> Option<T>) -> Option<T> {
    if COUNT.load(Ordering::SeqCst) == 0 {
        return None;
    }
    let routers: Vec<Arc<dyn Router>> = ROUTERS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|r| r.router.clone())
        .collect();
    routers.iter().find_map(|r| f(r.as_ref()))
}

/// The alias for reading `model` when the call names none: Meta, then the routers.
pub(crate) fn read_alias(model: &ModelMeta) -> Option<Arc<str>> {
    if let Some(db) = &model.database {
        return Some(Arc::from(db.as_str()));
    }
    ask(|r| r.db_for_read(model)).map(Arc::from)
}

/// The alias for writing `model` when the call names none: Meta, then the routers.
pub(crate) fn write_alias(model: &ModelMeta) -> Option<Arc<str>> {
    if let Some(db) = &model.database {
        return Some(Arc::from(db.as_str()));
    }
    ask(|r| r.db_for_write(model)).map(Arc::from)
}

/// Whether the routers allow a relation between `a` and `b` (default: when both use the
/// same database for writes).
///
/// ```
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "a"] pub struct A { pub id: Auto<i64> = Field::new().primary_key() } }
/// assert!(hyperdjango_orm::router::allow_relation(A::meta(), A::meta()));
/// ```
pub fn allow_relation(a: &ModelMeta, b: &ModelMeta) -> bool {
    ask(|r| r.allow_relation(a, b)).unwrap_or_else(|| write_alias(a) == write_alias(b))
}

/// Whether `model`'s table belongs in database `db` (default: yes).
///
/// ```
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "a"] pub struct A { pub id: Auto<i64> = Field::new().primary_key() } }
/// assert!(hyperdjango_orm::router::allow_migrate("default", A::meta()));
/// ```
pub fn allow_migrate(db: &str, model: &ModelMeta) -> bool {
    ask(|r| r.allow_migrate(db, model)).unwrap_or(true)
}

/// Writes to a primary, reads from replicas in turn; a read inside a transaction on the
/// primary stays on the primary (it must see the transaction's own writes), and so does a
/// read after a write inside [`read_your_writes`]. With [`health`](Self::health), only
/// healthy replicas serve reads, and the primary does when none is healthy.
///
/// ```
/// use hyperdjango_orm::router::{PrimaryReplicaRouter, Router};
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "a"] pub struct A { pub id: Auto<i64> = Field::new().primary_key() } }
/// let r = PrimaryReplicaRouter::new("primary", ["r1", "r2"]);
/// assert_eq!(r.db_for_write(A::meta()).as_deref(), Some("primary"));
/// let reads: Vec<String> = (0..4).filter_map(|_| r.db_for_read(A::meta())).collect();
/// assert_eq!(reads, ["r1", "r2", "r1", "r2"]);
/// ```
#[derive(Debug)]
pub struct PrimaryReplicaRouter {
    primary: String,
    replicas: Vec<String>,
    models: Option<Vec<String>>,
    next: AtomicUsize,
    health: Option<ReplicaSet>,
}

impl PrimaryReplicaRouter {
    /// A router for every model.
    pub fn new<const N: usize>(primary: &str, replicas: [&str; N]) -> Self {
        PrimaryReplicaRouter {
            primary: primary.to_string(),
            replicas: replicas.iter().map(|s| s.to_string()).collect(),
            models: None,
            next: AtomicUsize::new(0),
            health: None,
        }
    }

    /// Reads go only to the replicas `set` finds healthy (matched by name: the set's names
    /// are the replicas' database aliases), and to the primary when none is. A replica
    /// missing from the set never serves reads.
    ///
    /// ```no_run
    /// use hyperdjango_orm::router::{add_router, PrimaryReplicaRouter};
    /// use hyperdjango_pool::{Pool, ReplicaHealth, ReplicaSet};
    ///
    /// # async fn f(primary: Pool, replica: Pool) -> hyperdjango_pool::Result<()> {
    /// hyperdjango_orm::register_database("default", primary);
    /// hyperdjango_orm::register_database("replica", replica.clone());
    /// let set = ReplicaSet::start(ReplicaHealth::default(), [("replica", replica)])?;
    /// add_router(PrimaryReplicaRouter::new("default", ["replica"]).health(set)).forget();
    /// # Ok(()) }
    /// ```
    pub fn health(mut self, set: ReplicaSet) -> Self {
        self.health = Some(set);
        self
    }

    /// Routes only these models (by name); others are left to the next router.
    ///
    /// ```
    /// use hyperdjango_orm::router::{PrimaryReplicaRouter, Router};
    /// # use hyperdjango_orm::prelude::*;
    /// # model! { #[table = "a"] pub struct A { pub id: Auto<i64> = Field::new().primary_key() } }
    /// let r = PrimaryReplicaRouter::new("primary", ["r1"]).only(["Article"]);
    /// assert_eq!(r.db_for_read(A::meta()), None);
    /// ```
    pub fn only<const N: usize>(mut self, models: [&str; N]) -> Self {
        self.models = Some(models.iter().map(|s| s.to_string()).collect());
        self
    }

    fn routes(&self, model: &ModelMeta) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.iter().any(|n| n == model.name))
    }
}

impl Router for PrimaryReplicaRouter {
    fn db_for_read(&self, model: &ModelMeta) -> Option<String> {
        if !self.routes(model) {
            return None;
        }
        let primary: Arc<str> = Arc::from(self.primary.as_str());
        if sticks_to_primary() || crate::transaction::current_tx(&primary).is_some() {
            return Some(self.primary.clone());
        }
        let candidates: Vec<&String> = match &self.health {
            Some(set) => self.replicas.iter().filter(|r| set.is_healthy(r)).collect(),
            None => self.replicas.iter().collect(),
        };
        if candidates.is_empty() {
            return Some(self.primary.clone());
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % candidates.len();
        Some(candidates[i].clone())
    }

    fn db_for_write(&self, model: &ModelMeta) -> Option<String> {
        if !self.routes(model) {
            return None;
        }
        stick_to_primary();
        Some(self.primary.clone())
    }

    fn allow_relation(&self, a: &ModelMeta, b: &ModelMeta) -> Option<bool> {
        // Replicas hold the primary's data: any two routed models may relate.
        (self.routes(a) && self.routes(b)).then_some(true)
    }
}
