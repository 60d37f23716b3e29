//! Relations: [`ForeignKey`] fields.
//!
//! A foreign key is declared against the target model's type, like the spec's
//! `customer_id: int = Field(foreign_key=Customer)`:
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::relations::{ForeignKey, OnDelete};
//!
//! model! {
//!     #[table = "customers"]
//!     #[derive(Debug, Clone)]
//!     pub struct Customer { pub id: Auto<i64> = Field::new().primary_key(), pub name: String }
//! }
//! model! {
//!     #[table = "orders"]
//!     #[derive(Debug, Clone)]
//!     pub struct Order {
//!         pub id: Auto<i64> = Field::new().primary_key(),
//!         pub customer: ForeignKey<Customer> = Field::new().on_delete(OnDelete::Cascade).related_name("orders"),
//!         pub referrer: Option<ForeignKey<Customer>> = Field::new().on_delete(OnDelete::SetNull),
//!     }
//! }
//!
//! let ddl = &hyperdjango_orm::ddl::create_table_sql::<Order>()[0];
//! assert!(ddl.contains(r#""customer_id" BIGINT NOT NULL REFERENCES "customers" ("id") ON DELETE CASCADE"#), "{ddl}");
//! assert!(ddl.contains(r#""referrer_id" BIGINT REFERENCES "customers" ("id") ON DELETE SET NULL"#), "{ddl}");
//!
//! let o = Order { customer: ForeignKey::to(7), ..Default::default() };
//! assert_eq!(o.customer.id(), Some(&7));
//! // The related object was not loaded, and is never fetched behind your back:
//! let err = o.customer.get().unwrap_err().to_string();
//! assert!(err.contains("Customer 7 was not loaded"), "{err}");
//! // Filters compare the key: Order::customer.eq(7i64)
//! let _q = Order::customer.eq(7i64);
//! ```
//!
//! The column is the field's name plus `_id` (`customer_id`) unless `db_column` says
//! otherwise. `on_delete` becomes the constraint's `ON DELETE` action (CASCADE, SET NULL,
//! SET DEFAULT, RESTRICT; PROTECT is RESTRICT; DO NOTHING is NO ACTION), so PostgreSQL
//! carries it out atomically; the default is CASCADE. `ForeignKey<T, K>` takes the key type
//! `K` of the target (`i64` by default; `i32` for `Auto<i32>` keys, `String`, `Uuid`, ...).
//! A self-referencing key (`ForeignKey<Category>` inside `Category`) works as any other.
//!
//! **One-to-one** is a foreign key with `.unique()` (one profile per customer), or with
//! `.primary_key()` when the row's key is the key of the row it extends (the 2005
//! reference's Restaurant of a Place); its reverse side is `related_to(&target)?.get_one()`.
//!
//! A delete that RESTRICT or PROTECT refuses fails with the server's error, which names the
//! constraint and the referencing table: `foreign_key_violation` (23503) on PostgreSQL 15,
//! `restrict_violation` (23001) on 18.
//! Because PostgreSQL runs the cascades, an instance's `delete` counts only its own row in
//! the per-model counts it returns.
//!
//! [`ForeignKey::fetch`] loads the related object with one query;
//! [`ForeignKey::get`] returns one already loaded (by [`ForeignKey::set_object`], or by
//! `select_related`) and is an error otherwise.

use std::fmt;
use std::sync::Arc;

use hyperdjango_pgwire::__private::BytesMut;
use hyperdjango_pgwire::types::{BoxError, FromSql, FromSqlOwned, IsNull, ToSql, Type};

use crate::error::{Error, Result};
use crate::field::{FieldType, NotNull};
use crate::model::{Model, ModelMeta};

/// What happens to the rows pointing at a deleted row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDelete {
    /// Delete them too.
    #[default]
    Cascade,
    /// Set their key to NULL (the field must be an `Option`).
    SetNull,
    /// Set their key to the column's default.
    SetDefault,
    /// Refuse the delete while they exist.
    Restrict,
    /// Refuse the delete while they exist (Django's PROTECT; RESTRICT in the database).
    Protect,
    /// Nothing: the constraint is checked at the end of the statement (NO ACTION).
    DoNothing,
}

impl OnDelete {
    /// The SQL action.
    ///
    /// ```
    /// assert_eq!(hyperdjango_orm::relations::OnDelete::SetNull.sql(), "SET NULL");
    /// ```
    pub fn sql(self) -> &'static str {
        match self {
            OnDelete::Cascade => "CASCADE",
            OnDelete::SetNull => "SET NULL",
            OnDelete::SetDefault => "SET DEFAULT",
            OnDelete::Restrict | OnDelete::Protect => "RESTRICT",
            OnDelete::DoNothing => "NO ACTION",
        }
    }
}

/// What a relation field's metadata knows about its target.
#[derive(Debug, Clone, Copy)]
pub struct Relation {
    /// The target model's metadata (a function, so self-references work).
    pub target: fn() -> &'static ModelMeta,
}

/// A foreign key to model `T` whose primary key has type `K`: the key, and the related
/// object when it was loaded. See the [module docs](self).
pub struct ForeignKey<T, K = i64> {
    id: Option<K>,
    object: Option<Arc<T>>,
}

impl<T, K: Clone> Clone for ForeignKey<T, K> {
    fn clone(&self) -> Self {
        ForeignKey {
            id: self.id.clone(),
            object: self.object.clone(),
        }
    }
}

impl<T, K: PartialEq> PartialEq for ForeignKey<T, K> {
    /// Equal when the keys are.
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T, K> Default for ForeignKey<T, K> {
    fn default() -> Self {
        ForeignKey {
            id: None,
            object: None,
        }
    }
}

impl<T, K: fmt::Debug> fmt::Debug for ForeignKey<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignKey")
            .field("id", &self.id)
            .field("loaded", &self.object.is_some())
            .finish()
    }
}

impl<T: Model, K> ForeignKey<T, K>
where
    K: Clone + fmt::Debug + ToSql + FromSqlOwned + Send + Sync + 'static,
{
    /// A key pointing at the row whose primary key is `id`.
    ///
    /// ```
    /// # use hyperdjango_orm::prelude::*;
    /// # model! { #[table = "c"] pub struct C { pub id: Auto<i64> = Field::new().primary_key() } }
    /// let fk = hyperdjango_orm::relations::ForeignKey::<C>::to(3);
    /// assert_eq!(fk.id(), Some(&3));
    /// ```
    pub fn to(id: K) -> Self {
        ForeignKey {
            id: Some(id),
            object: None,
        }
    }

    /// The key (`None` before one is set).
    pub fn id(&self) -> Option<&K> {
        self.id.as_ref()
    }

    /// Points at another row (forgetting a loaded object).
    pub fn set_id(&mut self, id: K) {
        self.id = Some(id);
        self.object = None;
    }

    /// Points at `object` and keeps it as the loaded related object. An unsaved object
    /// (no primary key yet) is an error.
    ///
    /// ```
    /// # use hyperdjango_orm::prelude::*;
    /// # use hyperdjango_orm::relations::ForeignKey;
    /// # model! { #[derive(Debug, Clone)] #[table = "c"] pub struct C { pub id: Auto<i64> = Field::new().primary_key() } }
    /// let mut fk = ForeignKey::<C>::default();
    /// assert!(fk.set_object(C::default()).is_err()); // not saved: no key
    /// fk.set_object(C { id: Auto::Saved(9), ..Default::default() })?;
    /// assert_eq!(fk.id(), Some(&9));
    /// assert_eq!(fk.get()?.id, Auto::Saved(9));
    /// # Ok::<(), hyperdjango_orm::Error>(())
    /// ```
    pub fn set_object(&mut self, object: T) -> Result<()> {
        self.id = Some(key_of::<T, K>(&object)?);
        self.object = Some(Arc::new(object));
        Ok(())
    }

    /// The related object, if it was loaded (`select_related`, `set_object`, `fetch_into`);
    /// otherwise an error that says how to load it. Never a query.
    pub fn get(&self) -> Result<&T> {
        match (&self.object, &self.id) {
            (Some(o), _) => Ok(o),
            (None, Some(id)) => Err(Error::Usage(format!(
                "the related {} {id:?} was not loaded: use select_related, or fetch() it",
                T::meta().name
            ))),
            (None, None) => Err(Error::Usage(format!(
                "no related {}: the key is not set",
                T::meta().name
            ))),
        }
    }

    /// Whether the related object is loaded.
    pub fn is_loaded(&self) -> bool {
        self.object.is_some()
    }

    /// Loads the related object with one query (on the default database, or the target's
    /// Meta/router one), without keeping it.
    pub async fn fetch(&self) -> Result<T> {
        let Some(id) = &self.id else {
            return Err(Error::Usage(format!(
                "no related {}: the key is not set",
                T::meta().name
            )));
        };
        let pk = T::meta().pk().name;
        let param: crate::expr::Param = Arc::new(id.clone());
        crate::QuerySet::<T>::new()
            .get(crate::lookup::q::<T>(pk, param)?)
            .await
    }

    /// Loads the related object and keeps it, so [`ForeignKey::get`] returns it.
    pub async fn fetch_into(&mut self) -> Result<&T> {
        let object = self.fetch().await?;
        self.object = Some(Arc::new(object));
        self.get()
    }
}

/// The primary key of `object` as a `K` (through its binary encoding, so any key type
/// whose encodings agree works).
pub(crate) fn key_of<T: Model, K: FromSqlOwned>(object: &T) -> Result<K> {
    let meta = T::meta();
    let unsaved = || {
        Error::Usage(format!(
            "a {} without a primary key (unsaved) cannot be the target of a foreign key",
            meta.name
        ))
    };
    let pk = object.__field_ref(meta.pk_index).ok_or_else(unsaved)?;
    let mut buf = BytesMut::new();
    let ty = pk.sql_type();
    match pk.to_sql(&ty, &mut buf) {
        Ok(IsNull::No) => {}
        Ok(IsNull::Yes) => return Err(unsaved()),
        Err(e) => return Err(Error::Usage(format!("{}: its key: {e}", meta.name))),
    }
    K::from_sql(&ty, &buf).map_err(|e| {
        Error::Usage(format!(
            "{}'s key does not fit the foreign key's key type {}: {e}",
            meta.name,
            std::any::type_name::<K>()
        ))
    })
}

impl<T, K: ToSql> ToSql for ForeignKey<T, K> {
    fn sql_type(&self) -> Type {
        match &self.id {
            Some(k) => k.sql_type(),
            None => K::declared_type(),
        }
    }
    fn accepts(&self, ty: &Type) -> bool {
        self.id.as_ref().is_none_or(|k| k.accepts(ty))
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match &self.id {
            Some(k) => k.to_sql(ty, out),
            None => Ok(IsNull::Yes),
        }
    }
    fn declared_type() -> Type {
        K::declared_type()
    }
}

impl<'a, T, K: FromSql<'a>> FromSql<'a> for ForeignKey<T, K> {
    fn accepts(ty: &Type) -> bool {
        K::accepts(ty)
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(ForeignKey {
            id: Some(K::from_sql(ty, raw)?),
            object: None,
        })
    }
}

impl<T, K> FieldType for ForeignKey<T, K>
where
    T: Model + Send + Sync,
    K: NotNull + fmt::Debug,
{
    type Base = K;
    fn db_type() -> &'static str {
        K::db_type()
    }
    fn zero() -> Self {
        ForeignKey::default()
    }
    fn as_base(&self) -> Option<&K> {
        self.id.as_ref()
    }
    fn from_base(b: K) -> Self {
        ForeignKey {
            id: Some(b),
            object: None,
        }
    }
    fn relation() -> Option<Relation> {
        Some(Relation { target: T::meta })
    }
    fn __load_related(&mut self, row: &hyperdjango_pgwire::Row, node: &RelatedNode) -> Result<()> {
        self.load_from(row, node)
    }
}

impl<T, K> FieldType for Option<ForeignKey<T, K>>
where
    T: Model + Send + Sync,
    K: NotNull + fmt::Debug,
{
    type Base = K;
    const NULLABLE: bool = true;
    fn db_type() -> &'static str {
        K::db_type()
    }
    fn zero() -> Self {
        None
    }
    fn as_base(&self) -> Option<&K> {
        self.as_ref().and_then(|fk| fk.id.as_ref())
    }
    fn from_base(b: K) -> Self {
        Some(ForeignKey::from_base(b))
    }
    fn relation() -> Option<Relation> {
        Some(Relation { target: T::meta })
    }
    fn __load_related(&mut self, row: &hyperdjango_pgwire::Row, node: &RelatedNode) -> Result<()> {
        match self {
            Some(fk) => fk.load_from(row, node),
            None => Ok(()),
        }
    }
}

impl<M: Model, T: Model, K> crate::expr::Column<M, ForeignKey<T, K>>
where
    ForeignKey<T, K>: FieldType<Base = K>,
    K: crate::field::SqlValue + FromSqlOwned,
{
    /// The reverse side of the relation: the rows of `M` pointing at `target`, as a
    /// QuerySet (Django's `author.book_set`, HyperDjango's `author.books()`).
    ///
    /// ```
    /// # use hyperdjango_orm::prelude::*;
    /// # use hyperdjango_orm::relations::ForeignKey;
    /// # model! { #[derive(Debug, Clone)] #[table = "authors"] pub struct Author { pub id: Auto<i64> = Field::new().primary_key() } }
    /// # model! { #[derive(Debug, Clone)] #[table = "books"] pub struct Book { pub id: Auto<i64> = Field::new().primary_key(), pub author: ForeignKey<Author> } }
    /// let author = Author { id: Auto::Saved(4), ..Default::default() };
    /// let books = Book::author.related_to(&author)?; // then .all().await, .count().await, ...
    /// assert!(books.to_sql()?.0.contains(r#""author_id" = $1"#));
    /// # Ok::<(), hyperdjango_orm::Error>(())
    /// ```
    pub fn related_to(self, target: &T) -> Result<crate::QuerySet<M>> {
        let key: K = key_of::<T, K>(target)?;
        Ok(crate::QuerySet::<M>::new().filter(self.eq(key)))
    }
}

/// One relation loaded by `select_related`: the field (of the model the node hangs off), the
/// target's metadata, where the target's columns start in the row, and the relations
/// loaded below it.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct RelatedNode {
    /// The foreign key's index among its model's fields.
    pub field: usize,
    /// The target model.
    pub target: &'static ModelMeta,
    /// The first column of the target in the row.
    pub start: usize,
    /// Whether every foreign key from the root to this one is NOT NULL (an INNER JOIN).
    pub inner: bool,
    /// Relations of the target that are loaded too.
    pub children: Vec<RelatedNode>,
}

/// Resolves `select_related` paths (`"customer"`, `"author__publisher"`) against `meta`
/// into a tree, with column offsets from `first_column`. A name that is not a foreign key
/// is an error naming the model and the name.
pub(crate) fn related_tree(
    meta: &'static ModelMeta,
    paths: &[String],
    first_column: usize,
) -> Result<Vec<RelatedNode>> {
    let mut roots: Vec<RelatedNode> = Vec::new();
    for path in paths {
        let mut level = &mut roots;
        let mut model = meta;
        let mut inner = true;
        for name in path.split("__") {
            let f = model.field(name).ok_or_else(|| model.no_such_field(name))?;
            let rel = f.relation.ok_or_else(|| {
                Error::field(
                    model.name,
                    name,
                    "select_related needs a foreign key, and this field is not one",
                )
            })?;
            inner &= !f.nullable;
            let pos = match level.iter().position(|n| n.field == f.index) {
                Some(p) => p,
                None => {
                    level.push(RelatedNode {
                        field: f.index,
                        target: (rel.target)(),
                        start: 0,
                        inner,
                        children: Vec::new(),
                    });
                    level.len() - 1
                }
            };
            model = level[pos].target;
            level = &mut level[pos].children;
        }
    }
    let mut next = first_column;
    fn place(nodes: &mut [RelatedNode], next: &mut usize) {
        for n in nodes {
            n.start = *next;
            *next += n.target.fields.len();
            place(&mut n.children, next);
        }
    }
    place(&mut roots, &mut next);
    Ok(roots)
}

/// Decodes the target of `node` from `row` (None when the LEFT JOIN found no row), with
/// its own selected relations attached.
pub(crate) fn decode_related<T: Model>(
    row: &hyperdjango_pgwire::Row,
    node: &RelatedNode,
) -> Result<Option<T>> {
    let meta = T::meta();
    if row.raw(node.start + meta.pk_index)?.is_none() {
        return Ok(None);
    }
    let map: Vec<Option<usize>> = (0..meta.fields.len())
        .map(|i| Some(node.start + i))
        .collect();
    let mut object = T::__decode(row, &map)?;
    for child in &node.children {
        object.__load_related(row, child)?;
    }
    Ok(Some(object))
}

impl<T, K> ForeignKey<T, K>
where
    T: Model + Send + Sync,
{
    /// Attaches the object `select_related` loaded (see [`FieldType::__load_related`]).
    fn load_from(&mut self, row: &hyperdjango_pgwire::Row, node: &RelatedNode) -> Result<()> {
        if let Some(object) = decode_related::<T>(row, node)? {
            self.object = Some(Arc::new(object));
        }
        Ok(())
    }
}

/// Field `index` of `row` as the foreign key it is, nullable or not (None for another type
/// or a NULL key).
fn fk_field<M: Model, T: 'static, K: 'static>(
    row: &mut M,
    index: usize,
) -> Option<&mut ForeignKey<T, K>> {
    let any = row.__field_any_mut(index)?;
    if any.is::<ForeignKey<T, K>>() {
        return any.downcast_mut::<ForeignKey<T, K>>();
    }
    any.downcast_mut::<Option<ForeignKey<T, K>>>()
        .and_then(Option::as_mut)
}

/// The rows of `M` that point at each target, grouped by the target's key (the result of
/// [`Column::prefetch`](crate::Column)): one query for any number of targets.
#[derive(Debug)]
pub struct Prefetched<K, M> {
    pub(crate) groups: std::collections::HashMap<K, Vec<M>>,
}

impl<K: std::hash::Hash + Eq, M> Prefetched<K, M> {
    /// The rows pointing at the target with key `key` (empty when none).
    pub fn for_key(&self, key: &K) -> &[M] {
        self.groups.get(key).map_or(&[], Vec::as_slice)
    }

    /// Takes the rows pointing at `key` out.
    pub fn take(&mut self, key: &K) -> Vec<M> {
        self.groups.remove(key).unwrap_or_default()
    }

    /// How many targets have at least one row.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no row points at any of the targets.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Every row that was loaded, whatever target it points at (for prefetching the next
    /// level: `Comment::post.prefetch(&posts.rows().cloned().collect::<Vec<_>>())`).
    pub fn rows(&self) -> impl Iterator<Item = &M> {
        self.groups.values().flatten()
    }
}

impl<K, M> IntoIterator for Prefetched<K, M> {
    type Item = (K, Vec<M>);
    type IntoIter = std::collections::hash_map::IntoIter<K, Vec<M>>;

    /// The groups: each target's key with its rows.
    fn into_iter(self) -> Self::IntoIter {
        self.groups.into_iter()
    }
}

/// `field = ANY($n)` on model `meta`, with all the keys in one array parameter: the SQL text
/// is the same however many keys there are, so it is prepared once.
fn any_of<M, K>(field: usize, keys: Vec<K>) -> crate::Q<M>
where
    M: Model,
    K: crate::field::SqlValue,
{
    let meta = M::meta();
    let sql = format!(
        "{}.{} = ANY(%s)",
        meta.qtable(),
        crate::compiler::quote(meta.fields[field].column)
    );
    let keys: crate::expr::Param = Arc::new(keys);
    crate::Q::from_where(crate::lookup::Where::Raw(
        sql,
        vec![keys],
        Some(vec![meta.table]),
    ))
}

/// [`Column::prefetch_with`](crate::Column) for the foreign key field `index` of `M`.
async fn prefetch_rows<M: Model, T: Model, K>(
    index: usize,
    targets: &[T],
    queryset: crate::QuerySet<M>,
) -> Result<Prefetched<K, M>>
where
    K: crate::field::SqlValue + FromSqlOwned + std::hash::Hash + Eq,
{
    let mut keys: Vec<K> = Vec::with_capacity(targets.len());
    let mut seen = std::collections::HashSet::new();
    for t in targets {
        let k = key_of::<T, K>(t)?;
        if seen.insert(k.clone()) {
            keys.push(k);
        }
    }
    let mut groups: std::collections::HashMap<K, Vec<M>> = std::collections::HashMap::new();
    if keys.is_empty() {
        return Ok(Prefetched { groups });
    }
    for mut row in queryset.filter(any_of::<M, K>(index, keys)).all().await? {
        if let Some(key) = fk_field::<M, T, K>(&mut row, index).and_then(|fk| fk.id.clone()) {
            groups.entry(key).or_default().push(row);
        }
    }
    Ok(Prefetched { groups })
}

/// [`Column::load`](crate::Column) for the foreign key field `index` of `M`.
async fn load_targets<M: Model, T: Model, K>(index: usize, rows: &mut [M]) -> Result<()>
where
    K: crate::field::SqlValue + FromSqlOwned + std::hash::Hash + Eq,
{
    let mut keys: Vec<K> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in rows.iter_mut() {
        if let Some(k) = fk_field::<M, T, K>(row, index).and_then(|fk| fk.id.clone()) {
            if seen.insert(k.clone()) {
                keys.push(k);
            }
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    let targets = crate::QuerySet::<T>::new()
        .filter(any_of::<T, K>(T::meta().pk_index, keys))
        .all()
        .await?;
    let mut by_key: std::collections::HashMap<K, Arc<T>> = std::collections::HashMap::new();
    for t in targets {
        by_key.insert(key_of::<T, K>(&t)?, Arc::new(t));
    }
    for row in rows.iter_mut() {
        if let Some(fk) = fk_field::<M, T, K>(row, index) {
            if let Some(object) = fk.id.as_ref().and_then(|k| by_key.get(k)) {
                fk.object = Some(object.clone());
            }
        }
    }
    Ok(())
}

macro_rules! prefetch_methods {
    ($fk:ty) => {
        impl<M: Model, T: Model, K> crate::expr::Column<M, $fk>
        where
            K: crate::field::SqlValue + FromSqlOwned + fmt::Debug + std::hash::Hash + Eq,
        {
            /// The reverse side for many targets at once, in ONE query (`WHERE fk IN (...)`):
            /// Django's `prefetch_related("orders")`, never N+1. Read each target's rows with
            /// [`Prefetched::for_key`]. Rows whose key is NULL belong to no target.
            ///
            /// ```no_run
            /// # use hyperdjango_orm::prelude::*;
            /// # use hyperdjango_orm::relations::ForeignKey;
            /// # model! { #[derive(Debug, Clone)] #[table = "authors"] pub struct Author { pub id: Auto<i64> = Field::new().primary_key() } }
            /// # model! { #[derive(Debug, Clone)] #[table = "books"] pub struct Book { pub id: Auto<i64> = Field::new().primary_key(), pub author: ForeignKey<Author> } }
            /// # async fn f() -> hyperdjango_orm::Result<()> {
            /// let authors = Author::objects().all().await?;
            /// let books = Book::author.prefetch(&authors).await?; // one query
            /// for a in &authors {
            ///     println!("{} books", books.for_key(&a.id.get().unwrap()).len());
            /// }
            /// # Ok(()) }
            /// ```
            pub async fn prefetch(self, targets: &[T]) -> Result<Prefetched<K, M>> {
                prefetch_rows(self.index(), targets, crate::QuerySet::new()).await
            }

            /// [`prefetch`](Self::prefetch) through a QuerySet of your own (Django's
            /// `Prefetch` object): its filters, ordering and `select_related` apply.
            pub async fn prefetch_with(
                self,
                targets: &[T],
                queryset: crate::QuerySet<M>,
            ) -> Result<Prefetched<K, M>> {
                prefetch_rows(self.index(), targets, queryset).await
            }

            /// The forward side for many rows at once, in ONE query: loads the target of this
            /// foreign key in every row of `rows` (rows whose key is not set or NULL are left
            /// alone), so `row.fk.get()` answers. Django's `prefetch_related` on a foreign
            /// key.
            ///
            /// ```no_run
            /// # use hyperdjango_orm::prelude::*;
            /// # use hyperdjango_orm::relations::ForeignKey;
            /// # model! { #[derive(Debug, Clone)] #[table = "authors"] pub struct Author { pub id: Auto<i64> = Field::new().primary_key(), pub name: String } }
            /// # model! { #[derive(Debug, Clone)] #[table = "books"] pub struct Book { pub id: Auto<i64> = Field::new().primary_key(), pub author: ForeignKey<Author> } }
            /// # async fn f() -> hyperdjango_orm::Result<()> {
            /// let mut books = Book::objects().all().await?;
            /// Book::author.load(&mut books).await?; // one query for all the authors
            /// for b in &books { println!("{}", b.author.get()?.name); }
            /// # Ok(()) }
            /// ```
            pub async fn load(self, rows: &mut [M]) -> Result<()> {
                load_targets::<M, T, K>(self.index(), rows).await
            }
        }
    };
}
prefetch_methods!(ForeignKey<T, K>);
prefetch_methods!(Option<ForeignKey<T, K>>);

impl<M: Model, T: Model, K> crate::expr::Column<M, ForeignKey<T, K>> {
    /// Rows whose related `T` matches `condition` (a filter across the relation, typed):
    /// `Order::customer.matching(Customer::name.eq("ann"))`. The string form spans relations
    /// too: `q("customer__name", "ann")`. Compiled as `customer_id IN (SELECT id FROM ...)`.
    ///
    /// ```
    /// # use hyperdjango_orm::prelude::*;
    /// # use hyperdjango_orm::relations::ForeignKey;
    /// # model! { #[derive(Debug, Clone)] #[table = "authors"] pub struct Author { pub id: Auto<i64> = Field::new().primary_key(), pub name: String } }
    /// # model! { #[derive(Debug, Clone)] #[table = "books"] pub struct Book { pub id: Auto<i64> = Field::new().primary_key(), pub author: ForeignKey<Author> } }
    /// let typed = Book::objects().filter(Book::author.matching(Author::name.eq("ann".to_string())));
    /// let strings = Book::objects().filter(q("author__name", "ann")?);
    /// assert_eq!(typed.to_sql()?.0, strings.to_sql()?.0);
    /// assert!(typed.to_sql()?.0.contains(r#""books"."author_id" IN (SELECT"#));
    /// # Ok::<(), hyperdjango_orm::Error>(())
    /// ```
    pub fn matching(self, condition: crate::Q<T>) -> crate::Q<M> {
        crate::Q::from_where(crate::lookup::related_where(
            self.index(),
            T::meta(),
            condition.into_where(),
        ))
    }
}

impl<M: Model, T: Model, K> crate::expr::Column<M, Option<ForeignKey<T, K>>> {
    /// [`matching`](crate::expr::Column::matching) for a nullable foreign key (rows whose
    /// key is NULL never match).
    pub fn matching(self, condition: crate::Q<T>) -> crate::Q<M> {
        crate::Q::from_where(crate::lookup::related_where(
            self.index(),
            T::meta(),
            condition.into_where(),
        ))
    }
}

/// The value of a relation path of `meta` (`customer__name`, `book__author__publisher__name`)
/// as a correlated scalar subquery per step:
/// `(SELECT "u1"."name" FROM "customers" "u1" WHERE "u1"."id" = "orders"."customer_id")`.
/// A NULL key gives NULL, like Django's LEFT JOIN when ordering across a nullable relation.
pub(crate) fn path_node(meta: &'static crate::ModelMeta, path: &str) -> Result<crate::expr::Node> {
    let (name, rest) = path
        .split_once("__")
        .ok_or_else(|| meta.no_such_field(path))?;
    // An unknown first step names the whole path (`Order.cutsomer__name`).
    let field = meta.field(name).ok_or_else(|| meta.no_such_field(path))?;
    let rel = field.relation.ok_or_else(|| {
        crate::Error::field(
            meta.name,
            path,
            format!("{name} is not a foreign key, so {path:?} cannot follow it"),
        )
    })?;
    Ok(step_node(
        field.name,
        (rel.target)(),
        target_node((rel.target)(), rest)?,
    ))
}

/// `rest` on the target model: a field, or a further relation path.
fn target_node(target: &'static crate::ModelMeta, rest: &str) -> Result<crate::expr::Node> {
    match target.field(rest) {
        Some(f) => Ok(crate::expr::Node::Field(f.index)),
        None if rest.contains("__") => path_node(target, rest),
        None => Err(target.no_such_field(rest)),
    }
}

/// `(SELECT value FROM target WHERE target.pk = outer.fk)`.
fn step_node(
    fk: &str,
    target: &'static crate::ModelMeta,
    value: crate::expr::Node,
) -> crate::expr::Node {
    use crate::expr::Node;
    use crate::lookup::{Lookup, Rhs, Where};
    let mut sub = crate::query::Query::new(target);
    sub.filters.push(Where::Lookup {
        lhs: Node::Field(target.pk_index),
        op: Lookup::Exact,
        rhs: Rhs::Node(Node::Outer(fk.to_string())),
    });
    sub.select = crate::query::Select::Values(vec![("value".to_string(), value)]);
    sub.order = Some(Vec::new());
    Node::Subquery(Box::new(sub))
}

macro_rules! related_value {
    ($fk:ty) => {
        impl<M: Model, T: Model, K> crate::expr::Column<M, $fk> {
            /// A value of the related row, as an expression of this model: for ordering,
            /// annotations, `values` and filters across the relation. Nest it to go further:
            /// `Book::author.related(Author::publisher.related(Publisher::name))`. The string
            /// form is the path itself: `order_by("-author__publisher__name")`. A row whose
            /// key is NULL gets NULL.
            ///
            /// ```
            /// # use hyperdjango_orm::prelude::*;
            /// # use hyperdjango_orm::relations::ForeignKey;
            /// # model! { #[derive(Debug, Clone)] #[table = "authors"] pub struct Author { pub id: Auto<i64> = Field::new().primary_key(), pub name: String } }
            /// # model! { #[derive(Debug, Clone)] #[table = "books"] pub struct Book { pub id: Auto<i64> = Field::new().primary_key(), pub author: ForeignKey<Author> } }
            /// let typed = Book::objects().order_by(Book::author.related(Author::name).desc());
            /// let strings = Book::objects().order_by("-author__name");
            /// assert_eq!(typed.to_sql()?.0, strings.to_sql()?.0);
            /// let sql = typed.to_sql()?.0;
            /// assert!(sql.contains(r#"ORDER BY (SELECT "u1"."name""#), "{sql}");
            /// assert!(sql.ends_with(r#"WHERE "u1"."id" = "books"."author_id") DESC"#), "{sql}");
            /// # Ok::<(), hyperdjango_orm::Error>(())
            /// ```
            pub fn related<B>(
                self,
                value: impl crate::expr::IntoExpr<T, B>,
            ) -> crate::expr::Expr<M, B> {
                let field = &M::meta().fields[self.index()];
                crate::expr::Expr::new(step_node(
                    field.name,
                    T::meta(),
                    value.into_expr().into_node(),
                ))
            }
        }
    };
}
related_value!(ForeignKey<T, K>);
related_value!(Option<ForeignKey<T, K>>);
