//! Sending: storing, idempotent retries, validation, who may message whom.

use futures::future::join_all;
use totilove_common::Code;
use totilove_proto::message::v1::MessageStatus;
use uuid::Uuid;

use crate::helpers::{App, audit_trail, code, send};

#[tokio::test]
async fn a_sent_message_is_stored_and_returned_with_status_sent() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let client_msg_id = Uuid::new_v4().to_string();

    let answer = send(&app.client, alice, bob, "hello Bob", &client_msg_id)
        .await
        .expect("the send succeeds");

    assert!(answer.created);
    let message = answer.message.expect("a message");
    assert!(message.id > 0);
    assert_eq!(message.sender_id, alice);
    assert_eq!(message.receiver_id, bob);
    assert_eq!(message.content, "hello Bob");
    assert_eq!(message.client_msg_id, client_msg_id);
    assert_eq!(message.status, MessageStatus::Sent as i32);
    assert!(message.created_at.is_some());
    assert_eq!(app.whole_history(bob, alice).await, vec![message]);
}

#[tokio::test]
async fn a_retry_with_the_same_client_msg_id_answers_the_stored_message() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let client_msg_id = Uuid::new_v4().to_string();

    let first = send(&app.client, alice, bob, "once", &client_msg_id).await;
    let retry = send(&app.client, alice, bob, "once", &client_msg_id).await;

    let (first, retry) = (first.expect("stored"), retry.expect("answered"));
    assert!(first.created);
    assert!(!retry.created);
    assert_eq!(first.message, retry.message);
    assert_eq!(app.whole_history(alice, bob).await.len(), 1);
}

#[tokio::test]
async fn concurrent_retries_store_one_message_and_all_get_it() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let client_msg_id = Uuid::new_v4().to_string();

    let answers =
        join_all((0..20).map(|_| send(&app.client, alice, bob, "just once", &client_msg_id))).await;

    let answers: Vec<_> = answers.into_iter().map(|a| a.expect("answered")).collect();
    assert_eq!(answers.iter().filter(|a| a.created).count(), 1);
    assert!(answers.iter().all(|a| a.message == answers[0].message));
    assert_eq!(app.whole_history(alice, bob).await.len(), 1);
}

#[tokio::test]
async fn reusing_a_client_msg_id_for_other_content_or_receiver_is_an_idempotency_mismatch() {
    let app = App::start().await;
    let (alice, bob, carol) = (
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    );
    let client_msg_id = Uuid::new_v4().to_string();
    send(&app.client, alice, bob, "first", &client_msg_id)
        .await
        .expect("stored");

    let other_content = send(&app.client, alice, bob, "second", &client_msg_id).await;
    let other_receiver = send(&app.client, alice, carol, "first", &client_msg_id).await;

    assert_eq!(code(other_content).0, Code::IdempotencyMismatch);
    assert_eq!(code(other_receiver).0, Code::IdempotencyMismatch);
    // Another sender may use the same id: keys are per sender.
    assert!(
        send(&app.client, bob, alice, "first", &client_msg_id)
            .await
            .is_ok()
    );
    assert_eq!(app.whole_history(alice, bob).await.len(), 2);
    assert!(app.whole_history(alice, carol).await.is_empty());
}

#[tokio::test]
async fn content_is_stored_and_returned_byte_for_byte() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let texts = [
        "  leading and trailing whitespace kept \n".to_owned(),
        "<script>alert('x')</script> &amp; \"quotes\"".to_owned(),
        "مرحبا \u{202e}RTL\u{202c} 😀👩‍👩‍👧 e\u{301}".to_owned(),
        r#"{"id":1,"sender_id":2,"status":"sent"} \"status\":\"sent\""#.to_owned(),
        "😀".repeat(4000),
    ];

    for text in &texts {
        assert_eq!(&app.sent(alice, bob, text).await.content, text);
    }

    let stored: Vec<String> = app
        .whole_history(bob, alice)
        .await
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(stored, texts);
}

#[tokio::test]
async fn every_invalid_send_is_refused_naming_the_field() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let ok_id = Uuid::new_v4().to_string();
    let cases = [
        (alice, bob, String::new(), ok_id.clone(), "content"),
        (
            alice,
            bob,
            " \t\n\u{3000}".to_owned(),
            ok_id.clone(),
            "content",
        ),
        (alice, bob, "x".repeat(4001), ok_id.clone(), "content"),
        (alice, bob, "a\0b".to_owned(), ok_id.clone(), "content"),
        (
            alice,
            bob,
            "hi".to_owned(),
            "not-a-uuid".to_owned(),
            "client_msg_id",
        ),
        (alice, bob, "hi".to_owned(), String::new(), "client_msg_id"),
        (alice, alice, "hi".to_owned(), ok_id.clone(), "to"),
        (alice, 0, "hi".to_owned(), ok_id.clone(), "to"),
        (alice, -5, "hi".to_owned(), ok_id.clone(), "to"),
    ];

    for (from, to, content, client_msg_id, field) in cases {
        let (code, message) = code(send(&app.client, from, to, &content, &client_msg_id).await);
        assert_eq!(code, Code::InvalidRequest, "{field}: {message}");
        assert!(message.contains(field), "{message:?} names {field}");
    }
    assert!(app.whole_history(alice, bob).await.is_empty());
}

#[tokio::test]
async fn sending_to_an_unknown_person_is_not_found() {
    let app = App::start().await;
    let alice = app.person("alice").await;

    let (code, _) = code(app.send(alice, i64::MAX, "anyone there?").await);

    assert_eq!(code, Code::NotFound);
}

#[tokio::test]
async fn sending_is_refused_when_either_person_blocks_the_other() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);

    app.block(bob, alice).await;

    assert_eq!(code(app.send(alice, bob, "hi").await).0, Code::Blocked);
    assert_eq!(code(app.send(bob, alice, "hi").await).0, Code::Blocked);
    assert!(app.whole_history(alice, bob).await.is_empty());

    // Each refusal is in the audit trail, naming whom it was for (and not
    // what was written).
    let trail = audit_trail(&app).await;
    let refusal = |to: i64| serde_json::json!({"to": to, "reason": "blocked"});
    assert_eq!(
        trail,
        [
            ("send_refused".to_owned(), alice, refusal(bob)),
            ("send_refused".to_owned(), bob, refusal(alice)),
        ]
    );
}
