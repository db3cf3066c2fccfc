//! The writer: every new message goes through one task that stores whatever
//! is queued in one transaction (group commit).
//!
//! Why one writer: ids must grow in commit order for every person, or a
//! reader holding "everything up to id L" could later meet a message with a
//! smaller id that committed late (a plain sequence hands out ids before the
//! commit). The writer takes its ids from the one `id_allocator` row and
//! holds that row's lock until COMMIT, so the next batch (from this process
//! or another instance) gets larger ids and commits later. Batching makes
//! that serial path fast: one transaction, one fsync for hundreds of
//! messages, while a lone message is never kept waiting for company.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use totilove_kit::{Code, Error};
use uuid::Uuid;

use crate::{
    domain::{Message, NewMessage, Pair, Status},
    fanout::{Committed, Fanout},
    store::{Store, db_error},
};

#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// Messages waiting for the writer; beyond, sends are refused at once
    /// (503) rather than queued without bound.
    pub queue_capacity: usize,
    /// The most messages stored in one transaction.
    pub max_batch: usize,
    /// A batch's transaction finishes (or fails with 503) within this.
    pub timeout: Duration,
}

/// The outcome of a send.
#[derive(Clone, Debug)]
pub struct Sent {
    pub message: Message,
    /// False when this was a retry answered with the stored message.
    pub created: bool,
}

struct Submission {
    message: NewMessage,
    reply: oneshot::Sender<Result<Sent, Error>>,
}

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Submission>,
}

impl Writer {
    pub fn spawn(db: PgPool, fanout: Fanout, settings: WriterSettings) -> (Self, JoinHandle<()>) {
        let (queue, queued) = mpsc::channel(settings.queue_capacity.max(1));
        let task = tokio::spawn(run(queued, db, fanout, settings));
        (Self { queue }, task)
    }

    /// Stores `message`; answers only after COMMIT.
    pub async fn send(&self, message: NewMessage) -> Result<Sent, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Submission { message, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    tracing::warn!("send queue full; refusing a message");
                    Error::new(
                        Code::Unavailable,
                        "the message service is overloaded, try again shortly",
                    )
                }
                mpsc::error::TrySendError::Closed(_) => Error::unavailable("the message store"),
            })?;
        answer
            .await
            .map_err(|_| Error::unavailable("the message store"))?
    }
}

async fn run(
    mut queue: mpsc::Receiver<Submission>,
    db: PgPool,
    fanout: Fanout,
    settings: WriterSettings,
) {
    let mut batch = Vec::with_capacity(settings.max_batch);
    let mut clock = BatchClock::default();
    // Takes everything queued (at least one, without waiting for more).
    while queue.recv_many(&mut batch, settings.max_batch.max(1)).await > 0 {
        // A caller that gave up was told nothing was stored: keep it so.
        batch.retain(|s: &Submission| !s.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let created_at = clock.next();
        let started = std::time::Instant::now();
        // The statement timeout bounds each statement; this bounds the whole
        // transaction (connection included), whatever the network does.
        let persisted = tokio::time::timeout(
            settings.timeout,
            persist(&db, &batch, created_at, settings.timeout),
        )
        .await;
        match persisted {
            Ok(Ok(Persisted {
                outcomes,
                committed,
            })) => {
                tracing::debug!(
                    size = batch.len(),
                    stored = committed.messages.len(),
                    took_us = started.elapsed().as_micros() as u64,
                    "batch committed"
                );
                for (submission, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = submission.reply.send(outcome);
                }
                if !committed.messages.is_empty() {
                    fanout.push(committed);
                }
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => db_error(e),
                    _ => {
                        tracing::warn!("storing a batch of messages timed out");
                        Error::unavailable("the database")
                    }
                };
                for submission in batch.drain(..) {
                    let _ = submission.reply.send(Err(error.clone()));
                }
                // While PostgreSQL is unreachable, whatever queued meanwhile
                // would wait for its own timeout too: answer it now.
                if error.code == Code::Unavailable {
                    while let Ok(submission) = queue.try_recv() {
                        let _ = submission.reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }
}

/// Message times: milliseconds (what the API shows, so a cached copy is
/// exact) that never go backwards from one batch to the next.
#[derive(Default)]
struct BatchClock {
    last: Option<DateTime<Utc>>,
}

impl BatchClock {
    fn next(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let next = self.last.map_or(now, |last| last.max(now));
        self.last = Some(next);
        next
    }
}

struct Persisted {
    /// One per submission, in order.
    outcomes: Vec<Result<Sent, Error>>,
    committed: Committed,
}

type Key = (i64, Uuid);

fn key_of(m: &NewMessage) -> Key {
    (m.sender.get(), m.client_msg_id.get())
}

#[tracing::instrument(name = "Persist a batch of messages", skip_all, fields(size = batch.len()))]
async fn persist(
    db: &PgPool,
    batch: &[Submission],
    created_at: DateTime<Utc>,
    timeout: Duration,
) -> Result<Persisted, sqlx::Error> {
    // A client_msg_id repeated within the batch: the first one counts, the
    // others are answered like retries of it.
    let mut first: HashMap<Key, usize> = HashMap::with_capacity(batch.len());
    let mut unique: Vec<&NewMessage> = Vec::with_capacity(batch.len());
    for (i, submission) in batch.iter().enumerate() {
        first.entry(key_of(&submission.message)).or_insert_with(|| {
            unique.push(&submission.message);
            i
        });
    }

    let mut tx = db.begin_with(Store::begin_statement(timeout)).await?;
    // Ids come from the allocator row, whose lock is held until COMMIT (see
    // the module comment); the n-th new message gets the n-th id.
    let (last_id, inserted): (i64, Vec<i64>) = sqlx::query_as(
        "WITH allocated AS (
            UPDATE id_allocator SET last_id = last_id + $5 RETURNING last_id
         ), new AS (
            SELECT (SELECT last_id FROM allocated) - $5 + n AS id,
                   sender_id, receiver_id, content, client_msg_id
            FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::uuid[])
                 WITH ORDINALITY AS u(sender_id, receiver_id, content, client_msg_id, n)
         ), inserted AS (
            INSERT INTO messages (id, sender_id, receiver_id, content, client_msg_id, created_at)
            SELECT id, sender_id, receiver_id, content, client_msg_id, $6 FROM new
            ON CONFLICT (sender_id, client_msg_id) DO NOTHING
            RETURNING id
         )
         SELECT (SELECT last_id FROM allocated), ARRAY(SELECT id FROM inserted)",
    )
    .bind(unique.iter().map(|m| m.sender.get()).collect::<Vec<_>>())
    .bind(unique.iter().map(|m| m.receiver.get()).collect::<Vec<_>>())
    .bind(
        unique
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        unique
            .iter()
            .map(|m| m.client_msg_id.get())
            .collect::<Vec<_>>(),
    )
    .bind(unique.len() as i64)
    .bind(created_at)
    .fetch_one(&mut *tx)
    .await?;
    let ids = last_id - unique.len() as i64 + 1..=last_id;
    let inserted: HashSet<i64> = inserted.into_iter().collect();

    // What each key stands for now: the new message, or the stored one a
    // retry hit (its ids stay unused: harmless gaps, as prev_id comes from
    // user_heads, not from id arithmetic).
    let mut winners: HashMap<Key, (Message, bool)> = HashMap::with_capacity(unique.len());
    let mut new_messages = Vec::with_capacity(inserted.len());
    let mut retried: Vec<Key> = Vec::new();
    for (m, id) in unique.iter().zip(ids) {
        if inserted.contains(&id) {
            let message = Message {
                id,
                sender_id: m.sender.get(),
                receiver_id: m.receiver.get(),
                content: m.content.as_str().to_owned(),
                client_msg_id: m.client_msg_id.get(),
                status: Status::Sent,
                created_at,
            };
            new_messages.push(message.clone());
            winners.insert(key_of(m), (message, true));
        } else {
            retried.push(key_of(m));
        }
    }
    if !retried.is_empty() {
        let stored: Vec<Message> = sqlx::query_as(
            "SELECT id, sender_id, receiver_id, content, client_msg_id, status, created_at
             FROM messages
             JOIN UNNEST($1::bigint[], $2::uuid[]) AS k(sender_id, client_msg_id)
                  USING (sender_id, client_msg_id)",
        )
        .bind(retried.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(retried.iter().map(|k| k.1).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        for message in stored {
            winners.insert((message.sender_id, message.client_msg_id), (message, false));
        }
    }

    let (pair_before, head_before) = if new_messages.is_empty() {
        Default::default()
    } else {
        record_activity(&mut tx, &new_messages, created_at).await?
    };
    tx.commit().await?;

    let outcomes = batch
        .iter()
        .enumerate()
        .map(|(i, submission)| {
            let m = &submission.message;
            let key = key_of(m);
            let Some((stored, created)) = winners.get(&key) else {
                return Err(Error::internal("a conflicting message was not found"));
            };
            if *created && first.get(&key) == Some(&i) {
                Ok(Sent {
                    message: stored.clone(),
                    created: true,
                })
            } else if stored.receiver_id == m.receiver.get() && stored.content == m.content.as_str()
            {
                Ok(Sent {
                    message: stored.clone(),
                    created: false,
                })
            } else {
                Err(Error::new(
                    Code::IdempotencyMismatch,
                    "client_msg_id was already used for another recipient or content",
                ))
            }
        })
        .collect();
    Ok(Persisted {
        outcomes,
        committed: Committed {
            messages: new_messages,
            pair_before,
            head_before,
        },
    })
}

/// Updates both people's conversation rows (last message, activity, the
/// receiver's unread count) and their heads, returning what they were before:
/// each conversation's previous message and each person's previous message.
async fn record_activity(
    tx: &mut Transaction<'static, Postgres>,
    messages: &[Message],
    at: DateTime<Utc>,
) -> Result<(HashMap<Pair, i64>, HashMap<i64, i64>), sqlx::Error> {
    // (user, other) → (last message id, newly unread); sorted, so rows are
    // locked in the same order every time.
    let mut rows: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    let mut heads: BTreeMap<i64, i64> = BTreeMap::new();
    for m in messages {
        let sender_row = rows.entry((m.sender_id, m.receiver_id)).or_default();
        sender_row.0 = sender_row.0.max(m.id);
        let receiver_row = rows.entry((m.receiver_id, m.sender_id)).or_default();
        receiver_row.0 = receiver_row.0.max(m.id);
        receiver_row.1 += 1;
        for person in [m.sender_id, m.receiver_id] {
            let head = heads.entry(person).or_default();
            *head = (*head).max(m.id);
        }
    }

    // (kind, user, other, last message id) as they were before.
    let before: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "WITH rows AS (
            SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
                AS r(user_id, other_id, last_message_id, unread)
         ), conversations_before AS (
            SELECT c.user_id, c.other_id, c.last_message_id
            FROM conversations c JOIN rows USING (user_id, other_id)
         ), conversations_upsert AS (
            INSERT INTO conversations AS c
                (user_id, other_id, last_message_id, last_activity, unread_count)
            SELECT user_id, other_id, last_message_id, $5, unread FROM rows
            ON CONFLICT (user_id, other_id) DO UPDATE SET
                last_message_id = GREATEST(c.last_message_id, excluded.last_message_id),
                last_activity = GREATEST(c.last_activity, excluded.last_activity),
                unread_count = c.unread_count + excluded.unread_count
         ), heads_before AS (
            SELECT user_id, last_message_id FROM user_heads WHERE user_id = ANY($6)
         ), heads_upsert AS (
            INSERT INTO user_heads AS h (user_id, last_message_id)
            SELECT * FROM UNNEST($6::bigint[], $7::bigint[])
            ON CONFLICT (user_id) DO UPDATE
                SET last_message_id = GREATEST(h.last_message_id, excluded.last_message_id)
         )
         SELECT 'conversation', user_id, other_id, last_message_id FROM conversations_before
         UNION ALL
         SELECT 'head', user_id, 0, last_message_id FROM heads_before",
    )
    .bind(rows.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(rows.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(rows.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(rows.values().map(|v| v.1).collect::<Vec<_>>())
    .bind(at)
    .bind(heads.keys().copied().collect::<Vec<_>>())
    .bind(heads.values().copied().collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut pair_before = HashMap::new();
    let mut head_before = HashMap::new();
    for (kind, user, other, last) in before {
        if kind == "head" {
            head_before.insert(user, last);
        } else {
            pair_before.insert(Pair::new(user, other), last);
        }
    }
    Ok((pair_before, head_before))
}
