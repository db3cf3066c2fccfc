//! Per-socket limits on the frames that cost the message service a query:
//! `sync` (a page of up to 1,000 messages) and `read` (a write). Sends are
//! limited per person across every instance, in the message service; typing
//! is throttled by the presence service. A socket lives on one instance, so
//! its own limits need no shared store.

use governor::{DefaultDirectRateLimiter, Quota, clock::Clock};

use crate::{config::FrameLimit, protocol::Refusal};

fn limiter(limit: FrameLimit) -> DefaultDirectRateLimiter {
    DefaultDirectRateLimiter::direct(Quota::per_minute(limit.per_minute).allow_burst(limit.burst))
}

pub(super) struct FrameLimits {
    sync: DefaultDirectRateLimiter,
    read: DefaultDirectRateLimiter,
}

impl FrameLimits {
    pub(super) fn new(sync: FrameLimit, read: FrameLimit) -> Self {
        Self {
            sync: limiter(sync),
            read: limiter(read),
        }
    }

    /// The refusal of one more `sync` frame now, if it is over the limit.
    pub(super) fn sync(&self) -> Option<Refusal> {
        over(&self.sync, "sync")
    }

    /// The refusal of one more `read` frame now, if it is over the limit.
    pub(super) fn read(&self) -> Option<Refusal> {
        over(&self.read, "read")
    }
}

fn over(limiter: &DefaultDirectRateLimiter, frame: &str) -> Option<Refusal> {
    let not_until = limiter.check().err()?;
    let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
    Some(Refusal {
        code: "rate_limited",
        message: format!(
            "too many `{frame}` frames, try again in {} s",
            wait.as_secs_f64().ceil().max(1.0)
        ),
        client_msg_id: None,
    })
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn a_burst_is_allowed_and_the_next_frame_refused_with_the_wait() {
        let one = NonZeroU32::new(1).expect("non-zero");
        let three = NonZeroU32::new(3).expect("non-zero");
        let limits = FrameLimits::new(
            FrameLimit {
                per_minute: one,
                burst: three,
            },
            FrameLimit {
                per_minute: one,
                burst: one,
            },
        );
        for _ in 0..3 {
            assert!(limits.sync().is_none());
        }
        let refused = limits.sync().expect("the fourth is over");
        assert_eq!(refused.code, "rate_limited");
        assert!(refused.message.contains("`sync`"), "{}", refused.message);
        assert!(refused.message.contains("in 60 s"), "{}", refused.message);
        // Each kind has its own allowance.
        assert!(limits.read().is_none());
        assert!(limits.read().is_some());
    }
}
