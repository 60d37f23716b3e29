//! The programs in `examples/`, run for real: each must exit 0 and print its key lines.
//!
//! `cargo test` builds the examples next to this test binary (`target/<profile>/examples/`);
//! `cargo test --test it` alone does not, so run `cargo build --examples` first then.
//! `quickstart` starts its own throwaway server, as it does for a user; the others are
//! pointed at the suite's server with `HYPER_DATABASE_URL` (they use tables of their own
//! and drop them first), which saves a server start each.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{cluster, connect, extension};

/// A hang guard, not a timing assertion: each example finishes in a few seconds.
const LIMIT: Duration = Duration::from_secs(120);

/// The example's binary beside this test binary (`target/debug/deps/it-*` →
/// `target/debug/examples/NAME`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lies in target/<profile>/deps");
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "the example binary {} is missing: `cargo test` builds the examples, \
         `cargo test --test it` does not (run `cargo build --examples` first)",
        path.display()
    );
    path
}

/// Where the example gets its server.
enum Server {
    /// Its own throwaway server (`HYPER_DATABASE_URL` unset).
    Throwaway,
    /// The suite's server.
    Shared,
}

/// Runs example `name` with `args`, fails unless it exits 0 within [`LIMIT`], and
/// returns its standard output.
fn run(name: &str, args: &[&str], server: Server) -> String {
    let mut cmd = Command::new(binary(name));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    match server {
        Server::Throwaway => cmd.env_remove("HYPER_DATABASE_URL"),
        Server::Shared => cmd.env("HYPER_DATABASE_URL", cluster().url()),
    };
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
    // Read both pipes in threads so that a chatty child never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the example") {
            break Some(status);
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(s) if s.success() => out,
        Some(s) => panic!("example {name} {args:?} failed ({s}):\n{out}\n--- stderr ---\n{err}"),
        None => panic!(
            "example {name} {args:?} did not finish within {} s:\n{out}\n--- stderr ---\n{err}",
            LIMIT.as_secs()
        ),
    }
}

/// Fails unless `out` has a line containing each of `lines`.
fn assert_lines(name: &str, out: &str, lines: &[&str]) {
    for want in lines {
        assert!(
            out.lines().any(|l| l.contains(want)),
            "example {name}: no line with {want:?} in its output:\n{out}"
        );
    }
}

async fn run_async(name: &'static str, args: &'static [&'static str], server: Server) -> String {
    tokio::task::spawn_blocking(move || run(name, args, server))
        .await
        .expect("the example runner")
}

#[tokio::test]
async fn example_quickstart_runs_on_its_own_throwaway_server() {
    let out = run_async("quickstart", &[], Server::Throwaway).await;
    assert_lines(
        "quickstart",
        &out,
        &[
            "HYPER_DATABASE_URL is not set: starting a throwaway PostgreSQL server",
            "duplicate SKU refused",
            "DoesNotExist: Product matching query does not exist",
            "deleted 1 row(s)",
        ],
    );
}

#[tokio::test]
async fn example_relations_prints_related_rows_and_query_counts() {
    let out = run_async("relations", &[], Server::Shared).await;
    assert_lines(
        "relations",
        &out,
        &[
            "order 1: 2 × Widget for Ann",
            "(1 query)",
            "articles tagged postgres: 2",
            "deleting the widget was refused",
        ],
    );
}

#[tokio::test]
async fn example_blog_shows_inherited_fields_the_proxy_and_soft_delete() {
    let out = run_async("blog", &[], Server::Shared).await;
    assert_lines(
        "blog",
        &out,
        &[
            r#"BlogPost fields:    ["created_at", "updated_at", "slug", "id", "title", "body", "author", "published"]"#,
            "[signal] created a BlogPost in blog_demo_posts",
            r#"a second post slugged "hello-world" is refused"#,
            "Zero-copy rows -> /blog/zero-copy-rows/",
            "created_at unchanged: true, updated_at moved: true",
            "PublishedPost count: 3, BlogPost count: 3",
            "1 news article(s) visible, 2 in the table",
            "blog example done",
        ],
    );
}

#[tokio::test]
async fn example_document_search_finds_neighbours_or_explains_the_missing_pgvector() {
    // Installed here first, with the suite's retries: the vector tests may be creating it
    // concurrently, and then the example's `IF NOT EXISTS` has nothing left to race for.
    let has_pgvector = extension(
        &mut connect().await,
        "vector",
        "example_document_search (runs the example's skip path instead)",
    )
    .await;
    let out = run_async("document_search", &[], Server::Shared).await;
    if has_pgvector {
        assert_lines(
            "document_search",
            &out,
            &[
                "0.010  A PostgreSQL driver in Rust",
                r#"within cosine distance 0.3: ["A PostgreSQL driver in Rust", "Async Rust with tokio"]"#,
                "(query, 0.3)): 2 documents",
                "Index Scan using search_demo_documents_embedding_hnsw_idx",
                "expected a vector of 4 dimensions, got 2",
                "document search example done",
            ],
        );
    } else {
        assert_lines(
            "document_search",
            &out,
            &[
                "SKIPPED: this PostgreSQL server",
                "has no pgvector extension",
                "HYPER_PG_BIN=/opt/hyperdjango-pg18/pgserver/pginstall/bin cargo run --example document_search",
            ],
        );
    }
}

#[tokio::test]
async fn example_listen_worker_processes_each_job_once_across_a_lost_listener() {
    let out = run_async("listen_worker", &[], Server::Shared).await;
    assert_lines(
        "listen_worker",
        &out,
        &[
            "producer: killed worker 1's listening connection",
            "worker 1: listener reconnected",
            "the table has 6 of 6 jobs done",
            "listen worker example done: 6 jobs processed, each exactly once",
        ],
    );
}

#[tokio::test]
async fn example_web_service_smoke_answers_real_http_requests() {
    let out = run_async("web_service", &["--smoke"], Server::Shared).await;
    assert_lines(
        "web_service",
        &out,
        &[
            r#"POST /products -> 201 {"id":"#,
            "Product.price: Ensure this value is greater than or equal to 0.",
            "GET /products/999 -> 404",
            "GET /health -> 200",
            "server stopped",
            "web service smoke test passed",
        ],
    );
}
