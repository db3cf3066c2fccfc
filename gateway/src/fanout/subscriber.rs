//! The one Redis subscriber connection of the process: built with a
//! reconnect policy, its messages dispatched to the people's chains, and
//! every reconnect followed by a resubscription and a repair of every chain
//! (what was published while the connection was down is lost).

use std::{sync::Arc, time::Duration};

use fred::{
    clients::SubscriberClient,
    interfaces::{ClientLike, EventInterface, PubsubInterface},
    types::{Builder, config::ReconnectPolicy},
};
use tokio::sync::broadcast::error::RecvError;
use totilove_common::events::{Event, SESSION_REVOKED_CHANNEL};

use super::Inner;

/// Messages buffered between the connection and the dispatcher. A burst
/// beyond it is not lost silently: the dispatcher sees the lag and repairs.
const BROADCAST_CAPACITY: usize = 16 * 1024;

pub(crate) fn build(redis: &totilove_common::redis::Target) -> anyhow::Result<SubscriberClient> {
    let client = Builder::from_config(redis.config()?)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 1;
            c.tcp.nodelay = Some(true);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(2);
            p.broadcast_channel_capacity = BROADCAST_CAPACITY;
        })
        // Retry forever, 50 ms to 2 s apart.
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
        .build_subscriber_client()?;
    Ok(client)
}

/// Connects (without failing while Redis is down: the client keeps trying)
/// and subscribes the session-revocation channel in the background.
pub(crate) async fn connect(hub: &Arc<Inner>) {
    let subscriber = &hub.subscriber;
    subscriber.connect();
    let connected =
        tokio::time::timeout(Duration::from_secs(3), subscriber.wait_for_connect()).await;
    if !matches!(connected, Ok(Ok(()))) {
        tracing::warn!("Redis is not reachable yet: live events wait until it is");
    }
    let subscriber = subscriber.clone();
    let task = tokio::spawn(async move {
        let mut delay = Duration::from_millis(50);
        while let Err(e) = subscriber.subscribe(SESSION_REVOKED_CHANNEL).await {
            tracing::warn!(error = %e, "cannot subscribe to session revocations; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    });
    super::lock(&hub.tasks).push(task);
}

/// Routes each published event to its person's chain.
pub(crate) async fn dispatch(hub: Arc<Inner>) {
    let mut messages = hub.subscriber.message_rx();
    loop {
        let message = match messages.recv().await {
            Ok(message) => message,
            Err(RecvError::Lagged(missed)) => {
                metrics::counter!("totilove_fanout_gaps_total", "cause" => "dispatcher_lag")
                    .increment(1);
                tracing::warn!(missed, "the dispatcher fell behind; repairing every chain");
                hub.repair_all();
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let channel: &str = &message.channel;
        let Some(payload) = message.value.as_str() else {
            continue;
        };
        if channel == SESSION_REVOKED_CHANNEL {
            hub.close_session(payload.trim());
            continue;
        }
        let Some(user_id) = user_of_channel(channel) else {
            continue;
        };
        let Some(chain) = hub.chain(user_id) else {
            continue;
        };
        match Event::from_json(&payload) {
            Some(event) => chain.push(event),
            None => tracing::warn!(channel, "unreadable event; ignored"),
        }
    }
}

/// `user:{id}:events` → id (the inverse of `events::user_channel`).
fn user_of_channel(channel: &str) -> Option<i64> {
    channel
        .strip_prefix("user:")?
        .strip_suffix(":events")?
        .parse()
        .ok()
}

/// After every (re)connection: resubscribe what is tracked, then have every
/// chain check for what was published while the connection was down. The
/// repair comes after the SUBSCRIBE is acknowledged, so nothing falls between.
pub(crate) async fn follow_reconnects(hub: Arc<Inner>) {
    let mut reconnects = hub.subscriber.reconnect_rx();
    loop {
        match reconnects.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        let mut delay = Duration::from_millis(50);
        for _ in 0..5 {
            match hub.subscriber.resubscribe_all().await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "resubscribing failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        // Revocations published meanwhile are lost too; `sessions::watch`
        // closes their sockets from the auth service's record.
        hub.repair_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_names_its_person() {
        assert_eq!(
            user_of_channel(&totilove_common::events::user_channel(42)),
            Some(42)
        );
        assert_eq!(user_of_channel("user:x:events"), None);
        assert_eq!(user_of_channel("session_revoked"), None);
    }
}
