//! Who is told about a person's presence and typing: the people they share a
//! conversation with (the message service's `Partners`), minus anyone on
//! either side of a block (the auth service) — never strangers.
//!
//! Failures are closed: when the audience cannot be learned, nobody is told
//! (a missed presence event heals at the next one; a leak across a block
//! would not).

use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use fred::{clients::Pool, interfaces::KeysInterface};
use tonic::Status;
use totilove_common::{
    config::Secret,
    grpc::{Intercepted, Outbound},
    redis::{Reconnections, block_generation_key},
};
use totilove_proto::{
    auth::v1::{BlockedAmongRequest, IsBlockedRequest, auth_service_client::AuthServiceClient},
    message::v1::{PartnersRequest, message_service_client::MessageServiceClient},
};

use crate::domain::UserId;

/// People checked for blocks per `BlockedAmong` call.
const BLOCK_CHECK_BATCH: usize = 1000;
/// Most typing pairs remembered; beyond it the memory is cleared.
const PAIR_CACHE_MAX: usize = 100_000;

/// The two people's block generations (typer's first), as Redis holds them.
type Generations = (String, String);
type Pairs = HashMap<(UserId, UserId), (Instant, Generations)>;

pub(crate) struct Audience {
    messages: MessageServiceClient<Intercepted>,
    auth: AuthServiceClient<Intercepted>,
    redis: Pool,
    reconnections: Reconnections,
    /// Typing pairs found allowed, so a person typing does not cost two RPCs
    /// per forwarded indicator: each with the block generations it was found
    /// under, reused only while both are unchanged (a block is seen by the
    /// next indicator) and for at most `PRESENCE_AUDIENCE_CACHE_SECS`. Only
    /// positives are kept: a first message makes a pair allowed at once.
    allowed_pairs: Mutex<Pairs>,
    pair_memory: Duration,
}

// Clients and a cache of pairs: nothing worth printing.
impl std::fmt::Debug for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audience").finish_non_exhaustive()
    }
}

impl Audience {
    pub(crate) fn new(
        message_url: &str,
        auth_url: &str,
        token: &Secret,
        redis: Pool,
        pair_memory: Duration,
    ) -> anyhow::Result<Self> {
        let outbound = Outbound::new(token)?;
        Ok(Self {
            messages: MessageServiceClient::with_interceptor(
                totilove_common::grpc::counted_channel(message_url)?,
                outbound.clone(),
            ),
            auth: AuthServiceClient::with_interceptor(
                totilove_common::grpc::counted_channel(auth_url)?,
                outbound,
            ),
            reconnections: Reconnections::watch(&redis),
            redis,
            allowed_pairs: Mutex::new(HashMap::new()),
            pair_memory,
        })
    }

    /// Everyone who may see `user`'s presence.
    pub(crate) async fn of(&self, user: UserId) -> Vec<i64> {
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
    pub(crate) async fn includes(&self, user: UserId, partner: UserId) -> bool {
        // Without generations (Redis unreachable) nothing remembered can be
        // trusted: ask every time.
        let generations = self.generations(user, partner).await;
        if let Some(g) = &generations
            && self.remembers(user, partner, g)
        {
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
        if allowed && let Some(g) = generations {
            self.remember(user, partner, g);
        }
        allowed
    }

    /// Both people's block generations. Read before the auth service is
    /// asked, so an answer is never remembered under a generation newer
    /// than the one it was given under.
    async fn generations(&self, user: UserId, partner: UserId) -> Option<Generations> {
        let client = totilove_common::redis::connected(&self.redis).ok()?;
        let keys = vec![
            block_generation_key(user.get()),
            block_generation_key(partner.get()),
        ];
        let read: Result<Vec<Option<String>>, _> = client.mget(keys).await;
        // A Redis that came back may hold older generations than those of a
        // remembered answer: forget them all.
        if self.reconnections.any_since_last() {
            self.pairs().clear();
        }
        match read {
            Ok(values) => {
                let mut values = values.into_iter().map(|v| v.unwrap_or_else(|| "0".into()));
                Some((values.next()?, values.next()?))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read block generations; checking the block");
                None
            }
        }
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

    /// `candidates` minus everyone who blocks `user` or whom `user` blocks:
    /// one `BlockedAmong` call per thousand candidates. Any failure tells
    /// nobody.
    async fn without_blocked(&self, user: UserId, candidates: Vec<i64>) -> Vec<i64> {
        let mut blocked = HashSet::new();
        for batch in candidates.chunks(BLOCK_CHECK_BATCH) {
            let request = BlockedAmongRequest {
                user_id: user.get(),
                others: batch.to_vec(),
            };
            match self.auth.clone().blocked_among(request).await {
                Ok(answer) => blocked.extend(answer.into_inner().blocked),
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

    /// Whether either of the two blocks the other. Any failure counts as
    /// blocked.
    async fn is_blocked(&self, user: UserId, other: i64) -> bool {
        let request = IsBlockedRequest {
            user_a: user.get(),
            user_b: other,
        };
        match self.auth.clone().is_blocked(request).await {
            Ok(answer) => answer.into_inner().blocked,
            Err(status) => {
                tracing::warn!(%user, other, code = ?status.code(), message = status.message(),
                    "cannot check a block; treating the pair as blocked");
                true
            }
        }
    }

    fn pairs(&self) -> MutexGuard<'_, Pairs> {
        self.allowed_pairs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remembers(&self, user: UserId, partner: UserId, generations: &Generations) -> bool {
        self.pairs()
            .get(&(user, partner))
            .is_some_and(|(since, g)| g == generations && since.elapsed() < self.pair_memory)
    }

    fn remember(&self, user: UserId, partner: UserId, generations: Generations) {
        if self.pair_memory.is_zero() {
            return;
        }
        let mut pairs = self.pairs();
        if pairs.len() >= PAIR_CACHE_MAX {
            pairs.retain(|_, (since, _)| since.elapsed() < self.pair_memory);
            if pairs.len() >= PAIR_CACHE_MAX {
                pairs.clear();
            }
        }
        pairs.insert((user, partner), (Instant::now(), generations));
    }
}
