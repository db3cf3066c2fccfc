//! `/healthz` and `/readyz`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use totilove_testkit::eventually_within;

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_while_the_gateway_runs() {
    let app = TestApp::start().await;
    let res = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::OK);
}

/// One `/readyz` answer.
async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let res = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("an answer");
    let status = res.status();
    (status, res.json().await.expect("JSON"))
}

/// Polls `/readyz` until `want(status, body)`, for at most 15 s (the services'
/// probes report every second); the last answer.
async fn readyz_until(
    app: &TestApp,
    want: impl Fn(StatusCode, &Value) -> bool,
) -> (StatusCode, Value) {
    eventually_within(
        Duration::from_secs(15),
        "/readyz to answer as wanted",
        || async {
            let (status, body) = readyz(app).await;
            if want(status, &body) {
                Ok((status, body))
            } else {
                Err(format!("{status}: {body}"))
            }
        },
    )
    .await
}

#[tokio::test]
async fn readyz_is_ok_when_every_service_and_store_is_up() {
    let app = TestApp::start().await;
    let (status, body) = readyz_until(&app, |s, _| s == StatusCode::OK).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"ready": true, "checks": {"auth": "ok", "message": "ok", "presence": "ok", "postgres": "ok", "redis": "ok"}})
    );
}

#[tokio::test]
async fn readyz_says_redis_is_down_when_it_is() {
    let mut app = TestApp::start().await;
    readyz_until(&app, |s, _| s == StatusCode::OK).await;
    app.system.redis.stop().await;
    let (status, body) = readyz_until(&app, |_, b| b["checks"]["redis"] == "down").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["ready"], false);
    assert_eq!(body["checks"]["redis"], "down");
    assert_eq!(body["checks"]["postgres"], "ok");

    app.system.redis.restart().await;
    let (status, body) = readyz_until(&app, |s, _| s == StatusCode::OK).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Back means back: no flapping while pooled connections reconnect.
    let steady_until = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < steady_until {
        let (status, body) = readyz(&app).await;
        assert_eq!(status, StatusCode::OK, "readiness flapped: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
