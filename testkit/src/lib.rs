//! Test harness for Totilove: real PostgreSQL (a fresh database per test in
//! the cluster `scripts/test` starts), a private Redis server per test, and
//! every service and the gateway running in-process on port 0.
//!
//! `TEST_LOG=1` shows the services' logs.

mod redis_server;
mod system;

pub use redis_server::RedisServer;
pub use system::{Gateway, INTERNAL_TOKEN, Service, TestSystem};

use sqlx::Connection;

/// A new, empty database in the test cluster; its URL.
pub async fn fresh_database() -> String {
    let admin = std::env::var("TEST_DATABASE_URL")
        .expect("TEST_DATABASE_URL must be set: run the tests with scripts/test");
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("the test PostgreSQL is reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL names a database");
    format!("{base}/{name}")
}

/// Shows the services' logs when `TEST_LOG` is set; silent otherwise.
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        std::mem::forget(totilove_kit::telemetry::init("test"));
    }
}
