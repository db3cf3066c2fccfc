//! The caller's sessions: list them, end one.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::{delete, get},
};
use serde::Serialize;
use totilove_proto::auth::v1 as pb;

use crate::{
    http::{ApiError, ApiJson, ApiResult, ClientInfo, CurrentUser, cookie},
    state::AppState,
};

/// Session ids are opaque strings from the auth service, well under this.
const MAX_SESSION_ID_BYTES: usize = 128;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", get(list))
        .route("/api/sessions/{id}", delete(revoke))
}

#[derive(Serialize)]
struct SessionJson {
    id: String,
    created_at: Option<String>,
    last_activity: Option<String>,
    ip: String,
    user_agent: String,
    current: bool,
}

impl From<pb::Session> for SessionJson {
    fn from(s: pb::Session) -> Self {
        use totilove_common::time::timestamp_rfc3339;
        Self {
            created_at: timestamp_rfc3339(s.created_at.as_ref()),
            last_activity: timestamp_rfc3339(s.last_activity.as_ref()),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
            current: s.current,
        }
    }
}

#[derive(Serialize)]
struct SessionsReply {
    sessions: Vec<SessionJson>,
}

#[tracing::instrument(name = "sessions.list", skip_all, fields(user_id = me.user_id))]
async fn list(State(state): State<AppState>, me: CurrentUser) -> ApiResult<ApiJson<SessionsReply>> {
    let reply = state
        .auth()
        .list_sessions(pb::ListSessionsRequest {
            user_id: me.user_id,
            current_session_id: me.session_id,
        })
        .await?
        .into_inner();
    Ok(ApiJson(SessionsReply {
        sessions: reply.sessions.into_iter().map(Into::into).collect(),
    }))
}

/// 204; 404 when the session is not the caller's or already ended. Ending the
/// current session this way also clears its cookie.
#[tracing::instrument(name = "sessions.revoke", skip_all, fields(user_id = me.user_id))]
async fn revoke(
    State(state): State<AppState>,
    me: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    // Not a well-formed id: it cannot be one of the caller's sessions.
    if id.is_empty() || id.len() > MAX_SESSION_ID_BYTES || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::not_found("session"));
    }
    let current = id == me.session_id;
    state
        .auth()
        .revoke_session(pb::RevokeSessionRequest {
            user_id: me.user_id,
            session_id: id,
            client: Some(client.into()),
        })
        .await?;
    let mut headers = HeaderMap::new();
    if current {
        headers.insert(
            header::SET_COOKIE,
            cookie::cleared_session_cookie(state.config().cookie_secure),
        );
    }
    Ok((StatusCode::NO_CONTENT, headers))
}
