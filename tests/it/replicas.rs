//! Streaming replication against real servers: a primary and a hot standby made with
//! `pg_basebackup -R` (`TestCluster::start_standby`), shared by this module's tests. The
//! primary/replica router, reads that stick to the primary after a write, the replica
//! health set (a paused or stopped replica drops out of the read set and comes back), and
//! `target_session_attrs` on a multi-host URL.
//!
//! Tests that pause or stop the replica would stall the others' waits for replay: every test
//! here holds [`pair`]'s lock while it runs.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::router::{PrimaryReplicaRouter, add_router, read_your_writes};
use hyperdjango_pgwire::testing::{TestCluster, wait_for_replay};
use hyperdjango_pgwire::{Config, Connection};
use hyperdjango_pool::{Pool, ReplicaHealth, ReplicaSet};
use tokio::sync::{Mutex, MutexGuard};

use crate::common::unique;

/// How long replication may take to catch up, or a replica to change state.
const PATIENCE: Duration = Duration::from_secs(60);

pub struct Pair {
    pub primary: TestCluster,
    pub standby: TestCluster,
}

/// The module's primary and standby, and the lock that serializes its tests; `None` (with
/// the reason printed) when servers cannot be started here.
async fn pair() -> Option<(&'static Pair, MutexGuard<'static, ()>)> {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::const_new(());
    let guard = LOCK.lock().await;
    // Private servers: HYPER_TEST_DATABASE_URL does not matter here.
    let pair = PAIR.get_or_init(start_pair);
    heal(pair).await;
    Some((pair, guard))
}

/// Undoes what a failed test may have left: a stopped standby, paused replay.
async fn heal(pair: &Pair) {
    if pair.standby.postmaster_pid().is_none() {
        pair.standby.start_again().unwrap();
    }
    let mut standby = Connection::connect_url(&pair.standby.url()).await.unwrap();
    standby
        .execute("SELECT pg_wal_replay_resume()", &[])
        .await
        .unwrap();
}

/// A fresh primary and a standby streaming from it.
pub fn start_pair() -> Pair {
    let primary = TestCluster::start().unwrap_or_else(|e| panic!("starting the primary: {e}"));
    let standby = primary
        .start_standby()
        .unwrap_or_else(|e| panic!("starting the standby: {e}"));
    Pair { primary, standby }
}

pub fn port(c: &TestCluster) -> u16 {
    c.port().unwrap()
}

async fn replayed(pair: &Pair) {
    wait_for_replay(&pair.primary, &pair.standby, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Polls `check` until it holds, failing with `what` after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what}: still not the case after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers a pool for `cluster` under a fresh alias.
fn register(cluster: &TestCluster, prefix: &str) -> (String, Pool) {
    let alias = unique(prefix);
    let pool = Pool::builder()
        .url(cluster.url())
        .max_size(2)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    hyperdjango_orm::register_database(&alias, pool.clone());
    (alias, pool)
}

model! {
    #[table = "rp_notes"]
    #[derive(Debug, Clone)]
    pub struct RpNote {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub body: String,
    }
}

model! {
    #[table = "rp_sticky"]
    #[derive(Debug, Clone)]
    pub struct RpSticky {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub body: String,
    }
}

model! {
    #[table = "rp_health"]
    #[derive(Debug, Clone)]
    pub struct RpHealth {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub body: String,
    }
}

/// Which server answered a routed read of `M`: the port of the server that evaluated
/// `inet_server_port()` in the query's WHERE clause.
async fn read_served_by<M: Model>(ports: [u16; 2]) -> u16 {
    for p in ports {
        let n = QuerySet::<M>::new()
            .filter(Q::raw(
                "inet_server_port() = %s",
                vec![std::sync::Arc::new(i32::from(p))],
            ))
            .count()
            .await
            .unwrap();
        if n > 0 {
            return p;
        }
    }
    panic!("the read was served by neither {ports:?} (or the table is empty)");
}

/// The pair registered as two databases, for routing model `M` alone.
struct Routed {
    model: &'static str,
    primary: String,
    primary_pool: Pool,
    replica: String,
    replica_pool: Pool,
    /// The primary's and the standby's ports.
    ports: [u16; 2],
}

impl Routed {
    /// A primary/replica router for the model.
    fn router(&self) -> PrimaryReplicaRouter {
        PrimaryReplicaRouter::new(&self.primary, [self.replica.as_str()]).only([self.model])
    }
}

/// Registers the pair and creates `M`'s table on the primary (replicated to the standby)
/// with one row.
async fn routed<M: Model + Default>(pair: &Pair) -> Routed {
    let (primary, primary_pool) = register(&pair.primary, "rp_primary");
    let (replica, replica_pool) = register(&pair.standby, "rp_replica");
    hyperdjango_orm::using_database(&primary, async {
        hyperdjango_orm::ddl::create_table::<M>(false)
            .await
            .unwrap();
        QuerySet::<M>::new().create(M::default()).await.unwrap();
    })
    .await;
    replayed(pair).await;
    Routed {
        model: M::meta().name,
        primary,
        primary_pool,
        replica,
        replica_pool,
        ports: [port(&pair.primary), port(&pair.standby)],
    }
}

#[tokio::test]
async fn the_router_reads_from_the_replica_and_writes_to_the_primary() {
    let Some((pair, _lock)) = pair().await else {
        return;
    };
    let setup = routed::<RpNote>(pair).await;
    let (primary, ports) = (setup.primary.clone(), setup.ports);
    let router = add_router(setup.router());

    assert_eq!(read_served_by::<RpNote>(ports).await, port(&pair.standby));
    // A write goes to the primary: the standby would refuse it (read-only transaction).
    let note = RpNote::objects()
        .create(RpNote {
            body: "written".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut direct = Connection::connect_url(&pair.primary.url()).await.unwrap();
    let on_primary: i64 = direct
        .query_one(
            "SELECT count(*) FROM rp_notes WHERE id = $1",
            &[&note.id.get().unwrap()],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(on_primary, 1);
    // Inside a transaction on the primary, reads stay there.
    let port_in_tx = hyperdjango_orm::atomic_using(Some(&primary), async {
        Ok::<_, hyperdjango_orm::Error>(read_served_by::<RpNote>(ports).await)
    })
    .await
    .unwrap();
    assert_eq!(port_in_tx, port(&pair.primary));
    router.remove();
}

#[tokio::test]
async fn reads_stick_to_the_primary_after_a_write_in_the_request() {
    let Some((pair, _lock)) = pair().await else {
        return;
    };
    let setup = routed::<RpSticky>(pair).await;
    let ports = setup.ports;
    let router = add_router(setup.router());

    // Replay is paused, so the replica cannot have the request's write.
    let mut standby = Connection::connect_url(&pair.standby.url()).await.unwrap();
    standby
        .execute("SELECT pg_wal_replay_pause()", &[])
        .await
        .unwrap();
    let seen = read_your_writes(async {
        assert_eq!(read_served_by::<RpSticky>(ports).await, port(&pair.standby));
        RpSticky::objects()
            .create(RpSticky {
                body: "mine".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(read_served_by::<RpSticky>(ports).await, port(&pair.primary));
        RpSticky::objects()
            .filter(RpSticky::body.eq("mine"))
            .count()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(seen, 1, "the request read its own write");
    // Another request starts on the replica again.
    let other = read_your_writes(read_served_by::<RpSticky>(ports)).await;
    assert_eq!(other, port(&pair.standby));
    standby
        .execute("SELECT pg_wal_replay_resume()", &[])
        .await
        .unwrap();
    router.remove();
}

#[tokio::test]
async fn a_lagging_or_stopped_replica_leaves_the_read_set_and_comes_back() {
    let Some((pair, _lock)) = pair().await else {
        return;
    };
    let setup = routed::<RpHealth>(pair).await;
    let (replica, ports) = (setup.replica.clone(), setup.ports);
    let health = ReplicaHealth {
        max_lag: Duration::from_millis(500),
        check_interval: Duration::from_millis(100),
        check_timeout: Duration::from_secs(2),
    };
    let set = ReplicaSet::start(health, [(replica.clone(), setup.replica_pool.clone())]).unwrap();
    set.check_now().await;
    assert_eq!(set.healthy(), [replica.as_str()], "{:?}", set.status());
    let router = add_router(setup.router().health(set.clone()));
    assert_eq!(read_served_by::<RpHealth>(ports).await, port(&pair.standby));

    // Lag: replay paused while the primary keeps writing.
    let mut standby = Connection::connect_url(&pair.standby.url()).await.unwrap();
    standby
        .execute("SELECT pg_wal_replay_pause()", &[])
        .await
        .unwrap();
    eventually("the paused replica drops out", || async {
        setup
            .primary_pool
            .execute("INSERT INTO rp_health (body) VALUES ('tick')", &[])
            .await
            .unwrap();
        !set.is_healthy(&replica)
    })
    .await;
    let status = &set.status()[0];
    assert!(
        status
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("replay lag"),
        "{status:?}"
    );
    // No healthy replica: reads fall back to the primary.
    assert_eq!(read_served_by::<RpHealth>(ports).await, port(&pair.primary));
    standby
        .execute("SELECT pg_wal_replay_resume()", &[])
        .await
        .unwrap();
    eventually("the resumed replica comes back", || async {
        set.is_healthy(&replica)
    })
    .await;
    assert_eq!(read_served_by::<RpHealth>(ports).await, port(&pair.standby));

    // Down: the replica is stopped.
    drop(standby);
    pair.standby.stop().unwrap();
    eventually("the stopped replica drops out", || async {
        !set.is_healthy(&replica)
    })
    .await;
    let status = &set.status()[0];
    assert!(
        status
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("unreachable"),
        "{status:?}"
    );
    assert_eq!(read_served_by::<RpHealth>(ports).await, port(&pair.primary));
    pair.standby.start_again().unwrap();
    eventually("the restarted replica comes back", || async {
        set.is_healthy(&replica)
    })
    .await;
    replayed(pair).await;
    assert_eq!(read_served_by::<RpHealth>(ports).await, port(&pair.standby));
    router.remove();
}

/// Connects to `hosts` (in order) with `target_session_attrs=attrs`; the port it got.
async fn connect_pick(hosts: &[u16], attrs: &str) -> hyperdjango_pgwire::Result<u16> {
    let list: Vec<String> = hosts.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let url = format!(
        "postgres://postgres@{}/postgres?target_session_attrs={attrs}&connect_timeout=5",
        list.join(",")
    );
    let config = Config::from_url(&url)?;
    let mut conn = Connection::connect(&config).await?;
    let row = conn
        .query_one("SELECT inet_server_port(), pg_is_in_recovery()", &[])
        .await?;
    let port: i32 = row.get(0)?;
    Ok(u16::try_from(port).unwrap())
}

#[tokio::test]
async fn target_session_attrs_pick_the_right_server_of_a_real_pair() {
    let Some((pair, _lock)) = pair().await else {
        return;
    };
    let (p, s) = (port(&pair.primary), port(&pair.standby));
    for (order, name) in [([p, s], "primary first"), ([s, p], "standby first")] {
        let want = |attrs: &str| match attrs {
            "any" => order[0],
            "read-write" | "primary" => p,
            _ => s, // read-only, standby, prefer-standby
        };
        for attrs in [
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ] {
            let got = connect_pick(&order, attrs)
                .await
                .unwrap_or_else(|e| panic!("{name}, {attrs}: {e}"));
            assert_eq!(got, want(attrs), "{name}, target_session_attrs={attrs}");
        }
    }
    // Only the primary listed: prefer-standby settles for it, standby and read-only fail.
    assert_eq!(connect_pick(&[p], "prefer-standby").await.unwrap(), p);
    for attrs in ["standby", "read-only"] {
        let err = connect_pick(&[p], attrs).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!("target_session_attrs={attrs}")),
            "{err}"
        );
    }
    // Only the standby listed: primary and read-write fail, naming what it is.
    let err = connect_pick(&[s], "primary").await.unwrap_err().to_string();
    assert!(err.contains("is a standby"), "{err}");
    let err = connect_pick(&[s], "read-write")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is read-only"), "{err}");
}
