//! The ORM's error type.
//!
//! Every error that concerns a model names it, and every error that concerns a field names
//! the model and the field. `DoesNotExist` and `MultipleObjectsReturned` can be matched per
//! model with [`Error::is_does_not_exist`] and [`Error::is_multiple_objects_returned`].

use std::fmt;

use crate::model::Model;
use crate::validate::ValidationErrors;

/// The result type of the ORM.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An ORM error.
///
/// ```
/// use hyperdjango_orm::Error;
/// let e = Error::DoesNotExist { model: "Product" };
/// assert_eq!(e.to_string(), "Product matching query does not exist");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `get` (or `latest`, `earliest`, `refresh_from_db`) found no row.
    DoesNotExist {
        /// The model's name.
        model: &'static str,
    },
    /// `get` found more than one row.
    MultipleObjectsReturned {
        /// The model's name.
        model: &'static str,
        /// How many rows came back (at most 21 are read, as Django does).
        count: usize,
    },
    /// A field name (in the string form, `values`, `only`, an `OuterRef`, Meta) or a field's
    /// use is wrong: an unknown field, an unknown lookup, a NULL into a non-null field, an
    /// invalid regular expression.
    Field {
        /// The model's name.
        model: &'static str,
        /// The field (or field path) as given.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// `full_clean` (or `save` of an instance that fails its validators) found errors,
    /// collected per field.
    Validation(ValidationErrors),
    /// A versioned instance (the `Versioned` mixin) was saved after someone else changed its
    /// row: nothing was written.
    Conflict {
        /// The model's name.
        model: &'static str,
        /// What happened.
        message: String,
    },
    /// A delete refused because other rows still point at the rows it would remove, through a
    /// foreign key declared PROTECT, RESTRICT or DO NOTHING (Django's `ProtectedError` and
    /// `RestrictedError`). PostgreSQL 15 reports it as SQLSTATE 23503 and 18 as 23001; both
    /// become this error, and [`Error::code`] still gives the server's code. Nothing was
    /// deleted.
    Protected {
        /// The model whose rows were to be deleted.
        model: &'static str,
        /// The table whose rows still refer to them, as the server named it.
        referenced_by: Option<String>,
        /// The server's error.
        source: hyperdjango_pgwire::Error,
    },
    /// The API was used in a way that cannot work (an unsaved instance deleted, ...).
    Usage(String),
    /// No database is registered under this alias (and, for `default`, `HYPER_DATABASE_URL`
    /// did not give one).
    UnknownDatabase(String),
    /// An error from the driver (the server's error, a decoding error, ...).
    Driver(hyperdjango_pgwire::Error),
    /// An error from the pool (exhausted, timeout, closed, ...).
    Pool(hyperdjango_pool::Error),
    /// The migration system refused or failed: an edited applied migration, a destructive
    /// change without the flag, a malformed migration file, a failing statement (with the
    /// migration's name), a file that cannot be read or written.
    Migration(String),
}

impl Error {
    /// Whether this is `M::DoesNotExist`.
    ///
    /// ```
    /// use hyperdjango_orm::{model, Auto, Field, Error};
    /// model! {
    ///     #[table = "things"]
    ///     pub struct Thing { pub id: Auto<i32> = Field::new().primary_key() }
    /// }
    /// assert!(Error::DoesNotExist { model: "Thing" }.is_does_not_exist::<Thing>());
    /// ```
    pub fn is_does_not_exist<M: Model>(&self) -> bool {
        matches!(self, Error::DoesNotExist { model } if *model == M::meta().name)
    }

    /// Whether this is `M::MultipleObjectsReturned`.
    ///
    /// ```
    /// use hyperdjango_orm::{model, Auto, Field, Error};
    /// model! {
    ///     #[table = "things"]
    ///     pub struct Thing { pub id: Auto<i32> = Field::new().primary_key() }
    /// }
    /// let e = Error::MultipleObjectsReturned { model: "Thing", count: 2 };
    /// assert!(e.is_multiple_objects_returned::<Thing>());
    /// ```
    pub fn is_multiple_objects_returned<M: Model>(&self) -> bool {
        matches!(self, Error::MultipleObjectsReturned { model, .. } if *model == M::meta().name)
    }

    /// The server's SQLSTATE, if the server reported this error.
    ///
    /// ```
    /// assert!(hyperdjango_orm::Error::Usage("x".into()).code().is_none());
    /// ```
    pub fn code(&self) -> Option<&hyperdjango_pgwire::SqlState> {
        match self {
            Error::Driver(e) => e.code(),
            Error::Protected { source, .. } => source.code(),
            Error::Pool(hyperdjango_pool::Error::Driver(e)) => e.code(),
            _ => None,
        }
    }

    /// Whether the server reported a unique violation (SQLSTATE 23505).
    ///
    /// ```
    /// assert!(!hyperdjango_orm::Error::Usage("x".into()).is_unique_violation());
    /// ```
    pub fn is_unique_violation(&self) -> bool {
        self.code() == Some(&hyperdjango_pgwire::SqlState::UNIQUE_VIOLATION)
    }

    pub(crate) fn field(
        model: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        Error::Field {
            model,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DoesNotExist { model } => write!(f, "{model} matching query does not exist"),
            Error::MultipleObjectsReturned { model, count } => {
                let n = if *count > 20 {
                    "more than 20".to_string()
                } else {
                    count.to_string()
                };
                write!(f, "get() returned more than one {model} -- it returned {n}")
            }
            Error::Field {
                model,
                field,
                message,
            } => write!(f, "{model}.{field}: {message}"),
            Error::Validation(e) => write!(f, "validation failed: {e}"),
            Error::Usage(m) => f.write_str(m),
            Error::Conflict { model, message } => write!(f, "{model}: conflict: {message}"),
            Error::Protected {
                model,
                referenced_by,
                source,
            } => match referenced_by {
                Some(t) => write!(
                    f,
                    "{model}: cannot delete, rows of {t} still refer to it (protected): {source}"
                ),
                None => write!(
                    f,
                    "{model}: cannot delete, other rows still refer to it: {source}"
                ),
            },
            Error::UnknownDatabase(a) => write!(f, "no database is registered as {a:?}"),
            Error::Driver(e) => e.fmt(f),
            Error::Pool(e) => e.fmt(f),
            Error::Migration(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Driver(e) => Some(e),
            Error::Protected { source, .. } => Some(source),
            Error::Pool(e) => Some(e),
            _ => None,
        }
    }
}

impl From<hyperdjango_pgwire::Error> for Error {
    fn from(e: hyperdjango_pgwire::Error) -> Error {
        Error::Driver(e)
    }
}

impl From<hyperdjango_pool::Error> for Error {
    fn from(e: hyperdjango_pool::Error) -> Error {
        match e {
            hyperdjango_pool::Error::Driver(e) => Error::Driver(e),
            e => Error::Pool(e),
        }
    }
}

impl From<ValidationErrors> for Error {
    fn from(e: ValidationErrors) -> Error {
        Error::Validation(e)
    }
}
