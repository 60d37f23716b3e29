//! Behind PgBouncer (Debian's `pgbouncer`), started by the tests in front of the shared
//! cluster: transaction pooling with prepared statements off (unnamed statements only),
//! session pooling with them on, the ORM's core scenarios through transaction pooling, and
//! what PgBouncer does with the startup parameters and protocol versions the driver sends.
//!
//! Each PgBouncer here has `default_pool_size = 1` unless said otherwise: every client of a
//! (database, user) pair shares one server connection, so whatever one client leaves on the
//! server is visible to the next one. Each test uses a database of its own (PgBouncer pools
//! per database), so tests do not share server connections.

use std::sync::OnceLock;
use std::time::Duration;

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::relations::{ForeignKey, OnDelete};
use hyperdjango_pgwire::testing::{PgBouncerOptions, PoolMode, TestPgBouncer, TestUser};
use hyperdjango_pgwire::{Config, Connection, Error as PgError, ProtocolVersion};
use hyperdjango_pool::Pool;

use crate::common::{cluster, connect, skip, unique, within};

/// The shared PgBouncer for `mode`, or `None` (with the reason printed) when there is no
/// `pgbouncer` binary or the server is external.
fn bouncer(mode: PoolMode) -> Option<&'static TestPgBouncer> {
    static TX: OnceLock<Option<TestPgBouncer>> = OnceLock::new();
    static SESSION: OnceLock<Option<TestPgBouncer>> = OnceLock::new();
    let cell = match mode {
        PoolMode::Session => &SESSION,
        _ => &TX,
    };
    cell.get_or_init(|| start(mode, PgBouncerOptions::default()))
        .as_ref()
}

fn start(mode: PoolMode, options: PgBouncerOptions) -> Option<TestPgBouncer> {
    if cluster().is_external() {
        skip("pgbouncer tests: the server is external (HYPER_TEST_DATABASE_URL)");
        return None;
    }
    let options = PgBouncerOptions {
        pool_mode: mode,
        default_pool_size: 1,
        ..options
    };
    match TestPgBouncer::start(cluster(), &options) {
        Ok(b) => Some(b),
        Err(e) if e.to_string().contains("pgbouncer was not found") && !in_ci() => {
            skip(&format!("pgbouncer tests: {e}"));
            None
        }
        Err(e) => panic!("starting PgBouncer: {e}"),
    }
}

/// CI installs PgBouncer: there a missing binary is a failure, not a skip.
fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// A fresh database owned by `hd_scram` (created directly on the server), for one test.
async fn fresh_database() -> String {
    let name = unique("pgb");
    let mut admin = connect().await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name} OWNER hd_scram"))
        .await
        .expect("CREATE DATABASE");
    name
}

/// The shared PgBouncer for `mode` and a fresh database behind it.
async fn bouncer_and_database(mode: PoolMode) -> Option<(&'static TestPgBouncer, String)> {
    let b = bouncer(mode)?;
    Some((b, fresh_database().await))
}

/// A config for `hd_scram` through `b` into `db`, with prepared statements on or off.
fn config(b: &TestPgBouncer, db: &str, prepared: bool) -> Config {
    let mut config = Config::from_url(&b.url_for(TestUser::Scram, db)).expect("url");
    config.prepared_statements(prepared);
    config
}

/// A pool of four connections through `b` into `db`, prepared statements off.
fn pool_through(b: &TestPgBouncer, db: &str) -> Pool {
    Pool::builder()
        .connect_config(config(b, db, false))
        .max_size(4)
        .build()
        .unwrap()
}

async fn server_statements(conn: &mut Connection) -> i64 {
    // Not counting this query itself, which the statement cache may have prepared.
    conn.query_one(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement NOT LIKE '%pg_prepared%'",
        &[],
    )
    .await
    .expect("pg_prepared_statements")
    .get(0)
    .unwrap()
}

#[tokio::test]
async fn transaction_pooling_with_prepared_statements_off_leaves_no_named_statement() {
    let Some((b, db)) = bouncer_and_database(PoolMode::Transaction).await else {
        return;
    };
    let mut a = Connection::connect(&config(b, &db, false)).await.unwrap();
    let mut other = Connection::connect(&config(b, &db, false)).await.unwrap();
    // Both clients share the single server connection; the driver's own statements, the
    // explicitly prepared one included, are unnamed and gone after each command.
    let backend: i32 = a
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    for i in 0..20i32 {
        let v: i32 = a
            .query_one("SELECT $1::int4 + 1", &[&i])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(v, i + 1);
    }
    let stmt = a.prepare("SELECT $1::text || '!'").await.unwrap();
    assert_eq!(stmt.name(), "", "prepare() makes the unnamed statement");
    // Another client's command runs on the server connection in between: the unnamed
    // statement it parses replaces ours, which the driver parses again at each use.
    for word in ["one", "two", "three"] {
        assert_eq!(
            server_statements(&mut other).await,
            0,
            "no statement is left on the server"
        );
        let got: String = a.query_one(&stmt, &[&word]).await.unwrap().get(0).unwrap();
        assert_eq!(got, format!("{word}!"));
    }
    let same: i32 = other
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(
        same, backend,
        "the two clients shared one server connection"
    );
    assert_eq!(a.cached_statements(), 0);
}

#[tokio::test]
async fn named_statements_leak_across_clients_in_transaction_pooling() {
    // Why prepared statements must be off behind a transaction-pooling PgBouncer older than
    // 1.21: the cache's named statements stay on a server connection other clients use.
    let Some((b, db)) = bouncer_and_database(PoolMode::Transaction).await else {
        return;
    };
    let mut a = Connection::connect(&config(b, &db, true)).await.unwrap();
    let mut other = Connection::connect(&config(b, &db, false)).await.unwrap();
    a.query_one("SELECT $1::int4", &[&1i32]).await.unwrap();
    assert_eq!(a.cached_statements(), 1);
    assert_eq!(
        server_statements(&mut other).await,
        1,
        "the other client sees the first one's named statement"
    );
}

#[tokio::test]
async fn transaction_pooling_runs_transactions_and_concurrent_pipelined_queries() {
    let Some((b, db)) = bouncer_and_database(PoolMode::Transaction).await else {
        return;
    };
    let pool = pool_through(b, &db);
    pool.execute("CREATE TABLE items (id int PRIMARY KEY, name text)", &[])
        .await
        .unwrap();

    // A transaction keeps its server connection until it ends.
    let mut conn = pool.acquire().await.unwrap();
    let mut tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO items VALUES ($1, $2)", &[&1i32, &"kept"])
        .await
        .unwrap();
    let n: i64 = tx
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 1, "the transaction reads its own write");
    tx.commit().await.unwrap();
    let mut tx = conn.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO items VALUES ($1, $2)",
        &[&2i32, &"rolled back"],
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    drop(conn);

    // Many one-shot queries from many tasks, pipelined over the pool's connections and
    // multiplexed by PgBouncer onto one server connection: each gets its own answer.
    let tasks: Vec<_> = (0..64i32)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let row = pool
                    .query_one("SELECT $1::int4 * 2, (SELECT count(*) FROM items)", &[&i])
                    .await
                    .unwrap();
                (
                    i,
                    row.get::<_, i32>(0).unwrap(),
                    row.get::<_, i64>(1).unwrap(),
                )
            })
        })
        .collect();
    for t in tasks {
        let (i, doubled, rows) = within(30, "a pipelined query", t).await.unwrap();
        assert_eq!(doubled, i * 2);
        assert_eq!(rows, 1, "only the committed row exists");
    }
}

#[tokio::test]
async fn session_pooling_keeps_prepared_statements_and_session_state() {
    let Some((b, db)) = bouncer_and_database(PoolMode::Session).await else {
        return;
    };
    let mut conn = Connection::connect(&config(b, &db, true)).await.unwrap();
    conn.batch_execute("SET application_name = 'hd_session'")
        .await
        .unwrap();
    for i in 0..10i32 {
        let v: i32 = conn
            .query_one("SELECT $1::int4 * 3", &[&i])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(v, i * 3);
    }
    assert_eq!(
        conn.cached_statements(),
        1,
        "one statement, cached and reused"
    );
    let stmt = conn
        .prepare("SELECT current_setting('application_name')")
        .await
        .unwrap();
    assert!(!stmt.name().is_empty());
    let name: String = conn.query_one(&stmt, &[]).await.unwrap().get(0).unwrap();
    assert_eq!(
        name, "hd_session",
        "session state survives between commands"
    );
    assert_eq!(server_statements(&mut conn).await, 2);
}

#[tokio::test]
async fn max_prepared_statements_needs_pgbouncer_1_21() {
    let version = match TestPgBouncer::binary_version() {
        Ok(v) => v,
        Err(e) if !in_ci() => {
            skip(&format!("max_prepared_statements: {e}"));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    if (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (1, 21) {
        skip(&format!(
            "max_prepared_statements_needs_pgbouncer_1_21: PgBouncer {version} found; \
             protocol-level prepared statements (max_prepared_statements) need 1.21 or later"
        ));
        return;
    }
    let Some(b) = start(
        PoolMode::Transaction,
        PgBouncerOptions {
            max_prepared_statements: Some(100),
            ..PgBouncerOptions::default()
        },
    ) else {
        return;
    };
    // PgBouncer 1.21+ tracks the driver's named statements and prepares them again on
    // whichever server connection a transaction gets: the statement cache works.
    let db = fresh_database().await;
    let mut a = Connection::connect(&config(&b, &db, true)).await.unwrap();
    let mut other = Connection::connect(&config(&b, &db, true)).await.unwrap();
    for i in 0..10i32 {
        for conn in [&mut a, &mut other] {
            let v: i32 = conn
                .query_one("SELECT $1::int4 + 7", &[&i])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(v, i + 7);
        }
    }
    assert_eq!(a.cached_statements(), 1);
}

#[tokio::test]
async fn startup_parameters_pgbouncer_does_not_know_are_refused_clearly() {
    let Some((b, db)) = bouncer_and_database(PoolMode::Transaction).await else {
        return;
    };
    // A query timeout is also sent as the `statement_timeout` startup parameter, which
    // PgBouncer refuses unless it is in `ignore_startup_parameters`.
    let mut with_timeout = config(b, &db, false);
    with_timeout.query_timeout(Duration::from_secs(5));
    let err = Connection::connect(&with_timeout)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unsupported startup parameter") && err.contains("statement_timeout"),
        "{err}"
    );
    let mut with_options = config(b, &db, false);
    with_options.options("-c work_mem=8MB");
    let err = Connection::connect(&with_options)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("options"), "{err}");

    // The defaults (and application_name) connect.
    let mut plain = config(b, &db, false);
    plain.application_name("hd_app");
    let mut conn = Connection::connect(&plain).await.unwrap();
    assert_eq!(conn.protocol_minor_version(), 0);
    assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);
}

#[tokio::test]
async fn ignoring_statement_timeout_keeps_the_client_side_query_timeout() {
    let Some(b) = start(
        PoolMode::Transaction,
        PgBouncerOptions {
            ignore_startup_parameters: vec!["statement_timeout".into()],
            ..PgBouncerOptions::default()
        },
    ) else {
        return;
    };
    let db = fresh_database().await;
    let mut c = config(&b, &db, false);
    c.query_timeout(Duration::from_millis(300));
    let mut conn = Connection::connect(&c).await.unwrap();
    // The driver cancels the query itself: PgBouncer forwards the cancel request.
    let err = within(
        30,
        "a timed-out query",
        conn.execute("SELECT pg_sleep(60)", &[]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, PgError::Timeout(_)) || err.to_string().contains("cancel"),
        "{err}"
    );
    assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);
}

#[tokio::test]
async fn protocol_3_2_is_asked_for_and_pgbouncer_falls_back_to_3_0() {
    let Some((b, db)) = bouncer_and_database(PoolMode::Transaction).await else {
        return;
    };
    // PgBouncer before 1.24 refuses a 3.2 StartupMessage ("bad packet header") instead of
    // negotiating: the driver tries once more at 3.0, since min_protocol_version allows it.
    let mut latest = config(b, &db, false);
    latest.max_protocol_version(ProtocolVersion::V3_2);
    let mut conn = Connection::connect(&latest).await.unwrap();
    assert_eq!(conn.protocol_minor_version(), 0);
    assert_eq!(conn.cancel_key_len(), 4);
    assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);

    // Requiring 3.2 leaves nothing to fall back to: the pooler's refusal is the error.
    let mut only_3_2 = config(b, &db, false);
    only_3_2
        .min_protocol_version(ProtocolVersion::V3_2)
        .max_protocol_version(ProtocolVersion::V3_2);
    let err = Connection::connect(&only_3_2).await.unwrap_err();
    if b.version() < "1.24" {
        assert_eq!(err.code().map(|c| c.code()), Some("08P01"), "{err}");
    }
}

// ---------------------------------------------------------------------------
// The ORM through transaction pooling

model! {
    #[table = "pgb_authors"]
    #[derive(Debug, Clone)]
    pub struct PgbAuthor {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub name: String,
    }
}

model! {
    #[table = "pgb_books"]
    #[derive(Debug, Clone)]
    pub struct PgbBook {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub author: ForeignKey<PgbAuthor> = Field::new().on_delete(OnDelete::Cascade),
        pub title: String,
        pub pages: i32 = Field::new().default(0),
    }
}

#[tokio::test]
async fn orm_core_scenarios_through_transaction_pooling() {
    let Some((b, db)) = bouncer_and_database(PoolMode::Transaction).await else {
        return;
    };
    let pool = pool_through(b, &db);
    let alias = unique("pgb_orm");
    hyperdjango_orm::register_database(&alias, pool);
    hyperdjango_orm::using_database(&alias, async {
        hyperdjango_orm::ddl::create_table::<PgbAuthor>(false)
            .await
            .unwrap();
        hyperdjango_orm::ddl::create_table::<PgbBook>(false)
            .await
            .unwrap();

        // create / get / filter / update / delete
        let ann = PgbAuthor::objects()
            .create(PgbAuthor {
                name: "ann".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let ann_id = ann.id.get().unwrap();
        for (title, pages) in [("first", 100), ("second", 250), ("third", 400)] {
            PgbBook::objects()
                .create(PgbBook {
                    author: ForeignKey::to(ann_id),
                    title: title.into(),
                    pages,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let got = PgbAuthor::objects()
            .get(PgbAuthor::id.eq(ann_id))
            .await
            .unwrap();
        assert_eq!(got.name, "ann");
        let long = PgbBook::objects()
            .filter(PgbBook::pages.gt(200))
            .count()
            .await
            .unwrap();
        assert_eq!(long, 2);
        let n = PgbBook::objects()
            .filter(PgbBook::title.eq("first"))
            .update(PgbBook::pages.set(120))
            .await
            .unwrap();
        assert_eq!(n, 1);
        let first = PgbBook::objects()
            .get(PgbBook::title.eq("first"))
            .await
            .unwrap();
        assert_eq!(first.pages, 120);

        // select_related: one query through PgBouncer
        let books = PgbBook::objects()
            .select_related(["author"])
            .order_by(PgbBook::pages)
            .all()
            .await
            .unwrap();
        assert_eq!(books.len(), 3);
        assert!(books.iter().all(|b| b.author.get().unwrap().name == "ann"));

        // A transaction: its statements share one server connection until it commits...
        hyperdjango_orm::atomic(async {
            let bob = PgbAuthor::objects()
                .create(PgbAuthor {
                    name: "bob".into(),
                    ..Default::default()
                })
                .await?;
            PgbBook::objects()
                .create(PgbBook {
                    author: ForeignKey::to(bob.id.get().unwrap()),
                    title: "bob's".into(),
                    ..Default::default()
                })
                .await?;
            assert_eq!(PgbAuthor::objects().count().await?, 2);
            Ok::<_, hyperdjango_orm::Error>(())
        })
        .await
        .unwrap();
        // ...and one that fails rolls back whole.
        let failed = hyperdjango_orm::atomic(async {
            PgbAuthor::objects()
                .create(PgbAuthor {
                    name: "carl".into(),
                    ..Default::default()
                })
                .await?;
            Err::<(), _>(hyperdjango_orm::Error::Usage("abandon".into()))
        })
        .await;
        assert!(failed.is_err());
        assert_eq!(PgbAuthor::objects().count().await.unwrap(), 2);

        // delete (cascading to the books)
        let mut ann = PgbAuthor::objects()
            .get(PgbAuthor::name.eq("ann"))
            .await
            .unwrap();
        ann.delete().await.unwrap();
        assert_eq!(PgbBook::objects().count().await.unwrap(), 1);
    })
    .await;
    hyperdjango_orm::unregister_database(&alias);
}
