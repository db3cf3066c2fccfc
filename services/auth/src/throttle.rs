//! Failed-login throttling, per account and per client address, in fixed
//! windows: once a key has seen its limit of failures, further attempts are
//! refused (`rate_limited`, with the seconds left) until the window ends.
//! Never a permanent lockout: the window starts at the first failure and
//! nothing extends it.
//!
//! An attempt is counted *before* its password is checked, and uncounted if
//! it succeeds. Counting only after a failure would let a burst of parallel
//! guesses all pass the check before any of them is counted.
//!
//! The account key is the user id when the login names an account (so
//! switching between username, email and letter case does not reset it),
//! otherwise the lowercased login; the address key is the client address the
//! gateway reports. Counters live in Redis (`login_failures:account:{key}`,
//! `login_failures:address:{ip}`) so every instance shares them; while Redis
//! is unreachable an in-process counter with the same limits takes over
//! rather than letting every guess through.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use fred::{
    clients::Pool,
    interfaces::{KeysInterface, LuaInterface},
    types::ExpireOptions,
};
use tokio::time::Instant;
use totilove_kit::Error;

use crate::redis::connected;

/// Uncounts one attempt unless its window has ended meanwhile (a plain DECR
/// would then create a counter without expiry).
const UNCOUNT: &str =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0";

/// In-process counters kept at most; beyond, expired ones are dropped first.
const LOCAL_MAX_KEYS: usize = 100_000;

#[derive(Clone)]
pub struct Throttle {
    redis: Pool,
    per_account: u32,
    per_address: u32,
    window: Duration,
    local: Arc<Mutex<LocalCounters>>,
}

/// A counted login attempt; hand it back to [`Throttle::succeeded`] if the
/// password was right.
pub struct Attempt {
    account: String,
    address: Option<String>,
    in_redis: bool,
}

/// One counter after counting an attempt: the count and the time left.
#[derive(Debug, Clone, Copy)]
struct Counted {
    count: i64,
    left: Duration,
}

impl Throttle {
    pub fn new(redis: Pool, per_account: u32, per_address: u32, window: Duration) -> Self {
        Self {
            redis,
            per_account,
            per_address,
            window,
            local: Arc::default(),
        }
    }

    /// Counts an attempt against the account and the address (an empty
    /// address, which the gateway never sends, is not counted); refuses it
    /// when either is over its limit.
    #[tracing::instrument(name = "Count a login attempt", skip_all)]
    pub async fn begin(&self, account: &str, address: &str) -> Result<Attempt, Error> {
        let account = format!("login_failures:account:{account}");
        let address = (!address.is_empty()).then(|| format!("login_failures:address:{address}"));
        let (counts, in_redis) = match self.count_in_redis(&account, address.as_deref()).await {
            Ok(counts) => (counts, true),
            Err(e) => {
                tracing::warn!(error = %e, "Redis unreachable: throttling logins in-process");
                (self.count_locally(&account, address.as_deref()), false)
            }
        };
        let attempt = Attempt {
            account,
            address,
            in_redis,
        };
        let (account_count, address_count) = counts;
        let mut wait = None;
        if account_count.count > i64::from(self.per_account) {
            wait = Some(account_count.left);
        }
        if let Some(address_count) = address_count
            && address_count.count > i64::from(self.per_address)
        {
            wait = wait.max(Some(address_count.left));
        }
        match wait {
            Some(left) => {
                tracing::info!("login attempt throttled");
                Err(Error::rate_limited(left.as_millis().div_ceil(1000) as u64))
            }
            None => Ok(attempt),
        }
    }

    /// Clears the account's counter and uncounts the address's attempt.
    pub async fn succeeded(&self, attempt: Attempt) {
        if attempt.in_redis {
            if let Err(e) = self.uncount_in_redis(&attempt).await {
                tracing::warn!(error = %e, "login throttle counters not cleared");
            }
        } else if let Ok(mut local) = self.local.lock() {
            local.clear(&attempt.account);
            if let Some(address) = &attempt.address {
                local.uncount(address);
            }
        }
    }

    async fn count_in_redis(
        &self,
        account: &str,
        address: Option<&str>,
    ) -> Result<(Counted, Option<Counted>), Error> {
        let window_ms = self.window.as_millis() as i64;
        let pipeline = connected(&self.redis)?.pipeline();
        for key in std::iter::once(account).chain(address) {
            let () = pipeline.incr(key).await?;
            let () = pipeline
                .pexpire(key, window_ms, Some(ExpireOptions::NX))
                .await?;
            let () = pipeline.pttl(key).await?;
        }
        let replies: Vec<i64> = pipeline.all().await?;
        let counted = |i: usize| -> Option<Counted> {
            let count = *replies.get(i * 3)?;
            let pttl = *replies.get(i * 3 + 2)?;
            let left = if pttl > 0 {
                Duration::from_millis(pttl as u64)
            } else {
                self.window
            };
            Some(Counted { count, left })
        };
        let account = counted(0).ok_or_else(|| Error::unavailable("the cache"))?;
        Ok((account, address.and_then(|_| counted(1))))
    }

    async fn uncount_in_redis(&self, attempt: &Attempt) -> Result<(), Error> {
        let client = connected(&self.redis)?;
        let _: i64 = client.del(&attempt.account).await?;
        if let Some(address) = &attempt.address {
            let _: i64 = client.eval(UNCOUNT, address.as_str(), ()).await?;
        }
        Ok(())
    }

    fn count_locally(&self, account: &str, address: Option<&str>) -> (Counted, Option<Counted>) {
        // A poisoned lock only means another thread panicked mid-update of
        // plain counters; they are still usable.
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let account = local.count(account, now, self.window);
        let address = address.map(|a| local.count(a, now, self.window));
        (account, address)
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
}
