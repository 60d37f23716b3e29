//! The hyperdjango ORM: Django's models and QuerySets in Rust, declared with `macro_rules!`
//! (no proc-macros), on the hyperdjango PostgreSQL driver and pool.
//!
//! ```no_run
//! use hyperdjango_orm::prelude::*;
//!
//! model! {
//!     #[table = "products"]
//!     #[derive(Debug, Clone)]
//!     pub struct Product {
//!         pub id: Auto<i32> = Field::new().primary_key(),
//!         pub name: String = Field::new().max_length(200),
//!         pub sku: String = Field::new().unique().index(),
//!         pub price: f64 = Field::new().default(0.0).ge(0.0),
//!         pub is_active: bool = Field::new().default(true),
//!         pub weight_kg: Option<f64>,
//!     }
//! }
//!
//! # async fn f() -> hyperdjango_orm::Result<()> {
//! let mut p = Product::objects()
//!     .create(Product { name: "Widget".into(), sku: "W-1".into(), price: 9.5, ..Default::default() })
//!     .await?;
//! p.price = 8.0;
//! p.save().await?;
//! let cheap = Product::objects()
//!     .filter(Product::price.lt(10.0) & Product::is_active.eq(true))
//!     .order_by(Product::name.desc())
//!     .limit(10)
//!     .all()
//!     .await?;
//! // The Django string form, checked at run time against the model:
//! let n = Product::objects().filter(q("name__icontains", "wid")?).count().await?;
//! # let _ = (cheap, n); Ok(()) }
//! ```
//!
//! Tracing (feature `tracing`, forwarded to the pool and the driver): every query the ORM
//! runs is the driver's `hyperdjango.query` span (SQL text, rows, duration; parameter values
//! only after `Config::trace_parameters`), and every checkout the pool's
//! `hyperdjango.pool.acquire` span. Without the feature no tracing code is compiled in.
//!
//! Modules: [`model`] (the `Model` trait, metadata, Meta), [`field`] (field types and
//! options), [`expr`] (typed handles, F, aggregates, Case/When, subqueries), [`lookup`] (Q
//! and the string form), [`query`] (QuerySet), [`compiler`] (SQL), [`validate`],
//! [`db`] (databases), [`transaction`] (atomic), [`ddl`] (CREATE TABLE), [`instance`]
//! (save/delete/refresh).

pub mod cache;
mod cascade;
pub mod compiler;
pub mod containment;
pub mod custom_field;
pub mod db;
pub mod ddl;
mod error;
pub mod expr;
pub mod field;
pub mod files;
pub mod index;
pub mod instance;
pub mod json;
pub mod lookup;
mod macros;
pub mod many_to_many;
pub mod migrate;
pub mod mixins;
pub mod model;
pub mod ordering;
pub mod query;
pub mod raw_value;
pub mod relations;
pub mod router;
pub mod signals;
pub mod transaction;
pub mod validate;
pub mod vector;

pub use custom_field::{ArrayElement, CustomField};
pub use db::{DEFAULT_DB, database, register_database, unregister_database, using_database};
pub use error::{Error, Result};
pub use expr::{
    Aggregate, Assignment, Avg, Column, Count, CountAll, Dyn, Expr, F, IntoExpr, Max, Min, Operand,
    OrderBy, Param, StdDev, StdDevSample, Sum, Variance, VarianceSample, When, case, cast,
    coalesce, condition, exists, f, outer_ref, random, raw_sql, subquery, value, when,
};
pub use field::{Auto, Field, FieldMeta, FieldType, SqlValue, VectorIndex, VectorOps};
pub use hyperdjango_pgwire::{Row, ToSql, pg_enum};
pub use instance::SaveOptions;
pub use lookup::{Q, q, register_lookup};
pub use model::{Meta, Model, ModelMeta, ModelState};
pub use query::{BulkOptions, Conflict, FromRow, QuerySet, Values};
pub use transaction::{atomic, atomic_using, in_atomic_block, on_commit};
pub use validate::{NON_FIELD_ERRORS, ValidationErrors};
pub use vector::{HalfVector, SparseVector, Vector};

/// What the crate's macros refer to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use hyperdjango_pgwire::__private::BytesMut;
    pub use hyperdjango_pgwire::types::{BoxError, FromSql, IsNull, Type};
}

/// Everything a model file needs: `use hyperdjango_orm::prelude::*;`.
pub mod prelude {
    pub use crate::files::{FileField, ImageField};
    pub use crate::{
        Aggregate, Auto, Avg, BulkOptions, Column, Conflict, Count, CountAll, Error, Expr, F,
        Field, Max, Meta, Min, Model, Q, QuerySet, SaveOptions, StdDev, Sum, ValidationErrors,
        Variance, Vector, VectorOps, atomic, case, cast, coalesce, condition, exists, f, model,
        outer_ref, q, random, raw_sql, subquery, value, when,
    };
}
