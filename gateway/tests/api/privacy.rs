//! Privacy settings: `show_online` hides a person's presence from everyone
//! else (pages and events), `send_read_receipts` keeps their reads from
//! their senders.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totilove_testkit::eventually;

use crate::{
    helpers::{Person, TestApp, expect_error, expect_invalid, expect_json},
    ws_helpers::Ws,
};

/// Short presence timings: offline is announced 1 s after the last socket.
const FAST: &[(&str, &str)] = &[
    ("PRESENCE_CONNECTION_TTL_SECS", "3"),
    ("PRESENCE_OFFLINE_GRACE_SECS", "1"),
    ("PRESENCE_SWEEP_INTERVAL_MS", "200"),
];

/// What the contract allows for a switch to reach partners.
const SWITCH_WAIT: Duration = Duration::from_secs(2);

async fn privacy(app: &TestApp, who: &Person) -> Value {
    let res = app.get("/api/me/privacy", &who.token).await;
    expect_json(res, StatusCode::OK).await["privacy"].clone()
}

async fn set_privacy(app: &TestApp, who: &Person, body: Value) -> Value {
    let res = app.put("/api/me/privacy", &who.token, &body).await;
    expect_json(res, StatusCode::OK).await["privacy"].clone()
}

/// Two people who share a conversation.
async fn partners(app: &TestApp) -> (Person, Person) {
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    app.send_ok(&bob, alice.id, "hi alice").await;
    (alice, bob)
}

/// The next `presence` event about `user_id`.
async fn presence_of(ws: &mut Ws, user_id: i64) -> Value {
    loop {
        let event = ws.next_of("presence").await;
        if event["user_id"] == user_id {
            return event;
        }
    }
}

/// How `viewer` sees `target`: on their page, in search, in the
/// conversation list (`online`, `last_seen`).
async fn seen_by(app: &TestApp, viewer: &Person, target: &Person) -> [Value; 4] {
    let page = expect_json(
        app.get(&format!("/api/users/{}", target.id), &viewer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let search = expect_json(
        app.get(&format!("/api/users?q={}", target.username), &viewer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let hit = search["users"]
        .as_array()
        .and_then(|hits| hits.iter().find(|h| h["user"]["id"] == target.id))
        .unwrap_or_else(|| panic!("{} found in {search}", target.username))
        .clone();
    let list = expect_json(
        app.get("/api/conversations", &viewer.token).await,
        StatusCode::OK,
    )
    .await;
    let conversation = list["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["user"]["id"] == target.id))
        .unwrap_or_else(|| panic!("a conversation with {} in {list}", target.username))
        .clone();
    [
        page["online"].clone(),
        page["last_seen"].clone(),
        hit["online"].clone(),
        conversation["online"].clone(),
    ]
}

#[tokio::test]
async fn a_new_account_shows_its_presence_and_sends_read_receipts() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    assert_eq!(
        privacy(&app, &alice).await,
        json!({"show_online": true, "send_read_receipts": true})
    );
}

#[tokio::test]
async fn privacy_routes_need_a_token() {
    let app = TestApp::start().await;
    for method in [Method::GET, Method::PUT] {
        let res = app
            .request(method.clone(), "/api/me/privacy", None)
            .json(&json!({}))
            .send()
            .await
            .expect("the gateway answers");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_privacy_update_keeps_absent_fields_and_refuses_anything_but_booleans() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;

    let after = set_privacy(&app, &alice, json!({"show_online": false})).await;
    assert_eq!(
        after,
        json!({"show_online": false, "send_read_receipts": true})
    );
    let after = set_privacy(&app, &alice, json!({"send_read_receipts": false})).await;
    assert_eq!(
        after,
        json!({"show_online": false, "send_read_receipts": false})
    );
    let after = set_privacy(&app, &alice, json!({})).await;
    assert_eq!(
        after,
        json!({"show_online": false, "send_read_receipts": false})
    );
    let after = set_privacy(
        &app,
        &alice,
        json!({"show_online": true, "send_read_receipts": true}),
    )
    .await;
    assert_eq!(
        after,
        json!({"show_online": true, "send_read_receipts": true})
    );

    for (body, field) in [
        (json!({"show_online": null}), "show_online"),
        (json!({"show_online": "false"}), "show_online"),
        (json!({"send_read_receipts": 0}), "send_read_receipts"),
        (json!({"invisible": true}), "invisible"),
    ] {
        let res = app.put("/api/me/privacy", &alice.token, &body).await;
        expect_invalid(res, field).await;
    }
    let res = app
        .put("/api/me/privacy", &alice.token, &json!([true]))
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Nothing refused was written.
    assert_eq!(
        privacy(&app, &alice).await,
        json!({"show_online": true, "send_read_receipts": true})
    );
}

#[tokio::test]
async fn someone_hidden_is_offline_without_last_seen_to_everyone_else_everywhere() {
    let app = TestApp::start_with(FAST).await;
    let (alice, bob) = partners(&app).await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let alice_ws = Ws::open(app.system.url(), &alice.token).await;
    assert_eq!(presence_of(&mut bob_ws, alice.id).await["online"], true);
    let [online, last_seen, in_search, in_list] = seen_by(&app, &bob, &alice).await;
    assert_eq!((online, last_seen), (json!(true), Value::Null));
    assert_eq!((in_search, in_list), (json!(true), json!(true)));

    set_privacy(&app, &alice, json!({"show_online": false})).await;
    let [online, last_seen, in_search, in_list] = seen_by(&app, &bob, &alice).await;
    assert_eq!((online, last_seen), (json!(false), Value::Null));
    assert_eq!((in_search, in_list), (json!(false), json!(false)));
    // She still sees herself as she is, and her settings.
    let own = expect_json(
        app.get(&format!("/api/users/{}", alice.id), &alice.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(own["online"], true, "{own}");
    assert_eq!(privacy(&app, &alice).await["show_online"], false);

    // Gone offline (past the grace), still no last_seen for anyone else.
    alice_ws.close().await;
    eventually("alice to see herself offline, past the grace", || async {
        let own = app
            .get(&format!("/api/users/{}", alice.id), &alice.token)
            .await;
        expect_json(own, StatusCode::OK).await["online"] == false
    })
    .await;
    let [online, last_seen, ..] = seen_by(&app, &bob, &alice).await;
    assert_eq!((online, last_seen), (json!(false), Value::Null));
}

#[tokio::test]
async fn hiding_sends_partners_offline_and_showing_again_sends_online_within_2_seconds() {
    let app = TestApp::start_with(FAST).await;
    let (alice, bob) = partners(&app).await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let alice_ws = Ws::open(app.system.url(), &alice.token).await;
    assert_eq!(presence_of(&mut bob_ws, alice.id).await["online"], true);

    set_privacy(&app, &alice, json!({"show_online": false})).await;
    let offline = tokio::time::timeout(SWITCH_WAIT, presence_of(&mut bob_ws, alice.id))
        .await
        .expect("the offline event within 2 s");
    assert_eq!(
        offline,
        json!({"type": "presence", "user_id": alice.id, "online": false, "last_seen": null})
    );

    // While hidden, her comings and goings are nobody's business.
    alice_ws.close().await;
    let _alice_again = Ws::open(app.system.url(), &alice.token).await;
    bob_ws
        .expect_none_of("presence", Duration::from_secs(3))
        .await;

    set_privacy(&app, &alice, json!({"show_online": true})).await;
    let online = tokio::time::timeout(SWITCH_WAIT, presence_of(&mut bob_ws, alice.id))
        .await
        .expect("the online event within 2 s");
    assert_eq!(online["online"], true);
    let [online, ..] = seen_by(&app, &bob, &alice).await;
    assert_eq!(online, true);
}

#[tokio::test]
async fn last_seen_is_shown_to_the_minute() {
    let app = TestApp::start_with(FAST).await;
    let (alice, bob) = partners(&app).await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let alice_ws = Ws::open(app.system.url(), &alice.token).await;
    assert_eq!(presence_of(&mut bob_ws, alice.id).await["online"], true);
    alice_ws.close().await;

    let offline = presence_of(&mut bob_ws, alice.id).await;
    assert_eq!(offline["online"], false);
    let event_seen = offline["last_seen"]
        .as_str()
        .expect("a last_seen")
        .to_owned();
    assert!(event_seen.ends_with(":00.000Z"), "{event_seen}");
    let [_, page_seen, ..] = seen_by(&app, &bob, &alice).await;
    assert_eq!(page_seen, event_seen.as_str());
}

#[tokio::test]
async fn without_read_receipts_reads_clear_my_unread_count_but_senders_see_delivered() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut alice_ws = Ws::open(app.system.url(), &alice.token).await;
    let first = app.send_ok(&alice, bob.id, "one").await;
    let second = app.send_ok(&alice, bob.id, "two").await;
    set_privacy(&app, &bob, json!({"send_read_receipts": false})).await;

    // By REST: delivered (reading proves arrival), never read.
    let res = app
        .post(
            "/api/messages/read",
            Some(&bob.token),
            &json!({"with": alice.id, "up_to_id": second["id"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let status = alice_ws.next_of("status").await;
    assert_eq!(
        status,
        json!({"type": "status", "with": bob.id, "up_to_id": second["id"], "status": "delivered"})
    );
    alice_ws
        .expect_none_of("status", Duration::from_secs(1))
        .await;
    let statuses: Vec<Value> = app
        .whole_history(&alice, bob.id)
        .await
        .iter()
        .map(|m| m["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("delivered"), json!("delivered")]);
    let list = expect_json(
        app.get("/api/conversations", &bob.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["conversations"][0]["unread_count"], 0, "{list}");

    // By the socket's `read` frame: the same.
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let third = app.send_ok(&alice, bob.id, "three").await;
    bob_ws.next_of("message").await;
    // Delivered to bob's socket.
    assert_eq!(alice_ws.next_of("status").await["status"], "delivered");
    bob_ws
        .send(&json!({"type": "read", "with": alice.id, "up_to_id": third["id"]}))
        .await;
    bob_ws.ping().await;
    alice_ws
        .expect_none_of("status", Duration::from_secs(1))
        .await;
    let history = app.whole_history(&alice, bob.id).await;
    assert!(
        history.iter().all(|m| m["status"] == "delivered"),
        "{history:?}"
    );
    let list = expect_json(
        app.get("/api/conversations", &bob.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["conversations"][0]["unread_count"], 0, "{list}");

    // Receipts back on: the next read is shown read.
    set_privacy(&app, &bob, json!({"send_read_receipts": true})).await;
    let fourth = app.send_ok(&alice, bob.id, "four").await;
    bob_ws
        .send(&json!({"type": "read", "with": alice.id, "up_to_id": fourth["id"]}))
        .await;
    loop {
        let status = alice_ws.next_of("status").await;
        if status["status"] == "read" {
            assert_eq!(status["up_to_id"], fourth["id"]);
            break;
        }
    }
    let _ = first;
}
