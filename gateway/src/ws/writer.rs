//! The writing half of a socket: drains the socket's queue in order,
//! batching writes (flushed when the queue is empty), and pings the peer.
//!
//! It also decides, per socket, what a live message is: the echo of this
//! socket's own `send` becomes its `sent` (whichever of the echo and the
//! RPC's answer comes first, so `sent` keeps the chain's order and is never
//! doubled); a message already written by a `sync` replay is not repeated;
//! anything else is a `message`.

use std::{collections::VecDeque, time::Duration};

use axum::{
    body::Bytes,
    extract::ws::{Message, WebSocket},
};
use futures::{SinkExt, stream::SplitSink};
use tokio::sync::mpsc;
use totilove_kit::events::MessageJson;

use super::{protocol::ServerEvent, socket::Ending};
use crate::fanout::outbox::{LiveMessage, Outgoing};

type Sink = SplitSink<WebSocket, Message>;

/// Items written before a flush, at most.
const BATCH: usize = 64;
/// This socket's sends remembered until their echo comes (a retry of an
/// already stored message has no echo; old entries are forgotten).
const MAX_OWN: usize = 64;

pub(super) struct Writer {
    user_id: i64,
    /// This socket's sends whose echo is expected: `client_msg_id` and
    /// whether their `sent` was already written.
    own: VecDeque<(String, bool)>,
    /// The highest id written by a `sync` replay: later echoes up to it are
    /// skipped.
    replayed_up_to: i64,
}

impl Writer {
    pub fn new(user_id: i64) -> Self {
        Self {
            user_id,
            own: VecDeque::new(),
            replayed_up_to: 0,
        }
    }

    pub async fn run(
        &mut self,
        sink: &mut Sink,
        outbox: &mut mpsc::Receiver<Outgoing>,
        ping_every: Duration,
    ) -> Ending {
        let start = tokio::time::Instant::now() + ping_every;
        let mut pings = tokio::time::interval_at(start, ping_every);
        loop {
            let sent = tokio::select! {
                item = outbox.recv() => match item {
                    Some(item) => self.write_batch(sink, outbox, item).await,
                    None => return Ending::PeerGone,
                },
                _ = pings.tick() => sink.send(Message::Ping(Bytes::new())).await,
            };
            if sent.is_err() {
                return Ending::PeerGone;
            }
        }
    }

    /// Writes what is already queued (before a close frame).
    pub async fn drain(&mut self, sink: &mut Sink, outbox: &mut mpsc::Receiver<Outgoing>) {
        if let Ok(item) = outbox.try_recv() {
            let _ = self.write_batch(sink, outbox, item).await;
        }
    }

    async fn write_batch(
        &mut self,
        sink: &mut Sink,
        outbox: &mut mpsc::Receiver<Outgoing>,
        first: Outgoing,
    ) -> Result<(), axum::Error> {
        self.write(sink, first).await?;
        for _ in 1..BATCH {
            match outbox.try_recv() {
                Ok(item) => self.write(sink, item).await?,
                Err(_) => break,
            }
        }
        sink.flush().await
    }

    async fn write(&mut self, sink: &mut Sink, item: Outgoing) -> Result<(), axum::Error> {
        match item {
            Outgoing::Own(frame) | Outgoing::Shared(frame) => sink.feed(Message::Text(frame)).await,
            Outgoing::Live(live) => self.live(sink, &live).await,
            Outgoing::SendStarted(client_msg_id) => {
                if self.own.len() >= MAX_OWN {
                    self.own.pop_front();
                }
                self.own.push_back((client_msg_id, false));
                Ok(())
            }
            Outgoing::SendFinished { client_msg_id, ack } => {
                let pending = self.own.iter().position(|(c, _)| *c == client_msg_id);
                match (ack, pending) {
                    (None, Some(i)) => {
                        self.own.remove(i);
                        Ok(())
                    }
                    (None, None) => Ok(()),
                    (Some((message, created)), Some(i)) => {
                        if self.own[i].1 {
                            // Its echo came first and was written as `sent`.
                            self.own.remove(i);
                            return Ok(());
                        }
                        if created {
                            // The echo is still to come: it will be skipped.
                            self.own[i].1 = true;
                        } else {
                            // A retry: nothing new was published.
                            self.own.remove(i);
                        }
                        sink.feed(sent(&message)).await
                    }
                    (Some((message, _)), None) => sink.feed(sent(&message)).await,
                }
            }
            Outgoing::Replay {
                messages,
                up_to_id,
                more,
            } => {
                for message in &messages {
                    let frame = ServerEvent::Message { message }.to_frame();
                    sink.feed(Message::Text(frame)).await?;
                }
                self.replayed_up_to = self.replayed_up_to.max(up_to_id);
                let done = ServerEvent::SyncDone { up_to_id, more }.to_frame();
                sink.feed(Message::Text(done)).await
            }
        }
    }

    async fn live(&mut self, sink: &mut Sink, live: &LiveMessage) -> Result<(), axum::Error> {
        let message = &live.message;
        if message.sender_id == self.user_id
            && let Some(i) = self
                .own
                .iter()
                .position(|(c, _)| *c == message.client_msg_id)
        {
            if self.own[i].1 {
                // Acknowledged already by the RPC's answer.
                self.own.remove(i);
                return Ok(());
            }
            // Acknowledge now, in the chain's order; the RPC's answer is skipped.
            self.own[i].1 = true;
            return sink.feed(sent(message)).await;
        }
        if message.id <= self.replayed_up_to {
            return Ok(());
        }
        sink.feed(Message::Text(live.frame.clone())).await
    }
}

fn sent(message: &MessageJson) -> Message {
    Message::Text(
        ServerEvent::Sent {
            client_msg_id: &message.client_msg_id,
            message,
        }
        .to_frame(),
    )
}
