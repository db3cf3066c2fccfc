//! Sockets opening, closing and beating, and what partners are told.

use std::time::Duration;

use tonic::Code;
use totilove_proto::presence::v1::{GetPresenceRequest, OpenConnectionRequest, SetTypingRequest};

use crate::helpers::*;

/// Longer than the grace plus a few sweeps: an offline event would have come.
const PAST_THE_GRACE: Duration = Duration::from_millis(2500);

#[tokio::test]
async fn closing_one_of_two_connections_keeps_a_person_online() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;

    assert!(open(&system, "gw-one", alice, "phone").await);
    assert!(!open(&system, "gw-two", alice, "laptop").await);
    assert_online(&bobs.next().await, alice);

    close(&system, "gw-one", alice, "phone").await;
    bobs.expect_nothing_for(PAST_THE_GRACE).await;
    assert!(is_online(&system, alice).await);
}

#[tokio::test]
async fn closing_both_connections_sends_exactly_one_offline_event_after_the_grace() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    open(&system, "gw-one", alice, "phone").await;
    open(&system, "gw-two", alice, "laptop").await;
    assert_online(&bobs.next().await, alice);

    close(&system, "gw-one", alice, "phone").await;
    close(&system, "gw-two", alice, "laptop").await;

    assert_offline(&bobs.next().await, alice);
    bobs.expect_nothing_for(PAST_THE_GRACE).await;
    let seen = &presence_of(&system, vec![alice]).await[0];
    assert!(!seen.online);
    assert!(seen.last_seen.is_some());
}

#[tokio::test]
async fn a_reload_within_the_grace_sends_no_event() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    open(&system, "gw-one", alice, "tab-1").await;
    assert_online(&bobs.next().await, alice);

    close(&system, "gw-one", alice, "tab-1").await;
    let came_online = open(&system, "gw-two", alice, "tab-2").await;

    assert!(!came_online, "a reload is no coming online");
    bobs.expect_nothing_for(PAST_THE_GRACE).await;
    assert!(is_online(&system, alice).await);
}

#[tokio::test]
async fn a_person_whose_heartbeats_stop_goes_offline_for_their_partner() {
    let system = start_with_short_ttl().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    // A gateway that opens a socket and then dies: no close, no beat.
    open(&system, "gw-doomed", alice, "phone").await;
    assert_online(&bobs.next().await, alice);

    // Within the TTL (2 s) and a sweep of the last beat: no grace for the dead.
    assert_offline(&bobs.next().await, alice);
    assert!(!is_online(&system, alice).await);
}

#[tokio::test]
async fn heartbeats_keep_a_person_online_past_the_ttl() {
    let system = start_with_short_ttl().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    open(&system, "gw-one", alice, "phone").await;
    assert_online(&bobs.next().await, alice);

    // Beats every half second for well over twice the TTL.
    for _ in 0..10 {
        let unknown = beat(&system, "gw-one", vec![conn(alice, "phone")]).await;
        assert!(unknown.is_empty());
        bobs.expect_nothing_for(Duration::from_millis(500)).await;
    }
    assert!(is_online(&system, alice).await);

    // The gateway stops beating: offline follows.
    assert_offline(&bobs.next().await, alice);
}

#[tokio::test]
async fn a_stranger_receives_no_presence_event() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let stranger = register(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    let mut strangers = Inbox::of(&system, stranger).await;

    open(&system, "gw-one", alice, "phone").await;
    close(&system, "gw-one", alice, "phone").await;

    assert_online(&bobs.next().await, alice);
    assert_offline(&bobs.next().await, alice);
    // Published together with bob's: had it come, it would be here by now.
    strangers
        .expect_nothing_for(Duration::from_millis(500))
        .await;
}

#[tokio::test]
async fn a_blocked_partner_receives_no_presence_and_no_typing() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let carol = register(&system).await;
    converse(&system, carol, alice).await;
    system
        .auth_client()
        .block(totilove_proto::auth::v1::BlockRequest {
            user_id: bob,
            target_id: alice,
        })
        .await
        .expect("bob blocks alice");
    let mut bobs = Inbox::of(&system, bob).await;
    let mut carols = Inbox::of(&system, carol).await;

    open(&system, "gw-one", alice, "phone").await;
    type_to(&system, alice, bob, true).await;
    type_to(&system, alice, carol, true).await;

    assert_online(&carols.next().await, alice);
    assert!(matches!(
        carols.next().await,
        totilove_common::events::Event::Typing { typing: true, .. }
    ));
    bobs.expect_nothing_for(Duration::from_millis(500)).await;
}

/// A typing pair is remembered as allowed (so a typer costs no RPC per
/// indicator), yet a block silences the very next indicator, and an unblock
/// lets the next one through. (`typing:false` is never throttled: only the
/// block can hold it back.)
#[tokio::test]
async fn a_block_silences_typing_at_once_and_an_unblock_restores_it() {
    use totilove_common::events::Event;
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    let block = totilove_proto::auth::v1::BlockRequest {
        user_id: bob,
        target_id: alice,
    };
    let typing_of_alice = |event: &Event, want: bool| matches!(event, Event::Typing { user_id, typing } if *user_id == alice && *typing == want);

    type_to(&system, alice, bob, true).await;
    assert!(
        typing_of_alice(&bobs.next().await, true),
        "allowed, and now remembered"
    );

    system
        .auth_client()
        .block(block)
        .await
        .expect("bob blocks alice");
    type_to(&system, alice, bob, false).await;
    bobs.expect_nothing_for(Duration::from_millis(500)).await;

    system
        .auth_client()
        .unblock(block)
        .await
        .expect("bob unblocks alice");
    type_to(&system, alice, bob, false).await;
    assert!(typing_of_alice(&bobs.next().await, false), "allowed again");
}

#[tokio::test]
async fn came_online_is_true_only_for_a_persons_first_live_connection() {
    let system = start().await;
    let person = 7_000_001;
    assert!(open(&system, "gw-one", person, "a").await);
    assert!(!open(&system, "gw-one", person, "b").await);
    assert!(
        !open(&system, "gw-one", person, "a").await,
        "opening again is harmless"
    );
    close(&system, "gw-one", person, "a").await;
    close(&system, "gw-one", person, "b").await;

    // Once the grace has passed and they are offline, the next socket counts.
    eventually("them to be offline", || async {
        !is_online(&system, person).await
    })
    .await;
    assert!(open(&system, "gw-one", person, "c").await);
}

#[tokio::test]
async fn a_heartbeat_names_the_connections_it_does_not_know() {
    let system = start().await;
    let person = 7_000_002;
    open(&system, "gw-one", person, "live").await;
    open(&system, "gw-one", person, "closed").await;
    close(&system, "gw-one", person, "closed").await;

    let unknown = beat(
        &system,
        "gw-one",
        vec![
            conn(person, "live"),
            conn(person, "closed"),
            conn(person, "never-opened"),
        ],
    )
    .await;

    assert_eq!(
        unknown,
        vec![conn(person, "closed"), conn(person, "never-opened")]
    );
    // A beat does not bring a closed socket back.
    assert_eq!(
        beat(&system, "gw-one", vec![conn(person, "closed")])
            .await
            .len(),
        1
    );
    // A connection id names a socket only within its gateway.
    assert_eq!(
        beat(&system, "gw-two", vec![conn(person, "live")])
            .await
            .len(),
        1
    );
}

fn refused<T: std::fmt::Debug>(answer: Result<T, tonic::Status>) {
    let status = answer.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok()),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn malformed_requests_are_refused_with_invalid_request() {
    let system = start().await;
    let mut presence = system.presence_client();
    for (gateway, user, connection) in [
        ("gw|x", 1, "c"),
        ("", 1, "c"),
        ("gw", 0, "c"),
        ("gw", 1, ""),
        ("gw", 1, "with space"),
    ] {
        refused(
            presence
                .open_connection(OpenConnectionRequest {
                    max_per_person: 0,
                    gateway_id: gateway.into(),
                    connection: Some(conn(user, connection)),
                })
                .await,
        );
    }
    refused(
        presence
            .open_connection(OpenConnectionRequest {
                max_per_person: 0,
                gateway_id: "gw".into(),
                connection: None,
            })
            .await,
    );
    refused(
        presence
            .set_typing(SetTypingRequest {
                user_id: 5,
                partner_id: 5,
                typing: true,
            })
            .await,
    );
    refused(
        presence
            .get_presence(GetPresenceRequest {
                user_ids: (1..=10_001).collect(),
                ..Default::default()
            })
            .await,
    );
}

#[tokio::test]
async fn a_person_beyond_the_cap_across_gateways_is_refused_until_one_closes() {
    let system = start().await;
    let mut presence = system.presence_client();
    let capped = |gateway: &str, connection: &str| OpenConnectionRequest {
        max_per_person: 3,
        gateway_id: gateway.into(),
        connection: Some(conn(7, connection)),
    };
    for (gateway, connection) in [("gw-one", "a"), ("gw-two", "b"), ("gw-one", "c")] {
        let reply = presence
            .open_connection(capped(gateway, connection))
            .await
            .expect("an answer")
            .into_inner();
        assert!(!reply.refused, "{connection} fits under the cap");
    }
    let refused = |reply: tonic::Response<_>| {
        let reply: totilove_proto::presence::v1::OpenConnectionResponse = reply.into_inner();
        reply.refused
    };
    assert!(refused(
        presence
            .open_connection(capped("gw-two", "d"))
            .await
            .expect("an answer")
    ));
    // Opening a socket already counted again is not a new one.
    assert!(!refused(
        presence
            .open_connection(capped("gw-one", "a"))
            .await
            .expect("an answer")
    ));
    // The refused one was never recorded: one closing makes room for it.
    assert!(is_online(&system, 7).await);
    close(&system, "gw-one", 7, "c").await;
    assert!(!refused(
        presence
            .open_connection(capped("gw-two", "d"))
            .await
            .expect("an answer")
    ));
}
