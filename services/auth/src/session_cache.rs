//! The Redis side of sessions: the fast path of every token validation.
//!
//! Keys (the seed's):
//! - `session:{id}`: `{"user_id","last_activity_ms","expires_at_ms"}`, with a
//!   TTL of min(idle timeout, remaining lifetime), so Redis drops idle and
//!   expired sessions by itself;
//! - `user_sessions:{userId}`: the set of that person's session ids.
//!
//! Redis is only a copy: PostgreSQL holds the record, and anything missing
//! here is looked up there.
//!
//! A Redis restored from an older snapshot would bring back sessions that
//! ended since. So each entry names the Redis *instance* it was written to
//! (from its `run_id`, new at every start and never in a snapshot), and an
//! entry of another instance counts as missing: the record decides and the
//! entry is written again. A read that a reconnection may have crossed is not
//! trusted either (the instance is learned again first).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use chrono::{DateTime, Duration, Utc};
use fred::{
    clients::Pool,
    interfaces::{ClientLike, KeysInterface, PubsubInterface, SetsInterface},
    types::{Expiration, ExpireOptions, InfoKind, SetOptions},
};
use serde::{Deserialize, Serialize};
use totilove_common::{
    Error,
    events::SESSION_REVOKED_CHANNEL,
    redis::{Reconnections, connected},
};

use crate::domain::{SessionId, UserId};

fn session_key(id: &SessionId) -> String {
    format!("session:{}", id.as_str())
}

fn user_sessions_key(user_id: UserId) -> String {
    format!("user_sessions:{}", user_id.get())
}

/// What Redis keeps of a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedSession {
    pub user_id: i64,
    pub last_activity_ms: i64,
    pub expires_at_ms: i64,
    /// The Redis instance it was written to (see the module comment); 0 in
    /// entries of older versions, which therefore count as missing.
    #[serde(default)]
    pub instance: u64,
}

impl CachedSession {
    pub(crate) fn new(
        user_id: UserId,
        last_activity: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id: user_id.get(),
            last_activity_ms: last_activity.timestamp_millis(),
            expires_at_ms: expires_at.timestamp_millis(),
            instance: 0,
        }
    }

    pub(crate) fn last_activity(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.last_activity_ms).unwrap_or_default()
    }

    pub(crate) fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.expires_at_ms).unwrap_or_default()
    }

    /// How long Redis should keep it from `now`: until it would go idle or
    /// expire, whichever comes first. `None` when that moment has passed.
    fn ttl_ms(&self, now: DateTime<Utc>, idle_timeout: Duration) -> Option<i64> {
        let idle_end = self.last_activity() + idle_timeout;
        let end = idle_end.min(self.expires_at());
        let ms = (end - now).num_milliseconds();
        (ms > 0).then_some(ms)
    }
}

#[derive(Clone)]
pub(crate) struct SessionCache {
    redis: Pool,
    idle_timeout: Duration,
    /// The longest a session lives: the TTL of the per-user set.
    lifetime: Duration,
    /// The Redis instance connected to now (0: not learned yet).
    instance: Arc<AtomicU64>,
    reconnections: Reconnections,
}

impl SessionCache {
    pub(crate) fn new(redis: Pool, idle_timeout: Duration, lifetime: Duration) -> Self {
        Self {
            reconnections: Reconnections::watch(&redis),
            redis,
            idle_timeout,
            lifetime,
            instance: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The instance Redis is now: learned again after any reconnection.
    async fn current_instance(&self) -> Result<u64, Error> {
        let known = self.instance.load(Ordering::Acquire);
        if known != 0 && !self.reconnections.any_since_last() {
            return Ok(known);
        }
        let info: String = connected(&self.redis)?.info(Some(InfoKind::Server)).await?;
        let instance = info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .and_then(|id| u64::from_str_radix(id.trim().get(..16)?, 16).ok())
            .ok_or_else(|| Error::unavailable("the session cache"))?;
        self.instance.store(instance, Ordering::Release);
        Ok(instance)
    }

    #[tracing::instrument(name = "Read a session from Redis", skip_all)]
    pub(crate) async fn get(&self, id: &SessionId) -> Result<Option<CachedSession>, Error> {
        let instance = self.current_instance().await?;
        let raw: Option<String> = connected(&self.redis)?.get(session_key(id)).await?;
        if self.reconnections.any_since_last() {
            // The read may have reached a Redis that restarted meanwhile.
            self.instance.store(0, Ordering::Release);
            return Ok(None);
        }
        // An entry we cannot read, or of another instance, is treated as
        // missing: the record decides.
        Ok(raw
            .and_then(|raw| serde_json::from_str::<CachedSession>(&raw).ok())
            .filter(|entry| entry.instance == instance))
    }

    /// Writes the entry and adds it to the person's set (login and re-warming).
    #[tracing::instrument(name = "Write a session to Redis", skip_all)]
    pub(crate) async fn put(&self, id: &SessionId, entry: &CachedSession) -> Result<(), Error> {
        let Some(ttl) = entry.ttl_ms(Utc::now(), self.idle_timeout) else {
            return Ok(());
        };
        let entry = &CachedSession {
            instance: self.current_instance().await?,
            ..*entry
        };
        let set_key = user_sessions_key(UserId::from_stored(entry.user_id));
        let set_ttl = self.lifetime.num_milliseconds();
        let pipeline = connected(&self.redis)?.pipeline();
        let () = pipeline
            .set(
                session_key(id),
                json(entry),
                Some(Expiration::PX(ttl)),
                None,
                false,
            )
            .await?;
        let () = pipeline.sadd(&set_key, id.as_str()).await?;
        // The set lives as long as its longest session could: NX gives a new
        // set its TTL, GT only ever extends an existing one.
        let () = pipeline
            .pexpire(&set_key, set_ttl, Some(ExpireOptions::NX))
            .await?;
        let () = pipeline
            .pexpire(&set_key, set_ttl, Some(ExpireOptions::GT))
            .await?;
        let _: ((), i64, i64, i64) = pipeline.all().await?;
        Ok(())
    }

    /// Rewrites an entry (new last activity, new TTL) only if it is still
    /// there: a touch racing with a logout must never bring the key back.
    #[tracing::instrument(name = "Refresh a session in Redis", skip_all)]
    pub(crate) async fn refresh(&self, id: &SessionId, entry: &CachedSession) -> Result<(), Error> {
        let Some(ttl) = entry.ttl_ms(Utc::now(), self.idle_timeout) else {
            return Ok(());
        };
        let entry = &CachedSession {
            instance: self.current_instance().await?,
            ..*entry
        };
        let _: Option<String> = connected(&self.redis)?
            .set(
                session_key(id),
                json(entry),
                Some(Expiration::PX(ttl)),
                Some(SetOptions::XX),
                false,
            )
            .await?;
        Ok(())
    }

    #[tracing::instrument(name = "Remove a session from Redis", skip_all)]
    pub(crate) async fn remove(&self, user_id: UserId, id: &SessionId) -> Result<(), Error> {
        let pipeline = connected(&self.redis)?.pipeline();
        let () = pipeline.del(session_key(id)).await?;
        let () = pipeline
            .srem(user_sessions_key(user_id), id.as_str())
            .await?;
        let _: (i64, i64) = pipeline.all().await?;
        Ok(())
    }

    /// Deletes the copies of ended sessions (their people's sets are left:
    /// nothing reads a session through them without its own key).
    #[tracing::instrument(name = "Remove ended sessions from Redis", skip_all, fields(count = ids.len()))]
    pub(crate) async fn remove_entries(&self, ids: &[SessionId]) -> Result<(), Error> {
        let keys: Vec<String> = ids.iter().map(session_key).collect();
        let _: i64 = connected(&self.redis)?.del(keys).await?;
        Ok(())
    }

    /// Tells every gateway to close the sockets of an ended session.
    #[tracing::instrument(name = "Announce an ended session", skip_all)]
    pub(crate) async fn announce_ended(&self, id: &SessionId) -> Result<(), Error> {
        let _: i64 = connected(&self.redis)?
            .publish(SESSION_REVOKED_CHANNEL, id.as_str())
            .await?;
        Ok(())
    }
}

fn json(entry: &CachedSession) -> String {
    serde_json::to_string(entry).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_ends_at_idle_timeout_or_expiry_whichever_is_first() {
        // Whole milliseconds, as the entry keeps them.
        let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("a time");
        let entry = CachedSession::new(UserId::from_stored(1), now, now + Duration::seconds(100));
        assert_eq!(entry.ttl_ms(now, Duration::seconds(10)), Some(10_000));
        assert_eq!(entry.ttl_ms(now, Duration::seconds(1000)), Some(100_000));
        let old = CachedSession::new(
            UserId::from_stored(1),
            now - Duration::seconds(20),
            now + Duration::hours(1),
        );
        assert_eq!(old.ttl_ms(now, Duration::seconds(10)), None);
    }
}
