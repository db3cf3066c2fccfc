//! Typed helpers over the real system: people registered through auth, the
//! message service over gRPC, Redis channels watched with a subscriber.

use std::collections::HashMap;

use fred::{
    interfaces::ClientLike,
    types::{Builder, config::Config as RedisConfig},
};
use sqlx::{Connection, PgConnection};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use totilove_common::{Code, Error, events::Event};
use totilove_common::{config::Secret, grpc::Outbound};
use totilove_proto::{
    auth::v1::BlockRequest,
    message::v1::{
        self as pb, HistoryRequest, MarkDeliveredRequest, MarkReadRequest, SendRequest,
        SyncRequest, message_service_client::MessageServiceClient,
    },
};
use totilove_testkit::{EventWatcher, PATIENCE, TestSystem, eventually};
use uuid::Uuid;

pub(crate) type Client = MessageServiceClient<InterceptedService<Channel, Outbound>>;

/// The whole system, and a message client for it.
pub(crate) struct App {
    pub system: TestSystem,
    pub client: Client,
}

impl App {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The message service and the auth service it asks about blocks;
    /// no presence service, no gateway.
    pub(crate) async fn start_with(settings: &[(&str, &str)]) -> Self {
        let system = TestSystem::builder()
            .message()
            .settings(settings)
            .build()
            .await;
        let client = system.message_client();
        Self { system, client }
    }

    /// A new person; their id.
    pub(crate) async fn person(&self, name: &str) -> i64 {
        self.system.register(name).await
    }

    pub(crate) async fn block(&self, who: i64, whom: i64) {
        self.system
            .auth_client()
            .block(BlockRequest {
                user_id: who,
                target_id: whom,
            })
            .await
            .expect("blocking works");
    }

    /// Sends with a fresh client_msg_id.
    pub(crate) async fn send(
        &self,
        from: i64,
        to: i64,
        content: &str,
    ) -> Result<pb::SendResponse, Error> {
        send(&self.client, from, to, content, &Uuid::new_v4().to_string()).await
    }

    /// Sends and expects success; the stored message.
    pub(crate) async fn sent(&self, from: i64, to: i64, content: &str) -> pb::Message {
        self.send(from, to, content)
            .await
            .expect("the send succeeds")
            .message
            .expect("a message")
    }

    pub(crate) async fn history(
        &self,
        me: i64,
        other: i64,
        before: Option<i64>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<pb::HistoryResponse, Error> {
        self.client
            .clone()
            .history(HistoryRequest {
                user_id: me,
                other_user_id: other,
                before,
                after,
                // 0 here: no limit given (the default page).
                limit: (limit > 0).then_some(limit),
            })
            .await
            .map(|r| r.into_inner())
            .map_err(Error::from)
    }

    /// The whole conversation, oldest first, paged with `after`.
    pub(crate) async fn whole_history(&self, me: i64, other: i64) -> Vec<pb::Message> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .history(me, other, None, Some(after), 100)
                .await
                .expect("history answers");
            all.extend(page.messages.iter().cloned());
            match page.messages.last() {
                Some(last) if page.has_more => after = last.id,
                _ => return all,
            }
        }
    }

    pub(crate) async fn sync(&self, user: i64, after: i64, limit: u32) -> pb::SyncResponse {
        sync(&self.client, user, after, limit).await
    }

    /// Everything to or from `user`, paged with sync.
    pub(crate) async fn whole_sync(&self, user: i64) -> Vec<pb::Message> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self.sync(user, after, 1000).await;
            all.extend(page.messages.iter().cloned());
            match page.messages.last() {
                Some(last) if page.more => after = last.id,
                _ => return all,
            }
        }
    }

    pub(crate) async fn mark_read(&self, reader: i64, with: i64, up_to_id: i64) -> i64 {
        self.client
            .clone()
            .mark_read(MarkReadRequest {
                user_id: reader,
                with_user_id: with,
                up_to_id,
                ..Default::default()
            })
            .await
            .expect("mark read answers")
            .into_inner()
            .changed_up_to_id
    }

    pub(crate) async fn mark_delivered(&self, reader: i64, with: i64, up_to_id: i64) -> i64 {
        self.client
            .clone()
            .mark_delivered(MarkDeliveredRequest {
                user_id: reader,
                with_user_id: with,
                up_to_id,
            })
            .await
            .expect("mark delivered answers")
            .into_inner()
            .changed_up_to_id
    }

    /// Watches the event channels of `people`.
    pub(crate) async fn watch(&self, people: &[i64]) -> Watcher {
        Watcher::start(&self.system.redis.url(), people).await
    }
}

/// One more message service instance on the same stores (settings
/// overridden by `overrides`); a client for it. It runs until the test ends.
pub(crate) async fn another_message_service(app: &App, overrides: &[(&str, &str)]) -> Client {
    let mut settings = app.system.settings.clone();
    settings.insert("MESSAGE_LISTEN_ADDR".into(), "127.0.0.1:0".into());
    for (name, value) in overrides {
        settings.insert((*name).into(), (*value).into());
    }
    let config = totilove_message::Config::from_source(&settings).expect("a config");
    let service = totilove_message::Application::build(config)
        .await
        .expect("the service starts");
    let url = format!("http://127.0.0.1:{}", service.port());
    tokio::spawn(service.run_until_stopped(std::future::pending()));
    let token = Secret::new(settings["INTERNAL_TOKEN"].clone());
    MessageServiceClient::with_interceptor(
        totilove_common::grpc::channel(&url).expect("a URL"),
        Outbound::new(&token).expect("a token"),
    )
}

pub(crate) async fn send(
    client: &Client,
    from: i64,
    to: i64,
    content: &str,
    client_msg_id: &str,
) -> Result<pb::SendResponse, Error> {
    client
        .clone()
        .send(SendRequest {
            sender_id: from,
            receiver_id: to,
            content: content.into(),
            client_msg_id: client_msg_id.into(),
        })
        .await
        .map(|r| r.into_inner())
        .map_err(Error::from)
}

pub(crate) async fn sync(client: &Client, user: i64, after: i64, limit: u32) -> pb::SyncResponse {
    client
        .clone()
        .sync(SyncRequest {
            user_id: user,
            after,
            limit,
        })
        .await
        .expect("sync answers")
        .into_inner()
}

/// The code of a refusal.
pub(crate) fn code<T: std::fmt::Debug>(result: Result<T, Error>) -> (Code, String) {
    let e = result.expect_err("the call is refused");
    (e.code, e.message)
}

pub(crate) fn ids(messages: &[pb::Message]) -> Vec<i64> {
    messages.iter().map(|m| m.id).collect()
}

/// Events published on people's channels, as they arrive.
pub(crate) struct Watcher {
    events: EventWatcher,
    /// Per person, in arrival order.
    pub seen: HashMap<i64, Vec<Event>>,
    /// The same events as published, byte for byte.
    pub raw: HashMap<i64, Vec<String>>,
}

impl Watcher {
    async fn start(redis_url: &str, people: &[i64]) -> Self {
        Self {
            events: EventWatcher::of(redis_url, people).await,
            seen: HashMap::new(),
            raw: HashMap::new(),
        }
    }

    /// Waits (boundedly) until `done` holds for what was seen.
    pub(crate) async fn until(&mut self, done: impl Fn(&HashMap<i64, Vec<Event>>) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (person, payload) = self
                .events
                .next_payload_within(left)
                .await
                .expect("the expected events arrive in time");
            let event =
                Event::from_json(&payload).unwrap_or_else(|| panic!("a known event: {payload}"));
            self.seen.entry(person).or_default().push(event);
            self.raw.entry(person).or_default().push(payload);
        }
    }

    /// Waits until the event of message `id` reached `person`'s channel
    /// (then its cache writes are done too: they go first, in one pipeline).
    pub(crate) async fn until_message(&mut self, person: i64, id: i64) {
        self.until(|seen| {
            seen.get(&person)
                .into_iter()
                .flatten()
                .any(|e| matches!(e, Event::Message { message, .. } if message.id == id))
        })
        .await;
    }

    /// The message events seen for `person`: (prev_id, message id).
    pub(crate) fn message_events(&self, person: i64) -> Vec<(i64, i64)> {
        self.seen
            .get(&person)
            .into_iter()
            .flatten()
            .filter_map(|e| match e {
                Event::Message {
                    prev_id, message, ..
                } => Some((*prev_id, message.id)),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn count_messages(seen: &HashMap<i64, Vec<Event>>, person: i64) -> usize {
        seen.get(&person)
            .into_iter()
            .flatten()
            .filter(|e| matches!(e, Event::Message { .. }))
            .count()
    }
}

/// A plain Redis client on the test's Redis, to look at (or spoil) the cache.
pub(crate) async fn redis(app: &App) -> fred::clients::Client {
    let client =
        Builder::from_config(RedisConfig::from_url(&app.system.redis.url()).expect("a Redis URL"))
            .build()
            .expect("a Redis client");
    client.init().await.expect("Redis is up");
    client
}

/// The cache key of a conversation's newest messages.
pub(crate) fn chat_key(a: i64, b: i64) -> String {
    format!("chat:{}:{}:messages", a.min(b), a.max(b))
}

/// Reads the conversation's history until its cache is filled (a read that
/// finds it missing fills it), boundedly.
pub(crate) async fn until_cached(app: &App, redis: &fred::clients::Client, a: i64, b: i64) {
    use fred::interfaces::KeysInterface;
    eventually("the history to be cached", || async {
        app.history(a, b, None, None, 10)
            .await
            .expect("history answers");
        redis
            .exists::<i64, _>(chat_key(a, b))
            .await
            .expect("Redis answers")
            == 1
    })
    .await;
}

/// The message service's tables, read directly.
pub(crate) async fn db(app: &App) -> PgConnection {
    let mut conn = PgConnection::connect(&app.system.database_url)
        .await
        .expect("the test database is reachable");
    // A session setting, not a query on the schema: no macro.
    sqlx::raw_sql("SET search_path = message")
        .execute(&mut conn)
        .await
        .expect("the message schema");
    conn
}

/// The message service's audit rows: (event, user, detail), oldest first.
pub(crate) async fn audit_trail(app: &App) -> Vec<(String, i64, serde_json::Value)> {
    sqlx::query!("SELECT event, user_id, detail FROM system_logs ORDER BY id")
        .fetch_all(&mut db(app).await)
        .await
        .expect("the audit trail is readable")
        .into_iter()
        .map(|r| (r.event, r.user_id, r.detail))
        .collect()
}
