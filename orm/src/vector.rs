//! pgvector fields: similarity search on `vector(N)` columns.
//!
//! A field of type [`Vector`] (or [`HalfVector`], [`SparseVector`]) is a pgvector column;
//! `.dimensions(n)` makes it `vector(n)` and checks every saved value's length first (an
//! error naming the field, before anything reaches the server). `.hnsw(ops)` or
//! `.ivfflat(ops, lists)` declare an approximate nearest-neighbour index that
//! [`crate::ddl`] creates. The server needs the extension once per database:
//! [`enable_pgvector`] runs `CREATE EXTENSION IF NOT EXISTS vector`.
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! model! {
//!     #[table = "documents"]
//!     pub struct Document {
//!         pub id: Auto<i64> = Field::new().primary_key(),
//!         pub title: String = Field::new(),
//!         pub embedding: Vector = Field::new().dimensions(3).hnsw(VectorOps::Cosine),
//!     }
//! }
//! let ddl = hyperdjango_orm::ddl::create_table_sql::<Document>();
//! assert!(ddl[0].contains(r#""embedding" vector(3) NOT NULL"#));
//! assert_eq!(ddl[1], r#"CREATE INDEX "documents_embedding_hnsw_idx" ON "documents" USING hnsw ("embedding" vector_cosine_ops)"#);
//!
//! let query = Vector(vec![0.1, 0.2, 0.3]);
//! // The 10 nearest documents (ascending distance), using the HNSW index:
//! let _nearest = Document::objects()
//!     .order_by(Document::embedding.cosine_distance(&query))
//!     .limit(10);
//! // Those within a cosine distance of 0.3 (inclusive), typed or as the spec's string form:
//! let _close = Document::objects().filter(Document::embedding.cosine_within(&query, 0.3));
//! let _same = Document::objects()
//!     .filter(q("embedding__cosine_distance", (query.clone(), 0.3)).unwrap());
//! ```
//!
//! Distances and their thresholds (the string form takes `(vector, threshold)`):
//!
//! | typed | string lookup | SQL | a threshold `t` means |
//! | --- | --- | --- | --- |
//! | `l2_distance(&v)` | `__l2_distance` | `col <-> v` | distance `<= t` |
//! | `cosine_distance(&v)` | `__cosine_distance` | `col <=> v` | distance `<= t` |
//! | `inner_product(&v)` | `__inner_product` | `-(col <#> v)` | inner product `>= t` |
//!
//! pgvector's `<#>` is the *negative* inner product (so that smaller is nearer, as for the
//! distances). Here `inner_product` is the inner product itself: a similarity, larger is
//! nearer, so its threshold is a minimum and nearest-first order is
//! `order_by(Document::embedding.inner_product(&q).desc())`. The compiler writes that
//! ordering as `col <#> v` ascending, the form an `vector_ip_ops` index serves; rows whose
//! vector is NULL come last.
//!
//! Every distance is an `Expr<M, f64>`, so the other comparisons (`.lt(0.3)`, `.gt(..)`,
//! `.range(..)`) and annotations work too. The query vector is a bind parameter; a query
//! vector of another dimension is the server's error (`different vector dimensions`).

use std::sync::Arc;

pub use hyperdjango_pgwire::types::{HalfVector, SparseVector, Vector};

use crate::error::{Error, Result};
use crate::expr::{Column, Expr, Node, Operand, Param};
use crate::field::{FieldMeta, FieldType, NotNull};
use crate::lookup::{IntoLookupValue, Lookup, LookupValue, Q, Rhs, Where};

/// The pgvector types: [`Vector`] (`vector`), [`HalfVector`] (`halfvec`) and
/// [`SparseVector`] (`sparsevec`).
///
/// ```
/// use hyperdjango_orm::vector::VectorLike;
/// use hyperdjango_orm::Vector;
/// assert_eq!(Vector(vec![1.0, 2.0]).dims(), 2);
/// ```
pub trait VectorLike: NotNull {
    /// The number of dimensions.
    fn dims(&self) -> usize;
}

macro_rules! vector_field {
    ($($t:ty => $sql:literal, $dims:expr;)*) => {$(
        impl FieldType for $t {
            type Base = $t;
            fn db_type() -> &'static str {
                $sql
            }
            fn zero() -> Self {
                <$t>::default()
            }
            fn as_base(&self) -> Option<&Self> {
                Some(self)
            }
            fn from_base(b: Self) -> Self {
                b
            }
            fn __vector_dims(&self) -> Option<usize> {
                Some(self.dims())
            }
        }
        impl NotNull for $t {}
        impl VectorLike for $t {
            fn dims(&self) -> usize {
                let f: fn(&$t) -> usize = $dims;
                f(self)
            }
        }
    )*};
}

vector_field! {
    Vector => "vector", |v| v.0.len();
    HalfVector => "halfvec", |v| v.0.len();
    SparseVector => "sparsevec", |v| usize::try_from(v.dim()).unwrap_or(0);
}

/// The distances, as lookup names, SQL operators and whether the value is a similarity.
#[derive(Clone, Copy)]
enum Distance {
    L2,
    Cosine,
    InnerProduct,
}

impl Distance {
    fn from_lookup(name: &str) -> Option<Distance> {
        Some(match name {
            "l2_distance" => Distance::L2,
            "cosine_distance" => Distance::Cosine,
            "inner_product" => Distance::InnerProduct,
            _ => return None,
        })
    }

    /// The expression: the distance, or the inner product itself (the negation of `<#>`).
    fn node(self, column: Node, query: Node) -> Node {
        let op = match self {
            Distance::L2 => "<->",
            Distance::Cosine => "<=>",
            Distance::InnerProduct => "<#>",
        };
        let d = Node::Binary(Box::new(column), op, Box::new(query));
        match self {
            Distance::InnerProduct => Node::Neg(Box::new(d)),
            _ => d,
        }
    }

    /// The threshold condition: distance `<= t`, inner product `>= t`.
    fn within(self, column: Node, query: Node, threshold: Node) -> Where {
        Where::Lookup {
            lhs: self.node(column, query),
            op: match self {
                Distance::InnerProduct => Lookup::Gte,
                _ => Lookup::Lte,
            },
            rhs: Rhs::Node(threshold),
        }
    }
}

/// The names of the vector lookups of the string form.
pub(crate) const VECTOR_LOOKUPS: &[&str] = &["l2_distance", "cosine_distance", "inner_product"];

/// Whether a column of this DDL type is a pgvector one.
pub(crate) fn is_vector_type(sql_type: &str) -> bool {
    let base = sql_type.split('(').next().unwrap_or_default();
    matches!(base, "vector" | "halfvec" | "sparsevec")
}

/// The string form `embedding__cosine_distance=(query, 0.3)` on field `field` of `meta`.
pub(crate) fn vector_lookup(
    meta: &'static crate::ModelMeta,
    path: &str,
    field: &FieldMeta,
    lookup: &str,
    value: LookupValue,
) -> Result<Where> {
    let Some(distance) = Distance::from_lookup(lookup) else {
        return Err(Error::field(
            meta.name,
            path,
            format!("unknown lookup {lookup:?}"),
        ));
    };
    if !is_vector_type(field.sql_type) {
        return Err(Error::field(
            meta.name,
            path,
            format!(
                "the {lookup} lookup needs a pgvector field ({} is {})",
                field.name, field.sql_type
            ),
        ));
    }
    match value {
        LookupValue::Pair(v, t) => {
            Ok(distance.within(Node::Field(field.index), Node::Param(v), Node::Param(t)))
        }
        _ => Err(Error::field(
            meta.name,
            path,
            format!("the {lookup} lookup takes a pair (query vector, threshold)"),
        )),
    }
}

macro_rules! pair_values {
    ($($t:ty => $conv:expr;)*) => {$(
        impl IntoLookupValue for ($t, f64) {
            fn into_lookup_value(self) -> LookupValue {
                let f: fn($t) -> Param = $conv;
                LookupValue::Pair(f(self.0), Arc::new(self.1))
            }
        }
    )*};
}

pair_values! {
    Vector => |v| Arc::new(v);
    &Vector => |v| Arc::new(v.clone());
    Vec<f32> => |v| Arc::new(Vector(v));
    &[f32] => |v| Arc::new(Vector(v.to_vec()));
    HalfVector => |v| Arc::new(v);
    SparseVector => |v| Arc::new(v);
}

/// The distance methods of vector columns and expressions.
macro_rules! distance_methods {
    ($B:ty) => {
        /// The Euclidean distance to `v` (`<->`, an `f64`); order by it ascending for the
        /// nearest first.
        pub fn l2_distance(self, v: impl Operand<M, $B>) -> Expr<M, f64> {
            Expr::new(Distance::L2.node(self.into_vector_node(), v.into_node()))
        }

        /// The cosine distance to `v` (`<=>`, 0 for the same direction, up to 2).
        pub fn cosine_distance(self, v: impl Operand<M, $B>) -> Expr<M, f64> {
            Expr::new(Distance::Cosine.node(self.into_vector_node(), v.into_node()))
        }

        /// The inner product with `v` (`-(col <#> v)`): a similarity, larger is nearer; order
        /// by it `.desc()` for the nearest first (written as `<#>` ascending, so an
        /// `InnerProduct` index serves it).
        pub fn inner_product(self, v: impl Operand<M, $B>) -> Expr<M, f64> {
            Expr::new(Distance::InnerProduct.node(self.into_vector_node(), v.into_node()))
        }

        /// Euclidean distance to `v` at most `max` (inclusive).
        pub fn l2_within(self, v: impl Operand<M, $B>, max: f64) -> Q<M> {
            Q::from_where(Distance::L2.within(
                self.into_vector_node(),
                v.into_node(),
                Node::param(max),
            ))
        }

        /// Cosine distance to `v` at most `max` (inclusive): the spec's
        /// `embedding__cosine_distance=(v, max)`.
        pub fn cosine_within(self, v: impl Operand<M, $B>, max: f64) -> Q<M> {
            Q::from_where(Distance::Cosine.within(
                self.into_vector_node(),
                v.into_node(),
                Node::param(max),
            ))
        }

        /// Inner product with `v` at least `min` (inclusive).
        pub fn inner_product_at_least(self, v: impl Operand<M, $B>, min: f64) -> Q<M> {
            Q::from_where(Distance::InnerProduct.within(
                self.into_vector_node(),
                v.into_node(),
                Node::param(min),
            ))
        }
    };
}

impl<M, T: FieldType> Column<M, T>
where
    T::Base: VectorLike,
{
    fn into_vector_node(self) -> Node {
        Node::Field(self.index())
    }
    distance_methods!(T::Base);
}

impl<M, B: VectorLike> Expr<M, B> {
    fn into_vector_node(self) -> Node {
        self.into_node()
    }
    distance_methods!(B);
}

/// Whether an ORDER BY term is the inner product (`-(a <#> b)`): ordered descending, it is
/// written as `a <#> b` ascending so that a pgvector index can serve it.
pub(crate) fn negated_inner_product(n: &Node) -> Option<&Node> {
    match n {
        Node::Neg(inner) if matches!(&**inner, Node::Binary(_, "<#>", _)) => Some(inner),
        _ => None,
    }
}

/// Whether a node is a vector distance (NULL when its column is).
pub(crate) fn distance_operand(n: &Node) -> Option<&Node> {
    match n {
        Node::Binary(a, "<->" | "<=>" | "<#>", _) => Some(a),
        Node::Neg(inner) => match &**inner {
            Node::Binary(a, "<#>", _) => Some(a),
            _ => None,
        },
        _ => None,
    }
}

/// Installs pgvector in the current database (`CREATE EXTENSION IF NOT EXISTS vector`):
/// needs a role allowed to create it (a superuser, or the database owner for a trusted
/// install). An error when the server has no pgvector.
///
/// ```no_run
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// hyperdjango_orm::vector::enable_pgvector().await?;
/// # Ok(()) }
/// ```
pub async fn enable_pgvector() -> Result<()> {
    crate::ddl::create_extension("vector").await
}

/// Checks the length of each vector field with `dimensions` set on an instance about to be
/// written: an error naming the model and the field, before the server sees the row.
pub(crate) fn check_dimensions<M: crate::Model>(m: &mut M) -> Result<()> {
    let meta = M::meta();
    for f in &meta.fields {
        let Some(n) = f.options.dimensions else {
            continue;
        };
        let got = m.__field_any_mut(f.index).and_then(|v| (f.vector_dims)(v));
        if let Some(got) = got.filter(|&g| g != n) {
            return Err(Error::field(
                meta.name,
                f.name,
                format!("expected a vector of {n} dimensions, got {got}"),
            ));
        }
    }
    Ok(())
}
