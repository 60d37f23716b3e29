//! Signals: async receivers told when an instance is saved or deleted.
//!
//! The four signals of Django and HyperDjango, with async receivers:
//!
//! | signal | receiver gets | sent by |
//! | --- | --- | --- |
//! | [`pre_save`] | `&mut M` (it may still change the instance) and a [`SaveEvent`] | `save`, `save_with`, `create`, `get_or_create`, `update_or_create` |
//! | [`post_save`] | `&M` and a [`SaveEvent`] whose `created` says INSERT or UPDATE | the same |
//! | [`pre_delete`] | `&M` and a [`DeleteEvent`] | an instance's `delete` |
//! | [`post_delete`] | `&M` and a [`DeleteEvent`] | the same |
//!
//! A receiver is registered for one model (`pre_save::<Post>(..)`), or for every model
//! ([`on_any`], which gets a [`ModelEvent`] naming the model and the primary key).
//!
//! **A receiver's error aborts the operation.** When receivers are registered for an
//! operation, it runs inside [`atomic`](crate::atomic) (a savepoint when a transaction is
//! already open): the pre-signal receivers, the SQL, then the post-signal receivers. The
//! first error rolls all of it back and is returned. With no receivers there is no extra
//! transaction and no cost beyond one atomic load.
//!
//! **Bulk operations send no signals**, as in Django: `QuerySet::update`, `QuerySet::delete`,
//! `bulk_create` and `bulk_update` write many rows in one statement without loading them.
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::signals;
//!
//! model! {
//!     #[table = "posts"]
//!     pub struct Post {
//!         pub id: Auto<i64> = Field::new().primary_key(),
//!         pub title: String,
//!         pub slug: String,
//!     }
//! }
//!
//! // Fill the slug before every save of a Post.
//! let receiver = signals::pre_save::<Post>(|post, _event| {
//!     Box::pin(async move {
//!         if post.slug.is_empty() {
//!             post.slug = post.title.to_lowercase().replace(' ', "-");
//!         }
//!         Ok(())
//!     })
//! });
//! // Log every insert of any model.
//! let audit = signals::on_any(|event| {
//!     Box::pin(async move {
//!         if event.kind == signals::SignalKind::PostSave && event.created {
//!             println!("created a {} in {}", event.model, event.table);
//!         }
//!         Ok(())
//!     })
//! });
//! receiver.disconnect();
//! audit.disconnect();
//! ```

use std::any::{Any, TypeId};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::Result;
use crate::expr::Param;
use crate::model::Model;

/// What receivers return: a boxed future that may borrow the instance and the event.
pub type SignalFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Which signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// Before an INSERT or UPDATE of one instance.
    PreSave,
    /// After it.
    PostSave,
    /// Before an instance's DELETE.
    PreDelete,
    /// After it.
    PostDelete,
}

/// What a save receiver is told.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SaveEvent {
    /// Whether the save INSERTs a row (for `pre_save`: is about to; for `post_save`: did).
    pub created: bool,
    /// The database alias.
    pub using: Arc<str>,
    /// The fields a `save_with(update_fields)` writes, if it limits them.
    pub update_fields: Option<Vec<String>>,
}

/// What a delete receiver is told.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeleteEvent {
    /// The database alias.
    pub using: Arc<str>,
}

/// What a receiver for every model ([`on_any`]) is told.
#[derive(Clone)]
#[non_exhaustive]
pub struct ModelEvent {
    /// Which signal.
    pub kind: SignalKind,
    /// The model's name.
    pub model: &'static str,
    /// Its table.
    pub table: &'static str,
    /// The instance's primary key (`None` before the INSERT of an auto key).
    pub pk: Option<Param>,
    /// For saves: whether it INSERTs. False for deletes.
    pub created: bool,
    /// The database alias.
    pub using: Arc<str>,
}

impl std::fmt::Debug for ModelEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelEvent")
            .field("kind", &self.kind)
            .field("model", &self.model)
            .field("table", &self.table)
            .field("pk", &self.pk.as_ref().map(|p| p.rust_type()))
            .field("created", &self.created)
            .field("using", &self.using)
            .finish()
    }
}

type SaveFn<M> = dyn for<'a> Fn(&'a mut M, &'a SaveEvent) -> SignalFuture<'a> + Send + Sync;
type ViewFn<M, E> = dyn for<'a> Fn(&'a M, &'a E) -> SignalFuture<'a> + Send + Sync;
type AnyFn = dyn for<'a> Fn(&'a ModelEvent) -> SignalFuture<'a> + Send + Sync;

/// A registered receiver.
#[derive(Clone)]
enum Callback {
    /// Typed for one model: an `Arc<SaveFn<M>>` or `Arc<ViewFn<M, _>>`, behind `Any`.
    Typed(TypeId, Arc<dyn Any + Send + Sync>),
    Any(Arc<AnyFn>),
}

struct Entry {
    id: u64,
    kind: SignalKind,
    callback: Callback,
}

static RECEIVERS: RwLock<Vec<Entry>> = RwLock::new(Vec::new());
/// How many receivers are registered (the fast path reads only this).
static COUNT: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A registered receiver; [`Receiver::disconnect`] removes it. Dropping the handle keeps
/// the receiver registered (as Django's `connect`).
#[derive(Debug)]
#[must_use = "keep the handle to disconnect the receiver later, or call .forget()"]
pub struct Receiver {
    id: u64,
}

impl Receiver {
    /// Removes the receiver. Returns whether it was still registered.
    ///
    /// ```
    /// # use hyperdjango_orm::signals;
    /// let r = signals::on_any(|_| Box::pin(async { Ok(()) }));
    /// assert!(r.disconnect());
    /// ```
    pub fn disconnect(self) -> bool {
        let mut all = RECEIVERS.write().unwrap_or_else(|e| e.into_inner());
        let before = all.len();
        all.retain(|e| e.id != self.id);
        let removed = before != all.len();
        if removed {
            COUNT.fetch_sub(1, Ordering::SeqCst);
        }
        removed
    }

    /// Keeps the receiver registered for good, dropping the handle.
    ///
    /// ```
    /// # use hyperdjango_orm::signals;
    /// signals::on_any(|_| Box::pin(async { Ok(()) })).forget();
    /// ```
    pub fn forget(self) {}
}

fn register(kind: SignalKind, callback: Callback) -> Receiver {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    RECEIVERS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(Entry { id, kind, callback });
    COUNT.fetch_add(1, Ordering::SeqCst);
    Receiver { id }
}

/// Registers a receiver of `pre_save` for model `M`. It may change the instance before it
/// is written.
///
/// ```
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "notes"] pub struct Note { pub id: Auto<i64> = Field::new().primary_key(), pub body: String } }
/// let r = hyperdjango_orm::signals::pre_save::<Note>(|note, _| Box::pin(async move {
///     note.body = note.body.trim().to_string();
///     Ok(())
/// }));
/// # r.disconnect();
/// ```
pub fn pre_save<M: Model>(
    f: impl for<'a> Fn(&'a mut M, &'a SaveEvent) -> SignalFuture<'a> + Send + Sync + 'static,
) -> Receiver {
    let f: Arc<SaveFn<M>> = Arc::new(f);
    register(
        SignalKind::PreSave,
        Callback::Typed(TypeId::of::<M>(), Arc::new(f)),
    )
}

/// Registers a receiver of `post_save` for model `M`; `event.created` says whether the
/// save inserted.
///
/// ```
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "notes"] pub struct Note { pub id: Auto<i64> = Field::new().primary_key(), pub body: String } }
/// let r = hyperdjango_orm::signals::post_save::<Note>(|note, event| Box::pin(async move {
///     if event.created { println!("new note {:?}", note.id); }
///     Ok(())
/// }));
/// # r.disconnect();
/// ```
pub fn post_save<M: Model>(
    f: impl for<'a> Fn(&'a M, &'a SaveEvent) -> SignalFuture<'a> + Send + Sync + 'static,
) -> Receiver {
    let f: Arc<ViewFn<M, SaveEvent>> = Arc::new(f);
    register(
        SignalKind::PostSave,
        Callback::Typed(TypeId::of::<M>(), Arc::new(f)),
    )
}

/// Registers a receiver of `pre_delete` for model `M`.
///
/// ```
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "notes"] pub struct Note { pub id: Auto<i64> = Field::new().primary_key(), pub body: String } }
/// let r = hyperdjango_orm::signals::pre_delete::<Note>(|note, _| Box::pin(async move {
///     if note.body.contains("keep") {
///         return Err(hyperdjango_orm::Error::Usage("this note is kept".into()));
///     }
///     Ok(())
/// }));
/// # r.disconnect();
/// ```
pub fn pre_delete<M: Model>(
    f: impl for<'a> Fn(&'a M, &'a DeleteEvent) -> SignalFuture<'a> + Send + Sync + 'static,
) -> Receiver {
    let f: Arc<ViewFn<M, DeleteEvent>> = Arc::new(f);
    register(
        SignalKind::PreDelete,
        Callback::Typed(TypeId::of::<M>(), Arc::new(f)),
    )
}

/// Registers a receiver of `post_delete` for model `M` (the instance still holds its
/// primary key).
///
/// ```
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "notes"] pub struct Note { pub id: Auto<i64> = Field::new().primary_key(), pub body: String } }
/// let r = hyperdjango_orm::signals::post_delete::<Note>(|note, _| Box::pin(async move {
///     println!("deleted {:?}", note.id);
///     Ok(())
/// }));
/// # r.disconnect();
/// ```
pub fn post_delete<M: Model>(
    f: impl for<'a> Fn(&'a M, &'a DeleteEvent) -> SignalFuture<'a> + Send + Sync + 'static,
) -> Receiver {
    let f: Arc<ViewFn<M, DeleteEvent>> = Arc::new(f);
    register(
        SignalKind::PostDelete,
        Callback::Typed(TypeId::of::<M>(), Arc::new(f)),
    )
}

/// Registers a receiver of every signal, for every model.
///
/// ```
/// # use hyperdjango_orm::signals::{self, SignalKind};
/// let r = signals::on_any(|event| Box::pin(async move {
///     if event.kind == SignalKind::PostDelete { println!("a {} was deleted", event.model); }
///     Ok(())
/// }));
/// # r.disconnect();
/// ```
pub fn on_any(
    f: impl for<'a> Fn(&'a ModelEvent) -> SignalFuture<'a> + Send + Sync + 'static,
) -> Receiver {
    let f: Arc<AnyFn> = Arc::new(f);
    // Registered under every kind, so one handle: kept once, matched by kind at dispatch.
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut all = RECEIVERS.write().unwrap_or_else(|e| e.into_inner());
    for kind in [
        SignalKind::PreSave,
        SignalKind::PostSave,
        SignalKind::PreDelete,
        SignalKind::PostDelete,
    ] {
        all.push(Entry {
            id,
            kind,
            callback: Callback::Any(f.clone()),
        });
    }
    COUNT.fetch_add(4, Ordering::SeqCst);
    drop(all);
    Receiver { id }
}

/// Whether any receiver at all is registered (the fast path of save and delete).
pub(crate) fn any_registered() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

/// The receivers of `kind` that apply to `M`, in registration order.
fn receivers_for<M: Model>(kind: SignalKind) -> Vec<Callback> {
    let all = RECEIVERS.read().unwrap_or_else(|e| e.into_inner());
    all.iter()
        .filter(|e| e.kind == kind)
        .filter(|e| match &e.callback {
            Callback::Typed(t, _) => *t == TypeId::of::<M>(),
            Callback::Any(_) => true,
        })
        .map(|e| e.callback.clone())
        .collect()
}

/// Whether a save or delete of `M` has receivers (so it needs its own transaction).
pub(crate) fn has_receivers<M: Model>(save: bool) -> bool {
    if !any_registered() {
        return false;
    }
    let kinds = if save {
        [SignalKind::PreSave, SignalKind::PostSave]
    } else {
        [SignalKind::PreDelete, SignalKind::PostDelete]
    };
    kinds.iter().any(|k| !receivers_for::<M>(*k).is_empty())
}

fn model_event<M: Model>(m: &M, kind: SignalKind, created: bool, using: &Arc<str>) -> ModelEvent {
    let meta = M::meta();
    ModelEvent {
        kind,
        model: meta.name,
        table: meta.table,
        pk: m
            .__field_ref(meta.pk_index)
            .filter(|v| !crate::query::write::is_null(*v))
            .and_then(|_| m.__field_param(meta.pk_index)),
        created,
        using: using.clone(),
    }
}

/// Sends `pre_save` (receivers may change `m`).
pub(crate) async fn send_pre_save<M: Model>(m: &mut M, event: &SaveEvent) -> Result<()> {
    for callback in receivers_for::<M>(SignalKind::PreSave) {
        match callback {
            Callback::Typed(_, f) => {
                if let Some(f) = f.downcast_ref::<Arc<SaveFn<M>>>() {
                    f(m, event).await?;
                }
            }
            Callback::Any(f) => {
                let e = model_event(m, SignalKind::PreSave, event.created, &event.using);
                f(&e).await?;
            }
        }
    }
    Ok(())
}

/// Sends a signal whose receivers only look at the instance.
async fn send_view<M: Model, E: 'static>(
    m: &M,
    kind: SignalKind,
    event: &E,
    created: bool,
    using: &Arc<str>,
) -> Result<()> {
    for callback in receivers_for::<M>(kind) {
        match callback {
            Callback::Typed(_, f) => {
                if let Some(f) = f.downcast_ref::<Arc<ViewFn<M, E>>>() {
                    f(m, event).await?;
                }
            }
            Callback::Any(f) => {
                let e = model_event(m, kind, created, using);
                f(&e).await?;
            }
        }
    }
    Ok(())
}

/// Sends `post_save`.
pub(crate) async fn send_post_save<M: Model>(m: &M, event: &SaveEvent) -> Result<()> {
    send_view(m, SignalKind::PostSave, event, event.created, &event.using).await
}

/// Sends `pre_delete` or `post_delete`.
pub(crate) async fn send_delete<M: Model>(
    m: &M,
    kind: SignalKind,
    event: &DeleteEvent,
) -> Result<()> {
    send_view(m, kind, event, false, &event.using).await
}
