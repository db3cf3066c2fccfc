//! The layers every request passes through, outermost first. Each says why
//! it sits where it does.

use std::time::{Duration, Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use totilove_common::{
    Code,
    metrics::{intern, seconds_since},
    trace_context,
};
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use super::{error::ApiError, json::MAX_BODY_BYTES};
use crate::{Config, state::AppState};

/// The API promises an answer within 10 s, whatever the backends do.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every route (and the fallbacks) of `router` in the gateway's layers.
pub fn layers(router: Router<AppState>, config: &Config) -> Router<AppState> {
    router.layer(
        ServiceBuilder::new()
            // Outermost, so it counts the status the browser really gets
            // (timeouts and rewritten errors included) and the whole latency.
            .layer(middleware::from_fn(http_metrics))
            // Outermost, so that every response carries it, including those
            // made by the layers below (CORS preflights, timeouts, rewritten errors).
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            // Before tracing, so the request's span can name its id
            // (a client's own `x-request-id` is kept, to follow it end to end).
            .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
            // Sees every request with its id and the final status of every answer.
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            // Echoes the id on every answer, errors included, so a person can quote it.
            .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
            // Outside the error rewriting and the handlers: preflights are answered
            // here, and error answers carry CORS headers so the browser can read them.
            .layer(cors(config))
            // Rewrites the plain-text errors of the layers below and of axum's
            // own rejections into the contract's shape.
            .layer(middleware::map_response(contract_errors))
            // Inside the rewrite, so a timeout is answered in the contract's shape.
            .layer(middleware::from_fn(deadline))
            // Innermost: it must wrap the body the handlers read. A declared
            // Content-Length over the limit is refused before any work.
            .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
    )
}

/// Names the span after the route template (not the raw path: ids would make
/// every span unique) and carries the request id. A caller's W3C
/// `traceparent` makes it a child in the caller's trace.
fn request_span(req: &Request) -> tracing::Span {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // `user_id` is filled by the authentication (`http::auth`), once known.
    let span = tracing::info_span!(
        "HTTP request",
        method = %req.method(),
        path,
        request_id,
        user_id = tracing::field::Empty,
    );
    let traceparent = req
        .headers()
        .get(trace_context::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    trace_context::adopt(&span, traceparent);
    span
}

/// Counts each request by route template (never the raw path: ids would
/// make every series unique), method and status, and times it. WebSocket
/// upgrades count once, as their 101.
async fn http_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| intern(p.as_str()));
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.run(req).await;
    let status = intern(res.status().as_str());
    metrics::counter!("totilove_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("totilove_http_request_duration_seconds", "route" => route, "method" => method)
        .record(seconds_since(start));
    res
}

/// The methods the API serves; any other (a client may invent them) is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// CORS for the configured origins only, with credentials (the cookie), so
/// never `*`. With no configured origins, no cross-origin caller is answered.
fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, X_REQUEST_ID])
        .expose_headers([X_REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

async fn deadline(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            Code::Unavailable,
            "the request took too long, try again shortly",
        )
        .into_response(),
    }
}

/// Any error answer that is not already JSON (axum's 405 and rejections,
/// tower-http's 413) becomes `{"error":{"code","message"}}`; its other
/// headers (such as `Allow`) are kept.
async fn contract_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let (fresh, body) = ApiError::from_status(status).into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(fresh.headers);
    parts.status = fresh.status;
    Response::from_parts(parts, body)
}

/// Unknown routes: 404 `not_found`.
pub async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, "no such resource")
}

/// A known route asked with a method it does not serve: 405.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        "method not allowed on this resource",
    )
}
