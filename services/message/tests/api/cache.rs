//! The Redis cache of history: used when filled, never answering wrong —
//! cold after a restart, bypassed while Redis is down, dropped when it missed
//! something, and kept in step with status changes.

use fred::interfaces::{KeysInterface, ListInterface};
use totilove_proto::message::v1::MessageStatus;

use crate::helpers::{App, chat_key, ids, redis, until_cached};

#[tokio::test]
async fn history_is_answered_from_the_cache_once_filled_and_new_messages_join_it() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut watcher = app.watch(&[alice]).await;
    let first = app.sent(alice, bob, "original").await;
    let redis = redis(&app).await;
    until_cached(&app, &redis, alice, bob).await;

    // Spoil the cached copy: if history shows it, history reads the cache.
    let cached: String = redis
        .lindex(chat_key(alice, bob), 0)
        .await
        .expect("an entry");
    let spoiled = cached.replace("original", "from the cache");
    let _: () = redis
        .lset(chat_key(alice, bob), 0, spoiled)
        .await
        .expect("LSET works");
    let second = app.sent(bob, alice, "appended").await;
    watcher.until_message(alice, second.id).await;

    let page = app
        .history(bob, alice, None, None, 10)
        .await
        .expect("a page");
    assert_eq!(ids(&page.messages), vec![first.id, second.id]);
    assert_eq!(page.messages[0].content, "from the cache");
    assert_eq!(page.messages[1].content, "appended");
}

#[tokio::test]
async fn a_cached_history_that_missed_a_batch_is_dropped_not_answered_from() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut watcher = app.watch(&[alice]).await;
    let mut all = vec![app.sent(alice, bob, "one").await.id];
    all.push(app.sent(bob, alice, "two").await.id);
    watcher.until_message(alice, all[1]).await;
    let redis = redis(&app).await;
    until_cached(&app, &redis, alice, bob).await;

    // As if the append of "two" had been lost.
    let _: Option<String> = redis.rpop(chat_key(alice, bob), None).await.expect("RPOP");
    all.push(app.sent(alice, bob, "three").await.id);
    watcher.until_message(alice, all[2]).await;

    let page = app
        .history(alice, bob, None, None, 10)
        .await
        .expect("a page");
    assert_eq!(ids(&page.messages), all);
}

#[tokio::test]
async fn history_is_complete_when_redis_restarts_empty() {
    let mut app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut all = Vec::new();
    for i in 0..10 {
        all.push(app.sent(alice, bob, &format!("before {i}")).await.id);
    }
    app.history(alice, bob, None, None, 50)
        .await
        .expect("a page");

    app.system.redis.restart().await;
    for i in 0..5 {
        all.push(app.sent(bob, alice, &format!("after {i}")).await.id);
    }

    for _ in 0..3 {
        let page = app
            .history(alice, bob, None, None, 50)
            .await
            .expect("a page");
        assert_eq!(ids(&page.messages), all);
    }
    let redis = redis(&app).await;
    let mut watcher = app.watch(&[alice]).await;
    until_cached(&app, &redis, alice, bob).await;
    all.push(app.sent(alice, bob, "once filled again").await.id);
    watcher
        .until_message(alice, *all.last().unwrap_or(&0))
        .await;
    let page = app
        .history(bob, alice, None, None, 50)
        .await
        .expect("a page");
    assert_eq!(ids(&page.messages), all);
}

#[tokio::test]
async fn sends_and_history_work_from_postgresql_while_redis_is_down() {
    let mut app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut all = vec![app.sent(alice, bob, "before").await.id];
    app.history(alice, bob, None, None, 50)
        .await
        .expect("a page");

    app.system.redis.stop().await;
    for i in 0..5 {
        all.push(app.sent(bob, alice, &format!("while down {i}")).await.id);
    }
    let page = app
        .history(alice, bob, None, None, 50)
        .await
        .expect("a page");
    assert_eq!(ids(&page.messages), all);

    app.system.redis.restart().await;
    all.push(app.sent(alice, bob, "after").await.id);
    for _ in 0..3 {
        let page = app
            .history(alice, bob, None, None, 50)
            .await
            .expect("a page");
        assert_eq!(ids(&page.messages), all);
    }
}

#[tokio::test]
async fn status_changes_reach_the_cached_history() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let sent: Vec<i64> = {
        let mut sent = Vec::new();
        for i in 0..3 {
            sent.push(app.sent(alice, bob, &format!("m{i}")).await.id);
        }
        sent
    };
    let redis = redis(&app).await;
    until_cached(&app, &redis, bob, alice).await;

    app.mark_delivered(bob, alice, sent[2]).await;
    app.mark_read(bob, alice, sent[1]).await;

    let statuses: Vec<i32> = app
        .history(alice, bob, None, None, 10)
        .await
        .expect("a page")
        .messages
        .iter()
        .map(|m| m.status)
        .collect();
    let (read, delivered) = (MessageStatus::Read as i32, MessageStatus::Delivered as i32);
    assert_eq!(statuses, vec![read, read, delivered]);
    assert_eq!(
        redis
            .exists::<i64, _>(chat_key(alice, bob))
            .await
            .expect("EXISTS"),
        1,
        "the cached list was updated in place"
    );
}
