//! Failed-login throttling per account and per address.

use std::time::Duration;

use totilove_kit::{Code, Error};

use crate::helpers::{PASSWORD, TestApp};

const WINDOW: &[(&str, &str)] = &[
    ("LOGIN_FAILURES_PER_ACCOUNT", "3"),
    ("LOGIN_FAILURES_PER_ADDRESS", "100"),
    ("LOGIN_THROTTLE_WINDOW_SECS", "2"),
];

fn assert_rate_limited(err: &Error) {
    assert_eq!(err.code, Code::RateLimited, "{err:?}");
    let retry_after = err.retry_after.expect("a retry-after");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn failures_are_counted_per_account_whatever_the_address_or_spelling() {
    let app = TestApp::start_with(WINDOW).await;
    app.register("alice").await;
    // Another address each time (as a changing X-Forwarded-For would give),
    // and the account named three ways.
    for (i, login) in ["alice", "ALICE", "alice@example.com"].iter().enumerate() {
        let err = app
            .try_login(login, "wrong password", &format!("198.51.100.{i}"))
            .await
            .expect_err("refused");
        assert_eq!(err.code, Code::InvalidCredentials);
    }
    let err = app
        .try_login("Alice", PASSWORD, "198.51.100.99")
        .await
        .expect_err("throttled even with the right password");
    assert_rate_limited(&err);

    // Never a permanent lockout: once the window passes, the password works.
    tokio::time::sleep(Duration::from_secs(err.retry_after.unwrap_or(2))).await;
    app.try_login("alice", PASSWORD, "198.51.100.99")
        .await
        .expect("the window has passed");
}

#[tokio::test]
async fn unknown_logins_are_throttled_like_accounts() {
    let app = TestApp::start_with(WINDOW).await;
    for i in 0..3 {
        app.try_login("Ghost", PASSWORD, &format!("198.51.100.{i}"))
            .await
            .expect_err("refused");
    }
    let err = app
        .try_login("ghost", PASSWORD, "198.51.100.50")
        .await
        .expect_err("throttled");
    assert_rate_limited(&err);
}

#[tokio::test]
async fn a_successful_login_clears_the_accounts_failures() {
    let app = TestApp::start_with(WINDOW).await;
    app.register("alice").await;
    for _ in 0..2 {
        app.try_login("alice", "wrong password", "198.51.100.1")
            .await
            .expect_err("refused");
    }
    app.try_login("alice", PASSWORD, "198.51.100.1")
        .await
        .expect("logged in");
    for _ in 0..2 {
        let err = app
            .try_login("alice", "wrong password", "198.51.100.1")
            .await
            .expect_err("refused");
        assert_eq!(err.code, Code::InvalidCredentials);
    }
    app.try_login("alice", PASSWORD, "198.51.100.1")
        .await
        .expect("still under the limit");
}

#[tokio::test]
async fn failures_are_counted_per_address_across_accounts() {
    let app = TestApp::start_with(&[
        ("LOGIN_FAILURES_PER_ACCOUNT", "100"),
        ("LOGIN_FAILURES_PER_ADDRESS", "3"),
        ("LOGIN_THROTTLE_WINDOW_SECS", "2"),
    ])
    .await;
    app.register("alice").await;
    for victim in ["bob", "carol", "dave"] {
        app.try_login(victim, "guess", "203.0.113.5")
            .await
            .expect_err("refused");
    }
    let err = app
        .try_login("alice", PASSWORD, "203.0.113.5")
        .await
        .expect_err("that address is throttled");
    assert_rate_limited(&err);
    app.try_login("alice", PASSWORD, "203.0.113.6")
        .await
        .expect("another address is not");
}

#[tokio::test]
async fn with_redis_stopped_failures_are_still_throttled() {
    let mut app = TestApp::start_with(WINDOW).await;
    app.register("alice").await;
    app.system.redis.stop().await;
    for i in 0..3 {
        let err = app
            .try_login("alice", "wrong password", &format!("198.51.100.{i}"))
            .await
            .expect_err("refused");
        assert_eq!(err.code, Code::InvalidCredentials);
    }
    let err = app
        .try_login("alice", PASSWORD, "198.51.100.9")
        .await
        .expect_err("throttled in-process");
    assert_rate_limited(&err);
}
