//! Queries: simple and extended protocol, command tags, prepared statements, row shapes.

use hyperdjango_pgwire::{Error, SimpleQueryMessage, TransactionStatus, Type};

use crate::common::*;

#[tokio::test]
async fn simple_query_runs_several_statements() {
    let mut conn = connect().await;
    let msgs = conn
        .simple_query("CREATE TEMP TABLE s (a int, b text); INSERT INTO s VALUES (1, 'x'), (2, NULL); SELECT a, b FROM s ORDER BY a")
        .await
        .unwrap();
    let mut rows = Vec::new();
    let mut completes = Vec::new();
    for m in &msgs {
        match m {
            SimpleQueryMessage::Row(r) => rows.push((
                r.get(0).unwrap().map(str::to_owned),
                r.get("b").unwrap().map(str::to_owned),
            )),
            SimpleQueryMessage::CommandComplete(n) => completes.push(*n),
            _ => {}
        }
    }
    assert_eq!(
        rows,
        vec![
            (Some("1".into()), Some("x".into())),
            (Some("2".into()), None)
        ]
    );
    assert_eq!(completes, vec![0, 2, 2]);
}

#[tokio::test]
async fn simple_query_error_stops_the_batch_and_reports_it() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE s2 (a int)")
        .await
        .unwrap();
    let err = conn
        .batch_execute(
            "INSERT INTO s2 VALUES (1); SELECT * FROM missing_table_hd; INSERT INTO s2 VALUES (2)",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42P01"));
    // The whole string ran as one implicit transaction: the first INSERT was rolled back.
    let n: i64 = conn
        .query_one("SELECT count(*) FROM s2", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn empty_queries() {
    let mut conn = connect().await;
    assert!(conn.simple_query("").await.unwrap().is_empty());
    assert_eq!(conn.execute("", &[]).await.unwrap(), 0);
    assert!(conn.query(";", &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn command_tags_give_rows_affected() {
    let mut conn = connect().await;
    assert_eq!(
        conn.execute("CREATE TEMP TABLE c (id int8, v text)", &[])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        conn.execute(
            "INSERT INTO c SELECT g, 'v' FROM generate_series(1, 25) g",
            &[]
        )
        .await
        .unwrap(),
        25
    );
    assert_eq!(
        conn.execute("UPDATE c SET v = $1 WHERE id <= $2", &[&"w", &10i64])
            .await
            .unwrap(),
        10
    );
    assert_eq!(
        conn.execute("DELETE FROM c WHERE v = $1", &[&"v"])
            .await
            .unwrap(),
        15
    );
    assert_eq!(conn.execute("SELECT * FROM c", &[]).await.unwrap(), 10);
}

#[tokio::test]
async fn binary_parameters_and_results() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT $1::int4 + 1 AS a, $2::int8 * 2 AS b, $3::text || '!' AS c, $4::float8 / 2 AS d, NOT $5::bool AS e, $6::bytea AS f",
            &[&41i32, &21i64, &"hi", &3.0f64, &false, &vec![0u8, 255]],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>("a").unwrap(), 42);
    assert_eq!(row.get::<_, i64>("b").unwrap(), 42);
    assert_eq!(row.get::<_, &str>("c").unwrap(), "hi!");
    assert_eq!(row.get::<_, f64>("d").unwrap(), 1.5);
    assert!(row.get::<_, bool>("e").unwrap());
    assert_eq!(row.get::<_, &[u8]>("f").unwrap(), &[0, 255]);
    assert_eq!(row.columns()[0].type_oid(), Type::INT4.oid());
    assert_eq!(row.columns()[0].format(), 1, "results arrive in binary");
}

#[tokio::test]
async fn nulls_both_ways() {
    let mut conn = connect().await;
    let none: Option<i32> = None;
    let row = conn
        .query_one("SELECT $1::int4 AS a, $2::text AS b", &[&none, &Some("x")])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<i32>>("a").unwrap(), None);
    assert_eq!(row.get::<_, Option<&str>>("b").unwrap(), Some("x"));
    // An untyped NULL parameter lets the server infer its type from the context (int4 here).
    let row = conn.query_one("SELECT $1 = 1", &[&none]).await.unwrap();
    assert_eq!(row.get::<_, Option<bool>>(0).unwrap(), None);
}

#[tokio::test]
async fn query_one_and_query_opt_check_row_counts() {
    let mut conn = connect().await;
    let err = conn
        .query_one("SELECT 1 WHERE false", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RowCount { got: 0, .. }), "{err:?}");
    let err = conn
        .query_one("SELECT generate_series(1, 3)", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RowCount { got: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("3 rows"), "{err}");
    assert!(
        conn.query_opt("SELECT 1 WHERE false", &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(conn.query_opt("SELECT 1", &[]).await.unwrap().is_some());
    assert!(
        conn.query_opt("SELECT generate_series(1, 2)", &[])
            .await
            .is_err()
    );
    // Still in sync afterwards.
    assert_eq!(
        conn.query_one("SELECT 7", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        7
    );
}

#[tokio::test]
async fn prepared_statements_are_reused_and_closed_when_dropped() {
    let mut conn = connect().await;
    let stmt = conn.prepare("SELECT $1::int8 * 2, $2::text").await.unwrap();
    assert_eq!(stmt.params(), &[Type::INT8, Type::TEXT]);
    assert_eq!(stmt.columns().len(), 2);
    for i in 0..5i64 {
        let row = conn.query_one(&stmt, &[&i, &"x"]).await.unwrap();
        assert_eq!(row.get::<_, i64>(0).unwrap(), i * 2);
    }
    // The server ran the one statement five times (PostgreSQL 14+ counts plans per statement).
    let executions: i64 = conn
        .query_one(
            "SELECT (generic_plans + custom_plans)::int8 FROM pg_prepared_statements WHERE name = $1",
            &[&stmt.name()],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(executions, 5);
    let before: i64 = conn
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = $1",
            &[&stmt.name()],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(before, 1);
    let name = stmt.name().to_owned();
    drop(stmt);
    // The Close rides on the next command, which then no longer sees the statement.
    let after: i64 = conn
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(after, 0);
}

#[tokio::test]
async fn prepared_statement_for_a_command_without_rows() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE p (id int4)")
        .await
        .unwrap();
    let stmt = conn.prepare("INSERT INTO p VALUES ($1)").await.unwrap();
    assert!(stmt.columns().is_empty());
    for i in 0..3i32 {
        assert_eq!(conn.execute(&stmt, &[&i]).await.unwrap(), 1);
    }
    let typed = conn
        .prepare_typed("SELECT $1 + 1", &[Type::INT8])
        .await
        .unwrap();
    assert_eq!(typed.params(), &[Type::INT8]);
    assert_eq!(
        conn.query_one(&typed, &[&1i64])
            .await
            .unwrap()
            .get::<_, i64>(0)
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn statement_from_another_connection_is_refused() {
    let mut a = connect().await;
    let mut b = connect().await;
    let stmt = a.prepare("SELECT 1").await.unwrap();
    let err = b.query(&stmt, &[]).await.unwrap_err().to_string();
    assert!(err.contains("different connection"), "{err}");
    assert_eq!(b.execute("SELECT 1", &[]).await.unwrap(), 1);
}

#[tokio::test]
async fn prepare_error_is_reported_and_connection_survives() {
    let mut conn = connect().await;
    let err = conn.prepare("SELEC 1").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42601"));
    assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);
}

#[tokio::test]
async fn transactions_track_status() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE tx (id int)")
        .await
        .unwrap();
    conn.batch_execute("BEGIN").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    conn.execute("INSERT INTO tx VALUES (1)", &[])
        .await
        .unwrap();
    conn.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    let n: i64 = conn
        .query_one("SELECT count(*) FROM tx", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn copy_outside_the_copy_api_is_refused_and_connection_survives() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE cp (id int)")
        .await
        .unwrap();
    for sql in ["COPY cp FROM STDIN", "COPY cp TO STDOUT"] {
        let err = within(10, sql, conn.execute(sql, &[]))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("COPY"), "{err}");
        let err = within(10, sql, conn.simple_query(sql))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("COPY"), "{err}");
        assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn notifications_are_queued() {
    let mut listener = connect().await;
    let mut sender = connect().await;
    let channel = unique("chan");
    listener
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await
        .unwrap();
    sender
        .execute("SELECT pg_notify($1, $2)", &[&channel, &"payload 1"])
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..50 {
        listener.execute("SELECT 1", &[]).await.unwrap();
        got.extend(listener.take_notifications());
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].channel, channel);
    assert_eq!(got[0].payload, "payload 1");
    assert_eq!(got[0].process_id, sender.process_id());
}

#[tokio::test]
async fn large_result_spanning_many_reads() {
    let mut conn = connect().await;
    let rows = conn
        .query(
            "SELECT g, repeat('x', g % 100) FROM generate_series(1, 50000) g",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 50000);
    for (i, r) in rows.iter().enumerate() {
        let g: i32 = r.get(0).unwrap();
        assert_eq!(g as usize, i + 1);
        assert_eq!(r.get::<_, &str>(1).unwrap().len(), (i + 1) % 100);
    }
}
