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
pub(crate) const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";

pub(crate) type Intercepted = InterceptedService<Channel, Outbound>;

/// A running service: its URL, stopped when dropped.
#[derive(Debug)]
pub struct Service {
    pub url: String,
    /// `http://127.0.0.1:port/metrics`, when started with `METRICS_ADDR`.
    pub metrics_url: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    running: Running,
}

#[derive(Debug)]
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
#[derive(Debug)]
pub struct Gateway {
    pub service: Service,
    /// `http://127.0.0.1:port`
    pub url: String,
    /// `127.0.0.1:port`
    pub addr: String,
}

#[derive(Debug)]
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
pub(crate) fn urls(replicas: &[Service]) -> String {
    replicas
        .iter()
        .map(|s| s.url.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl TestSystem {
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
pub(crate) enum Kind {
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

pub(crate) async fn start(
    kind: Kind,
    settings: &HashMap<String, String>,
    isolated: bool,
) -> Service {
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
