//! gRPC health (`grpc.health.v1`) driven by probes of the stores.
//!
//! Besides the service itself, each store is reported under its own name
//! (`postgres`, `redis`), so the gateway's `/readyz` can tell which is down.

use std::time::Duration;

use fred::clients::Pool;
use sqlx::PgPool;
use tonic_health::{ServingStatus, server::HealthReporter};

pub use tonic_health::{pb::health_client::HealthClient, server::health_reporter};

#[derive(Debug, Clone)]
pub enum Store {
    Postgres(PgPool),
    Redis(Pool),
}

impl Store {
    pub fn name(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Redis(_) => "redis",
        }
    }

    pub async fn is_up(&self) -> bool {
        let check = async {
            match self {
                Store::Postgres(pool) => sqlx::raw_sql("SELECT 1").execute(pool).await.is_ok(),
                Store::Redis(pool) => crate::redis::serves(pool).await,
            }
        };
        tokio::time::timeout(Duration::from_secs(2), check)
            .await
            .unwrap_or(false)
    }
}

/// Reports `service` and each store every second until the task is dropped.
/// `service` is serving only while every store it needs is up.
pub async fn probe_forever(reporter: HealthReporter, service: &'static str, stores: Vec<Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut all_up = true;
        for store in &stores {
            let up = store.is_up().await;
            all_up &= up;
            reporter.set_service_status(store.name(), status(up)).await;
        }
        reporter.set_service_status(service, status(all_up)).await;
        reporter.set_service_status("", status(all_up)).await;
    }
}

fn status(up: bool) -> ServingStatus {
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}
