//! A job queue on PostgreSQL alone: a producer inserts jobs and NOTIFYs, two workers
//! LISTEN, claim jobs with `SELECT ... FOR UPDATE SKIP LOCKED` (so each job goes to exactly
//! one worker, and neither waits for the other's locks), process them, and stop once all
//! the jobs are done.
//!
//! Halfway through, the producer kills one worker's listening connection
//! (`pg_terminate_backend`). The pool's listener reconnects and LISTENs again by itself,
//! then reports a gap: notifications sent meanwhile may be lost, so the worker rescans
//! the table instead of trusting them. The table, not the notification, is the truth.
//!
//! Uses `HYPER_DATABASE_URL` if it is set, otherwise a throwaway PostgreSQL server.
//! Run it with `cargo run --example listen_worker`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyperdjango::Pool;
use hyperdjango::pool::{ListenerEvent, Result};
use tokio::sync::oneshot;

mod support;

/// How many jobs the producer makes; the workers stop when that many are done.
const JOBS: usize = 6;
/// The NOTIFY channel.
const CHANNEL: &str = "worker_demo_jobs";

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let server = support::server()?;
    let pool = support::pool(&server.url)?;
    pool.acquire()
        .await?
        .batch_execute(
            "DROP TABLE IF EXISTS worker_demo_jobs;
             CREATE TABLE worker_demo_jobs (
                 id bigserial PRIMARY KEY,
                 payload text NOT NULL,
                 status text NOT NULL DEFAULT 'queued',
                 done_by int
             )",
        )
        .await?;

    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    let mut listener_pids = Vec::new();
    for id in 1..=2 {
        let (tx, rx) = oneshot::channel();
        listener_pids.push(rx);
        workers.push(tokio::spawn(worker(id, pool.clone(), done.clone(), tx)));
    }
    // Wait until both workers LISTEN, then produce.
    let mut pids = Vec::new();
    for rx in listener_pids {
        pids.push(rx.await?);
    }
    let producer = tokio::spawn(producer(pool.clone(), pids[0]));

    producer.await??;
    let mut processed = Vec::new();
    for w in workers {
        processed.push(w.await??);
    }

    // Each job was processed once: the rows say so, not only the workers.
    let mut conn = pool.acquire().await?;
    let row = conn
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'done') AS done, count(*) AS total
             FROM worker_demo_jobs",
            &[],
        )
        .await?;
    let (done_rows, total): (i64, i64) = (row.get("done")?, row.get("total")?);
    println!(
        "\nworkers processed {:?} jobs ({} in all); the table has {done_rows} of {total} jobs done",
        processed,
        processed.iter().sum::<usize>()
    );
    conn.batch_execute("DROP TABLE worker_demo_jobs").await?;
    println!("listen worker example done: {JOBS} jobs processed, each exactly once");
    Ok(())
}

/// Inserts the jobs one at a time. The NOTIFY is sent in the inserting transaction:
/// PostgreSQL delivers it only at COMMIT, so a worker never hears of a job it can't see.
async fn producer(pool: Pool, victim_pid: i32) -> Result<()> {
    for n in 1..=JOBS {
        let mut conn = pool.acquire().await?;
        let mut tx = conn.transaction().await?;
        let row = tx
            .query_one(
                "INSERT INTO worker_demo_jobs (payload) VALUES ($1) RETURNING id",
                &[&format!("resize photo-{n}.png")],
            )
            .await?;
        let id: i64 = row.get("id")?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id.to_string()])
            .await?;
        println!("producer: queued job {id} (the NOTIFY goes out at COMMIT)");
        tx.commit().await?;

        if n == JOBS / 2 {
            // Simulate a lost connection: a dropped network link, a server restart, an
            // administrator's pg_terminate_backend.
            let killed = conn
                .query_one("SELECT pg_terminate_backend($1) AS ok", &[&victim_pid])
                .await;
            match killed.map(|r| r.get::<_, bool>("ok")) {
                Ok(Ok(true)) => println!("producer: killed worker 1's listening connection"),
                other => println!("producer: could not kill worker 1's connection: {other:?}"),
            }
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// LISTENs, then processes every queued job it can claim, waits for a notification (or a
/// gap), and again, until all the jobs are done. Returns how many it processed.
async fn worker(
    id: i32,
    pool: Pool,
    done: Arc<AtomicUsize>,
    listening: oneshot::Sender<i32>,
) -> Result<usize> {
    // The listener has a connection of its own, outside the pool.
    let mut listener = pool.listener();
    listener.listen(CHANNEL).await?;
    let _ = listening.send(listener.process_id().unwrap_or(0));

    let mut mine = 0;
    let mut notified = false;
    loop {
        // Whatever woke us, look at the table: jobs may be waiting that no
        // notification announced (queued before we listened, or during a gap).
        let mut claimed = 0;
        while let Some(job) = claim_and_process(id, &pool).await? {
            claimed += 1;
            let total = done.fetch_add(1, Ordering::SeqCst) + 1;
            println!("worker {id}: finished job {job} ({total}/{JOBS} done)");
        }
        if notified && claimed == 0 {
            println!("worker {id}: nothing free to claim: the other worker has it");
        }
        mine += claimed;
        if done.load(Ordering::SeqCst) >= JOBS {
            return Ok(mine);
        }
        // Wait for news; wake up now and then to see whether the other worker finished
        // the last job.
        notified = false;
        match tokio::time::timeout(Duration::from_millis(200), listener.recv()).await {
            Ok(ListenerEvent::Notification(n)) => {
                notified = true;
                println!("worker {id}: notified of job {}", n.payload)
            }
            Ok(ListenerEvent::Gap { reason }) => println!(
                "worker {id}: listener reconnected (new backend {:?}) after: {reason}; rescanning",
                listener.process_id()
            ),
            Err(_) => {}
        }
    }
}

/// Claims the oldest queued job nobody else holds, processes it and marks it done, in
/// one transaction. `None` when no job is free.
async fn claim_and_process(worker: i32, pool: &Pool) -> Result<Option<i64>> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.transaction().await?;
    // SKIP LOCKED: a row another worker has claimed is passed over, not waited for.
    let Some(row) = tx
        .query_opt(
            "SELECT id, payload FROM worker_demo_jobs
             WHERE status = 'queued'
             ORDER BY id
             LIMIT 1
             FOR UPDATE SKIP LOCKED",
            &[],
        )
        .await?
    else {
        return Ok(None); // dropping the transaction rolls it back
    };
    let job: i64 = row.get("id")?;
    let payload: String = row.get("payload")?;

    // The work itself; the row stays locked meanwhile, so no one else takes it.
    tokio::time::sleep(Duration::from_millis(30)).await;
    println!("worker {worker}: {payload}");

    tx.execute(
        "UPDATE worker_demo_jobs SET status = 'done', done_by = $2 WHERE id = $1",
        &[&job, &worker],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(job))
}
