//! One socket's life: `ready` once live delivery is in place, then a reader
//! and a writer joined with `select!` (as in tokio-rs/axum examples/chat,
//! but in one task: the two futures borrow the socket's halves, so the
//! close frame can be sent after both stopped), until either side ends, the
//! hub asks the socket to close, or the gateway stops.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::sync::watch;

use super::{ending::Ending, reader::Reader, writer::Writer};
use crate::{
    fanout::{Attached, Hub, Lifecycle, outbox::CloseReason},
    http::CurrentUser,
    protocol::ServerEvent,
    state::AppState,
};

/// `ready` waits at most this for live delivery to be in place (Redis or
/// the message service may be down: the socket still serves `send` and
/// `sync` meanwhile, and live events start once they are back).
const READY_WAIT: Duration = Duration::from_secs(3);
/// The close handshake and the last frames get this long.
const GOODBYE: Duration = Duration::from_secs(1);

pub(super) async fn serve(
    socket: WebSocket,
    state: AppState,
    hub: Hub,
    user: CurrentUser,
    attached: Attached,
) {
    let Attached {
        mut ready,
        link,
        mut outbox,
        mut close,
    } = attached;
    let _open = OpenSocket::count();
    let settings = hub.settings().clone();
    let mut lifecycle = hub.lifecycle();
    let (mut sink, mut stream) = socket.split();

    let _ = tokio::time::timeout(READY_WAIT, ready.wait_for(|live| *live)).await;
    let hello = ServerEvent::Ready {
        user_id: user.user_id,
        session_id: &user.session_id,
    }
    .to_frame();
    if sink.send(Message::Text(hello)).await.is_err() {
        Box::pin(link.close()).await;
        return;
    }

    let mut writer = Writer::new(user.user_id);
    let ending = {
        let mut reader = Reader::new(&state, &user, &link, &settings);
        tokio::select! {
            ending = reader.run(&mut stream) => ending,
            ending = writer.run(&mut sink, &mut outbox, settings.ping_interval) => ending,
            reason = closing(&mut close) => Ending::Close(reason),
            ending = stopping(&mut lifecycle) => ending,
        }
    };
    metrics::counter!("totilove_ws_closes_total", "reason" => ending.label()).increment(1);
    match ending {
        Ending::Crash => {
            // Dropping the socket and the link unregisters it silently.
            return;
        }
        Ending::Close(reason) => {
            let goodbye = async {
                if reason != CloseReason::TOO_SLOW {
                    // Whatever was already answered (such as the error that
                    // made the tenth refusal) goes out before the close.
                    writer.drain(&mut sink, &mut outbox).await;
                }
                let frame = CloseFrame {
                    code: reason.code,
                    reason: reason.reason.into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
            };
            let _ = tokio::time::timeout(GOODBYE, goodbye).await;
            tracing::debug!(
                user_id = user.user_id,
                code = reason.code,
                reason = reason.reason,
                "closed a socket"
            );
        }
        Ending::PeerGone => {
            let _ = tokio::time::timeout(GOODBYE, sink.close()).await;
        }
    }
    // Boxed, like the reader's calls: see `Reader::run`.
    Box::pin(link.close()).await;
}

/// Counts an open socket in `totilove_ws_sockets_open` for as long as it lives,
/// whichever way `serve` returns.
struct OpenSocket;

impl OpenSocket {
    fn count() -> Self {
        metrics::gauge!("totilove_ws_sockets_open").increment(1.0);
        Self
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        metrics::gauge!("totilove_ws_sockets_open").decrement(1.0);
    }
}

/// Resolves when the hub asks this socket to close.
async fn closing(close: &mut watch::Receiver<Option<CloseReason>>) -> CloseReason {
    match close.wait_for(Option::is_some).await {
        Ok(reason) => reason.unwrap_or(CloseReason::SHUTDOWN),
        // The hub dropped the socket's handle: it is going away.
        Err(_) => CloseReason::SHUTDOWN,
    }
}

/// Resolves when the gateway stops.
async fn stopping(lifecycle: &mut watch::Receiver<Lifecycle>) -> Ending {
    match lifecycle.wait_for(|l| *l != Lifecycle::Running).await {
        Ok(l) if *l == Lifecycle::Draining => Ending::Close(CloseReason::SHUTDOWN),
        _ => Ending::Crash,
    }
}
