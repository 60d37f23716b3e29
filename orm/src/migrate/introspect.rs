//! Reading a schema from `pg_catalog`: tables, columns (type as `format_type` prints it,
//! NOT NULL, default as `pg_get_expr` prints it), constraints, indexes, enum types, and row
//! estimates from `pg_class.reltuples`.
//!
//! Both sides of the autodetector's diff are read by this code: the live schema, and the
//! models' tables created as temporary tables (see [`super::desired`]), so types, defaults
//! and expressions come out in the server's own canonical spelling on both sides.

use hyperdjango_pgwire::Connection;

use crate::compiler::quote;
use crate::error::Result;

/// A schema read from the catalog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbSchema {
    /// The tables, by name.
    pub tables: Vec<DbTable>,
    /// The enum types: (name, labels in order).
    pub enums: Vec<(String, Vec<String>)>,
}

impl DbSchema {
    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&DbTable> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// A table read from the catalog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbTable {
    /// The table's name.
    pub name: String,
    /// UNLOGGED.
    pub unlogged: bool,
    /// The columns in order.
    pub columns: Vec<DbColumn>,
    /// Primary key, unique, check and foreign key constraints.
    pub constraints: Vec<DbConstraint>,
    /// Indexes that do not back a constraint.
    pub indexes: Vec<DbIndex>,
    /// `pg_class.reltuples`: the planner's row estimate (−1: never analyzed).
    pub reltuples: f64,
}

impl DbTable {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&DbColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The primary key constraint.
    pub fn primary_key(&self) -> Option<&DbConstraint> {
        self.constraints.iter().find(|c| c.kind == 'p')
    }
}

/// A column read from the catalog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbColumn {
    /// The column's name.
    pub name: String,
    /// The type as `format_type` prints it (`integer`, `character varying(20)`, `text[]`).
    pub ty: String,
    /// The type's name in `pg_type` (`int4`, `varchar`, `_text`, `mood`).
    pub type_name: String,
    /// For arrays, the element type's name.
    pub element: Option<String>,
    /// An enum type.
    pub is_enum: bool,
    /// NULL allowed.
    pub nullable: bool,
    /// The default as `pg_get_expr` prints it; `None` for a serial/identity column's.
    pub default: Option<String>,
    /// A serial column (default `nextval(..)`) or an identity column.
    pub serial: bool,
}

impl DbColumn {
    /// The column's definition for `ADD COLUMN`/`CREATE TABLE` (serial columns as
    /// `SERIAL`/`BIGSERIAL`/`SMALLSERIAL`).
    ///
    /// ```
    /// use hyperdjango_orm::migrate::introspect::DbColumn;
    /// let c = DbColumn { name: "n".into(), ty: "integer".into(), nullable: false, default: Some("0".into()), ..Default::default() };
    /// assert_eq!(c.sql(), r#""n" integer NOT NULL DEFAULT 0"#);
    /// ```
    pub fn sql(&self) -> String {
        let ty = if self.serial {
            match self.ty.as_str() {
                "bigint" => "BIGSERIAL",
                "smallint" => "SMALLSERIAL",
                _ => "SERIAL",
            }
        } else {
            self.ty.as_str()
        };
        let mut s = format!("{} {ty}", quote(&self.name));
        if !self.nullable {
            s.push_str(" NOT NULL");
        }
        if let Some(d) = &self.default {
            s.push_str(" DEFAULT ");
            s.push_str(d);
        }
        s
    }
}

/// A constraint read from the catalog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbConstraint {
    /// The constraint's name.
    pub name: String,
    /// `p` primary key, `u` unique, `c` check, `f` foreign key, `x` exclusion.
    pub kind: char,
    /// Its columns, in order.
    pub columns: Vec<String>,
    /// `pg_get_constraintdef`: `UNIQUE (a, b)`, `CHECK ((n >= 0))`, `FOREIGN KEY ...`.
    pub definition: String,
    /// A foreign key's target table.
    pub ref_table: Option<String>,
    /// A foreign key's target columns.
    pub ref_columns: Vec<String>,
    /// A foreign key's ON DELETE action (`CASCADE`, `SET NULL`, `SET DEFAULT`, `RESTRICT`,
    /// `NO ACTION`).
    pub on_delete: String,
}

/// An index read from the catalog (one that backs no constraint).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbIndex {
    /// The index's name.
    pub name: String,
    /// UNIQUE.
    pub unique: bool,
    /// What follows `USING` in `pg_get_indexdef`: `btree (sku)`, `gin (tags) WHERE ...`.
    pub body: String,
    /// The indexed columns (empty entries for expressions).
    pub columns: Vec<String>,
}

impl DbIndex {
    /// The `CREATE INDEX` statement, unqualified (for a migration's DOWN section).
    ///
    /// ```
    /// use hyperdjango_orm::migrate::introspect::DbIndex;
    /// let i = DbIndex { name: "t_a_idx".into(), unique: false, body: "btree (a)".into(), columns: vec!["a".into()] };
    /// assert_eq!(i.create_sql("t", false), r#"CREATE INDEX "t_a_idx" ON "t" USING btree (a)"#);
    /// ```
    pub fn create_sql(&self, table: &str, concurrently: bool) -> String {
        format!(
            "CREATE {}INDEX {}{} ON {} USING {}",
            if self.unique { "UNIQUE " } else { "" },
            if concurrently { "CONCURRENTLY " } else { "" },
            quote(&self.name),
            quote(table),
            self.body
        )
    }
}

/// The name of the connection's current schema (first on its search path).
pub async fn current_schema(conn: &mut Connection) -> Result<String> {
    let row = conn.query_one("SELECT current_schema()::text", &[]).await?;
    let s: Option<String> = row.get(0)?;
    s.ok_or_else(|| {
        crate::Error::Migration(
            "the connection has no current schema (search_path names no existing schema)".into(),
        )
    })
}

const TABLES: &str = "SELECT c.relname::text, c.relpersistence = 'u', c.reltuples::float8 \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname";

const COLUMNS: &str = "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
     a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, t.typname::text, \
     t.typtype::text, et.typname::text \
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A' \
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY c.relname, a.attnum";

const CONSTRAINTS: &str = "SELECT c.relname::text, con.conname::text, con.contype::text, \
     pg_get_constraintdef(con.oid), \
     ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o) \
           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), \
     rc.relname::text, \
     ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o) \
           JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o), \
     con.confdeltype::text \
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class rc ON rc.oid = con.confrelid \
     WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'c', 'f', 'x') \
     ORDER BY c.relname, con.conname";

const INDEXES: &str = "SELECT c.relname::text, i.relname::text, ix.indisunique, pg_get_indexdef(ix.indexrelid), \
     ARRAY(SELECT coalesce(a.attname::text, '') FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, o) \
           LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n ORDER BY k.o) \
     FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class c ON c.oid = ix.indrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT EXISTS (SELECT 1 FROM pg_constraint con \
           WHERE con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid AND con.contype IN ('p', 'u', 'x')) \
     ORDER BY c.relname, i.relname";

const ENUMS: &str = "SELECT t.typname::text, ARRAY(SELECT e.enumlabel::text FROM pg_enum e \
     WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) \
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
     WHERE n.nspname = $1 AND t.typtype = 'e' ORDER BY t.typname";

/// Reads every table of `schema` (and its enum types).
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_orm::Result<()> {
/// use hyperdjango_orm::migrate::introspect;
/// let schema = introspect::current_schema(conn).await?;
/// let db = introspect::read_schema(conn, &schema).await?;
/// for t in &db.tables { println!("{} ({} columns)", t.name, t.columns.len()); }
/// # Ok(()) }
/// ```
pub async fn read_schema(conn: &mut Connection, schema: &str) -> Result<DbSchema> {
    let mut out = DbSchema::default();
    for row in conn.query(TABLES, &[&schema]).await? {
        out.tables.push(DbTable {
            name: row.get(0)?,
            unlogged: row.get(1)?,
            reltuples: row.get(2)?,
            ..DbTable::default()
        });
    }
    let find = |out: &mut DbSchema, name: &str| out.tables.iter().position(|t| t.name == name);
    for row in conn.query(COLUMNS, &[&schema]).await? {
        let table: String = row.get(0)?;
        let default: Option<String> = row.get(4)?;
        let identity: String = row.get(5)?;
        let serial = !identity.is_empty()
            || default
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("));
        let col = DbColumn {
            name: row.get(1)?,
            ty: row.get(2)?,
            nullable: !row.get::<_, bool>(3)?,
            default: if serial { None } else { default },
            serial,
            type_name: row.get(6)?,
            is_enum: row.get::<_, String>(7)? == "e",
            element: row.get(8)?,
        };
        if let Some(i) = find(&mut out, &table) {
            out.tables[i].columns.push(col);
        }
    }
    for row in conn.query(CONSTRAINTS, &[&schema]).await? {
        let table: String = row.get(0)?;
        let kind: String = row.get(2)?;
        let action: Option<String> = row.get(7)?;
        let con = DbConstraint {
            name: row.get(1)?,
            kind: kind.chars().next().unwrap_or('?'),
            definition: row.get(3)?,
            columns: row.get(4)?,
            ref_table: row.get(5)?,
            ref_columns: row.get(6)?,
            on_delete: match action.as_deref() {
                Some("c") => "CASCADE",
                Some("n") => "SET NULL",
                Some("d") => "SET DEFAULT",
                Some("r") => "RESTRICT",
                Some("a") => "NO ACTION",
                _ => "",
            }
            .to_string(),
        };
        if let Some(i) = find(&mut out, &table) {
            out.tables[i].constraints.push(con);
        }
    }
    for row in conn.query(INDEXES, &[&schema]).await? {
        let table: String = row.get(0)?;
        let def: String = row.get(3)?;
        // "CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING method (...)": keep what
        // follows USING, which names neither the index nor the schema.
        let body = def
            .split_once(" USING ")
            .map_or(def.as_str(), |(_, b)| b)
            .to_string();
        let ix = DbIndex {
            name: row.get(1)?,
            unique: row.get(2)?,
            body,
            columns: row.get(4)?,
        };
        if let Some(i) = find(&mut out, &table) {
            out.tables[i].indexes.push(ix);
        }
    }
    for row in conn.query(ENUMS, &[&schema]).await? {
        out.enums.push((row.get(0)?, row.get(1)?));
    }
    Ok(out)
}

/// Whether `table` (in the current schema) has rows: `reltuples` when the table was
/// analyzed and counted some, else a cheap `EXISTS`.
pub async fn has_rows(conn: &mut Connection, table: &DbTable) -> Result<bool> {
    if table.reltuples > 0.0 {
        return Ok(true);
    }
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", quote(&table.name));
    Ok(conn.query_one(sql.as_str(), &[]).await?.get(0)?)
}

/// A row estimate for messages: `~1200 rows`, `no rows`, `some rows`.
pub fn describe_rows(table: &DbTable, has_rows: bool) -> String {
    match (table.reltuples, has_rows) {
        (_, false) => "no rows".into(),
        (n, true) if n > 0.0 => format!("~{} rows", n.round() as u64),
        _ => "some rows (not analyzed yet)".into(),
    }
}
