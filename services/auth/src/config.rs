//! The auth service's settings, read from the environment (or a map in tests).

use std::time::Duration;

use totilove_common::config::{self, Secret, Source};

use crate::passwords::HashCost;

/// HS256 keys shorter than the hash output weaken the signature.
const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`AUTH_LISTEN_ADDR`, loopback by default).
    pub listen_addr: String,
    /// Where `/metrics` is served (`METRICS_ADDR`); unset: not served.
    pub metrics_addr: Option<String>,
    /// Carries the password: never shown by `Debug`.
    pub database_url: Secret,
    pub redis: totilove_common::redis::Target,
    pub internal_token: Secret,
    /// HMAC key signing the session tokens (HS256); at least 32 bytes.
    pub jwt_secret: Secret,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// A session unused for this long ends.
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, used or not (the token's `exp`).
    pub session_lifetime: Duration,
    /// How often a session's `last_activity` is written back at most. Writing
    /// it on every validation would put a PostgreSQL write on the hot path.
    pub session_touch_interval: Duration,
    /// Failed logins allowed per account (and per account from one
    /// address), and per client address, per window.
    pub login_failures_per_account: u32,
    pub login_failures_per_address: u32,
    pub login_throttle_window: Duration,
    /// An address the account logged in from within this long is not held
    /// by the account-wide counter (so failures elsewhere cannot lock the
    /// owner out); zero: every address is.
    pub login_known_address_for: Duration,
    /// Registrations allowed per client address per hour.
    pub registrations_per_hour: u32,
    /// Password hashes computed at once for logins (each takes ~19 MiB and a core).
    pub password_hash_concurrency: usize,
    /// The same for registrations, which have threads of their own.
    pub register_hash_concurrency: usize,
    /// The cost of new password hashes: OWASP's minimum unless lowered for
    /// load tests (`ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`).
    pub hash_cost: HashCost,
    /// PostgreSQL connections in the pool.
    pub database_pool_size: u32,
    /// How often the Redis copy of who hides their presence is rebuilt from
    /// PostgreSQL: the longest a lost or stale copy can show someone.
    pub privacy_sync_interval: Duration,
    /// The push services whose endpoints browsers may subscribe with
    /// (`PUSH_SERVICE_HOSTS`, comma-separated; each host or any name under it).
    pub push_service_hosts: String,
}

/// The push services of Chrome and Edge (FCM), Firefox, Safari and Windows.
pub(crate) const DEFAULT_PUSH_SERVICE_HOSTS: &str =
    "fcm.googleapis.com,push.services.mozilla.com,push.apple.com,notify.windows.com";

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config = Self {
            listen_addr: src.var_or("AUTH_LISTEN_ADDR", "127.0.0.1:50051"),
            metrics_addr: totilove_common::metrics::addr_from(src),
            database_url: src.secret("DATABASE_URL")?,
            redis: totilove_common::redis::Target::from_source(src)?,
            internal_token: src.secret("INTERNAL_TOKEN")?,
            jwt_secret: src.secret("JWT_SECRET")?,
            jwt_issuer: src.var_or("JWT_ISSUER", "totilove"),
            jwt_audience: src.var_or("JWT_AUDIENCE", "totilove-web"),
            session_idle_timeout: src.seconds_or("SESSION_IDLE_TIMEOUT_SECS", 7 * 24 * 3600)?,
            session_lifetime: src.seconds_or("SESSION_LIFETIME_SECS", 30 * 24 * 3600)?,
            session_touch_interval: src.seconds_or("SESSION_TOUCH_INTERVAL_SECS", 60)?,
            login_failures_per_account: src.parse_or("LOGIN_FAILURES_PER_ACCOUNT", 10)?,
            login_failures_per_address: src.parse_or("LOGIN_FAILURES_PER_ADDRESS", 100)?,
            login_throttle_window: src.seconds_or("LOGIN_THROTTLE_WINDOW_SECS", 15 * 60)?,
            login_known_address_for: src.seconds_or("LOGIN_KNOWN_ADDRESS_SECS", 30 * 24 * 3600)?,
            registrations_per_hour: src.parse_or("REGISTER_LIMIT_PER_HOUR", 5_000)?,
            password_hash_concurrency: src.parse_or("PASSWORD_HASH_CONCURRENCY", cores)?,
            // As many as logins: registrations keep the throughput they had
            // with one shared pool (test suites and load tools register in
            // bursts), while a flood of them never holds a login's permit.
            register_hash_concurrency: src.parse_or("REGISTER_HASH_CONCURRENCY", cores)?,
            hash_cost: HashCost {
                memory_kib: src.parse_or("ARGON2_MEMORY_KIB", HashCost::OWASP.memory_kib)?,
                iterations: src.parse_or("ARGON2_ITERATIONS", HashCost::OWASP.iterations)?,
            },
            database_pool_size: src.parse_or("AUTH_DATABASE_POOL_SIZE", 16)?,
            privacy_sync_interval: src.seconds_or("PRIVACY_SYNC_INTERVAL_SECS", 5)?,
            push_service_hosts: src.var_or("PUSH_SERVICE_HOSTS", DEFAULT_PUSH_SERVICE_HOSTS),
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.jwt_secret.expose().len() >= MIN_JWT_SECRET_BYTES,
            "setting JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes"
        );
        anyhow::ensure!(
            !self.session_idle_timeout.is_zero(),
            "setting SESSION_IDLE_TIMEOUT_SECS must be positive"
        );
        anyhow::ensure!(
            !self.session_lifetime.is_zero(),
            "setting SESSION_LIFETIME_SECS must be positive"
        );
        anyhow::ensure!(
            self.login_failures_per_account > 0 && self.login_failures_per_address > 0,
            "settings LOGIN_FAILURES_PER_* must be positive"
        );
        anyhow::ensure!(
            !self.login_throttle_window.is_zero(),
            "setting LOGIN_THROTTLE_WINDOW_SECS must be positive"
        );
        anyhow::ensure!(
            self.registrations_per_hour > 0,
            "setting REGISTER_LIMIT_PER_HOUR must be positive"
        );
        anyhow::ensure!(
            self.password_hash_concurrency > 0 && self.register_hash_concurrency > 0,
            "settings PASSWORD_HASH_CONCURRENCY and REGISTER_HASH_CONCURRENCY must be positive"
        );
        anyhow::ensure!(
            self.hash_cost.memory_kib >= 8 && self.hash_cost.iterations >= 1,
            "settings ARGON2_MEMORY_KIB (at least 8) and ARGON2_ITERATIONS (at least 1) are too low"
        );
        anyhow::ensure!(
            self.database_pool_size > 0,
            "setting AUTH_DATABASE_POOL_SIZE must be positive"
        );
        anyhow::ensure!(
            !self.privacy_sync_interval.is_zero(),
            "setting PRIVACY_SYNC_INTERVAL_SECS must be positive"
        );
        Ok(())
    }

    /// How stale `last_activity` may get before a validation writes it back:
    /// the configured interval, but never so long that an active session could
    /// reach its idle timeout between two writes (short timeouts in tests).
    pub fn effective_touch_interval(&self) -> Duration {
        self.session_touch_interval
            .min(self.session_idle_timeout / 4)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(jwt_secret: &str) -> HashMap<String, String> {
        [
            ("DATABASE_URL", "postgres://localhost/x"),
            ("REDIS_URL", "redis://localhost"),
            ("INTERNAL_TOKEN", "token"),
            ("JWT_SECRET", jwt_secret),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn a_short_jwt_secret_is_refused_at_startup() {
        let err = Config::from_source(&settings("too-short")).expect_err("refused");
        assert!(err.to_string().contains("JWT_SECRET"));
    }

    #[test]
    fn defaults_apply_when_settings_are_absent() {
        let config = Config::from_source(&settings(&"k".repeat(32))).expect("valid");
        assert_eq!(config.login_failures_per_account, 10);
        assert_eq!(config.registrations_per_hour, 5_000);
        assert!(config.register_hash_concurrency >= 1);
        assert_eq!(config.hash_cost, HashCost::OWASP);
        assert_eq!(config.effective_touch_interval(), Duration::from_secs(60));
    }

    #[test]
    fn the_touch_interval_shrinks_with_a_short_idle_timeout() {
        let mut s = settings(&"k".repeat(32));
        s.insert("SESSION_IDLE_TIMEOUT_SECS".into(), "2".into());
        let config = Config::from_source(&s).expect("valid");
        assert_eq!(
            config.effective_touch_interval(),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn hashing_can_be_lowered_for_load_tests_but_not_to_nothing() {
        let mut s = settings(&"k".repeat(32));
        s.insert("ARGON2_MEMORY_KIB".into(), "64".into());
        s.insert("ARGON2_ITERATIONS".into(), "1".into());
        let config = Config::from_source(&s).expect("valid");
        assert_eq!(
            config.hash_cost,
            HashCost {
                memory_kib: 64,
                iterations: 1
            }
        );
        s.insert("ARGON2_ITERATIONS".into(), "0".into());
        let err = Config::from_source(&s).expect_err("refused");
        assert!(err.to_string().contains("ARGON2_ITERATIONS"));
    }
}
