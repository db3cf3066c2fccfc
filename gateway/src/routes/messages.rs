//! Messages over REST: send, history and read marks. The content rules
//! (1–4000 characters, not only whitespace), the UUID check of
//! `client_msg_id` and "not to myself" live in the message service, in one
//! place; the gateway checks the shapes and passes its answers through.
//! `send` is shared with the WebSocket's `send` frame ([`send_message`]).

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use totilove_common::{
    MessageStatus as CommonStatus,
    events::MessageJson,
    trace_context::{Conversation, TARGET},
};
use totilove_proto::{
    auth::v1::GetUsersRequest,
    message::v1::{self as pb, MessageStatus},
};
use tracing::Instrument;

use crate::{
    http::{ApiError, ApiJson, ApiQuery, ApiResult, CurrentUser, parse_id},
    routes::privacy::sends_read_receipts,
    state::AppState,
    views::required,
};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/messages/send", post(send))
        .route("/api/messages/read", post(read))
        .route("/api/messages/{user_id}/{other_user_id}", get(history))
}

/// The API's `message`, from the message service's. The one conversion.
pub fn message_json(m: pb::Message) -> MessageJson {
    let status = match MessageStatus::try_from(m.status) {
        Ok(MessageStatus::Delivered) => CommonStatus::Delivered,
        Ok(MessageStatus::Read) => CommonStatus::Read,
        _ => CommonStatus::Sent,
    };
    MessageJson {
        id: m.id,
        sender_id: m.sender_id,
        receiver_id: m.receiver_id,
        content: m.content,
        created_at: totilove_common::time::timestamp_rfc3339(m.created_at.as_ref())
            .unwrap_or_default(),
        status,
        client_msg_id: m.client_msg_id,
    }
}

/// `{to, content, client_msg_id}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    pub to: i64,
    pub content: String,
    pub client_msg_id: String,
}

/// A stored message; `created` is false for an idempotent retry.
#[derive(Debug)]
pub struct Sent {
    pub message: MessageJson,
    pub created: bool,
}

/// Stores a message (answered only after the commit).
pub async fn send_message(state: &AppState, sender_id: i64, body: SendBody) -> ApiResult<Sent> {
    if body.to <= 0 {
        return Err(ApiError::invalid("`to` must be a positive user id"));
    }
    let reply = state
        .messages()
        .send(pb::SendRequest {
            sender_id,
            receiver_id: body.to,
            content: body.content,
            client_msg_id: body.client_msg_id,
        })
        .await?
        .into_inner();
    let message = message_json(required(reply.message, "message")?);
    Ok(Sent {
        message,
        created: reply.created,
    })
}

#[derive(Serialize)]
struct MessageReply {
    message: MessageJson,
}

/// 201 `{message}`, or 200 with the stored message for a retry.
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
    let sent = send_message(&state, me.user_id, body)
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

#[derive(Deserialize)]
struct HistoryQuery {
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
async fn history(
    State(state): State<AppState>,
    me: CurrentUser,
    Path((user_id, other_user_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<ApiJson<HistoryReply>> {
    let user_id = parse_id(&user_id, "userId")?;
    let other_id = parse_id(&other_user_id, "otherUserId")?;
    if user_id != me.user_id {
        return Err(ApiError::new(
            totilove_common::Code::Forbidden,
            "you can only read your own conversations",
        ));
    }
    if query.before.is_some() && query.after.is_some() {
        return Err(ApiError::invalid("give `before` or `after`, not both"));
    }
    if query.before.is_some_and(|b| b <= 0) {
        return Err(ApiError::invalid("`before` must be a positive message id"));
    }
    if query.after.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid("`after` must be 0 or a message id"));
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {MAX_PAGE}"
        )));
    }
    let reply = state
        .messages()
        .history(pb::HistoryRequest {
            user_id,
            other_user_id: other_id,
            before: query.before,
            after: query.after,
            limit,
        })
        .await?
        .into_inner();
    if reply.messages.is_empty() {
        ensure_person_exists(&state, other_id).await?;
    }
    let mut messages: Vec<MessageJson> = reply.messages.into_iter().map(message_json).collect();
    mark_fetched_delivered(&state, user_id, other_id, &mut messages).await;
    Ok(ApiJson(HistoryReply {
        messages,
        has_more: reply.has_more,
    }))
}

/// 404 when nobody has the id (an empty conversation with someone real is
/// just empty). Only asked for empty pages: a message proves the person.
async fn ensure_person_exists(state: &AppState, user_id: i64) -> ApiResult<()> {
    let reply = state
        .auth()
        .get_users(GetUsersRequest {
            user_ids: vec![user_id],
        })
        .await?
        .into_inner();
    if reply.users.iter().any(|u| u.id == user_id) {
        Ok(())
    } else {
        Err(ApiError::not_found("user"))
    }
}

/// Marks the page's messages to me that are still `sent` as delivered (one
/// RPC, up to the highest of them; the service tells their sender). A
/// failure leaves them `sent`: the read still answers.
async fn mark_fetched_delivered(
    state: &AppState,
    me: i64,
    other: i64,
    messages: &mut [MessageJson],
) {
    let Some(up_to_id) = messages
        .iter()
        .filter(|m| m.receiver_id == me && m.status == CommonStatus::Sent)
        .map(|m| m.id)
        .max()
    else {
        return;
    };
    let result = state
        .messages()
        .mark_delivered(pb::MarkDeliveredRequest {
            user_id: me,
            with_user_id: other,
            up_to_id,
        })
        .await;
    match result {
        Ok(_) => {
            for m in messages
                .iter_mut()
                .filter(|m| m.receiver_id == me && m.status == CommonStatus::Sent)
            {
                m.status = CommonStatus::Delivered;
            }
        }
        Err(status) => {
            tracing::warn!(code = ?status.code(), "could not mark fetched messages delivered")
        }
    }
}

/// `{with, up_to_id}`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    pub with: i64,
    pub up_to_id: i64,
}

/// Every message from `with` to me up to `up_to_id` becomes `read` (for
/// their sender only if I send read receipts; my unread count drops either way).
pub async fn mark_read(state: &AppState, me: i64, body: ReadBody) -> ApiResult<()> {
    if body.with <= 0 {
        return Err(ApiError::invalid("`with` must be a positive user id"));
    }
    if body.up_to_id <= 0 {
        return Err(ApiError::invalid(
            "`up_to_id` must be a positive message id",
        ));
    }
    let receipts = sends_read_receipts(state, me).await;
    state
        .messages()
        .mark_read(pb::MarkReadRequest {
            user_id: me,
            with_user_id: body.with,
            up_to_id: body.up_to_id,
            receipts: Some(receipts),
        })
        .await?;
    Ok(())
}

/// 204
async fn read(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<ReadBody>,
) -> ApiResult<StatusCode> {
    mark_read(&state, me.user_id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}
