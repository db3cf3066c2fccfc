//! One message is one trace: from the sender's `send` frame (or REST send)
//! through the message service's commit and the Redis event to the
//! receiver's socket write, across gateways.
//!
//! The tracing subscriber is global per process and the test system runs
//! every service in this one, so this binary installs its own: every span
//! goes to an in-memory exporter. Tests tell their spans apart by trace id.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/ws_helpers.rs"]
mod ws_helpers;

use std::{collections::BTreeSet, sync::OnceLock, time::Duration};

use helpers::{TestApp, expect_json};
use opentelemetry::{
    KeyValue, Value as OtelValue,
    trace::{SpanId, TraceId, TracerProvider as _},
};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{InMemorySpanExporter, SdkTracerProvider, SpanData},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use totilove_testkit::eventually_within;
use tracing_subscriber::{filter::LevelFilter, layer::SubscriberExt, util::SubscriberInitExt};
use ws_helpers::{Ws, new_id};

const SEND: &str = "/totilove.message.v1.MessageService/Send";
/// How long spans may take to end after the frames arrived.
const SPAN_WAIT: Duration = Duration::from_secs(10);

/// Every span of this process, exported as each ends.
fn exported() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .try_init()
            .expect("no other subscriber in this binary");
        exporter
    })
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| &kv.value)
}

fn has(span: &SpanData, key: &str, want: i64) -> bool {
    matches!(attribute(span, key), Some(OtelValue::I64(v)) if *v == want)
}

fn has_str(span: &SpanData, key: &str, want: &str) -> bool {
    attribute(span, key).is_some_and(|v| v.as_str() == want)
}

/// What one expected span is: its name and a check of its fields.
struct Wanted<'a> {
    what: &'a str,
    check: Box<dyn Fn(&SpanData) -> bool + 'a>,
}

fn wanted<'a>(what: &'a str, check: impl Fn(&SpanData) -> bool + 'a) -> Wanted<'a> {
    Wanted {
        what,
        check: Box::new(check),
    }
}

/// Waits until every wanted span has ended in `trace`; one of each, in order.
async fn spans_of(trace: TraceId, wanted: &[Wanted<'_>]) -> Vec<SpanData> {
    let what = format!("the wanted spans of trace {trace}");
    eventually_within(SPAN_WAIT, &what, || async {
        let spans: Vec<SpanData> = exported()
            .get_finished_spans()
            .expect("the exporter answers")
            .into_iter()
            .filter(|s| s.span_context.trace_id() == trace)
            .collect();
        let found: Vec<Option<&SpanData>> = wanted
            .iter()
            .map(|w| spans.iter().find(|s| (w.check)(s)))
            .collect();
        if found.iter().all(Option::is_some) {
            return Ok(found.into_iter().flatten().cloned().collect::<Vec<_>>());
        }
        let missing: Vec<_> = wanted
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(w, _)| w.what)
            .collect();
        let seen: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
        Err(format!("missing {missing:?}; the trace has {seen:?}"))
    })
    .await
}

/// A `message` frame has the contract's fields and nothing internal.
fn assert_contract_frame(frame: &Value) {
    assert!(
        !frame.to_string().contains("traceparent"),
        "no trace context in a browser's frame: {frame}"
    );
    let keys: BTreeSet<&str> = frame
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["type", "message"]), "{frame}");
    let message_keys: BTreeSet<&str> = frame["message"]
        .as_object()
        .expect("a message")
        .keys()
        .map(String::as_str)
        .collect();
    let contract = [
        "id",
        "sender_id",
        "receiver_id",
        "content",
        "created_at",
        "status",
        "client_msg_id",
    ];
    assert_eq!(message_keys, BTreeSet::from(contract), "{frame}");
}

#[tokio::test]
async fn a_message_sent_over_a_socket_is_one_trace_to_the_receivers_socket() {
    exported();
    // Two gateways: the event crosses Redis from one process's view to another's.
    let app = TestApp::start_cluster(2, 1, &[]).await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut alice_ws = Ws::open(&app.system.gateways[0].url, &alice.token).await;
    let mut bob_ws = Ws::open(&app.system.gateways[1].url, &bob.token).await;

    let sent = alice_ws.send_message(bob.id, "traced hello").await;
    let id = sent["id"].as_i64().expect("an id");
    let frame = bob_ws.next_of("message").await;
    assert_eq!(frame["message"]["id"], id);
    assert_contract_frame(&frame);

    // The root: Alice's frame.
    let ws_send = eventually_within(SPAN_WAIT, "the WS send span", || async {
        exported()
            .get_finished_spans()
            .expect("the exporter answers")
            .into_iter()
            .find(|s| s.name == "WS send" && has(s, "user_id", alice.id))
    })
    .await;
    assert_eq!(
        ws_send.parent_span_id,
        SpanId::INVALID,
        "a frame starts a trace"
    );
    let conversation = format!("{}:{}", alice.id.min(bob.id), alice.id.max(bob.id));
    assert!(has_str(&ws_send, "conversation", &conversation));

    let trace = ws_send.span_context.trace_id();
    let path = spans_of(
        trace,
        &[
            wanted("the message service's call", |s| {
                s.name == "gRPC request" && has_str(s, "rpc", SEND)
            }),
            wanted("the message service's handler", |s| {
                s.name == "Send a message" && has(s, "user_id", alice.id)
            }),
            wanted("the commit", |s| {
                s.name == "Commit a message"
                    && has(s, "message_id", id)
                    && has(s, "user_id", alice.id)
                    && has_str(s, "conversation", &conversation)
            }),
            wanted("the publication", |s| {
                s.name == "Publish a message" && has(s, "message_id", id)
            }),
            wanted("the delivery to Bob", |s| {
                s.name == "Deliver a message"
                    && has(s, "user_id", bob.id)
                    && has(s, "message_id", id)
                    && has_str(s, "conversation", &conversation)
            }),
            wanted("the write to Bob's socket", |s| {
                s.name == "WS write" && has(s, "user_id", bob.id) && has(s, "message_id", id)
            }),
            // (Alice's socket writes its `sent` from the echo or from the
            // call's answer, whichever comes first: no write is certain.)
            wanted("the echo to Alice", |s| {
                s.name == "Deliver a message" && has(s, "user_id", alice.id)
            }),
        ],
    )
    .await;
    let [rpc, handler, commit, publish, deliver, write, echo] = &path[..] else {
        unreachable!("one span per wanted")
    };
    // Each hop is a child of the one before.
    let parent_of = |child: &SpanData, parent: &SpanData| {
        assert_eq!(
            child.parent_span_id,
            parent.span_context.span_id(),
            "{} is a child of {}",
            child.name,
            parent.name
        );
    };
    parent_of(rpc, &ws_send);
    parent_of(handler, rpc);
    parent_of(commit, handler);
    parent_of(publish, commit);
    parent_of(deliver, publish);
    parent_of(write, deliver);
    parent_of(echo, publish);

    // The batch the commit was part of is a trace of its own, linked to it.
    let batch = exported()
        .get_finished_spans()
        .expect("the exporter answers")
        .into_iter()
        .find(|s| {
            s.name == "Commit a batch"
                && s.links
                    .iter()
                    .any(|l| l.span_context.span_id() == commit.span_context.span_id())
        });
    assert!(batch.is_some(), "the batch span links the message's commit");
}

#[tokio::test]
async fn a_rest_send_continues_the_callers_trace() {
    exported();
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let mut bob_ws = Ws::open(app.system.url(), &bob.token).await;

    let trace = TraceId::from(uuid::Uuid::new_v4().as_u128());
    let callers_span = SpanId::from(0x00f0_67aa_0ba9_02b7);
    let res = app
        .request(
            reqwest::Method::POST,
            "/api/messages/send",
            Some(&alice.token),
        )
        .header("traceparent", format!("00-{trace}-{callers_span}-01"))
        .json(&json!({"to": bob.id, "content": "traced over REST", "client_msg_id": new_id()}))
        .send()
        .await
        .expect("the gateway answers");
    let sent = expect_json(res, StatusCode::CREATED).await;
    let id = sent["message"]["id"].as_i64().expect("an id");
    let frame = bob_ws.next_of("message").await;
    assert_eq!(frame["message"]["id"], id);
    assert_contract_frame(&frame);

    let path = spans_of(
        trace,
        &[
            wanted("the HTTP request", |s| {
                s.name == "HTTP request" && has_str(s, "path", "/api/messages/send")
            }),
            wanted("the route", |s| {
                s.name == "messages.send" && has(s, "user_id", alice.id)
            }),
            wanted("the send", |s| {
                s.name == "REST send" && has(s, "user_id", alice.id)
            }),
            wanted("the message service's call", |s| {
                s.name == "gRPC request" && has_str(s, "rpc", SEND)
            }),
            wanted("the commit", |s| {
                s.name == "Commit a message" && has(s, "message_id", id)
            }),
            wanted("the delivery to Bob", |s| {
                s.name == "Deliver a message" && has(s, "user_id", bob.id)
            }),
            wanted("the write to Bob's socket", |s| {
                s.name == "WS write" && has(s, "user_id", bob.id) && has(s, "message_id", id)
            }),
        ],
    )
    .await;
    assert_eq!(
        path[0].parent_span_id, callers_span,
        "the request is a child of the caller's span"
    );
    assert!(
        has(&path[0], "user_id", alice.id),
        "the authentication records who called into the request's span"
    );
    assert_eq!(path[1].parent_span_id, path[0].span_context.span_id());
    assert_eq!(path[2].parent_span_id, path[1].span_context.span_id());
}
