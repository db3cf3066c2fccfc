//! The writing half of a socket: drains the socket's queue in order,
//! batching writes (flushed when the queue is empty), and pings the peer.
//!
//! It also decides, per socket, what a live message is: the echo of this
//! socket's own `send` becomes its `sent` (whichever of the echo and the
//! RPC's answer comes first, so `sent` keeps the chain's order and is never
//! doubled); a message already written by a `sync` replay is not repeated;
//! anything else is a `message`.

use std::{collections::VecDeque, time::Duration};

use axum::{body::Bytes, extract::ws::Message};
use futures::{Sink, SinkExt};
use tokio::sync::mpsc;
use totilove_common::{events::MessageJson, trace_context::TARGET};
use tracing::Instrument;

use super::ending::Ending;
use crate::{
    fanout::outbox::{LiveMessage, Outgoing},
    protocol::ServerEvent,
};

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
    pub(super) fn new(user_id: i64) -> Self {
        Self {
            user_id,
            own: VecDeque::new(),
            replayed_up_to: 0,
        }
    }

    pub(super) async fn run<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
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
    pub(super) async fn drain<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        outbox: &mut mpsc::Receiver<Outgoing>,
    ) {
        if let Ok(item) = outbox.try_recv() {
            let _ = self.write_batch(sink, outbox, item).await;
        }
    }

    async fn write_batch<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        outbox: &mut mpsc::Receiver<Outgoing>,
        first: Outgoing,
    ) -> Result<(), S::Error> {
        self.write(sink, first).await?;
        for _ in 1..BATCH {
            match outbox.try_recv() {
                Ok(item) => self.write(sink, item).await?,
                Err(_) => break,
            }
        }
        sink.flush().await
    }

    async fn write<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        item: Outgoing,
    ) -> Result<(), S::Error> {
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
                    (Some(ack), Some(i)) => {
                        let (message, created) = *ack;
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
                    (Some(ack), None) => sink.feed(sent(&ack.0)).await,
                }
            }
            Outgoing::Replay {
                messages,
                up_to_id,
                more,
                permit: _permit,
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

    async fn live<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        live: &LiveMessage,
    ) -> Result<(), S::Error> {
        let message = &live.message;
        // A child of the delivery, so the write joins the message's trace.
        let span = || {
            tracing::info_span!(
                target: TARGET,
                parent: &live.span,
                "WS write",
                user_id = self.user_id,
                message_id = message.id,
            )
        };
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
            metrics::counter!("totilove_ws_messages_delivered_total", "kind" => "sent")
                .increment(1);
            return sink.feed(sent(message)).instrument(span()).await;
        }
        if message.id <= self.replayed_up_to {
            return Ok(());
        }
        metrics::counter!("totilove_ws_messages_delivered_total", "kind" => "message").increment(1);
        let written = sink
            .feed(Message::Text(live.frame.clone()))
            .instrument(span())
            .await;
        if let Some(stamped) = live.stamped {
            // Across hosts this includes the clocks' difference; clamped so
            // a clock behind the writer's records 0, not a negative time.
            let elapsed = (chrono::Utc::now() - stamped).to_std().unwrap_or_default();
            metrics::histogram!("totilove_ws_commit_to_socket_seconds")
                .record(elapsed.as_secs_f64());
        }
        written
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::channel::mpsc::{UnboundedReceiver, unbounded};
    use serde_json::Value;

    use super::*;

    const ME: i64 = 1;
    const THEM: i64 = 2;

    fn message(id: i64, sender_id: i64, client_msg_id: &str) -> MessageJson {
        MessageJson {
            id,
            sender_id,
            receiver_id: if sender_id == ME { THEM } else { ME },
            content: format!("m{id}"),
            created_at: "2026-11-25T00:00:00.000Z".into(),
            status: totilove_common::MessageStatus::Sent,
            client_msg_id: client_msg_id.into(),
        }
    }

    fn live(id: i64, sender_id: i64, client_msg_id: &str) -> Outgoing {
        Outgoing::Live(Arc::new(LiveMessage::new(
            message(id, sender_id, client_msg_id),
            tracing::Span::none(),
        )))
    }

    fn finished(id: i64, client_msg_id: &str, created: bool) -> Outgoing {
        Outgoing::SendFinished {
            client_msg_id: client_msg_id.into(),
            ack: Some(Box::new((message(id, ME, client_msg_id), created))),
        }
    }

    /// Writes `items` in order; the frames as (type, message id).
    async fn frames(items: Vec<Outgoing>) -> Vec<(String, i64)> {
        let (mut sink, mut written): (_, UnboundedReceiver<Message>) = unbounded();
        let mut writer = Writer::new(ME);
        for item in items {
            writer.write(&mut sink, item).await.expect("written");
        }
        drop(sink);
        let mut out = Vec::new();
        while let Some(Message::Text(text)) = futures::StreamExt::next(&mut written).await {
            let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
            let id = v["message"]["id"]
                .as_i64()
                .or(v["up_to_id"].as_i64())
                .unwrap_or(0);
            out.push((v["type"].as_str().unwrap_or_default().to_owned(), id));
        }
        out
    }

    fn expect(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter().map(|(t, id)| ((*t).to_owned(), *id)).collect()
    }

    #[tokio::test]
    async fn my_own_send_is_acknowledged_once_whether_the_echo_or_the_answer_comes_first() {
        let answer_first = frames(vec![
            Outgoing::SendStarted("a".into()),
            finished(5, "a", true),
            live(5, ME, "a"),
            live(6, THEM, "x"),
        ])
        .await;
        assert_eq!(answer_first, expect(&[("sent", 5), ("message", 6)]));

        let echo_first = frames(vec![
            Outgoing::SendStarted("a".into()),
            live(5, ME, "a"),
            live(6, THEM, "x"),
            finished(5, "a", true),
        ])
        .await;
        assert_eq!(echo_first, expect(&[("sent", 5), ("message", 6)]));
    }

    #[tokio::test]
    async fn my_messages_sent_elsewhere_are_messages_here() {
        let got = frames(vec![live(5, ME, "from-another-socket"), live(6, THEM, "x")]).await;
        assert_eq!(got, expect(&[("message", 5), ("message", 6)]));
    }

    #[tokio::test]
    async fn a_retry_is_acknowledged_without_waiting_for_an_echo() {
        let got = frames(vec![
            Outgoing::SendStarted("a".into()),
            finished(5, "a", false),
            live(5, ME, "a"),
        ])
        .await;
        // The echo of a retry can only be a stale duplicate: here it is shown
        // as a message, since this socket no longer expects it.
        assert_eq!(got, expect(&[("sent", 5), ("message", 5)]));
    }

    #[tokio::test]
    async fn a_replay_is_complete_and_live_messages_it_covered_are_not_repeated() {
        let got = frames(vec![
            live(7, THEM, "x"),
            Outgoing::Replay {
                messages: vec![message(6, THEM, "w"), message(7, THEM, "x")],
                up_to_id: 7,
                more: false,
                permit: None,
            },
            live(7, THEM, "x"),
            live(8, THEM, "y"),
        ])
        .await;
        assert_eq!(
            got,
            expect(&[
                ("message", 7),
                ("message", 6),
                ("message", 7),
                ("sync_done", 7),
                ("message", 8)
            ])
        );
    }
}
