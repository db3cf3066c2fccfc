//! The auth service: accounts, password login, sessions (PostgreSQL is the
//! record, Redis the fast path), token validation, profiles and blocks.
//!
//! `api` is the gRPC face; `accounts` holds the login and session steps;
//! `sessions` (with `session_store` and `session_cache`), `throttle` and
//! `registration_limit` (counting in `windows`), `passwords` and `tokens`
//! each own one concern; `users` and `blocks` are
//! the tables of people; `privacy` their settings (and the presence
//! service's Redis copy of who hides); `push` the sessions' Web Push
//! subscriptions.

mod accounts;
mod api;
mod app;
mod audit;
mod blocks;
mod config;
mod domain;
mod passwords;
mod privacy;
mod push;
mod redis;
mod registration_limit;
mod session_cache;
mod session_store;
mod sessions;
mod throttle;
mod tokens;
mod users;
mod windows;

pub use app::{Application, SERVICE_NAME};
pub use config::Config;
pub use passwords::HashCost;
