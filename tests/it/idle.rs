//! The driver's support for pools and transaction guards: `defer_statement` (with
//! `is_busy` and `wait_idle`), `check_idle` and `wait_for_notification`.

use std::time::Duration;

use hyperdjango_pgwire::{Connection, SqlState, TransactionStatus};

use crate::common::*;

/// Terminates `pid` from another connection and waits until the backend is gone.
async fn terminate(pid: i32) {
    let mut admin = connect().await;
    let row = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    assert!(
        row.get::<_, bool>(0).unwrap(),
        "backend {pid} was terminated"
    );
    within(10, "the terminated backend to exit", async {
        loop {
            let left = admin
                .query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
                .await
                .unwrap();
            if left.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_deferred_rollback_runs_before_the_next_command() {
    let mut conn = connect().await;
    let table = unique("deferred");
    conn.batch_execute(&format!("CREATE TABLE \"{table}\" (n int)"))
        .await
        .unwrap();
    conn.batch_execute("BEGIN").await.unwrap();
    conn.execute(&format!("INSERT INTO \"{table}\" VALUES (1)"), &[])
        .await
        .unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);

    conn.defer_statement("ROLLBACK").unwrap();
    assert!(conn.is_busy());
    let n: i64 = conn
        .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0, "the insert was rolled back before the count");
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    assert!(!conn.is_busy());
    conn.batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .unwrap();
}

#[tokio::test]
async fn deferred_statements_run_in_order_and_their_errors_are_discarded() {
    let mut conn = connect().await;
    conn.defer_statement("SELECT 1/0").unwrap();
    conn.defer_statement("SET application_name = 'deferred_2'")
        .unwrap();
    conn.wait_idle().await.unwrap();
    assert!(!conn.is_busy());
    assert_eq!(conn.parameter("application_name"), Some("deferred_2"));
    // A bad statement is refused up front, without breaking the connection.
    assert!(conn.defer_statement("SELECT '\0'").is_err());
    assert!(!conn.is_busy());
    let row = conn.query_one("SELECT 7::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0).unwrap(), 7);
}

#[tokio::test]
async fn wait_idle_drains_an_abandoned_query() {
    let mut conn = connect().await;
    {
        let fut = conn.query("SELECT g FROM generate_series(1, 100000) g", &[]);
        // Polled once (the query is sent), then dropped.
        let _ = tokio::time::timeout(Duration::from_millis(1), fut).await;
    }
    conn.wait_idle().await.unwrap();
    assert!(!conn.is_busy());
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    let row = conn.query_one("SELECT 'after'::text", &[]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0).unwrap(), "after");
}

#[tokio::test]
async fn check_idle_is_ok_on_a_healthy_connection_and_reports_a_terminated_backend() {
    let mut conn = connect().await;
    for _ in 0..3 {
        conn.check_idle().unwrap();
    }
    conn.query("SELECT 1", &[]).await.unwrap();

    terminate(conn.process_id()).await;
    let err = within(5, "check_idle to notice the terminated backend", async {
        loop {
            match conn.check_idle() {
                Ok(()) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(e) => break e,
            }
        }
    })
    .await;
    assert!(err.is_closed(), "{err:?}");
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err}");
    assert!(conn.is_closed());
    assert!(conn.check_idle().is_err(), "it stays closed");
}

#[tokio::test]
async fn check_idle_queues_notifications() {
    let mut conn = connect().await;
    let channel = unique("idle_chan");
    conn.batch_execute(&format!("LISTEN \"{channel}\""))
        .await
        .unwrap();
    let mut other = connect().await;
    other
        .execute("SELECT pg_notify($1, 'hello')", &[&channel.as_str()])
        .await
        .unwrap();
    let got = within(5, "the notification", async {
        loop {
            conn.check_idle().unwrap();
            let got = conn.take_notifications();
            if !got.is_empty() {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].channel, channel);
    assert_eq!(got[0].payload, "hello");
    assert_eq!(got[0].process_id, other.process_id());
}

#[tokio::test]
async fn wait_for_notification_is_cancel_safe_and_reports_a_terminated_backend() {
    let mut conn = connect().await;
    let channel = unique("wait_chan");
    conn.batch_execute(&format!("LISTEN \"{channel}\""))
        .await
        .unwrap();

    // Nothing arrives: dropping the wait leaves the connection usable.
    let waited =
        tokio::time::timeout(Duration::from_millis(50), conn.wait_for_notification()).await;
    assert!(waited.is_err(), "no notification was sent");
    conn.query("SELECT 1", &[]).await.unwrap();

    let mut other = connect().await;
    for payload in ["one", "two"] {
        other
            .execute("SELECT pg_notify($1, $2)", &[&channel.as_str(), &payload])
            .await
            .unwrap();
    }
    for payload in ["one", "two"] {
        let n = within(5, "a notification", conn.wait_for_notification())
            .await
            .unwrap();
        assert_eq!(
            (n.channel.as_str(), n.payload.as_str()),
            (channel.as_str(), payload)
        );
    }

    let pid = conn.process_id();
    let (err, ()) = tokio::join!(
        within(10, "the wait to fail", conn.wait_for_notification()),
        terminate(pid)
    );
    let err = err.unwrap_err();
    assert!(err.is_closed(), "{err:?}");
    assert!(conn.is_closed());
}

/// A connection that is only ever used through these calls still closes cleanly.
#[tokio::test]
async fn close_after_deferred_statement() {
    let mut conn: Connection = connect().await;
    conn.defer_statement("SELECT 1").unwrap();
    within(5, "close", conn.close()).await.unwrap();
}
