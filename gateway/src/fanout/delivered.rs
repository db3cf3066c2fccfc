//! Deliveries to receivers' sockets, reported to the message service in
//! batches: per pair (receiver, sender) only the highest id delivered counts
//! (a mark covers every message up to it), and every pair of a flush goes in
//! one `MarkDeliveredBatch`: one RPC and one transaction per flush, whatever
//! the number of messages and conversations.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use super::{Inner, lock};
use crate::messaging::Delivery;
use tokio::sync::Notify;

/// Marks per call (the message service's limit is higher).
const MAX_PER_CALL: usize = 5_000;

#[derive(Default)]
pub(crate) struct Delivered {
    /// (receiver, sender) → highest id delivered.
    pending: Mutex<HashMap<(i64, i64), i64>>,
    wake: Notify,
}

impl Delivered {
    pub(super) fn report(&self, receiver: i64, sender: i64, id: i64) {
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

/// Waits for reports, lets them gather for the flush interval, sends them
/// all in one call (one transaction in the message service).
pub(crate) async fn flush(hub: Arc<Inner>) {
    loop {
        hub.delivered.wake.notified().await;
        tokio::time::sleep(hub.settings.delivered_flush).await;
        let batch = hub.delivered.take();
        for chunk in batch.into_iter().collect::<Vec<_>>().chunks(MAX_PER_CALL) {
            let marks = chunk
                .iter()
                .map(|&((receiver, sender), up_to_id)| Delivery {
                    user_id: receiver,
                    with_user_id: sender,
                    up_to_id,
                })
                .collect();
            let call = hub.messages.mark_delivered_batch(marks);
            match tokio::time::timeout(Duration::from_secs(5), call).await {
                Ok(Ok(_)) => {}
                // The messages stay `sent` until the receiver's next history
                // read marks them; nothing else depends on it.
                Ok(Err(e)) => {
                    tracing::warn!(code = %e.code, "could not report deliveries");
                }
                Err(_) => tracing::warn!("reporting deliveries timed out"),
            }
        }
    }
}
