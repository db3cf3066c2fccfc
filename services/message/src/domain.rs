//! The message service's domain types, parsed once at the gRPC edge ("parse,
//! don't validate"): nothing deeper sees a raw proto field.

use chrono::{DateTime, Utc};
use totilove_common::{Error, MessageStatus, events::MessageJson, time::rfc3339};
use uuid::Uuid;

/// The most characters (Unicode scalar values) a message may hold.
pub(crate) const MAX_CONTENT_CHARS: usize = 4000;
/// History pages: the default and the largest size.
pub(crate) const DEFAULT_HISTORY_LIMIT: u32 = 50;
pub(crate) const MAX_HISTORY_LIMIT: u32 = 100;
/// Sync pages: the largest (and default) size.
pub(crate) const MAX_SYNC_LIMIT: u32 = 1000;
/// A sync page also stops at this many bytes of content (`more` then says
/// the rest follows): 1000 messages of 16 KB would be 16 MB in one gRPC
/// answer (tonic refuses more than 4 MiB) and in one socket's queue.
pub(crate) const MAX_SYNC_BYTES: usize = 1024 * 1024;

pub(crate) use totilove_common::UserId;

/// The two people of a conversation, smaller id first: the order the cache
/// keys and the pair index use, whoever sent what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Pair {
    pub lo: i64,
    pub hi: i64,
}

impl Pair {
    pub(crate) fn new(a: i64, b: i64) -> Self {
        Self {
            lo: a.min(b),
            hi: a.max(b),
        }
    }

    /// Two different people; `other` is named in the error.
    pub(crate) fn of(me: UserId, other: UserId, other_field: &str) -> Result<Self, Error> {
        if me == other {
            return Err(Error::invalid(format!(
                "{other_field} must be someone else than the user"
            )));
        }
        Ok(Self::new(me.get(), other.get()))
    }
}

/// The text of a message: 1–4000 characters, not only whitespace, kept
/// exactly as sent (no trimming, no escaping: it is text, never HTML).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Content(String);

impl TryFrom<String> for Content {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self, Error> {
        if raw.is_empty() {
            return Err(Error::invalid("content must not be empty"));
        }
        if raw.chars().all(char::is_whitespace) {
            return Err(Error::invalid("content must not be only whitespace"));
        }
        // Counting stops early, so a huge body costs no more than the limit.
        if raw.chars().nth(MAX_CONTENT_CHARS).is_some() {
            return Err(Error::invalid(format!(
                "content must be at most {MAX_CONTENT_CHARS} characters"
            )));
        }
        // PostgreSQL text cannot hold U+0000; refusing it here gives a clear
        // 400 instead of failing the whole batch it would be written with.
        if raw.contains('\0') {
            return Err(Error::invalid("content must not contain NUL characters"));
        }
        Ok(Self(raw))
    }
}

impl Content {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// The sender's idempotency key for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientMsgId(Uuid);

impl TryFrom<&str> for ClientMsgId {
    type Error = Error;

    fn try_from(raw: &str) -> Result<Self, Error> {
        Uuid::try_parse(raw)
            .map(Self)
            .map_err(|_| Error::invalid("client_msg_id must be a UUID"))
    }
}

impl ClientMsgId {
    pub(crate) fn get(self) -> Uuid {
        self.0
    }
}

/// A message to store, validated.
#[derive(Clone, Debug)]
pub(crate) struct NewMessage {
    pub sender: UserId,
    pub receiver: UserId,
    pub content: Content,
    pub client_msg_id: ClientMsgId,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct Message {
    pub id: i64,
    pub sender_id: i64,
    pub receiver_id: i64,
    pub content: String,
    pub client_msg_id: Uuid,
    #[sqlx(try_from = "i16")]
    pub status: MessageStatus,
    pub created_at: DateTime<Utc>,
}

impl Message {
    pub(crate) fn pair(&self) -> Pair {
        Pair::new(self.sender_id, self.receiver_id)
    }

    /// The API's JSON form, as cached and published.
    pub(crate) fn to_json(&self) -> MessageJson {
        MessageJson {
            id: self.id,
            sender_id: self.sender_id,
            receiver_id: self.receiver_id,
            content: self.content.clone(),
            created_at: rfc3339(self.created_at),
            status: self.status,
            client_msg_id: self.client_msg_id.to_string(),
        }
    }

    /// Back from the cached JSON; `None` for an entry we did not write.
    pub(crate) fn from_json(json: MessageJson) -> Option<Self> {
        Some(Self {
            id: json.id,
            sender_id: json.sender_id,
            receiver_id: json.receiver_id,
            content: json.content,
            client_msg_id: Uuid::try_parse(&json.client_msg_id).ok()?,
            status: json.status,
            created_at: DateTime::parse_from_rfc3339(&json.created_at)
                .ok()?
                .with_timezone(&Utc),
        })
    }
}

/// Where a history page lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// The newest messages.
    Newest,
    /// The newest messages older than this id.
    Before(i64),
    /// The oldest messages newer than this id (`0`: from the start).
    After(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HistoryQuery {
    pub me: UserId,
    pub other: UserId,
    pub pair: Pair,
    pub cursor: Cursor,
    pub limit: usize,
}

impl HistoryQuery {
    pub(crate) fn parse(
        me: i64,
        other: i64,
        before: Option<i64>,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Self, Error> {
        let me = UserId::parse(me, "user_id")?;
        let other = UserId::parse(other, "other_user_id")?;
        let pair = Pair::of(me, other, "other_user_id")?;
        let cursor = match (before, after) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid("give before or after, not both"));
            }
            (Some(id), None) if id < 0 => {
                return Err(Error::invalid("before must not be negative"));
            }
            (None, Some(id)) if id < 0 => return Err(Error::invalid("after must not be negative")),
            (Some(id), None) => Cursor::Before(id),
            (None, Some(id)) => Cursor::After(id),
            (None, None) => Cursor::Newest,
        };
        let limit = match limit {
            None => DEFAULT_HISTORY_LIMIT,
            Some(n) if (1..=MAX_HISTORY_LIMIT).contains(&n) => n,
            Some(_) => {
                return Err(Error::invalid(format!(
                    "limit must be between 1 and {MAX_HISTORY_LIMIT}"
                )));
            }
        };
        Ok(Self {
            me,
            other,
            pair,
            cursor,
            limit: limit as usize,
        })
    }
}

/// A page of history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub messages: Vec<Message>,
    /// More messages lie beyond the page in the direction of the cursor.
    pub has_more: bool,
}

impl Page {
    /// Cuts the page out of `window`: a contiguous run of the conversation,
    /// oldest first, whose newest message is the conversation's newest as far
    /// as the window knows. `complete` says the window starts at the
    /// conversation's first message. `None` when the window cannot tell the
    /// whole answer (the page reaches past its older end).
    pub(crate) fn from_window(
        window: &[Message],
        complete: bool,
        cursor: Cursor,
        limit: usize,
    ) -> Option<Page> {
        match cursor {
            Cursor::Newest => Self::older_than(window, window.len(), complete, limit),
            Cursor::Before(id) => {
                let end = window.partition_point(|m| m.id < id);
                Self::older_than(window, end, complete, limit)
            }
            Cursor::After(id) => {
                // Every message newer than `id` is in the window only if the
                // window reaches back to `id` (or to the very first message).
                let reaches_back = complete || window.first().is_some_and(|m| m.id <= id);
                if !reaches_back {
                    return None;
                }
                let start = window.partition_point(|m| m.id <= id);
                let end = (start + limit).min(window.len());
                Some(Page {
                    messages: window[start..end].to_vec(),
                    has_more: end < window.len(),
                })
            }
        }
    }

    /// The newest `limit` of `window[..end]`.
    fn older_than(window: &[Message], end: usize, complete: bool, limit: usize) -> Option<Page> {
        if end > limit {
            return Some(Page {
                messages: window[end - limit..end].to_vec(),
                has_more: true,
            });
        }
        // The page would reach the window's older end: only a window holding
        // the whole conversation knows nothing lies beyond.
        complete.then(|| Page {
            messages: window[..end].to_vec(),
            has_more: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64) -> Message {
        Message {
            id,
            sender_id: 1,
            receiver_id: 2,
            content: "hi".into(),
            client_msg_id: Uuid::nil(),
            status: MessageStatus::Sent,
            created_at: DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap_or_default(),
        }
    }

    fn ids(page: &Option<Page>) -> Option<(Vec<i64>, bool)> {
        page.as_ref()
            .map(|p| (p.messages.iter().map(|m| m.id).collect(), p.has_more))
    }

    #[test]
    fn content_counts_characters_not_bytes_and_keeps_them_exactly() {
        let emoji = "😀".repeat(MAX_CONTENT_CHARS);
        assert!(Content::try_from(emoji.clone()).is_ok());
        assert!(Content::try_from(format!("{emoji}x")).is_err());
        let kept = Content::try_from("  <script>\u{202e} ".to_owned());
        assert_eq!(
            kept.ok().as_ref().map(Content::as_str),
            Some("  <script>\u{202e} ")
        );
        for bad in ["", " \n\t\u{3000}", "a\0b"] {
            assert!(Content::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cached_json_round_trips_to_the_same_message() {
        let mut m = msg(42);
        m.client_msg_id = Uuid::new_v4();
        assert_eq!(Message::from_json(m.to_json()), Some(m));
    }

    #[test]
    fn the_cache_scripts_can_read_id_and_sender_at_the_start_of_an_entry() {
        let json = serde_json::to_string(&msg(42).to_json()).unwrap_or_default();
        assert!(json.starts_with(r#"{"id":42,"sender_id":1,"#), "{json}");
        assert!(json.contains(r#""status":"sent""#), "{json}");
    }

    #[test]
    fn pages_come_from_the_window_only_when_it_holds_the_whole_answer() {
        let window: Vec<Message> = (10..20).map(msg).collect();
        let newest = Page::from_window(&window, false, Cursor::Newest, 3);
        assert_eq!(ids(&newest), Some((vec![17, 18, 19], true)));
        // Reaching the older end of an incomplete window: unknown.
        assert_eq!(
            ids(&Page::from_window(&window, false, Cursor::Newest, 10)),
            None
        );
        assert_eq!(
            ids(&Page::from_window(&window, true, Cursor::Newest, 10)),
            Some(((10..20).collect(), false))
        );
        assert_eq!(
            ids(&Page::from_window(&window, false, Cursor::Before(14), 3)),
            Some((vec![11, 12, 13], true))
        );
        assert_eq!(
            ids(&Page::from_window(&window, false, Cursor::Before(13), 3)),
            None
        );
        assert_eq!(
            ids(&Page::from_window(&window, true, Cursor::Before(13), 3)),
            Some((vec![10, 11, 12], false))
        );
        assert_eq!(
            ids(&Page::from_window(&window, false, Cursor::After(15), 3)),
            Some((vec![16, 17, 18], true))
        );
        assert_eq!(
            ids(&Page::from_window(&window, false, Cursor::After(17), 5)),
            Some((vec![18, 19], false))
        );
        assert_eq!(
            ids(&Page::from_window(&window, false, Cursor::After(5), 3)),
            None
        );
        assert_eq!(
            ids(&Page::from_window(&window, true, Cursor::After(0), 3)),
            Some((vec![10, 11, 12], true))
        );
    }

    #[test]
    fn history_queries_refuse_both_cursors_and_oversized_pages() {
        assert!(HistoryQuery::parse(1, 2, Some(5), Some(3), Some(10)).is_err());
        assert!(HistoryQuery::parse(1, 2, None, None, Some(101)).is_err());
        assert!(HistoryQuery::parse(1, 2, None, None, Some(0)).is_err());
        assert!(HistoryQuery::parse(1, 1, None, None, Some(10)).is_err());
        assert_eq!(
            HistoryQuery::parse(1, 2, None, None, None).map(|q| q.limit),
            Ok(DEFAULT_HISTORY_LIMIT as usize)
        );
        // `before=0`: nothing is older than the first id, an empty page.
        assert_eq!(
            HistoryQuery::parse(1, 2, Some(0), None, None).map(|q| q.cursor),
            Ok(Cursor::Before(0))
        );
    }
}
