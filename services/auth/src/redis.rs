//! Reaching Redis without waiting on a dead one.

use fred::{clients::Client, clients::Pool, interfaces::ClientLike};
use totilove_kit::Error;

/// A connected client of the pool, or `unavailable` at once when none is.
///
/// Commands sent while the pool reconnects would wait for the command
/// timeout (2 s) before failing; every caller here has a fallback, so it is
/// better to take it immediately.
pub fn connected(pool: &Pool) -> Result<&Client, Error> {
    let client = pool.next_connected();
    if client.is_connected() {
        Ok(client)
    } else {
        Err(Error::unavailable("the cache"))
    }
}
