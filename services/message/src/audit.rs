//! The message service's part of the audit trail (`system_logs` in its own
//! schema): sends refused across a block. Reports write their audit row in
//! the statement that stores them (`reports.rs`), so neither exists alone.
//!
//! Written best effort: a lost row is logged, and the refusal is answered
//! all the same.

use crate::{domain::UserId, store::Store};

pub(crate) const REPORT: &str = "report";
const SEND_REFUSED: &str = "send_refused";

/// Records that `sender`'s message to `receiver` was refused by a block.
pub(crate) async fn send_refused(store: &Store, sender: UserId, receiver: UserId) {
    let written = store
        .bounded(
            sqlx::query!(
                "INSERT INTO system_logs (event, user_id, detail)
                     VALUES ($1, $2, jsonb_build_object('to', $3::bigint, 'reason', 'blocked'))",
                SEND_REFUSED,
                sender.get(),
                receiver.get(),
            )
            .execute(store.pool()),
        )
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e.message, "audit record lost");
    }
}
