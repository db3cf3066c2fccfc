//! The gateway's settings.

use totilove_kit::config::{Env, Secret, Source};

#[derive(Debug, Clone)]
pub struct Config {
    /// Where browsers connect (`GATEWAY_ADDR`).
    pub listen_addr: String,
    pub auth_url: String,
    pub message_url: String,
    pub presence_url: String,
    /// For pub/sub fan-out between gateway instances.
    pub redis_url: String,
    pub internal_token: Secret,
    /// Origins allowed by CORS and for cookie-authenticated WebSocket upgrades.
    pub allowed_origins: Vec<String>,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Mark the session cookie `Secure` (when served over TLS).
    pub cookie_secure: bool,
    /// Names this instance in presence records; random by default.
    pub instance_id: String,
    /// Multiplexed connections in the gateway's Redis pool (`REDIS_POOL_SIZE`).
    pub redis_pool_size: usize,
    /// WebSocket and fan-out timings and limits (`crate::ws::settings`).
    pub realtime: crate::ws::settings::RealtimeSettings,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&Env)
    }

    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        Ok(Self {
            listen_addr: src.var_or("GATEWAY_ADDR", "127.0.0.1:8080"),
            auth_url: src.var_or("AUTH_URL", "http://127.0.0.1:50051"),
            message_url: src.var_or("MESSAGE_URL", "http://127.0.0.1:50052"),
            presence_url: src.var_or("PRESENCE_URL", "http://127.0.0.1:50053"),
            redis_url: src.required("REDIS_URL")?,
            internal_token: src.secret("INTERNAL_TOKEN")?,
            allowed_origins: src
                .var_or("ALLOWED_ORIGINS", "")
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            trust_forwarded_for: src.parse_or("TRUST_FORWARDED_FOR", false)?,
            cookie_secure: src.parse_or("COOKIE_SECURE", false)?,
            instance_id: src.var_or(
                "GATEWAY_INSTANCE_ID",
                &uuid::Uuid::new_v4().simple().to_string(),
            ),
            redis_pool_size: src.parse_or("REDIS_POOL_SIZE", 4)?,
            realtime: crate::ws::settings::RealtimeSettings::from_source(src)?,
        })
    }
}
