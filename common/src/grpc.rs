//! Internal gRPC plumbing shared by every service and the gateway.
//!
//! Two things cross every internal hop:
//! - the internal service credential (`x-internal-token`), so the services'
//!   ports are not an open door: without it, a caller could act as any user id;
//! - the W3C trace context (`traceparent`), so one request is one trace.

use std::{
    task::{Context, Poll},
    time::Duration,
};

use futures::future::{Either, Ready, ready};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use subtle::ConstantTimeEq;
use tonic::{
    metadata::{MetadataKey, MetadataMap, MetadataValue},
    service::Interceptor,
    transport::{Channel, Endpoint, Server},
};
use tower::{Layer, Service, layer::util::Stack};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{config::Secret, metrics_grpc::GrpcMetricsLayer};

pub const INTERNAL_TOKEN_HEADER: &str = "x-internal-token";
/// Health checks are open: orchestrators probe them without the credential.
const OPEN_PATH_PREFIX: &str = "/grpc.health.v1.Health/";

/// The client side: adds the credential and the current trace context to every call.
#[derive(Debug, Clone)]
pub struct Outbound {
    token: MetadataValue<tonic::metadata::Ascii>,
}

impl Outbound {
    pub fn new(token: &Secret) -> anyhow::Result<Self> {
        Ok(Self {
            token: token.expose().parse()?,
        })
    }
}

impl Interceptor for Outbound {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut()
            .insert(INTERNAL_TOKEN_HEADER, self.token.clone());
        let cx = tracing::Span::current().context();
        // Without a recorded span (no exporter) there is nothing to carry.
        if cx.span().span_context().is_valid() {
            opentelemetry::global::get_text_map_propagator(|p| {
                p.inject_context(&cx, &mut MetadataInjector(req.metadata_mut()))
            });
        }
        Ok(req)
    }
}

/// What every internal client calls through: the credential and the trace
/// context added ([`Outbound`]), the calls counted (`totilove_grpc_client_*`).
pub type Intercepted = tonic::service::interceptor::InterceptedService<
    crate::metrics_grpc::GrpcMetrics<Channel>,
    Outbound,
>;

/// [`channel`] with its calls counted, ready for a client's `with_interceptor`.
pub fn counted_channel(urls: &str) -> anyhow::Result<crate::metrics_grpc::GrpcMetrics<Channel>> {
    Ok(crate::metrics_grpc::GrpcMetrics::client(channel(urls)?))
}

/// A channel to a service that connects lazily and reconnects by itself, so a
/// service that starts later (or restarts) is picked up without a restart here.
/// `urls` may list several replicas, comma-separated, or name a host that
/// resolves to several: calls spread over those that answer (see `balance`).
/// Call it inside a Tokio runtime.
pub fn channel(urls: &str) -> anyhow::Result<Channel> {
    let uris = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<http::Uri>()
                .map_err(|e| anyhow::anyhow!("bad service URL {u:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    match uris.as_slice() {
        [] => anyhow::bail!("no service URL in {urls:?}"),
        [one] if !crate::balance::wanted(&uris) => Ok(endpoint(&one.to_string())?.connect_lazy()),
        _ => Ok(crate::balance::balanced(uris, endpoint)),
    }
}

fn endpoint(url: &str) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        // No call may hang: the API promises an answer within 10 s.
        .timeout(Duration::from_secs(8))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_while_idle(true))
}

/// The server side: a tonic server that refuses calls without the credential
/// and makes the caller's trace context the parent of each request's span.
pub fn server(
    token: &Secret,
) -> Server<Stack<RequireCredentialLayer, Stack<GrpcMetricsLayer, tower::layer::util::Identity>>> {
    Server::builder()
        .timeout(Duration::from_secs(9))
        .tcp_nodelay(true)
        .trace_fn(request_span)
        // Outside the credential check, so refused calls are counted too.
        .layer(GrpcMetricsLayer::server())
        .layer(RequireCredentialLayer {
            token: token.clone(),
        })
}

/// gRPC reflection advertising `service` (its full name, the generated
/// `SERVICE_NAME`), so `grpcurl` can list and call it. Served like every
/// other call: behind the internal credential.
pub fn reflection(
    service: &str,
) -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    Ok(tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(totilove_proto::FILE_DESCRIPTOR_SET)
        .with_service_name(service)
        .build_v1()?)
}

/// The span of one call, its parent the caller's span (set before anything
/// enters the span or makes a child of it, as `set_parent` requires).
fn request_span(req: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!("gRPC request", rpc = %req.uri().path());
    if req
        .headers()
        .contains_key(crate::trace_context::TRACEPARENT)
    {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(req.headers()))
        });
        // An error only means no subscriber records OpenTelemetry data.
        let _ = span.set_parent(parent);
    }
    span
}

#[derive(Debug, Clone)]
pub struct RequireCredentialLayer {
    token: Secret,
}

impl<S> Layer<S> for RequireCredentialLayer {
    type Service = RequireCredential<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireCredential {
            inner,
            token: self.token.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequireCredential<S> {
    inner: S,
    token: Secret,
}

impl<S, B, RB> Service<http::Request<B>> for RequireCredential<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let presented = req
            .headers()
            .get(INTERNAL_TOKEN_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let ok = bool::from(presented.ct_eq(self.token.expose().as_bytes()))
            || req.uri().path().starts_with(OPEN_PATH_PREFIX);
        if ok {
            Either::Left(self.inner.call(req))
        } else {
            tracing::warn!(rpc = %req.uri().path(), "refused a call without the internal credential");
            let status = tonic::Status::unauthenticated("internal credential required");
            Either::Right(ready(Ok(status.into_http())))
        }
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Binds a service's listener; `127.0.0.1:0` in tests.
pub async fn bind(addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Turns a bound listener into the stream tonic serves.
pub fn incoming(listener: tokio::net::TcpListener) -> tokio_stream::wrappers::TcpListenerStream {
    tokio_stream::wrappers::TcpListenerStream::new(listener)
}
