//! Closing the sockets of sessions that ended, when no event says so.
//!
//! A logout or revocation is published (`session_revoked`) and closes its
//! sockets at once; but a publish can fail or be lost with the subscriber
//! connection, a socket can attach just after the event went by, and a
//! session that expires or idles out has no event at all. So every second
//! the gateway also asks the auth service which sessions ended since it last
//! asked (`EndedSessions`: one indexed query whatever the number of sockets)
//! and closes the local sockets of those. After a gap longer than that
//! window reaches (auth unreachable for minutes), every local session is
//! checked one person at a time instead ([`recheck`]).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};
use totilove_common::time::{from_timestamp, to_timestamp};
use totilove_proto::auth::v1::{EndedSessionsRequest, ListSessionsRequest};

use super::Inner;

const CONCURRENCY: usize = 8;
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the gateway asks; with the call itself, a session's sockets
/// close well within the contract's 2 s after it ends.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// Each window starts this long before the previous one ended: a revocation
/// is stamped before its transaction commits, so one committing across an
/// ask would otherwise fall between two windows. (Closing twice is harmless.)
const COMMIT_MARGIN: chrono::Duration = chrono::Duration::seconds(5);
/// Past this without an answer, the auth service's window (5 minutes) may no
/// longer reach back to the last one: check every session instead.
const MAX_GAP: Duration = Duration::from_secs(4 * 60);

/// Runs for the gateway's life.
pub(crate) async fn watch(hub: Arc<Inner>) {
    let mut ticker = tokio::time::interval(WATCH_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut since = None;
    let mut answered = Instant::now();
    loop {
        ticker.tick().await;
        let mut auth = hub.auth.clone();
        let call = auth.ended_sessions(EndedSessionsRequest { since });
        let reply = match tokio::time::timeout(RPC_TIMEOUT, call).await {
            Ok(Ok(reply)) => reply.into_inner(),
            Ok(Err(status)) => {
                tracing::warn!(error = %status, "cannot ask which sessions ended");
                continue;
            }
            Err(_) => {
                tracing::warn!("asking which sessions ended timed out");
                continue;
            }
        };
        if answered.elapsed() > MAX_GAP {
            tokio::spawn(recheck(hub.clone()));
        }
        answered = Instant::now();
        since = reply
            .until
            .as_ref()
            .map(|until| to_timestamp(from_timestamp(until) - COMMIT_MARGIN));
        if !reply.session_ids.is_empty() {
            let ended: HashSet<&str> = reply.session_ids.iter().map(String::as_str).collect();
            hub.close_sessions(&ended);
        }
    }
}

/// Asks the auth service which of the local sockets' sessions still live
/// (one call per person) and closes the others.
pub(crate) async fn recheck(hub: Arc<Inner>) {
    let mut by_person: HashMap<i64, HashSet<Arc<str>>> = HashMap::new();
    for socket in hub.live_sockets() {
        by_person
            .entry(socket.user_id)
            .or_default()
            .insert(socket.session_id.clone());
    }
    futures::stream::iter(by_person)
        .for_each_concurrent(CONCURRENCY, |(user_id, sessions)| {
            let hub = hub.clone();
            async move {
                let mut auth = hub.auth.clone();
                let call = auth.list_sessions(ListSessionsRequest {
                    user_id,
                    current_session_id: String::new(),
                });
                let alive: HashSet<String> = match tokio::time::timeout(RPC_TIMEOUT, call).await {
                    Ok(Ok(reply)) => reply
                        .into_inner()
                        .sessions
                        .into_iter()
                        .map(|s| s.id)
                        .collect(),
                    // Unknown: keep the sockets (the next reconnect checks again).
                    _ => return,
                };
                for session in sessions.iter().filter(|s| !alive.contains(&***s)) {
                    hub.close_session(session);
                }
            }
        })
        .await;
}
