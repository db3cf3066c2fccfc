//! The HTTP edge: errors in the contract's shape, JSON and query extractors,
//! authentication, client details, path ids and the middleware stack.

pub mod auth;
pub mod client;
pub mod cookie;
pub mod error;
pub mod ids;
pub mod json;
pub mod middleware;
pub mod query;

pub use auth::{AuthSource, CurrentUser, authenticate, check_origin};
pub use client::ClientInfo;
pub use error::{ApiError, ApiResult};
pub use ids::{PathId, parse_id};
pub use json::ApiJson;
pub use query::ApiQuery;
