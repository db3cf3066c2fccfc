//! People, conversations, and an inbox that listens on a person's event
//! channel the way a gateway does.

use std::{collections::HashMap, time::Duration};

use fred::{
    clients::Client,
    interfaces::ClientLike,
    types::{Builder, InfoKind, config::Config},
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use totilove_common::{config::Secret, events::Event, grpc::Outbound};
use totilove_proto::{
    message::v1::SendRequest,
    presence::v1::{
        CloseConnectionRequest, Connection, GetPresenceRequest, HeartbeatRequest,
        OpenConnectionRequest, Presence, SetTypingRequest,
        presence_service_client::PresenceServiceClient,
    },
};
use totilove_testkit::{EventWatcher, RedisServer, TestSystem};

/// Short timings so tests run in seconds: offline is announced 1 s after the
/// last socket, typing lapses in 1 s. Sockets live 30 s without a beat, so
/// tests about closing need not beat.
pub(crate) const FAST: &[(&str, &str)] = &[
    ("PRESENCE_CONNECTION_TTL_SECS", "30"),
    ("PRESENCE_OFFLINE_GRACE_SECS", "1"),
    ("PRESENCE_SWEEP_INTERVAL_MS", "200"),
    ("TYPING_TTL_SECS", "1"),
];

pub(crate) use totilove_testkit::{PATIENCE, eventually};

/// The services (presence asks message and auth who may see whom); no
/// gateway: the tests speak to presence as one would.
pub(crate) async fn start() -> TestSystem {
    TestSystem::builder()
        .presence()
        .settings(FAST)
        .build()
        .await
}

/// As [`start`], but a socket dies 2 s after its last beat.
pub(crate) async fn start_with_short_ttl() -> TestSystem {
    let mut settings = FAST.to_vec();
    settings.push(("PRESENCE_CONNECTION_TTL_SECS", "2"));
    TestSystem::builder()
        .presence()
        .settings(&settings)
        .build()
        .await
}

pub(crate) type PresenceClient = PresenceServiceClient<InterceptedService<Channel, Outbound>>;

/// Where the presence service and its Redis are.
pub(crate) trait Setup {
    fn presence(&self) -> PresenceClient;
    fn redis_url(&self) -> String;
}

impl Setup for TestSystem {
    fn presence(&self) -> PresenceClient {
        self.presence_client()
    }

    fn redis_url(&self) -> String {
        self.redis.url()
    }
}

/// A presence service alone on a Redis of its own: what it asks of Redis
/// can be counted exactly (the whole system shares one Redis). Its audience
/// lookups fail (no message or auth service), so it publishes nothing.
pub(crate) struct LonePresence {
    redis: RedisServer,
    url: String,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

const LONE_TOKEN: &str = "lone-presence-token-0123456789";

impl LonePresence {
    pub(crate) async fn start(overrides: &[(&str, &str)]) -> Self {
        let redis = RedisServer::start().await;
        let mut settings: HashMap<String, String> = [
            ("REDIS_URL", redis.url().as_str()),
            ("INTERNAL_TOKEN", LONE_TOKEN),
            ("PRESENCE_LISTEN_ADDR", "127.0.0.1:0"),
            ("MESSAGE_URL", "http://127.0.0.1:9"),
            ("AUTH_URL", "http://127.0.0.1:9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in overrides {
            settings.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = totilove_presence::Config::from_source(&settings).expect("presence config");
        let app = totilove_presence::Application::build(config)
            .await
            .expect("presence starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        let task = tokio::spawn(app.run_until_stopped(std::future::pending()));
        Self { redis, url, task }
    }
}

impl Drop for LonePresence {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Setup for LonePresence {
    fn presence(&self) -> PresenceClient {
        let channel = totilove_common::grpc::channel(&self.url).expect("a URL");
        let outbound = Outbound::new(&Secret::new(LONE_TOKEN)).expect("a token");
        PresenceServiceClient::with_interceptor(channel, outbound)
    }

    fn redis_url(&self) -> String {
        self.redis.url()
    }
}

/// A new person; their id.
pub(crate) async fn register(system: &TestSystem) -> i64 {
    system.register("p").await
}

/// `from` writes to `to`: from now on they share a conversation.
pub(crate) async fn converse(system: &TestSystem, from: i64, to: i64) {
    system
        .message_client()
        .send(SendRequest {
            sender_id: from,
            receiver_id: to,
            content: "hello".into(),
            client_msg_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .expect("send a message");
}

/// Two people who share a conversation.
pub(crate) async fn partners(system: &TestSystem) -> (i64, i64) {
    let a = register(system).await;
    let b = register(system).await;
    converse(system, a, b).await;
    (a, b)
}

pub(crate) fn conn(user_id: i64, connection_id: &str) -> Connection {
    Connection {
        user_id,
        connection_id: connection_id.into(),
    }
}

pub(crate) async fn open(system: &impl Setup, gateway: &str, user: i64, connection: &str) -> bool {
    system
        .presence()
        .open_connection(OpenConnectionRequest {
            max_per_person: 0,
            gateway_id: gateway.into(),
            connection: Some(conn(user, connection)),
        })
        .await
        .expect("open a connection")
        .into_inner()
        .came_online
}

pub(crate) async fn close(system: &impl Setup, gateway: &str, user: i64, connection: &str) {
    system
        .presence()
        .close_connection(CloseConnectionRequest {
            gateway_id: gateway.into(),
            connection: Some(conn(user, connection)),
        })
        .await
        .expect("close a connection");
}

/// A heartbeat; the connections it did not know.
pub(crate) async fn beat(
    system: &impl Setup,
    gateway: &str,
    connections: Vec<Connection>,
) -> Vec<Connection> {
    system
        .presence()
        .heartbeat(HeartbeatRequest {
            gateway_id: gateway.into(),
            connections,
        })
        .await
        .expect("heartbeat")
        .into_inner()
        .unknown
}

pub(crate) async fn presence_of(system: &impl Setup, user_ids: Vec<i64>) -> Vec<Presence> {
    system
        .presence()
        .get_presence(GetPresenceRequest {
            user_ids,
            viewer_id: 0,
        })
        .await
        .expect("read presence")
        .into_inner()
        .presence
}

pub(crate) async fn is_online(system: &impl Setup, user: i64) -> bool {
    presence_of(system, vec![user]).await[0].online
}

/// `user` types (or stops) to `partner`; whether it was forwarded.
pub(crate) async fn type_to(system: &impl Setup, user: i64, partner: i64, typing: bool) -> bool {
    system
        .presence()
        .set_typing(SetTypingRequest {
            user_id: user,
            partner_id: partner,
            typing,
        })
        .await
        .expect("set typing")
        .into_inner()
        .forward
}

/// A plain Redis client on the test's server, to look at keys.
pub(crate) async fn redis(system: &impl Setup) -> Client {
    let config = Config::from_url(&system.redis_url()).expect("a Redis URL");
    let client = Builder::from_config(config)
        .build()
        .expect("a Redis client");
    client.init().await.expect("Redis reachable");
    client
}

/// Calls of each Redis command so far (`INFO commandstats`), by name.
pub(crate) async fn command_calls(redis: &Client) -> HashMap<String, u64> {
    let info: String = redis
        .info(Some(InfoKind::CommandStats))
        .await
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// Bytes of memory Redis uses (`INFO memory`).
pub(crate) async fn used_memory(redis: &Client) -> i64 {
    let info: String = redis
        .info(Some(InfoKind::Memory))
        .await
        .expect("INFO memory");
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:")?.trim().parse().ok())
        .expect("used_memory")
}

/// Calls of `command` between two `command_calls` readings.
pub(crate) fn delta(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
    command: &str,
) -> u64 {
    after.get(command).copied().unwrap_or(0) - before.get(command).copied().unwrap_or(0)
}

/// A person's event channel, listened to as a gateway does.
pub(crate) struct Inbox(EventWatcher);

impl Inbox {
    pub(crate) async fn of(system: &impl Setup, user: i64) -> Self {
        Self(EventWatcher::of(&system.redis_url(), &[user]).await)
    }

    /// The next event, if one comes within `within`.
    pub(crate) async fn next_within(&mut self, within: Duration) -> Option<Event> {
        self.0.next_within(within).await.map(|(_, event)| event)
    }

    /// The next event, which must come.
    pub(crate) async fn next(&mut self) -> Event {
        self.next_within(PATIENCE)
            .await
            .expect("an event within the patience")
    }

    /// Asserts no event comes during `during`.
    pub(crate) async fn expect_nothing_for(&mut self, during: Duration) {
        if let Some(event) = self.next_within(during).await {
            panic!("expected no event, got {event:?}");
        }
    }
}

/// Asserts `event` says `user` came online.
pub(crate) fn assert_online(event: &Event, user: i64) {
    assert!(
        matches!(event, Event::Presence { user_id, online: true, .. } if *user_id == user),
        "expected {user} online, got {event:?}"
    );
}

/// Asserts `event` says `user` went offline, with a last_seen.
pub(crate) fn assert_offline(event: &Event, user: i64) {
    assert!(
        matches!(event, Event::Presence { user_id, online: false, last_seen: Some(_) } if *user_id == user),
        "expected {user} offline with last_seen, got {event:?}"
    );
}
