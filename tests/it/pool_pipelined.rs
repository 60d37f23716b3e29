//! The pool's one-shot pipelined queries (`Pool::query`, `query_one`, `query_opt`,
//! `execute`) against a real server: each caller gets its own result while many share a
//! few connections, errors stay with their query, checked-out users are not starved, and
//! broken connections, rotation, dropped callers and a closed pool behave.

use std::collections::HashSet;
use std::time::Duration;

use hyperdjango_pgwire::SqlState;
use hyperdjango_pool::{Error, Pool};

use crate::common::*;
use crate::pool::{builder, settled};

fn pool_of(size: usize, prefix: &str) -> (Pool, String) {
    let (b, app) = builder(prefix);
    (b.max_size(size).build().unwrap(), app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_gets_its_own_rows_and_queries_share_batches() {
    let (pool, _app) = pool_of(4, "pipe_own");
    let tasks: Vec<_> = (0..64i64)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut pids = HashSet::new();
                for k in 0..50i64 {
                    let marker = t * 1000 + k;
                    let row = pool
                        .query_one(
                            "SELECT $1::int8 AS marker, $2::text AS label, pg_backend_pid()",
                            &[&marker, &format!("task {t} query {k}")],
                        )
                        .await
                        .unwrap();
                    assert_eq!(row.get::<_, i64>(0).unwrap(), marker);
                    assert_eq!(
                        row.get::<_, &str>(1).unwrap(),
                        format!("task {t} query {k}")
                    );
                    pids.insert(row.get::<_, i32>(2).unwrap());
                }
                pids
            })
        })
        .collect();
    let mut pids = HashSet::new();
    for t in tasks {
        pids.extend(within(60, "64 tasks of pipelined gets", t).await.unwrap());
    }
    assert!(pids.len() <= 4, "{} backends for a pool of 4", pids.len());
    let m = pool.metrics();
    assert_eq!(m.pipelined_queries, 64 * 50);
    // 64 concurrent callers over 4 connections: batches hold more than one query.
    assert!(
        m.pipelined_batches < m.pipelined_queries / 2,
        "{} queries in {} batches",
        m.pipelined_queries,
        m.pipelined_batches
    );
    let s = settled(&pool).await;
    assert_eq!(s.idle, s.size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_stays_with_its_query() {
    let (pool, _app) = pool_of(2, "pipe_err");
    let tasks: Vec<_> = (0..200i32)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                // Every third query divides by zero; the others must not notice.
                let divisor = if i % 3 == 0 { 0 } else { i };
                let result = pool
                    .query_one("SELECT $1::int4 / $2::int4", &[&(i * 10), &divisor])
                    .await;
                (i, divisor, result)
            })
        })
        .collect();
    for t in tasks {
        let (i, divisor, result) = within(30, "a mixed batch", t).await.unwrap();
        if divisor == 0 {
            let err = result.unwrap_err();
            assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
        } else {
            let row = result.unwrap_or_else(|e| panic!("query {i}: {e}"));
            assert_eq!(row.get::<_, i32>(0).unwrap(), i * 10 / divisor);
        }
    }
    // A parameter that can't be encoded fails only its caller, before anything is sent.
    let err = pool
        .query("SELECT $1::text", &[&"nul\0byte"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("$1"), "{err}");
    assert!(err.to_string().contains("NUL"), "{err}");
}

#[tokio::test]
async fn query_one_opt_and_execute_behave_like_the_connection_methods() {
    let (pool, _app) = pool_of(2, "pipe_api");
    let table = unique("pipe_api");
    pool.execute(&format!("CREATE TABLE {table} (id int8 PRIMARY KEY)"), &[])
        .await
        .unwrap();
    // Autocommit: each statement is its own transaction, visible to the next one.
    let n = pool
        .execute(
            &format!("INSERT INTO {table} SELECT generate_series(1, $1)"),
            &[&5i64],
        )
        .await
        .unwrap();
    assert_eq!(n, 5);
    let rows = pool
        .query(&format!("SELECT id FROM {table} ORDER BY id"), &[])
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    let one = |sql: String| {
        let pool = pool.clone();
        async move { pool.query_one(&sql, &[]).await }
    };
    let err = one(format!("SELECT id FROM {table}")).await.unwrap_err();
    assert!(err.to_string().contains("exactly one row"), "{err}");
    assert!(err.to_string().contains('5'), "{err}");
    let err = one(format!("SELECT id FROM {table} WHERE id > 9"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exactly one row"), "{err}");
    let none = pool
        .query_opt(&format!("SELECT id FROM {table} WHERE id = $1"), &[&9i64])
        .await
        .unwrap();
    assert!(none.is_none());
    let err = pool
        .query_opt(&format!("SELECT id FROM {table}"), &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most one row"), "{err}");
    let err = pool
        .execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err}");
    pool.execute(&format!("DROP TABLE {table}"), &[])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checked_out_users_are_not_starved_by_a_flood_of_pipelined_queries() {
    let (pool, _app) = pool_of(2, "pipe_fair");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let pool = pool.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    pool.query_one("SELECT 1", &[]).await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..20 {
        let mut conn = within(10, "an acquire during the flood", pool.acquire())
            .await
            .unwrap();
        let tx_pid: i32 = conn
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert!(tx_pid > 0);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for f in flood {
        total += within(30, "the flood to stop", f).await.unwrap();
    }
    assert!(total > 0);
    settled(&pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_caller_leaves_the_pool_working() {
    let (pool, _app) = pool_of(1, "pipe_drop");
    for _ in 0..5 {
        let slow = tokio::time::timeout(
            Duration::from_millis(20),
            pool.query("SELECT pg_sleep(0.2)", &[]),
        )
        .await;
        assert!(slow.is_err(), "the caller gave up");
    }
    // The abandoned sleeps still run on the server (they were sent), then the queue drains.
    let row = within(
        10,
        "a query after dropped callers",
        pool.query_one("SELECT 7", &[]),
    )
    .await
    .unwrap();
    assert_eq!(row.get::<_, i32>(0).unwrap(), 7);
    let s = settled(&pool).await;
    assert_eq!((s.size, s.idle), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_fails_its_batch_clearly_and_the_queued_queries_succeed() {
    let (pool, app) = pool_of(1, "pipe_kill");
    let pid: i32 = pool
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    let mut admin = connect().await;
    // A batch in flight sleeps; the backend is terminated under it.
    let victim = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.query("SELECT pg_sleep(30)", &[]).await })
    };
    within(10, "the sleep to start", async {
        loop {
            let active: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(30)%'",
                    &[&pid],
                )
                .await
                .unwrap()
                .get(0)
                .unwrap();
            if active > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // These queue behind the batch in flight (the pool has one connection).
    let queued: Vec<_> = (0..8i32)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.query_one("SELECT $1::int4", &[&i]).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let err = within(20, "a query on a terminated backend", victim)
        .await
        .unwrap()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        err.code() == Some(&SqlState::ADMIN_SHUTDOWN) || text.contains("closed"),
        "{text}"
    );
    for (i, q) in queued.into_iter().enumerate() {
        let row = within(20, "a queued query after the kill", q)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("queued query {i}: {e}"));
        assert_eq!(row.get::<_, i32>(0).unwrap(), i as i32);
    }
    assert!(pool.metrics().broken_discards >= 1);
    let (pids, _) = crate::pool::backends(&app).await;
    assert!(!pids.contains(&pid), "{pids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_count_for_rotation() {
    let (b, _app) = builder("pipe_rotate");
    let pool = b.max_size(2).max_queries(25).build().unwrap();
    let tasks: Vec<_> = (0..16i64)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for k in 0..20i64 {
                    let v: i64 = pool
                        .query_one("SELECT $1::int8", &[&(t * 100 + k)])
                        .await
                        .unwrap()
                        .get(0)
                        .unwrap();
                    assert_eq!(v, t * 100 + k);
                }
            })
        })
        .collect();
    for t in tasks {
        within(30, "pipelined queries across rotations", t)
            .await
            .unwrap();
    }
    assert!(pool.metrics().rotations >= 4, "{:?}", pool.metrics());
}

#[tokio::test]
async fn a_closed_pool_refuses_pipelined_queries() {
    let (pool, _app) = pool_of(1, "pipe_closed");
    pool.query_one("SELECT 1", &[]).await.unwrap();
    pool.close();
    let err = pool.query_one("SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
}
