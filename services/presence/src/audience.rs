//! Who is told about a person's presence and typing: the people they share a
//! conversation with (the message service's `Partners`), minus anyone on
//! either side of a block (the auth service) — never strangers.
//!
//! Failures are closed: when the audience cannot be learned, nobody is told
//! (a missed presence event heals at the next one; a leak across a block
//! would not).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use tonic::{Code, Status, service::interceptor::InterceptedService, transport::Channel};
use totilove_kit::{config::Secret, grpc::Outbound};
use totilove_proto::{
    auth::v1::{BlockedAmongRequest, IsBlockedRequest, auth_service_client::AuthServiceClient},
    message::v1::{PartnersRequest, message_service_client::MessageServiceClient},
};

use crate::domain::UserId;

type Intercepted = InterceptedService<Channel, Outbound>;

/// People checked for blocks per `BlockedAmong` call.
const BLOCK_CHECK_BATCH: usize = 1000;
/// Pair checks in flight at once when the auth service has no batch check.
const PAIR_CHECKS_IN_FLIGHT: usize = 16;
/// Most typing pairs remembered; beyond it the memory is cleared.
const PAIR_CACHE_MAX: usize = 100_000;

pub struct Audience {
    messages: MessageServiceClient<Intercepted>,
    auth: AuthServiceClient<Intercepted>,
    /// Typing pairs found allowed recently, so a person typing does not cost
    /// two RPCs per forwarded indicator. Only positives are kept: a first
    /// message makes a pair allowed at once. A block takes effect on typing
    /// within this memory's lifetime (`PRESENCE_AUDIENCE_CACHE_SECS`).
    allowed_pairs: Mutex<HashMap<(UserId, UserId), Instant>>,
    pair_memory: Duration,
    /// Whether the missing block RPCs were already logged (once is enough).
    told_no_batch_blocks: AtomicBool,
    told_no_blocks: AtomicBool,
}

impl Audience {
    pub fn new(
        message_url: &str,
        auth_url: &str,
        token: &Secret,
        pair_memory: Duration,
    ) -> anyhow::Result<Self> {
        let outbound = Outbound::new(token)?;
        Ok(Self {
            messages: MessageServiceClient::with_interceptor(
                totilove_kit::grpc::channel(message_url)?,
                outbound.clone(),
            ),
            auth: AuthServiceClient::with_interceptor(
                totilove_kit::grpc::channel(auth_url)?,
                outbound,
            ),
            allowed_pairs: Mutex::new(HashMap::new()),
            pair_memory,
            told_no_batch_blocks: AtomicBool::new(false),
            told_no_blocks: AtomicBool::new(false),
        })
    }

    /// Everyone who may see `user`'s presence.
    pub async fn of(&self, user: UserId) -> Vec<i64> {
        match self.partners(user).await {
            Ok(partners) => self.without_blocked(user, partners).await,
            Err(status) => {
                tracing::warn!(%user, code = ?status.code(), message = status.message(),
                    "cannot learn a person's partners; their presence change goes to nobody");
                Vec::new()
            }
        }
    }

    /// Whether `partner` may see `user` typing.
    pub async fn includes(&self, user: UserId, partner: UserId) -> bool {
        if self.remembers(user, partner) {
            return true;
        }
        let shares = match self.partners(user).await {
            Ok(partners) => partners.contains(&partner.get()),
            Err(status) => {
                tracing::warn!(%user, code = ?status.code(), message = status.message(),
                    "cannot learn a person's partners; their typing goes to nobody");
                false
            }
        };
        let allowed = shares && !self.is_blocked(user, partner.get()).await;
        if allowed {
            self.remember(user, partner);
        }
        allowed
    }

    async fn partners(&self, user: UserId) -> Result<Vec<i64>, Status> {
        let answer = self
            .messages
            .clone()
            .partners(PartnersRequest {
                user_id: user.get(),
            })
            .await?;
        Ok(answer.into_inner().user_ids)
    }

    /// THE SEAM FOR BLOCKS: `candidates` minus everyone who blocks `user` or
    /// whom `user` blocks. One `BlockedAmong` call per thousand candidates;
    /// while the auth service does not implement it, one `IsBlocked` per
    /// candidate.
    async fn without_blocked(&self, user: UserId, candidates: Vec<i64>) -> Vec<i64> {
        let mut blocked = HashSet::new();
        for batch in candidates.chunks(BLOCK_CHECK_BATCH) {
            let request = BlockedAmongRequest {
                user_id: user.get(),
                others: batch.to_vec(),
            };
            match self.auth.clone().blocked_among(request).await {
                Ok(answer) => blocked.extend(answer.into_inner().blocked),
                Err(status) if status.code() == Code::Unimplemented => {
                    if !self.told_no_batch_blocks.swap(true, Ordering::Relaxed) {
                        tracing::info!("auth has no BlockedAmong; checking blocks pair by pair");
                    }
                    return self.without_blocked_pair_by_pair(user, candidates).await;
                }
                Err(status) => {
                    tracing::warn!(%user, code = ?status.code(), message = status.message(),
                        "cannot check blocks; the presence change goes to nobody");
                    return Vec::new();
                }
            }
        }
        candidates
            .into_iter()
            .filter(|c| !blocked.contains(c))
            .collect()
    }

    async fn without_blocked_pair_by_pair(&self, user: UserId, candidates: Vec<i64>) -> Vec<i64> {
        stream::iter(candidates)
            .map(|other| async move { (other, self.is_blocked(user, other).await) })
            .buffer_unordered(PAIR_CHECKS_IN_FLIGHT)
            .filter_map(|(other, blocked)| async move { (!blocked).then_some(other) })
            .collect()
            .await
    }

    /// Whether either of the two blocks the other. Unknown (the auth service
    /// down) counts as blocked; not implemented yet counts as not blocked.
    async fn is_blocked(&self, user: UserId, other: i64) -> bool {
        let request = IsBlockedRequest {
            user_a: user.get(),
            user_b: other,
        };
        match self.auth.clone().is_blocked(request).await {
            Ok(answer) => answer.into_inner().blocked,
            Err(status) if status.code() == Code::Unimplemented => {
                if !self.told_no_blocks.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "auth does not implement IsBlocked yet; treating nobody as blocked"
                    );
                }
                false
            }
            Err(status) => {
                tracing::warn!(%user, other, code = ?status.code(), message = status.message(),
                    "cannot check a block; treating the pair as blocked");
                true
            }
        }
    }

    fn remembers(&self, user: UserId, partner: UserId) -> bool {
        let pairs = self.allowed_pairs.lock().unwrap_or_else(|e| e.into_inner());
        pairs
            .get(&(user, partner))
            .is_some_and(|since| since.elapsed() < self.pair_memory)
    }

    fn remember(&self, user: UserId, partner: UserId) {
        if self.pair_memory.is_zero() {
            return;
        }
        let mut pairs = self.allowed_pairs.lock().unwrap_or_else(|e| e.into_inner());
        if pairs.len() >= PAIR_CACHE_MAX {
            pairs.retain(|_, since| since.elapsed() < self.pair_memory);
            if pairs.len() >= PAIR_CACHE_MAX {
                pairs.clear();
            }
        }
        pairs.insert((user, partner), Instant::now());
    }
}
