//! Blocks: who refuses contact with whom. Either direction hides the two
//! people from each other (messages, presence, profile, search).
//!
//! PostgreSQL is the record. After every change, and before it is answered,
//! both people get a new *block generation* in Redis (`blocks:gen:{user}`, a
//! random value): services that remember block answers reuse them only while
//! the generations are unchanged, so a change holds from the next request on.

use fred::{clients::Pool, interfaces::KeysInterface};
use sqlx::PgPool;
use totilove_common::{
    Error,
    redis::{block_generation_key, connected},
};

use crate::{audit::Event, domain::UserId, users::UserCard};

#[derive(Clone)]
pub(crate) struct Blocks {
    db: PgPool,
    redis: Pool,
}

impl Blocks {
    pub(crate) fn new(db: PgPool, redis: Pool) -> Self {
        Self { db, redis }
    }

    /// Gives both people new generations. A Redis that cannot be reached at
    /// all needs none: services that cannot read generations ask every time
    /// and forget what they remembered when they reconnect. A Redis that is
    /// reachable but refuses the write fails the change's answer (503); the
    /// change is kept and repeating it is harmless.
    async fn new_generations(&self, a: UserId, b: UserId) -> Result<(), Error> {
        let Ok(client) = connected(&self.redis) else {
            tracing::warn!("Redis unreachable; block generations not moved");
            return Ok(());
        };
        let pairs = [a, b].map(|u| {
            (
                block_generation_key(u.get()),
                rand::random::<u64>().to_string(),
            )
        });
        client.mset(pairs.to_vec()).await.map_err(|e| {
            tracing::error!(error = %e, "cannot move block generations");
            Error::unavailable("blocking")
        })
    }

    /// Idempotent: blocking twice is one block.
    #[tracing::instrument(name = "Block a person", skip_all, fields(user_id = blocker.get(), target_id = blocked.get()))]
    pub(crate) async fn block(&self, blocker: UserId, blocked: UserId) -> Result<(), Error> {
        if blocker == blocked {
            return Err(Error::invalid("cannot block yourself"));
        }
        // The audit row is written by the same statement: a block is never
        // kept without its record, and costs no second round trip.
        let known = sqlx::query_scalar!(
            r#"WITH target AS (SELECT id FROM users WHERE id = $2),
                  added AS (INSERT INTO blocks (blocker_id, blocked_id)
                            SELECT $1, id FROM target
                            ON CONFLICT DO NOTHING),
                  logged AS (INSERT INTO system_logs (event, user_id, detail)
                             SELECT $3, $1, jsonb_build_object('target_id', id) FROM target)
             SELECT EXISTS (SELECT 1 FROM target) AS "known!""#,
            blocker.get(),
            blocked.get(),
            Event::Block.as_str(),
        )
        .fetch_one(&self.db)
        .await?;
        if !known {
            return Err(Error::not_found("user"));
        }
        self.new_generations(blocker, blocked).await
    }

    /// Idempotent: unblocking someone not blocked is fine; an unknown person is not.
    #[tracing::instrument(name = "Unblock a person", skip_all, fields(user_id = blocker.get(), target_id = blocked.get()))]
    pub(crate) async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<(), Error> {
        let known = sqlx::query_scalar!(
            r#"WITH target AS (SELECT id FROM users WHERE id = $2),
                  removed AS (DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2),
                  logged AS (INSERT INTO system_logs (event, user_id, detail)
                             SELECT $3, $1, jsonb_build_object('target_id', id) FROM target)
             SELECT EXISTS (SELECT 1 FROM target) AS "known!""#,
            blocker.get(),
            blocked.get(),
            Event::Unblock.as_str(),
        )
        .fetch_one(&self.db)
        .await?;
        if !known {
            return Err(Error::not_found("user"));
        }
        self.new_generations(blocker, blocked).await
    }

    /// The people `blocker` blocks, by username.
    #[tracing::instrument(name = "List blocked people", skip_all, fields(user_id = blocker.get()))]
    pub(crate) async fn list(&self, blocker: UserId) -> Result<Vec<UserCard>, Error> {
        Ok(sqlx::query_as!(
            UserCard,
            r#"SELECT u.id, u.username, u.display_name
               FROM blocks b JOIN users u ON u.id = b.blocked_id
               WHERE b.blocker_id = $1
               ORDER BY lower(u.username) COLLATE "C""#,
            blocker.get(),
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// Of `others`, those who block `user` or whom `user` blocks.
    #[tracing::instrument(name = "Find blocks among people", skip_all, fields(user_id = user.get(), count = others.len()))]
    pub(crate) async fn among(&self, user: UserId, others: &[i64]) -> Result<Vec<i64>, Error> {
        // A UNION's column has no nullability PostgreSQL reports: `!`.
        Ok(sqlx::query_scalar!(
            r#"SELECT blocked_id AS "blocked_id!" FROM blocks WHERE blocker_id = $1 AND blocked_id = ANY($2)
             UNION
             SELECT blocker_id FROM blocks WHERE blocked_id = $1 AND blocker_id = ANY($2)
             ORDER BY 1"#,
            user.get(),
            others,
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// Whether either blocks the other.
    #[tracing::instrument(name = "Check a block either way", skip_all)]
    pub(crate) async fn either_way(&self, a: UserId, b: UserId) -> Result<bool, Error> {
        Ok(sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM blocks
                            WHERE (blocker_id = $1 AND blocked_id = $2)
                               OR (blocker_id = $2 AND blocked_id = $1)) AS "either!""#,
            a.get(),
            b.get(),
        )
        .fetch_one(&self.db)
        .await?)
    }
}
