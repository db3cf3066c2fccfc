//! Telling the presence service which sockets live here: one RPC when a
//! socket opens (before its upgrade is answered, so the presence service can
//! refuse a person's socket beyond the cap across every instance) and one
//! when it closes, and every heartbeat interval ONE
//! `Heartbeat` for all of this instance's sockets (not one per socket).
//! Presence is never allowed to break messaging: failures are logged.

use std::{collections::HashSet, sync::Arc, time::Duration};

use futures::StreamExt;
use totilove_proto::presence::v1::{
    CloseConnectionRequest, Connection, HeartbeatRequest, OpenConnectionRequest,
};

use super::{Inner, outbox::SocketHandle};

const RPC_TIMEOUT: Duration = Duration::from_secs(2);
/// A heartbeat carries every socket of the instance; it may take longer.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn connection(socket: &SocketHandle) -> Connection {
    Connection {
        user_id: socket.user_id,
        connection_id: socket.connection_id.clone(),
    }
}

/// What the presence service said about an opened socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    Recorded,
    /// Its person holds `max` sockets already, across every instance.
    Refused,
    /// No answer: the socket stays (the local cap still holds) and the next
    /// heartbeat records it.
    Unknown,
}

/// Records a socket with the presence service, refused when its person
/// already holds `max` others anywhere (0: no cap).
pub(crate) async fn open(hub: &Inner, connection: Connection, max: u32) -> Opened {
    let mut presence = hub.presence.clone();
    let call = presence.open_connection(OpenConnectionRequest {
        gateway_id: hub.instance_id.clone(),
        connection: Some(connection),
        max_per_person: max,
    });
    match tokio::time::timeout(RPC_TIMEOUT, call).await {
        Ok(Ok(reply)) if reply.get_ref().refused => Opened::Refused,
        Ok(Ok(_)) => Opened::Recorded,
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), "presence did not record an opened socket");
            Opened::Unknown
        }
        Err(_) => {
            tracing::warn!("recording an opened socket with presence timed out");
            Opened::Unknown
        }
    }
}

pub(crate) async fn close(hub: &Inner, connection: Connection) {
    let mut presence = hub.presence.clone();
    let call = presence.close_connection(CloseConnectionRequest {
        gateway_id: hub.instance_id.clone(),
        connection: Some(connection),
    });
    match tokio::time::timeout(RPC_TIMEOUT, call).await {
        Ok(Ok(_)) => {}
        // Without the goodbye the socket lapses when its heartbeats stop.
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), "presence did not record a closed socket")
        }
        Err(_) => tracing::warn!("recording a closed socket with presence timed out"),
    }
}

/// Beats for every live socket, one RPC per interval, and re-opens those the
/// presence service no longer knows (lost with Redis, or lapsed in a stall).
pub(crate) async fn beat(hub: Arc<Inner>) {
    let mut ticks = tokio::time::interval(hub.settings.heartbeat_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let sockets = hub.live_sockets();
        if sockets.is_empty() {
            continue;
        }
        let mut presence = hub.presence.clone();
        let call = presence.heartbeat(HeartbeatRequest {
            gateway_id: hub.instance_id.clone(),
            connections: sockets.iter().map(|s| connection(s)).collect(),
        });
        let unknown = match tokio::time::timeout(HEARTBEAT_TIMEOUT, call).await {
            Ok(Ok(reply)) => reply.into_inner().unknown,
            Ok(Err(status)) => {
                tracing::warn!(code = ?status.code(), sockets = sockets.len(), "heartbeat failed");
                continue;
            }
            Err(_) => {
                tracing::warn!(sockets = sockets.len(), "heartbeat timed out");
                continue;
            }
        };
        if unknown.is_empty() {
            continue;
        }
        tracing::info!(
            sockets = unknown.len(),
            "presence lost some sockets; opening them again"
        );
        let unknown: HashSet<(i64, String)> = unknown
            .into_iter()
            .map(|c| (c.user_id, c.connection_id))
            .collect();
        let lost: Vec<_> = sockets
            .into_iter()
            .filter(|s| unknown.contains(&(s.user_id, s.connection_id.clone())))
            .collect();
        futures::stream::iter(lost)
            .for_each_concurrent(16, |socket| {
                let hub = hub.clone();
                async move {
                    if hub.is_live(socket.id) {
                        // A live socket is never refused afterwards.
                        open(&hub, connection(&socket), 0).await;
                    }
                }
            })
            .await;
    }
}
