//! Server errors: every SQLSTATE kind the ORM classifies, produced for real; every field of
//! an ErrorResponse kept; notices; the connection's state after an error.

use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperdjango_pgwire::{
    Connection, DbError, Error, ErrorPosition, Severity, SqlState, TransactionStatus,
};

use crate::common::*;

/// The server's error, or a panic saying what came back instead.
fn db(e: &Error) -> &DbError {
    e.as_db_error()
        .unwrap_or_else(|| panic!("expected a server error, got {e:?}"))
}

/// Checks that the connection still answers a query.
async fn assert_usable(conn: &mut Connection) {
    let row = within(
        5,
        "a query after the error",
        conn.query_one("SELECT 41 + 1", &[]),
    )
    .await
    .expect("the connection should still work after the error");
    assert_eq!(row.get::<_, i32>(0).unwrap(), 42);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn unique_violation_has_schema_table_constraint_and_detail() {
    let mut conn = connect().await;
    let table = unique("hd_err_uniq");
    conn.batch_execute(&format!(
        "CREATE TABLE {table} (id int4 PRIMARY KEY, name text)"
    ))
    .await
    .unwrap();
    conn.execute(
        &format!("INSERT INTO {table} VALUES ($1, $2)"),
        &[&7i32, &"first"],
    )
    .await
    .unwrap();
    let err = conn
        .execute(
            &format!("INSERT INTO {table} VALUES ($1, $2)"),
            &[&7i32, &"second"],
        )
        .await
        .unwrap_err();
    let cleanup = conn.batch_execute(&format!("DROP TABLE {table}")).await;

    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err}");
    assert!(!err.code().unwrap().is_retryable());
    let e = db(&err);
    assert_eq!(e.code().name(), Some("unique_violation"));
    assert_eq!(e.schema(), Some("public"));
    assert_eq!(e.table(), Some(table.as_str()));
    let pkey = format!("{table}_pkey");
    assert_eq!(e.constraint(), Some(pkey.as_str()));
    assert_eq!(e.detail(), Some("Key (id)=(7) already exists."));
    assert!(
        e.message().contains(&pkey),
        "the message names the constraint: {}",
        e.message()
    );
    cleanup.unwrap();
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn unique_violation_in_a_temp_table_names_the_temp_schema() {
    let mut conn = connect().await;
    conn.batch_execute(
        "CREATE TEMP TABLE uv (code text CONSTRAINT uv_code_key UNIQUE); INSERT INTO uv VALUES ('abc')",
    )
    .await
    .unwrap();
    let err = conn
        .execute("INSERT INTO uv VALUES ($1)", &[&"abc"])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err}");
    let e = db(&err);
    let schema = e.schema().expect("schema field");
    assert!(schema.starts_with("pg_temp"), "schema {schema:?}");
    assert_eq!(e.table(), Some("uv"));
    assert_eq!(e.constraint(), Some("uv_code_key"));
    let detail = e.detail().expect("detail");
    assert!(detail.contains("(code)=(abc)"), "{detail}");
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn foreign_key_violation() {
    let mut conn = connect().await;
    conn.batch_execute(
        "CREATE TEMP TABLE fk_parent (id int8 PRIMARY KEY);
         CREATE TEMP TABLE fk_child (id int8 PRIMARY KEY,
             parent_id int8 CONSTRAINT fk_child_parent REFERENCES fk_parent (id));
         INSERT INTO fk_parent VALUES (1)",
    )
    .await
    .unwrap();
    conn.execute("INSERT INTO fk_child VALUES (1, $1)", &[&1i64])
        .await
        .unwrap();
    let err = conn
        .execute("INSERT INTO fk_child VALUES (2, $1)", &[&99i64])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION), "{err}");
    let e = db(&err);
    assert_eq!(e.code().name(), Some("foreign_key_violation"));
    assert_eq!(e.table(), Some("fk_child"));
    assert_eq!(e.constraint(), Some("fk_child_parent"));
    assert_eq!(
        e.detail(),
        Some("Key (parent_id)=(99) is not present in table \"fk_parent\".")
    );
    // The other direction: deleting a referenced row.
    let err = conn
        .execute("DELETE FROM fk_parent WHERE id = $1", &[&1i64])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION), "{err}");
    assert_eq!(db(&err).table(), Some("fk_child"));
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn not_null_violation_names_the_column() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE nn (id int4, name text NOT NULL)")
        .await
        .unwrap();
    let err = conn
        .execute(
            "INSERT INTO nn (id, name) VALUES ($1, $2)",
            &[&1i32, &None::<&str>],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::NOT_NULL_VIOLATION), "{err}");
    let e = db(&err);
    assert_eq!(e.code().name(), Some("not_null_violation"));
    assert_eq!(e.column(), Some("name"));
    assert_eq!(e.table(), Some("nn"));
    assert!(e.message().contains("\"name\""), "{}", e.message());
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn check_violation_names_the_constraint() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE ck (qty int4 CONSTRAINT qty_positive CHECK (qty > 0))")
        .await
        .unwrap();
    conn.execute("INSERT INTO ck VALUES ($1)", &[&1i32])
        .await
        .unwrap();
    let err = conn
        .execute("INSERT INTO ck VALUES ($1)", &[&-5i32])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::CHECK_VIOLATION), "{err}");
    let e = db(&err);
    assert_eq!(e.constraint(), Some("qty_positive"));
    assert_eq!(e.table(), Some("ck"));
    assert!(e.code().is_integrity_violation());
    assert!(e.message().contains("qty_positive"), "{}", e.message());
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn undefined_table_names_the_table_and_its_position() {
    let mut conn = connect().await;
    let name = unique("hd_no_such_table");
    let sql = format!("SELECT * FROM {name}");
    let err = conn.query(&sql, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");
    let e = db(&err);
    assert_eq!(e.message(), format!("relation \"{name}\" does not exist"));
    assert_eq!(e.position(), Some(&ErrorPosition::Original(15)));
    assert_usable(&mut conn).await;
    // Same through the simple query protocol.
    let err = conn.simple_query(&sql).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");
    assert_usable(&mut conn).await;
    // And through prepare.
    let err = conn.prepare(&sql).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn serialization_failure_on_a_real_write_conflict() {
    let mut setup = connect().await;
    let table = unique("hd_err_ser");
    setup
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int4 PRIMARY KEY, n int4); INSERT INTO {table} VALUES (1, 0)"
        ))
        .await
        .unwrap();
    let mut a = connect().await;
    let mut b = connect().await;
    for c in [&mut a, &mut b] {
        c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .await
            .unwrap();
        // Take the snapshot.
        let n: i32 = c
            .query_one(&format!("SELECT n FROM {table} WHERE id = 1"), &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 0);
    }
    a.execute(&format!("UPDATE {table} SET n = n + 1 WHERE id = 1"), &[])
        .await
        .unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    let err = within(
        10,
        "the conflicting update",
        b.execute(&format!("UPDATE {table} SET n = n + 10 WHERE id = 1"), &[]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::SERIALIZATION_FAILURE), "{err}");
    assert!(err.code().unwrap().is_retryable());
    assert_eq!(db(&err).code().name(), Some("serialization_failure"));
    assert_eq!(b.transaction_status(), TransactionStatus::Failed);
    b.batch_execute("ROLLBACK").await.unwrap();
    assert_usable(&mut b).await;

    let n: i32 = setup
        .query_one(&format!("SELECT n FROM {table} WHERE id = 1"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 1, "only the first update was applied");
    setup
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn deadlock_detected_for_exactly_one_of_two_sessions() {
    let mut setup = connect().await;
    let table = unique("hd_err_dead");
    setup
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int4 PRIMARY KEY, n int4); INSERT INTO {table} VALUES (1, 0), (2, 0)"
        ))
        .await
        .unwrap();
    let mut a = connect().await;
    let mut b = connect().await;
    for (c, id) in [(&mut a, 1i32), (&mut b, 2)] {
        c.batch_execute("SET deadlock_timeout = '100ms'; BEGIN")
            .await
            .unwrap();
        c.execute(
            &format!("UPDATE {table} SET n = n + 1 WHERE id = $1"),
            &[&id],
        )
        .await
        .unwrap();
    }
    let upd = format!("UPDATE {table} SET n = n + 1 WHERE id = $1");
    // Each now waits for the row the other holds.
    let (ra, rb) = within(20, "the deadlocked updates", async {
        tokio::join!(a.execute(&upd, &[&2i32]), b.execute(&upd, &[&1i32]))
    })
    .await;
    let (victim, survivor, victim_conn, survivor_conn) = match (ra, rb) {
        (Err(e), Ok(n)) => (e, n, &mut a, &mut b),
        (Ok(n), Err(e)) => (e, n, &mut b, &mut a),
        other => panic!("expected exactly one deadlock error, got {other:?}"),
    };
    assert_eq!(
        victim.code(),
        Some(&SqlState::DEADLOCK_DETECTED),
        "{victim}"
    );
    assert!(victim.code().unwrap().is_retryable());
    let e = db(&victim);
    assert_eq!(e.code().name(), Some("deadlock_detected"));
    assert!(
        e.detail().is_some_and(|d| d.contains("blocked by process")),
        "the detail describes the cycle: {:?}",
        e.detail()
    );
    assert_eq!(survivor, 1);
    assert_eq!(victim_conn.transaction_status(), TransactionStatus::Failed);
    victim_conn.batch_execute("ROLLBACK").await.unwrap();
    survivor_conn.batch_execute("COMMIT").await.unwrap();
    assert_usable(victim_conn).await;
    assert_usable(survivor_conn).await;
    let total: i64 = setup
        .query_one(&format!("SELECT sum(n) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(total, 2, "the survivor's two updates are committed");
    setup
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn query_canceled_by_statement_timeout() {
    let mut conn = connect().await;
    conn.batch_execute("SET statement_timeout = '50ms'")
        .await
        .unwrap();
    let err = within(5, "pg_sleep under statement_timeout", async {
        conn.query("SELECT pg_sleep(5)", &[]).await
    })
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    assert!(
        db(&err).message().contains("statement timeout"),
        "{}",
        db(&err).message()
    );
    assert!(!conn.is_closed());
    // The simple protocol, several statements in one string.
    let err = within(
        5,
        "simple-query pg_sleep under statement_timeout",
        conn.batch_execute("SET statement_timeout = '50ms'; SELECT pg_sleep(5)"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    conn.batch_execute("RESET statement_timeout").await.unwrap();
    assert_usable(&mut conn).await;
}

/// Waits (bounded) until `pid` is running `pg_sleep`, as seen from another connection.
async fn wait_until_sleeping(observer: &mut Connection, pid: i32) {
    within(10, "the backend to start pg_sleep", async {
        loop {
            let row = observer
                .query_opt(
                    "SELECT 1::int4 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND wait_event = 'PgSleep'",
                    &[&pid],
                )
                .await
                .unwrap();
            if row.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// Runs `sql` on `conn` while another task sends a CancelRequest once the server shows the
/// backend sleeping; returns the query's result.
async fn run_and_cancel(
    conn: &mut Connection,
    sql: &str,
    simple: bool,
) -> hyperdjango_pgwire::Result<()> {
    let mut observer = connect().await;
    let pid = conn.process_id();
    assert_ne!(pid, 0);
    let token = conn.cancel_token();
    let cancel = async move {
        wait_until_sleeping(&mut observer, pid).await;
        // The cancel request goes out from another task.
        tokio::spawn(async move { token.cancel().await })
            .await
            .unwrap()
    };
    let query = async {
        if simple {
            conn.simple_query(sql).await.map(drop)
        } else {
            conn.query(sql, &[]).await.map(drop)
        }
    };
    let (result, cancelled) = within(10, "the cancelled pg_sleep", async {
        tokio::join!(query, cancel)
    })
    .await;
    cancelled.expect("cancel request sent");
    result
}

#[tokio::test]
async fn query_canceled_by_cancel_token() {
    let mut conn = connect().await;
    let err = run_and_cancel(&mut conn, "SELECT pg_sleep(5)", false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    assert!(
        db(&err).message().contains("user request"),
        "{}",
        db(&err).message()
    );
    assert!(!conn.is_closed());
    assert_usable(&mut conn).await;

    // Again, inside a transaction block: the transaction fails but the session survives.
    conn.batch_execute("BEGIN").await.unwrap();
    let err = run_and_cancel(&mut conn, "SELECT pg_sleep(5)", true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    conn.batch_execute("ROLLBACK").await.unwrap();
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn syntax_error_keeps_every_field() {
    let mut conn = connect().await;
    // Multibyte characters before the error: the position counts characters, not bytes.
    let sql = "SELECT 'ééé😀' AS x, ) FROM pg_class";
    let want = sql.chars().position(|c| c == ')').unwrap() as u32 + 1;
    assert_ne!(want as usize, sql.find(')').unwrap() + 1);
    let err = conn.query(sql, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR), "{err}");
    let e = db(&err);
    assert_eq!(e.position(), Some(&ErrorPosition::Original(want)));
    assert_eq!(e.severity(), "ERROR");
    assert_eq!(e.parsed_severity(), Some(Severity::Error));
    assert_eq!(e.message(), "syntax error at or near \")\"");
    assert!(
        e.file()
            .is_some_and(|f| f.ends_with(".c") || f.ends_with(".y") || f.ends_with(".l")),
        "file {:?}",
        e.file()
    );
    assert!(e.line().is_some_and(|l| l > 0), "line {:?}", e.line());
    assert!(
        e.routine().is_some_and(|r| !r.is_empty()),
        "routine {:?}",
        e.routine()
    );
    assert_eq!(e.detail(), None);
    assert_eq!(e.where_(), None);
    assert!(e.other_fields().is_empty(), "{:?}", e.other_fields());
    // The simple protocol reports the same position.
    let err = conn.simple_query(sql).await.unwrap_err();
    assert_eq!(db(&err).position(), Some(&ErrorPosition::Original(want)));
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn errors_with_a_hint() {
    let mut conn = connect().await;
    let err = conn
        .query("SELECT hd_no_such_function(1::int4)", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_FUNCTION), "{err}");
    let e = db(&err);
    assert!(
        e.message().contains("hd_no_such_function(integer)"),
        "{}",
        e.message()
    );
    let hint = e.hint().expect("a hint");
    assert!(hint.contains("explicit type casts"), "{hint}");
    assert_eq!(e.position(), Some(&ErrorPosition::Original(8)));

    let err = conn
        .query("SELECT * FROM pg_class WHERE relname = 1", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_FUNCTION), "{err}");
    let e = db(&err);
    assert!(e.message().contains("name = integer"), "{}", e.message());
    assert!(e.hint().is_some_and(|h| h.contains("explicit type casts")));
    // The hint is part of the Display text.
    assert!(err.to_string().contains("\nHINT: "), "{err}");
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn where_and_internal_position_from_plpgsql() {
    let mut conn = connect().await;
    conn.batch_execute(
        "CREATE FUNCTION pg_temp.hd_divide(a int4, b int4) RETURNS int4 LANGUAGE plpgsql AS $$
         BEGIN
             RETURN a / b;
         END $$;
         CREATE FUNCTION pg_temp.hd_bad_column() RETURNS int8 LANGUAGE plpgsql AS $$
         DECLARE r int8;
         BEGIN
             SELECT hd_missing_col INTO r FROM pg_class;
             RETURN r;
         END $$",
    )
    .await
    .unwrap();
    let err = conn
        .query("SELECT pg_temp.hd_divide($1, $2)", &[&1i32, &0i32])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
    let e = db(&err);
    let where_ = e.where_().expect("a where field");
    assert!(
        where_.contains("PL/pgSQL function")
            && where_.contains("hd_divide(integer,integer) line 3"),
        "{where_}"
    );

    let err = conn
        .query("SELECT pg_temp.hd_bad_column()", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_COLUMN), "{err}");
    let e = db(&err);
    match e.position() {
        Some(ErrorPosition::Internal { position, query }) => {
            assert_eq!(query, "SELECT hd_missing_col        FROM pg_class");
            assert_eq!(*position, 8);
        }
        other => panic!("expected an internal position, got {other:?}"),
    }
    assert!(
        e.where_()
            .is_some_and(|w| w.contains("hd_bad_column() line 4")),
        "{:?}",
        e.where_()
    );
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn raise_exception_with_detail_hint_and_errcode() {
    let mut conn = connect().await;
    let err = conn
        .batch_execute(
            "DO $$ BEGIN
                 RAISE EXCEPTION 'custom failure %', 17
                     USING DETAIL = 'the detail text', HINT = 'the hint text', ERRCODE = '22012';
             END $$",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
    let e = db(&err);
    assert_eq!(e.message(), "custom failure 17");
    assert_eq!(e.detail(), Some("the detail text"));
    assert_eq!(e.hint(), Some("the hint text"));
    assert_eq!(e.parsed_severity(), Some(Severity::Error));
    assert!(
        e.where_()
            .is_some_and(|w| w.contains("PL/pgSQL function inline_code_block")),
        "{:?}",
        e.where_()
    );
    assert_eq!(
        err.to_string(),
        "ERROR 22012: custom failure 17\nDETAIL: the detail text\nHINT: the hint text"
    );

    // A code PostgreSQL does not define, through the extended protocol.
    conn.batch_execute(
        "CREATE FUNCTION pg_temp.hd_raise(msg text) RETURNS void LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = 'HD123', COLUMN = 'qty',
             CONSTRAINT = 'qty_rule', TABLE = 'orders', SCHEMA = 'shop', DATATYPE = 'int4'; END $$",
    )
    .await
    .unwrap();
    let err = conn
        .query("SELECT pg_temp.hd_raise($1)", &[&"no stock"])
        .await
        .unwrap_err();
    let code = err.code().expect("a server error");
    assert_eq!(code.code(), "HD123");
    assert_eq!(code, &SqlState::from_code("HD123").unwrap());
    assert_eq!(code.name(), None);
    assert_eq!(code.class(), "HD");
    let e = db(&err);
    assert_eq!(e.message(), "no stock");
    assert_eq!(
        (
            e.schema(),
            e.table(),
            e.column(),
            e.datatype(),
            e.constraint()
        ),
        (
            Some("shop"),
            Some("orders"),
            Some("qty"),
            Some("int4"),
            Some("qty_rule")
        )
    );
    // Plain RAISE EXCEPTION: raise_exception.
    let err = conn
        .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'plain'; END $$")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::RAISE_EXCEPTION), "{err}");
    assert_usable(&mut conn).await;
}

/// A connection whose notices are collected as "SEVERITY CODE: message".
fn collect_notices(conn: &mut Connection) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    conn.set_notice_handler(move |n: &DbError| {
        sink.lock().unwrap().push(format!(
            "{} {}: {}",
            n.severity(),
            n.code().code(),
            n.message()
        ));
    });
    seen
}

#[tokio::test]
async fn notices_reach_the_handler_in_order() {
    let mut conn = connect().await;
    let seen = collect_notices(&mut conn);
    conn.batch_execute(
        "DO $$ BEGIN
             RAISE NOTICE 'hello %', 42;
             RAISE WARNING 'careful: %', 'x';
             RAISE NOTICE 'bye';
         END $$",
    )
    .await
    .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "NOTICE 00000: hello 42",
            "WARNING 01000: careful: x",
            "NOTICE 00000: bye"
        ]
    );
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn notices_arrive_before_the_query_returns() {
    let mut conn = connect().await;
    conn.batch_execute(
        "CREATE FUNCTION pg_temp.hd_noisy(n int4) RETURNS int4 LANGUAGE plpgsql AS $$
         BEGIN RAISE NOTICE 'row %', n; RETURN n * 10; END $$",
    )
    .await
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::<(String, Option<Severity>)>::new()));
    let sink = seen.clone();
    conn.set_notice_handler(move |n: &DbError| {
        sink.lock()
            .unwrap()
            .push((n.message().to_owned(), n.parsed_severity()));
    });
    let rows = conn
        .query(
            "SELECT pg_temp.hd_noisy(g) FROM generate_series(1, 3) AS g",
            &[],
        )
        .await
        .unwrap();
    // No waiting: the notices were handled while the query's replies were read.
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            ("row 1".to_string(), Some(Severity::Notice)),
            ("row 2".to_string(), Some(Severity::Notice)),
            ("row 3".to_string(), Some(Severity::Notice)),
        ]
    );
    let values: Vec<i32> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(values, [10, 20, 30]);

    // A notice followed by an error in the same statement: both are delivered.
    seen.lock().unwrap().clear();
    let err = conn
        .batch_execute("DO $$ BEGIN RAISE WARNING 'about to fail'; PERFORM 1 / 0; END $$")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
    assert_eq!(
        *seen.lock().unwrap(),
        [("about to fail".to_string(), Some(Severity::Warning))]
    );
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn an_error_after_some_rows_discards_them() {
    let mut conn = connect().await;
    // Rows 1 and 2 are sent before row 3 divides by zero.
    let sql = "SELECT 10 / (3 - g) FROM generate_series(1, 5) AS g";
    let err = conn.query(sql, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
    let err = conn.query_one(sql, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
    let err = conn.simple_query(sql).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
    let stmt = conn.prepare(sql).await.unwrap();
    let err = conn.execute(&stmt, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
    // The next command gets its own rows, not leftovers.
    let rows = conn
        .query("SELECT g FROM generate_series(1, 2) AS g", &[])
        .await
        .unwrap();
    let got: Vec<i32> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(got, [1, 2]);
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn an_error_in_a_transaction_block_fails_it_until_rollback() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE tx (id int4)")
        .await
        .unwrap();
    conn.batch_execute("BEGIN").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    conn.execute("INSERT INTO tx VALUES ($1)", &[&1i32])
        .await
        .unwrap();
    let err = conn.query("SELECT 1 / 0", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err}");
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    assert!(!conn.is_closed());

    let err = conn.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::IN_FAILED_SQL_TRANSACTION),
        "{err}"
    );
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);

    conn.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    let n: i64 = conn
        .query_one("SELECT count(*) FROM tx", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0, "the insert was rolled back");
    assert_usable(&mut conn).await;

    // Outside a transaction block an error leaves the connection idle.
    let err = conn.query("SELECT 1 / 0", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn error_display_and_source() {
    let mut conn = connect().await;
    let err = conn.query("SELECT 'abc'::int4", &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_TEXT_REPRESENTATION),
        "{err}"
    );
    let shown = err.to_string();
    assert_eq!(
        shown,
        "ERROR 22P02: invalid input syntax for type integer: \"abc\""
    );
    assert!(!err.is_closed());
    let source = err.source().expect("a source");
    let inner = source
        .downcast_ref::<DbError>()
        .expect("the source is the DbError");
    assert_eq!(inner.code(), &SqlState::INVALID_TEXT_REPRESENTATION);
    assert_eq!(inner, db(&err));
    assert_eq!(source.to_string(), shown);
    assert_eq!(
        format!("{}", SqlState::INVALID_TEXT_REPRESENTATION),
        "22P02"
    );
    assert_usable(&mut conn).await;
}
