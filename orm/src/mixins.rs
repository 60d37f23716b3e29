//! Mixins: fields and behaviour shared by many models, as in HyperDjango.
//!
//! | mixin | fields it adds | behaviour |
//! | --- | --- | --- |
//! | `Timestamp` | `created_at`, `updated_at`: `Option<DateTime<Utc>>` | set on insert, and on every save (`auto_now_add`, `auto_now`) |
//! | `SoftDelete` | `deleted_at`: `Option<DateTime<Utc>>` | an instance's `delete` sets it instead of deleting; default queries skip those rows; `unscoped()` includes them; `restore()` clears it; `hard_delete()` really deletes |
//! | `Ownership` | `owner_id`: `Option<i64>`, indexed | inside [`with_owner`], default queries return that owner's rows only, and inserts with no owner get it |
//! | `Versioned` | `version`: `i64` | optimistic locking: 1 on insert, +1 on each save, which only updates the row if it still has the version the instance read; a stale save is [`Error::Conflict`] and overwrites nothing |
//!
//! List them in a `#[mixins(...)]` attribute of [`model!`](crate::model!); their fields come
//! after the model's own (`Timestamp` and `SoftDelete` need the `chrono` feature):
//!
//! ```
//! # #[cfg(feature = "chrono")] {
//! use hyperdjango_orm::prelude::*;
//!
//! model! {
//!     #[table = "documents"]
//!     #[mixins(Timestamp, SoftDelete, Ownership, Versioned)]
//!     #[derive(Debug, Clone)]
//!     pub struct Document {
//!         pub id: Auto<i64> = Field::new().primary_key(),
//!         pub title: String,
//!     }
//! }
//!
//! let d = Document { title: "Plan".into(), ..Default::default() };
//! assert!(d.created_at.is_none() && d.deleted_at.is_none());
//! assert_eq!((d.owner_id, d.version), (None, 0));
//! let names: Vec<&str> = Document::meta().fields.iter().map(|f| f.name).collect();
//! assert_eq!(names, ["id", "title", "created_at", "updated_at", "deleted_at", "owner_id", "version"]);
//! # }
//! ```
//!
//! An unknown mixin is a compile error that lists the known ones:
//!
//! ```compile_fail
//! use hyperdjango_orm::prelude::*;
//! model! {
//!     #[table = "audits"]
//!     #[mixins(Audited)] // error: unknown mixin `Audited` (known: Timestamp, SoftDelete, ...)
//!     pub struct Audit { pub id: Auto<i64> = Field::new().primary_key() }
//! }
//! ```
//!
//! The mechanism is open: a field of any model becomes a mixin field with
//! `Field::new().soft_delete()`, `.owner()` or `.version()` (see
//! [`Field`](crate::Field)), and `auto_now`/`auto_now_add` are ordinary field options.
//!
//! Bulk operations follow the scope: `QuerySet::update` and `QuerySet::delete` touch only
//! the rows default queries see, and `QuerySet::delete` on a soft-delete model sets
//! `deleted_at` (use `hard_delete` to remove rows). `update` does not check or bump
//! versions: it is a bulk write, as in Django.

use std::future::Future;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::expr::Node;
use crate::lookup::{Lookup, Rhs, Where};
use crate::model::{Model, ModelMeta};
use crate::query::QuerySet;

/// The type of the `Timestamp` and `SoftDelete` mixins' fields.
#[cfg(feature = "chrono")]
pub type Moment = Option<chrono::DateTime<chrono::Utc>>;

tokio::task_local! {
    static OWNER: i64;
}

/// Runs `fut` with `owner` as the current owner (the `Ownership` mixin): querysets made in
/// it see only that owner's rows of models with an owner field, and instances inserted in
/// it with no owner get this one. Like Django's request user: set it once per request.
///
/// ```
/// # async fn f() {
/// use hyperdjango_orm::mixins::{current_owner, with_owner};
/// assert_eq!(current_owner(), None);
/// with_owner(42, async {
///     assert_eq!(current_owner(), Some(42));
/// })
/// .await;
/// # }
/// ```
pub async fn with_owner<F: Future>(owner: i64, fut: F) -> F::Output {
    OWNER.scope(owner, fut).await
}

/// The owner set by [`with_owner`] for this task, if any.
///
/// ```
/// assert_eq!(hyperdjango_orm::mixins::current_owner(), None);
/// ```
pub fn current_owner() -> Option<i64> {
    OWNER.try_with(|o| *o).ok()
}

/// The filters default queries of a model get: not soft-deleted, and the current owner's.
pub(crate) fn scope_filters(meta: &'static ModelMeta) -> Vec<Where> {
    let mut filters = Vec::new();
    if let Some(i) = meta.soft_delete {
        filters.push(Where::Lookup {
            lhs: Node::Field(i),
            op: Lookup::IsNull,
            rhs: Rhs::Bool(true),
        });
    }
    if let (Some(i), Some(owner)) = (meta.owner, current_owner()) {
        filters.push(Where::Lookup {
            lhs: Node::Field(i),
            op: Lookup::Exact,
            rhs: Rhs::Node(Node::Param(Arc::new(owner))),
        });
    }
    filters
}

/// "Now" for a soft-delete field, as a parameter of the field's type.
pub(crate) fn soft_delete_now(meta: &ModelMeta, field: usize) -> Result<crate::expr::Param> {
    let now = meta.fields[field].now_param.ok_or_else(|| {
        Error::field(
            meta.name,
            meta.fields[field].name,
            "a soft_delete field needs a time type",
        )
    })?;
    Ok(now())
}

impl<M: Model> QuerySet<M> {
    /// Without the mixins' default filters: soft-deleted rows and every owner's rows
    /// included.
    ///
    /// ```
    /// # #[cfg(feature = "chrono")] {
    /// use hyperdjango_orm::prelude::*;
    /// model! {
    ///     #[table = "tasks"]
    ///     #[mixins(SoftDelete)]
    ///     pub struct Task { pub id: Auto<i64> = Field::new().primary_key() }
    /// }
    /// assert!(Task::objects().to_sql().unwrap().0.contains("IS NULL"));
    /// assert!(!Task::objects().unscoped().to_sql().unwrap().0.contains("IS NULL"));
    /// # }
    /// ```
    pub fn unscoped(&self) -> Self {
        let mut qs = self.clone();
        let n = qs.query.scope.min(qs.query.filters.len());
        qs.query.filters.drain(..n);
        qs.query.scope = 0;
        qs
    }

    /// Deletes the matching rows for good, also on a soft-delete model (where `delete` only
    /// marks them). Returns the total and the count per model.
    ///
    /// ```no_run
    /// # use hyperdjango_orm::prelude::*;
    /// # model! { #[table = "tasks"] pub struct Task { pub id: Auto<i64> = Field::new().primary_key() } }
    /// # async fn f() -> hyperdjango_orm::Result<()> {
    /// let (n, _) = Task::objects().unscoped().hard_delete().await?;
    /// # Ok(()) }
    /// ```
    pub async fn hard_delete(
        &self,
    ) -> Result<(u64, std::collections::BTreeMap<&'static str, u64>)> {
        self.delete_rows().await
    }

    /// `delete` on a soft-delete model: sets the soft-delete field of the matching rows.
    pub(crate) async fn soft_delete_rows(
        &self,
        field: usize,
    ) -> Result<(u64, std::collections::BTreeMap<&'static str, u64>)> {
        let meta = M::meta();
        let now = soft_delete_now(meta, field)?;
        let n = self
            .update_by_name(vec![(meta.fields[field].name, Some(now))])
            .await?;
        Ok((n, std::collections::BTreeMap::from([(meta.name, n)])))
    }
}
