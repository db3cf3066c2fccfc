//! The WebSocket protocol on one gateway: authentication on the upgrade,
//! limits, refusals, and the frames a client sends.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use totilove_testkit::eventually;

use crate::{
    helpers::{TestApp, expect_json},
    ws_helpers::{Ws, close_code, is_policy_close, new_id, try_connect, ws_url},
};

#[tokio::test]
async fn an_upgrade_without_a_valid_token_is_401_and_opens_no_socket() {
    let app = TestApp::start().await;
    let url = app.system.url();
    assert_eq!(
        try_connect(url, &[]).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    let bogus = [("authorization", "Bearer not.a.token".to_owned())];
    assert_eq!(
        try_connect(url, &bogus).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    let cookie = [("cookie", "totilove_session=forged".to_owned())];
    assert_eq!(
        try_connect(url, &cookie).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn a_cookie_upgrade_is_accepted_only_from_our_own_or_an_allowed_origin() {
    let app = TestApp::start_with(&[("ALLOWED_ORIGINS", "https://app.totilove.test")]).await;
    let alice = app.person("alice").await;
    let url = app.system.url();
    let cookie = ("cookie", format!("totilove_session={}", alice.token));

    let missing = [cookie.clone()];
    assert_eq!(
        try_connect(url, &missing).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
    let foreign = [
        cookie.clone(),
        ("origin", "https://evil.example".to_owned()),
    ];
    assert_eq!(
        try_connect(url, &foreign).await.err(),
        Some(StatusCode::FORBIDDEN)
    );

    let own = [cookie.clone(), ("origin", url.to_owned())];
    let ws = Ws::ready(try_connect(url, &own).await.expect("our own origin")).await;
    assert_eq!(ws.user_id, alice.id);
    let allowed = [cookie, ("origin", "https://app.totilove.test".to_owned())];
    Ws::ready(try_connect(url, &allowed).await.expect("an allowed origin")).await;
}

#[tokio::test]
async fn the_first_frame_is_ready_and_ping_gets_pong() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let mut ws = Ws::open(app.system.url(), &alice.token).await;
    assert_eq!(ws.user_id, alice.id);
    assert!(!ws.session_id.is_empty());
    ws.send(&json!({"type": "ping"})).await;
    assert_eq!(ws.next().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn the_eleventh_socket_of_a_person_is_429() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.push(Ws::open(app.system.url(), &alice.token).await);
    }
    let bearer = [("authorization", format!("Bearer {}", alice.token))];
    assert_eq!(
        try_connect(app.system.url(), &bearer).await.err(),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    // Someone else is not affected, and a closed socket frees its slot.
    let bob = app.person("bob").await;
    Ws::open(app.system.url(), &bob.token).await;
    sockets.pop().expect("a socket").close().await;
    let stream = eventually("the closed socket's slot to be freed", || async {
        let attempt = try_connect(app.system.url(), &bearer).await;
        if let Err(status) = &attempt {
            assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
        }
        attempt
    })
    .await;
    Ws::ready(stream).await;
}

#[tokio::test]
async fn a_frame_over_16_kib_is_refused_and_the_socket_stays_usable() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut ws = Ws::open(app.system.url(), &alice.token).await;

    let content = "x".repeat(17 * 1024);
    let id = new_id();
    ws.send(&json!({"type": "send", "to": bob.id, "content": content, "client_msg_id": id}))
        .await;
    let error = ws.next().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "frame_too_large");

    ws.ping().await;
    let sent = ws.send_message(bob.id, "still here").await;
    assert_eq!(sent["content"], "still here");
}

#[tokio::test]
async fn malformed_frames_and_unknown_types_are_invalid_request() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let mut ws = Ws::open(app.system.url(), &alice.token).await;
    for bad in [
        "{not json",
        "[1,2]",
        r#"{"no":"type"}"#,
        r#"{"type":"dance"}"#,
        r#"{"type":"sync","after":"zero"}"#,
        r#"{"type":"typing","to":2}"#,
    ] {
        ws.send_text(bad.to_owned()).await;
        let error = ws.next().await;
        assert_eq!(error["type"], "error", "{bad}");
        assert_eq!(error["code"], "invalid_request", "{bad}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    ws.ping().await;
}

#[tokio::test]
async fn ten_refused_frames_within_a_minute_close_the_socket_with_1008() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let mut ws = Ws::open(app.system.url(), &alice.token).await;
    for _ in 0..9 {
        ws.send_text("nonsense".to_owned()).await;
        assert_eq!(ws.next().await["code"], "invalid_request");
    }
    ws.ping().await;
    ws.send_text("nonsense".to_owned()).await;
    let (close, _) = ws.closed().await;
    assert!(is_policy_close(&close), "closed with 1008: {close:?}");
}

#[tokio::test]
async fn a_refused_send_is_an_error_carrying_its_client_msg_id() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut ws = Ws::open(app.system.url(), &alice.token).await;
    let cases = [
        (
            json!({"type": "send", "to": bob.id, "content": "   ", "client_msg_id": new_id()}),
            "invalid_request",
        ),
        (
            json!({"type": "send", "to": alice.id, "content": "me", "client_msg_id": new_id()}),
            "invalid_request",
        ),
        (
            json!({"type": "send", "to": bob.id, "content": "hi", "client_msg_id": "nope"}),
            "invalid_request",
        ),
        (
            json!({"type": "send", "to": 9_999_999, "content": "hi", "client_msg_id": new_id()}),
            "not_found",
        ),
        (
            json!({"type": "send", "to": "bob", "content": "hi", "client_msg_id": new_id()}),
            "invalid_request",
        ),
    ];
    for (frame, code) in cases {
        ws.send(&frame).await;
        let error = ws.next_of("error").await;
        assert_eq!(error["code"], code, "{frame}");
        assert_eq!(error["client_msg_id"], frame["client_msg_id"], "{frame}");
    }
    app.block(&bob, alice.id).await;
    let id = new_id();
    ws.send(&json!({"type": "send", "to": bob.id, "content": "hi", "client_msg_id": id}))
        .await;
    let error = ws.next_of("error").await;
    assert_eq!(error["code"], "blocked");
    assert_eq!(error["client_msg_id"], id.as_str());
}

#[tokio::test]
async fn a_send_is_acknowledged_on_its_socket_and_delivered_to_the_receiver() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut alice_ws = Ws::open(app.system.url(), &alice.token).await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;

    let id = new_id();
    alice_ws
        .send(&json!({"type": "send", "to": bob.id, "content": "hi bob 👋", "client_msg_id": id}))
        .await;
    let sent = alice_ws.next_of("sent").await;
    assert_eq!(sent["client_msg_id"], id.as_str());
    assert_eq!(sent["message"]["content"], "hi bob 👋");
    let received = bob_ws.next_of("message").await;
    assert_eq!(received["message"], sent["message"]);

    // The same client_msg_id again is acknowledged with the same message, not stored twice.
    alice_ws
        .send(&json!({"type": "send", "to": bob.id, "content": "hi bob 👋", "client_msg_id": id}))
        .await;
    let again = alice_ws.next_of("sent").await;
    assert_eq!(again["message"]["id"], sent["message"]["id"]);
    bob_ws
        .expect_none_of("message", Duration::from_millis(300))
        .await;
    alice_ws
        .expect_none_of("message", Duration::from_millis(100))
        .await;
    assert_eq!(app.whole_history(&alice, bob.id).await.len(), 1);
}

#[tokio::test]
async fn delivered_and_read_status_events_reach_the_sender() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut alice_ws = Ws::open(app.system.url(), &alice.token).await;

    // Bob offline: fetching history delivers.
    let first = alice_ws.send_message(bob.id, "first").await;
    app.whole_history(&bob, alice.id).await;
    let status = alice_ws.next_of("status").await;
    assert_eq!(
        status,
        json!({"type": "status", "with": bob.id, "up_to_id": first["id"], "status": "delivered"})
    );

    // Bob online: reaching his socket delivers.
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let second = alice_ws.send_message(bob.id, "second").await;
    bob_ws.next_of("message").await;
    let status = alice_ws.next_of("status").await;
    assert_eq!(status["status"], "delivered");
    assert_eq!(status["up_to_id"], second["id"]);

    // Reading over the socket.
    bob_ws
        .send(&json!({"type": "read", "with": alice.id, "up_to_id": second["id"]}))
        .await;
    let status = alice_ws.next_of("status").await;
    assert_eq!(
        status,
        json!({"type": "status", "with": bob.id, "up_to_id": second["id"], "status": "read"})
    );
    let history = app.whole_history(&alice, bob.id).await;
    assert!(history.iter().all(|m| m["status"] == "read"), "{history:?}");
}

#[tokio::test]
async fn sync_replays_what_came_after_an_id_then_sync_done() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let m = app.send_ok(&alice, bob.id, &format!("m{i}")).await;
        ids.push(m["id"].as_i64().expect("an id"));
    }
    let mut ws = Ws::open(app.system.url(), &bob.token).await;

    ws.send(&json!({"type": "sync", "after": ids[1]})).await;
    for id in &ids[2..] {
        let event = ws.next().await;
        assert_eq!(event["type"], "message");
        assert_eq!(event["message"]["id"], *id);
    }
    let done = ws.next().await;
    assert_eq!(
        done,
        json!({"type": "sync_done", "up_to_id": ids[4], "more": false})
    );

    ws.send(&json!({"type": "sync", "after": ids[4]})).await;
    let done = ws.next().await;
    assert_eq!(
        done,
        json!({"type": "sync_done", "up_to_id": ids[4], "more": false})
    );
    ws.send(&json!({"type": "sync", "after": -1})).await;
    assert_eq!(ws.next().await["code"], "invalid_request");
}

/// `sync` and `read` each cost the message service a query: a socket has an
/// allowance of each, and a frame over it is refused (counted like any
/// refusal) while the socket stays open.
#[tokio::test]
async fn sync_and_read_frames_over_the_sockets_allowance_are_rate_limited() {
    let app = TestApp::start_with(&[
        ("WS_SYNC_BURST", "3"),
        ("WS_SYNC_PER_MINUTE", "1"),
        ("WS_READ_BURST", "2"),
        ("WS_READ_PER_MINUTE", "1"),
    ])
    .await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let id = app.send_ok(&alice, bob.id, "hello").await["id"]
        .as_i64()
        .expect("an id");
    let mut ws = Ws::open(app.system.url(), &bob.token).await;

    for _ in 0..3 {
        ws.send(&json!({"type": "sync", "after": id})).await;
        assert_eq!(ws.next().await["type"], "sync_done");
    }
    ws.send(&json!({"type": "sync", "after": id})).await;
    let refused = ws.next().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "rate_limited", "{refused}");

    for _ in 0..2 {
        ws.send(&json!({"type": "read", "with": alice.id, "up_to_id": id}))
            .await;
    }
    ws.send(&json!({"type": "read", "with": alice.id, "up_to_id": id}))
        .await;
    let refused = ws.next().await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");

    ws.send(&json!({"type": "ping"})).await;
    assert_eq!(ws.next().await["type"], "pong");
}

#[tokio::test]
async fn a_sync_of_more_than_1000_messages_says_more() {
    let app = TestApp::start_with(&[("SEND_BURST", "100000")]).await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut sender = Ws::open(app.system.url(), &alice.token).await;
    // In windows of 50, reading the acks as they come.
    for window in 0..21 {
        let count = if window == 20 { 5 } else { 50 };
        for i in 0..count {
            let id = new_id();
            let content = format!("n{window}-{i}");
            sender
                .send(
                    &json!({"type": "send", "to": bob.id, "content": content, "client_msg_id": id}),
                )
                .await;
        }
        let mut acked = 0;
        while acked < count {
            if sender.next().await["type"] == "sent" {
                acked += 1;
            }
        }
    }
    let mut ws = Ws::open(app.system.url(), &bob.token).await;
    ws.send(&json!({"type": "sync", "after": 0})).await;
    let mut replayed = 0;
    let done = loop {
        let event = ws.next().await;
        if event["type"] == "sync_done" {
            break event;
        }
        replayed += 1;
    };
    assert_eq!(replayed, 1000);
    assert_eq!(done["more"], true);
    let rest = ws
        .sync_all(done["up_to_id"].as_i64().expect("up_to_id"))
        .await;
    assert_eq!(rest.len(), 5);
}

#[tokio::test]
async fn logout_closes_that_sessions_sockets_on_every_instance_and_only_those() {
    let mut app = TestApp::start().await;
    let second = app.system.spawn_gateway().await;
    let other_url = app.system.gateways[second].url.clone();
    let alice = app.person("alice").await;
    let other_session = app.login_ok("alice").await;

    let mut here = Ws::open(app.system.url(), &alice.token).await;
    let mut there = Ws::open(&other_url, &alice.token).await;
    let mut unrelated = Ws::open(&other_url, &other_session).await;

    let res = app
        .request(
            reqwest::Method::POST,
            "/api/auth/logout",
            Some(&alice.token),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    for ws in [&mut here, &mut there] {
        let (close, _) = ws.closed().await;
        assert_eq!(close_code(&close), Some(4001), "{close:?}");
    }
    unrelated.ping().await;
    let bearer = [("authorization", format!("Bearer {}", alice.token))];
    assert_eq!(
        try_connect(&other_url, &bearer).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn revoking_a_session_closes_its_sockets() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let laptop = app.login_ok("alice").await;
    let mut ws = Ws::open(app.system.url(), &laptop).await;
    let session_id = ws.session_id.clone();

    let res = app
        .delete(&format!("/api/sessions/{session_id}"), &alice.token)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (close, _) = ws.closed().await;
    assert_eq!(close_code(&close), Some(4001), "{close:?}");
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let app = TestApp::start_with(&[("WS_IDLE_TIMEOUT_SECS", "1")]).await;
    let alice = app.person("alice").await;
    let mut ws = Ws::open(app.system.url(), &alice.token).await;
    // The server pings every 25 s (the default), so within the 1 s timeout
    // the client sends nothing even while reading: no sleep needed.
    let (close, _) = ws.closed().await;
    assert_eq!(close_code(&close), Some(1001), "{close:?}");
}

#[tokio::test]
async fn typing_frames_are_accepted_silently() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut ws = Ws::open(app.system.url(), &alice.token).await;
    ws.send(&json!({"type": "typing", "to": bob.id, "typing": true}))
        .await;
    ws.send(&json!({"type": "typing", "to": bob.id, "typing": false}))
        .await;
    // Frames are answered in order: whatever came back before the pong
    // answered the typing frames, and none of it may be an error.
    ws.send(&json!({"type": "ping"})).await;
    loop {
        let frame = ws.next().await;
        assert_ne!(frame["type"], "error", "typing was refused: {frame}");
        if frame["type"] == "pong" {
            break;
        }
    }
    let res = app.get("/api/conversations", &alice.token).await;
    expect_json(res, StatusCode::OK).await;
}

/// Opens Bob's socket over a TCP connection with a tiny receive buffer, so
/// that once the test stops reading, the gateway's writes back up at once.
async fn open_with_small_window(base: &str, token: &str) -> Ws {
    use tokio_tungstenite::{MaybeTlsStream, tungstenite::client::IntoClientRequest};
    let addr: std::net::SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .expect("a gateway address");
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket.set_recv_buffer_size(4096).expect("a small window");
    let tcp = socket.connect(addr).await.expect("connected");
    let mut request = ws_url(base).into_client_request().expect("a request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a header"),
    );
    let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
        .await
        .expect("upgraded");
    Ws::ready(stream).await
}

#[tokio::test]
async fn a_socket_whose_peer_stops_reading_is_closed_not_buffered_and_sync_recovers_everything() {
    let app = TestApp::start_with(&[
        ("WS_OUTBOX_CAPACITY", "8"),
        ("SEND_RATE_PER_SEC", "10000"),
        ("SEND_BURST", "10000"),
    ])
    .await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut slow = open_with_small_window(app.system.url(), &bob.token).await;

    // Bob stops reading. ~9.6 MB of messages (16 KB frames) is more than
    // the kernel's buffers on both ends plus the gateway's 1 MiB write
    // buffer and 8 queued items: a gateway that kept buffering would hold
    // it all in memory; ours must give up on the socket.
    const SENT: usize = 600;
    let content = "😀".repeat(4000);
    let sends = (0..SENT).map(|_| app.send_ok(&alice, bob.id, &content));
    let mut ids = Vec::new();
    let mut sends = futures::stream::iter(sends).buffered(8);
    while let Some(message) = sends.next().await {
        ids.push(message["id"].as_i64().expect("an id"));
    }
    ids.sort_unstable();

    // Reading again: what was buffered, then the end of the socket.
    let (close, before) = slow.closed().await;
    let live = before.iter().filter(|e| e["type"] == "message").count();
    assert!(
        live < SENT,
        "every message reached a socket that did not read"
    );
    if close.is_some() {
        assert_eq!(close_code(&close), Some(1013), "{close:?}");
    }

    // Nothing is lost: a new socket's sync brings every message, once.
    let mut again = Ws::open(app.system.url(), &bob.token).await;
    let synced: Vec<i64> = again
        .sync_all(0)
        .await
        .iter()
        .map(|m| m["id"].as_i64().expect("an id"))
        .collect();
    assert_eq!(synced, ids);
}
