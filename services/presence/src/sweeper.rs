//! The background sweep: expires sockets whose heartbeats stopped (a gateway
//! killed without a goodbye leaves no ghost) and performs the offline
//! transitions whose grace ran out, announcing each exactly once. Every
//! presence instance sweeps; the sweep is one atomic script, so they never
//! double up.

use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::{
    fanout::{Fanout, Notice},
    store::{BATCH, Store},
};

pub(crate) async fn run(store: Store, fanout: Fanout, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Logged once per outage, not once per tick.
    let mut failing = false;
    loop {
        tick.tick().await;
        // Passes until a batch is not full: a backlog (after an outage, or a
        // large gateway dying) drains at once rather than a batch per tick.
        loop {
            match store.sweep(BATCH).await {
                Ok(sweep) => {
                    if failing {
                        tracing::info!("the presence sweep works again");
                        failing = false;
                    }
                    if sweep.lapsed > 0 {
                        tracing::debug!(sockets = sweep.lapsed, "expired silent sockets");
                    }
                    for (user, last_seen) in sweep.went_offline {
                        fanout.notify(Notice::Presence {
                            user,
                            online: false,
                            last_seen: Some(last_seen),
                        });
                    }
                    if sweep.lapsed < BATCH && sweep.due < BATCH {
                        break;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "the presence sweep failed; retrying every tick");
                        failing = true;
                    }
                    break;
                }
            }
        }
        // Once a tick, one SCARD, only when metrics are served: the count is
        // the same for every instance (take the max over them, not the sum).
        if totilove_common::metrics::enabled()
            && let Ok(online) = store.online_count().await
        {
            metrics::gauge!("totilove_presence_online_users").set(online as f64);
        }
    }
}
