//! People: search, a person's page, blocking, reporting.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use totilove_proto::{auth::v1 as pb, presence::v1::BlockChangedRequest};

use crate::{
    http::{ApiError, ApiJson, ApiQuery, ApiResult, CurrentUser, PathId},
    messaging::Report,
    presence,
    state::AppState,
    views::{ProfileJson, UserJson, required},
};

const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(search))
        .route("/api/users/{id}", get(show))
        .route("/api/users/{id}/block", post(block).delete(unblock))
        .route("/api/users/{id}/report", post(report))
        .route("/api/blocks", get(blocks))
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<u32>,
    #[serde(default)]
    cursor: String,
}

#[derive(Serialize)]
struct SearchHit {
    user: UserJson,
    online: bool,
}

#[derive(Serialize)]
struct SearchReply {
    users: Vec<SearchHit>,
    next_cursor: Option<String>,
}

/// One page of people whose username or display name starts with `q`
/// (people blocked either way are left out by the auth service).
#[tracing::instrument(name = "users.search", skip_all, fields(user_id = me.user_id))]
async fn search(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> ApiResult<ApiJson<SearchReply>> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {MAX_PAGE}"
        )));
    }
    let reply = state
        .auth()
        .search_users(pb::SearchUsersRequest {
            viewer_id: me.user_id,
            query: query.q,
            limit,
            cursor: query.cursor,
        })
        .await?
        .into_inner();
    let ids: Vec<i64> = reply.users.iter().map(|u| u.id).collect();
    let statuses = presence::lookup(&state, me.user_id, &ids).await;
    let users = reply
        .users
        .into_iter()
        .map(|u| SearchHit {
            online: statuses.get(&u.id).is_some_and(|s| s.online),
            user: u.into(),
        })
        .collect();
    Ok(ApiJson(SearchReply {
        users,
        next_cursor: reply.next_cursor.filter(|c| !c.is_empty()),
    }))
}

#[derive(Serialize)]
struct PersonReply {
    user: UserJson,
    profile: ProfileJson,
    online: bool,
    last_seen: Option<String>,
}

/// 404 for an unknown person and for one hidden by a block either way
/// (the two are indistinguishable, so a block is not revealed).
#[tracing::instrument(name = "users.show", skip_all, fields(user_id = me.user_id))]
async fn show(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<ApiJson<PersonReply>> {
    // The three lookups are independent: ask them at once.
    let blocked = async {
        if id == me.user_id {
            return Ok(false);
        }
        let reply = state
            .auth()
            .is_blocked(pb::IsBlockedRequest {
                user_a: me.user_id,
                user_b: id,
            })
            .await?;
        Ok::<_, ApiError>(reply.into_inner().blocked)
    };
    let person = async {
        let reply = state
            .auth()
            .get_user(pb::GetUserRequest {
                user_id: id,
                include_private: false,
            })
            .await?;
        Ok::<_, ApiError>(reply.into_inner())
    };
    let ids = [id];
    let (blocked, person, statuses) =
        tokio::join!(blocked, person, presence::lookup(&state, me.user_id, &ids));
    if blocked? {
        return Err(ApiError::not_found("user"));
    }
    let person = person?;
    let status = statuses.get(&id).cloned().unwrap_or_default();
    Ok(ApiJson(PersonReply {
        user: required(person.user, "user")?.into(),
        profile: person.profile.unwrap_or_default().into(),
        online: status.online,
        last_seen: status.last_seen,
    }))
}

/// 204, idempotent; 400 for myself, 404 for nobody.
#[tracing::instrument(name = "users.block", skip_all, fields(user_id = me.user_id))]
async fn block(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state
        .auth()
        .block(pb::BlockRequest {
            user_id: me.user_id,
            target_id: id,
        })
        .await?;
    announce_block(&state, me.user_id, id, true).await;
    Ok(StatusCode::NO_CONTENT)
}

/// 204, idempotent; 404 for nobody.
#[tracing::instrument(name = "users.unblock", skip_all, fields(user_id = me.user_id))]
async fn unblock(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state
        .auth()
        .unblock(pb::BlockRequest {
            user_id: me.user_id,
            target_id: id,
        })
        .await?;
    announce_block(&state, me.user_id, id, false).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells both people's open pages (a `blocks` frame to mine, `availability`
/// to theirs), once the block is recorded.
async fn announce_block(state: &AppState, user_id: i64, other_id: i64, blocked: bool) {
    let mut presence = state.presence();
    let call = presence.block_changed(BlockChangedRequest {
        user_id,
        other_id,
        blocked,
    });
    crate::presence::notice("a block", call).await;
}

/// `{reason, message_ids?, note?}`; `null` is the same as absent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    reason: String,
    message_ids: Option<Vec<i64>>,
    note: Option<String>,
}

#[derive(Serialize)]
struct ReportReply {
    report_id: i64,
}

/// 202 `{report_id}`: filed for moderation (a later, human decision). The
/// rules (reasons, note length, which messages, the rate limit) are the
/// message service's, which keeps reports next to the messages they copy.
#[tracing::instrument(name = "users.report", skip_all, fields(user_id = me.user_id))]
async fn report(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ReportBody>,
) -> ApiResult<(StatusCode, ApiJson<ReportReply>)> {
    let report = Report {
        reported_id: id,
        reason: body.reason,
        message_ids: body.message_ids.unwrap_or_default(),
        note: body.note,
    };
    let report_id = state.messaging().report(me.user_id, report).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(ReportReply { report_id })))
}

#[derive(Serialize)]
struct BlocksReply {
    users: Vec<UserJson>,
}

#[tracing::instrument(name = "users.blocks", skip_all, fields(user_id = me.user_id))]
async fn blocks(State(state): State<AppState>, me: CurrentUser) -> ApiResult<ApiJson<BlocksReply>> {
    let reply = state
        .auth()
        .list_blocks(pb::ListBlocksRequest {
            user_id: me.user_id,
        })
        .await?
        .into_inner();
    Ok(ApiJson(BlocksReply {
        users: reply.users.into_iter().map(Into::into).collect(),
    }))
}
