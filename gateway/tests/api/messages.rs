//! Messages over REST: send, idempotent retry, validation, history, read
//! marks, conversations, and PostgreSQL as the record when Redis fails.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use totilove_testkit::eventually;

use crate::{
    helpers::{TestApp, expect_error, expect_invalid, expect_json},
    ws_helpers::{Ws, new_id},
};

#[tokio::test]
async fn a_sent_message_is_answered_201_and_found_in_both_histories() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let client_msg_id = new_id();

    let res = app
        .send_message(&alice, bob.id, "hello bob", &client_msg_id)
        .await;
    let message = expect_json(res, StatusCode::CREATED).await["message"].clone();

    assert!(message["id"].as_i64().is_some_and(|id| id > 0));
    assert_eq!(message["sender_id"], alice.id);
    assert_eq!(message["receiver_id"], bob.id);
    assert_eq!(message["content"], "hello bob");
    assert_eq!(message["status"], "sent");
    assert_eq!(message["client_msg_id"], client_msg_id.as_str());
    let created_at = message["created_at"].as_str().expect("created_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok() && created_at.ends_with('Z'),
        "{created_at}"
    );
    assert_eq!(
        message.as_object().map(|o| o.len()),
        Some(7),
        "exactly the contract's fields: {message}"
    );
    let mine = app.whole_history(&alice, bob.id).await;
    assert_eq!(mine, vec![message.clone()]);
    let theirs = app.whole_history(&bob, alice.id).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["id"], message["id"]);
}

#[tokio::test]
async fn content_is_stored_and_returned_byte_for_byte() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let contents = [
        "💘 emoji 👩‍❤️‍👨 and a flag 🇫🇷",
        "مرحبا، كيف حالك؟ שלום",
        "<script>alert('x')</script> & \"quotes\"",
        "  padded, with\nnew lines\tand tabs  ",
        &"é".repeat(4000),
    ];
    for content in contents {
        let sent = app.send_ok(&alice, bob.id, content).await;
        assert_eq!(sent["content"], content);
    }
    let history = app.whole_history(&bob, alice.id).await;
    let stored: Vec<&str> = history
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(stored, contents);
}

#[tokio::test]
async fn a_retried_send_answers_200_with_the_same_message_and_stores_it_once() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let client_msg_id = new_id();

    let first = app
        .send_message(&alice, bob.id, "once", &client_msg_id)
        .await;
    let first = expect_json(first, StatusCode::CREATED).await;
    let again = app
        .send_message(&alice, bob.id, "once", &client_msg_id)
        .await;
    let again = expect_json(again, StatusCode::OK).await;

    assert_eq!(first["message"]["id"], again["message"]["id"]);
    assert_eq!(
        first["message"]["created_at"],
        again["message"]["created_at"]
    );
    assert_eq!(app.whole_history(&alice, bob.id).await.len(), 1);
}

#[tokio::test]
async fn reusing_a_client_msg_id_for_another_content_or_receiver_is_422() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let carol = app.person("carol").await;
    let client_msg_id = new_id();
    app.send_message(&alice, bob.id, "first", &client_msg_id)
        .await;

    let other_content = app
        .send_message(&alice, bob.id, "second", &client_msg_id)
        .await;
    expect_error(
        other_content,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_mismatch",
    )
    .await;
    let other_receiver = app
        .send_message(&alice, carol.id, "first", &client_msg_id)
        .await;
    expect_error(
        other_receiver,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_mismatch",
    )
    .await;
    // Another sender may use the same id: it is scoped to the sender.
    let res = app
        .send_message(&bob, alice.id, "first", &client_msg_id)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn every_invalid_send_is_400_naming_the_field() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let id = new_id();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"to": bob.id, "content": "", "client_msg_id": id}),
            "content",
        ),
        (
            json!({"to": bob.id, "content": " \n\t ", "client_msg_id": id}),
            "content",
        ),
        (
            json!({"to": bob.id, "content": "x".repeat(4001), "client_msg_id": id}),
            "content",
        ),
        (
            json!({"to": alice.id, "content": "me", "client_msg_id": id}),
            "to",
        ),
        (
            json!({"to": bob.id, "content": "hi", "client_msg_id": "not-a-uuid"}),
            "client_msg_id",
        ),
        (json!({"content": "hi", "client_msg_id": id}), "to"),
        (json!({"to": bob.id, "client_msg_id": id}), "content"),
        (json!({"to": bob.id, "content": "hi"}), "client_msg_id"),
        (
            json!({"to": "bob", "content": "hi", "client_msg_id": id}),
            "to",
        ),
        (
            json!({"to": bob.id, "content": 5, "client_msg_id": id}),
            "content",
        ),
        (
            json!({"to": -3, "content": "hi", "client_msg_id": id}),
            "to",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .post("/api/messages/send", Some(&alice.token), &body)
            .await;
        expect_invalid(res, field).await;
    }
    assert!(app.whole_history(&alice, bob.id).await.is_empty());
}

#[tokio::test]
async fn sending_to_nobody_is_404_and_across_a_block_is_403_blocked() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let carol = app.person("carol").await;

    let res = app
        .send_message(&alice, 9_999_999, "anyone?", &new_id())
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    assert_eq!(
        app.block(&bob, alice.id).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app.send_message(&alice, bob.id, "hi", &new_id()).await;
    expect_error(res, StatusCode::FORBIDDEN, "blocked").await;
    let res = app.send_message(&bob, alice.id, "hi", &new_id()).await;
    expect_error(res, StatusCode::FORBIDDEN, "blocked").await;
    // Others are unaffected.
    app.send_ok(&alice, carol.id, "hi").await;
}

#[tokio::test]
async fn messaging_routes_need_authentication() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let body = json!({"to": 1, "content": "hi", "client_msg_id": new_id()});
    expect_error(
        app.post("/api/messages/send", None, &body).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let read = json!({"with": 1, "up_to_id": 1});
    expect_error(
        app.post("/api/messages/read", None, &read).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    for path in [
        format!("/api/messages/{}/1", alice.id),
        "/api/conversations".to_owned(),
    ] {
        let res = app
            .request(reqwest::Method::GET, &path, None)
            .send()
            .await
            .expect("an answer");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn reading_someone_elses_history_is_403_forbidden() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let eve = app.person("eve").await;
    app.send_ok(&alice, bob.id, "private").await;

    let res = app
        .get(
            &format!("/api/messages/{}/{}", alice.id, bob.id),
            &eve.token,
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .get(
            &format!("/api/messages/{}/{}", bob.id, alice.id),
            &eve.token,
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn history_pages_backwards_and_forwards() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let (from, to) = if i % 2 == 0 {
            (&alice, bob.id)
        } else {
            (&bob, alice.id)
        };
        let m = app.send_ok(from, to, &format!("m{i}")).await;
        ids.push(m["id"].as_i64().expect("an id"));
    }
    let page = |query: String| {
        let app = &app;
        let alice = &alice;
        let bob_id = bob.id;
        async move {
            let res = app
                .get(
                    &format!("/api/messages/{}/{bob_id}{query}", alice.id),
                    &alice.token,
                )
                .await;
            let body = expect_json(res, StatusCode::OK).await;
            let got: Vec<i64> = body["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .filter_map(|m| m["id"].as_i64())
                .collect();
            (got, body["has_more"] == true)
        }
    };
    assert_eq!(page(String::new()).await, (ids.clone(), false));
    assert_eq!(page("?limit=3".into()).await, (ids[4..].to_vec(), true));
    assert_eq!(
        page(format!("?before={}&limit=3", ids[4])).await,
        (ids[1..4].to_vec(), true)
    );
    assert_eq!(
        page(format!("?before={}&limit=3", ids[1])).await,
        (ids[..1].to_vec(), false)
    );
    assert_eq!(
        page("?after=0&limit=3".into()).await,
        (ids[..3].to_vec(), true)
    );
    assert_eq!(
        page(format!("?after={}&limit=10", ids[3])).await,
        (ids[4..].to_vec(), false)
    );
}

#[tokio::test]
async fn bad_history_queries_are_400_and_unknown_people_404() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let base = format!("/api/messages/{}/{}", alice.id, bob.id);
    for (query, field) in [
        ("?before=5&after=2", "before"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=x", "limit"),
        ("?before=abc", "before"),
        ("?after=-1", "after"),
    ] {
        expect_invalid(
            app.get(&format!("{base}{query}"), &alice.token).await,
            field,
        )
        .await;
    }
    expect_invalid(
        app.get(&format!("/api/messages/{}/abc", alice.id), &alice.token)
            .await,
        "otherUserId",
    )
    .await;
    let res = app
        .get(
            &format!("/api/messages/{}/9223372036854775807", alice.id),
            &alice.token,
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get(&base, &alice.token).await;
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body, json!({"messages": [], "has_more": false}));
}

#[tokio::test]
async fn history_before_zero_is_the_message_services_empty_page() {
    // The cursor rules are the message service's alone: `before=0` asks
    // for what is older than every id, which it answers as an empty page.
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    app.send_ok(&alice, bob.id, "hello").await;
    let res = app
        .get(
            &format!("/api/messages/{}/{}?before=0", alice.id, bob.id),
            &alice.token,
        )
        .await;
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body, json!({"messages": [], "has_more": false}));
}

#[tokio::test]
async fn an_invalid_limit_is_the_services_400_in_the_contracts_error_shape() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    for limit in ["0", "101"] {
        let res = app
            .get(
                &format!("/api/messages/{}/{}?limit={limit}", alice.id, bob.id),
                &alice.token,
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "limit={limit}");
        let body: Value = res.json().await.expect("a JSON body");
        let error = body["error"].as_object().expect("an `error` object");
        assert_eq!(body.as_object().map(|b| b.len()), Some(1), "{body}");
        assert_eq!(error.len(), 2, "only `code` and `message`: {body}");
        assert_eq!(error["code"], "invalid_request");
        let message = error["message"].as_str().expect("a message");
        assert!(message.contains("limit"), "{message}");
    }
}

#[tokio::test]
async fn reading_up_to_id_zero_is_accepted_and_marks_nothing() {
    // `up_to_id=0` is valid for the message service (no message has id 0):
    // 204, and nothing becomes read.
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    app.send_ok(&alice, bob.id, "unread").await;
    let res = app
        .post(
            "/api/messages/read",
            Some(&bob.token),
            &json!({"with": alice.id, "up_to_id": 0}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let history = app.whole_history(&alice, bob.id).await;
    assert_ne!(history[0]["status"], "read");
    assert_eq!(conversations(&app, &bob).await[0]["unread_count"], 1);
}

#[tokio::test]
async fn fetching_history_marks_messages_to_me_delivered() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let sent = app.send_ok(&alice, bob.id, "are you there?").await;
    assert_eq!(sent["status"], "sent");

    // Alice's own fetch changes nothing.
    let mine = app.whole_history(&alice, bob.id).await;
    assert_eq!(mine[0]["status"], "sent");
    // Bob's does, and it sticks.
    let theirs = app.whole_history(&bob, alice.id).await;
    assert_eq!(theirs[0]["status"], "delivered");
    let mine = app.whole_history(&alice, bob.id).await;
    assert_eq!(mine[0]["status"], "delivered");
}

#[tokio::test]
async fn reading_marks_messages_read_and_clears_the_unread_count() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let first = app.send_ok(&alice, bob.id, "one").await;
    let second = app.send_ok(&alice, bob.id, "two").await;
    let third = app.send_ok(&alice, bob.id, "three").await;

    let before = conversations(&app, &bob).await;
    assert_eq!(before[0]["unread_count"], 3);

    let res = app
        .post(
            "/api/messages/read",
            Some(&bob.token),
            &json!({"with": alice.id, "up_to_id": second["id"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let statuses: Vec<Value> = app
        .whole_history(&alice, bob.id)
        .await
        .iter()
        .map(|m| m["status"].clone())
        .collect();
    assert_eq!(statuses[..2], [json!("read"), json!("read")]);
    assert_ne!(statuses[2], "read", "{third} is not read");
    assert_eq!(conversations(&app, &bob).await[0]["unread_count"], 1);
    let _ = first;

    for body in [
        json!({"with": alice.id}),
        json!({"with": "x", "up_to_id": 1}),
        json!({"with": alice.id, "up_to_id": -1}),
    ] {
        let res = app
            .post("/api/messages/read", Some(&bob.token), &body)
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
    }
}

async fn conversations(app: &TestApp, who: &crate::helpers::Person) -> Vec<Value> {
    let res = app.get("/api/conversations", &who.token).await;
    expect_json(res, StatusCode::OK).await["conversations"]
        .as_array()
        .expect("conversations")
        .clone()
}

#[tokio::test]
async fn conversations_list_the_other_person_newest_activity_first() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let carol = app.person("carol").await;
    app.send_ok(&bob, alice.id, "from bob").await;
    let last = app.send_ok(&carol, alice.id, "from carol").await;
    assert!(
        conversations(&app, &app.person("dave").await)
            .await
            .is_empty()
    );

    let list = conversations(&app, &alice).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["user"]["id"], carol.id);
    assert_eq!(list[0]["user"]["username"], "carol");
    assert_eq!(list[0]["last_message"], last);
    assert_eq!(list[0]["unread_count"], 1);
    assert_eq!(list[0]["online"], false);
    assert_eq!(list[1]["user"]["id"], bob.id);

    // A socket makes Carol online.
    let _carol_socket = Ws::open(app.system.url(), &carol.token).await;
    eventually("carol to show online", || async {
        conversations(&app, &alice).await[0]["online"] == true
    })
    .await;
}

#[tokio::test]
async fn history_stays_complete_when_redis_is_flushed_or_stopped() {
    let mut app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.send_ok(&alice, bob.id, &format!("before {i}")).await["id"].clone());
    }

    // Redis restarts empty: the cache is gone, PostgreSQL answers.
    app.system.redis.restart().await;
    for i in 0..3 {
        let started = tokio::time::Instant::now();
        let res = app
            .send_message(&alice, bob.id, &format!("after restart {i}"), &new_id())
            .await;
        assert!(started.elapsed() < Duration::from_secs(10));
        if res.status() == StatusCode::CREATED {
            ids.push(expect_json(res, StatusCode::CREATED).await["message"]["id"].clone());
        } else {
            expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        }
    }
    let history: Vec<Value> = app
        .whole_history(&bob, alice.id)
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(history, ids);

    // Redis down: sends succeed or answer 503 within 10 s, history still complete.
    app.system.redis.stop().await;
    for i in 0..3 {
        let started = tokio::time::Instant::now();
        let res = app
            .send_message(&alice, bob.id, &format!("while down {i}"), &new_id())
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "answered in time"
        );
        if res.status() == StatusCode::CREATED {
            ids.push(expect_json(res, StatusCode::CREATED).await["message"]["id"].clone());
        } else {
            expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        }
    }
    let started = tokio::time::Instant::now();
    let res = app
        .get(
            &format!("/api/messages/{}/{}?limit=100", bob.id, alice.id),
            &bob.token,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let body = expect_json(res, StatusCode::OK).await;
    let history: Vec<Value> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(history, ids);
}
