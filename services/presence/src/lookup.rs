//! Reading the presence of many people at once, as others may see it:
//! people who hide their presence are offline with no `last_seen` to
//! everyone but themselves, and `last_seen` is given to the minute.

use chrono::{DateTime, Utc};
use fred::{
    error::Error as RedisError,
    interfaces::{KeysInterface, SetsInterface},
    types::Value,
};
use totilove_common::redis::HIDDEN_PEOPLE_KEY;

use crate::{
    domain::UserId,
    keys,
    store::{BATCH, Store, from_millis, to_the_minute},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub user: UserId,
    pub online: bool,
    /// When an offline person's last socket went; `None` while online or
    /// when never seen (or forgotten: presence lives in Redis only).
    pub last_seen: Option<DateTime<Utc>>,
}

impl Store {
    /// The status of each of `users` as `viewer` may see it, in their order,
    /// in one round trip: per batch, an `SMISMEMBER online_users`, an `MGET`
    /// of the last_seen keys and an `SMISMEMBER` of the hidden people, never
    /// a command per person. The hidden flags come in the same round trip as
    /// the statuses, so when they cannot be read nothing is answered at all.
    #[tracing::instrument(name = "Read presence", skip_all, fields(users = users.len()))]
    pub(crate) async fn presence_of(
        &self,
        users: &[UserId],
        viewer: Option<UserId>,
    ) -> Result<Vec<Status>, RedisError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.client()?.pipeline();
        for batch in users.chunks(BATCH) {
            let ids: Vec<i64> = batch.iter().map(|u| u.get()).collect();
            let () = pipeline.smismember(keys::ONLINE_USERS, ids.clone()).await?;
            let last_seen: Vec<String> = batch.iter().map(|&u| keys::last_seen(u)).collect();
            let () = pipeline.mget(last_seen).await?;
            let () = pipeline.smismember(HIDDEN_PEOPLE_KEY, ids).await?;
        }
        let answers: Vec<Value> = pipeline.all().await?;
        let mut statuses = Vec::with_capacity(users.len());
        let mut answers = answers.into_iter();
        for batch in users.chunks(BATCH) {
            let (Some(online), Some(last_seen), Some(hidden)) =
                (answers.next(), answers.next(), answers.next())
            else {
                break;
            };
            for (((&user, online), last_seen), hidden) in batch
                .iter()
                .zip(online.into_array())
                .zip(last_seen.into_array())
                .zip(hidden.into_array())
            {
                // Anything but a clear "not hidden" hides: never show a
                // hidden person by mistake.
                let hidden = hidden.as_bool().unwrap_or(true) && viewer != Some(user);
                let online = online.as_bool().unwrap_or(false) && !hidden;
                let last_seen = if online || hidden {
                    None
                } else {
                    last_seen.as_i64().and_then(from_millis).map(to_the_minute)
                };
                statuses.push(Status {
                    user,
                    online,
                    last_seen,
                });
            }
        }
        Ok(statuses)
    }
}

impl Store {
    /// Whether `user` is announced online now (or inside the grace after
    /// their last socket).
    pub(crate) async fn is_online(&self, user: UserId) -> Result<bool, RedisError> {
        self.client()?
            .sismember(keys::ONLINE_USERS, user.get())
            .await
    }
}
