//! Register, log in, `/api/me`, log out.

use reqwest::{StatusCode, header};
use serde_json::json;

use crate::helpers::{
    PASSWORD, TestApp, expect_error, expect_invalid, expect_json, retry_after, set_cookie,
};

#[tokio::test]
async fn register_answers_201_with_the_public_user() {
    let app = TestApp::start().await;
    let res = app.register("alice", "alice@example.com", PASSWORD).await;
    let body = expect_json(res, StatusCode::CREATED).await;
    assert!(body["user"]["id"].as_i64().is_some_and(|id| id > 0));
    assert_eq!(body["user"]["username"], "alice");
    assert!(body["user"]["display_name"].is_null());
    assert!(body["user"].get("email").is_none(), "no email: {body}");
}

#[tokio::test]
async fn register_refuses_each_invalid_field_naming_it() {
    let app = TestApp::start().await;
    let long_email = format!("{}@example.com", "a".repeat(95));
    let cases = [
        ("ab", "ab@example.com", PASSWORD, "username"),
        (
            &"a".repeat(33) as &str,
            "long@example.com",
            PASSWORD,
            "username",
        ),
        ("bad name", "bad@example.com", PASSWORD, "username"),
        ("émile", "emile@example.com", PASSWORD, "username"),
        ("bob", "not-an-email", PASSWORD, "email"),
        ("bob", &long_email, PASSWORD, "email"),
        ("bob", "bob@example.com", "short", "password"),
        ("bob", "bob@example.com", &"p".repeat(129), "password"),
    ];
    for (username, email, password, field) in cases {
        expect_invalid(app.register(username, email, password).await, field).await;
    }
}

#[tokio::test]
async fn register_counts_password_length_in_characters() {
    let app = TestApp::start().await;
    // 8 characters, 32 bytes: long enough.
    let res = app
        .register("emoji", "emoji@example.com", "😀😀😀😀😀😀😀😀")
        .await;
    expect_json(res, StatusCode::CREATED).await;
    // 7 characters, 28 bytes: too short.
    let res = app
        .register("emoji2", "emoji2@example.com", "😀😀😀😀😀😀😀")
        .await;
    expect_invalid(res, "password").await;
}

#[tokio::test]
async fn register_refuses_a_missing_field_or_a_wrong_type() {
    let app = TestApp::start().await;
    let res = app
        .post(
            "/api/auth/register",
            None,
            &json!({"username": "carol", "password": PASSWORD}),
        )
        .await;
    expect_invalid(res, "email").await;
    let res = app
        .post(
            "/api/auth/register",
            None,
            &json!({"username": 42, "email": "c@example.com", "password": PASSWORD}),
        )
        .await;
    expect_invalid(res, "username").await;
}

#[tokio::test]
async fn a_taken_username_or_email_is_a_conflict_whatever_its_case() {
    let app = TestApp::start().await;
    app.register_ok("dave").await;
    let res = app.register("DAVE", "other@example.com", PASSWORD).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let res = app.register("dave2", "Dave@Example.COM", PASSWORD).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn login_by_username_or_email_in_any_case_gives_a_token_and_a_cookie() {
    let app = TestApp::start().await;
    let id = app.register_ok("erin").await;
    for login in ["erin", "ERIN", "erin@example.com", "Erin@Example.com"] {
        let res = app.login(login, PASSWORD).await;
        let cookie = set_cookie(&res, "totilove_session").expect("a session cookie");
        let body = expect_json(res, StatusCode::OK).await;
        let token = body["token"].as_str().expect("a token");
        assert!(!token.is_empty());
        assert_eq!(body["user"]["id"], id);
        assert_eq!(body["user"]["username"], "erin");

        // RFC 3339, UTC, milliseconds, in the future.
        let expires_at = body["expires_at"].as_str().expect("expires_at");
        assert!(is_rfc3339_millis_utc(expires_at), "{expires_at}");
        let expires = chrono::DateTime::parse_from_rfc3339(expires_at).expect("a time");
        let lifetime = (expires.to_utc() - chrono::Utc::now()).num_seconds();
        assert!(lifetime > 0);

        assert!(
            cookie.starts_with(&format!("totilove_session={token};")),
            "{cookie}"
        );
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "not over plain HTTP: {cookie}");
        let max_age: i64 = cookie
            .split("Max-Age=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|v| v.parse().ok())
            .expect("Max-Age");
        assert!((max_age - lifetime).abs() <= 5, "{max_age} vs {lifetime}");
    }
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured() {
    let app = TestApp::start_with(&[("COOKIE_SECURE", "true")]).await;
    app.register_ok("frank").await;
    let res = app.login("frank", PASSWORD).await;
    let cookie = set_cookie(&res, "totilove_session").expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

// Also at the service; here the HTTP bodies and statuses must be identical.
#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::start().await;
    app.register_ok("grace").await;
    let wrong = app.login("grace", "wrong password!").await;
    assert!(set_cookie(&wrong, "totilove_session").is_none());
    let wrong = expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = app.login("nobody", "wrong password!").await;
    let unknown = expect_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
}

// The counting is auth's logic (services/auth/tests/api/throttle.rs); here the
// HTTP contract: X-Forwarded-For as the gateway reads it, 429 and Retry-After.
#[tokio::test]
async fn failed_logins_are_throttled_per_account_whatever_x_forwarded_for_says() {
    let app = TestApp::start_with(&[("LOGIN_FAILURES_PER_ACCOUNT", "3")]).await;
    app.register_ok("heidi").await;
    for i in 0..3 {
        let res = app
            .http
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"login": "heidi", "password": "wrong password!"}))
            .send()
            .await
            .expect("an answer");
        expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "203.0.113.77")
        .json(&json!({"login": "HEIDI", "password": PASSWORD}))
        .send()
        .await
        .expect("an answer");
    let retry_after: u64 = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

// Also in services/auth/tests/api/throttle.rs; kept here because the address
// is the one the gateway takes from X-Forwarded-For (its trusted hops).
#[tokio::test]
async fn failures_from_other_addresses_do_not_lock_the_owner_out_of_their_own() {
    let app = TestApp::start_with(&[
        ("TRUST_FORWARDED_FOR", "true"),
        ("LOGIN_FAILURES_PER_ACCOUNT", "3"),
    ])
    .await;
    app.register_ok("ivy").await;
    let login = |password: &str| json!({"login": "ivy", "password": password});
    let home = "192.0.2.44";
    let res = app
        .post_via("/api/auth/login", home, &login(PASSWORD))
        .await;
    expect_json(res, StatusCode::OK).await;

    // An attacker on other addresses, writing the owner's address first.
    for i in 0..3 {
        let xff = format!("{home}, 198.51.100.{i}");
        let res = app.post_via("/api/auth/login", &xff, &login("guess")).await;
        expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let res = app
        .post_via("/api/auth/login", "198.51.100.9", &login("guess"))
        .await;
    assert!(retry_after(&res) >= 1);
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let res = app
        .post_via("/api/auth/login", home, &login(PASSWORD))
        .await;
    expect_json(res, StatusCode::OK).await;
}

#[tokio::test]
async fn login_refuses_a_missing_field() {
    let app = TestApp::start().await;
    let res = app
        .post("/api/auth/login", None, &json!({"login": "x"}))
        .await;
    expect_invalid(res, "password").await;
}

#[tokio::test]
async fn me_shows_my_own_user_with_email_and_my_profile() {
    let app = TestApp::start().await;
    let ivan = app.person("ivan").await;
    let body = expect_json(app.get("/api/me", &ivan.token).await, StatusCode::OK).await;
    assert_eq!(
        body["user"],
        json!({"id": ivan.id, "username": "ivan", "display_name": null, "email": "ivan@example.com"})
    );
    assert_eq!(
        body["profile"],
        json!({"display_name": null, "bio": null, "birthdate": null, "gender": null, "location": null, "avatar_url": null})
    );
}

#[tokio::test]
async fn register_login_me_sessions_logout_kills_the_token_at_once_but_not_my_other_session() {
    let app = TestApp::start().await;
    app.register_ok("judy").await;
    let first = app.login_ok("judy").await;
    let second = app.login_ok("judy@example.com").await;

    let me = expect_json(app.get("/api/me", &first).await, StatusCode::OK).await;
    assert_eq!(me["user"]["username"], "judy");
    let sessions = expect_json(app.get("/api/sessions", &first).await, StatusCode::OK).await;
    assert_eq!(sessions["sessions"].as_array().map(Vec::len), Some(2));

    let res = app
        .request(reqwest::Method::POST, "/api/auth/logout", Some(&first))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(&res, "totilove_session").expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    expect_error(
        app.get("/api/me", &first).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let res = app
        .request(reqwest::Method::POST, "/api/auth/logout", Some(&first))
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let sessions = expect_json(app.get("/api/sessions", &second).await, StatusCode::OK).await;
    assert_eq!(sessions["sessions"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn logout_without_a_token_is_unauthorized() {
    let app = TestApp::start().await;
    let res = app
        .request(reqwest::Method::POST, "/api/auth/logout", None)
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// `2026-11-25T18:04:05.123Z`
pub(crate) fn is_rfc3339_millis_utc(s: &str) -> bool {
    s.len() == 24
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}
