//! The presence service: who is online and who is typing, kept in Redis only.

use std::future::Future;

use fred::clients::Pool as RedisPool;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};
use totilove_kit::{
    config::{self, Secret, Source},
    health::{self, Store},
};
use totilove_proto::presence::v1::{self as pb, presence_service_server::PresenceServiceServer};

/// The name this service reports in gRPC health.
pub const SERVICE_NAME: &str = "totilove.presence.v1.PresenceService";

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`PRESENCE_LISTEN_ADDR`, loopback by default).
    pub listen_addr: String,
    pub redis_url: String,
    pub internal_token: Secret,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        Ok(Self {
            listen_addr: src.var_or("PRESENCE_LISTEN_ADDR", "127.0.0.1:50053"),
            redis_url: src.required("REDIS_URL")?,
            internal_token: src.secret("INTERNAL_TOKEN")?,
        })
    }
}

pub struct Application {
    listener: TcpListener,
    redis: RedisPool,
    config: Config,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let redis = totilove_kit::redis::connect(&config.redis_url, 4).await?;
        let listener = totilove_kit::grpc::bind(&config.listen_addr).await?;
        Ok(Self {
            listener,
            redis,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (reporter, health_service) = health::health_reporter();
        let probe = tokio::spawn(health::probe_forever(
            reporter,
            SERVICE_NAME,
            vec![Store::Redis(self.redis.clone())],
        ));
        let service = PresenceApi { _redis: self.redis };
        let served = totilove_kit::grpc::server(&self.config.internal_token)
            .add_service(health_service)
            .add_service(PresenceServiceServer::new(service))
            .serve_with_incoming_shutdown(totilove_kit::grpc::incoming(self.listener), shutdown)
            .await;
        probe.abort();
        Ok(served?)
    }
}

struct PresenceApi {
    _redis: RedisPool,
}

#[tonic::async_trait]
impl pb::presence_service_server::PresenceService for PresenceApi {
    async fn open_connection(
        &self,
        _: Request<pb::OpenConnectionRequest>,
    ) -> Result<Response<pb::OpenConnectionResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn close_connection(
        &self,
        _: Request<pb::CloseConnectionRequest>,
    ) -> Result<Response<pb::CloseConnectionResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn heartbeat(
        &self,
        _: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn get_presence(
        &self,
        _: Request<pb::GetPresenceRequest>,
    ) -> Result<Response<pb::GetPresenceResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn set_typing(
        &self,
        _: Request<pb::SetTypingRequest>,
    ) -> Result<Response<pb::SetTypingResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }
}
