//! PostgreSQL reads and the delivered/read marks (the writes of new messages
//! are the writer's, in `writer.rs`).

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use totilove_common::{Error, MessageStatus};
use uuid::Uuid;

use crate::domain::{Cursor, HistoryQuery, Message, Page, Pair, UserId};

/// The most conversations listed at once (the API has no paging for them).
pub(crate) const MAX_CONVERSATIONS: i64 = 1000;

#[derive(Clone)]
pub(crate) struct Store {
    db: PgPool,
    /// Every database call finishes within this (then: 503), whatever the
    /// network does; transactions also tell PostgreSQL to give up by then.
    timeout: Duration,
}

/// A message as PostgreSQL answers it, its status a code. Read from the view
/// `messages_with_status`, whose columns PostgreSQL reports as nullable: the
/// queries mark them `!` (every one is set for a message).
pub(crate) struct MessageRow {
    pub id: i64,
    pub sender_id: i64,
    pub receiver_id: i64,
    pub content: String,
    pub client_msg_id: Uuid,
    pub status: i16,
    pub created_at: DateTime<Utc>,
}

/// An unknown status code fails as a column that does not decode would.
impl TryFrom<MessageRow> for Message {
    type Error = sqlx::Error;

    fn try_from(row: MessageRow) -> Result<Self, sqlx::Error> {
        Ok(Message {
            id: row.id,
            sender_id: row.sender_id,
            receiver_id: row.receiver_id,
            content: row.content,
            client_msg_id: row.client_msg_id,
            status: MessageStatus::try_from(row.status)
                .map_err(|e| sqlx::Error::Decode(e.into()))?,
            created_at: row.created_at,
        })
    }
}

/// `rows` as messages.
fn messages(rows: Vec<MessageRow>) -> Result<Vec<Message>, Error> {
    rows.into_iter()
        .map(Message::try_from)
        .collect::<Result<_, _>>()
        .map_err(db_error)
}

/// One conversation as its person sees it.
#[derive(Debug)]
pub(crate) struct Conversation {
    pub other_id: i64,
    pub unread_count: i64,
    pub last_message: Message,
}

/// A delivered/read mark asked for: `with`'s messages to `reader` up to `up_to_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub reader: UserId,
    pub with: UserId,
    pub up_to_id: i64,
}

/// What a batch of marks records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkKind {
    /// The messages reached the reader.
    Delivered,
    /// The reader read them; `receipts`: their sender may see it (the
    /// reader's `send_read_receipts`). Without, the reader's unread count
    /// drops but the sender sees the messages delivered, never read.
    Read { receipts: bool },
}

impl MarkKind {
    /// The status the senders are shown the messages take.
    pub(crate) fn shown(self) -> MessageStatus {
        match self {
            MarkKind::Read { receipts: true } => MessageStatus::Read,
            MarkKind::Delivered | MarkKind::Read { receipts: false } => MessageStatus::Delivered,
        }
    }
}

/// What a delivered/read mark changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marked {
    pub reader: i64,
    /// The sender whose messages changed.
    pub with: i64,
    /// Every message of the sender to the reader up to this id has the
    /// status now (the requested id, capped at the conversation's newest).
    pub bound: i64,
    /// The highest id whose status changed now.
    pub changed_up_to_id: i64,
}

impl Store {
    pub(crate) fn new(db: PgPool, timeout: Duration) -> Self {
        Self { db, timeout }
    }

    /// The pool, for queries kept next to their use elsewhere (`reports`).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.db
    }

    /// Runs `work` within the store's deadline; a database failure or a
    /// missed deadline becomes our error (503 while it cannot serve).
    pub(crate) async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(done) => done.map_err(db_error),
            Err(_) => {
                tracing::warn!("PostgreSQL did not answer in time");
                Err(Error::unavailable("the database"))
            }
        }
    }

    /// A conversation's newest `limit` messages, oldest first.
    pub(crate) async fn newest(&self, pair: Pair, limit: usize) -> Result<Vec<Message>, Error> {
        let rows = self
            .bounded(
                sqlx::query_as!(
                    MessageRow,
                    r#"SELECT id AS "id!", sender_id AS "sender_id!", receiver_id AS "receiver_id!",
                            content AS "content!", client_msg_id AS "client_msg_id!",
                            status AS "status!", created_at AS "created_at!"
                     FROM messages_with_status
                     WHERE LEAST(sender_id, receiver_id) = $1
                       AND GREATEST(sender_id, receiver_id) = $2
                     ORDER BY id DESC
                     LIMIT $3"#,
                    pair.lo,
                    pair.hi,
                    limit as i64,
                )
                .fetch_all(&self.db),
            )
            .await?;
        let mut rows = messages(rows)?;
        rows.reverse();
        Ok(rows)
    }

    /// A page of history straight from PostgreSQL.
    pub(crate) async fn history(&self, q: &HistoryQuery) -> Result<Page, Error> {
        let (id, newest_first) = match q.cursor {
            Cursor::Newest => (i64::MAX, true),
            Cursor::Before(id) => (id, true),
            Cursor::After(id) => (id, false),
        };
        let rows = if newest_first {
            self.bounded(
                sqlx::query_as!(
                    MessageRow,
                    r#"SELECT id AS "id!", sender_id AS "sender_id!", receiver_id AS "receiver_id!",
                            content AS "content!", client_msg_id AS "client_msg_id!",
                            status AS "status!", created_at AS "created_at!"
                     FROM messages_with_status
                     WHERE LEAST(sender_id, receiver_id) = $1
                       AND GREATEST(sender_id, receiver_id) = $2
                       AND id < $3
                     ORDER BY id DESC
                     LIMIT $4"#,
                    q.pair.lo,
                    q.pair.hi,
                    id,
                    q.limit as i64 + 1,
                )
                .fetch_all(&self.db),
            )
            .await?
        } else {
            self.bounded(
                sqlx::query_as!(
                    MessageRow,
                    r#"SELECT id AS "id!", sender_id AS "sender_id!", receiver_id AS "receiver_id!",
                            content AS "content!", client_msg_id AS "client_msg_id!",
                            status AS "status!", created_at AS "created_at!"
                     FROM messages_with_status
                     WHERE LEAST(sender_id, receiver_id) = $1
                       AND GREATEST(sender_id, receiver_id) = $2
                       AND id > $3
                     ORDER BY id
                     LIMIT $4"#,
                    q.pair.lo,
                    q.pair.hi,
                    id,
                    q.limit as i64 + 1,
                )
                .fetch_all(&self.db),
            )
            .await?
        };
        let mut rows = messages(rows)?;
        let has_more = rows.len() > q.limit;
        rows.truncate(q.limit);
        if newest_first {
            rows.reverse();
        }
        Ok(Page {
            messages: rows,
            has_more,
        })
    }

    /// Every message to or from `user` with id > `after`, in id order: up to
    /// `limit`, and whether more remain.
    pub(crate) async fn sync(
        &self,
        user: UserId,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<Message>, bool), Error> {
        // Two index range scans (sent, received) merged; nobody messages
        // themselves, so no message is in both.
        let rows = self
            .bounded(
                sqlx::query_as!(
                    MessageRow,
                    r#"SELECT id AS "id!", sender_id AS "sender_id!", receiver_id AS "receiver_id!",
                            content AS "content!", client_msg_id AS "client_msg_id!",
                            status AS "status!", created_at AS "created_at!" FROM (
                        (SELECT id, sender_id, receiver_id, content, client_msg_id, status, created_at
                         FROM messages_with_status WHERE sender_id = $1 AND id > $2 ORDER BY id LIMIT $3)
                        UNION ALL
                        (SELECT id, sender_id, receiver_id, content, client_msg_id, status, created_at
                         FROM messages_with_status WHERE receiver_id = $1 AND id > $2 ORDER BY id LIMIT $3)
                     ) both_ways
                     ORDER BY id
                     LIMIT $3"#,
                    user.get(),
                    after,
                    limit as i64 + 1,
                )
                .fetch_all(&self.db),
            )
            .await?;
        let mut rows = messages(rows)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }

    /// `user`'s conversations, newest activity first.
    pub(crate) async fn conversations(&self, user: UserId) -> Result<Vec<Conversation>, Error> {
        let rows = self
            .bounded(
                sqlx::query!(
                    r#"SELECT c.other_id, c.unread_count,
                        m.id AS "id!", m.sender_id AS "sender_id!", m.receiver_id AS "receiver_id!",
                        m.content AS "content!", m.client_msg_id AS "client_msg_id!",
                        m.status AS "status!", m.created_at AS "created_at!"
                 FROM conversations c
                 JOIN messages_with_status m ON m.id = c.last_message_id
                 WHERE c.user_id = $1
                 ORDER BY c.last_message_id DESC
                 LIMIT $2"#,
                    user.get(),
                    MAX_CONVERSATIONS,
                )
                .fetch_all(&self.db),
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let last_message = Message::try_from(MessageRow {
                    id: r.id,
                    sender_id: r.sender_id,
                    receiver_id: r.receiver_id,
                    content: r.content,
                    client_msg_id: r.client_msg_id,
                    status: r.status,
                    created_at: r.created_at,
                })
                .map_err(db_error)?;
                Ok(Conversation {
                    other_id: r.other_id,
                    unread_count: r.unread_count,
                    last_message,
                })
            })
            .collect()
    }

    /// The newest message id to or from `user` (0 when none): where a
    /// gateway's live chain of that person's events starts.
    pub(crate) async fn head(&self, user: UserId) -> Result<i64, Error> {
        let head = self
            .bounded(sqlx::query_scalar!("SELECT head_of($1)", user.get()).fetch_optional(&self.db))
            .await?;
        Ok(head.flatten().unwrap_or(0))
    }

    /// The people `user` shares a conversation with, and the last activity
    /// (ms since the epoch) with each.
    pub(crate) async fn partners(&self, user: UserId) -> Result<Vec<(i64, i64)>, Error> {
        let rows = self
            .bounded(
                sqlx::query!(
                    "SELECT other_id, last_activity FROM conversations WHERE user_id = $1",
                    user.get(),
                )
                .fetch_all(&self.db),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.other_id, r.last_activity.timestamp_millis()))
            .collect())
    }

    /// Records `kind` for each mark's partner's messages to its reader up to
    /// its id (read implies delivered), and takes the newly read ones off the
    /// readers' unread counts, in one transaction and one round trip
    /// (`mark_batch`, see its migrations). Answers the marks that changed
    /// what the senders see (`kind.shown()`).
    pub(crate) async fn mark(&self, marks: &[Mark], kind: MarkKind) -> Result<Vec<Marked>, Error> {
        // Sorted and one per pair: rows are locked in the same order by
        // every caller, and the highest id asked for a pair covers the rest.
        let mut highest: BTreeMap<(i64, i64), i64> = BTreeMap::new();
        for m in marks {
            let up_to = highest.entry((m.reader.get(), m.with.get())).or_default();
            *up_to = (*up_to).max(m.up_to_id);
        }
        // A function's columns have no nullability PostgreSQL reports; the
        // function sets all four of every row it answers.
        let rows = self
            .bounded(
                sqlx::query!(
                    r#"SELECT reader AS "reader!", partner AS "partner!", bound AS "bound!",
                              changed_up_to AS "changed_up_to!"
                       FROM mark_batch($1, $2, $3, $4, $5)"#,
                    &highest.keys().map(|k| k.0).collect::<Vec<_>>(),
                    &highest.keys().map(|k| k.1).collect::<Vec<_>>(),
                    &highest.values().copied().collect::<Vec<_>>(),
                    matches!(kind, MarkKind::Read { .. }),
                    matches!(kind, MarkKind::Read { receipts: true }),
                )
                .fetch_all(&self.db),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Marked {
                reader: r.reader,
                with: r.partner,
                bound: r.bound,
                changed_up_to_id: r.changed_up_to,
            })
            .collect())
    }
}

/// Our error for a PostgreSQL failure: the common crate's mapping (503 while it
/// cannot serve), plus 503 for a transaction PostgreSQL rolled back to break
/// a deadlock or a serialization conflict (class 40): trying again works.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e
        && db.code().is_some_and(|c| c.starts_with("40"))
    {
        tracing::warn!(error = %e, "PostgreSQL rolled a transaction back");
        return Error::unavailable("the database");
    }
    Error::from(e)
}
