//! Typing indicators: forwarded to partners only, throttled, lapsing.

use std::time::Duration;

use fred::interfaces::KeysInterface;
use totilove_common::events::Event;

use crate::helpers::*;

fn typing(event: &Event, user: i64) -> bool {
    match event {
        Event::Typing { user_id, typing } if *user_id == user => *typing,
        other => panic!("expected typing from {user}, got {other:?}"),
    }
}

#[tokio::test]
async fn typing_is_forwarded_to_a_partner_at_most_about_twice_a_second() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;

    assert!(type_to(&system, alice, bob, true).await);
    assert!(typing(&bobs.next().await, alice));
    assert!(!type_to(&system, alice, bob, true).await, "throttled");
    bobs.expect_nothing_for(Duration::from_millis(200)).await;

    // The throttle is short: a repeat goes out again soon.
    eventually("the throttle to let a repeat through", || {
        type_to(&system, alice, bob, true)
    })
    .await;
    assert!(typing(&bobs.next().await, alice));
}

#[tokio::test]
async fn typing_lapses_by_itself_after_its_ttl() {
    let system = start().await;
    let redis = redis(&system).await;
    type_to(&system, 8_000_001, 8_000_002, true).await;
    let key = "typing:8000001:8000002";
    let ttl_ms: i64 = redis.pttl(key).await.expect("PTTL");
    assert!(
        (1..=1000).contains(&ttl_ms),
        "lives at most TYPING_TTL_SECS: {ttl_ms}"
    );

    eventually("the indicator to lapse", || async {
        redis.exists::<i64, _>(key).await.expect("EXISTS") == 0
    })
    .await;
}

#[tokio::test]
async fn typing_false_clears_the_indicator_and_is_always_forwarded() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let redis = redis(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;

    assert!(type_to(&system, alice, bob, true).await);
    assert!(type_to(&system, alice, bob, false).await);
    assert!(type_to(&system, alice, bob, false).await);
    // Right after a false, a true is not held back by the throttle.
    assert!(type_to(&system, alice, bob, true).await);
    assert!(type_to(&system, alice, bob, false).await);

    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(typing(&bobs.next().await, alice));
    }
    assert_eq!(got, vec![true, false, false, true, false]);
    let key = format!("typing:{alice}:{bob}");
    assert_eq!(redis.exists::<i64, _>(key).await.expect("EXISTS"), 0);
}

#[tokio::test]
async fn a_stranger_receives_no_typing_event() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let stranger = register(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    let mut strangers = Inbox::of(&system, stranger).await;

    type_to(&system, alice, stranger, true).await;
    type_to(&system, alice, bob, true).await;

    // Handled in order after the stranger's: had that gone out, it would be here.
    assert!(typing(&bobs.next().await, alice));
    strangers
        .expect_nothing_for(Duration::from_millis(500))
        .await;
}
