//! Test harness for Totilove: real PostgreSQL (a fresh database per test in
//! the cluster `scripts/test` starts), a private Redis server per test, and
//! every service and the gateway running in-process on port 0.
//!
//! `TEST_LOG=1` shows the services' logs.

mod builder;
mod events;
mod eventually;
mod people;
mod redis_server;
mod system;
pub mod tls;

pub use builder::Builder;
pub use events::EventWatcher;
pub use eventually::{Outcome, PATIENCE, eventually, eventually_within};
pub use redis_server::RedisServer;
pub use system::{Gateway, INTERNAL_TOKEN, Service, TestSystem};

/// Every account the tests create has this password.
pub const PASSWORD: &str = "correct horse battery";
pub use tls::{TestCerts, TlsPostgres};

use sqlx::Connection;

/// A new, empty database in the test cluster; its URL.
pub async fn fresh_database() -> String {
    let admin = std::env::var("TEST_DATABASE_URL")
        .expect("TEST_DATABASE_URL must be set: run the tests with scripts/test");
    fresh_database_in(&admin).await
}

/// A new, empty database in the cluster of `admin` (a URL naming a database
/// there); its URL, with the same user and query (e.g. TLS settings).
pub async fn fresh_database_in(admin: &str) -> String {
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("the test PostgreSQL is reachable");
    // DDL naming a database made up here: no macro can check it.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    // The query may hold paths (`sslrootcert=/...`): cut it off first.
    let (url, query) = match admin.split_once('?') {
        Some((url, query)) => (url, format!("?{query}")),
        None => (admin, String::new()),
    };
    let (base, _) = url
        .rsplit_once('/')
        .expect("the admin URL names a database");
    format!("{base}/{name}{query}")
}

/// Shows the services' logs when `TEST_LOG` is set; silent otherwise.
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        std::mem::forget(totilove_common::telemetry::init("test"));
    }
}
