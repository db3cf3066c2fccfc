//! Security headers, CORS, request ids and the session cookie.

use reqwest::{Method, StatusCode, header};

use crate::helpers::{Backend, TestApp, expect_error, expect_json, set_cookie};

const ALLOWED: &str = "https://app.example.com";
const FOREIGN: &str = "https://evil.example.net";

#[tokio::test]
async fn every_response_says_nosniff() {
    let app = TestApp::start().await;
    let ok = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("an answer");
    let error = app
        .http
        .get(app.url("/api/me"))
        .send()
        .await
        .expect("an answer");
    let missing = app
        .http
        .get(app.url("/nope"))
        .send()
        .await
        .expect("an answer");
    let html = app.http.get(app.url("/")).send().await.expect("an answer");
    for res in [ok, error, missing, html] {
        assert_eq!(
            res.headers()
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{}",
            res.url()
        );
    }
}

#[tokio::test]
async fn the_web_ui_is_served_with_a_strict_content_security_policy() {
    let app = TestApp::start().await;
    let res = app.http.get(app.url("/")).send().await.expect("an answer");
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    let header_of = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header_of(header::CONTENT_TYPE).starts_with("text/html"));
    let csp = header_of(header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(header_of(header::REFERRER_POLICY), "no-referrer");

    // No inline script: every <script> loads a file.
    let html = res.text().await.expect("a page");
    for tag in html.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap_or_default();
        assert!(open.contains("src="), "inline script: <script{open}>");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_callers() {
    let app = TestApp::start().await;
    let a = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("an answer");
    let b = app
        .http
        .get(app.url("/nope"))
        .send()
        .await
        .expect("an answer");
    let id = |res: &reqwest::Response| {
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id")
            .to_owned()
    };
    assert!(!id(&a).is_empty());
    assert_ne!(id(&a), id(&b));
    let c = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("an answer");
    assert_eq!(id(&c), "trace-me-42");
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins_with_credentials() {
    let app = TestApp::start_with(&[("ALLOWED_ORIGINS", ALLOWED)]).await;
    let preflight = |origin: &str| {
        app.http
            .request(Method::OPTIONS, app.url("/api/auth/login"))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .send()
    };
    let allowed = preflight(ALLOWED).await.expect("an answer");
    assert!(allowed.status().is_success());
    let h = allowed.headers();
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], ALLOWED);
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let methods = h[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .expect("ascii");
    assert!(methods.contains("POST"), "{methods}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

    let denied = preflight(FOREIGN).await.expect("an answer");
    assert!(
        !denied
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );

    // Actual requests, errors included, carry the header only for the allowed origin.
    for path in ["/healthz", "/api/me"] {
        let res = app
            .http
            .get(app.url(path))
            .header(header::ORIGIN, ALLOWED)
            .send()
            .await
            .expect("an answer");
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], ALLOWED);
        let res = app
            .http
            .get(app.url(path))
            .header(header::ORIGIN, FOREIGN)
            .send()
            .await
            .expect("an answer");
        assert!(
            !res.headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }
}

#[tokio::test]
async fn without_configured_origins_no_cross_origin_caller_is_answered() {
    let app = TestApp::start().await;
    let res = app
        .http
        .get(app.url("/healthz"))
        .header(header::ORIGIN, FOREIGN)
        .send()
        .await
        .expect("an answer");
    assert!(
        !res.headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
}

#[tokio::test]
async fn the_session_cookie_alone_authenticates_until_logout() {
    let app = TestApp::start_with(&[("ALLOWED_ORIGINS", ALLOWED)]).await;
    app.register_ok("cora").await;
    let res = app.login("cora", crate::helpers::PASSWORD).await;
    let set = set_cookie(&res, "totilove_session").expect("a session cookie");
    let cookie = set.split(';').next().expect("name=value").to_owned();

    let with_cookie = |method: Method, path: &str| {
        app.http
            .request(method, app.url(path))
            .header(header::COOKIE, format!("theme=dark; {cookie}"))
    };
    let me = with_cookie(Method::GET, "/api/me")
        .send()
        .await
        .expect("an answer");
    let me = expect_json(me, StatusCode::OK).await;
    assert_eq!(me["user"]["username"], "cora");

    // A state change by cookie from a foreign page is refused...
    let res = with_cookie(Method::POST, "/api/auth/logout")
        .header(header::ORIGIN, FOREIGN)
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // ...and the session still works.
    let res = with_cookie(Method::GET, "/api/sessions")
        .send()
        .await
        .expect("an answer");
    expect_json(res, StatusCode::OK).await;

    // From an allowed origin, it goes through.
    let res = with_cookie(Method::POST, "/api/auth/logout")
        .header(header::ORIGIN, ALLOWED)
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(&res, "totilove_session").expect("cleared");
    assert!(cleared.starts_with("totilove_session=;") && cleared.contains("Max-Age=0"));

    let res = with_cookie(Method::GET, "/api/me")
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_state_change_by_cookie_from_the_gateways_own_origin_is_allowed() {
    let app = TestApp::start().await;
    app.register_ok("dina").await;
    let token = app.login_ok("dina").await;
    let own = app.system.url().to_owned();
    let res = app
        .http
        .put(app.url("/api/me/profile"))
        .header(header::COOKIE, format!("totilove_session={token}"))
        .header(header::ORIGIN, own)
        .json(&serde_json::json!({"gender": "woman"}))
        .send()
        .await
        .expect("an answer");
    expect_json(res, StatusCode::OK).await;
}

#[tokio::test]
async fn errors_never_leak_internal_details() {
    let app = TestApp::start().await;
    let ann = app.person("ann").await;
    let leaks = [
        "127.0.0.1",
        "tonic",
        "sqlx",
        "relation",
        "conversations",
        "panicked",
        "at src/",
    ];
    let refused = app.get("/api/users/abc", "x").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let mut bodies = vec![refused.text().await.expect("a body")];

    // A real failure inside the message service: the table it reads is gone.
    let db = sqlx::PgPool::connect(&app.system.database_url)
        .await
        .expect("the test database");
    // DDL: no macro (it would check against a table this renames away).
    sqlx::raw_sql("ALTER TABLE message.conversations RENAME TO conversations_gone")
        .execute(&db)
        .await
        .expect("renamed");
    let res = app.get("/api/conversations", &ann.token).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    bodies.push(res.text().await.expect("a body"));

    // A service that is gone: the transport's error names its address.
    let down = app.stop(Backend::Auth).await;
    let res = down
        .http
        .get(down.url("/api/me"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    bodies.push(res.text().await.expect("a body"));

    for body in bodies {
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert!(
            json["error"]["code"].is_string(),
            "the contract's shape: {body}"
        );
        for leak in leaks {
            assert!(!body.contains(leak), "{leak} in {body}");
        }
    }
}
