//! Query timeouts: cancelled on the server, the connection stays usable; an unresponsive
//! backend is given up with a clear error instead of a hang.

use std::time::Duration;

use hyperdjango_pgwire::{Connection, Error, TransactionStatus};

use crate::common::*;

#[tokio::test]
async fn a_query_over_the_timeout_is_cancelled_and_the_connection_survives() {
    let mut conn = connect().await;
    conn.set_query_timeout(Some(Duration::from_millis(200)));
    let err = within(
        10,
        "a timed-out query",
        conn.query("SELECT pg_sleep(30)", &[]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("query_timeout (200 ms)"), "{err}");
    assert!(!conn.is_closed());
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    // Quick queries are unaffected, and the timer does not leak into them.
    for i in 0..5i32 {
        let v: i32 = conn
            .query_one("SELECT $1::int4", &[&i])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(v, i);
    }
    conn.set_query_timeout(None);
    conn.execute("SELECT pg_sleep(0.3)", &[]).await.unwrap();
}

#[tokio::test]
async fn a_timeout_inside_a_transaction_fails_the_block() {
    let mut conn = connect().await;
    conn.set_query_timeout(Some(Duration::from_millis(100)));
    conn.batch_execute("BEGIN").await.unwrap();
    let err = conn.execute("SELECT pg_sleep(30)", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    conn.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

#[tokio::test]
async fn query_timeout_from_the_url_also_sets_statement_timeout() {
    let url = format!("{}?query_timeout=1500", cluster().url());
    let mut conn = Connection::connect_url(&url).await.unwrap();
    let row = conn
        .query_one("SELECT current_setting('statement_timeout')", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0).unwrap(), "1500ms");
    let err = conn.execute("SELECT pg_sleep(30)", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn a_frozen_backend_is_given_up_after_the_cancel_grace() {
    let mut conn = connect().await;
    let pid = conn.process_id();
    conn.set_query_timeout(Some(Duration::from_millis(200)));
    // SIGSTOP the backend: it can neither run the query nor answer the cancel.
    let stop = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(stop.success());
    struct Cont(i32);
    impl Drop for Cont {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &self.0.to_string()])
                .status();
        }
    }
    let _cont = Cont(pid);
    let err = within(
        15,
        "a query to a frozen backend",
        conn.execute("SELECT 1", &[]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert!(conn.is_closed());
    assert!(matches!(
        conn.execute("SELECT 1", &[]).await.unwrap_err(),
        Error::Closed(_)
    ));
}

#[tokio::test]
async fn the_timeout_also_stops_a_query_that_keeps_sending_rows() {
    let mut conn = connect().await;
    conn.set_query_timeout(Some(Duration::from_millis(300)));
    // A billion rows stream continuously: the deadline must fire although bytes keep arriving.
    let err = within(
        15,
        "a timed-out streaming query",
        conn.execute("SELECT generate_series(1, 1000000000)", &[]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert_eq!(
        conn.query_one("SELECT 3", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn a_cancel_that_arrives_before_the_statement_starts_is_sent_again() {
    // With a 1 ms timeout the cancel often reaches the backend while it is still between
    // Parse and Execute, where PostgreSQL ignores it; the rows then start and keep coming.
    // Each round must still end in a timeout on a connection that stays usable.
    let mut conn = connect().await;
    conn.set_query_timeout(Some(Duration::from_millis(1)));
    for round in 0..20 {
        let err = within(
            30,
            "a streaming query cancelled at once",
            conn.execute("SELECT generate_series(1, 1000000000)", &[]),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "round {round}: {err:?}");
        assert!(!conn.is_closed(), "round {round}: {err}");
    }
    conn.set_query_timeout(None);
    let three: i32 = conn
        .query_one("SELECT 3", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(three, 3);
}
