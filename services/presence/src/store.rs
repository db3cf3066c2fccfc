//! The presence state in Redis: its handle and timings. The operations live
//! next to what they do: `connections.rs` (sockets, heartbeats, the sweep),
//! `lookup.rs` (reading many people at once), `typing.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fred::{
    clients::{Client, Pool},
    error::Error as RedisError,
};

/// Items per Redis command in batched reads and writes. Every batch of a call
/// goes in one pipelined round trip; capping each command keeps any single
/// command short (well under a millisecond), so other clients never wait
/// behind one huge command.
pub(crate) const BATCH: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    /// A socket without a heartbeat for this long is dead.
    pub connection_ttl: Duration,
    /// How long after a person's last socket goes they are announced offline
    /// (a socket opening meanwhile, as on a page reload, cancels it).
    pub offline_grace: Duration,
    /// `typing:true` lapses after this without a repeat.
    pub typing_ttl: Duration,
    /// At most one `typing:true` per pair goes out per this interval.
    pub typing_throttle: Duration,
}

#[derive(Clone)]
pub(crate) struct Store {
    redis: Pool,
    pub(crate) timings: Timings,
}

impl Store {
    pub(crate) fn new(redis: Pool, timings: Timings) -> Self {
        Self { redis, timings }
    }

    /// One of the pool's connected multiplexed connections (round robin).
    /// With none connected (Redis down, reconnecting in the background) it
    /// fails at once rather than after the command timeout: a caller gets
    /// `unavailable` in microseconds, not seconds.
    pub(crate) fn client(&self) -> Result<&Client, RedisError> {
        Ok(totilove_common::redis::connected(&self.redis)?)
    }
}

/// Now, in milliseconds since the epoch: the unit of every stored time. The
/// presence instances' clocks are assumed in step (NTP) to well within the
/// timings above.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// `t` without its seconds: `last_seen` is only ever shown to the minute
/// (the API says so; to the millisecond it would tell when someone closed
/// the app, which is more than a dating site should show).
pub(crate) fn to_the_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(60), 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_seen_is_cut_to_the_minute() {
        let t = DateTime::parse_from_rfc3339("2026-11-25T18:04:05.123Z")
            .expect("a time")
            .with_timezone(&Utc);
        assert_eq!(
            totilove_common::time::rfc3339(to_the_minute(t)),
            "2026-11-25T18:04:00.000Z"
        );
    }
}
