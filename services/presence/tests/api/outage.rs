//! Redis down: quick `unavailable` answers, never a hang; and recovery.

use tonic::Code;
use totilove_proto::presence::v1::{GetPresenceRequest, OpenConnectionRequest};

use crate::helpers::*;

fn assert_unavailable<T: std::fmt::Debug>(answer: Result<T, tonic::Status>) {
    let status = answer.expect_err("refused while Redis is down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok()),
        Some("unavailable")
    );
}

#[tokio::test]
async fn calls_answer_unavailable_while_redis_is_down_and_work_again_after() {
    let mut system = start().await;
    let person = 9_000_001;
    open(&system, "gw-one", person, "before").await;

    system.redis.stop().await;
    let mut presence = system.presence_client();
    assert_unavailable(
        presence
            .open_connection(OpenConnectionRequest {
                max_per_person: 0,
                gateway_id: "gw-one".into(),
                connection: Some(conn(person, "during")),
            })
            .await,
    );
    assert_unavailable(
        presence
            .get_presence(GetPresenceRequest {
                user_ids: vec![person],
                ..Default::default()
            })
            .await,
    );

    // A restarted Redis has lost everything: the gateway's next beat names
    // its sockets as unknown, so the gateway re-opens them.
    system.redis.restart().await;
    eventually("presence to recover with Redis", || {
        let mut presence = presence.clone();
        async move {
            presence
                .get_presence(GetPresenceRequest {
                    user_ids: vec![person],
                    ..Default::default()
                })
                .await
        }
    })
    .await;
    assert_eq!(
        beat(&system, "gw-one", vec![conn(person, "before")]).await,
        vec![conn(person, "before")]
    );
    assert!(open(&system, "gw-one", person, "before").await);
    assert!(is_online(&system, person).await);
}
