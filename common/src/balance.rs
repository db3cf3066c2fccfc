//! Calls spread over every replica of a service.
//!
//! A service address is a comma-separated list of URLs; each URL whose host
//! is a name (not an IP address) is resolved again every few seconds and
//! stands for every address it resolves to: a Kubernetes headless Service
//! names every ready pod, a Compose service every container. Calls go to the
//! replicas that answer their gRPC health check, the least loaded of two
//! picked at random (tonic's balancer). Each replica is probed every second,
//! dropped from the choice while it does not answer and taken back once it
//! does. When none answers, all are kept: calls then fail fast with
//! `Unavailable` instead of waiting for a replica to appear.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use http::Uri;
use tokio::{sync::mpsc::Sender, time::Instant};
use tonic::transport::{Channel, Endpoint, channel::Change};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How often each replica is probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe unanswered for this long counts as a replica down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// How often names are resolved again.
const RESOLVE_EVERY: Duration = Duration::from_secs(5);

/// One URL of the list: an address, or a name to resolve.
struct Target {
    uri: Uri,
    /// `(host, port)` when the host is a name.
    name: Option<(String, u16)>,
}

/// Whether `uris` call for the balancer: several replicas, or a name that may
/// stand for several.
pub(crate) fn wanted(uris: &[Uri]) -> bool {
    uris.len() > 1 || uris.iter().any(|u| name_of(u).is_some())
}

fn name_of(uri: &Uri) -> Option<(String, u16)> {
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    Some((host.to_owned(), port))
}

/// A channel over `uris`, kept to the replicas that answer; `endpoint` makes
/// an endpoint (with the connection settings) of one URL. Must be called
/// inside a Tokio runtime: the prober is a task.
pub(crate) fn balanced(uris: Vec<Uri>, endpoint: fn(&str) -> anyhow::Result<Endpoint>) -> Channel {
    let (channel, changes) = Channel::balance_channel::<String>(64);
    let targets = uris
        .into_iter()
        .map(|uri| Target {
            name: name_of(&uri),
            uri,
        })
        .collect();
    tokio::spawn(follow(targets, endpoint, changes));
    channel
}

/// One replica the balancer may know: its endpoint, its probe, whether the
/// balancer has it now.
struct Replica {
    endpoint: Endpoint,
    probe: HealthClient<Channel>,
    chosen: bool,
}

/// Resolves, probes and tells the balancer, until the channel is dropped.
async fn follow(
    targets: Vec<Target>,
    endpoint: fn(&str) -> anyhow::Result<Endpoint>,
    changes: Sender<Change<String, Endpoint>>,
) {
    let mut replicas: BTreeMap<String, Replica> = BTreeMap::new();
    let mut next_resolve = Instant::now();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !changes.is_closed() {
        if Instant::now() >= next_resolve {
            next_resolve = Instant::now() + RESOLVE_EVERY;
            let urls = resolve(&targets).await;
            for gone in replicas
                .keys()
                .filter(|k| !urls.contains(*k))
                .cloned()
                .collect::<Vec<_>>()
            {
                if replicas.remove(&gone).is_some_and(|r| r.chosen)
                    && changes.send(Change::Remove(gone)).await.is_err()
                {
                    return;
                }
            }
            for url in urls {
                if replicas.contains_key(&url) {
                    continue;
                }
                match endpoint(&url) {
                    Ok(e) => {
                        let probe = HealthClient::new(e.clone().connect_lazy());
                        replicas.insert(
                            url,
                            Replica {
                                endpoint: e,
                                probe,
                                chosen: false,
                            },
                        );
                    }
                    Err(e) => tracing::warn!(%url, error = %e, "not a usable service URL"),
                }
            }
        }
        let answers =
            futures::future::join_all(replicas.values().map(|r| answers(r.probe.clone()))).await;
        // With none answering, keep them all: see the module comment.
        let any = answers.iter().any(|&up| up);
        for ((url, replica), up) in replicas.iter_mut().zip(answers) {
            let want = up || !any;
            if want == replica.chosen {
                continue;
            }
            let change = if want {
                tracing::info!(replica = %url, "replica answers; sending it calls");
                Change::Insert(url.clone(), replica.endpoint.clone())
            } else {
                tracing::warn!(replica = %url, "replica does not answer; skipping it");
                Change::Remove(url.clone())
            };
            if changes.send(change).await.is_err() {
                return;
            }
            replica.chosen = want;
        }
        tick.tick().await;
    }
}

/// Every replica's URL: addresses as given, names as resolved now (a name
/// that does not resolve keeps no replica until it does).
async fn resolve(targets: &[Target]) -> BTreeSet<String> {
    let mut urls = BTreeSet::new();
    for target in targets {
        let Some((host, port)) = &target.name else {
            urls.insert(target.uri.to_string());
            continue;
        };
        let scheme = target.uri.scheme_str().unwrap_or("http");
        match tokio::net::lookup_host((host.as_str(), *port)).await {
            Ok(addrs) => urls.extend(addrs.map(|a: SocketAddr| format!("{scheme}://{a}"))),
            Err(e) => tracing::warn!(%host, error = %e, "cannot resolve a service name"),
        }
    }
    urls
}

/// Whether the replica answers its health service at all (even "not
/// serving": its stores are shared with the other replicas).
async fn answers(mut probe: HealthClient<Channel>) -> bool {
    let check = probe.check(HealthCheckRequest {
        service: String::new(),
    });
    matches!(tokio::time::timeout(PROBE_TIMEOUT, check).await, Ok(Ok(_)))
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use tokio::sync::oneshot;
    use tonic::transport::Server;

    use super::*;

    /// A health server on a free loopback port; stops when the sender drops.
    async fn replica() -> (u16, oneshot::Sender<()>) {
        let (port, _, stop) = counting_replica().await;
        (port, stop)
    }

    async fn check(channel: &Channel) -> bool {
        let mut client = HealthClient::new(channel.clone());
        let call = client.check(HealthCheckRequest {
            service: String::new(),
        });
        matches!(
            tokio::time::timeout(Duration::from_secs(2), call).await,
            Ok(Ok(_))
        )
    }

    #[tokio::test]
    async fn calls_reach_a_name_and_skip_a_replica_that_stopped() {
        let (up, _keep) = replica().await;
        let (down, stop) = replica().await;
        // `localhost` is a name: it is resolved (to 127.0.0.1, maybe ::1 too,
        // where nothing listens: that replica is skipped).
        let urls = format!("http://localhost:{up},http://127.0.0.1:{down}");
        let channel = crate::grpc::channel(&urls).expect("a channel");
        assert!(check(&channel).await);
        drop(stop);
        // Within a probe or two the stopped one gets no more calls.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        for _ in 0..20 {
            assert!(
                check(&channel).await,
                "every call reaches the replica that answers"
            );
        }
    }

    /// A health server that counts the calls marked `x-counted` (the
    /// balancer's own probes are not).
    async fn counting_replica() -> (u16, Arc<AtomicUsize>, oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let (stop, stopped) = oneshot::channel::<()>();
        let (_, health) = tonic_health::server::health_reporter();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let count = tower::layer::layer_fn(move |inner| Counted {
            inner,
            hits: counter.clone(),
        });
        tokio::spawn(
            Server::builder()
                .layer(count)
                .add_service(health)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        (port, hits, stop)
    }

    #[derive(Clone)]
    struct Counted<S> {
        inner: S,
        hits: Arc<AtomicUsize>,
    }

    impl<S, B> tower::Service<http::Request<B>> for Counted<S>
    where
        S: tower::Service<http::Request<B>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;

        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: http::Request<B>) -> Self::Future {
            if request.headers().contains_key("x-counted") {
                self.hits.fetch_add(1, Ordering::Relaxed);
            }
            self.inner.call(request)
        }
    }

    #[tokio::test]
    async fn calls_spread_over_every_replica() {
        let (a, a_hits, _keep_a) = counting_replica().await;
        let (b, b_hits, _keep_b) = counting_replica().await;
        let channel = crate::grpc::channel(&format!("http://localhost:{a},http://localhost:{b}"))
            .expect("a channel");
        let mut client = HealthClient::with_interceptor(channel, |mut req: tonic::Request<()>| {
            req.metadata_mut().insert(
                "x-counted",
                tonic::metadata::MetadataValue::from_static("1"),
            );
            Ok(req)
        });
        for _ in 0..40 {
            let call = client.check(HealthCheckRequest {
                service: String::new(),
            });
            let answered = tokio::time::timeout(Duration::from_secs(2), call).await;
            assert!(matches!(answered, Ok(Ok(_))), "every call is answered");
        }
        let (a, b) = (
            a_hits.load(Ordering::Relaxed),
            b_hits.load(Ordering::Relaxed),
        );
        assert_eq!(a + b, 40);
        // Two choices at random, the less loaded: each gets a fair share
        // (under 5 of 40 would happen about once in ten million runs).
        assert!(a >= 5 && b >= 5, "calls reach both replicas: {a} and {b}");
    }
}
