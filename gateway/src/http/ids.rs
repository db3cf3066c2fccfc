//! Ids in paths and query strings: positive integers that fit in i64.
//! A non-numeric, zero, negative or too large id is 400; a well-formed id
//! nobody has is the service's 404.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::error::ApiError;

/// Parses a positive i64 id; `field` names it in the error.
pub fn parse_id(raw: &str, field: &str) -> Result<i64, ApiError> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(ApiError::invalid(format!(
            "`{field}` must be a positive integer below 2^63"
        ))),
    }
}

/// The one `{id}` of a path such as `/api/users/{id}`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid("`id` must be a positive integer below 2^63"))?;
        parse_id(&raw, "id").map(PathId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_i64_ids_parse() {
        assert_eq!(parse_id("1", "id").ok(), Some(1));
        assert_eq!(parse_id("9223372036854775807", "id").ok(), Some(i64::MAX));
        for bad in [
            "0",
            "-1",
            "+1",
            "9223372036854775808",
            "abc",
            "1.0",
            "",
            " 1",
        ] {
            assert!(parse_id(bad, "id").is_err(), "{bad:?}");
        }
    }
}
