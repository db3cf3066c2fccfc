//! The message service over gRPC, against real PostgreSQL and Redis and the
//! real auth service (users and blocks).

mod cache;
mod conversations;
mod events;
mod helpers;
mod history;
mod ordering;
mod outage;
mod reports;
mod send;
mod status;
