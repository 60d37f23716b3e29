//! Counters and the acquire-wait histogram, updated without locks, and the [`Metrics`]
//! snapshot that [`Pool::metrics`](crate::Pool::metrics) returns.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Waits under 16 µs get a bucket each; above, each power of two is split in four, so a
/// percentile is reported within 25 % of the true value. 168 buckets reach past 10^12 µs.
const BUCKETS: usize = 168;

/// Lock-free counters of a pool.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) connects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) broken_discards: AtomicU64,
    pub(crate) acquires: AtomicU64,
    pub(crate) acquire_timeouts: AtomicU64,
    pub(crate) query_timeouts: AtomicU64,
    pub(crate) pipelined_queries: AtomicU64,
    pub(crate) pipelined_batches: AtomicU64,
    wait: [AtomicU64; BUCKETS],
    wait_max_us: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            broken_discards: AtomicU64::new(0),
            acquires: AtomicU64::new(0),
            acquire_timeouts: AtomicU64::new(0),
            query_timeouts: AtomicU64::new(0),
            pipelined_queries: AtomicU64::new(0),
            pipelined_batches: AtomicU64::new(0),
            wait: std::array::from_fn(|_| AtomicU64::new(0)),
            wait_max_us: AtomicU64::new(0),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < 16 {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros() as usize; // >= 4
    let sub = ((us >> (exp - 2)) & 3) as usize;
    (16 + (exp - 4) * 4 + sub).min(BUCKETS - 1)
}

/// The largest value (µs) that falls in bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    if i < 16 {
        return i as u64;
    }
    let exp = 4 + (i - 16) / 4;
    let sub = ((i - 16) % 4) as u64;
    ((5 + sub) << (exp - 2)) - 1
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl Counters {
    /// Records how long one successful acquire waited.
    pub(crate) fn record_wait(&self, waited: Duration) {
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.wait[bucket_of(us)].fetch_add(1, Relaxed);
        self.wait_max_us.fetch_max(us, Relaxed);
        bump(&self.acquires);
    }

    fn percentiles(&self) -> WaitPercentiles {
        let counts: Vec<u64> = self.wait.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let max = Duration::from_micros(self.wait_max_us.load(Relaxed));
        let at = |q: f64| -> Duration {
            if total == 0 {
                return Duration::ZERO;
            }
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_micros(bucket_upper(i)).min(max);
                }
            }
            max
        };
        WaitPercentiles {
            count: total,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max,
        }
    }

    pub(crate) fn snapshot(&self, status: Status) -> Metrics {
        Metrics {
            status,
            connects: self.connects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            rotations: self.rotations.load(Relaxed),
            broken_discards: self.broken_discards.load(Relaxed),
            acquires: self.acquires.load(Relaxed),
            acquire_timeouts: self.acquire_timeouts.load(Relaxed),
            query_timeouts: self.query_timeouts.load(Relaxed),
            pipelined_queries: self.pipelined_queries.load(Relaxed),
            pipelined_batches: self.pipelined_batches.load(Relaxed),
            acquire_wait: self.percentiles(),
        }
    }
}

/// The pool's state at one moment ([`Pool::status`](crate::Pool::status)).
///
/// ```no_run
/// # fn f(pool: &hyperdjango_pool::Pool) {
/// let s = pool.status();
/// println!("{} of {} open, {} idle, {} in use, {} waiting", s.size, s.max_size, s.idle, s.in_use, s.waiters);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The maximum number of connections.
    pub max_size: usize,
    /// Open connections: idle + in use.
    pub size: usize,
    /// Connections waiting in the pool.
    pub idle: usize,
    /// Connections checked out, or being cleaned up after their return.
    pub in_use: usize,
    /// Callers waiting in `acquire`.
    pub waiters: usize,
    /// Connections being opened.
    pub opening: usize,
}

/// Acquire waits: how long successful `acquire` calls waited, as percentiles (each within
/// 25 % of the true value, never above `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitPercentiles {
    /// How many acquires were measured.
    pub count: u64,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest wait.
    pub max: Duration,
}

/// Counters since the pool started, and its current [`Status`]
/// ([`Pool::metrics`](crate::Pool::metrics)).
///
/// ```no_run
/// # fn f(pool: &hyperdjango_pool::Pool) {
/// let m = pool.metrics();
/// println!(
///     "connects {} rotations {} broken {} timeouts {}/{} wait p99 {:?}",
///     m.connects, m.rotations, m.broken_discards, m.acquire_timeouts, m.query_timeouts,
///     m.acquire_wait.p99
/// );
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Sizes at the moment of the snapshot.
    pub status: Status,
    /// Connections opened.
    pub connects: u64,
    /// Connection attempts that failed (including connect timeouts and `after_connect` errors).
    pub connect_failures: u64,
    /// Connections replaced for reaching `max_queries` or `max_lifetime`.
    pub rotations: u64,
    /// Connections discarded because they were broken (server gone, backend terminated,
    /// failed health check, failed clean-up, unconfirmed query cancellation).
    pub broken_discards: u64,
    /// Successful acquires.
    pub acquires: u64,
    /// Acquires that gave up ([`Error::Exhausted`](crate::Error::Exhausted)).
    pub acquire_timeouts: u64,
    /// Queries cancelled by the query timeout.
    pub query_timeouts: u64,
    /// Queries sent through the pipelined one-shot methods ([`Pool::query`](crate::Pool::query)
    /// and friends).
    pub pipelined_queries: u64,
    /// The pipelines they were sent in: `pipelined_queries / pipelined_batches` is the
    /// average batch size.
    pub pipelined_batches: u64,
    /// How long successful acquires waited.
    pub acquire_wait: WaitPercentiles,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_contain_their_values() {
        let mut last = 0;
        for us in (0..100_000u64).chain([1 << 30, 1 << 40, u64::MAX]) {
            let b = bucket_of(us);
            assert!(b >= last || us > 100_000);
            last = b;
            if b < BUCKETS - 1 {
                assert!(bucket_upper(b) >= us, "{us} in bucket {b}");
                assert!(bucket_upper(b) as f64 <= (us as f64) * 1.25 + 1.0, "{us}");
            }
        }
    }

    #[test]
    fn percentiles() {
        let c = Counters::default();
        assert_eq!(c.percentiles().p99, Duration::ZERO);
        for _ in 0..90 {
            c.record_wait(Duration::from_micros(10));
        }
        for _ in 0..10 {
            c.record_wait(Duration::from_millis(100));
        }
        let p = c.percentiles();
        assert_eq!(p.count, 100);
        assert_eq!(p.p50, Duration::from_micros(10));
        assert_eq!(p.p90, Duration::from_micros(10));
        assert!(p.p99 >= Duration::from_millis(100) && p.p99 <= Duration::from_millis(125));
        assert_eq!(p.max, Duration::from_millis(100));
        assert!(p.p99 <= p.max);
    }
}
