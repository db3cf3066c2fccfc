//! The gateway's settings.

mod realtime;

use totilove_common::config::{Env, Secret, Source};

pub use realtime::{FrameLimit, RealtimeSettings};

#[derive(Debug, Clone)]
pub struct Config {
    /// Where browsers connect (`GATEWAY_ADDR`).
    pub listen_addr: String,
    /// Where `/metrics` is served, never on `GATEWAY_ADDR` (`METRICS_ADDR`); unset: not served, never on `GATEWAY_ADDR`.
    pub metrics_addr: Option<String>,
    pub auth_url: String,
    pub message_url: String,
    pub presence_url: String,
    /// For pub/sub fan-out between gateway instances (`REDIS_URL`,
    /// `REDIS_CA_FILE`).
    pub redis: totilove_common::redis::Target,
    pub internal_token: Secret,
    /// Origins allowed by CORS and for cookie-authenticated WebSocket upgrades.
    pub allowed_origins: Vec<String>,
    /// How many proxies in front of the gateway each append the address they
    /// saw to `X-Forwarded-For` (`TRUSTED_PROXY_HOPS`, when
    /// `TRUST_FORWARDED_FOR` is on); 0: the header is ignored and the peer
    /// address is the client's. See `http::client`.
    pub trusted_proxy_hops: usize,
    /// Mark the session cookie `Secure` (when served over TLS).
    pub cookie_secure: bool,
    /// Names this instance in presence records; random by default.
    pub instance_id: String,
    /// Multiplexed connections in the gateway's Redis pool (`REDIS_POOL_SIZE`).
    pub redis_pool_size: usize,
    /// WebSocket and fan-out timings and limits (`realtime`).
    pub realtime: RealtimeSettings,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&Env)
    }

    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        Ok(Self {
            listen_addr: src.var_or("GATEWAY_ADDR", "127.0.0.1:8080"),
            metrics_addr: totilove_common::metrics::addr_from(src),
            auth_url: src.var_or("AUTH_URL", "http://127.0.0.1:50051"),
            message_url: src.var_or("MESSAGE_URL", "http://127.0.0.1:50052"),
            presence_url: src.var_or("PRESENCE_URL", "http://127.0.0.1:50053"),
            redis: totilove_common::redis::Target::from_source(src)?,
            internal_token: src.secret("INTERNAL_TOKEN")?,
            allowed_origins: src
                .var_or("ALLOWED_ORIGINS", "")
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            trusted_proxy_hops: trusted_proxy_hops(src)?,
            cookie_secure: src.parse_or("COOKIE_SECURE", false)?,
            instance_id: src.var_or(
                "GATEWAY_INSTANCE_ID",
                &uuid::Uuid::new_v4().simple().to_string(),
            ),
            redis_pool_size: src.parse_or("REDIS_POOL_SIZE", 4)?,
            realtime: RealtimeSettings::from_source(src)?,
        })
    }
}

/// `TRUST_FORWARDED_FOR` off: 0; on: `TRUSTED_PROXY_HOPS` (default 1, at least 1).
fn trusted_proxy_hops(src: &impl Source) -> anyhow::Result<usize> {
    if !src.parse_or("TRUST_FORWARDED_FOR", false)? {
        return Ok(0);
    }
    let hops: usize = src.parse_or("TRUSTED_PROXY_HOPS", 1)?;
    anyhow::ensure!(
        hops > 0,
        "setting TRUSTED_PROXY_HOPS must be at least 1 (or TRUST_FORWARDED_FOR off)"
    );
    Ok(hops)
}
