//! DDL for a model: `CREATE TABLE` with types, NOT NULL, DEFAULT, PRIMARY KEY, UNIQUE,
//! foreign keys with their `ON DELETE`, the CHECK constraints of the validators and of Meta,
//! unique_together, UNLOGGED, and the indexes (B-tree, GIN, GiST, BRIN, HNSW, IVFFlat; see
//! [`crate::index`]). [`TableDef`] is the table as data, which the migration system
//! ([`crate::migrate`]) diffs against the database; [`create_all_sql`] creates a set of
//! tables in foreign-key order.

use crate::compiler::quote;
use crate::error::Result;
use crate::index::Index;
use crate::model::{Model, ModelMeta};

/// The statements that create `M`'s table and indexes.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// model! {
///     #[table = "products"]
///     #[meta = Meta::new().unique_together(["name", "sku"])]
///     pub struct Product {
///         pub id: Auto<i32> = Field::new().primary_key(),
///         pub name: String = Field::new().max_length(200),
///         pub sku: String = Field::new().unique().index(),
///         pub price: f64 = Field::new().ge(0.0),
///         pub weight_kg: Option<f64>,
///     }
/// }
/// let ddl = hyperdjango_orm::ddl::create_table_sql::<Product>();
/// assert_eq!(ddl[0], concat!(
///     r#"CREATE TABLE "products" ("id" SERIAL NOT NULL PRIMARY KEY, "#,
///     r#""name" TEXT NOT NULL CHECK (length("name") <= 200), "#,
///     r#""sku" TEXT NOT NULL UNIQUE, "price" DOUBLE PRECISION NOT NULL CHECK ("price" >= 0), "#,
///     r#""weight_kg" DOUBLE PRECISION, UNIQUE ("name", "sku"))"#));
/// assert_eq!(ddl[1], r#"CREATE INDEX "products_sku_idx" ON "products" ("sku")"#);
/// ```
pub fn create_table_sql<M: Model>() -> Vec<String> {
    TableDef::from_model(M::meta()).create_sql()
}

/// A table as DDL sees it: what `CREATE TABLE` and its indexes are rendered from, for a
/// model ([`TableDef::from_model`]), a many-to-many junction
/// ([`ManyToMany::table_def`](crate::many_to_many::ManyToMany::table_def)), or a table
/// read back from the database by the migration system.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    /// The table's name.
    pub name: String,
    /// The columns, in order.
    pub columns: Vec<ColumnDef>,
    /// The primary key's columns when there are several (one column is marked on it).
    pub composite_pk: Vec<String>,
    /// Sets of columns unique together.
    pub unique_together: Vec<Vec<String>>,
    /// Named CHECK constraints: (name, SQL).
    pub checks: Vec<(String, String)>,
    /// The indexes.
    pub indexes: Vec<IndexDef>,
    /// An UNLOGGED table.
    pub unlogged: bool,
}

/// A column of a [`TableDef`].
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// The column's name.
    pub name: String,
    /// The type as declared (`SERIAL`, `TEXT`, `NUMERIC(12, 2)`).
    pub sql_type: String,
    /// NULL allowed.
    pub nullable: bool,
    /// The DEFAULT (trusted SQL).
    pub default: Option<String>,
    /// The (single-column) primary key.
    pub primary_key: bool,
    /// A UNIQUE constraint on the column.
    pub unique: bool,
    /// A foreign key.
    pub references: Option<ForeignKeyDef>,
    /// CHECK conditions on the column (the column already substituted).
    pub checks: Vec<String>,
}

/// Where a foreign key column points.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKeyDef {
    /// The target table.
    pub table: String,
    /// The target column.
    pub column: String,
    /// The `ON DELETE` action (`CASCADE`, `SET NULL`, ...).
    pub on_delete: String,
}

impl ForeignKeyDef {
    /// The table constraint for `column`: `FOREIGN KEY ("c") REFERENCES "t" ("id") ON DELETE ..`.
    ///
    /// ```
    /// let fk = hyperdjango_orm::ddl::ForeignKeyDef { table: "t".into(), column: "id".into(), on_delete: "CASCADE".into() };
    /// assert_eq!(fk.constraint_sql("t_id"), r#"FOREIGN KEY ("t_id") REFERENCES "t" ("id") ON DELETE CASCADE"#);
    /// ```
    pub fn constraint_sql(&self, column: &str) -> String {
        format!(
            "FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
            quote(column),
            quote(&self.table),
            quote(&self.column),
            self.on_delete
        )
    }
}

/// An index of a [`TableDef`].
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDef {
    /// The index's name.
    pub name: String,
    /// The `CREATE INDEX` statement (without `CONCURRENTLY`).
    pub sql: String,
    /// Whether migrations build it `CONCURRENTLY`.
    pub concurrently: bool,
}

impl IndexDef {
    /// The statement with `CONCURRENTLY` (for a migration outside a transaction).
    ///
    /// ```
    /// let ix = hyperdjango_orm::ddl::IndexDef { name: "i".into(), sql: r#"CREATE UNIQUE INDEX "i" ON "t" ("a")"#.into(), concurrently: true };
    /// assert_eq!(ix.concurrent_sql(), r#"CREATE UNIQUE INDEX CONCURRENTLY "i" ON "t" ("a")"#);
    /// ```
    pub fn concurrent_sql(&self) -> String {
        self.sql.replacen("INDEX ", "INDEX CONCURRENTLY ", 1)
    }
}

impl ColumnDef {
    /// The column's definition inside `CREATE TABLE` (or `ADD COLUMN`).
    ///
    /// ```
    /// use hyperdjango_orm::ddl::ColumnDef;
    /// let c = ColumnDef { name: "n".into(), sql_type: "INTEGER".into(), nullable: false,
    ///     default: Some("1".into()), primary_key: false, unique: true, references: None,
    ///     checks: vec![r#""n" >= 0"#.into()] };
    /// assert_eq!(c.sql(), r#""n" INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK ("n" >= 0)"#);
    /// ```
    pub fn sql(&self) -> String {
        let mut s = format!("{} {}", quote(&self.name), self.sql_type);
        if !self.nullable {
            s.push_str(" NOT NULL");
        }
        if let Some(d) = &self.default {
            s.push_str(" DEFAULT ");
            s.push_str(d);
        }
        if self.primary_key {
            s.push_str(" PRIMARY KEY");
        } else if self.unique {
            s.push_str(" UNIQUE");
        }
        if let Some(r) = &self.references {
            s.push_str(&format!(
                " REFERENCES {} ({}) ON DELETE {}",
                quote(&r.table),
                quote(&r.column),
                r.on_delete
            ));
        }
        for c in &self.checks {
            s.push_str(&format!(" CHECK ({c})"));
        }
        s
    }
}

impl TableDef {
    /// The table of a model.
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// model! { #[table = "t"] pub struct T { pub id: Auto<i32> = Field::new().primary_key(), pub n: i32 = Field::new().default(3) } }
    /// let t = hyperdjango_orm::ddl::TableDef::from_model(T::meta());
    /// assert_eq!(t.columns[1].default.as_deref(), Some("3"));
    /// ```
    pub fn from_model(m: &ModelMeta) -> TableDef {
        let column_of = |n: &str| m.field(n).map_or(n, |f| f.column).to_string();
        let columns = m
            .fields
            .iter()
            .map(|f| {
                let col = quote(f.column);
                ColumnDef {
                    name: f.column.to_string(),
                    sql_type: f.sql_type.to_string(),
                    nullable: f.nullable,
                    default: f.options.db_default.clone(),
                    primary_key: f.options.primary_key,
                    unique: f.options.unique,
                    references: f.relation.map(|rel| {
                        let target = (rel.target)();
                        ForeignKeyDef {
                            table: target.table.to_string(),
                            column: target.pk().column.to_string(),
                            on_delete: f.options.on_delete.unwrap_or_default().sql().to_string(),
                        }
                    }),
                    checks: f.checks.iter().map(|c| c.replace("{col}", &col)).collect(),
                }
            })
            .collect();
        let mut indexes = Vec::new();
        for f in &m.fields {
            if f.options.index && !f.options.primary_key {
                let ix = Index::on([f.name]);
                indexes.push(IndexDef {
                    name: ix.index_name(m.table, column_of),
                    sql: ix.create_sql(m.table, column_of, false),
                    concurrently: false,
                });
            }
        }
        for f in &m.fields {
            if let Some(ix) = &f.options.vector_index {
                let ty = f.sql_type.split('(').next().unwrap_or_default();
                let name = format!("{}_{}_{}_idx", m.table, f.column, ix.method());
                indexes.push(IndexDef {
                    sql: format!(
                        "CREATE INDEX {} ON {} USING {}",
                        quote(&name),
                        quote(m.table),
                        ix.using_sql(ty).replace("{col}", &quote(f.column))
                    ),
                    name,
                    concurrently: false,
                });
            }
        }
        for ix in &m.indexes {
            indexes.push(IndexDef {
                name: ix.index_name(m.table, column_of),
                sql: ix.create_sql(m.table, column_of, false),
                concurrently: ix.concurrently,
            });
        }
        TableDef {
            name: m.table.to_string(),
            columns,
            composite_pk: Vec::new(),
            unique_together: m
                .unique_together
                .iter()
                .map(|set| set.iter().map(|n| column_of(n)).collect())
                .collect(),
            checks: m.checks.clone(),
            indexes,
            unlogged: m.unlogged,
        }
    }

    /// The `CREATE TABLE` statement, then one `CREATE INDEX` per index.
    pub fn create_sql(&self) -> Vec<String> {
        let mut out = vec![self.create_table_sql(None)];
        out.extend(self.indexes.iter().map(|i| i.sql.clone()));
        out
    }

    /// The `CREATE TABLE` statement alone; foreign keys to the tables in `defer` are left
    /// out (for cycles: they are added by [`TableDef::foreign_key_sql`] afterwards).
    pub fn create_table_sql(&self, defer: Option<&[&str]>) -> String {
        let mut cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let deferred = c
                    .references
                    .as_ref()
                    .is_some_and(|r| defer.is_some_and(|d| d.contains(&r.table.as_str())));
                if deferred {
                    ColumnDef {
                        references: None,
                        ..c.clone()
                    }
                    .sql()
                } else {
                    c.sql()
                }
            })
            .collect();
        if !self.composite_pk.is_empty() {
            let names: Vec<String> = self.composite_pk.iter().map(|c| quote(c)).collect();
            cols.push(format!("PRIMARY KEY ({})", names.join(", ")));
        }
        for set in &self.unique_together {
            let names: Vec<String> = set.iter().map(|c| quote(c)).collect();
            cols.push(format!("UNIQUE ({})", names.join(", ")));
        }
        for (name, sql) in &self.checks {
            cols.push(format!("CONSTRAINT {} CHECK ({sql})", quote(name)));
        }
        format!(
            "CREATE {}TABLE {} ({})",
            if self.unlogged { "UNLOGGED " } else { "" },
            quote(&self.name),
            cols.join(", ")
        )
    }

    /// `ALTER TABLE .. ADD FOREIGN KEY` for the foreign keys of this table to `targets`.
    pub fn foreign_key_sql(&self, targets: &[&str]) -> Vec<String> {
        self.columns
            .iter()
            .filter_map(|c| {
                let r = c.references.as_ref()?;
                targets.contains(&r.table.as_str()).then(|| {
                    format!(
                        "ALTER TABLE {} ADD {}",
                        quote(&self.name),
                        r.constraint_sql(&c.name)
                    )
                })
            })
            .collect()
    }

    /// The tables this one's foreign keys point at (itself excluded).
    pub fn depends_on(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .columns
            .iter()
            .filter_map(|c| c.references.as_ref().map(|r| r.table.as_str()))
            .filter(|t| *t != self.name)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The statements that create `tables` in foreign-key order: a table comes after the
/// tables it points at (among `tables`; others are taken to exist). Cycles are broken by
/// creating a table without the keys that close the cycle and adding them at the end.
///
/// ```
/// use hyperdjango_orm::prelude::*;
/// use hyperdjango_orm::relations::ForeignKey;
/// use hyperdjango_orm::ddl::{TableDef, create_all_sql};
/// model! { #[table = "a"] pub struct A { pub id: Auto<i64> = Field::new().primary_key() } }
/// model! { #[table = "b"] pub struct B { pub id: Auto<i64> = Field::new().primary_key(), pub a: ForeignKey<A> } }
/// let sql = create_all_sql(&[TableDef::from_model(B::meta()), TableDef::from_model(A::meta())]);
/// assert!(sql[0].starts_with(r#"CREATE TABLE "a""#));
/// assert!(sql[1].starts_with(r#"CREATE TABLE "b""#));
/// ```
pub fn create_all_sql(tables: &[TableDef]) -> Vec<String> {
    let (order, deferred) = creation_order(tables);
    let mut out = Vec::new();
    for (i, defer) in &order {
        let t = &tables[*i];
        let d: Vec<&str> = defer.iter().map(String::as_str).collect();
        out.push(t.create_table_sql(Some(&d)));
        out.extend(t.indexes.iter().map(|i| i.sql.clone()));
    }
    out.extend(deferred);
    out
}

/// The order to create `tables` in (index, foreign-key targets left out of its CREATE), and
/// the `ALTER TABLE` statements adding the left-out keys.
pub fn creation_order(tables: &[TableDef]) -> (Vec<(usize, Vec<String>)>, Vec<String>) {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut done: Vec<bool> = vec![false; tables.len()];
    let mut order = Vec::new();
    let mut deferred = Vec::new();
    while order.len() < tables.len() {
        let created =
            |t: &str, done: &[bool]| names.iter().position(|n| *n == t).is_none_or(|i| done[i]);
        let ready = (0..tables.len())
            .find(|&i| !done[i] && tables[i].depends_on().iter().all(|t| created(t, &done)));
        let (i, defer) = match ready {
            Some(i) => (i, Vec::new()),
            None => {
                // A cycle: create the first remaining table without its keys to tables not
                // created yet, and add those keys at the end.
                let i = (0..tables.len()).find(|&i| !done[i]).unwrap_or_default();
                let defer: Vec<String> = tables[i]
                    .depends_on()
                    .into_iter()
                    .filter(|t| !created(t, &done))
                    .map(str::to_string)
                    .collect();
                let d: Vec<&str> = defer.iter().map(String::as_str).collect();
                deferred.extend(tables[i].foreign_key_sql(&d));
                (i, defer)
            }
        };
        done[i] = true;
        order.push((i, defer));
    }
    (order, deferred)
}

/// Creates `M`'s table and indexes on the current database (dropping any table of that name
/// first when `replace`).
///
/// ```no_run
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "t"] pub struct T { pub id: Auto<i32> = Field::new().primary_key() } }
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// hyperdjango_orm::ddl::create_table::<T>(true).await?;
/// # Ok(()) }
/// ```
pub async fn create_table<M: Model>(replace: bool) -> Result<()> {
    let m = M::meta();
    m.check()?;
    let mut sql = String::new();
    if replace {
        sql.push_str(&format!(
            "DROP TABLE IF EXISTS {} CASCADE; ",
            quote(m.table)
        ));
    }
    sql.push_str(&create_table_sql::<M>().join("; "));
    execute_batch(&sql).await
}

/// Drops `M`'s table if it exists.
///
/// ```no_run
/// # use hyperdjango_orm::prelude::*;
/// # model! { #[table = "t"] pub struct T { pub id: Auto<i32> = Field::new().primary_key() } }
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// hyperdjango_orm::ddl::drop_table::<T>().await?;
/// # Ok(()) }
/// ```
pub async fn drop_table<M: Model>() -> Result<()> {
    execute_batch(&format!(
        "DROP TABLE IF EXISTS {} CASCADE",
        quote(M::meta().table)
    ))
    .await
}

/// Installs extension `name` in the current database if it is not there yet
/// (`CREATE EXTENSION IF NOT EXISTS name`, the name quoted). Concurrent callers may race
/// on the catalog's unique index; that race is retried.
///
/// ```no_run
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// hyperdjango_orm::ddl::create_extension("vector").await?;
/// # Ok(()) }
/// ```
pub async fn create_extension(name: &str) -> Result<()> {
    let sql = format!("CREATE EXTENSION IF NOT EXISTS {}", quote(name));
    let mut attempts = 0;
    loop {
        match execute_batch(&sql).await {
            Err(e)
                if attempts < 5
                    && e.code() == Some(&hyperdjango_pgwire::SqlState::UNIQUE_VIOLATION) =>
            {
                attempts += 1;
            }
            r => return r,
        }
    }
}

/// Runs trusted SQL text (several statements) on the current database or transaction.
///
/// ```no_run
/// # async fn f() -> hyperdjango_orm::Result<()> {
/// hyperdjango_orm::ddl::execute_batch("CREATE EXTENSION IF NOT EXISTS citext").await?;
/// # Ok(()) }
/// ```
pub async fn execute_batch(sql: &str) -> Result<()> {
    let alias = crate::db::resolve(None);
    let mut conn = crate::db::connection(&alias).await?;
    conn.get().batch_execute(sql).await?;
    Ok(())
}
