//! Messages over REST: send, history and read marks. Thin handlers: the
//! calls and their types are `messaging`'s (shared with the socket), and
//! every rule (content, ids, cursors, page limits, "not to myself", whether
//! the other person exists) is the message service's; its refusals answer
//! as they are. The gateway checks the JSON's shape and that a history is
//! the caller's own.

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use totilove_common::{
    Code,
    events::MessageJson,
    trace_context::{Conversation, TARGET},
};
use tracing::Instrument;

use crate::{
    http::{ApiError, ApiJson, ApiQuery, ApiResult, CurrentUser, parse_id},
    messaging::{Draft, HistoryQuery},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/messages/send", post(send))
        .route("/api/messages/read", post(read))
        .route("/api/messages/{user_id}/{other_user_id}", get(history))
}

/// `{to, content, client_msg_id}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    to: i64,
    content: String,
    client_msg_id: String,
}

#[derive(Serialize)]
struct MessageReply {
    message: MessageJson,
}

/// 201 `{message}`, or 200 with the stored message for a retry.
#[tracing::instrument(name = "messages.send", skip_all, fields(user_id = me.user_id))]
async fn send(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<SendBody>,
) -> ApiResult<impl IntoResponse> {
    // A child of the request's span, which continues the caller's
    // `traceparent` when it sent one (see `http::middleware`).
    let span = tracing::info_span!(
        target: TARGET,
        "REST send",
        user_id = me.user_id,
        conversation = %Conversation::of(me.user_id, body.to),
    );
    let draft = Draft {
        to: body.to,
        content: body.content,
        client_msg_id: body.client_msg_id,
    };
    let sent = state
        .messaging()
        .send(me.user_id, draft)
        .instrument(span)
        .await?;
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        ApiJson(MessageReply {
            message: sent.message,
        }),
    ))
}

/// `?before=&after=&limit=`
#[derive(Deserialize)]
struct HistoryParams {
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct HistoryReply {
    messages: Vec<MessageJson>,
    has_more: bool,
}

/// One page of a conversation, oldest first. Messages to me still `sent`
/// become `delivered` by being fetched.
#[tracing::instrument(name = "messages.history", skip_all, fields(user_id = me.user_id))]
async fn history(
    State(state): State<AppState>,
    me: CurrentUser,
    Path((user_id, other_user_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<HistoryParams>,
) -> ApiResult<ApiJson<HistoryReply>> {
    let user_id = parse_id(&user_id, "userId")?;
    let other = parse_id(&other_user_id, "otherUserId")?;
    if user_id != me.user_id {
        return Err(ApiError::new(
            Code::Forbidden,
            "you can only read your own conversations",
        ));
    }
    let page = state
        .messaging()
        .history(HistoryQuery {
            me: user_id,
            other,
            before: query.before,
            after: query.after,
            limit: query.limit,
        })
        .await?;
    Ok(ApiJson(HistoryReply {
        messages: page.messages,
        has_more: page.has_more,
    }))
}

/// `{with, up_to_id}`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadBody {
    with: i64,
    up_to_id: i64,
}

/// 204; every message from `with` to me up to `up_to_id` becomes `read`.
#[tracing::instrument(name = "messages.read", skip_all, fields(user_id = me.user_id))]
async fn read(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<ReadBody>,
) -> ApiResult<StatusCode> {
    state
        .messaging()
        .mark_read(me.user_id, body.with, body.up_to_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
