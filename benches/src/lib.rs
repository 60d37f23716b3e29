//! Shared setup of the issue-4 benchmarks: one server, one data set, three drivers.
//!
//! Everything the criterion benches (`benches/*.rs`) and the `compare` binary measure lives
//! here, so both run exactly the same code:
//!
//! - [`BenchEnv::setup`] starts one throwaway PostgreSQL ([`TestCluster::start`]), or uses the
//!   server named by `HYPER_DATABASE_URL` when that is set, and creates the tables and data
//!   ([`create_data`]) once, identically for every driver.
//! - [`Client`] is one connection of one driver ([`DriverKind`]: hyperdjango, tokio-postgres,
//!   sqlx); [`Client::run`] runs one iteration of a [`Workload`] the way that driver's own
//!   documentation recommends (prepared or cached statements, binary results).
//! - [`floor`] runs `pgbench -M prepared` (the libpq floor of W1 and W2) and, on PostgreSQL
//!   17+, `EXPLAIN (ANALYZE, SERIALIZE binary)` (the server's own limit for W3).
//!
//! Each iteration returns an [`Outcome`]: how many units it did (queries or rows) and a
//! checksum over every decoded value, which must be equal for all drivers (so no driver can
//! win by skipping work).

use std::error::Error as StdError;
use std::fmt;

use hyperdjango_pgwire::testing::TestCluster;

pub mod assoc;
pub mod chart;
pub mod floor;
pub mod hd;
pub mod sx;
pub mod tp;

/// The error type of the benchmark code: any driver's error.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A boxed `Send` future.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A result with [`BoxError`].
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// Environment variable with the URL of an existing server to benchmark against instead of a
/// throwaway one.
pub const ENV_URL: &str = "HYPER_DATABASE_URL";

/// Rows of the W3 table.
pub const W3_ROWS: u64 = 100_000;
/// Queries per W2 iteration.
pub const W2_QUERIES: i32 = 100;
/// Rows inserted per W5 iteration.
pub const W5_ROWS: usize = 10_000;
/// Rows of the W6 table.
pub const W6_ROWS: u64 = 1_000;

/// P1: concurrent tasks sharing one pool.
pub const P1_TASKS: u32 = 64;
/// P1: connections in each pool (hyperdjango's `max_size`, deadpool's `max_size`, sqlx's
/// `max_connections`).
pub const P1_CONNS: usize = 4;
/// P1: primary-key gets per task per iteration (one acquire each).
pub const P1_GETS: u32 = 32;
/// P1: rows of `bench_p1`.
pub const P1_ROWS: u32 = 10_000;
/// P1: the primary-key get, as SQL text (each driver caches the statement per connection).
pub const P1_SQL: &str = "SELECT id, name, value FROM bench_p1 WHERE id = $1";

/// The id of P1's `k`-th get in task `task`: a fixed sequence spread over the whole table, a
/// different row for each of the 2,048 gets (7919 is prime, so coprime with 10,000).
pub fn p1_id(task: u32, k: u32) -> i32 {
    ((task * P1_GETS + k) * 7_919 % P1_ROWS + 1) as i32
}

/// Awaits P1's tasks in order and folds their checksums (each task's own sum is over its gets
/// in order, so the result does not depend on scheduling).
pub async fn p1_join(handles: Vec<tokio::task::JoinHandle<Result<u64>>>) -> Result<Outcome> {
    let mut sum = 0;
    for h in handles {
        sum = checksum::add(sum, h.await??);
    }
    Ok(Outcome {
        units: u64::from(P1_TASKS) * u64::from(P1_GETS),
        checksum: sum,
    })
}

/// W3: 100k rows of int4, int8, text, float8, bool, timestamptz.
pub const W3_SQL: &str = "SELECT i4, i8, t, f8, b, ts FROM bench_w3";
/// W4: the MagicStack pgbench query over `pg_type` (12 columns), parameters `(-1, true)`.
pub const W4_SQL: &str = "SELECT typname, typnamespace, typowner, typlen, typbyval, \
    typcategory, typispreferred, typisdefined, typdelim, typrelid, typelem, typarray \
    FROM pg_type WHERE typtypmod = $1 AND typisdefined = $2";
/// W5: one row.
pub const W5_INSERT_SQL: &str = "INSERT INTO bench_w5 (id, n, s, f, b) VALUES ($1, $2, $3, $4, $5)";
/// W5: the binary COPY.
pub const W5_COPY_BINARY_SQL: &str = "COPY bench_w5 (id, n, s, f, b) FROM STDIN (FORMAT binary)";
/// W6: 1,000 rows of int4[] and bytea.
pub const W6_SQL: &str = "SELECT arr, data FROM bench_w6";
/// Rows of the ORM table (`bench_orm`).
pub const ORM_ROWS: u64 = 10_000;
/// The primary key the "ORM pk get" workload reads.
pub const ORM_GET_PK: i32 = 4_242;
/// The raw equivalent of the ORM fetch (what the ORM sends, without its table qualifiers).
pub const ORM_FETCH_SQL: &str = "SELECT id, n, s, f, b FROM bench_orm";
/// The raw equivalent of the ORM's get by primary key.
pub const ORM_GET_SQL: &str = "SELECT id, n, s, f, b FROM bench_orm WHERE id = $1";

/// The tables and data, created once through one connection and read by every driver.
const CREATE_SQL: &str = "
DROP TABLE IF EXISTS bench_w3, bench_w5, bench_w6, bench_orm, bench_p1, bench_comments,
    bench_posts, bench_users;
CREATE TABLE bench_w3 (
    i4 int4 NOT NULL, i8 int8 NOT NULL, t text NOT NULL,
    f8 float8 NOT NULL, b bool NOT NULL, ts timestamptz NOT NULL);
INSERT INTO bench_w3
    SELECT i, i::int8 * 1000003, 'row ' || i || ' ' || md5(i::text), i * 0.25, i % 3 = 0,
           timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second'
    FROM generate_series(1, 100000) AS i;
CREATE TABLE bench_w5 (
    id int4 NOT NULL, n int8 NOT NULL, s text NOT NULL, f float8 NOT NULL, b bool NOT NULL);
CREATE TABLE bench_w6 (id int4 NOT NULL, arr int4[] NOT NULL, data bytea NOT NULL);
INSERT INTO bench_w6
    SELECT i, ARRAY(SELECT i * 100 + j FROM generate_series(1, 10) AS j),
           decode(repeat(md5(i::text), 8), 'hex')
    FROM generate_series(1, 1000) AS i;
CREATE TABLE bench_orm (
    id serial PRIMARY KEY, n int8 NOT NULL, s text NOT NULL, f float8 NOT NULL,
    b bool NOT NULL);
INSERT INTO bench_orm (n, s, f, b)
    SELECT i::int8 * 7919, 'item ' || i || ' ' || md5(i::text), i / 8.0, i % 2 = 0
    FROM generate_series(1, 10000) AS i;
CREATE TABLE bench_p1 (id int4 PRIMARY KEY, name text NOT NULL, value int8 NOT NULL);
INSERT INTO bench_p1
    SELECT i, 'item ' || i, i::int8 * 7919
    FROM generate_series(1, 10000) AS i;
";

/// One benchmark workload of issue 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// `SELECT 1` round trip, one connection.
    W1Select1,
    /// 100 pipelined `SELECT $1::int4`, one Sync per query (independent results).
    W2Pipeline,
    /// The same 100 queries with one Sync for the batch, as pgbench's pipeline mode sends
    /// them: only drivers with such a mode (hyperdjango's `SyncMode::Atomic`).
    W2PipelineAtomic,
    /// Fetch 100k rows (int4, int8, text, float8, bool, timestamptz).
    W3Fetch,
    /// The MagicStack pgbench query over pg_type (12 columns).
    W4PgType,
    /// Insert 10k rows one by one (prepared, in one transaction).
    W5OneByOne,
    /// Insert 10k rows with execute_many or the driver's multi-row equivalent.
    W5Many,
    /// Insert 10k rows with COPY.
    W5Copy,
    /// Fetch 1,000 rows of int4[] and bytea.
    W6ArraysBytea,
    /// Fetch the 10k rows of `bench_orm` into model instances through a QuerySet
    /// (hyperdjango), or raw with `Row::get` per column (the peers).
    OrmFetch,
    /// The same 10k rows through hyperdjango's raw driver (`conn.query` + `row.get`): the
    /// baseline the ORM fetch is measured against (the peers run exactly as in `OrmFetch`).
    OrmFetchRaw,
    /// One model by primary key (`objects().get(pk = ..)`), or a prepared raw SELECT by
    /// primary key (the peers).
    OrmPkGet,
    /// The same get through hyperdjango's raw driver (`conn.query_one` of the SELECT by
    /// primary key): the baseline the ORM get is measured against (the peers run exactly as
    /// in `OrmPkGet`).
    OrmPkGetRaw,
    /// Issue 5: 64 tasks doing primary-key gets through one pool of 4 connections, with
    /// each pool's one-shot query API where it has one (hyperdjango's `Pool::query_one`,
    /// pipelined; sqlx's `fetch_one(&pool)`), else checkout + query (deadpool).
    P1PoolGet,
    /// P1 with an explicit checkout per get in every pool (acquire, one SELECT, release).
    P1PoolCheckout,
    /// diesel_bench's "loading associations sequentially": 100 users, their 1,000 posts and
    /// those posts' 10,000 comments in three queries, assembled into
    /// `Vec<(User, Vec<(Post, Vec<Comment>)>)>` ([`assoc`]): hyperdjango's ORM (models with
    /// foreign keys, `prefetch`), or raw SQL grouped in hash maps (the peers).
    OrmAssoc,
    /// The same three queries through hyperdjango's raw driver, grouped as the peers do: the
    /// baseline the ORM is measured against (the peers run exactly as in `OrmAssoc`).
    OrmAssocRaw,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 17] = [
        Workload::W1Select1,
        Workload::W2Pipeline,
        Workload::W2PipelineAtomic,
        Workload::W3Fetch,
        Workload::W4PgType,
        Workload::W5OneByOne,
        Workload::W5Many,
        Workload::W5Copy,
        Workload::W6ArraysBytea,
        Workload::OrmFetch,
        Workload::OrmFetchRaw,
        Workload::OrmPkGet,
        Workload::OrmPkGetRaw,
        Workload::P1PoolGet,
        Workload::P1PoolCheckout,
        Workload::OrmAssoc,
        Workload::OrmAssocRaw,
    ];

    /// A short name: the criterion benchmark id and the table's first column.
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1Select1 => "W1 select1",
            Workload::W2Pipeline => "W2 pipeline x100",
            Workload::W2PipelineAtomic => "W2 pipeline x100, 1 Sync",
            Workload::W3Fetch => "W3 fetch 100k",
            Workload::W4PgType => "W4 pg_type",
            Workload::W5OneByOne => "W5 insert 1-by-1",
            Workload::W5Many => "W5 insert many",
            Workload::W5Copy => "W5 insert COPY",
            Workload::W6ArraysBytea => "W6 int[]+bytea",
            Workload::OrmFetch => "ORM fetch 10k",
            Workload::OrmFetchRaw => "ORM fetch 10k, hd raw driver",
            Workload::OrmPkGet => "ORM pk get",
            Workload::OrmPkGetRaw => "ORM pk get, hd raw driver",
            Workload::P1PoolGet => "P1 pool pk get, 64 tasks / 4 conns",
            Workload::P1PoolCheckout => "P1 pool checkout per get",
            Workload::OrmAssoc => "ORM assoc 100x10x10",
            Workload::OrmAssocRaw => "ORM assoc 100x10x10, hd raw driver",
        }
    }

    /// What one unit of work is: the rate is reported in units per second.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::W1Select1
            | Workload::W2Pipeline
            | Workload::W2PipelineAtomic
            | Workload::W4PgType
            | Workload::OrmPkGet
            | Workload::OrmPkGetRaw
            | Workload::P1PoolGet
            | Workload::P1PoolCheckout => "queries",
            _ => "rows",
        }
    }

    /// Whether each iteration starts from an empty `bench_w5` (the truncation is not timed).
    pub fn needs_reset(self) -> bool {
        matches!(
            self,
            Workload::W5OneByOne | Workload::W5Many | Workload::W5Copy
        )
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one iteration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Units done (see [`Workload::unit`]): queries or rows.
    pub units: u64,
    /// A checksum over every decoded value; equal across drivers for the same workload.
    pub checksum: u64,
}

/// The three drivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriverKind {
    /// hyperdjango-pgwire, this project.
    Hyperdjango,
    /// tokio-postgres 0.7.
    TokioPostgres,
    /// sqlx 0.8 (PgConnection).
    Sqlx,
}

impl DriverKind {
    /// Every driver, hyperdjango first.
    pub const ALL: [DriverKind; 3] = [
        DriverKind::Hyperdjango,
        DriverKind::TokioPostgres,
        DriverKind::Sqlx,
    ];

    /// The name in tables and benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Hyperdjango => "hyperdjango",
            DriverKind::TokioPostgres => "tokio-postgres",
            DriverKind::Sqlx => "sqlx",
        }
    }
}

/// One connection of one driver, with the statements the workloads use prepared.
pub enum Client {
    /// hyperdjango-pgwire.
    Hd(Box<hd::Hd>),
    /// tokio-postgres.
    Tp(Box<tp::Tp>),
    /// sqlx.
    Sx(Box<sx::Sx>),
}

impl Client {
    /// Connects `kind` to `url` and prepares its statements.
    pub async fn connect(kind: DriverKind, url: &str) -> Result<Client> {
        Ok(match kind {
            DriverKind::Hyperdjango => Client::Hd(Box::new(hd::Hd::connect(url).await?)),
            DriverKind::TokioPostgres => Client::Tp(Box::new(tp::Tp::connect(url).await?)),
            DriverKind::Sqlx => Client::Sx(Box::new(sx::Sx::connect(url).await?)),
        })
    }

    /// Which driver this is.
    pub fn kind(&self) -> DriverKind {
        match self {
            Client::Hd(_) => DriverKind::Hyperdjango,
            Client::Tp(_) => DriverKind::TokioPostgres,
            Client::Sx(_) => DriverKind::Sqlx,
        }
    }

    /// How this driver runs `w`, when it is not the obvious way (a fallback, a missing
    /// feature): printed under the table.
    pub fn note(&self, w: Workload) -> Option<&'static str> {
        match self {
            Client::Hd(_) => hd::note(w),
            Client::Tp(_) => tp::note(w),
            Client::Sx(_) => sx::note(w),
        }
    }

    /// Whether this driver can run `w` at all (only hyperdjango has a one-Sync pipeline).
    pub fn supports(&self, w: Workload) -> bool {
        w != Workload::W2PipelineAtomic || matches!(self, Client::Hd(_))
    }

    /// Whether the driver's variant of `w` is a stand-in for an API that is not there yet:
    /// marked "(fallback)" in the table.
    pub fn is_fallback(&self, w: Workload) -> bool {
        matches!(self, Client::Hd(_)) && hd::is_fallback(w)
    }

    /// Prepares for one iteration of `w` (empties `bench_w5` for the W5 variants). Not timed.
    pub fn reset(&mut self, w: Workload) -> BoxFuture<'_, Result<()>> {
        if !w.needs_reset() {
            return Box::pin(std::future::ready(Ok(())));
        }
        match self {
            Client::Hd(c) => Box::pin(c.truncate_w5()),
            Client::Tp(c) => Box::pin(c.truncate_w5()),
            Client::Sx(c) => Box::pin(c.truncate_w5()),
        }
    }

    /// Runs one iteration of `w`.
    ///
    /// The future is boxed (one allocation per iteration, the same for every driver) so that
    /// it is provably `Send` and can run as a spawned task: without the box, rustc cannot
    /// prove the higher-ranked `Send` bound of sqlx's `&mut PgConnection` executor futures.
    pub fn run<'a>(&'a mut self, w: Workload, data: &'a W5Data) -> BoxFuture<'a, Result<Outcome>> {
        match self {
            Client::Hd(c) => Box::pin(c.run(w, data)),
            Client::Tp(c) => Box::pin(c.run(w, data)),
            Client::Sx(c) => Box::pin(c.run(w, data)),
        }
    }
}

/// One row inserted by W5.
#[derive(Debug, Clone, PartialEq)]
pub struct W5Row {
    /// int4
    pub id: i32,
    /// int8
    pub n: i64,
    /// text
    pub s: String,
    /// float8
    pub f: f64,
    /// bool
    pub b: bool,
}

/// The rows W5 inserts: the same 10k rows for every driver, built before any timing.
#[derive(Debug, Clone)]
pub struct W5Data {
    /// The rows.
    pub rows: Vec<W5Row>,
    /// The same rows as columns (for sqlx's `UNNEST` bulk insert).
    pub ids: Vec<i32>,
    /// Column `n`.
    pub ns: Vec<i64>,
    /// Column `s`.
    pub ss: Vec<String>,
    /// Column `f`.
    pub fs: Vec<f64>,
    /// Column `b`.
    pub bs: Vec<bool>,
}

impl W5Data {
    /// The deterministic W5 data set.
    pub fn new() -> W5Data {
        let rows: Vec<W5Row> = (0..W5_ROWS as i32)
            .map(|i| W5Row {
                id: i,
                n: i64::from(i) * 7919,
                s: format!("name-{i}-{}", "x".repeat((i % 24) as usize)),
                f: f64::from(i) / 8.0,
                b: i % 2 == 0,
            })
            .collect();
        W5Data {
            ids: rows.iter().map(|r| r.id).collect(),
            ns: rows.iter().map(|r| r.n).collect(),
            ss: rows.iter().map(|r| r.s.clone()).collect(),
            fs: rows.iter().map(|r| r.f).collect(),
            bs: rows.iter().map(|r| r.b).collect(),
            rows,
        }
    }
}

impl Default for W5Data {
    fn default() -> Self {
        W5Data::new()
    }
}

/// Checksum helpers: every driver folds the same values in the same order.
pub mod checksum {
    /// Folds one value into `acc`.
    #[inline]
    pub fn add(acc: u64, v: u64) -> u64 {
        acc.rotate_left(5).wrapping_add(v)
    }

    /// One W3 row.
    #[inline]
    pub fn w3(acc: u64, i4: i32, i8: i64, t: &str, f8: f64, b: bool, ts_micros: i64) -> u64 {
        let mut a = add(acc, i4 as u64);
        a = add(a, i8 as u64);
        a = add(a, t.len() as u64 + u64::from(t.as_bytes()[t.len() - 1]));
        a = add(a, f8.to_bits());
        a = add(a, u64::from(b));
        add(a, ts_micros as u64)
    }

    /// One W4 row.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn w4(
        acc: u64,
        typname: &str,
        oids: [u32; 5],
        typlen: i16,
        bools: [bool; 3],
        typcategory: i8,
        typdelim: i8,
    ) -> u64 {
        let mut a = add(acc, typname.len() as u64);
        for o in oids {
            a = add(a, u64::from(o));
        }
        a = add(a, typlen as u64);
        for b in bools {
            a = add(a, u64::from(b));
        }
        a = add(a, typcategory as u64);
        add(a, typdelim as u64)
    }

    /// One `bench_orm` row.
    #[inline]
    pub fn orm(acc: u64, id: i32, n: i64, s: &str, f: f64, b: bool) -> u64 {
        let mut a = add(acc, id as u64);
        a = add(a, n as u64);
        a = add(a, s.len() as u64 + u64::from(s.as_bytes()[s.len() - 1]));
        a = add(a, f.to_bits());
        add(a, u64::from(b))
    }

    /// One P1 row.
    #[inline]
    pub fn p1(acc: u64, id: i32, name: &str, value: i64) -> u64 {
        let a = add(acc, id as u64);
        let a = add(
            a,
            name.len() as u64 + u64::from(name.as_bytes()[name.len() - 1]),
        );
        add(a, value as u64)
    }

    /// One W6 row.
    #[inline]
    pub fn w6(acc: u64, arr: &[i32], data: &[u8]) -> u64 {
        let mut a = add(acc, arr.len() as u64);
        for &x in arr {
            a = add(a, x as u64);
        }
        a = add(a, data.len() as u64);
        add(a, u64::from(data.first().copied().unwrap_or(0)))
    }
}

/// CPU time used so far by this process, all its threads together, in nanoseconds (the sum of
/// the first field of `/proc/self/task/*/schedstat`); `None` where that is not readable.
///
/// The drivers take turns and only one works at a time, so the difference over a turn is the
/// client-side cost of that driver: a figure much less disturbed by a busy machine than the
/// wall-clock time, which waits for the server and the scheduler.
pub fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread may exit between read_dir and the read: skip it.
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// The server under test: a throwaway cluster, or `HYPER_DATABASE_URL`.
pub struct BenchEnv {
    cluster: Option<TestCluster>,
    url: String,
    server_version_num: u32,
}

impl BenchEnv {
    /// Starts the server (or takes `HYPER_DATABASE_URL`) and creates the data. Blocking; call
    /// it outside the runtime.
    pub fn setup(rt: &tokio::runtime::Runtime) -> Result<BenchEnv> {
        let (cluster, url) = match std::env::var(ENV_URL) {
            Ok(url) if !url.is_empty() => (None, url),
            _ => {
                let cluster = TestCluster::start()?;
                let url = cluster.url();
                (Some(cluster), url)
            }
        };
        let server_version_num = rt.block_on(create_data(&url))?;
        Ok(BenchEnv {
            cluster,
            url,
            server_version_num,
        })
    }

    /// The superuser URL every driver connects with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `server_version_num`, e.g. 150018.
    pub fn server_version_num(&self) -> u32 {
        self.server_version_num
    }

    /// The throwaway cluster, if one was started.
    pub fn cluster(&self) -> Option<&TestCluster> {
        self.cluster.as_ref()
    }

    /// Where the server is: "throwaway PostgreSQL 15.18 on 127.0.0.1:port" or the URL's host.
    pub fn describe(&self) -> String {
        match &self.cluster {
            Some(c) => format!(
                "throwaway PostgreSQL {} (TestCluster) on 127.0.0.1:{}",
                c.server_version().unwrap_or("?"),
                c.port().map_or_else(|| "?".to_string(), |p| p.to_string())
            ),
            None => format!("{ENV_URL} (server_version_num {})", self.server_version_num),
        }
    }
}

/// Creates the tables of every workload (dropping old ones), vacuums and warms them, and
/// returns the server's `server_version_num`.
pub async fn create_data(url: &str) -> Result<u32> {
    let mut conn = hyperdjango_pgwire::Connection::connect_url(url).await?;
    conn.batch_execute(CREATE_SQL).await?;
    conn.batch_execute(assoc::CREATE_SQL).await?;
    conn.batch_execute("VACUUM (FREEZE, ANALYZE) bench_w3")
        .await?;
    conn.batch_execute("VACUUM (FREEZE, ANALYZE) bench_w6")
        .await?;
    conn.batch_execute("VACUUM (FREEZE, ANALYZE) bench_orm")
        .await?;
    conn.batch_execute("VACUUM (FREEZE, ANALYZE) bench_p1")
        .await?;
    conn.batch_execute("VACUUM (FREEZE, ANALYZE) bench_users, bench_posts, bench_comments")
        .await?;
    // Into shared_buffers before anything is timed.
    conn.batch_execute(
        "SELECT count(*) FROM bench_w3; SELECT count(*) FROM bench_w6; \
         SELECT count(*) FROM bench_orm; SELECT count(*) FROM bench_p1; \
         SELECT count(*) FROM bench_users; SELECT count(*) FROM bench_posts; \
         SELECT count(*) FROM bench_comments",
    )
    .await?;
    let v: String = conn
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await?
        .get(0)?;
    Ok(v.parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows() {
        let Some(a) = process_cpu_ns() else {
            return; // no /proc here
        };
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(process_cpu_ns().unwrap() > a, "{x}");
    }

    #[test]
    fn p1_ids_cover_the_table() {
        let ids: std::collections::HashSet<i32> = (0..P1_TASKS)
            .flat_map(|t| (0..P1_GETS).map(move |k| p1_id(t, k)))
            .collect();
        assert!(ids.iter().all(|&id| (1..=P1_ROWS as i32).contains(&id)));
        // Every get hits a different row.
        assert_eq!(ids.len(), (P1_TASKS * P1_GETS) as usize);
    }

    #[test]
    fn w5_data_is_deterministic() {
        let a = W5Data::new();
        let b = W5Data::new();
        assert_eq!(a.rows.len(), W5_ROWS);
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.ss[3], a.rows[3].s);
    }
}
