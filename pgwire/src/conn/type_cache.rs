//! Types defined in the database: resolved from the catalog by OID and cached per connection.
//!
//! Built-in types are known statically. Any other OID that appears in a RowDescription or a
//! ParameterDescription (an enum, a domain, a composite, an extension's type such as `vector`,
//! an array or range of one) is looked up once per connection with one catalog query, which
//! follows dependencies recursively (an array's element, a domain's base type, a composite's
//! fields, a range's subtype, a multirange's range) so that every type it returns is complete.
//!
//! The driver sends Parse, Bind, Describe, Execute and Sync in one write, so a query's rows
//! have arrived before its column types can be looked up. The rows are collected first; after
//! the query's ReadyForQuery, if a column's type is unknown, the lookup runs (a second round
//! trip, only the first time an OID is met on the connection), and the rows get a new shared
//! column description with the resolved types. Their data is not touched.

use std::collections::HashMap;
use std::sync::Arc;

use super::Connection;
use crate::error::Result;
use crate::proto::backend::FieldDescription;
use crate::row::{Column, Row};
use crate::statement::CloseQueue;
use crate::types::{Field, Kind, Oid, Type};

/// How deep type definitions may nest before the rest is left unresolved (a guard; real
/// catalogs nest a few levels).
const MAX_DEPTH: usize = 32;

/// The types this connection has looked up, by OID.
#[derive(Debug, Default)]
pub(crate) struct TypeCache {
    types: HashMap<Oid, Type>,
}

impl TypeCache {
    /// The type with OID `oid`: built in, cached, or (until looked up) a bare OID.
    pub(crate) fn get(&self, oid: Oid) -> Type {
        let ty = Type::from_oid(oid);
        if ty.is_resolved() {
            return ty;
        }
        self.types.get(&oid).cloned().unwrap_or(ty)
    }

    /// Whether `oid` needs a catalog lookup.
    fn is_missing(&self, oid: Oid) -> bool {
        oid != 0 && !Type::from_oid(oid).is_resolved() && !self.types.contains_key(&oid)
    }

    /// Column descriptions with the types known so far.
    pub(crate) fn columns(&self, fields: Vec<FieldDescription>) -> Arc<[Column]> {
        fields
            .into_iter()
            .map(|f| {
                let ty = self.get(f.type_oid());
                Column::new(f, ty)
            })
            .collect()
    }
}

/// One row of the catalog query.
struct Described {
    name: String,
    schema: String,
    typtype: u8,
    elem: Oid,
    base: Oid,
    range_subtype: Oid,
    multirange_range: Oid,
    labels: Vec<String>,
    field_names: Vec<String>,
    field_types: Vec<Oid>,
}

/// The catalog query. `$1` is the OIDs to describe; the recursive part adds what they are
/// built on. `MULTIRANGE` is replaced by the multirange lookup on servers that have them.
const LOOKUP: &str = "\
WITH RECURSIVE deps(oid, depth) AS (
    SELECT o, 0 FROM unnest($1::pg_catalog.oid[]) AS o
  UNION
    SELECT x.dep, d.depth + 1
    FROM deps d
    JOIN pg_catalog.pg_type t ON t.oid = d.oid
    CROSS JOIN LATERAL (
        SELECT t.typelem WHERE t.typelem <> 0 AND t.typlen = -1
        UNION ALL SELECT t.typbasetype WHERE t.typtype = 'd'
        UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid
        MULTIRANGE_DEP
        UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a
            WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
    ) AS x(dep)
    WHERE d.depth < 32
)
SELECT t.oid, t.typname::pg_catalog.text, n.nspname::pg_catalog.text, t.typtype,
    CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN t.typelem ELSE 0 END::pg_catalog.oid,
    t.typbasetype,
    COALESCE((SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid), 0)::pg_catalog.oid,
    MULTIRANGE_RANGE::pg_catalog.oid,
    ARRAY(SELECT e.enumlabel::pg_catalog.text FROM pg_catalog.pg_enum e
          WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder),
    ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
          WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum),
    ARRAY(SELECT a.atttypid FROM pg_catalog.pg_attribute a
          WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum)
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid IN (SELECT oid FROM deps)";

fn lookup_sql(multiranges: bool) -> String {
    if multiranges {
        LOOKUP
            .replace(
                "MULTIRANGE_DEP",
                "UNION ALL SELECT r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid = t.oid",
            )
            .replace(
                "MULTIRANGE_RANGE",
                "COALESCE((SELECT r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid = t.oid), 0)",
            )
    } else {
        LOOKUP
            .replace("MULTIRANGE_DEP", "")
            .replace("MULTIRANGE_RANGE", "0")
    }
}

impl Connection {
    /// The type with OID `oid`, as far as this connection knows it.
    pub(crate) fn type_of(&self, oid: Oid) -> Type {
        self.type_cache.get(oid)
    }

    /// Looks up the OIDs among `oids` that are neither built in nor cached (no round trip
    /// when there are none).
    pub(crate) async fn resolve_oids(&mut self, oids: impl IntoIterator<Item = Oid>) -> Result<()> {
        let mut missing: Vec<Oid> = oids
            .into_iter()
            .filter(|o| self.type_cache.is_missing(*o))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        let multiranges = self.server_version_num().is_none_or(|v| v >= 140000);
        let sql = lookup_sql(multiranges);
        let rows = self.query_unresolved(sql.as_str(), &[&missing]).await?;
        let mut described = HashMap::with_capacity(rows.len());
        for row in &rows {
            let oid: u32 = row.get(0)?;
            described.insert(
                oid,
                Described {
                    name: row.get(1)?,
                    schema: row.get(2)?,
                    typtype: row.get::<_, i8>(3)? as u8,
                    elem: row.get(4)?,
                    base: row.get(5)?,
                    range_subtype: row.get(6)?,
                    multirange_range: row.get(7)?,
                    labels: row.get(8)?,
                    field_names: row.get(9)?,
                    field_types: row.get(10)?,
                },
            );
        }
        for oid in missing {
            let ty = build(oid, &described, &mut self.type_cache, 0);
            // An OID the catalog does not know (a type dropped meanwhile) stays a bare OID,
            // cached so it is not looked up again and again.
            self.type_cache.types.insert(oid, ty);
        }
        Ok(())
    }

    /// Looks up the parameter and column types of the just-prepared statement `name`. If
    /// this fails or is abandoned, the statement is closed with the next command (no
    /// [`crate::Statement`] handle exists yet to do it).
    pub(crate) async fn resolve_statement_types(
        &mut self,
        name: &str,
        params: &[Oid],
        columns: &[FieldDescription],
    ) -> Result<()> {
        struct CloseUnlessDone(Option<(Arc<CloseQueue>, String)>);
        impl Drop for CloseUnlessDone {
            fn drop(&mut self) {
                if let Some((queue, name)) = self.0.take() {
                    queue.push(name);
                }
            }
        }
        let oids: Vec<Oid> = params
            .iter()
            .copied()
            .chain(columns.iter().map(FieldDescription::type_oid))
            .collect();
        if oids.iter().all(|o| !self.type_cache.is_missing(*o)) {
            return Ok(());
        }
        let mut guard = CloseUnlessDone(Some((self.close_queue.clone(), name.to_owned())));
        self.resolve_oids(oids).await?;
        guard.0 = None;
        Ok(())
    }

    /// Resolves the column types of `columns`; returns new descriptions if any changed.
    pub(crate) async fn resolve_columns(
        &mut self,
        columns: &Arc<[Column]>,
    ) -> Result<Option<Arc<[Column]>>> {
        if columns
            .iter()
            .all(|c| c.type_().is_resolved() || c.type_oid() == 0)
        {
            return Ok(None);
        }
        self.resolve_oids(columns.iter().map(Column::type_oid))
            .await?;
        Ok(Some(
            columns
                .iter()
                .map(|c| c.with_type(self.type_of(c.type_oid())))
                .collect(),
        ))
    }

    /// Gives `rows` (which share one column description) resolved column types.
    pub(crate) async fn resolve_rows(&mut self, rows: &mut Vec<Row>) -> Result<()> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let columns = first.columns_arc();
        if let Some(resolved) = self.resolve_columns(&columns).await? {
            *rows = std::mem::take(rows)
                .into_iter()
                .map(|r| r.with_columns(resolved.clone()))
                .collect();
        }
        Ok(())
    }

    /// [`Connection::resolve_rows`] for at most one row.
    pub(crate) async fn resolve_row(&mut self, row: Option<Row>) -> Result<Option<Row>> {
        let mut rows: Vec<Row> = row.into_iter().collect();
        self.resolve_rows(&mut rows).await?;
        Ok(rows.pop())
    }
}

/// Builds the `Type` for `oid` from the catalog rows, reusing cached and built-in types.
fn build(
    oid: Oid,
    described: &HashMap<Oid, Described>,
    cache: &mut TypeCache,
    depth: usize,
) -> Type {
    let known = cache.get(oid);
    if known.is_resolved() || depth > MAX_DEPTH {
        return known;
    }
    let Some(d) = described.get(&oid) else {
        return known;
    };
    let mut sub = |o: Oid| build(o, described, cache, depth + 1);
    let (name, kind) = match d.typtype {
        b'b' if d.elem != 0 => {
            let elem = sub(d.elem);
            (
                format!("{}[]", elem.name().unwrap_or(&d.name)),
                Kind::Array(elem),
            )
        }
        b'd' => (d.name.clone(), Kind::Domain(sub(d.base))),
        b'e' => (d.name.clone(), Kind::Enum(d.labels.clone())),
        b'c' => {
            let fields = d
                .field_names
                .iter()
                .zip(&d.field_types)
                .map(|(n, t)| Field::new(n.clone(), sub(*t)))
                .collect();
            (d.name.clone(), Kind::Composite(fields))
        }
        b'r' => (d.name.clone(), Kind::Range(sub(d.range_subtype))),
        b'm' => (d.name.clone(), Kind::Multirange(sub(d.multirange_range))),
        b'p' => (d.name.clone(), Kind::Pseudo),
        _ => (d.name.clone(), Kind::Simple),
    };
    let ty = Type::new(oid, name, d.schema.clone(), kind);
    cache.types.insert(oid, ty.clone());
    ty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nested_types_from_catalog_rows() {
        let mut described = HashMap::new();
        let row = |name: &str, typtype: u8| Described {
            name: name.into(),
            schema: "public".into(),
            typtype,
            elem: 0,
            base: 0,
            range_subtype: 0,
            multirange_range: 0,
            labels: vec![],
            field_names: vec![],
            field_types: vec![],
        };
        described.insert(
            20001,
            Described {
                labels: vec!["a".into()],
                ..row("mood", b'e')
            },
        );
        described.insert(
            20002,
            Described {
                elem: 20001,
                ..row("_mood", b'b')
            },
        );
        described.insert(
            20003,
            Described {
                base: 20002,
                ..row("moods", b'd')
            },
        );
        described.insert(
            20004,
            Described {
                field_names: vec!["m".into(), "n".into()],
                field_types: vec![20003, 23],
                ..row("pair", b'c')
            },
        );
        let mut cache = TypeCache::default();
        let pair = build(20004, &described, &mut cache, 0);
        let Kind::Composite(fields) = pair.kind() else {
            panic!("{pair:?}")
        };
        assert_eq!(fields[1].type_(), &Type::INT4);
        let moods = fields[0].type_();
        assert_eq!(moods.base().name(), Some("mood[]"));
        assert_eq!(
            moods.base().array_element().map(|e| e.kind()),
            Some(&Kind::Enum(vec!["a".into()]))
        );
        assert!(cache.get(20001).is_resolved());
        assert!(!cache.get(99999).is_resolved());
        assert!(!cache.is_missing(20002));
    }
}
