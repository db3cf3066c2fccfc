//! After the commit: cache writes and pub/sub events. New messages go
//! through one task, in commit order, each round in one pipelined Redis round
//! trip; it never holds up an acknowledgement (the writer hands a committed
//! batch over and moves on). Status changes are written by their own request
//! before it answers, so a reader who marked a message read sees it read.
//!
//! Every message event carries `prev_id`, the id of the previous message to
//! or from that person, so a gateway notices a lost event and repairs the gap
//! with `Sync` (see `totilove_kit::events`).

use std::collections::{BTreeMap, HashMap};

use tokio::{sync::mpsc, task::JoinHandle};
use totilove_kit::events::{Event, user_channel};

use crate::{
    cache::{Cache, Round, chat_key, conversations_key},
    domain::{Message, Pair, Status},
    store::Marked,
};

/// The most committed batches merged into one round.
const MAX_BATCHES_PER_ROUND: usize = 64;

/// A committed batch of new messages.
#[derive(Debug, Default)]
pub struct Committed {
    /// In id order.
    pub messages: Vec<Message>,
    /// Each conversation's newest message before the batch (absent: none).
    pub pair_before: HashMap<Pair, i64>,
    /// Each person's newest message before the batch (absent: none).
    pub head_before: HashMap<i64, i64>,
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
pub struct Fanout {
    queue: mpsc::Sender<Committed>,
    cache: Cache,
}

impl Fanout {
    pub fn spawn(cache: Cache, capacity: usize) -> (Self, JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(run(jobs, cache.clone()));
        (Self { queue, cache }, task)
    }

    /// Hands a job over without waiting. When the queue is full (Redis far
    /// behind), the job is dropped: its events are lost (gateways repair by
    /// sync) and its cache keys become dirty (deleted, not left wrong).
    pub fn push(&self, committed: Committed) {
        if let Err(e) = self.queue.try_send(committed) {
            let committed = match e {
                mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
            };
            tracing::warn!("fan-out queue full; dropping events and cache writes");
            self.cache.dirty().mark(committed.keys());
        }
    }

    /// After a committed mark: the cached statuses, and a `status` event to
    /// the sender whose messages changed (`with`), in one round trip.
    pub async fn status_changed(&self, reader: i64, with: i64, marked: Marked, status: Status) {
        let mut round = self.cache.round();
        round.status(Pair::new(reader, with), with, marked.bound, status);
        let event = Event::Status {
            with: reader,
            up_to_id: marked.changed_up_to_id,
            status: status.as_str().to_owned(),
        };
        round.publish(user_channel(with), event.to_json());
        round.run().await;
    }
}

async fn run(mut batches: mpsc::Receiver<Committed>, cache: Cache) {
    let mut taken = Vec::with_capacity(MAX_BATCHES_PER_ROUND);
    while batches.recv_many(&mut taken, MAX_BATCHES_PER_ROUND).await > 0 {
        let mut round = cache.round();
        for committed in taken.drain(..) {
            add_messages(&mut round, committed);
        }
        round.run().await;
    }
}

fn add_messages(round: &mut Round, committed: Committed) {
    let Committed {
        messages,
        pair_before,
        head_before,
    } = committed;

    // Cache first, so a client reacting to an event finds it there.
    let mut by_pair: BTreeMap<Pair, Vec<&Message>> = BTreeMap::new();
    // person → other → last activity (ms)
    let mut activity: BTreeMap<i64, BTreeMap<i64, i64>> = BTreeMap::new();
    for m in &messages {
        by_pair.entry(m.pair()).or_default().push(m);
        let at = m.created_at.timestamp_millis();
        activity.entry(m.sender_id).or_default().insert(m.receiver_id, at);
        activity.entry(m.receiver_id).or_default().insert(m.sender_id, at);
    }
    for (pair, part) in &by_pair {
        let before = pair_before.get(pair).copied().unwrap_or(0);
        round.append(*pair, before, part);
    }
    for (person, others) in activity {
        let others: Vec<(i64, i64)> = others.into_iter().collect();
        round.activity(person, &others);
    }

    // Events, in id order, each person's chained to their previous message.
    let mut heads = head_before;
    for m in &messages {
        let json = m.to_json();
        for person in [m.receiver_id, m.sender_id] {
            let prev_id = heads.insert(person, m.id).unwrap_or(0);
            let event = Event::Message {
                prev_id,
                message: json.clone(),
            };
            round.publish(user_channel(person), event.to_json());
        }
    }
}
