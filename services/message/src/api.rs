//! The gRPC edge: requests are parsed into domain types here, answers mapped
//! back to protobuf; nothing deeper sees a proto type.

use tonic::{Request, Response, Status as GrpcStatus};
use totilove_common::{Error, MessageStatus, time::to_timestamp};
use totilove_proto::message::v1 as pb;

use crate::{
    domain::{
        ClientMsgId, Content, HistoryQuery, MAX_SYNC_LIMIT, Message, NewMessage, Pair, UserId,
    },
    reports::{NewReport, Note, Reason, ReportedMessages},
    service::Messages,
    store::{Mark, MarkKind},
};

pub(crate) struct MessageApi {
    pub messages: Messages,
}

fn to_proto(m: Message) -> pb::Message {
    let status = match m.status {
        MessageStatus::Sent => pb::MessageStatus::Sent,
        MessageStatus::Delivered => pb::MessageStatus::Delivered,
        MessageStatus::Read => pb::MessageStatus::Read,
    };
    pb::Message {
        id: m.id,
        sender_id: m.sender_id,
        receiver_id: m.receiver_id,
        content: m.content,
        created_at: Some(to_timestamp(m.created_at)),
        status: status as i32,
        client_msg_id: m.client_msg_id.to_string(),
    }
}

fn parse_send(req: pb::SendRequest) -> Result<NewMessage, Error> {
    let sender = UserId::parse(req.sender_id, "sender_id")?;
    let receiver = UserId::parse(req.receiver_id, "to")?;
    Pair::of(sender, receiver, "to")?;
    Ok(NewMessage {
        content: Content::try_from(req.content)?,
        client_msg_id: ClientMsgId::try_from(req.client_msg_id.as_str())?,
        sender,
        receiver,
    })
}

fn parse_report(req: pb::ReportRequest) -> Result<NewReport, Error> {
    let reporter = UserId::parse(req.reporter_id, "reporter_id")?;
    // `id`: the reported person is the path's id in the public API.
    let reported = UserId::parse(req.reported_id, "id")?;
    if reporter == reported {
        return Err(Error::invalid(
            "id must be someone else: you cannot report yourself",
        ));
    }
    Ok(NewReport {
        reporter,
        reported,
        reason: Reason::try_from(req.reason.as_str())?,
        messages: ReportedMessages::try_from(req.message_ids)?,
        note: req.note.map(Note::try_from).transpose()?,
    })
}

/// A batch of marks is one transaction: keep it short.
const MAX_MARKS_PER_CALL: usize = 10_000;

fn parse_mark(reader: i64, with: i64, up_to_id: i64) -> Result<Mark, Error> {
    Ok(Mark {
        reader: UserId::parse(reader, "user_id")?,
        with: UserId::parse(with, "with")?,
        up_to_id,
    })
}

fn sync_limit(raw: u32) -> Result<usize, Error> {
    match raw {
        0 => Ok(MAX_SYNC_LIMIT as usize),
        n if n <= MAX_SYNC_LIMIT => Ok(n as usize),
        _ => Err(Error::invalid(format!(
            "limit must be between 1 and {MAX_SYNC_LIMIT}"
        ))),
    }
}

type Answer<T> = Result<Response<T>, GrpcStatus>;

#[tonic::async_trait]
impl pb::message_service_server::MessageService for MessageApi {
    #[tracing::instrument(name = "Send a message", skip_all, fields(user_id = req.get_ref().sender_id, to = req.get_ref().receiver_id))]
    async fn send(&self, req: Request<pb::SendRequest>) -> Answer<pb::SendResponse> {
        let message = parse_send(req.into_inner())?;
        let sent = self.messages.send(message).await?;
        Ok(Response::new(pb::SendResponse {
            message: Some(to_proto(sent.message)),
            created: sent.created,
        }))
    }

    #[tracing::instrument(name = "Read a conversation's history", skip_all, fields(user_id = req.get_ref().user_id, with = req.get_ref().other_user_id))]
    async fn history(&self, req: Request<pb::HistoryRequest>) -> Answer<pb::HistoryResponse> {
        let r = req.into_inner();
        let query = HistoryQuery::parse(r.user_id, r.other_user_id, r.before, r.after, r.limit)?;
        let page = self.messages.history(query).await?;
        Ok(Response::new(pb::HistoryResponse {
            messages: page.messages.into_iter().map(to_proto).collect(),
            has_more: page.has_more,
        }))
    }

    #[tracing::instrument(name = "List conversations", skip_all, fields(user_id = req.get_ref().user_id))]
    async fn conversations(
        &self,
        req: Request<pb::ConversationsRequest>,
    ) -> Answer<pb::ConversationsResponse> {
        let user = UserId::parse(req.into_inner().user_id, "user_id")?;
        let conversations = self.messages.conversations(user).await?;
        Ok(Response::new(pb::ConversationsResponse {
            conversations: conversations
                .into_iter()
                .map(|c| pb::Conversation {
                    other_user_id: c.other_id,
                    last_message: Some(to_proto(c.last_message)),
                    unread_count: c.unread_count,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(name = "Mark messages read", skip_all, fields(user_id = req.get_ref().user_id, with = req.get_ref().with_user_id))]
    async fn mark_read(&self, req: Request<pb::MarkReadRequest>) -> Answer<pb::MarkStatusResponse> {
        let r = req.into_inner();
        let mark = parse_mark(r.user_id, r.with_user_id, r.up_to_id)?;
        // Absent: receipts, as before the flag existed.
        let kind = MarkKind::Read {
            receipts: r.receipts.unwrap_or(true),
        };
        let changed = self.messages.mark(vec![mark], kind).await?;
        Ok(Response::new(pb::MarkStatusResponse {
            changed_up_to_id: changed.first().map_or(0, |m| m.changed_up_to_id),
        }))
    }

    #[tracing::instrument(name = "Mark messages delivered", skip_all, fields(user_id = req.get_ref().user_id, with = req.get_ref().with_user_id))]
    async fn mark_delivered(
        &self,
        req: Request<pb::MarkDeliveredRequest>,
    ) -> Answer<pb::MarkStatusResponse> {
        let r = req.into_inner();
        let mark = parse_mark(r.user_id, r.with_user_id, r.up_to_id)?;
        let changed = self.messages.mark(vec![mark], MarkKind::Delivered).await?;
        Ok(Response::new(pb::MarkStatusResponse {
            changed_up_to_id: changed.first().map_or(0, |m| m.changed_up_to_id),
        }))
    }

    #[tracing::instrument(name = "Mark deliveries in a batch", skip_all, fields(count = req.get_ref().marks.len()))]
    async fn mark_delivered_batch(
        &self,
        req: Request<pb::MarkDeliveredBatchRequest>,
    ) -> Answer<pb::MarkDeliveredBatchResponse> {
        let marks = req
            .into_inner()
            .marks
            .into_iter()
            .map(|r| parse_mark(r.user_id, r.with_user_id, r.up_to_id))
            .collect::<Result<Vec<_>, _>>()?;
        if marks.len() > MAX_MARKS_PER_CALL {
            return Err(
                Error::invalid(format!("at most {MAX_MARKS_PER_CALL} marks per call")).into(),
            );
        }
        self.messages.mark(marks, MarkKind::Delivered).await?;
        Ok(Response::new(pb::MarkDeliveredBatchResponse {}))
    }

    #[tracing::instrument(name = "Sync missed messages", skip_all, fields(user_id = req.get_ref().user_id, after = req.get_ref().after))]
    async fn sync(&self, req: Request<pb::SyncRequest>) -> Answer<pb::SyncResponse> {
        let r = req.into_inner();
        let user = UserId::parse(r.user_id, "user_id")?;
        if r.after < 0 {
            return Err(Error::invalid("after must not be negative").into());
        }
        let limit = sync_limit(r.limit)?;
        let (messages, more) = self.messages.sync(user, r.after, limit).await?;
        Ok(Response::new(pb::SyncResponse {
            messages: messages.into_iter().map(to_proto).collect(),
            more,
        }))
    }

    #[tracing::instrument(name = "Read a person's last message id", skip_all, fields(user_id = req.get_ref().user_id))]
    async fn head(&self, req: Request<pb::HeadRequest>) -> Answer<pb::HeadResponse> {
        let user = UserId::parse(req.into_inner().user_id, "user_id")?;
        let last_message_id = self.messages.head(user).await?;
        Ok(Response::new(pb::HeadResponse { last_message_id }))
    }

    #[tracing::instrument(name = "List conversation partners", skip_all, fields(user_id = req.get_ref().user_id))]
    async fn partners(&self, req: Request<pb::PartnersRequest>) -> Answer<pb::PartnersResponse> {
        let user = UserId::parse(req.into_inner().user_id, "user_id")?;
        let user_ids = self.messages.partners(user).await?;
        Ok(Response::new(pb::PartnersResponse { user_ids }))
    }

    #[tracing::instrument(name = "Report a person", skip_all, fields(user_id = req.get_ref().reporter_id))]
    async fn report(&self, req: Request<pb::ReportRequest>) -> Answer<pb::ReportResponse> {
        let report = parse_report(req.into_inner())?;
        let report_id = self.messages.report(report).await?;
        Ok(Response::new(pb::ReportResponse { report_id }))
    }

    #[tracing::instrument(name = "Read the push public key", skip_all)]
    async fn push_key(&self, _req: Request<pb::PushKeyRequest>) -> Answer<pb::PushKeyResponse> {
        let public_key = self
            .messages
            .pusher
            .public_key()
            .unwrap_or_default()
            .to_owned();
        Ok(Response::new(pb::PushKeyResponse { public_key }))
    }
}
