//! [`Builder`]: which parts of the system a test starts, and the shorthand
//! constructors of [`TestSystem`] built on it.

use std::collections::HashMap;

use crate::{
    RedisServer, TestSystem,
    system::{INTERNAL_TOKEN, JWT_SECRET, Kind, start, urls},
};

/// Which parts of the system a test needs. Each layer needs the ones before
/// it (message asks auth about blocks, presence asks message who shares a
/// conversation, the gateway asks all three), so naming one starts those too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Auth,
    Message,
    Presence,
    Gateway,
}

/// Starts only what a test needs: `TestSystem::builder().auth().build()`
/// for an auth test, `.full()` for one that goes through a gateway.
#[must_use]
#[derive(Debug)]
pub struct Builder {
    upto: Layer,
    gateways: usize,
    replicas: usize,
    settings: Vec<(String, String)>,
    stores: Option<(String, RedisServer)>,
}

impl Builder {
    /// The auth service (and the stores).
    pub fn auth(mut self) -> Self {
        self.upto = self.upto.max(Layer::Auth);
        self
    }

    /// The message service and what it needs.
    pub fn message(mut self) -> Self {
        self.upto = self.upto.max(Layer::Message);
        self
    }

    /// The presence service and what it needs.
    pub fn presence(mut self) -> Self {
        self.upto = self.upto.max(Layer::Presence);
        self
    }

    /// Every service and one gateway instance.
    pub fn full(mut self) -> Self {
        self.upto = Layer::Gateway;
        self
    }

    /// `n` gateway instances (and every service).
    pub fn gateways(mut self, n: usize) -> Self {
        self.upto = Layer::Gateway;
        self.gateways = n;
        self
    }

    /// `n` replicas of each service started.
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// Settings overridden (names as in the environment).
    pub fn settings(mut self, overrides: &[(&str, &str)]) -> Self {
        self.settings.extend(
            overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    /// On the database of `database_url` and on `redis` (e.g. stores that
    /// require TLS) instead of fresh ones.
    pub fn stores(mut self, database_url: String, redis: RedisServer) -> Self {
        self.stores = Some((database_url, redis));
        self
    }

    pub async fn build(self) -> TestSystem {
        crate::init_logs();
        let (database_url, redis) = match self.stores {
            Some(stores) => stores,
            None => (crate::fresh_database().await, RedisServer::start().await),
        };
        let mut settings: HashMap<String, String> = [
            ("DATABASE_URL", database_url.as_str()),
            ("REDIS_URL", redis.url().as_str()),
            ("INTERNAL_TOKEN", INTERNAL_TOKEN),
            ("JWT_SECRET", JWT_SECRET),
            ("AUTH_LISTEN_ADDR", "127.0.0.1:0"),
            ("MESSAGE_LISTEN_ADDR", "127.0.0.1:0"),
            ("PRESENCE_LISTEN_ADDR", "127.0.0.1:0"),
            ("GATEWAY_ADDR", "127.0.0.1:0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        settings.extend(self.settings);

        // Replicas run on runtimes of their own, so one can crash alone.
        let replicas = self.replicas.max(1);
        let isolated = replicas > 1;
        let mut layers = Vec::new();
        for (layer, kind, url_key) in [
            (Layer::Auth, Kind::Auth, "AUTH_URL"),
            (Layer::Message, Kind::Message, "MESSAGE_URL"),
            (Layer::Presence, Kind::Presence, "PRESENCE_URL"),
        ] {
            let mut services = Vec::new();
            if layer <= self.upto {
                for _ in 0..replicas {
                    services.push(start(kind, &settings, isolated).await);
                }
                settings.insert(url_key.to_owned(), urls(&services));
            }
            layers.push(services);
        }
        let mut layers = layers.into_iter();
        let mut system = TestSystem {
            database_url,
            redis,
            settings,
            auth: layers.next().unwrap_or_default(),
            message: layers.next().unwrap_or_default(),
            presence: layers.next().unwrap_or_default(),
            gateways: Vec::new(),
        };
        if self.upto == Layer::Gateway {
            for _ in 0..self.gateways.max(1) {
                system.spawn_gateway().await;
            }
        }
        system
    }
}

impl TestSystem {
    /// Nothing yet: name what the test needs, then `build`.
    pub fn builder() -> Builder {
        Builder {
            upto: Layer::Auth,
            gateways: 1,
            replicas: 1,
            settings: Vec::new(),
            stores: None,
        }
    }

    /// Everything, with one gateway instance.
    pub async fn start() -> Self {
        Self::builder().full().build().await
    }

    /// Everything, with settings overridden (names as in the environment).
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        Self::builder().full().settings(overrides).build().await
    }

    /// `gateways` gateway instances over `replicas` replicas of each service.
    pub async fn start_cluster(
        gateways: usize,
        replicas: usize,
        overrides: &[(&str, &str)],
    ) -> Self {
        Self::builder()
            .gateways(gateways)
            .replicas(replicas)
            .settings(overrides)
            .build()
            .await
    }

    /// Like [`start_cluster`](Self::start_cluster), on the database of
    /// `database_url` and on `redis` (e.g. stores that require TLS).
    pub async fn start_cluster_on(
        database_url: String,
        redis: RedisServer,
        gateways: usize,
        replicas: usize,
        overrides: &[(&str, &str)],
    ) -> Self {
        Self::builder()
            .stores(database_url, redis)
            .gateways(gateways)
            .replicas(replicas)
            .settings(overrides)
            .build()
            .await
    }
}
