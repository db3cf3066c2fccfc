//! Telling the audience: presence changes and typing are resolved to their
//! audience and published on each recipient's channel
//! (`totilove_common::events::user_channel`), the pub/sub path messages ride.
//!
//! Work goes through a few bounded queues, sharded by the person concerned:
//! one worker per shard keeps each person's changes in order (an online
//! followed by an offline is never delivered the other way round), and a
//! slow audience lookup never holds up an RPC. Under pressure the lowest
//! priority goes first: typing is refused once a queue is half full, presence
//! only when it is full (messages do not pass here at all).
//!
//! A person who hides their presence (`show_online` off) is announced to
//! nobody: the worker checks the flag as it publishes, so a change queued
//! just before they hid is not published after. The one exception is
//! [`Notice::Vanished`], the offline that tells their partners they hid.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fred::{
    clients::Pool,
    interfaces::{PubsubInterface, SetsInterface},
    types::Value,
};
use tokio::{
    sync::mpsc::{self, error::TrySendError},
    task::JoinHandle,
};
use totilove_common::{
    events::{Event, UserCard, user_channel},
    redis::HIDDEN_PEOPLE_KEY,
};

use crate::{
    audience::Audience,
    domain::UserId,
    store::{BATCH, to_the_minute},
};

/// A change to announce.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Notice {
    Presence {
        user: UserId,
        online: bool,
        last_seen: Option<DateTime<Utc>>,
    },
    /// `user`, online, just hid their presence: offline with no `last_seen`
    /// (published although they now hide: it is what hides them).
    Vanished { user: UserId },
    Typing {
        user: UserId,
        partner: UserId,
        typing: bool,
    },
    /// `user`'s public card changed: to their audience and themselves.
    Profile { user: UserId, card: UserCard },
    /// `user` blocked (or unblocked) `other`: to the two of them.
    Block {
        user: UserId,
        other: UserId,
        blocked: bool,
    },
}

impl Notice {
    fn user(&self) -> UserId {
        match self {
            Notice::Presence { user, .. }
            | Notice::Vanished { user }
            | Notice::Typing { user, .. }
            | Notice::Profile { user, .. }
            | Notice::Block { user, .. } => *user,
        }
    }
}

#[derive(Clone)]
pub(crate) struct Fanout {
    shards: Arc<[mpsc::Sender<Notice>]>,
    /// Capacity of each shard's queue.
    capacity: usize,
}

impl Fanout {
    /// Starts `shards` workers, each with a queue of `capacity`.
    pub(crate) fn start(
        redis: Pool,
        audience: Arc<Audience>,
        shards: usize,
        capacity: usize,
    ) -> (Self, Vec<JoinHandle<()>>) {
        let capacity = capacity.max(2);
        let (senders, workers): (Vec<_>, Vec<_>) = (0..shards.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(capacity);
                let worker = tokio::spawn(work(rx, redis.clone(), audience.clone()));
                (tx, worker)
            })
            .unzip();
        let fanout = Self {
            shards: senders.into(),
            capacity,
        };
        (fanout, workers)
    }

    /// Queues a notice; false when it was dropped because the queue is too full.
    pub(crate) fn notify(&self, notice: Notice) -> bool {
        let shard = notice.user().get().unsigned_abs() as usize % self.shards.len();
        let queue = &self.shards[shard];
        if matches!(notice, Notice::Typing { .. }) && queue.capacity() <= self.capacity / 2 {
            tracing::debug!("fan-out queue half full; dropping a typing indicator");
            return false;
        }
        match queue.try_send(notice) {
            Ok(()) => true,
            Err(TrySendError::Full(notice)) => {
                tracing::warn!(?notice, "fan-out queue full; dropping a presence change");
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

async fn work(mut queue: mpsc::Receiver<Notice>, redis: Pool, audience: Arc<Audience>) {
    while let Some(notice) = queue.recv().await {
        let (recipients, event) = match notice {
            Notice::Presence {
                user,
                online,
                last_seen,
            } => {
                let recipients = audience.of(user).await;
                // Asked last, just before publishing (and only when there
                // is someone to tell): a hide recorded while the audience
                // was looked up still counts.
                if !recipients.is_empty() && hides(&redis, user).await {
                    continue;
                }
                let event = Event::Presence {
                    user_id: user.get(),
                    online,
                    last_seen: last_seen
                        .map(to_the_minute)
                        .map(totilove_common::time::rfc3339),
                };
                (recipients, event)
            }
            Notice::Vanished { user } => {
                let event = Event::Presence {
                    user_id: user.get(),
                    online: false,
                    last_seen: None,
                };
                (audience.of(user).await, event)
            }
            Notice::Typing {
                user,
                partner,
                typing,
            } => {
                let recipients = if audience.includes(user, partner).await {
                    vec![partner.get()]
                } else {
                    Vec::new()
                };
                let event = Event::Typing {
                    user_id: user.get(),
                    typing,
                };
                (recipients, event)
            }
            Notice::Profile { user, card } => {
                let mut recipients = audience.of(user).await;
                recipients.push(user.get());
                (recipients, Event::Profile { user: card })
            }
            Notice::Block {
                user,
                other,
                blocked,
            } => {
                // Two events, one each: publish the blocker's here.
                let mine = Event::Blocks {
                    user_id: other.get(),
                    blocked,
                };
                if let Err(e) = publish(&redis, &[user.get()], &mine).await {
                    tracing::warn!(error = %e, ?mine, "could not publish an event");
                }
                let theirs = Event::Availability {
                    user_id: user.get(),
                    available: !blocked,
                };
                (vec![other.get()], theirs)
            }
        };
        if let Err(e) = publish(&redis, &recipients, &event).await {
            tracing::warn!(error = %e, ?event, "could not publish an event");
        }
    }
}

/// Whether `user` hides their presence. Unknown (Redis unreachable) counts
/// as hidden: a missed event heals at the next one, a hidden person shown
/// online would not be undone.
async fn hides(redis: &Pool, user: UserId) -> bool {
    let Ok(client) = totilove_common::redis::connected(redis) else {
        return true;
    };
    match client.sismember(HIDDEN_PEOPLE_KEY, user.get()).await {
        Ok(hidden) => hidden,
        Err(e) => {
            tracing::warn!(error = %e, %user, "cannot read whether a person hides; announcing nothing");
            true
        }
    }
}

/// Publishes `event` on every recipient's channel, a round trip per thousand.
async fn publish(
    redis: &Pool,
    recipients: &[i64],
    event: &Event,
) -> Result<(), fred::error::Error> {
    if recipients.is_empty() {
        return Ok(());
    }
    let payload = event.to_json();
    for batch in recipients.chunks(BATCH) {
        let pipeline = redis.next_connected().pipeline();
        for &recipient in batch {
            let () = pipeline
                .publish(user_channel(recipient), payload.as_str())
                .await?;
        }
        let _: Value = pipeline.all().await?;
    }
    Ok(())
}
