//! Fixed-window counters shared by every instance: the login throttle and
//! the registration limit count with these.
//!
//! A key's window starts at its first count and nothing extends it, so a
//! refusal always ends when the window does. Counters live in Redis (INCR,
//! then PEXPIRE NX, then PTTL, in one pipeline); while Redis is unreachable an
//! in-process counter with the same window takes over rather than letting
//! everything through.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use fred::{
    clients::Pool,
    interfaces::{KeysInterface, LuaInterface},
    types::ExpireOptions,
};
use tokio::time::Instant;
use totilove_common::Error;

use totilove_common::redis::connected;

/// Uncounts one count unless its window has ended meanwhile (a plain DECR
/// would then create a counter without expiry).
const UNCOUNT: &str =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0";

/// In-process counters kept at most; beyond, expired ones are dropped first.
const LOCAL_MAX_KEYS: usize = 100_000;

#[derive(Clone)]
pub(crate) struct Windows {
    redis: Pool,
    window: Duration,
    local: Arc<Mutex<LocalCounters>>,
}

/// One counter after counting: the count and the time left in its window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted {
    pub count: i64,
    pub left: Duration,
}

impl Counted {
    /// Whether this count is over `limit`; the seconds to wait when it is.
    pub(crate) fn over(&self, limit: u32) -> Option<Duration> {
        (self.count > i64::from(limit)).then_some(self.left)
    }
}

/// Where counts were kept: undo them in the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    Redis,
    Locally,
}

impl Windows {
    pub(crate) fn new(redis: Pool, window: Duration) -> Self {
        Self {
            redis,
            window,
            local: Arc::default(),
        }
    }

    /// Counts one more on each key; the counts in the keys' order.
    pub(crate) async fn count(&self, keys: &[&str]) -> (Vec<Counted>, Kept) {
        match self.count_in_redis(keys).await {
            Ok(counts) => (counts, Kept::Redis),
            Err(e) => {
                tracing::warn!(error = %e, "Redis unreachable: counting in-process");
                (self.count_locally(keys), Kept::Locally)
            }
        }
    }

    /// Takes back one count of `key` (its window goes on).
    pub(crate) async fn uncount(&self, key: &str, kept: Kept) {
        match kept {
            Kept::Redis => {
                if let Err(e) = self.uncount_in_redis(key).await {
                    tracing::warn!(error = %e, "a counter was not uncounted");
                }
            }
            Kept::Locally => self.local().uncount(key),
        }
    }

    /// Forgets `key` and its window.
    pub(crate) async fn clear(&self, key: &str, kept: Kept) {
        match kept {
            Kept::Redis => {
                if let Err(e) = self.clear_in_redis(key).await {
                    tracing::warn!(error = %e, "a counter was not cleared");
                }
            }
            Kept::Locally => self.local().clear(key),
        }
    }

    async fn uncount_in_redis(&self, key: &str) -> Result<(), Error> {
        let _: i64 = connected(&self.redis)?.eval(UNCOUNT, key, ()).await?;
        Ok(())
    }

    async fn clear_in_redis(&self, key: &str) -> Result<(), Error> {
        let _: i64 = connected(&self.redis)?.del(key).await?;
        Ok(())
    }

    async fn count_in_redis(&self, keys: &[&str]) -> Result<Vec<Counted>, Error> {
        let window_ms = self.window.as_millis() as i64;
        let pipeline = connected(&self.redis)?.pipeline();
        for key in keys {
            let () = pipeline.incr(*key).await?;
            let () = pipeline
                .pexpire(*key, window_ms, Some(ExpireOptions::NX))
                .await?;
            let () = pipeline.pttl(*key).await?;
        }
        let replies: Vec<i64> = pipeline.all().await?;
        if replies.len() != keys.len() * 3 {
            return Err(Error::unavailable("the cache"));
        }
        Ok(replies
            .chunks_exact(3)
            .map(|reply| Counted {
                count: reply[0],
                left: if reply[2] > 0 {
                    Duration::from_millis(reply[2] as u64)
                } else {
                    self.window
                },
            })
            .collect())
    }

    fn count_locally(&self, keys: &[&str]) -> Vec<Counted> {
        let now = Instant::now();
        let mut local = self.local();
        keys.iter()
            .map(|key| local.count(key, now, self.window))
            .collect()
    }

    fn local(&self) -> std::sync::MutexGuard<'_, LocalCounters> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain counters; they are still usable.
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The seconds a client is told to wait (`Retry-After`), never 0.
pub(crate) fn retry_after_secs(left: Duration) -> u64 {
    (left.as_millis().div_ceil(1000) as u64).max(1)
}

/// The part of a client address that is counted: an IPv4 address whole, an
/// IPv6 address by its /64 (one subscriber's network usually holds a whole
/// /64, so counting single addresses would give them 2^64 budgets). Anything
/// that is not an address is counted as given.
pub(crate) fn address_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => ip.to_owned(),
    }
}

/// The fallback: fixed windows in this process's memory.
#[derive(Default)]
struct LocalCounters {
    windows: HashMap<String, (i64, Instant)>,
}

impl LocalCounters {
    fn count(&mut self, key: &str, now: Instant, window: Duration) -> Counted {
        if self.windows.len() >= LOCAL_MAX_KEYS {
            self.windows.retain(|_, (_, ends)| *ends > now);
        }
        let entry = self
            .windows
            .entry(key.to_owned())
            .or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Counted {
            count: entry.0,
            left: entry.1 - now,
        }
    }

    fn clear(&mut self, key: &str) {
        self.windows.remove(key);
    }

    fn uncount(&mut self, key: &str) {
        if let Some(entry) = self.windows.get_mut(key) {
            entry.0 = (entry.0 - 1).max(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_window_counts_then_starts_afresh_once_over() {
        let mut counters = LocalCounters::default();
        let now = Instant::now();
        let window = Duration::from_secs(10);
        assert_eq!(counters.count("k", now, window).count, 1);
        assert_eq!(counters.count("k", now, window).count, 2);
        let later = now + Duration::from_secs(11);
        assert_eq!(counters.count("k", later, window).count, 1);
        counters.uncount("k");
        assert_eq!(counters.count("k", later, window).count, 1);
    }

    #[test]
    fn ipv6_addresses_are_counted_by_their_64_and_ipv4_whole() {
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:DB8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(address_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("not an address"), "not an address");
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(0)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }
}
