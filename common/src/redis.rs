//! The Redis connection pool every service uses.
//!
//! Commands fail fast while Redis is unreachable (callers fall back or answer
//! 503) and the pool reconnects by itself in the background.
//!
//! A `rediss://` URL connects over TLS (rustls, ring) and checks the server's
//! certificate chain and name against the system's roots, plus the CA of
//! `REDIS_CA_FILE` when given (see [`Target`]).

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use fred::{
    clients::{Client, Pool},
    interfaces::{ClientLike, EventInterface},
    types::{
        Builder,
        config::{Config, ReconnectPolicy, Server, TlsConnector},
    },
};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, pem::PemObject},
};
use tokio::sync::broadcast;

use crate::config::Source;

/// Where Redis is and how its certificate is checked: `REDIS_URL`
/// (`redis://` plain, `rediss://` TLS) and `REDIS_CA_FILE`, a PEM file of CA
/// certificates trusted for a `rediss://` server besides the system's roots
/// (as `sslrootcert=` does for PostgreSQL). A CA file with a plain URL is
/// refused: it would suggest a protection the connection does not have.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold the password.
        f.debug_struct("Target")
            .field("tls", &self.uses_tls())
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// `REDIS_URL` (required) and `REDIS_CA_FILE`.
    pub fn from_source(src: &impl Source) -> anyhow::Result<Self> {
        let target = Self {
            url: src.required("REDIS_URL")?,
            ca_file: src.var("REDIS_CA_FILE").map(PathBuf::from),
        };
        anyhow::ensure!(
            target.ca_file.is_none() || target.uses_tls(),
            "setting REDIS_CA_FILE is given but REDIS_URL is not a TLS (rediss://) URL"
        );
        Ok(target)
    }

    /// A plain URL, as tests and tools use.
    pub fn plain(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
        }
    }

    /// Whether the URL asks for TLS (`rediss://`, `valkeys://`, and their
    /// cluster and sentinel forms).
    pub fn uses_tls(&self) -> bool {
        self.tls_scheme().is_some()
    }

    /// The plain scheme a TLS URL's scheme stands for (`rediss-cluster`:
    /// `redis-cluster`) and the rest of the URL after it.
    fn tls_scheme(&self) -> Option<(String, &str)> {
        let (scheme, rest) = self.url.split_once("://")?;
        [("rediss", "redis"), ("valkeys", "valkey")]
            .iter()
            .find_map(|(tls, plain)| {
                let suffix = scheme.strip_prefix(tls)?;
                Some((format!("{plain}{suffix}"), rest))
            })
    }

    /// fred's settings for this target: the URL's, with our TLS connector
    /// (ring provider, the system's roots and the CA file) for a TLS URL.
    /// fred reads the URL in its plain form: its own TLS default would load
    /// the system's roots a second time, and fail on any unreadable one.
    pub fn config(&self) -> anyhow::Result<Config> {
        let Some((plain_scheme, rest)) = self.tls_scheme() else {
            return Config::from_url(&self.url).context("REDIS_URL is not a Redis URL");
        };
        let mut config = Config::from_url(&format!("{plain_scheme}://{rest}"))
            .context("REDIS_URL is not a Redis URL")?;
        config.tls = Some(TlsConnector::from(self.tls_client_config()?).into());
        Ok(config)
    }

    fn tls_client_config(&self) -> anyhow::Result<ClientConfig> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::warn!(%error, "a system CA certificate could not be loaded");
        }
        let (_, unparsed) = roots.add_parsable_certificates(native.certs);
        if unparsed > 0 {
            tracing::warn!(unparsed, "some system CA certificates could not be parsed");
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read REDIS_CA_FILE {}", path.display()))?;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.with_context(|| {
                    format!(
                        "REDIS_CA_FILE {} is not a PEM certificate file",
                        path.display()
                    )
                })?;
                roots.add(cert).with_context(|| {
                    format!(
                        "REDIS_CA_FILE {} holds an unusable certificate",
                        path.display()
                    )
                })?;
                added += 1;
            }
            anyhow::ensure!(
                added > 0,
                "REDIS_CA_FILE {} holds no certificate",
                path.display()
            );
        }
        anyhow::ensure!(
            !roots.is_empty(),
            "no CA certificate to check the Redis server with: install the system's \
             (ca-certificates) or give REDIS_CA_FILE"
        );
        // ring, deliberately: aws-lc-rs (rustls' default, with post-quantum
        // key exchange) is a slow C build that deny.toml keeps out. The same
        // provider as sqlx's TLS to PostgreSQL.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("the TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

/// Whether the pool can serve: some client of it answers a PING within 2 s.
/// Commands go to connected clients first (fred's `prefer_connected`), so one
/// that answers is enough; asking a single client made readiness flap after
/// a Redis restart, whenever the one asked was still reconnecting.
pub async fn serves(pool: &Pool) -> bool {
    if pool.clients().is_empty() {
        return false; // (select_ok wants at least one future)
    }
    let pings = pool.clients().iter().map(|client| {
        Box::pin(async move {
            match tokio::time::timeout(Duration::from_secs(2), client.ping::<String>(None)).await {
                Ok(Ok(_)) => Ok(()),
                _ => Err(()),
            }
        })
    });
    futures::future::select_ok(pings).await.is_ok()
}

/// SET of the ids of people whose `show_online` is off. The auth service
/// owns the setting (PostgreSQL) and keeps this copy; the presence service
/// reads it on every lookup and event, so it needs no RPC to hide someone.
pub const HIDDEN_PEOPLE_KEY: &str = "privacy:hidden";

/// SET of the ids of people announced online: with a live socket, or inside
/// the grace after their last one closed. The presence service keeps it
/// (whatever people hide from others); the message service reads it to push
/// only to people who are not in it.
pub const ONLINE_PEOPLE_KEY: &str = "online_users";

/// SET of the ids of people who may have a Web Push subscription (every one
/// who has one, and for a few seconds some whose last one ended). The auth
/// service owns the subscriptions and keeps this copy; the message service
/// asks it after each commit, so a message to anyone else costs no RPC.
pub const PUSH_PEOPLE_KEY: &str = "push:people";

/// The key of `user`'s *block generation*: a random value the auth service
/// replaces after every block or unblock `user` takes part in commits, and
/// before it answers. A service that remembers a block answer for a pair
/// reuses it only while both people's generations are unchanged.
pub fn block_generation_key(user: i64) -> String {
    format!("blocks:gen:{user}")
}

/// Connects a pool of `size` multiplexed connections. Does not fail when Redis
/// is down at start: the pool keeps trying and the service runs degraded.
pub async fn connect(target: &Target, size: usize) -> anyhow::Result<Pool> {
    let pool = Builder::from_config(target.config()?)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 2;
            c.tcp.nodelay = Some(true);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(2);
        })
        // Retry forever, 50 ms to 2 s apart.
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
        .build_pool(size.max(1))?;
    pool.connect();
    // Why, when it says (a refused TLS handshake names the certificate's fault).
    match tokio::time::timeout(Duration::from_secs(3), pool.wait_for_connect()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "Redis is not reachable yet; running degraded until it is");
        }
        Err(_) => tracing::warn!(
            "Redis is not reachable yet (no connection in 3 s); running degraded until it is"
        ),
    }
    Ok(pool)
}

/// A connected client of the pool, or [`NotConnected`] at once while none
/// is: a command sent while the pool reconnects would wait for the command
/// timeout (2 s) before failing, and every caller has a faster answer to
/// give. The one check of every service (`.ok()` where the caller falls back).
pub fn connected(pool: &Pool) -> Result<&Client, NotConnected> {
    let client = pool.next_connected();
    if client.is_connected() {
        Ok(client)
    } else {
        Err(NotConnected)
    }
}

/// No connection of the pool is up. Becomes the `unavailable` answer of the
/// error table, or fred's IO error for code whose errors are fred's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Redis is not connected")]
pub struct NotConnected;

impl From<NotConnected> for crate::Error {
    fn from(_: NotConnected) -> Self {
        crate::Error::unavailable("the cache")
    }
}

impl From<NotConnected> for fred::error::Error {
    fn from(e: NotConnected) -> Self {
        fred::error::Error::new(fred::error::ErrorKind::IO, e.to_string())
    }
}

/// Notices that a pool reconnected: what was learned from the Redis before
/// (a remembered answer, the server's identity) may not hold for the one
/// after, which may have restarted from an older snapshot.
#[derive(Debug, Clone)]
pub struct Reconnections {
    /// One per pooled connection: a message means it reconnected.
    receivers: Arc<Mutex<Vec<broadcast::Receiver<Server>>>>,
}

impl Reconnections {
    pub fn watch(pool: &Pool) -> Self {
        let receivers = pool.clients().iter().map(|c| c.reconnect_rx()).collect();
        Self {
            receivers: Arc::new(Mutex::new(receivers)),
        }
    }

    /// Whether any connection reconnected since the last call (the first
    /// connection counts too). Checked right after a command's answer, it
    /// also covers a reconnection that command crossed.
    pub fn any_since_last(&self) -> bool {
        let mut any = false;
        let mut receivers = self.receivers.lock().unwrap_or_else(|p| p.into_inner());
        for rx in receivers.iter_mut() {
            while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = rx.try_recv() {
                any = true;
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn target(settings: &[(&str, &str)]) -> anyhow::Result<Target> {
        let map: HashMap<String, String> = settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Target::from_source(&map)
    }

    #[test]
    fn rediss_urls_get_our_tls_connector_and_plain_ones_none() {
        let plain = target(&[("REDIS_URL", "redis://127.0.0.1:6379")]).expect("valid");
        assert!(!plain.uses_tls());
        assert!(plain.config().expect("a config").tls.is_none());

        for url in [
            "rediss://:pw@redis.example.com:6380",
            "rediss://user:pw@redis.example.com:6380/2",
            "valkeys://redis.example.com",
        ] {
            let tls = target(&[("REDIS_URL", url)]).expect("valid");
            assert!(tls.uses_tls(), "{url}");
            let config = tls.config().expect("a config");
            assert!(config.uses_rustls(), "{url}");
            let server = config.server.hosts().into_iter().next().expect("a server");
            assert_eq!(&*server.host, "redis.example.com", "{url}");
        }
        let parsed = target(&[("REDIS_URL", "rediss://user:pw@h:6380/2")])
            .and_then(|t| t.config())
            .expect("a config");
        assert_eq!(parsed.username.as_deref(), Some("user"));
        assert_eq!(parsed.password.as_deref(), Some("pw"));
        assert_eq!(parsed.database, Some(2));
    }

    #[test]
    fn a_ca_file_with_a_plain_url_is_refused() {
        let err = target(&[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("REDIS_CA_FILE", "/etc/ssl/certs/ca-certificates.crt"),
        ])
        .expect_err("refused");
        assert!(err.to_string().contains("REDIS_CA_FILE"), "{err}");
    }

    #[test]
    fn an_unreadable_or_empty_ca_file_stops_the_start() {
        let missing = target(&[
            ("REDIS_URL", "rediss://127.0.0.1:6380"),
            ("REDIS_CA_FILE", "/nonexistent/ca.crt"),
        ])
        .expect("the settings parse");
        let err = missing.config().expect_err("no such file");
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.crt"),
            "{err:#}"
        );

        let empty = std::env::temp_dir().join(format!("totilove-empty-ca-{}", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = target(&[
            ("REDIS_URL", "rediss://127.0.0.1:6380"),
            ("REDIS_CA_FILE", empty.to_str().expect("a UTF-8 path")),
        ])
        .and_then(|t| t.config())
        .expect_err("no certificate in it");
        let _ = std::fs::remove_file(&empty);
        assert!(
            format!("{err:#}").contains("holds no certificate"),
            "{err:#}"
        );
    }

    #[test]
    fn the_password_does_not_print() {
        let t = target(&[("REDIS_URL", "rediss://:hunter2@h:6380")]).expect("valid");
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
