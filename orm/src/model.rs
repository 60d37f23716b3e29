//! Models: the [`Model`] trait that `model!` implements, the run-time metadata
//! ([`ModelMeta`]), the Meta options ([`Meta`]) and the per-instance state ([`ModelState`]).

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use hyperdjango_pgwire::{Row, ToSql};

use crate::error::{Error, Result};
use crate::expr::Param;
use crate::field::FieldMeta;
use crate::validate::ValidationErrors;

/// A model: a Rust struct mapped to a table. Implemented by [`model!`](crate::model!); the
/// methods marked hidden are what the macro generates for the ORM's own use.
pub trait Model: Sized + Send + Sync + 'static {
    /// The model's metadata (built once, on first use).
    fn meta() -> &'static ModelMeta;

    /// Decodes an instance from a row: `map[i]` is the row column holding field `i`, or
    /// `None` for a deferred field.
    #[doc(hidden)]
    fn __decode(row: &Row, map: &[Option<usize>]) -> Result<Self>;

    /// Field `i` as a bind parameter reference.
    #[doc(hidden)]
    fn __field_ref(&self, i: usize) -> Option<&(dyn ToSql + Sync)>;

    /// Field `i` as an owned parameter.
    #[doc(hidden)]
    fn __field_param(&self, i: usize) -> Option<Param>;

    /// Sets field `i` from column `col` of `row`.
    #[doc(hidden)]
    fn __set_field(&mut self, i: usize, row: &Row, col: usize) -> Result<()>;

    /// Resets field `i` to its type's zero (an `Auto` key to `Unsaved`).
    #[doc(hidden)]
    fn __reset_field(&mut self, i: usize);

    /// Applies auto_now / auto_now_add before a save.
    #[doc(hidden)]
    fn __pre_save(&mut self, adding: bool);

    /// Field `i`, for typed access by code that knows its type (prefetching).
    #[doc(hidden)]
    fn __field_any_mut(&mut self, i: usize) -> Option<&mut dyn std::any::Any>;

    /// Attaches a related object `select_related` loaded into foreign key `node.field`.
    #[doc(hidden)]
    fn __load_related(&mut self, row: &Row, node: &crate::relations::RelatedNode) -> Result<()>;

    /// Runs each field's validators, adding what fails to `errors`.
    #[doc(hidden)]
    fn __clean_fields(&self, exclude: &[&str], errors: &mut ValidationErrors);

    /// The instance's state.
    fn state(&self) -> &ModelState;

    /// The instance's state, mutably.
    fn state_mut(&mut self) -> &mut ModelState;
}

/// Per-instance state (Django's `_state`): whether the instance is not yet in the
/// database, which database it came from, and which fields were deferred when it was
/// loaded. It compares equal to any other state, so a derived `PartialEq` compares fields.
///
/// ```
/// let s = hyperdjango_orm::ModelState::new();
/// assert!(s.adding);
/// ```
#[derive(Clone, Default)]
pub struct ModelState {
    /// True until the instance is saved or when it was built in Rust, false once loaded
    /// from the database.
    pub adding: bool,
    /// The alias of the database the instance came from or was saved to.
    pub db: Option<Arc<str>>,
    /// Indices of the fields not loaded (`only`/`defer`).
    pub(crate) deferred: Vec<usize>,
}

impl ModelState {
    /// The state of a new instance (adding, no database).
    pub fn new() -> ModelState {
        ModelState {
            adding: true,
            db: None,
            deferred: Vec::new(),
        }
    }

    /// Marks field `i` as loaded.
    #[doc(hidden)]
    pub fn __undefer(&mut self, i: usize) {
        self.deferred.retain(|d| *d != i);
    }

    /// The state of an instance loaded from the database with `deferred` fields left out.
    #[doc(hidden)]
    pub fn loaded(deferred: Vec<usize>) -> ModelState {
        ModelState {
            adding: false,
            db: None,
            deferred,
        }
    }
}

impl fmt::Debug for ModelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelState")
            .field("adding", &self.adding)
            .field("db", &self.db)
            .finish()
    }
}

impl PartialEq for ModelState {
    fn eq(&self, _: &ModelState) -> bool {
        true
    }
}
impl Eq for ModelState {}
impl std::hash::Hash for ModelState {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// An index over fields (see [`crate::index::Index`]).
pub type IndexSpec = crate::index::Index;

/// A user's `clean` hook, type-erased (an `Arc<dyn Fn(&M) -> Result<(), ValidationErrors>>`).
pub(crate) type AnyHook = Box<dyn Any + Send + Sync>;

/// A model's `clean` hook.
pub type CleanHook<M> = Arc<dyn Fn(&M) -> std::result::Result<(), ValidationErrors> + Send + Sync>;

/// The Meta options of a model, written `#[meta = Meta::new().ordering(["-price"]) ...]` in
/// `model!`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     #[meta = Meta::new()
///         .ordering(["-price", "name"])
///         .unique_together(["name", "sku"])
///         .index(["name", "price"])
///         .check("price_not_silly", "price < 1000000")
///         .get_latest_by("id")
///         .verbose_name("product")
///         .verbose_name_plural("products")]
///     pub struct Product {
///         pub id: Auto<i32> = Field::new().primary_key(),
///         pub name: String = Field::new(),
///         pub sku: String = Field::new(),
///         pub price: f64 = Field::new(),
///     }
/// }
/// let m = Product::meta();
/// assert_eq!(m.ordering, ["-price", "name"]);
/// assert_eq!(m.verbose_name_plural, "products");
/// ```
pub struct Meta<M> {
    ordering: Vec<String>,
    unique_together: Vec<Vec<String>>,
    indexes: Vec<IndexSpec>,
    checks: Vec<(String, String)>,
    get_latest_by: Option<String>,
    verbose_name: Option<String>,
    verbose_name_plural: Option<String>,
    clean: Option<CleanHook<M>>,
    database: Option<String>,
    unlogged: bool,
    cache_ttl: Option<std::time::Duration>,
    order_with_respect_to: Option<String>,
}

impl<M> Default for Meta<M> {
    fn default() -> Self {
        Meta::new()
    }
}

impl<M> Meta<M> {
    /// No options.
    pub fn new() -> Self {
        Meta {
            ordering: Vec::new(),
            unique_together: Vec::new(),
            indexes: Vec::new(),
            checks: Vec::new(),
            get_latest_by: None,
            verbose_name: None,
            verbose_name_plural: None,
            clean: None,
            database: None,
            unlogged: false,
            cache_ttl: None,
            order_with_respect_to: None,
        }
    }

    /// The default order of queries: field names, `-` in front for descending.
    pub fn ordering<const N: usize>(mut self, fields: [&str; N]) -> Self {
        self.ordering = fields.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A set of fields that is unique together (call again for more).
    pub fn unique_together<const N: usize>(mut self, fields: [&str; N]) -> Self {
        self.unique_together
            .push(fields.iter().map(|s| s.to_string()).collect());
        self
    }

    /// An index over several fields (call again for more).
    pub fn index<const N: usize>(mut self, fields: [&str; N]) -> Self {
        self.indexes.push(IndexSpec::on(fields));
        self
    }

    /// An index of any kind: method, opclasses, parameters, partial, concurrently (see
    /// [`crate::index`]).
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// use hyperdjango_orm::index::{Index, IndexMethod};
    /// let m: Meta<()> = Meta::new().add_index(Index::on(["tags"]).gin());
    /// # let _ = m;
    /// ```
    pub fn add_index(mut self, index: crate::index::Index) -> Self {
        self.indexes.push(index);
        self
    }

    /// A CHECK constraint: a name and an SQL condition (trusted text, like DDL).
    pub fn check(mut self, name: &str, sql: &str) -> Self {
        self.checks.push((name.to_string(), sql.to_string()));
        self
    }

    /// The field `latest()` and `earliest()` order by (`-` in front reverses).
    pub fn get_latest_by(mut self, field: &str) -> Self {
        self.get_latest_by = Some(field.to_string());
        self
    }

    /// The database alias this model's queries and saves use (HyperDjango's
    /// `Meta.database`). `.using(..)` still wins; routers are asked only when this is unset.
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// model! {
    ///     #[table = "events"]
    ///     #[meta = Meta::new().database("analytics")]
    ///     pub struct Event { pub id: Auto<i64> = Field::new().primary_key() }
    /// }
    /// assert_eq!(Event::meta().database.as_deref(), Some("analytics"));
    /// ```
    pub fn database(mut self, alias: &str) -> Self {
        self.database = Some(alias.to_string());
        self
    }

    /// An UNLOGGED table: no write-ahead log, so fast writes, but emptied after a crash and
    /// not replicated (HyperDjango's `Meta.unlogged`).
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// model! {
    ///     #[table = "sessions"]
    ///     #[meta = Meta::new().unlogged(true)]
    ///     pub struct Session { pub id: Auto<i64> = Field::new().primary_key() }
    /// }
    /// assert!(hyperdjango_orm::ddl::create_table_sql::<Session>()[0].starts_with("CREATE UNLOGGED TABLE"));
    /// ```
    pub fn unlogged(mut self, yes: bool) -> Self {
        self.unlogged = yes;
        self
    }

    /// Caches this model's reads for `ttl` (HyperDjango's `Meta.cache_ttl`); see
    /// [`crate::cache`] for what invalidates them. One query can opt out with
    /// [`QuerySet::no_cache`](crate::QuerySet::no_cache).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hyperdjango_orm::prelude::*;
    /// model! {
    ///     #[table = "countries"]
    ///     #[meta = Meta::new().cache_ttl(Duration::from_secs(60))]
    ///     pub struct Country { pub code: String = Field::new().primary_key() }
    /// }
    /// assert_eq!(Country::meta().cache_ttl, Some(Duration::from_secs(60)));
    /// ```
    pub fn cache_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// Orders the rows within each value of the foreign key `field` (Django's
    /// `order_with_respect_to`): the model declares an integer field `_order`, which a new
    /// row gets set to the end of its parent's list, and which is the default ordering.
    /// Read and change a parent's order with [`crate::ordering`].
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// use hyperdjango_orm::relations::ForeignKey;
    /// model! { #[table = "questions"] pub struct Question { pub id: Auto<i64> = Field::new().primary_key() } }
    /// model! {
    ///     #[table = "answers"]
    ///     #[meta = Meta::new().order_with_respect_to("question")]
    ///     pub struct Answer {
    ///         pub id: Auto<i64> = Field::new().primary_key(),
    ///         pub question: ForeignKey<Question>,
    ///         pub _order: i32,
    ///     }
    /// }
    /// assert_eq!(Answer::meta().ordering, ["_order"]);
    /// ```
    pub fn order_with_respect_to(mut self, field: &str) -> Self {
        self.order_with_respect_to = Some(field.to_string());
        self
    }

    /// The human-readable name.
    pub fn verbose_name(mut self, name: &str) -> Self {
        self.verbose_name = Some(name.to_string());
        self
    }

    /// The human-readable plural.
    pub fn verbose_name_plural(mut self, name: &str) -> Self {
        self.verbose_name_plural = Some(name.to_string());
        self
    }

    /// The model's `clean` hook, run by `full_clean` after the field validators: cross-field
    /// checks, with errors per field (or [`NON_FIELD_ERRORS`](crate::NON_FIELD_ERRORS)).
    pub fn clean(
        mut self,
        f: impl Fn(&M) -> std::result::Result<(), ValidationErrors> + Send + Sync + 'static,
    ) -> Self {
        self.clean = Some(Arc::new(f));
        self
    }
}

/// A model's metadata at run time.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     pub struct Product { pub id: Auto<i32> = Field::new().primary_key(), pub name: String = Field::new() }
/// }
/// let m = Product::meta();
/// assert_eq!((m.name, m.table, m.pk().name), ("Product", "products", "id"));
/// assert_eq!(m.fields.len(), 2);
/// ```
pub struct ModelMeta {
    /// The model's name.
    pub name: &'static str,
    /// The table.
    pub table: &'static str,
    /// The fields, in declaration order.
    pub fields: Vec<FieldMeta>,
    /// The index of the primary key field.
    pub pk_index: usize,
    /// The default ordering.
    pub ordering: Vec<String>,
    /// Sets of fields unique together.
    pub unique_together: Vec<Vec<String>>,
    /// Indexes over several fields.
    pub indexes: Vec<IndexSpec>,
    /// CHECK constraints (name, SQL).
    pub checks: Vec<(String, String)>,
    /// The field `latest`/`earliest` use.
    pub get_latest_by: Option<String>,
    /// The human-readable name (default: the model's name in lower case).
    pub verbose_name: String,
    /// The human-readable plural (default: `verbose_name` + "s").
    pub verbose_name_plural: String,
    pub(crate) clean: Option<AnyHook>,
    /// The database alias of `Meta.database`.
    pub database: Option<String>,
    /// Whether the table is UNLOGGED.
    pub unlogged: bool,
    /// The soft-delete field's index ([`crate::mixins`]).
    pub soft_delete: Option<usize>,
    /// The owner field's index.
    pub owner: Option<usize>,
    /// The version field's index.
    pub version: Option<usize>,
    /// How long reads are cached (`Meta::cache_ttl`).
    pub cache_ttl: Option<std::time::Duration>,
    /// `order_with_respect_to`: the foreign key's index and the `_order` field's index.
    pub order_with_respect_to: Option<(usize, usize)>,
    /// Mistakes in the declaration, as (field, message).
    errors: Vec<(String, String)>,
    /// Statements compiled once per model.
    pub(crate) sql: SqlCache,
    /// The row map for "all fields in order".
    pub(crate) all_map: Vec<Option<usize>>,
}

/// SQL compiled once per model (query shapes that only depend on the model).
#[derive(Default)]
pub(crate) struct SqlCache {
    pub(crate) select_list: OnceLock<String>,
    pub(crate) update_all: OnceLock<String>,
    pub(crate) refresh: OnceLock<String>,
    pub(crate) delete_pk: OnceLock<String>,
    pub(crate) insert: OnceLock<(String, Vec<usize>)>,
    /// SELECTs compiled per query shape (see [`crate::compiler`]).
    pub(crate) shapes: std::sync::RwLock<std::collections::HashMap<Vec<u64>, Arc<str>>>,
}

impl fmt::Debug for ModelMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelMeta")
            .field("name", &self.name)
            .field("table", &self.table)
            .field("fields", &self.fields)
            .finish()
    }
}

impl ModelMeta {
    /// Builds the metadata (used by `model!`).
    #[doc(hidden)]
    pub fn build<M: 'static>(
        name: &'static str,
        table: &'static str,
        fields: Vec<FieldMeta>,
        meta: Meta<M>,
    ) -> ModelMeta {
        crate::cascade::register_table(table, name);
        let mut errors: Vec<(String, String)> = Vec::new();
        for f in &fields {
            for e in &f.options.errors {
                errors.push((f.name.to_string(), e.clone()));
            }
        }
        let pks: Vec<usize> = fields
            .iter()
            .filter(|f| f.options.primary_key)
            .map(|f| f.index)
            .collect();
        let pk_index = match pks.as_slice() {
            [i] => *i,
            [] => {
                errors.push((
                    "Meta".into(),
                    "the model has no primary key (mark one field with Field::new().primary_key())"
                        .into(),
                ));
                0
            }
            _ => {
                errors.push((
                    "Meta".into(),
                    "the model has more than one primary key field".into(),
                ));
                pks[0]
            }
        };
        for f in &fields {
            if f.auto && !f.options.primary_key {
                errors.push((
                    f.name.to_string(),
                    "an Auto<T> field must be the primary key".into(),
                ));
            }
        }
        let known = |n: &str| fields.iter().any(|f| f.name == n);
        for o in &meta.ordering {
            let n = o.trim_start_matches('-');
            if o != "?" && !known(n) {
                errors.push((n.to_string(), "Meta.ordering names no such field".into()));
            }
        }
        for set in meta
            .unique_together
            .iter()
            .chain(meta.indexes.iter().map(|i| &i.fields))
        {
            for n in set {
                if !n.starts_with('(') && !known(n) {
                    errors.push((
                        n.clone(),
                        "Meta.unique_together/indexes names no such field".into(),
                    ));
                }
            }
        }
        for ix in &meta.indexes {
            for p in ix.problems() {
                errors.push(("Meta".into(), format!("index {:?}: {p}", ix.fields)));
            }
        }
        if let Some(g) = &meta.get_latest_by {
            if !known(g.trim_start_matches('-')) {
                errors.push((g.clone(), "Meta.get_latest_by names no such field".into()));
            }
        }
        let role = |r: crate::field::FieldRole, errors: &mut Vec<(String, String)>| {
            let found: Vec<&FieldMeta> = fields
                .iter()
                .filter(|f| f.options.role == Some(r))
                .collect();
            if found.len() > 1 {
                errors.push((
                    found[1].name.to_string(),
                    format!("a model has at most one {r:?} field"),
                ));
            }
            found.first().map(|f| f.index)
        };
        for f in &fields {
            if let Some((_, date)) = f.options.unique_for {
                if !fields.iter().any(|g| g.name == date) {
                    errors.push((
                        f.name.to_string(),
                        format!("unique_for_date/month/year names no such field {date:?}"),
                    ));
                }
            }
        }
        let soft_delete = role(crate::field::FieldRole::SoftDelete, &mut errors);
        let owner = role(crate::field::FieldRole::Owner, &mut errors);
        let version = role(crate::field::FieldRole::Version, &mut errors);
        if let Some(f) = soft_delete.map(|i| &fields[i]) {
            if !f.nullable {
                errors.push((
                    f.name.to_string(),
                    "a soft_delete field must be an Option (NULL: not deleted)".into(),
                ));
            }
        }
        let mut ordering = meta.ordering;
        let order_with_respect_to = meta.order_with_respect_to.as_deref().and_then(|fk| {
            let parent = fields.iter().find(|f| f.name == fk);
            let order = fields.iter().find(|f| f.name == "_order");
            let problem = match (parent, order) {
                (None, _) => Some(format!("order_with_respect_to names no such field {fk:?}")),
                (Some(p), _) if p.relation.is_none() => Some(format!(
                    "order_with_respect_to needs a foreign key, and {fk:?} is not one"
                )),
                (_, None) => Some(
                    "order_with_respect_to needs an integer field `_order` (declare `pub _order: i32`)"
                        .to_string(),
                ),
                (_, Some(o)) if !matches!(o.sql_type, "INTEGER" | "BIGINT" | "SMALLINT") => {
                    Some("order_with_respect_to needs `_order` to be an integer".to_string())
                }
                _ => None,
            };
            if let Some(p) = problem {
                errors.push((fk.to_string(), p));
                return None;
            }
            Some((parent?.index, order?.index))
        });
        if order_with_respect_to.is_some() && ordering.is_empty() {
            ordering.push("_order".to_string());
        }
        let verbose_name = meta.verbose_name.unwrap_or_else(|| name.to_lowercase());
        let all_map = (0..fields.len()).map(Some).collect();
        ModelMeta {
            name,
            table,
            pk_index,
            ordering,
            unique_together: meta.unique_together,
            indexes: meta.indexes,
            checks: meta.checks,
            get_latest_by: meta.get_latest_by,
            verbose_name_plural: meta
                .verbose_name_plural
                .unwrap_or_else(|| format!("{verbose_name}s")),
            verbose_name,
            clean: meta.clean.map(|c| Box::new(c) as AnyHook),
            database: meta.database,
            unlogged: meta.unlogged,
            cache_ttl: meta.cache_ttl,
            order_with_respect_to,
            soft_delete,
            owner,
            version,
            errors,
            sql: SqlCache::default(),
            all_map,
            fields,
        }
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The primary key field.
    pub fn pk(&self) -> &FieldMeta {
        &self.fields[self.pk_index]
    }

    /// The first mistake in the declaration, if any, as an error naming the model and field.
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// model! {
    ///     #[table = "bad"]
    ///     pub struct Bad { pub id: Auto<i32> = Field::new().primary_key(), pub code: String = Field::new().regex("(") }
    /// }
    /// let e = Bad::meta().check().unwrap_err().to_string();
    /// assert!(e.starts_with("Bad.code: invalid regular expression"), "{e}");
    /// ```
    pub fn check(&self) -> Result<()> {
        match self.errors.first() {
            Some((field, message)) => Err(Error::field(self.name, field.clone(), message.clone())),
            None => Ok(()),
        }
    }

    /// Every mistake in the declaration, as (field or `Meta`, message): what
    /// [`check`](Self::check) reports the first of, and the migration system's `check`
    /// command lists.
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// model! {
    ///     #[table = "bad"]
    ///     #[meta = Meta::new().ordering(["nope"])]
    ///     pub struct Bad { pub id: Auto<i32> = Field::new().primary_key() }
    /// }
    /// assert_eq!(Bad::meta().errors()[0].0, "nope");
    /// ```
    pub fn errors(&self) -> &[(String, String)] {
        &self.errors
    }

    pub(crate) fn no_such_field(&self, name: &str) -> Error {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
        Error::field(
            self.name,
            name,
            format!("no such field (fields: {})", names.join(", ")),
        )
    }

    pub(crate) fn field_or_err(&self, name: &str) -> Result<&FieldMeta> {
        self.field(name).ok_or_else(|| self.no_such_field(name))
    }

    /// The quoted table name.
    pub(crate) fn qtable(&self) -> String {
        crate::compiler::quote(self.table)
    }
}

/// The position of `name` in `names` (const, for the field handles `model!` generates).
#[doc(hidden)]
pub const fn field_index(names: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < names.len() {
        let a = names[i].as_bytes();
        let b = name.as_bytes();
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    usize::MAX
}
