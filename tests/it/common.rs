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

/// Sends `v` as `$1`, has the server cast it to `ty`, and reads it back as `T`.
pub async fn echo<T>(conn: &mut Connection, ty: &str, v: &T) -> T
where
    T: hyperdjango_pgwire::ToSql + Sync + hyperdjango_pgwire::types::FromSqlOwned + std::fmt::Debug,
{
    let sql = format!("SELECT $1::{ty}");
    let row = conn
        .query_one(&sql, &[v])
        .await
        .unwrap_or_else(|e| panic!("{sql} with {v:?}: {e}"));
    row.get::<_, T>(0)
        .unwrap_or_else(|e| panic!("reading back {sql} with {v:?}: {e}"))
}

/// Round-trips each value through `$1::ty` and checks it comes back equal.
pub async fn round_trip<T>(conn: &mut Connection, ty: &str, values: &[T])
where
    T: hyperdjango_pgwire::ToSql
        + Sync
        + hyperdjango_pgwire::types::FromSqlOwned
        + std::fmt::Debug
        + PartialEq,
{
    for v in values {
        assert_eq!(&echo(conn, ty, v).await, v, "{ty}");
    }
}

/// Installs extension `name` if the server has it; otherwise prints why the caller skips
/// (never a silent skip) and returns false.
pub async fn extension(conn: &mut Connection, name: &str, test: &str) -> bool {
    let available = conn
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = $1",
            &[&name],
        )
        .await
        .expect("pg_available_extensions")
        .is_some();
    if !available {
        skip(&format!(
            "{test}: the server (version {}) has no `{name}` extension",
            conn.parameter("server_version").unwrap_or("?")
        ));
        return false;
    }
    // Extensions are per database: concurrent tests may race to create it. Always in
    // `public`, whatever this connection's search_path, so every test finds its types.
    for _ in 0..5 {
        match conn
            .batch_execute(&format!(
                "CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA public"
            ))
            .await
        {
            Ok(()) => return true,
            Err(e)
                if e.code()
                    .is_some_and(|c| c.code() == "23505" || c.code() == "XX000") =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("CREATE EXTENSION {name}: {e}"),
        }
    }
    true
}

/// Asserts that `conn` still runs a query (after an error or an abandoned command).
pub async fn assert_usable(conn: &mut Connection) {
    let one: i32 = conn
        .query_one("SELECT 1", &[])
        .await
        .expect("the connection is still usable")
        .get(0)
        .expect("an int4");
    assert_eq!(one, 1);
}

/// A fresh schema, first on the search path of `conn`, for objects a test creates.
pub async fn own_schema(conn: &mut Connection, prefix: &str) -> String {
    let schema = unique(prefix);
    conn.batch_execute(&format!(
        "CREATE SCHEMA {schema}; SET search_path = {schema}, public"
    ))
    .await
    .expect("creating a schema");
    schema
}

/// Reports a skipped test on standard error, past the test harness's output capture, so a
/// skip is never silent.
pub fn skip(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {why}");
}

/// A small deterministic PRNG (xorshift64*), so a failing seed can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Polls `fut` until it completes or has returned Pending `polls` times, then drops it: the
/// way to abandon a query future at a chosen point.
pub async fn poll_then_drop<F: std::future::Future>(fut: F, polls: u64) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut pending = 0;
    std::future::poll_fn(move |cx| match fut.as_mut().poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => {
            pending += 1;
            if pending >= polls {
                std::task::Poll::Ready(None)
            } else {
                std::task::Poll::Pending
            }
        }
    })
    .await
}
