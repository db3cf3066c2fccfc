//! The gateway's side of the message service: every call that REST
//! (`routes::messages`, `routes::conversations`, a report in `routes::users`,
//! the push key in `routes::push`), the socket (`ws::reader`)
//! and the fan-out (`fanout`) make to it, in the gateway's terms, and the one
//! conversion of its messages into the API's JSON.
//!
//! Validation is the service's, in one place: page limits, cursors, ids,
//! content rules, "not to myself". Its refusals come back as a `Status`
//! carrying the exact code, which `totilove_common::Error` reads through the
//! shared code table; callers answer that error as it is.

use totilove_common::{
    Error, MessageStatus as CommonStatus, events::MessageJson, grpc::Intercepted,
};
use totilove_proto::{
    auth::v1::{GetPrivacyRequest, auth_service_client::AuthServiceClient},
    message::v1::{self as pb, MessageStatus, message_service_client::MessageServiceClient},
};

/// How long a read waits for the reader's privacy settings.
const PRIVACY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The message service's client, cheap to clone (tonic clients are).
#[derive(Debug, Clone)]
pub struct Messaging {
    messages: MessageServiceClient<Intercepted>,
    /// Asked for the reader's read-receipt setting on every read.
    auth: AuthServiceClient<Intercepted>,
}

/// A message to send, as a browser gave it.
#[derive(Debug)]
pub struct Draft {
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

/// Which page of a conversation; the service checks every field.
#[derive(Debug, Clone, Copy)]
pub struct HistoryQuery {
    pub me: i64,
    pub other: i64,
    pub before: Option<i64>,
    pub after: Option<i64>,
    /// `None`: the service's default page.
    pub limit: Option<u32>,
}

/// A page of a conversation, oldest first.
#[derive(Debug)]
pub struct Page {
    pub messages: Vec<MessageJson>,
    pub has_more: bool,
}

/// The messages after a point, in id order.
#[derive(Debug)]
pub struct Replay {
    pub messages: Vec<MessageJson>,
    /// More follow the last one.
    pub more: bool,
}

/// One conversation of the list.
#[derive(Debug)]
pub struct Conversation {
    pub other_user_id: i64,
    pub last_message: Option<MessageJson>,
    pub unread_count: i64,
}

/// A report about someone, as the reporter gave it (the service checks it).
#[derive(Debug)]
pub struct Report {
    pub reported_id: i64,
    pub reason: String,
    pub message_ids: Vec<i64>,
    pub note: Option<String>,
}

/// A delivery to report: `user_id` got the messages from `with_user_id` up to `up_to_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub user_id: i64,
    pub with_user_id: i64,
    pub up_to_id: i64,
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

impl Messaging {
    pub fn new(
        messages: MessageServiceClient<Intercepted>,
        auth: AuthServiceClient<Intercepted>,
    ) -> Self {
        Self { messages, auth }
    }

    /// Stores a message (answered only after the commit).
    pub async fn send(&self, sender_id: i64, draft: Draft) -> Result<Sent, Error> {
        let reply = self
            .messages
            .clone()
            .send(pb::SendRequest {
                sender_id,
                receiver_id: draft.to,
                content: draft.content,
                client_msg_id: draft.client_msg_id,
            })
            .await?
            .into_inner();
        Ok(Sent {
            message: message_json(required(reply.message, "message")?),
            created: reply.created,
        })
    }

    /// One page of a conversation (404 from the service when nobody has the
    /// other id). Messages to me still `sent` become `delivered` by being
    /// fetched.
    pub async fn history(&self, q: HistoryQuery) -> Result<Page, Error> {
        let reply = self
            .messages
            .clone()
            .history(pb::HistoryRequest {
                user_id: q.me,
                other_user_id: q.other,
                before: q.before,
                after: q.after,
                limit: q.limit,
            })
            .await?
            .into_inner();
        let mut messages: Vec<MessageJson> = reply.messages.into_iter().map(message_json).collect();
        self.mark_fetched_delivered(q.me, q.other, &mut messages)
            .await;
        Ok(Page {
            messages,
            has_more: reply.has_more,
        })
    }

    /// Marks the page's messages to me that are still `sent` as delivered (one
    /// RPC, up to the highest of them; the service tells their sender). A
    /// failure leaves them `sent`: the read still answers.
    async fn mark_fetched_delivered(&self, me: i64, other: i64, messages: &mut [MessageJson]) {
        let Some(up_to_id) = messages
            .iter()
            .filter(|m| m.receiver_id == me && m.status == CommonStatus::Sent)
            .map(|m| m.id)
            .max()
        else {
            return;
        };
        let result = self
            .messages
            .clone()
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

    /// Every message from `with` to me up to `up_to_id` becomes `read` (for
    /// their sender only if I send read receipts; my unread count drops either way).
    pub async fn mark_read(&self, me: i64, with: i64, up_to_id: i64) -> Result<(), Error> {
        let receipts = self.sends_read_receipts(me).await;
        self.messages
            .clone()
            .mark_read(pb::MarkReadRequest {
                user_id: me,
                with_user_id: with,
                up_to_id,
                receipts: Some(receipts),
            })
            .await?;
        Ok(())
    }

    /// Reports deliveries to sockets, many at once.
    pub async fn mark_delivered_batch(&self, marks: Vec<Delivery>) -> Result<(), Error> {
        let marks = marks
            .into_iter()
            .map(|d| pb::MarkDeliveredRequest {
                user_id: d.user_id,
                with_user_id: d.with_user_id,
                up_to_id: d.up_to_id,
            })
            .collect();
        self.messages
            .clone()
            .mark_delivered_batch(pb::MarkDeliveredBatchRequest { marks })
            .await?;
        Ok(())
    }

    /// The messages to or from `user_id` after `after`, at most `limit` (0:
    /// the service's largest page).
    pub async fn sync(&self, user_id: i64, after: i64, limit: u32) -> Result<Replay, Error> {
        let reply = self
            .messages
            .clone()
            .sync(pb::SyncRequest {
                user_id,
                after,
                limit,
            })
            .await?
            .into_inner();
        Ok(Replay {
            messages: reply.messages.into_iter().map(message_json).collect(),
            more: reply.more,
        })
    }

    /// The newest message id to or from `user_id` (0 when none).
    pub async fn head(&self, user_id: i64) -> Result<i64, Error> {
        Ok(self
            .messages
            .clone()
            .head(pb::HeadRequest { user_id })
            .await?
            .into_inner()
            .last_message_id)
    }

    /// My conversations, newest activity first.
    pub async fn conversations(&self, user_id: i64) -> Result<Vec<Conversation>, Error> {
        let reply = self
            .messages
            .clone()
            .conversations(pb::ConversationsRequest { user_id })
            .await?
            .into_inner();
        Ok(reply
            .conversations
            .into_iter()
            .map(|c| Conversation {
                other_user_id: c.other_user_id,
                last_message: c.last_message.map(message_json),
                unread_count: c.unread_count,
            })
            .collect())
    }

    /// Files a report for moderation; answers its id.
    pub async fn report(&self, reporter_id: i64, report: Report) -> Result<i64, Error> {
        Ok(self
            .messages
            .clone()
            .report(pb::ReportRequest {
                reporter_id,
                reported_id: report.reported_id,
                reason: report.reason,
                message_ids: report.message_ids,
                note: report.note,
            })
            .await?
            .into_inner()
            .report_id)
    }

    /// The Web Push public key; `None` when this deployment sends no pushes.
    pub async fn push_key(&self) -> Result<Option<String>, Error> {
        let key = self
            .messages
            .clone()
            .push_key(pb::PushKeyRequest {})
            .await?
            .into_inner()
            .public_key;
        Ok((!key.is_empty()).then_some(key))
    }

    /// Whether `me` sends read receipts. Asked on every read, not remembered
    /// with the session: a socket lives for hours, and receipts switched off
    /// must hold from the next read on. Unknown (auth slow or down) counts as
    /// no: the read still clears my unread count, and nothing is shown that I
    /// may not want shown.
    async fn sends_read_receipts(&self, me: i64) -> bool {
        let mut auth = self.auth.clone();
        let call = auth.get_privacy(GetPrivacyRequest { user_id: me });
        match tokio::time::timeout(PRIVACY_TIMEOUT, call).await {
            Ok(Ok(reply)) => reply
                .into_inner()
                .privacy
                .is_some_and(|p| p.send_read_receipts),
            Ok(Err(status)) => {
                tracing::warn!(code = ?status.code(), "cannot read privacy settings; reading without a receipt");
                false
            }
            Err(_) => {
                tracing::warn!("reading privacy settings timed out; reading without a receipt");
                false
            }
        }
    }
}

/// A field the service must always send; its absence is a bug there, not the caller's.
fn required<T>(value: Option<T>, what: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::internal(anyhow::anyhow!("the service sent no {what}")))
}
