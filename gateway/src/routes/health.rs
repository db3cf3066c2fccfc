//! `/healthz` (the process runs) and `/readyz` (the gateway reaches every
//! service, and each of them its stores).

use std::time::Duration;

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use fred::interfaces::ClientLike;
use serde::Serialize;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use totilove_kit::health::HealthClient;

use crate::{http::ApiJson, state::AppState};

/// Each probe's budget: a readiness check must answer fast, and all run at once.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> StatusCode {
    StatusCode::OK
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    checks: Checks,
}

#[derive(Serialize)]
struct Checks {
    auth: Check,
    message: Check,
    presence: Check,
    postgres: Check,
    redis: Check,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Check {
    Ok,
    Down,
}

impl From<bool> for Check {
    fn from(up: bool) -> Self {
        if up { Check::Ok } else { Check::Down }
    }
}

/// 200 when everything is up, else 503; the body says what is down. A store
/// is up when every service using it says so (and, for Redis, the gateway's
/// own pool answers too).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let h = state.health();
    let (auth, auth_pg, auth_redis, message, message_pg, presence, presence_redis, own_redis) = tokio::join!(
        serving(&h.auth, ""),
        serving(&h.auth, "postgres"),
        serving(&h.auth, "redis"),
        serving(&h.message, ""),
        serving(&h.message, "postgres"),
        serving(&h.presence, ""),
        serving(&h.presence, "redis"),
        redis_answers(&state),
    );
    let checks = Checks {
        auth: auth.into(),
        message: message.into(),
        presence: presence.into(),
        postgres: (auth_pg && message_pg).into(),
        redis: (auth_redis && presence_redis && own_redis).into(),
    };
    let ready = [
        checks.auth,
        checks.message,
        checks.presence,
        checks.postgres,
        checks.redis,
    ]
    .iter()
    .all(|c| *c == Check::Ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, ApiJson(Readiness { ready, checks }))
}

/// Whether `service` (`""` = the service as a whole) reports SERVING.
async fn serving(client: &HealthClient<Channel>, service: &str) -> bool {
    let mut client = client.clone();
    let call = client.check(HealthCheckRequest {
        service: service.to_owned(),
    });
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, call).await,
        Ok(Ok(reply)) if reply.get_ref().status == ServingStatus::Serving as i32
    )
}

async fn redis_answers(state: &AppState) -> bool {
    let ping = state.redis().ping::<String>(None);
    matches!(tokio::time::timeout(CHECK_TIMEOUT, ping).await, Ok(Ok(_)))
}
