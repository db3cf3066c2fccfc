//! Logs and traces: `tracing` everywhere, exported over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, plain logs otherwise.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{
    EnvFilter, Layer as _, filter::filter_fn, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::trace_context;

const DEFAULT_FILTER: &str = "info,sqlx=warn,fred=warn,h2=warn,tower=warn,hyper=warn";

/// Keeps the exporter alive; flushes pending spans when dropped.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber. `LOG_FORMAT=json` gives JSON lines;
/// `RUST_LOG` sets the filter. Safe to call twice (the second call is a no-op).
pub fn init(service: &'static str) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = crate::config::var("OTEL_EXPORTER_OTLP_ENDPOINT").and_then(|_| {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
        {
            Ok(exporter) => Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name(service)
                            .build(),
                    )
                    .build(),
            ),
            Err(e) => {
                eprintln!("OTLP exporter disabled: {e}");
                None
            }
        }
    });
    let _ = subscriber(service, provider.as_ref()).try_init();
    Telemetry { provider }
}

/// The logs, and the traces when `provider` exports them.
fn subscriber(
    service: &'static str,
    provider: Option<&SdkTracerProvider>,
) -> impl tracing::Subscriber + Send + Sync {
    let fmt = if crate::config::var("LOG_FORMAT").as_deref() == Some("json") {
        tracing_subscriber::fmt::layer().json().boxed()
    } else {
        tracing_subscriber::fmt::layer().boxed()
    };
    // The spans of a message's path are for the exporter only: the logs
    // would format their fields for every message.
    let fmt = fmt.with_filter(filter_fn(|meta| meta.target() != trace_context::TARGET));
    let otel = provider.map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    tracing_subscriber::registry()
        .with(filter(provider.is_some()))
        .with(fmt)
        .with(otel)
}

/// `RUST_LOG` (or the default), and the message path's spans (see
/// `trace_context`) only when `exporting`: without an exporter they are
/// disabled where they are created, one check each, nothing allocated.
fn filter(exporting: bool) -> EnvFilter {
    let path = if exporting { "info" } else { "off" };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    match format!("{}={path}", trace_context::TARGET).parse() {
        Ok(directive) => filter.add_directive(directive),
        // (A constant: it parses.)
        Err(_) => filter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a span of the message's path, and an ordinary one, are
    /// created (and the first carried on) under the processes' subscriber.
    fn traced(provider: Option<&SdkTracerProvider>) -> (bool, bool, bool) {
        tracing::subscriber::with_default(subscriber("test", provider), || {
            let path = tracing::info_span!(target: trace_context::TARGET, "a message's span");
            let other = tracing::info_span!("a request's span");
            let carried = trace_context::traceparent(&path).is_some();
            (!path.is_disabled(), carried, !other.is_disabled())
        })
    }

    #[test]
    fn the_message_path_is_traced_only_with_an_exporter() {
        assert_eq!(traced(None), (false, false, true));
        let provider = SdkTracerProvider::builder().build();
        assert_eq!(traced(Some(&provider)), (true, true, true));
    }
}
