//! Sockets opening, closing and beating, and the sweep that expires the
//! silent ones and performs the delayed offline transitions.

use chrono::{DateTime, Utc};
use fred::{
    error::{Error as RedisError, ErrorKind},
    interfaces::{SetsInterface, SortedSetsInterface},
    types::{Key, SetOptions, Value, sorted_sets::Ordering},
};

use crate::{
    domain::{Connection, UserId},
    keys, lua,
    store::{BATCH, Store, from_millis, millis, now_ms},
};

/// What one sweep pass did.
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    /// Sockets found without a heartbeat for their TTL.
    pub lapsed: usize,
    /// Offline transitions that fell due (performed or cancelled).
    pub due: usize,
    /// People who went offline now, with their last_seen.
    pub went_offline: Vec<(UserId, DateTime<Utc>)>,
}

/// What recording an opened socket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Its person came online with it (not when they were online already,
    /// nor when they were inside the offline grace).
    CameOnline,
    AlreadyOnline,
    /// Not recorded: its person holds the most sockets allowed.
    Refused,
}

impl Store {
    /// Records a socket, unless its person already holds `max` others
    /// (0: no cap) on any gateway.
    #[tracing::instrument(name = "Record an opened socket", skip_all, fields(user_id = %c.user))]
    pub(crate) async fn open(&self, c: &Connection, max: u32) -> Result<Opened, RedisError> {
        let expiry = now_ms() + millis(self.timings.connection_ttl);
        let answer: i64 = lua::OPEN
            .evalsha_with_reload::<_, Vec<Key>, Vec<Value>>(
                self.client()?,
                vec![
                    keys::CONNECTIONS.into(),
                    keys::user_connections(c.user).into(),
                    keys::ONLINE_USERS.into(),
                    keys::OFFLINE_DUE.into(),
                ],
                vec![
                    c.user.get().into(),
                    c.member().into(),
                    expiry.into(),
                    i64::from(max).into(),
                ],
            )
            .await?;
        Ok(match answer {
            1 => Opened::CameOnline,
            -1 => Opened::Refused,
            _ => Opened::AlreadyOnline,
        })
    }

    /// Forgets a socket; true when it was its person's last one (they go
    /// offline after the grace unless a socket opens meanwhile).
    #[tracing::instrument(name = "Forget a closed socket", skip_all, fields(user_id = %c.user))]
    pub(crate) async fn close(&self, c: &Connection) -> Result<bool, RedisError> {
        let now = now_ms();
        let deadline = now + millis(self.timings.offline_grace);
        let was_last: i64 = lua::CLOSE
            .evalsha_with_reload::<_, Vec<Key>, Vec<Value>>(
                self.client()?,
                vec![
                    keys::CONNECTIONS.into(),
                    keys::user_connections(c.user).into(),
                    keys::OFFLINE_DUE.into(),
                    keys::last_seen(c.user).into(),
                ],
                vec![
                    c.user.get().into(),
                    c.member().into(),
                    now.into(),
                    deadline.into(),
                ],
            )
            .await?;
        Ok(was_last == 1)
    }

    /// Extends the life of every given socket, in one round trip: per batch,
    /// a `ZMSCORE` (which of them Redis knows) and a `ZADD XX GT` (new expiry
    /// for the known ones only: a socket closed meanwhile is not brought back).
    /// Answers the positions of the unknown ones.
    #[tracing::instrument(name = "Extend the life of a gateway's sockets", skip_all, fields(sockets = conns.len()))]
    pub(crate) async fn heartbeat(&self, conns: &[Connection]) -> Result<Vec<usize>, RedisError> {
        if conns.is_empty() {
            return Ok(Vec::new());
        }
        // One expiry for the whole beat, as f64 (a sorted-set score): exact,
        // since milliseconds since the epoch stay far below 2^53.
        let expiry = (now_ms() + millis(self.timings.connection_ttl)) as f64;
        let pipeline = self.client()?.pipeline();
        for batch in conns.chunks(BATCH) {
            let members: Vec<String> = batch.iter().map(Connection::indexed_member).collect();
            let () = pipeline.zmscore(keys::CONNECTIONS, members.clone()).await?;
            let scored: Vec<(f64, String)> = members.into_iter().map(|m| (expiry, m)).collect();
            let () = pipeline
                .zadd(
                    keys::CONNECTIONS,
                    Some(SetOptions::XX),
                    Some(Ordering::GreaterThan),
                    false,
                    false,
                    scored,
                )
                .await?;
        }
        let answers: Vec<Value> = pipeline.all().await?;
        let mut unknown = Vec::new();
        // Answers alternate ZMSCORE, ZADD; a nil score is an unknown socket.
        for (batch, scores) in answers.into_iter().step_by(2).enumerate() {
            for (i, score) in scores.into_array().into_iter().enumerate() {
                if score.is_null() {
                    unknown.push(batch * BATCH + i);
                }
            }
        }
        Ok(unknown)
    }

    /// How many people are announced online, on every instance together.
    pub(crate) async fn online_count(&self) -> Result<u64, RedisError> {
        self.client()?.scard(keys::ONLINE_USERS).await
    }

    /// One atomic sweep pass over at most `limit` lapsed sockets and `limit`
    /// due transitions (see `lua/sweep.lua`).
    pub(crate) async fn sweep(&self, limit: usize) -> Result<Sweep, RedisError> {
        let now = now_ms();
        let answer: Vec<Value> = lua::SWEEP
            .evalsha_with_reload::<_, Vec<Key>, Vec<Value>>(
                self.client()?,
                vec![
                    Key::from(keys::CONNECTIONS),
                    keys::ONLINE_USERS.into(),
                    keys::OFFLINE_DUE.into(),
                ],
                vec![
                    now.into(),
                    millis(self.timings.connection_ttl).into(),
                    (limit as i64).into(),
                ],
            )
            .await?;
        let [lapsed, due, offline]: [Value; 3] = answer
            .try_into()
            .map_err(|_| RedisError::new(ErrorKind::Parse, "unexpected sweep answer"))?;
        let mut went_offline = Vec::new();
        let mut pairs = offline.into_array().into_iter();
        while let (Some(user), Some(last_seen)) = (pairs.next(), pairs.next()) {
            let user = UserId::parse(user.convert()?, "user")
                .map_err(|e| RedisError::new(ErrorKind::Parse, e.message))?;
            let last_seen = from_millis(last_seen.convert()?).unwrap_or_else(Utc::now);
            went_offline.push((user, last_seen));
        }
        Ok(Sweep {
            lapsed: lapsed.convert()?,
            due: due.convert()?,
            went_offline,
        })
    }
}
