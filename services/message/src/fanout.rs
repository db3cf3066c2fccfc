//! After the commit: cache writes and pub/sub events. New messages go
//! through one task, in commit order, each round (the batches committed
//! meanwhile) in one Redis call; it never holds up an acknowledgement (the
//! writer hands a committed batch over and moves on). Status changes are
//! written by their own request before it answers, so a reader who marked a
//! message read sees it read.
//!
//! Every message event carries `prev_id`, the id of the previous message to
//! or from that person, so a gateway notices a lost event and repairs the gap
//! with `Sync` (see `totilove_common::events`).

use std::collections::{BTreeMap, HashMap};

use tokio::{sync::mpsc, task::JoinHandle};
use totilove_common::{MessageStatus, events::Event, trace_context};

use crate::{
    cache::{Cache, MessagesRound, StatusChange, chat_key, conversations_key},
    domain::{Message, Pair},
    push::Pusher,
    store::Marked,
};

/// A round stops taking batches past this many messages (one Redis call
/// holds Redis for its duration).
const MAX_MESSAGES_PER_ROUND: usize = 1_000;

/// A committed batch of new messages.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    /// In id order.
    pub messages: Vec<Message>,
    /// Each conversation's newest message before the batch (absent: none).
    pub pair_before: HashMap<Pair, i64>,
    /// Each person's newest message before the batch (absent: none).
    pub head_before: HashMap<i64, i64>,
    /// Each message's "Publish a message" span, parallel to `messages`;
    /// empty when not traced. They end once the round is published.
    pub publishing: Vec<tracing::Span>,
}

impl Committed {
    /// The cache keys its round writes.
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.messages.iter().map(|m| chat_key(m.pair())).collect();
        keys.extend(
            self.messages
                .iter()
                .flat_map(|m| [m.sender_id, m.receiver_id])
                .map(conversations_key),
        );
        keys.sort();
        keys.dedup();
        keys
    }
}

#[derive(Clone)]
pub(crate) struct Fanout {
    queue: mpsc::Sender<Committed>,
    cache: Cache,
    pusher: Pusher,
}

impl Fanout {
    pub(crate) fn spawn(cache: Cache, capacity: usize, pusher: Pusher) -> (Self, JoinHandle<()>) {
        let (queue, batches) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(run(batches, cache.clone()));
        (
            Self {
                queue,
                cache,
                pusher,
            },
            task,
        )
    }

    /// Hands a committed batch over without waiting. When the queue is full
    /// (Redis far behind), it is dropped: its events are lost (gateways
    /// repair by sync) and its cache keys become dirty (deleted, not wrong).
    pub(crate) fn push(&self, committed: Committed) {
        // Pushes to people who are offline, whatever becomes of the events.
        self.pusher.offer(&committed.messages);
        if let Err(e) = self.queue.try_send(committed) {
            let committed = match e {
                mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
            };
            tracing::warn!("fan-out queue full; dropping events and cache writes");
            self.cache.dirty().mark(committed.keys());
        }
    }

    /// After committed marks: the cached statuses, and a `status` event to
    /// each sender whose messages changed where `tell` (parallel to
    /// `marked`) allows, in one Redis round trip.
    pub(crate) async fn statuses_changed(
        &self,
        marked: &[Marked],
        status: MessageStatus,
        tell: &[bool],
    ) {
        let events: Vec<Event> = marked
            .iter()
            .map(|m| Event::Status {
                with: m.reader,
                up_to_id: m.changed_up_to_id,
                status,
            })
            .collect();
        let changes: Vec<StatusChange<'_>> = marked
            .iter()
            .zip(&events)
            .zip(tell)
            .map(|((m, event), &tell)| StatusChange {
                pair: Pair::new(m.reader, m.with),
                sender: m.with,
                bound: m.bound,
                status,
                event: tell.then_some(event),
            })
            .collect();
        self.cache.write_statuses(&changes).await;
    }
}

async fn run(mut batches: mpsc::Receiver<Committed>, cache: Cache) {
    let mut round = MessagesRound::default();
    while let Some(committed) = batches.recv().await {
        add(&mut round, committed);
        // Whatever else was committed meanwhile joins the round.
        while round.messages() < MAX_MESSAGES_PER_ROUND {
            match batches.try_recv() {
                Ok(committed) => add(&mut round, committed),
                Err(_) => break,
            }
        }
        cache.write_messages(std::mem::take(&mut round)).await;
    }
}

fn add(round: &mut MessagesRound, committed: Committed) {
    let Committed {
        messages,
        pair_before,
        head_before,
        publishing,
    } = committed;

    let mut by_pair: BTreeMap<Pair, Vec<&Message>> = BTreeMap::new();
    for m in &messages {
        by_pair.entry(m.pair()).or_default().push(m);
    }
    let mut entry_of: HashMap<i64, usize> = HashMap::with_capacity(messages.len());
    for (pair, part) in &by_pair {
        let before = pair_before.get(pair).copied().unwrap_or(0);
        let first = round.segment(*pair, before, part);
        entry_of.extend(part.iter().enumerate().map(|(i, m)| (m.id, first + i)));
    }

    // Events, in id order, each person's chained to their previous message
    // and carrying the message's trace context (both events the same).
    let mut heads = head_before;
    for (i, m) in messages.iter().enumerate() {
        let traceparent = publishing.get(i).and_then(trace_context::traceparent);
        let events = [m.receiver_id, m.sender_id].map(|person| {
            let prev_id = heads.insert(person, m.id).unwrap_or(0);
            (person, prev_id)
        });
        round.events(entry_of[&m.id], events, traceparent);
    }
    round.keep_spans(publishing);
}
