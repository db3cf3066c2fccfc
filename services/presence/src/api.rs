//! The gRPC edge: requests are parsed into domain types here, Redis failures
//! become `unavailable` (the common error table), and changes are handed to the
//! fan-out.

use tonic::{Request, Response, Status};
use totilove_common::{Error, events::UserCard};
use totilove_proto::presence::v1 as pb;

use crate::{
    connections::Opened,
    domain::{Connection, ConnectionId, GatewayId, UserId},
    fanout::{Fanout, Notice},
    store::Store,
};

/// Most people read in one `GetPresence`.
pub(crate) const MAX_LOOKUP: usize = 10_000;

pub(crate) struct PresenceApi {
    pub store: Store,
    pub fanout: Fanout,
}

fn parse_connection(gateway: &GatewayId, raw: pb::Connection) -> Result<Connection, Error> {
    Ok(Connection {
        user: UserId::parse(raw.user_id, "connection.user_id")?,
        gateway: gateway.clone(),
        id: ConnectionId::parse(raw.connection_id)?,
    })
}

fn parse_one(gateway_id: String, raw: Option<pb::Connection>) -> Result<Connection, Error> {
    let gateway = GatewayId::parse(gateway_id)?;
    let raw = raw.ok_or_else(|| Error::invalid("connection is required"))?;
    parse_connection(&gateway, raw)
}

fn unavailable(e: fred::error::Error) -> Status {
    Error::from(e).into()
}

#[tonic::async_trait]
impl pb::presence_service_server::PresenceService for PresenceApi {
    #[tracing::instrument(name = "Open a connection", skip_all, fields(user_id = request.get_ref().connection.as_ref().map(|c| c.user_id), gateway = %request.get_ref().gateway_id))]
    async fn open_connection(
        &self,
        request: Request<pb::OpenConnectionRequest>,
    ) -> Result<Response<pb::OpenConnectionResponse>, Status> {
        let request = request.into_inner();
        let connection = parse_one(request.gateway_id, request.connection)?;
        let opened = self
            .store
            .open(&connection, request.max_per_person)
            .await
            .map_err(unavailable)?;
        let came_online = opened == Opened::CameOnline;
        if came_online {
            self.fanout.notify(Notice::Presence {
                user: connection.user,
                online: true,
                last_seen: None,
            });
        }
        Ok(Response::new(pb::OpenConnectionResponse {
            came_online,
            refused: opened == Opened::Refused,
        }))
    }

    #[tracing::instrument(name = "Close a connection", skip_all, fields(user_id = request.get_ref().connection.as_ref().map(|c| c.user_id), gateway = %request.get_ref().gateway_id))]
    async fn close_connection(
        &self,
        request: Request<pb::CloseConnectionRequest>,
    ) -> Result<Response<pb::CloseConnectionResponse>, Status> {
        let request = request.into_inner();
        let connection = parse_one(request.gateway_id, request.connection)?;
        // The offline event, if any, comes from the sweeper after the grace.
        self.store.close(&connection).await.map_err(unavailable)?;
        Ok(Response::new(pb::CloseConnectionResponse {}))
    }

    #[tracing::instrument(name = "Heartbeat a gateway's connections", skip_all, fields(gateway = %request.get_ref().gateway_id, count = request.get_ref().connections.len()))]
    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let request = request.into_inner();
        let gateway = GatewayId::parse(request.gateway_id)?;
        let mut connections = Vec::with_capacity(request.connections.len());
        for raw in request.connections {
            connections.push(parse_connection(&gateway, raw)?);
        }
        let unknown = self
            .store
            .heartbeat(&connections)
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter_map(|i| connections.get(i))
            .map(|c| pb::Connection {
                user_id: c.user.get(),
                connection_id: c.id.as_str().to_owned(),
            })
            .collect();
        Ok(Response::new(pb::HeartbeatResponse { unknown }))
    }

    #[tracing::instrument(name = "Read presence", skip_all, fields(count = request.get_ref().user_ids.len()))]
    async fn get_presence(
        &self,
        request: Request<pb::GetPresenceRequest>,
    ) -> Result<Response<pb::GetPresenceResponse>, Status> {
        let request = request.into_inner();
        let ids = request.user_ids;
        // 0: nobody in particular (every hidden person hidden).
        let viewer = match request.viewer_id {
            0 => None,
            id => Some(UserId::parse(id, "viewer_id")?),
        };
        if ids.len() > MAX_LOOKUP {
            return Err(Error::invalid(format!("user_ids holds at most {MAX_LOOKUP} ids")).into());
        }
        let users = ids
            .into_iter()
            .map(|id| UserId::parse(id, "user_ids"))
            .collect::<Result<Vec<_>, _>>()?;
        let presence = self
            .store
            .presence_of(&users, viewer)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|s| pb::Presence {
                user_id: s.user.get(),
                online: s.online,
                last_seen: s.last_seen.map(totilove_common::time::to_timestamp),
            })
            .collect();
        Ok(Response::new(pb::GetPresenceResponse { presence }))
    }

    #[tracing::instrument(name = "Set typing", skip_all, fields(user_id = request.get_ref().user_id, partner_id = request.get_ref().partner_id))]
    async fn set_typing(
        &self,
        request: Request<pb::SetTypingRequest>,
    ) -> Result<Response<pb::SetTypingResponse>, Status> {
        let request = request.into_inner();
        let user = UserId::parse(request.user_id, "user_id")?;
        let partner = UserId::parse(request.partner_id, "partner_id")?;
        if user == partner {
            return Err(Error::invalid("partner_id must be someone else").into());
        }
        let passed = self
            .store
            .set_typing(user, partner, request.typing)
            .await
            .map_err(unavailable)?;
        let forward = passed
            && self.fanout.notify(Notice::Typing {
                user,
                partner,
                typing: request.typing,
            });
        Ok(Response::new(pb::SetTypingResponse { forward }))
    }

    #[tracing::instrument(name = "Tell of a privacy change", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn privacy_changed(
        &self,
        request: Request<pb::PrivacyChangedRequest>,
    ) -> Result<Response<pb::PrivacyChangedResponse>, Status> {
        let request = request.into_inner();
        let user = UserId::parse(request.user_id, "user_id")?;
        // Only someone online has anything to announce: an offline person
        // stays offline to their partners either way.
        if self.store.is_online(user).await.map_err(unavailable)? {
            self.fanout.notify(if request.show_online {
                Notice::Presence {
                    user,
                    online: true,
                    last_seen: None,
                }
            } else {
                Notice::Vanished { user }
            });
        }
        Ok(Response::new(pb::PrivacyChangedResponse {}))
    }

    #[tracing::instrument(name = "Tell of a profile change", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn profile_changed(
        &self,
        request: Request<pb::ProfileChangedRequest>,
    ) -> Result<Response<pb::ProfileChangedResponse>, Status> {
        let request = request.into_inner();
        let user = UserId::parse(request.user_id, "user_id")?;
        let card = UserCard {
            id: user.get(),
            username: request.username,
            display_name: request.display_name,
        };
        if !self.fanout.notify(Notice::Profile { user, card }) {
            return Err(Error::unavailable("the presence fan-out").into());
        }
        Ok(Response::new(pb::ProfileChangedResponse {}))
    }

    #[tracing::instrument(name = "Tell of a block change", skip_all, fields(user_id = request.get_ref().user_id, other_id = request.get_ref().other_id))]
    async fn block_changed(
        &self,
        request: Request<pb::BlockChangedRequest>,
    ) -> Result<Response<pb::BlockChangedResponse>, Status> {
        let request = request.into_inner();
        let user = UserId::parse(request.user_id, "user_id")?;
        let other = UserId::parse(request.other_id, "other_id")?;
        let notice = Notice::Block {
            user,
            other,
            blocked: request.blocked,
        };
        if !self.fanout.notify(notice) {
            return Err(Error::unavailable("the presence fan-out").into());
        }
        Ok(Response::new(pb::BlockChangedResponse {}))
    }
}
