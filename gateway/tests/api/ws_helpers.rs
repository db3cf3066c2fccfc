//! A WebSocket client speaking the gateway's real-time protocol, and helpers
//! for messaging tests.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        self, Message,
        client::IntoClientRequest,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

use crate::helpers::{Person, TestApp, expect_json};

/// How long a test waits for an expected event before failing.
pub(crate) const EVENT_WAIT: Duration = Duration::from_secs(10);

pub(crate) struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub user_id: i64,
    pub session_id: String,
}

/// `ws://host:port/ws` of a gateway's `http://host:port` base URL.
pub(crate) fn ws_url(base: &str) -> String {
    format!("{}/ws", base.replacen("http://", "ws://", 1))
}

/// Upgrades with the given extra headers; the HTTP status on refusal.
pub(crate) async fn try_connect(
    base: &str,
    headers: &[(&str, String)],
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, StatusCode> {
    let mut request = ws_url(base)
        .into_client_request()
        .expect("a valid WebSocket URL");
    for (name, value) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, _)) => Ok(stream),
        Err(tungstenite::Error::Http(response)) => {
            Err(StatusCode::from_u16(response.status().as_u16()).expect("a status"))
        }
        Err(e) => panic!("the upgrade failed unexpectedly: {e}"),
    }
}

impl Ws {
    /// Opens a socket with the bearer token on the gateway at `base` and
    /// waits for `ready`.
    pub(crate) async fn open(base: &str, token: &str) -> Self {
        let stream = try_connect(base, &[("authorization", format!("Bearer {token}"))])
            .await
            .unwrap_or_else(|status| panic!("the upgrade was refused: {status}"));
        Self::ready(stream).await
    }

    /// Expects `ready` as the first frame.
    pub(crate) async fn ready(stream: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        let mut ws = Self {
            stream,
            user_id: 0,
            session_id: String::new(),
        };
        let ready = ws.next().await;
        assert_eq!(ready["type"], "ready", "the first frame is ready: {ready}");
        ws.user_id = ready["user_id"].as_i64().expect("a user id");
        ws.session_id = ready["session_id"]
            .as_str()
            .expect("a session id")
            .to_owned();
        ws
    }

    pub(crate) async fn send(&mut self, frame: &Value) {
        self.send_text(frame.to_string()).await;
    }

    pub(crate) async fn send_text(&mut self, text: String) {
        self.stream
            .send(Message::text(text))
            .await
            .expect("the frame is sent");
    }

    /// The next event (pings are answered and skipped); fails after [`EVENT_WAIT`].
    pub(crate) async fn next(&mut self) -> Value {
        match self.next_within(EVENT_WAIT).await {
            Some(event) => event,
            None => panic!("no event within {EVENT_WAIT:?}"),
        }
    }

    /// The next event within `wait`, `None` when none comes.
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("events are JSON"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(frame))) => panic!("the socket closed: {frame:?}"),
                Some(Ok(other)) => panic!("unexpected frame: {other:?}"),
                Some(Err(e)) => panic!("the socket failed: {e}"),
                None => panic!("the socket ended"),
            }
        }
    }

    /// The next event of type `kind`, skipping others.
    pub(crate) async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let event = self.next().await;
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// Asserts nothing of type `kind` arrives within `wait`.
    pub(crate) async fn expect_none_of(&mut self, kind: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                None => return,
                Some(event) if event["type"] == kind => panic!("unexpected {kind}: {event}"),
                Some(_) => continue,
            }
        }
    }

    /// Reads until the server closes the socket; its close frame. Events
    /// before it are returned too.
    pub(crate) async fn closed(&mut self) -> (Option<CloseFrame>, Vec<Value>) {
        let mut before = Vec::new();
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("the socket closes in time");
            match frame {
                Some(Ok(Message::Close(frame))) => return (frame, before),
                Some(Ok(Message::Text(text))) => {
                    before.push(serde_json::from_str(text.as_str()).expect("events are JSON"));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return (None, before),
            }
        }
    }

    /// Sends `ping` and waits for `pong`: a round trip through the socket.
    pub(crate) async fn ping(&mut self) {
        self.send(&json!({"type": "ping"})).await;
        self.next_of("pong").await;
    }

    /// Sends a message over the socket; the `sent` ack's message.
    pub(crate) async fn send_message(&mut self, to: i64, content: &str) -> Value {
        let client_msg_id = uuid::Uuid::new_v4().to_string();
        self.send(
            &json!({"type": "send", "to": to, "content": content, "client_msg_id": client_msg_id}),
        )
        .await;
        loop {
            let event = self.next().await;
            match event["type"].as_str() {
                Some("sent") if event["client_msg_id"] == client_msg_id.as_str() => {
                    return event["message"].clone();
                }
                Some("error") if event["client_msg_id"] == client_msg_id.as_str() => {
                    panic!("the send was refused: {event}")
                }
                _ => continue,
            }
        }
    }

    /// Replays everything after `after` with `sync` (following `more`); the messages.
    pub(crate) async fn sync_all(&mut self, mut after: i64) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            self.send(&json!({"type": "sync", "after": after})).await;
            let mut page = Vec::new();
            let done = loop {
                let event = self.next().await;
                match event["type"].as_str() {
                    Some("message") => page.push(event["message"].clone()),
                    Some("sync_done") => break event,
                    _ => continue,
                }
            };
            // Live messages may interleave with a replay; keep only the replay's range.
            let up_to = done["up_to_id"].as_i64().expect("up_to_id");
            page.retain(|m| m["id"].as_i64().is_some_and(|id| id > after && id <= up_to));
            page.sort_by_key(|m| m["id"].as_i64());
            page.dedup_by_key(|m| m["id"].as_i64());
            all.extend(page);
            after = up_to;
            if done["more"] != true {
                return all;
            }
        }
    }

    pub(crate) async fn close(mut self) {
        let _ = self.stream.close(None).await;
        // Wait for the server's side of the handshake.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await;
    }
}

pub(crate) fn close_code(frame: &Option<CloseFrame>) -> Option<u16> {
    frame.as_ref().map(|f| u16::from(f.code))
}

pub(crate) fn is_policy_close(frame: &Option<CloseFrame>) -> bool {
    frame.as_ref().is_some_and(|f| f.code == CloseCode::Policy)
}

/// A fresh `client_msg_id`.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl TestApp {
    /// `POST /api/messages/send` from `from` to `to`; the raw answer.
    pub(crate) async fn send_message(
        &self,
        from: &Person,
        to: i64,
        content: &str,
        client_msg_id: &str,
    ) -> reqwest::Response {
        self.post(
            "/api/messages/send",
            Some(&from.token),
            &json!({"to": to, "content": content, "client_msg_id": client_msg_id}),
        )
        .await
    }

    /// Sends and expects 201; the stored message.
    pub(crate) async fn send_ok(&self, from: &Person, to: i64, content: &str) -> Value {
        let res = self.send_message(from, to, content, &new_id()).await;
        expect_json(res, StatusCode::CREATED).await["message"].clone()
    }

    /// The whole conversation of `me` with `other`, oldest first, paging with `after`.
    pub(crate) async fn whole_history(&self, me: &Person, other: i64) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let path = format!("/api/messages/{}/{other}?after={after}&limit=100", me.id);
            let body = expect_json(self.get(&path, &me.token).await, StatusCode::OK).await;
            let page = body["messages"].as_array().expect("messages").clone();
            if let Some(last) = page.last() {
                after = last["id"].as_i64().expect("an id");
            }
            all.extend(page);
            if body["has_more"] != true {
                return all;
            }
        }
    }
}
