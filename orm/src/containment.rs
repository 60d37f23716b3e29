//! Containment lookups, which mean different things per field kind (as Django dispatches
//! lookups on the field's class): `contains` is `LIKE '%v%'` on text, and `@>` on JSONB
//! and array fields; `contained_by` (`<@`) and `overlap` (`&&`, arrays only) belong to
//! JSONB and array fields alone.
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! model! {
//!     #[table = "products"]
//!     pub struct Product {
//!         pub id: Auto<i32> = Field::new().primary_key(),
//!         pub name: String = Field::new(),
//!         pub tags: Vec<String> = Field::new(),
//!     }
//! }
//! // Typed: text contains is LIKE, array contains is @>.
//! let _a = Product::objects().filter(Product::name.contains("wid"));
//! let _b = Product::objects().filter(Product::tags.contains(vec!["sale".to_string()]));
//! let _c = Product::objects().filter(Product::tags.overlap(["sale", "new"]));
//! let _d = Product::objects().filter(Product::tags.contained_by(["sale", "new", "old"]));
//! // The string form dispatches on the field's kind:
//! let _e = Product::objects().filter(q("tags__overlap", vec!["sale", "new"]).unwrap());
//! let err = q::<Product>("name__overlap", vec!["x"]).unwrap_err();
//! assert_eq!(err.to_string(), "Product.name__overlap: the overlap lookup needs an array field (name is TEXT)");
//! ```
//!
//! In the string form an array value is a list (`vec!["sale"]`), sent as one bind
//! parameter per element in `CAST(ARRAY[$1, ...] AS TEXT[])`; a single value is a
//! one-element array. Values are never part of the SQL text.

use crate::error::{Error, Result};
use crate::expr::{Column, Dyn, Expr, Node};
use crate::field::{FieldMeta, FieldType};
use crate::lookup::{Lookup, LookupValue, Q, Rhs, Where};

/// Whether a column of this DDL type is an array (`TEXT[]`, `INTEGER[]`, ...).
pub(crate) fn is_array_type(sql_type: &str) -> bool {
    sql_type.ends_with("[]")
}

/// A list of parameters as one array of type `sql_type` (`CAST(ARRAY[$1, $2] AS TEXT[])`).
pub(crate) fn array_node(items: Vec<Node>, sql_type: &str) -> Node {
    Node::Cast(Box::new(Node::Array(items)), sql_type.to_string())
}

/// The string form of an array field's lookup `lookup`, or `None` when it is not an
/// array-specific one (the generic path handles `isnull`, `in`...).
pub(crate) fn array_lookup(
    meta: &'static crate::ModelMeta,
    path: &str,
    field: &FieldMeta,
    lookup: &str,
    value: &LookupValue,
) -> Result<Option<Where>> {
    let op = match lookup {
        "contains" => Lookup::DataContains,
        "contained_by" => Lookup::ContainedBy,
        "overlap" => Lookup::Overlap,
        "exact" if matches!(value, LookupValue::List(_)) => Lookup::Exact,
        _ => return Ok(None),
    };
    let items = match value {
        LookupValue::List(l) => l.iter().cloned().map(Node::Param).collect(),
        LookupValue::One(p) => vec![Node::Param(p.clone())],
        _ => {
            return Err(Error::field(
                meta.name,
                path,
                format!("the {lookup} lookup takes a list of values"),
            ));
        }
    };
    Ok(Some(Where::Lookup {
        lhs: Node::Field(field.index),
        op,
        rhs: Rhs::Node(array_node(items, field.sql_type)),
    }))
}

/// Refuses a JSONB/array/vector-only lookup on a field of another kind, naming it.
pub(crate) fn check_kind(
    meta: &'static crate::ModelMeta,
    path: &str,
    field: &FieldMeta,
    lookup: &str,
) -> Result<()> {
    let needs = match lookup {
        "has_key" | "has_keys" | "has_any_keys" => "a JSONB field",
        "contained_by" if !is_array_type(field.sql_type) => "a JSONB or array field",
        "overlap" if !is_array_type(field.sql_type) => "an array field",
        l if crate::vector::VECTOR_LOOKUPS.contains(&l) => "a pgvector field",
        _ => return Ok(()),
    };
    Err(Error::field(
        meta.name,
        path,
        format!(
            "the {lookup} lookup needs {needs} ({} is {})",
            field.name, field.sql_type
        ),
    ))
}

/// What `contains` takes on an expression of type `B`: a string on text (`LIKE`), a JSON
/// value on JSONB (`@>`), an array on an array (`@>`).
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "posts"]
///     pub struct Post {
///         pub id: Auto<i32> = Field::new().primary_key(),
///         pub title: String = Field::new(),
///         pub scores: Vec<i32> = Field::new(),
///     }
/// }
/// let _t = Post::title.contains("rust");
/// let _s = Post::scores.contains(vec![1, 2]);
/// ```
pub trait ContainsValue<B> {
    /// The lookup and its right-hand side.
    #[doc(hidden)]
    fn contains_rhs(self) -> (Lookup, Rhs);
}

/// Strings: `LIKE` on text (and on string-form expressions).
macro_rules! like_values {
    ($($v:ty => $B:ty, $conv:expr;)*) => {$(
        impl ContainsValue<$B> for $v {
            fn contains_rhs(self) -> (Lookup, Rhs) {
                let f: fn($v) -> String = $conv;
                (Lookup::Contains, Rhs::Node(Node::param(f(self))))
            }
        }
    )*};
}

like_values! {
    &str => String, str::to_string;
    &String => String, String::clone;
    String => String, |s| s;
    &str => Dyn, str::to_string;
    String => Dyn, |s| s;
}

/// What `contained_by` (`<@`) takes on an expression of type `B`: a JSON value on JSONB,
/// an array on an array.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "posts"]
///     pub struct Post { pub id: Auto<i32> = Field::new().primary_key(), pub tags: Vec<String> }
/// }
/// let _q = Post::tags.contained_by(["rust", "sql"]);
/// ```
pub trait ContainedByValue<B> {
    /// The right-hand side.
    #[doc(hidden)]
    fn contained_by_rhs(self) -> Rhs;
}

/// Array values: a `Vec<E>` or `[E; N]` for an `E[]` column, and `&str`s for `TEXT[]`.
macro_rules! array_values {
    ($([$($g:tt)*] $v:ty => $base:ty, $conv:expr;)*) => {$(
        impl<$($g)*> ContainsValue<$base> for $v
        where
            $base: FieldType,
        {
            fn contains_rhs(self) -> (Lookup, Rhs) {
                let f: fn($v) -> $base = $conv;
                (Lookup::DataContains, Rhs::Node(Node::param(f(self))))
            }
        }
        impl<$($g)*> ContainedByValue<$base> for $v
        where
            $base: FieldType,
        {
            fn contained_by_rhs(self) -> Rhs {
                let f: fn($v) -> $base = $conv;
                Rhs::Node(Node::param(f(self)))
            }
        }
    )*};
}

array_values! {
    [E: crate::ArrayElement] Vec<E> => Vec<E>, |v| v;
    [E: crate::ArrayElement, const N: usize] [E; N] => Vec<E>, |v| v.to_vec();
    ['a] Vec<&'a str> => Vec<String>, |v| v.into_iter().map(str::to_string).collect();
    ['a, const N: usize] [&'a str; N] => Vec<String>, |v| v.into_iter().map(str::to_string).collect();
}

/// Values an array of `E` can be built from: `vec!["a"]`, `["a", "b"]`, `&[1, 2]`.
fn collect<E, I: Into<E>>(values: impl IntoIterator<Item = I>) -> Vec<E> {
    values.into_iter().map(Into::into).collect()
}

macro_rules! array_methods {
    ($E:ty) => {
        /// `@>`: the array contains every element of `values`.
        pub fn contains_all<I: Into<$E>>(self, values: impl IntoIterator<Item = I>) -> Q<M> {
            self.array_lookup(Lookup::DataContains, collect::<$E, I>(values))
        }

        /// `&&`: the array has an element in common with `values` (Django's `overlap`).
        pub fn overlap<I: Into<$E>>(self, values: impl IntoIterator<Item = I>) -> Q<M> {
            self.array_lookup(Lookup::Overlap, collect::<$E, I>(values))
        }
    };
}

impl<M, T: FieldType<Base = Vec<E>>, E: crate::ArrayElement> Column<M, T>
where
    Vec<E>: FieldType,
{
    fn array_lookup(self, op: Lookup, v: Vec<E>) -> Q<M> {
        Q::from_where(Where::Lookup {
            lhs: Node::Field(self.index()),
            op,
            rhs: Rhs::Node(Node::param(v)),
        })
    }
    array_methods!(E);
}

impl<M, E: crate::ArrayElement> Expr<M, Vec<E>>
where
    Vec<E>: FieldType,
{
    fn array_lookup(self, op: Lookup, v: Vec<E>) -> Q<M> {
        Q::from_where(Where::Lookup {
            lhs: self.into_node(),
            op,
            rhs: Rhs::Node(Node::param(v)),
        })
    }
    array_methods!(E);
}
