//! Whether a send may go to the writer: the sender's rate limit, and no block
//! between the two people — decided at once after every block or unblock, on
//! every instance, at one Redis round trip per send.
//!
//! The rate limit is a token bucket per sender in Redis (shared by every
//! instance, REST and WebSocket alike); while Redis is unreachable an
//! in-process bucket with the same settings stands in.
//!
//! Blocks live in the auth service's PostgreSQL. The auth service gives each
//! person a *block generation* in Redis (`blocks:gen:{user}`), set to a new
//! random value after every block or unblock they take part in commits and
//! before it is answered. The same script that takes the token reads both
//! people's generations, and the answer the auth service gave for the pair is
//! reused only while both are unchanged: a change is seen by the very next
//! send. When Redis cannot be asked, the auth service is asked every time
//! (and an unreachable auth service means 503, never "not blocked"). A Redis
//! that restarted may hold older generations, so every reconnection forgets
//! every remembered answer.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use fred::{clients::Pool as RedisPool, interfaces::KeysInterface, types::Value};
use tokio::time::Instant;
use totilove_common::{
    Code, Error,
    redis::{Reconnections, block_generation_key},
};

use crate::{
    cache::scripts::ADMIT,
    domain::{Pair, UserId},
    people::People,
};

/// Answers remembered at most; beyond, all are forgotten (they are cheap to
/// ask again).
const MAX_REMEMBERED: usize = 500_000;
/// In-process buckets kept at most while Redis is down.
const MAX_LOCAL_BUCKETS: usize = 100_000;

/// How fast one person may send (`SEND_RATE_PER_SEC`, `SEND_BURST`).
#[derive(Debug, Clone, Copy)]
pub struct SendLimit {
    /// Sends a second, sustained.
    pub per_sec: f64,
    /// Sends at once after a quiet while.
    pub burst: u32,
}

#[derive(Clone)]
pub(crate) struct Admission {
    inner: Arc<Inner>,
}

struct Inner {
    redis: RedisPool,
    people: People,
    limit: SendLimit,
    /// Block answers per pair, with the generations (lower id's first) they hold for.
    known: Mutex<HashMap<Pair, Known>>,
    reconnections: Reconnections,
    /// The stand-in buckets: tokens and when they were counted.
    local: Mutex<HashMap<i64, (f64, Instant)>>,
}

struct Known {
    generations: (String, String),
    blocked: bool,
}

/// What Redis said about one send.
struct Answer {
    wait_ms: u64,
    sender_gen: String,
    receiver_gen: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bucket_key(user: UserId) -> String {
    format!("ratelimit:send:{}", user.get())
}

fn rate_limited(wait: Duration) -> Error {
    metrics::counter!("totilove_rate_limited_total", "kind" => "send").increment(1);
    let mut e = Error::rate_limited(wait.as_secs_f64().ceil() as u64);
    e.message = "too many messages; slow down".to_owned();
    e
}

impl Admission {
    pub(crate) fn new(redis: RedisPool, people: People, limit: SendLimit) -> Self {
        Self {
            inner: Arc::new(Inner {
                reconnections: Reconnections::watch(&redis),
                redis,
                people,
                limit: SendLimit {
                    per_sec: limit.per_sec.max(0.001),
                    burst: limit.burst.max(1),
                },
                known: Mutex::default(),
                local: Mutex::default(),
            }),
        }
    }

    /// `Ok` when `sender` may send to `receiver` now; else `rate_limited`
    /// (nothing is stored), `blocked`, or `unavailable`.
    pub(crate) async fn admit(&self, sender: UserId, receiver: UserId) -> Result<(), Error> {
        let inner = &self.inner;
        let pair = Pair::new(sender.get(), receiver.get());
        let Some(answer) = self.ask_redis(sender, receiver).await else {
            inner.take_local_token(sender)?;
            return ensure_not_blocked(inner.people.is_blocked(pair).await?);
        };
        if answer.wait_ms > 0 {
            return Err(rate_limited(Duration::from_millis(answer.wait_ms)));
        }
        let generations = if sender.get() == pair.lo {
            (answer.sender_gen, answer.receiver_gen)
        } else {
            (answer.receiver_gen, answer.sender_gen)
        };
        ensure_not_blocked(self.blocked_under(pair, Some(generations)).await?)
    }

    /// Of `pairs`, those with a block either way, for events that must not
    /// cross one (statuses). One Redis round trip for every generation, and
    /// the auth service only for the pairs whose answer is not remembered.
    pub(crate) async fn blocked_among(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, Error> {
        let mut generations = self.generations_of(pairs).await;
        let answers = pairs.iter().map(|&pair| {
            let under = generations.as_mut().and_then(|g| g.remove(&pair));
            async move { Ok::<_, Error>((pair, self.blocked_under(pair, under).await?)) }
        });
        let answers = futures::future::try_join_all(answers).await?;
        Ok(answers
            .into_iter()
            .filter_map(|(pair, blocked)| blocked.then_some(pair))
            .collect())
    }

    /// Each pair's generations (lower id's first), or `None` when Redis
    /// cannot be asked.
    async fn generations_of(&self, pairs: &[Pair]) -> Option<HashMap<Pair, (String, String)>> {
        let people: Vec<i64> = pairs
            .iter()
            .flat_map(|p| [p.lo, p.hi])
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if people.is_empty() {
            return Some(HashMap::new());
        }
        let client = totilove_common::redis::connected(&self.inner.redis).ok()?;
        let keys: Vec<String> = people.iter().map(|&p| block_generation_key(p)).collect();
        let values: Vec<Option<String>> = match client.mget(keys).await {
            Ok(values) => values,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read block generations; asking auth");
                return None;
            }
        };
        let of: HashMap<i64, String> = people
            .into_iter()
            .zip(values)
            .map(|(p, v)| (p, v.unwrap_or_else(|| "0".to_owned())))
            .collect();
        Some(
            pairs
                .iter()
                .map(|&p| (p, (of[&p.lo].clone(), of[&p.hi].clone())))
                .collect(),
        )
    }

    /// Whether the pair is blocked: the remembered answer while both
    /// generations (read just before) are unchanged, else the auth service's
    /// (remembered when generations were read). Without generations, always
    /// the auth service.
    async fn blocked_under(
        &self,
        pair: Pair,
        generations: Option<(String, String)>,
    ) -> Result<bool, Error> {
        let inner = &self.inner;
        let Some(generations) = generations else {
            return inner.people.is_blocked(pair).await;
        };
        if inner.reconnections.any_since_last() {
            lock(&inner.known).clear();
        }
        let remembered = lock(&inner.known)
            .get(&pair)
            .filter(|k| k.generations == generations)
            .map(|k| k.blocked);
        if let Some(blocked) = remembered {
            return Ok(blocked);
        }
        let blocked = inner.people.is_blocked(pair).await?;
        let mut known = lock(&inner.known);
        if known.len() >= MAX_REMEMBERED {
            known.clear();
        }
        known.insert(
            pair,
            Known {
                generations,
                blocked,
            },
        );
        Ok(blocked)
    }

    /// The admission script's answer, or `None` when Redis cannot be used.
    async fn ask_redis(&self, sender: UserId, receiver: UserId) -> Option<Answer> {
        let inner = &self.inner;
        let client = totilove_common::redis::connected(&inner.redis).ok()?;
        let keys = vec![
            bucket_key(sender),
            block_generation_key(sender.get()),
            block_generation_key(receiver.get()),
        ];
        let args: Vec<Value> = vec![
            inner.limit.per_sec.to_string().into(),
            i64::from(inner.limit.burst).into(),
        ];
        match ADMIT
            .evalsha_with_reload::<(u64, String, String), _, _>(client, keys, args)
            .await
        {
            Ok((wait_ms, sender_gen, receiver_gen)) => Some(Answer {
                wait_ms,
                sender_gen,
                receiver_gen,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot admit a send through Redis; deciding locally");
                None
            }
        }
    }
}

fn ensure_not_blocked(blocked: bool) -> Result<(), Error> {
    if blocked {
        Err(Error::new(Code::Blocked, "you cannot message this person"))
    } else {
        Ok(())
    }
}

impl Inner {
    /// The in-process bucket of `sender` while Redis is down.
    fn take_local_token(&self, sender: UserId) -> Result<(), Error> {
        let SendLimit { per_sec, burst } = self.limit;
        let burst = f64::from(burst);
        let now = Instant::now();
        let mut local = lock(&self.local);
        if local.len() >= MAX_LOCAL_BUCKETS {
            // Full buckets are the same as none.
            local.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * per_sec < burst);
            if local.len() >= MAX_LOCAL_BUCKETS {
                local.clear();
            }
        }
        let (tokens, at) = local.entry(sender.get()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(rate_limited(Duration::from_secs_f64(
                (1.0 - *tokens) / per_sec,
            )))
        }
    }
}
