//! The auth service over gRPC, against real PostgreSQL and Redis.

mod blocks;
mod helpers;
mod internal_credential;
mod login;
mod outage;
mod privacy;
mod profile;
mod register;
mod search;
mod sessions;
mod throttle;
