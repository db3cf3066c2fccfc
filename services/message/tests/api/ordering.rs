//! Order without gaps under concurrent writers: ids grow in commit order for
//! every person, so `after=id` never misses a message and each person's event
//! chain (`prev_id`) has no holes — with one service instance or several.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, future::join_all};
use totilove_proto::message::v1 as pb;
use uuid::Uuid;

use crate::helpers::{App, Client, Watcher, another_message_service, ids, send, sync};

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
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Two senders × 200 concurrent sends into one conversation, and sends
/// across several other conversations at the same time, spread over
/// `clients` (service instances), while a reader follows each person with
/// sync. Checks history, sync and the readers; returns what was acknowledged
/// and the events seen.
async fn mixed_load(app: Arc<App>, clients: Vec<Client>) -> (Vec<pb::Message>, Watcher, [i64; 4]) {
    let people = [
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
        app.person("dave").await,
    ];
    let [alice, bob, carol, dave] = people;
    let mut watcher = app.watch(&people).await;
    let stop = Arc::new(AtomicBool::new(false));
    let followers: Vec<_> = people
        .iter()
        .map(|&p| tokio::spawn(follow(app.client.clone(), p, stop.clone())))
        .collect();

    let streams = [
        (alice, bob, 200),
        (bob, alice, 200),
        (carol, alice, 50),
        (dave, bob, 50),
        (carol, dave, 50),
        (alice, dave, 50),
    ];
    let senders = streams.iter().enumerate().map(|(k, &(from, to, count))| {
        let client = clients[k % clients.len()].clone();
        tokio::spawn(async move {
            futures::stream::iter(0..count)
                .map(|i| {
                    let client = client.clone();
                    async move {
                        let content = format!("{from}→{to} #{i}");
                        let id = Uuid::new_v4().to_string();
                        let answer = send(&client, from, to, &content, &id).await;
                        answer
                            .expect("the send succeeds")
                            .message
                            .expect("a message")
                    }
                })
                .buffer_unordered(50)
                .collect::<Vec<pb::Message>>()
                .await
        })
    });
    let acked: Vec<pb::Message> = join_all(senders)
        .await
        .into_iter()
        .flat_map(|sent| sent.expect("a sender ran"))
        .collect();
    stop.store(true, Ordering::SeqCst);

    // Once every event is out, the cache writes before them are done too.
    let involving = |p: i64| {
        acked
            .iter()
            .filter(move |m| m.sender_id == p || m.receiver_id == p)
            .map(|m| m.id)
            .collect::<BTreeSet<i64>>()
    };
    let expected_counts: HashMap<i64, usize> =
        people.iter().map(|&p| (p, involving(p).len())).collect();
    watcher
        .until(|seen| {
            people
                .iter()
                .all(|p| Watcher::count_messages(seen, *p) >= expected_counts[p])
        })
        .await;

    // Every acknowledged message is in its conversation's history exactly once.
    let mut expected: Vec<i64> = involving(alice)
        .intersection(&involving(bob))
        .copied()
        .collect();
    expected.sort_unstable();
    assert_eq!(expected.len(), 400);
    assert_eq!(ids(&app.whole_history(alice, bob).await), expected);

    for (person, follower) in people.iter().zip(followers) {
        let mine: Vec<i64> = involving(*person).into_iter().collect();
        // Sync hands out everything, in strictly increasing id order...
        assert_eq!(
            ids(&app.whole_sync(*person).await),
            mine,
            "sync of {person}"
        );
        // ...and a reader following along never met a smaller id later.
        let followed = follower.await.expect("the follower ran");
        assert_eq!(followed, mine, "a reader following {person} missed nothing");
    }
    (acked, watcher, people)
}

/// `prev_id` chains each event to the person's previous message: no holes.
fn assert_chained(events: &[(i64, i64)], synced: &[i64], person: i64) {
    let mut previous = 0;
    for (prev_id, id) in events {
        assert_eq!(*prev_id, previous, "the event chain of {person} has a hole");
        previous = *id;
    }
    let event_ids: Vec<i64> = events.iter().map(|e| e.1).collect();
    assert_eq!(event_ids, synced);
}

/// These tests send far faster than one person may.
const UNLIMITED: (&str, &str) = ("SEND_BURST", "1000000");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_never_leave_a_gap_in_anyones_order() {
    // Small batches, so many transactions interleave with the readers.
    let app = Arc::new(App::start_with(&[("MESSAGE_MAX_BATCH", "16"), UNLIMITED]).await);

    let (_, watcher, people) = mixed_load(app.clone(), vec![app.client.clone()]).await;

    // One instance publishes in commit order: the chain holds as it arrives.
    for person in people {
        let synced = ids(&app.whole_sync(person).await);
        assert_chained(&watcher.message_events(person), &synced, person);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_service_instances_share_one_commit_order() {
    let app = Arc::new(App::start_with(&[("MESSAGE_MAX_BATCH", "16"), UNLIMITED]).await);
    let second = another_message_service(&app, &[UNLIMITED]).await;

    let (_, watcher, people) = mixed_load(app.clone(), vec![app.client.clone(), second]).await;

    // Two instances may publish out of order (gateways repair that by sync),
    // but the chain itself, in id order, has no holes.
    for person in people {
        let synced = ids(&app.whole_sync(person).await);
        let mut events = watcher.message_events(person);
        events.sort_unstable_by_key(|e| e.1);
        assert_chained(&events, &synced, person);
    }
}
