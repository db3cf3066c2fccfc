//! The whole system, in-process: auth, message and presence services (one or
//! more replicas of each) and any number of gateway instances, sharing one
//! database and one Redis. Every client is given every replica's URL, as
//! `deploy/local/run` does with `SERVICE_REPLICAS`.

use std::collections::HashMap;

use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use totilove_kit::{config::Secret, grpc::Outbound};
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
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Service {
    fn spawn<F>(port: u16, run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        Self {
            url: format!("http://127.0.0.1:{port}"),
            stop: Some(stop),
            task: tokio::spawn(run(stopped)),
        }
    }

    /// Stops gracefully and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops at once, as a crash would: no goodbye to anyone.
    pub fn kill(self) {
        self.task.abort();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
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

/// The URLs of `replicas`, comma-separated (how services are addressed).
fn urls(replicas: &[Service]) -> String {
    replicas
        .iter()
        .map(|s| s.url.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl TestSystem {
    /// Everything, with one gateway instance.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Everything, with settings overridden (names as in the environment).
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        Self::start_cluster(1, 1, overrides).await
    }

    /// `gateways` gateway instances over `replicas` replicas of each service.
    pub async fn start_cluster(
        gateways: usize,
        replicas: usize,
        overrides: &[(&str, &str)],
    ) -> Self {
        crate::init_logs();
        let database_url = crate::fresh_database().await;
        let redis = RedisServer::start().await;
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
        for (k, v) in overrides {
            settings.insert((*k).to_owned(), (*v).to_owned());
        }

        let mut auth = Vec::new();
        for _ in 0..replicas.max(1) {
            auth.push(start_auth(&settings).await);
        }
        settings.insert("AUTH_URL".into(), urls(&auth));
        let mut message = Vec::new();
        for _ in 0..replicas.max(1) {
            message.push(start_message(&settings).await);
        }
        settings.insert("MESSAGE_URL".into(), urls(&message));
        // After the message service: presence asks it who shares a conversation.
        let mut presence = Vec::new();
        for _ in 0..replicas.max(1) {
            presence.push(start_presence(&settings).await);
        }
        settings.insert("PRESENCE_URL".into(), urls(&presence));

        let mut system = Self {
            database_url,
            redis,
            settings,
            auth,
            message,
            presence,
            gateways: Vec::new(),
        };
        for _ in 0..gateways.max(1) {
            system.spawn_gateway().await;
        }
        system
    }

    /// Starts one more gateway instance; its index in `gateways`.
    pub async fn spawn_gateway(&mut self) -> usize {
        let config = totilove_gateway::Config::from_source(&self.settings).expect("gateway config");
        let app = totilove_gateway::Application::build(config)
            .await
            .expect("gateway starts");
        let port = app.port();
        let service = Service::spawn(port, |stop| {
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
        totilove_kit::grpc::channel(url).expect("valid URL")
    }

    pub fn auth_client(&self) -> AuthServiceClient<Intercepted> {
        AuthServiceClient::with_interceptor(Self::channel(&urls(&self.auth)), Self::outbound())
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

async fn start_auth(settings: &HashMap<String, String>) -> Service {
    let config = totilove_auth::Config::from_source(settings).expect("auth config");
    let app = totilove_auth::Application::build(config)
        .await
        .expect("auth starts");
    Service::spawn(app.port(), |stop| {
        app.run_until_stopped(async {
            let _ = stop.await;
        })
    })
}

async fn start_message(settings: &HashMap<String, String>) -> Service {
    let config = totilove_message::Config::from_source(settings).expect("message config");
    let app = totilove_message::Application::build(config)
        .await
        .expect("message starts");
    Service::spawn(app.port(), |stop| {
        app.run_until_stopped(async {
            let _ = stop.await;
        })
    })
}

async fn start_presence(settings: &HashMap<String, String>) -> Service {
    let config = totilove_presence::Config::from_source(settings).expect("presence config");
    let app = totilove_presence::Application::build(config)
        .await
        .expect("presence starts");
    Service::spawn(app.port(), |stop| {
        app.run_until_stopped(async {
            let _ = stop.await;
        })
    })
}
