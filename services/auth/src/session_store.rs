//! The PostgreSQL side of sessions: the record. A session is alive while it
//! is not revoked, not past `expires_at`, and used within the idle timeout.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use totilove_common::Error;

use crate::domain::{ClientInfo, SessionId, UserId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: String,
    pub user_agent: String,
}

impl SessionRow {
    /// Alive at `now` for a session idle since before `idle_since` is dead.
    pub(crate) fn is_alive(&self, now: DateTime<Utc>, idle_since: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now && self.last_activity > idle_since
    }
}

#[derive(Clone)]
pub(crate) struct SessionStore {
    db: PgPool,
}

impl SessionStore {
    pub(crate) fn new(db: PgPool) -> Self {
        Self { db }
    }

    #[tracing::instrument(name = "Record a new session", skip_all, fields(user_id = user_id.get()))]
    pub(crate) async fn insert(
        &self,
        id: &SessionId,
        user_id: UserId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        sqlx::query!(
            "INSERT INTO user_sessions (id, user_id, created_at, last_activity, expires_at, ip, user_agent)
             VALUES ($1, $2, $3, $3, $4, $5, $6)",
            id.as_str(),
            user_id.get(),
            now,
            expires_at,
            &client.ip,
            &client.user_agent,
        )
        .execute(&self.db)
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "Read a session record", skip_all)]
    pub(crate) async fn find(&self, id: &SessionId) -> Result<Option<SessionRow>, Error> {
        Ok(sqlx::query_as!(
            SessionRow,
            "SELECT id, user_id, created_at, last_activity, expires_at, revoked_at, ip, user_agent
             FROM user_sessions WHERE id = $1",
            id.as_str(),
        )
        .fetch_optional(&self.db)
        .await?)
    }

    /// Moves `last_activity` to `now` unless it is newer than `stale_before`
    /// (someone touched it meanwhile) or the session was revoked. Whether it moved.
    #[tracing::instrument(name = "Touch a session record", skip_all)]
    pub(crate) async fn touch(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let moved = sqlx::query!(
            "UPDATE user_sessions SET last_activity = $2
             WHERE id = $1 AND revoked_at IS NULL AND last_activity <= $3",
            id.as_str(),
            now,
            stale_before,
        )
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(moved > 0)
    }

    /// Revokes one of `user_id`'s live sessions; false when it is not theirs
    /// or has already ended.
    #[tracing::instrument(name = "Revoke a session record", skip_all, fields(user_id = user_id.get()))]
    pub(crate) async fn revoke(
        &self,
        id: &SessionId,
        user_id: UserId,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let revoked = sqlx::query!(
            "UPDATE user_sessions SET revoked_at = $3
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
               AND expires_at > $3 AND last_activity > $4",
            id.as_str(),
            user_id.get(),
            now,
            idle_since,
        )
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(revoked > 0)
    }

    /// `user_id`'s live sessions, newest first.
    #[tracing::instrument(name = "List live session records", skip_all, fields(user_id = user_id.get()))]
    pub(crate) async fn list_alive(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> Result<Vec<SessionRow>, Error> {
        Ok(sqlx::query_as!(
            SessionRow,
            "SELECT id, user_id, created_at, last_activity, expires_at, revoked_at, ip, user_agent
             FROM user_sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_activity > $3
             ORDER BY created_at DESC, id",
            user_id.get(),
            now,
            idle_since,
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// Ids of the sessions that ended in `(since, until]`: revoked then, or
    /// alive until then and past `expires_at` or the idle timeout `idle` since.
    #[tracing::instrument(name = "List ended session records", skip_all)]
    pub(crate) async fn ended_between(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        idle: chrono::Duration,
    ) -> Result<Vec<String>, Error> {
        // A UNION's column has no nullability PostgreSQL reports: `id!`.
        Ok(sqlx::query_scalar!(
            r#"SELECT id AS "id!" FROM user_sessions WHERE revoked_at > $1 AND revoked_at <= $2
             UNION
             SELECT id FROM user_sessions WHERE expires_at > $1 AND expires_at <= $2
             UNION
             SELECT id FROM user_sessions WHERE last_activity > $3 AND last_activity <= $4"#,
            since,
            until,
            since - idle,
            until - idle,
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// Whether `user_id` opened a session from `ip` since `since`, whether
    /// or not it has ended (index `user_sessions_by_user_ip`).
    #[tracing::instrument(name = "Look for a login from this address", skip_all, fields(user_id = user_id.get()))]
    pub(crate) async fn opened_from(
        &self,
        user_id: UserId,
        ip: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let found = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM user_sessions
                            WHERE user_id = $1 AND ip = $2 AND created_at > $3) AS "found!""#,
            user_id.get(),
            ip,
            since,
        )
        .fetch_one(&self.db)
        .await?;
        Ok(found)
    }
}
