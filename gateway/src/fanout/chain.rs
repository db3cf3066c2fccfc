//! One person's chain: their events, delivered in order to their local
//! sockets, with gaps in the message chain repaired from the message service.
//!
//! A task per person with a socket here, so a repair (an RPC, possibly
//! retried while the message service is down) only ever delays that
//! person's messages; their statuses, presence and typing flow meanwhile.
//! Its queue is bounded: when it overflows the event is
//! dropped and a repair is requested instead, which recovers every message
//! (presence and typing are momentary and may be lost).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use fred::interfaces::PubsubInterface;
use tokio::{
    sync::{Notify, mpsc, watch},
    time::Instant,
};
use totilove_common::{
    MessageStatus,
    events::{Event, MessageJson, user_channel},
    trace_context::{self, Conversation, TARGET},
};

use super::{
    Inner, lock,
    outbox::{LiveMessage, Offer, Outgoing, Priority, SocketHandle},
};
use crate::protocol::ServerEvent;

/// Events waiting for one person's chain. They wait boxed: the queue
/// allocates room for 32 at once, and an `Event` is 128 bytes.
const QUEUE: usize = 1024;
/// Messages asked per repair round (the message service's `Sync` limit).
const REPAIR_BATCH: u32 = 1000;
/// One RPC of the chain may take this long before it is retried.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of failed calls wait from this, doubling, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// `typing:true` lapses by itself after this (the contract's 6 s).
const TYPING_LAPSE: Duration = Duration::from_secs(6);
/// Typers remembered per person before the lapsed ones are forgotten.
const TYPERS_KEPT: usize = 64;

/// The part of a chain the hub and the dispatcher see.
pub(crate) struct UserChain {
    pub user_id: i64,
    events: mpsc::Sender<Box<Event>>,
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
    pub(super) fn start(hub: &Arc<Inner>, user_id: i64) -> Arc<Self> {
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
    pub(super) fn push(&self, event: Event) {
        if self.events.try_send(Box::new(event)).is_err() {
            metrics::counter!("totilove_fanout_gaps_total", "cause" => "queue_full").increment(1);
            tracing::warn!(
                user_id = self.user_id,
                "chain queue full; dropping an event and repairing"
            );
            self.request_repair();
        }
    }

    /// Watches whether the chain is live (see [`UserChain::ready`]).
    pub(super) fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// Asks the chain to fetch whatever it may have missed.
    pub(super) fn request_repair(&self) {
        self.needs_repair.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The person's last local socket left: the chain ends.
    pub(super) fn retire(&self) {
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
    /// The id of the last message delivered (the chain's head); `None`
    /// until the message service said where the chain starts.
    last_id: Option<i64>,
    /// Messages may have been missed: ask `Sync(after = last_id)`.
    behind: bool,
    /// When the next call to the message service (head or repair) may go.
    next_try: Instant,
    /// The wait before the next retry of a failed call.
    backoff: Duration,
    /// Who was last seen typing to the person, and when. A message from one
    /// of them ends their typing here, where it is delivered: so a send
    /// (over the socket or REST, from any gateway) costs no presence call.
    typing_from: HashMap<i64, Instant>,
}

async fn run(hub: Arc<Inner>, shared: Arc<UserChain>, mut queue: mpsc::Receiver<Box<Event>>) {
    let user_id = shared.user_id;
    let channel = user_channel(user_id);
    if Box::pin(subscribe(&hub, &shared, &channel)).await {
        let mut chain = Chain {
            hub: hub.clone(),
            shared: shared.clone(),
            last_id: None,
            behind: false,
            next_try: Instant::now(),
            backoff: FIRST_BACKOFF,
            typing_from: HashMap::new(),
        };
        chain.follow(&mut queue).await;
    }
    // Unsubscribe, unless the person came back meanwhile with a new chain
    // (whose SUBSCRIBE waits for this stripe, so it cannot be undone here).
    let _turn = hub.stripe(user_id).lock().await;
    if !hub.has_chain(user_id)
        && let Err(e) = Box::pin(hub.subscriber.unsubscribe(channel)).await
    {
        tracing::debug!(user_id, error = %e, "could not unsubscribe (Redis down?)");
    }
}

/// Subscribes the person's channel, retrying while Redis is down; false when
/// the chain retired first.
async fn subscribe(hub: &Inner, shared: &UserChain, channel: &str) -> bool {
    let mut delay = FIRST_BACKOFF;
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
                delay = (delay * 2).min(MAX_BACKOFF);
            }
        }
    }
    false
}

impl Chain {
    /// Follows the person's events until the chain retires. Calls to the
    /// message service (the head, repairs) are retried with backoff, and
    /// meanwhile statuses, presence and typing still flow: only messages
    /// wait for the chain to be whole again.
    async fn follow(&mut self, queue: &mut mpsc::Receiver<Box<Event>>) {
        loop {
            if self.shared.is_retired() {
                return;
            }
            if self.shared.needs_repair.swap(false, Ordering::AcqRel) {
                self.behind = true;
            }
            let due = self.last_id.is_none() || self.behind;
            if due && Instant::now() >= self.next_try {
                // Boxed: the calls' futures are kilobytes, and inline they
                // would make every person's idle chain task that large.
                Box::pin(self.catch_up()).await;
                continue;
            }
            tokio::select! {
                biased;
                () = self.shared.wake.notified() => {}
                event = queue.recv() => match event {
                    Some(event) => self.on_event(*event),
                    None => return,
                },
                () = tokio::time::sleep_until(self.next_try), if due => {}
            }
        }
    }

    /// One call to the message service: the head (read after the SUBSCRIBE
    /// was acknowledged, so every message committed later arrives as an
    /// event), or one page of repair.
    async fn catch_up(&mut self) {
        let user_id = self.shared.user_id;
        let messages = self.hub.messages.clone();
        let outcome = match self.last_id {
            None => match tokio::time::timeout(RPC_TIMEOUT, messages.head(user_id)).await {
                Ok(Ok(head)) => {
                    self.last_id = Some(head);
                    self.shared.ready.send_replace(true);
                    Ok(())
                }
                Ok(Err(e)) => Err(format!("head: {}", e.code)),
                Err(_) => Err("head: timed out".to_owned()),
            },
            Some(after) => {
                let call = messages.sync(user_id, after, REPAIR_BATCH);
                match tokio::time::timeout(RPC_TIMEOUT, call).await {
                    Ok(Ok(reply)) => {
                        for message in reply.messages {
                            if message.id > self.last_id.unwrap_or(after) {
                                metrics::counter!("totilove_fanout_repaired_messages_total")
                                    .increment(1);
                                self.deliver(message, None);
                            }
                        }
                        self.behind = reply.more;
                        Ok(())
                    }
                    Ok(Err(e)) => Err(format!("repair: {}", e.code)),
                    Err(_) => Err("repair: timed out".to_owned()),
                }
            }
        };
        match outcome {
            Ok(()) => {
                self.backoff = FIRST_BACKOFF;
                self.next_try = Instant::now();
            }
            Err(what) => {
                tracing::warn!(user_id, %what, "the message service did not answer; retrying");
                self.next_try = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Message {
                prev_id,
                message,
                traceparent,
            } => {
                let Some(last_id) = self.last_id.filter(|_| !self.behind) else {
                    // The chain is not whole yet: the coming repair fetches it.
                    self.behind = true;
                    return;
                };
                if message.id <= last_id {
                    // Already delivered (by a repair, or read with the head).
                } else if prev_id == last_id {
                    self.deliver(message, traceparent.as_deref());
                } else {
                    metrics::counter!("totilove_fanout_gaps_total", "cause" => "gap").increment(1);
                    tracing::info!(
                        user_id = self.shared.user_id,
                        last_id,
                        prev_id,
                        id = message.id,
                        "gap in the message chain; repairing"
                    );
                    self.behind = true;
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
                    status,
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
                self.note_typing(user_id, typing);
                let frame = ServerEvent::Typing { user_id, typing }.to_frame();
                self.broadcast(frame, Priority::Typing);
            }
            Event::Blocks { user_id, blocked } => {
                let frame = ServerEvent::Blocks { user_id, blocked }.to_frame();
                self.broadcast(frame, Priority::Essential);
            }
            Event::Availability { user_id, available } => {
                let frame = ServerEvent::Availability { user_id, available }.to_frame();
                self.broadcast(frame, Priority::Essential);
            }
            Event::Profile { user } => {
                let frame = ServerEvent::Profile { user: &user }.to_frame();
                self.broadcast(frame, Priority::Presence);
            }
        }
    }

    /// Hands a message to every local socket of the person and moves the
    /// head. A message to the person that reached one of their sockets is
    /// reported delivered. `traceparent`: the message's trace, from its
    /// event (a repaired message has none: its delivery is a trace of its own).
    fn deliver(&mut self, message: MessageJson, traceparent: Option<&str>) {
        self.last_id = Some(message.id);
        let to_me =
            message.receiver_id == self.shared.user_id && message.status == MessageStatus::Sent;
        let (sender_id, id) = (message.sender_id, message.id);
        let span = tracing::info_span!(
            target: TARGET,
            "Deliver a message",
            user_id = self.shared.user_id,
            conversation = %Conversation::of(sender_id, message.receiver_id),
            message_id = id,
        );
        trace_context::adopt(&span, traceparent);
        let live = Arc::new(LiveMessage::new(message, span));
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
        if to_me && self.typing_ended(sender_id) {
            let frame = ServerEvent::Typing {
                user_id: sender_id,
                typing: false,
            }
            .to_frame();
            self.broadcast(frame, Priority::Typing);
        }
    }

    fn note_typing(&mut self, user_id: i64, typing: bool) {
        if !typing {
            self.typing_from.remove(&user_id);
            return;
        }
        if self.typing_from.len() >= TYPERS_KEPT {
            self.typing_from
                .retain(|_, since| since.elapsed() < TYPING_LAPSE);
        }
        if self.typing_from.len() < TYPERS_KEPT {
            self.typing_from.insert(user_id, Instant::now());
        }
    }

    /// Whether a message from `sender_id` ends a typing the person still sees.
    fn typing_ended(&mut self, sender_id: i64) -> bool {
        self.typing_from
            .remove(&sender_id)
            .is_some_and(|since| since.elapsed() < TYPING_LAPSE)
    }

    fn broadcast(&self, frame: Utf8Bytes, priority: Priority) {
        for socket in lock(&self.shared.sockets).iter() {
            socket.offer(Outgoing::Shared(frame.clone()), priority);
        }
    }
}
