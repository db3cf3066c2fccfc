//! Web Push subscriptions: at most one per session (the browser's
//! `PushSubscription`), stored beside the session and ended with it. The
//! message service asks for the subscriptions of people who are offline when
//! a message to them commits ([`Pushes::targets`]); it reads the Redis copy
//! of who has any ([`PUSH_PEOPLE_KEY`]) first, so others cost it no call.
//!
//! The message service posts to the endpoints, so an endpoint must be one of
//! the push services operators allow (`PUSH_SERVICE_HOSTS`), over https:
//! never an address inside the cluster that a browser made up.

use std::{net::IpAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use fred::{clients::Pool, interfaces::SetsInterface};
use sqlx::PgPool;
use totilove_common::{
    Error,
    redis::{PUSH_PEOPLE_KEY, connected},
};

use crate::{
    domain::{SessionId, UserId},
    redis::IdSetCopy,
};

/// Longest endpoint accepted (real ones are 150–500 characters).
const MAX_ENDPOINT_LEN: usize = 2048;
/// People asked about at once by `PushTargets`, at most.
pub(crate) const MAX_TARGET_PEOPLE: usize = 1000;

/// Subscriptions count while their session is neither revoked nor past its
/// lifetime; the idle timeout is checked by [`Pushes::targets`] itself.
const PEOPLE: IdSetCopy = IdSetCopy {
    key: PUSH_PEOPLE_KEY,
    name: "the push-people copy",
    members: |db| {
        Box::pin(
            sqlx::query_scalar!(
                "SELECT DISTINCT p.user_id FROM push_subscriptions p
              JOIN user_sessions s ON s.id = p.session_id
              WHERE s.revoked_at IS NULL AND s.expires_at > now()
              ORDER BY p.user_id"
            )
            .fetch_all(db),
        )
    },
    outsiders: |db, ids| {
        Box::pin(
            sqlx::query_scalar!(
                r#"SELECT x.id AS "id!" FROM unnest($1::bigint[]) AS x(id)
                WHERE NOT EXISTS (
                    SELECT 1 FROM push_subscriptions p
                    JOIN user_sessions s ON s.id = p.session_id
                    WHERE p.user_id = x.id AND s.revoked_at IS NULL AND s.expires_at > now())"#,
                ids,
            )
            .fetch_all(db),
        )
    },
};

/// A browser's subscription, checked.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct Subscription {
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
    pub previews: bool,
}

/// The push services' hosts an endpoint may name: each entry itself or any
/// name under it (`fcm.googleapis.com`, `push.services.mozilla.com`, …).
#[derive(Debug, Clone)]
pub(crate) struct PushHosts(Arc<[String]>);

impl PushHosts {
    pub(crate) fn parse(list: &str) -> Self {
        Self(
            list.split(',')
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        )
    }

    fn allows(&self, host: &str) -> bool {
        self.0.iter().any(|allowed| {
            host == allowed
                || host
                    .strip_suffix(allowed.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

impl Subscription {
    pub(crate) fn parse(
        endpoint: String,
        p256dh: Vec<u8>,
        auth: Vec<u8>,
        previews: bool,
        hosts: &PushHosts,
    ) -> Result<Self, Error> {
        let invalid = |why: &str| Error::invalid(format!("endpoint {why}"));
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(invalid(&format!(
                "must be at most {MAX_ENDPOINT_LEN} characters"
            )));
        }
        let url = url::Url::parse(&endpoint).map_err(|_| invalid("must be a URL"))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        // Plain http only to a push service on this very machine (tests).
        let loopback = host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must be an https URL without credentials"));
        }
        if !hosts.allows(host) {
            return Err(invalid("is not on a known push service"));
        }
        if p256dh.len() != 65 || p256dh[0] != 4 {
            return Err(Error::invalid(
                "keys.p256dh must be an uncompressed P-256 public key (65 bytes)",
            ));
        }
        if auth.len() != 16 {
            return Err(Error::invalid("keys.auth must be 16 bytes"));
        }
        Ok(Self {
            endpoint,
            p256dh,
            auth,
            previews,
        })
    }
}

#[derive(Clone)]
pub(crate) struct Pushes {
    db: PgPool,
    redis: Pool,
    idle_timeout: chrono::Duration,
    pub hosts: PushHosts,
}

impl Pushes {
    pub(crate) fn new(db: PgPool, redis: Pool, idle_timeout: Duration, hosts: PushHosts) -> Self {
        Self {
            db,
            redis,
            idle_timeout: chrono::Duration::from_std(idle_timeout).unwrap_or(chrono::Duration::MAX),
            hosts,
        }
    }

    fn idle_since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_sub_signed(self.idle_timeout)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Stores `subscription` for `session`, replacing the session's last one;
    /// `not_found` unless the session is `user`'s and alive.
    #[tracing::instrument(name = "Store a push subscription", skip_all, fields(user_id = user.get()))]
    pub(crate) async fn set(
        &self,
        user: UserId,
        session: &SessionId,
        subscription: Subscription,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let stored = sqlx::query!(
            "INSERT INTO push_subscriptions (session_id, user_id, endpoint, p256dh, auth, previews)
             SELECT s.id, s.user_id, $3, $4, $5, $6 FROM user_sessions s
             WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL
               AND s.expires_at > $7 AND s.last_activity > $8
             ON CONFLICT (session_id) DO UPDATE SET
                endpoint = EXCLUDED.endpoint, p256dh = EXCLUDED.p256dh,
                auth = EXCLUDED.auth, previews = EXCLUDED.previews, created_at = now()",
            session.as_str(),
            user.get(),
            &subscription.endpoint,
            &subscription.p256dh,
            &subscription.auth,
            subscription.previews,
            now,
            self.idle_since(now),
        )
        .execute(&self.db)
        .await?
        .rows_affected();
        if stored == 0 {
            return Err(Error::not_found("session"));
        }
        // Until this is written the message service does not look: the
        // sync adds it within seconds if this write fails.
        if let Err(e) = self.copy(user).await {
            tracing::warn!(error = %e, user_id = user.get(),
                "could not copy a push subscriber to Redis; the next sync will");
        }
        Ok(())
    }

    async fn copy(&self, user: UserId) -> Result<(), Error> {
        let _: i64 = connected(&self.redis)?
            .sadd(PUSH_PEOPLE_KEY, user.get())
            .await?;
        Ok(())
    }

    /// Forgets the subscription of one of `user`'s sessions (none: nothing).
    #[tracing::instrument(name = "Delete a push subscription", skip_all, fields(user_id = user.get()))]
    pub(crate) async fn delete_for_session(
        &self,
        user: UserId,
        session: &SessionId,
    ) -> Result<(), Error> {
        sqlx::query!(
            "DELETE FROM push_subscriptions WHERE session_id = $1 AND user_id = $2",
            session.as_str(),
            user.get(),
        )
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Forgets `user`'s subscriptions to an endpoint the push service says is gone.
    #[tracing::instrument(name = "Delete a gone push endpoint", skip_all, fields(user_id = user.get()))]
    pub(crate) async fn delete_endpoint(&self, user: UserId, endpoint: &str) -> Result<(), Error> {
        sqlx::query!(
            "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2",
            endpoint,
            user.get(),
        )
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The subscriptions of the live sessions of `people`.
    #[tracing::instrument(name = "Find push targets", skip_all, fields(people = people.len()))]
    pub(crate) async fn targets(&self, people: &[i64]) -> Result<Vec<(i64, Subscription)>, Error> {
        let now = Utc::now();
        let rows = sqlx::query!(
            "SELECT p.user_id, p.endpoint, p.p256dh, p.auth, p.previews
             FROM push_subscriptions p JOIN user_sessions s ON s.id = p.session_id
             WHERE p.user_id = ANY($1) AND s.revoked_at IS NULL
               AND s.expires_at > $2 AND s.last_activity > $3
             ORDER BY p.user_id, p.created_at",
            people,
            now,
            self.idle_since(now),
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|t| {
                let subscription = Subscription {
                    endpoint: t.endpoint,
                    p256dh: t.p256dh,
                    auth: t.auth,
                    previews: t.previews,
                };
                (t.user_id, subscription)
            })
            .collect())
    }

    /// Every `every`: deletes the subscriptions of ended sessions (a browser's
    /// keys are kept no longer than the session they were given to), then
    /// rebuilds the Redis copy of who has one.
    pub(crate) async fn tidy_forever(self, every: Duration) {
        let prune = {
            let this = self.clone();
            async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = this.prune().await {
                        tracing::debug!(error = %e, "could not prune push subscriptions");
                    }
                }
            }
        };
        tokio::join!(
            prune,
            PEOPLE.sync_forever(self.db.clone(), self.redis.clone(), every)
        );
    }

    #[tracing::instrument(name = "Prune push subscriptions", skip_all)]
    async fn prune(&self) -> Result<(), Error> {
        let now = Utc::now();
        sqlx::query!(
            "DELETE FROM push_subscriptions p USING user_sessions s
             WHERE s.id = p.session_id
               AND (s.revoked_at IS NOT NULL OR s.expires_at <= $1 OR s.last_activity <= $2)",
            now,
            self.idle_since(now),
        )
        .execute(&self.db)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(endpoint: &str) -> Result<Subscription, Error> {
        let hosts = PushHosts::parse("fcm.googleapis.com, push.services.mozilla.com,127.0.0.1");
        let mut key = vec![4u8; 65];
        key[1] = 7;
        Subscription::parse(endpoint.into(), key, vec![1; 16], true, &hosts)
    }

    #[test]
    fn only_https_endpoints_on_allowed_push_services_are_accepted() {
        for ok in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://updates.push.services.mozilla.com/wpush/v2/x",
            "http://127.0.0.1:9000/push/1",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://fcm.googleapis.com/fcm/send/abc",
            "https://evil-fcm.googleapis.com.example/x",
            "https://notfcm.googleapis.com.evil/x",
            "https://xfcm.googleapis.com/x",
            "https://user:pw@fcm.googleapis.com/x",
            "https://10.0.0.1/x",
            "http://localhost/x",
            "not a url",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
