//! Waiting on streaming replication: whether a standby has replayed what its primary wrote.
//!
//! A pair is made with [`TestCluster::start_standby`]; these helpers use the driver itself
//! (they are `async`) and poll with a bounded deadline, never a fixed sleep.

use std::time::{Duration, Instant};

use super::{TestCluster, TestClusterError};
use crate::Connection;

/// How often the standby is asked again.
const POLL: Duration = Duration::from_millis(20);

fn error(what: &str, e: impl std::fmt::Display) -> TestClusterError {
    TestClusterError::new(format!("{what}: {e}"))
}

/// Waits until `standby` has replayed everything `primary` had written when this was called
/// (its `pg_current_wal_insert_lsn()`: with `synchronous_commit = off`, as the harness runs,
/// a commit may not be written out yet), or fails after `timeout` saying how far it got. A
/// row committed on the primary before the call is visible on the standby once this returns.
///
/// ```no_run
/// use std::time::Duration;
/// use hyperdjango_pgwire::testing::{TestCluster, wait_for_replay};
///
/// # async fn f() {
/// let primary = TestCluster::start().unwrap();
/// let standby = primary.start_standby().unwrap();
/// // ... INSERT on the primary ...
/// wait_for_replay(&primary, &standby, Duration::from_secs(30)).await.unwrap();
/// // ... the row is visible on the standby ...
/// # }
/// ```
pub async fn wait_for_replay(
    primary: &TestCluster,
    standby: &TestCluster,
    timeout: Duration,
) -> Result<(), TestClusterError> {
    let mut p = Connection::connect_url(&primary.url())
        .await
        .map_err(|e| error("connecting to the primary", e))?;
    let lsn: String = p
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await
        .and_then(|row| row.get(0))
        .map_err(|e| error("reading the primary's WAL position", e))?;
    let _ = p.close().await;
    wait_for_lsn(standby, &lsn, timeout).await
}

/// Waits until `standby` has replayed WAL up to `lsn` (text form, e.g. `"0/3000148"`).
///
/// ```no_run
/// use std::time::Duration;
/// use hyperdjango_pgwire::testing::{TestCluster, wait_for_lsn};
///
/// # async fn f(standby: &TestCluster) {
/// wait_for_lsn(standby, "0/3000148", Duration::from_secs(30)).await.unwrap();
/// # }
/// ```
pub async fn wait_for_lsn(
    standby: &TestCluster,
    lsn: &str,
    timeout: Duration,
) -> Result<(), TestClusterError> {
    let deadline = Instant::now() + timeout;
    let mut s = Connection::connect_url(&standby.url())
        .await
        .map_err(|e| error("connecting to the standby", e))?;
    loop {
        let row = s
            .query_one(
                "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false), \
                 coalesce(pg_last_wal_replay_lsn()::text, 'none')",
                &[&lsn],
            )
            .await
            .map_err(|e| error("asking the standby how far it replayed", e))?;
        let done: bool = row.get(0).map_err(|e| error("reading the answer", e))?;
        if done {
            let _ = s.close().await;
            return Ok(());
        }
        if Instant::now() >= deadline {
            let at: String = row.get(1).unwrap_or_default();
            return Err(TestClusterError::new(format!(
                "the standby replayed WAL up to {at}, not {lsn}, within {timeout:?}"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
