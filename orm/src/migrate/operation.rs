//! Schema operations: what the autodetector produces and a migration file holds, each with
//! its forward (UP) and backward (DOWN) SQL.

use crate::compiler::quote;

/// One schema change. `up()` applies it, `down()` reverses it.
///
/// ```
/// use hyperdjango_orm::migrate::Operation;
/// let op = Operation::RenameColumn { table: "t".into(), from: "a".into(), to: "b".into(), inferred: false };
/// assert_eq!(op.up(), [r#"ALTER TABLE "t" RENAME COLUMN "a" TO "b""#]);
/// assert_eq!(op.down(), [r#"ALTER TABLE "t" RENAME COLUMN "b" TO "a""#]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `CREATE TABLE` (and its indexes).
    CreateTable {
        /// The table.
        table: String,
        /// The statements: CREATE TABLE, then CREATE INDEX.
        sql: Vec<String>,
    },
    /// `DROP TABLE` (its rows are lost; DOWN recreates it empty).
    DropTable {
        /// The table.
        table: String,
        /// The statements that recreate it (for DOWN).
        recreate: Vec<String>,
    },
    /// `ADD COLUMN`.
    AddColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its definition (`"c" integer NOT NULL DEFAULT 0`).
        definition: String,
    },
    /// `DROP COLUMN` (its values are lost; DOWN adds it back empty).
    DropColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its definition (for DOWN).
        definition: String,
    },
    /// `RENAME COLUMN`.
    RenameColumn {
        /// The table.
        table: String,
        /// The old name.
        from: String,
        /// The new name.
        to: String,
        /// Inferred by the autodetector (one dropped and one added column of the same
        /// type), not confirmed by the user.
        inferred: bool,
    },
    /// `ALTER COLUMN .. TYPE .. USING`.
    AlterColumnType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The old type.
        from: String,
        /// The new type.
        to: String,
    },
    /// `SET NOT NULL` / `DROP NOT NULL`.
    AlterNullable {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Whether NULL is allowed afterwards.
        nullable: bool,
    },
    /// `SET DEFAULT` / `DROP DEFAULT`.
    AlterDefault {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The old default.
        from: Option<String>,
        /// The new default.
        to: Option<String>,
    },
    /// `ADD CONSTRAINT`.
    AddConstraint {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
        /// Its definition (`UNIQUE (a, b)`, `CHECK (..)`, `FOREIGN KEY ..`).
        definition: String,
    },
    /// `DROP CONSTRAINT`.
    DropConstraint {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
        /// Its definition (for DOWN).
        definition: String,
    },
    /// `CREATE INDEX` (optionally CONCURRENTLY).
    CreateIndex {
        /// The index's name.
        name: String,
        /// The statement, without CONCURRENTLY.
        sql: String,
        /// Built CONCURRENTLY (the migration runs outside a transaction).
        concurrently: bool,
    },
    /// `DROP INDEX` (optionally CONCURRENTLY).
    DropIndex {
        /// The index's name.
        name: String,
        /// The statement that recreates it (for DOWN), without CONCURRENTLY.
        recreate: String,
        /// Dropped CONCURRENTLY.
        concurrently: bool,
    },
    /// `SET LOGGED` / `SET UNLOGGED`.
    SetUnlogged {
        /// The table.
        table: String,
        /// UNLOGGED afterwards.
        unlogged: bool,
    },
    /// Hand-written SQL.
    RunSql {
        /// The forward SQL.
        up: String,
        /// The backward SQL (empty: irreversible).
        down: String,
    },
}

/// `ALTER TABLE "t" ` + `rest`.
fn alter(table: &str, rest: String) -> String {
    format!("ALTER TABLE {} {rest}", quote(table))
}

fn with_concurrently(sql: &str, on: bool) -> String {
    if on {
        sql.replacen("INDEX ", "INDEX CONCURRENTLY ", 1)
    } else {
        sql.to_string()
    }
}

impl Operation {
    /// The forward statements.
    pub fn up(&self) -> Vec<String> {
        use Operation::*;
        match self {
            CreateTable { sql, .. } => sql.clone(),
            DropTable { table, .. } => vec![format!("DROP TABLE {}", quote(table))],
            AddColumn {
                table, definition, ..
            } => vec![alter(table, format!("ADD COLUMN {definition}"))],
            DropColumn { table, column, .. } => {
                vec![alter(table, format!("DROP COLUMN {}", quote(column)))]
            }
            RenameColumn {
                table, from, to, ..
            } => vec![alter(
                table,
                format!("RENAME COLUMN {} TO {}", quote(from), quote(to)),
            )],
            AlterColumnType {
                table, column, to, ..
            } => vec![alter_type(table, column, to)],
            AlterNullable {
                table,
                column,
                nullable,
            } => vec![set_nullable(table, column, *nullable)],
            AlterDefault {
                table, column, to, ..
            } => vec![set_default(table, column, to.as_deref())],
            AddConstraint {
                table,
                name,
                definition,
            } => vec![alter(
                table,
                format!("ADD CONSTRAINT {} {definition}", quote(name)),
            )],
            DropConstraint { table, name, .. } => {
                vec![alter(table, format!("DROP CONSTRAINT {}", quote(name)))]
            }
            CreateIndex {
                sql, concurrently, ..
            } => vec![with_concurrently(sql, *concurrently)],
            DropIndex {
                name, concurrently, ..
            } => vec![format!(
                "DROP INDEX {}{}",
                if *concurrently { "CONCURRENTLY " } else { "" },
                quote(name)
            )],
            SetUnlogged { table, unlogged } => vec![alter(
                table,
                if *unlogged {
                    "SET UNLOGGED"
                } else {
                    "SET LOGGED"
                }
                .to_string(),
            )],
            RunSql { up, .. } => vec![up.clone()],
        }
    }

    /// The backward statements: the [inverse](Self::inverse)'s forward ones (empty for an
    /// irreversible `RunSql`).
    pub fn down(&self) -> Vec<String> {
        match self {
            Operation::RunSql { down, .. } if down.trim().is_empty() => Vec::new(),
            op => op.inverse().up(),
        }
    }

    /// The operation that undoes this one.
    ///
    /// ```
    /// use hyperdjango_orm::migrate::Operation;
    /// let op = Operation::AlterNullable { table: "t".into(), column: "c".into(), nullable: true };
    /// assert_eq!(op.inverse(), Operation::AlterNullable { table: "t".into(), column: "c".into(), nullable: false });
    /// assert_eq!(op.inverse().inverse(), op);
    /// ```
    pub fn inverse(&self) -> Operation {
        use Operation::*;
        match self.clone() {
            CreateTable { table, sql } => DropTable {
                table,
                recreate: sql,
            },
            DropTable { table, recreate } => CreateTable {
                table,
                sql: recreate,
            },
            AddColumn {
                table,
                column,
                definition,
            } => DropColumn {
                table,
                column,
                definition,
            },
            DropColumn {
                table,
                column,
                definition,
            } => AddColumn {
                table,
                column,
                definition,
            },
            RenameColumn {
                table,
                from,
                to,
                inferred,
            } => RenameColumn {
                table,
                from: to,
                to: from,
                inferred,
            },
            AlterColumnType {
                table,
                column,
                from,
                to,
            } => AlterColumnType {
                table,
                column,
                from: to,
                to: from,
            },
            AlterNullable {
                table,
                column,
                nullable,
            } => AlterNullable {
                table,
                column,
                nullable: !nullable,
            },
            AlterDefault {
                table,
                column,
                from,
                to,
            } => AlterDefault {
                table,
                column,
                from: to,
                to: from,
            },
            AddConstraint {
                table,
                name,
                definition,
            } => DropConstraint {
                table,
                name,
                definition,
            },
            DropConstraint {
                table,
                name,
                definition,
            } => AddConstraint {
                table,
                name,
                definition,
            },
            CreateIndex {
                name,
                sql,
                concurrently,
            } => DropIndex {
                name,
                recreate: sql,
                concurrently,
            },
            DropIndex {
                name,
                recreate,
                concurrently,
            } => CreateIndex {
                name,
                sql: recreate,
                concurrently,
            },
            SetUnlogged { table, unlogged } => SetUnlogged {
                table,
                unlogged: !unlogged,
            },
            RunSql { up, down } => RunSql { up: down, down: up },
        }
    }

    /// Whether it must run outside a transaction (`CONCURRENTLY`).
    pub fn no_transaction(&self) -> bool {
        matches!(
            self,
            Operation::CreateIndex {
                concurrently: true,
                ..
            } | Operation::DropIndex {
                concurrently: true,
                ..
            }
        )
    }

    /// A one-line description (`Add column orders.note`).
    ///
    /// ```
    /// use hyperdjango_orm::migrate::Operation;
    /// let op = Operation::SetUnlogged { table: "t".into(), unlogged: true };
    /// assert_eq!(op.describe(), "Set table t UNLOGGED");
    /// ```
    pub fn describe(&self) -> String {
        use Operation::*;
        match self {
            CreateTable { table, .. } => format!("Create table {table}"),
            DropTable { table, .. } => format!("Drop table {table}"),
            AddColumn { table, column, .. } => format!("Add column {table}.{column}"),
            DropColumn { table, column, .. } => format!("Drop column {table}.{column}"),
            RenameColumn {
                table,
                from,
                to,
                inferred,
            } => format!(
                "Rename column {table}.{from} to {to}{}",
                if *inferred {
                    " (inferred: one column dropped and one of the same type added)"
                } else {
                    ""
                }
            ),
            AlterColumnType {
                table,
                column,
                from,
                to,
            } => format!("Change type of {table}.{column} from {from} to {to}"),
            AlterNullable {
                table,
                column,
                nullable,
            } => format!(
                "{} NOT NULL on {table}.{column}",
                if *nullable { "Drop" } else { "Set" }
            ),
            AlterDefault {
                table, column, to, ..
            } => match to {
                Some(d) => format!("Set default of {table}.{column} to {d}"),
                None => format!("Drop default of {table}.{column}"),
            },
            AddConstraint {
                table,
                name,
                definition,
            } => format!("Add constraint {name} on {table}: {definition}"),
            DropConstraint { table, name, .. } => format!("Drop constraint {name} on {table}"),
            CreateIndex {
                name, concurrently, ..
            } => format!(
                "Create index {name}{}",
                if *concurrently { " concurrently" } else { "" }
            ),
            DropIndex {
                name, concurrently, ..
            } => format!(
                "Drop index {name}{}",
                if *concurrently { " concurrently" } else { "" }
            ),
            SetUnlogged { table, unlogged } => format!(
                "Set table {table} {}",
                if *unlogged { "UNLOGGED" } else { "LOGGED" }
            ),
            RunSql { .. } => "Run SQL".to_string(),
        }
    }
}

fn alter_type(table: &str, column: &str, to: &str) -> String {
    alter(
        table,
        format!(
            "ALTER COLUMN {c} TYPE {to} USING {c}::{to}",
            c = quote(column)
        ),
    )
}

fn set_nullable(table: &str, column: &str, nullable: bool) -> String {
    alter(
        table,
        format!(
            "ALTER COLUMN {} {} NOT NULL",
            quote(column),
            if nullable { "DROP" } else { "SET" }
        ),
    )
}

fn set_default(table: &str, column: &str, to: Option<&str>) -> String {
    alter(
        table,
        match to {
            Some(d) => format!("ALTER COLUMN {} SET DEFAULT {d}", quote(column)),
            None => format!("ALTER COLUMN {} DROP DEFAULT", quote(column)),
        },
    )
}

/// Whether changing a column from type `from` to `to` can lose or refuse values: anything
/// but the known widenings (smaller to larger integers, integers to numeric or floats,
/// `real` to `double precision`, a longer or unlimited `varchar`, anything to `text`).
///
/// ```
/// use hyperdjango_orm::migrate::operation::is_narrowing;
/// assert!(!is_narrowing("integer", "bigint"));
/// assert!(is_narrowing("bigint", "integer"));
/// assert!(!is_narrowing("character varying(10)", "character varying(20)"));
/// assert!(is_narrowing("character varying(20)", "character varying(10)"));
/// assert!(is_narrowing("text", "integer"));
/// assert!(!is_narrowing("character varying(10)", "text"));
/// ```
pub fn is_narrowing(from: &str, to: &str) -> bool {
    let ints = ["smallint", "integer", "bigint"];
    let rank = |t: &str| ints.iter().position(|i| *i == t);
    if let (Some(a), Some(b)) = (rank(from), rank(to)) {
        return b < a;
    }
    if rank(from).is_some() && (to == "numeric" || to == "double precision") {
        return false;
    }
    if from == "real" && to == "double precision" {
        return false;
    }
    if to == "text" {
        return false;
    }
    let varchar = |t: &str| -> Option<Option<u32>> {
        if t == "character varying" {
            return Some(None);
        }
        t.strip_prefix("character varying(")?
            .strip_suffix(')')?
            .parse()
            .ok()
            .map(Some)
    };
    if let (Some(a), Some(b)) = (varchar(from), varchar(to)) {
        return match (a, b) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(b)) => b < a,
        };
    }
    if from == "text" && varchar(to) == Some(None) {
        return false;
    }
    true
}

/// The name PostgreSQL gives an unnamed constraint: `<table>_<column>_<suffix>`, cut to
/// the 63-byte identifier limit.
///
/// ```
/// assert_eq!(hyperdjango_orm::migrate::operation::constraint_name("orders", "customer_id", "fkey"), "orders_customer_id_fkey");
/// ```
pub fn constraint_name(table: &str, column: &str, suffix: &str) -> String {
    let keep = 63usize.saturating_sub(suffix.len() + 1);
    let mut prefix = format!("{table}_{column}");
    while prefix.len() > keep {
        prefix.pop();
    }
    format!("{prefix}_{suffix}")
}
