//! Regression tests for defects a review found: session targeting, prepare() on failure and
//! when abandoned, the true transaction status of a busy connection, and abandoned long
//! queries.

use hyperdjango_pgwire::{Config, Connection, SqlState, TransactionStatus};

use crate::common::*;

fn config_with(extra: &str) -> Config {
    format!("{}?{extra}", cluster().url()).parse().unwrap()
}

#[tokio::test]
async fn target_session_attrs_is_enforced() {
    // The test server is a primary, read-write by default.
    for ok in ["any", "primary", "read-write", "prefer-standby"] {
        let config = config_with(&format!("target_session_attrs={ok}"));
        assert!(Connection::connect(&config).await.is_ok(), "{ok}");
    }
    let err = Connection::connect(&config_with("target_session_attrs=standby"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a primary") && err.contains("standby"),
        "{err}"
    );
    let err = Connection::connect(&config_with("target_session_attrs=read-only"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read-write"), "{err}");
    // A session made read-only by its options matches read-only, not read-write.
    let ro = "options=-c%20default_transaction_read_only%3Don";
    assert!(
        Connection::connect(&config_with(&format!(
            "{ro}&target_session_attrs=read-only"
        )))
        .await
        .is_ok()
    );
    assert!(
        Connection::connect(&config_with(&format!(
            "{ro}&target_session_attrs=read-write"
        )))
        .await
        .is_err()
    );
}

#[tokio::test]
async fn prepare_reports_the_fatal_error_that_ended_the_session() {
    let mut victim = connect().await;
    let mut killer = connect().await;
    killer
        .execute("SELECT pg_terminate_backend($1)", &[&victim.process_id()])
        .await
        .unwrap();
    let err = within(
        10,
        "prepare on a terminated backend",
        victim.prepare("SELECT 1"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");
    assert!(err.is_closed());
}

#[tokio::test]
async fn an_abandoned_prepare_does_not_leak_its_statement() {
    let mut conn = connect().await;
    for polls in 1..=4 {
        poll_then_drop(conn.prepare("SELECT $1::int4 + 100"), polls).await;
    }
    // Run the count twice: the first run may carry the Closes, the second sees the result.
    let sql =
        "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int4 + 100'";
    conn.query_one(sql, &[]).await.unwrap();
    let n: i64 = conn.query_one(sql, &[]).await.unwrap().get(0).unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_busy_connection_says_so_and_wait_idle_gives_the_true_status() {
    let mut conn = connect().await;
    // A short abandoned statement inside a block: it finishes, the block is still open.
    poll_then_drop(conn.batch_execute("BEGIN; SELECT pg_sleep(0.01)"), 1).await;
    assert!(conn.is_busy());
    assert_eq!(
        conn.wait_idle().await.unwrap(),
        TransactionStatus::InTransaction
    );
    assert!(!conn.is_busy());
    // A long one is cancelled while settling, which fails the block.
    poll_then_drop(conn.batch_execute("SELECT pg_sleep(30)"), 1).await;
    assert!(conn.is_busy());
    let status = within(15, "settling an abandoned long query", conn.wait_idle())
        .await
        .unwrap();
    assert_eq!(status, TransactionStatus::Failed);
    conn.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(conn.wait_idle().await.unwrap(), TransactionStatus::Idle);
}

#[tokio::test]
async fn an_abandoned_long_query_is_cancelled_instead_of_awaited() {
    let mut conn = connect().await;
    // The query would run for a minute; dropping it must not cost the next command a minute.
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        conn.query("SELECT pg_sleep(60)", &[]),
    )
    .await;
    let v: i32 = within(
        15,
        "the command after an abandoned long query",
        conn.query_one("SELECT 41 + 1", &[]),
    )
    .await
    .unwrap()
    .get(0)
    .unwrap();
    assert_eq!(v, 42);
    assert!(!conn.is_closed());
}
