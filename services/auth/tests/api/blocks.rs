//! Blocks: idempotent, either direction counts, never oneself.

use totilove_common::{Code, Error};
use totilove_proto::auth::v1::{
    BlockRequest, BlockedAmongRequest, IsBlockedRequest, ListBlocksRequest,
};

use crate::helpers::TestApp;

impl TestApp {
    async fn block(&self, user_id: i64, target_id: i64) -> Result<(), Error> {
        self.auth()
            .block(BlockRequest { user_id, target_id })
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    async fn unblock(&self, user_id: i64, target_id: i64) -> Result<(), Error> {
        self.auth()
            .unblock(BlockRequest { user_id, target_id })
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    async fn is_blocked(&self, user_a: i64, user_b: i64) -> bool {
        self.auth()
            .is_blocked(IsBlockedRequest { user_a, user_b })
            .await
            .expect("answered")
            .into_inner()
            .blocked
    }

    async fn blocked_usernames(&self, user_id: i64) -> Vec<String> {
        self.auth()
            .list_blocks(ListBlocksRequest { user_id })
            .await
            .expect("answered")
            .into_inner()
            .users
            .into_iter()
            .map(|u| u.username)
            .collect()
    }
}

#[tokio::test]
async fn a_block_counts_in_either_direction_and_is_idempotent() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    assert!(!app.is_blocked(alice.id, bob.id).await);
    app.block(alice.id, bob.id).await.expect("blocked");
    app.block(alice.id, bob.id).await.expect("blocked again");
    assert!(app.is_blocked(alice.id, bob.id).await);
    assert!(app.is_blocked(bob.id, alice.id).await);
    assert_eq!(app.blocked_usernames(alice.id).await, vec!["bob"]);
    assert!(app.blocked_usernames(bob.id).await.is_empty());

    app.unblock(alice.id, bob.id).await.expect("unblocked");
    app.unblock(alice.id, bob.id)
        .await
        .expect("unblocked again");
    assert!(!app.is_blocked(alice.id, bob.id).await);
    assert!(app.blocked_usernames(alice.id).await.is_empty());
}

#[tokio::test]
async fn nobody_can_block_themselves_or_someone_unknown() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let err = app.block(alice.id, alice.id).await.expect_err("refused");
    assert_eq!(err.code, Code::InvalidRequest);
    assert_eq!(err.message, "cannot block yourself");
    let err = app
        .block(alice.id, alice.id + 1000)
        .await
        .expect_err("refused");
    assert_eq!(err.code, Code::NotFound);
    let err = app
        .unblock(alice.id, alice.id + 1000)
        .await
        .expect_err("refused");
    assert_eq!(err.code, Code::NotFound);
}

#[tokio::test]
async fn blocks_among_people_are_found_in_either_direction() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    app.block(alice.id, bob.id).await.expect("blocked");
    app.block(carol.id, alice.id).await.expect("blocked");
    app.block(dave.id, bob.id).await.expect("blocked");
    let blocked = app
        .auth()
        .blocked_among(BlockedAmongRequest {
            user_id: alice.id,
            others: vec![bob.id, carol.id, dave.id],
        })
        .await
        .expect("answered")
        .into_inner()
        .blocked;
    assert_eq!(blocked, vec![bob.id, carol.id]);
}

#[tokio::test]
async fn blocks_and_unblocks_are_audited_with_whom_and_refusals_are_not() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.block(alice.id, bob.id).await.expect("blocked");
    app.unblock(alice.id, bob.id).await.expect("unblocked");
    app.block(alice.id, alice.id).await.expect_err("refused");
    app.block(alice.id, bob.id + 1000)
        .await
        .expect_err("refused");
    let changes: Vec<_> = app
        .audit_trail()
        .await
        .into_iter()
        .filter(|(event, ..)| event.contains("block"))
        .collect();
    let whom = serde_json::json!({"target_id": bob.id});
    assert_eq!(
        changes,
        [
            ("block".to_owned(), Some(alice.id), whom.clone()),
            ("unblock".to_owned(), Some(alice.id), whom),
        ]
    );
}
