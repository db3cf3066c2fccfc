//! Every process's `/metrics` after real traffic through the whole system.
//!
//! The metrics recorder is global per process and the test system runs every
//! service in this one, so this binary holds a single test: nothing else
//! records meanwhile, and the deltas it reads are exactly its own traffic.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/ws_helpers.rs"]
mod ws_helpers;

use std::collections::BTreeMap;

use totilove_testkit::eventually;

use helpers::TestApp;
use ws_helpers::Ws;

const SEND: &str = "/totilove.message.v1.MessageService/Send";

/// One scrape: every sample by its name and labels (sorted), e.g.
/// `totilove_messages_committed_total` or `totilove_x_total{a="1",b="2"}`.
#[derive(Debug)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    async fn of(url: &str) -> Self {
        let res = reqwest::get(url)
            .await
            .expect("the metrics listener answers");
        assert_eq!(res.status(), 200);
        let content_type = res.headers()["content-type"].to_str().unwrap_or_default();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        Self::parse(&res.text().await.expect("a body"))
    }

    /// Parses the Prometheus text format strictly enough to fail on junk.
    fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(comment) = line.strip_prefix('#') {
                let words: Vec<_> = comment.split_whitespace().collect();
                if words.first() == Some(&"TYPE") {
                    assert!(
                        matches!(
                            words.get(2),
                            Some(&("counter" | "gauge" | "histogram" | "summary"))
                        ),
                        "bad TYPE line: {line}"
                    );
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a numeric value in {line:?}"));
            samples.insert(normalise(series), value);
        }
        Self(samples)
    }

    /// A sample's value; absent samples are 0 (nothing recorded yet).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<_> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        labels.sort();
        let key = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        self.0.get(&key).copied().unwrap_or(0.0)
    }
}

/// `name{b="2",a="1"}` → `name{a="1",b="2"}`: label order is the recorder's.
fn normalise(series: &str) -> String {
    let Some((name, labels)) = series.split_once('{') else {
        return series.to_owned();
    };
    let labels = labels.strip_suffix('}').expect("labels end with }");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "a metric name: {name}"
    );
    let mut pairs: Vec<&str> = labels
        .split("\",")
        .map(|p| p.trim_end_matches('"'))
        .collect();
    pairs.sort();
    let pairs: Vec<String> = pairs
        .iter()
        .map(|p| {
            let (k, v) = p.split_once("=\"").expect("label=\"value\"");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{name}{{{}}}", pairs.join(","))
}

/// Every process's metrics URL.
struct Endpoints {
    gateway: String,
    auth: String,
    message: String,
    presence: String,
}

impl Endpoints {
    fn of(app: &TestApp) -> Self {
        let url = |s: &totilove_testkit::Service| {
            s.metrics_url.clone().expect("started with METRICS_ADDR")
        };
        let system = &app.system;
        Self {
            gateway: url(&system.gateways[0].service),
            auth: url(&system.auth[0]),
            message: url(&system.message[0]),
            presence: url(&system.presence[0]),
        }
    }

    async fn scrape(&self) -> [Scrape; 4] {
        [
            Scrape::of(&self.gateway).await,
            Scrape::of(&self.auth).await,
            Scrape::of(&self.message).await,
            Scrape::of(&self.presence).await,
        ]
    }
}

#[tokio::test]
async fn every_process_counts_the_traffic_it_served() {
    let app = TestApp::start_with(&[
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("PRESENCE_SWEEP_INTERVAL_MS", "100"),
    ])
    .await;
    let endpoints = Endpoints::of(&app);
    // Never on the browser-facing port.
    assert_ne!(endpoints.gateway, format!("{}/metrics", app.system.url()));
    let [gw0, auth0, msg0, _] = endpoints.scrape().await;

    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;
    for i in 0..3 {
        app.send_ok(&alice, bob.id, &format!("hello {i}")).await;
    }
    for _ in 0..3 {
        bob_ws.next_of("message").await;
    }

    let [gw1, auth1, msg1, presence1] = endpoints.scrape().await;
    let delta = |a: &Scrape, b: &Scrape, name: &str, labels: &[(&str, &str)]| {
        b.get(name, labels) - a.get(name, labels)
    };

    // The gateway: HTTP by route template and status, its gRPC calls, sockets.
    let http = "totilove_http_requests_total";
    let route =
        |r: &'static str, s: &'static str| [("route", r), ("method", "POST"), ("status", s)];
    assert_eq!(
        delta(&gw0, &gw1, http, &route("/api/messages/send", "201")),
        3.0
    );
    assert_eq!(
        delta(&gw0, &gw1, http, &route("/api/auth/register", "201")),
        2.0
    );
    assert_eq!(
        delta(&gw0, &gw1, http, &route("/api/auth/login", "200")),
        2.0
    );
    let ws_route = [("route", "/ws"), ("method", "GET"), ("status", "101")];
    assert_eq!(delta(&gw0, &gw1, http, &ws_route), 1.0);
    assert_eq!(
        delta(
            &gw0,
            &gw1,
            "totilove_http_request_duration_seconds_count",
            &[("route", "/api/messages/send"), ("method", "POST")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            &gw0,
            &gw1,
            "totilove_grpc_client_requests_total",
            &[("method", SEND), ("code", "ok")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            &gw0,
            &gw1,
            "totilove_ws_messages_delivered_total",
            &[("kind", "message")]
        ),
        3.0
    );
    assert_eq!(delta(&gw0, &gw1, "totilove_ws_sockets_open", &[]), 1.0);
    assert_eq!(
        delta(
            &gw0,
            &gw1,
            "totilove_ws_commit_to_socket_seconds_count",
            &[]
        ),
        3.0
    );

    // The auth service: its server side of the gateway's calls.
    let auth_calls = |m: &'static str| [("method", m), ("code", "ok")];
    let grpc = "totilove_grpc_server_requests_total";
    for rpc in [
        "/totilove.auth.v1.AuthService/Register",
        "/totilove.auth.v1.AuthService/Login",
    ] {
        assert_eq!(delta(&auth0, &auth1, grpc, &auth_calls(rpc)), 2.0, "{rpc}");
    }

    // The message service: three calls, three commits, each timed.
    assert_eq!(
        delta(&msg0, &msg1, grpc, &[("method", SEND), ("code", "ok")]),
        3.0
    );
    assert_eq!(
        delta(&msg0, &msg1, "totilove_messages_committed_total", &[]),
        3.0
    );
    assert_eq!(
        delta(
            &msg0,
            &msg1,
            "totilove_message_send_to_commit_seconds_count",
            &[]
        ),
        3.0
    );
    let batches = delta(
        &msg0,
        &msg1,
        "totilove_message_writer_batch_size_count",
        &[],
    );
    assert!((1.0..=3.0).contains(&batches), "{batches} batches");
    assert_eq!(
        delta(&msg0, &msg1, "totilove_message_writer_batch_size_sum", &[]),
        3.0
    );
    // Its own calls: whether the pair is blocked, asked of auth (nothing
    // else in this test asks it).
    let blocked = "/totilove.auth.v1.AuthService/IsBlocked";
    assert!(
        delta(
            &msg0,
            &msg1,
            "totilove_grpc_client_requests_total",
            &[("method", blocked), ("code", "ok")]
        ) >= 1.0
    );

    // The pools, sampled as the processes start.
    let pool = "totilove_store_pool_max_connections";
    for (scrape, store) in [(&msg1, "postgres"), (&msg1, "redis"), (&gw1, "redis")] {
        assert!(scrape.get(pool, &[("store", store)]) >= 1.0, "{store}");
    }
    let connected = [("store", "redis"), ("state", "connected")];
    assert!(msg1.get("totilove_store_pool_connections", &connected) >= 1.0);

    // The presence service: the socket's registration, and bob online.
    let open = "/totilove.presence.v1.PresenceService/OpenConnection";
    assert!(presence1.get(grpc, &[("method", open), ("code", "ok")]) >= 1.0);
    eventually("the presence service to report bob online", || async {
        Scrape::of(&endpoints.presence)
            .await
            .get("totilove_presence_online_users", &[])
            == 1.0
    })
    .await;
}
