//! Registrations per client address per hour, across every instance
//! (`registrations:address:{address}` in Redis, a fixed window from the
//! first registration; in-process while Redis is unreachable).
//!
//! Every registration that passed validation counts, taken or not: a flood
//! of attempts costs a password hash each, and probing which names are taken
//! is registration too. It is checked before hashing, so a refusal is cheap.

use std::time::Duration;

use fred::clients::Pool;
use totilove_common::Error;

use crate::windows::{self, Windows};

const WINDOW: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub(crate) struct RegistrationLimit {
    windows: Windows,
    per_hour: u32,
}

impl RegistrationLimit {
    pub(crate) fn new(redis: Pool, per_hour: u32) -> Self {
        Self {
            windows: Windows::new(redis, WINDOW),
            per_hour,
        }
    }

    /// Counts a registration from `address` and refuses it (`rate_limited`
    /// with the seconds left) once the address is over the limit. An empty
    /// address (which the gateway never sends) is not limited.
    #[tracing::instrument(name = "Count a registration", skip_all)]
    pub(crate) async fn check(&self, address: &str) -> Result<(), Error> {
        if address.is_empty() {
            return Ok(());
        }
        let key = format!("registrations:address:{}", windows::address_key(address));
        let (counts, _) = self.windows.count(&[&key]).await;
        match counts.first().and_then(|c| c.over(self.per_hour)) {
            Some(left) => {
                tracing::info!("registration refused: too many from this address");
                metrics::counter!("totilove_rate_limited_total", "kind" => "register").increment(1);
                Err(Error::rate_limited(windows::retry_after_secs(left)))
            }
            None => Ok(()),
        }
    }
}
