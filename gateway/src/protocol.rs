//! The WebSocket protocol of `API.md` ("Real time"): the frames a client
//! sends, parsed at the edge with errors naming the field, and the events the
//! server sends, serialized in one place.

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use totilove_common::{MessageStatus, events::MessageJson};

/// The contract's largest text frame (bytes of UTF-8).
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

/// A frame from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Send(SendFrame),
    Typing(TypingFrame),
    Read(ReadFrame),
    Sync(SyncFrame),
    Ping,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SendFrame {
    pub to: i64,
    pub content: String,
    pub client_msg_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TypingFrame {
    pub to: i64,
    pub typing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ReadFrame {
    pub with: i64,
    pub up_to_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SyncFrame {
    pub after: i64,
}

/// A frame refused before anything was done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `invalid_request` or `frame_too_large`.
    pub code: &'static str,
    pub message: String,
    /// The `client_msg_id` of a refused `send`, when it could be read.
    pub client_msg_id: Option<String>,
}

impl Refusal {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "invalid_request",
            message: message.into(),
            client_msg_id: None,
        }
    }

    pub fn to_frame(&self) -> Utf8Bytes {
        ServerEvent::Error {
            code: self.code,
            message: &self.message,
            client_msg_id: self.client_msg_id.as_deref(),
        }
        .to_frame()
    }
}

impl ClientFrame {
    /// Parses a text frame: at most [`MAX_FRAME_BYTES`], a JSON object whose
    /// `type` is one of the contract's, with its fields of the right types
    /// (unknown extra fields are ignored, for forward compatibility).
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        if text.len() > MAX_FRAME_BYTES {
            return Err(Refusal {
                code: "frame_too_large",
                message: format!("a frame holds at most {MAX_FRAME_BYTES} bytes"),
                client_msg_id: None,
            });
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Refusal::invalid(format!("the frame is not valid JSON ({e})")))?;
        let Some(kind) = value.get("type") else {
            return Err(Refusal::invalid(if value.is_object() {
                "the frame has no `type`"
            } else {
                "a frame must be a JSON object with a `type`"
            }));
        };
        let Some(kind) = kind.as_str() else {
            return Err(Refusal::invalid("`type` must be a string"));
        };
        match kind {
            "send" => {
                let client_msg_id = value
                    .get("client_msg_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                fields(value).map(ClientFrame::Send).map_err(|mut refusal| {
                    refusal.client_msg_id = client_msg_id;
                    refusal
                })
            }
            "typing" => fields(value).map(ClientFrame::Typing),
            "read" => fields(value).map(ClientFrame::Read),
            "sync" => fields(value).map(ClientFrame::Sync),
            "ping" => Ok(ClientFrame::Ping),
            other => Err(Refusal::invalid(format!(
                "unknown frame `type` {other:?} (expected send, typing, read, sync or ping)"
            ))),
        }
    }
}

/// The fields of one frame kind, naming the offending one in the error.
fn fields<T: DeserializeOwned>(value: Value) -> Result<T, Refusal> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        Refusal::invalid(if path == "." {
            format!("invalid frame: {inner}")
        } else {
            format!("invalid field `{path}`: {inner}")
        })
    })
}

/// An event to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent<'a> {
    Ready {
        user_id: i64,
        session_id: &'a str,
    },
    Message {
        message: &'a MessageJson,
    },
    Sent {
        client_msg_id: &'a str,
        message: &'a MessageJson,
    },
    Status {
        with: i64,
        up_to_id: i64,
        status: MessageStatus,
    },
    Presence {
        user_id: i64,
        online: bool,
        last_seen: Option<&'a str>,
    },
    Typing {
        user_id: i64,
        typing: bool,
    },
    SyncDone {
        up_to_id: i64,
        more: bool,
    },
    /// I (on another page) blocked or unblocked `user_id`.
    Blocks {
        user_id: i64,
        blocked: bool,
    },
    /// `user_id` became unavailable to me (blocked me) or available again.
    Availability {
        user_id: i64,
        available: bool,
    },
    /// Someone I talk with (or I) changed their public card.
    Profile {
        user: &'a totilove_common::events::UserCard,
    },
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
    },
    Pong,
}

impl ServerEvent<'_> {
    pub fn to_frame(&self) -> Utf8Bytes {
        // Serializing these plain structs cannot fail (no maps with non-string keys).
        serde_json::to_string(self).unwrap_or_default().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_frame_parses() {
        assert_eq!(
            ClientFrame::parse(r#"{"type":"send","to":2,"content":"hi","client_msg_id":"x"}"#),
            Ok(ClientFrame::Send(SendFrame {
                to: 2,
                content: "hi".into(),
                client_msg_id: "x".into()
            }))
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"typing","to":2,"typing":true}"#),
            Ok(ClientFrame::Typing(TypingFrame {
                to: 2,
                typing: true
            }))
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"read","with":2,"up_to_id":9}"#),
            Ok(ClientFrame::Read(ReadFrame {
                with: 2,
                up_to_id: 9
            }))
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"sync","after":0,"extra":1}"#),
            Ok(ClientFrame::Sync(SyncFrame { after: 0 }))
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping)
        );
    }

    #[test]
    fn refusals_name_the_field_and_keep_the_client_msg_id() {
        let e =
            ClientFrame::parse(r#"{"type":"send","to":"2","content":"hi","client_msg_id":"x"}"#)
                .expect_err("refused");
        assert_eq!(e.code, "invalid_request");
        assert!(e.message.contains("`to`"), "{}", e.message);
        assert_eq!(e.client_msg_id.as_deref(), Some("x"));

        let e = ClientFrame::parse(r#"{"type":"send","to":2,"client_msg_id":"x"}"#)
            .expect_err("refused");
        assert!(e.message.contains("content"), "{}", e.message);

        for bad in [
            "{",
            "[]",
            "3",
            r#"{"to":1}"#,
            r#"{"type":7}"#,
            r#"{"type":"dance"}"#,
        ] {
            let e = ClientFrame::parse(bad).expect_err("refused");
            assert_eq!(e.code, "invalid_request", "{bad}");
        }
    }

    #[test]
    fn a_frame_over_16_kib_is_too_large() {
        let big = format!(
            r#"{{"type":"ping","pad":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert_eq!(
            ClientFrame::parse(&big).map_err(|e| e.code),
            Err("frame_too_large")
        );
    }

    #[test]
    fn events_have_the_contract_shape() {
        let frame = ServerEvent::Error {
            code: "blocked",
            message: "no",
            client_msg_id: None,
        }
        .to_frame();
        assert_eq!(
            frame.as_str(),
            r#"{"type":"error","code":"blocked","message":"no"}"#
        );
        assert_eq!(
            ServerEvent::SyncDone {
                up_to_id: 4,
                more: false
            }
            .to_frame()
            .as_str(),
            r#"{"type":"sync_done","up_to_id":4,"more":false}"#
        );
        assert_eq!(ServerEvent::Pong.to_frame().as_str(), r#"{"type":"pong"}"#);
    }
}
