//! Validation: `clean_fields` (each field's validators and NULL checks), the model's `clean`
//! hook, `validate_unique` (which asks the database) and `full_clean` (all three). Errors are
//! collected per field, never stopping at the first.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};
use crate::field::{FieldMeta, FieldType};
use crate::model::{CleanHook, Model};

/// The key of errors that concern no single field (Django's `NON_FIELD_ERRORS`).
pub const NON_FIELD_ERRORS: &str = "__all__";

/// Validation errors, per field name (in field order when displayed).
///
/// ```
/// use hyperdjango_orm::ValidationErrors;
/// let mut e = ValidationErrors::new();
/// e.add("price", "Ensure this value is greater than or equal to 0.");
/// e.add("price", "Another.");
/// assert_eq!(e.get("price").len(), 2);
/// assert!(!e.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    /// The model's name, when known.
    pub model: Option<&'static str>,
    /// Messages per field.
    pub errors: BTreeMap<String, Vec<String>>,
}

impl ValidationErrors {
    /// No errors.
    pub fn new() -> Self {
        ValidationErrors::default()
    }

    /// Adds a message for `field` (or [`NON_FIELD_ERRORS`]).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    /// The messages for `field` (empty if none).
    pub fn get(&self, field: &str) -> &[String] {
        self.errors.get(field).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Adds every error of `other`.
    pub fn merge(&mut self, other: ValidationErrors) {
        for (k, v) in other.errors {
            self.errors.entry(k).or_default().extend(v);
        }
    }

    fn into_result(self) -> std::result::Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, msgs) in &self.errors {
            for m in msgs {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                match self.model {
                    Some(model) => write!(f, "{model}.{field}: {m}")?,
                    None => write!(f, "{field}: {m}")?,
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Validates one field's value (used by `model!`).
#[doc(hidden)]
pub fn clean_field<T: FieldType>(
    meta: &FieldMeta,
    value: &T,
    exclude: &[&str],
    errors: &mut ValidationErrors,
) {
    if exclude.contains(&meta.name) || meta.options.not_editable {
        return;
    }
    let Some(field) = meta.typed::<T>() else {
        return;
    };
    if let Err(msgs) = field.validate(value) {
        for m in msgs {
            errors.add(meta.name, m);
        }
    }
}

/// Runs every field's validators on `m`.
pub fn clean_fields<M: Model>(
    m: &M,
    exclude: &[&str],
) -> std::result::Result<(), ValidationErrors> {
    let mut errors = ValidationErrors {
        model: Some(M::meta().name),
        ..Default::default()
    };
    m.__clean_fields(exclude, &mut errors);
    errors.into_result()
}

/// Asks the database whether `m`'s unique fields and unique_together sets are free (rows
/// other than `m` itself).
pub async fn validate_unique<M: Model>(m: &M) -> Result<()> {
    let meta = M::meta();
    let mut errors = ValidationErrors {
        model: Some(meta.name),
        ..Default::default()
    };
    let mut sets: Vec<Vec<usize>> = meta
        .fields
        .iter()
        .filter(|f| f.options.unique && !f.options.primary_key)
        .map(|f| vec![f.index])
        .collect();
    for set in &meta.unique_together {
        sets.push(
            set.iter()
                .filter_map(|n| meta.field(n).map(|f| f.index))
                .collect(),
        );
    }
    if !m.state().adding || meta.pk().auto {
        // the primary key is checked too when a non-auto key is being added
    } else {
        sets.push(vec![meta.pk_index]);
    }
    check_unique_for(m, &mut errors).await?;
    for set in sets {
        // Soft-deleted rows and other owners' rows still hold their unique values.
        let mut qs = crate::QuerySet::<M>::new().unscoped();
        let mut any_null = false;
        for &i in &set {
            match m.__field_param(i) {
                Some(p) => {
                    let mut buf = hyperdjango_pgwire::__private::BytesMut::new();
                    if matches!(
                        p.to_sql(&p.sql_type(), &mut buf),
                        Ok(hyperdjango_pgwire::types::IsNull::Yes)
                    ) {
                        any_null = true;
                    }
                    qs = qs.filter_where(crate::lookup::Where::Lookup {
                        lhs: crate::expr::Node::Field(i),
                        op: crate::lookup::Lookup::Exact,
                        rhs: crate::lookup::Rhs::Node(crate::expr::Node::Param(p)),
                    });
                }
                None => any_null = true,
            }
        }
        if any_null {
            continue;
        }
        if !m.state().adding {
            if let Some(pk) = m.__field_param(meta.pk_index) {
                qs = qs.filter_where(crate::lookup::Where::Not(Box::new(
                    crate::lookup::Where::Lookup {
                        lhs: crate::expr::Node::Field(meta.pk_index),
                        op: crate::lookup::Lookup::Exact,
                        rhs: crate::lookup::Rhs::Node(crate::expr::Node::Param(pk)),
                    },
                )));
            }
        }
        if let Some(db) = &m.state().db {
            qs = qs.using(db);
        }
        if qs.exists().await? {
            let names: Vec<&str> = set.iter().map(|&i| meta.fields[i].name).collect();
            if let [one] = names.as_slice() {
                let verbose = meta.fields[set[0]].verbose_name();
                errors.add(
                    one,
                    format!(
                        "{} with this {} already exists.",
                        capitalize(&meta.verbose_name),
                        verbose
                    ),
                );
            } else {
                errors.add(
                    super::validate::NON_FIELD_ERRORS,
                    format!(
                        "{} with this {} already exists.",
                        capitalize(&meta.verbose_name),
                        names.join(" and ")
                    ),
                );
            }
        }
    }
    errors.into_result().map_err(Error::Validation)
}

/// The `unique_for_date` / `_month` / `_year` checks of `validate_unique`.
async fn check_unique_for<M: Model>(m: &M, errors: &mut ValidationErrors) -> Result<()> {
    use crate::expr::Node;
    use crate::field::UniqueFor;
    use crate::lookup::{Lookup, Rhs, Where};
    let meta = M::meta();
    for f in &meta.fields {
        let Some((period, date_name)) = f.options.unique_for else {
            continue;
        };
        let date = meta.field_or_err(date_name)?;
        let (Some(value), Some(when)) = (m.__field_param(f.index), m.__field_param(date.index))
        else {
            continue;
        };
        if crate::query::write::is_null(value.as_ref())
            || crate::query::write::is_null(when.as_ref())
        {
            continue;
        }
        let parts: &[&'static str] = match period {
            UniqueFor::Date => &["DATE"],
            UniqueFor::Month => &["YEAR", "MONTH"],
            UniqueFor::Year => &["YEAR"],
        };
        let mut qs = crate::QuerySet::<M>::new()
            .unscoped()
            .filter_where(Where::Lookup {
                lhs: Node::Field(f.index),
                op: Lookup::Exact,
                rhs: Rhs::Node(Node::Param(value)),
            });
        for part in parts {
            qs = qs.filter_where(Where::Lookup {
                lhs: Node::Extract(part, Box::new(Node::Field(date.index))),
                op: Lookup::Exact,
                rhs: Rhs::Node(Node::Extract(part, Box::new(Node::Param(when.clone())))),
            });
        }
        if !m.state().adding {
            if let Some(pk) = m.__field_param(meta.pk_index) {
                qs = qs.filter_where(Where::Not(Box::new(Where::Lookup {
                    lhs: Node::Field(meta.pk_index),
                    op: Lookup::Exact,
                    rhs: Rhs::Node(Node::Param(pk)),
                })));
            }
        }
        if let Some(db) = &m.state().db {
            qs = qs.using(db);
        }
        if qs.exists().await? {
            let period = match period {
                UniqueFor::Date => "date",
                UniqueFor::Month => "month",
                UniqueFor::Year => "year",
            };
            errors.add(
                f.name,
                format!(
                    "{} must be unique for {} {period}.",
                    capitalize(&f.verbose_name()),
                    capitalize(&date.verbose_name())
                ),
            );
        }
    }
    Ok(())
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// clean_fields, then the model's clean hook, then validate_unique; all errors collected.
pub async fn full_clean<M: Model>(m: &M, exclude: &[&str]) -> Result<()> {
    let meta = M::meta();
    meta.check()?;
    let mut errors = ValidationErrors {
        model: Some(meta.name),
        ..Default::default()
    };
    if let Err(e) = clean_fields(m, exclude) {
        errors.merge(e);
    }
    if let Some(hook) = meta
        .clean
        .as_ref()
        .and_then(|h| h.downcast_ref::<CleanHook<M>>())
    {
        if let Err(e) = hook(m) {
            errors.merge(e);
        }
    }
    match validate_unique(m).await {
        Ok(()) => {}
        Err(Error::Validation(e)) => errors.merge(e),
        Err(e) => return Err(e),
    }
    errors.into_result().map_err(Error::Validation)
}
