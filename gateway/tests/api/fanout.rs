//! Live delivery across gateway instances sharing Redis: every socket gets
//! every message to or from its person exactly once, in id order, under
//! concurrency, across gaps and across Redis restarts.

use std::{collections::BTreeSet, time::Duration};

use fred::{
    clients::Client,
    interfaces::{ClientLike, PubsubInterface},
    types::{Builder, config::Config},
};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use totilove_common::events::{Event, MessageJson, user_channel};
use totilove_testkit::eventually;

use crate::{
    helpers::{Person, TestApp, expect_json},
    ws_helpers::{Ws, close_code, new_id},
};

/// A stored message: (sender, receiver, id).
type Acked = (i64, i64, i64);

fn id_of(message: &Value) -> i64 {
    message["id"].as_i64().expect("a message id")
}

/// Reads `count` `message` events from `ws` (other events skipped); the messages.
async fn collect_messages(mut ws: Ws, count: usize) -> (Ws, Vec<Value>) {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        let event = ws.next().await;
        if event["type"] == "message" {
            got.push(event["message"].clone());
        }
    }
    (ws, got)
}

/// Asserts `got` holds exactly `expected`, each once, in increasing id order.
fn assert_exactly_once_in_order(got: &[Value], expected: &BTreeSet<i64>, who: &str) {
    let ids: Vec<i64> = got.iter().map(id_of).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{who}: ids strictly increase (no duplicate, no reordering): {ids:?}"
    );
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(&set, expected, "{who}: exactly the expected messages");
}

#[tokio::test]
async fn messages_flow_both_ways_live_between_two_gateway_instances() {
    let mut app = TestApp::start().await;
    let second = app.system.spawn_gateway().await;
    let g1 = app.system.url().to_owned();
    let g2 = app.system.gateways[second].url.clone();
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;

    let mut alice_1 = Ws::open(&g1, &alice.token).await;
    let mut alice_2 = Ws::open(&g2, &alice.token).await;
    let mut bob_2 = Ws::open(&g2, &bob.token).await;

    // Alice on instance 1 → Bob on instance 2; Alice's other socket sees it too.
    let m1 = alice_1.send_message(bob.id, "hello from one").await;
    assert_eq!(bob_2.next_of("message").await["message"], m1);
    assert_eq!(alice_2.next_of("message").await["message"], m1);

    // Bob → Alice: both of her sockets.
    let m2 = bob_2.send_message(alice.id, "hello from two").await;
    assert_eq!(alice_1.next_of("message").await["message"], m2);
    assert_eq!(alice_2.next_of("message").await["message"], m2);

    // A REST send reaches every socket of the sender as a `message`.
    let m3 = app.send_ok(&alice, bob.id, "from the web form").await;
    assert_eq!(alice_1.next_of("message").await["message"]["id"], m3["id"]);
    assert_eq!(alice_2.next_of("message").await["message"]["id"], m3["id"]);
    assert_eq!(bob_2.next_of("message").await["message"]["id"], m3["id"]);

    // Nothing twice: the sending socket got `sent`, never its own `message`.
    for ws in [&mut alice_1, &mut alice_2, &mut bob_2] {
        ws.ping().await;
        ws.expect_none_of("message", Duration::from_millis(300))
            .await;
    }
}

#[tokio::test]
async fn concurrent_rest_and_socket_sends_reach_every_socket_exactly_once_in_id_order() {
    let mut app = TestApp::start_with(&[("SEND_BURST", "100000")]).await;
    let second = app.system.spawn_gateway().await;
    let g1 = app.system.url().to_owned();
    let g2 = app.system.gateways[second].url.clone();
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let carol = app.person("carol").await;
    let dave = app.person("dave").await;
    let erin = app.person("erin").await;
    let frank = app.person("frank").await;
    let before = id_of(&app.send_ok(&erin, carol.id, "before everything").await);
    // Frank sends over sockets, one on each gateway, while the others use REST.
    let frank_sockets = [
        Ws::open(&g1, &frank.token).await,
        Ws::open(&g2, &frank.token).await,
    ];

    let sockets = vec![
        (alice.clone(), Ws::open(&g1, &alice.token).await),
        (alice.clone(), Ws::open(&g2, &alice.token).await),
        (bob.clone(), Ws::open(&g1, &bob.token).await),
        (bob.clone(), Ws::open(&g2, &bob.token).await),
        (carol.clone(), Ws::open(&g2, &carol.token).await),
        (dave.clone(), Ws::open(&g1, &dave.token).await),
    ];

    // Who sends how many to whom: one busy conversation, and several others.
    let plan: Vec<(&Person, &Person, usize)> = vec![
        (&alice, &bob, 200),
        (&bob, &alice, 200),
        (&carol, &dave, 40),
        (&erin, &alice, 40),
        (&dave, &bob, 40),
    ];
    let over_sockets: Vec<(&Person, &Person, usize)> =
        vec![(&frank, &alice, 60), (&frank, &bob, 60)];
    let count_for = |who: &Person| -> usize {
        plan.iter()
            .chain(&over_sockets)
            .filter(|(from, to, _)| from.id == who.id || to.id == who.id)
            .map(|(_, _, n)| n)
            .sum()
    };
    // Read every socket while the sends are under way.
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|(who, ws)| {
            let count = count_for(&who);
            tokio::spawn(async move {
                let (ws, got) = collect_messages(ws, count).await;
                (who, ws, got)
            })
        })
        .collect();

    let sends = plan.iter().flat_map(|(from, to, n)| {
        let app = &app;
        (0..*n).map(move |i| async move {
            let res = app
                .send_message(
                    from,
                    to.id,
                    &format!("{} → {} #{i}", from.username, to.username),
                    &new_id(),
                )
                .await;
            let message = expect_json(res, StatusCode::CREATED).await["message"].clone();
            (from.id, to.id, id_of(&message))
        })
    });
    let socket_sends =
        frank_sockets
            .into_iter()
            .zip(&over_sockets)
            .map(|(mut ws, (from, to, n))| {
                let (from, to, n) = (from.id, to.id, *n);
                async move {
                    let mut acked = Vec::with_capacity(n);
                    for i in 0..n {
                        let message = ws.send_message(to, &format!("socket → {to} #{i}")).await;
                        acked.push((from, to, id_of(&message)));
                    }
                    acked
                }
            });
    let (mut acked, over_socket): (Vec<Acked>, Vec<Vec<Acked>>) =
        futures::future::join(join_all(sends), join_all(socket_sends)).await;
    acked.extend(over_socket.into_iter().flatten());

    let expected_for = |who: i64| -> BTreeSet<i64> {
        acked
            .iter()
            .filter(|(from, to, _)| *from == who || *to == who)
            .map(|(_, _, id)| *id)
            .collect()
    };
    for reader in readers {
        let (who, mut ws, got) = reader.await.expect("the reader finishes");
        assert_exactly_once_in_order(&got, &expected_for(who.id), &who.username);
        ws.ping().await;
        ws.expect_none_of("message", Duration::from_millis(200))
            .await;
    }

    // History holds every acknowledged message of the busy conversation once, in order.
    let history = app.whole_history(&alice, bob.id).await;
    let conversation: BTreeSet<i64> = acked
        .iter()
        .filter(|(from, to, _)| {
            (*from == alice.id && *to == bob.id) || (*from == bob.id && *to == alice.id)
        })
        .map(|(_, _, id)| *id)
        .collect();
    assert_exactly_once_in_order(&history, &conversation, "history");

    // A fresh socket's sync misses nothing.
    let mut fresh = Ws::open(&g2, &alice.token).await;
    let replayed = fresh.sync_all(before).await;
    assert_exactly_once_in_order(&replayed, &expected_for(alice.id), "sync");
}

/// Publishes a forged event on a person's channel, as a lost or reordered
/// publication would look to the gateway.
async fn publish(redis_url: &str, user_id: i64, event: &Event) {
    let client: Client = Builder::from_config(Config::from_url(redis_url).expect("a Redis URL"))
        .build()
        .expect("a Redis client");
    client.init().await.expect("Redis is up");
    let _: i64 = client
        .publish(user_channel(user_id), event.to_json())
        .await
        .expect("published");
    let _ = client.quit().await;
}

#[tokio::test]
async fn an_event_that_does_not_follow_the_chain_is_repaired_not_trusted() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    let m1 = app.send_ok(&alice, bob.id, "one").await;
    assert_eq!(bob_ws.next_of("message").await["message"], m1);

    // An event claiming a predecessor Bob never got: the gateway repairs from
    // the message service, which knows nothing of the forged message.
    let forged = MessageJson {
        id: id_of(&m1) + 1000,
        sender_id: alice.id,
        receiver_id: bob.id,
        content: "forged".into(),
        created_at: "2026-11-25T00:00:00.000Z".into(),
        status: totilove_common::MessageStatus::Sent,
        client_msg_id: new_id(),
    };
    let event = Event::Message {
        prev_id: id_of(&m1) + 999,
        message: forged,
        traceparent: None,
    };
    publish(&app.system.redis.url(), bob.id, &event).await;
    // A duplicate of m1 with a wrong predecessor is dropped as well.
    let duplicate = Event::Message {
        prev_id: 0,
        message: serde_json::from_value(m1.clone()).expect("a message"),
        traceparent: None,
    };
    publish(&app.system.redis.url(), bob.id, &duplicate).await;

    let m2 = app.send_ok(&alice, bob.id, "two").await;
    let m3 = app.send_ok(&alice, bob.id, "three").await;
    let (mut bob_ws, got) = collect_messages(bob_ws, 2).await;
    assert_eq!(got, vec![m2, m3]);
    bob_ws.ping().await;
    bob_ws
        .expect_none_of("message", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn messages_sent_while_redis_is_down_reach_live_sockets_once_it_is_back() {
    let mut app = TestApp::start().await;
    let second = app.system.spawn_gateway().await;
    let g2 = app.system.gateways[second].url.clone();
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let bob_1 = Ws::open(app.system.url(), &bob.token).await;
    let bob_2 = Ws::open(&g2, &bob.token).await;
    let mut expected = BTreeSet::new();
    expected.insert(id_of(&app.send_ok(&alice, bob.id, "before").await));

    app.system.redis.stop().await;
    for i in 0..3 {
        let res = app
            .send_message(&alice, bob.id, &format!("during {i}"), &new_id())
            .await;
        if res.status() == StatusCode::CREATED {
            expected.insert(id_of(
                &expect_json(res, StatusCode::CREATED).await["message"],
            ));
        }
    }
    app.system.redis.restart().await;
    // Sends work again within a few seconds.
    let res = eventually("sends to work again", || async {
        let res = app.send_message(&alice, bob.id, "after", &new_id()).await;
        (res.status() == StatusCode::CREATED).then_some(res)
    })
    .await;
    expected.insert(id_of(
        &expect_json(res, StatusCode::CREATED).await["message"],
    ));

    for (name, ws) in [("instance 1", bob_1), ("instance 2", bob_2)] {
        let (mut ws, got) = collect_messages(ws, expected.len()).await;
        assert_exactly_once_in_order(&got, &expected, name);
        ws.ping().await;
        ws.expect_none_of("message", Duration::from_millis(200))
            .await;
    }
}

#[tokio::test]
async fn a_gateway_shutting_down_closes_its_sockets_with_1001() {
    let mut app = TestApp::start().await;
    let second = app.system.spawn_gateway().await;
    let g2 = app.system.gateways[second].url.clone();
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut staying = Ws::open(app.system.url(), &alice.token).await;
    let mut leaving = Ws::open(&g2, &alice.token).await;

    let gateway = app.system.gateways.remove(second);
    let (closed, ()) = tokio::join!(leaving.closed(), gateway.service.shutdown());
    assert_eq!(close_code(&closed.0), Some(1001));

    let m = app.send_ok(&bob, alice.id, "still reachable").await;
    assert_eq!(staying.next_of("message").await["message"], m);
}
