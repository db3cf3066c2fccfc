//! Two gateways over two replicas of every service: the guarantees "on every
//! instance" with everything doubled, and a message replica crashing mid-burst.

use std::{collections::HashSet, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use totilove_testkit::eventually;

use crate::{
    helpers::{Person, TestApp, expect_error},
    ws_helpers::{Ws, close_code, new_id, try_connect},
};

/// `POST path` with `body` on the gateway at `base`.
async fn post_at(
    app: &TestApp,
    base: &str,
    path: &str,
    token: &str,
    body: &Value,
) -> reqwest::Response {
    app.http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("an answer")
}

fn send_body(to: i64, content: &str, client_msg_id: &str) -> Value {
    json!({"to": to, "content": content, "client_msg_id": client_msg_id})
}

async fn cluster(settings: &[(&str, &str)]) -> (TestApp, String, String) {
    let app = TestApp::start_cluster(2, 2, settings).await;
    let a = app.system.gateways[0].url.clone();
    let b = app.system.gateways[1].url.clone();
    (app, a, b)
}

/// Sends until acknowledged, retrying the same `client_msg_id` through either
/// gateway; the stored message.
async fn send_until_acked(
    http: reqwest::Client,
    bases: [String; 2],
    from: Person,
    to: i64,
    content: String,
) -> Value {
    let client_msg_id = new_id();
    let mut attempt = 0;
    eventually("a send to be acknowledged", || {
        attempt += 1;
        let request = http
            .post(format!("{}/api/messages/send", bases[attempt % 2]))
            .bearer_auth(&from.token)
            .json(&send_body(to, &content, &client_msg_id));
        async move {
            let res = request.send().await.map_err(|e| e.to_string())?;
            match res.status() {
                StatusCode::CREATED | StatusCode::OK => {
                    let body: Value = res.json().await.expect("JSON");
                    Ok(body["message"].clone())
                }
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                    Err(res.status().to_string())
                }
                other => panic!("unexpected answer {other} to a send"),
            }
        }
    })
    .await
}

#[tokio::test]
async fn messages_cross_gateways_in_order_exactly_once_though_a_message_replica_crashes_mid_burst()
{
    let (mut app, a, b) = cluster(&[("SEND_BURST", "1000")]).await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut bob_ws = Ws::open(&b, &bob.token).await;

    // Four senders' worth of messages from alice, through both gateways.
    const PER_STREAM: usize = 60;
    let streams: Vec<_> = (0..4)
        .map(|s| {
            let (http, bases, alice) = (app.http.clone(), [a.clone(), b.clone()], alice.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..PER_STREAM {
                    let content = format!("stream {s} message {i}");
                    acked.push(
                        send_until_acked(
                            http.clone(),
                            bases.clone(),
                            alice.clone(),
                            bob.id,
                            content,
                        )
                        .await,
                    );
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A crash: every task of that replica (connections, writer, fan-out)
    // ends at once; sends in flight on it are answered 503 and retried.
    app.system.message.remove(1).kill();

    let mut acked = Vec::new();
    for stream in streams {
        acked.extend(stream.await.expect("a sender"));
    }
    assert_eq!(acked.len(), 4 * PER_STREAM);
    let acked_ids: HashSet<i64> = acked
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(
        acked_ids.len(),
        acked.len(),
        "no message acknowledged twice under two ids"
    );

    // The record: every acknowledged message exactly once, nothing else, in id order.
    let stored = app.whole_history(&bob, alice.id).await;
    let stored_ids: Vec<i64> = stored
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(
        stored_ids.iter().copied().collect::<HashSet<_>>(),
        acked_ids
    );
    assert!(stored_ids.windows(2).all(|w| w[0] < w[1]), "{stored_ids:?}");

    // Bob's socket on the other gateway: live events, then a sync from 0 on
    // gateway A misses nothing either.
    let mut live = Vec::new();
    while live.len() < acked.len() {
        let Some(event) = bob_ws.next_within(Duration::from_secs(10)).await else {
            break;
        };
        if event["type"] == "message" {
            live.push(event["message"]["id"].as_i64().expect("id"));
        }
    }
    assert!(
        live.windows(2).all(|w| w[0] < w[1]),
        "live in order, no duplicate: {live:?}"
    );
    let mut bob_on_a = Ws::open(&a, &bob.token).await;
    let synced: Vec<i64> = bob_on_a
        .sync_all(0)
        .await
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(synced, stored_ids);
}

#[tokio::test]
async fn the_eleventh_socket_across_both_gateways_is_refused() {
    let (app, a, b) = cluster(&[]).await;
    let alice = app.person("alice").await;
    let mut open = Vec::new();
    for i in 0..10 {
        open.push(Ws::open(if i % 2 == 0 { &a } else { &b }, &alice.token).await);
    }
    for base in [&a, &b] {
        let refused = try_connect(
            base,
            &[("authorization", format!("Bearer {}", alice.token))],
        )
        .await;
        assert_eq!(refused.err(), Some(StatusCode::TOO_MANY_REQUESTS));
    }
    // Closing one frees a place, wherever it was.
    open.pop().expect("a socket").close().await;
    let bearer = [("authorization", format!("Bearer {}", alice.token))];
    let stream = eventually("the closed socket's place to be freed", || {
        try_connect(&a, &bearer)
    })
    .await;
    Ws::ready(stream).await;
}

#[tokio::test]
async fn logout_through_one_gateway_closes_the_socket_on_the_other_within_2_s() {
    let (app, a, b) = cluster(&[]).await;
    let alice = app.person("alice").await;
    let mut there = Ws::open(&b, &alice.token).await;
    let res = post_at(&app, &a, "/api/auth/logout", &alice.token, &json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let closed = tokio::time::timeout(Duration::from_secs(2), there.closed())
        .await
        .expect("closed within 2 s");
    assert_eq!(close_code(&closed.0), Some(4001), "{closed:?}");
    // And the token works on neither gateway.
    for base in [&a, &b] {
        let res = app
            .http
            .get(format!("{base}/api/me"))
            .bearer_auth(&alice.token)
            .send()
            .await
            .expect("an answer");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_block_and_the_rate_limit_hold_at_once_on_the_other_gateway() {
    let (app, a, b) = cluster(&[("SEND_BURST", "6"), ("SEND_RATE_PER_SEC", "0.1")]).await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let block = format!("/api/users/{}/block", alice.id);

    let send = |base: &str, from: &Person, to: i64| {
        let (base, from) = (base.to_owned(), from.clone());
        let app = &app;
        async move {
            post_at(
                app,
                &base,
                "/api/messages/send",
                &from.token,
                &send_body(to, "hi", &new_id()),
            )
            .await
        }
    };
    assert_eq!(send(&a, &alice, bob.id).await.status(), StatusCode::CREATED);
    assert_eq!(
        post_at(&app, &b, &block, &bob.token, &json!({}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        send(&a, &alice, bob.id).await,
        StatusCode::FORBIDDEN,
        "blocked",
    )
    .await;
    let res = app
        .http
        .delete(format!("{a}{block}"))
        .bearer_auth(&bob.token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(send(&b, &alice, bob.id).await.status(), StatusCode::CREATED);

    // Alice has used 3 of her 6 (a refused send costs a token too); 3 more
    // through both gateways, then the 7th is refused on either.
    for base in [&a, &b, &a] {
        assert_eq!(
            send(base, &alice, bob.id).await.status(),
            StatusCode::CREATED
        );
    }
    expect_error(
        send(&b, &alice, bob.id).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    expect_error(
        send(&a, &alice, bob.id).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn presence_and_typing_cross_gateways() {
    let (app, a, b) = cluster(&[]).await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let res = post_at(
        &app,
        &a,
        "/api/messages/send",
        &alice.token,
        &send_body(bob.id, "hello", &new_id()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let mut bob_ws = Ws::open(&b, &bob.token).await;
    let mut alice_ws = Ws::open(&a, &alice.token).await;
    let online = bob_ws.next_of("presence").await;
    assert_eq!(
        (online["user_id"].as_i64(), online["online"].as_bool()),
        (Some(alice.id), Some(true))
    );

    alice_ws
        .send(&json!({"type": "typing", "to": bob.id, "typing": true}))
        .await;
    let typing = bob_ws.next_of("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "user_id": alice.id, "typing": true})
    );
    alice_ws.send_message(bob.id, "done typing").await;
    let typing = bob_ws.next_of("typing").await;
    assert_eq!(typing["typing"], false);
}

#[tokio::test]
async fn with_two_presence_replicas_going_offline_is_announced_once() {
    let fast = [
        ("PRESENCE_CONNECTION_TTL_SECS", "3"),
        ("PRESENCE_OFFLINE_GRACE_SECS", "1"),
        ("PRESENCE_SWEEP_INTERVAL_MS", "100"),
    ];
    let (app, a, b) = cluster(&fast).await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let res = post_at(
        &app,
        &a,
        "/api/messages/send",
        &alice.token,
        &send_body(bob.id, "hi", &new_id()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut bob_ws = Ws::open(&b, &bob.token).await;
    let alice_ws = Ws::open(&a, &alice.token).await;
    assert_eq!(bob_ws.next_of("presence").await["online"], true);

    alice_ws.close().await;
    let offline = bob_ws.next_of("presence").await;
    assert_eq!(
        (offline["user_id"].as_i64(), offline["online"].as_bool()),
        (Some(alice.id), Some(false))
    );
    // Both replicas sweep every 100 ms; the transition is made (and told) once.
    bob_ws
        .expect_none_of("presence", Duration::from_secs(2))
        .await;
}

#[tokio::test]
async fn hiding_my_presence_on_one_gateway_holds_at_once_on_the_other() {
    let (app, a, b) = cluster(&[]).await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let _alice_ws = Ws::open(&a, &alice.token).await;
    let online = |base: String| {
        let (http, token, id) = (app.http.clone(), bob.token.clone(), alice.id);
        async move {
            let res = http
                .get(format!("{base}/api/users/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("an answer");
            let body: Value = res.json().await.expect("JSON");
            body["online"].clone()
        }
    };
    assert_eq!(online(b.clone()).await, true);
    let res = app
        .http
        .put(format!("{a}/api/me/privacy"))
        .bearer_auth(&alice.token)
        .json(&json!({"show_online": false}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(online(b.clone()).await, false);
    assert_eq!(online(a.clone()).await, false);
}
