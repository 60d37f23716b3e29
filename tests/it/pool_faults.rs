//! The pool under real faults: a server restarted under load, terminated backends, a server
//! frozen with SIGSTOP, exhaustion, and thousands of cancelled tasks. Private clusters
//! (`TestCluster::start`) for the tests that stop or freeze the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyperdjango_pgwire::testing::TestCluster;
use hyperdjango_pgwire::{SqlState, TransactionStatus};
use hyperdjango_pool::{Error, PooledConnection};

use crate::common::*;
use crate::pool::{acquire_patiently, backends, backends_at, builder, builder_for, settled};

/// Runs `SELECT $marker` (with a short sleep) and checks that the row is its own.
async fn marked_query(conn: &mut PooledConnection, marker: i64) -> Result<(), Error> {
    let row = conn
        .query_one("SELECT $1::int8, pg_sleep(0.002)::text", &[&marker])
        .await?;
    assert_eq!(row.get::<_, i64>(0).unwrap(), marker, "another query's row");
    Ok(())
}

/// Whether an error seen while the server restarts says what happened.
fn is_clear_outage_error(e: &Error) -> bool {
    match e {
        Error::ConnectTimeout(_) => true,
        Error::Connect(d) | Error::Driver(d) => {
            d.is_closed()
                || matches!(
                    d.code(),
                    Some(c) if *c == SqlState::ADMIN_SHUTDOWN
                        || *c == SqlState::CANNOT_CONNECT_NOW
                        || *c == SqlState::CRASH_SHUTDOWN
                )
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_fails_in_flight_queries_clearly_and_recovers() {
    let cluster = Arc::new(TestCluster::start().unwrap_or_else(|e| panic!("private cluster: {e}")));
    let app = unique("pool_restart");
    let pool = builder_for(&cluster.url(), &app)
        .max_size(8)
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..32i64 {
        let (pool, stop, ok, failed) = (pool.clone(), stop.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let marker = t * 1_000_000 + i;
                let result = async {
                    let mut conn = pool.acquire().await?;
                    marked_query(&mut conn, marker).await
                }
                .await;
                match result {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        assert!(is_clear_outage_error(&e), "unclear error: {e:?}");
                        failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = ok.load(Ordering::Relaxed);
    assert!(before > 0, "queries ran before the restart");
    let c = cluster.clone();
    within(
        60,
        "the restart",
        tokio::task::spawn_blocking(move || c.restart()),
    )
    .await
    .unwrap()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        within(15, "a task to stop", t).await.unwrap();
    }
    assert!(
        failed.load(Ordering::Relaxed) > 0,
        "in-flight queries failed"
    );

    // After the restart every query succeeds: 32 tasks at once, several each.
    let mut after = Vec::new();
    for t in 0..32i64 {
        let pool = pool.clone();
        after.push(tokio::spawn(async move {
            for i in 0..5 {
                let mut conn = pool.acquire().await.unwrap();
                marked_query(&mut conn, -(t * 100 + i)).await.unwrap();
            }
        }));
    }
    for t in after {
        within(20, "queries after the restart", t).await.unwrap();
    }
    let s = settled(&pool).await;
    assert!(s.size <= 8 && s.idle == s.size, "{s:?}");
    let (pids, in_tx) = backends_at(&cluster.url(), &app).await;
    assert_eq!(
        pids.len(),
        s.size,
        "no leaked connection: {pids:?} vs {s:?}"
    );
    assert_eq!(in_tx, 0);
    assert!(pool.metrics().broken_discards > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_every_pooled_backend_then_acquire_gives_healthy_connections() {
    let (b, app) = builder("pool_terminate_all");
    let pool = b.max_size(4).build().unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.acquire().await.unwrap());
    }
    let old: Vec<i32> = held.iter().map(|c| c.process_id()).collect();
    drop(held);
    assert_eq!(pool.status().idle, 4);

    let mut admin = connect().await;
    for pid in &old {
        admin
            .execute("SELECT pg_terminate_backend($1)", &[pid])
            .await
            .unwrap();
    }
    within(10, "the backends to exit", async {
        while !backends(&app).await.0.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    let mut conns = Vec::new();
    for i in 0..4i64 {
        let mut conn = pool.acquire().await.unwrap();
        assert!(!old.contains(&conn.process_id()));
        marked_query(&mut conn, i).await.unwrap();
        conns.push(conn);
    }
    drop(conns);
    let m = pool.metrics();
    assert_eq!(m.broken_discards, 4, "{m:?}");
    assert_eq!(m.status.idle, 4);
}

/// Sends a signal to processes with `kill`.
fn signal(sig: &str, pids: &[u32]) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{sig} {pids:?}");
}

/// The postmaster and all its children, from /proc.
fn server_processes(postmaster: u32) -> Vec<u32> {
    let mut pids = vec![postmaster];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the comm may hold spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(postmaster) {
            pids.push(pid);
        }
    }
    pids
}

/// Stops processes with SIGSTOP and continues them when dropped, on every path.
struct Frozen(Vec<u32>);

impl Frozen {
    fn new(pids: Vec<u32>) -> Frozen {
        signal("STOP", &pids);
        Frozen(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("CONT", &self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_gives_timeouts_and_the_pool_recovers_after_sigcont() {
    let cluster = TestCluster::start().unwrap_or_else(|e| panic!("private cluster: {e}"));
    let app = unique("pool_sigstop");
    let pool = builder_for(&cluster.url(), &app)
        .max_size(2)
        .connect_timeout(Duration::from_millis(500))
        .acquire_timeout(Duration::from_secs(5))
        .query_timeout(Duration::from_millis(300))
        .health_check_after(Duration::from_millis(1))
        .build()
        .unwrap();
    let slow_connects = builder_for(&cluster.url(), &app)
        .max_size(2)
        .connect_timeout(Duration::from_secs(30))
        .acquire_timeout(Duration::from_millis(400))
        .build()
        .unwrap();

    let mut a = pool.acquire().await.unwrap();
    let b = pool.acquire().await.unwrap();
    drop(b); // idle
    a.query("SELECT 1", &[]).await.unwrap();
    let postmaster = cluster.postmaster_pid().unwrap();

    {
        let _frozen = Frozen::new(server_processes(postmaster));

        // The query timeout: the server answers not even the cancellation, so after the
        // driver's grace period the connection is given up and discarded.
        let started = Instant::now();
        let err = within(10, "the query timeout", a.query("SELECT 2", &[]))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::QueryTimeout {
                    discarded: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("query timeout (300 ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(8));
        // Further use of that connection fails at once.
        assert!(
            within(
                1,
                "a query on a discarded connection",
                a.query("SELECT 3", &[])
            )
            .await
            .is_err()
        );
        drop(a);

        // The idle one fails its health check, and the new connection times out.
        let err = within(5, "the connect timeout", pool.acquire())
            .await
            .unwrap_err();
        // The pool's timeout or the driver's (the pool passes it on), whichever fires first.
        assert!(
            matches!(err, Error::ConnectTimeout(_) | Error::Connect(_)) && err.is_timeout(),
            "{err:?}"
        );
        let shown = err.to_string();
        assert!(
            shown.contains("connect timeout (500 ms") || shown.contains("connect_timeout (0.5 s)"),
            "{shown}"
        );

        // The acquire timeout fires although the connect it waits for hangs.
        let started = Instant::now();
        let err = within(5, "the acquire timeout", slow_connects.acquire())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Exhausted { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("pool exhausted after 4"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    } // SIGCONT

    let m = pool.metrics();
    assert!(m.broken_discards >= 2, "{m:?}");
    assert_eq!(m.query_timeouts, 1);
    assert!(m.connect_failures >= 1);

    for p in [&pool, &slow_connects] {
        within(15, "recovery after SIGCONT", async {
            loop {
                let attempt = async {
                    let mut conn = p.acquire().await?;
                    marked_query(&mut conn, 7).await
                };
                match attempt.await {
                    Ok(()) => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        })
        .await;
    }
    let s = settled(&pool).await;
    assert!(s.size <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhaustion_200_tasks_on_4_connections() {
    let (b, _) = builder("pool_exhaustion");
    let pool = b
        .max_size(4)
        .acquire_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    // All four connections open first: the storm measures exhaustion, not connect time (a
    // loaded machine can take longer than the acquire timeout to open one).
    {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(acquire_patiently(&pool).await);
        }
    }
    let warm = pool.metrics();
    let mut tasks = Vec::new();
    for i in 0..200i64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let row = conn
                .query_one("SELECT $1::int8, pg_sleep(0.01)::text", &[&i])
                .await?;
            assert_eq!(row.get::<_, i64>(0).unwrap(), i);
            Ok::<_, Error>(())
        }));
    }
    let (mut ok, mut timeouts) = (0u64, 0u64);
    for t in tasks {
        match within(20, "an exhaustion task", t).await.unwrap() {
            Ok(()) => ok += 1,
            Err(e @ Error::Exhausted { .. }) => {
                let shown = e.to_string();
                // "in use" is read when the waiter gives up: a connection being handed
                // back at that instant is not counted, so it may be below 4.
                assert!(
                    shown.starts_with("pool exhausted after ")
                        && shown.contains(" ms (size 4, in use "),
                    "{shown}"
                );
                timeouts += 1;
            }
            Err(e) => panic!("neither success nor the timeout error: {e:?}"),
        }
    }
    assert_eq!(ok + timeouts, 200);
    assert!(ok >= 4 && timeouts > 0, "ok {ok}, timeouts {timeouts}");
    let s = settled(&pool).await;
    assert_eq!((s.size, s.idle, s.in_use, s.waiters), (4, 4, 0, 0));
    let m = pool.metrics();
    assert_eq!(m.acquire_timeouts - warm.acquire_timeouts, timeouts);
    assert_eq!(m.acquires - warm.acquires, ok);
    assert!(m.acquire_wait.max <= Duration::from_millis(500), "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_cancellations_leave_no_leak_no_open_transaction_no_mixed_rows() {
    const TARGET: u64 = 10_000;
    let (b, app) = builder("pool_cancel");
    let pool = b
        .max_size(8)
        .acquire_timeout(Duration::from_secs(10))
        // Dropped transactions whose COMMIT already went out get a harmless
        // "no transaction in progress" warning: keep the test output clean.
        .after_connect(|conn| {
            conn.set_notice_handler(|_| {});
            Box::pin(async { Ok(()) })
        })
        .build()
        .unwrap();
    let table = unique("pool_cancel");
    {
        let mut conn = pool.acquire().await.unwrap();
        conn.batch_execute(&format!("CREATE TABLE \"{table}\" (marker int8)"))
            .await
            .unwrap();
    }
    let table = Arc::new(table);
    let cancelled = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let checked_rows = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut marker = 0i64;
    while cancelled.load(Ordering::Relaxed) < TARGET {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "too slow: {} cancellations",
            cancelled.load(Ordering::Relaxed)
        );
        // 24 at a time on 8 connections: most are cancelled holding one, mid-query or
        // mid-transaction, not while queued.
        let mut wave = Vec::new();
        for _ in 0..24 {
            marker += 1;
            let m = marker;
            let kind = rng.below(4);
            let rows = 1 + rng.below(300) as i64;
            let commit = rng.below(2) == 0;
            let cancel_after = Duration::from_micros(rng.below(6_000));
            let abort = rng.below(2) == 0;
            let (pool, table, checked) = (pool.clone(), table.clone(), checked_rows.clone());
            let work = async move {
                let mut conn = pool.acquire().await?;
                match kind {
                    0 | 1 => {
                        let got = conn
                            .query(
                                "SELECT $1::int8, g FROM generate_series(1, $2::int8) g",
                                &[&m, &rows],
                            )
                            .await?;
                        assert_eq!(got.len() as i64, rows, "marker {m}: row count");
                        for r in &got {
                            assert_eq!(r.get::<_, i64>(0).unwrap(), m, "another query's rows");
                        }
                        checked.fetch_add(got.len(), Ordering::Relaxed);
                    }
                    2 => {
                        let mut tx = conn.transaction().await?;
                        tx.execute(&format!("INSERT INTO \"{table}\" VALUES ($1)"), &[&m])
                            .await?;
                        let got = tx
                            .query(
                                &format!("SELECT marker FROM \"{table}\" WHERE marker = $1"),
                                &[&m],
                            )
                            .await?;
                        assert_eq!(got.len(), 1);
                        assert_eq!(got[0].get::<_, i64>(0).unwrap(), m, "another query's rows");
                        if commit {
                            tx.commit().await?;
                        } else {
                            tx.rollback().await?;
                        }
                    }
                    _ => {
                        let mut tx = conn.transaction().await?;
                        let mut sp = tx.savepoint().await?;
                        let row = sp
                            .query_one("SELECT $1::int8, pg_sleep(0.001)::text", &[&m])
                            .await?;
                        assert_eq!(row.get::<_, i64>(0).unwrap(), m, "another query's rows");
                        sp.commit().await?;
                        tx.commit().await?;
                    }
                }
                Ok::<_, Error>(())
            };
            let (cancelled, completed) = (cancelled.clone(), completed.clone());
            wave.push(tokio::spawn(async move {
                if abort {
                    // Aborted from outside, at a random point.
                    let task = tokio::spawn(work);
                    tokio::time::sleep(cancel_after).await;
                    task.abort();
                    match task.await {
                        Err(e) if e.is_cancelled() => {
                            cancelled.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => std::panic::resume_unwind(e.into_panic()),
                        Ok(result) => {
                            result.unwrap();
                            completed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                } else {
                    // Dropped by a timeout, at a random point.
                    match tokio::time::timeout(cancel_after, work).await {
                        Err(_) => {
                            cancelled.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(result) => {
                            result.unwrap();
                            completed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        for t in wave {
            within(30, "a cancellation task", t).await.unwrap();
        }
    }
    let s = settled(&pool).await;
    assert!(s.size <= 8 && s.idle == s.size, "{s:?}");
    let (pids, in_tx) = backends(&app).await;
    assert_eq!(pids.len(), s.size, "no leaked connection");
    assert_eq!(in_tx, 0, "no backend left inside a transaction");
    // Every connection is clean and answers its own query.
    let mut all = Vec::new();
    for i in 0..s.size as i64 {
        let mut conn = pool.acquire().await.unwrap();
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
        assert!(!conn.is_busy());
        marked_query(&mut conn, -i - 1).await.unwrap();
        all.push(conn);
    }
    drop(all);
    let mut conn = pool.acquire().await.unwrap();
    conn.batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .unwrap();
    eprintln!(
        "cancellations: {} cancelled, {} completed, {} rows checked, {:?}",
        cancelled.load(Ordering::Relaxed),
        completed.load(Ordering::Relaxed),
        checked_rows.load(Ordering::Relaxed),
        started.elapsed()
    );
}
