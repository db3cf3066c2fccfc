//! The Redis cache: each conversation's newest messages and each person's
//! conversation set, written after the PostgreSQL commit, read before it.
//!
//! The rule is "the cache may lag; it may never answer wrong". Three
//! mechanisms keep it, all in Lua scripts so each check-and-write is atomic:
//! - a batch is appended to a conversation's list only where the list ends
//!   exactly at the conversation's previous message (`round.lua`); a list that
//!   missed a batch is dropped, so a cached list is always a contiguous run
//!   ending at some committed point; a status change applies itself only to a
//!   list that already holds every message it covers (`status.lua`);
//! - a reader that finds a key missing fills it from PostgreSQL only if no
//!   change touched the key since it took its *fill ticket* (every change
//!   deletes the ticket), so a fill never writes a reading older than a change
//!   that was already applied (`read.lua`, `fill_*.lua`); a restarted Redis has
//!   no ticket, so a fill that started before the restart is refused too;
//! - a write that fails marks the key dirty in-process: this process stops
//!   reading it and deletes it (with its ticket) until that succeeds.

mod dirty;
pub(crate) mod scripts;
mod writes;

use std::{iter, sync::Arc, time::Duration};

use futures::StreamExt;

use fred::{
    clients::{Client, Pool as RedisPool},
    interfaces::KeysInterface,
    types::{Value, scripts::Script},
};

use dirty::Cleanup;
pub(crate) use dirty::DirtyKeys;
pub(crate) use writes::{MessagesRound, StatusChange};

use crate::domain::{Message, Pair};

/// How many of a conversation's newest messages are cached.
pub(crate) const HISTORY_CAP: usize = 100;
/// How long a reader's fill ticket lives (a fill takes milliseconds).
const TICKET_TTL_SECS: i64 = 30;

/// A conversation's cached newest messages, oldest first.
pub(crate) fn chat_key(pair: Pair) -> String {
    format!("chat:{}:{}:messages", pair.lo, pair.hi)
}

/// A person's conversation partners, scored by last activity (ms).
pub(crate) fn conversations_key(user: i64) -> String {
    format!("user:{user}:conversations")
}

fn ticket_key(key: &str) -> String {
    format!("{key}:fill")
}

#[derive(Clone)]
pub(crate) struct Cache {
    redis: RedisPool,
    dirty: Arc<DirtyKeys>,
    ttl_secs: i64,
}

/// What a reader found: the cached items (empty when missing) and the ticket
/// to present when filling a missing key.
pub(crate) struct Reading {
    pub ticket: String,
    pub items: Vec<String>,
}

impl Cache {
    pub(crate) fn new(redis: RedisPool, ttl: Duration) -> Self {
        Self {
            redis,
            dirty: Arc::new(DirtyKeys::default()),
            ttl_secs: ttl.as_secs().clamp(1, i64::MAX as u64) as i64,
        }
    }

    pub(crate) fn dirty(&self) -> &DirtyKeys {
        &self.dirty
    }

    /// A connected client, or `None` at once while Redis is unreachable (the
    /// caller falls back instead of waiting for a command timeout).
    fn client(&self) -> Option<&Client> {
        totilove_common::redis::connected(&self.redis).ok()
    }

    /// A conversation's cached window, oldest first, or the ticket to fill it.
    /// `None` when the cache cannot be used.
    pub(crate) async fn history(&self, pair: Pair) -> Option<(Reading, Vec<Message>)> {
        let reading = self.read(chat_key(pair), "list").await?;
        let window: Option<Vec<Message>> = reading
            .items
            .iter()
            .map(|raw| serde_json::from_str(raw).ok().and_then(Message::from_json))
            .collect();
        match window {
            Some(window) => Some((reading, window)),
            None => {
                tracing::warn!(?pair, "unreadable cached history; dropping it");
                self.dirty.mark([chat_key(pair)]);
                None
            }
        }
    }

    /// Fills a conversation's window from a PostgreSQL reading made after
    /// `ticket` was taken, in the background (the answer does not wait).
    pub(crate) fn fill_history(&self, pair: Pair, ticket: String, window: &[Message]) {
        if window.is_empty() {
            return;
        }
        let mut args: Vec<Value> = vec![ticket.into(), self.ttl_secs.into()];
        args.extend(window.iter().map(|m| entry(m).into()));
        self.fill(&scripts::FILL_LIST, chat_key(pair), args);
    }

    /// A person's cached conversation partners, or the ticket to fill them.
    pub(crate) async fn partners(&self, user: i64) -> Option<(Reading, Vec<i64>)> {
        let reading = self.read(conversations_key(user), "set").await?;
        let partners = reading
            .items
            .iter()
            .filter_map(|m| m.parse().ok())
            .filter(|&id: &i64| id > 0)
            .collect();
        Some((reading, partners))
    }

    /// Fills a person's partner set (`(other, last activity ms)`).
    pub(crate) fn fill_partners(&self, user: i64, ticket: String, partners: &[(i64, i64)]) {
        let mut args: Vec<Value> = vec![ticket.into(), self.ttl_secs.into()];
        for &(other, activity_ms) in partners {
            args.push(activity_ms.into());
            args.push(other.into());
        }
        self.fill(&scripts::FILL_SET, conversations_key(user), args);
    }

    async fn read(&self, key: String, kind: &'static str) -> Option<Reading> {
        if self.dirty.contains(&key) {
            return None;
        }
        let client = self.client()?;
        let ticket = format!("{:016x}", rand::random::<u64>());
        let ticket_key = ticket_key(&key);
        let answer: Result<(Option<String>, Vec<String>), _> = scripts::READ
            .evalsha_with_reload(
                client,
                vec![key, ticket_key],
                vec![Value::from(ticket), TICKET_TTL_SECS.into(), kind.into()],
            )
            .await;
        match answer {
            Ok((ticket, items)) => Some(Reading {
                ticket: ticket.unwrap_or_default(),
                items,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cache read failed; using PostgreSQL");
                None
            }
        }
    }

    fn fill(&self, script: &'static Script, key: String, args: Vec<Value>) {
        let Some(client) = self.client().cloned() else {
            return;
        };
        tokio::spawn(async move {
            let keys = vec![key.clone(), ticket_key(&key)];
            let filled: Result<i64, _> = script.evalsha_with_reload(&client, keys, args).await;
            if let Err(e) = filled {
                // A fill that failed wrote nothing or everything (scripts are
                // atomic), and what it wrote was checked against its ticket.
                tracing::debug!(error = %e, "cache fill failed");
            }
        });
    }

    /// Deletes dirty keys until that succeeds, forever.
    pub(crate) async fn clean_dirty_forever(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(client) = self.client() else {
                continue;
            };
            match self.dirty.cleanup() {
                Cleanup::Nothing => {}
                Cleanup::Keys(dirty) => {
                    let pipeline = client.pipeline();
                    for (key, _) in &dirty {
                        let _: Result<(), _> =
                            pipeline.del(vec![key.clone(), ticket_key(key)]).await;
                    }
                    let results = pipeline.try_all::<Value>().await;
                    let deleted = results.iter().map(Result::is_ok).chain(iter::repeat(false));
                    let cleaned = dirty
                        .into_iter()
                        .zip(deleted)
                        .filter_map(|(k, ok)| ok.then_some(k));
                    self.dirty.clear(cleaned);
                }
                Cleanup::Everything(seq) => match purge(client).await {
                    Ok(()) => {
                        tracing::info!("cache purged; trusting it again");
                        self.dirty.clear_everything(seq);
                    }
                    Err(e) => tracing::warn!(error = %e, "cache purge failed; will retry"),
                },
            }
        }
    }
}

/// Deletes every key this cache owns (lists, sets and their tickets).
async fn purge(client: &Client) -> Result<(), fred::error::Error> {
    for pattern in ["chat:*", "user:*:conversations*"] {
        let mut keys = client.scan_buffered(pattern, Some(1_000), None).chunks(500);
        while let Some(chunk) = keys.next().await {
            let chunk: Vec<_> = chunk.into_iter().collect::<Result<_, _>>()?;
            let _: i64 = client.del(chunk).await?;
        }
    }
    Ok(())
}

/// One cached entry: the API's JSON of the message.
fn entry(message: &Message) -> String {
    serde_json::to_string(&message.to_json()).unwrap_or_default()
}
