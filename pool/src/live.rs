//! A pooled connection's bookkeeping: when it was opened, when it must be rotated, how many
//! queries it ran, since when it has been idle.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyperdjango_pgwire::Connection;

use crate::config::PoolConfig;

/// A connection owned by the pool, with its bookkeeping.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) conn: Connection,
    /// When it must be rotated (its lifetime, less up to 10 % jitter).
    pub(crate) expires: Option<Instant>,
    /// Queries run through the pool's methods (and raw uses of the connection).
    pub(crate) queries: u64,
    /// When it last became idle.
    pub(crate) idle_since: Instant,
    /// Not handed out yet: it was opened for the `acquire` that gets it (or for `min_idle`).
    pub(crate) fresh: bool,
}

/// A uniformly distributed number in [0, 1), from std's per-process random hash keys (no
/// extra dependency; this only spreads rotations out, it is not for secrets).
fn random_fraction() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let h = RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The lifetime less up to 10 %, at random.
pub(crate) fn jittered(lifetime: Duration) -> Duration {
    lifetime.mul_f64(1.0 - 0.1 * random_fraction())
}

impl Live {
    pub(crate) fn new(conn: Connection, config: &PoolConfig) -> Live {
        let now = Instant::now();
        Live {
            conn,
            expires: config
                .max_lifetime
                .and_then(|l| now.checked_add(jittered(l))),
            queries: 0,
            idle_since: now,
            fresh: true,
        }
    }

    /// Whether it reached its query count or its lifetime.
    pub(crate) fn expired(&self, config: &PoolConfig, now: Instant) -> bool {
        self.expires.is_some_and(|e| now >= e)
            || config.max_queries.is_some_and(|max| self.queries >= max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let lifetime = Duration::from_secs(3600);
        let samples: Vec<Duration> = (0..1000).map(|_| jittered(lifetime)).collect();
        for s in &samples {
            assert!(*s <= lifetime && *s >= lifetime.mul_f64(0.9), "{s:?}");
        }
        let min = samples.iter().min().unwrap();
        let max = samples.iter().max().unwrap();
        assert!(
            *max - *min > Duration::from_secs(200),
            "spread {min:?}..{max:?}"
        );
    }
}
