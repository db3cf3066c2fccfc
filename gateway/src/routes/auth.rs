//! Register, log in (token + session cookie), log out.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::post,
};
use serde::{Deserialize, Serialize};
use totilove_proto::auth::v1 as pb;

use crate::{
    http::{ApiJson, ApiResult, ClientInfo, CurrentUser, cookie},
    state::AppState,
    views::{UserJson, required},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
}

#[derive(Deserialize)]
struct RegisterBody {
    username: String,
    email: String,
    password: String,
}

#[derive(Serialize)]
struct UserReply {
    user: UserJson,
}

/// 201 `{user}`; the auth service validates the fields and answers 409 when taken.
#[tracing::instrument(name = "auth.register", skip_all)]
async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<impl IntoResponse> {
    let reply = state
        .auth()
        .register(pb::RegisterRequest {
            username: body.username,
            email: body.email,
            password: body.password,
            client: Some(client.into()),
        })
        .await?
        .into_inner();
    let user = required(reply.user, "user")?.into();
    Ok((StatusCode::CREATED, ApiJson(UserReply { user })))
}

#[derive(Deserialize)]
struct LoginBody {
    login: String,
    password: String,
}

#[derive(Serialize)]
struct LoginReply {
    token: String,
    expires_at: String,
    user: UserJson,
}

/// 200 `{token, expires_at, user}` and the session cookie, living as long as the token.
#[tracing::instrument(name = "auth.login", skip_all)]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let reply = state
        .auth()
        .login(pb::LoginRequest {
            login: body.login,
            password: body.password,
            client: Some(client.into()),
        })
        .await?
        .into_inner();
    let expires_at = totilove_common::time::from_timestamp(&required(reply.expires_at, "expiry")?);
    let max_age = (expires_at - chrono::Utc::now()).num_seconds();
    let mut headers = HeaderMap::new();
    if let Some(cookie) =
        cookie::session_cookie(&reply.token, max_age, state.config().cookie_secure)
    {
        headers.insert(header::SET_COOKIE, cookie);
    }
    let body = LoginReply {
        token: reply.token,
        expires_at: totilove_common::time::rfc3339(expires_at),
        user: required(reply.user, "user")?.into(),
    };
    Ok((headers, ApiJson(body)))
}

/// 204: this session ends everywhere at once; the cookie is cleared.
#[tracing::instrument(name = "auth.logout", skip_all, fields(user_id = me.user_id))]
async fn logout(
    State(state): State<AppState>,
    me: CurrentUser,
    client: ClientInfo,
) -> ApiResult<impl IntoResponse> {
    state
        .auth()
        .logout(pb::LogoutRequest {
            user_id: me.user_id,
            session_id: me.session_id,
            client: Some(client.into()),
        })
        .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            cookie::cleared_session_cookie(state.config().cookie_secure),
        )],
    ))
}
