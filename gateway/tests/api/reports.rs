//! Reporting a person: `POST /api/users/{id}/report`.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::{
    helpers::{Person, TestApp, expect_error, expect_invalid, expect_json},
    ws_helpers::new_id,
};

impl TestApp {
    async fn report(&self, who: &Person, target: i64, body: &Value) -> reqwest::Response {
        self.post(
            &format!("/api/users/{target}/report"),
            Some(&who.token),
            body,
        )
        .await
    }

    /// Sends from `from` to `to`; the message's id.
    async fn sent(&self, from: &Person, to: i64, content: &str) -> i64 {
        let res = self.send_message(from, to, content, &new_id()).await;
        expect_json(res, StatusCode::CREATED).await["message"]["id"]
            .as_i64()
            .expect("a message id")
    }
}

#[tokio::test]
async fn a_report_is_accepted_with_its_id() {
    let app = TestApp::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let rude = app.sent(&alice, bob.id, "rude").await;
    let mine = app.sent(&bob, alice.id, "stop it").await;

    let body = json!({"reason": "harassment", "message_ids": [rude, mine], "note": "again 😡"});
    let first = expect_json(
        app.report(&bob, alice.id, &body).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let bare = json!({"reason": "spam", "message_ids": null, "note": null});
    let second = expect_json(
        app.report(&bob, alice.id, &bare).await,
        StatusCode::ACCEPTED,
    )
    .await;

    let first_id = first["report_id"].as_i64().expect("a report id");
    assert!(first_id > 0);
    assert_eq!(first.as_object().map(|o| o.len()), Some(1), "{first}");
    assert!(second["report_id"].as_i64().expect("a report id") > first_id);
}

#[tokio::test]
async fn every_invalid_report_is_400_naming_the_field() {
    let app = TestApp::start().await;
    let (alice, bob, carol) = (
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    );
    let ours = app.sent(&alice, bob.id, "between us").await;
    let theirs = app.sent(&alice, carol.id, "between them").await;
    let cases = [
        (json!({"reason": "abuse"}), "reason"),
        (json!({"reason": "SPAM"}), "reason"),
        (json!({}), "reason"),
        (json!({"reason": 3}), "reason"),
        (json!({"reason": "spam", "note": "é".repeat(1001)}), "note"),
        (json!({"reason": "spam", "note": 5}), "note"),
        (
            json!({"reason": "spam", "message_ids": [theirs]}),
            "message_ids",
        ),
        (
            json!({"reason": "spam", "message_ids": [ours, i64::MAX]}),
            "message_ids",
        ),
        (
            json!({"reason": "spam", "message_ids": (1..=51).collect::<Vec<_>>()}),
            "message_ids",
        ),
        (
            json!({"reason": "spam", "message_ids": [-1]}),
            "message_ids",
        ),
        (
            json!({"reason": "spam", "message_ids": ["1"]}),
            "message_ids",
        ),
        (json!({"reason": "spam", "message_ids": 1}), "message_ids"),
        (json!({"reason": "spam", "block": true}), "block"),
    ];
    for (body, field) in cases {
        expect_invalid(app.report(&bob, alice.id, &body).await, field).await;
    }

    // Myself, and ids that are not positive i64.
    let spam = json!({"reason": "spam"});
    expect_invalid(app.report(&bob, bob.id, &spam).await, "id").await;
    for id in ["0", "-1", "abc", "9223372036854775808"] {
        let res = app
            .post(&format!("/api/users/{id}/report"), Some(&bob.token), &spam)
            .await;
        expect_invalid(res, "id").await;
    }
    // At the limits: 1000 characters, 50 ids (repeats count once).
    let body = json!({"reason": "other", "note": "é".repeat(1000), "message_ids": vec![ours; 50]});
    expect_json(
        app.report(&bob, alice.id, &body).await,
        StatusCode::ACCEPTED,
    )
    .await;
}

#[tokio::test]
async fn reporting_nobody_is_404_and_without_a_token_401() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let spam = json!({"reason": "spam"});

    let res = app.report(&alice, i64::MAX, &spam).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .post(&format!("/api/users/{}/report", alice.id), None, &spam)
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .request(
            Method::POST,
            &format!("/api/users/{}/report", alice.id),
            Some(&alice.token),
        )
        .header(header::CONTENT_TYPE, "text/plain")
        .body(r#"{"reason": "spam"}"#)
        .send()
        .await
        .expect("an answer");
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn reports_over_the_limit_are_429_with_retry_after() {
    let app = TestApp::start_with(&[("REPORTS_PER_HOUR", "2")]).await;
    let (alice, bob, carol) = (
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    );
    let spam = json!({"reason": "spam"});
    for target in [bob.id, carol.id] {
        expect_json(
            app.report(&alice, target, &spam).await,
            StatusCode::ACCEPTED,
        )
        .await;
    }

    let res = app.report(&alice, bob.id, &spam).await;
    let retry_after: u64 = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Someone else's reports are not limited by alice's.
    expect_json(
        app.report(&bob, alice.id, &spam).await,
        StatusCode::ACCEPTED,
    )
    .await;
}

#[tokio::test]
async fn reporting_does_not_block() {
    let app = TestApp::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let first = app.sent(&alice, bob.id, "hi").await;

    let body = json!({"reason": "scam", "message_ids": [first]});
    expect_json(
        app.report(&bob, alice.id, &body).await,
        StatusCode::ACCEPTED,
    )
    .await;

    app.sent(&alice, bob.id, "still here").await;
    app.sent(&bob, alice.id, "so am I").await;
    let page = app
        .get(&format!("/api/users/{}", alice.id), &bob.token)
        .await;
    expect_json(page, StatusCode::OK).await;
    let blocks = expect_json(app.get("/api/blocks", &bob.token).await, StatusCode::OK).await;
    assert_eq!(blocks, json!({"users": []}));
}
