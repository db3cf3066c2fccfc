//! Calls spread over every replica of a service.
//!
//! A service address may be a comma-separated list of URLs (one per replica).
//! Calls go to the replicas that answer their gRPC health check, the least
//! loaded of two picked at random (tonic's balancer); each replica is probed
//! every second, dropped from the choice while it does not answer and taken
//! back once it does. When none answers, all are kept: calls then fail fast
//! with `Unavailable` instead of waiting for a replica to appear.

use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tonic::transport::{Channel, Endpoint, channel::Change};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How often each replica is probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe unanswered for this long counts as a replica down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// A channel over `endpoints` (at least two), kept to the replicas that answer.
/// Must be called inside a Tokio runtime: the prober is a task.
pub(crate) fn balanced(endpoints: Vec<Endpoint>) -> Channel {
    let (channel, changes) = Channel::balance_channel::<usize>(endpoints.len() * 2 + 1);
    for (i, endpoint) in endpoints.iter().enumerate() {
        // Capacity is ample for the first inserts.
        let _ = changes.try_send(Change::Insert(i, endpoint.clone()));
    }
    tokio::spawn(probe_forever(endpoints, changes));
    channel
}

/// Follows each replica's health until the channel is dropped.
async fn probe_forever(endpoints: Vec<Endpoint>, changes: Sender<Change<usize, Endpoint>>) {
    let probes: Vec<HealthClient<Channel>> = endpoints
        .iter()
        .map(|e| HealthClient::new(e.clone().connect_lazy()))
        .collect();
    let mut chosen = vec![true; endpoints.len()];
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !changes.is_closed() {
        tick.tick().await;
        let answers = futures::future::join_all(probes.iter().cloned().map(answers)).await;
        // With none answering, keep them all: see the module comment.
        let wanted: Vec<bool> = if answers.iter().any(|&up| up) {
            answers
        } else {
            vec![true; endpoints.len()]
        };
        for (i, (&want, now)) in wanted.iter().zip(chosen.iter_mut()).enumerate() {
            if want == *now {
                continue;
            }
            let change = if want {
                tracing::info!(replica = %endpoints[i].uri(), "replica answers again; sending it calls");
                Change::Insert(i, endpoints[i].clone())
            } else {
                tracing::warn!(replica = %endpoints[i].uri(), "replica does not answer; skipping it");
                Change::Remove(i)
            };
            if changes.send(change).await.is_err() {
                return;
            }
            *now = want;
        }
    }
}

/// Whether the replica answers its health service at all (even "not
/// serving": its stores are shared with the other replicas).
async fn answers(mut probe: HealthClient<Channel>) -> bool {
    let check = probe.check(HealthCheckRequest {
        service: String::new(),
    });
    matches!(tokio::time::timeout(PROBE_TIMEOUT, check).await, Ok(Ok(_)))
}
