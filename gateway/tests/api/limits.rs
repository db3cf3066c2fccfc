//! Sending limits and blocks on the send path: a block holds from the very
//! next send, unblocking restores at once, and each person's sending rate is
//! limited over REST and WebSocket together. Registration is limited per
//! client address.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{PASSWORD, TestApp, expect_error, expect_json, retry_after},
    ws_helpers::{Ws, new_id},
};

#[tokio::test]
async fn a_block_holds_from_the_next_send_and_unblocking_restores_at_once() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let unblock = format!("/api/users/{}/block", alice.id);

    for round in 0..5 {
        // A send just before remembers "not blocked" for the pair.
        app.send_ok(&alice, bob.id, &format!("before {round}"))
            .await;
        assert_eq!(
            app.block(&bob, alice.id).await.status(),
            StatusCode::NO_CONTENT
        );
        let res = app.send_message(&alice, bob.id, "after", &new_id()).await;
        expect_error(res, StatusCode::FORBIDDEN, "blocked").await;
        let res = app.send_message(&bob, alice.id, "after", &new_id()).await;
        expect_error(res, StatusCode::FORBIDDEN, "blocked").await;

        assert_eq!(
            app.delete(&unblock, &bob.token).await.status(),
            StatusCode::NO_CONTENT
        );
        app.send_ok(&bob, alice.id, &format!("unblocked {round}"))
            .await;
    }
    // Refused sends stored nothing.
    assert_eq!(app.whole_history(&alice, bob.id).await.len(), 10);
}

#[tokio::test]
async fn sending_is_limited_per_person_over_rest_and_websocket_together() {
    let app = TestApp::start_with(&[("SEND_BURST", "5"), ("SEND_RATE_PER_SEC", "0.2")]).await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut alice_ws = Ws::open(app.system.url(), &alice.token).await;

    for i in 0..3 {
        app.send_ok(&alice, bob.id, &format!("rest {i}")).await;
    }
    for i in 0..2 {
        alice_ws.send_message(bob.id, &format!("socket {i}")).await;
    }

    let res = app
        .send_message(&alice, bob.id, "one too many", &new_id())
        .await;
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds");
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let client_msg_id = new_id();
    alice_ws
        .send(&json!({"type": "send", "to": bob.id, "content": "and here", "client_msg_id": client_msg_id}))
        .await;
    let refused = alice_ws.next_of("error").await;
    assert_eq!(refused["code"], "rate_limited");
    assert_eq!(refused["client_msg_id"], client_msg_id.as_str());

    // The limit is the sender's own: bob still sends.
    app.send_ok(&bob, alice.id, "hi alice").await;
    let stored = app.whole_history(&alice, bob.id).await;
    assert_eq!(stored.len(), 6, "refused sends stored nothing");
}

#[tokio::test]
async fn with_the_defaults_a_burst_of_300_sends_meets_the_limit_and_every_201_is_stored() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;

    let sends = (0..300).map(|i| {
        let (app, alice) = (&app, &alice);
        async move {
            app.send_message(alice, bob.id, &format!("burst {i}"), &new_id())
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(sends).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(created + limited, 300, "{statuses:?}");
    assert!(
        limited > 0 && created >= 100,
        "created {created}, limited {limited}"
    );
    let stored = app.whole_history(&alice, bob.id).await;
    assert_eq!(stored.len(), created);
}

#[tokio::test]
async fn registration_is_limited_per_client_address_whatever_it_prepends_to_x_forwarded_for() {
    let app = TestApp::start_with(&[
        ("TRUST_FORWARDED_FOR", "true"),
        ("REGISTER_LIMIT_PER_HOUR", "2"),
    ])
    .await;
    let register = |name: &str| json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
    for name in ["ann", "ben"] {
        let res = app
            .post_via("/api/auth/register", "198.51.100.7", &register(name))
            .await;
        expect_json(res, StatusCode::CREATED).await;
    }
    // The proxy appends the address it saw; what the client wrote before it
    // is not believed.
    let res = app
        .post_via(
            "/api/auth/register",
            "203.0.113.1, 198.51.100.7",
            &register("cat"),
        )
        .await;
    let wait = retry_after(&res);
    assert!((1..=3600).contains(&wait), "{wait}");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Nothing stored: the refused name is free and cannot log in.
    let res = app.login("cat", PASSWORD).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    let res = app
        .post_via("/api/auth/register", "198.51.100.8", &register("cat"))
        .await;
    expect_json(res, StatusCode::CREATED).await;
}
