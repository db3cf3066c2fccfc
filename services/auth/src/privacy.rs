//! Privacy settings: whether others see my presence (`show_online`) and
//! whether senders see what I read (`send_read_receipts`). PostgreSQL holds
//! them, on the person's row.
//!
//! `show_online` is also copied to Redis (`HIDDEN_PEOPLE_KEY`, the set of
//! hidden people) for the presence service, which decides on every lookup and
//! event who sees whom without asking us. The copy must not show a hidden
//! person, so it is written right after each commit and rebuilt from the
//! record every few seconds ([`Privacies::sync_forever`]): a failed write, a
//! Redis that lost its data or came back from an old snapshot is healed
//! within that interval. (While Redis is down the presence service cannot
//! read the copy either, and shows nobody online.)

use std::time::Duration;

use fred::{clients::Pool, interfaces::SetsInterface};
use sqlx::PgPool;
use totilove_common::{
    Error,
    redis::{HIDDEN_PEOPLE_KEY, connected},
};

use crate::{domain::UserId, redis::IdSetCopy};

/// Who hides their presence. An update showing someone racing the sync can
/// leave them hidden until the next one, which errs on the side of hiding.
const HIDDEN: IdSetCopy = IdSetCopy {
    key: HIDDEN_PEOPLE_KEY,
    name: "the hidden-people copy",
    members: |db| {
        Box::pin(
            sqlx::query_scalar!("SELECT id FROM users WHERE NOT show_online ORDER BY id")
                .fetch_all(db),
        )
    },
    outsiders: |db, ids| {
        Box::pin(
            sqlx::query_scalar!(
                r#"SELECT s.id AS "id!" FROM unnest($1::bigint[]) AS s(id)
                WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.id AND NOT u.show_online)"#,
                ids,
            )
            .fetch_all(db),
        )
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct Privacy {
    pub show_online: bool,
    pub send_read_receipts: bool,
}

/// The settings to write; `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PrivacyUpdate {
    pub show_online: Option<bool>,
    pub send_read_receipts: Option<bool>,
}

/// The settings after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Updated {
    pub privacy: Privacy,
    /// `show_online` is not what it was before: the audience must be told.
    pub show_online_changed: bool,
}

#[derive(Clone)]
pub(crate) struct Privacies {
    db: PgPool,
    redis: Pool,
}

impl Privacies {
    pub(crate) fn new(db: PgPool, redis: Pool) -> Self {
        Self { db, redis }
    }

    /// `None` for an unknown person.
    #[tracing::instrument(name = "Read privacy settings", skip_all, fields(user_id = user.get()))]
    pub(crate) async fn get(&self, user: UserId) -> Result<Option<Privacy>, Error> {
        Ok(sqlx::query_as!(
            Privacy,
            "SELECT show_online, send_read_receipts FROM users WHERE id = $1",
            user.get(),
        )
        .fetch_optional(&self.db)
        .await?)
    }

    /// Writes the given settings, then the Redis copy of `show_online`.
    /// `None` for an unknown person.
    #[tracing::instrument(name = "Update privacy settings", skip_all, fields(user_id = user.get()))]
    pub(crate) async fn update(
        &self,
        user: UserId,
        update: PrivacyUpdate,
    ) -> Result<Option<Updated>, Error> {
        // The row is locked before it is read, so `before` is the value this
        // update replaces even when two updates race.
        let row = sqlx::query!(
            r#"WITH before AS (SELECT show_online FROM users WHERE id = $1 FOR UPDATE)
             UPDATE users u SET
                show_online = COALESCE($2, u.show_online),
                send_read_receipts = COALESCE($3, u.send_read_receipts)
             FROM before
             WHERE u.id = $1
             RETURNING u.show_online, u.send_read_receipts, before.show_online AS "before!""#,
            user.get(),
            update.show_online,
            update.send_read_receipts,
        )
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (show_online, send_read_receipts, before) =
            (row.show_online, row.send_read_receipts, row.before);
        // Written even when nothing changed: a retry also repairs the copy.
        if let Err(e) = self.copy(user, show_online).await {
            tracing::warn!(error = %e, user_id = user.get(),
                "could not copy show_online to Redis; the next sync will");
        }
        Ok(Some(Updated {
            privacy: Privacy {
                show_online,
                send_read_receipts,
            },
            show_online_changed: show_online != before,
        }))
    }

    async fn copy(&self, user: UserId, show_online: bool) -> Result<(), Error> {
        let redis = connected(&self.redis)?;
        let _: i64 = if show_online {
            redis.srem(HIDDEN_PEOPLE_KEY, user.get()).await?
        } else {
            redis.sadd(HIDDEN_PEOPLE_KEY, user.get()).await?
        };
        Ok(())
    }

    /// Rebuilds the Redis copy from the record every `every`, until dropped.
    pub(crate) async fn sync_forever(self, every: Duration) {
        HIDDEN.sync_forever(self.db, self.redis, every).await;
    }
}
