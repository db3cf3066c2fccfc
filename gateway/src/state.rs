//! What every request handler shares: the settings, the gRPC clients of the
//! three services and the Redis pool. Cloning is one `Arc` increment.

use std::sync::Arc;

use fred::clients::Pool as RedisPool;
use tonic::transport::Channel;
use totilove_common::{grpc::Outbound, health::HealthClient, metrics_grpc::GrpcMetrics};
use totilove_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    message::v1::message_service_client::MessageServiceClient,
    presence::v1::presence_service_client::PresenceServiceClient,
};

use crate::Config;

/// The largest answer taken from the message service.
const MAX_MESSAGE_ANSWER_BYTES: usize = 32 * 1024 * 1024;

pub use totilove_common::grpc::Intercepted;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    auth: AuthServiceClient<Intercepted>,
    messages: MessageServiceClient<Intercepted>,
    presence: PresenceServiceClient<Intercepted>,
    /// Health of each service, for `/readyz`.
    health: Health,
    redis: RedisPool,
}

/// The gRPC health clients of the three services.
#[derive(Clone)]
pub struct Health {
    pub auth: HealthClient<Channel>,
    pub message: HealthClient<Channel>,
    pub presence: HealthClient<Channel>,
    /// When `/readyz` last found each of its checks down (see `routes::health`).
    pub last_down: Arc<std::sync::Mutex<[Option<tokio::time::Instant>; 5]>>,
}

impl AppState {
    /// Connects lazily to the services (they may start later, or restart)
    /// and to Redis (which may be down: the pool keeps trying).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let outbound = Outbound::new(&config.internal_token)?;
        let auth = totilove_common::grpc::channel(&config.auth_url)?;
        let messages = totilove_common::grpc::channel(&config.message_url)?;
        let presence = totilove_common::grpc::channel(&config.presence_url)?;
        let redis = totilove_common::redis::connect(&config.redis, config.redis_pool_size).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                health: Health {
                    auth: HealthClient::new(auth.clone()),
                    message: HealthClient::new(messages.clone()),
                    presence: HealthClient::new(presence.clone()),
                    last_down: Arc::default(),
                },
                auth: AuthServiceClient::with_interceptor(
                    GrpcMetrics::client(auth),
                    outbound.clone(),
                ),
                // The conversation list can be 1000 last messages of 16 KB
                // each, beyond tonic's default 4 MiB (sync pages are capped
                // by the service).
                messages: MessageServiceClient::with_interceptor(
                    GrpcMetrics::client(messages),
                    outbound.clone(),
                )
                .max_decoding_message_size(MAX_MESSAGE_ANSWER_BYTES),
                presence: PresenceServiceClient::with_interceptor(
                    GrpcMetrics::client(presence),
                    outbound,
                ),
                redis,
                config,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A handle on the auth service (tonic clients need `&mut self`; a clone is cheap).
    pub fn auth(&self) -> AuthServiceClient<Intercepted> {
        self.inner.auth.clone()
    }

    pub fn messages(&self) -> MessageServiceClient<Intercepted> {
        self.inner.messages.clone()
    }

    pub fn presence(&self) -> PresenceServiceClient<Intercepted> {
        self.inner.presence.clone()
    }

    pub fn health(&self) -> Health {
        self.inner.health.clone()
    }

    pub fn redis(&self) -> &RedisPool {
        &self.inner.redis
    }
}
