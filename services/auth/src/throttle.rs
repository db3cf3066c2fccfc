//! Failed-login throttling, in fixed windows (`windows`): once a counter has
//! seen its limit, further attempts it covers are refused (`rate_limited`,
//! with the seconds left) until its window ends. Never a permanent lockout.
//!
//! Three counters per attempt:
//! - the **address** (all accounts tried from one client address): one
//!   source guessing across many accounts;
//! - the **account from that address**: one source guessing one password;
//! - the **account** (whatever the address): many sources guessing one
//!   password. This one alone would let anyone lock the owner out by failing
//!   from elsewhere, so it does not apply to an address the account has
//!   logged in from recently (the caller says which: `known_address`). Such
//!   an address is still held by the first two counters.
//!
//! An attempt is counted *before* its password is checked (and before any
//! hashing: a refused attempt costs no CPU), and uncounted if it succeeds.
//! Counting only after a failure would let a burst of parallel guesses all
//! pass the check before any of them is counted. A success forgets that
//! address's failures on the account but leaves the account-wide count as it
//! is: the owner logging in must not hand an attacker elsewhere a fresh budget.
//!
//! The account key is the user id when the login names an account (so
//! switching between username, email and letter case does not reset it),
//! otherwise the lowercased login; the address is the one the gateway
//! reports, IPv6 by its /64 (`windows::address_key`).

use std::{future::Future, time::Duration};

use fred::clients::Pool;
use totilove_common::Error;

use crate::windows::{self, Kept, Windows};

#[derive(Clone)]
pub(crate) struct Throttle {
    windows: Windows,
    per_account: u32,
    per_address: u32,
}

/// A counted login attempt; hand it back to [`Throttle::succeeded`] if the
/// password was right.
pub(crate) struct Attempt {
    account: String,
    /// The address's keys, when the gateway sent one: (address, account
    /// from that address).
    address: Option<(String, String)>,
    kept: Kept,
}

impl Throttle {
    pub(crate) fn new(redis: Pool, per_account: u32, per_address: u32, window: Duration) -> Self {
        Self {
            windows: Windows::new(redis, window),
            per_account,
            per_address,
        }
    }

    /// Counts an attempt on `account` from `address` (an empty address, which
    /// the gateway never sends, counts on the account alone) and refuses it
    /// when a counter that applies is over its limit. `known_address` is
    /// awaited only when the account-wide counter alone is over: whether this
    /// address is one the account logged in from recently.
    #[tracing::instrument(name = "Count a login attempt", skip_all)]
    pub(crate) async fn begin(
        &self,
        account: &str,
        address: &str,
        known_address: impl Future<Output = bool>,
    ) -> Result<Attempt, Error> {
        let attempt = Attempt {
            account: format!("login_failures:account:{account}"),
            address: (!address.is_empty()).then(|| {
                let address = windows::address_key(address);
                (
                    format!("login_failures:address:{address}"),
                    format!("login_failures:address_account:{address}:{account}"),
                )
            }),
            kept: Kept::Redis,
        };
        let mut keys = vec![attempt.account.as_str()];
        if let Some((address, pair)) = &attempt.address {
            keys.extend([address.as_str(), pair.as_str()]);
        }
        let (counts, kept) = self.windows.count(&keys).await;
        let attempt = Attempt { kept, ..attempt };

        let account_over = counts[0].over(self.per_account);
        let mut wait = counts.get(1).and_then(|c| c.over(self.per_address));
        wait = wait.max(counts.get(2).and_then(|c| c.over(self.per_account)));
        if let Some(left) = account_over {
            let exempt = wait.is_none() && attempt.address.is_some() && known_address.await;
            if !exempt {
                wait = wait.max(Some(left));
            }
        }
        match wait {
            Some(left) => {
                tracing::info!("login attempt throttled");
                metrics::counter!("totilove_rate_limited_total", "kind" => "login").increment(1);
                Err(Error::rate_limited(windows::retry_after_secs(left)))
            }
            None => Ok(attempt),
        }
    }

    /// Forgets the address's failures on the account and uncounts the
    /// attempt from the address and the account.
    pub(crate) async fn succeeded(&self, attempt: Attempt) {
        if let Some((address, pair)) = &attempt.address {
            self.windows.clear(pair, attempt.kept).await;
            self.windows.uncount(address, attempt.kept).await;
        }
        self.windows.uncount(&attempt.account, attempt.kept).await;
    }
}
