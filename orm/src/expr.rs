//! Expressions: typed column handles, F expressions, arithmetic, functions, aggregates,
//! Case/When, Coalesce, Cast, Subquery, Exists and OuterRef.
//!
//! Every typed expression is an [`Expr<M, B>`]: an expression over the columns of model `M`
//! whose value has the Rust type `B`. A [`Column<M, T>`] (what `model!` generates as
//! `Product::price`) is one too. Comparing with a value of another type, or with a column of
//! another model, does not compile:
//!
//! ```compile_fail
//! use hyperdjango_orm::prelude::*;
//! model! {
//!     #[table = "products"]
//!     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub price: f64 = Field::new() }
//! }
//! let _ = Product::price.lt("ten"); // a &str is not an f64
//! ```
//!
//! ```compile_fail
//! use hyperdjango_orm::prelude::*;
//! model! {
//!     #[table = "products"]
//!     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub price: f64 = Field::new() }
//! }
//! let _ = Product::prise.lt(10.0); // no such field
//! ```
//!
//! ```compile_fail
//! use hyperdjango_orm::prelude::*;
//! model! {
//!     #[table = "products"]
//!     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub price: f64 = Field::new() }
//! }
//! model! {
//!     #[table = "orders"]
//!     pub struct Order { pub id: Auto<i32> = Field::new().primary_key() }
//! }
//! let _ = Order::objects().filter(Product::price.lt(1.0)); // a condition on another model
//! ```
//!
//! The same code with the right name, type and model compiles:
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! model! {
//!     #[table = "products"]
//!     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub price: f64 = Field::new() }
//! }
//! let _ = Product::objects().filter(Product::price.lt(10.0));
//! ```
//!
//! Values always become bind parameters; the SQL text only ever holds quoted identifiers.

use std::fmt;
use std::marker::PhantomData;
use std::ops;
use std::sync::Arc;

use hyperdjango_pgwire::ToSql;

use crate::field::{Auto, FieldType, SqlValue};
use crate::lookup::{Lookup, Q, Rhs, Where};
use crate::model::Model;
use crate::query::{Query, QuerySet};

/// A bind parameter's value.
pub type Param = Arc<dyn ToSql + Send + Sync>;

/// An untyped expression tree (what typed expressions compile from).
#[doc(hidden)]
#[derive(Clone)]
pub enum Node {
    /// A field of the query's model, by index.
    Field(usize),
    /// A field or annotation by name (string forms), resolved when compiled.
    Name(String),
    /// A field of the enclosing query (`OuterRef`).
    Outer(String),
    /// A bind parameter.
    Param(Param),
    /// NULL.
    Null,
    /// `lhs op rhs`.
    Binary(Box<Node>, &'static str, Box<Node>),
    /// `-x`.
    Neg(Box<Node>),
    /// `name(args...)`.
    Func(&'static str, Vec<Node>),
    /// `EXTRACT(part FROM x)::integer`, or (`date`) `x::date`.
    Extract(&'static str, Box<Node>),
    /// `x::type`.
    Cast(Box<Node>, String),
    /// An aggregate.
    Agg {
        /// COUNT, SUM, ...
        func: &'static str,
        /// DISTINCT inside.
        distinct: bool,
        /// The argument (`*` when none).
        arg: Option<Box<Node>>,
        /// FILTER (WHERE ...).
        filter: Option<Box<Where>>,
    },
    /// CASE WHEN ... THEN ... ELSE ... END.
    Case(Vec<(Where, Node)>, Option<Box<Node>>),
    /// A scalar subquery.
    Subquery(Box<Query>),
    /// A boolean condition used as a value.
    Cond(Box<Where>),
    /// Raw SQL with `%s` placeholders for its parameters.
    Raw(String, Vec<Param>),
    /// random().
    Random,
    /// `ARRAY[a, b, ...]` (cast it to give an empty array a type).
    Array(Vec<Node>),
}

impl Node {
    pub(crate) fn param<V: ToSql + Send + Sync + 'static>(v: V) -> Node {
        Node::Param(Arc::new(v))
    }

    /// Whether the expression contains an aggregate (outside subqueries).
    pub(crate) fn has_aggregate(&self) -> bool {
        match self {
            Node::Agg { .. } => true,
            Node::Binary(a, _, b) => a.has_aggregate() || b.has_aggregate(),
            Node::Neg(a) | Node::Extract(_, a) | Node::Cast(a, _) => a.has_aggregate(),
            Node::Func(_, args) => args.iter().any(Node::has_aggregate),
            Node::Case(w, d) => {
                w.iter()
                    .any(|(c, n)| c.has_aggregate() || n.has_aggregate())
                    || d.as_ref().is_some_and(|d| d.has_aggregate())
            }
            Node::Cond(w) => w.has_aggregate(),
            _ => false,
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Field(i) => write!(f, "Field({i})"),
            Node::Name(n) => write!(f, "Name({n})"),
            Node::Outer(n) => write!(f, "OuterRef({n})"),
            Node::Param(p) => write!(f, "Param({})", p.rust_type()),
            _ => f.write_str("Node(..)"),
        }
    }
}

/// The type of string-form expressions (`f("price")`), whose Rust type is only known to the
/// database: any value may be compared with them.
#[derive(Debug, Clone, Copy)]
pub struct Dyn;

/// A typed expression over model `M` with values of Rust type `B`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product {
///         pub id: Auto<i32> = Field::new().primary_key(),
///         pub price: f64 = Field::new(),
///         pub cost: f64 = Field::new(),
///     }
/// }
/// let margin: Expr<Product, f64> = Product::price - Product::cost;
/// let _q = margin.gt(1.5);
/// ```
pub struct Expr<M, B> {
    pub(crate) node: Node,
    _t: PhantomData<fn() -> (M, B)>,
}

impl<M, B> Clone for Expr<M, B> {
    fn clone(&self) -> Self {
        Expr::new(self.node.clone())
    }
}

impl<M, B> fmt::Debug for Expr<M, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.node.fmt(f)
    }
}

impl<M, B> Expr<M, B> {
    /// Wraps an untyped node (for extensions; the node's type is not checked).
    #[doc(hidden)]
    pub fn new(node: Node) -> Self {
        Expr {
            node,
            _t: PhantomData,
        }
    }

    /// The untyped node.
    #[doc(hidden)]
    pub fn into_node(self) -> Node {
        self.node
    }

    /// The expression with its Rust type forgotten.
    pub fn dynamic(self) -> Expr<M, Dyn> {
        Expr::new(self.node)
    }
}

/// An assignment for `update`: `Product::stock.set(F(Product::stock) - 1)`.
pub struct Assignment<M> {
    pub(crate) field: usize,
    pub(crate) value: Node,
    _t: PhantomData<fn() -> M>,
}

impl<M, T: FieldType> Column<M, T> {
    /// `SET field = v` in [`QuerySet::update`]. A `None` into a non-nullable field is an error
    /// naming the model and field when the update runs.
    pub fn set(self, v: impl Operand<M, T::Base>) -> Assignment<M> {
        Assignment {
            field: self.index,
            value: v.into_node(),
            _t: PhantomData,
        }
    }
}

/// One assignment or a list of them.
pub trait IntoAssignments<M> {
    /// The assignments.
    #[doc(hidden)]
    fn into_assignments(self) -> Vec<(usize, Node)>;
}
impl<M> IntoAssignments<M> for Assignment<M> {
    fn into_assignments(self) -> Vec<(usize, Node)> {
        vec![(self.field, self.value)]
    }
}
impl<M, const N: usize> IntoAssignments<M> for [Assignment<M>; N] {
    fn into_assignments(self) -> Vec<(usize, Node)> {
        self.into_iter().map(|a| (a.field, a.value)).collect()
    }
}
impl<M> IntoAssignments<M> for Vec<Assignment<M>> {
    fn into_assignments(self) -> Vec<(usize, Node)> {
        self.into_iter().map(|a| (a.field, a.value)).collect()
    }
}

/// The typed handle of a model field, generated by `model!` as an associated constant
/// (`Product::price`). `T` is the field's Rust type.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub name: String = Field::new() }
/// }
/// assert_eq!(Product::name.name(), "name");
/// assert_eq!(Product::name.index(), 1);
/// ```
pub struct Column<M, T> {
    index: usize,
    name: &'static str,
    _t: PhantomData<fn() -> (M, T)>,
}

impl<M, T> Clone for Column<M, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M, T> Copy for Column<M, T> {}

impl<M, T> fmt::Debug for Column<M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Column({})", self.name)
    }
}

impl<M, T> Column<M, T> {
    /// A handle on field number `index` called `name` (used by `model!`).
    #[doc(hidden)]
    pub const fn new(index: usize, name: &'static str) -> Self {
        Column {
            index,
            name,
            _t: PhantomData,
        }
    }

    /// The field's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The field's position in the model.
    pub const fn index(&self) -> usize {
        self.index
    }
}

impl<M, T: FieldType> Column<M, T> {
    /// The column as an expression (what `F(column)` gives).
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// model! {
    ///     #[table = "products"]
    ///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub stock: i32 = Field::new() }
    /// }
    /// let _e: Expr<Product, i32> = Product::stock.expr();
    /// ```
    pub fn expr(self) -> Expr<M, T::Base> {
        Expr::new(Node::Field(self.index))
    }
}

/// Something that is an expression over `M` with values of type `B`: a column, an [`Expr`].
pub trait IntoExpr<M, B> {
    /// The expression.
    fn into_expr(self) -> Expr<M, B>;
}

impl<M, B> IntoExpr<M, B> for Expr<M, B> {
    fn into_expr(self) -> Expr<M, B> {
        self
    }
}

impl<M, T: FieldType> IntoExpr<M, T::Base> for Column<M, T> {
    fn into_expr(self) -> Expr<M, T::Base> {
        self.expr()
    }
}

/// What an expression of type `B` over `M` can be compared with: a value of type `B` (or
/// `Option<B>`, `&B`, `Auto<B>`, `&str` for strings), a column of `M` with the same type, or
/// an expression of the same type.
pub trait Operand<M, B> {
    /// The operand as a node.
    #[doc(hidden)]
    fn into_node(self) -> Node;
}

impl<M, B: SqlValue> Operand<M, B> for B {
    fn into_node(self) -> Node {
        Node::param(self)
    }
}

impl<M, B: SqlValue> Operand<M, B> for Option<B> {
    fn into_node(self) -> Node {
        match self {
            Some(v) => Node::param(v),
            None => Node::Null,
        }
    }
}

impl<M, B: SqlValue> Operand<M, B> for &B {
    fn into_node(self) -> Node {
        Node::param(self.clone())
    }
}

impl<M, B: SqlValue> Operand<M, B> for Auto<B> {
    fn into_node(self) -> Node {
        match self {
            Auto::Saved(v) => Node::param(v),
            Auto::Unsaved => Node::Null,
        }
    }
}

impl<M> Operand<M, String> for &str {
    fn into_node(self) -> Node {
        Node::param(self.to_string())
    }
}

impl<M, T: FieldType> Operand<M, T::Base> for Column<M, T> {
    fn into_node(self) -> Node {
        Node::Field(self.index)
    }
}

impl<M, B> Operand<M, B> for Expr<M, B> {
    fn into_node(self) -> Node {
        self.node
    }
}

/// Any value can be compared with a string-form expression.
impl<M, V: SqlValue> Operand<M, Dyn> for V {
    fn into_node(self) -> Node {
        Node::param(self)
    }
}

/// Numbers: the types arithmetic and Sum/Avg apply to.
pub trait Numeric {}
impl Numeric for i16 {}
impl Numeric for i32 {}
impl Numeric for i64 {}
impl Numeric for f32 {}
impl Numeric for f64 {}
impl Numeric for Dyn {}
#[cfg(feature = "rust_decimal")]
impl Numeric for rust_decimal::Decimal {}

macro_rules! arith {
    ($($tr:ident $m:ident $op:literal),*) => {$(
        impl<M, B: Numeric, R: Operand<M, B>> ops::$tr<R> for Expr<M, B> {
            type Output = Expr<M, B>;
            fn $m(self, rhs: R) -> Expr<M, B> {
                Expr::new(Node::Binary(Box::new(self.node), $op, Box::new(rhs.into_node())))
            }
        }
        impl<M, T: FieldType, R: Operand<M, T::Base>> ops::$tr<R> for Column<M, T>
        where
            T::Base: Numeric,
        {
            type Output = Expr<M, T::Base>;
            fn $m(self, rhs: R) -> Expr<M, T::Base> {
                Expr::new(Node::Binary(Box::new(Node::Field(self.index)), $op, Box::new(rhs.into_node())))
            }
        }
    )*};
}
arith!(Add add "+", Sub sub "-", Mul mul "*", Div div "/", Rem rem "%");

impl<M, B: Numeric> ops::Neg for Expr<M, B> {
    type Output = Expr<M, B>;
    fn neg(self) -> Expr<M, B> {
        Expr::new(Node::Neg(Box::new(self.node)))
    }
}

/// Django's `F()`: a column as an expression, for arithmetic, column-to-column comparisons
/// and atomic updates (`update(Product::stock, F(Product::stock) - 1)`).
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub stock: i32 = Field::new() }
/// }
/// let _e = F(Product::stock) - 1;
/// ```
#[allow(non_snake_case)]
pub fn F<M, T: FieldType>(column: Column<M, T>) -> Expr<M, T::Base> {
    column.expr()
}

/// The string form of `F`: a field or annotation by name, checked when the query runs.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub stock: i32 = Field::new() }
/// }
/// let _q = Product::objects().filter(f::<Product>("stock").gt(f("id")));
/// ```
pub fn f<M>(name: &str) -> Expr<M, Dyn> {
    Expr::new(Node::Name(name.to_string()))
}

/// A value as an expression (Django's `Value()`), e.g. as a Case branch or a Coalesce
/// fallback.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// let _e: Expr<(), i32> = value(3);
/// ```
pub fn value<M, B: SqlValue>(v: B) -> Expr<M, B> {
    Expr::new(Node::param(v))
}

/// Django's `OuterRef`: a field of the enclosing query, inside a [`Subquery`] or
/// [`exists`]. Checked against the outer model when the query runs.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "orders"]
///     pub struct Order { pub id: Auto<i32> = Field::new().primary_key(), pub product_id: i32 = Field::new() }
/// }
/// let _q = Order::product_id.eq(outer_ref::<Order, i32>("id"));
/// ```
pub fn outer_ref<M, B>(name: &str) -> Expr<M, B> {
    Expr::new(Node::Outer(name.to_string()))
}

/// Django's `Subquery`: a query returning one column (use `values`/`values_list` to choose
/// it) as a scalar expression; typed by the caller.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "orders"]
///     pub struct Order { pub id: Auto<i32> = Field::new().primary_key(), pub product_id: i32 = Field::new() }
/// }
/// let _e: Expr<Order, i64> = subquery(Order::objects().values(&["id"]).limit(1));
/// ```
pub fn subquery<M, B, N: Model>(qs: QuerySet<N>) -> Expr<M, B> {
    Expr::new(Node::Subquery(Box::new(qs.into_query())))
}

/// Django's `Exists`: whether a query returns a row, as a condition.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key() }
/// }
/// model! {
///     #[table = "orders"]
///     pub struct Order { pub id: Auto<i32> = Field::new().primary_key(), pub product_id: i32 = Field::new() }
/// }
/// let ordered = exists::<Product, _>(Order::objects().filter(Order::product_id.eq(outer_ref("id"))));
/// let _qs = Product::objects().filter(ordered);
/// ```
pub fn exists<M, N: Model>(qs: QuerySet<N>) -> Q<M> {
    Q::from_where(Where::Exists(Box::new(qs.into_query())))
}

/// Raw SQL as an expression, with `%s` for each parameter (Django's `RawSQL`). The SQL text
/// is trusted: never build it from user input.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// let _e: Expr<(), f64> = raw_sql("random() * %s", vec![std::sync::Arc::new(2.0f64)]);
/// ```
pub fn raw_sql<M, B>(sql: &str, params: Vec<Param>) -> Expr<M, B> {
    Expr::new(Node::Raw(sql.to_string(), params))
}

/// `COALESCE(a, b, ...)`: the first non-NULL argument.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub weight: Option<f64> = Field::new() }
/// }
/// let _e = coalesce([Product::weight.expr(), value(0.0)]);
/// ```
pub fn coalesce<M, B>(args: impl IntoIterator<Item = Expr<M, B>>) -> Expr<M, B> {
    Expr::new(Node::Func(
        "COALESCE",
        args.into_iter().map(|e| e.node).collect(),
    ))
}

/// `CAST(x AS type)`: the target Rust type is `C`; its SQL type comes from [`FieldType`].
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub stock: i32 = Field::new() }
/// }
/// let _e: Expr<Product, f64> = cast::<f64, _, _>(Product::stock);
/// ```
pub fn cast<C: FieldType, M, B>(e: impl IntoExpr<M, B>) -> Expr<M, C::Base> {
    let ty = match C::db_type() {
        "SERIAL" => "INTEGER",
        "BIGSERIAL" => "BIGINT",
        t => t,
    };
    Expr::new(Node::Cast(Box::new(e.into_expr().node), ty.to_string()))
}

/// `random()`, for `order_by(random())`.
///
/// ```
/// let _e: hyperdjango_orm::Expr<(), f64> = hyperdjango_orm::random();
/// ```
pub fn random<M>() -> Expr<M, f64> {
    Expr::new(Node::Random)
}

/// One branch of a [`case`]: `When(condition, then)`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub price: f64 = Field::new() }
/// }
/// let _w = when(Product::price.gt(100.0), value::<Product, _>("expensive".to_string()));
/// ```
pub struct When<M, B> {
    cond: Where,
    then: Node,
    _t: PhantomData<fn() -> (M, B)>,
}

/// A [`When`] branch.
pub fn when<M, B>(cond: Q<M>, then: impl Operand<M, B>) -> When<M, B> {
    When {
        cond: cond.into_where(),
        then: then.into_node(),
        _t: PhantomData,
    }
}

/// `CASE WHEN ... THEN ... [ELSE default] END` (Django's `Case`).
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub price: f64 = Field::new() }
/// }
/// let label: Expr<Product, String> = case(
///     [when(Product::price.gt(100.0), "expensive"), when(Product::price.gt(10.0), "fair")],
///     Some("cheap"),
/// );
/// let _qs = Product::objects().annotate("label", label);
/// ```
pub fn case<M, B, D: Operand<M, B>>(
    whens: impl IntoIterator<Item = When<M, B>>,
    default: Option<D>,
) -> Expr<M, B> {
    Expr::new(Node::Case(
        whens.into_iter().map(|w| (w.cond, w.then)).collect(),
        default.map(|d| Box::new(d.into_node())),
    ))
}

/// A condition as a boolean expression (for annotations).
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub price: f64 = Field::new() }
/// }
/// let _e: Expr<Product, bool> = condition(Product::price.gt(1.0));
/// ```
pub fn condition<M>(q: Q<M>) -> Expr<M, bool> {
    Expr::new(Node::Cond(Box::new(q.into_where())))
}

/// An aggregate: `Count`, `Sum`, `Avg`, `Min`, `Max`, `StdDev`, `Variance`, with an optional
/// `filter` (`FILTER (WHERE ...)`) and, for `Count`, `distinct`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub price: f64 = Field::new() }
/// }
/// let _n: Aggregate<Product, i64> = Count(Product::id).distinct().filter(Product::price.gt(1.0));
/// ```
pub struct Aggregate<M, B> {
    func: &'static str,
    distinct: bool,
    arg: Option<Node>,
    filter: Option<Where>,
    _t: PhantomData<fn() -> (M, B)>,
}

impl<M, B> Aggregate<M, B> {
    fn new(func: &'static str, arg: Option<Node>) -> Self {
        Aggregate {
            func,
            distinct: false,
            arg,
            filter: None,
            _t: PhantomData,
        }
    }

    /// The aggregate as an expression of any type (for [`QuerySet::aggregates`]).
    pub fn dynamic(self) -> Expr<M, Dyn> {
        Expr::new(self.into_expr().node)
    }

    /// Aggregates distinct values only.
    pub fn distinct(mut self) -> Self {
        self.distinct = true;
        self
    }

    /// Aggregates only the rows matching `q` (`FILTER (WHERE q)`).
    pub fn filter(mut self, q: Q<M>) -> Self {
        self.filter = Some(q.into_where());
        self
    }
}

impl<M, B> IntoExpr<M, B> for Aggregate<M, B> {
    fn into_expr(self) -> Expr<M, B> {
        Expr::new(Node::Agg {
            func: self.func,
            distinct: self.distinct,
            arg: self.arg.map(Box::new),
            filter: self.filter.map(Box::new),
        })
    }
}

impl<M, B> Operand<M, B> for Aggregate<M, B> {
    fn into_node(self) -> Node {
        self.into_expr().node
    }
}

/// `COUNT(x)` (an `i64`).
#[allow(non_snake_case)]
pub fn Count<M, B>(e: impl IntoExpr<M, B>) -> Aggregate<M, i64> {
    Aggregate::new("COUNT", Some(e.into_expr().node))
}

/// `COUNT(*)` (an `i64`).
///
/// ```
/// let _c: hyperdjango_orm::Aggregate<(), i64> = hyperdjango_orm::CountAll();
/// ```
#[allow(non_snake_case)]
pub fn CountAll<M>() -> Aggregate<M, i64> {
    Aggregate::new("COUNT", None)
}

/// `SUM(x)`. Read it as the database's result type: `i64` for `int4`, `Decimal` for `int8`,
/// `f64` for `float8` (use [`cast`] to choose).
#[allow(non_snake_case)]
pub fn Sum<M, B: Numeric>(e: impl IntoExpr<M, B>) -> Aggregate<M, B> {
    Aggregate::new("SUM", Some(e.into_expr().node))
}

/// `AVG(x)` (numeric for integers and numeric, `f64` for floats).
#[allow(non_snake_case)]
pub fn Avg<M, B: Numeric>(e: impl IntoExpr<M, B>) -> Aggregate<M, B> {
    Aggregate::new("AVG", Some(e.into_expr().node))
}

/// `MIN(x)`.
#[allow(non_snake_case)]
pub fn Min<M, B>(e: impl IntoExpr<M, B>) -> Aggregate<M, B> {
    Aggregate::new("MIN", Some(e.into_expr().node))
}

/// `MAX(x)`.
#[allow(non_snake_case)]
pub fn Max<M, B>(e: impl IntoExpr<M, B>) -> Aggregate<M, B> {
    Aggregate::new("MAX", Some(e.into_expr().node))
}

/// `STDDEV_POP(x)` (Django's `StdDev`; use [`StdDevSample`] for the sample).
#[allow(non_snake_case)]
pub fn StdDev<M, B: Numeric>(e: impl IntoExpr<M, B>) -> Aggregate<M, B> {
    Aggregate::new("STDDEV_POP", Some(e.into_expr().node))
}

/// `STDDEV_SAMP(x)`.
#[allow(non_snake_case)]
pub fn StdDevSample<M, B: Numeric>(e: impl IntoExpr<M, B>) -> Aggregate<M, B> {
    Aggregate::new("STDDEV_SAMP", Some(e.into_expr().node))
}

/// `VAR_POP(x)` (Django's `Variance`; use [`VarianceSample`] for the sample).
#[allow(non_snake_case)]
pub fn Variance<M, B: Numeric>(e: impl IntoExpr<M, B>) -> Aggregate<M, B> {
    Aggregate::new("VAR_POP", Some(e.into_expr().node))
}

/// `VAR_SAMP(x)`.
#[allow(non_snake_case)]
pub fn VarianceSample<M, B: Numeric>(e: impl IntoExpr<M, B>) -> Aggregate<M, B> {
    Aggregate::new("VAR_SAMP", Some(e.into_expr().node))
}

/// An ORDER BY term: an expression, a direction, and where NULLs go.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub weight: Option<f64> = Field::new() }
/// }
/// let _o = Product::weight.desc().nulls_last();
/// ```
pub struct OrderBy<M> {
    pub(crate) node: Node,
    pub(crate) desc: bool,
    pub(crate) nulls: Option<bool>,
    _t: PhantomData<fn() -> M>,
}

impl<M> Clone for OrderBy<M> {
    fn clone(&self) -> Self {
        OrderBy {
            node: self.node.clone(),
            desc: self.desc,
            nulls: self.nulls,
            _t: PhantomData,
        }
    }
}

impl<M> OrderBy<M> {
    pub(crate) fn new(node: Node, desc: bool) -> Self {
        OrderBy {
            node,
            desc,
            nulls: None,
            _t: PhantomData,
        }
    }

    /// NULLS FIRST.
    pub fn nulls_first(mut self) -> Self {
        self.nulls = Some(true);
        self
    }

    /// NULLS LAST.
    pub fn nulls_last(mut self) -> Self {
        self.nulls = Some(false);
        self
    }

    pub(crate) fn untyped(self) -> crate::query::OrderTerm {
        crate::query::OrderTerm {
            node: self.node,
            desc: self.desc,
            nulls: self.nulls,
        }
    }
}

/// What `order_by` takes: one term or a list of them. A column or expression is ascending;
/// a string is a field or annotation name, `-` in front for descending, or `?` for random.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub name: String = Field::new() }
/// }
/// let _a = Product::objects().order_by(Product::name);
/// let _b = Product::objects().order_by([Product::name.desc(), Product::id.asc()]);
/// let _c = Product::objects().order_by(["-name", "id"]);
/// ```
pub trait IntoOrdering<M> {
    /// The terms.
    #[doc(hidden)]
    fn into_terms(self) -> Vec<crate::query::OrderTerm>;
}

impl<M> IntoOrdering<M> for OrderBy<M> {
    fn into_terms(self) -> Vec<crate::query::OrderTerm> {
        vec![self.untyped()]
    }
}
impl<M, T: FieldType> IntoOrdering<M> for Column<M, T> {
    fn into_terms(self) -> Vec<crate::query::OrderTerm> {
        vec![self.asc().untyped()]
    }
}
impl<M, B> IntoOrdering<M> for Expr<M, B> {
    fn into_terms(self) -> Vec<crate::query::OrderTerm> {
        vec![OrderBy::<M>::new(self.node, false).untyped()]
    }
}
impl<M, const N: usize> IntoOrdering<M> for [OrderBy<M>; N] {
    fn into_terms(self) -> Vec<crate::query::OrderTerm> {
        self.into_iter().map(OrderBy::untyped).collect()
    }
}
impl<M> IntoOrdering<M> for Vec<OrderBy<M>> {
    fn into_terms(self) -> Vec<crate::query::OrderTerm> {
        self.into_iter().map(OrderBy::untyped).collect()
    }
}
impl<M> IntoOrdering<M> for &str {
    fn into_terms(self) -> Vec<crate::query::OrderTerm> {
        vec![crate::query::OrderTerm::parse(self)]
    }
}
impl<M, const N: usize> IntoOrdering<M> for [&str; N] {
    fn into_terms(self) -> Vec<crate::query::OrderTerm> {
        self.iter()
            .map(|s| crate::query::OrderTerm::parse(s))
            .collect()
    }
}

/// The lookups and transforms every typed expression has. They are generated for both
/// [`Column`] and [`Expr`] (inherent methods, so no trait import is needed).
macro_rules! common_methods {
    ($B:ty) => {
        fn node_of(self) -> Node {
            self.into_operand_node()
        }

        fn lookup(self, op: Lookup, rhs: Rhs) -> Q<M> {
            Q::from_where(Where::Lookup {
                lhs: self.node_of(),
                op,
                rhs,
            })
        }

        /// `= v` (Django's `exact`); `None` becomes `IS NULL`.
        pub fn eq(self, v: impl Operand<M, $B>) -> Q<M> {
            match v.into_node() {
                Node::Null => self.lookup(Lookup::IsNull, Rhs::Bool(true)),
                n => self.lookup(Lookup::Exact, Rhs::Node(n)),
            }
        }

        /// Django's `exact`: the same as [`eq`](Self::eq).
        pub fn exact(self, v: impl Operand<M, $B>) -> Q<M> {
            self.eq(v)
        }

        /// `<> v`; `None` becomes `IS NOT NULL`.
        pub fn ne(self, v: impl Operand<M, $B>) -> Q<M> {
            !self.eq(v)
        }

        /// `< v`.
        pub fn lt(self, v: impl Operand<M, $B>) -> Q<M> {
            self.lookup(Lookup::Lt, Rhs::Node(v.into_node()))
        }

        /// `<= v`.
        pub fn lte(self, v: impl Operand<M, $B>) -> Q<M> {
            self.lookup(Lookup::Lte, Rhs::Node(v.into_node()))
        }

        /// `> v`.
        pub fn gt(self, v: impl Operand<M, $B>) -> Q<M> {
            self.lookup(Lookup::Gt, Rhs::Node(v.into_node()))
        }

        /// `>= v`.
        pub fn gte(self, v: impl Operand<M, $B>) -> Q<M> {
            self.lookup(Lookup::Gte, Rhs::Node(v.into_node()))
        }

        /// Contains `v`: on text `LIKE '%v%'` (the user's `%`, `_` and `\` escaped), on
        /// JSONB and arrays `@>` (see [`ContainsValue`](crate::containment::ContainsValue)).
        pub fn contains(self, v: impl crate::containment::ContainsValue<$B>) -> Q<M> {
            let (op, rhs) = v.contains_rhs();
            self.lookup(op, rhs)
        }

        /// `<@`: the JSON document or array is contained in `v` (Django's `contained_by`).
        pub fn contained_by(self, v: impl crate::containment::ContainedByValue<$B>) -> Q<M> {
            let rhs = v.contained_by_rhs();
            self.lookup(Lookup::ContainedBy, rhs)
        }

        /// `IN (...)`; an empty list matches nothing (and sends no query text error).
        pub fn is_in<V: Operand<M, $B>>(self, values: impl IntoIterator<Item = V>) -> Q<M> {
            let list: Vec<Node> = values.into_iter().map(Operand::into_node).collect();
            self.lookup(Lookup::In, Rhs::List(list))
        }

        /// `IN (subquery)`: the query must select one column (`values`).
        pub fn in_query<N: Model>(self, qs: QuerySet<N>) -> Q<M> {
            self.lookup(Lookup::In, Rhs::Query(Box::new(qs.into_query())))
        }

        /// `BETWEEN low AND high` (Django's `range`).
        pub fn range(self, low: impl Operand<M, $B>, high: impl Operand<M, $B>) -> Q<M> {
            self.lookup(Lookup::Range, Rhs::Pair(low.into_node(), high.into_node()))
        }

        /// `IS NULL` (true) or `IS NOT NULL` (false).
        pub fn isnull(self, yes: bool) -> Q<M> {
            self.lookup(Lookup::IsNull, Rhs::Bool(yes))
        }

        /// A lookup registered with [`register_lookup`](crate::register_lookup), by name.
        pub fn custom(self, name: &str, v: impl Operand<M, $B>) -> Q<M> {
            match crate::lookup::user_lookup(name) {
                Some(l) => self.lookup(Lookup::User(l), Rhs::Node(v.into_node())),
                None => Q::from_where(Where::Invalid(format!("unknown lookup {name:?}"))),
            }
        }

        /// Ascending order.
        pub fn asc(self) -> OrderBy<M> {
            OrderBy::new(self.node_of(), false)
        }

        /// Descending order.
        pub fn desc(self) -> OrderBy<M> {
            OrderBy::new(self.node_of(), true)
        }
    };
}

macro_rules! text_methods {
    () => {
        fn text(self, op: Lookup, v: String) -> Q<M> {
            self.lookup(op, Rhs::Node(Node::param(v)))
        }

        /// Case-insensitive equality (`UPPER(x) = UPPER(v)`).
        pub fn iexact(self, v: &str) -> Q<M> {
            self.text(Lookup::IExact, v.to_string())
        }

        /// Contains `v`, ignoring case (`ILIKE`).
        pub fn icontains(self, v: &str) -> Q<M> {
            self.text(Lookup::IContains, v.to_string())
        }

        /// Starts with `v`.
        pub fn startswith(self, v: &str) -> Q<M> {
            self.text(Lookup::StartsWith, v.to_string())
        }

        /// Starts with `v`, ignoring case.
        pub fn istartswith(self, v: &str) -> Q<M> {
            self.text(Lookup::IStartsWith, v.to_string())
        }

        /// Ends with `v`.
        pub fn endswith(self, v: &str) -> Q<M> {
            self.text(Lookup::EndsWith, v.to_string())
        }

        /// Ends with `v`, ignoring case.
        pub fn iendswith(self, v: &str) -> Q<M> {
            self.text(Lookup::IEndsWith, v.to_string())
        }

        /// Matches the PostgreSQL regular expression `v` (`~`). An invalid pattern is an
        /// error naming the model and field.
        pub fn regex(self, v: &str) -> Q<M> {
            self.text(Lookup::Regex, v.to_string())
        }

        /// Matches the regular expression ignoring case (`~*`).
        pub fn iregex(self, v: &str) -> Q<M> {
            self.text(Lookup::IRegex, v.to_string())
        }

        /// `LOWER(x)`.
        pub fn lower(self) -> Expr<M, String> {
            Expr::new(Node::Func("LOWER", vec![self.node_of()]))
        }

        /// `UPPER(x)`.
        pub fn upper(self) -> Expr<M, String> {
            Expr::new(Node::Func("UPPER", vec![self.node_of()]))
        }

        /// `LENGTH(x)` (an `i32`).
        pub fn length(self) -> Expr<M, i32> {
            Expr::new(Node::Func("LENGTH", vec![self.node_of()]))
        }
    };
}

macro_rules! date_methods {
    () => {
        fn part(self, part: &'static str) -> Expr<M, i32> {
            Expr::new(Node::Extract(part, Box::new(self.node_of())))
        }

        /// The year.
        pub fn year(self) -> Expr<M, i32> {
            self.part("YEAR")
        }
        /// The month (1-12).
        pub fn month(self) -> Expr<M, i32> {
            self.part("MONTH")
        }
        /// The day of the month.
        pub fn day(self) -> Expr<M, i32> {
            self.part("DAY")
        }
        /// The ISO week number.
        pub fn week(self) -> Expr<M, i32> {
            self.part("WEEK")
        }
        /// The day of the week, 1 (Sunday) to 7 (Saturday), as Django's `week_day`.
        pub fn week_day(self) -> Expr<M, i32> {
            self.part("WEEK_DAY")
        }
        /// The quarter (1-4).
        pub fn quarter(self) -> Expr<M, i32> {
            self.part("QUARTER")
        }
        /// The hour.
        pub fn hour(self) -> Expr<M, i32> {
            self.part("HOUR")
        }
        /// The minute.
        pub fn minute(self) -> Expr<M, i32> {
            self.part("MINUTE")
        }
        /// The second (whole seconds).
        pub fn second(self) -> Expr<M, i32> {
            self.part("SECOND")
        }
    };
}

impl<M, T: FieldType> Column<M, T> {
    fn into_operand_node(self) -> Node {
        Node::Field(self.index)
    }
    common_methods!(T::Base);
}

impl<M, B> Expr<M, B> {
    fn into_operand_node(self) -> Node {
        self.node
    }
    common_methods!(B);
}

impl<M, T: FieldType<Base = String>> Column<M, T> {
    text_methods!();
}

impl<M> Expr<M, String> {
    text_methods!();
}

impl<M> Expr<M, Dyn> {
    text_methods!();
    date_methods!();
}

/// Date and time types: the ones with year/month/... transforms.
pub trait Temporal {}
#[cfg(feature = "chrono")]
impl Temporal for chrono::DateTime<chrono::Utc> {}
#[cfg(feature = "chrono")]
impl Temporal for chrono::NaiveDateTime {}
#[cfg(feature = "chrono")]
impl Temporal for chrono::NaiveDate {}
#[cfg(feature = "chrono")]
impl Temporal for chrono::NaiveTime {}

impl<M, T: FieldType> Column<M, T>
where
    T::Base: Temporal,
{
    date_methods!();
}

impl<M, B: Temporal> Expr<M, B> {
    date_methods!();
}

#[cfg(feature = "chrono")]
impl<M, T: FieldType> Column<M, T>
where
    T::Base: Temporal,
{
    /// The date part (`x::date`, Django's `date` transform).
    pub fn date(self) -> Expr<M, chrono::NaiveDate> {
        Expr::new(Node::Extract("DATE", Box::new(Node::Field(self.index))))
    }
}
