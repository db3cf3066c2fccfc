//! Every error of the table these routes can produce, in the contract's shape.

use reqwest::{Method, StatusCode, header};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, PASSWORD, TestApp, expect_error, expect_invalid};

#[tokio::test]
async fn unknown_routes_are_not_found() {
    let app = TestApp::start().await;
    for path in ["/api/nope", "/nope", "/api/users/1/nope", "/api/auth"] {
        let res = app
            .request(Method::GET, path, None)
            .send()
            .await
            .expect("an answer");
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = app
        .request(Method::POST, "/api/nope", None)
        .json(&json!({}))
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_wrong_method_is_405_naming_the_allowed_ones() {
    let app = TestApp::start().await;
    for (method, path) in [
        (Method::GET, "/api/auth/login"),
        (Method::DELETE, "/api/me"),
        (Method::PUT, "/api/sessions"),
        (Method::POST, "/healthz"),
        (Method::PATCH, "/api/users/1"),
    ] {
        let res = app
            .request(method, path, None)
            .send()
            .await
            .expect("an answer");
        assert!(res.headers().contains_key(header::ALLOW), "Allow on {path}");
        expect_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused() {
    let app = TestApp::start().await;
    let huge = json!({"login": "x".repeat(64 * 1024), "password": PASSWORD});
    let res = app.post("/api/auth/login", None, &huge).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Just under the limit is read (and refused for what it says, not its size).
    let big = json!({"login": "x".repeat(60 * 1024), "password": PASSWORD});
    let res = app.post("/api/auth/login", None, &big).await;
    assert_ne!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_chunked_body_over_64_kib_is_refused_too() {
    let app = TestApp::start().await;
    let addr = app.system.gateways[0].addr.clone();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let chunk = vec![b' '; 8 * 1024];
    // The server may answer (and stop reading) before all of it is sent.
    for _ in 0..10 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_unsupported() {
    let app = TestApp::start().await;
    let body = json!({"login": "x", "password": PASSWORD}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = app.http.post(app.url("/api/auth/login")).body(body.clone());
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let res = req.send().await.expect("an answer");
        expect_error(
            res,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn malformed_json_is_an_invalid_request() {
    let app = TestApp::start().await;
    for body in [
        "",
        "{",
        "{\"login\": }",
        "[]",
        "null",
        "{\"login\":\"a\",\"password\":\"b\"} trailing",
    ] {
        let res = app
            .http
            .post(app.url("/api/auth/login"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .expect("an answer");
        expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let res = app
        .post(
            "/api/auth/login",
            None,
            &json!({"login": ["a"], "password": PASSWORD}),
        )
        .await;
    expect_invalid(res, "login").await;
}

#[tokio::test]
async fn a_missing_or_malformed_token_is_unauthorized() {
    let app = TestApp::start().await;
    let fake_jwt =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWQiOiJ4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJl";
    let headers = [
        None,
        Some("Bearer"),
        Some("Bearer "),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer not-a-token"),
        Some("Bearer a.b.c"),
        Some(&format!("Bearer {fake_jwt}") as &str),
    ];
    for value in headers {
        let mut req = app.http.get(app.url("/api/me"));
        if let Some(v) = value {
            req = req.header(header::AUTHORIZATION, v);
        }
        let res = req.send().await.expect("an answer");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let long = format!("Bearer {}", "a".repeat(10_000));
    let res = app
        .http
        .get(app.url("/api/me"))
        .header(header::AUTHORIZATION, long)
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_bad_session_cookie_is_unauthorized() {
    let app = TestApp::start().await;
    for cookie in ["totilove_session=", "totilove_session=garbage", "other=1"] {
        let res = app
            .http
            .get(app.url("/api/me"))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .expect("an answer");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn with_the_auth_service_down_requests_answer_503_without_hanging() {
    let app = TestApp::start().await;
    let ann = app.person("ann").await;
    let down = app.stop(Backend::Auth).await;

    let res = down
        .http
        .get(down.url("/api/me"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

    let login = json!({"login": "ann", "password": PASSWORD});
    let register = json!({"username": "ann2", "email": "ann2@example.com", "password": PASSWORD});
    for (path, body) in [("/api/auth/login", login), ("/api/auth/register", register)] {
        let res = down
            .http
            .post(down.url(path))
            .json(&body)
            .send()
            .await
            .expect("an answer");
        let message = expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        assert!(
            !message.contains("127.0.0.1"),
            "no internal address: {message}"
        );
    }

    // The gateway itself still runs, and says it is not ready.
    let res = down
        .http
        .get(down.url("/healthz"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::OK);
    let res = down
        .http
        .get(down.url("/readyz"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = res.json().await.expect("JSON");
    assert_eq!(body["ready"], false);
    assert_eq!(body["checks"]["auth"], "down");
}

#[tokio::test]
async fn a_hung_auth_service_gives_503_instead_of_a_hang() {
    let app = TestApp::start().await;
    // Accepts connections and never answers: a stuck service, not a dead one.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let blackhole_url = format!("http://{}", blackhole.local_addr().expect("an address"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = blackhole.accept().await {
            open.push(socket);
        }
    });
    let mut settings = app.system.settings.clone();
    settings.insert("AUTH_URL".into(), blackhole_url);
    let config = totilove_gateway::Config::from_source(&settings).expect("config");
    let gateway = totilove_gateway::Application::build(config)
        .await
        .expect("gateway starts");
    let url = format!("http://127.0.0.1:{}", gateway.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gateway.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let res = app
        .http
        .get(format!("{url}/api/me"))
        .bearer_auth("a.b.c")
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

    let _ = stop.send(());
    let _ = served.await;
    held.abort();
}
