//! Many sockets and many people at once: bounded Redis work, never a command
//! per person or per socket.

use futures::{StreamExt, stream};

use crate::helpers::*;

/// Items per Redis command in the service's batched reads and writes.
const BATCH: u64 = 1000;

#[tokio::test]
async fn ten_thousand_sockets_beat_and_ten_thousand_people_are_read_in_a_few_redis_commands() {
    // A long TTL: opening 10 000 sockets takes a while in a debug build.
    let system = LonePresence::start(&[
        ("PRESENCE_CONNECTION_TTL_SECS", "120"),
        ("PRESENCE_OFFLINE_GRACE_SECS", "1"),
        ("PRESENCE_SWEEP_INTERVAL_MS", "200"),
    ])
    .await;
    let redis = redis(&system).await;
    // People 1..=5000 are online with two sockets each on one gateway;
    // 5001..=5100 came and went; 5101..=10000 were never seen.
    let memory_before = used_memory(&redis).await;
    let sockets: Vec<(i64, String)> = (1..=5000)
        .flat_map(|user| [(user, format!("x{user}")), (user, format!("y{user}"))])
        .collect();
    stream::iter(&sockets)
        .for_each_concurrent(64, |(user, id)| {
            let system = &system;
            async move {
                open(system, "gw-big", *user, id).await;
            }
        })
        .await;
    for user in 5001..=5100 {
        open(&system, "gw-big", user, "z").await;
        close(&system, "gw-big", user, "z").await;
    }
    eventually("everyone to be offline", || async {
        !presence_of(&system, (5001..=5100).collect())
            .await
            .iter()
            .any(|p| p.online)
    })
    .await;

    eprintln!(
        "Redis memory per socket (two per person): about {} bytes",
        (used_memory(&redis).await - memory_before) / 10_000
    );

    let before = command_calls(&redis).await;
    let connections = sockets.iter().map(|(u, id)| conn(*u, id)).collect();
    let unknown = beat(&system, "gw-big", connections).await;
    let after = command_calls(&redis).await;
    assert!(unknown.is_empty());
    let beat_commands = delta(&before, &after, "zmscore") + delta(&before, &after, "zadd");
    eprintln!("a heartbeat of 10000 sockets took {beat_commands} Redis commands");
    assert!(
        beat_commands <= 2 * 10_000 / BATCH,
        "{beat_commands} commands"
    );

    let before = command_calls(&redis).await;
    let presence = presence_of(&system, (1..=10_000).collect()).await;
    let after = command_calls(&redis).await;
    let read_commands = delta(&before, &after, "smismember") + delta(&before, &after, "mget");
    eprintln!("reading 10000 people took {read_commands} Redis commands");
    // Per batch: who is online, their last_seen, who hides.
    assert!(
        read_commands <= 3 * 10_000 / BATCH,
        "{read_commands} commands"
    );
    for per_person in ["get", "sismember", "exists", "scard"] {
        assert_eq!(
            delta(&before, &after, per_person),
            0,
            "{per_person} per person"
        );
    }

    assert_eq!(presence.len(), 10_000);
    for (p, user) in presence.iter().zip(1..) {
        assert_eq!(p.user_id, user);
        match user {
            1..=5000 => assert!(p.online && p.last_seen.is_none(), "{p:?}"),
            5001..=5100 => assert!(!p.online && p.last_seen.is_some(), "{p:?}"),
            _ => assert!(!p.online && p.last_seen.is_none(), "{p:?}"),
        }
    }
}
