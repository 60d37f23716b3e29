//! Protocol versions against real servers of both generations, side by side: asked for 3.2
//! (`max_protocol_version=latest`), PostgreSQL 18 speaks 3.2 and sends a 32-byte cancel key,
//! PostgreSQL 15 answers NegotiateProtocolVersion and the connection settles on 3.0 with a
//! 4-byte key. A query is cancelled with each key. The default stays 3.0 everywhere.
//!
//! The shared cluster is one of the two versions; the other is started from its own binary
//! directory (`ClusterOptions::bin_dir`): PostgreSQL 15 from `/usr/lib/postgresql/15/bin`,
//! PostgreSQL 18 from `HYPER_PG18_BIN` or `/opt/hyperdjango-pg18/pgserver/pginstall/bin`
//! (where `.ci/run` installs it).

use std::path::PathBuf;
use std::time::Duration;

use hyperdjango_pgwire::testing::{ClusterOptions, TestCluster};
use hyperdjango_pgwire::{Config, Connection, ProtocolVersion};

use crate::common::{cluster, skip, within};

/// Where to find the server binaries of `major`, if installed.
fn bin_dir(major: u32) -> Option<PathBuf> {
    let dir = match major {
        18 => std::env::var_os("HYPER_PG18_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/opt/hyperdjango-pg18/pgserver/pginstall/bin")),
        other => PathBuf::from(format!("/usr/lib/postgresql/{other}/bin")),
    };
    dir.join("initdb").exists().then_some(dir)
}

/// The port of a server of `major`: the shared cluster when it is that version, else a
/// private one started from that version's binaries (kept in `keep`).
fn server_of(major: u32, keep: &mut Vec<TestCluster>) -> Option<u16> {
    let shared = cluster();
    let shared_major = shared
        .server_version()
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    if shared_major == Some(major) {
        return shared.port();
    }
    let Some(dir) = bin_dir(major) else {
        skip(&format!(
            "protocol versions: no PostgreSQL {major} binaries here (set HYPER_PG18_BIN, or \
             install PostgreSQL {major})"
        ));
        return None;
    };
    let options = ClusterOptions {
        bin_dir: Some(dir),
        ..ClusterOptions::default()
    };
    let c = TestCluster::start_with(&options)
        .unwrap_or_else(|e| panic!("starting PostgreSQL {major}: {e}"));
    let port = c.port();
    keep.push(c);
    port
}

fn config(port: u16, max: Option<ProtocolVersion>) -> Config {
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname("postgres");
    if let Some(max) = max {
        config.max_protocol_version(max);
    }
    config
}

/// Cancels a long query through the connection's cancel key.
async fn cancel_works(conn: &mut Connection) {
    let token = conn.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel().await
    });
    let err = within(
        30,
        "a cancelled query",
        conn.execute("SELECT pg_sleep(60)", &[]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    canceller.await.unwrap().unwrap();
    assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);
}

#[tokio::test]
async fn protocol_3_2_with_postgresql_18_and_3_0_with_postgresql_15() {
    if cluster().is_external() {
        skip("protocol versions: the shared server is external (HYPER_TEST_DATABASE_URL)");
        return;
    }
    let mut keep = Vec::new();
    for (major, minor, key_len) in [(18u32, 2u16, 32usize), (15, 0, 4)] {
        let Some(port) = server_of(major, &mut keep) else {
            continue;
        };
        let mut conn = Connection::connect(&config(port, Some(ProtocolVersion::V3_2)))
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL {major}, asking for 3.2: {e}"));
        assert_eq!(conn.server_version_num().unwrap() / 10000, major);
        assert_eq!(
            conn.protocol_minor_version(),
            minor,
            "PostgreSQL {major} asked for 3.2"
        );
        assert_eq!(conn.cancel_key_len(), key_len, "PostgreSQL {major}");
        cancel_works(&mut conn).await;

        // The default asks for 3.0 (as libpq 18 does): a 4-byte key on both.
        let mut plain = Connection::connect(&config(port, None)).await.unwrap();
        assert_eq!(plain.protocol_minor_version(), 0);
        assert_eq!(plain.cancel_key_len(), 4);
        assert_eq!(plain.execute("SELECT 1", &[]).await.unwrap(), 1);
    }
}
