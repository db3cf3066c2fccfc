//! The presence service: who is online and who is typing, kept in Redis only.
//!
//! A person is online while at least one of their sockets lives; a socket
//! lives while its gateway keeps beating for it. Going offline waits out a
//! short grace (a page reload emits nothing). Changes go to the people who
//! share a conversation with the person, never across a block. See README.md.

mod api;
mod audience;
mod connections;
mod domain;
mod fanout;
mod keys;
mod lookup;
mod lua;
mod store;
mod sweeper;
mod typing;

use std::{future::Future, sync::Arc, time::Duration};

use fred::clients::Pool as RedisPool;
use tokio::{net::TcpListener, task::JoinHandle};
use totilove_common::{
    config::{self, Secret, Source},
    health::{self, Store as HealthStore},
    metrics::Exporter,
};
use totilove_proto::presence::v1::presence_service_server::PresenceServiceServer;

use crate::{
    api::PresenceApi,
    audience::Audience,
    fanout::Fanout,
    store::{Store, Timings},
};

/// The name this service reports in gRPC health.
pub const SERVICE_NAME: &str = "totilove.presence.v1.PresenceService";

/// Largest request accepted: a heartbeat for 100 000 sockets of one gateway
/// is about 6 MiB.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`PRESENCE_LISTEN_ADDR`, loopback by default).
    pub listen_addr: String,
    /// Where `/metrics` is served (`METRICS_ADDR`); unset: not served.
    pub metrics_addr: Option<String>,
    pub redis: totilove_common::redis::Target,
    pub internal_token: Secret,
    /// The message service (`MESSAGE_URL`): who shares a conversation with whom.
    pub message_url: String,
    /// The auth service (`AUTH_URL`): blocks.
    pub auth_url: String,
    /// A socket without a heartbeat for this long is dead
    /// (`PRESENCE_CONNECTION_TTL_SECS`, 60).
    pub connection_ttl: Duration,
    /// Offline is announced this long after the last socket went, unless one
    /// opens meanwhile (`PRESENCE_OFFLINE_GRACE_SECS`, 5).
    pub offline_grace: Duration,
    /// How often silent sockets and due offline transitions are swept
    /// (`PRESENCE_SWEEP_INTERVAL_MS`, 1000).
    pub sweep_interval: Duration,
    /// `typing:true` lapses after this without a repeat (`TYPING_TTL_SECS`, 6).
    pub typing_ttl: Duration,
    /// At most one `typing:true` per pair is forwarded per this interval
    /// (`TYPING_THROTTLE_MS`, 500).
    pub typing_throttle: Duration,
    /// How long a typing pair found allowed (shared conversation, no block)
    /// is remembered (`PRESENCE_AUDIENCE_CACHE_SECS`, 5; 0 turns it off).
    pub audience_cache: Duration,
    /// Fan-out workers (`PRESENCE_FANOUT_SHARDS`, 8) and the bound of each
    /// one's queue (`PRESENCE_FANOUT_QUEUE`, 1024).
    pub fanout_shards: usize,
    pub fanout_queue: usize,
    /// Multiplexed Redis connections (`REDIS_POOL_SIZE`, 4).
    pub redis_pool_size: usize,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        let config = Self {
            listen_addr: src.var_or("PRESENCE_LISTEN_ADDR", "127.0.0.1:50053"),
            metrics_addr: totilove_common::metrics::addr_from(src),
            redis: totilove_common::redis::Target::from_source(src)?,
            internal_token: src.secret("INTERNAL_TOKEN")?,
            message_url: src.var_or("MESSAGE_URL", "http://127.0.0.1:50052"),
            auth_url: src.var_or("AUTH_URL", "http://127.0.0.1:50051"),
            connection_ttl: src.seconds_or("PRESENCE_CONNECTION_TTL_SECS", 60)?,
            offline_grace: src.seconds_or("PRESENCE_OFFLINE_GRACE_SECS", 5)?,
            sweep_interval: src.millis_or("PRESENCE_SWEEP_INTERVAL_MS", 1000)?,
            typing_ttl: src.seconds_or("TYPING_TTL_SECS", 6)?,
            typing_throttle: src.millis_or("TYPING_THROTTLE_MS", 500)?,
            audience_cache: src.seconds_or("PRESENCE_AUDIENCE_CACHE_SECS", 5)?,
            fanout_shards: src.parse_or("PRESENCE_FANOUT_SHARDS", 8)?,
            fanout_queue: src.parse_or("PRESENCE_FANOUT_QUEUE", 1024)?,
            redis_pool_size: src.parse_or("REDIS_POOL_SIZE", 4)?,
        };
        anyhow::ensure!(
            !config.connection_ttl.is_zero(),
            "PRESENCE_CONNECTION_TTL_SECS must be positive"
        );
        anyhow::ensure!(
            !config.typing_ttl.is_zero(),
            "TYPING_TTL_SECS must be positive"
        );
        anyhow::ensure!(
            !config.sweep_interval.is_zero(),
            "PRESENCE_SWEEP_INTERVAL_MS must be positive"
        );
        anyhow::ensure!(
            config.fanout_shards > 0,
            "PRESENCE_FANOUT_SHARDS must be positive"
        );
        Ok(config)
    }

    fn timings(&self) -> Timings {
        Timings {
            connection_ttl: self.connection_ttl,
            offline_grace: self.offline_grace,
            typing_ttl: self.typing_ttl,
            typing_throttle: self.typing_throttle,
        }
    }
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// Serves `/metrics` while the application lives.
    metrics: Option<Exporter>,
    redis: RedisPool,
    audience: Arc<Audience>,
    config: Config,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut metrics = Exporter::serve_if(config.metrics_addr.as_deref()).await?;
        let redis = totilove_common::redis::connect(&config.redis, config.redis_pool_size).await?;
        if let Some(metrics) = metrics.as_mut() {
            metrics.watch_redis(redis.clone());
        }
        let audience = Audience::new(
            &config.message_url,
            &config.auth_url,
            &config.internal_token,
            redis.clone(),
            config.audience_cache,
        )?;
        let listener = totilove_common::grpc::bind(&config.listen_addr).await?;
        Ok(Self {
            listener,
            metrics,
            redis,
            audience: Arc::new(audience),
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of `/metrics`, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|m| m.addr().port())
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = Store::new(self.redis.clone(), self.config.timings());
        let (fanout, workers) = Fanout::start(
            self.redis.clone(),
            self.audience,
            self.config.fanout_shards,
            self.config.fanout_queue,
        );
        let (reporter, health_service) = health::health_reporter();
        // Background tasks end with this future, even when it is dropped
        // rather than finished (a test killing the service).
        let mut background = Background(workers);
        background.0.push(tokio::spawn(health::probe_forever(
            reporter,
            SERVICE_NAME,
            vec![HealthStore::Redis(self.redis.clone())],
        )));
        background.0.push(tokio::spawn(sweeper::run(
            store.clone(),
            fanout.clone(),
            self.config.sweep_interval,
        )));
        let service = PresenceServiceServer::new(PresenceApi { store, fanout })
            .max_decoding_message_size(MAX_REQUEST_BYTES);
        let served = totilove_common::grpc::server(&self.config.internal_token)
            .add_service(health_service)
            .add_service(totilove_common::grpc::reflection(
                totilove_proto::presence::v1::presence_service_server::SERVICE_NAME,
            )?)
            .add_service(service)
            .serve_with_incoming_shutdown(totilove_common::grpc::incoming(self.listener), shutdown)
            .await;
        drop(background);
        Ok(served?)
    }
}

/// Tasks aborted when dropped.
struct Background(Vec<JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
