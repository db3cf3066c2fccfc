//! Reaching Redis without waiting on a dead one.

use fred::clients::{Client, Pool};
use totilove_kit::Error;

/// A connected client of the pool, or `unavailable` at once when none is
/// (see `totilove_kit::redis::connected`).
pub fn connected(pool: &Pool) -> Result<&Client, Error> {
    totilove_kit::redis::connected(pool).ok_or_else(|| Error::unavailable("the cache"))
}
