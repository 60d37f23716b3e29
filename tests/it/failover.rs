//! Failover with a multi-host URL, as libpq does it: the pool is given both servers with
//! `target_session_attrs=read-write`; the primary is stopped with an INSERT in flight, the
//! standby is promoted, and the pool carries on against the new primary. The in-flight
//! INSERT is an error for its caller and is never run again behind its back: the table
//! holds exactly the rows the callers were told were written.

use std::time::Duration;

use hyperdjango_pgwire::Connection;
use hyperdjango_pgwire::testing::wait_for_replay;
use hyperdjango_pool::Pool;

use crate::common::within;
use crate::replicas::{port, start_pair};

/// The port of the server that answers the pool.
async fn served_by(pool: &Pool) -> u16 {
    let port: i32 = pool
        .query_one("SELECT inet_server_port()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    u16::try_from(port).unwrap()
}

#[tokio::test]
async fn the_pool_follows_a_promoted_standby_and_never_replays_a_failed_insert() {
    let pair = start_pair();
    let (p, s) = (port(&pair.primary), port(&pair.standby));
    let url = format!(
        "postgres://postgres@127.0.0.1:{p},127.0.0.1:{s}/postgres\
         ?target_session_attrs=read-write&connect_timeout=2"
    );
    let pool = Pool::builder().url(url).max_size(2).build().unwrap();
    pool.execute("CREATE TABLE fo_rows (id int PRIMARY KEY)", &[])
        .await
        .unwrap();
    let mut told_written = Vec::new();
    for id in 1..=3i32 {
        pool.execute("INSERT INTO fo_rows VALUES ($1)", &[&id])
            .await
            .unwrap();
        told_written.push(id);
    }
    assert_eq!(served_by(&pool).await, p, "read-write picked the primary");
    wait_for_replay(&pair.primary, &pair.standby, Duration::from_secs(60))
        .await
        .unwrap();

    // An INSERT in flight: it waits for a lock another session holds when the primary goes.
    let mut locker = Connection::connect_url(&pair.primary.url()).await.unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE fo_rows IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let in_flight = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.execute("INSERT INTO fo_rows VALUES ($1)", &[&4i32])
                .await
        })
    };
    // Asked on a connection of its own: inside the locker's transaction pg_stat_activity
    // would be the snapshot taken at its first read.
    let mut monitor = Connection::connect_url(&pair.primary.url()).await.unwrap();
    let mut waits = 0;
    loop {
        let n: i64 = monitor
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO fo_rows%'",
                &[],
            )
            .await
            .unwrap()
            .get(0)
            .unwrap();
        if n == 1 {
            break;
        }
        waits += 1;
        assert!(
            waits < 1200,
            "the INSERT never started waiting for the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Immediate: every backend exits at once, so the INSERT can never get the lock and
    // commit. (A fast stop first rolls the locker back, which may let the INSERT commit
    // just before its own backend is told to go: a real success, and not this test's case.)
    pair.primary.stop_immediate().unwrap();
    let err = within(30, "the in-flight INSERT", in_flight)
        .await
        .unwrap()
        .expect_err("the INSERT's server went away: it must be an error");
    eprintln!("in-flight INSERT: {err}");
    let text = err.to_string();
    assert!(
        text.contains("terminating connection")
            || text.contains("closed")
            || text.contains("57P01"),
        "a clear error: {text}"
    );

    // Before the promotion there is no read-write server: writes fail, saying why.
    let err = pool
        .execute("INSERT INTO fo_rows VALUES ($1)", &[&5i32])
        .await
        .expect_err("no primary yet");
    let text = err.to_string();
    assert!(
        text.contains("read-only") || text.contains(&s.to_string()),
        "{text}"
    );

    // Promoted: the pool's next connection goes to the new primary, at the first try.
    pair.standby.promote().unwrap();
    pool.execute("INSERT INTO fo_rows VALUES ($1)", &[&6i32])
        .await
        .unwrap();
    told_written.push(6);
    assert_eq!(
        served_by(&pool).await,
        s,
        "the promoted standby serves the pool"
    );
    let rows: Vec<i32> = pool
        .query("SELECT id FROM fo_rows ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(
        rows, told_written,
        "exactly the rows whose INSERT was reported as done"
    );
}
