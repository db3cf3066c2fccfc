//! JSON bodies in and out, with the contract's errors: 415 without
//! `Content-Type: application/json`, 413 over 64 KiB, 400 naming the field
//! for malformed JSON or a wrong type.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};
use totilove_common::Code;

use super::error::ApiError;

/// The largest request body accepted, for every route.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body (as an extractor) or a JSON response.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::invalid("the request body could not be read")
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes`, naming the offending field in the error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("the body is not valid JSON ({inner})")
            }
            _ if path == "." => format!("invalid body: {inner}"),
            _ => format!("invalid field `{path}`: {inner}"),
        };
        ApiError::invalid(message)
    })?;
    de.end()
        .map_err(|_| ApiError::invalid("the body has trailing characters after the JSON value"))?;
    Ok(value)
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        login: String,
        password: String,
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let e = parse::<Login>(br#"{"login": 3, "password": "x"}"#).expect_err("refused");
        assert_eq!(e.code(), Code::InvalidRequest);
        assert!(e.0.message.contains("login"), "{}", e.0.message);
    }

    #[test]
    fn a_missing_field_is_named() {
        let e = parse::<Login>(br#"{"login": "a"}"#).expect_err("refused");
        assert!(e.0.message.contains("password"), "{}", e.0.message);
    }

    #[test]
    fn malformed_json_is_invalid_request() {
        let e = parse::<Login>(br#"{"login": "#).expect_err("refused");
        assert_eq!(e.code(), Code::InvalidRequest);
        let e = parse::<Login>(br#"{"login": "a", "password": "b"} x"#).expect_err("refused");
        assert_eq!(e.code(), Code::InvalidRequest);
    }

    #[test]
    fn content_type_may_carry_a_charset() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().expect("header"),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().expect("header"));
        assert!(!is_json(&h));
    }
}
