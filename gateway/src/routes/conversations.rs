//! `GET /api/conversations`: my conversations, newest activity first, each
//! with the other person's card, the last message, my unread count and
//! whether they are online (never for someone on either side of a block).
//! Four calls in all, whatever the number of conversations: the list, then
//! the cards, the presence and the blocks at once.

use std::collections::{HashMap, HashSet};

use axum::{Router, extract::State, routing::get};
use serde::Serialize;
use totilove_common::events::MessageJson;
use totilove_proto::auth::v1::{BlockedAmongRequest, GetUsersRequest};

use crate::{
    http::{ApiError, ApiJson, ApiResult, CurrentUser},
    presence,
    state::AppState,
    views::UserJson,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/conversations", get(list))
}

#[derive(Serialize)]
struct ConversationJson {
    user: UserJson,
    last_message: Option<MessageJson>,
    unread_count: i64,
    online: bool,
}

#[derive(Serialize)]
struct ConversationsReply {
    conversations: Vec<ConversationJson>,
}

#[tracing::instrument(name = "conversations.list", skip_all, fields(user_id = me.user_id))]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<ApiJson<ConversationsReply>> {
    let conversations = state.messaging().conversations(me.user_id).await?;
    let ids: Vec<i64> = conversations.iter().map(|c| c.other_user_id).collect();
    let cards = async {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let reply = state
            .auth()
            .get_users(GetUsersRequest {
                user_ids: ids.clone(),
            })
            .await?;
        Ok::<_, ApiError>(reply.into_inner().users)
    };
    let (cards, statuses, blocked) = tokio::join!(
        cards,
        presence::lookup(&state, me.user_id, &ids),
        blocked_among(&state, me.user_id, &ids)
    );
    let mut cards: HashMap<i64, UserJson> = cards?
        .into_iter()
        .map(|u| (u.id, UserJson::from(u)))
        .collect();
    let conversations = conversations
        .into_iter()
        // A person the auth service no longer knows has no card to show.
        .filter_map(|c| {
            let user = cards.remove(&c.other_user_id)?;
            Some(ConversationJson {
                online: blocked
                    .as_ref()
                    .is_some_and(|b| !b.contains(&c.other_user_id))
                    && statuses.get(&c.other_user_id).is_some_and(|s| s.online),
                user,
                last_message: c.last_message,
                unread_count: c.unread_count,
            })
        })
        .collect();
    Ok(ApiJson(ConversationsReply { conversations }))
}

/// Of `others`, those on either side of a block with `me`: they stay in the
/// list but show offline. `None` (everyone shown offline) when auth cannot say.
async fn blocked_among(state: &AppState, me: i64, others: &[i64]) -> Option<HashSet<i64>> {
    if others.is_empty() {
        return Some(HashSet::new());
    }
    let mut auth = state.auth();
    let call = auth.blocked_among(BlockedAmongRequest {
        user_id: me,
        others: others.to_vec(),
    });
    match call.await {
        Ok(reply) => Some(reply.into_inner().blocked.into_iter().collect()),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "cannot check blocks; showing everyone offline");
            None
        }
    }
}
