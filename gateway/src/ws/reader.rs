//! The reading half of a socket: each client frame is checked, acted on
//! (one at a time, so a socket's answers keep its frames' order) and
//! answered through the socket's queue. Refused frames are counted: ten
//! within a minute close the socket (1008).

use std::{collections::VecDeque, sync::Arc, time::Duration};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures::{StreamExt, stream::SplitStream};
use tokio::{sync::Semaphore, time::Instant};
use totilove_common::{
    Code, Error,
    trace_context::{Conversation, TARGET},
};
use totilove_proto::presence::v1::SetTypingRequest;
use tracing::Instrument;

use super::{ending::Ending, limits::FrameLimits};
use crate::{
    config::RealtimeSettings,
    fanout::{
        SocketLink,
        outbox::{CloseReason, Outgoing},
    },
    http::CurrentUser,
    messaging::Draft,
    protocol::{ClientFrame, ReadFrame, Refusal, SendFrame, ServerEvent, SyncFrame, TypingFrame},
    state::AppState,
};

/// Refused frames tolerated within [`REFUSAL_WINDOW`]; the next closes the socket.
const MAX_REFUSALS: usize = 10;
const REFUSAL_WINDOW: Duration = Duration::from_secs(60);
/// A frame's backend call may take this long; then the client gets `unavailable`.
const RPC_TIMEOUT: Duration = Duration::from_secs(8);
/// Presence calls are niceties: short.
const PRESENCE_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages replayed per `sync` (then `sync_done` with `more`).
const SYNC_LIMIT: u32 = 1000;

pub(super) struct Reader<'a> {
    state: &'a AppState,
    user: &'a CurrentUser,
    link: &'a SocketLink,
    settings: &'a RealtimeSettings,
    /// When the recent refusals happened, oldest first.
    refusals: VecDeque<Instant>,
    /// One `sync` replay at a time per socket (see `Outgoing::Replay`).
    replay_permit: Arc<Semaphore>,
    limits: FrameLimits,
}

impl<'a> Reader<'a> {
    pub(super) fn new(
        state: &'a AppState,
        user: &'a CurrentUser,
        link: &'a SocketLink,
        settings: &'a RealtimeSettings,
    ) -> Self {
        Self {
            state,
            user,
            link,
            settings,
            refusals: VecDeque::new(),
            replay_permit: Arc::new(Semaphore::new(1)),
            limits: FrameLimits::new(settings.sync_limit, settings.read_limit),
        }
    }

    pub(super) async fn run(&mut self, stream: &mut SplitStream<WebSocket>) -> Ending {
        // Calls to the services are boxed: their futures are kilobytes, and
        // inline they would make every idle socket's task that large too
        // (a task is as big as the largest state it can be in).
        Box::pin(self.link.open_presence()).await;
        loop {
            // Any frame, pongs to our pings included, proves the peer alive.
            let next = tokio::time::timeout(self.settings.idle_timeout, stream.next()).await;
            let message = match next {
                Err(_) => return Ending::Close(CloseReason::IDLE),
                Ok(None) => return Ending::PeerGone,
                Ok(Some(Err(e))) => return read_failure(&e),
                Ok(Some(Ok(message))) => message,
            };
            let refusal = match message {
                Message::Text(text) => Box::pin(self.on_text(&text)).await,
                Message::Binary(_) => Some(Refusal {
                    code: "invalid_request",
                    message: "frames must be text (JSON)".into(),
                    client_msg_id: None,
                }),
                Message::Ping(_) | Message::Pong(_) => None,
                Message::Close(_) => return Ending::PeerGone,
            };
            if let Some(refusal) = refusal
                && let Some(ending) = self.refuse(refusal).await
            {
                return ending;
            }
        }
    }

    /// Acts on one text frame; the refusal when it was not acceptable.
    async fn on_text(&mut self, text: &Utf8Bytes) -> Option<Refusal> {
        let frame = match ClientFrame::parse(text.as_str()) {
            Ok(frame) => frame,
            Err(refusal) => return Some(refusal),
        };
        match frame {
            ClientFrame::Send(frame) => {
                // The root of the message's trace: frames have no context.
                let span = tracing::info_span!(
                    target: TARGET,
                    "WS send",
                    user_id = self.user.user_id,
                    conversation = %Conversation::of(self.user.user_id, frame.to),
                );
                self.send(frame).instrument(span).await
            }
            // One span per frame kind (`send`'s is the message's trace root
            // above); these are ordinary spans, for the logs.
            ClientFrame::Typing(frame) => {
                let span = tracing::info_span!("ws.typing", user_id = self.user.user_id);
                self.typing(frame).instrument(span).await
            }
            ClientFrame::Read(frame) => match self.limits.read() {
                Some(refusal) => return Some(refusal),
                None => {
                    let span = tracing::info_span!("ws.read", user_id = self.user.user_id);
                    self.read(frame).instrument(span).await
                }
            },
            ClientFrame::Sync(frame) => match self.limits.sync() {
                Some(refusal) => return Some(refusal),
                None => {
                    let span = tracing::info_span!("ws.sync", user_id = self.user.user_id);
                    self.sync(frame).instrument(span).await
                }
            },
            ClientFrame::Ping => self.answer(ServerEvent::Pong.to_frame()).await,
        }
        None
    }

    /// Answers a refusal, or closes the socket at the tenth within a minute.
    async fn refuse(&mut self, refusal: Refusal) -> Option<Ending> {
        let now = Instant::now();
        while self
            .refusals
            .front()
            .is_some_and(|t| now.duration_since(*t) >= REFUSAL_WINDOW)
        {
            self.refusals.pop_front();
        }
        self.refusals.push_back(now);
        self.answer(refusal.to_frame()).await;
        (self.refusals.len() >= MAX_REFUSALS)
            .then_some(Ending::Close(CloseReason::TOO_MANY_REFUSALS))
    }

    /// Queues a frame for this socket (waiting for room: the client is the
    /// one not reading, and the hub closes the socket if it falls behind).
    async fn answer(&self, frame: Utf8Bytes) {
        self.push(Outgoing::Own(frame)).await;
    }

    async fn push(&self, item: Outgoing) {
        // Fails only when the writer is gone, and then so is the socket.
        let _ = self.link.outbox().send(item).await;
    }

    async fn answer_error(&self, error: &Error, client_msg_id: Option<&str>) {
        let frame = ServerEvent::Error {
            code: error.code.as_str(),
            message: &error.message,
            client_msg_id,
        }
        .to_frame();
        self.answer(frame).await;
    }

    /// `send` → `sent` (or `error` with the `client_msg_id`).
    async fn send(&mut self, frame: SendFrame) {
        let client_msg_id = frame.client_msg_id.clone();
        self.push(Outgoing::SendStarted(client_msg_id.clone()))
            .await;
        let draft = Draft {
            to: frame.to,
            content: frame.content,
            client_msg_id: frame.client_msg_id,
        };
        let call = self.state.messaging().send(self.user.user_id, draft);
        match with_timeout(call).await {
            Ok(sent) => {
                self.push(Outgoing::SendFinished {
                    client_msg_id,
                    ack: Some(Box::new((sent.message, sent.created))),
                })
                .await;
            }
            Err(e) => {
                self.push(Outgoing::SendFinished {
                    client_msg_id: client_msg_id.clone(),
                    ack: None,
                })
                .await;
                self.answer_error(&e, Some(&client_msg_id)).await;
            }
        }
    }

    /// `typing` goes to the presence service, which throttles it and tells
    /// the partner (unless they share no conversation or a block).
    async fn typing(&mut self, frame: TypingFrame) {
        if frame.to <= 0 {
            let e = Error::invalid("`to` must be a positive user id");
            return self.answer_error(&e, None).await;
        }
        let mut presence = self.state.presence();
        let call = presence.set_typing(SetTypingRequest {
            user_id: self.user.user_id,
            partner_id: frame.to,
            typing: frame.typing,
        });
        match tokio::time::timeout(PRESENCE_TIMEOUT, call).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => {
                let e = Error::from(status);
                if e.code == Code::InvalidRequest {
                    self.answer_error(&e, None).await;
                } else {
                    tracing::debug!(code = %e.code, "typing not forwarded");
                }
            }
            Err(_) => tracing::debug!("typing timed out"),
        }
    }

    /// `read`: same as `POST /api/messages/read`; answered only on error.
    async fn read(&mut self, frame: ReadFrame) {
        let call = self
            .state
            .messaging()
            .mark_read(self.user.user_id, frame.with, frame.up_to_id);
        if let Err(e) = with_timeout(call).await {
            self.answer_error(&e, None).await;
        }
    }

    /// `sync`: the messages after `after`, then `sync_done`.
    async fn sync(&mut self, frame: SyncFrame) {
        // Never closed, so this only waits for the previous replay's write.
        let permit = self.replay_permit.clone().acquire_owned().await.ok();
        let call = self
            .state
            .messaging()
            .sync(self.user.user_id, frame.after, SYNC_LIMIT);
        match with_timeout(call).await {
            Ok(reply) => {
                let messages = reply.messages;
                let up_to_id = messages
                    .last()
                    .map_or(frame.after, |m| m.id.max(frame.after));
                self.push(Outgoing::Replay {
                    messages,
                    up_to_id,
                    more: reply.more,
                    permit,
                })
                .await;
            }
            Err(e) => self.answer_error(&e, None).await,
        }
    }
}

async fn with_timeout<T>(call: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(RPC_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(Error::unavailable("the service")))
}

/// A read error: a frame over the hard cap (1009), or a broken connection.
fn read_failure(e: &axum::Error) -> Ending {
    // axum hides tungstenite's error type; its capacity error reads
    // "Space limit exceeded: Message too long: ...".
    let text = e.to_string();
    if text.contains("too long") || text.contains("Space limit") {
        Ending::Close(CloseReason::TOO_BIG)
    } else {
        tracing::debug!(error = %text, "socket read failed");
        Ending::PeerGone
    }
}
