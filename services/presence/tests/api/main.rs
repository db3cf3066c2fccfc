//! The presence service over gRPC, against real Redis and the real auth and
//! message services (who shares a conversation with whom, and blocks).

mod connections;
mod helpers;
mod hidden;
mod lookup;
mod outage;
mod typing;
