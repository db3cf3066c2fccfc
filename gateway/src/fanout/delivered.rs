//! Deliveries to receivers' sockets, reported to the message service in
//! batches: per pair (receiver, sender) only the highest id delivered counts
//! (`MarkDelivered` covers every message up to it), so a burst of messages
//! costs one RPC per conversation per flush, not one per message.

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use futures::StreamExt;
use tokio::sync::Notify;
use totilove_proto::message::v1::MarkDeliveredRequest;

use super::{Inner, lock};

/// RPCs in flight at once during a flush.
const CONCURRENCY: usize = 16;

#[derive(Default)]
pub(crate) struct Delivered {
    /// (receiver, sender) → highest id delivered.
    pending: Mutex<HashMap<(i64, i64), i64>>,
    wake: Notify,
}

impl Delivered {
    pub fn report(&self, receiver: i64, sender: i64, id: i64) {
        let mut pending = lock(&self.pending);
        let highest = pending.entry((receiver, sender)).or_insert(id);
        *highest = (*highest).max(id);
        drop(pending);
        self.wake.notify_one();
    }

    fn take(&self) -> HashMap<(i64, i64), i64> {
        std::mem::take(&mut *lock(&self.pending))
    }
}

/// Waits for reports, lets them gather for the flush interval, sends them.
pub(crate) async fn flush(hub: Arc<Inner>) {
    loop {
        hub.delivered.wake.notified().await;
        tokio::time::sleep(hub.settings.delivered_flush).await;
        let batch = hub.delivered.take();
        futures::stream::iter(batch)
            .for_each_concurrent(CONCURRENCY, |((receiver, sender), up_to_id)| {
                let mut messages = hub.messages.clone();
                async move {
                    let call = messages.mark_delivered(MarkDeliveredRequest {
                        user_id: receiver,
                        with_user_id: sender,
                        up_to_id,
                    });
                    match tokio::time::timeout(std::time::Duration::from_secs(5), call).await {
                        Ok(Ok(_)) => {}
                        // The message stays `sent` until the receiver's next
                        // history read marks it; nothing else depends on it.
                        Ok(Err(status)) => {
                            tracing::warn!(code = ?status.code(), "could not report a delivery");
                        }
                        Err(_) => tracing::warn!("reporting a delivery timed out"),
                    }
                }
            })
            .await;
    }
}
