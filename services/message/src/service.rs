//! What the message service does, in domain terms; `api.rs` maps gRPC onto it.

use totilove_common::{Code, Error};

use crate::{
    admission::Admission,
    audit,
    cache::{Cache, HISTORY_CAP},
    domain::{HistoryQuery, MAX_SYNC_BYTES, Message, NewMessage, Page, Pair, UserId},
    fanout::Fanout,
    people::People,
    push::Pusher,
    reports::{NewReport, Reports},
    store::{Conversation, Mark, MarkKind, Marked, Store},
    writer::{Sent, Writer},
};

#[derive(Clone)]
pub(crate) struct Messages {
    pub writer: Writer,
    pub store: Store,
    pub cache: Cache,
    pub people: People,
    pub admission: Admission,
    pub fanout: Fanout,
    pub reports: Reports,
    pub pusher: Pusher,
}

impl Messages {
    /// Stores a validated message once the receiver exists, the sender is
    /// within their rate and neither blocks the other; answers after COMMIT.
    pub(crate) async fn send(&self, message: NewMessage) -> Result<Sent, Error> {
        let admitted = tokio::try_join!(
            self.people.ensure_exists(message.receiver),
            self.admission.admit(message.sender, message.receiver),
        );
        if let Err(e) = admitted {
            if e.code == Code::Blocked {
                audit::send_refused(&self.store, message.sender, message.receiver).await;
            }
            return Err(e);
        }
        self.writer.send(message).await
    }

    /// A page of a conversation: from the cached window when the page lies
    /// wholly inside it, else from PostgreSQL (filling a missing window).
    pub(crate) async fn history(&self, q: HistoryQuery) -> Result<Page, Error> {
        self.people.ensure_exists(q.other).await?;
        let ticket = match self.cache.history(q.pair).await {
            Some((_, window)) if !window.is_empty() => {
                // A full list may have older messages beyond it; a shorter one
                // holds the whole conversation.
                let complete = window.len() < HISTORY_CAP;
                if let Some(page) = Page::from_window(&window, complete, q.cursor, q.limit) {
                    return Ok(page);
                }
                None
            }
            Some((reading, _)) => Some(reading.ticket),
            None => None,
        };
        if let Some(ticket) = ticket {
            let window = self.store.newest(q.pair, HISTORY_CAP).await?;
            self.cache.fill_history(q.pair, ticket, &window);
            let complete = window.len() < HISTORY_CAP;
            if let Some(page) = Page::from_window(&window, complete, q.cursor, q.limit) {
                return Ok(page);
            }
        }
        self.store.history(&q).await
    }

    /// Files a report about someone who exists, within the reporter's
    /// limit; answers the report's id. Blocks play no part: a person may
    /// report someone they blocked, or who blocked them.
    pub(crate) async fn report(&self, report: NewReport) -> Result<i64, Error> {
        self.people.ensure_exists(report.reported).await?;
        self.reports.count(report.reporter).await?;
        self.reports.store(&report).await
    }

    pub(crate) async fn conversations(&self, user: UserId) -> Result<Vec<Conversation>, Error> {
        self.store.conversations(user).await
    }

    /// Marks each mark's partner's messages to its reader; tells each
    /// partner whose messages changed what they see. Answers what changed.
    pub(crate) async fn mark(
        &self,
        marks: Vec<Mark>,
        kind: MarkKind,
    ) -> Result<Vec<Marked>, Error> {
        for m in &marks {
            Pair::of(m.reader, m.with, "with_user_id")?;
            if m.up_to_id < 0 {
                return Err(Error::invalid("up_to_id must not be negative"));
            }
        }
        let marked = self.store.mark(&marks, kind).await?;
        if !marked.is_empty() {
            self.fanout
                .statuses_changed(&marked, kind.shown(), &self.unblocked(&marked).await)
                .await;
        }
        Ok(marked)
    }

    /// Of `marked`, the marks whose two people no block separates: only those
    /// may tell the sender (a `status` event must not cross a block). When
    /// blocks cannot be checked, none.
    async fn unblocked(&self, marked: &[Marked]) -> Vec<bool> {
        let pairs: Vec<Pair> = marked.iter().map(|m| Pair::new(m.reader, m.with)).collect();
        match self.admission.blocked_among(&pairs).await {
            Ok(blocked) => pairs.iter().map(|p| !blocked.contains(p)).collect(),
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot check blocks; no status events for these marks");
                vec![false; marked.len()]
            }
        }
    }

    /// The messages to or from `user` after `after` in id order, at most
    /// `limit` and at most `MAX_SYNC_BYTES` of content (at least one
    /// message); `true` when more follow.
    pub(crate) async fn sync(
        &self,
        user: UserId,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<Message>, bool), Error> {
        let (mut messages, mut more) = self.store.sync(user, after, limit).await?;
        if let Some(cut) = byte_cap(&messages, MAX_SYNC_BYTES) {
            messages.truncate(cut);
            more = true;
        }
        Ok((messages, more))
    }

    /// The newest message id to or from `user` (0 when none).
    pub(crate) async fn head(&self, user: UserId) -> Result<i64, Error> {
        self.store.head(user).await
    }

    /// The people `user` shares a conversation with: cached, else PostgreSQL.
    pub(crate) async fn partners(&self, user: UserId) -> Result<Vec<i64>, Error> {
        let ticket = match self.cache.partners(user.get()).await {
            Some((reading, mut partners)) if !reading.items.is_empty() => {
                partners.sort_unstable();
                return Ok(partners);
            }
            Some((reading, _)) => Some(reading.ticket),
            None => None,
        };
        let partners = self.store.partners(user).await?;
        if let Some(ticket) = ticket {
            self.cache.fill_partners(user.get(), ticket, &partners);
        }
        let mut partners: Vec<i64> = partners.into_iter().map(|(other, _)| other).collect();
        partners.sort_unstable();
        Ok(partners)
    }
}

/// Where a page must end for its contents to stay within `max` bytes (at
/// least one message, so a page always moves on); `None`: all fit.
fn byte_cap(messages: &[Message], max: usize) -> Option<usize> {
    let mut total = 0;
    for (i, m) in messages.iter().enumerate() {
        total += m.content.len();
        if total > max && i > 0 {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use totilove_common::MessageStatus;

    fn message(id: i64, bytes: usize) -> Message {
        Message {
            id,
            sender_id: 1,
            receiver_id: 2,
            content: "x".repeat(bytes),
            client_msg_id: uuid::Uuid::new_v4(),
            status: MessageStatus::Sent,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_sync_page_ends_before_the_message_that_would_pass_the_byte_cap() {
        let page: Vec<_> = (1..=5).map(|id| message(id, 400)).collect();
        assert_eq!(byte_cap(&page, 2000), None);
        assert_eq!(byte_cap(&page, 1000), Some(2));
        // A single message larger than the cap still makes a page.
        assert_eq!(byte_cap(&page, 10), Some(1));
    }
}
