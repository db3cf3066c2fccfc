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
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use totilove_common::{
    Code, Error, MessageStatus,
    metrics::seconds_since,
    trace_context::{self, Conversation, TARGET},
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    domain::{Message, NewMessage, Pair},
    fanout::{Committed, Fanout},
    store::{MessageRow, db_error},
};

#[derive(Clone, Debug)]
pub(crate) struct WriterSettings {
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
pub(crate) struct Sent {
    pub message: Message,
    /// False when this was a retry answered with the stored message.
    pub created: bool,
}

struct Submission {
    message: NewMessage,
    reply: oneshot::Sender<Result<Sent, Error>>,
    /// For `totilove_message_send_to_commit_seconds`.
    queued_at: Instant,
    /// "Commit a message": from the queue to the answer, a child of the
    /// request's span (the writer's task has none of its own).
    span: tracing::Span,
}

#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Submission>,
}

impl Writer {
    pub(crate) fn spawn(
        db: PgPool,
        fanout: Fanout,
        settings: WriterSettings,
    ) -> (Self, JoinHandle<()>) {
        let (queue, queued) = mpsc::channel(settings.queue_capacity.max(1));
        let task = tokio::spawn(run(queued, db, fanout, settings));
        (Self { queue }, task)
    }

    /// Stores `message`; answers only after COMMIT.
    pub(crate) async fn send(&self, message: NewMessage) -> Result<Sent, Error> {
        let (reply, answer) = oneshot::channel();
        let (sender, receiver) = (message.sender.get(), message.receiver.get());
        let span = tracing::info_span!(
            target: TARGET,
            "Commit a message",
            user_id = sender,
            conversation = %Conversation::of(sender, receiver),
            message_id = tracing::field::Empty,
        );
        self.queue
            .try_send(Submission {
                message,
                reply,
                queued_at: Instant::now(),
                span,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    metrics::counter!("totilove_message_send_refused_total", "reason" => "queue_full")
                        .increment(1);
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
        // What waits behind this batch: the writer's saturation.
        metrics::gauge!("totilove_message_writer_queue_depth").set(queue.len() as f64);
        if batch.is_empty() {
            continue;
        }
        metrics::histogram!("totilove_message_writer_batch_size").record(batch.len() as f64);
        let created_at = clock.next();
        let started = Instant::now();
        // The batch's own trace, linked to each of its messages' traces.
        let batch_span = tracing::info_span!(target: TARGET, "Commit a batch", size = batch.len());
        for submission in &batch {
            trace_context::link(&batch_span, &submission.span);
        }
        // The statement timeout bounds each statement; this bounds the whole
        // transaction (connection included), whatever the network does.
        let persisted = tokio::time::timeout(
            settings.timeout,
            persist(&db, &batch, created_at).instrument(batch_span),
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
                metrics::histogram!("totilove_message_writer_commit_duration_seconds")
                    .record(seconds_since(started));
                // New messages only: a retry answered with the stored one is not a send.
                metrics::counter!("totilove_messages_committed_total")
                    .increment(committed.messages.len() as u64);
                for (submission, outcome) in batch.drain(..).zip(outcomes) {
                    metrics::histogram!("totilove_message_send_to_commit_seconds")
                        .record(seconds_since(submission.queued_at));
                    if let Ok(sent) = &outcome {
                        submission.span.record("message_id", sent.message.id);
                    }
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

async fn persist(
    db: &PgPool,
    batch: &[Submission],
    created_at: DateTime<Utc>,
) -> Result<Persisted, sqlx::Error> {
    // A client_msg_id repeated within the batch: the first one counts, the
    // others are answered like retries of it.
    let mut first: HashMap<Key, usize> = HashMap::with_capacity(batch.len());
    let mut unique: Vec<&Submission> = Vec::with_capacity(batch.len());
    for (i, submission) in batch.iter().enumerate() {
        first.entry(key_of(&submission.message)).or_insert_with(|| {
            unique.push(submission);
            i
        });
    }

    // One statement, one round trip, one transaction: `store_batch` (see its
    // migration) takes the ids from the allocator row, inserts, records both
    // people's activity and answers what stood before the batch.
    // A function's OUT columns have no nullability PostgreSQL reports; the
    // function sets every one (empty arrays, never NULL).
    let stored = sqlx::query_as!(
        StoredBatch,
        r#"SELECT first_id AS "first_id!", inserted AS "inserted!", pair_lo AS "pair_lo!",
                  pair_hi AS "pair_hi!", pair_before AS "pair_before!",
                  head_people AS "head_people!", head_before AS "head_before!"
         FROM store_batch($1, $2, $3, $4, $5)"#,
        &unique
            .iter()
            .map(|s| s.message.sender.get())
            .collect::<Vec<_>>(),
        &unique
            .iter()
            .map(|s| s.message.receiver.get())
            .collect::<Vec<_>>(),
        // Borrowed, not copied (`&[&str]` encodes as text[] too; the macro
        // only knows `&[String]`).
        &unique
            .iter()
            .map(|s| s.message.content.as_str())
            .collect::<Vec<_>>() as _,
        &unique
            .iter()
            .map(|s| s.message.client_msg_id.get())
            .collect::<Vec<_>>(),
        created_at,
    )
    .fetch_one(db)
    .await?;
    let first_id = stored.first_id;
    let inserted: HashSet<i64> = stored.inserted.iter().copied().collect();
    let ids = first_id..first_id + unique.len() as i64;

    // What each key stands for now: the new message, or the stored one a
    // retry hit (its ids stay unused: harmless gaps, as prev_id comes from
    // user_heads, not from id arithmetic).
    let mut winners: HashMap<Key, (Message, bool)> = HashMap::with_capacity(unique.len());
    let mut new_messages = Vec::with_capacity(inserted.len());
    // Only when traced (no allocation otherwise): the spans are disabled
    // together, by their target.
    let traced = batch.iter().any(|s| !s.span.is_disabled());
    let mut publishing = Vec::new();
    let mut retried: Vec<Key> = Vec::new();
    for (submission, id) in unique.iter().zip(ids) {
        let m = &submission.message;
        if inserted.contains(&id) {
            if traced {
                // Ends once the fan-out published its events (see `fanout`).
                publishing.push(tracing::info_span!(
                    target: TARGET,
                    parent: &submission.span,
                    "Publish a message",
                    message_id = id,
                ));
            }
            let message = Message {
                id,
                sender_id: m.sender.get(),
                receiver_id: m.receiver.get(),
                content: m.content.as_str().to_owned(),
                client_msg_id: m.client_msg_id.get(),
                status: MessageStatus::Sent,
                created_at,
            };
            new_messages.push(message.clone());
            winners.insert(key_of(m), (message, true));
        } else {
            retried.push(key_of(m));
        }
    }
    if !retried.is_empty() {
        // Stored earlier (committed, and a stored message never changes).
        let stored = sqlx::query_as!(
            MessageRow,
            r#"SELECT id AS "id!", sender_id AS "sender_id!", receiver_id AS "receiver_id!",
                      content AS "content!", client_msg_id AS "client_msg_id!",
                      status AS "status!", created_at AS "created_at!"
             FROM messages_with_status
             JOIN UNNEST($1::bigint[], $2::uuid[]) AS k(sender_id, client_msg_id)
                  USING (sender_id, client_msg_id)"#,
            &retried.iter().map(|k| k.0).collect::<Vec<_>>(),
            &retried.iter().map(|k| k.1).collect::<Vec<_>>(),
        )
        .fetch_all(db)
        .await?;
        for row in stored {
            let message = Message::try_from(row)?;
            winners.insert((message.sender_id, message.client_msg_id), (message, false));
        }
    }

    let pair_before: HashMap<Pair, i64> = stored
        .pair_lo
        .iter()
        .zip(&stored.pair_hi)
        .zip(&stored.pair_before)
        .map(|((lo, hi), before)| (Pair::new(*lo, *hi), *before))
        .collect();
    let head_before: HashMap<i64, i64> = stored
        .head_people
        .iter()
        .copied()
        .zip(stored.head_before.iter().copied())
        .collect();

    let outcomes = batch
        .iter()
        .enumerate()
        .map(|(i, submission)| {
            let m = &submission.message;
            let key = key_of(m);
            let Some((stored, created)) = winners.get(&key) else {
                return Err(Error::internal(anyhow::anyhow!(
                    "a conflicting message was not found"
                )));
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
            publishing,
        },
    })
}

/// What `store_batch` answers (see its migration).
struct StoredBatch {
    first_id: i64,
    inserted: Vec<i64>,
    pair_lo: Vec<i64>,
    pair_hi: Vec<i64>,
    pair_before: Vec<i64>,
    head_people: Vec<i64>,
    head_before: Vec<i64>,
}
