//! History paging: newest first pages, `before`, `after`, `has_more`, limits.

use totilove_common::Code;

use crate::helpers::{App, code, ids};

/// `count` messages alternating between the two; their ids, oldest first.
async fn conversation(app: &App, a: i64, b: i64, count: usize) -> Vec<i64> {
    let mut sent = Vec::new();
    for i in 0..count {
        let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
        sent.push(app.sent(from, to, &format!("message {i}")).await.id);
    }
    sent
}

#[tokio::test]
async fn history_pages_walk_the_conversation_both_ways() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    // More than the cached window, so pages come from the cache and from
    // PostgreSQL; both must agree.
    let all = conversation(&app, alice, bob, 130).await;

    let newest = app
        .history(alice, bob, None, None, 10)
        .await
        .expect("a page");
    assert_eq!(ids(&newest.messages), all[120..]);
    assert!(newest.has_more);

    let default = app
        .history(bob, alice, None, None, 0)
        .await
        .expect("a page");
    assert_eq!(ids(&default.messages), all[80..], "the default limit is 50");

    let before = app
        .history(alice, bob, Some(all[120]), None, 10)
        .await
        .expect("a page");
    assert_eq!(ids(&before.messages), all[110..120]);
    assert!(before.has_more);

    let deep = app
        .history(alice, bob, Some(all[20]), None, 100)
        .await
        .expect("a page");
    assert_eq!(ids(&deep.messages), all[..20]);
    assert!(!deep.has_more);

    let first = app
        .history(alice, bob, None, Some(0), 10)
        .await
        .expect("a page");
    assert_eq!(ids(&first.messages), all[..10]);
    assert!(first.has_more);

    let middle = app
        .history(alice, bob, None, Some(all[59]), 100)
        .await
        .expect("a page");
    assert_eq!(ids(&middle.messages), all[60..]);
    assert!(!middle.has_more);

    let recent = app
        .history(alice, bob, None, Some(all[119]), 5)
        .await
        .expect("a page");
    assert_eq!(ids(&recent.messages), all[120..125]);
    assert!(recent.has_more);

    let past_the_end = app
        .history(alice, bob, None, Some(all[129]), 10)
        .await
        .expect("a page");
    assert!(past_the_end.messages.is_empty());
    assert!(!past_the_end.has_more);

    let whole = app
        .history(alice, bob, None, None, 100)
        .await
        .expect("a page");
    assert_eq!(ids(&whole.messages), all[30..]);
    assert!(whole.has_more);
}

#[tokio::test]
async fn a_short_conversation_is_whole_in_one_page() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let all = conversation(&app, alice, bob, 7).await;

    for _ in 0..2 {
        // Cold, then from the filled cache.
        let page = app
            .history(alice, bob, None, None, 0)
            .await
            .expect("a page");
        assert_eq!(ids(&page.messages), all);
        assert!(!page.has_more);
    }
    let older = app
        .history(bob, alice, Some(all[3]), None, 2)
        .await
        .expect("a page");
    assert_eq!(ids(&older.messages), all[1..3]);
    assert!(older.has_more);
    let oldest = app
        .history(bob, alice, Some(all[2]), None, 5)
        .await
        .expect("a page");
    assert_eq!(ids(&oldest.messages), all[..2]);
    assert!(!oldest.has_more);
}

#[tokio::test]
async fn history_refuses_bad_pages_and_unknown_people() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);

    let both = app.history(alice, bob, Some(5), Some(1), 10).await;
    let too_many = app.history(alice, bob, None, None, 101).await;
    let myself = app.history(alice, alice, None, None, 10).await;
    let negative = app.history(alice, bob, Some(-1), None, 10).await;
    let unknown = app.history(alice, i64::MAX, None, None, 10).await;

    assert_eq!(code(both).0, Code::InvalidRequest);
    assert_eq!(code(too_many).0, Code::InvalidRequest);
    assert_eq!(code(myself).0, Code::InvalidRequest);
    assert_eq!(code(negative).0, Code::InvalidRequest);
    assert_eq!(code(unknown).0, Code::NotFound);
    let empty = app
        .history(alice, bob, None, None, 10)
        .await
        .expect("a page");
    assert!(empty.messages.is_empty());
    assert!(!empty.has_more);
}
