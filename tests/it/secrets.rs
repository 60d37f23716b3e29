//! Secrets and injection at the driver level (issue 9): passwords and keys never appear in
//! `Debug` or `Display` of the URL's config, the errors, the connection or the cancel token;
//! `require_auth` against the real server; hostile strings go through as bind parameters, and
//! hostile identifiers through `quote_identifier`, leaving the table and its data intact.

use hyperdjango_pgwire::testing::TestUser;
use hyperdjango_pgwire::{
    AuthMethod, ChannelBindingMode, Config, Connection, Error, RequireAuth, SslMode,
    quote_identifier,
};

use crate::common::*;

const SECRET: &str = "Sup3rS3cretPw";

fn assert_hidden(what: &str, shown: &str) {
    assert!(
        !shown.contains(SECRET),
        "{what} shows the password: {shown}"
    );
}

fn assert_error_hidden(what: &str, e: &Error) {
    assert_hidden(what, &e.to_string());
    assert_hidden(what, &format!("{e:?}"));
    assert_hidden(what, &format!("{e:#?}"));
}

#[test]
fn urls_configs_and_their_errors_never_show_the_password() {
    let good = [
        format!("postgresql://bob:{SECRET}@db/app?sslmode=require&channel_binding=require"),
        format!("host=db user=bob password={SECRET} require_auth=scram-sha-256"),
        format!("postgresql://bob@db/app?password={SECRET}&sslkey=/k.pem&sslcert=/c.pem"),
    ];
    for url in &good {
        let cfg = Config::parse(url).unwrap();
        assert_hidden(url, &format!("{cfg:?}"));
        assert_hidden(url, &format!("{cfg:#?}"));
        assert_eq!(cfg.get_password(), Some(SECRET.as_bytes()));
    }
    let bad = [
        format!("postgresql://bob:{SECRET}@db/app?channel_binding=always"),
        format!("postgresql://bob:{SECRET}@db/app?require_auth=kerberos"),
        format!("postgresql://bob:{SECRET}@db/app?require_auth=md5,!password"),
        format!("postgresql://bob:{SECRET}@db/app?sslmode=disable&channel_binding=require"),
        format!("user=bob password={SECRET} sslmode=sometimes"),
        format!("postgresql://bob:{SECRET}@db:99999/app"),
        format!("postgresql://bob:{SECRET}@db/app?sslnegotiation=direct"),
    ];
    for url in &bad {
        let e = Config::parse(url).unwrap_err();
        assert_hidden(url, &e.to_string());
        assert_hidden(url, &format!("{e:?}"));
        let e: Error = e.into();
        assert_error_hidden(url, &e);
    }
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    let Some(mut config) = config_for(TestUser::Scram, Some(SECRET)) else {
        skip("connection_errors_never_show_the_password: external server");
        return;
    };
    // Refused by the server (wrong password), refused by require_auth, refused for channel
    // binding, and a TLS failure: none of their errors shows the password.
    let e = Connection::connect(&config).await.unwrap_err();
    assert_error_hidden("a wrong SCRAM password", &e);
    config.require_auth(RequireAuth::allow([AuthMethod::Md5]));
    let e = Connection::connect(&config).await.unwrap_err();
    assert_error_hidden("require_auth", &e);
    let mut config = config_for(TestUser::Password, Some(SECRET)).unwrap();
    config.channel_binding(ChannelBindingMode::Require);
    let e = Connection::connect(&config).await.unwrap_err();
    assert_error_hidden("channel_binding", &e);
    config
        .channel_binding(ChannelBindingMode::Prefer)
        .ssl_mode(SslMode::Require);
    let e = Connection::connect(&config).await.unwrap_err();
    assert_error_hidden("TLS required by a server without it", &e);
}

#[tokio::test]
async fn connections_and_cancel_tokens_never_show_secrets() {
    let Some(config) = config_for(TestUser::Scram, TestUser::Scram.password()) else {
        skip("connections_and_cancel_tokens_never_show_secrets: external server");
        return;
    };
    let password = TestUser::Scram.password().unwrap();
    let conn = Connection::connect(&config).await.unwrap();
    for shown in [format!("{conn:?}"), format!("{conn:#?}")] {
        assert!(!shown.contains(password), "{shown}");
    }
    let token = conn.cancel_token();
    let shown = format!("{token:?}");
    assert!(!shown.contains(password), "{shown}");
    // The secret key is a credential too (it lets anyone cancel this backend's queries).
    assert!(!shown.contains("secret"), "{shown}");
    assert!(shown.contains("process_id"), "{shown}");
}

#[tokio::test]
async fn require_auth_against_the_real_server() {
    let Some(_) = config_for(TestUser::Scram, None) else {
        skip("require_auth_against_the_real_server: external server");
        return;
    };
    let with = |user: TestUser, policy: &str| {
        let mut config = config_for(user, user.password()).unwrap();
        let parsed = Config::parse(&format!("require_auth={policy}")).unwrap();
        config.require_auth(parsed.get_require_auth().unwrap().clone());
        config
    };
    // Allowed methods log in.
    for (user, policy) in [
        (TestUser::Scram, "scram-sha-256"),
        (TestUser::Md5, "md5,scram-sha-256"),
        (TestUser::Password, "password"),
        (TestUser::Trust, "none"),
        (TestUser::Md5, "!password"),
        (TestUser::Trust, "!password,!md5"),
    ] {
        let conn = within(
            5,
            "an allowed login",
            Connection::connect(&with(user, policy)),
        )
        .await;
        if let Err(e) = conn {
            panic!("{} with require_auth={policy}: {e}", user.name());
        }
    }
    // Forbidden ones are refused before the password is sent.
    for (user, policy, method) in [
        (TestUser::Password, "scram-sha-256", "password"),
        (TestUser::Md5, "scram-sha-256", "md5"),
        (TestUser::Scram, "!scram-sha-256", "scram-sha-256"),
        (TestUser::Password, "!password", "password"),
        (TestUser::Trust, "scram-sha-256", "did not ask"),
    ] {
        let e = within(
            5,
            "a forbidden login",
            Connection::connect(&with(user, policy)),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::Auth(_)), "{}: {e:?}", user.name());
        let shown = e.to_string();
        assert!(shown.contains(&format!("require_auth={policy}")), "{shown}");
        assert!(shown.contains(method), "{shown}");
    }
}

/// Strings an attacker might send as a value: each must be stored and read back verbatim.
const HOSTILE_VALUES: &[&str] = &[
    "'; DROP TABLE victims; --",
    "' OR '1'='1",
    "\"; DROP TABLE victims; --",
    "$1",
    "$$; DROP TABLE victims; $$",
    "\\'; DROP TABLE victims; --",
    "E'\\x27'",
    "1; DELETE FROM victims",
    "%_%",
    "🦀 ünïcödé \u{202e} right-to-left",
    "",
    " ",
    "\u{feff}BOM",
];

#[tokio::test]
async fn hostile_strings_go_through_as_bind_parameters() {
    let mut conn = connect().await;
    let table = quote_identifier(&unique("victims")).unwrap();
    conn.batch_execute(&format!(
        "CREATE TEMP TABLE {table} (id int4 PRIMARY KEY, v text NOT NULL)"
    ))
    .await
    .unwrap();
    conn.execute(
        format!("INSERT INTO {table} VALUES (0, 'canary')").as_str(),
        &[],
    )
    .await
    .unwrap();
    for (i, value) in HOSTILE_VALUES.iter().enumerate() {
        let id = i as i32 + 1;
        let n = conn
            .execute(
                format!("INSERT INTO {table} VALUES ($1, $2)").as_str(),
                &[&id, value],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        // Read back by value: the comparison is on the bound text, not on SQL.
        let got: i32 = conn
            .query_one(
                format!("SELECT id FROM {table} WHERE v = $1").as_str(),
                &[value],
            )
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(got, id, "{value:?}");
        // And through the simple protocol's cousin: a statement prepared explicitly.
        let stmt = conn
            .prepare(format!("SELECT v FROM {table} WHERE id = $1").as_str())
            .await
            .unwrap();
        let back: String = conn.query_one(&stmt, &[&id]).await.unwrap().get(0).unwrap();
        assert_eq!(&back, value);
    }
    // A NUL byte cannot be sent as text: a clear error, not a truncated value.
    let e = conn
        .execute(
            format!("INSERT INTO {table} VALUES ($1, $2)").as_str(),
            &[&999i32, &"a\0b"],
        )
        .await
        .unwrap_err();
    assert!(!e.is_closed(), "{e:?}");
    // The table and every row survived.
    let count: i64 = conn
        .query_one(format!("SELECT count(*) FROM {table}").as_str(), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(count, HOSTILE_VALUES.len() as i64 + 1);
    let canary: String = conn
        .query_one(format!("SELECT v FROM {table} WHERE id = 0").as_str(), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(canary, "canary");
}

#[tokio::test]
async fn hostile_identifiers_are_quoted() {
    let mut conn = connect().await;
    let schema = own_schema(&mut conn, "hd_ident").await;
    conn.batch_execute("CREATE TABLE canary (id int4); INSERT INTO canary VALUES (1)")
        .await
        .unwrap();
    let names = [
        "t\"; DROP TABLE canary; --",
        "Robert'); DROP TABLE canary;--",
        "select",
        "with space",
        "UPPER",
        "\"",
        "🦀",
        "a.b",
    ];
    for name in names {
        let quoted = quote_identifier(name).unwrap();
        conn.batch_execute(&format!("CREATE TABLE {quoted} ({quoted} text)"))
            .await
            .unwrap_or_else(|e| panic!("{name:?} as {quoted}: {e}"));
        conn.execute(
            format!("INSERT INTO {quoted} ({quoted}) VALUES ($1)").as_str(),
            &[&name],
        )
        .await
        .unwrap();
        let got: String = conn
            .query_one(format!("SELECT {quoted} FROM {quoted}").as_str(), &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(got, name);
        // The catalog has exactly that name.
        let exists: bool = conn
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
                &[&schema, &name],
            )
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert!(exists, "{name:?}");
    }
    // Refused, with a clear error: NUL and the empty name.
    assert!(matches!(quote_identifier("a\0b"), Err(Error::Usage(_))));
    assert!(matches!(quote_identifier(""), Err(Error::Usage(_))));
    let n: i64 = conn
        .query_one("SELECT count(*) FROM canary", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 1);
}
