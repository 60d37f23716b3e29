//! The autodetector: the models' schema (canonical, see [`super::desired`]) against the live
//! one (see [`super::introspect`]), as a list of [`Operation`]s in an order that applies.
//!
//! Renames: a column that disappeared and one that appeared in the same table, with the
//! same type and nullability and no other candidate on either side, is a rename (marked
//! `inferred`, and reported so the user can check it). When several columns could match,
//! nothing is guessed: the plan drops and adds (which is destructive, so it needs the
//! explicit flag) and a note names the candidates and how to confirm one
//! (`--rename table.old:new`).
//!
//! Safety: each step can carry a hazard (a dropped table or column, a narrowing type
//! change, NOT NULL without a default on a table that has rows). Row counts come from
//! `pg_class.reltuples`, or a cheap `EXISTS` when the table was never analyzed.

use std::collections::{BTreeMap, HashMap};

use hyperdjango_pgwire::Connection;

use crate::compiler::quote;
use crate::ddl::{TableDef, creation_order};
use crate::error::Result;
use crate::migrate::introspect::{self, DbColumn, DbConstraint, DbSchema, DbTable};
use crate::migrate::operation::{Operation, constraint_name, is_narrowing};

/// What the autodetector is told besides the models.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions {
    /// Confirmed renames: (table, old column, new column).
    pub renames: Vec<(String, String, String)>,
    /// Do not infer renames (every disappeared column is dropped).
    pub no_inferred_renames: bool,
}

/// One step of a plan: an operation, and why it is dangerous if it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The operation.
    pub op: Operation,
    /// Why it can lose data or fail (needs `allow_destructive`).
    pub hazard: Option<String>,
}

/// The autodetector's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The steps, in the order they apply.
    pub steps: Vec<Step>,
    /// Things the user should look at (inferred renames, ambiguous ones, serial changes).
    pub notes: Vec<String>,
}

impl Plan {
    /// No changes.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The hazards, one per dangerous step.
    pub fn hazards(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| s.hazard.as_deref())
            .collect()
    }
}

/// Reads the live schema (the connection's current schema), canonicalizes the models'
/// tables and diffs them.
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection, models: &hyperdjango_orm::migrate::Models) -> hyperdjango_orm::Result<()> {
/// use hyperdjango_orm::migrate::autodetect::{detect, DetectOptions};
/// let plan = detect(conn, models, &DetectOptions::default()).await?;
/// for step in &plan.steps { println!("{}", step.op.describe()); }
/// # Ok(()) }
/// ```
pub async fn detect(
    conn: &mut Connection,
    models: &super::Models,
    options: &DetectOptions,
) -> Result<Plan> {
    let defs = models.table_defs()?;
    let schema = introspect::current_schema(conn).await?;
    let live = introspect::read_schema(conn, &schema).await?;
    let desired = Box::pin(super::desired::canonical(conn, &defs)).await?;
    let mut has_rows = HashMap::new();
    for t in &live.tables {
        if models.is_ignored(&t.name) {
            continue;
        }
        has_rows.insert(t.name.clone(), introspect::has_rows(conn, t).await?);
    }
    let live = DbSchema {
        tables: live
            .tables
            .into_iter()
            .filter(|t| !models.is_ignored(&t.name))
            .collect(),
        enums: live.enums,
    };
    Ok(diff(&defs, &desired, &live, options, &has_rows))
}

/// The diff itself (no I/O): `defs` are the models' tables, `desired` their canonical form,
/// `live` the database, `has_rows` which live tables have rows.
pub fn diff(
    defs: &[TableDef],
    desired: &DbSchema,
    live: &DbSchema,
    options: &DetectOptions,
    has_rows: &HashMap<String, bool>,
) -> Plan {
    let mut b = Builder::default();
    let rows =
        |t: &DbTable| introspect::describe_rows(t, has_rows.get(&t.name).copied().unwrap_or(true));
    let full = |t: &str| has_rows.get(t).copied().unwrap_or(false);

    // Tables to create, in foreign-key order.
    let new: Vec<TableDef> = defs
        .iter()
        .filter(|d| live.table(&d.name).is_none())
        .cloned()
        .collect();
    let (order, _) = creation_order(&new);
    for (i, defer) in &order {
        let t = &new[*i];
        let d: Vec<&str> = defer.iter().map(String::as_str).collect();
        let mut sql = vec![t.create_table_sql(Some(&d))];
        sql.extend(t.indexes.iter().map(|ix| ix.sql.clone()));
        b.create_tables.push(step(Operation::CreateTable {
            table: t.name.clone(),
            sql,
        }));
        for c in &t.columns {
            if let Some(r) = c
                .references
                .as_ref()
                .filter(|r| d.contains(&r.table.as_str()))
            {
                b.add_constraints.push(step(Operation::AddConstraint {
                    table: t.name.clone(),
                    name: constraint_name(&t.name, &c.name, "fkey"),
                    definition: r.constraint_sql(&c.name),
                }));
            }
        }
    }

    // Tables in both.
    for def in defs {
        let (Some(want), Some(have)) = (desired.table(&def.name), live.table(&def.name)) else {
            continue;
        };
        table_diff(
            &mut b,
            def,
            want,
            have,
            options,
            full(&have.name),
            &rows(have),
        );
    }

    // Tables to drop: those pointing at other dropped tables first.
    let mut gone: Vec<&DbTable> = live
        .tables
        .iter()
        .filter(|t| !defs.iter().any(|d| d.name == t.name))
        .collect();
    gone.sort_by_key(|t| {
        std::cmp::Reverse(
            t.constraints
                .iter()
                .filter(|c| c.kind == 'f' && c.ref_table.as_deref() != Some(t.name.as_str()))
                .count(),
        )
    });
    for t in gone {
        b.drop_tables.push(Step {
            op: Operation::DropTable {
                table: t.name.clone(),
                recreate: recreate_sql(t),
            },
            hazard: Some(format!("drops table {} and its data ({})", t.name, rows(t))),
        });
    }
    b.finish()
}

fn step(op: Operation) -> Step {
    Step { op, hazard: None }
}

/// The steps by kind, concatenated in an order that applies.
#[derive(Default)]
struct Builder {
    drop_indexes: Vec<Step>,
    drop_constraints: Vec<Step>,
    renames: Vec<Step>,
    alters: Vec<Step>,
    add_columns: Vec<Step>,
    create_tables: Vec<Step>,
    add_constraints: Vec<Step>,
    create_indexes: Vec<Step>,
    logged: Vec<Step>,
    drop_columns: Vec<Step>,
    drop_tables: Vec<Step>,
    notes: Vec<String>,
}

impl Builder {
    fn finish(self) -> Plan {
        let steps = [
            self.drop_indexes,
            self.drop_constraints,
            self.renames,
            self.alters,
            self.add_columns,
            self.create_tables,
            self.add_constraints,
            self.create_indexes,
            self.logged,
            self.drop_columns,
            self.drop_tables,
        ]
        .into_iter()
        .flatten()
        .collect();
        Plan {
            steps,
            notes: self.notes,
        }
    }
}

fn table_diff(
    b: &mut Builder,
    def: &TableDef,
    want: &DbTable,
    have: &DbTable,
    options: &DetectOptions,
    full: bool,
    rows: &str,
) {
    let t = &def.name;
    let mut added: Vec<&DbColumn> = want
        .columns
        .iter()
        .filter(|c| have.column(&c.name).is_none())
        .collect();
    let mut dropped: Vec<&DbColumn> = have
        .columns
        .iter()
        .filter(|c| want.column(&c.name).is_none())
        .collect();
    // old name -> new name
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    for (table, old, new) in &options.renames {
        if table == t
            && dropped.iter().any(|c| &c.name == old)
            && added.iter().any(|c| &c.name == new)
        {
            renamed.insert(old.clone(), new.clone());
            b.renames.push(step(Operation::RenameColumn {
                table: t.clone(),
                from: old.clone(),
                to: new.clone(),
                inferred: false,
            }));
        }
    }
    dropped.retain(|c| !renamed.contains_key(&c.name));
    added.retain(|c| !renamed.values().any(|n| *n == c.name));
    if !options.no_inferred_renames {
        let same = |a: &DbColumn, b: &DbColumn| {
            a.ty == b.ty && a.nullable == b.nullable && a.serial == b.serial
        };
        let mut inferred = Vec::new();
        for old in &dropped {
            let candidates: Vec<&&DbColumn> = added.iter().filter(|n| same(old, n)).collect();
            match candidates.as_slice() {
                [new] if dropped.iter().filter(|o| same(o, new)).count() == 1 => {
                    inferred.push((old.name.clone(), new.name.clone()));
                }
                [] => {}
                many => b.notes.push(format!(
                    "{t}.{} may have been renamed to one of {}: nothing was guessed (it is dropped and the others added); confirm a rename with --rename {t}.{}:NEW",
                    old.name,
                    many.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                    old.name
                )),
            }
        }
        for (old, new) in inferred {
            b.notes.push(format!(
                "inferred a rename of {t}.{old} to {new} (one column of this type disappeared and one appeared); check it, or pass --no-infer-renames to drop and add instead"
            ));
            b.renames.push(step(Operation::RenameColumn {
                table: t.clone(),
                from: old.clone(),
                to: new.clone(),
                inferred: true,
            }));
            dropped.retain(|c| c.name != old);
            added.retain(|c| c.name != new);
            renamed.insert(old, new);
        }
    }
    for c in &added {
        let hazard = (!c.nullable && c.default.is_none() && !c.serial && full).then(|| {
            format!(
                "adds {t}.{} NOT NULL without a default to a table with {rows}: existing rows make it fail (give the field a default, or add it nullable first)",
                c.name
            )
        });
        b.add_columns.push(Step {
            op: Operation::AddColumn {
                table: t.clone(),
                column: c.name.clone(),
                definition: c.sql(),
            },
            hazard,
        });
    }
    for c in &dropped {
        b.drop_columns.push(Step {
            op: Operation::DropColumn {
                table: t.clone(),
                column: c.name.clone(),
                definition: c.sql(),
            },
            hazard: Some(format!("drops column {t}.{} and its data ({rows})", c.name)),
        });
    }
    // Columns on both sides (renamed ones under their new name).
    for w in &want.columns {
        let old_name = renamed
            .iter()
            .find(|(_, n)| **n == w.name)
            .map_or(w.name.as_str(), |(o, _)| o.as_str());
        let Some(h) = have.column(old_name) else {
            continue;
        };
        if w.ty != h.ty {
            let hazard = is_narrowing(&h.ty, &w.ty).then(|| {
                format!(
                    "changes {t}.{} from {} to {}, which can lose or refuse values ({rows})",
                    w.name, h.ty, w.ty
                )
            });
            b.alters.push(Step {
                op: Operation::AlterColumnType {
                    table: t.clone(),
                    column: w.name.clone(),
                    from: h.ty.clone(),
                    to: w.ty.clone(),
                },
                hazard,
            });
        }
        if w.nullable != h.nullable {
            let hazard = (!w.nullable && w.default.is_none() && full).then(|| {
                format!(
                    "sets NOT NULL on {t}.{} without a default on a table with {rows}: fails if a row holds NULL",
                    w.name
                )
            });
            b.alters.push(Step {
                op: Operation::AlterNullable {
                    table: t.clone(),
                    column: w.name.clone(),
                    nullable: w.nullable,
                },
                hazard,
            });
        }
        if w.serial != h.serial {
            b.notes.push(format!(
                "{t}.{}: auto-increment {} in the models but not in the database; not migrated automatically (write the sequence change with RunSQL)",
                w.name,
                if w.serial { "is on" } else { "is off" }
            ));
        } else if w.default != h.default {
            b.alters.push(step(Operation::AlterDefault {
                table: t.clone(),
                column: w.name.clone(),
                from: h.default.clone(),
                to: w.default.clone(),
            }));
        }
    }
    // Constraints, compared by what they do (names are the server's choice).
    let key = |c: &DbConstraint, map: &dyn Fn(&str) -> String| -> String {
        let cols: Vec<String> = c.columns.iter().map(|n| map(n)).collect();
        match c.kind {
            'c' => format!("c {}", c.definition),
            'f' => format!(
                "f {:?} {:?} {:?} {}",
                cols, c.ref_table, c.ref_columns, c.on_delete
            ),
            k => format!("{k} {cols:?}"),
        }
    };
    let new_name = |n: &str| renamed.get(n).cloned().unwrap_or_else(|| n.to_string());
    let ident = |n: &str| n.to_string();
    let live: Vec<(String, &DbConstraint)> = have
        .constraints
        .iter()
        .filter(|c| c.kind != 'x')
        .map(|c| (key(c, &new_name), c))
        .collect();
    let wanted: Vec<(String, &DbConstraint)> = want
        .constraints
        .iter()
        .map(|c| (key(c, &ident), c))
        .collect();
    for (k, c) in &live {
        if !wanted.iter().any(|(w, _)| w == k) {
            b.drop_constraints.push(step(Operation::DropConstraint {
                table: t.clone(),
                name: c.name.clone(),
                definition: c.definition.clone(),
            }));
        }
    }
    for (k, c) in &wanted {
        if !live.iter().any(|(l, _)| l == k) {
            b.add_constraints.push(step(Operation::AddConstraint {
                table: t.clone(),
                name: c.name.clone(),
                definition: c.definition.clone(),
            }));
        }
    }
    // Indexes, by name and definition.
    for h in &have.indexes {
        let same = want.indexes.iter().any(|w| {
            w.name == h.name && w.unique == h.unique && w.body == rename_cols(&h.body, &renamed)
        });
        if !same {
            b.drop_indexes.push(step(Operation::DropIndex {
                name: h.name.clone(),
                recreate: h.create_sql(t, false),
                concurrently: false,
            }));
        }
    }
    for ix in &def.indexes {
        let Some(w) = want.indexes.iter().find(|w| w.name == ix.name) else {
            continue;
        };
        let same = have.indexes.iter().any(|h| {
            h.name == w.name && h.unique == w.unique && rename_cols(&h.body, &renamed) == w.body
        });
        if !same {
            b.create_indexes.push(step(Operation::CreateIndex {
                name: ix.name.clone(),
                sql: ix.sql.clone(),
                concurrently: ix.concurrently,
            }));
        }
    }
    if want.unlogged != have.unlogged {
        b.logged.push(step(Operation::SetUnlogged {
            table: t.clone(),
            unlogged: want.unlogged,
        }));
    }
}

/// An index body with renamed columns under their new names (PostgreSQL renames them in the
/// index too, so a rename alone does not rebuild it).
fn rename_cols(body: &str, renamed: &BTreeMap<String, String>) -> String {
    if renamed.is_empty() {
        return body.to_string();
    }
    // Replace whole identifiers only.
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match renamed.get(word.as_str()) {
            Some(n) => out.push_str(n),
            None => out.push_str(word),
        }
        word.clear();
    };
    for ch in body.chars() {
        if ch.is_alphanumeric() || ch == '_' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
            out.push(ch);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The statements that recreate a live table (empty) with its constraints and indexes.
pub fn recreate_sql(t: &DbTable) -> Vec<String> {
    let mut parts: Vec<String> = t.columns.iter().map(DbColumn::sql).collect();
    for c in &t.constraints {
        parts.push(format!("CONSTRAINT {} {}", quote(&c.name), c.definition));
    }
    let mut out = vec![format!(
        "CREATE {}TABLE {} ({})",
        if t.unlogged { "UNLOGGED " } else { "" },
        quote(&t.name),
        parts.join(", ")
    )];
    out.extend(t.indexes.iter().map(|i| i.create_sql(&t.name, false)));
    out
}
