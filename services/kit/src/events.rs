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
    /// `sent`, `delivered` or `read`.
    pub status: String,
    pub client_msg_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A message to or from the channel's person, committed.
    Message { prev_id: i64, message: MessageJson },
    /// The channel's person's messages to `with` up to `up_to_id` became `status`.
    Status {
        with: i64,
        up_to_id: i64,
        status: String,
    },
    /// Someone the channel's person shares a conversation with came online or went offline.
    Presence {
        user_id: i64,
        online: bool,
        last_seen: Option<String>,
    },
    /// Someone is typing to the channel's person.
    Typing { user_id: i64, typing: bool },
}

impl Event {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(raw: &str) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }
}
