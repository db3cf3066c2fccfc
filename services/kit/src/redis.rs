//! The Redis connection pool every service uses.
//!
//! Commands fail fast while Redis is unreachable (callers fall back or answer
//! 503) and the pool reconnects by itself in the background.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use fred::{
    clients::{Client, Pool},
    interfaces::{ClientLike, EventInterface},
    types::{
        Builder,
        config::{Config, ReconnectPolicy, Server},
    },
};
use tokio::sync::broadcast;

/// Whether the pool can serve: some client of it answers a PING within 2 s.
/// Commands go to connected clients first (fred's `prefer_connected`), so one
/// that answers is enough; asking a single client made readiness flap after
/// a Redis restart, whenever the one asked was still reconnecting.
pub async fn serves(pool: &Pool) -> bool {
    if pool.clients().is_empty() {
        return false; // (select_ok wants at least one future)
    }
    let pings = pool.clients().iter().map(|client| {
        Box::pin(async move {
            match tokio::time::timeout(Duration::from_secs(2), client.ping::<String>(None)).await {
                Ok(Ok(_)) => Ok(()),
                _ => Err(()),
            }
        })
    });
    futures::future::select_ok(pings).await.is_ok()
}

/// SET of the ids of people whose `show_online` is off. The auth service
/// owns the setting (PostgreSQL) and keeps this copy; the presence service
/// reads it on every lookup and event, so it needs no RPC to hide someone.
pub const HIDDEN_PEOPLE_KEY: &str = "privacy:hidden";

/// The key of `user`'s *block generation*: a random value the auth service
/// replaces after every block or unblock `user` takes part in commits, and
/// before it answers. A service that remembers a block answer for a pair
/// reuses it only while both people's generations are unchanged.
pub fn block_generation_key(user: i64) -> String {
    format!("blocks:gen:{user}")
}

/// Connects a pool of `size` multiplexed connections. Does not fail when Redis
/// is down at start: the pool keeps trying and the service runs degraded.
pub async fn connect(url: &str, size: usize) -> anyhow::Result<Pool> {
    let config = Config::from_url(url)?;
    let pool = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 2;
            c.tcp.nodelay = Some(true);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(2);
        })
        // Retry forever, 50 ms to 2 s apart.
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
        .build_pool(size.max(1))?;
    pool.connect();
    if tokio::time::timeout(Duration::from_secs(3), pool.wait_for_connect())
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r.map_err(anyhow::Error::from))
        .is_err()
    {
        tracing::warn!("Redis is not reachable yet; running degraded until it is");
    }
    Ok(pool)
}

/// A connected client of the pool, or `None` at once while none is: a
/// command sent while the pool reconnects would wait for the command timeout
/// (2 s) before failing, and every caller has a faster answer to give.
pub fn connected(pool: &Pool) -> Option<&Client> {
    let client = pool.next_connected();
    client.is_connected().then_some(client)
}

/// Notices that a pool reconnected: what was learned from the Redis before
/// (a remembered answer, the server's identity) may not hold for the one
/// after, which may have restarted from an older snapshot.
#[derive(Clone)]
pub struct Reconnections {
    /// One per pooled connection: a message means it reconnected.
    receivers: Arc<Mutex<Vec<broadcast::Receiver<Server>>>>,
}

impl Reconnections {
    pub fn watch(pool: &Pool) -> Self {
        let receivers = pool.clients().iter().map(|c| c.reconnect_rx()).collect();
        Self {
            receivers: Arc::new(Mutex::new(receivers)),
        }
    }

    /// Whether any connection reconnected since the last call (the first
    /// connection counts too). Checked right after a command's answer, it
    /// also covers a reconnection that command crossed.
    pub fn any_since_last(&self) -> bool {
        let mut any = false;
        let mut receivers = self.receivers.lock().unwrap_or_else(|p| p.into_inner());
        for rx in receivers.iter_mut() {
            while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = rx.try_recv() {
                any = true;
            }
        }
        any
    }
}
