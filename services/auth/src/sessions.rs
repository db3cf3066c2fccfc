//! Sessions: many per person, each recorded in PostgreSQL (the record) and
//! copied to Redis (the fast path of every validation).
//!
//! The rules that keep it safe:
//! - a validation passes only when a store said the session is alive: Redis,
//!   or PostgreSQL when Redis is unreachable or lost the key; if neither can
//!   be asked, the answer is `unavailable` (fail closed);
//! - a revocation is written to PostgreSQL before it is answered; the Redis
//!   copy is deleted next (retried in the background if Redis is down, its
//!   TTL bounding the rest);
//! - nothing brings a revoked session back into Redis: refreshes only rewrite
//!   keys that still exist, and re-warming checks the record again after
//!   writing and undoes itself if a revocation slipped in between;
//! - a Redis that answers reads but refuses writes cannot keep an ended
//!   session alive: until its copy is known to be deleted, an ended session
//!   is *unconfirmed* and a Redis hit for it is not trusted (the record
//!   decides). Every instance learns which sessions ended from PostgreSQL
//!   each second ([`Sessions::watch_ended`]) and deletes their copies itself.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration as StdDuration,
};

use chrono::{DateTime, Duration, Utc};
use totilove_common::Error;

use crate::{
    config::Config,
    domain::{ClientInfo, SessionId, UserId},
    session_cache::{CachedSession, SessionCache},
    session_store::{SessionRow, SessionStore},
    tokens::TokenSubject,
};

/// A session just opened.
pub(crate) struct NewSession {
    pub id: SessionId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub(crate) struct Sessions {
    store: SessionStore,
    cache: SessionCache,
    idle_timeout: Duration,
    lifetime: Duration,
    touch_interval: Duration,
    /// Ended sessions whose Redis copy may still exist (see the module comment).
    unconfirmed: Arc<Mutex<HashSet<SessionId>>>,
}

/// How often every instance asks PostgreSQL which sessions ended.
const WATCH_INTERVAL: StdDuration = StdDuration::from_secs(1);
/// Each ask reaches this far before the previous one's end: a revocation is
/// stamped before its transaction commits.
const COMMIT_MARGIN: Duration = Duration::seconds(5);

fn duration(d: StdDuration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

impl Sessions {
    pub(crate) fn new(store: SessionStore, cache: SessionCache, config: &Config) -> Self {
        Self {
            store,
            cache,
            idle_timeout: duration(config.session_idle_timeout),
            lifetime: duration(config.session_lifetime),
            touch_interval: duration(config.effective_touch_interval()),
            unconfirmed: Arc::default(),
        }
    }

    fn unconfirmed(&self) -> std::sync::MutexGuard<'_, HashSet<SessionId>> {
        // A panic while holding it cannot leave the set half-changed.
        self.unconfirmed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs for the service's life: every second, the sessions that ended
    /// (on any instance, or by expiry) have their Redis copies deleted from
    /// here; those whose delete fails stay unconfirmed until one succeeds.
    pub(crate) async fn watch_ended(self) {
        let mut ticker = tokio::time::interval(WATCH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since = None;
        loop {
            ticker.tick().await;
            let ended = match self.ended_since(since).await {
                Ok((ids, until)) => {
                    since = Some(until - COMMIT_MARGIN);
                    ids
                }
                Err(e) => {
                    tracing::debug!(error = %e.message, "cannot learn which sessions ended");
                    continue;
                }
            };
            let mut ids: Vec<SessionId> =
                ended.iter().filter_map(|id| SessionId::parse(id)).collect();
            ids.extend(self.unconfirmed().iter().cloned());
            if ids.is_empty() {
                continue;
            }
            match self.cache.remove_entries(&ids).await {
                Ok(()) => {
                    let mut unconfirmed = self.unconfirmed();
                    for id in &ids {
                        unconfirmed.remove(id);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, "ended sessions still in Redis; not trusting it for them");
                    self.unconfirmed().extend(ids);
                }
            }
        }
    }

    /// The record first (a login is answered only once it is recorded), then
    /// the copy in Redis, best effort: validation finds it in PostgreSQL anyway.
    pub(crate) async fn open(
        &self,
        user_id: UserId,
        client: &ClientInfo,
    ) -> Result<NewSession, Error> {
        let id = SessionId::generate();
        let now = Utc::now();
        let expires_at = now + self.lifetime;
        self.store
            .insert(&id, user_id, now, expires_at, client)
            .await?;
        let entry = CachedSession::new(user_id, now, expires_at);
        if let Err(e) = self.cache.put(&id, &entry).await {
            tracing::warn!(error = %e, "session not cached; validations will read the record");
        }
        Ok(NewSession {
            id,
            created_at: now,
            expires_at,
        })
    }

    /// Whether the session a valid token names is alive.
    pub(crate) async fn check(&self, subject: &TokenSubject) -> Result<(), Error> {
        let now = Utc::now();
        let cached = self.cache.get(&subject.session_id).await;
        if let Ok(Some(entry)) = &cached
            && entry.user_id == subject.user_id.get()
            && !self.unconfirmed().contains(&subject.session_id)
            && entry.expires_at() > now
            && entry.last_activity() > now - self.idle_timeout
        {
            if now - entry.last_activity() >= self.touch_interval {
                self.spawn_touch(subject.session_id.clone(), *entry, now);
            }
            return Ok(());
        }
        // Missing (Redis restarted, or evicted), unreadable or unreachable:
        // the record decides. An error here means neither store could be
        // asked, and `?` answers `unavailable`: never a pass.
        let row = self.store.find(&subject.session_id).await?;
        let alive = row.filter(|row| {
            row.user_id == subject.user_id.get() && row.is_alive(now, now - self.idle_timeout)
        });
        let Some(row) = alive else {
            return Err(Error::new(
                totilove_common::Code::Unauthorized,
                "the session has ended, log in again",
            ));
        };
        if cached.is_ok() {
            self.spawn_rewarm(subject.session_id.clone(), row, now);
        }
        Ok(())
    }

    /// Writes the activity back to both stores, off the request's path.
    fn spawn_touch(&self, id: SessionId, entry: CachedSession, now: DateTime<Utc>) {
        let this = self.clone();
        tokio::spawn(async move {
            match this.store.touch(&id, now, now - this.touch_interval).await {
                Ok(true) => {
                    let touched = CachedSession {
                        last_activity_ms: now.timestamp_millis(),
                        ..entry
                    };
                    if let Err(e) = this.cache.refresh(&id, &touched).await {
                        tracing::debug!(error = %e, "session activity not refreshed in Redis");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "session activity not recorded"),
            }
        });
    }

    /// Copies a live record back into Redis (after a restart lost it).
    fn spawn_rewarm(&self, id: SessionId, row: SessionRow, now: DateTime<Utc>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last_activity = row.last_activity;
            if now - last_activity >= this.touch_interval
                && matches!(
                    this.store.touch(&id, now, now - this.touch_interval).await,
                    Ok(true)
                )
            {
                last_activity = now;
            }
            let entry = CachedSession::new(
                UserId::from_stored(row.user_id),
                last_activity,
                row.expires_at,
            );
            if let Err(e) = this.cache.put(&id, &entry).await {
                tracing::debug!(error = %e, "session not re-warmed");
                return;
            }
            // A revocation landing between our read and our write may have
            // deleted the key before we wrote it: read the record again.
            let now = Utc::now();
            let still_alive = match this.store.find(&id).await {
                Ok(Some(row)) => row.is_alive(now, now - this.idle_timeout),
                Ok(None) => false,
                Err(_) => false,
            };
            if !still_alive {
                this.forget(UserId::from_stored(row.user_id), id).await;
            }
        });
    }

    /// Ends one of `user_id`'s live sessions: recorded in PostgreSQL first,
    /// then removed from Redis and announced to the gateways. False when the
    /// session is not theirs or had already ended.
    pub(crate) async fn end(&self, user_id: UserId, id: &SessionId) -> Result<bool, Error> {
        let now = Utc::now();
        let ended = self
            .store
            .revoke(id, user_id, now, now - self.idle_timeout)
            .await?;
        if ended {
            self.forget(user_id, id.clone()).await;
        }
        Ok(ended)
    }

    /// Whether `id` is (or was) one of `user_id`'s sessions.
    pub(crate) async fn belongs_to(&self, user_id: UserId, id: &SessionId) -> Result<bool, Error> {
        Ok(self
            .store
            .find(id)
            .await?
            .is_some_and(|row| row.user_id == user_id.get()))
    }

    /// Removes the Redis copy and announces the end; when Redis cannot be
    /// reached, keeps trying in the background until the key would have
    /// expired anyway.
    async fn forget(&self, user_id: UserId, id: SessionId) {
        if self.remove_and_announce(user_id, &id).await.is_ok() {
            return;
        }
        // Not trusted here from now on; `watch_ended` keeps deleting it.
        self.unconfirmed().insert(id.clone());
        let this = self.clone();
        tokio::spawn(async move {
            let give_up =
                tokio::time::Instant::now() + this.idle_timeout.to_std().unwrap_or_default();
            let mut delay = StdDuration::from_millis(200);
            while tokio::time::Instant::now() < give_up {
                tokio::time::sleep(delay).await;
                if this.remove_and_announce(user_id, &id).await.is_ok() {
                    return;
                }
                delay = (delay * 2).min(StdDuration::from_secs(10));
            }
        });
    }

    async fn remove_and_announce(&self, user_id: UserId, id: &SessionId) -> Result<(), Error> {
        self.cache.remove(user_id, id).await?;
        if let Err(e) = self.cache.announce_ended(id).await {
            tracing::warn!(error = %e, "ended session not announced to the gateways");
        }
        Ok(())
    }

    /// Whether `user_id` opened a session from `ip` (exactly) since `since`,
    /// ended sessions included.
    pub(crate) async fn opened_from(
        &self,
        user_id: UserId,
        ip: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, Error> {
        self.store.opened_from(user_id, ip, since).await
    }

    /// `user_id`'s live sessions, newest first.
    pub(crate) async fn list(&self, user_id: UserId) -> Result<Vec<SessionRow>, Error> {
        let now = Utc::now();
        self.store
            .list_alive(user_id, now, now - self.idle_timeout)
            .await
    }

    /// The sessions that ended after `since` (at most [`ENDED_LOOKBACK`]
    /// ago), and the moment the answer runs to.
    pub(crate) async fn ended_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<(Vec<String>, DateTime<Utc>), Error> {
        let until = Utc::now();
        let oldest = until - ENDED_LOOKBACK;
        let since = since.map_or(oldest, |s| s.clamp(oldest, until));
        let ids = self
            .store
            .ended_between(since, until, self.idle_timeout)
            .await?;
        Ok((ids, until))
    }
}

/// How far back [`Sessions::ended_since`] looks. A gateway that could not ask
/// for longer checks each of its sockets' sessions instead; a longer window
/// would only make every call dearer.
pub(crate) const ENDED_LOOKBACK: Duration = Duration::minutes(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_128_random_bits_in_hex() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a));
        assert_eq!(SessionId::parse("not-a-session"), None);
        assert_eq!(SessionId::parse(&"A".repeat(32)), None);
    }
}
