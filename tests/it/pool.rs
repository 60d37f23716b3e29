//! The connection pool against a real server: configuration, acquire and release, rotation,
//! health checks, hooks, the query timeout, transactions, LISTEN/NOTIFY and metrics.
//! Faults (restarts, terminated backends, SIGSTOP, exhaustion, mass cancellation) are in
//! `pool_faults.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyperdjango_pgwire::{Config, SqlState, TransactionStatus};
use hyperdjango_pool::{Error, IsolationLevel, ListenerEvent, Pool, PoolBuilder};

use crate::common::*;

/// A builder for `url` that ignores the process environment, with a unique
/// application_name so that the pool's backends can be found in pg_stat_activity.
pub fn builder_for(url: &str, app: &str) -> PoolBuilder {
    let mut config = Config::parse(url).unwrap_or_else(|e| panic!("test URL: {e}"));
    config.application_name(app);
    PoolBuilder::new().env(|_| None).connect_config(config)
}

/// A builder for the shared cluster; returns it with the application_name it uses.
pub fn builder(prefix: &str) -> (PoolBuilder, String) {
    let app = unique(prefix);
    (builder_for(&cluster().url(), &app), app)
}

/// Acquires despite a short acquire timeout: a loaded machine can take longer than that to
/// open a connection, and tests of exhaustion need the pool open first.
pub async fn acquire_patiently(pool: &Pool) -> hyperdjango_pool::PooledConnection {
    within(30, "an acquire on a slow machine", async {
        loop {
            match pool.acquire().await {
                Ok(conn) => return conn,
                Err(Error::Exhausted { .. }) => continue,
                Err(e) => panic!("acquire: {e}"),
            }
        }
    })
    .await
}

/// Waits until the pool settles: nothing in use, opening or waiting.
pub async fn settled(pool: &Pool) -> hyperdjango_pool::Status {
    within(10, "the pool to settle", async {
        loop {
            let s = pool.status();
            if s.in_use == 0 && s.opening == 0 && s.waiters == 0 {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// The pids of backends with this application_name, and how many are inside a transaction.
pub async fn backends(app: &str) -> (Vec<i32>, usize) {
    backends_at(&cluster().url(), app).await
}

/// [`backends`] on the server at `url`.
pub async fn backends_at(url: &str, app: &str) -> (Vec<i32>, usize) {
    let mut admin = hyperdjango_pgwire::Connection::connect_url(url)
        .await
        .unwrap_or_else(|e| panic!("admin connection: {e}"));
    let rows = admin
        .query(
            "SELECT pid, state FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    let pids = rows.iter().map(|r| r.get::<_, i32>(0).unwrap()).collect();
    let in_tx = rows
        .iter()
        .filter(|r| {
            r.get::<_, Option<&str>>(1)
                .unwrap()
                .is_some_and(|s| s.starts_with("idle in transaction"))
        })
        .count();
    (pids, in_tx)
}

// ---------------------------------------------------------------------------------------------
// Configuration

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn invalid_environment_values_are_errors_naming_variable_and_value() {
    let cases = [
        ("HYPERDJANGO_POOL_SIZE", "abc"),
        ("HYPERDJANGO_POOL_SIZE", "-1"),
        ("HYPERDJANGO_POOL_MAX_QUERIES", "1e4"),
        ("HYPERDJANGO_POOL_MAX_LIFETIME", "1.5"),
        ("HYPERDJANGO_STATEMENT_CACHE_SIZE", "-256"),
        ("HYPERDJANGO_PREPARED_STATEMENTS", "maybe"),
        ("HYPERDJANGO_CONNECT_TIMEOUT", "-5"),
        ("HYPERDJANGO_QUERY_TIMEOUT", "10s"),
        ("HYPERDJANGO_POOL_ACQUIRE_TIMEOUT", "soon"),
        ("HYPERDJANGO_POOL_MIN_IDLE", "-2"),
        ("HYPERDJANGO_POOL_IDLE_TIMEOUT", "forever"),
        ("HYPERDJANGO_POOL_HEALTH_CHECK_AFTER", "x"),
    ];
    for (var, value) in cases {
        let err = PoolBuilder::new()
            .env(env_of(&[(var, value)]))
            .config()
            .expect_err(var);
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("{var}=\"{value}\"")),
            "{shown:?} names {var} and {value:?}"
        );
    }
    let err = PoolBuilder::new()
        .env(env_of(&[("HYPER_DATABASE_URL", "mysql://db")]))
        .config()
        .unwrap_err();
    assert!(err.to_string().contains("HYPER_DATABASE_URL"), "{err}");
    let err = PoolBuilder::new()
        .env(env_of(&[
            ("HYPERDJANGO_POOL_SIZE", "2"),
            ("HYPERDJANGO_POOL_MIN_IDLE", "3"),
        ]))
        .config()
        .unwrap_err();
    assert!(
        err.to_string().contains("HYPERDJANGO_POOL_MIN_IDLE"),
        "{err}"
    );
}

#[test]
fn environment_values_defaults_and_builder_overrides() {
    let defaults = PoolBuilder::new().env(|_| None).config().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(defaults.max_size(), cores * 2);
    assert_eq!(defaults.max_queries(), Some(10_000));
    assert_eq!(defaults.max_lifetime(), Some(Duration::from_secs(3600)));
    assert_eq!(defaults.statement_cache_size(), 256);
    assert!(defaults.prepared_statements());
    assert_eq!(
        defaults.connect_timeout(),
        Some(Duration::from_millis(10_000))
    );
    assert_eq!(defaults.query_timeout(), None);

    let env = env_of(&[
        (
            "HYPER_DATABASE_URL",
            "postgres://envuser@envhost:6543/envdb",
        ),
        ("HYPERDJANGO_POOL_SIZE", "7"),
        ("HYPERDJANGO_POOL_MAX_QUERIES", "0"),
        ("HYPERDJANGO_POOL_MAX_LIFETIME", "60"),
        ("HYPERDJANGO_STATEMENT_CACHE_SIZE", "0"),
        ("HYPERDJANGO_PREPARED_STATEMENTS", "false"),
        ("HYPERDJANGO_CONNECT_TIMEOUT", "250"),
        ("HYPERDJANGO_QUERY_TIMEOUT", "1500"),
        ("HYPERDJANGO_POOL_ACQUIRE_TIMEOUT", "0"),
        ("HYPERDJANGO_POOL_MIN_IDLE", "2"),
        ("HYPERDJANGO_POOL_IDLE_TIMEOUT", "0"),
        ("HYPERDJANGO_POOL_HEALTH_CHECK_AFTER", ""), // empty: the default
    ]);
    let c = PoolBuilder::new().env(env).config().unwrap();
    assert_eq!(c.connect().get_user(), Some("envuser"));
    assert_eq!(c.connect().get_dbname(), Some("envdb"));
    assert_eq!(c.max_size(), 7);
    assert_eq!(c.max_queries(), None);
    assert_eq!(c.max_lifetime(), Some(Duration::from_secs(60)));
    assert_eq!(c.statement_cache_size(), 0);
    assert!(!c.prepared_statements());
    assert_eq!(c.connect_timeout(), Some(Duration::from_millis(250)));
    assert_eq!(c.query_timeout(), Some(Duration::from_millis(1500)));
    assert_eq!(c.acquire_timeout(), None);
    assert_eq!(c.min_idle(), 2);
    assert_eq!(c.idle_timeout(), None);
    assert_eq!(c.health_check_after(), Some(Duration::from_secs(30)));

    // The builder wins over the environment, setting by setting.
    let env = env_of(&[
        ("HYPERDJANGO_POOL_SIZE", "7"),
        ("HYPERDJANGO_QUERY_TIMEOUT", "1500"),
        ("HYPERDJANGO_PREPARED_STATEMENTS", "false"),
    ]);
    let c = PoolBuilder::new()
        .env(env)
        .url("postgres://builder@h/db")
        .max_size(3)
        .query_timeout(Duration::ZERO)
        .prepared_statements(true)
        .config()
        .unwrap();
    assert_eq!(c.max_size(), 3);
    assert_eq!(c.query_timeout(), None);
    assert!(c.prepared_statements());
    assert_eq!(c.connect().get_user(), Some("builder"));
    // A bad builder URL is an error too, and no password is shown.
    let err = PoolBuilder::new()
        .env(|_| None)
        .url("postgres://u:hunter2@h:notaport/db")
        .config()
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let config = PoolBuilder::new()
        .env(|_| None)
        .url("postgres://u:hunter2@h/db")
        .config()
        .unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}

// ---------------------------------------------------------------------------------------------
// Acquire and release

#[tokio::test]
async fn a_returned_connection_is_reused_and_counted() {
    let (b, _) = builder("pool_reuse");
    let pool = b.max_size(2).build().unwrap();
    assert_eq!(pool.status().size, 0, "nothing is opened up front");
    let mut conn = pool.acquire().await.unwrap();
    let pid = conn.process_id();
    let row = conn
        .query_one("SELECT $1::int4 + 1", &[&41i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0).unwrap(), 42);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (1, 0, 1));
    drop(conn);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (1, 1, 0), "returned at once");
    let conn = pool.acquire().await.unwrap();
    assert_eq!(conn.process_id(), pid);
    drop(conn);
    let m = pool.metrics();
    assert_eq!((m.connects, m.acquires), (1, 2));
    assert!(m.acquire_wait.count == 2 && m.acquire_wait.p50 <= m.acquire_wait.max);
}

#[tokio::test]
async fn waiters_are_served_in_fifo_order_and_a_dropped_waiter_takes_nothing() {
    let (b, _) = builder("pool_fifo");
    let pool = b.max_size(1).build().unwrap();
    let held = pool.acquire().await.unwrap();

    // A waiter that gives up leaves the queue.
    let gave_up = tokio::time::timeout(Duration::from_millis(30), pool.acquire()).await;
    assert!(gave_up.is_err());
    assert_eq!(pool.status().waiters, 0);

    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let task_pool = pool.clone();
        let order = order.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = task_pool.acquire().await.unwrap();
            order.lock().unwrap().push(i);
            conn.query("SELECT 1", &[]).await.unwrap();
        }));
        // Each waiter is queued before the next one arrives.
        within(5, "the waiter to queue", async {
            while pool.status().waiters != i + 1 {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
    drop(held);
    for t in tasks {
        within(10, "a waiter", t).await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..6).collect::<Vec<_>>());
    let s = settled(&pool).await;
    assert_eq!((s.size, s.idle), (1, 1));
}

#[tokio::test]
async fn exhaustion_error_names_wait_size_and_use() {
    let (b, _) = builder("pool_exhaust_msg");
    let pool = b
        .max_size(2)
        .acquire_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let a = acquire_patiently(&pool).await;
    let c = acquire_patiently(&pool).await;
    let before = pool.metrics().acquire_timeouts;
    let started = Instant::now();
    let err = pool.acquire().await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(matches!(err, Error::Exhausted { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.starts_with("pool exhausted after 1"), "{shown}");
    assert!(shown.ends_with("ms (size 2, in use 2)"), "{shown}");
    assert_eq!(pool.metrics().acquire_timeouts - before, 1);
    drop((a, c));
}

#[tokio::test]
async fn a_connection_returned_inside_a_transaction_is_rolled_back() {
    let (b, app) = builder("pool_tx_release");
    let pool = b.max_size(1).build().unwrap();
    let table = unique("pool_tx_release");
    let mut conn = pool.acquire().await.unwrap();
    conn.batch_execute(&format!("CREATE TABLE \"{table}\" (n int)"))
        .await
        .unwrap();
    conn.batch_execute("BEGIN").await.unwrap();
    conn.execute(&format!("INSERT INTO \"{table}\" VALUES (1)"), &[])
        .await
        .unwrap();
    drop(conn);
    let s = settled(&pool).await;
    assert_eq!(s.idle, 1);
    assert_eq!(
        backends(&app).await.1,
        0,
        "no backend left in a transaction"
    );
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    let n: i64 = conn
        .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0);
    conn.batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_connection_returned_with_unread_rows_is_drained() {
    let (b, _) = builder("pool_drain");
    let pool = b.max_size(1).build().unwrap();
    let mut conn = pool.acquire().await.unwrap();
    {
        let fut = conn.query("SELECT 'stale'::text FROM generate_series(1, 50000)", &[]);
        let _ = tokio::time::timeout(Duration::from_millis(2), fut).await;
    }
    drop(conn);
    let mut conn = pool.acquire().await.unwrap();
    let rows = conn.query("SELECT 'fresh'::text", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(0).unwrap(), "fresh");
}

#[tokio::test]
async fn discard_closes_instead_of_returning() {
    let (b, _) = builder("pool_discard");
    let pool = b.max_size(1).build().unwrap();
    let conn = pool.acquire().await.unwrap();
    let pid = conn.process_id();
    conn.discard();
    assert_eq!(pool.status().size, 0);
    let conn = pool.acquire().await.unwrap();
    assert_ne!(conn.process_id(), pid);
}

#[tokio::test]
async fn close_fails_waiters_and_later_acquires() {
    let (b, _) = builder("pool_close");
    let pool = b.max_size(1).build().unwrap();
    let held = pool.acquire().await.unwrap();
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.acquire().await }
    });
    within(5, "the waiter to queue", async {
        while pool.status().waiters != 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    pool.close();
    assert!(matches!(waiter.await.unwrap(), Err(Error::Closed)));
    assert!(matches!(pool.acquire().await, Err(Error::Closed)));
    drop(held);
    assert_eq!(
        pool.status().size,
        0,
        "the checked-out one is closed on return"
    );
}

// ---------------------------------------------------------------------------------------------
// Rotation, idle connections, health

#[tokio::test]
async fn rotation_after_max_queries_happens_in_the_background() {
    let (b, _) = builder("pool_rotate_q");
    let pool = b.max_size(1).max_queries(3).build().unwrap();
    let mut pids = Vec::new();
    for _ in 0..3 {
        let mut conn = pool.acquire().await.unwrap();
        pids.push(conn.process_id());
        conn.query("SELECT 1", &[]).await.unwrap();
        conn.query("SELECT 2", &[]).await.unwrap();
    }
    // 2 queries a checkout: the 2nd checkout reaches 4 >= 3 and is rotated on return.
    assert_eq!(pids[0], pids[1]);
    assert_ne!(pids[1], pids[2]);
    settled(&pool).await;
    let m = pool.metrics();
    assert_eq!(m.rotations, 1);
    assert_eq!(m.connects, 2);
    assert_eq!(m.status.size, 1);
}

#[tokio::test]
async fn rotation_after_max_lifetime_and_idle_timeout_and_min_idle() {
    let (b, _) = builder("pool_rotate_t");
    let pool = b
        .max_size(3)
        .min_idle(1)
        .max_lifetime(Duration::from_millis(400))
        .idle_timeout(Duration::from_millis(150))
        .maintenance_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    // min_idle opens one connection by itself.
    within(5, "min_idle", async {
        while pool.status().idle < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let first = pool.acquire().await.unwrap();
    let first_pid = first.process_id();
    let second = pool.acquire().await.unwrap();
    let third = pool.acquire().await.unwrap();
    drop((first, second, third));
    assert_eq!(pool.status().size, 3);
    // The idle timeout closes the extra ones, down to min_idle.
    within(5, "the idle timeout", async {
        while pool.status().size > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // The lifetime rotates the survivor; min_idle opens its successor.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let conn = pool.acquire().await.unwrap();
    assert_ne!(conn.process_id(), first_pid);
    drop(conn);
    let m = pool.metrics();
    assert!(m.rotations >= 1, "{m:?}");
    assert!(m.status.size >= 1);
}

#[tokio::test]
async fn an_idle_connection_whose_backend_died_is_replaced_on_checkout() {
    let (b, _) = builder("pool_health");
    let pool = b
        .max_size(1)
        .health_check_after(Duration::from_millis(1))
        .build()
        .unwrap();
    let conn = pool.acquire().await.unwrap();
    let pid = conn.process_id();
    drop(conn);
    let mut admin = connect().await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    assert_ne!(conn.process_id(), pid);
    conn.query("SELECT 1", &[]).await.unwrap();
    assert_eq!(pool.metrics().broken_discards, 1);
}

// ---------------------------------------------------------------------------------------------
// Hooks and session reset

#[tokio::test]
async fn hooks_run_after_connect_before_and_after_checkout() {
    let before = Arc::new(AtomicUsize::new(0));
    let after = Arc::new(AtomicUsize::new(0));
    let (b, _) = builder("pool_hooks");
    let (b1, b2) = (before.clone(), after.clone());
    let pool = b
        .max_size(1)
        .after_connect(|conn| {
            Box::pin(async move { conn.batch_execute("SET work_mem = '7MB'").await })
        })
        .before_checkout(move |conn| {
            b1.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { conn.batch_execute("SET lock_timeout = '3s'").await })
        })
        .after_checkout(move |conn| {
            b2.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { conn.batch_execute("RESET lock_timeout").await })
        })
        .build()
        .unwrap();
    for _ in 0..2 {
        let mut conn = pool.acquire().await.unwrap();
        let row = conn
            .query_one(
                "SELECT current_setting('work_mem'), current_setting('lock_timeout')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, &str>(0).unwrap(), "7MB");
        assert_eq!(row.get::<_, &str>(1).unwrap(), "3s");
        drop(conn);
        settled(&pool).await;
    }
    assert_eq!(before.load(Ordering::SeqCst), 2);
    assert_eq!(after.load(Ordering::SeqCst), 2);
    assert_eq!(pool.metrics().connects, 1);
}

#[tokio::test]
async fn a_failing_hook_is_a_clear_error() {
    let (b, _) = builder("pool_bad_hook");
    let pool = b
        .max_size(1)
        .after_connect(|conn| Box::pin(async move { conn.batch_execute("SELEC 1").await }))
        .build()
        .unwrap();
    let err = pool.acquire().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Hook {
                hook: "after_connect",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR));
    assert!(
        err.to_string().starts_with("the after_connect hook failed"),
        "{err}"
    );
    let s = settled(&pool).await;
    assert_eq!(s.size, 0);
}

#[tokio::test]
async fn session_reset_keeps_prepared_statements() {
    let (b, _) = builder("pool_reset");
    let pool = b
        .max_size(1)
        .reset_session(true)
        .after_connect(|conn| {
            Box::pin(async move { conn.batch_execute("SET work_mem = '5MB'").await })
        })
        .build()
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let stmt = conn.prepare("SELECT $1::int4 * 2").await.unwrap();
    conn.batch_execute("SET work_mem = '9MB'; CREATE TEMP TABLE reset_me (n int)")
        .await
        .unwrap();
    drop(conn);
    settled(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    let row = conn
        .query_one(
            "SELECT current_setting('work_mem'), to_regclass('pg_temp.reset_me') IS NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, &str>(0).unwrap(),
        "5MB",
        "reset, then after_connect again"
    );
    assert!(row.get::<_, bool>(1).unwrap(), "the temp table is gone");
    let row = conn.query_one(&stmt, &[&21i32]).await.unwrap();
    assert_eq!(
        row.get::<_, i32>(0).unwrap(),
        42,
        "the prepared statement survived"
    );
}

// ---------------------------------------------------------------------------------------------
// Query timeout

#[tokio::test]
async fn the_query_timeout_cancels_on_the_server_and_keeps_the_connection() {
    let (b, _) = builder("pool_qtimeout");
    let pool = b
        .max_size(1)
        .query_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let pid = conn.process_id();
    let started = Instant::now();
    let err = within(
        5,
        "the query timeout",
        conn.query("SELECT pg_sleep(10)", &[]),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(
            err,
            Error::QueryTimeout {
                discarded: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_timeout());
    assert!(err.to_string().contains("200 ms"), "{err}");
    // Usable, and not hit by a late cancel.
    for i in 0..5i32 {
        let row = conn.query_one("SELECT $1::int4", &[&i]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0).unwrap(), i);
    }
    // Fast queries are unaffected.
    conn.query("SELECT pg_sleep(0.05)", &[]).await.unwrap();
    drop(conn);
    let conn = pool.acquire().await.unwrap();
    assert_eq!(conn.process_id(), pid);
    assert_eq!(pool.metrics().query_timeouts, 1);
}

// ---------------------------------------------------------------------------------------------
// Transactions

async fn count(conn: &mut hyperdjango_pool::PooledConnection, table: &str) -> i64 {
    conn.query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

#[tokio::test]
async fn transactions_commit_rollback_drop_and_savepoints() {
    let (b, _) = builder("pool_tx");
    let pool = b.max_size(1).build().unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let t = unique("pool_tx");
    conn.batch_execute(&format!("CREATE TEMP TABLE \"{t}\" (n int)"))
        .await
        .unwrap();
    let insert = format!("INSERT INTO \"{t}\" VALUES ($1)");

    // Commit keeps, rollback discards, drop rolls back.
    let mut tx = conn.transaction().await.unwrap();
    tx.execute(&insert, &[&1i32]).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = conn.transaction().await.unwrap();
    tx.execute(&insert, &[&2i32]).await.unwrap();
    tx.rollback().await.unwrap();
    {
        let mut tx = conn.transaction().await.unwrap();
        tx.execute(&insert, &[&3i32]).await.unwrap();
    }
    assert_eq!(count(&mut conn, &t).await, 1);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);

    // Nested savepoints: each level undoes only its own work.
    let mut tx = conn.transaction().await.unwrap();
    tx.execute(&insert, &[&10i32]).await.unwrap();
    {
        let mut sp1 = tx.savepoint().await.unwrap();
        sp1.execute(&insert, &[&11i32]).await.unwrap();
        {
            let mut sp2 = sp1.savepoint().await.unwrap();
            assert_eq!(sp2.depth(), 2);
            sp2.execute(&insert, &[&12i32]).await.unwrap();
            sp2.rollback().await.unwrap();
        }
        {
            let mut sp2 = sp1.savepoint().await.unwrap();
            sp2.execute(&insert, &[&13i32]).await.unwrap();
            // Dropped: rolled back.
        }
        {
            let mut sp2 = sp1.savepoint().await.unwrap();
            // An error inside a savepoint; rolling the savepoint back recovers.
            assert!(sp2.execute("SELECT 1/0", &[]).await.is_err());
            sp2.rollback().await.unwrap();
        }
        {
            let mut sp2 = sp1.savepoint().await.unwrap();
            // An error, then the savepoint is dropped: its queued rollback recovers too.
            assert!(sp2.execute("SELECT 1/0", &[]).await.is_err());
        }
        sp1.commit().await.unwrap();
    }
    let rows = tx
        .query(&format!("SELECT n FROM \"{t}\" ORDER BY n"), &[])
        .await
        .unwrap();
    let ns: Vec<i32> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(ns, [1, 10, 11]);
    tx.commit().await.unwrap();
    assert_eq!(count(&mut conn, &t).await, 3);
}

#[tokio::test]
async fn on_commit_callbacks_run_after_the_outermost_commit_only() {
    let (b, _) = builder("pool_on_commit");
    let pool = b.max_size(1).build().unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let log = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let push = |what: &'static str| {
        let log = log.clone();
        move || log.lock().unwrap().push(what)
    };

    let mut tx = conn.transaction().await.unwrap();
    tx.on_commit(push("outer"));
    {
        let mut sp = tx.savepoint().await.unwrap();
        sp.on_commit(push("kept savepoint"));
        sp.commit().await.unwrap();
    }
    {
        let mut sp = tx.savepoint().await.unwrap();
        sp.on_commit(push("rolled-back savepoint"));
        sp.rollback().await.unwrap();
    }
    {
        let mut sp = tx.savepoint().await.unwrap();
        sp.on_commit(push("dropped savepoint"));
    }
    assert!(log.lock().unwrap().is_empty(), "nothing runs before COMMIT");
    tx.commit().await.unwrap();
    assert_eq!(*log.lock().unwrap(), ["outer", "kept savepoint"]);

    log.lock().unwrap().clear();
    let mut tx = conn.transaction().await.unwrap();
    tx.on_commit(push("rolled back"));
    tx.rollback().await.unwrap();
    {
        let mut tx = conn.transaction().await.unwrap();
        tx.on_commit(push("dropped"));
    }
    // Commit of an aborted transaction: rolled back, an error, no callbacks.
    let mut tx = conn.transaction().await.unwrap();
    tx.on_commit(push("aborted"));
    assert!(tx.execute("SELECT 1/0", &[]).await.is_err());
    let err = tx.commit().await.unwrap_err();
    assert!(matches!(err, Error::TransactionAborted), "{err:?}");
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

#[tokio::test]
async fn transaction_options_isolation_read_only_deferrable() {
    let (b, _) = builder("pool_tx_opts");
    let pool = b.max_size(1).build().unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let mut tx = conn
        .build_transaction()
        .isolation_level(IsolationLevel::Serializable)
        .read_only(true)
        .deferrable(true)
        .start()
        .await
        .unwrap();
    let row = tx
        .query_one(
            "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'), current_setting('transaction_deferrable')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0).unwrap(), "serializable");
    assert_eq!(row.get::<_, &str>(1).unwrap(), "on");
    assert_eq!(row.get::<_, &str>(2).unwrap(), "on");
    let err = tx
        .batch_execute("CREATE TEMP TABLE nope (n int)")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));
    tx.rollback().await.unwrap();

    let mut tx = conn
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(false)
        .start()
        .await
        .unwrap();
    let level: String = tx
        .query_one("SELECT current_setting('transaction_isolation')", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(level, "repeatable read");
    tx.commit().await.unwrap();

    // A transaction inside a transaction is refused: nest with savepoint().
    conn.batch_execute("BEGIN").await.unwrap();
    assert!(conn.transaction().await.is_err());
    conn.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn a_transaction_dropped_with_its_connection_is_rolled_back_before_reuse() {
    let (b, app) = builder("pool_tx_drop_all");
    let pool = b.max_size(1).build().unwrap();
    let t = unique("pool_tx_drop_all");
    let mut conn = pool.acquire().await.unwrap();
    conn.batch_execute(&format!("CREATE TABLE \"{t}\" (n int)"))
        .await
        .unwrap();
    {
        let mut tx = conn.transaction().await.unwrap();
        tx.execute(&format!("INSERT INTO \"{t}\" VALUES (1)"), &[])
            .await
            .unwrap();
    }
    drop(conn);
    settled(&pool).await;
    assert_eq!(backends(&app).await.1, 0);
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(count(&mut conn, &t).await, 0);
    conn.batch_execute(&format!("DROP TABLE \"{t}\""))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// LISTEN/NOTIFY

#[tokio::test]
async fn the_listener_receives_reconnects_and_reports_the_gap() {
    let (b, _) = builder("pool_listen");
    let pool = b.max_size(2).build().unwrap();
    let channel = unique("Chan \"quoted\"");
    let mut listener = pool.listener();
    listener.listen(&channel).await.unwrap();
    pool.notify(&channel, "first").await.unwrap();
    match within(5, "a notification", listener.recv()).await {
        ListenerEvent::Notification(n) => {
            assert_eq!(
                (n.channel.as_str(), n.payload.as_str()),
                (channel.as_str(), "first")
            )
        }
        other => panic!("{other:?}"),
    }

    // Kill the listener's backend: it reconnects, LISTENs again and reports the gap.
    let pid = listener.process_id().unwrap();
    let mut admin = connect().await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    match within(10, "the gap", listener.recv()).await {
        ListenerEvent::Gap { reason } => {
            assert!(reason.contains("terminating connection"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_ne!(listener.process_id(), Some(pid));
    pool.notify(&channel, "second").await.unwrap();
    match within(5, "a notification after the gap", listener.recv()).await {
        ListenerEvent::Notification(n) => assert_eq!(n.payload, "second"),
        other => panic!("{other:?}"),
    }
    listener.unlisten(&channel).await.unwrap();
    assert!(listener.channels().is_empty());
}
