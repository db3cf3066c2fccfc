//! PostgreSQL pools. Each service owns one schema of the database (its tables
//! and its own migration history live there), so services never share tables.
//!
//! TLS is sqlx's (rustls, ring), set by the URL as libpq reads it:
//! `sslmode=verify-full` checks the server's chain and host name against the
//! system's roots plus `sslrootcert=PATH` when given. Without `sslmode` the
//! mode is `prefer` (TLS when the server offers it, unchecked): give
//! `verify-full` for any PostgreSQL off loopback.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// Connects to `url` with `schema` as the search path, creates the schema if
/// needed and applies `migrator`. Retries for a while so a database that is
/// still starting does not fail a deployment. `statement_timeout`, when
/// given, bounds every statement of every connection (set when connecting,
/// so no transaction needs a `SET LOCAL` round trip of its own).
pub async fn connect_and_migrate(
    url: &str,
    schema: &str,
    max_connections: u32,
    statement_timeout: Option<Duration>,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    anyhow::ensure!(
        schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "schema names are lowercase identifiers"
    );
    let timeout_ms = statement_timeout.map(|t| t.as_millis().max(1).to_string());
    let mut settings = vec![("search_path", schema)];
    if let Some(ms) = &timeout_ms {
        settings.push(("statement_timeout", ms.as_str()));
    }
    let options = PgConnectOptions::from_str(url)?.options(settings);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        // A request waiting on a pool of a dead database answers 503, not a hang.
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = async {
            // The name is checked above to be a plain identifier. DDL naming
            // the schema given: no macro can check it.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&pool)
            .await?;
            migrator.run(&pool).await?;
            anyhow::Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "PostgreSQL not ready, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.context("cannot prepare the database")),
        }
    }
}
