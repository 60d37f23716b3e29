//! What the examples share: the PostgreSQL server they talk to, and a pool for it.
//!
//! Each example says `mod support;` and starts with [`server`]. (This file lives in a
//! directory without a `main.rs`, so Cargo does not take it for an example of its own.)

use hyperdjango::Pool;
use hyperdjango::pgwire::testing::TestCluster;

/// The server an example talks to: the one `HYPER_DATABASE_URL` names if it is set,
/// otherwise a throwaway server in a temporary directory, stopped and deleted when this
/// value is dropped (so keep it alive until the end of `main`).
pub struct Server {
    /// The throwaway server, if one was started.
    _cluster: Option<TestCluster>,
    /// Where to connect.
    pub url: String,
}

/// Connects to `HYPER_DATABASE_URL`, or starts a throwaway server (`HYPER_PG_BIN` picks
/// the PostgreSQL binaries it runs; by default the newest installed).
pub fn server() -> Result<Server, Box<dyn std::error::Error>> {
    match std::env::var("HYPER_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok(Server {
            _cluster: None,
            url,
        }),
        _ => {
            println!("HYPER_DATABASE_URL is not set: starting a throwaway PostgreSQL server...");
            let cluster = TestCluster::start()?;
            let url = cluster.url();
            Ok(Server {
                _cluster: Some(cluster),
                url,
            })
        }
    }
}

/// A small pool for `url`. The examples drop their tables first (`IF EXISTS`, so that
/// they can run again on the same database): its connections keep PostgreSQL's notices
/// about that quiet.
pub fn pool(url: &str) -> Result<Pool, hyperdjango::pool::Error> {
    Pool::builder()
        .url(url)
        .max_size(4)
        .after_connect(|conn| {
            Box::pin(async move {
                conn.batch_execute("SET client_min_messages = warning")
                    .await
            })
        })
        .build()
}
