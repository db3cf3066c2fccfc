//! What every Totilove binary shares: configuration from the environment,
//! telemetry, graceful shutdown, the error-code table used by both gRPC and
//! HTTP, the internal gRPC plumbing (credential + trace context), health
//! probes of the stores, the PostgreSQL / Redis connection setup, and the
//! domain values every service passes (`UserId`, `MessageStatus`).

mod balance;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod health;
pub mod metrics;
pub mod metrics_grpc;
pub mod postgres;
pub mod redis;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod trace_context;

pub use domain::{MessageStatus, UserId};
pub use error::{Code, Error};
