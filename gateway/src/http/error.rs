//! The API's error answer: `{"error": {"code", "message"}}` with the HTTP
//! status the common crate's code table gives, and `Retry-After` when rate limited.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use totilove_common::{Code, Error};

/// An error answered to a browser. Build it from a common [`Error`], or let `?`
/// convert a backend `tonic::Status` (its `x-error-code` gives the exact code).
#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self(Error::new(code, message))
    }

    /// 400 `invalid_request`; the message names the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self(Error::invalid(message))
    }

    pub fn unauthorized() -> Self {
        Self(Error::unauthorized())
    }

    pub fn not_found(what: &str) -> Self {
        Self(Error::not_found(what))
    }

    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The error a bare status (from axum or a tower layer) stands for, so no
    /// library's plain-text error body ever reaches a client.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => (Code::InvalidRequest, "the request is malformed"),
            401 => (Code::Unauthorized, "authentication required"),
            403 => (Code::Forbidden, "not allowed"),
            404 => (Code::NotFound, "no such resource"),
            405 => (
                Code::MethodNotAllowed,
                "method not allowed on this resource",
            ),
            409 => (Code::Conflict, "conflict"),
            413 => (Code::PayloadTooLarge, "the request body is over 64 KiB"),
            415 => (
                Code::UnsupportedMediaType,
                "the body must be JSON (Content-Type: application/json)",
            ),
            429 => (Code::RateLimited, "too many requests, slow down"),
            501 => (Code::NotImplemented, "not implemented yet"),
            408 | 502..=504 => (
                Code::Unavailable,
                "the service is unavailable, try again shortly",
            ),
            s if (400..500).contains(&s) => (Code::InvalidRequest, "the request is not acceptable"),
            _ => (Code::Internal, "internal error"),
        };
        Self::new(code, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        Self(Error::from(s))
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Error {
            code,
            message,
            retry_after,
        } = self.0;
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(%code, %message, "answered a server error");
        }
        let mut res = (
            status,
            Json(Body {
                error: Detail {
                    code: code.as_str(),
                    message: &message,
                },
            }),
        )
            .into_response();
        if code == Code::RateLimited {
            let secs = retry_after.unwrap_or(1).max(1);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
