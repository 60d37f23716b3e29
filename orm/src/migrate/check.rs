//! Model system checks (the spec's `check()`): every declaration mistake of every model,
//! plus what only shows across models: two models on one table, two fields on one column,
//! clashing reverse names, foreign keys to models that are not registered, and options
//! that cannot work together.

use std::fmt;

use super::Models;
use crate::relations::OnDelete;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Works, but probably not as meant.
    Warning,
    /// Cannot work.
    Error,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckMessage {
    /// How serious.
    pub level: Level,
    /// What it is about: `Model`, `Model.field`.
    pub object: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CheckMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        };
        write!(f, "{level} {}: {}", self.object, self.message)
    }
}

/// Runs the checks on `models`.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// use hyperdjango_orm::migrate::{Models, check::{check, Level}};
/// model! { #[table = "things"] pub struct A { pub id: Auto<i64> = Field::new().primary_key() } }
/// model! { #[table = "things"] pub struct B { pub id: Auto<i64> = Field::new().primary_key() } }
/// let found = check(&Models::new().add::<A>().add::<B>());
/// assert_eq!(found[0].level, Level::Error);
/// assert!(found[0].message.contains("table \"things\""), "{}", found[0]);
/// ```
pub fn check(models: &Models) -> Vec<CheckMessage> {
    let mut out = Vec::new();
    let err = |out: &mut Vec<CheckMessage>, object: String, message: String| {
        out.push(CheckMessage {
            level: Level::Error,
            object,
            message,
        })
    };
    let metas = models.metas();
    for (i, m) in metas.iter().enumerate() {
        for (field, message) in m.errors() {
            let object = if field == "Meta" {
                m.name.to_string()
            } else {
                format!("{}.{field}", m.name)
            };
            err(&mut out, object, message.clone());
        }
        if let Some(other) = metas[..i].iter().find(|o| o.table == m.table) {
            err(
                &mut out,
                m.name.to_string(),
                format!(
                    "table {:?} is also the table of {} (proxy models are not registered; give each model its own table)",
                    m.table, other.name
                ),
            );
        }
        for (j, f) in m.fields.iter().enumerate() {
            let fo = format!("{}.{}", m.name, f.name);
            if let Some(g) = m.fields[..j].iter().find(|g| g.column == f.column) {
                err(
                    &mut out,
                    fo.clone(),
                    format!(
                        "its column {:?} is also the column of field {} (a foreign key's column is <name>_id)",
                        f.column, g.name
                    ),
                );
            }
            let on_delete = f.options.on_delete;
            if on_delete == Some(OnDelete::SetNull) && !f.nullable {
                err(
                    &mut out,
                    fo.clone(),
                    "on_delete SET NULL needs a nullable field (Option<ForeignKey<..>>)".into(),
                );
            }
            if on_delete == Some(OnDelete::SetDefault) && f.options.db_default.is_none() {
                err(
                    &mut out,
                    fo.clone(),
                    "on_delete SET DEFAULT needs a database default (db_default)".into(),
                );
            }
            if f.relation.is_none() && (on_delete.is_some() || f.options.related_name.is_some()) {
                err(
                    &mut out,
                    fo.clone(),
                    "on_delete/related_name are for foreign keys; this field is not one".into(),
                );
            }
            if f.options.primary_key && f.nullable {
                err(
                    &mut out,
                    fo.clone(),
                    "a primary key cannot be nullable".into(),
                );
            }
            if f.options.primary_key && (f.options.unique || f.options.index) {
                out.push(CheckMessage {
                    level: Level::Warning,
                    object: fo.clone(),
                    message: "unique()/index() on the primary key is redundant (it is unique and indexed already)".into(),
                });
            }
            let Some(rel) = f.relation else { continue };
            let target = (rel.target)();
            if !metas.iter().any(|o| std::ptr::eq(*o, target)) {
                err(
                    &mut out,
                    fo.clone(),
                    format!(
                        "points at model {}, which is not registered with the migrations (add it to Models)",
                        target.name
                    ),
                );
            }
            if let Some(rn) = f.options.related_name {
                if target.field(rn).is_some() {
                    err(
                        &mut out,
                        fo.clone(),
                        format!(
                            "related_name {rn:?} clashes with field {}.{rn}",
                            target.name
                        ),
                    );
                }
                for o in metas.iter() {
                    for g in &o.fields {
                        let same_target = g
                            .relation
                            .is_some_and(|r| std::ptr::eq((r.target)(), target));
                        let before = metas
                            .iter()
                            .position(|x| std::ptr::eq(*x, *o))
                            .is_some_and(|p| p < i)
                            || (std::ptr::eq(*o, *m) && g.index < f.index);
                        if same_target && before && g.options.related_name == Some(rn) {
                            err(
                                &mut out,
                                fo.clone(),
                                format!(
                                    "related_name {rn:?} on {} is also used by {}.{} (reverse names must differ)",
                                    target.name, o.name, g.name
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    out
}
