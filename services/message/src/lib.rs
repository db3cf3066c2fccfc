//! The message service: stores messages durably, keeps conversations and
//! read state, and answers history and sync.

use std::future::Future;

use fred::clients::Pool as RedisPool;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};
use totilove_kit::{
    config::{self, Secret, Source},
    health::{self, Store},
};
use totilove_proto::message::v1::{self as pb, message_service_server::MessageServiceServer};

/// The name this service reports in gRPC health.
pub const SERVICE_NAME: &str = "totilove.message.v1.MessageService";

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`PRESENCE_LISTEN_ADDR`, loopback by default).
    pub listen_addr: String,
    pub database_url: String,
    pub redis_url: String,
    /// Where the auth service is (`AUTH_URL`), for user lookups and blocks.
    pub auth_url: String,
    pub internal_token: Secret,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        Ok(Self {
            listen_addr: src.var_or("MESSAGE_LISTEN_ADDR", "127.0.0.1:50052"),
            database_url: src.required("DATABASE_URL")?,
            redis_url: src.required("REDIS_URL")?,
            auth_url: src.var_or("AUTH_URL", "http://127.0.0.1:50051"),
            internal_token: src.secret("INTERNAL_TOKEN")?,
        })
    }
}

pub struct Application {
    listener: TcpListener,
    db: PgPool,
    redis: RedisPool,
    config: Config,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = totilove_kit::postgres::connect_and_migrate(
            &config.database_url,
            "message",
            16,
            &sqlx::migrate!("./migrations"),
        )
        .await?;
        let redis = totilove_kit::redis::connect(&config.redis_url, 4).await?;
        let listener = totilove_kit::grpc::bind(&config.listen_addr).await?;
        Ok(Self {
            listener,
            db,
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
            vec![
                Store::Postgres(self.db.clone()),
                Store::Redis(self.redis.clone()),
            ],
        ));
        let service = MessageApi {
            _db: self.db,
            _redis: self.redis,
        };
        let served = totilove_kit::grpc::server(&self.config.internal_token)
            .add_service(health_service)
            .add_service(MessageServiceServer::new(service))
            .serve_with_incoming_shutdown(totilove_kit::grpc::incoming(self.listener), shutdown)
            .await;
        probe.abort();
        Ok(served?)
    }
}

struct MessageApi {
    _db: PgPool,
    _redis: RedisPool,
}

#[tonic::async_trait]
impl pb::message_service_server::MessageService for MessageApi {
    async fn send(
        &self,
        _: Request<pb::SendRequest>,
    ) -> Result<Response<pb::SendResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn history(
        &self,
        _: Request<pb::HistoryRequest>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn conversations(
        &self,
        _: Request<pb::ConversationsRequest>,
    ) -> Result<Response<pb::ConversationsResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn mark_read(
        &self,
        _: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkStatusResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn mark_delivered(
        &self,
        _: Request<pb::MarkDeliveredRequest>,
    ) -> Result<Response<pb::MarkStatusResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn sync(
        &self,
        _: Request<pb::SyncRequest>,
    ) -> Result<Response<pb::SyncResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn partners(
        &self,
        _: Request<pb::PartnersRequest>,
    ) -> Result<Response<pb::PartnersResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }
}
