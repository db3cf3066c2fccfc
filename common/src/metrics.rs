//! Prometheus metrics: every process records through the `metrics` facade;
//! this module installs the process-wide recorder and serves its text on a
//! listener of its own (`METRICS_ADDR`), never on a browser-facing port.
//!
//! With `METRICS_ADDR` unset nothing is installed and every `counter!` /
//! `histogram!` is a no-op. The recorder is global per process: services
//! started in-process by the tests share one (their endpoints render the
//! same text), which is why the names say which process records them.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{OnceLock, RwLock},
    time::Duration,
};

use axum::{Router, http::header, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;

use crate::config::Source;

/// Latencies, in seconds: 1 ms to 10 s (the API's deadline).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Counts of things (messages in a writer batch): up to the 500 of
/// `MESSAGE_MAX_BATCH`'s default.
pub const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];

/// Label values interned by [`intern`], at most; more are named `other`, so a
/// caller inventing paths cannot make the process grow.
const MAX_INTERNED: usize = 512;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// `METRICS_ADDR`: where this process serves `/metrics`, if anywhere.
pub fn addr_from(src: &impl Source) -> Option<String> {
    src.var("METRICS_ADDR")
}

/// Whether this process records metrics (some `METRICS_ADDR` was served):
/// for measurements that cost more than a counter, such as a store query.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// Installs the recorder once per process; later calls give the same handle.
pub fn recorder() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZE_BUCKETS))
            .expect("bucket lists are not empty");
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                // Another recorder was installed first (a test's own): ours
                // then renders nothing, which is better than failing to start.
                tracing::warn!(error = %e, "metrics recorder not installed");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        // Histograms buffer their samples until upkeep folds them in; a
        // thread of its own, since no one runtime outlives every service.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        handle
    })
}

/// How often the pools' usage is sampled into gauges.
const POOL_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// The `/metrics` listener; stopped when dropped.
#[derive(Debug)]
pub struct Exporter {
    addr: SocketAddr,
    task: JoinHandle<()>,
    /// The pool samplers ([`Exporter::watch_postgres`], [`Exporter::watch_redis`]).
    samplers: Vec<JoinHandle<()>>,
}

impl Exporter {
    /// Installs the recorder and serves it on `addr` (port 0 allowed).
    pub async fn serve(addr: &str) -> anyhow::Result<Self> {
        let handle = recorder();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        let addr = listener.local_addr()?;
        let router = Router::new().route(
            "/metrics",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }),
        );
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "metrics listener stopped");
            }
        });
        tracing::info!("metrics listening on http://{addr}/metrics");
        Ok(Self {
            addr,
            task,
            samplers: Vec::new(),
        })
    }

    /// Samples `pool`'s connections (`totilove_store_pool_connections`:
    /// `in_use`, `idle`) and bound (`totilove_store_pool_max_connections`),
    /// with `store="postgres"`, for as long as the exporter lives.
    pub fn watch_postgres(&mut self, pool: sqlx::PgPool) {
        let max = f64::from(pool.options().get_max_connections());
        self.sample(move || {
            let (open, idle) = (pool.size() as f64, pool.num_idle() as f64);
            metrics::gauge!("totilove_store_pool_max_connections", "store" => "postgres").set(max);
            metrics::gauge!("totilove_store_pool_connections", "store" => "postgres", "state" => "in_use")
                .set((open - idle).max(0.0));
            metrics::gauge!("totilove_store_pool_connections", "store" => "postgres", "state" => "idle")
                .set(idle);
        });
    }

    /// Samples a Redis pool like [`Exporter::watch_postgres`]. Redis
    /// connections are shared by every caller at once, so they are only
    /// `connected` or `down` (reconnecting), never idle.
    pub fn watch_redis(&mut self, pool: fred::clients::Pool) {
        use fred::interfaces::ClientLike;
        let max = pool.size() as f64;
        self.sample(move || {
            let connected = pool.clients().iter().filter(|c| c.is_connected()).count() as f64;
            metrics::gauge!("totilove_store_pool_max_connections", "store" => "redis").set(max);
            metrics::gauge!("totilove_store_pool_connections", "store" => "redis", "state" => "connected")
                .set(connected);
            metrics::gauge!("totilove_store_pool_connections", "store" => "redis", "state" => "down")
                .set(max - connected);
        });
    }

    fn sample(&mut self, record: impl Fn() + Send + 'static) {
        self.samplers.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(POOL_SAMPLE_INTERVAL);
            loop {
                ticker.tick().await;
                record();
            }
        }));
    }

    /// [`Exporter::serve`] when `addr` is given.
    pub async fn serve_if(addr: Option<&str>) -> anyhow::Result<Option<Self>> {
        match addr {
            Some(addr) => Ok(Some(Self::serve(addr).await?)),
            None => Ok(None),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
        for sampler in &self.samplers {
            sampler.abort();
        }
    }
}

/// A `'static` copy of a label value from a small set (route templates, gRPC
/// methods, status codes), made once: labels then cost no allocation.
pub fn intern(value: &str) -> &'static str {
    static SEEN: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(v) = seen.read().unwrap_or_else(|e| e.into_inner()).get(value) {
        return v;
    }
    let mut seen = seen.write().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = seen.get(value) {
        return v;
    }
    if seen.len() >= MAX_INTERNED {
        return "other";
    }
    let v: &'static str = Box::leak(value.to_owned().into_boxed_str());
    seen.insert(v);
    v
}

/// Seconds since `start`, as histograms take them.
pub fn seconds_since(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_listener_serves_recorded_metrics_as_prometheus_text() {
        let exporter = Exporter::serve("127.0.0.1:0").await.expect("binds");
        metrics::counter!("totilove_common_test_total", "kind" => "unit").increment(2);
        metrics::histogram!("totilove_common_test_duration_seconds").record(0.003);
        recorder().run_upkeep();

        let body = get(exporter.addr(), "/metrics").await;
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("text/plain; version=0.0.4"), "{body}");
        assert!(
            body.contains("totilove_common_test_total{kind=\"unit\"} 2"),
            "{body}"
        );
        // Latencies are real histograms with the buckets in seconds.
        assert!(
            body.contains("totilove_common_test_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{body}"
        );
        assert!(
            get(exporter.addr(), "/other")
                .await
                .starts_with("HTTP/1.1 404")
        );
    }

    #[tokio::test]
    async fn the_listener_stops_when_dropped() {
        let exporter = Exporter::serve("127.0.0.1:0").await.expect("binds");
        let addr = exporter.addr();
        drop(exporter);
        // The aborted task drops the listener at its next turn on the runtime.
        let refused = async {
            while tokio::net::TcpStream::connect(addr).await.is_ok() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), refused)
            .await
            .expect("the listener closes");
    }

    #[test]
    fn interning_gives_one_copy_and_is_bounded() {
        let a = intern("/totilove.test.v1.T/A");
        let b = intern(&String::from("/totilove.test.v1.T/A"));
        assert!(std::ptr::eq(a, b));
        for i in 0..MAX_INTERNED + 1 {
            intern(&format!("/flood/{i}"));
        }
        assert_eq!(intern("/flood/never-seen"), "other");
    }

    /// One plain HTTP/1.1 GET; the whole answer, head and body.
    async fn get(addr: SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        conn.write_all(req.as_bytes()).await.expect("writes");
        let mut out = String::new();
        conn.read_to_string(&mut out).await.expect("reads");
        out
    }
}
