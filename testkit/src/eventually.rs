//! Bounded waiting for things that happen asynchronously (an event fanned
//! out, a key expiring, a service coming back). One helper, so every test
//! waits the same way and says what it waited for when it gives up.

use std::{fmt::Debug, time::Duration};

/// Longest wait for something that must happen (generous: the machine that
/// runs the tests is often busy building).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How often a check is retried.
const POLL: Duration = Duration::from_millis(50);

/// What a check answers: done (with a value) or not yet (with, perhaps, why).
pub trait Outcome {
    type Value;
    fn done(self) -> Result<Self::Value, Option<String>>;
}

impl Outcome for bool {
    type Value = ();
    fn done(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn done(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: Debug> Outcome for Result<T, E> {
    type Value = T;
    fn done(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(format!("{e:?}")))
    }
}

/// Runs `check` until it is done (true, `Some`, `Ok`) within [`PATIENCE`];
/// its value. Panics naming `what` (and the last error) when it never is.
pub async fn eventually<F, Fut>(what: &str, check: F) -> <Fut::Output as Outcome>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    eventually_within(PATIENCE, what, check).await
}

/// [`eventually`] with a bound of its own.
pub async fn eventually_within<F, Fut>(
    within: Duration,
    what: &str,
    mut check: F,
) -> <Fut::Output as Outcome>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match check().await.done() {
            Ok(value) => return value,
            Err(last) => last,
        };
        if tokio::time::Instant::now() >= deadline {
            match last {
                Some(e) => panic!("gave up after {within:?} waiting for {what}; last: {e}"),
                None => panic!("gave up after {within:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}
