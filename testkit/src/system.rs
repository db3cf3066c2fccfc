//! The whole system, in-process: auth, message and presence services (one or
//! more replicas of each) and any number of gateway instances, sharing one
//! database and one Redis. Every client is given every replica's URL, as
//! `deploy/local/run` does with `SERVICE_REPLICAS`.

use std::collections::HashMap;

use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use totilove_common::{config::Secret, grpc::Outbound};
use totilove_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    message::v1::message_service_client::MessageServiceClient,
    presence::v1::presence_service_client::PresenceServiceClient,
};

use crate::RedisServer;

pub const INTERNAL_TOKEN: &str = "test-internal-token-0123456789abcdef";
const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";

pub type Intercepted = InterceptedService<Channel, Outbound>;

/// A running service: its URL, stopped when dropped.
pub struct Service {
    pub url: String,
    /// `http://127.0.0.1:port/metrics`, when started with `METRICS_ADDR`.
    pub metrics_url: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    running: Running,
}

enum Running {
    /// A task of the test's runtime (the service's connections are tasks of
    /// their own, so `kill` stops the server, not every connection).
    Task(JoinHandle<anyhow::Result<()>>),
    /// A runtime of its own in a thread of its own: `kill` drops every task
    /// of it at once — connections, writer, fan-out — as a crash would.
    Thread {
        kill: Option<oneshot::Sender<()>>,
        ended: Option<std::thread::JoinHandle<()>>,
    },
}

/// The ports a started service answers: gRPC, and `/metrics` if served.
type Ports = (u16, Option<u16>);

/// Builds a service on the runtime it is called on, answers its ports, and
/// runs it until the stop signal.
type Start = Box<
    dyn FnOnce(
            oneshot::Receiver<()>,
            oneshot::Sender<Ports>,
        ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>
        + Send,
>;

impl Service {
    fn spawn<F>((port, metrics): Ports, run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        Self {
            url: format!("http://127.0.0.1:{port}"),
            metrics_url: metrics_url(metrics),
            stop: Some(stop),
            running: Running::Task(tokio::spawn(run(stopped))),
        }
    }

    /// Starts a service on a runtime and thread of its own (see [`Running`]).
    async fn isolated(start: Start) -> Self {
        let (stop, stopped) = oneshot::channel();
        let (kill, killed) = oneshot::channel::<()>();
        let (port_tx, port_rx) = oneshot::channel();
        let ended = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let service = tokio::spawn(start(stopped, port_tx));
                tokio::select! {
                    ended = service => {
                        if let Ok(Err(e)) = ended {
                            eprintln!("a service ended with an error: {e:#}");
                        }
                    }
                    _ = killed => {}
                }
            });
            runtime.shutdown_background();
        });
        let (port, metrics) = port_rx.await.expect("the service starts");
        Self {
            url: format!("http://127.0.0.1:{port}"),
            metrics_url: metrics_url(metrics),
            stop: Some(stop),
            running: Running::Thread {
                kill: Some(kill),
                ended: Some(ended),
            },
        }
    }

    /// Stops gracefully and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match &mut self.running {
            Running::Task(task) => {
                let _ = task.await;
            }
            Running::Thread { ended, .. } => {
                if let Some(ended) = ended.take() {
                    let _ = tokio::task::spawn_blocking(move || ended.join()).await;
                }
            }
        }
    }

    /// Stops at once, as a crash would: no goodbye to anyone.
    pub fn kill(mut self) {
        self.end_now();
    }

    fn end_now(&mut self) {
        match &mut self.running {
            Running::Task(task) => task.abort(),
            Running::Thread { kill, .. } => {
                if let Some(kill) = kill.take() {
                    let _ = kill.send(());
                }
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.end_now();
    }
}

/// A gateway instance.
pub struct Gateway {
    pub service: Service,
    /// `http://127.0.0.1:port`
    pub url: String,
    /// `127.0.0.1:port`
    pub addr: String,
}

pub struct TestSystem {
    pub database_url: String,
    pub redis: RedisServer,
    pub settings: HashMap<String, String>,
    /// The replicas of each service (at least one).
    pub auth: Vec<Service>,
    pub message: Vec<Service>,
    pub presence: Vec<Service>,
    pub gateways: Vec<Gateway>,
}

fn metrics_url(port: Option<u16>) -> Option<String> {
    port.map(|p| format!("http://127.0.0.1:{p}/metrics"))
}

/// The URLs of `replicas`, comma-separated (how services are addressed).
fn urls(replicas: &[Service]) -> String {
    replicas
        .iter()
        .map(|s| s.url.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Which parts of the system a test needs. Each layer needs the ones before
/// it (message asks auth about blocks, presence asks message who shares a
/// conversation, the gateway asks all three), so naming one starts those too.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Auth,
    Message,
    Presence,
    Gateway,
}

/// Starts only what a test needs: `TestSystem::builder().auth().build()`
/// for an auth test, `.full()` for one that goes through a gateway.
#[must_use]
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

    /// Starts one more gateway instance; its index in `gateways`.
    pub async fn spawn_gateway(&mut self) -> usize {
        let config = totilove_gateway::Config::from_source(&self.settings).expect("gateway config");
        let app = totilove_gateway::Application::build(config)
            .await
            .expect("gateway starts");
        let port = app.port();
        let service = Service::spawn((port, app.metrics_port()), |stop| {
            app.run_until_stopped(async {
                let _ = stop.await;
            })
        });
        self.gateways.push(Gateway {
            url: service.url.clone(),
            addr: format!("127.0.0.1:{port}"),
            service,
        });
        self.gateways.len() - 1
    }

    /// The first gateway's base URL.
    pub fn url(&self) -> &str {
        &self.gateways[0].url
    }

    fn outbound() -> Outbound {
        Outbound::new(&Secret::new(INTERNAL_TOKEN)).expect("valid token")
    }

    fn channel(url: &str) -> Channel {
        totilove_common::grpc::channel(url).expect("valid URL")
    }

    pub fn auth_client(&self) -> AuthServiceClient<Intercepted> {
        AuthServiceClient::with_interceptor(Self::channel(&urls(&self.auth)), Self::outbound())
    }

    /// A client of one auth replica alone (not balanced over the others).
    pub fn auth_client_of(&self, replica: usize) -> AuthServiceClient<Intercepted> {
        AuthServiceClient::with_interceptor(
            Self::channel(&self.auth[replica].url),
            Self::outbound(),
        )
    }

    pub fn message_client(&self) -> MessageServiceClient<Intercepted> {
        MessageServiceClient::with_interceptor(
            Self::channel(&urls(&self.message)),
            Self::outbound(),
        )
    }

    pub fn presence_client(&self) -> PresenceServiceClient<Intercepted> {
        PresenceServiceClient::with_interceptor(
            Self::channel(&urls(&self.presence)),
            Self::outbound(),
        )
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Auth,
    Message,
    Presence,
}

/// Builds and runs one service until `stop`, answering its port first.
async fn run_service(
    kind: Kind,
    settings: HashMap<String, String>,
    stop: oneshot::Receiver<()>,
    port: oneshot::Sender<Ports>,
) -> anyhow::Result<()> {
    let stopped = async {
        let _ = stop.await;
    };
    match kind {
        Kind::Auth => {
            let app =
                totilove_auth::Application::build(totilove_auth::Config::from_source(&settings)?)
                    .await?;
            let _ = port.send((app.port(), app.metrics_port()));
            app.run_until_stopped(stopped).await
        }
        Kind::Message => {
            let app = totilove_message::Application::build(totilove_message::Config::from_source(
                &settings,
            )?)
            .await?;
            let _ = port.send((app.port(), app.metrics_port()));
            app.run_until_stopped(stopped).await
        }
        Kind::Presence => {
            let app = totilove_presence::Application::build(
                totilove_presence::Config::from_source(&settings)?,
            )
            .await?;
            let _ = port.send((app.port(), app.metrics_port()));
            app.run_until_stopped(stopped).await
        }
    }
}

async fn start(kind: Kind, settings: &HashMap<String, String>, isolated: bool) -> Service {
    let settings = settings.clone();
    if isolated {
        return Service::isolated(Box::new(move |stop, port| {
            Box::pin(run_service(kind, settings, stop, port))
        }))
        .await;
    }
    let (stop, stopped) = oneshot::channel();
    let (port_tx, port_rx) = oneshot::channel();
    let task = tokio::spawn(run_service(kind, settings, stopped, port_tx));
    let (port, metrics) = port_rx.await.expect("the service starts");
    Service {
        url: format!("http://127.0.0.1:{port}"),
        metrics_url: metrics_url(metrics),
        stop: Some(stop),
        running: Running::Task(task),
    }
}
