//! Revocations published while the subscriber connection was down are lost
//! with it: after a reconnect, the auth service is asked which of the local
//! sockets' sessions still live (one call per person), and the others close.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use totilove_proto::auth::v1::ListSessionsRequest;

use super::Inner;

const CONCURRENCY: usize = 8;
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

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
