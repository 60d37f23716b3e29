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

#[tokio::test]
async fn query_each_hands_every_row_over_in_order() {
    let mut conn = connect().await;
    for _ in 0..2 {
        // The second run is a statement-cache hit (Bind only): the same rows.
        let mut seen = Vec::new();
        let n = conn
            .query_each(
                "SELECT g, g::text FROM generate_series(1, $1) g",
                &[&50_000i32],
                |row| {
                    let g: i32 = row.get(0)?;
                    assert_eq!(row.get::<_, &str>(1)?, g.to_string());
                    seen.push(g);
                    Ok::<_, hyperdjango_pgwire::Error>(())
                },
            )
            .await
            .unwrap();
        assert_eq!(n, 50_000);
        assert!(seen.iter().copied().eq(1..=50_000));
    }
}

#[tokio::test]
async fn query_each_stops_at_the_functions_error_and_the_connection_survives() {
    #[derive(Debug)]
    enum Mine {
        Stop(i32),
        Driver(hyperdjango_pgwire::Error),
    }
    impl From<hyperdjango_pgwire::Error> for Mine {
        fn from(e: hyperdjango_pgwire::Error) -> Mine {
            Mine::Driver(e)
        }
    }
    let mut conn = connect().await;
    let mut calls = 0;
    let err = conn
        .query_each("SELECT g FROM generate_series(1, 10000) g", &[], |row| {
            calls += 1;
            let g: i32 = row.get(0)?;
            if g == 7 {
                return Err(Mine::Stop(g));
            }
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Mine::Stop(7)), "{err:?}");
    assert_eq!(calls, 7, "no row is handed over after the error");
    // A server error is the driver's error, and no row of the failed command is lost track of.
    let err = conn
        .query_each(
            "SELECT 1 / (5 - g) FROM generate_series(1, 10) g",
            &[],
            |_| Ok::<_, Mine>(()),
        )
        .await
        .unwrap_err();
    match err {
        Mine::Driver(e) => assert_eq!(e.code(), Some(&SqlState::DIVISION_BY_ZERO)),
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn query_each_waits_for_types_defined_in_the_database() {
    let mut conn = connect().await;
    own_schema(&mut conn, "each_enum").await;
    conn.batch_execute(
        "CREATE TYPE feeling AS ENUM ('low', 'fine', 'high'); \
         CREATE TABLE moods (id int, f feeling); \
         INSERT INTO moods SELECT g, (ARRAY['low','fine','high']::feeling[])[1 + g % 3] \
         FROM generate_series(1, 300) g",
    )
    .await
    .unwrap();
    // The enum's OID is unknown to this connection when the rows arrive: they are handed
    // over after the lookup, typed, in order.
    let mut seen = Vec::new();
    conn.query_each("SELECT id, f FROM moods ORDER BY id", &[], |row| {
        let ty = row.columns()[1].type_();
        assert_eq!(ty.name(), Some("feeling"));
        seen.push((row.get::<_, i32>(0)?, row.get::<_, String>(1)?));
        Ok::<_, hyperdjango_pgwire::Error>(())
    })
    .await
    .unwrap();
    assert_eq!(seen.len(), 300);
    assert_eq!(seen[0], (1, "fine".to_string()));
    assert_eq!(seen[1], (2, "high".to_string()));
    assert!(seen.windows(2).all(|w| w[0].0 + 1 == w[1].0));
}
