//! TLS against a real server: a private cluster with `ssl=on`, a CA, server and client
//! certificates generated here (rcgen), and `hostssl` / `hostnossl` / `cert` lines in
//! pg_hba.conf. Each sslmode, verification failures (wrong host name, untrusted CA), client
//! certificates, SCRAM channel binding, cancel over TLS, direct TLS (PostgreSQL 17+), and a
//! fake server that injects bytes before the handshake (CVE-2021-23222).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use hyperdjango_pgwire::testing::{ClusterOptions, ServerTls, TestCluster, TestUser};
use hyperdjango_pgwire::{ChannelBindingMode, Config, Connection, Error, SqlState, SslMode};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SignatureAlgorithm,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::*;

const SSLONLY_PW: &str = "hd_sslonly_pw";

/// The TLS cluster and the client-side files.
struct Env {
    cluster: TestCluster,
    /// The CA that signed the server's and the clients' certificates.
    ca: PathBuf,
    /// A CA that signed nothing the server has.
    other_ca: PathBuf,
    /// A client certificate for `hd_cert` and its key.
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A client certificate for `hd_other` (a role the `cert` line does not let in as hd_cert).
    wrong_cert: PathBuf,
    wrong_key: PathBuf,
}

fn ca(name: &str, alg: &'static SignatureAlgorithm) -> (Certificate, KeyPair) {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (params.self_signed(&key).unwrap(), key)
}

fn leaf(names: &[&str], cn: &str, issuer: &(Certificate, KeyPair)) -> (Certificate, KeyPair) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    (params.signed_by(&key, &issuer.0, &issuer.1).unwrap(), key)
}

/// Starts the TLS cluster once per test process; `None` (after printing why) when no local
/// server can be started here.
fn env() -> Option<&'static Env> {
    static ENV: OnceLock<Option<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        if cluster().is_external() {
            skip("TLS tests: HYPER_TEST_DATABASE_URL is set; they need a private cluster");
            return None;
        }
        // The CA signs with ECDSA P-384 / SHA-384, so the tls-server-end-point hash must be
        // SHA-384: channel binding only works when the driver picks the hash the server picks.
        let root = ca("hyperdjango test CA", &rcgen::PKCS_ECDSA_P384_SHA384);
        let other = ca("an unrelated CA", &rcgen::PKCS_ECDSA_P256_SHA256);
        // The server's certificate names "localhost" only: 127.0.0.1 is the wrong host name.
        let server = leaf(&["localhost"], "localhost", &root);
        let client = leaf(&[], "hd_cert", &root);
        let wrong = leaf(&[], "hd_other", &root);
        let options = ClusterOptions {
            tls: Some(ServerTls {
                cert_pem: server.0.pem(),
                key_pem: server.1.serialize_pem(),
                client_ca_pem: Some(root.0.pem()),
            }),
            hba_lines: vec![
                "hostssl   all hd_cert      127.0.0.1/32 cert".into(),
                "hostnossl all hd_cert      127.0.0.1/32 reject".into(),
                "hostssl   all hd_sslonly   127.0.0.1/32 scram-sha-256".into(),
                "hostnossl all hd_sslonly   127.0.0.1/32 reject".into(),
                "hostnossl all hd_plainonly 127.0.0.1/32 trust".into(),
                "hostssl   all hd_plainonly 127.0.0.1/32 reject".into(),
            ],
            bootstrap_sql: vec![
                "CREATE ROLE hd_cert LOGIN;".into(),
                "CREATE ROLE hd_other LOGIN;".into(),
                "CREATE ROLE hd_plainonly LOGIN;".into(),
                "SET password_encryption = 'scram-sha-256';".into(),
                format!("CREATE ROLE hd_sslonly LOGIN PASSWORD '{SSLONLY_PW}';"),
            ],
            ..ClusterOptions::default()
        };
        let cluster = match TestCluster::start_with(&options) {
            Ok(c) => c,
            Err(e) if e.to_string().contains("SSL is not supported by this build") => {
                skip(&format!(
                    "TLS tests: the PostgreSQL server binaries ({}) were built without SSL",
                    cluster().server_version().unwrap_or("?")
                ));
                return None;
            }
            Err(e) => panic!("starting the TLS cluster: {e}"),
        };
        let dir = cluster.base_dir().unwrap().join("client");
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Some(Env {
            ca: write("root.crt", &root.0.pem()),
            other_ca: write("other.crt", &other.0.pem()),
            client_cert: write("hd_cert.crt", &client.0.pem()),
            client_key: write("hd_cert.key", &client.1.serialize_pem()),
            wrong_cert: write("hd_other.crt", &wrong.0.pem()),
            wrong_key: write("hd_other.key", &wrong.1.serialize_pem()),
            cluster,
        })
    })
    .as_ref()
}

impl Env {
    /// A config for `user` on the TLS cluster at `host` (127.0.0.1 or localhost).
    fn config(&self, host: &str, user: &str, mode: SslMode) -> Config {
        let mut config = Config::new();
        config
            .host(host)
            .port(self.cluster.port().unwrap())
            .user(user)
            .dbname("postgres")
            .ssl_mode(mode)
            .connect_timeout(Duration::from_secs(10));
        config
    }
}

/// Whether the server sees this session as encrypted.
async fn server_says_ssl(conn: &mut Connection) -> bool {
    conn.query_one(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )
    .await
    .unwrap()
    .get(0)
    .unwrap()
}

async fn connect_ok(config: &Config, what: &str) -> Connection {
    match within(15, what, Connection::connect(config)).await {
        Ok(c) => c,
        Err(e) => panic!("{what}: {e}"),
    }
}

async fn connect_err(config: &Config, what: &str) -> Error {
    match within(15, what, Connection::connect(config)).await {
        Ok(c) => panic!("{what}: connected ({c:?}) but should have been refused"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn each_sslmode() {
    let Some(env) = env() else { return };
    let trust = TestUser::Trust.name();

    // disable: never TLS.
    let mut c = connect_ok(&env.config("127.0.0.1", trust, SslMode::Disable), "disable").await;
    assert!(!c.is_tls());
    assert!(!server_says_ssl(&mut c).await);

    // allow: without TLS first...
    let mut c = connect_ok(&env.config("127.0.0.1", trust, SslMode::Allow), "allow").await;
    assert!(!c.is_tls());
    assert!(!server_says_ssl(&mut c).await);
    // ... and with it when the server refuses the plain login.
    let mut config = env.config("127.0.0.1", "hd_sslonly", SslMode::Allow);
    config.password(SSLONLY_PW);
    let mut c = connect_ok(&config, "allow, TLS-only role").await;
    assert!(c.is_tls());
    assert!(server_says_ssl(&mut c).await);
    // disable never tries TLS, so that role is refused.
    config.ssl_mode(SslMode::Disable);
    let e = connect_err(&config, "disable, TLS-only role").await;
    assert_eq!(
        e.code(),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{e}"
    );

    // prefer (the default): TLS first...
    let mut c = connect_ok(&env.config("127.0.0.1", trust, SslMode::Prefer), "prefer").await;
    assert!(c.is_tls());
    assert!(server_says_ssl(&mut c).await);
    // ... and without it when the server refuses the TLS login.
    let mut c = connect_ok(
        &env.config("127.0.0.1", "hd_plainonly", SslMode::Prefer),
        "prefer, plain-only role",
    )
    .await;
    assert!(!c.is_tls());
    assert!(!server_says_ssl(&mut c).await);
    // require never falls back.
    let e = connect_err(
        &env.config("127.0.0.1", "hd_plainonly", SslMode::Require),
        "require, plain-only role",
    )
    .await;
    assert_eq!(
        e.code(),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{e}"
    );

    // require: encrypted, the certificate not checked (no root file given)...
    let mut c = connect_ok(&env.config("127.0.0.1", trust, SslMode::Require), "require").await;
    assert!(c.is_tls());
    assert!(server_says_ssl(&mut c).await);
    // ... unless a root file is given: then the chain is checked (libpq's rule).
    let mut config = env.config("127.0.0.1", trust, SslMode::Require);
    config.ssl_root_cert(&env.other_ca);
    let e = connect_err(&config, "require with an unrelated root").await;
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    config.ssl_root_cert(&env.ca);
    assert!(
        connect_ok(&config, "require with the right root")
            .await
            .is_tls()
    );

    // verify-ca: the chain, not the name (127.0.0.1 is not in the certificate).
    let mut config = env.config("127.0.0.1", trust, SslMode::VerifyCa);
    config.ssl_root_cert(&env.ca);
    let mut c = connect_ok(&config, "verify-ca").await;
    assert!(server_says_ssl(&mut c).await);

    // verify-full: the chain and the name.
    let mut config = env.config("localhost", trust, SslMode::VerifyFull);
    config.ssl_root_cert(&env.ca);
    let mut c = connect_ok(&config, "verify-full, localhost").await;
    assert!(server_says_ssl(&mut c).await);
    c.close().await.unwrap();
}

#[tokio::test]
async fn verify_full_refuses_the_wrong_host_name() {
    let Some(env) = env() else { return };
    let mut config = env.config("127.0.0.1", TestUser::Trust.name(), SslMode::VerifyFull);
    config.ssl_root_cert(&env.ca);
    let e = connect_err(&config, "verify-full, 127.0.0.1").await;
    let Error::Tls(why) = &e else {
        panic!("expected a TLS error, got {e:?}");
    };
    assert!(why.contains("127.0.0.1"), "{why}");
    assert!(
        why.contains("certificate") && why.contains("not valid for"),
        "{why}"
    );
    assert!(e.is_closed());
}

#[tokio::test]
async fn an_untrusted_ca_is_refused() {
    let Some(env) = env() else { return };
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let mut config = env.config("localhost", TestUser::Trust.name(), mode);
        config.ssl_root_cert(&env.other_ca);
        let e = connect_err(&config, "an untrusted CA").await;
        let Error::Tls(why) = &e else {
            panic!("expected a TLS error, got {e:?}");
        };
        assert!(
            why.contains("UnknownIssuer") || why.contains("issuer"),
            "{why}"
        );
    }
    // No root file at all: a clear error, before connecting.
    let missing = env.ca.with_file_name("does-not-exist.crt");
    let mut config = env.config("localhost", TestUser::Trust.name(), SslMode::VerifyFull);
    config.ssl_root_cert(&missing);
    let e = connect_err(&config, "a missing root file").await;
    assert!(e.to_string().contains("does-not-exist.crt"), "{e}");
    // `system` needs verify-full.
    let mut config = env.config("localhost", TestUser::Trust.name(), SslMode::VerifyCa);
    config.ssl_root_cert("system");
    let e = connect_err(&config, "sslrootcert=system with verify-ca").await;
    assert!(e.to_string().contains("verify-full"), "{e}");
}

#[tokio::test]
async fn a_client_certificate_logs_in_with_cert_auth() {
    let Some(env) = env() else { return };
    let mut config = env.config("localhost", "hd_cert", SslMode::VerifyFull);
    config
        .ssl_root_cert(&env.ca)
        .ssl_cert(&env.client_cert)
        .ssl_key(&env.client_key);
    let mut c = connect_ok(&config, "cert auth").await;
    let who: String = c
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(who, "hd_cert");
    let dn: Option<String> = c
        .query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert!(dn.unwrap_or_default().contains("hd_cert"));

    // The same URL form works.
    let url = format!(
        "postgresql://hd_cert@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        env.cluster.port().unwrap(),
        env.ca.display(),
        env.client_cert.display(),
        env.client_key.display()
    );
    let c = connect_ok(&Config::parse(&url).unwrap(), "cert auth by URL").await;
    assert!(c.is_tls());

    // Without a certificate, or with another user's, the server refuses.
    let mut config = env.config("localhost", "hd_cert", SslMode::VerifyFull);
    config.ssl_root_cert(&env.ca);
    let e = connect_err(&config, "cert auth without a certificate").await;
    assert_eq!(
        e.code(),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{e}"
    );
    config.ssl_cert(&env.wrong_cert).ssl_key(&env.wrong_key);
    let e = connect_err(&config, "cert auth with another user's certificate").await;
    assert!(e.code().is_some(), "{e:?}");

    // A certificate without its key is a clear client-side error.
    let mut config = env.config("localhost", "hd_cert", SslMode::VerifyFull);
    config.ssl_root_cert(&env.ca).ssl_cert(&env.client_cert);
    let e = connect_err(&config, "sslcert without sslkey").await;
    assert!(e.to_string().contains("sslkey"), "{e}");
    // A key file that is not a key.
    config.ssl_key(&env.ca);
    let e = connect_err(&config, "sslkey that is a certificate").await;
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    // Under prefer too: a broken TLS setting is an error, not a quiet fallback to plain.
    config.ssl_mode(SslMode::Prefer);
    let e = connect_err(&config, "prefer with a broken sslkey").await;
    assert!(matches!(e, Error::Config(_)), "{e:?}");
}

#[tokio::test]
async fn scram_with_channel_binding() {
    let Some(env) = env() else { return };
    let scram = TestUser::Scram;
    let config_with = |binding: ChannelBindingMode, user: TestUser| {
        let mut config = env.config("localhost", user.name(), SslMode::VerifyFull);
        config.ssl_root_cert(&env.ca).channel_binding(binding);
        if let Some(pw) = user.password() {
            config.password(pw);
        }
        config
    };
    // require and prefer bind (SCRAM-SHA-256-PLUS, tls-server-end-point with SHA-384 here).
    for binding in [ChannelBindingMode::Require, ChannelBindingMode::Prefer] {
        let mut c = connect_ok(&config_with(binding, scram), "SCRAM-PLUS").await;
        assert!(c.channel_binding_used(), "{binding:?}");
        let who: String = c
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(who, scram.name());
    }
    // disable does not.
    let c = connect_ok(
        &config_with(ChannelBindingMode::Disable, scram),
        "SCRAM without binding",
    )
    .await;
    assert!(c.is_tls() && !c.channel_binding_used());
    // require refuses a server that authenticates without binding: md5, cleartext, trust.
    for user in [TestUser::Md5, TestUser::Password, TestUser::Trust] {
        let e = connect_err(
            &config_with(ChannelBindingMode::Require, user),
            "channel_binding=require without SCRAM",
        )
        .await;
        assert!(matches!(e, Error::Auth(_)), "{}: {e:?}", user.name());
        assert!(e.to_string().contains("channel_binding=require"), "{e}");
        assert!(e.is_closed() || !e.to_string().is_empty());
    }
    // require refuses a server without TLS (the shared cluster has none).
    let mut config = config_for(scram, scram.password()).unwrap();
    config
        .ssl_mode(SslMode::Prefer)
        .channel_binding(ChannelBindingMode::Require);
    let e = connect_err(&config, "channel_binding=require without TLS").await;
    assert!(e.to_string().contains("channel_binding=require"), "{e}");
    // ... and says so at once when sslmode cannot give TLS.
    assert!(Config::parse("sslmode=disable channel_binding=require").is_err());
}

#[tokio::test]
async fn the_shared_plain_server_under_prefer_and_require() {
    let Some(mut config) = config_for(TestUser::Trust, None) else {
        skip("the_shared_plain_server_under_prefer_and_require: external server");
        return;
    };
    config.ssl_mode(SslMode::Prefer);
    let c = connect_ok(&config, "prefer against a server without TLS").await;
    assert!(!c.is_tls());
    config.ssl_mode(SslMode::Require);
    let e = connect_err(&config, "require against a server without TLS").await;
    let Error::Tls(why) = &e else {
        panic!("expected a TLS error, got {e:?}");
    };
    assert!(why.contains("does not support TLS"), "{why}");
}

#[tokio::test]
async fn check_idle_and_close_over_tls() {
    let Some(env) = env() else { return };
    let mut config = env.config("localhost", TestUser::Trust.name(), SslMode::VerifyFull);
    config.ssl_root_cert(&env.ca);
    let mut victim = connect_ok(&config, "a TLS connection").await;
    let mut killer = connect_ok(&config, "another TLS connection").await;
    victim.check_idle().unwrap();
    victim.batch_execute("LISTEN tls_chan").await.unwrap();
    killer.batch_execute("NOTIFY tls_chan, 'hi'").await.unwrap();
    let n = within(5, "a notification over TLS", victim.wait_for_notification())
        .await
        .unwrap();
    assert_eq!(n.payload, "hi");
    let pid = victim.process_id();
    killer
        .query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid])
        .await
        .unwrap();
    // The FATAL error and the end of the TLS stream are seen without waiting.
    let mut err = None;
    for _ in 0..50 {
        if let Err(e) = victim.check_idle() {
            err = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = err.expect("check_idle never noticed the terminated backend");
    assert!(err.is_closed(), "{err:?}");
    killer.close().await.unwrap();
}

#[tokio::test]
async fn cancel_goes_over_tls() {
    let Some(env) = env() else { return };
    let mut config = env.config("localhost", TestUser::Trust.name(), SslMode::VerifyFull);
    config.ssl_root_cert(&env.ca);
    let mut c = connect_ok(&config, "TLS for cancel").await;
    let token = c.cancel_token();
    assert!(token.uses_tls());
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel().await
    });
    let e = within(10, "a cancelled sleep", c.query("SELECT pg_sleep(30)", &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e}");
    canceller.await.unwrap().unwrap();
    // The connection goes on.
    let n: i32 = c.query_one("SELECT 7", &[]).await.unwrap().get(0).unwrap();
    assert_eq!(n, 7);
}

#[tokio::test]
async fn direct_tls_negotiation() {
    let Some(env) = env() else { return };
    let version = env.cluster.server_version().unwrap_or("0");
    let major: u32 = version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let mut config = env.config("localhost", TestUser::Trust.name(), SslMode::VerifyFull);
    config
        .ssl_root_cert(&env.ca)
        .ssl_negotiation(hyperdjango_pgwire::SslNegotiation::Direct);
    if major < 17 {
        skip(&format!(
            "direct_tls_negotiation: PostgreSQL {version} has no direct TLS (17+); \
             run with HYPER_PG_BIN pointing at PostgreSQL 17 or later built with SSL, e.g. \
             HYPER_PG_BIN=/opt/hyperdjango-pg18-ssl/native/bin as .ci/run installs it (the client side is checked against a fake server in direct_tls_against_a_fake_server)"
        ));
        // An older server must fail cleanly, not hang.
        let e = connect_err(&config, "direct TLS against an old server").await;
        assert!(e.is_closed(), "{e:?}");
        return;
    }
    let mut c = connect_ok(&config, "direct TLS").await;
    assert!(c.is_tls());
    assert!(server_says_ssl(&mut c).await);
    // Cancel follows the same negotiation.
    let token = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel().await
    });
    let e = within(10, "a cancelled sleep", c.query("SELECT pg_sleep(30)", &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e}");
    canceller.await.unwrap().unwrap();
}

/// A fake server that answers the SSLRequest with `reply` (in one write).
async fn fake_tls_server(reply: &'static [u8]) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 8];
        sock.read_exact(&mut request).await.unwrap();
        let _ = sock.write_all(reply).await;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), sock.read_to_end(&mut rest)).await;
        request
    });
    (port, task)
}

fn fake_config(port: u16, mode: SslMode) -> Config {
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("hd_victim")
        .dbname("hd_db")
        .ssl_mode(mode);
    config
}

#[tokio::test]
async fn bytes_injected_before_the_handshake_are_refused() {
    // CVE-2021-23222: 'S' and, in the same packet, a forged AuthenticationOk + ReadyForQuery.
    const INJECTED: &[u8] = b"SR\0\0\0\x08\0\0\0\0Z\0\0\0\x05I";
    // verify-full needs a root file: the TLS cluster's CA (the check comes before any use).
    let root = env().map(|e| e.ca.clone());
    for mode in [SslMode::Require, SslMode::VerifyFull] {
        if mode == SslMode::VerifyFull && root.is_none() {
            continue;
        }
        let (port, server) = fake_tls_server(INJECTED).await;
        let mut config = fake_config(port, mode);
        if let Some(root) = &root {
            config.ssl_root_cert(root);
        }
        let e = connect_err(&config, "a server injecting bytes").await;
        let Error::Tls(why) = &e else {
            panic!("expected a TLS error, got {e:?}");
        };
        assert!(why.contains("CVE-2021-23222"), "{why}");
        assert!(why.contains("15 unexpected bytes"), "{why}");
        let request = within(5, "the fake server", server).await.unwrap();
        assert_eq!(
            request,
            [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f],
            "an SSLRequest"
        );
    }
    // 'N' under require: refused; anything else: a protocol error.
    let (port, _server) = fake_tls_server(b"N").await;
    let e = connect_err(&fake_config(port, SslMode::Require), "a server without TLS").await;
    assert!(e.to_string().contains("does not support TLS"), "{e}");
    let (port, _server) = fake_tls_server(b"X").await;
    let e = connect_err(&fake_config(port, SslMode::Require), "a garbage reply").await;
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    // A server that is not TLS at all after 'S' fails the handshake, promptly.
    let (port, _server) = fake_tls_server(b"S").await;
    let e = connect_err(&fake_config(port, SslMode::Require), "no handshake").await;
    assert!(e.is_closed(), "{e:?}");
}

/// A one-connection fake server that speaks TLS from the first byte (direct TLS, as
/// PostgreSQL 17+ accepts it), offering ALPN `postgresql` when `alpn` is set, then completes a
/// trust login. Returns the port and a task giving the first byte it saw and the ALPN
/// protocol agreed.
async fn fake_direct_tls_server(
    cert: &Certificate,
    key: &KeyPair,
    alpn: bool,
) -> (u16, tokio::task::JoinHandle<(u8, Option<Vec<u8>>)>) {
    use std::sync::Arc;
    use tokio_rustls::rustls;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    if alpn {
        server.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut first = [0u8; 1];
        sock.peek(&mut first).await.unwrap();
        let Ok(mut tls) = acceptor.accept(sock).await else {
            return (first[0], None);
        };
        let agreed = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let len = tls.read_i32().await.unwrap();
        let mut startup = vec![0u8; len as usize - 4];
        tls.read_exact(&mut startup).await.unwrap();
        let mut hello = b"R\0\0\0\x08\0\0\0\0".to_vec();
        hello.extend_from_slice(b"K\0\0\0\x0c\0\0\0\x2a\x01\x02\x03\x04");
        hello.extend_from_slice(b"Z\0\0\0\x05I");
        let _ = tls.write_all(&hello).await;
        let _ = tls.flush().await;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
        (first[0], agreed)
    });
    (port, task)
}

#[tokio::test]
async fn direct_tls_against_a_fake_server() {
    let root = ca("direct TLS CA", &rcgen::PKCS_ECDSA_P256_SHA256);
    let (cert, key) = leaf(&["localhost"], "localhost", &root);
    let dir = std::env::temp_dir().join(unique("hd-direct-tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("root.crt");
    std::fs::write(&ca_file, root.0.pem()).unwrap();
    let config_for_port = |port: u16| {
        let mut config = Config::new();
        config
            .host("localhost")
            .port(port)
            .user("hd_victim")
            .dbname("hd_db")
            .ssl_mode(SslMode::VerifyFull)
            .ssl_root_cert(&ca_file)
            .ssl_negotiation(hyperdjango_pgwire::SslNegotiation::Direct);
        config
    };

    // The handshake starts at once (a TLS record, 0x16, not an SSLRequest), with ALPN.
    let (port, server) = fake_direct_tls_server(&cert, &key, true).await;
    let conn = connect_ok(&config_for_port(port), "direct TLS to the fake server").await;
    assert!(conn.is_tls());
    assert_eq!(conn.process_id(), 42);
    drop(conn);
    let (first, agreed) = within(5, "the fake server", server).await.unwrap();
    assert_eq!(first, 0x16, "the first byte is a TLS handshake record");
    assert_eq!(agreed.as_deref(), Some(&b"postgresql"[..]));

    // A server that does not agree to ALPN `postgresql` is refused.
    let (port, _server) = fake_direct_tls_server(&cert, &key, false).await;
    let e = connect_err(&config_for_port(port), "direct TLS without ALPN").await;
    assert!(e.to_string().contains("ALPN"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
