//! Failed-login throttling per account and per address, and why failures
//! from elsewhere do not lock the owner out of an address they use.

use totilove_common::{Code, Error};

use crate::helpers::{PASSWORD, TestApp, eventually};

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
    // (The window is fixed: attempts while throttled do not extend it.)
    eventually("the window to pass and the password to work", || {
        app.try_login("alice", PASSWORD, "198.51.100.99")
    })
    .await;
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
async fn a_successful_login_clears_that_addresss_failures_on_the_account() {
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

/// A window no test outlives.
const LONG_WINDOW: &[(&str, &str)] = &[
    ("LOGIN_FAILURES_PER_ACCOUNT", "3"),
    ("LOGIN_FAILURES_PER_ADDRESS", "100"),
    ("LOGIN_THROTTLE_WINDOW_SECS", "600"),
];

/// Three failures on alice from three other addresses, then a fourth
/// attempt, with the right password, from yet another one: throttled.
async fn attack_from_elsewhere(app: &TestApp) {
    for i in 0..3 {
        let err = app
            .try_login("alice", "guess", &format!("198.51.100.{i}"))
            .await
            .expect_err("refused");
        assert_eq!(err.code, Code::InvalidCredentials);
    }
    let err = app
        .try_login("alice", PASSWORD, "198.51.100.50")
        .await
        .expect_err("a stranger is throttled");
    assert_eq!(err.code, Code::RateLimited, "{err:?}");
}

#[tokio::test]
async fn failures_from_elsewhere_do_not_lock_the_owner_out_of_an_address_they_logged_in_from() {
    let app = TestApp::start_with(LONG_WINDOW).await;
    let alice = app.register("alice").await;
    let home = "192.0.2.10";
    let session = app
        .try_login("alice", PASSWORD, home)
        .await
        .expect("logged in");
    // Logged out since: the address stays known.
    app.logout(&crate::helpers::Session {
        user_id: alice.id,
        token: session.token,
        session_id: session.session_id,
    })
    .await
    .expect("logged out");

    attack_from_elsewhere(&app).await;
    app.try_login("alice", PASSWORD, home)
        .await
        .expect("the owner logs in from home");

    // Home is still held by its own count of failures on the account.
    for _ in 0..3 {
        let err = app
            .try_login("alice", "typo", home)
            .await
            .expect_err("refused");
        assert_eq!(err.code, Code::InvalidCredentials);
    }
    let err = app
        .try_login("alice", PASSWORD, home)
        .await
        .expect_err("throttled at home too now");
    assert_eq!(err.code, Code::RateLimited, "{err:?}");
    // And the owner's login did not give the attacker a fresh budget.
    let err = app
        .try_login("alice", "guess", "198.51.100.60")
        .await
        .expect_err("refused");
    assert_eq!(err.code, Code::RateLimited, "{err:?}");
}

#[tokio::test]
async fn with_known_addresses_off_the_account_counter_holds_every_address() {
    let app =
        TestApp::start_with(&[LONG_WINDOW, &[("LOGIN_KNOWN_ADDRESS_SECS", "0")]].concat()).await;
    app.register("alice").await;
    app.try_login("alice", PASSWORD, "192.0.2.10")
        .await
        .expect("logged in");
    attack_from_elsewhere(&app).await;
    let err = app
        .try_login("alice", PASSWORD, "192.0.2.10")
        .await
        .expect_err("held like any address");
    assert_eq!(err.code, Code::RateLimited, "{err:?}");
}

#[tokio::test]
async fn with_redis_stopped_the_owner_still_logs_in_from_a_known_address() {
    let mut app = TestApp::start_with(LONG_WINDOW).await;
    app.register("alice").await;
    app.try_login("alice", PASSWORD, "192.0.2.10")
        .await
        .expect("logged in");
    app.system.redis.stop().await;
    attack_from_elsewhere(&app).await;
    app.try_login("alice", PASSWORD, "192.0.2.10")
        .await
        .expect("known from PostgreSQL");
}

#[tokio::test]
async fn ipv6_failures_are_counted_per_64() {
    let app = TestApp::start_with(&[
        ("LOGIN_FAILURES_PER_ACCOUNT", "100"),
        ("LOGIN_FAILURES_PER_ADDRESS", "3"),
        ("LOGIN_THROTTLE_WINDOW_SECS", "600"),
    ])
    .await;
    app.register("alice").await;
    for (i, victim) in ["bob", "carol", "dave"].iter().enumerate() {
        app.try_login(victim, "guess", &format!("2001:db8:1:2::{}", i + 1))
            .await
            .expect_err("refused");
    }
    let err = app
        .try_login("alice", PASSWORD, "2001:db8:1:2:ffff::9")
        .await
        .expect_err("the same /64 is throttled");
    assert_rate_limited_within(&err, 600);
    app.try_login("alice", PASSWORD, "2001:db8:1:3::1")
        .await
        .expect("another /64 is not");
}

fn assert_rate_limited_within(err: &Error, secs: u64) {
    assert_eq!(err.code, Code::RateLimited, "{err:?}");
    let retry_after = err.retry_after.expect("a retry-after");
    assert!((1..=secs).contains(&retry_after), "{retry_after}");
}
