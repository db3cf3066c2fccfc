//! Startup: connect the stores, apply migrations, bind, serve until told to stop.

use std::future::Future;

use fred::clients::Pool as RedisPool;
use sqlx::PgPool;
use tokio::net::TcpListener;
use totilove_common::{
    health::{self, Store},
    metrics::Exporter,
};
use totilove_proto::auth::v1::auth_service_server::AuthServiceServer;

use crate::{
    accounts::Accounts,
    api::AuthApi,
    blocks::Blocks,
    config::Config,
    passwords::Passwords,
    privacy::Privacies,
    push::{PushHosts, Pushes},
    registration_limit::RegistrationLimit,
    session_cache::SessionCache,
    session_store::SessionStore,
    sessions::Sessions,
    throttle::Throttle,
    tokens::Tokens,
    users::Users,
};

/// The name this service reports in gRPC health.
pub const SERVICE_NAME: &str = "totilove.auth.v1.AuthService";

pub struct Application {
    listener: TcpListener,
    /// Serves `/metrics` while the application lives.
    metrics: Option<Exporter>,
    db: PgPool,
    redis: RedisPool,
    api: AuthApi,
    config: Config,
}

// The listener's address is what tells one instance from another.
impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut metrics = Exporter::serve_if(config.metrics_addr.as_deref()).await?;
        let db = totilove_common::postgres::connect_and_migrate(
            config.database_url.expose(),
            "auth",
            config.database_pool_size,
            None,
            &sqlx::migrate!("./migrations"),
        )
        .await?;
        let redis = totilove_common::redis::connect(&config.redis, 4).await?;
        if let Some(metrics) = metrics.as_mut() {
            metrics.watch_postgres(db.clone());
            metrics.watch_redis(redis.clone());
        }
        let passwords = Passwords::new(
            config.password_hash_concurrency,
            config.register_hash_concurrency,
            config.hash_cost,
        )
        .await?;
        let users = Users::new(db.clone());
        let sessions = Sessions::new(
            SessionStore::new(db.clone()),
            SessionCache::new(
                redis.clone(),
                chrono::Duration::from_std(config.session_idle_timeout)?,
                chrono::Duration::from_std(config.session_lifetime)?,
            ),
            &config,
        );
        let accounts = Accounts {
            db: db.clone(),
            users: users.clone(),
            passwords,
            tokens: Tokens::new(&config.jwt_secret, &config.jwt_issuer, &config.jwt_audience),
            sessions,
            throttle: Throttle::new(
                redis.clone(),
                config.login_failures_per_account,
                config.login_failures_per_address,
                config.login_throttle_window,
            ),
            registration_limit: RegistrationLimit::new(
                redis.clone(),
                config.registrations_per_hour,
            ),
            known_address_for: chrono::Duration::from_std(config.login_known_address_for)?,
        };
        let api = AuthApi {
            accounts,
            users,
            blocks: Blocks::new(db.clone(), redis.clone()),
            privacy: Privacies::new(db.clone(), redis.clone()),
            pushes: Pushes::new(
                db.clone(),
                redis.clone(),
                config.session_idle_timeout,
                PushHosts::parse(&config.push_service_hosts),
            ),
        };
        let listener = totilove_common::grpc::bind(&config.listen_addr).await?;
        Ok(Self {
            listener,
            metrics,
            db,
            redis,
            api,
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
        let (reporter, health_service) = health::health_reporter();
        let probe = tokio::spawn(health::probe_forever(
            reporter,
            SERVICE_NAME,
            vec![Store::Postgres(self.db), Store::Redis(self.redis)],
        ));
        let privacy_sync = tokio::spawn(
            self.api
                .privacy
                .clone()
                .sync_forever(self.config.privacy_sync_interval),
        );
        let push_tidy = tokio::spawn(
            self.api
                .pushes
                .clone()
                .tidy_forever(self.config.privacy_sync_interval),
        );
        let ended_watch = tokio::spawn(self.api.accounts.sessions.clone().watch_ended());
        let served = totilove_common::grpc::server(&self.config.internal_token)
            .add_service(health_service)
            .add_service(totilove_common::grpc::reflection(
                totilove_proto::auth::v1::auth_service_server::SERVICE_NAME,
            )?)
            .add_service(AuthServiceServer::new(self.api))
            .serve_with_incoming_shutdown(totilove_common::grpc::incoming(self.listener), shutdown)
            .await;
        probe.abort();
        privacy_sync.abort();
        push_tidy.abort();
        ended_watch.abort();
        Ok(served?)
    }
}
