//! The `model!` macro.

/// Declares a model: a struct, its typed field handles, its metadata and its ORM methods.
///
/// ```
/// use hyperdjango_orm::prelude::*;
///
/// model! {
///     /// A product in the catalogue.
///     #[table = "products"]
///     #[meta = Meta::new().ordering(["name"])]
///     #[derive(Debug, Clone, PartialEq)]
///     pub struct Product {
///         pub id: Auto<i32> = Field::new().primary_key(),
///         pub name: String = Field::new().max_length(200),
///         pub sku: String = Field::new().unique().index(),
///         pub price: f64 = Field::new().default(0.0).ge(0.0),
///         pub is_active: bool = Field::new().default(true),
///         pub weight_kg: Option<f64>,
///     }
/// }
///
/// let p = Product { name: "Widget".into(), sku: "W-1".into(), ..Default::default() };
/// assert!(!p.id.is_saved());
/// assert!(p.is_active); // the default
/// let _q = Product::price.lt(10.0) & Product::is_active.eq(true);
/// ```
///
/// # Syntax
///
/// - `#[table = "name"]` (required), then optionally `#[meta = Meta::new()...]` (see
///   [`Meta`](crate::Meta)); any other attributes (docs, derives) go to the struct. Do not
///   derive `Default`: the macro implements it from the fields' defaults.
/// - Each field is `vis name: Type = Field::new().options()`; `= ...` may be left out. The
///   type decides the column (see [`FieldType`](crate::FieldType)); `Option<T>` is nullable;
///   [`Auto<T>`](crate::Auto) is a database-generated primary key.
///
/// # What it expands to
///
/// For the `Product` above:
///
/// ```text
/// /// A product in the catalogue.
/// #[derive(Debug, Clone, PartialEq)]
/// pub struct Product {
///     pub id: Auto<i32>, pub name: String, ..., pub weight_kg: Option<f64>,
///     #[doc(hidden)] pub _state: ModelState,   // adding? which db? deferred fields
/// }
/// impl Product {
///     pub const id: Column<Product, Auto<i32>> = Column::new(0, "id");   // typed handles
///     pub const name: Column<Product, String> = Column::new(1, "name");
///     ...
///     pub fn objects() -> QuerySet<Product>;                            // the manager
///     pub async fn save(&mut self) -> Result<()>;  // and save_with, delete, refresh_from_db,
///     // refresh_from_db_fields, full_clean, clean_fields, validate_unique,
///     // get_deferred_fields, serializable_value, from_db
/// }
/// impl Default for Product { /* each field's default, else the type's zero; Auto unsaved */ }
/// impl Model for Product {
///     fn meta() -> &'static ModelMeta;  // built once from the Field and Meta builders
///     // decoding from rows by column position, field access by index, auto_now, validators
/// }
/// ```
#[macro_export]
macro_rules! model {
    // Sort the attributes: table, meta, mixins, extends, and the rest (kept for the struct).
    // The fifth bracket holds the fields inherited from an abstract model.
    (@split [$($keep:tt)*] [$($table:tt)*] [$($meta:tt)*] [$($mx:tt)*] [$($inh:tt)*] #[table = $t:literal] $($rest:tt)*) => {
        $crate::model!(@split [$($keep)*] [$t] [$($meta)*] [$($mx)*] [$($inh)*] $($rest)*);
    };
    (@split [$($keep:tt)*] [$($table:tt)*] [$($meta:tt)*] [$($mx:tt)*] [$($inh:tt)*] #[meta = $m:expr] $($rest:tt)*) => {
        $crate::model!(@split [$($keep)*] [$($table)*] [$m] [$($mx)*] [$($inh)*] $($rest)*);
    };
    (@split [$($keep:tt)*] [$($table:tt)*] [$($meta:tt)*] [$($mx:tt)*] [$($inh:tt)*] #[mixins($($m:ident),* $(,)?)] $($rest:tt)*) => {
        $crate::model!(@split [$($keep)*] [$($table)*] [$($meta)*] [$($mx)* $($m)*] [$($inh)*] $($rest)*);
    };
    // The abstract model's own macro (from `abstract_model!`) adds its fields and comes back.
    (@split [$($keep:tt)*] [$($table:tt)*] [$($meta:tt)*] [$($mx:tt)*] [$($inh:tt)*] #[extends($parent:ident)] $($rest:tt)*) => {
        $parent! { @extend [$($keep)*] [$($table)*] [$($meta)*] [$($mx)*] [$($inh)*] $($rest)* }
    };
    (@split [$($keep:tt)*] [$($table:tt)*] [$($meta:tt)*] [$($mx:tt)*] [$($inh:tt)*] #[$($a:tt)*] $($rest:tt)*) => {
        $crate::model!(@split [$($keep)* #[$($a)*]] [$($table)*] [$($meta)*] [$($mx)*] [$($inh)*] $($rest)*);
    };
    (@split [$($keep:tt)*] [] [$($meta:tt)*] [$($mx:tt)*] [$($inh:tt)*] $vis:vis struct $($rest:tt)*) => {
        ::core::compile_error!("model! needs #[table = \"table_name\"] before the struct");
    };
    // Normalise the fields (each followed by a comma, inherited ones first), then add the
    // mixins' fields.
    (@split [$($keep:tt)*] [$table:literal] [$($meta:tt)*] [$($mx:tt)*] [$($inh:tt)*] $vis:vis struct $name:ident {
        $(
            $(#[$fattr:meta])*
            $fvis:vis $field:ident : $ty:ty $(= $opts:expr)?
        ),* $(,)?
    }) => {
        $crate::model!(@mix [$($keep)*] [$table] [$($meta)*] [$($mx)*] $vis struct $name {
            $($inh)*
            $( $(#[$fattr])* $fvis $field : $ty $(= $opts)? , )*
        });
    };
    (@mix $k:tt $t:tt $m:tt [Timestamp $($mx:tt)*] $vis:vis struct $name:ident { $($f:tt)* }) => {
        $crate::model!(@mix $k $t $m [$($mx)*] $vis struct $name { $($f)*
            /// When the row was inserted (the Timestamp mixin).
            pub created_at: $crate::mixins::Moment = $crate::Field::new().auto_now_add(),
            /// When the row was last saved (the Timestamp mixin).
            pub updated_at: $crate::mixins::Moment = $crate::Field::new().auto_now(),
        });
    };
    (@mix $k:tt $t:tt $m:tt [SoftDelete $($mx:tt)*] $vis:vis struct $name:ident { $($f:tt)* }) => {
        $crate::model!(@mix $k $t $m [$($mx)*] $vis struct $name { $($f)*
            /// When the row was soft-deleted; `None` while it is live (the SoftDelete mixin).
            pub deleted_at: $crate::mixins::Moment = $crate::Field::new().soft_delete(),
        });
    };
    (@mix $k:tt $t:tt $m:tt [Ownership $($mx:tt)*] $vis:vis struct $name:ident { $($f:tt)* }) => {
        $crate::model!(@mix $k $t $m [$($mx)*] $vis struct $name { $($f)*
            /// The owner of the row (the Ownership mixin).
            pub owner_id: ::core::option::Option<i64> = $crate::Field::new().owner(),
        });
    };
    (@mix $k:tt $t:tt $m:tt [Versioned $($mx:tt)*] $vis:vis struct $name:ident { $($f:tt)* }) => {
        $crate::model!(@mix $k $t $m [$($mx)*] $vis struct $name { $($f)*
            /// The optimistic-locking version (the Versioned mixin).
            pub version: i64 = $crate::Field::new().version(),
        });
    };
    (@mix $k:tt $t:tt $m:tt [$other:ident $($mx:tt)*] $vis:vis struct $name:ident { $($f:tt)* }) => {
        ::core::compile_error!(::core::concat!(
            "unknown mixin `", ::core::stringify!($other),
            "` (known: Timestamp, SoftDelete, Ownership, Versioned)"
        ));
    };
    (@mix [$($keep:tt)*] [$table:literal] [$($meta:expr)?] [] $vis:vis struct $name:ident {
        $(
            $(#[$fattr:meta])*
            $fvis:vis $field:ident : $ty:ty $(= $opts:expr)?
        ),+ $(,)?
    }) => {
        $($keep)*
        $vis struct $name {
            $( $(#[$fattr])* $fvis $field: $ty, )+
            #[doc(hidden)]
            pub _state: $crate::ModelState,
        }

        #[allow(non_upper_case_globals, dead_code)]
        impl $name {
            #[doc(hidden)]
            const __FIELD_NAMES: &'static [&'static str] = &[$(::core::stringify!($field)),+];
            $(
                #[doc = ::core::concat!("The typed handle of the `", ::core::stringify!($field), "` field.")]
                pub const $field: $crate::Column<$name, $ty> = $crate::Column::new(
                    $crate::model::field_index(Self::__FIELD_NAMES, ::core::stringify!($field)),
                    ::core::stringify!($field),
                );
            )+

            /// The default manager: a QuerySet over every row.
            pub fn objects() -> $crate::QuerySet<$name> {
                $crate::QuerySet::new()
            }

            /// Saves the instance: INSERT when it is new (an unsaved `Auto` key, or built in
            /// Rust), else UPDATE. auto_now fields are set first.
            pub async fn save(&mut self) -> $crate::Result<()> {
                $crate::instance::save(self, $crate::SaveOptions::default()).await
            }

            /// Saves with options: update_fields, force_insert, force_update, using.
            pub async fn save_with(&mut self, options: $crate::SaveOptions) -> $crate::Result<()> {
                $crate::instance::save(self, options).await
            }

            /// Deletes the row (on a soft-delete model: marks it deleted); returns the total
            /// and the count per model.
            pub async fn delete(&mut self) -> $crate::Result<(u64, ::std::collections::BTreeMap<&'static str, u64>)> {
                $crate::instance::delete(self).await
            }

            /// Deletes the row for good, also on a soft-delete model.
            pub async fn hard_delete(&mut self) -> $crate::Result<(u64, ::std::collections::BTreeMap<&'static str, u64>)> {
                $crate::instance::hard_delete(self).await
            }

            /// Clears the soft-delete mark (an error on a model without one).
            pub async fn restore(&mut self) -> $crate::Result<()> {
                $crate::instance::restore(self).await
            }

            /// Reloads every field (deferred ones included) from the database.
            pub async fn refresh_from_db(&mut self) -> $crate::Result<()> {
                $crate::instance::refresh(self, None).await
            }

            /// Reloads the named fields only.
            pub async fn refresh_from_db_fields(&mut self, fields: &[&str]) -> $crate::Result<()> {
                $crate::instance::refresh(self, Some(fields)).await
            }

            /// Runs clean_fields, clean and validate_unique, collecting every error per field.
            pub async fn full_clean(&self) -> $crate::Result<()> {
                $crate::validate::full_clean(self, &[]).await
            }

            /// Runs each field's validators (and the NULL checks), collecting every error.
            pub fn clean_fields(&self, exclude: &[&str]) -> ::core::result::Result<(), $crate::ValidationErrors> {
                $crate::validate::clean_fields(self, exclude)
            }

            /// Asks the database whether unique fields and unique_together sets are free.
            pub async fn validate_unique(&self) -> $crate::Result<()> {
                $crate::validate::validate_unique(self).await
            }

            /// The label of a field's value among its choices (Django's `get_FOO_display`):
            /// `Ok(None)` when the value is not one of them; an error naming an unknown field.
            #[allow(unused_assignments)]
            pub fn get_display(&self, field: &str) -> $crate::Result<::core::option::Option<::std::string::String>> {
                let meta = <$name as $crate::Model>::meta();
                let mut k = 0usize;
                $(
                    if meta.fields[k].name == field {
                        return ::core::result::Result::Ok(
                            meta.fields[k].typed::<$ty>()
                                .and_then(|f| f.choice_label(&self.$field))
                                .map(::std::string::ToString::to_string),
                        );
                    }
                    k += 1;
                )+
                ::core::result::Result::Err($crate::Error::Field {
                    model: meta.name,
                    field: field.to_string(),
                    message: "no such field".to_string(),
                })
            }

            /// The names of the fields not loaded (`only`/`defer`).
            pub fn get_deferred_fields(&self) -> ::std::vec::Vec<&'static str> {
                $crate::instance::deferred_fields(self)
            }

            /// A field's value by name, as a parameter (Django's `serializable_value`).
            pub fn serializable_value(&self, field: &str) -> $crate::Result<$crate::Param> {
                $crate::instance::serializable_value(self, field)
            }

            /// Decodes an instance from a row whose columns are named like the model's
            /// (missing ones are deferred): Django's `from_db`, for rows of raw SQL.
            pub fn from_db(row: &$crate::Row) -> $crate::Result<$name> {
                $crate::instance::from_db(row)
            }
        }

        impl ::core::default::Default for $name {
            #[allow(unused_assignments)]
            fn default() -> Self {
                let meta = <$name as $crate::Model>::meta();
                let mut k = 0usize;
                $name {
                    $( $field: {
                        let i = k;
                        k += 1;
                        meta.fields[i].typed::<$ty>().map(|f| f.default_value()).unwrap_or_else(<$ty as $crate::FieldType>::zero)
                    }, )+
                    _state: $crate::ModelState::new(),
                }
            }
        }

        impl $crate::Model for $name {
            fn meta() -> &'static $crate::ModelMeta {
                static META: ::std::sync::OnceLock<$crate::ModelMeta> = ::std::sync::OnceLock::new();
                META.get_or_init(|| {
                    let fields = ::std::vec![$(
                        $crate::FieldMeta::new::<$ty>(
                            ::core::stringify!($field),
                            $name::$field.index(),
                            $crate::model!(@opts $($opts)?),
                        )
                    ),+];
                    let meta: $crate::Meta<$name> = $crate::model!(@meta $($meta)?);
                    $crate::ModelMeta::build::<$name>(::core::stringify!($name), $table, fields, meta)
                })
            }

            #[allow(unused_assignments)]
            fn __decode(row: &$crate::Row, map: &[::core::option::Option<usize>]) -> $crate::Result<Self> {
                let meta = <$name as $crate::Model>::meta();
                let mut k = 0usize;
                let mut deferred = ::std::vec::Vec::new();
                ::core::result::Result::Ok($name {
                    $( $field: {
                        let i = k;
                        k += 1;
                        match map.get(i) {
                            ::core::option::Option::Some(::core::option::Option::Some(c)) => {
                                let mut v: $ty = row.get(*c)?;
                                <$ty as $crate::FieldType>::__bind(&mut v, &meta.fields[i]);
                                v
                            }
                            _ => {
                                deferred.push(i);
                                <$ty as $crate::FieldType>::zero()
                            }
                        }
                    }, )+
                    _state: $crate::ModelState::loaded(deferred),
                })
            }

            fn __field_ref(&self, i: usize) -> ::core::option::Option<&(dyn $crate::ToSql + Sync)> {
                let refs: &[&(dyn $crate::ToSql + Sync)] = &[$(&self.$field),+];
                refs.get(i).copied()
            }

            #[allow(unused_assignments)]
            fn __field_param(&self, i: usize) -> ::core::option::Option<$crate::Param> {
                let mut k = 0usize;
                $(
                    if k == i {
                        return ::core::option::Option::Some(::std::sync::Arc::new(::core::clone::Clone::clone(&self.$field)));
                    }
                    k += 1;
                )+
                ::core::option::Option::None
            }

            #[allow(unused_assignments)]
            fn __set_field(&mut self, i: usize, row: &$crate::Row, col: usize) -> $crate::Result<()> {
                let mut k = 0usize;
                $(
                    if k == i {
                        self.$field = row.get(col)?;
                        self._state.__undefer(i);
                        return ::core::result::Result::Ok(());
                    }
                    k += 1;
                )+
                ::core::result::Result::Ok(())
            }

            #[allow(unused_assignments)]
            fn __reset_field(&mut self, i: usize) {
                let mut k = 0usize;
                $(
                    if k == i {
                        self.$field = <$ty as $crate::FieldType>::zero();
                        return;
                    }
                    k += 1;
                )+
            }

            #[allow(unused_assignments)]
            fn __field_any_mut(&mut self, i: usize) -> ::core::option::Option<&mut dyn ::core::any::Any> {
                let mut k = 0usize;
                $(
                    if k == i {
                        return ::core::option::Option::Some(&mut self.$field);
                    }
                    k += 1;
                )+
                ::core::option::Option::None
            }

            #[allow(unused_assignments)]
            fn __load_related(&mut self, row: &$crate::Row, node: &$crate::relations::RelatedNode) -> $crate::Result<()> {
                let mut k = 0usize;
                $(
                    if k == node.field {
                        return <$ty as $crate::FieldType>::__load_related(&mut self.$field, row, node);
                    }
                    k += 1;
                )+
                ::core::result::Result::Ok(())
            }

            #[allow(unused_assignments)]
            fn __pre_save(&mut self, adding: bool) {
                let meta = <$name as $crate::Model>::meta();
                let mut k = 0usize;
                $(
                    if let ::core::option::Option::Some(v) = meta.fields[k].typed::<$ty>().and_then(|f| f.__pre_save(adding, &self.$field)) {
                        self.$field = v;
                    }
                    <$ty as $crate::FieldType>::__bind(&mut self.$field, &meta.fields[k]);
                    k += 1;
                )+
            }

            #[allow(unused_assignments)]
            fn __clean_fields(&self, exclude: &[&str], errors: &mut $crate::ValidationErrors) {
                let meta = <$name as $crate::Model>::meta();
                let mut k = 0usize;
                $(
                    $crate::validate::clean_field::<$ty>(&meta.fields[k], &self.$field, exclude, errors);
                    k += 1;
                )+
            }

            fn state(&self) -> &$crate::ModelState {
                &self._state
            }

            fn state_mut(&mut self) -> &mut $crate::ModelState {
                &mut self._state
            }
        }
    };
    (@opts) => { $crate::Field::new() };
    (@opts $e:expr) => { $e };
    (@meta) => { $crate::Meta::new() };
    (@meta $e:expr) => { $e };
    // The entry point.
    ($($input:tt)+) => {
        $crate::model!(@split [] [] [] [] [] $($input)+);
    };
}

/// Declares an abstract model: fields (with their options) that concrete models share
/// without a table of its own, as HyperDjango's and Django's `abstract = True`.
///
/// It defines a macro named after the abstract model, which `model!` calls for
/// `#[extends(Name)]`; so declare the abstract model before, and in the same module as (or
/// a parent module of, with `#[macro_use]`), the models that extend it. The inherited
/// fields come first, in the parent's order. An abstract model can extend another
/// (`Child extends Parent`), to any depth.
///
/// ```
/// # #[cfg(feature = "chrono")] {
/// use hyperdjango_orm::prelude::*;
/// use hyperdjango_orm::abstract_model;
///
/// abstract_model! {
///     /// Created and updated times.
///     pub TimestampedModel {
///         pub created_at: Option<chrono::DateTime<chrono::Utc>> = Field::new().auto_now_add(),
///         pub updated_at: Option<chrono::DateTime<chrono::Utc>> = Field::new().auto_now(),
///     }
/// }
/// abstract_model! {
///     /// Plus a unique slug.
///     pub SluggedModel extends TimestampedModel {
///         pub slug: String = Field::new().unique().index(),
///     }
/// }
/// model! {
///     #[table = "pages"]
///     #[extends(SluggedModel)]
///     #[derive(Debug, Clone)]
///     pub struct Page {
///         pub id: Auto<i64> = Field::new().primary_key(),
///         pub title: String,
///     }
/// }
/// let names: Vec<&str> = Page::meta().fields.iter().map(|f| f.name).collect();
/// assert_eq!(names, ["created_at", "updated_at", "slug", "id", "title"]);
/// assert!(Page::meta().field("slug").unwrap().options.unique);
/// let p = Page { slug: "home".into(), ..Default::default() };
/// assert!(p.created_at.is_none());
/// # }
/// ```
#[macro_export]
macro_rules! abstract_model {
    ($(#[$a:meta])* $vis:vis $name:ident extends $parent:ident { $($body:tt)* }) => {
        $parent! { @abstract_child [$(#[$a])* $vis $name] { $($body)* } }
    };
    ($(#[$a:meta])* $vis:vis $name:ident { $($body:tt)* }) => {
        $crate::abstract_model!(@define ($) [$(#[$a])* $vis $name] [] { $($body)* });
    };
    (@define ($d:tt) [$(#[$a:meta])* $vis:vis $name:ident] [$($inh:tt)*] {
        $(
            $(#[$fattr:meta])*
            $fvis:vis $field:ident : $ty:ty $(= $opts:expr)?
        ),* $(,)?
    }) => {
        $(#[$a])*
        #[allow(unused_macros)]
        macro_rules! $name {
            (@extend [$d($d k:tt)*] [$d($d t:tt)*] [$d($d m:tt)*] [$d($d x:tt)*] [$d($d i:tt)*] $d($d rest:tt)*) => {
                $crate::model!(@split [$d($d k)*] [$d($d t)*] [$d($d m)*] [$d($d x)*] [
                    $($inh)*
                    $( $(#[$fattr])* $fvis $field : $ty $(= $opts)? , )*
                    $d($d i)*
                ] $d($d rest)*);
            };
            (@abstract_child [$d($d head:tt)*] { $d($d body:tt)* }) => {
                $crate::abstract_model!(@define ($d) [$d($d head)*] [
                    $($inh)*
                    $( $(#[$fattr])* $fvis $field : $ty $(= $opts)? , )*
                ] { $d($d body)* });
            };
        }
    };
}

/// Declares a proxy model: another Rust type over the same table as a concrete model,
/// with its own default QuerySet and its own methods (HyperDjango's `proxy = True`).
///
/// The proxy wraps an instance of the concrete model (`.0`, or through `Deref`), so it
/// reads, saves and deletes the same rows; `Proxy::objects()` is the default QuerySet you
/// give, and `Proxy::all()` fetches it as proxies. Add behaviour in `impl Proxy { .. }`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// use hyperdjango_orm::proxy_model;
///
/// model! {
///     #[table = "blog_posts"]
///     #[derive(Debug, Clone)]
///     pub struct BlogPost {
///         pub id: Auto<i64> = Field::new().primary_key(),
///         pub title: String,
///         pub published: bool = Field::new().default(false),
///     }
/// }
/// proxy_model! {
///     /// Only the published posts.
///     #[derive(Debug, Clone)]
///     pub struct PublishedPost: BlogPost = BlogPost::objects().filter(BlogPost::published.eq(true));
/// }
/// impl PublishedPost {
///     pub fn headline(&self) -> String { self.title.to_uppercase() }
/// }
///
/// let p = PublishedPost::from(BlogPost { title: "Hello".into(), published: true, ..Default::default() });
/// assert_eq!(p.headline(), "HELLO");
/// assert!(PublishedPost::objects().to_sql().unwrap().0.contains(r#""published" = $1"#));
/// ```
#[macro_export]
macro_rules! proxy_model {
    ($(#[$a:meta])* $vis:vis struct $name:ident : $model:ty = $qs:expr $(;)?) => {
        $(#[$a])*
        $vis struct $name(pub $model);

        impl $name {
            /// The proxy's default QuerySet (over the concrete model's table).
            pub fn objects() -> $crate::QuerySet<$model> {
                $qs
            }

            /// Every row of the default QuerySet, as proxies.
            pub async fn all() -> $crate::Result<::std::vec::Vec<$name>> {
                ::core::result::Result::Ok(
                    Self::objects().all().await?.into_iter().map($name).collect(),
                )
            }

            /// The concrete instance.
            pub fn into_inner(self) -> $model {
                self.0
            }
        }

        impl ::core::convert::From<$model> for $name {
            fn from(m: $model) -> Self {
                $name(m)
            }
        }

        impl ::core::ops::Deref for $name {
            type Target = $model;
            fn deref(&self) -> &$model {
                &self.0
            }
        }

        impl ::core::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut $model {
                &mut self.0
            }
        }
    };
}
