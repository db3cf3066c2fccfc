//! The real-time settings of the gateway (WebSocket and fan-out), with the
//! contract's values as defaults. Tests shorten the timings.

use std::{num::NonZeroU32, time::Duration};

use totilove_common::config::Source;

/// A frame kind's allowance: `burst` at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimit {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

#[derive(Debug, Clone)]
pub struct RealtimeSettings {
    /// The server pings every socket this often (`WS_PING_INTERVAL_SECS`, 25).
    pub ping_interval: Duration,
    /// A socket with no frame at all (not even a pong) for this long is
    /// closed (`WS_IDLE_TIMEOUT_SECS`, 60).
    pub idle_timeout: Duration,
    /// Sockets one person may hold at once (`WS_MAX_SOCKETS_PER_USER`, 10).
    pub max_sockets_per_user: usize,
    /// Events waiting for one socket's writer before it is closed as too
    /// slow (`WS_OUTBOX_CAPACITY`, 512).
    pub outbox_capacity: usize,
    /// How often the presence service hears that this instance's sockets
    /// live, in one batched RPC: `PRESENCE_HEARTBEAT_SECS`, by default a
    /// third of `PRESENCE_CONNECTION_TTL_SECS` (the presence service's
    /// expiry, 60) and at most 20 s, so two beats may be lost before expiry.
    pub heartbeat_interval: Duration,
    /// Deliveries to receivers' sockets are reported to the message service
    /// in batches this far apart (`DELIVERED_FLUSH_MS`, 250): each flush is a transaction locking the
    /// conversations it marks, which the message writer then waits for.
    pub delivered_flush: Duration,
    /// `sync` frames one socket may send: `WS_SYNC_BURST` (20) at once, then
    /// `WS_SYNC_PER_MINUTE` (120). Paging through a long absence takes a
    /// few; a client asking again and again from 0 meets the limit.
    pub sync_limit: FrameLimit,
    /// `read` frames one socket may send: `WS_READ_BURST` (60) at once, then
    /// `WS_READ_PER_MINUTE` (600).
    pub read_limit: FrameLimit,
}

impl RealtimeSettings {
    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        let ttl = src.seconds_or("PRESENCE_CONNECTION_TTL_SECS", 60)?;
        let default_beat = (ttl / 3).clamp(Duration::from_millis(200), Duration::from_secs(20));
        let heartbeat_interval = match src.var("PRESENCE_HEARTBEAT_SECS") {
            Some(_) => src.seconds_or("PRESENCE_HEARTBEAT_SECS", 20)?,
            None => default_beat,
        };
        let settings = Self {
            ping_interval: src.seconds_or("WS_PING_INTERVAL_SECS", 25)?,
            idle_timeout: src.seconds_or("WS_IDLE_TIMEOUT_SECS", 60)?,
            max_sockets_per_user: src.parse_or("WS_MAX_SOCKETS_PER_USER", 10)?,
            outbox_capacity: src.parse_or("WS_OUTBOX_CAPACITY", 512)?,
            heartbeat_interval,
            delivered_flush: src.millis_or("DELIVERED_FLUSH_MS", 250)?,
            sync_limit: FrameLimit {
                per_minute: src.parse_or("WS_SYNC_PER_MINUTE", nonzero(120))?,
                burst: src.parse_or("WS_SYNC_BURST", nonzero(20))?,
            },
            read_limit: FrameLimit {
                per_minute: src.parse_or("WS_READ_PER_MINUTE", nonzero(600))?,
                burst: src.parse_or("WS_READ_BURST", nonzero(60))?,
            },
        };
        anyhow::ensure!(
            !settings.ping_interval.is_zero() && !settings.idle_timeout.is_zero(),
            "WS_PING_INTERVAL_SECS and WS_IDLE_TIMEOUT_SECS must be positive"
        );
        anyhow::ensure!(
            settings.outbox_capacity >= 8,
            "WS_OUTBOX_CAPACITY must be at least 8"
        );
        anyhow::ensure!(
            !settings.heartbeat_interval.is_zero(),
            "PRESENCE_HEARTBEAT_SECS must be positive"
        );
        Ok(settings)
    }
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            max_sockets_per_user: 10,
            outbox_capacity: 512,
            heartbeat_interval: Duration::from_secs(20),
            delivered_flush: Duration::from_millis(50),
            sync_limit: FrameLimit {
                per_minute: nonzero(120),
                burst: nonzero(20),
            },
            read_limit: FrameLimit {
                per_minute: nonzero(600),
                burst: nonzero(60),
            },
        }
    }
}

const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("a limit must not be zero"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_heartbeat_follows_the_presence_expiry() {
        let mut src = HashMap::new();
        assert_eq!(
            RealtimeSettings::from_source(&src)
                .expect("valid")
                .heartbeat_interval,
            Duration::from_secs(20)
        );
        src.insert("PRESENCE_CONNECTION_TTL_SECS".to_owned(), "3".to_owned());
        assert_eq!(
            RealtimeSettings::from_source(&src)
                .expect("valid")
                .heartbeat_interval,
            Duration::from_secs(1)
        );
    }
}
