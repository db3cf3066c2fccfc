//! One message, one trace: the spans of a message's path and the W3C trace
//! context they carry where gRPC metadata does not go (inside the Redis
//! events, see `events::Event::Message`).
//!
//! The path's spans use the target [`TARGET`]. `telemetry::init` disables
//! that target when no exporter is configured, so then each of them costs
//! one check at its call site, and nothing here does any work (every helper
//! returns at once for a disabled span). The plain logs never carry them
//! (they would format their fields for every message).

use std::fmt;

use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of the spans of a message's path (`target: TARGET` in the
/// span macros).
pub const TARGET: &str = "totilove::trace";

/// The field carrying the context in events and the HTTP header's name.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` (W3C, version 00) of `span`, when it is recorded and
/// sampled; `None` otherwise, without work for a disabled span. One short
/// string (55 bytes).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let span_cx = cx.span().span_context().clone();
    if !span_cx.is_valid() || !span_cx.is_sampled() {
        return None;
    }
    let mut out = String::with_capacity(55);
    use fmt::Write as _;
    let _ = write!(
        out,
        "00-{}-{}-{:02x}",
        span_cx.trace_id(),
        span_cx.span_id(),
        span_cx.trace_flags().to_u8()
    );
    Some(out)
}

/// Makes the context `traceparent` names the parent of `span` (which must
/// not have been entered, nor have children, yet). Nothing for a disabled
/// span or an unreadable `traceparent` (the span stays a root).
pub fn adopt(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    if span.is_disabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&One(traceparent));
    if parent.span().span_context().is_valid() {
        // An error only means no OpenTelemetry layer records this span.
        let _ = span.set_parent(parent);
    }
}

/// Links `from` (a span of many messages, such as a batch) to `to` (one
/// message's span), so each can be found from the other's trace.
pub fn link(from: &tracing::Span, to: &tracing::Span) {
    if from.is_disabled() || to.is_disabled() {
        return;
    }
    let to = to.context().span().span_context().clone();
    if to.is_sampled() {
        from.add_link(to);
    }
}

/// A conversation as spans name it, `lo:hi` (the two people's ids, smaller
/// first: the same whoever sends). Formatted only when a span records it.
#[derive(Clone, Copy, Debug)]
pub struct Conversation(i64, i64);

impl Conversation {
    pub fn of(a: i64, b: i64) -> Self {
        Self(a.min(b), a.max(b))
    }
}

impl fmt::Display for Conversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

/// A carrier holding only a `traceparent`.
struct One<'a>(&'a str);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_is_the_same_whoever_sends() {
        assert_eq!(Conversation::of(9, 3).to_string(), "3:9");
        assert_eq!(Conversation::of(3, 9).to_string(), "3:9");
    }

    #[test]
    fn without_a_recording_subscriber_nothing_is_carried() {
        // No subscriber in this test: every span is disabled.
        let span = tracing::info_span!(target: TARGET, "a span");
        assert!(traceparent(&span).is_none());
        adopt(
            &span,
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        assert!(traceparent(&span).is_none());
    }

    /// A subscriber recording OpenTelemetry spans (sampled, no exporter).
    fn recording() -> impl tracing::Subscriber {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
    }

    #[test]
    fn a_span_adopted_from_a_traceparent_continues_its_trace() {
        tracing::subscriber::with_default(recording(), || {
            let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            let span = tracing::info_span!(target: TARGET, "received");
            adopt(&span, Some(incoming));
            let carried = traceparent(&span).expect("a sampled span has a traceparent");
            assert_eq!(carried.len(), 55);
            assert!(carried.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
            assert!(carried.ends_with("-01"));
            assert_ne!(carried, incoming, "its own span id");

            // Carried on, it makes the next span a child in the same trace.
            let next = tracing::info_span!(target: TARGET, "next hop");
            adopt(&next, Some(&carried));
            let next_cx = next.context().span().span_context().clone();
            assert_eq!(
                next_cx.trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
        });
    }

    #[test]
    fn a_not_sampled_or_unreadable_context_is_not_carried() {
        tracing::subscriber::with_default(recording(), || {
            let unsampled = tracing::info_span!(target: TARGET, "unsampled");
            adopt(
                &unsampled,
                Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            );
            assert!(traceparent(&unsampled).is_none());

            let junk = tracing::info_span!(target: TARGET, "junk");
            adopt(&junk, Some("not a traceparent"));
            // A root of its own trace, still carried.
            assert!(traceparent(&junk).is_some());
        });
    }
}
