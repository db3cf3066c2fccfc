//! The audit trail (`system_logs`): who registered, logged in or failed to,
//! logged out or revoked a session, blocked or unblocked whom, from where.
//! It never holds what was typed into a login form unless it named an
//! account: a password pasted into the login field must not land here.
//!
//! Written best effort: a lost audit row is logged, but does not fail the
//! action it describes (that action's own writes already succeeded).

use sqlx::PgPool;

use crate::domain::{ClientInfo, UserId};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    Register,
    LoginOk,
    LoginFailed,
    Logout,
    Revoke,
    Block,
    Unblock,
}

impl Event {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Event::Register => "register",
            Event::LoginOk => "login_ok",
            Event::LoginFailed => "login_failed",
            Event::Logout => "logout",
            Event::Revoke => "revoke",
            Event::Block => "block",
            Event::Unblock => "unblock",
        }
    }
}

#[tracing::instrument(name = "Write an audit record", skip_all, fields(event = event.as_str()))]
pub(crate) async fn record(
    db: &PgPool,
    event: Event,
    user_id: Option<UserId>,
    client: &ClientInfo,
    detail: serde_json::Value,
) {
    let written = sqlx::query!(
        "INSERT INTO system_logs (event, user_id, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5)",
        event.as_str(),
        user_id.map(|u| u.get()),
        &client.ip,
        &client.user_agent,
        detail,
    )
    .execute(db)
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "audit record lost");
    }
}
