//! Reading the presence of many people at once.

use chrono::{DateTime, Utc};
use fred::{
    error::Error as RedisError,
    interfaces::{KeysInterface, SetsInterface},
    types::Value,
};

use crate::{
    domain::UserId,
    keys,
    store::{BATCH, Store, from_millis},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub user: UserId,
    pub online: bool,
    /// When an offline person's last socket went; `None` while online or
    /// when never seen (or forgotten: presence lives in Redis only).
    pub last_seen: Option<DateTime<Utc>>,
}

impl Store {
    /// The status of each of `users`, in their order, in one round trip: per
    /// batch, an `SMISMEMBER online_users` and an `MGET` of the last_seen keys,
    /// never a command per person.
    #[tracing::instrument(name = "Read presence", skip_all, fields(users = users.len()))]
    pub async fn presence_of(&self, users: &[UserId]) -> Result<Vec<Status>, RedisError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.client()?.pipeline();
        for batch in users.chunks(BATCH) {
            let ids: Vec<i64> = batch.iter().map(|u| u.get()).collect();
            let () = pipeline.smismember(keys::ONLINE_USERS, ids).await?;
            let last_seen: Vec<String> = batch.iter().map(|&u| keys::last_seen(u)).collect();
            let () = pipeline.mget(last_seen).await?;
        }
        let answers: Vec<Value> = pipeline.all().await?;
        let mut statuses = Vec::with_capacity(users.len());
        let mut answers = answers.into_iter();
        for batch in users.chunks(BATCH) {
            let (Some(online), Some(last_seen)) = (answers.next(), answers.next()) else {
                break;
            };
            for ((&user, online), last_seen) in batch
                .iter()
                .zip(online.into_array())
                .zip(last_seen.into_array())
            {
                let online = online.as_bool().unwrap_or(false);
                let last_seen = if online {
                    None
                } else {
                    last_seen.as_i64().and_then(from_millis)
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
