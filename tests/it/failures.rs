//! Real failures, never mocks: a server that stops, restarts or kills the backend; refused
//! passwords; nothing listening; a peer that never answers; and "servers" that send hostile
//! bytes. Each must give a prompt error that says what happened, never a hang or a panic.
//!
//! To check that a hostile length field is never turned into an allocation, this module
//! installs a global allocator that delegates to the system allocator and, only on threads
//! that ask for it (see [`largest_allocation_during`]), records the largest single request.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use hyperdjango_pgwire::testing::{TestCluster, TestUser};
use hyperdjango_pgwire::{Config, Connection, Error, Severity, SqlState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// Allocation tracking

struct TrackingAllocator;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    // `try_with`: the thread-locals may already be gone while a thread exits.
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

#[allow(unsafe_code)]
// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

/// Runs `f` to completion on this thread and returns its output with the largest single
/// allocation this thread made meanwhile. `#[tokio::test]` runs everything (the client and
/// the spawned fake server) on the test's own thread.
async fn largest_allocation_during<T>(f: impl Future<Output = T>) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    TRACKING.with(|t| t.set(true));
    let out = f.await;
    TRACKING.with(|t| t.set(false));
    (out, LARGEST.with(|l| l.get()))
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A config for a server on 127.0.0.1:`port` that is not PostgreSQL. The fake servers
/// speak no TLS: sslmode=disable, so no SSLRequest comes first (see tls.rs for those).
fn fake_config(port: u16) -> Config {
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("hd_victim")
        .dbname("hd_db")
        .ssl_mode(hyperdjango_pgwire::SslMode::Disable);
    config
}

/// Reads one StartupMessage (length-prefixed, no tag) and returns its body.
async fn read_startup(sock: &mut TcpStream) -> Vec<u8> {
    let len = sock.read_i32().await.expect("startup length");
    assert!((8..10_000).contains(&len), "startup message length {len}");
    let mut body = vec![0; len as usize - 4];
    sock.read_exact(&mut body).await.expect("startup body");
    body
}

/// Reads one tagged frontend message and returns (tag, body).
async fn read_message(sock: &mut TcpStream) -> (u8, Vec<u8>) {
    let tag = sock.read_u8().await.expect("message tag");
    let len = sock.read_i32().await.expect("message length");
    assert!((4..1_000_000).contains(&len), "message length {len}");
    let mut body = vec![0; len as usize - 4];
    sock.read_exact(&mut body).await.expect("message body");
    (tag, body)
}

/// Reads until the client closes, so the socket stays open as long as the client wants.
async fn wait_for_close(sock: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    while let Ok(n) = sock.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// A backend message: tag, length, body.
fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

const AUTH_OK: &[u8] = b"R\0\0\0\x08\0\0\0\0";
const READY_IDLE: &[u8] = b"Z\0\0\0\x05I";

/// A one-connection fake server: reads the StartupMessage, writes `reply`, then closes the
/// socket (`close`) or waits for the client to close it.
async fn hostile_server(reply: Vec<u8>, close: bool) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let startup = read_startup(&mut sock).await;
        // The client may already have given up; that is fine.
        let _ = sock.write_all(&reply).await;
        if !close {
            wait_for_close(&mut sock).await;
        }
        startup
    });
    (port, task)
}

/// Connects to a fake server that answers the StartupMessage with `reply`; the connection
/// attempt must fail within 5 s. Returns the error and the largest allocation made meanwhile.
async fn connect_to_hostile(reply: Vec<u8>, close: bool) -> (Error, usize) {
    let (port, server) = hostile_server(reply, close).await;
    let config = fake_config(port);
    let (result, largest) = largest_allocation_during(within(
        5,
        "connecting to a hostile server",
        Connection::connect(&config),
    ))
    .await;
    let err = match result {
        Ok(conn) => panic!("connecting to a hostile server succeeded: {conn:?}"),
        Err(e) => e,
    };
    let startup = within(5, "the fake server", server).await.unwrap();
    // It really was our StartupMessage (protocol 3.x, with the user name).
    assert_eq!(startup[0..2], [0, 3]);
    assert!(startup.windows(9).any(|w| w == b"hd_victim"), "{startup:?}");
    (err, largest)
}

fn assert_protocol_error(err: &Error, wants: &[&str]) {
    let Error::Protocol(_) = err else {
        panic!("expected a protocol error, got {err:?}");
    };
    assert!(err.is_closed());
    let shown = err.to_string();
    for want in wants {
        assert!(shown.contains(want), "{shown:?} should mention {want:?}");
    }
}

/// Checks the error from the first query after the server went away, and that the
/// connection now refuses further queries quickly with the same reason.
async fn assert_gone(conn: &mut Connection, err: &Error) {
    assert!(conn.is_closed(), "the connection knows it is closed");
    let shown = err.to_string();
    let reason_ok = match err.code() {
        Some(code) => {
            *code == SqlState::ADMIN_SHUTDOWN
                && err.as_db_error().unwrap().parsed_severity() == Some(Severity::Fatal)
                && shown.contains("terminating connection")
        }
        None => matches!(err, Error::Closed(_) | Error::Io { .. }) && shown.contains("127.0.0.1"),
    };
    assert!(reason_ok, "the error should say what happened: {err:?}");
    // Later calls fail fast, naming the original reason.
    for _ in 0..2 {
        let again = within(
            2,
            "a query on a closed connection",
            conn.query("SELECT 1", &[]),
        )
        .await
        .unwrap_err();
        let Error::Closed(why) = &again else {
            panic!("expected Error::Closed, got {again:?}");
        };
        assert_eq!(why, &shown, "the original reason is kept");
        assert!(again.is_closed());
    }
    let again = within(
        2,
        "simple_query on a closed connection",
        conn.simple_query("SELECT 1"),
    )
    .await
    .unwrap_err();
    assert!(matches!(again, Error::Closed(_)), "{again:?}");
    let again = within(
        2,
        "prepare on a closed connection",
        conn.prepare("SELECT 1"),
    )
    .await
    .unwrap_err();
    assert!(matches!(again, Error::Closed(_)), "{again:?}");
}

/// Checked last in each test, so the other checks run whatever it finds: the error that
/// ended the session says that the connection can no longer be used.
fn assert_error_says_closed(err: &Error) {
    assert!(
        err.is_closed(),
        "Error::is_closed() is false for the error that ended the session: {err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A real server going away

#[tokio::test]
async fn a_stopped_server_fails_queries_and_connects_until_started_again() {
    let cluster = TestCluster::start().unwrap_or_else(|e| panic!("private cluster: {e}"));
    let url = cluster.url();
    let endpoint = format!("127.0.0.1:{}", cluster.port().unwrap());
    let mut conn = Connection::connect_url(&url).await.unwrap();
    let one: i32 = conn
        .query_one("SELECT 1", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(one, 1);

    cluster.stop().unwrap();
    let err = within(
        5,
        "a query to a stopped server",
        conn.query("SELECT 1", &[]),
    )
    .await
    .unwrap_err();
    assert_gone(&mut conn, &err).await;
    let ended = err;

    let err = within(
        5,
        "connecting to a stopped server",
        Connection::connect_url(&url),
    )
    .await
    .unwrap_err();
    match &err {
        Error::Io { context, source } => {
            assert!(context.contains(&endpoint), "{context}");
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
    assert!(err.to_string().contains(&endpoint), "{err}");

    cluster.start_again().unwrap();
    let mut fresh = within(
        10,
        "connecting after start_again",
        Connection::connect_url(&url),
    )
    .await
    .unwrap();
    let two: i32 = fresh
        .query_one("SELECT 2", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(two, 2);
    // The old connection stays closed.
    assert!(conn.is_closed());
    assert!(matches!(
        conn.query("SELECT 1", &[]).await,
        Err(Error::Closed(_))
    ));
    fresh.close().await.unwrap();
    assert_error_says_closed(&ended);
}

#[tokio::test]
async fn a_restarted_server_fails_the_idle_connection_and_reconnecting_works() {
    let cluster = TestCluster::start().unwrap_or_else(|e| panic!("private cluster: {e}"));
    let url = cluster.url();
    let mut conn = Connection::connect_url(&url).await.unwrap();
    let pid_before = conn.process_id();
    conn.batch_execute("SELECT 1").await.unwrap();

    cluster.restart().unwrap();
    let err = within(5, "a query after a restart", conn.query("SELECT 1", &[]))
        .await
        .unwrap_err();
    assert_gone(&mut conn, &err).await;
    let ended = err;

    let mut fresh = within(
        10,
        "reconnecting after a restart",
        Connection::connect_url(&url),
    )
    .await
    .unwrap();
    assert_ne!(fresh.process_id(), pid_before);
    let n: i64 = fresh
        .query_one("SELECT $1::int8 + 1", &[&41i64])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 42);
    assert_error_says_closed(&ended);
}

#[tokio::test]
async fn a_terminated_backend_fails_fast_afterwards() {
    let mut a = connect().await;
    let mut b = connect().await;
    let pid = a.process_id();
    assert_ne!(pid, 0);
    a.query_one("SELECT 1", &[]).await.unwrap();
    // With a timeout, pg_terminate_backend waits until the backend is gone.
    let terminated: bool = b
        .query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert!(terminated);

    let err = within(
        5,
        "a query on a terminated backend",
        a.query("SELECT 1", &[]),
    )
    .await
    .unwrap_err();
    assert_gone(&mut a, &err).await;
    let ended = err;
    // Closing a dead connection is not an error.
    a.close().await.unwrap();
    // The other connection is unaffected.
    let still: i32 = b.query_one("SELECT 3", &[]).await.unwrap().get(0).unwrap();
    assert_eq!(still, 3);
    assert_error_says_closed(&ended);
}

#[tokio::test]
async fn a_backend_terminated_inside_a_transaction() {
    let mut a = connect().await;
    let mut b = connect().await;
    let pid = a.process_id();
    a.batch_execute("BEGIN; CREATE TEMP TABLE doomed (id int4)")
        .await
        .unwrap();
    b.query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid])
        .await
        .unwrap();
    let err = within(
        5,
        "a simple query on a terminated backend",
        a.batch_execute("COMMIT"),
    )
    .await
    .unwrap_err();
    assert_gone(&mut a, &err).await;
    let ended = err;
    assert_error_says_closed(&ended);
}

// ---------------------------------------------------------------------------------------------
// Refused passwords

#[tokio::test]
async fn wrong_passwords_are_refused_with_invalid_password() {
    for user in [TestUser::Password, TestUser::Md5, TestUser::Scram] {
        let Some(config) = config_for(user, Some("definitely-not-the-password")) else {
            eprintln!("skipped: external server has no test roles");
            return;
        };
        let err = within(5, "a refused login", Connection::connect(&config))
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::INVALID_PASSWORD),
            "{} ({}): {err:?}",
            user.name(),
            user.auth_method()
        );
        let e = err.as_db_error().unwrap();
        assert_eq!(e.parsed_severity(), Some(Severity::Fatal));
        assert!(e.message().contains(user.name()), "{}", e.message());
        assert!(!err.to_string().contains("definitely-not"), "{err}");

        // The right password works, so it really was the password.
        let config = config_for(user, user.password()).unwrap();
        let mut conn = within(5, "a good login", Connection::connect(&config))
            .await
            .unwrap();
        let who: String = conn
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(who, user.name());
    }
    // An empty password is a wrong one, not a missing one: the server refuses it.
    for user in [TestUser::Password, TestUser::Md5, TestUser::Scram] {
        let config = config_for(user, Some("")).unwrap();
        let err = within(
            5,
            "a login with an empty password",
            Connection::connect(&config),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::INVALID_PASSWORD),
            "{} ({}): {err:?}",
            user.name(),
            user.auth_method()
        );
    }
}

#[tokio::test]
async fn a_missing_password_is_a_clear_client_side_error() {
    let mut misleading = Vec::new();
    for user in [TestUser::Password, TestUser::Md5, TestUser::Scram] {
        let Some(config) = config_for(user, None) else {
            eprintln!("skipped: external server has no test roles");
            return;
        };
        let err = within(
            5,
            "a login without a password",
            Connection::connect(&config),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::Auth(_)),
            "{} ({}): expected a client-side Auth error, got {err:?}",
            user.name(),
            user.auth_method()
        );
        assert_eq!(err.code(), None);
        let shown = err.to_string();
        assert!(
            shown.contains("password") && shown.contains("none was given"),
            "{shown}"
        );
        assert!(
            shown.contains(user.auth_method()),
            "names the method: {shown}"
        );
        // Nothing went wrong with an exchange, and for password and md5 there is no SCRAM
        // at all: a password is simply missing.
        if shown.contains("out of order") || (user != TestUser::Scram && shown.contains("SCRAM")) {
            misleading.push(format!("{} ({}): {shown}", user.name(), user.auth_method()));
        }
    }
    assert!(
        misleading.is_empty(),
        "the missing-password error blames an out-of-order SCRAM exchange:\n{}",
        misleading.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Nobody there, or nobody answering

#[tokio::test]
async fn connecting_to_a_closed_port_names_host_and_port() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = within(
        5,
        "connecting to a closed port",
        Connection::connect(&fake_config(port)),
    )
    .await
    .unwrap_err();
    let Error::Io { context, source } = &err else {
        panic!("expected an Io error, got {err:?}");
    };
    assert_eq!(context, &format!("connecting to 127.0.0.1:{port}"));
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(err.is_closed());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn connect_timeout_against_a_peer_that_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        // Take the StartupMessage, answer nothing, keep the socket open.
        let startup = read_startup(&mut sock).await;
        wait_for_close(&mut sock).await;
        startup
    });
    let mut config = fake_config(port);
    config.connect_timeout(Duration::from_millis(300));
    let err = within(
        2,
        "connect with connect_timeout",
        Connection::connect(&config),
    )
    .await
    .unwrap_err();
    let Error::Timeout(what) = &err else {
        panic!("expected Error::Timeout, got {err:?}");
    };
    assert!(what.contains(&format!("127.0.0.1:{port}")), "{what}");
    assert!(what.contains("connect_timeout"), "{what}");
    // The client gave up and closed its socket: the server sees EOF.
    let startup = within(2, "the silent server to see the client leave", server)
        .await
        .unwrap();
    assert!(startup.windows(9).any(|w| w == b"hd_victim"));
}

#[tokio::test]
async fn a_peer_that_closes_at_once() {
    let (err, _) = connect_to_hostile(Vec::new(), true).await;
    let Error::Closed(why) = &err else {
        panic!("expected Error::Closed, got {err:?}");
    };
    assert!(
        why.contains("127.0.0.1") && why.contains("closed the connection"),
        "{why}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile bytes

#[tokio::test]
async fn a_huge_length_field_is_rejected_without_allocating() {
    for tag in [b'R', b'E', b'D', b'Z'] {
        let (err, largest) =
            connect_to_hostile(vec![tag, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0], false).await;
        assert_protocol_error(&err, &["2147483647", "limit", &(tag as char).to_string()]);
        assert!(
            largest < 16 << 20,
            "a claimed 2 GiB message made the client allocate {largest} bytes"
        );
    }
}

#[tokio::test]
async fn a_claimed_length_under_the_limit_is_not_allocated_up_front() {
    // 1 GiB - 1: under MAX_MESSAGE_LEN, but the bytes never come. An authentication request
    // is a few bytes; reserving the claimed gigabyte before any of it arrives lets any peer
    // make the client allocate a gigabyte with five bytes.
    let (err, largest) = connect_to_hostile(vec![b'R', 0x3f, 0xff, 0xff, 0xff, 0, 0], true).await;
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
    assert!(
        largest < 16 << 20,
        "a claimed 1 GiB message (5 bytes sent) made the client allocate {largest} bytes"
    );
}

#[tokio::test]
async fn lengths_below_four_are_rejected() {
    for len in [0i32, 3, -1, i32::MIN] {
        let mut reply = vec![b'R'];
        reply.extend_from_slice(&len.to_be_bytes());
        let (err, _) = connect_to_hostile(reply, false).await;
        assert_protocol_error(&err, &["below the minimum", &len.to_string()]);
    }
}

#[tokio::test]
async fn an_unknown_message_tag_is_a_protocol_error() {
    let (err, _) = connect_to_hostile(msg(b'!', b"xyz"), false).await;
    assert_protocol_error(&err, &["unknown message type '!'"]);
    let (err, _) = connect_to_hostile(msg(0x01, b""), false).await;
    assert_protocol_error(&err, &["unknown message type", "\\x01"]);
    // An unknown authentication request.
    let (err, _) = connect_to_hostile(msg(b'R', &99i32.to_be_bytes()), false).await;
    assert_protocol_error(&err, &["authentication request code 99"]);
    // A known message where it does not belong.
    let mut reply = AUTH_OK.to_vec();
    reply.extend(msg(b'D', b"\0\0"));
    let (err, _) = connect_to_hostile(reply, false).await;
    assert_protocol_error(&err, &["unexpected", "DataRow", "startup"]);
    // ReadyForQuery with a status that does not exist.
    let mut reply = AUTH_OK.to_vec();
    reply.extend(msg(b'Z', b"X"));
    let (err, _) = connect_to_hostile(reply, false).await;
    assert_protocol_error(&err, &["ReadyForQuery"]);
}

#[tokio::test]
async fn a_truncated_message_then_close() {
    // An authentication request that promises 12 bytes of body and delivers 4.
    let mut reply = vec![b'R', 0, 0, 0, 16];
    reply.extend_from_slice(&[0, 0, 0, 5]);
    let (err, _) = connect_to_hostile(reply, true).await;
    let Error::Closed(why) = &err else {
        panic!("expected Error::Closed, got {err:?}");
    };
    assert!(why.contains("closed the connection unexpectedly"), "{why}");
    assert!(err.is_closed());
    // Even a partial header.
    let (err, _) = connect_to_hostile(vec![b'R', 0, 0], true).await;
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
    // After authentication succeeded.
    let mut reply = AUTH_OK.to_vec();
    reply.extend_from_slice(&msg(b'S', b"server_version\x0015.0\0")[..10]);
    let (err, _) = connect_to_hostile(reply, true).await;
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
}

#[tokio::test]
async fn a_malformed_error_response_is_a_protocol_error() {
    // Severity only: no code, no message.
    let (err, _) = connect_to_hostile(msg(b'E', b"SERROR\0\0"), false).await;
    assert_protocol_error(&err, &["SQLSTATE"]);
    // Code but no message.
    let (err, _) = connect_to_hostile(msg(b'E', b"SFATAL\0C28000\0\0"), false).await;
    assert_protocol_error(&err, &["message"]);
    // No terminating NUL on the field list.
    let (err, _) = connect_to_hostile(msg(b'E', b"SFATAL\0C28000\0Mno"), false).await;
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    // A malformed SQLSTATE.
    let (err, _) = connect_to_hostile(msg(b'E', b"SFATAL\0Cabc\0Mbad\0\0"), false).await;
    assert_protocol_error(&err, &["SQLSTATE"]);
    // A non-numeric position.
    let (err, _) = connect_to_hostile(msg(b'E', b"SERROR\0C42601\0Mx\0Pabc\0\0"), false).await;
    assert_protocol_error(&err, &["position"]);
    // Empty.
    let (err, _) = connect_to_hostile(msg(b'E', b""), false).await;
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn a_well_formed_error_response_during_startup_is_a_server_error() {
    let (err, _) = connect_to_hostile(
        msg(
            b'E',
            b"SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0Fproc.c\0L1\0Rx\0\0",
        ),
        true,
    )
    .await;
    assert_eq!(err.code(), Some(&SqlState::TOO_MANY_CONNECTIONS), "{err:?}");
    let e = err.as_db_error().unwrap();
    assert_eq!(e.parsed_severity(), Some(Severity::Fatal));
    assert_eq!(e.message(), "sorry, too many clients already");
    assert!(err.to_string().contains("53300"), "{err}");
}

#[tokio::test]
async fn a_scram_server_asking_for_absurd_iterations_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_startup(&mut sock).await;
        let mut sasl = 10i32.to_be_bytes().to_vec();
        sasl.extend_from_slice(b"SCRAM-SHA-256\0\0");
        sock.write_all(&msg(b'R', &sasl)).await.unwrap();
        let (tag, body) = read_message(&mut sock).await;
        assert_eq!(tag, b'p');
        // mechanism\0, int32 length, client-first-message "n,,n=,r=<nonce>"
        let text = String::from_utf8_lossy(&body).into_owned();
        let nonce = text.split("r=").nth(1).expect("a client nonce").to_owned();
        let first = format!("r={nonce}srv,s=c2FsdHNhbHQ=,i=2000000000");
        let mut cont = 11i32.to_be_bytes().to_vec();
        cont.extend_from_slice(first.as_bytes());
        sock.write_all(&msg(b'R', &cont)).await.unwrap();
        wait_for_close(&mut sock).await;
    });
    let mut config = fake_config(port);
    config.password("pw");
    let err = within(5, "SCRAM with 2e9 iterations", Connection::connect(&config))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("2000000000") && shown.contains("iteration"),
        "{shown}"
    );
    within(5, "the fake SCRAM server", server).await.unwrap();
}

/// A fake server that completes startup, then answers the first query with `reply`.
async fn server_answering_query_with(reply: Vec<u8>) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_startup(&mut sock).await;
        let mut hello = AUTH_OK.to_vec();
        hello.extend(msg(b'K', &[0, 0, 0, 42, 1, 2, 3, 4]));
        hello.extend_from_slice(READY_IDLE);
        sock.write_all(&hello).await.unwrap();
        // The client sends Parse..Sync in one write; wait for the Sync.
        loop {
            let (tag, _) = read_message(&mut sock).await;
            if tag == b'S' {
                break;
            }
        }
        let _ = sock.write_all(&reply).await;
        wait_for_close(&mut sock).await;
    });
    (port, task)
}

/// One int4 column named "n".
fn row_description() -> Vec<u8> {
    let mut body = 1i16.to_be_bytes().to_vec();
    body.extend_from_slice(b"n\0");
    body.extend_from_slice(&0i32.to_be_bytes()); // table oid
    body.extend_from_slice(&0i16.to_be_bytes()); // column
    body.extend_from_slice(&23i32.to_be_bytes()); // int4
    body.extend_from_slice(&4i16.to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes()); // binary
    msg(b'T', &body)
}

#[tokio::test]
async fn hostile_replies_to_a_query_close_the_connection() {
    let cases: Vec<(Vec<u8>, &[&str])> = vec![
        // A DataRow with two fields for a one-column description.
        (
            {
                let mut r = b"1\0\0\0\x042\0\0\0\x04".to_vec();
                r.extend(row_description());
                r.extend(msg(b'D', b"\0\x02\0\0\0\x04\0\0\0\x01\0\0\0\x04\0\0\0\x02"));
                r
            },
            &["DataRow has 2 fields", "1 columns"],
        ),
        // A DataRow whose field length runs past the body.
        (
            {
                let mut r = b"1\0\0\0\x042\0\0\0\x04".to_vec();
                r.extend(row_description());
                r.extend(msg(b'D', b"\0\x01\x7f\xff\xff\xff\0\0"));
                r
            },
            &["DataRow"],
        ),
        // A DataRow before any RowDescription.
        (
            {
                let mut r = b"1\0\0\0\x042\0\0\0\x04n\0\0\0\x04".to_vec();
                r.extend(msg(b'D', b"\0\x01\0\0\0\x04\0\0\0\x01"));
                r
            },
            &["DataRow", "RowDescription"],
        ),
        // A huge length in the middle of the replies.
        (
            {
                let mut r = b"1\0\0\0\x04".to_vec();
                r.extend_from_slice(&[b'D', 0x7f, 0xff, 0xff, 0xf0]);
                r
            },
            &["over the", "limit"],
        ),
        // An authentication request in the middle of a query.
        (AUTH_OK.to_vec(), &["unexpected", "query"]),
    ];
    for (reply, wants) in cases {
        let (port, server) = server_answering_query_with(reply).await;
        let mut conn = within(
            5,
            "connecting to the fake server",
            Connection::connect(&fake_config(port)),
        )
        .await
        .unwrap();
        assert_eq!(conn.process_id(), 42);
        let (result, largest) = largest_allocation_during(within(
            5,
            "a query answered with garbage",
            conn.query("SELECT 1::int4 AS n", &[]),
        ))
        .await;
        let err = result.unwrap_err();
        assert_protocol_error(&err, wants);
        assert!(largest < 16 << 20, "allocated {largest} bytes");
        assert!(conn.is_closed());
        let again = within(
            2,
            "a query after a protocol error",
            conn.query("SELECT 1", &[]),
        )
        .await
        .unwrap_err();
        let Error::Closed(why) = &again else {
            panic!("expected Error::Closed, got {again:?}");
        };
        assert_eq!(why, &err.to_string());
        drop(conn);
        within(5, "the fake server to see the client leave", server)
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// More hostile servers (issue 9): COPY interrupted by an error, a ReadyForQuery out of turn,
// endless notices, an authentication method the client forbids, a forged SCRAM signature.
//
// Covered above: a wrong length (`lengths_below_four_are_rejected`), a 2 GiB length claim
// (`a_huge_length_field_is_rejected_without_allocating`), a DataRow with extra fields
// (`hostile_replies_to_a_query_close_the_connection`), a connection closed mid-message
// (`a_truncated_message_then_close`).

/// AuthenticationOk, BackendKeyData (pid 42) and ReadyForQuery.
fn hello() -> Vec<u8> {
    let mut hello = AUTH_OK.to_vec();
    hello.extend(msg(b'K', &[0, 0, 0, 42, 1, 2, 3, 4]));
    hello.extend_from_slice(READY_IDLE);
    hello
}

/// Reads frontend messages until one whose tag is in `until`; returns the tags read.
async fn read_until(sock: &mut TcpStream, until: &[u8]) -> Vec<u8> {
    let mut tags = Vec::new();
    loop {
        let (tag, _) = read_message(sock).await;
        tags.push(tag);
        if until.contains(&tag) {
            return tags;
        }
    }
}

/// A fake server: startup, then for the first command (up to Sync or Query) `reply`, then
/// it waits for the client to leave. Later connections to the port (cancel requests) are
/// read and closed.
async fn fake_session(reply: Vec<u8>) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_startup(&mut sock).await;
        sock.write_all(&hello()).await.unwrap();
        let tags = read_until(&mut sock, b"SQ").await;
        let _ = sock.write_all(&reply).await;
        wait_for_close(&mut sock).await;
        tags
    });
    (port, task)
}

fn error_body(severity: &str, code: &str, message: &str) -> Vec<u8> {
    format!("S{severity}\0V{severity}\0C{code}\0M{message}\0\0").into_bytes()
}

#[tokio::test]
async fn an_error_response_in_the_middle_of_a_copy_out() {
    // CopyOutResponse (text, one column), one row, then the server fails the COPY.
    let mut reply = msg(b'H', &[0, 0, 1, 0, 0]);
    reply.extend(msg(b'd', b"1\n"));
    reply.extend(msg(
        b'E',
        &error_body("ERROR", "22012", "division by zero mid-copy"),
    ));
    reply.extend_from_slice(READY_IDLE);
    let (port, server) = fake_session(reply).await;
    let mut conn = Connection::connect(&fake_config(port)).await.unwrap();
    let (err, largest) = largest_allocation_during(within(5, "a failing COPY OUT", async {
        let mut out = conn.copy_out("COPY t TO STDOUT").await.unwrap();
        let first = out.next().await.unwrap().unwrap();
        assert_eq!(&first[..], b"1\n");
        let err = out.next().await.expect("the error").unwrap_err();
        assert!(out.next().await.is_none(), "nothing after the error");
        err
    }))
    .await;
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err:?}");
    assert!(err.to_string().contains("mid-copy"), "{err}");
    assert!(largest < 1 << 20, "allocated {largest} bytes");
    // The server ended the COPY properly (ReadyForQuery): the connection is still usable.
    assert!(!conn.is_closed());
    drop(conn);
    assert_eq!(within(5, "the fake server", server).await.unwrap(), b"Q");

    // A FATAL error and the socket closed in the middle of the COPY: a clear error.
    let mut reply = msg(b'H', &[0, 0, 1, 0, 0]);
    reply.extend(msg(b'd', b"1\n"));
    reply.extend(msg(
        b'E',
        &error_body("FATAL", "57P01", "terminating connection"),
    ));
    let (port, server) = fake_session(reply).await;
    let mut conn = Connection::connect(&fake_config(port)).await.unwrap();
    let err = within(5, "a COPY OUT cut by FATAL", async {
        let mut out = conn.copy_out("COPY t TO STDOUT").await.unwrap();
        out.next().await.unwrap().unwrap();
        out.next().await.expect("the error").unwrap_err()
    })
    .await;
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");
    assert!(err.is_closed());
    assert!(conn.is_closed());
    drop(conn);
    within(5, "the fake server", server).await.unwrap();
}

#[tokio::test]
async fn an_error_response_in_the_middle_of_a_copy_in() {
    // CopyInResponse, then at once an error and ReadyForQuery (as for a bad row).
    let mut reply = msg(b'G', &[0, 0, 1, 0, 0]);
    reply.extend(msg(
        b'E',
        &error_body("ERROR", "23505", "duplicate key mid-copy"),
    ));
    reply.extend_from_slice(READY_IDLE);
    let (port, server) = fake_session(reply).await;
    let mut conn = Connection::connect(&fake_config(port)).await.unwrap();
    let err = within(5, "a failing COPY IN", async {
        let mut copy = conn.copy_in("COPY t FROM STDIN").await?;
        for _ in 0..100 {
            copy.write(b"1\tx\n").await?;
        }
        copy.finish().await
    })
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err:?}");
    drop(conn);
    within(5, "the fake server", server).await.unwrap();
}

#[tokio::test]
async fn a_ready_for_query_out_of_turn() {
    // A bare ReadyForQuery where ParseComplete, rows and CommandComplete belong.
    let (port, server) = fake_session(READY_IDLE.to_vec()).await;
    let mut conn = Connection::connect(&fake_config(port)).await.unwrap();
    let err = within(
        5,
        "a query answered by ReadyForQuery",
        conn.query("SELECT 1", &[]),
    )
    .await
    .unwrap_err();
    assert_protocol_error(&err, &["ReadyForQuery"]);
    drop(conn);
    within(5, "the fake server", server).await.unwrap();

    // Rows, then ReadyForQuery without CommandComplete.
    let mut reply = b"1\0\0\0\x042\0\0\0\x04".to_vec();
    reply.extend(row_description());
    reply.extend(msg(b'D', b"\0\x01\0\0\0\x04\0\0\0\x01"));
    reply.extend_from_slice(READY_IDLE);
    let (port, server) = fake_session(reply).await;
    let mut conn = Connection::connect(&fake_config(port)).await.unwrap();
    let err = within(5, "rows cut by ReadyForQuery", conn.query("SELECT 1", &[]))
        .await
        .unwrap_err();
    assert_protocol_error(&err, &["ReadyForQuery"]);
    drop(conn);
    within(5, "the fake server", server).await.unwrap();

    // A ReadyForQuery while the connection is idle.
    let (port, server) = hostile_server(
        {
            let mut r = hello();
            r.extend_from_slice(READY_IDLE);
            r
        },
        false,
    )
    .await;
    let mut conn = Connection::connect(&fake_config(port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = conn.check_idle().unwrap_err();
    assert_protocol_error(&err, &["ReadyForQuery", "idle"]);
    drop(conn);
    within(5, "the fake server", server).await.unwrap();
}

/// Writes NoticeResponses until the client goes away (or 60 s pass).
async fn notices_forever(sock: &mut TcpStream) -> usize {
    let notice = msg(
        b'N',
        &error_body("NOTICE", "00000", "you will never finish reading me"),
    );
    let batch: Vec<u8> = notice
        .iter()
        .copied()
        .cycle()
        .take(notice.len() * 256)
        .collect();
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    while tokio::time::Instant::now() < until {
        if sock.write_all(&batch).await.is_err() {
            break;
        }
        sent += 256;
    }
    sent
}

#[tokio::test]
async fn endless_notices_during_startup_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_startup(&mut sock).await;
        sock.write_all(AUTH_OK).await.unwrap();
        notices_forever(&mut sock).await
    });
    // No connect_timeout: the notice limit alone must end it.
    let (result, largest) = largest_allocation_during(within(
        10,
        "a startup drowned in notices",
        Connection::connect(&fake_config(port)),
    ))
    .await;
    let err = result.unwrap_err();
    assert_protocol_error(&err, &["1000 notices"]);
    assert!(largest < 1 << 20, "allocated {largest} bytes");
    let sent = within(10, "the fake server", server).await.unwrap();
    assert!(sent >= 1000 / 256, "{sent}");
}

#[tokio::test]
async fn endless_notices_during_a_query_end_at_the_query_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cancel_count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cancels_seen = cancel_count.clone();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_startup(&mut sock).await;
        sock.write_all(&hello()).await.unwrap();
        read_until(&mut sock, b"S").await;
        // Cancel requests are read and ignored: the notices go on.
        let cancels = tokio::spawn(async move {
            while let Ok((mut c, _)) = listener.accept().await {
                let mut req = [0u8; 16];
                let _ = c.read_exact(&mut req).await;
                cancels_seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let sent = notices_forever(&mut sock).await;
        cancels.abort();
        sent
    });
    let mut config = fake_config(port);
    config.query_timeout(Duration::from_millis(300));
    let mut conn = Connection::connect(&config).await.unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    conn.set_notice_handler(move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    // Generous: the client reads 16 MiB of notices, which a debug build on a loaded machine
    // can take long over; the claim is that it ends, with bounded memory.
    let (result, largest) = largest_allocation_during(within(
        120,
        "a query drowned in notices",
        conn.query("SELECT 1", &[]),
    ))
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("kept sending"), "{err}");
    assert!(conn.is_closed());
    // An ignored cancel is sent again (a real server ignores one that arrives before the
    // statement starts): once, then three more times a second apart, then the connection is
    // given up.
    assert_eq!(cancel_count.load(std::sync::atomic::Ordering::Relaxed), 4);
    assert!(seen.load(std::sync::atomic::Ordering::Relaxed) > 1000);
    // Memory stays bounded: notices are handled one by one, never accumulated.
    assert!(largest < 4 << 20, "allocated {largest} bytes");
    drop(conn);
    within(70, "the fake server", server).await.unwrap();
}

#[tokio::test]
async fn an_authentication_method_that_require_auth_forbids_gets_no_password() {
    for (request, method) in [
        (msg(b'R', &3i32.to_be_bytes()), "password"),
        (msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]), "md5"),
        (AUTH_OK.to_vec(), "none"),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            read_startup(&mut sock).await;
            sock.write_all(&request).await.unwrap();
            // Whatever the client sends before leaving: it must not be a password.
            let mut rest = Vec::new();
            let _ = sock.read_to_end(&mut rest).await;
            rest
        });
        let config = {
            let mut c = fake_config(port);
            c.password("Sup3rS3cretPw");
            c.require_auth(hyperdjango_pgwire::RequireAuth::allow([
                hyperdjango_pgwire::AuthMethod::ScramSha256,
            ]));
            c
        };
        let err = within(5, "a forbidden method", Connection::connect(&config))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Auth(_)), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains("require_auth=scram-sha-256"), "{shown}");
        if method != "none" {
            assert!(shown.contains(method), "{shown}");
        }
        let sent = within(5, "the fake server", server).await.unwrap();
        assert!(!sent.contains(&b'p'), "the client answered with {sent:?}");
        assert!(
            !sent.windows(13).any(|w| w == b"Sup3rS3cretPw"),
            "the password was sent"
        );
    }
}

#[tokio::test]
async fn a_forged_scram_server_signature_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_startup(&mut sock).await;
        let mut sasl = 10i32.to_be_bytes().to_vec();
        sasl.extend_from_slice(b"SCRAM-SHA-256\0\0");
        sock.write_all(&msg(b'R', &sasl)).await.unwrap();
        let (tag, body) = read_message(&mut sock).await;
        assert_eq!(tag, b'p');
        let text = String::from_utf8_lossy(&body).into_owned();
        let nonce = text.split("r=").nth(1).expect("a client nonce").to_owned();
        let first = format!("r={nonce}srv,s=c2FsdHNhbHQ=,i=4096");
        let mut cont = 11i32.to_be_bytes().to_vec();
        cont.extend_from_slice(first.as_bytes());
        sock.write_all(&msg(b'R', &cont)).await.unwrap();
        let (tag, _) = read_message(&mut sock).await; // the client's proof
        assert_eq!(tag, b'p');
        // A signature the server could only compute if it knew the password: forged.
        let mut fin = 12i32.to_be_bytes().to_vec();
        fin.extend_from_slice(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        sock.write_all(&msg(b'R', &fin)).await.unwrap();
        sock.write_all(&hello()).await.unwrap();
        wait_for_close(&mut sock).await;
    });
    let mut config = fake_config(port);
    config.password("pw");
    let err = within(5, "a forged SCRAM signature", Connection::connect(&config))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth(hyperdjango_pgwire::proto::auth::AuthError::ServerSignatureMismatch)
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("server signature"), "{err}");
    within(5, "the fake SCRAM server", server).await.unwrap();
}
