//! Conversations, partners and sync.

use totilove_common::{Code, Error};
use totilove_proto::message::v1::{
    ConversationsRequest, HeadRequest, PartnersRequest, SyncRequest,
};

use crate::helpers::{App, code, ids};

async fn partners(app: &App, user: i64) -> Vec<i64> {
    app.client
        .clone()
        .partners(PartnersRequest { user_id: user })
        .await
        .expect("partners answer")
        .into_inner()
        .user_ids
}

#[tokio::test]
async fn conversations_come_newest_activity_first_with_last_message_and_unread_count() {
    let app = App::start().await;
    let [alice, bob, carol, dave] = [
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
        app.person("dave").await,
    ];
    app.sent(bob, alice, "from bob").await;
    app.sent(carol, alice, "from carol 1").await;
    app.sent(carol, alice, "from carol 2").await;
    app.sent(alice, dave, "to dave").await;
    let last = app.sent(alice, bob, "to bob").await;

    let conversations = app
        .client
        .clone()
        .conversations(ConversationsRequest { user_id: alice })
        .await
        .expect("conversations answer")
        .into_inner()
        .conversations;

    let summary: Vec<(i64, i64, String)> = conversations
        .iter()
        .map(|c| {
            let message = c.last_message.clone().expect("a last message");
            (c.other_user_id, c.unread_count, message.content)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (bob, 1, "to bob".to_owned()),
            (dave, 0, "to dave".to_owned()),
            (carol, 2, "from carol 2".to_owned()),
        ]
    );
    assert_eq!(conversations[0].last_message, Some(last));
}

#[tokio::test]
async fn partners_are_everyone_someone_shares_a_conversation_with() {
    let app = App::start().await;
    let [alice, bob, carol, dave] = [
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
        app.person("dave").await,
    ];
    let mut watcher = app.watch(&[alice]).await;
    app.sent(alice, bob, "hi").await;
    app.sent(carol, alice, "hi").await;
    let mut expected = vec![bob, carol];
    expected.sort_unstable();

    // Cold, then from the filled cache.
    assert_eq!(partners(&app, alice).await, expected);
    assert_eq!(partners(&app, alice).await, expected);
    assert!(partners(&app, dave).await.is_empty());

    let to_dave = app.sent(dave, alice, "hello").await.id;
    watcher.until_message(alice, to_dave).await;
    expected.push(dave);
    expected.sort_unstable();
    assert_eq!(partners(&app, alice).await, expected);
    assert_eq!(partners(&app, dave).await, [alice]);
}

#[tokio::test]
async fn sync_pages_through_everything_to_or_from_a_person_in_id_order() {
    let app = App::start().await;
    let [alice, bob, carol] = [
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    ];
    let m1 = app.sent(alice, bob, "1").await.id;
    app.sent(bob, carol, "not alice's").await;
    let m2 = app.sent(carol, alice, "2").await.id;
    let m3 = app.sent(bob, alice, "3").await.id;

    let first = app.sync(alice, 0, 2).await;
    assert_eq!(ids(&first.messages), [m1, m2]);
    assert!(first.more);
    let rest = app.sync(alice, m2, 2).await;
    assert_eq!(ids(&rest.messages), [m3]);
    assert!(!rest.more);
    let none = app.sync(alice, m3, 0).await;
    assert!(none.messages.is_empty() && !none.more);

    let mut client = app.client.clone();
    let too_many = client
        .sync(SyncRequest {
            user_id: alice,
            after: 0,
            limit: 1001,
        })
        .await
        .map_err(Error::from);
    let negative = client
        .sync(SyncRequest {
            user_id: alice,
            after: -1,
            limit: 10,
        })
        .await
        .map_err(Error::from);
    assert_eq!(code(too_many).0, Code::InvalidRequest);
    assert_eq!(code(negative).0, Code::InvalidRequest);
}

#[tokio::test]
async fn head_is_the_newest_message_to_or_from_a_person_where_their_event_chain_stands() {
    let app = App::start().await;
    let [alice, bob, carol] = [
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    ];
    let head = |user: i64| {
        let mut client = app.client.clone();
        async move {
            client
                .head(HeadRequest { user_id: user })
                .await
                .expect("head answers")
                .into_inner()
                .last_message_id
        }
    };
    assert_eq!(head(alice).await, 0);

    let to_bob = app.sent(alice, bob, "1").await.id;
    let mut watcher = app.watch(&[alice]).await;
    let from_carol = app.sent(carol, alice, "2").await.id;
    let not_alices = app.sent(bob, carol, "not alice's").await.id;

    assert_eq!(head(alice).await, from_carol);
    assert_eq!(head(bob).await, not_alices);
    // The next event of alice's chain starts where her head stood.
    watcher.until_message(alice, from_carol).await;
    assert_eq!(watcher.message_events(alice), [(to_bob, from_carol)]);
}
