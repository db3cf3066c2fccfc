//! Presence and typing through the gateway: sockets registered with the
//! presence service on open and close, batched heartbeats, and the events
//! reaching partners (never strangers).

use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::{Person, TestApp},
    ws_helpers::Ws,
};

/// Short timings: sockets expire after 3 s without a heartbeat, offline is
/// announced 1 s after the last socket.
const FAST: &[(&str, &str)] = &[
    ("PRESENCE_CONNECTION_TTL_SECS", "3"),
    ("PRESENCE_OFFLINE_GRACE_SECS", "1"),
    ("PRESENCE_SWEEP_INTERVAL_MS", "200"),
];

/// Two people who share a conversation.
async fn partners(app: &TestApp) -> (Person, Person) {
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    app.send_ok(&bob, alice.id, "hi alice").await;
    (alice, bob)
}

/// The next `presence` event about `user_id`.
async fn presence_of(ws: &mut Ws, user_id: i64) -> serde_json::Value {
    loop {
        let event = ws.next_of("presence").await;
        if event["user_id"] == user_id {
            return event;
        }
    }
}

#[tokio::test]
async fn a_partner_sees_someone_come_online_within_2_seconds_of_their_first_socket() {
    let app = TestApp::start_with(FAST).await;
    let (alice, bob) = partners(&app).await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;

    let url = app.system.url().to_owned();
    let token = alice.token.clone();
    let opening = tokio::spawn(async move { Ws::open(&url, &token).await });
    let event = tokio::time::timeout(Duration::from_secs(2), presence_of(&mut bob_ws, alice.id))
        .await
        .expect("the online event within 2 s");
    let _alice_ws = opening.await.expect("the socket opens");
    assert_eq!(event["online"], true);
}

// The grace itself is presence's logic (services/presence/tests); this one
// is about the gateway: two instances' sockets, one person, one frame.
// (A reload within the grace is tested there alone: nothing here adds to it.)
#[tokio::test]
async fn closing_both_sockets_on_two_instances_sends_exactly_one_offline_after_the_grace() {
    let mut app = TestApp::start_with(FAST).await;
    let second = app.system.spawn_gateway().await;
    let g2 = app.system.gateways[second].url.clone();
    let (alice, bob) = partners(&app).await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let alice_1 = Ws::open(app.system.url(), &alice.token).await;
    let alice_2 = Ws::open(&g2, &alice.token).await;
    assert_eq!(presence_of(&mut bob_ws, alice.id).await["online"], true);

    // One socket left: still online, through several heartbeats and the grace.
    alice_1.close().await;
    bob_ws
        .expect_none_of("presence", Duration::from_secs(4))
        .await;

    alice_2.close().await;
    let offline = presence_of(&mut bob_ws, alice.id).await;
    assert_eq!(offline["online"], false);
    assert!(offline["last_seen"].is_string(), "{offline}");
    bob_ws
        .expect_none_of("presence", Duration::from_secs(2))
        .await;
}

#[tokio::test]
async fn a_killed_gateway_takes_its_people_offline_for_their_partners() {
    let mut app = TestApp::start_with(FAST).await;
    let second = app.system.spawn_gateway().await;
    let g2 = app.system.gateways[second].url.clone();
    let (alice, bob) = partners(&app).await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let _alice_ws = Ws::open(&g2, &alice.token).await;
    assert_eq!(presence_of(&mut bob_ws, alice.id).await["online"], true);

    // No goodbye: the heartbeats just stop.
    app.system.gateways.remove(second).service.kill();
    let offline = presence_of(&mut bob_ws, alice.id).await;
    assert_eq!(offline["online"], false);
}

#[tokio::test]
async fn typing_reaches_the_partner_is_cleared_by_a_send_and_never_reaches_a_stranger() {
    let app = TestApp::start_with(FAST).await;
    let (alice, bob) = partners(&app).await;
    let eve = app.person("eve").await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let mut eve_ws = Ws::open(app.system.url(), &eve.token).await;
    let mut alice_ws = Ws::open(app.system.url(), &alice.token).await;

    alice_ws
        .send(&json!({"type": "typing", "to": bob.id, "typing": true}))
        .await;
    let typing = bob_ws.next_of("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "user_id": alice.id, "typing": true})
    );

    // A message from the typer clears it.
    alice_ws.send_message(bob.id, "there you go").await;
    let typing = bob_ws.next_of("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "user_id": alice.id, "typing": false})
    );

    // So does one sent over REST (past the forward throttle of 500 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;
    alice_ws
        .send(&json!({"type": "typing", "to": bob.id, "typing": true}))
        .await;
    let typing = bob_ws.next_of("typing").await;
    assert_eq!(typing["typing"], true);
    app.send_ok(&alice, bob.id, "and over REST").await;
    let typing = bob_ws.next_of("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "user_id": alice.id, "typing": false})
    );

    // A stranger hears nothing: no typing, no presence.
    alice_ws
        .send(&json!({"type": "typing", "to": eve.id, "typing": true}))
        .await;
    alice_ws.ping().await;
    eve_ws
        .expect_none_of("typing", Duration::from_secs(1))
        .await;
    let stray = eve_ws.next_within(Duration::from_millis(200)).await;
    assert!(stray.is_none(), "eve hears nothing: {stray:?}");
}
