//! Sessions: logout, revocation, listing, expiry, and surviving Redis.

use std::time::Duration;

use totilove_common::Code;
use totilove_proto::auth::v1::{ListSessionsRequest, RevokeSessionRequest};

use crate::helpers::{Session, TestApp, client, eventually};

impl TestApp {
    async fn revoke(&self, user_id: i64, session_id: &str) -> Result<(), totilove_common::Error> {
        self.auth()
            .revoke_session(RevokeSessionRequest {
                user_id,
                session_id: session_id.to_owned(),
                client: client("192.0.2.1"),
            })
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    async fn session_ids(&self, session: &Session) -> Vec<(String, bool)> {
        self.auth()
            .list_sessions(ListSessionsRequest {
                user_id: session.user_id,
                current_session_id: session.session_id.clone(),
            })
            .await
            .expect("listed")
            .into_inner()
            .sessions
            .into_iter()
            .map(|s| (s.id, s.current))
            .collect()
    }
}

#[tokio::test]
async fn after_logout_the_token_is_refused_at_once() {
    let app = TestApp::start().await;
    let (_, session) = app.signed_in("alice").await;
    app.validate(&session.token).await.expect("valid");
    app.logout(&session).await.expect("logged out");
    let err = app.validate(&session.token).await.expect_err("ended");
    assert_eq!(err.code, Code::Unauthorized);
    let key = format!("session:{}", session.session_id);
    assert_eq!(app.redis_get(&key).await, None);
}

#[tokio::test]
async fn logging_out_ends_only_that_session() {
    let app = TestApp::start().await;
    let (alice, phone) = app.signed_in("alice").await;
    let laptop = app.login(&alice).await;
    app.logout(&phone).await.expect("logged out");
    app.validate(&laptop.token).await.expect("still valid");
}

#[tokio::test]
async fn revoking_another_session_ends_it_and_keeps_mine() {
    let app = TestApp::start().await;
    let (alice, mine) = app.signed_in("alice").await;
    let other = app.login(&alice).await;
    app.revoke(alice.id, &other.session_id)
        .await
        .expect("revoked");
    assert_eq!(
        app.validate(&other.token).await.expect_err("ended").code,
        Code::Unauthorized
    );
    app.validate(&mine.token).await.expect("still valid");

    let again = app
        .revoke(alice.id, &other.session_id)
        .await
        .expect_err("already ended");
    assert_eq!(again.code, Code::NotFound);
}

#[tokio::test]
async fn nobody_can_revoke_a_session_that_is_not_theirs() {
    let app = TestApp::start().await;
    let (_, alice) = app.signed_in("alice").await;
    let (bob, _) = app.signed_in("bob").await;
    let err = app
        .revoke(bob.id, &alice.session_id)
        .await
        .expect_err("not bob's");
    assert_eq!(err.code, Code::NotFound);
    let err = app
        .revoke(bob.id, "not-a-session-id")
        .await
        .expect_err("no such session");
    assert_eq!(err.code, Code::NotFound);
    app.validate(&alice.token)
        .await
        .expect("alice's session goes on");
}

#[tokio::test]
async fn the_session_list_shows_live_sessions_newest_first_with_the_current_one_marked() {
    let app = TestApp::start().await;
    let (alice, first) = app.signed_in("alice").await;
    let second = app.login(&alice).await;
    let third = app.login(&alice).await;
    app.logout(&second).await.expect("logged out");

    let listed = app.session_ids(&first).await;
    assert_eq!(
        listed,
        vec![
            (third.session_id.clone(), false),
            (first.session_id.clone(), true)
        ]
    );

    let sessions = app
        .auth()
        .list_sessions(ListSessionsRequest {
            user_id: alice.id,
            current_session_id: third.session_id.clone(),
        })
        .await
        .expect("listed")
        .into_inner()
        .sessions;
    assert_eq!(sessions[0].ip, "192.0.2.1");
    assert_eq!(sessions[0].user_agent, "auth-tests/1.0");
    assert!(sessions[0].current);
    assert!(sessions[0].created_at.is_some() && sessions[0].last_activity.is_some());
}

#[tokio::test]
async fn a_revoked_session_stays_dead_after_redis_restarts() {
    let mut app = TestApp::start().await;
    let (_, session) = app.signed_in("alice").await;
    app.logout(&session).await.expect("logged out");
    app.system.redis.restart().await;
    let err = app.validate(&session.token).await.expect_err("ended");
    assert_eq!(err.code, Code::Unauthorized);
}

#[tokio::test]
async fn an_ended_session_stays_dead_when_redis_comes_back_from_an_older_snapshot() {
    let mut app = TestApp::start().await;
    let (_, session) = app.signed_in("alice").await;
    let (_, other) = app.signed_in("bob").await;
    app.validate(&session.token).await.expect("alive");
    let key = format!("session:{}", session.session_id);
    // A backup taken while the session lived, then the logout, then Redis
    // restored from that backup: the session's entry is back.
    app.system.redis.save().await;
    app.logout(&session).await.expect("logged out");
    app.system.redis.restart().await;
    assert!(
        app.redis_get(&key).await.is_some(),
        "the snapshot brought the entry back"
    );

    let err = app.validate(&session.token).await.expect_err("ended");
    assert_eq!(err.code, Code::Unauthorized);
    // And again, once the instance is known: the entry is not trusted.
    let err = app.validate(&session.token).await.expect_err("ended");
    assert_eq!(err.code, Code::Unauthorized);
    // A session that lives still validates (from the record, then Redis).
    app.validate(&other.token).await.expect("alive");
    app.validate(&other.token).await.expect("alive");
}

#[tokio::test]
async fn a_live_token_survives_a_redis_restart_and_redis_is_warmed_again() {
    let mut app = TestApp::start().await;
    let (alice, session) = app.signed_in("alice").await;
    let key = format!("session:{}", session.session_id);
    assert!(
        app.redis_get(&key).await.is_some(),
        "login wrote the session to Redis"
    );

    app.system.redis.restart().await;
    assert_eq!(
        app.redis_get(&key).await,
        None,
        "the restart lost every key"
    );

    let valid = app.validate(&session.token).await.expect("still valid");
    assert_eq!(valid.user_id, alice.id);
    // Re-warming is best effort and happens once the pool has reconnected.
    eventually("the session back in Redis", || async {
        app.validate(&session.token).await.is_ok() && app.redis_get(&key).await.is_some()
    })
    .await;
    let cached: serde_json::Value =
        serde_json::from_str(&app.redis_get(&key).await.expect("cached")).expect("JSON");
    assert_eq!(cached["user_id"], alice.id);
}

#[tokio::test]
async fn with_redis_stopped_tokens_still_validate_from_postgresql() {
    let mut app = TestApp::start().await;
    let (alice, session) = app.signed_in("alice").await;
    app.system.redis.stop().await;

    let valid = app
        .validate(&session.token)
        .await
        .expect("valid from the record");
    assert_eq!(valid.user_id, alice.id);
    // Logging in and out still work: PostgreSQL is the record.
    let second = app.login(&alice).await;
    app.validate(&second.token)
        .await
        .expect("valid from the record");
    app.logout(&second).await.expect("logged out");
    let err = app.validate(&second.token).await.expect_err("ended");
    assert_eq!(err.code, Code::Unauthorized);

    // Redis back (empty): the ended session stays ended, the live one lives.
    app.system.redis.restart().await;
    assert_eq!(
        app.validate(&second.token).await.expect_err("ended").code,
        Code::Unauthorized
    );
    app.validate(&session.token).await.expect("still valid");
}

#[tokio::test]
async fn an_unused_session_ends_after_the_idle_timeout() {
    let app = TestApp::start_with(&[("SESSION_IDLE_TIMEOUT_SECS", "1")]).await;
    let (_, session) = app.signed_in("alice").await;
    app.validate(&session.token).await.expect("valid");
    // Listing does not count as use: it sees the session go once it has
    // been idle past the timeout, without a fixed sleep.
    eventually("the idle session to drop out of the list", || async {
        app.session_ids(&session).await.is_empty()
    })
    .await;
    let err = app
        .validate(&session.token)
        .await
        .expect_err("idle too long");
    assert_eq!(err.code, Code::Unauthorized);
    assert!(app.session_ids(&session).await.is_empty());
}

#[tokio::test]
async fn a_session_in_use_outlives_its_idle_timeout() {
    let app = TestApp::start_with(&[("SESSION_IDLE_TIMEOUT_SECS", "1")]).await;
    let (_, session) = app.signed_in("alice").await;
    // Used every 300 ms for 1.8 s: longer than the timeout, never idle for it.
    for _ in 0..6 {
        app.validate(&session.token)
            .await
            .expect("kept alive by use");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    app.validate(&session.token)
        .await
        .expect("kept alive by use");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_even_in_use() {
    let app = TestApp::start_with(&[("SESSION_LIFETIME_SECS", "2")]).await;
    let (_, session) = app.signed_in("alice").await;
    app.validate(&session.token).await.expect("valid");
    eventually("the session to end at its lifetime", || async {
        app.validate(&session.token)
            .await
            .is_err_and(|e| e.code == Code::Unauthorized)
    })
    .await;
}

#[tokio::test]
async fn an_ended_session_is_announced_to_the_gateways() {
    use fred::{
        interfaces::{ClientLike, EventInterface, PubsubInterface},
        types::{Builder, config::Config},
    };

    let app = TestApp::start().await;
    let (alice, first) = app.signed_in("alice").await;
    let second = app.login(&alice).await;

    let config = Config::from_url(&app.system.redis.url()).expect("a Redis URL");
    let subscriber = Builder::from_config(config).build().expect("a client");
    subscriber.init().await.expect("connected");
    let mut announcements = subscriber.message_rx();
    subscriber
        .subscribe(totilove_common::events::SESSION_REVOKED_CHANNEL)
        .await
        .expect("subscribed");

    app.logout(&first).await.expect("logged out");
    app.revoke(alice.id, &second.session_id)
        .await
        .expect("revoked");
    for expected in [&first.session_id, &second.session_id] {
        let message = tokio::time::timeout(Duration::from_secs(5), announcements.recv())
            .await
            .expect("announced in time")
            .expect("a message");
        assert_eq!(message.value.as_string().as_ref(), Some(expected));
    }
}

#[tokio::test]
async fn a_logout_holds_on_every_replica_while_redis_refuses_writes() {
    use fred::interfaces::ClientLike;
    use totilove_proto::auth::v1::ValidateTokenRequest;

    let system = totilove_testkit::TestSystem::builder()
        .auth()
        .replicas(2)
        .build()
        .await;
    let (first, second) = (system.auth_client_of(0), system.auth_client_of(1));
    let app = TestApp {
        auth: first,
        system,
    };
    let validate_on_second = |token: String| {
        let mut second = second.clone();
        async move {
            second
                .validate_token(ValidateTokenRequest { token })
                .await
                .map_err(totilove_common::Error::from)
        }
    };
    let (_, session) = app.signed_in("alice").await;
    validate_on_second(session.token.clone())
        .await
        .expect("valid on the other replica");
    let key = format!("session:{}", session.session_id);
    assert!(app.redis_get(&key).await.is_some(), "cached");

    // With no replica to confirm them, Redis refuses every write (DEL too)
    // and still answers reads.
    let redis = app.redis().await;
    let min_replicas_to_write = |n: &'static str| {
        let redis = redis.clone();
        async move {
            let set: String = redis
                .custom(
                    fred::cmd!("CONFIG"),
                    vec!["SET", "min-replicas-to-write", n],
                )
                .await
                .expect("Redis configured");
            assert_eq!(set, "OK");
        }
    };
    min_replicas_to_write("1").await;
    app.logout(&session).await.expect("logged out");
    assert!(
        app.redis_get(&key).await.is_some(),
        "the copy outlives the logout"
    );
    let err = app.validate(&session.token).await.expect_err("ended");
    assert_eq!(err.code, Code::Unauthorized);
    eventually("the other replica to learn of the logout", || {
        let answer = validate_on_second(session.token.clone());
        async move { matches!(answer.await, Err(e) if e.code == Code::Unauthorized) }
    })
    .await;

    // Once Redis takes writes again, the stale copy is deleted.
    min_replicas_to_write("0").await;
    eventually("the ended session's copy to be removed", || async {
        app.redis_get(&key).await.is_none()
    })
    .await;
    let err = validate_on_second(session.token.clone())
        .await
        .expect_err("still ended");
    assert_eq!(err.code, Code::Unauthorized);
}
