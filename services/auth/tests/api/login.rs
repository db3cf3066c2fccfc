//! Login and token validation.

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use totilove_common::Code;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn logging_in_by_username_or_email_in_any_case_gives_a_working_token() {
    let app = TestApp::start().await;
    let alice = app.register("Alice").await;
    let shouted_email = alice.email.to_uppercase();
    for login in ["Alice", "alice", "ALICE", &alice.email, &shouted_email] {
        let answer = app
            .try_login(login, PASSWORD, "192.0.2.7")
            .await
            .expect("logged in");
        let user = answer.user.expect("a user");
        assert_eq!(user.id, alice.id, "{login}");
        assert_eq!(user.username, "Alice");
        assert_eq!(answer.session_id.len(), 32);
        let expires_at = answer.expires_at.expect("an expiry");
        assert!(expires_at.seconds > Utc::now().timestamp());
        let valid = app.validate(&answer.token).await.expect("valid");
        assert_eq!(valid.user_id, alice.id);
        assert_eq!(valid.session_id, answer.session_id);
    }
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::start().await;
    app.register("alice").await;
    let wrong_password = app
        .try_login("alice", "not the password", "192.0.2.7")
        .await
        .expect_err("refused");
    let unknown_user = app
        .try_login("nobody", PASSWORD, "192.0.2.7")
        .await
        .expect_err("refused");
    let unknown_email = app
        .try_login("nobody@example.com", PASSWORD, "192.0.2.7")
        .await
        .expect_err("refused");
    assert_eq!(wrong_password.code, Code::InvalidCredentials);
    assert_eq!(wrong_password.message, "invalid login or password");
    assert_eq!(unknown_user, wrong_password);
    assert_eq!(unknown_email, wrong_password);
}

#[tokio::test]
async fn an_empty_login_or_password_is_an_invalid_request() {
    let app = TestApp::start().await;
    let err = app
        .try_login("", PASSWORD, "192.0.2.7")
        .await
        .expect_err("refused");
    assert_eq!(err.code, Code::InvalidRequest);
    assert!(err.message.contains("login"));
    let err = app
        .try_login("alice", "", "192.0.2.7")
        .await
        .expect_err("refused");
    assert_eq!(err.code, Code::InvalidRequest);
    assert!(err.message.contains("password"));
}

#[tokio::test]
async fn logins_and_failures_are_written_to_the_audit_trail() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    app.try_login("alice", "wrong password", "192.0.2.7")
        .await
        .expect_err("refused");
    app.try_login("nobody", PASSWORD, "192.0.2.7")
        .await
        .expect_err("refused");
    let session = app.login(&alice).await;
    app.logout(&session).await.expect("logged out");
    let events = app.audit_events().await;
    let expected = [
        ("register", Some(alice.id)),
        ("login_failed", Some(alice.id)),
        ("login_failed", None),
        ("login_ok", Some(alice.id)),
        ("logout", Some(alice.id)),
    ]
    .map(|(e, id)| (e.to_owned(), id));
    assert_eq!(events, expected);
}

/// A password typed into the login field names nobody, and must not be
/// kept; a login that names an account is that account's own name.
#[tokio::test]
async fn the_audit_trail_never_keeps_a_login_that_names_nobody() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let pasted = "Tr0ub4dor-and-3-horses";
    app.try_login(pasted, PASSWORD, "192.0.2.7")
        .await
        .expect_err("refused");
    app.try_login("alice", pasted, "192.0.2.7")
        .await
        .expect_err("refused");
    let trail = app.audit_trail().await;
    let failures: Vec<_> = trail.iter().filter(|(e, ..)| e == "login_failed").collect();
    assert_eq!(failures.len(), 2, "{trail:?}");
    assert_eq!(failures[0].2, serde_json::json!({"reason": "unknown_user"}));
    assert_eq!(
        failures[1].2,
        serde_json::json!({"login": "alice", "reason": "wrong_password"})
    );
    assert_eq!(failures[1].1, Some(alice.id));
    let everything = format!("{trail:?}");
    assert!(!everything.contains(pasted), "{everything}");
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    sub: &'a str,
    sid: &'a str,
    iat: i64,
    exp: i64,
    iss: &'a str,
    aud: &'a str,
}

fn forge(key: &[u8], alg: Algorithm, claims: &Claims) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).expect("signed")
}

#[tokio::test]
async fn tokens_that_are_malformed_forged_or_for_another_audience_are_refused() {
    let app = TestApp::start().await;
    let (alice, session) = app.signed_in("alice").await;
    let sub = alice.id.to_string();
    let now = Utc::now().timestamp();
    let claims = |iss, aud| Claims {
        sub: &sub,
        sid: &session.session_id,
        iat: now,
        exp: now + 3600,
        iss,
        aud,
    };
    let secret = app.system.settings["JWT_SECRET"].as_bytes().to_vec();
    let rejected = [
        String::new(),
        "not.a.token".to_owned(),
        forge(
            b"another-key-0123456789abcdef0123456789",
            Algorithm::HS256,
            &claims("totilove", "totilove-web"),
        ),
        forge(
            &secret,
            Algorithm::HS512,
            &claims("totilove", "totilove-web"),
        ),
        forge(
            &secret,
            Algorithm::HS256,
            &claims("someone-else", "totilove-web"),
        ),
        forge(
            &secret,
            Algorithm::HS256,
            &claims("totilove", "another-app"),
        ),
    ];
    for token in rejected {
        let err = app.validate(&token).await.expect_err("refused");
        assert_eq!(err.code, Code::Unauthorized, "{token}");
    }
    // The same claims with the right key and algorithm pass: the refusals
    // above were for the reasons tested.
    let genuine = forge(
        &secret,
        Algorithm::HS256,
        &claims("totilove", "totilove-web"),
    );
    app.validate(&genuine).await.expect("valid");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = TestApp::start().await;
    let (alice, session) = app.signed_in("alice").await;
    let sub = alice.id.to_string();
    let now = Utc::now().timestamp();
    let secret = app.system.settings["JWT_SECRET"].as_bytes().to_vec();
    let expired = Claims {
        sub: &sub,
        sid: &session.session_id,
        iat: now - 7200,
        exp: now - 3600,
        iss: "totilove",
        aud: "totilove-web",
    };
    let err = app
        .validate(&forge(&secret, Algorithm::HS256, &expired))
        .await
        .expect_err("refused");
    assert_eq!(err.code, Code::Unauthorized);
}
