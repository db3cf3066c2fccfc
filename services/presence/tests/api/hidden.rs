//! People who hide their presence (`show_online` off, recorded by the auth
//! service): offline to everyone else, announced to nobody, except the
//! switch itself.

use std::time::Duration;

use chrono::Timelike;
use totilove_common::events::Event;
use totilove_proto::{
    auth::v1::UpdatePrivacyRequest,
    presence::v1::{GetPresenceRequest, Presence, PrivacyChangedRequest},
};
use totilove_testkit::TestSystem;

use crate::helpers::*;

/// Longer than the grace plus a few sweeps: an offline event would have come.
const PAST_THE_GRACE: Duration = Duration::from_millis(2500);

/// Records `show_online` with the auth service (which copies it to Redis).
async fn show_online(system: &TestSystem, user: i64, show: bool) {
    system
        .auth_client()
        .update_privacy(UpdatePrivacyRequest {
            user_id: user,
            show_online: Some(show),
            send_read_receipts: None,
        })
        .await
        .expect("privacy updated");
}

/// Then tells the presence service, as the gateway does.
async fn switch(system: &TestSystem, user: i64, show: bool) {
    show_online(system, user, show).await;
    system
        .presence()
        .privacy_changed(PrivacyChangedRequest {
            user_id: user,
            show_online: show,
        })
        .await
        .expect("privacy change announced");
}

async fn seen_by(system: &TestSystem, viewer: i64, user: i64) -> Presence {
    system
        .presence()
        .get_presence(GetPresenceRequest {
            user_ids: vec![user],
            viewer_id: viewer,
        })
        .await
        .expect("read presence")
        .into_inner()
        .presence
        .remove(0)
}

#[tokio::test]
async fn a_hidden_person_is_offline_without_last_seen_to_all_but_themselves() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    show_online(&system, alice, false).await;
    open(&system, "gw", alice, "phone").await;

    for viewer in [bob, 0] {
        let seen = seen_by(&system, viewer, alice).await;
        assert!(!seen.online && seen.last_seen.is_none(), "{seen:?}");
    }
    assert!(seen_by(&system, alice, alice).await.online);

    close(&system, "gw", alice, "phone").await;
    // She sees herself offline (with a last seen) once the grace has passed.
    eventually("the grace to pass", || async {
        let herself = seen_by(&system, alice, alice).await;
        !herself.online && herself.last_seen.is_some()
    })
    .await;
    let seen = seen_by(&system, bob, alice).await;
    assert!(!seen.online && seen.last_seen.is_none(), "{seen:?}");
    assert!(seen_by(&system, alice, alice).await.last_seen.is_some());
}

#[tokio::test]
async fn a_hidden_persons_comings_and_goings_are_announced_to_nobody() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    show_online(&system, alice, false).await;

    assert!(open(&system, "gw", alice, "phone").await);
    close(&system, "gw", alice, "phone").await;
    bobs.expect_nothing_for(PAST_THE_GRACE).await;
}

#[tokio::test]
async fn switching_while_online_tells_partners_at_once_and_while_offline_nothing() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    open(&system, "gw", alice, "phone").await;
    assert_online(&bobs.next().await, alice);

    switch(&system, alice, false).await;
    assert_eq!(
        bobs.next().await,
        Event::Presence {
            user_id: alice,
            online: false,
            last_seen: None
        }
    );
    switch(&system, alice, true).await;
    assert_online(&bobs.next().await, alice);

    close(&system, "gw", alice, "phone").await;
    assert_offline(&bobs.next().await, alice);
    switch(&system, alice, false).await;
    switch(&system, alice, true).await;
    bobs.expect_nothing_for(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn last_seen_is_given_to_the_minute() {
    let system = start().await;
    let (alice, bob) = partners(&system).await;
    let mut bobs = Inbox::of(&system, bob).await;
    open(&system, "gw", alice, "phone").await;
    assert_online(&bobs.next().await, alice);
    close(&system, "gw", alice, "phone").await;

    let Event::Presence {
        last_seen: Some(announced),
        ..
    } = bobs.next().await
    else {
        panic!("an offline event with a last_seen");
    };
    assert!(announced.ends_with(":00.000Z"), "{announced}");
    let looked_up = seen_by(&system, bob, alice)
        .await
        .last_seen
        .expect("a last_seen");
    let looked_up = totilove_common::time::from_timestamp(&looked_up);
    assert_eq!((looked_up.second(), looked_up.nanosecond()), (0, 0));
    assert_eq!(totilove_common::time::rfc3339(looked_up), announced);
}
