//! Delivered and read marks: statuses, unread counts, and the `status` event
//! to the sender.

use totilove_common::{Code, Error, events::Event};
use totilove_proto::message::v1::{
    ConversationsRequest, MarkDeliveredRequest, MarkReadRequest, MessageStatus,
};

use crate::helpers::{App, Watcher, code};

const SENT: i32 = MessageStatus::Sent as i32;
const DELIVERED: i32 = MessageStatus::Delivered as i32;
const READ: i32 = MessageStatus::Read as i32;

async fn statuses(app: &App, me: i64, other: i64) -> Vec<i32> {
    app.whole_history(me, other)
        .await
        .iter()
        .map(|m| m.status)
        .collect()
}

async fn unread(app: &App, me: i64, other: i64) -> i64 {
    app.client
        .clone()
        .conversations(ConversationsRequest { user_id: me })
        .await
        .expect("conversations answer")
        .into_inner()
        .conversations
        .iter()
        .find(|c| c.other_user_id == other)
        .map_or(0, |c| c.unread_count)
}

/// Waits for `count` status events on `person`'s channel; all of them.
async fn status_events(
    watcher: &mut Watcher,
    person: i64,
    count: usize,
) -> Vec<(i64, i64, String)> {
    let of = |events: Option<&Vec<Event>>| -> Vec<(i64, i64, String)> {
        events
            .into_iter()
            .flatten()
            .filter_map(|e| match e {
                Event::Status {
                    with,
                    up_to_id,
                    status,
                } => Some((*with, *up_to_id, status.as_str().to_owned())),
                _ => None,
            })
            .collect()
    };
    watcher
        .until(|seen| of(seen.get(&person)).len() >= count)
        .await;
    of(watcher.seen.get(&person))
}

#[tokio::test]
async fn reading_marks_messages_read_counts_them_off_and_tells_the_sender() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut watcher = app.watch(&[alice, bob]).await;
    app.sent(alice, bob, "one").await;
    let m2 = app.sent(alice, bob, "two").await.id;
    let b1 = app.sent(bob, alice, "mine").await.id;
    let m3 = app.sent(alice, bob, "three").await.id;
    assert_eq!(unread(&app, bob, alice).await, 3);
    assert_eq!(unread(&app, alice, bob).await, 1);

    assert_eq!(app.mark_read(bob, alice, m2).await, m2);

    assert_eq!(statuses(&app, bob, alice).await, [READ, READ, SENT, SENT]);
    assert_eq!(unread(&app, bob, alice).await, 1);
    // Again: nothing changes.
    assert_eq!(app.mark_read(bob, alice, m2).await, 0);
    // Up to "everything": only the rest of alice's messages change.
    assert_eq!(app.mark_read(bob, alice, i64::MAX).await, m3);
    assert_eq!(statuses(&app, bob, alice).await, [READ, READ, SENT, READ]);
    assert_eq!(unread(&app, bob, alice).await, 0);
    assert_eq!(app.mark_read(alice, bob, b1).await, b1);
    assert_eq!(unread(&app, alice, bob).await, 0);

    // One event per mark that changed something, to the sender, in order.
    assert_eq!(
        status_events(&mut watcher, alice, 2).await,
        [(bob, m2, "read".to_owned()), (bob, m3, "read".to_owned())]
    );
    assert_eq!(
        status_events(&mut watcher, bob, 1).await,
        [(alice, b1, "read".to_owned())]
    );
}

#[tokio::test]
async fn delivery_marks_move_sent_messages_to_delivered_and_tell_the_sender() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut watcher = app.watch(&[alice]).await;
    let m1 = app.sent(alice, bob, "one").await.id;
    let m2 = app.sent(alice, bob, "two").await.id;

    assert_eq!(app.mark_delivered(bob, alice, m1).await, m1);
    assert_eq!(statuses(&app, alice, bob).await, [DELIVERED, SENT]);
    assert_eq!(unread(&app, bob, alice).await, 2, "delivered is not read");

    assert_eq!(app.mark_read(bob, alice, m2).await, m2);
    assert_eq!(statuses(&app, alice, bob).await, [READ, READ]);
    assert_eq!(
        app.mark_delivered(bob, alice, m2).await,
        0,
        "read is past delivered"
    );

    assert_eq!(
        status_events(&mut watcher, alice, 2).await,
        [
            (bob, m1, "delivered".to_owned()),
            (bob, m2, "read".to_owned())
        ]
    );
}

/// A read by someone who sends no read receipts; the highest id changed.
async fn read_without_receipts(app: &App, reader: i64, with: i64, up_to_id: i64) -> i64 {
    app.client
        .clone()
        .mark_read(MarkReadRequest {
            user_id: reader,
            with_user_id: with,
            up_to_id,
            receipts: Some(false),
        })
        .await
        .expect("mark read answers")
        .into_inner()
        .changed_up_to_id
}

#[tokio::test]
async fn a_read_without_receipts_counts_messages_off_but_shows_the_sender_only_delivered() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut watcher = app.watch(&[alice]).await;
    let m1 = app.sent(alice, bob, "one").await.id;
    let m2 = app.sent(alice, bob, "two").await.id;
    let m3 = app.sent(alice, bob, "three").await.id;
    assert_eq!(app.mark_delivered(bob, alice, m1).await, m1);

    // Reading proves m2 arrived: delivered, not read.
    assert_eq!(read_without_receipts(&app, bob, alice, m2).await, m2);
    assert_eq!(
        statuses(&app, alice, bob).await,
        [DELIVERED, DELIVERED, SENT]
    );
    assert_eq!(unread(&app, bob, alice).await, 1);
    assert_eq!(read_without_receipts(&app, bob, alice, m2).await, 0);
    assert_eq!(unread(&app, bob, alice).await, 1, "counted off once");

    // A read with receipts later shows what it covers as read, and counts
    // off only what was not seen yet.
    assert_eq!(app.mark_read(bob, alice, m3).await, m3);
    assert_eq!(statuses(&app, alice, bob).await, [READ, READ, READ]);
    assert_eq!(unread(&app, bob, alice).await, 0);

    assert_eq!(
        status_events(&mut watcher, alice, 3).await,
        [
            (bob, m1, "delivered".to_owned()),
            (bob, m2, "delivered".to_owned()),
            (bob, m3, "read".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_mark_never_reaches_messages_that_come_after_it() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    app.sent(alice, bob, "old").await;

    app.mark_read(bob, alice, i64::MAX).await;
    app.mark_delivered(bob, alice, i64::MAX).await;
    app.sent(alice, bob, "new").await;

    assert_eq!(statuses(&app, bob, alice).await, [READ, SENT]);
    assert_eq!(unread(&app, bob, alice).await, 1);
}

#[tokio::test]
async fn marks_that_change_nothing_tell_no_one() {
    let app = App::start().await;
    let (alice, bob, carol) = (
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    );
    let mut watcher = app.watch(&[alice, bob]).await;
    let m1 = app.sent(alice, bob, "hi").await.id;

    assert_eq!(app.mark_read(carol, alice, m1).await, 0, "no conversation");
    assert_eq!(app.mark_read(alice, bob, m1).await, 0, "my own message");
    assert_eq!(
        app.mark_delivered(bob, alice, 0).await,
        0,
        "nothing up to 0"
    );
    assert_eq!(app.mark_read(bob, alice, m1).await, m1);

    // The one real change is the only event (it comes after the others).
    assert_eq!(
        status_events(&mut watcher, alice, 1).await,
        [(bob, m1, "read".to_owned())]
    );
    assert!(status_events(&mut watcher, bob, 0).await.is_empty());
}

#[tokio::test]
async fn marks_refuse_bad_input() {
    let app = App::start().await;
    let alice = app.person("alice").await;
    let mut client = app.client.clone();

    let myself = client
        .mark_read(MarkReadRequest {
            user_id: alice,
            with_user_id: alice,
            up_to_id: 5,
            ..Default::default()
        })
        .await;
    let negative = client
        .mark_delivered(MarkDeliveredRequest {
            user_id: alice,
            with_user_id: alice + 1,
            up_to_id: -1,
        })
        .await;
    let nobody = client
        .mark_read(MarkReadRequest {
            user_id: 0,
            with_user_id: alice,
            up_to_id: 5,
            ..Default::default()
        })
        .await;

    for refused in [myself, negative, nobody] {
        assert_eq!(code(refused.map_err(Error::from)).0, Code::InvalidRequest);
    }
}
