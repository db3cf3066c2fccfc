//! The message service: stores messages durably (ids in commit order, see
//! `writer`), keeps conversations and read state, answers history (Redis
//! first, see `cache`) and sync, and fans committed changes out over Redis
//! pub/sub (`fanout`). README.md tells the design and why.

mod admission;
mod api;
mod audit;
mod cache;
mod domain;
mod fanout;
mod people;
mod push;
mod reports;
mod service;
mod store;
mod writer;

use std::{future::Future, time::Duration};

use fred::clients::Pool as RedisPool;
use sqlx::PgPool;
use tokio::net::TcpListener;
use totilove_common::{
    config::{self, Secret, Source},
    health::{self, Store as HealthStore},
    metrics::Exporter,
};
use totilove_proto::message::v1::message_service_server::MessageServiceServer;

pub use crate::admission::SendLimit;
use crate::{
    admission::Admission,
    api::MessageApi,
    cache::Cache,
    fanout::Fanout,
    people::People,
    push::{PushSettings, Pusher},
    reports::Reports,
    service::Messages,
    store::Store,
    writer::{Writer, WriterSettings},
};

/// The name this service reports in gRPC health.
pub const SERVICE_NAME: &str = "totilove.message.v1.MessageService";

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`MESSAGE_LISTEN_ADDR`, loopback by default).
    pub listen_addr: String,
    /// Where `/metrics` is served (`METRICS_ADDR`); unset: not served.
    pub metrics_addr: Option<String>,
    /// Carries the password: never shown by `Debug`.
    pub database_url: Secret,
    pub redis: totilove_common::redis::Target,
    /// Where the auth service is (`AUTH_URL`), for user lookups and blocks.
    pub auth_url: String,
    pub internal_token: Secret,
    /// PostgreSQL connections (`MESSAGE_DB_POOL_SIZE`).
    pub db_pool_size: u32,
    /// Every PostgreSQL call and transaction finishes (or answers 503)
    /// within this (`MESSAGE_DB_TIMEOUT_MS`).
    pub db_timeout: Duration,
    /// Sends waiting for the writer before new ones are refused with 503
    /// (`MESSAGE_SEND_QUEUE`).
    pub send_queue: usize,
    /// The most messages committed in one transaction (`MESSAGE_MAX_BATCH`).
    pub max_batch: usize,
    /// Committed batches waiting for their Redis writes and events before
    /// new ones are dropped (`MESSAGE_FANOUT_QUEUE`).
    pub fanout_queue: usize,
    /// How long an untouched cached conversation lives (`MESSAGE_CACHE_TTL_SECS`).
    pub cache_ttl: Duration,
    /// Redis connections (`MESSAGE_REDIS_POOL_SIZE`).
    pub redis_pool_size: usize,
    /// Each person's sending rate (`SEND_RATE_PER_SEC`, 20) and burst
    /// (`SEND_BURST`, 120), over REST and WebSocket together.
    pub send_limit: SendLimit,
    /// Reports one person may file per clock hour (`REPORTS_PER_HOUR`),
    /// across every instance.
    pub reports_per_hour: u32,
    /// Web Push to people who are offline (off without `VAPID_PRIVATE_KEY`).
    pub push: PushSettings,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        Ok(Self {
            listen_addr: src.var_or("MESSAGE_LISTEN_ADDR", "127.0.0.1:50052"),
            metrics_addr: totilove_common::metrics::addr_from(src),
            database_url: src.secret("DATABASE_URL")?,
            redis: totilove_common::redis::Target::from_source(src)?,
            auth_url: src.var_or("AUTH_URL", "http://127.0.0.1:50051"),
            internal_token: src.secret("INTERNAL_TOKEN")?,
            db_pool_size: src.parse_or("MESSAGE_DB_POOL_SIZE", 16)?,
            db_timeout: src.millis_or("MESSAGE_DB_TIMEOUT_MS", 5_000)?,
            send_queue: src.parse_or("MESSAGE_SEND_QUEUE", 10_000)?,
            max_batch: src.parse_or("MESSAGE_MAX_BATCH", 500)?,
            fanout_queue: src.parse_or("MESSAGE_FANOUT_QUEUE", 1_024)?,
            cache_ttl: src.seconds_or("MESSAGE_CACHE_TTL_SECS", 3_600)?,
            redis_pool_size: src.parse_or("MESSAGE_REDIS_POOL_SIZE", 4)?,
            send_limit: SendLimit {
                per_sec: src.parse_or("SEND_RATE_PER_SEC", 20.0)?,
                burst: src.parse_or("SEND_BURST", 120)?,
            },
            reports_per_hour: src.parse_or("REPORTS_PER_HOUR", 20)?,
            push: PushSettings {
                key: src.var("VAPID_PRIVATE_KEY").map(Secret::new),
                subject: src.var_or("VAPID_SUBJECT", "mailto:admin@localhost"),
                ttl: src.seconds_or("PUSH_TTL_SECS", 24 * 3600)?,
                queue: src.parse_or("PUSH_QUEUE", 1_024)?,
            },
        })
    }
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// Serves `/metrics` while the application lives.
    metrics: Option<Exporter>,
    db: PgPool,
    redis: RedisPool,
    config: Config,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut metrics = Exporter::serve_if(config.metrics_addr.as_deref()).await?;
        let db = totilove_common::postgres::connect_and_migrate(
            config.database_url.expose(),
            "message",
            config.db_pool_size.max(2),
            Some(config.db_timeout),
            &sqlx::migrate!("./migrations"),
        )
        .await?;
        let redis = totilove_common::redis::connect(&config.redis, config.redis_pool_size).await?;
        if let Some(metrics) = metrics.as_mut() {
            metrics.watch_postgres(db.clone());
            metrics.watch_redis(redis.clone());
        }
        let listener = totilove_common::grpc::bind(&config.listen_addr).await?;
        Ok(Self {
            listener,
            metrics,
            db,
            redis,
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
        let Self {
            listener,
            metrics: _metrics,
            db,
            redis,
            config,
        } = self;
        let (reporter, health_service) = health::health_reporter();
        let probe = tokio::spawn(health::probe_forever(
            reporter,
            SERVICE_NAME,
            vec![
                HealthStore::Postgres(db.clone()),
                HealthStore::Redis(redis.clone()),
            ],
        ));

        let people = People::new(&config.auth_url, &config.internal_token)?;
        let admission = Admission::new(redis.clone(), people.clone(), config.send_limit);
        let store = Store::new(db.clone(), config.db_timeout);
        let reports = Reports::new(store.clone(), redis.clone(), config.reports_per_hour);
        let cache = Cache::new(redis.clone(), config.cache_ttl);
        let cleaner = tokio::spawn(cache.clone().clean_dirty_forever());
        let (pusher, push_task) = Pusher::start(
            &config.push,
            redis.clone(),
            &config.auth_url,
            &config.internal_token,
        )?;
        let (fanout, fanout_task) =
            Fanout::spawn(cache.clone(), config.fanout_queue, pusher.clone());
        let (writer, writer_task) = Writer::spawn(
            db.clone(),
            fanout.clone(),
            WriterSettings {
                queue_capacity: config.send_queue,
                max_batch: config.max_batch,
                timeout: config.db_timeout,
            },
        );
        let messages = Messages {
            writer,
            store,
            cache,
            people,
            admission,
            fanout,
            reports,
            pusher,
        };

        let served = totilove_common::grpc::server(&config.internal_token)
            .add_service(health_service)
            .add_service(totilove_common::grpc::reflection(
                totilove_proto::message::v1::message_service_server::SERVICE_NAME,
            )?)
            .add_service(MessageServiceServer::new(MessageApi { messages }))
            .serve_with_incoming_shutdown(totilove_common::grpc::incoming(listener), shutdown)
            .await;

        // The server is gone with every handle on the queues: the writer
        // finishes what was queued, then the fan-out what was committed.
        let drain = async {
            let _ = writer_task.await;
            let _ = fanout_task.await;
        };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            tracing::warn!("stopped before every committed change was fanned out");
        }
        // Pushes still in flight are not worth holding the stop for.
        if let Some(task) = push_task {
            task.abort();
        }
        cleaner.abort();
        probe.abort();
        Ok(served?)
    }
}
