//! What travels to one socket, and the bounded queue it waits in.
//!
//! Every socket has one queue of [`Outgoing`] items, drained by its writer.
//! The queue is bounded: a socket that cannot keep up is closed (the client
//! recovers with `sync`), so a slow reader never grows the gateway's memory.
//! Under pressure the least important events go first: `typing` is dropped
//! once the queue is half full, `presence` once it is three quarters full;
//! messages and statuses are never dropped (the socket is closed instead).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{
    mpsc::{self, error::TrySendError},
    watch,
};
use totilove_common::events::MessageJson;

/// One item for a socket's writer.
///
/// Kept small (boxing the rare big payloads): a socket's queue allocates
/// room for 32 items when it is created, so every idle socket pays 32 times
/// this size.
#[derive(Debug)]
pub enum Outgoing {
    /// A live message to or from the socket's person, in their chain's order.
    /// The writer decides per socket whether it is a `message` or the `sent`
    /// of this socket's own send (see `ws::writer`).
    Live(Arc<LiveMessage>),
    /// An event serialized once and shared by every socket it goes to
    /// (`status`, `presence`, `typing`).
    Shared(Utf8Bytes),
    /// A frame for this socket only (`ready`, `pong`, `error`, ...).
    Own(Utf8Bytes),
    /// This socket started a `send` with this `client_msg_id`: its live echo
    /// must become the socket's `sent`, not a `message`.
    SendStarted(String),
    /// The `send` with this `client_msg_id` finished: `ack` is the stored
    /// message when it succeeded (`created` false for an idempotent retry,
    /// which publishes no live event).
    SendFinished {
        client_msg_id: String,
        ack: Option<Box<(MessageJson, bool)>>,
    },
    /// The answer to a `sync`, as one item so a long replay takes one slot.
    /// It holds the socket's one replay permit until written: a client
    /// that asks again and again without reading waits for its previous
    /// replay instead of piling them up in memory.
    Replay {
        messages: Vec<MessageJson>,
        up_to_id: i64,
        more: bool,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    },
}

/// A message as the fan-out hands it to sockets: serialized once as a
/// `message` event, shared by all of them.
#[derive(Debug)]
pub struct LiveMessage {
    pub message: MessageJson,
    /// `{"type":"message","message":{...}}`: the contract's fields only
    /// (the event's internal trace context never reaches a browser).
    pub frame: Utf8Bytes,
    /// "Deliver a message": ends when the last socket has written it.
    pub span: tracing::Span,
    /// `created_at` as a clock reading, for
    /// `totilove_ws_commit_to_socket_seconds`; parsed only when metrics are on.
    pub stamped: Option<chrono::DateTime<chrono::Utc>>,
}

impl LiveMessage {
    pub fn new(message: MessageJson, span: tracing::Span) -> Self {
        let frame = crate::protocol::ServerEvent::Message { message: &message }.to_frame();
        let stamped = totilove_common::metrics::enabled()
            .then(|| chrono::DateTime::parse_from_rfc3339(&message.created_at).ok())
            .flatten()
            .map(|t| t.to_utc());
        Self {
            message,
            frame,
            span,
            stamped,
        }
    }
}

/// How much an event matters when the queue fills up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Only while the queue is under half full.
    Typing,
    /// Only while the queue is under three quarters full.
    Presence,
    /// Always; a full queue closes the socket.
    Essential,
}

/// Why a socket is being closed: the WebSocket close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

impl CloseReason {
    /// The writer could not keep up; the client reconnects and `sync`s.
    pub const TOO_SLOW: Self = Self {
        code: 1013,
        reason: "too slow: reconnect and sync",
    };
    /// The session was logged out or revoked.
    pub const SESSION_ENDED: Self = Self {
        code: 4001,
        reason: "session ended",
    };
    /// Too many refused frames within a minute.
    pub const TOO_MANY_REFUSALS: Self = Self {
        code: 1008,
        reason: "too many refused frames",
    };
    /// No frame (not even a pong) for the idle timeout.
    pub const IDLE: Self = Self {
        code: 1001,
        reason: "idle timeout",
    };
    /// The gateway instance is shutting down.
    pub const SHUTDOWN: Self = Self {
        code: 1001,
        reason: "server shutting down",
    };
    /// A frame over the protocol's hard cap (64 KiB).
    pub const TOO_BIG: Self = Self {
        code: 1009,
        reason: "frame over 64 KiB",
    };
}

/// What happened to an offered item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// Dropped for its low priority (or because the socket is gone).
    Dropped,
    /// The queue was full: the socket is being closed.
    Overflow,
}

/// The hub's side of a socket: where its events go and how to close it.
#[derive(Debug)]
pub struct SocketHandle {
    pub id: u64,
    pub user_id: i64,
    pub session_id: Arc<str>,
    /// The socket's name in the presence service (unique in this process).
    pub connection_id: String,
    pub outbox: mpsc::Sender<Outgoing>,
    pub close: watch::Sender<Option<CloseReason>>,
}

impl SocketHandle {
    /// Queues `item` unless its priority says the queue is too full for it.
    pub fn offer(&self, item: Outgoing, priority: Priority) -> Offer {
        let capacity = self.outbox.max_capacity();
        let used = capacity - self.outbox.capacity();
        let too_full = match priority {
            Priority::Typing => used * 2 >= capacity,
            Priority::Presence => used * 4 >= capacity * 3,
            Priority::Essential => false,
        };
        if too_full {
            return Offer::Dropped;
        }
        match self.outbox.try_send(item) {
            Ok(()) => Offer::Queued,
            Err(TrySendError::Full(_)) if priority == Priority::Essential => {
                tracing::info!(
                    user_id = self.user_id,
                    socket = self.id,
                    "socket queue full; closing it"
                );
                self.close_with(CloseReason::TOO_SLOW);
                Offer::Overflow
            }
            Err(_) => Offer::Dropped,
        }
    }

    /// Asks the socket's task to close with `reason` (the first reason wins).
    pub fn close_with(&self, reason: CloseReason) {
        self.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(capacity: usize) -> (SocketHandle, mpsc::Receiver<Outgoing>) {
        let (outbox, rx) = mpsc::channel(capacity);
        let (close, _) = watch::channel(None);
        let handle = SocketHandle {
            id: 1,
            user_id: 1,
            session_id: "s".into(),
            connection_id: "c".into(),
            outbox,
            close,
        };
        (handle, rx)
    }

    fn shared() -> Outgoing {
        Outgoing::Shared(Utf8Bytes::from_static("{}"))
    }

    #[test]
    fn typing_goes_first_then_presence_and_a_full_queue_closes_the_socket() {
        let (socket, _rx) = handle(8);
        for _ in 0..4 {
            assert_eq!(socket.offer(shared(), Priority::Typing), Offer::Queued);
        }
        assert_eq!(socket.offer(shared(), Priority::Typing), Offer::Dropped);
        for _ in 0..2 {
            assert_eq!(socket.offer(shared(), Priority::Presence), Offer::Queued);
        }
        assert_eq!(socket.offer(shared(), Priority::Presence), Offer::Dropped);
        for _ in 0..2 {
            assert_eq!(socket.offer(shared(), Priority::Essential), Offer::Queued);
        }
        assert!(socket.close.borrow().is_none());
        assert_eq!(socket.offer(shared(), Priority::Essential), Offer::Overflow);
        assert_eq!(*socket.close.borrow(), Some(CloseReason::TOO_SLOW));
    }

    #[test]
    fn a_queued_item_stays_small() {
        // 32 slots are allocated with every socket's queue: at 152 bytes
        // (before boxing) that was 4.8 KiB of each idle socket's memory.
        assert!(std::mem::size_of::<Outgoing>() <= 64);
    }

    #[test]
    fn a_live_frame_never_carries_the_events_trace_context() {
        let raw = r#"{"type":"message","prev_id":0,"message":{"id":5,"sender_id":1,"receiver_id":2,"content":"hi","created_at":"2026-12-07T00:00:00.000Z","status":"sent","client_msg_id":"c"},"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#;
        let Some(totilove_common::events::Event::Message {
            message,
            traceparent,
            ..
        }) = totilove_common::events::Event::from_json(raw)
        else {
            panic!("a message event");
        };
        assert!(traceparent.is_some());
        let live = LiveMessage::new(message, tracing::Span::none());
        assert!(
            !live.frame.as_str().contains("traceparent"),
            "{}",
            live.frame
        );
        assert!(
            live.frame
                .as_str()
                .starts_with(r#"{"type":"message","message":{"id":5,"#)
        );
    }

    #[test]
    fn the_first_close_reason_wins() {
        let (socket, _rx) = handle(2);
        socket.close_with(CloseReason::SESSION_ENDED);
        socket.close_with(CloseReason::TOO_SLOW);
        assert_eq!(*socket.close.borrow(), Some(CloseReason::SESSION_ENDED));
    }
}
