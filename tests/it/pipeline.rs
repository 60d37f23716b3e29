//! Pipelines (per-query and atomic) and execute_many.

use std::future::Future;
use std::task::Poll;

use hyperdjango_pgwire::{Connection, Error, SqlState, SyncMode, ToSql, TransactionStatus};

use crate::common::*;

async fn count(conn: &mut Connection, table: &str) -> i64 {
    conn.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

#[tokio::test]
async fn per_query_pipeline_returns_each_result_in_order() {
    let mut conn = connect().await;
    let mut p = conn.pipeline(SyncMode::PerQuery);
    for i in 0..100i32 {
        p.query("SELECT $1::int4 * 2", &[&i]).unwrap();
    }
    let results = p.run().await.unwrap();
    assert_eq!(results.len(), 100);
    for (i, r) in results.into_iter().enumerate() {
        let r = r.unwrap();
        assert_eq!(r.rows().len(), 1);
        assert_eq!(r.rows()[0].get::<_, i32>(0).unwrap(), 2 * i as i32);
    }
    // One statement was prepared for all hundred.
    assert_eq!(conn.cached_statements(), 1);
}

#[tokio::test]
async fn per_query_errors_are_isolated() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE iso (id int4 PRIMARY KEY)")
        .await
        .unwrap();
    let mut p = conn.pipeline(SyncMode::PerQuery);
    p.execute("INSERT INTO iso VALUES (1)", &[]).unwrap();
    p.execute("INSERT INTO iso VALUES (1)", &[]).unwrap();
    p.query("SELECT 1/0", &[]).unwrap();
    p.execute("INSERT INTO iso VALUES (2)", &[]).unwrap();
    let results = p.run().await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().rows_affected(), 1);
    assert_eq!(
        results[1].as_ref().unwrap_err().code(),
        Some(&SqlState::UNIQUE_VIOLATION)
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().code(),
        Some(&SqlState::DIVISION_BY_ZERO)
    );
    assert_eq!(results[3].as_ref().unwrap().rows_affected(), 1);
    assert_eq!(count(&mut conn, "iso").await, 2);
}

#[tokio::test]
async fn atomic_pipeline_commits_all_or_nothing() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE atom (id int4 PRIMARY KEY)")
        .await
        .unwrap();
    let mut p = conn.pipeline(SyncMode::Atomic);
    for i in 0..3i32 {
        p.execute("INSERT INTO atom VALUES ($1)", &[&i]).unwrap();
    }
    p.execute("INSERT INTO atom VALUES ($1)", &[&1i32]).unwrap();
    p.execute("INSERT INTO atom VALUES ($1)", &[&99i32])
        .unwrap();
    let results = p.run().await.unwrap();
    assert!(results[..3].iter().all(|r| r.is_ok()));
    assert_eq!(
        results[3].as_ref().unwrap_err().code(),
        Some(&SqlState::UNIQUE_VIOLATION)
    );
    assert!(
        matches!(results[4], Err(Error::Skipped(_))),
        "{:?}",
        results[4]
    );
    assert_eq!(
        count(&mut conn, "atom").await,
        0,
        "the failed batch committed nothing"
    );
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);

    let mut p = conn.pipeline(SyncMode::Atomic);
    for i in 0..3i32 {
        p.execute("INSERT INTO atom VALUES ($1)", &[&i]).unwrap();
    }
    assert!(p.run().await.unwrap().iter().all(|r| r.is_ok()));
    assert_eq!(count(&mut conn, "atom").await, 3);
}

#[tokio::test]
async fn large_pipelines_do_not_deadlock() {
    let mut conn = connect().await;
    // Per-query: 3,000 commands of 200 rows each, far more than the socket buffers hold.
    let mut p = conn.pipeline(SyncMode::PerQuery);
    for i in 0..3000i32 {
        p.query("SELECT $1::int4, g FROM generate_series(1, 200) g", &[&i])
            .unwrap();
    }
    let results = p.run().await.unwrap();
    for (i, r) in results.iter().enumerate() {
        let rows = r.as_ref().unwrap().rows();
        assert_eq!(rows.len(), 200);
        assert_eq!(rows[199].get::<_, i32>(0).unwrap(), i as i32);
    }
    // Atomic: several windows, with Flushes between them.
    let mut p = conn.pipeline(SyncMode::Atomic);
    for i in 0..3000i32 {
        p.query("SELECT $1::int4, repeat('x', 100)", &[&i]).unwrap();
    }
    let results = p.run().await.unwrap();
    assert_eq!(results.len(), 3000);
    assert_eq!(
        results[2999].as_ref().unwrap().rows()[0]
            .get::<_, i32>(0)
            .unwrap(),
        2999
    );
    assert_eq!(
        conn.query_one("SELECT 5", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        5
    );
}

#[tokio::test]
async fn execute_many_inserts_every_set() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE many (id int4 PRIMARY KEY, name text, score float8)")
        .await
        .unwrap();
    let rows: Vec<(i32, String, Option<f64>)> = (0..10_000)
        .map(|i| {
            (
                i,
                format!("name {i}"),
                (i % 3 != 0).then_some(i as f64 / 2.0),
            )
        })
        .collect();
    let n = conn
        .execute_many(
            "INSERT INTO many VALUES ($1, $2, $3)",
            rows.iter()
                .map(|(id, name, score)| [id as &(dyn ToSql + Sync), name, score]),
        )
        .await
        .unwrap();
    assert_eq!(n, 10_000);
    let row = conn
        .query_one(
            "SELECT count(*), count(score), sum(id)::int8 FROM many",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0).unwrap(), 10_000);
    assert_eq!(row.get::<_, i64>(1).unwrap(), 6_666);
    assert_eq!(row.get::<_, i64>(2).unwrap(), (0..10_000i64).sum::<i64>());
    let empty: Vec<[&(dyn ToSql + Sync); 1]> = Vec::new();
    assert_eq!(
        conn.execute_many("INSERT INTO many VALUES ($1)", empty)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn execute_many_failure_names_the_set_and_commits_nothing() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE fail_many (id int4 PRIMARY KEY)")
        .await
        .unwrap();
    let ids: Vec<i32> = (0..5000).map(|i| if i == 4321 { 7 } else { i }).collect();
    let err = conn
        .execute_many(
            "INSERT INTO fail_many VALUES ($1)",
            ids.iter().map(|id| [id as &(dyn ToSql + Sync)]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InBatch { index: 4321, .. }), "{err:?}");
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION));
    assert!(err.to_string().contains("parameter set 4321"), "{err}");
    assert_eq!(count(&mut conn, "fail_many").await, 0);

    // A set whose type does not fit the statement stops the batch before it is sent.
    let good = 1i32;
    let bad = "text";
    let sets: Vec<[&(dyn ToSql + Sync); 1]> = vec![[&good], [&bad]];
    let err = conn
        .execute_many("INSERT INTO fail_many VALUES ($1)", sets)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InBatch { index: 1, .. }), "{err:?}");
    assert_eq!(count(&mut conn, "fail_many").await, 0);

    // The same after several windows already went to the server: it is made to roll back.
    let ids: Vec<i32> = (0..6000).collect();
    let mut sets: Vec<[&(dyn ToSql + Sync); 1]> =
        ids.iter().map(|id| [id as &(dyn ToSql + Sync)]).collect();
    sets[5000] = [&bad];
    let err = conn
        .execute_many("INSERT INTO fail_many VALUES ($1)", sets)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InBatch { index: 5000, .. }), "{err:?}");
    assert!(
        matches!(&err, Error::InBatch { source, .. } if matches!(**source, Error::Param { .. })),
        "{err:?}"
    );
    assert_eq!(count(&mut conn, "fail_many").await, 0);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

#[tokio::test]
async fn an_abandoned_atomic_batch_closes_the_connection_and_commits_nothing() {
    let mut conn = connect().await;
    let table = unique("abandoned");
    conn.batch_execute(&format!("CREATE TABLE {table} (id int4)"))
        .await
        .unwrap();
    let ids: Vec<i32> = (0..200_000).collect();
    {
        let sql = format!("INSERT INTO {table} VALUES ($1)");
        let fut = conn.execute_many(&sql, ids.iter().map(|id| [id as &(dyn ToSql + Sync)]));
        let mut fut = std::pin::pin!(fut);
        // Poll until some windows are out, then drop.
        let mut polls = 0;
        std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
            Poll::Ready(r) => panic!("finished too early: {r:?}"),
            Poll::Pending => {
                polls += 1;
                if polls >= 20 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        })
        .await;
    }
    let err = conn.execute("SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
    assert!(err.to_string().contains("rolls it back"), "{err}");
    let mut other = connect().await;
    assert_eq!(count(&mut other, &table).await, 0);
    other
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_abandoned_per_query_pipeline_leaves_the_connection_in_sync() {
    let mut conn = connect().await;
    for round in 0..50u64 {
        {
            let mut p = conn.pipeline(SyncMode::PerQuery);
            for i in 0..50i64 {
                p.query("SELECT $1::int8, g FROM generate_series(1, 50) g", &[&i])
                    .unwrap();
            }
            poll_then_drop(p.run(), 1 + round % 5).await;
        }
        let marker = round as i64 * 7;
        let v: i64 = conn
            .query_one("SELECT $1::int8", &[&marker])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(v, marker);
    }
}
