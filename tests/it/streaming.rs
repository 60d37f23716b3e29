//! Row streams and portals: complete results, errors mid-stream, early drops.

use hyperdjango_pgwire::{SqlState, TransactionStatus};

use crate::common::*;

#[tokio::test]
async fn a_stream_yields_every_row_in_order() {
    let mut conn = connect().await;
    let mut rows = conn
        .query_stream(
            "SELECT g, g::text FROM generate_series(1, $1) g",
            &[&200_000i32],
        )
        .await
        .unwrap();
    let mut expected = 1i32;
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        assert_eq!(row.get::<_, i32>(0).unwrap(), expected);
        assert_eq!(row.get::<_, &str>(1).unwrap(), expected.to_string());
        expected += 1;
    }
    assert_eq!(expected, 200_001);
    assert_eq!(rows.rows_affected(), Some(200_000));
    assert!(
        rows.next().await.is_none(),
        "a finished stream stays finished"
    );
    drop(rows);
    assert_eq!(
        conn.query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn an_error_mid_stream_ends_it_and_the_connection_survives() {
    let mut conn = connect().await;
    for portal in [false, true] {
        let sql = "SELECT 1 / (500 - g) FROM generate_series(1, 1000) g";
        let mut rows = if portal {
            conn.query_portal(sql, &[], 64).await.unwrap()
        } else {
            conn.query_stream(sql, &[]).await.unwrap()
        };
        let mut ok = 0;
        let mut err = None;
        while let Some(row) = rows.next().await {
            match row {
                Ok(_) => ok += 1,
                Err(e) => err = Some(e),
            }
        }
        assert!(ok < 500, "portal={portal}: {ok} rows before the error");
        assert_eq!(err.unwrap().code(), Some(&SqlState::DIVISION_BY_ZERO));
        drop(rows);
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
        assert_eq!(
            conn.query_one("SELECT 2", &[])
                .await
                .unwrap()
                .get::<_, i32>(0)
                .unwrap(),
            2
        );
    }
}

#[tokio::test]
async fn a_portal_fetches_in_batches_and_returns_everything() {
    let mut conn = connect().await;
    let mut rows = conn
        .query_portal("SELECT g FROM generate_series(1, 25000) g", &[], 1000)
        .await
        .unwrap();
    let mut sum = 0i64;
    let mut n = 0;
    while let Some(row) = rows.next().await {
        sum += i64::from(row.unwrap().get::<_, i32>(0).unwrap());
        n += 1;
    }
    assert_eq!(n, 25_000);
    assert_eq!(sum, (1..=25_000i64).sum::<i64>());
    assert_eq!(rows.rows_affected(), Some(25_000));
    drop(rows);
    assert!(!conn.is_busy());
    // A portal inside a transaction block leaves the block open.
    conn.batch_execute("BEGIN").await.unwrap();
    let mut rows = conn
        .query_portal("SELECT g FROM generate_series(1, 10) g", &[], 3)
        .await
        .unwrap();
    let mut count = 0;
    while let Some(row) = rows.next().await {
        row.unwrap();
        count += 1;
    }
    assert_eq!(count, 10);
    drop(rows);
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    conn.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test]
async fn dropping_streams_early_leaves_the_connection_clean() {
    let mut conn = connect().await;
    for round in 0..20i64 {
        // In the select list generate_series streams (in FROM it would materialize first).
        let sql = "SELECT $1::int8, generate_series(1, 10000000)";
        {
            let mut rows = if round % 2 == 0 {
                conn.query_portal(sql, &[&round], 500).await.unwrap()
            } else {
                conn.query_stream(sql, &[&round]).await.unwrap()
            };
            for _ in 0..(round as usize * 37 % 1200) {
                let row = rows.next().await.unwrap().unwrap();
                assert_eq!(row.get::<_, i64>(0).unwrap(), round);
            }
        }
        assert!(conn.is_busy());
        // Ten million rows are never read: the portal is closed, or the query cancelled.
        let v: i64 = within(
            15,
            "the command after an abandoned stream",
            conn.query_one("SELECT $1::int8", &[&(round * 3)]),
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
        assert_eq!(v, round * 3);
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    }
}

#[tokio::test]
async fn streams_use_the_statement_cache() {
    let mut conn = connect().await;
    for _ in 0..3 {
        let mut rows = conn
            .query_stream("SELECT g FROM generate_series(1, 5) g", &[])
            .await
            .unwrap();
        let mut n = 0;
        while let Some(r) = rows.next().await {
            r.unwrap();
            n += 1;
        }
        assert_eq!(n, 5);
    }
    assert_eq!(conn.cached_statements(), 1);
}
