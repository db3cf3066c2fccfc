//! The auth service: accounts, password login, sessions (PostgreSQL is the
//! record, Redis the fast path), token validation, profiles and blocks.

use std::{future::Future, time::Duration};

use fred::clients::Pool as RedisPool;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};
use totilove_kit::{
    config::{self, Secret, Source},
    health::{self, Store},
};
use totilove_proto::auth::v1::{self as pb, auth_service_server::AuthServiceServer};

/// The name this service reports in gRPC health.
pub const SERVICE_NAME: &str = "totilove.auth.v1.AuthService";

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`PRESENCE_LISTEN_ADDR`, loopback by default).
    pub listen_addr: String,
    pub database_url: String,
    pub redis_url: String,
    pub internal_token: Secret,
    /// HMAC key signing the session tokens (HS256); at least 32 bytes.
    pub jwt_secret: Secret,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// A session unused for this long ends.
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, used or not (the token's `exp`).
    pub session_lifetime: Duration,
    /// Failed logins allowed per account, and per client address, per window.
    pub login_failures_per_account: u32,
    pub login_failures_per_address: u32,
    pub login_throttle_window: Duration,
    /// Password hashes computed at once (each takes ~19 MiB and a core).
    pub password_hash_concurrency: usize,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        Ok(Self {
            listen_addr: src.var_or("AUTH_LISTEN_ADDR", "127.0.0.1:50051"),
            database_url: src.required("DATABASE_URL")?,
            redis_url: src.required("REDIS_URL")?,
            internal_token: src.secret("INTERNAL_TOKEN")?,
            jwt_secret: src.secret("JWT_SECRET")?,
            jwt_issuer: src.var_or("JWT_ISSUER", "totilove"),
            jwt_audience: src.var_or("JWT_AUDIENCE", "totilove-web"),
            session_idle_timeout: src.seconds_or("SESSION_IDLE_TIMEOUT_SECS", 7 * 24 * 3600)?,
            session_lifetime: src.seconds_or("SESSION_LIFETIME_SECS", 30 * 24 * 3600)?,
            login_failures_per_account: src.parse_or("LOGIN_FAILURES_PER_ACCOUNT", 10)?,
            login_failures_per_address: src.parse_or("LOGIN_FAILURES_PER_ADDRESS", 100)?,
            login_throttle_window: src.seconds_or("LOGIN_THROTTLE_WINDOW_SECS", 15 * 60)?,
            password_hash_concurrency: src.parse_or(
                "PASSWORD_HASH_CONCURRENCY",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )?,
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
            "auth",
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
        let service = AuthApi {
            _db: self.db,
            _redis: self.redis,
        };
        let served = totilove_kit::grpc::server(&self.config.internal_token)
            .add_service(health_service)
            .add_service(AuthServiceServer::new(service))
            .serve_with_incoming_shutdown(totilove_kit::grpc::incoming(self.listener), shutdown)
            .await;
        probe.abort();
        Ok(served?)
    }
}

struct AuthApi {
    _db: PgPool,
    _redis: RedisPool,
}

#[tonic::async_trait]
impl pb::auth_service_server::AuthService for AuthApi {
    async fn register(
        &self,
        _: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn login(
        &self,
        _: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn validate_token(
        &self,
        _: Request<pb::ValidateTokenRequest>,
    ) -> Result<Response<pb::ValidateTokenResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn logout(
        &self,
        _: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn list_sessions(
        &self,
        _: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn revoke_session(
        &self,
        _: Request<pb::RevokeSessionRequest>,
    ) -> Result<Response<pb::RevokeSessionResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn get_user(
        &self,
        _: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn get_users(
        &self,
        _: Request<pb::GetUsersRequest>,
    ) -> Result<Response<pb::GetUsersResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn search_users(
        &self,
        _: Request<pb::SearchUsersRequest>,
    ) -> Result<Response<pb::SearchUsersResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn update_profile(
        &self,
        _: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn block(
        &self,
        _: Request<pb::BlockRequest>,
    ) -> Result<Response<pb::BlockResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn unblock(
        &self,
        _: Request<pb::BlockRequest>,
    ) -> Result<Response<pb::BlockResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn list_blocks(
        &self,
        _: Request<pb::ListBlocksRequest>,
    ) -> Result<Response<pb::ListBlocksResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }

    async fn is_blocked(
        &self,
        _: Request<pb::IsBlockedRequest>,
    ) -> Result<Response<pb::IsBlockedResponse>, Status> {
        Err(Status::unimplemented("not yet"))
    }
}
