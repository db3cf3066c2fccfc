//! `/api/me/privacy`: whether others see me online (`show_online`) and
//! whether senders see what I read (`send_read_receipts`).
//!
//! The auth service records the settings (and the presence service's copy of
//! who hides); a change of `show_online` is then told to the presence
//! service, which announces it to my partners at once. Reads (REST and
//! socket) ask for the receipt setting each time (see `messaging`).

use axum::{Router, extract::State, routing::get};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use totilove_proto::{auth::v1 as pb, presence::v1::PrivacyChangedRequest};

use crate::{
    http::{ApiJson, ApiResult, CurrentUser},
    state::AppState,
    views::required,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/me/privacy", get(show).put(update))
}

/// `privacy`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PrivacyJson {
    pub show_online: bool,
    pub send_read_receipts: bool,
}

impl From<pb::Privacy> for PrivacyJson {
    fn from(p: pb::Privacy) -> Self {
        Self {
            show_online: p.show_online,
            send_read_receipts: p.send_read_receipts,
        }
    }
}

#[derive(Serialize)]
struct PrivacyReply {
    privacy: PrivacyJson,
}

/// Each field: absent is kept, a boolean sets; `null`, anything else, an
/// unknown field or a body that is not an object is 400.
#[derive(Debug, Default, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
struct PrivacyBody {
    show_online: Option<bool>,
    send_read_receipts: Option<bool>,
}

/// By hand rather than derived: a derived struct would also take a JSON
/// array (`[false]`) for its fields in order.
impl TryFrom<Map<String, Value>> for PrivacyBody {
    type Error = String;

    fn try_from(fields: Map<String, Value>) -> Result<Self, String> {
        let mut body = Self::default();
        for (name, value) in fields {
            let slot = match name.as_str() {
                "show_online" => &mut body.show_online,
                "send_read_receipts" => &mut body.send_read_receipts,
                _ => return Err(format!("unknown field `{name}`")),
            };
            let value = value
                .as_bool()
                .ok_or_else(|| format!("`{name}` must be true or false"))?;
            *slot = Some(value);
        }
        Ok(body)
    }
}

/// The caller's settings (a person who hid still sees their own).
async fn privacy_of(state: &AppState, user_id: i64) -> ApiResult<PrivacyJson> {
    let reply = state
        .auth()
        .get_privacy(pb::GetPrivacyRequest { user_id })
        .await?
        .into_inner();
    Ok(required(reply.privacy, "privacy")?.into())
}

#[tracing::instrument(name = "privacy.show", skip_all, fields(user_id = me.user_id))]
async fn show(State(state): State<AppState>, me: CurrentUser) -> ApiResult<ApiJson<PrivacyReply>> {
    Ok(ApiJson(PrivacyReply {
        privacy: privacy_of(&state, me.user_id).await?,
    }))
}

/// 200 `{privacy}` once recorded. A change of `show_online` is then told to
/// the presence service (my partners see me go `offline` or come `online`);
/// should that fail, the setting still holds everywhere else at once (every
/// lookup reads it), only the live event is missed.
#[tracing::instrument(name = "privacy.update", skip_all, fields(user_id = me.user_id))]
async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<PrivacyBody>,
) -> ApiResult<ApiJson<PrivacyReply>> {
    let reply = state
        .auth()
        .update_privacy(pb::UpdatePrivacyRequest {
            user_id: me.user_id,
            show_online: body.show_online,
            send_read_receipts: body.send_read_receipts,
        })
        .await?
        .into_inner();
    let privacy: PrivacyJson = required(reply.privacy, "privacy")?.into();
    if reply.show_online_changed {
        let mut presence = state.presence();
        let call = presence.privacy_changed(PrivacyChangedRequest {
            user_id: me.user_id,
            show_online: privacy.show_online,
        });
        crate::presence::notice("a presence privacy change", call).await;
    }
    Ok(ApiJson(PrivacyReply { privacy }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<PrivacyBody, crate::http::ApiError> {
        crate::http::json::parse(body.as_bytes())
    }

    #[test]
    fn absent_fields_are_kept() {
        let body = parse(r#"{"show_online": false}"#).expect("valid");
        assert_eq!(body.show_online, Some(false));
        assert_eq!(body.send_read_receipts, None);
    }

    #[test]
    fn null_strings_and_unknown_fields_are_refused() {
        assert!(parse(r#"{"show_online": null}"#).is_err());
        assert!(parse(r#"{"send_read_receipts": "false"}"#).is_err());
        assert!(parse(r#"{"invisible": true}"#).is_err());
        assert!(parse("[]").is_err());
        assert!(parse("[false]").is_err());
    }
}
