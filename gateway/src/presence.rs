//! Online status of people, as the REST routes show it. Presence is a nicety
//! on these pages: when the presence service cannot answer quickly, people are
//! shown offline rather than the page failing.

use std::{collections::HashMap, time::Duration};

use totilove_proto::presence::v1::GetPresenceRequest;

use crate::state::AppState;

/// Short: a page waits for this at most.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub online: bool,
    /// RFC 3339, when known.
    pub last_seen: Option<String>,
}

/// The status of each of `user_ids` as `viewer` may see it (people who hide
/// their presence are offline to everyone but themselves), in one call;
/// everyone offline on failure.
pub async fn lookup(state: &AppState, viewer: i64, user_ids: &[i64]) -> HashMap<i64, Status> {
    if user_ids.is_empty() {
        return HashMap::new();
    }
    let mut presence = state.presence();
    let call = presence.get_presence(GetPresenceRequest {
        user_ids: user_ids.to_vec(),
        viewer_id: viewer,
    });
    match tokio::time::timeout(LOOKUP_TIMEOUT, call).await {
        Ok(Ok(reply)) => reply
            .into_inner()
            .presence
            .into_iter()
            .map(|p| {
                let status = Status {
                    online: p.online,
                    last_seen: totilove_common::time::timestamp_rfc3339(p.last_seen.as_ref()),
                };
                (p.user_id, status)
            })
            .collect(),
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), "presence lookup failed; showing people offline");
            HashMap::new()
        }
        Err(_) => {
            tracing::warn!("presence lookup timed out; showing people offline");
            HashMap::new()
        }
    }
}

/// A change the presence service tells people's open pages about (a rename,
/// a block) is a nicety on top of a recorded change: it may not hold the
/// answer up for long, and its failure fails nothing.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);

/// Awaits a notice to the presence service, logging rather than failing.
pub async fn notice<T>(
    what: &'static str,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) {
    match tokio::time::timeout(NOTICE_TIMEOUT, call).await {
        Ok(Ok(_)) => {}
        Ok(Err(status)) => tracing::warn!(code = ?status.code(), "could not announce {what}"),
        Err(_) => tracing::warn!("announcing {what} timed out"),
    }
}
