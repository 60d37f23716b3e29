//! Index declarations: `Meta::new().add_index(Index::on(["field"]).gin())`.
//!
//! A field's `.index()` is a plain B-tree index on that column; [`Index`] is the general
//! form, declared in Meta: one or more fields (or SQL expressions), the access method
//! (B-tree, hash, GIN, GiST, BRIN, and pgvector's HNSW and IVFFlat), an operator class per
//! column, storage parameters (`WITH (m = 16)`), a partial index's `WHERE`, `UNIQUE`, and
//! whether migrations build it `CONCURRENTLY` (without locking writes).
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::index::Index;
//!
//! model! {
//!     #[table = "docs"]
//!     #[meta = Meta::new()
//!         .add_index(Index::on(["body"]).gin().opclass("body", "jsonb_path_ops"))
//!         .add_index(Index::on(["created"]).brin().with("pages_per_range", "32"))
//!         .add_index(Index::on(["title"]).unique().condition("NOT archived").named("live_title"))]
//!     pub struct Doc {
//!         pub id: Auto<i64> = Field::new().primary_key(),
//!         pub title: String,
//!         pub body: String,
//!         pub created: i64,
//!         pub archived: bool,
//!     }
//! }
//! let ddl = hyperdjango_orm::ddl::create_table_sql::<Doc>();
//! assert_eq!(ddl[1], r#"CREATE INDEX "docs_body_idx" ON "docs" USING gin ("body" jsonb_path_ops)"#);
//! assert_eq!(ddl[2], r#"CREATE INDEX "docs_created_idx" ON "docs" USING brin ("created") WITH (pages_per_range = 32)"#);
//! assert_eq!(ddl[3], r#"CREATE UNIQUE INDEX "live_title" ON "docs" ("title") WHERE NOT archived"#);
//! ```
//!
//! Names, operator classes, parameters and conditions are trusted text written by the
//! programmer (like all DDL); names and columns are quoted, opclasses and parameters must be
//! plain identifiers/numbers (checked when the model is first used, see
//! [`ModelMeta::check`](crate::ModelMeta::check)).

use crate::compiler::quote;

/// An index's access method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexMethod {
    /// B-tree (the default): equality and ranges.
    #[default]
    BTree,
    /// Hash: equality only.
    Hash,
    /// GIN: arrays, JSONB, full-text (`tsvector`), trigrams.
    Gin,
    /// GiST: geometry, ranges, nearest-neighbour.
    Gist,
    /// BRIN: block ranges, for huge append-only tables ordered by the column.
    Brin,
    /// pgvector's HNSW graph index.
    Hnsw,
    /// pgvector's IVFFlat list index.
    IvfFlat,
}

impl IndexMethod {
    /// The name in `USING ...`.
    ///
    /// ```
    /// assert_eq!(hyperdjango_orm::index::IndexMethod::IvfFlat.sql(), "ivfflat");
    /// ```
    pub fn sql(self) -> &'static str {
        match self {
            IndexMethod::BTree => "btree",
            IndexMethod::Hash => "hash",
            IndexMethod::Gin => "gin",
            IndexMethod::Gist => "gist",
            IndexMethod::Brin => "brin",
            IndexMethod::Hnsw => "hnsw",
            IndexMethod::IvfFlat => "ivfflat",
        }
    }
}

/// An index declared in Meta (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The index's name (generated as `<table>_<columns>_idx` when `None`).
    pub name: Option<String>,
    /// The fields (model field names; an entry starting with `(` is an SQL expression).
    pub fields: Vec<String>,
    /// A UNIQUE index.
    pub unique: bool,
    /// The access method.
    pub method: IndexMethod,
    /// Operator classes per field: (field, opclass).
    pub opclasses: Vec<(String, String)>,
    /// Storage parameters: `WITH (name = value, ...)`.
    pub with: Vec<(String, String)>,
    /// A partial index's condition (trusted SQL).
    pub condition: Option<String>,
    /// Whether a migration builds it `CONCURRENTLY` (outside a transaction).
    pub concurrently: bool,
}

impl Index {
    /// An index on `fields` (field names, or SQL expressions in parentheses such as
    /// `"(lower(email))"`).
    ///
    /// ```
    /// let ix = hyperdjango_orm::index::Index::on(["a", "b"]);
    /// assert_eq!(ix.fields, ["a", "b"]);
    /// ```
    pub fn on<const N: usize>(fields: [&str; N]) -> Index {
        Index {
            fields: fields.iter().map(|s| s.to_string()).collect(),
            ..Index::default()
        }
    }

    /// Names the index.
    pub fn named(mut self, name: &str) -> Index {
        self.name = Some(name.to_string());
        self
    }

    /// A UNIQUE index.
    pub fn unique(mut self) -> Index {
        self.unique = true;
        self
    }

    /// The access method.
    pub fn method(mut self, method: IndexMethod) -> Index {
        self.method = method;
        self
    }

    /// A B-tree index (the default).
    pub fn btree(self) -> Index {
        self.method(IndexMethod::BTree)
    }

    /// A hash index.
    pub fn hash(self) -> Index {
        self.method(IndexMethod::Hash)
    }

    /// A GIN index.
    pub fn gin(self) -> Index {
        self.method(IndexMethod::Gin)
    }

    /// A GiST index.
    pub fn gist(self) -> Index {
        self.method(IndexMethod::Gist)
    }

    /// A BRIN index.
    pub fn brin(self) -> Index {
        self.method(IndexMethod::Brin)
    }

    /// A pgvector HNSW index (give the opclass, e.g. `vector_cosine_ops`).
    pub fn hnsw(self) -> Index {
        self.method(IndexMethod::Hnsw)
    }

    /// A pgvector IVFFlat index (give the opclass and `with("lists", "100")`).
    pub fn ivfflat(self) -> Index {
        self.method(IndexMethod::IvfFlat)
    }

    /// The operator class of `field`'s column (`jsonb_path_ops`, `vector_l2_ops`, ...).
    pub fn opclass(mut self, field: &str, opclass: &str) -> Index {
        self.opclasses
            .push((field.to_string(), opclass.to_string()));
        self
    }

    /// A storage parameter (`with("m", "16")` is `WITH (m = 16)`).
    pub fn with(mut self, name: &str, value: &str) -> Index {
        self.with.push((name.to_string(), value.to_string()));
        self
    }

    /// A partial index: only rows matching `sql` (trusted SQL) are indexed.
    pub fn condition(mut self, sql: &str) -> Index {
        self.condition = Some(sql.to_string());
        self
    }

    /// Built `CREATE INDEX CONCURRENTLY` by migrations (a migration of its own, outside a
    /// transaction).
    pub fn concurrently(mut self) -> Index {
        self.concurrently = true;
        self
    }

    /// Mistakes in the declaration: opclasses naming no listed field, parameters that are
    /// not plain words or numbers.
    ///
    /// ```
    /// use hyperdjango_orm::index::Index;
    /// assert!(Index::on(["a"]).opclass("b", "x").problems().len() == 1);
    /// assert!(Index::on(["a"]).with("m", "16; DROP").problems().len() == 1);
    /// assert!(Index::on(["a"]).gin().opclass("a", "jsonb_path_ops").problems().is_empty());
    /// ```
    pub fn problems(&self) -> Vec<String> {
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        };
        let mut out = Vec::new();
        if self.fields.is_empty() {
            out.push("an index needs at least one field".to_string());
        }
        for (f, op) in &self.opclasses {
            if !self.fields.contains(f) {
                out.push(format!("opclass for {f:?}, which the index does not list"));
            }
            if !word(op) {
                out.push(format!("opclass {op:?} is not a plain name"));
            }
        }
        for (k, v) in &self.with {
            if !word(k) || !word(v) {
                out.push(format!(
                    "storage parameter {k} = {v:?} is not a plain name and value"
                ));
            }
        }
        out
    }

    /// The `CREATE INDEX` statement for `table`, given each field's column (`column_of`).
    /// `concurrently` adds `CONCURRENTLY` (for migrations).
    pub fn create_sql(
        &self,
        table: &str,
        column_of: impl Fn(&str) -> String,
        concurrently: bool,
    ) -> String {
        let cols: Vec<String> = self
            .fields
            .iter()
            .map(|f| {
                let c = if f.starts_with('(') {
                    f.clone()
                } else {
                    quote(&column_of(f))
                };
                match self.opclasses.iter().find(|(n, _)| n == f) {
                    Some((_, op)) => format!("{c} {op}"),
                    None => c,
                }
            })
            .collect();
        let mut s = format!(
            "CREATE {}INDEX {}{} ON {}",
            if self.unique { "UNIQUE " } else { "" },
            if concurrently { "CONCURRENTLY " } else { "" },
            quote(&self.index_name(table, &column_of)),
            quote(table)
        );
        if self.method != IndexMethod::BTree {
            s.push_str(" USING ");
            s.push_str(self.method.sql());
        }
        s.push_str(&format!(" ({})", cols.join(", ")));
        if !self.with.is_empty() {
            let w: Vec<String> = self
                .with
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            s.push_str(&format!(" WITH ({})", w.join(", ")));
        }
        if let Some(c) = &self.condition {
            s.push_str(" WHERE ");
            s.push_str(c);
        }
        s
    }

    /// The index's name: the declared one, or `<table>_<columns>_idx`.
    pub fn index_name(&self, table: &str, column_of: impl Fn(&str) -> String) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let cols: Vec<String> = self
            .fields
            .iter()
            .map(|f| {
                if f.starts_with('(') {
                    f.chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect()
                } else {
                    column_of(f)
                }
            })
            .collect();
        format!("{table}_{}_idx", cols.join("_"))
    }
}
