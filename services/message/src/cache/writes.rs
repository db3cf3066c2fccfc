//! After-commit writes: new messages (with their events) and status changes.

use std::collections::BTreeMap;

use fred::{
    interfaces::{ClientLike, PubsubInterface},
    types::Value,
};
use totilove_common::{
    MessageStatus,
    events::{Event, user_channel},
};

use super::{Cache, HISTORY_CAP, chat_key, conversations_key, entry, scripts, ticket_key};
use crate::domain::{Message, Pair};

/// The arguments of one `round.lua` call, built batch by batch: what every
/// committed message does to the cache, and its two events.
#[derive(Default)]
pub(crate) struct MessagesRound {
    /// Per segment: its list and the list's ticket.
    list_keys: Vec<String>,
    /// Per segment: the id before it, n, n entries.
    segments: Vec<Value>,
    entries: usize,
    /// person → other → last activity (ms)
    activity: BTreeMap<i64, BTreeMap<i64, i64>>,
    /// Per event: channel, prev_id, entry index, traceparent ("": none).
    events: Vec<Value>,
    /// The messages' "Publish a message" spans: they end with the round.
    spans: Vec<tracing::Span>,
}

/// Values per event in `events`.
const EVENT_ARGS: usize = 4;

impl MessagesRound {
    /// Adds one conversation's part of a committed batch (oldest first);
    /// `before` is the conversation's message before it (0: none). Answers
    /// the entry index of the first message (the others follow).
    pub(crate) fn segment(&mut self, pair: Pair, before: i64, messages: &[&Message]) -> usize {
        let key = chat_key(pair);
        self.list_keys.push(ticket_key(&key));
        self.list_keys.insert(self.list_keys.len() - 1, key);
        self.segments.push(before.into());
        self.segments.push((messages.len() as i64).into());
        self.segments
            .extend(messages.iter().map(|m| Value::from(entry(m))));
        for m in messages {
            let at = m.created_at.timestamp_millis();
            self.activity
                .entry(m.sender_id)
                .or_default()
                .insert(m.receiver_id, at);
            self.activity
                .entry(m.receiver_id)
                .or_default()
                .insert(m.sender_id, at);
        }
        let first = self.entries + 1;
        self.entries += messages.len();
        first
    }

    /// The events of entry `index`: one to each `(person, prev_id)`, chained
    /// to that previous message, with the message's `traceparent` if traced
    /// (one string, shared by both events).
    pub(crate) fn events(
        &mut self,
        index: usize,
        to: [(i64, i64); 2],
        traceparent: Option<String>,
    ) {
        let traceparent = traceparent.map_or(Value::from_static_str(""), Value::from);
        for (person, prev_id) in to {
            self.events.push(user_channel(person).into());
            self.events.push(prev_id.into());
            self.events.push((index as i64).into());
            self.events.push(traceparent.clone());
        }
    }

    /// Spans to end when the round is done (published or failed).
    pub(crate) fn keep_spans(&mut self, spans: Vec<tracing::Span>) {
        self.spans.extend(spans);
    }

    pub(crate) fn messages(&self) -> usize {
        self.entries
    }

    /// Every cache key the round writes.
    fn cache_keys(&self) -> impl Iterator<Item = String> + '_ {
        let lists = self.list_keys.iter().step_by(2).cloned();
        lists.chain(self.activity.keys().map(|&p| conversations_key(p)))
    }
}

impl Cache {
    /// Runs a round in one call; when it fails, its keys become dirty and
    /// its events are lost (subscribers repair gaps by sync).
    pub(crate) async fn write_messages(&self, round: MessagesRound) {
        let Some(client) = self.client() else {
            self.dirty.mark(round.cache_keys());
            return;
        };
        let mut keys = round.list_keys.clone();
        let mut args: Vec<Value> = Vec::with_capacity(
            4 + round.segments.len() + round.events.len() + 2 * round.activity.len(),
        );
        args.push(self.ttl_secs.into());
        args.push((HISTORY_CAP as i64).into());
        args.push(((round.list_keys.len() / 2) as i64).into());
        args.extend(round.segments.iter().cloned());
        args.push((round.activity.len() as i64).into());
        for (&person, others) in &round.activity {
            let key = conversations_key(person);
            keys.push(key.clone());
            keys.push(ticket_key(&key));
            args.push((others.len() as i64).into());
            for (&other, &at) in others {
                args.push(at.into());
                args.push(other.into());
            }
        }
        args.push(((round.events.len() / EVENT_ARGS) as i64).into());
        args.extend(round.events.iter().cloned());
        let written: Result<i64, _> = scripts::ROUND.evalsha_with_reload(client, keys, args).await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "after-commit cache writes and events failed");
            self.dirty.mark(round.cache_keys());
        }
    }

    /// After committed marks: for each, the cached statuses of the sender's
    /// messages up to its bound and the `status` event to the sender, all in
    /// one round trip.
    pub(crate) async fn write_statuses(&self, changes: &[StatusChange<'_>]) {
        let keys_of = |c: &StatusChange<'_>| {
            let key = chat_key(c.pair);
            [key.clone(), ticket_key(&key)]
        };
        let Some(client) = self.client() else {
            self.dirty.mark(changes.iter().map(|c| chat_key(c.pair)));
            return;
        };
        let args_of = |c: &StatusChange<'_>| -> Vec<Value> {
            vec![c.sender.into(), c.bound.into(), c.status.as_str().into()]
        };
        let pipeline = client.pipeline();
        // Where each change's script answer lands among the pipeline's.
        let mut at = Vec::with_capacity(changes.len());
        let mut queued = 0;
        for c in changes {
            at.push(queued);
            queued += 1 + usize::from(c.event.is_some());
            let (command, all) =
                scripts::evalsha_command(&scripts::STATUS, &keys_of(c), &args_of(c));
            let _: Result<(), _> = pipeline.custom(command, all).await;
            if let Some(event) = c.event {
                let _: Result<(), _> = pipeline
                    .publish(user_channel(c.sender), event.to_json())
                    .await;
            }
        }
        let results = pipeline.try_all::<Value>().await;
        for (c, i) in changes.iter().zip(at) {
            match results.get(i) {
                Some(Ok(_)) => {}
                Some(Err(e)) if scripts::is_noscript(e) => {
                    let retried: Result<i64, _> = scripts::STATUS
                        .evalsha_with_reload(client, keys_of(c).to_vec(), args_of(c))
                        .await;
                    if retried.is_err() {
                        self.dirty.mark([chat_key(c.pair)]);
                    }
                }
                _ => self.dirty.mark([chat_key(c.pair)]),
            }
        }
    }
}

/// One committed mark as the cache and the sender see it.
pub(crate) struct StatusChange<'a> {
    pub pair: Pair,
    /// Whose messages changed (and who is told).
    pub sender: i64,
    pub bound: i64,
    pub status: MessageStatus,
    /// The sender's `status` event; `None` when it must not be told (a
    /// block between the two).
    pub event: Option<&'a Event>,
}
