//! One person's chain: their events, delivered in order to their local
//! sockets, with gaps in the message chain repaired from the message service.
//!
//! A task per person with a socket here, so a repair (an RPC, possibly
//! retried while the message service is down) only ever delays that
//! person's events. Its queue is bounded: when it overflows the event is
//! dropped and a repair is requested instead, which recovers every message
//! (presence and typing are momentary and may be lost).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use fred::interfaces::PubsubInterface;
use tokio::sync::{Notify, mpsc, watch};
use totilove_kit::events::{Event, MessageJson, user_channel};
use totilove_proto::message::v1::{HeadRequest, SyncRequest};

use super::{
    Inner, lock,
    outbox::{LiveMessage, Offer, Outgoing, Priority, SocketHandle},
};
use crate::{routes::messages::message_json, ws::protocol::ServerEvent};

/// Events waiting for one person's chain.
const QUEUE: usize = 1024;
/// Messages asked per repair round (the message service's `Sync` limit).
const REPAIR_BATCH: u32 = 1000;
/// One RPC of the chain may take this long before it is retried.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// The part of a chain the hub and the dispatcher see.
pub(crate) struct UserChain {
    pub user_id: i64,
    events: mpsc::Sender<Event>,
    needs_repair: AtomicBool,
    retired: AtomicBool,
    wake: Notify,
    /// Becomes true once the channel is subscribed and the head is known:
    /// from then on every message committed reaches the sockets live.
    ready: watch::Sender<bool>,
    /// The person's local sockets (changed under the registry lock too).
    pub sockets: Mutex<Vec<Arc<SocketHandle>>>,
}

impl UserChain {
    /// Creates the chain of `user_id` and starts its task.
    pub fn start(hub: &Arc<Inner>, user_id: i64) -> Arc<Self> {
        let (events, queue) = mpsc::channel(QUEUE);
        let chain = Arc::new(Self {
            user_id,
            events,
            needs_repair: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            wake: Notify::new(),
            ready: watch::channel(false).0,
            sockets: Mutex::default(),
        });
        tokio::spawn(run(hub.clone(), chain.clone(), queue));
        chain
    }

    /// Queues an event from the person's channel; on overflow the event is
    /// dropped and the chain repairs instead.
    pub fn push(&self, event: Event) {
        if self.events.try_send(event).is_err() {
            tracing::warn!(
                user_id = self.user_id,
                "chain queue full; dropping an event and repairing"
            );
            self.request_repair();
        }
    }

    /// Watches whether the chain is live (see [`UserChain::ready`]).
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// Asks the chain to fetch whatever it may have missed.
    pub fn request_repair(&self) {
        self.needs_repair.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The person's last local socket left: the chain ends.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Waits `delay`, or less when woken (retired, or asked to repair).
    async fn pause(&self, delay: Duration) {
        let _ = tokio::time::timeout(delay, self.wake.notified()).await;
    }
}

/// The chain task's own state.
struct Chain {
    hub: Arc<Inner>,
    shared: Arc<UserChain>,
    /// The id of the last message delivered (the chain's head).
    last_id: i64,
}

async fn run(hub: Arc<Inner>, shared: Arc<UserChain>, mut queue: mpsc::Receiver<Event>) {
    let user_id = shared.user_id;
    let channel = user_channel(user_id);
    if subscribe(&hub, &shared, &channel).await {
        // The head is read after the SUBSCRIBE is acknowledged: every message
        // committed later arrives as an event, so nothing falls in between.
        if let Some(last_id) = head(&hub, &shared).await {
            shared.ready.send_replace(true);
            let mut chain = Chain {
                hub: hub.clone(),
                shared: shared.clone(),
                last_id,
            };
            chain.follow(&mut queue).await;
        }
    }
    // Unsubscribe, unless the person came back meanwhile with a new chain
    // (whose SUBSCRIBE waits for this stripe, so it cannot be undone here).
    let _turn = hub.stripe(user_id).lock().await;
    if !hub.has_chain(user_id) {
        if let Err(e) = hub.subscriber.unsubscribe(channel).await {
            tracing::debug!(user_id, error = %e, "could not unsubscribe (Redis down?)");
        }
    }
}

/// Subscribes the person's channel, retrying while Redis is down; false when
/// the chain retired first.
async fn subscribe(hub: &Inner, shared: &UserChain, channel: &str) -> bool {
    let mut delay = Duration::from_millis(50);
    while !shared.is_retired() {
        let result = {
            let _turn = hub.stripe(shared.user_id).lock().await;
            hub.subscriber.subscribe(channel).await
        };
        match result {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(user_id = shared.user_id, error = %e, "cannot subscribe; retrying");
                shared.pause(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    false
}

/// The newest message id of the person, retrying while the message service
/// cannot answer; `None` when the chain retired first.
async fn head(hub: &Inner, shared: &UserChain) -> Option<i64> {
    let mut delay = Duration::from_millis(50);
    while !shared.is_retired() {
        let mut messages = hub.messages.clone();
        let call = messages.head(HeadRequest {
            user_id: shared.user_id,
        });
        match tokio::time::timeout(RPC_TIMEOUT, call).await {
            Ok(Ok(reply)) => return Some(reply.into_inner().last_message_id),
            Ok(Err(status)) => {
                tracing::warn!(user_id = shared.user_id, code = ?status.code(), "cannot read the chain head; retrying");
            }
            Err(_) => tracing::warn!(user_id = shared.user_id, "reading the chain head timed out"),
        }
        shared.pause(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    None
}

impl Chain {
    async fn follow(&mut self, queue: &mut mpsc::Receiver<Event>) {
        loop {
            if self.shared.is_retired() {
                return;
            }
            if self.shared.needs_repair.swap(false, Ordering::AcqRel) {
                self.repair().await;
                continue;
            }
            tokio::select! {
                biased;
                () = self.shared.wake.notified() => {}
                event = queue.recv() => match event {
                    Some(event) => self.on_event(event).await,
                    None => return,
                },
            }
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Message { prev_id, message } => {
                if message.id <= self.last_id {
                    // Already delivered (by a repair, or read with the head).
                } else if prev_id == self.last_id {
                    self.deliver(message);
                } else {
                    tracing::info!(
                        user_id = self.shared.user_id,
                        last_id = self.last_id,
                        prev_id,
                        id = message.id,
                        "gap in the message chain; repairing"
                    );
                    self.repair().await;
                }
            }
            Event::Status {
                with,
                up_to_id,
                status,
            } => {
                let frame = ServerEvent::Status {
                    with,
                    up_to_id,
                    status: &status,
                }
                .to_frame();
                self.broadcast(frame, Priority::Essential);
            }
            Event::Presence {
                user_id,
                online,
                last_seen,
            } => {
                let frame = ServerEvent::Presence {
                    user_id,
                    online,
                    last_seen: last_seen.as_deref(),
                }
                .to_frame();
                self.broadcast(frame, Priority::Presence);
            }
            Event::Typing { user_id, typing } => {
                let frame = ServerEvent::Typing { user_id, typing }.to_frame();
                self.broadcast(frame, Priority::Typing);
            }
        }
    }

    /// Fetches every message after the head, in order, until caught up
    /// (retrying while the message service cannot answer).
    async fn repair(&mut self) {
        let user_id = self.shared.user_id;
        let mut delay = Duration::from_millis(50);
        while !self.shared.is_retired() {
            let mut messages = self.hub.messages.clone();
            let call = messages.sync(SyncRequest {
                user_id,
                after: self.last_id,
                limit: REPAIR_BATCH,
            });
            match tokio::time::timeout(RPC_TIMEOUT, call).await {
                Ok(Ok(reply)) => {
                    let reply = reply.into_inner();
                    for message in reply.messages {
                        let message = message_json(message);
                        if message.id > self.last_id {
                            self.deliver(message);
                        }
                    }
                    if !reply.more {
                        return;
                    }
                    continue;
                }
                Ok(Err(status)) => {
                    tracing::warn!(user_id, code = ?status.code(), "repair failed; retrying");
                }
                Err(_) => tracing::warn!(user_id, "repair timed out; retrying"),
            }
            self.shared.pause(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Hands a message to every local socket of the person and moves the
    /// head. A message to the person that reached one of their sockets is
    /// reported delivered.
    fn deliver(&mut self, message: MessageJson) {
        self.last_id = message.id;
        let to_me = message.receiver_id == self.shared.user_id && message.status == "sent";
        let (sender_id, id) = (message.sender_id, message.id);
        let live = Arc::new(LiveMessage::new(message));
        let mut reached = false;
        for socket in lock(&self.shared.sockets).iter() {
            reached |=
                socket.offer(Outgoing::Live(live.clone()), Priority::Essential) == Offer::Queued;
        }
        if to_me && reached {
            self.hub
                .delivered
                .report(self.shared.user_id, sender_id, id);
        }
    }

    fn broadcast(&self, frame: Utf8Bytes, priority: Priority) {
        for socket in lock(&self.shared.sockets).iter() {
            socket.offer(Outgoing::Shared(frame.clone()), priority);
        }
    }
}
