//! Dropped futures: a query abandoned at any point must never leave its replies for the next.

use std::time::Duration;

use hyperdjango_pgwire::{Connection, TransactionStatus};

use crate::common::*;

/// Starts one of several kinds of command and abandons it at a random point.
async fn abandon_something(conn: &mut Connection, rng: &mut Rng, i: u64) {
    let polls = 1 + rng.below(6);
    let marker = i as i64;
    match rng.below(7) {
        0 => {
            let _ = poll_then_drop(
                conn.query(
                    "SELECT $1::int8, g FROM generate_series(1, 2000) g",
                    &[&marker],
                ),
                polls,
            )
            .await;
        }
        1 => {
            let _ = poll_then_drop(
                conn.execute("INSERT INTO torture VALUES ($1)", &[&marker]),
                polls,
            )
            .await;
        }
        2 => {
            let _ = poll_then_drop(
                conn.simple_query("SELECT 1; SELECT 2; SELECT g FROM generate_series(1, 500) g"),
                polls,
            )
            .await;
        }
        3 => {
            let _ = poll_then_drop(conn.prepare("SELECT $1::int8 + 1"), polls).await;
        }
        4 => {
            // An error in flight.
            let _ = poll_then_drop(conn.query("SELECT 1/0", &[]), polls).await;
        }
        5 => {
            // A wall-clock drop point instead of a poll count.
            let micros = rng.below(3000);
            let _ = tokio::time::timeout(
                Duration::from_micros(micros),
                conn.query("SELECT $1::int8, pg_sleep(0.001)", &[&marker]),
            )
            .await;
        }
        _ => {
            // A COPY FROM STDIN abandoned after it was sent.
            let _ = poll_then_drop(conn.execute("COPY torture FROM STDIN", &[]), polls).await;
        }
    }
}

/// Runs a query whose answer is known and checks it exactly.
async fn verify(conn: &mut Connection, marker: i64) {
    let rows = conn
        .query(
            "SELECT $1::int8 + g FROM generate_series(1, 3) g",
            &[&marker],
        )
        .await
        .unwrap_or_else(|e| panic!("verification query after drop {marker} failed: {e}"));
    let got: Vec<i64> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(
        got,
        vec![marker + 1, marker + 2, marker + 3],
        "stale rows after drop {marker}"
    );
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

#[tokio::test]
async fn dropped_futures_at_random_points_never_leak_results() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE torture (id int8)")
        .await
        .unwrap();
    let seed = 0x5EED_0000_0000_0001u64 ^ u64::from(std::process::id());
    let mut rng = Rng(seed);
    for i in 0..400u64 {
        abandon_something(&mut conn, &mut rng, i).await;
        // Sometimes abandon twice in a row before checking.
        if rng.below(4) == 0 {
            abandon_something(&mut conn, &mut rng, i + 1_000_000).await;
        }
        verify(&mut conn, (i as i64) * 1000).await;
    }
    assert!(!conn.is_closed(), "seed {seed:#x}");
    // No abandoned Parse or prepare left a statement behind on the server. The count runs
    // twice: the first run carries any pending Closes.
    let sql = "SELECT count(*) FROM pg_prepared_statements";
    conn.query_one(sql, &[]).await.unwrap();
    let on_server: i64 = conn.query_one(sql, &[]).await.unwrap().get(0).unwrap();
    assert_eq!(on_server, conn.cached_statements() as i64, "seed {seed:#x}");
}

#[tokio::test]
async fn dropped_prepared_statement_queries_stay_in_sync() {
    let mut conn = connect().await;
    let stmt = conn
        .prepare("SELECT $1::int8, g FROM generate_series(1, 1000) g")
        .await
        .unwrap();
    let mut rng = Rng(42);
    for i in 0..200i64 {
        let polls = 1 + rng.below(5);
        let _ = poll_then_drop(conn.query(&stmt, &[&i]), polls).await;
        let rows = conn.query(&stmt, &[&(i + 10_000)]).await.unwrap();
        assert_eq!(rows.len(), 1000);
        assert!(
            rows.iter()
                .all(|r| r.get::<_, i64>(0).unwrap() == i + 10_000)
        );
    }
}

#[tokio::test]
async fn a_write_interrupted_halfway_is_finished_before_the_next_command() {
    let mut conn = connect().await;
    // 16 MiB does not fit in the socket buffer, so the first poll leaves most of it unwritten.
    let big = "y".repeat(16 << 20);
    let _ = poll_then_drop(conn.query("SELECT length($1::text)", &[&big]), 1).await;
    let n: i32 = conn
        .query_one("SELECT length($1::text)", &[&"abc"])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn an_abandoned_transaction_block_is_visible_in_the_status() {
    let mut conn = connect().await;
    conn.batch_execute("BEGIN").await.unwrap();
    let _ = poll_then_drop(conn.query("SELECT pg_sleep(0.05)", &[]), 1).await;
    conn.execute("SELECT 1", &[]).await.unwrap();
    // The session is still inside the BEGIN: the pool relies on this status to roll back.
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    conn.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}
