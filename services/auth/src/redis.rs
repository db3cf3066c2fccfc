//! Reaching Redis without waiting on a dead one, and the sets of ids this
//! service copies there for the others.

use std::{collections::HashSet, future::Future, pin::Pin, time::Duration};

use fred::{clients::Pool, interfaces::SetsInterface};
use sqlx::PgPool;
use tokio::time::MissedTickBehavior;
use totilove_common::{Error, redis::connected};

/// Members per Redis command when a copy is rebuilt (commands stay short).
const BATCH: usize = 1000;

/// A Redis SET of person ids copied from PostgreSQL for another service to
/// read without an RPC: written by each change right after its commit, and
/// rebuilt from the record every few seconds ([`IdSetCopy::sync_forever`]),
/// so a failed write or a Redis that lost its data heals within that time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdSetCopy {
    pub key: &'static str,
    /// For the logs: "the hidden-people copy".
    pub name: &'static str,
    /// Every id that belongs in the set.
    pub members: Members,
    /// Of the ids given, those that do not belong (read again at removal).
    pub outsiders: Outsiders,
}

/// A query, not its text: the query macros check each set's SQL at build time.
pub(crate) type Members = for<'a> fn(&'a PgPool) -> Ids<'a>;
pub(crate) type Outsiders = for<'a> fn(&'a PgPool, &'a [i64]) -> Ids<'a>;
pub(crate) type Ids<'a> = Pin<Box<dyn Future<Output = sqlx::Result<Vec<i64>>> + Send + 'a>>;

impl IdSetCopy {
    /// Rebuilds the copy every `every`, for as long as the task lives.
    pub(crate) async fn sync_forever(self, db: PgPool, redis: Pool, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Logged once per outage, not once per tick.
        let mut failing = false;
        loop {
            tick.tick().await;
            match self.sync(&db, &redis).await {
                Ok(()) if failing => {
                    tracing::info!("{} in Redis is in sync again", self.name);
                    failing = false;
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "could not sync {} in Redis", self.name);
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    /// Adds every member of the record, then removes whoever the copy holds
    /// that the record, read again after the copy, says does not belong.
    ///
    /// Reading the record again before removing means a change racing the
    /// sync never loses its addition: one committed after the second read
    /// was also added by its own request. A removal between the first read
    /// and the add can leave a member until the next sync, which errs on
    /// the side of the set (hidden, or asked for pushes).
    #[tracing::instrument(name = "Sync a copy in Redis", skip_all, fields(key = self.key))]
    pub(crate) async fn sync(&self, db: &PgPool, redis: &Pool) -> Result<(), Error> {
        let members = (self.members)(db).await?;
        let redis = connected(redis)?;
        for batch in members.chunks(BATCH) {
            let _: i64 = redis.sadd(self.key, batch.to_vec()).await?;
        }
        let copied: Vec<i64> = redis.smembers(self.key).await?;
        let members: HashSet<i64> = members.into_iter().collect();
        let suspects: Vec<i64> = copied
            .into_iter()
            .filter(|id| !members.contains(id))
            .collect();
        if suspects.is_empty() {
            return Ok(());
        }
        let outsiders = (self.outsiders)(db, &suspects).await?;
        for batch in outsiders.chunks(BATCH) {
            let _: i64 = redis.srem(self.key, batch.to_vec()).await?;
        }
        Ok(())
    }
}
