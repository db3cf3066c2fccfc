//! Privacy settings, and the presence service's Redis copy of who hides.

use fred::interfaces::{KeysInterface, SetsInterface};
use totilove_common::{Code, Error, redis::HIDDEN_PEOPLE_KEY};
use totilove_proto::auth::v1::{
    GetPrivacyRequest, Privacy, UpdatePrivacyRequest, UpdatePrivacyResponse,
};

use crate::helpers::{TestApp, eventually};

impl TestApp {
    async fn privacy(&self, user_id: i64) -> Result<Privacy, Error> {
        let reply = self
            .auth()
            .get_privacy(GetPrivacyRequest { user_id })
            .await
            .map_err(Error::from)?;
        Ok(reply.into_inner().privacy.expect("a privacy"))
    }

    async fn update_privacy(
        &self,
        user_id: i64,
        show_online: Option<bool>,
        send_read_receipts: Option<bool>,
    ) -> Result<UpdatePrivacyResponse, Error> {
        self.auth()
            .update_privacy(UpdatePrivacyRequest {
                user_id,
                show_online,
                send_read_receipts,
            })
            .await
            .map(|r| r.into_inner())
            .map_err(Error::from)
    }

    async fn hidden_in_redis(&self, user_id: i64) -> bool {
        self.redis()
            .await
            .sismember(HIDDEN_PEOPLE_KEY, user_id)
            .await
            .expect("Redis answers")
    }
}

fn settings(show_online: bool, send_read_receipts: bool) -> Privacy {
    Privacy {
        show_online,
        send_read_receipts,
    }
}

#[tokio::test]
async fn privacy_starts_all_on_and_an_update_keeps_what_it_does_not_name() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    assert_eq!(
        app.privacy(alice.id).await.expect("read"),
        settings(true, true)
    );

    let hid = app
        .update_privacy(alice.id, Some(false), None)
        .await
        .expect("updated");
    assert_eq!(hid.privacy, Some(settings(false, true)));
    assert!(hid.show_online_changed);
    let again = app
        .update_privacy(alice.id, Some(false), Some(false))
        .await
        .expect("updated");
    assert_eq!(again.privacy, Some(settings(false, false)));
    assert!(!again.show_online_changed, "show_online was already off");
    let nothing = app
        .update_privacy(alice.id, None, None)
        .await
        .expect("updated");
    assert_eq!(nothing.privacy, Some(settings(false, false)));
    assert_eq!(
        app.privacy(alice.id).await.expect("read"),
        settings(false, false)
    );
}

#[tokio::test]
async fn privacy_of_nobody_is_not_found_and_a_bad_id_invalid() {
    let app = TestApp::start().await;
    assert_eq!(
        app.privacy(1_000_000).await.expect_err("refused").code,
        Code::NotFound
    );
    let update = app.update_privacy(1_000_000, Some(false), None).await;
    assert_eq!(update.expect_err("refused").code, Code::NotFound);
    assert_eq!(
        app.privacy(0).await.expect_err("refused").code,
        Code::InvalidRequest
    );
}

#[tokio::test]
async fn hiding_is_copied_to_redis_at_once_and_a_lost_or_stale_copy_is_repaired() {
    let app = TestApp::start_with(&[("PRIVACY_SYNC_INTERVAL_SECS", "1")]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    app.update_privacy(alice.id, Some(false), None)
        .await
        .expect("updated");
    assert!(
        app.hidden_in_redis(alice.id).await,
        "copied with the update"
    );
    app.update_privacy(alice.id, Some(true), None)
        .await
        .expect("updated");
    assert!(!app.hidden_in_redis(alice.id).await);

    // Redis loses the copy (a flush, a restart without persistence).
    app.update_privacy(alice.id, Some(false), None)
        .await
        .expect("updated");
    let redis = app.redis().await;
    let _: i64 = redis.del(HIDDEN_PEOPLE_KEY).await.expect("deleted");
    eventually("the sync to put her back", || app.hidden_in_redis(alice.id)).await;

    // A stale copy (an old snapshot) hides someone who shows themselves.
    let _: i64 = redis.sadd(HIDDEN_PEOPLE_KEY, bob.id).await.expect("added");
    eventually("the sync to take him out", || async {
        !app.hidden_in_redis(bob.id).await
    })
    .await;
    assert!(app.hidden_in_redis(alice.id).await);
}
