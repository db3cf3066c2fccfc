//! `GET /ws`: the real-time socket of `API.md`. Authenticated before the
//! upgrade (no socket without a valid token; with the cookie, only from an
//! allowed Origin), at most a few sockets per person, then one task per
//! socket: a reader answering the client's frames and a writer draining the
//! socket's bounded queue of events from the fan-out hub.

mod ending;
pub mod limits;
mod reader;
mod socket;
mod writer;

use axum::{
    Router,
    extract::{
        State,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::get,
};
use totilove_common::{Code, Error};

use crate::{
    fanout::Hub,
    http::{ApiError, AuthSource, authenticate, check_origin},
    state::AppState,
};

/// The hard protocol cap on a message or frame: anything larger ends the
/// socket (1009). Between the contract's 16 KiB and this, a frame is read
/// and refused with `frame_too_large`, and the socket stays usable.
pub const HARD_FRAME_CAP: usize = 64 * 1024;
/// The read buffer of a socket: small, since most frames are a few hundred
/// bytes and an idle socket keeps it (tungstenite's default is 128 KiB; a
/// larger frame is read in several calls).
const READ_BUFFER: usize = 1024;
/// Writes accumulate up to this before going out (the writer also flushes
/// whenever its queue is empty).
const WRITE_BUFFER: usize = 16 * 1024;
/// A peer that reads nothing gets at most this much buffered.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[tracing::instrument(name = "ws.upgrade", skip_all)]
async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let hub = state.hub().clone();
    match accept(state, hub, &headers, ws).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn accept(
    state: AppState,
    hub: Hub,
    headers: &HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Authentication comes first: no upgrade, and no hint about it, without it.
    let (user, source) = authenticate(&state, headers).await?;
    if source == AuthSource::Cookie {
        // Browsers send the cookie on a cross-site upgrade too; only our
        // own pages (or configured origins) may use it.
        check_origin(&state, headers, false)?;
    }
    let ws = ws.map_err(|_| ApiError::invalid("this endpoint expects a WebSocket upgrade"))?;
    let too_many = || {
        let max = hub.settings().max_sockets_per_user;
        ApiError(Error {
            retry_after: Some(5),
            ..Error::new(
                Code::RateLimited,
                format!("at most {max} sockets at once per person"),
            )
        })
    };
    let Some(mut reservation) = hub.reserve(user.user_id) else {
        return Err(too_many());
    };
    if !reservation.claim().await {
        return Err(too_many());
    }
    let response = ws
        .max_message_size(HARD_FRAME_CAP)
        .max_frame_size(HARD_FRAME_CAP)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let attached = hub.attach(reservation, &user.session_id);
            socket::serve(socket, state, hub, user, attached).await;
        });
    Ok(response)
}
