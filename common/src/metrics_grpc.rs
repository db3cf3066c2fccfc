//! gRPC call metrics, one implementation for both ends: a tower layer on a
//! service's server (`totilove_grpc_server_*`) and on a client's channel
//! (`totilove_grpc_client_*`), by method and status code.
//!
//! Every call here is unary, so the status is known when the response head
//! arrives: an error is a trailers-only answer whose `grpc-status` is in the
//! head; a head without it is a success (its `grpc-status: 0` follows in the
//! trailers). Latency is measured to that head.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use tower::{Layer, Service};

use crate::metrics::{intern, seconds_since};

/// Which end of the call is measured.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    Server,
    Client,
}

#[derive(Clone, Copy, Debug)]
pub struct GrpcMetricsLayer {
    side: Side,
}

impl GrpcMetricsLayer {
    pub fn server() -> Self {
        Self { side: Side::Server }
    }

    pub fn client() -> Self {
        Self { side: Side::Client }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            side: self.side,
        }
    }
}

#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
    side: Side,
}

impl<S> GrpcMetrics<S> {
    /// A client channel whose calls are counted.
    pub fn client(inner: S) -> Self {
        GrpcMetricsLayer::client().layer(inner)
    }
}

impl<S, B, RB> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = intern(req.uri().path());
        let side = self.side;
        let start = Instant::now();
        let call = self.inner.call(req);
        Box::pin(async move {
            let res = call.await;
            let code = match &res {
                Ok(res) => res
                    .headers()
                    .get("grpc-status")
                    .map_or("ok", |v| code_name(tonic::Code::from_bytes(v.as_bytes()))),
                // The call never got an answer (connect failure, reset):
                // tonic reports it to the caller as `unavailable`.
                Err(_) => "unavailable",
            };
            record(side, method, code, seconds_since(start));
            res
        })
    }
}

fn record(side: Side, method: &'static str, code: &'static str, seconds: f64) {
    match side {
        Side::Server => {
            metrics::counter!("totilove_grpc_server_requests_total", "method" => method, "code" => code)
                .increment(1);
            metrics::histogram!("totilove_grpc_server_duration_seconds", "method" => method)
                .record(seconds);
        }
        Side::Client => {
            metrics::counter!("totilove_grpc_client_requests_total", "method" => method, "code" => code)
                .increment(1);
            metrics::histogram!("totilove_grpc_client_duration_seconds", "method" => method)
                .record(seconds);
        }
    }
}

/// The gRPC names of the codes, as Prometheus labels.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "ok",
        Cancelled => "cancelled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}
