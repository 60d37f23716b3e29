//! Each authentication method against the real server, including refusals.

use hyperdjango_pgwire::testing::TestUser;
use hyperdjango_pgwire::{Connection, Error};

use crate::common::*;

/// Connects as `user` with its own password and checks who the server thinks we are.
async fn logs_in_as(user: TestUser) {
    let Some(result) = connect_as(user).await else {
        eprintln!("skipped: the {user:?} role exists only on the harness's own cluster");
        return;
    };
    let mut conn = result.unwrap_or_else(|e| panic!("{user:?} login failed: {e}"));
    let row = conn
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0).unwrap(), user.name());
}

#[tokio::test]
async fn trust_login() {
    logs_in_as(TestUser::Trust).await;
}

#[tokio::test]
async fn cleartext_password_login() {
    logs_in_as(TestUser::Password).await;
}

#[tokio::test]
async fn md5_login() {
    logs_in_as(TestUser::Md5).await;
}

#[tokio::test]
async fn scram_sha_256_login() {
    logs_in_as(TestUser::Scram).await;
}

#[tokio::test]
async fn wrong_scram_password_is_invalid_password_not_a_hang() {
    let Some(config) = config_for(TestUser::Scram, Some("not-the-password")) else {
        return;
    };
    let err = within(10, "a refused SCRAM login", Connection::connect(&config))
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("28P01"), "{err}");
    assert!(
        !err.to_string().contains("not-the-password"),
        "the password leaked: {err}"
    );
}

#[tokio::test]
async fn scram_iteration_cap_refuses_the_exchange() {
    let Some(mut config) = config_for(TestUser::Scram, TestUser::Scram.password()) else {
        return;
    };
    // The server stores 4096 iterations by default; a cap below it must refuse, naming both.
    config.scram_max_iterations(1000);
    let err = within(10, "a capped SCRAM login", Connection::connect(&config))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("4096") && msg.contains("1000"), "{msg}");
}

#[tokio::test]
async fn password_given_to_trust_user_is_not_needed() {
    let Some(config) = config_for(TestUser::Trust, Some("ignored")) else {
        return;
    };
    let mut conn = Connection::connect(&config).await.unwrap();
    assert_eq!(conn.execute("SELECT 1", &[]).await.unwrap(), 1);
}

#[tokio::test]
async fn config_debug_never_shows_the_password() {
    let Some(config) = config_for(TestUser::Md5, TestUser::Md5.password()) else {
        return;
    };
    let shown = format!("{config:?}");
    assert!(
        !shown.contains(TestUser::Md5.password().unwrap()),
        "{shown}"
    );
}
