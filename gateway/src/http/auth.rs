//! Who is calling: a bearer token or the session cookie, checked by the auth
//! service's `ValidateToken` on every request (so a logout or revocation takes
//! effect at once, on every gateway instance).

use std::time::Duration;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};
use totilove_common::Code;
use totilove_proto::auth::v1::ValidateTokenRequest;

use super::{
    cookie::{SESSION_COOKIE, cookie_value},
    error::ApiError,
};
use crate::state::AppState;

/// Tokens are a few hundred bytes; anything far longer is not one of ours.
const MAX_TOKEN_BYTES: usize = 4096;
/// Validation is on every request's path; a stuck auth service must give 503, not a hang.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(3);

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    pub user_id: i64,
    pub session_id: String,
}

/// Where the token came from. A cookie is sent by the browser on its own, so
/// requests authenticated by it must also come from an allowed origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSource {
    Bearer,
    Cookie,
}

/// Authenticates a request by its headers: `Authorization: Bearer <token>`
/// first, else the `totilove_session` cookie. 401 `unauthorized` for a
/// missing, malformed, expired or revoked token; 503 when auth is unreachable.
///
/// It does not check `Origin`: callers authenticated by [`AuthSource::Cookie`]
/// must call [`check_origin`] (the WebSocket upgrade with `missing_ok = false`).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(CurrentUser, AuthSource), ApiError> {
    let (token, source) = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(ApiError::unauthorized)?;
            (token, AuthSource::Bearer)
        }
        None => (
            cookie_value(headers, SESSION_COOKIE).ok_or_else(ApiError::unauthorized)?,
            AuthSource::Cookie,
        ),
    };
    if token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::unauthorized());
    }
    let mut auth = state.auth();
    let call = auth.validate_token(ValidateTokenRequest {
        token: token.to_owned(),
    });
    let reply = match tokio::time::timeout(VALIDATE_TIMEOUT, call).await {
        Err(_) => {
            return Err(ApiError::new(
                Code::Unavailable,
                "authentication is unavailable, try again shortly",
            ));
        }
        Ok(Err(status)) => {
            let e = ApiError::from(status);
            // Only an unreachable or broken auth service is not the caller's fault;
            // every other refusal (bad signature, expired, revoked) is a 401.
            return Err(match e.code() {
                Code::Unavailable | Code::Internal | Code::NotImplemented => e,
                _ => ApiError::unauthorized(),
            });
        }
        Ok(Ok(reply)) => reply.into_inner(),
    };
    if reply.user_id <= 0 || reply.session_id.is_empty() {
        return Err(ApiError::unauthorized());
    }
    // Into the request's span (`http::middleware` declares the field): the
    // extractor runs inside it, before the handler's own span exists.
    tracing::Span::current().record("user_id", reply.user_id);
    Ok((
        CurrentUser {
            user_id: reply.user_id,
            session_id: reply.session_id,
        },
        source,
    ))
}

/// Refuses (403 `forbidden`) a request whose `Origin` is neither the gateway's
/// own (the `Host` it was asked for) nor one of `ALLOWED_ORIGINS`. A request
/// without `Origin` passes only when `missing_ok` (non-browser clients send none;
/// browsers always send it on WebSocket upgrades and on POST/PUT/DELETE).
pub fn check_origin(
    state: &AppState,
    headers: &HeaderMap,
    missing_ok: bool,
) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return if missing_ok {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::Forbidden,
                "the Origin header is required",
            ))
        };
    };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| {
            ["http://", "https://"].iter().any(|scheme| {
                origin
                    .strip_prefix(scheme)
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
            })
        });
    let listed = state
        .config()
        .allowed_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin));
    if own || listed {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Forbidden,
            "this origin may not use the session cookie",
        ))
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (user, source) = authenticate(state, &parts.headers).await?;
        // The cookie rides along on any request the browser makes, even one a
        // foreign page triggers: state changes by cookie need a trusted Origin.
        if source == AuthSource::Cookie && !parts.method.is_safe() {
            check_origin(state, &parts.headers, true)?;
        }
        Ok(user)
    }
}
