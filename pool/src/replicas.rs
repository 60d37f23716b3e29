//! The health of a set of streaming replicas: which of them may serve reads now.
//!
//! A [`ReplicaSet`] holds one [`Pool`] per replica and probes each one every
//! [`ReplicaHealth::check_interval`] with a single query that asks whether the server is a
//! standby and how far behind its primary it is. A replica drops out of the read set when
//!
//! - it cannot be reached or does not answer within [`ReplicaHealth::check_timeout`] (it is
//!   down, or the network is);
//! - it is not in recovery any more (it was promoted: reading from it would see a
//!   different history than the primary's);
//! - its replay lag is over [`ReplicaHealth::max_lag`], e.g. because replay is paused
//!   (`pg_wal_replay_pause()`) or it cannot keep up.
//!
//! It comes back at the first probe that finds it healthy again. The lag is measured on the
//! replica: zero when it has replayed all the WAL it received, else the age of the last
//! transaction it replayed (`now() - pg_last_xact_replay_timestamp()`), so an idle primary
//! does not make its replicas look stale.
//!
//! The ORM's `PrimaryReplicaRouter::health` sends reads only to healthy replicas, and to
//! the primary when none is healthy.
//!
//! ```no_run
//! use std::time::Duration;
//! use hyperdjango_pool::{Pool, ReplicaHealth, ReplicaSet};
//!
//! # async fn f() -> hyperdjango_pool::Result<()> {
//! let r1 = Pool::builder().url("postgres://app@replica1/app").build()?;
//! let r2 = Pool::builder().url("postgres://app@replica2/app").build()?;
//! let health = ReplicaHealth {
//!     max_lag: Duration::from_secs(5),
//!     ..ReplicaHealth::default()
//! };
//! let set = ReplicaSet::start(health, [("replica1", r1), ("replica2", r2)])?;
//! set.check_now().await;
//! println!("healthy: {:?}", set.healthy());
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::{Error, Pool, Result};

/// The probe: standby or not, and the replay lag in seconds (0 when all received WAL is
/// replayed; 0 too when nothing was replayed yet, whose age is unknown).
const PROBE_SQL: &str = "SELECT pg_is_in_recovery(), \
     CASE WHEN NOT pg_is_in_recovery() THEN NULL \
          WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 \
          ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) \
     END::float8";

/// When a replica counts as healthy, and how often that is checked.
///
/// ```
/// use std::time::Duration;
/// use hyperdjango_pool::ReplicaHealth;
///
/// let h = ReplicaHealth::default();
/// assert_eq!(h.max_lag, Duration::from_secs(10));
/// assert_eq!(h.check_interval, Duration::from_secs(1));
/// assert_eq!(h.check_timeout, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaHealth {
    /// The most replay lag a replica may have and still serve reads (default 10 s).
    pub max_lag: Duration,
    /// How often every replica is probed in the background (default 1 s).
    pub check_interval: Duration,
    /// How long one probe may take, connecting included (default 2 s); a replica that does
    /// not answer in time is unhealthy.
    pub check_timeout: Duration,
}

impl Default for ReplicaHealth {
    fn default() -> Self {
        ReplicaHealth {
            max_lag: Duration::from_secs(10),
            check_interval: Duration::from_secs(1),
            check_timeout: Duration::from_secs(2),
        }
    }
}

/// What the last probe of one replica found.
///
/// ```
/// use hyperdjango_pool::ReplicaStatus;
///
/// fn show(s: &ReplicaStatus) -> String {
///     match &s.problem {
///         None => format!("{}: healthy, lag {:?}", s.name, s.lag),
///         Some(why) => format!("{}: out of the read set: {why}", s.name),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStatus {
    /// The replica's name, as given to [`ReplicaSet::start`].
    pub name: String,
    /// Whether it may serve reads.
    pub healthy: bool,
    /// The replay lag the last probe measured, if it answered as a standby.
    pub lag: Option<Duration>,
    /// Why it is out of the read set (`None` when healthy or not probed yet).
    pub problem: Option<String>,
}

struct Replica {
    name: String,
    pool: Pool,
    healthy: AtomicBool,
    status: Mutex<ReplicaStatus>,
}

struct Shared {
    health: ReplicaHealth,
    replicas: Vec<Replica>,
}

/// Replicas with their pools and their health; cheap to clone (clones share the state).
/// See the [module docs](self).
///
/// ```no_run
/// use hyperdjango_pool::{Pool, ReplicaHealth, ReplicaSet};
///
/// # async fn f(replica: Pool) -> hyperdjango_pool::Result<()> {
/// let set = ReplicaSet::start(ReplicaHealth::default(), [("replica", replica)])?;
/// if set.is_healthy("replica") {
///     // read from it
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReplicaSet {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReplicaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaSet")
            .field("health", &self.shared.health)
            .field("replicas", &self.status())
            .finish()
    }
}

impl ReplicaSet {
    /// Starts watching `replicas` (name, pool): every replica counts as healthy until a
    /// probe says otherwise, and the first probe runs at once in the background. The
    /// background task ends when the last clone of the set is dropped. Must be called
    /// inside a Tokio runtime; an error otherwise.
    ///
    /// ```no_run
    /// use hyperdjango_pool::{Pool, ReplicaHealth, ReplicaSet};
    ///
    /// # async fn f(replica: Pool) -> hyperdjango_pool::Result<()> {
    /// let set = ReplicaSet::start(ReplicaHealth::default(), [("replica", replica)])?;
    /// assert_eq!(set.names(), ["replica"]);
    /// # Ok(()) }
    /// ```
    pub fn start<N: Into<String>>(
        health: ReplicaHealth,
        replicas: impl IntoIterator<Item = (N, Pool)>,
    ) -> Result<ReplicaSet> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config(crate::ConfigError::new(
                "ReplicaSet::start must be called inside a Tokio runtime (it probes the \
                 replicas in a background task)",
            ))
        })?;
        if health.check_interval.is_zero() {
            return Err(Error::Config(crate::ConfigError::new(
                "ReplicaHealth::check_interval must be more than zero",
            )));
        }
        let replicas = replicas
            .into_iter()
            .map(|(name, pool)| {
                let name = name.into();
                Replica {
                    status: Mutex::new(ReplicaStatus {
                        name: name.clone(),
                        healthy: true,
                        lag: None,
                        problem: None,
                    }),
                    name,
                    pool,
                    healthy: AtomicBool::new(true),
                }
            })
            .collect();
        let shared = Arc::new(Shared { health, replicas });
        runtime.spawn(watch(Arc::downgrade(&shared), health.check_interval));
        Ok(ReplicaSet { shared })
    }

    /// The replicas' names, in the order given.
    ///
    /// ```no_run
    /// # fn f(set: hyperdjango_pool::ReplicaSet) {
    /// for name in set.names() {
    ///     println!("{name}: {}", set.is_healthy(name));
    /// }
    /// # }
    /// ```
    pub fn names(&self) -> Vec<&str> {
        self.shared
            .replicas
            .iter()
            .map(|r| r.name.as_str())
            .collect()
    }

    /// Whether the replica called `name` may serve reads; `false` for an unknown name.
    ///
    /// ```no_run
    /// # fn f(set: hyperdjango_pool::ReplicaSet) {
    /// assert!(!set.is_healthy("no such replica"));
    /// # }
    /// ```
    pub fn is_healthy(&self, name: &str) -> bool {
        self.shared
            .replicas
            .iter()
            .any(|r| r.name == name && r.healthy.load(Ordering::Acquire))
    }

    /// The names of the healthy replicas.
    ///
    /// ```no_run
    /// # fn f(set: hyperdjango_pool::ReplicaSet) {
    /// let reads_go_to = set.healthy();
    /// # }
    /// ```
    pub fn healthy(&self) -> Vec<&str> {
        self.shared
            .replicas
            .iter()
            .filter(|r| r.healthy.load(Ordering::Acquire))
            .map(|r| r.name.as_str())
            .collect()
    }

    /// The pool of the replica called `name`.
    ///
    /// ```no_run
    /// # async fn f(set: hyperdjango_pool::ReplicaSet) -> hyperdjango_pool::Result<()> {
    /// if let Some(pool) = set.pool("replica") {
    ///     pool.execute("SELECT 1", &[]).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.shared
            .replicas
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.pool)
    }

    /// What the last probe of each replica found.
    ///
    /// ```no_run
    /// # fn f(set: hyperdjango_pool::ReplicaSet) {
    /// for s in set.status() {
    ///     println!("{} healthy={} lag={:?} {:?}", s.name, s.healthy, s.lag, s.problem);
    /// }
    /// # }
    /// ```
    pub fn status(&self) -> Vec<ReplicaStatus> {
        self.shared
            .replicas
            .iter()
            .map(|r| r.status.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Probes every replica now (concurrently) and updates the read set, without waiting
    /// for the next background round.
    ///
    /// ```no_run
    /// # async fn f(set: hyperdjango_pool::ReplicaSet) {
    /// set.check_now().await;
    /// println!("{:?}", set.healthy());
    /// # }
    /// ```
    pub async fn check_now(&self) {
        check_all(&self.shared).await;
    }
}

/// The background loop; it holds the set weakly, so dropping every clone ends it.
async fn watch(weak: Weak<Shared>, interval: Duration) {
    loop {
        match weak.upgrade() {
            Some(shared) => check_all(&shared).await,
            None => return,
        }
        tokio::time::sleep(interval).await;
    }
}

async fn check_all(shared: &Shared) {
    let probes = shared.replicas.iter().map(|r| probe(r, &shared.health));
    let results: Vec<(Option<Duration>, Option<String>)> = join_all(probes).await;
    for (replica, (lag, problem)) in shared.replicas.iter().zip(results) {
        let healthy = problem.is_none();
        replica.healthy.store(healthy, Ordering::Release);
        *replica.status.lock().unwrap_or_else(|e| e.into_inner()) = ReplicaStatus {
            name: replica.name.clone(),
            healthy,
            lag,
            problem,
        };
    }
}

/// Runs the futures concurrently on this task (no extra dependency for a handful of
/// replicas).
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut out: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, fut) in out.iter_mut().zip(pending.iter_mut()) {
            if let Some(f) = fut {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *slot = Some(v);
                        *fut = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// One probe: the lag measured (when it answered as a standby) and the problem, if any.
async fn probe(replica: &Replica, health: &ReplicaHealth) -> (Option<Duration>, Option<String>) {
    let answer =
        tokio::time::timeout(health.check_timeout, replica.pool.query_one(PROBE_SQL, &[])).await;
    let row = match answer {
        Err(_) => {
            return (
                None,
                Some(format!(
                    "no answer within the check timeout ({:?})",
                    health.check_timeout
                )),
            );
        }
        Ok(Err(e)) => return (None, Some(format!("unreachable: {e}"))),
        Ok(Ok(row)) => row,
    };
    let read = || -> std::result::Result<(bool, Option<f64>), hyperdjango_pgwire::Error> {
        Ok((row.get(0)?, row.get(1)?))
    };
    match read() {
        Err(e) => (None, Some(format!("unreadable health answer: {e}"))),
        Ok((false, _)) => (
            None,
            Some("not a standby (not in recovery: promoted?)".to_string()),
        ),
        Ok((true, seconds)) => {
            let lag = Duration::try_from_secs_f64(seconds.unwrap_or(0.0).max(0.0))
                .unwrap_or(Duration::MAX);
            let problem = (lag > health.max_lag).then(|| {
                format!(
                    "replay lag {:.1} s is over max_lag {:.1} s",
                    lag.as_secs_f64(),
                    health.max_lag.as_secs_f64()
                )
            });
            (Some(lag), problem)
        }
    }
}
