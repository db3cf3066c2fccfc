//! `/api/push/*`: Web Push for when no tab is open. The browser subscribes
//! with our VAPID key (`GET /api/push/key`) and hands the subscription over
//! (`PUT /api/push/subscription`); it belongs to the session that sent it
//! and ends with it. The message service pushes to it when a message comes
//! for someone with no live socket; the auth service keeps and checks it.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, put},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use totilove_proto::auth::v1 as pb;

use crate::{
    http::{ApiError, ApiJson, ApiResult, CurrentUser},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/push/key", get(key))
        .route("/api/push/subscription", put(subscribe).delete(unsubscribe))
}

#[derive(Serialize)]
struct KeyReply {
    /// `null`: this deployment sends no pushes.
    public_key: Option<String>,
}

#[tracing::instrument(name = "push.key", skip_all, fields(user_id = _me.user_id))]
async fn key(State(state): State<AppState>, _me: CurrentUser) -> ApiResult<ApiJson<KeyReply>> {
    let public_key = state.messaging().push_key().await?;
    Ok(ApiJson(KeyReply { public_key }))
}

/// `PushSubscription.toJSON()` as a browser gives it, plus `previews`.
/// Fields a browser adds (`expirationTime`) are ignored.
#[derive(Deserialize)]
struct SubscriptionBody {
    endpoint: String,
    keys: Keys,
    /// Whether pushes may show the sender and the text; absent: false.
    #[serde(default)]
    previews: bool,
}

#[derive(Deserialize)]
struct Keys {
    p256dh: String,
    auth: String,
}

fn base64url(value: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| ApiError::invalid(format!("{field} must be base64url")))
}

/// 204 once stored for the caller's session; 400 naming the field.
#[tracing::instrument(name = "push.subscribe", skip_all, fields(user_id = me.user_id))]
async fn subscribe(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<SubscriptionBody>,
) -> ApiResult<StatusCode> {
    let subscription = pb::PushSubscription {
        endpoint: body.endpoint,
        p256dh: base64url(&body.keys.p256dh, "keys.p256dh")?,
        auth: base64url(&body.keys.auth, "keys.auth")?,
        previews: body.previews,
    };
    state
        .auth()
        .set_push_subscription(pb::SetPushSubscriptionRequest {
            user_id: me.user_id,
            session_id: me.session_id,
            subscription: Some(subscription),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 204 whether or not the session had one.
#[tracing::instrument(name = "push.unsubscribe", skip_all, fields(user_id = me.user_id))]
async fn unsubscribe(State(state): State<AppState>, me: CurrentUser) -> ApiResult<StatusCode> {
    state
        .auth()
        .delete_push_subscription(pb::DeletePushSubscriptionRequest {
            user_id: me.user_id,
            which: Some(pb::delete_push_subscription_request::Which::SessionId(
                me.session_id,
            )),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
