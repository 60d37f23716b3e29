//! Shared helpers: the cluster, connections, unique names.

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hyperdjango_pgwire::testing::{TestCluster, TestUser};
use hyperdjango_pgwire::{Config, Connection};

/// The shared cluster. If it cannot start, the reason (with the install command) is printed
/// once and each test fails with a short pointer to it.
pub fn cluster() -> &'static TestCluster {
    static REPORT: Once = Once::new();
    match TestCluster::shared() {
        Ok(c) => c,
        Err(e) => {
            REPORT.call_once(|| eprintln!("\n==== no PostgreSQL server for the tests ====\n{e}\n"));
            panic!("no PostgreSQL server for the tests: {e}");
        }
    }
}

/// A superuser connection over TCP.
pub async fn connect() -> Connection {
    match Connection::connect_url(&cluster().url()).await {
        Ok(c) => c,
        Err(e) => panic!("connecting to the test cluster: {e}"),
    }
}

/// A connection as one of the test roles, or `None` on an external server (where the roles
/// do not exist); the caller prints that it skipped.
pub async fn connect_as(user: TestUser) -> Option<hyperdjango_pgwire::Result<Connection>> {
    let url = cluster().url_for(user)?;
    Some(Connection::connect_url(&url).await)
}

/// A config for a test role over TCP with the given password (or none), ignoring PG* env.
pub fn config_for(user: TestUser, password: Option<&str>) -> Option<Config> {
    let c = cluster();
    let mut config = Config::new();
    config
        .host(c.host()?)
        .port(c.port()?)
        .user(user.name())
        .dbname("postgres");
    if let Some(p) = password {
        config.password(p);
    }
    Some(config)
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fails the test if `f` takes longer than `secs`: a hang is a bug, never a wait.
pub async fn within<T>(secs: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {secs} s"),
    }
}
