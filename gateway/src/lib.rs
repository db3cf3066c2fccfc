//! The gateway: terminates the browsers' REST and WebSocket traffic,
//! authenticates it, routes it to the services over gRPC and serves the web UI.

pub mod config;
pub mod fanout;
pub mod http;
pub mod messaging;
pub mod presence;
pub mod protocol;
pub mod routes;
pub mod state;
pub mod views;
pub mod ws;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;
use totilove_common::metrics::Exporter;

pub use config::Config;
pub use state::AppState;

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// Serves `/metrics` while the application lives.
    metrics: Option<Exporter>,
    router: Router,
    /// Live events to this instance's sockets; stopped with the server.
    hub: fanout::Hub,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut metrics = Exporter::serve_if(config.metrics_addr.as_deref()).await?;
        let listener = TcpListener::bind(&config.listen_addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen_addr))?;
        let state = AppState::build(config).await?;
        if let Some(metrics) = metrics.as_mut() {
            metrics.watch_redis(state.redis().clone());
        }
        let hub = state.hub().clone();
        let router = routes::router(state);
        Ok(Self {
            listener,
            metrics,
            router,
            hub,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of `/metrics`, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|m| m.addr().port())
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Dropped without the graceful path below (the task was aborted),
        // the hub drops every socket at once, as a crash would.
        let _hub_guard = self.hub.guard();
        let hub = self.hub.clone();
        // Sockets outlive axum's graceful shutdown (they are upgraded
        // connections): the hub closes them first.
        let shutdown = async move {
            shutdown.await;
            hub.shutdown().await;
        };
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        Ok(())
    }
}
