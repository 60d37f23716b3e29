//! DDL for a model: `CREATE TABLE` with NOT NULL, PRIMARY KEY, UNIQUE, the CHECK constraints
//! of the validators and of Meta, unique_together, and the indexes. Enough for tests and
//! small apps; migrations are a separate feature.

use crate::compiler::quote;
use crate::error::Result;
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
    create_sql(M::meta())
}

fn create_sql(m: &ModelMeta) -> Vec<String> {
    let mut cols = Vec::new();
    for f in &m.fields {
        let col = quote(f.column);
        let mut s = format!("{col} {}", f.sql_type);
        if !f.nullable {
            s.push_str(" NOT NULL");
        }
        if f.options.primary_key {
            s.push_str(" PRIMARY KEY");
        } else if f.options.unique {
            s.push_str(" UNIQUE");
        }
        if let Some(rel) = &f.relation {
            let target = (rel.target)();
            let action = f.options.on_delete.unwrap_or_default();
            s.push_str(&format!(
                " REFERENCES {} ({}) ON DELETE {}",
                quote(target.table),
                quote(target.pk().column),
                action.sql()
            ));
        }
        for c in &f.checks {
            s.push_str(&format!(" CHECK ({})", c.replace("{col}", &col)));
        }
        cols.push(s);
    }
    for set in &m.unique_together {
        let names: Vec<String> = set
            .iter()
            .map(|n| quote(m.field(n).map_or(n.as_str(), |f| f.column)))
            .collect();
        cols.push(format!("UNIQUE ({})", names.join(", ")));
    }
    for (name, sql) in &m.checks {
        cols.push(format!("CONSTRAINT {} CHECK ({sql})", quote(name)));
    }
    let mut out = vec![format!(
        "CREATE {}TABLE {} ({})",
        if m.unlogged { "UNLOGGED " } else { "" },
        quote(m.table),
        cols.join(", ")
    )];
    for f in &m.fields {
        if f.options.index && !f.options.primary_key {
            out.push(format!(
                "CREATE INDEX {} ON {} ({})",
                quote(&format!("{}_{}_idx", m.table, f.column)),
                quote(m.table),
                quote(f.column)
            ));
        }
    }
    for f in &m.fields {
        if let Some(ix) = &f.options.vector_index {
            let ty = f.sql_type.split('(').next().unwrap_or_default();
            out.push(format!(
                "CREATE INDEX {} ON {} USING {}",
                quote(&format!("{}_{}_{}_idx", m.table, f.column, ix.method())),
                quote(m.table),
                ix.using_sql(ty).replace("{col}", &quote(f.column))
            ));
        }
    }
    for ix in &m.indexes {
        let cols: Vec<&str> = ix
            .fields
            .iter()
            .map(|n| m.field(n).map_or(n.as_str(), |f| f.column))
            .collect();
        let name = ix
            .name
            .clone()
            .unwrap_or_else(|| format!("{}_{}_idx", m.table, cols.join("_")));
        let q: Vec<String> = cols.iter().map(|c| quote(c)).collect();
        out.push(format!(
            "CREATE {}INDEX {} ON {} ({})",
            if ix.unique { "UNIQUE " } else { "" },
            quote(&name),
            quote(m.table),
            q.join(", ")
        ));
    }
    out
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
    sql.push_str(&create_sql(m).join("; "));
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
