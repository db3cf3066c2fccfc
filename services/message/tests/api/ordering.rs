//! Order without gaps under concurrent writers: ids grow in commit order for
//! every person, so `after=id` never misses a message and each person's event
//! chain (`prev_id`) has no holes.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use futures::future::join_all;
use totilove_proto::message::v1 as pb;

use crate::helpers::{App, Client, Watcher, ids, sync};

/// Reads `user`'s messages with `Sync(after = last seen)` until `stop`, then
/// once more; every id it is handed must be above the last one it saw.
async fn follow(client: Client, user: i64, stop: Arc<AtomicBool>) -> Vec<i64> {
    let mut seen: Vec<i64> = Vec::new();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        loop {
            let after = seen.last().copied().unwrap_or(0);
            let page = sync(&client, user, after, 50).await;
            for id in ids(&page.messages) {
                assert!(id > *seen.last().unwrap_or(&0), "sync went backwards");
                seen.push(id);
            }
            if !page.more {
                break;
            }
        }
        if stopping {
            return seen;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn concurrent_senders_never_leave_a_gap_in_anyones_order() {
    let app = App::start().await;
    let [alice, bob, carol, dave] = [
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
        app.person("dave").await,
    ];
    let people = [alice, bob, carol, dave];
    let mut watcher = app.watch(&people).await;
    let stop = Arc::new(AtomicBool::new(false));
    let followers: Vec<_> = people
        .iter()
        .map(|&p| tokio::spawn(follow(app.client.clone(), p, stop.clone())))
        .collect();

    // Two senders × 200 concurrent sends into one conversation, and sends
    // across several other conversations at the same time.
    let mut plan: Vec<(i64, i64, usize)> = Vec::new();
    for i in 0..200 {
        plan.push((alice, bob, i));
        plan.push((bob, alice, i));
    }
    for i in 0..50 {
        plan.extend([(carol, alice, i), (dave, bob, i), (carol, dave, i), (alice, dave, i)]);
    }
    let sends = plan.iter().map(|&(from, to, i)| {
        let app = &app;
        async move { app.sent(from, to, &format!("{from}→{to} #{i}")).await }
    });
    let acked: Vec<pb::Message> = join_all(sends).await;
    stop.store(true, Ordering::SeqCst);

    // Once every event is out, the cache writes before them are done too.
    let expected_counts: HashMap<i64, usize> = people
        .iter()
        .map(|&p| (p, acked.iter().filter(|m| m.sender_id == p || m.receiver_id == p).count()))
        .collect();
    watcher
        .until(|seen| {
            people
                .iter()
                .all(|p| Watcher::count_messages(seen, *p) >= expected_counts[p])
        })
        .await;
    // Every acknowledged message is in its conversation's history exactly once.
    let history = app.whole_history(alice, bob).await;
    let mut expected: Vec<i64> = acked
        .iter()
        .filter(|m| [m.sender_id, m.receiver_id] == [alice, bob] || [m.sender_id, m.receiver_id] == [bob, alice])
        .map(|m| m.id)
        .collect();
    expected.sort_unstable();
    assert_eq!(expected.len(), 400);
    assert_eq!(ids(&history), expected);

    for (person, follower) in people.iter().zip(followers) {
        let mine: BTreeSet<i64> = acked
            .iter()
            .filter(|m| m.sender_id == *person || m.receiver_id == *person)
            .map(|m| m.id)
            .collect();
        let mine: Vec<i64> = mine.into_iter().collect();
        // Sync hands out everything, in strictly increasing id order...
        let synced = ids(&app.whole_sync(*person).await);
        assert_eq!(synced, mine, "sync of {person}");
        // ...and a reader following along never met a smaller id later.
        let followed = follower.await.expect("the follower ran");
        assert_eq!(followed, mine, "a reader following {person} missed nothing");
    }

    // Each person's events chain without holes, in id order.
    for person in people {
        let events = watcher.message_events(person);
        let mut previous = 0;
        for (prev_id, id) in &events {
            assert_eq!(*prev_id, previous, "the event chain of {person} has a hole");
            previous = *id;
        }
        let event_ids: Vec<i64> = events.iter().map(|e| e.1).collect();
        assert_eq!(event_ids, ids(&app.whole_sync(person).await));
    }
}
