//! Migrations against a real server: makemigrations / migrate / re-detect (no changes) /
//! roll back / re-apply; every operation kind; destructive changes need the flag; two
//! processes migrating at once apply exactly once; an edited applied file is refused; the
//! CLI's sqlmigrate, showmigrations, dry runs, check and dbshell. Each test has a schema of
//! its own (search_path in the URL's options) and a migrations directory of its own.

use std::path::PathBuf;

use hyperdjango_orm::migrate::{Models, Operation, cli};
use hyperdjango_pgwire::Connection;

use crate::common::{cluster, connect, unique};

/// Version 1 of the schema.
mod v1 {
    use hyperdjango_orm::index::Index;
    use hyperdjango_orm::many_to_many::ManyToMany;
    use hyperdjango_orm::migrate::Models;
    use hyperdjango_orm::prelude::*;
    use hyperdjango_orm::relations::{ForeignKey, OnDelete};

    model! {
        #[table = "mg_customers"]
        #[derive(Debug, Clone)]
        pub struct Customer {
            pub id: Auto<i64> = Field::new().primary_key(),
            pub name: String = Field::new().max_length(100).unique(),
            pub email: Option<String>,
            pub nickname: Option<String>,
            pub score: i32 = Field::new().default(0),
        }
    }

    model! {
        #[table = "mg_orders"]
        #[meta = Meta::new()
            .unique_together(["customer", "number"])
            .add_index(Index::on(["tags"]).gin())
            .add_index(Index::on(["placed"]).brin().with("pages_per_range", "16").named("mg_orders_placed_brin"))
            .add_index(Index::on(["number"]).unique().condition("total > 0").named("mg_orders_open_number"))]
        #[derive(Debug, Clone)]
        pub struct Order {
            pub id: Auto<i64> = Field::new().primary_key(),
            pub customer: ForeignKey<Customer> = Field::new().on_delete(OnDelete::Cascade),
            pub number: i32 = Field::new().ge(1),
            pub total: f64 = Field::new().default(0.0),
            pub tags: Vec<String>,
            pub placed: i64 = Field::new().index(),
            pub code: String = Field::new().db_type("varchar(20)"),
            pub legacy: Option<String>,
        }
    }

    model! {
        #[table = "mg_tags"]
        #[derive(Debug, Clone)]
        pub struct Tag { pub id: Auto<i32> = Field::new().primary_key(), pub label: String }
    }

    model! {
        #[table = "mg_cache"]
        #[meta = Meta::new().unlogged(true)]
        #[derive(Debug, Clone)]
        pub struct CacheRow { pub key: String = Field::new().primary_key(), pub value: Option<String> }
    }

    pub const ORDER_TAGS: ManyToMany<Order, Tag> = ManyToMany::new("mg_orders_tags");

    /// Order first: creation follows the foreign keys, not registration.
    pub fn models() -> Models {
        hyperdjango_orm::models![Order, Customer, Tag, CacheRow].m2m(&ORDER_TAGS)
    }
}

/// Version 2: one change of every kind.
mod v2 {
    use hyperdjango_orm::index::Index;
    use hyperdjango_orm::migrate::Models;
    use hyperdjango_orm::prelude::*;
    use hyperdjango_orm::relations::{ForeignKey, OnDelete};

    model! {
        #[table = "mg_customers"]
        #[derive(Debug, Clone)]
        pub struct Customer {
            pub id: Auto<i64> = Field::new().primary_key(),
            // UNIQUE dropped
            pub name: String = Field::new().max_length(100),
            // email -> contact: inferred rename (the only text column gone and come)
            pub contact: Option<String>,
            // nullable -> NOT NULL with a default
            pub nickname: String = Field::new().default(String::new()),
            // default 0 -> 5
            pub score: i32 = Field::new().default(5),
            // new column with a default
            pub vip: bool = Field::new().default(false),
        }
    }

    model! {
        #[table = "mg_orders"]
        #[meta = Meta::new()
            .unique_together(["customer", "number"])
            .add_index(Index::on(["tags"]).gin())
            .add_index(Index::on(["number"]).unique().condition("total > 0").named("mg_orders_open_number"))
            .add_index(Index::on(["code"]).named("mg_orders_code_cc").concurrently())
            .check("total_not_negative", "total >= 0")]
        #[derive(Debug, Clone)]
        pub struct Order {
            pub id: Auto<i64> = Field::new().primary_key(),
            pub customer: ForeignKey<Customer> = Field::new().on_delete(OnDelete::Cascade),
            // integer -> bigint, CHECK dropped
            pub number: i64,
            // NOT NULL default 0 -> nullable, no default
            pub total: Option<f64>,
            pub tags: Vec<String>,
            // renamed (confirmed with --rename)
            pub placed_at: i64 = Field::new().index(),
            // varchar(20) -> varchar(10): narrowing
            pub code: String = Field::new().db_type("varchar(10)"),
            // legacy dropped
        }
    }

    model! {
        #[table = "mg_notes"]
        #[derive(Debug, Clone)]
        pub struct Note {
            pub id: Auto<i64> = Field::new().primary_key(),
            pub customer: ForeignKey<Customer> = Field::new().on_delete(OnDelete::Cascade),
            pub body: String,
        }
    }

    model! {
        #[table = "mg_cache"]
        #[derive(Debug, Clone)]
        pub struct CacheRow { pub key: String = Field::new().primary_key(), pub value: Option<String> }
    }

    /// mg_tags and the junction are gone.
    pub fn models() -> Models {
        hyperdjango_orm::models![Customer, Order, Note, CacheRow]
    }
}

/// A schema, a connection on it, its URL and a migrations directory of its own.
pub struct Env {
    pub url: String,
    pub dir: PathBuf,
    pub conn: Connection,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `url` with `search_path` set to `schema` through the startup options.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    // `public` second: extensions' types (pgvector's `vector`) live there, and the migration
    // system only looks at the current (first) schema.
    format!("{url}{sep}options=-c%20search_path%3D{schema}%2Cpublic")
}

pub async fn env(prefix: &str) -> Env {
    let schema = unique(prefix);
    connect()
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("schema");
    let url = with_search_path(&cluster().url(), &schema);
    let conn = Connection::connect_url(&url).await.expect("connect");
    let dir = std::env::temp_dir().join(unique("hd_migrations"));
    Env { url, dir, conn }
}

/// Runs a CLI command on `env`: Ok((stdout, stderr)) or the error.
pub async fn cli(
    models: Option<&Models>,
    env: &Env,
    args: &[&str],
) -> hyperdjango_orm::Result<(String, String)> {
    let mut argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    argv.extend([
        "--database-url".into(),
        env.url.clone(),
        "--dir".into(),
        env.dir.display().to_string(),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Box::pin(cli::run_to(models, argv, &mut out, &mut err)).await?;
    Ok((
        String::from_utf8(out).expect("utf-8"),
        String::from_utf8(err).expect("utf-8"),
    ))
}

async fn plan(env: &mut Env, models: &Models) -> hyperdjango_orm::migrate::Plan {
    hyperdjango_orm::migrate::autodetect::detect(
        &mut env.conn,
        models,
        &hyperdjango_orm::migrate::DetectOptions::default(),
    )
    .await
    .expect("detect")
}

async fn exists(conn: &mut Connection, table: &str) -> bool {
    conn.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

async fn history(conn: &mut Connection) -> Vec<String> {
    conn.query("SELECT name FROM hyperdjango_migrations ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect()
}

fn migration_files(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&env.dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn apply_redetect_roll_back_and_reapply() {
    let mut env = env("mg_cycle").await;
    let models = v1::models();
    let (out, _) = cli(Some(&models), &env, &["makemigrations"]).await.unwrap();
    assert!(out.contains("0001_initial.sql"), "{out}");
    let text = std::fs::read_to_string(env.dir.join("0001_initial.sql")).unwrap();
    // Foreign-key order: customers before orders, the junction after both; every kind of
    // index; UNLOGGED.
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
    assert!(pos(r#"CREATE TABLE "mg_customers""#) < pos(r#"CREATE TABLE "mg_orders""#));
    assert!(pos(r#"CREATE TABLE "mg_orders""#) < pos(r#"CREATE TABLE "mg_orders_tags""#));
    assert!(pos(r#"CREATE TABLE "mg_tags""#) < pos(r#"CREATE TABLE "mg_orders_tags""#));
    for s in [
        r#"USING gin ("tags")"#,
        r#"USING brin ("placed") WITH (pages_per_range = 16)"#,
        r#"CREATE UNIQUE INDEX "mg_orders_open_number" ON "mg_orders" ("number") WHERE total > 0"#,
        r#"CREATE UNLOGGED TABLE "mg_cache""#,
        r#""code" varchar(20) NOT NULL"#,
        r#""total" DOUBLE PRECISION NOT NULL DEFAULT 0"#,
        r#"REFERENCES "mg_customers" ("id") ON DELETE CASCADE"#,
        "-- +down",
    ] {
        pos(s);
    }

    let (out, err) = cli(None, &env, &["migrate"]).await.unwrap();
    assert!(out.contains("Applied 0001_initial"), "{out}");
    // Progress: each statement as it starts, and its time.
    assert!(err.contains("Applying 0001_initial"), "{err}");
    assert!(
        err.contains(r#"CREATE TABLE "mg_customers""#) && err.contains(" ms"),
        "{err}"
    );
    assert!(exists(&mut env.conn, "mg_orders_tags").await);
    let unlogged: bool = env
        .conn
        .query_one(
            "SELECT relpersistence = 'u' FROM pg_class WHERE oid = 'mg_cache'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert!(unlogged);

    // Applied: the models and the database agree.
    let p = plan(&mut env, &models).await;
    assert!(p.is_empty(), "changes after migrating: {p:#?}");
    let (out, _) = cli(Some(&models), &env, &["makemigrations"]).await.unwrap();
    assert_eq!(out.trim(), "No changes detected");

    // Back to nothing: dropping the tables is destructive, so it needs the flag.
    let e = cli(None, &env, &["migrate", "zero"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("destructive") && e.contains("--allow-destructive"),
        "{e}"
    );
    let (out, _) = cli(None, &env, &["migrate", "zero", "--allow-destructive"])
        .await
        .unwrap();
    assert!(out.contains("Reverted 0001_initial"), "{out}");
    for t in [
        "mg_customers",
        "mg_orders",
        "mg_orders_tags",
        "mg_tags",
        "mg_cache",
    ] {
        assert!(!exists(&mut env.conn, t).await, "{t} still there");
    }
    assert!(history(&mut env.conn).await.is_empty());

    // And forward again.
    cli(None, &env, &["migrate"]).await.unwrap();
    assert_eq!(history(&mut env.conn).await, ["0001_initial"]);
    let p = plan(&mut env, &models).await;
    assert!(p.is_empty(), "changes after re-applying: {p:#?}");
}

#[tokio::test]
async fn every_operation_kind_applies_reverts_and_reapplies() {
    let mut env = env("mg_ops").await;
    let m1 = v1::models();
    let m2 = v2::models();
    cli(Some(&m1), &env, &["makemigrations"]).await.unwrap();
    cli(None, &env, &["migrate"]).await.unwrap();

    // The plan holds every kind of operation.
    let options = hyperdjango_orm::migrate::DetectOptions {
        renames: vec![("mg_orders".into(), "placed".into(), "placed_at".into())],
        ..Default::default()
    };
    let p = hyperdjango_orm::migrate::autodetect::detect(&mut env.conn, &m2, &options)
        .await
        .unwrap();
    let has = |f: &dyn Fn(&Operation) -> bool| p.steps.iter().any(|s| f(&s.op));
    use Operation::*;
    assert!(has(
        &|o| matches!(o, CreateTable { table, .. } if table == "mg_notes")
    ));
    assert!(has(
        &|o| matches!(o, DropTable { table, .. } if table == "mg_tags")
    ));
    assert!(has(
        &|o| matches!(o, DropTable { table, .. } if table == "mg_orders_tags")
    ));
    assert!(has(
        &|o| matches!(o, AddColumn { column, .. } if column == "vip")
    ));
    assert!(has(
        &|o| matches!(o, DropColumn { column, .. } if column == "legacy")
    ));
    assert!(has(
        &|o| matches!(o, RenameColumn { from, to, inferred: false, .. } if from == "placed" && to == "placed_at")
    ));
    assert!(has(
        &|o| matches!(o, RenameColumn { from, to, inferred: true, .. } if from == "email" && to == "contact")
    ));
    assert!(has(
        &|o| matches!(o, AlterColumnType { column, to, .. } if column == "number" && to == "bigint")
    ));
    assert!(has(
        &|o| matches!(o, AlterColumnType { column, to, .. } if column == "code" && to == "character varying(10)")
    ));
    assert!(has(
        &|o| matches!(o, AlterNullable { column, nullable: true, .. } if column == "total")
    ));
    assert!(has(
        &|o| matches!(o, AlterNullable { column, nullable: false, .. } if column == "nickname")
    ));
    assert!(has(
        &|o| matches!(o, AlterDefault { column, .. } if column == "score")
    ));
    assert!(has(
        &|o| matches!(o, AddConstraint { name, .. } if name == "total_not_negative")
    ));
    assert!(has(
        &|o| matches!(o, DropConstraint { name, .. } if name == "mg_customers_name_key")
    ));
    assert!(has(
        &|o| matches!(o, DropConstraint { name, .. } if name == "mg_orders_number_check")
    ));
    assert!(has(
        &|o| matches!(o, CreateIndex { name, concurrently: true, .. } if name == "mg_orders_code_cc")
    ));
    assert!(has(
        &|o| matches!(o, DropIndex { name, .. } if name == "mg_orders_placed_brin")
    ));
    assert!(has(&|o| matches!(
        o,
        SetUnlogged {
            unlogged: false,
            ..
        }
    )));
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("inferred a rename of mg_customers.email to contact")),
        "{:?}",
        p.notes
    );
    // The dangerous ones are flagged: dropped tables and column, the narrowing type.
    let hazards = p.hazards().join("\n");
    for h in [
        "drops table mg_tags",
        "drops column mg_orders.legacy",
        "character varying(10)",
    ] {
        assert!(hazards.contains(h), "{h} in {hazards}");
    }

    // Refused without the flag; written with it, as two files (CONCURRENTLY runs outside a
    // transaction).
    let e = cli(
        Some(&m2),
        &env,
        &["makemigrations", "--rename", "mg_orders.placed:placed_at"],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--allow-destructive") && e.contains("drops table mg_tags"),
        "{e}"
    );
    assert_eq!(migration_files(&env), ["0001_initial.sql"]);
    let (out, err) = cli(
        Some(&m2),
        &env,
        &[
            "makemigrations",
            "--rename",
            "mg_orders.placed:placed_at",
            "--allow-destructive",
            "--name",
            "v2",
        ],
    )
    .await
    .unwrap();
    assert!(err.contains("inferred a rename"), "{err}");
    assert!(
        out.contains("0002_v2.sql") && out.contains("0003_v2_concurrently.sql"),
        "{out}"
    );
    let concurrent = std::fs::read_to_string(env.dir.join("0003_v2_concurrently.sql")).unwrap();
    assert!(
        concurrent.contains("-- hyperdjango: no-transaction"),
        "{concurrent}"
    );
    assert!(
        concurrent.contains(r#"CREATE INDEX CONCURRENTLY "mg_orders_code_cc""#),
        "{concurrent}"
    );
    let main = std::fs::read_to_string(env.dir.join("0002_v2.sql")).unwrap();
    assert!(
        main.contains("-- hyperdjango: destructive: drops column mg_orders.legacy"),
        "{main}"
    );
    assert!(
        main.contains(r#"ALTER COLUMN "number" TYPE bigint USING "number"::bigint"#),
        "{main}"
    );

    // RunSQL: a hand-written migration.
    let e = cli(
        None,
        &env,
        &["makemigrations", "--empty", "--name", "big_orders"],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("makemigrations needs the models"), "{e}");
    cli(
        Some(&m2),
        &env,
        &["makemigrations", "--empty", "--name", "big_orders"],
    )
    .await
    .unwrap();
    let path = env.dir.join("0004_big_orders.sql");
    let template = std::fs::read_to_string(&path).unwrap();
    let text = template
        .replace(
            "-- +up\n",
            "-- +up\nCREATE VIEW mg_big_orders AS SELECT id, total FROM mg_orders WHERE total > 100;\n",
        )
        .replace("-- +down\n", "-- +down\nDROP VIEW mg_big_orders;\n");
    std::fs::write(&path, text).unwrap();

    let (out, _) = cli(None, &env, &["migrate"]).await.unwrap();
    assert!(
        out.contains("Applied 0002_v2")
            && out.contains("Applied 0003_v2_concurrently")
            && out.contains("Applied 0004_big_orders"),
        "{out}"
    );
    assert!(exists(&mut env.conn, "mg_big_orders").await);
    let p = plan(&mut env, &m2).await;
    assert!(p.is_empty(), "changes after migrating to v2: {p:#?}");
    let valid: bool = env
        .conn
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'mg_orders_code_cc'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert!(valid);

    // Back to 0001: the DOWN sections restore v1 exactly.
    cli(None, &env, &["migrate", "1", "--allow-destructive"])
        .await
        .unwrap();
    assert_eq!(history(&mut env.conn).await, ["0001_initial"]);
    assert!(!exists(&mut env.conn, "mg_big_orders").await);
    let p = plan(&mut env, &m1).await;
    assert!(p.is_empty(), "changes after reverting to v1: {p:#?}");

    // Forward again.
    cli(None, &env, &["migrate"]).await.unwrap();
    assert_eq!(history(&mut env.conn).await.len(), 4);
    let p = plan(&mut env, &m2).await;
    assert!(p.is_empty(), "changes after re-applying v2: {p:#?}");
}

mod v3 {
    use hyperdjango_orm::migrate::Models;
    use hyperdjango_orm::prelude::*;

    model! {
        #[table = "mg_people"]
        #[derive(Debug, Clone)]
        pub struct Person { pub id: Auto<i64> = Field::new().primary_key(), pub name: String, pub age: i64 }
    }
    pub fn models() -> Models {
        hyperdjango_orm::models![Person]
    }

    pub mod next {
        use hyperdjango_orm::migrate::Models;
        use hyperdjango_orm::prelude::*;
        model! {
            #[table = "mg_people"]
            #[derive(Debug, Clone)]
            pub struct Person {
                pub id: Auto<i64> = Field::new().primary_key(),
                pub name: String,
                // bigint -> integer: narrowing
                pub age: i32,
                // NOT NULL, no default, on a table with rows
                pub city: String,
                pub first: Option<String>,
                pub last: Option<String>,
            }
        }
        pub fn models() -> Models {
            hyperdjango_orm::models![Person]
        }
    }

    pub mod renamed {
        use hyperdjango_orm::migrate::Models;
        use hyperdjango_orm::prelude::*;
        model! {
            #[table = "mg_people"]
            #[derive(Debug, Clone)]
            pub struct Person {
                pub id: Auto<i64> = Field::new().primary_key(),
                pub age: i64,
                pub city: String,
                pub town: String,
            }
        }
        pub fn models() -> Models {
            hyperdjango_orm::models![Person]
        }
    }
}

#[tokio::test]
async fn destructive_changes_are_flagged_with_row_estimates() {
    let mut env = env("mg_unsafe").await;
    cli(Some(&v3::models()), &env, &["makemigrations"])
        .await
        .unwrap();
    cli(None, &env, &["migrate"]).await.unwrap();
    env.conn
        .batch_execute("INSERT INTO mg_people (name, age) SELECT 'p' || g, g FROM generate_series(1, 50) g; ANALYZE mg_people")
        .await
        .unwrap();
    let e = cli(Some(&v3::next::models()), &env, &["makemigrations"])
        .await
        .unwrap_err()
        .to_string();
    for h in [
        "changes mg_people.age from bigint to integer",
        "adds mg_people.city NOT NULL without a default to a table with ~50 rows",
    ] {
        assert!(e.contains(h), "{h} in {e}");
    }
    assert!(migration_files(&env).len() == 1, "nothing written");

    // Never analyzed: reltuples says nothing, EXISTS does.
    env.conn
        .batch_execute("CREATE TABLE mg_fresh (id int); INSERT INTO mg_fresh VALUES (1)")
        .await
        .unwrap();
    let p = plan(&mut env, &v3::next::models()).await;
    let drop = p
        .steps
        .iter()
        .find(|s| matches!(&s.op, Operation::DropTable { table, .. } if table == "mg_fresh"))
        .expect("mg_fresh is dropped");
    let h = drop.hazard.as_deref().unwrap();
    assert!(
        h.contains("drops table mg_fresh") && h.contains("some rows"),
        "{h}"
    );
    env.conn.batch_execute("DROP TABLE mg_fresh").await.unwrap();

    // Dry run: the SQL is printed, nothing is written or applied.
    let (out, _) = cli(
        Some(&v3::next::models()),
        &env,
        &["makemigrations", "--allow-destructive", "--dry-run"],
    )
    .await
    .unwrap();
    assert!(
        out.contains("dry run, not written") && out.contains(r#"ADD COLUMN "city" text NOT NULL"#),
        "{out}"
    );
    assert_eq!(migration_files(&env).len(), 1);

    // One text column gone and two come: no rename is guessed; a note says how to confirm.
    let p = plan(&mut env, &v3::renamed::models()).await;
    assert!(
        !p.steps
            .iter()
            .any(|s| matches!(s.op, Operation::RenameColumn { .. })),
        "{p:#?}"
    );
    assert!(
        p.notes.iter().any(|n| n
            .contains("mg_people.name may have been renamed to one of city, town")
            && n.contains("--rename mg_people.name:NEW")),
        "{:?}",
        p.notes
    );
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused() {
    let mut env = env("mg_tamper").await;
    cli(Some(&v3::models()), &env, &["makemigrations"])
        .await
        .unwrap();
    cli(None, &env, &["migrate"]).await.unwrap();
    let path = env.dir.join("0001_initial.sql");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"age\" BIGINT", "\"age\" INTEGER")).unwrap();
    std::fs::write(
        env.dir.join("0002_more.sql"),
        "-- +up\nCREATE TABLE mg_more (id int);\n-- +down\nDROP TABLE mg_more;\n",
    )
    .unwrap();
    let e = cli(None, &env, &["migrate"]).await.unwrap_err().to_string();
    assert!(
        e.contains("0001_initial was edited after it was applied"),
        "{e}"
    );
    assert!(!exists(&mut env.conn, "mg_more").await, "nothing ran");
    let (out, _) = cli(None, &env, &["showmigrations"]).await.unwrap();
    assert!(out.contains("[X] 0001_initial  (EDITED"), "{out}");
    assert!(out.contains("[ ] 0002_more"), "{out}");
    // Restored, it runs.
    std::fs::write(&path, text).unwrap();
    cli(None, &env, &["migrate"]).await.unwrap();
    assert!(exists(&mut env.conn, "mg_more").await);
}

#[tokio::test]
async fn sqlmigrate_showmigrations_and_dry_run() {
    let mut env = env("mg_show").await;
    cli(Some(&v3::models()), &env, &["makemigrations"])
        .await
        .unwrap();
    let (out, _) = cli(None, &env, &["showmigrations"]).await.unwrap();
    assert_eq!(out, "[ ] 0001_initial\n");
    let (out, _) = cli(None, &env, &["sqlmigrate", "1"]).await.unwrap();
    assert!(
        out.starts_with("BEGIN;\nCREATE TABLE \"mg_people\""),
        "{out}"
    );
    assert!(out.ends_with("COMMIT;\n"), "{out}");
    let (out, _) = cli(None, &env, &["sqlmigrate", "0001_initial", "--backwards"])
        .await
        .unwrap();
    assert_eq!(out, "BEGIN;\nDROP TABLE \"mg_people\";\nCOMMIT;\n");
    let (out, _) = cli(None, &env, &["migrate", "--dry-run"]).await.unwrap();
    assert!(
        out.contains("-- apply 0001_initial") && out.contains("CREATE TABLE \"mg_people\""),
        "{out}"
    );
    assert!(
        !exists(&mut env.conn, "mg_people").await,
        "a dry run applies nothing"
    );
    cli(None, &env, &["migrate"]).await.unwrap();
    let (out, _) = cli(None, &env, &["showmigrations"]).await.unwrap();
    assert_eq!(out, "[X] 0001_initial\n");
    let (out, _) = cli(None, &env, &["migrate"]).await.unwrap();
    assert_eq!(out, "No migrations to apply\n");
    // Clear errors.
    let e = cli(None, &env, &["sqlmigrate", "7"])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no migration \"7\""), "{e}");
    let e = cli(None, &env, &["migrate", "9"])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no migration \"9\""), "{e}");
    let e = cli(None, &env, &["frobnicate"])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown command"), "{e}");
    std::fs::write(env.dir.join("0002_Bad-Name.sql"), "-- +up\n").unwrap();
    let e = cli(None, &env, &["migrate"]).await.unwrap_err().to_string();
    assert!(e.contains("NNNN_words.sql"), "{e}");
}

#[tokio::test]
async fn two_processes_migrating_at_once_apply_each_migration_once() {
    let mut env = env("mg_race").await;
    std::fs::create_dir_all(&env.dir).unwrap();
    std::fs::write(
        env.dir.join("0001_first.sql"),
        "-- +up\nCREATE TABLE mg_once (n int);\nSELECT pg_sleep(0.3);\nINSERT INTO mg_once VALUES (1);\n-- +down\nDROP TABLE mg_once;\n",
    )
    .unwrap();
    std::fs::write(
        env.dir.join("0002_second.sql"),
        "-- +up\nINSERT INTO mg_once VALUES (2);\n-- +down\nDELETE FROM mg_once WHERE n = 2;\n",
    )
    .unwrap();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hyperdjango"))
            .args(["migrate", "--database-url", &env.url, "--dir"])
            .arg(&env.dir)
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    for o in [&a, &b] {
        assert!(
            o.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let outs = [
        String::from_utf8_lossy(&a.stdout).to_string(),
        String::from_utf8_lossy(&b.stdout).to_string(),
    ];
    assert_eq!(
        outs.iter()
            .filter(|o| o.contains("Applied 0001_first"))
            .count(),
        1,
        "{outs:?}"
    );
    assert_eq!(
        outs.iter()
            .filter(|o| o.contains("No migrations to apply"))
            .count(),
        1,
        "{outs:?}"
    );
    let rows: Vec<i32> = env
        .conn
        .query("SELECT n FROM mg_once ORDER BY n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(rows, [1, 2]);
    assert_eq!(history(&mut env.conn).await, ["0001_first", "0002_second"]);
}

#[tokio::test]
async fn a_failing_migration_rolls_back_alone() {
    let mut env = env("mg_fail").await;
    std::fs::create_dir_all(&env.dir).unwrap();
    std::fs::write(
        env.dir.join("0001_ok.sql"),
        "-- +up\nCREATE TABLE mg_a (n int);\n-- +down\nDROP TABLE mg_a;\n",
    )
    .unwrap();
    std::fs::write(
        env.dir.join("0002_bad.sql"),
        "-- +up\nCREATE TABLE mg_b (n int);\nINSERT INTO mg_b VALUES (1 / 0);\n-- +down\nDROP TABLE mg_b;\n",
    )
    .unwrap();
    let e = cli(None, &env, &["migrate"]).await.unwrap_err().to_string();
    assert!(
        e.contains("0002_bad failed and was rolled back") && e.contains("division by zero"),
        "{e}"
    );
    assert!(exists(&mut env.conn, "mg_a").await);
    assert!(!exists(&mut env.conn, "mg_b").await);
    assert_eq!(history(&mut env.conn).await, ["0001_ok"]);
}

mod bad {
    use hyperdjango_orm::prelude::*;
    use hyperdjango_orm::relations::{ForeignKey, OnDelete};

    model! {
        #[table = "bad_owners"]
        pub struct Owner { pub id: Auto<i64> = Field::new().primary_key(), pub name: String }
    }
    model! {
        #[table = "bad_pets"]
        pub struct Pet {
            pub id: Auto<i64> = Field::new().primary_key(),
            pub owner: ForeignKey<Owner> = Field::new().on_delete(OnDelete::SetNull).related_name("pets"),
            pub carer: ForeignKey<Owner> = Field::new().related_name("pets"),
            pub owner_id: i64,
            pub size: i32 = Field::new().on_delete(OnDelete::Cascade),
        }
    }
    model! {
        #[table = "bad_pets"]
        pub struct Twin { pub id: Auto<i64> = Field::new().primary_key() }
    }
    model! {
        #[table = "bad_misc"]
        #[meta = Meta::new().ordering(["nothing"])]
        pub struct Misc { pub id: Auto<i64> = Field::new().primary_key().unique() }
    }
}

#[tokio::test]
async fn check_lists_every_model_mistake() {
    // Owner is not registered: the foreign keys point at a non-model.
    let models = hyperdjango_orm::models![bad::Pet, bad::Twin, bad::Misc];
    let found: Vec<String> = hyperdjango_orm::migrate::check::check(&models)
        .iter()
        .map(|m| m.to_string())
        .collect();
    let all = found.join("\n");
    for s in [
        "ERROR Pet.owner: on_delete SET NULL needs a nullable field",
        "ERROR Pet.owner: points at model Owner, which is not registered",
        "ERROR Pet.carer: related_name \"pets\" on Owner is also used by Pet.owner",
        "ERROR Pet.owner_id: its column \"owner_id\" is also the column of field owner",
        "ERROR Pet.size: on_delete/related_name are for foreign keys",
        "ERROR Twin: table \"bad_pets\" is also the table of Pet",
        "ERROR Misc.nothing: Meta.ordering names no such field",
        "WARNING Misc.id: unique()/index() on the primary key is redundant",
    ] {
        assert!(all.contains(s), "{s} in\n{all}");
    }
    let mut out = Vec::new();
    let e = cli::run_to(
        Some(&models),
        vec!["check".into()],
        &mut out,
        &mut Vec::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("check found 8 error(s)"), "{e}");
    let mut out = Vec::new();
    cli::run_to(
        Some(&v1::models()),
        vec!["check".into()],
        &mut out,
        &mut Vec::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "System check identified no errors (0 warning(s)).\n"
    );
}

#[tokio::test]
async fn dbshell_runs_psql_with_the_password_in_its_environment() {
    let c = cluster();
    let (Some(url), Some(bin)) = (
        c.url_for(hyperdjango_pgwire::testing::TestUser::Scram),
        c.bin_dir(),
    ) else {
        crate::common::skip("dbshell_runs_psql: an external server has no test roles");
        return;
    };
    let psql = bin.join("psql");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hyperdjango"))
        .args(["dbshell", "--database-url", &url, "--psql"])
        .arg(&psql)
        .args(["-c", "SELECT 'dbshell ' || current_user"])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("dbshell hd_scram"), "{stdout}");
    // The password is in the child's environment, never on its command line.
    let env = cli::psql_env(&url).unwrap();
    assert!(
        env.iter()
            .any(|(k, v)| k == "PGPASSWORD" && v == "hd_scram_pw")
    );
}

mod geo {
    use hyperdjango_orm::index::Index;
    use hyperdjango_orm::migrate::Models;
    use hyperdjango_orm::prelude::*;
    use hyperdjango_orm::raw_value::RawValue;

    model! {
        #[table = "mg_places"]
        #[meta = Meta::new().add_index(Index::on(["spot"]).gist())]
        #[derive(Debug, Clone)]
        pub struct Place {
            pub id: Auto<i64> = Field::new().primary_key(),
            pub spot: Option<RawValue> = Field::new().db_type("point"),
        }
    }

    model! {
        #[table = "mg_docs"]
        #[meta = Meta::new()
            .add_index(Index::on(["embedding"]).hnsw().opclass("embedding", "vector_l2_ops").with("m", "16"))
            .add_index(Index::on(["embedding"]).ivfflat().opclass("embedding", "vector_cosine_ops").with("lists", "4").named("mg_docs_embedding_ivf"))]
        #[derive(Debug, Clone)]
        pub struct Doc {
            pub id: Auto<i64> = Field::new().primary_key(),
            pub embedding: Option<RawValue> = Field::new().db_type("vector(3)"),
        }
    }

    pub fn places() -> Models {
        hyperdjango_orm::models![Place]
    }

    pub fn with_vectors() -> Models {
        hyperdjango_orm::models![Place, Doc]
    }
}

#[tokio::test]
async fn gist_hnsw_and_ivfflat_indexes_migrate() {
    let mut env = env("mg_geo").await;
    cli(Some(&geo::places()), &env, &["makemigrations"])
        .await
        .unwrap();
    let text = std::fs::read_to_string(env.dir.join("0001_initial.sql")).unwrap();
    assert!(
        text.contains(r#"CREATE INDEX "mg_places_spot_idx" ON "mg_places" USING gist ("spot")"#),
        "{text}"
    );
    cli(None, &env, &["migrate"]).await.unwrap();
    assert!(plan(&mut env, &geo::places()).await.is_empty());

    if !crate::common::extension(
        &mut env.conn,
        "vector",
        "gist_hnsw_and_ivfflat_indexes_migrate (HNSW/IVFFlat part)",
    )
    .await
    {
        return;
    }
    // The extension is installed per database; the migration system sees only its tables.
    cli(Some(&geo::with_vectors()), &env, &["makemigrations"])
        .await
        .unwrap();
    let text = std::fs::read_to_string(env.dir.join("0002_auto.sql")).unwrap();
    for s in [
        r#"USING hnsw ("embedding" vector_l2_ops) WITH (m = 16)"#,
        r#"USING ivfflat ("embedding" vector_cosine_ops) WITH (lists = 4)"#,
    ] {
        assert!(text.contains(s), "{s} in {text}");
    }
    cli(None, &env, &["migrate"]).await.unwrap();
    let p = plan(&mut env, &geo::with_vectors()).await;
    assert!(p.is_empty(), "{p:#?}");
    cli(None, &env, &["migrate", "1", "--allow-destructive"])
        .await
        .unwrap();
    assert!(!exists(&mut env.conn, "mg_docs").await);
}
