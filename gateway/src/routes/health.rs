//! `/healthz` (the process runs) and `/readyz` (the gateway reaches every
//! service, and each of them its stores).

use std::time::Duration;

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use totilove_common::health::HealthClient;

use crate::{http::ApiJson, state::AppState};

/// Each probe's budget: a readiness check must answer fast, and all run at once.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A check seen down stays down until it has passed for this long. The
/// services probe their stores once a second: right after Redis restarts,
/// their last reports still say "up" while their connections are only about
/// to fail and reconnect, so answers without this wait went 200, then 503,
/// then 200 again.
const SETTLE: Duration = Duration::from_secs(3);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[tracing::instrument(name = "health.live", skip_all)]
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

/// 200 when everything is up (and has stayed up for `SETTLE` since it was
/// last seen down), else 503; the body says what is down. A store
/// is up when every service using it says so (and, for Redis, the gateway's
/// own pool answers too).
#[tracing::instrument(name = "health.ready", skip_all)]
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
    let now = tokio::time::Instant::now();
    let [auth, message, presence, postgres, redis] = {
        let mut last_down = h.last_down.lock().unwrap_or_else(|p| p.into_inner());
        let up_now = [
            auth,
            message,
            presence,
            auth_pg && message_pg,
            auth_redis && presence_redis && own_redis,
        ];
        std::array::from_fn(|i| {
            if !up_now[i] {
                last_down[i] = Some(now);
            }
            let settled = last_down[i].is_none_or(|at| now.duration_since(at) >= SETTLE);
            Check::from(up_now[i] && settled)
        })
    };
    let checks = Checks {
        auth,
        message,
        presence,
        postgres,
        redis,
    };
    let ready = [auth, message, presence, postgres, redis]
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
    totilove_common::redis::serves(state.redis()).await
}
