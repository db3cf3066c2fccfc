//! What every request handler shares: the settings, the gRPC clients of the
//! three services (the message service's behind `messaging`), the Redis pool
//! and the fan-out hub. Cloning is one `Arc` increment.

use std::sync::Arc;

use fred::clients::Pool as RedisPool;
use tonic::transport::Channel;
use totilove_common::{grpc::Outbound, health::HealthClient, metrics_grpc::GrpcMetrics};
use totilove_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    message::v1::message_service_client::MessageServiceClient,
    presence::v1::presence_service_client::PresenceServiceClient,
};

use crate::{Config, fanout::Hub, messaging::Messaging};

/// The largest answer taken from the message service.
const MAX_MESSAGE_ANSWER_BYTES: usize = 32 * 1024 * 1024;

pub use totilove_common::grpc::Intercepted;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

// Clients and the hub: nothing worth printing, and the config has its own Debug.
impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

struct Inner {
    config: Config,
    auth: AuthServiceClient<Intercepted>,
    messaging: Messaging,
    presence: PresenceServiceClient<Intercepted>,
    /// Live events to this instance's sockets.
    hub: Hub,
    /// Health of each service, for `/readyz`.
    health: Health,
    redis: RedisPool,
}

/// The gRPC health clients of the three services.
#[derive(Debug, Clone)]
pub struct Health {
    pub auth: HealthClient<Channel>,
    pub message: HealthClient<Channel>,
    pub presence: HealthClient<Channel>,
    /// When `/readyz` last found each of its checks down (see `routes::health`).
    pub last_down: Arc<std::sync::Mutex<[Option<tokio::time::Instant>; 5]>>,
}

impl AppState {
    /// Connects lazily to the services (they may start later, or restart)
    /// and to Redis (which may be down: the pool keeps trying), and starts
    /// the fan-out hub.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let outbound = Outbound::new(&config.internal_token)?;
        let auth_channel = totilove_common::grpc::channel(&config.auth_url)?;
        let message_channel = totilove_common::grpc::channel(&config.message_url)?;
        let presence_channel = totilove_common::grpc::channel(&config.presence_url)?;
        let redis = totilove_common::redis::connect(&config.redis, config.redis_pool_size).await?;
        let health = Health {
            auth: HealthClient::new(auth_channel.clone()),
            message: HealthClient::new(message_channel.clone()),
            presence: HealthClient::new(presence_channel.clone()),
            last_down: Arc::default(),
        };
        let auth = AuthServiceClient::with_interceptor(
            GrpcMetrics::client(auth_channel),
            outbound.clone(),
        );
        // The conversation list can be 1000 last messages of 16 KB each,
        // beyond tonic's default 4 MiB (sync pages are capped by the service).
        let messages = MessageServiceClient::with_interceptor(
            GrpcMetrics::client(message_channel),
            outbound.clone(),
        )
        .max_decoding_message_size(MAX_MESSAGE_ANSWER_BYTES);
        let presence = PresenceServiceClient::with_interceptor(
            GrpcMetrics::client(presence_channel),
            outbound,
        );
        let messaging = Messaging::new(messages, auth.clone());
        let hub = Hub::start(&config, messaging.clone(), auth.clone(), presence.clone()).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                health,
                auth,
                messaging,
                presence,
                hub,
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

    /// The message calls of REST, the socket and the fan-out.
    pub fn messaging(&self) -> &Messaging {
        &self.inner.messaging
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
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
