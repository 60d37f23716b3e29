//! Connecting: TCP, Unix sockets, URLs, startup parameters, protocol negotiation.

use std::time::Duration;

use hyperdjango_pgwire::{Config, Connection, ProtocolVersion, TransactionStatus};

use crate::common::*;

#[tokio::test]
async fn tcp_connection_reports_server_parameters() {
    let conn = connect().await;
    let version = conn.parameter("server_version").expect("server_version");
    assert!(
        version.chars().next().unwrap().is_ascii_digit(),
        "{version}"
    );
    assert!(conn.server_version_num().unwrap() >= 90600);
    assert!(conn.parameter("TimeZone").is_some());
    assert_eq!(conn.parameter("client_encoding"), Some("UTF8"));
    assert_eq!(conn.parameter("integer_datetimes"), Some("on"));
    assert!(conn.process_id() > 0);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn process_id_matches_the_backend() {
    let mut conn = connect().await;
    let pid: i32 = conn
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(pid, conn.process_id());
}

#[tokio::test]
async fn unix_socket_connection() {
    let Some(url) = cluster().socket_url() else {
        eprintln!("skipped: an external server has no known socket directory");
        return;
    };
    let mut conn = Connection::connect_url(&url).await.unwrap();
    // On a Unix socket the server sees no client address.
    let addr: Option<String> = conn
        .query_one("SELECT inet_client_addr()::text", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(addr, None);
}

#[tokio::test]
async fn url_parameters_reach_the_server() {
    let c = cluster();
    let (Some(host), Some(port)) = (c.host(), c.port()) else {
        return;
    };
    let url = format!(
        "postgres://postgres@{host}:{port}/postgres?application_name=hd%20test&options=-c%20search_path%3Dpg_catalog&connect_timeout=5"
    );
    let mut conn = Connection::connect_url(&url).await.unwrap();
    assert_eq!(conn.parameter("application_name"), Some("hd test"));
    let row = conn
        .query_one(
            "SELECT current_setting('application_name'), current_setting('search_path')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0).unwrap(), "hd test");
    assert_eq!(row.get::<_, &str>(1).unwrap(), "pg_catalog");
}

#[tokio::test]
async fn key_value_connection_string() {
    let c = cluster();
    let (Some(host), Some(port)) = (c.host(), c.port()) else {
        return;
    };
    let config: Config =
        format!("host={host} port={port} user=postgres dbname=postgres application_name='kv app'")
            .parse()
            .unwrap();
    let conn = Connection::connect(&config).await.unwrap();
    assert_eq!(conn.parameter("application_name"), Some("kv app"));
}

#[tokio::test]
async fn multiple_hosts_fall_through_to_the_live_one() {
    let c = cluster();
    let (Some(host), Some(port)) = (c.host(), c.port()) else {
        return;
    };
    // Port 1 on loopback refuses; the second host answers.
    let url = format!("postgres://postgres@{host}:1,{host}:{port}/postgres");
    let mut conn = Connection::connect_url(&url).await.unwrap();
    assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);
}

#[tokio::test]
async fn protocol_3_2_request_negotiates_down_or_is_accepted() {
    let c = cluster();
    let (Some(host), Some(port)) = (c.host(), c.port()) else {
        return;
    };
    let mut config = Config::new();
    config
        .host(host)
        .port(port)
        .user("postgres")
        .dbname("postgres");
    config.max_protocol_version(ProtocolVersion::V3_2);
    let mut conn = Connection::connect(&config).await.unwrap();
    let major = conn.server_version_num().unwrap() / 10000;
    // PostgreSQL 18 speaks 3.2; older servers answer NegotiateProtocolVersion with 3.0.
    let expected = if major >= 18 { 2 } else { 0 };
    assert_eq!(conn.protocol_minor_version(), expected);
    assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);
}

#[tokio::test]
async fn requiring_protocol_3_2_from_an_older_server_is_a_clear_error() {
    let c = cluster();
    let (Some(host), Some(port)) = (c.host(), c.port()) else {
        return;
    };
    let mut probe = connect().await;
    if probe.server_version_num().unwrap() >= 180000 {
        return;
    }
    probe.execute("SELECT 1", &[]).await.unwrap();
    let mut config = Config::new();
    config
        .host(host)
        .port(port)
        .user("postgres")
        .dbname("postgres");
    config
        .min_protocol_version(ProtocolVersion::V3_2)
        .max_protocol_version(ProtocolVersion::V3_2);
    let err = Connection::connect(&config).await.unwrap_err().to_string();
    assert!(err.contains("3.0") && err.contains("3.2"), "{err}");
}

#[tokio::test]
async fn unknown_database_is_a_server_error_naming_it() {
    let c = cluster();
    let (Some(host), Some(port)) = (c.host(), c.port()) else {
        return;
    };
    let url = format!("postgres://postgres@{host}:{port}/no_such_db_hd");
    let err = Connection::connect_url(&url).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("3D000"), "{err}");
    assert!(err.to_string().contains("no_such_db_hd"), "{err}");
}

#[tokio::test]
async fn bad_urls_are_errors_naming_the_problem() {
    for (url, needle) in [
        ("mysql://x@localhost/db", "mysql"),
        ("postgres://x@localhost:99999/db", "99999"),
        ("postgres://x@localhost/db?bogus=1", "bogus"),
        (
            "postgres://x@localhost/db?connect_timeout=abc",
            "connect_timeout",
        ),
    ] {
        let err = Connection::connect_url(url).await.unwrap_err().to_string();
        assert!(err.contains(needle), "{url}: {err}");
    }
}

#[tokio::test]
async fn sslmode_require_is_refused_by_a_server_without_tls() {
    // The shared cluster runs without ssl (tls.rs has one with it).
    let c = cluster();
    let (Some(host), Some(port)) = (c.host(), c.port()) else {
        return;
    };
    let url = format!("postgres://postgres@{host}:{port}/postgres?sslmode=require");
    let err = Connection::connect_url(&url).await.unwrap_err().to_string();
    assert!(err.contains("sslmode=require"), "{err}");
    assert!(err.contains("does not support TLS"), "{err}");
}

#[tokio::test]
async fn close_terminates_the_backend() {
    let mut watcher = connect().await;
    let conn = connect().await;
    let pid = conn.process_id();
    conn.close().await.unwrap();
    // The backend exits once it reads Terminate; give it a bounded moment.
    let mut gone = false;
    for _ in 0..100 {
        let n: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0)
            .unwrap();
        if n == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "backend {pid} still present after close()");
}
