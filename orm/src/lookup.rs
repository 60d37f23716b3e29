//! Conditions: [`Q`] objects, lookups, the run-time string form and user lookups.
//!
//! A typed condition comes from a field handle (`Product::price.lt(10.0)`); conditions
//! combine with `&`, `|`, `!` and `^` (xor). The string form of Django,
//! `q("name__icontains", "wid")?`, is checked against the model's metadata when it is built:
//! an unknown field, transform or lookup is an error naming the model and the field.
//!
//! Lookups: `exact`, `iexact`, `contains`, `icontains`, `in`, `gt`, `gte`, `lt`, `lte`,
//! `startswith`, `istartswith`, `endswith`, `iendswith`, `range`, `isnull`, `regex`,
//! `iregex`, and any registered with [`register_lookup`]. Transforms: `date`, `year`,
//! `month`, `day`, `week`, `week_day`, `quarter`, `hour`, `minute`, `second`, `lower`,
//! `upper`, `length`.
//!
//! Lookups depend on the field's kind, as in Django:
//!
//! - **JSONB** ([`crate::json`]): `contains` (`@>`), `contained_by` (`<@`), `has_key` (`?`),
//!   `has_keys` (`?&`), `has_any_keys` (`?|`), and key paths: `attributes__cpu`,
//!   `attributes__dims__width__gt`, `attributes__ports__0` (every part after the field is a
//!   key but a last part naming a lookup; keys are bind parameters).
//! - **Arrays** ([`crate::containment`]): `contains` (`@>`), `contained_by` (`<@`),
//!   `overlap` (`&&`), and `exact` with a list. On text, `contains` stays `LIKE`.
//! - **pgvector** ([`crate::vector`]): `l2_distance`, `cosine_distance` (distance `<=` the
//!   threshold) and `inner_product` (inner product `>=` the threshold), each with a
//!   `(query vector, threshold)` pair.
//!
//! A lookup on the wrong kind of field (`has_key` on an integer) is an error naming the model,
//! the field and its type.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops;
use std::sync::{Arc, OnceLock, RwLock};

use crate::error::{Error, Result};
use crate::expr::{Node, Param};
use crate::model::Model;
use crate::query::Query;

/// A lookup operator.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub enum Lookup {
    Exact,
    IExact,
    Contains,
    IContains,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    StartsWith,
    IStartsWith,
    EndsWith,
    IEndsWith,
    Range,
    IsNull,
    Regex,
    IRegex,
    /// `@>`: a JSON document or an array contains the value.
    DataContains,
    /// `<@`: a JSON document or an array is contained in the value.
    ContainedBy,
    /// `?`: a JSON object has the key.
    HasKey,
    /// `?&`: a JSON object has all the keys.
    HasKeys,
    /// `?|`: a JSON object has any of the keys.
    HasAnyKeys,
    /// `&&`: arrays with an element in common.
    Overlap,
    User(Arc<UserLookup>),
}

/// The right-hand side of a lookup.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub enum Rhs {
    Node(Node),
    List(Vec<Node>),
    Query(Box<Query>),
    Pair(Node, Node),
    Bool(bool),
}

/// An untyped condition tree.
#[doc(hidden)]
#[derive(Clone)]
pub enum Where {
    And(Vec<Where>),
    Or(Vec<Where>),
    Xor(Vec<Where>),
    Not(Box<Where>),
    Lookup {
        lhs: Node,
        op: Lookup,
        rhs: Rhs,
    },
    Exists(Box<Query>),
    Const(bool),
    /// Raw SQL with `%s` placeholders, and the tables it reads when the ORM wrote it (`None`
    /// for the user's SQL: unknown, so never cached).
    Raw(String, Vec<Param>, Option<Vec<&'static str>>),
    /// A mistake found while building (an unknown user lookup); reported when run.
    Invalid(String),
}

impl std::fmt::Debug for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::And(v) => f.debug_tuple("And").field(v).finish(),
            Where::Or(v) => f.debug_tuple("Or").field(v).finish(),
            Where::Xor(v) => f.debug_tuple("Xor").field(v).finish(),
            Where::Not(w) => f.debug_tuple("Not").field(w).finish(),
            Where::Lookup { lhs, op, rhs } => f
                .debug_struct("Lookup")
                .field("lhs", lhs)
                .field("op", op)
                .field("rhs", rhs)
                .finish(),
            Where::Exists(q) => f.debug_tuple("Exists").field(q).finish(),
            Where::Const(b) => f.debug_tuple("Const").field(b).finish(),
            Where::Raw(s, ..) => f.debug_tuple("Raw").field(s).finish(),
            Where::Invalid(s) => f.debug_tuple("Invalid").field(s).finish(),
        }
    }
}

impl Where {
    pub(crate) fn has_aggregate(&self) -> bool {
        match self {
            Where::And(v) | Where::Or(v) | Where::Xor(v) => v.iter().any(Where::has_aggregate),
            Where::Not(w) => w.has_aggregate(),
            Where::Lookup { lhs, rhs, .. } => {
                lhs.has_aggregate()
                    || match rhs {
                        Rhs::Node(n) => n.has_aggregate(),
                        Rhs::Pair(a, b) => a.has_aggregate() || b.has_aggregate(),
                        Rhs::List(l) => l.iter().any(Node::has_aggregate),
                        _ => false,
                    }
            }
            _ => false,
        }
    }
}

/// A condition on model `M` (Django's `Q`), combined with `&`, `|`, `!` and `^`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product {
///         pub id: Auto<i32> = Field::new().primary_key(),
///         pub price: f64 = Field::new(),
///         pub is_active: bool = Field::new(),
///     }
/// }
/// let cheap_or_inactive = Product::price.lt(10.0) | !Product::is_active.eq(true);
/// let one_of = Product::price.lt(10.0) ^ Product::is_active.eq(true);
/// let _qs = Product::objects().filter(cheap_or_inactive & one_of);
/// ```
pub struct Q<M> {
    pub(crate) w: Where,
    _t: PhantomData<fn() -> M>,
}

impl<M> Clone for Q<M> {
    fn clone(&self) -> Self {
        Q::from_where(self.w.clone())
    }
}

impl<M> std::fmt::Debug for Q<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.w.fmt(f)
    }
}

impl<M> Q<M> {
    /// Wraps an untyped condition.
    #[doc(hidden)]
    pub fn from_where(w: Where) -> Self {
        Q { w, _t: PhantomData }
    }

    /// The untyped condition.
    #[doc(hidden)]
    pub fn into_where(self) -> Where {
        self.w
    }

    /// A condition that is always true (the neutral element of `&`).
    ///
    /// ```
    /// let _q = hyperdjango_orm::Q::<()>::all();
    /// ```
    pub fn all() -> Self {
        Q::from_where(Where::Const(true))
    }

    /// A condition that is always false (the neutral element of `|`).
    ///
    /// ```
    /// let _q = hyperdjango_orm::Q::<()>::none();
    /// ```
    pub fn none() -> Self {
        Q::from_where(Where::Const(false))
    }

    /// Raw SQL as a condition, with `%s` for each parameter. The text is trusted.
    ///
    /// ```
    /// let _q = hyperdjango_orm::Q::<()>::raw("length(name) > %s", vec![std::sync::Arc::new(3i32)]);
    /// ```
    pub fn raw(sql: &str, params: Vec<Param>) -> Self {
        Q::from_where(Where::Raw(sql.to_string(), params, None))
    }
}

fn flatten(a: Where, b: Where, and: bool) -> Where {
    let mut v = Vec::new();
    for w in [a, b] {
        match (w, and) {
            (Where::And(xs), true) | (Where::Or(xs), false) => v.extend(xs),
            (w, _) => v.push(w),
        }
    }
    if and { Where::And(v) } else { Where::Or(v) }
}

impl<M> ops::BitAnd for Q<M> {
    type Output = Q<M>;
    fn bitand(self, rhs: Q<M>) -> Q<M> {
        Q::from_where(flatten(self.w, rhs.w, true))
    }
}

impl<M> ops::BitOr for Q<M> {
    type Output = Q<M>;
    fn bitor(self, rhs: Q<M>) -> Q<M> {
        Q::from_where(flatten(self.w, rhs.w, false))
    }
}

impl<M> ops::BitXor for Q<M> {
    type Output = Q<M>;
    fn bitxor(self, rhs: Q<M>) -> Q<M> {
        let mut v = Vec::new();
        for w in [self.w, rhs.w] {
            match w {
                Where::Xor(xs) => v.extend(xs),
                w => v.push(w),
            }
        }
        Q::from_where(Where::Xor(v))
    }
}

impl<M> ops::Not for Q<M> {
    type Output = Q<M>;
    fn not(self) -> Q<M> {
        match self.w {
            Where::Not(w) => Q::from_where(*w),
            w => Q::from_where(Where::Not(Box::new(w))),
        }
    }
}

/// A lookup defined by the user: SQL with `{lhs}` and `{rhs}` in it.
#[derive(Debug)]
pub struct UserLookup {
    /// Its name in the string form (`price__ne`).
    pub name: String,
    /// The SQL template, e.g. `{lhs} <> {rhs}`.
    pub template: String,
}

fn user_lookups() -> &'static RwLock<HashMap<String, Arc<UserLookup>>> {
    static L: OnceLock<RwLock<HashMap<String, Arc<UserLookup>>>> = OnceLock::new();
    L.get_or_init(Default::default)
}

/// Registers a lookup for every field: `template` is SQL with `{lhs}` (the field or
/// transformed field) and `{rhs}` (the bind parameter). Use it in the string form
/// (`q("price__ne", 3.0)`) or with `.custom("ne", v)` on a field handle.
///
/// ```
/// hyperdjango_orm::register_lookup("ne", "{lhs} <> {rhs}");
/// ```
pub fn register_lookup(name: &str, template: &str) {
    let l = Arc::new(UserLookup {
        name: name.to_string(),
        template: template.to_string(),
    });
    user_lookups()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), l);
}

pub(crate) fn user_lookup(name: &str) -> Option<Arc<UserLookup>> {
    user_lookups()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned()
}

/// The lookups, for error messages.
pub(crate) const LOOKUP_LIST: &str = "lookups: exact, iexact, contains, icontains, in, gt, gte, lt, lte, startswith, istartswith, endswith, iendswith, range, isnull, regex, iregex; for JSONB and array fields contained_by, has_key, has_keys, has_any_keys, overlap; for pgvector fields l2_distance, cosine_distance, inner_product; or one registered with register_lookup";

const TRANSFORMS: &[&str] = &[
    "date", "year", "month", "day", "week", "week_day", "quarter", "hour", "minute", "second",
    "lower", "upper", "length",
];

pub(crate) fn builtin_lookup(name: &str) -> Option<Lookup> {
    Some(match name {
        "exact" => Lookup::Exact,
        "iexact" => Lookup::IExact,
        "contains" => Lookup::Contains,
        "icontains" => Lookup::IContains,
        "in" => Lookup::In,
        "gt" => Lookup::Gt,
        "gte" => Lookup::Gte,
        "lt" => Lookup::Lt,
        "lte" => Lookup::Lte,
        "startswith" => Lookup::StartsWith,
        "istartswith" => Lookup::IStartsWith,
        "endswith" => Lookup::EndsWith,
        "iendswith" => Lookup::IEndsWith,
        "range" => Lookup::Range,
        "isnull" => Lookup::IsNull,
        "regex" => Lookup::Regex,
        "iregex" => Lookup::IRegex,
        "contained_by" => Lookup::ContainedBy,
        "has_key" => Lookup::HasKey,
        "has_keys" => Lookup::HasKeys,
        "has_any_keys" => Lookup::HasAnyKeys,
        "overlap" => Lookup::Overlap,
        _ => return None,
    })
}

pub(crate) fn transform_node(name: &str, n: Node) -> Node {
    match name {
        "date" => Node::Extract("DATE", Box::new(n)),
        "lower" => Node::Func("LOWER", vec![n]),
        "upper" => Node::Func("UPPER", vec![n]),
        "length" => Node::Func("LENGTH", vec![n]),
        "week_day" => Node::Extract("WEEK_DAY", Box::new(n)),
        other => Node::Extract(
            match other {
                "year" => "YEAR",
                "month" => "MONTH",
                "day" => "DAY",
                "week" => "WEEK",
                "quarter" => "QUARTER",
                "hour" => "HOUR",
                "minute" => "MINUTE",
                _ => "SECOND",
            },
            Box::new(n),
        ),
    }
}

/// A value for the string form: one value, a list (for `in`), a pair (for `range`), a
/// boolean (for `isnull`) or NULL.
#[derive(Clone)]
pub enum LookupValue {
    /// One value.
    One(Param),
    /// A list, for `in`.
    List(Vec<Param>),
    /// Two values, for `range`.
    Pair(Param, Param),
    /// NULL (`exact` becomes `IS NULL`).
    Null,
}

/// Converts values for the string form: any `ToSql` value, `Vec<T>`/arrays (a list for
/// `in`), tuples `(a, b)` (for `range`) and `None`.
pub trait IntoLookupValue {
    /// The value.
    fn into_lookup_value(self) -> LookupValue;
}

macro_rules! one_value {
    ($($t:ty),*) => {$(
        impl IntoLookupValue for $t {
            fn into_lookup_value(self) -> LookupValue { LookupValue::One(Arc::new(self)) }
        }
        impl IntoLookupValue for Option<$t> {
            fn into_lookup_value(self) -> LookupValue {
                match self { Some(v) => LookupValue::One(Arc::new(v)), None => LookupValue::Null }
            }
        }
        impl IntoLookupValue for Vec<$t> {
            fn into_lookup_value(self) -> LookupValue {
                LookupValue::List(self.into_iter().map(|v| Arc::new(v) as Param).collect())
            }
        }
        impl<const N: usize> IntoLookupValue for [$t; N] {
            fn into_lookup_value(self) -> LookupValue {
                LookupValue::List(self.into_iter().map(|v| Arc::new(v) as Param).collect())
            }
        }
        impl IntoLookupValue for ($t, $t) {
            fn into_lookup_value(self) -> LookupValue {
                LookupValue::Pair(Arc::new(self.0), Arc::new(self.1))
            }
        }
    )*};
}
one_value!(i16, i32, i64, f32, f64, bool, String, Vec<u8>);
#[cfg(feature = "serde_json")]
one_value!(serde_json::Value);
#[cfg(feature = "chrono")]
one_value!(
    chrono::DateTime<chrono::Utc>,
    chrono::NaiveDate,
    chrono::NaiveDateTime,
    chrono::NaiveTime
);
#[cfg(feature = "rust_decimal")]
one_value!(rust_decimal::Decimal);
#[cfg(feature = "uuid")]
one_value!(uuid::Uuid);

impl IntoLookupValue for &str {
    fn into_lookup_value(self) -> LookupValue {
        LookupValue::One(Arc::new(self.to_string()))
    }
}
impl IntoLookupValue for Vec<&str> {
    fn into_lookup_value(self) -> LookupValue {
        LookupValue::List(
            self.into_iter()
                .map(|v| Arc::new(v.to_string()) as Param)
                .collect(),
        )
    }
}
impl<const N: usize> IntoLookupValue for [&str; N] {
    fn into_lookup_value(self) -> LookupValue {
        LookupValue::List(
            self.into_iter()
                .map(|v| Arc::new(v.to_string()) as Param)
                .collect(),
        )
    }
}
impl IntoLookupValue for Param {
    fn into_lookup_value(self) -> LookupValue {
        LookupValue::One(self)
    }
}
impl IntoLookupValue for LookupValue {
    fn into_lookup_value(self) -> LookupValue {
        self
    }
}

/// The string form of a condition, Django's `filter(name__icontains="wid")`: a field name,
/// then transforms, then a lookup (default `exact`), separated by `__`. Checked against the
/// model's metadata now: an unknown field or lookup is an error naming the model and field.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub name: String = Field::new() }
/// }
/// let _qs = Product::objects().filter(q("name__icontains", "wid").unwrap());
/// let err = q::<Product>("nmae__icontains", "wid").unwrap_err();
/// assert_eq!(err.to_string(), "Product.nmae: no such field (fields: id, name)");
/// let err = q::<Product>("name__like", "wid").unwrap_err();
/// assert!(err.to_string().starts_with("Product.name__like: unknown lookup \"like\""));
/// ```
pub fn q<M: Model>(path: &str, value: impl IntoLookupValue) -> Result<Q<M>> {
    lookup_where(M::meta(), path, value.into_lookup_value()).map(Q::from_where)
}

/// The condition `rows of a model whose foreign key (field `fk`) points at a row of the
/// target matching `inner``: `fk IN (SELECT pk FROM target WHERE inner)`.
pub(crate) fn related_where(fk: usize, target: &'static crate::ModelMeta, inner: Where) -> Where {
    let mut sub = Query::new(target);
    sub.filters.push(inner);
    sub.select = crate::query::Select::Values(vec![(
        target.pk().name.to_string(),
        Node::Field(target.pk_index),
    )]);
    sub.order = Some(Vec::new());
    Where::Lookup {
        lhs: Node::Field(fk),
        op: Lookup::In,
        rhs: Rhs::Query(Box::new(sub)),
    }
}

/// [`q`] on a model's metadata: a path that goes through a foreign key into a field of its
/// target (`customer__name__icontains`) becomes `customer_id IN (SELECT ...)`.
fn lookup_where(meta: &'static crate::ModelMeta, path: &str, value: LookupValue) -> Result<Where> {
    let mut parts = path.split("__");
    let name = parts.next().unwrap_or_default();
    let field = meta.field(name).ok_or_else(|| meta.no_such_field(name))?;
    let mut lhs = Node::Field(field.index);
    let rest: Vec<&str> = parts.collect();
    if let (Some(rel), Some(next)) = (field.relation, rest.first()) {
        let target = (rel.target)();
        if target.field(next).is_some() {
            let inner = lookup_where(target, &rest.join("__"), value)?;
            return Ok(related_where(field.index, target, inner));
        }
    }
    if crate::json::is_json_type(field.sql_type) {
        return crate::json::json_lookup(meta, path, field, &rest, value);
    }
    if rest.len() <= 1 {
        let one = rest.first().copied().unwrap_or("exact");
        if crate::vector::VECTOR_LOOKUPS.contains(&one) {
            return crate::vector::vector_lookup(meta, path, field, one, value);
        }
        if crate::containment::is_array_type(field.sql_type) {
            if let Some(w) = crate::containment::array_lookup(meta, path, field, one, &value)? {
                return Ok(w);
            }
        }
    }
    if let Some(last) = rest.last() {
        crate::containment::check_kind(meta, path, field, last)?;
    }
    let (transforms, lookup_name) = match rest.split_last() {
        None => (&[][..], "exact"),
        Some((last, init)) if TRANSFORMS.contains(last) => {
            let _ = init;
            (&rest[..], "exact")
        }
        Some((last, init)) => (init, *last),
    };
    for t in transforms {
        if !TRANSFORMS.contains(t) {
            return Err(Error::field(
                meta.name,
                path,
                format!("unknown transform {t:?}"),
            ));
        }
        lhs = transform_node(t, lhs);
    }
    let op = lookup_op(meta, path, lookup_name)?;
    lookup_rhs(meta, path, lhs, op, lookup_name, value, Node::Param)
}

/// The operator of lookup `name` (built in or registered), or an error naming the path.
pub(crate) fn lookup_op(meta: &crate::ModelMeta, path: &str, name: &str) -> Result<Lookup> {
    match builtin_lookup(name) {
        Some(op) => Ok(op),
        None => match user_lookup(name) {
            Some(l) => Ok(Lookup::User(l)),
            None => Err(Error::field(
                meta.name,
                path,
                format!("unknown lookup {name:?} ({LOOKUP_LIST})"),
            )),
        },
    }
}

/// The condition `lhs op value`, each value turned into a node by `wrap` (the parameter
/// itself, or `to_jsonb(parameter)` for JSON comparisons). `exact` NULL is `IS NULL`.
pub(crate) fn lookup_rhs(
    meta: &crate::ModelMeta,
    path: &str,
    lhs: Node,
    op: Lookup,
    lookup_name: &str,
    value: LookupValue,
    wrap: fn(Param) -> Node,
) -> Result<Where> {
    let bad = |what: &str| {
        Err(Error::field(
            meta.name,
            path,
            format!("the {lookup_name} lookup takes {what}"),
        ))
    };
    let rhs = match (&op, value) {
        (Lookup::In, LookupValue::List(l)) => Rhs::List(l.into_iter().map(wrap).collect()),
        (Lookup::In, _) => return bad("a list"),
        (Lookup::Range, LookupValue::Pair(a, b)) => Rhs::Pair(wrap(a), wrap(b)),
        (Lookup::Range, _) => return bad("a pair (low, high)"),
        (Lookup::IsNull, LookupValue::One(p)) => {
            let mut buf = hyperdjango_pgwire::__private::BytesMut::new();
            if p.sql_type() != hyperdjango_pgwire::Type::BOOL
                || p.to_sql(&hyperdjango_pgwire::Type::BOOL, &mut buf).is_err()
            {
                return bad("a bool");
            }
            Rhs::Bool(buf.first() == Some(&1))
        }
        (Lookup::IsNull, _) => return bad("a bool"),
        (Lookup::Exact, LookupValue::Null) => {
            return Ok(Where::Lookup {
                lhs,
                op: Lookup::IsNull,
                rhs: Rhs::Bool(true),
            });
        }
        (_, LookupValue::Null) => return bad("a value, not NULL"),
        (_, LookupValue::One(p)) => Rhs::Node(wrap(p)),
        (_, _) => return bad("one value"),
    };
    Ok(Where::Lookup { lhs, op, rhs })
}
