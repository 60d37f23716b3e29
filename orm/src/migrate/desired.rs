//! The schema the models want, in the server's canonical spelling.
//!
//! The models' [`TableDef`]s are created as temporary tables (same names, no foreign keys)
//! inside a transaction that is rolled back, and read back with
//! [`introspect`]: so `VARCHAR(7)` is `character varying(7)`, a CHECK
//! `length("name") <= 200` is `CHECK ((length(name) <= 200))`, a default `0.0` is whatever
//! the server prints for it, exactly as the live tables will print once migrated. Foreign
//! keys and UNLOGGED (which temporary tables cannot have) are filled in from the
//! definitions. Nothing is left behind in the database.

use hyperdjango_pgwire::Connection;

use crate::ddl::TableDef;
use crate::error::{Error, Result};
use crate::migrate::introspect::{self, DbConstraint, DbSchema};

/// The canonical form of `tables` (see the [module docs](self)).
pub async fn canonical(conn: &mut Connection, tables: &[TableDef]) -> Result<DbSchema> {
    conn.batch_execute("BEGIN").await?;
    let out = Box::pin(canonical_in_tx(conn, tables)).await;
    let rollback = conn.batch_execute("ROLLBACK").await;
    let out = out?;
    rollback?;
    Ok(out)
}

async fn canonical_in_tx(conn: &mut Connection, tables: &[TableDef]) -> Result<DbSchema> {
    for t in tables {
        let mut temp = t.clone();
        temp.unlogged = false;
        // Foreign keys are compared from the definitions (their targets may not exist).
        let create = temp.create_table_sql(Some(&every_target(t))).replacen(
            "CREATE TABLE",
            "CREATE TEMPORARY TABLE",
            1,
        );
        let mut sql = vec![create];
        sql.extend(t.indexes.iter().map(|i| i.sql.clone()));
        for s in sql {
            conn.batch_execute(&s).await.map_err(|e| {
                Error::Migration(format!(
                    "the model table {:?} cannot be created as declared ({e}); statement: {s}",
                    t.name
                ))
            })?;
        }
    }
    let row = conn
        .query_one(
            "SELECT nspname::text FROM pg_namespace WHERE oid = pg_my_temp_schema()",
            &[],
        )
        .await?;
    let temp_schema: String = row.get(0)?;
    let mut schema = introspect::read_schema(conn, &temp_schema).await?;
    schema.enums.clear();
    for t in &mut schema.tables {
        let Some(def) = tables.iter().find(|d| d.name == t.name) else {
            continue;
        };
        t.unlogged = def.unlogged;
        t.reltuples = 0.0;
        for c in &def.columns {
            if let Some(r) = &c.references {
                t.constraints.push(DbConstraint {
                    name: crate::migrate::operation::constraint_name(&def.name, &c.name, "fkey"),
                    kind: 'f',
                    columns: vec![c.name.clone()],
                    definition: r.constraint_sql(&c.name),
                    ref_table: Some(r.table.clone()),
                    ref_columns: vec![r.column.clone()],
                    on_delete: r.on_delete.clone(),
                });
            }
        }
    }
    Ok(schema)
}

/// Every table `t`'s foreign keys point at (all left out of the temporary table).
fn every_target(t: &TableDef) -> Vec<&str> {
    t.columns
        .iter()
        .filter_map(|c| c.references.as_ref().map(|r| r.table.as_str()))
        .collect()
}
