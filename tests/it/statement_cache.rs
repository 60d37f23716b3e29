//! The per-connection LRU statement cache: hits, eviction, schema changes, DISCARD ALL,
//! unnamed-only mode, and dropped futures.

use hyperdjango_pgwire::{Config, Connection};

use crate::common::*;

async fn connect_with(f: impl FnOnce(&mut Config)) -> Connection {
    let c = cluster();
    let mut config: Config = c.url().parse().unwrap();
    f(&mut config);
    Connection::connect(&config).await.unwrap()
}

/// Our named statements on the server (`hd*`), as the server sees them. The counting query
/// is itself cached: the first run prepares it (and may evict another statement, whose Close
/// rides on the next write), so it runs twice and the second answer is exact.
async fn server_statements(conn: &mut Connection) -> i64 {
    let sql = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'hd%'";
    conn.query_one(sql, &[]).await.unwrap();
    conn.query_one(sql, &[]).await.unwrap().get(0).unwrap()
}

#[tokio::test]
async fn repeated_queries_reuse_one_prepared_statement() {
    let mut conn = connect().await;
    for i in 0..20i32 {
        let v: i32 = conn
            .query_one("SELECT $1::int4 * 2", &[&i])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(v, i * 2);
    }
    // The same SQL with other parameter types is another statement.
    let v: i32 = conn
        .query_one("SELECT $1::int4 * 2", &[&3i64])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(v, 6);
    assert_eq!(conn.cached_statements(), 2);
    // The count query itself is cached too.
    assert_eq!(server_statements(&mut conn).await, 3);
}

#[tokio::test]
async fn evicted_statements_are_closed_on_the_server() {
    let mut conn = connect_with(|c| {
        c.statement_cache_size(3);
    })
    .await;
    for i in 0..10 {
        conn.execute(&format!("SELECT {i}"), &[]).await.unwrap();
    }
    assert_eq!(conn.cached_statements(), 3);
    // Seven evicted statements were closed without a round trip of their own.
    assert_eq!(server_statements(&mut conn).await, 3);
}

#[tokio::test]
async fn a_schema_change_under_a_cached_statement_is_re_prepared() {
    let mut conn = connect().await;
    let table = unique("cache_t");
    conn.batch_execute(&format!(
        "CREATE TABLE {table} (a int4); INSERT INTO {table} VALUES (1)"
    ))
    .await
    .unwrap();
    let sql = format!("SELECT * FROM {table}");
    assert_eq!(conn.query_one(&sql, &[]).await.unwrap().len(), 1);
    conn.batch_execute(&format!(
        "ALTER TABLE {table} ADD COLUMN b text DEFAULT 'x'"
    ))
    .await
    .unwrap();
    // The cached plan can no longer produce its result type: evicted and prepared again.
    let row = conn.query_one(&sql, &[]).await.unwrap();
    assert_eq!(row.len(), 2);
    assert_eq!(row.get::<_, &str>("b").unwrap(), "x");

    // Inside a transaction block a retry is impossible (the block is aborted): the error is
    // returned, the statement is evicted, and after ROLLBACK the query works again.
    conn.batch_execute(&format!("ALTER TABLE {table} ADD COLUMN c int4 DEFAULT 7"))
        .await
        .unwrap();
    conn.batch_execute("BEGIN").await.unwrap();
    let err = conn.query_one(&sql, &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("0A000"), "{err}");
    conn.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(conn.query_one(&sql, &[]).await.unwrap().len(), 3);
    conn.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn discard_all_forgets_every_statement_and_queries_still_work() {
    let mut conn = connect().await;
    for i in 0..5i32 {
        conn.query_one("SELECT $1::int4", &[&i]).await.unwrap();
    }
    conn.batch_execute("DISCARD ALL").await.unwrap();
    let v: i32 = conn
        .query_one("SELECT $1::int4", &[&9i32])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(v, 9);
}

#[tokio::test]
async fn unnamed_statements_only_when_prepared_statements_are_off() {
    let mut conn = connect_with(|c| {
        c.prepared_statements(false);
    })
    .await;
    for i in 0..5i32 {
        conn.query_one("SELECT $1::int4", &[&i]).await.unwrap();
    }
    assert_eq!(conn.cached_statements(), 0);
    assert_eq!(server_statements(&mut conn).await, 0);
}

#[tokio::test]
async fn settings_come_from_the_url() {
    let url = format!("{}?statement_cache_size=0", cluster().url());
    let mut conn = Connection::connect_url(&url).await.unwrap();
    conn.execute("SELECT 1", &[]).await.unwrap();
    assert_eq!(conn.cached_statements(), 0);
}

#[tokio::test]
async fn a_failed_parse_is_not_cached_and_the_next_attempt_parses_again() {
    let mut conn = connect().await;
    let table = unique("late_t");
    let sql = format!("SELECT count(*) FROM {table}");
    assert_eq!(
        conn.query_one(&sql, &[])
            .await
            .unwrap_err()
            .code()
            .map(|c| c.code()),
        Some("42P01")
    );
    conn.batch_execute(&format!("CREATE TEMP TABLE {table} (a int)"))
        .await
        .unwrap();
    let n: i64 = conn.query_one(&sql, &[]).await.unwrap().get(0).unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn dropped_futures_never_leak_or_poison_cached_statements() {
    let mut conn = connect_with(|c| {
        c.statement_cache_size(4);
    })
    .await;
    for i in 0..300u64 {
        let sql = format!("SELECT $1::int8 + {}", i % 7);
        {
            let value = i as i64;
            let params: [&(dyn hyperdjango_pgwire::ToSql + Sync); 1] = [&value];
            poll_then_drop(conn.query_one(&sql, &params), 1 + i % 4).await;
        }
        let v: i64 = conn
            .query_one(&sql, &[&1i64])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(v, 1 + (i % 7) as i64);
    }
    // Nothing leaked: the server holds no more of our statements than the cache does.
    let on_server = server_statements(&mut conn).await;
    assert_eq!(on_server, conn.cached_statements() as i64);
}
