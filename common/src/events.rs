//! Real-time events fanned out over Redis pub/sub, from the services that
//! commit state changes to every gateway instance holding a socket of the
//! person concerned.
//!
//! Each person has one channel, [`user_channel`]. Pub/sub is at-most-once (a
//! subscriber that reconnects misses what was published meanwhile), so every
//! message event carries `prev_id`: the id of the previous message to or from
//! that person. A gateway that last delivered id `L` to a person and receives
//! an event whose `prev_id != L` knows it missed something and repairs the gap
//! with the message service's `Sync(after = L)` before delivering further.
//! Message ids are allocated in commit order, so this chain has no holes.

use serde::{Deserialize, Serialize};

use crate::MessageStatus;

/// The pub/sub channel of one person's events.
pub fn user_channel(user_id: i64) -> String {
    format!("user:{user_id}:events")
}

/// The channel announcing ended sessions (payload: the session id), so every
/// gateway closes that session's sockets.
pub const SESSION_REVOKED_CHANNEL: &str = "session_revoked";

/// A message as the API shows it (`message` in `API.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageJson {
    pub id: i64,
    pub sender_id: i64,
    pub receiver_id: i64,
    pub content: String,
    /// RFC 3339, UTC, milliseconds.
    pub created_at: String,
    pub status: MessageStatus,
    pub client_msg_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A message to or from the channel's person, committed.
    Message {
        prev_id: i64,
        message: MessageJson,
        /// The W3C trace context of the message's publication (absent when
        /// it is not traced), so its delivery joins the message's trace
        /// (see `trace_context`). Internal: frames to browsers are built
        /// from `message` alone and never carry it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
    },
    /// The channel's person's messages to `with` up to `up_to_id` became `status`.
    Status {
        with: i64,
        up_to_id: i64,
        status: MessageStatus,
    },
    /// Someone the channel's person shares a conversation with came online or went offline.
    Presence {
        user_id: i64,
        online: bool,
        last_seen: Option<String>,
    },
    /// Someone is typing to the channel's person.
    Typing { user_id: i64, typing: bool },
    /// The channel's person (on some device) blocked or unblocked `user_id`:
    /// their other pages follow.
    Blocks { user_id: i64, blocked: bool },
    /// `user_id` blocked (`available: false`) or unblocked the channel's
    /// person: whether the two can talk now. Worded as availability, as the
    /// API shows a block to the one blocked.
    Availability { user_id: i64, available: bool },
    /// The public card of someone the channel's person talks with (or of the
    /// person themselves) changed: a new display name.
    Profile { user: UserCard },
}

/// A person's public card (`user` in `API.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCard {
    pub id: i64,
    pub username: String,
    pub display_name: Option<String>,
}

impl Event {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(raw: &str) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> MessageJson {
        MessageJson {
            id: 7,
            sender_id: 1,
            receiver_id: 2,
            content: "hi".into(),
            created_at: "2026-12-07T00:00:00.000Z".into(),
            status: MessageStatus::Sent,
            client_msg_id: "c".into(),
        }
    }

    #[test]
    fn a_message_event_carries_its_trace_context_only_when_it_has_one() {
        let untraced = Event::Message {
            prev_id: 3,
            message: message(),
            traceparent: None,
        };
        assert!(!untraced.to_json().contains("traceparent"));

        // As `round.lua` writes it: the context after the message.
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let raw = format!(
            r#"{{"type":"message","prev_id":3,"message":{},"traceparent":"{traceparent}"}}"#,
            serde_json::to_string(&message()).unwrap_or_default()
        );
        let traced = Event::from_json(&raw).expect("readable");
        // The bytes round.lua builds by hand are the ones serde writes.
        assert_eq!(traced.to_json(), raw);
        assert_eq!(
            traced,
            Event::Message {
                prev_id: 3,
                message: message(),
                traceparent: Some(traceparent.into()),
            }
        );
        assert_eq!(Event::from_json(&traced.to_json()), Some(traced));
    }
}
