//! The one error vocabulary of Totilove.
//!
//! Every error a caller can see has a [`Code`]. The table below maps each code
//! to its gRPC status code and its HTTP status, so a service raises an
//! [`Error`], it crosses gRPC as a `Status` carrying the exact code in the
//! `x-error-code` metadata, and the gateway answers the API's
//! `{"error":{"code","message"}}` with the status the table gives.

use std::fmt;

use tonic::metadata::MetadataValue;

/// Metadata key carrying the [`Code`] across gRPC (several codes share a `tonic::Code`).
pub const CODE_METADATA: &str = "x-error-code";
/// Metadata key carrying `Retry-After` seconds for [`Code::RateLimited`].
pub const RETRY_AFTER_METADATA: &str = "retry-after";

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal, $grpc:ident, $http:literal;)*) => {
        /// An error code of the public API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The snake_case name clients see.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            pub fn grpc(self) -> tonic::Code {
                match self { $(Code::$variant => tonic::Code::$grpc,)* }
            }

            pub fn http_status(self) -> u16 {
                match self { $(Code::$variant => $http,)* }
            }

            pub fn parse(name: &str) -> Option<Code> {
                match name { $($name => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    /// Malformed input or a failed validation; the message names the field.
    InvalidRequest => "invalid_request", InvalidArgument, 400;
    /// Missing, malformed, expired or revoked credentials.
    Unauthorized => "unauthorized", Unauthenticated, 401;
    /// Login with an unknown user or a wrong password (indistinguishable).
    InvalidCredentials => "invalid_credentials", Unauthenticated, 401;
    /// Acting on something that is not the caller's.
    Forbidden => "forbidden", PermissionDenied, 403;
    /// One of the two people blocks the other.
    Blocked => "blocked", PermissionDenied, 403;
    /// Unknown, or hidden from the caller.
    NotFound => "not_found", NotFound, 404;
    MethodNotAllowed => "method_not_allowed", Unimplemented, 405;
    /// Taken (username, email).
    Conflict => "conflict", AlreadyExists, 409;
    PayloadTooLarge => "payload_too_large", InvalidArgument, 413;
    /// A WebSocket frame over the limit.
    FrameTooLarge => "frame_too_large", InvalidArgument, 413;
    UnsupportedMediaType => "unsupported_media_type", InvalidArgument, 415;
    /// A retried `client_msg_id` with another recipient or content.
    IdempotencyMismatch => "idempotency_mismatch", FailedPrecondition, 422;
    RateLimited => "rate_limited", ResourceExhausted, 429;
    /// A bug; details are logged, never sent.
    Internal => "internal", Internal, 500;
    /// Not built yet.
    NotImplemented => "not_implemented", Unimplemented, 501;
    /// A service or store cannot be reached and no fallback is possible.
    Unavailable => "unavailable", Unavailable, 503;
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with a public code and a human message safe to show a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: Code,
    pub message: String,
    /// Seconds, for [`Code::RateLimited`].
    pub retry_after: Option<u64>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} not found"))
    }

    pub fn unauthorized() -> Self {
        Self::new(Code::Unauthorized, "authentication required")
    }

    pub fn unavailable(what: &str) -> Self {
        Self::new(
            Code::Unavailable,
            format!("{what} is unavailable, try again shortly"),
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(Code::RateLimited, "too many requests, slow down")
        }
    }

    /// Logs the cause with the chain of its sources (a driver's error
    /// often says little at the top) and answers a bare internal error.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        tracing::error!(error = format!("{cause:#}"), "internal error");
        Self::new(Code::Internal, "internal error")
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let mut meta = tonic::metadata::MetadataMap::new();
        meta.insert(CODE_METADATA, MetadataValue::from_static(e.code.as_str()));
        if let Some(secs) = e.retry_after {
            meta.insert(RETRY_AFTER_METADATA, MetadataValue::from(secs));
        }
        tonic::Status::with_metadata(e.code.grpc(), e.message, meta)
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        let tagged = s
            .metadata()
            .get(CODE_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(Code::parse);
        let code = tagged.unwrap_or(match s.code() {
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange => Code::InvalidRequest,
            tonic::Code::Unauthenticated => Code::Unauthorized,
            tonic::Code::PermissionDenied => Code::Forbidden,
            tonic::Code::NotFound => Code::NotFound,
            tonic::Code::AlreadyExists => Code::Conflict,
            tonic::Code::ResourceExhausted => Code::RateLimited,
            tonic::Code::FailedPrecondition => Code::IdempotencyMismatch,
            tonic::Code::Unimplemented => Code::NotImplemented,
            // Every answer of our services is tagged: an untagged Unknown or
            // Internal is the transport's (a replica that died mid-call, a
            // reset stream), so the caller may retry it elsewhere.
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Aborted
            | tonic::Code::Unknown
            | tonic::Code::Internal => Code::Unavailable,
            _ => Code::Internal,
        });
        let message = if tagged.is_some() {
            s.message().to_owned()
        } else {
            // An untagged status comes from the transport or a library: its
            // text may name internal addresses, so it is logged, not passed on.
            tracing::warn!(status = ?s.code(), message = s.message(), "untagged gRPC error");
            match code {
                Code::Unavailable => "a backend service is unavailable, try again shortly".into(),
                other => other.as_str().replace('_', " "),
            }
        };
        let retry_after = s
            .metadata()
            .get(RETRY_AFTER_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Self {
            code,
            message,
            retry_after,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::RowNotFound = &e {
            return Error::not_found("record");
        }
        // Every other PostgreSQL failure that becomes an answer is counted.
        metrics::counter!("totilove_store_errors_total", "store" => "postgres").increment(1);
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => {
                tracing::warn!(error = %e, "PostgreSQL unreachable");
                Error::unavailable("the database")
            }
            // The server answered but cannot serve now: connection exceptions
            // (class 08), shutting down or starting up (57P0x), too many
            // connections (53300), a statement or lock timeout (57014, 55P03).
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08")
                        || c.starts_with("57P0")
                        || c == "53300"
                        || c == "57014"
                        || c == "55P03"
                }) =>
            {
                tracing::warn!(error = %e, "PostgreSQL cannot serve now");
                Error::unavailable("the database")
            }
            _ => Error::internal(e),
        }
    }
}

impl From<fred::error::Error> for Error {
    fn from(e: fred::error::Error) -> Self {
        tracing::warn!(error = %e, "Redis error");
        metrics::counter!("totilove_store_errors_total", "store" => "redis").increment(1);
        Error::unavailable("the cache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untagged_transport_failure_is_unavailable_and_says_nothing_internal() {
        for status in [
            tonic::Status::unknown("h2 protocol error: connection reset to 10.0.0.7:50052"),
            tonic::Status::internal("stream reset"),
            tonic::Status::unavailable("tcp connect error"),
        ] {
            let e = Error::from(status);
            assert_eq!(e.code, Code::Unavailable);
            assert!(
                !e.message.contains("10.0.0.7") && !e.message.contains("reset"),
                "{e}"
            );
        }
        // A tagged internal error stays what the service said.
        let tagged = tonic::Status::from(Error::new(Code::Internal, "a bug"));
        assert_eq!(Error::from(tagged).code, Code::Internal);
    }

    #[test]
    fn every_code_round_trips_through_grpc_with_its_http_status() {
        for &code in Code::ALL {
            let mut e = Error::new(code, "why");
            if code == Code::RateLimited {
                e.retry_after = Some(7);
            }
            let back = Error::from(tonic::Status::from(e.clone()));
            assert_eq!(back, e);
            assert!((400..600).contains(&code.http_status()));
            assert_eq!(Code::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn untagged_transport_errors_become_unavailable_without_leaking_detail() {
        let e = Error::from(tonic::Status::unavailable(
            "tcp connect error 10.0.0.7:50051",
        ));
        assert_eq!(e.code, Code::Unavailable);
        assert!(!e.message.contains("10.0.0.7"));
    }
}
