//! The gRPC face of the service: parses each request into domain types,
//! calls the logic, and turns the result into protobuf. Nothing else.

use tonic::{Request, Response, Status};
use totilove_common::{
    Error,
    time::{from_timestamp, to_timestamp},
};
use totilove_proto::auth::v1::{self as pb, auth_service_server::AuthService};

use crate::{
    accounts::Accounts,
    blocks::Blocks,
    domain::{
        ClientInfo, Email, LoginName, OfferedPassword, Password, Profile, ProfileInput,
        ProfileUpdate, SessionId, UserId, Username,
    },
    privacy::{Privacies, Privacy, PrivacyUpdate},
    push::{MAX_TARGET_PEOPLE, Pushes, Subscription},
    users::{UserCard, Users},
};

/// Search pages: the default and the largest.
const DEFAULT_SEARCH_LIMIT: u32 = 20;
const MAX_SEARCH_LIMIT: u32 = 100;
/// Ids asked for at once by `GetUsers`, at most.
const MAX_BATCH: usize = 1000;
/// People checked at once by `BlockedAmong` (a presence audience), at most.
const MAX_AMONG: usize = 10_000;

pub(crate) struct AuthApi {
    pub accounts: Accounts,
    pub users: Users,
    pub blocks: Blocks,
    pub privacy: Privacies,
    pub pushes: Pushes,
}

fn client_info(client: Option<&pb::ClientInfo>) -> ClientInfo {
    client.map_or_else(ClientInfo::default, |c| {
        ClientInfo::new(&c.ip, &c.user_agent)
    })
}

fn user_pb(card: UserCard) -> pb::User {
    pb::User {
        id: card.id,
        username: card.username,
        display_name: card.display_name,
    }
}

fn profile_pb(profile: Profile) -> pb::Profile {
    pb::Profile {
        display_name: profile.display_name,
        bio: profile.bio,
        birthdate: profile.birthdate.map(|d| d.format("%Y-%m-%d").to_string()),
        gender: profile.gender,
        location: profile.location,
        avatar_url: profile.avatar_url,
    }
}

fn privacy_pb(privacy: Privacy) -> pb::Privacy {
    pb::Privacy {
        show_online: privacy.show_online,
        send_read_receipts: privacy.send_read_receipts,
    }
}

/// A session id from a caller; anything malformed names no session of theirs.
fn session_id(raw: &str) -> Result<SessionId, Error> {
    SessionId::parse(raw).ok_or_else(|| Error::not_found("session"))
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    #[tracing::instrument(name = "Register a new account", skip_all)]
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let req = request.into_inner();
        let client = client_info(req.client.as_ref());
        let username = Username::try_from(req.username)?;
        let email = Email::try_from(req.email)?;
        let password = Password::try_from(req.password)?;
        let user = self
            .accounts
            .register(username, email, password, &client)
            .await?;
        Ok(Response::new(pb::RegisterResponse {
            user: Some(user_pb(user)),
        }))
    }

    #[tracing::instrument(name = "Log in with a password", skip_all)]
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let req = request.into_inner();
        let client = client_info(req.client.as_ref());
        let login = LoginName::try_from(req.login)?;
        let password = OfferedPassword::try_from(req.password)?;
        let done = self.accounts.login(login, password, &client).await?;
        Ok(Response::new(pb::LoginResponse {
            token: done.token,
            expires_at: Some(to_timestamp(done.expires_at)),
            user: Some(user_pb(done.user)),
            session_id: done.session_id.as_str().to_owned(),
        }))
    }

    #[tracing::instrument(name = "Validate a session token", skip_all)]
    async fn validate_token(
        &self,
        request: Request<pb::ValidateTokenRequest>,
    ) -> Result<Response<pb::ValidateTokenResponse>, Status> {
        let subject = self.accounts.validate(&request.get_ref().token).await?;
        Ok(Response::new(pb::ValidateTokenResponse {
            user_id: subject.user_id.get(),
            session_id: subject.session_id.as_str().to_owned(),
        }))
    }

    #[tracing::instrument(name = "Log out of a session", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let session_id = session_id(&req.session_id)?;
        let client = client_info(req.client.as_ref());
        self.accounts.logout(user_id, &session_id, &client).await?;
        Ok(Response::new(pb::LogoutResponse {}))
    }

    #[tracing::instrument(name = "List a person's sessions", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let rows = self.accounts.sessions.list(user_id).await?;
        let sessions = rows
            .into_iter()
            .map(|row| pb::Session {
                current: row.id == req.current_session_id,
                id: row.id,
                created_at: Some(to_timestamp(row.created_at)),
                last_activity: Some(to_timestamp(row.last_activity)),
                ip: row.ip,
                user_agent: row.user_agent,
            })
            .collect();
        Ok(Response::new(pb::ListSessionsResponse { sessions }))
    }

    #[tracing::instrument(name = "List ended sessions", skip_all)]
    async fn ended_sessions(
        &self,
        request: Request<pb::EndedSessionsRequest>,
    ) -> Result<Response<pb::EndedSessionsResponse>, Status> {
        let since = request.into_inner().since.as_ref().map(from_timestamp);
        let (session_ids, until) = self.accounts.sessions.ended_since(since).await?;
        Ok(Response::new(pb::EndedSessionsResponse {
            session_ids,
            until: Some(to_timestamp(until)),
        }))
    }

    #[tracing::instrument(name = "Revoke a session", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn revoke_session(
        &self,
        request: Request<pb::RevokeSessionRequest>,
    ) -> Result<Response<pb::RevokeSessionResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let session_id = session_id(&req.session_id)?;
        let client = client_info(req.client.as_ref());
        self.accounts.revoke(user_id, &session_id, &client).await?;
        Ok(Response::new(pb::RevokeSessionResponse {}))
    }

    #[tracing::instrument(name = "Read a person", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let record = self
            .users
            .get(user_id)
            .await?
            .ok_or_else(|| Error::not_found("user"))?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(user_pb(record.card())),
            profile: Some(profile_pb(record.profile())),
            email: req.include_private.then_some(record.email),
        }))
    }

    #[tracing::instrument(name = "Read many people", skip_all, fields(count = request.get_ref().user_ids.len()))]
    async fn get_users(
        &self,
        request: Request<pb::GetUsersRequest>,
    ) -> Result<Response<pb::GetUsersResponse>, Status> {
        let mut ids = request.into_inner().user_ids;
        if ids.len() > MAX_BATCH {
            return Err(
                Error::invalid(format!("user_ids must hold at most {MAX_BATCH} ids")).into(),
            );
        }
        ids.retain(|&id| id > 0);
        ids.sort_unstable();
        ids.dedup();
        let users = self.users.cards(&ids).await?;
        Ok(Response::new(pb::GetUsersResponse {
            users: users.into_iter().map(user_pb).collect(),
        }))
    }

    #[tracing::instrument(name = "Search people", skip_all, fields(viewer_id = request.get_ref().viewer_id))]
    async fn search_users(
        &self,
        request: Request<pb::SearchUsersRequest>,
    ) -> Result<Response<pb::SearchUsersResponse>, Status> {
        let req = request.into_inner();
        let viewer = (req.viewer_id > 0).then_some(UserId::from_stored(req.viewer_id));
        let query = req.query.trim();
        if query.chars().count() > 100 {
            return Err(Error::invalid("q must be at most 100 characters long").into());
        }
        let limit = match req.limit {
            0 => DEFAULT_SEARCH_LIMIT,
            n if n <= MAX_SEARCH_LIMIT => n,
            _ => return Err(Error::invalid("limit must be 1 to 100").into()),
        };
        // The cursor is the lowercase username the previous page ended with.
        let after = match req.cursor.as_str() {
            "" => None,
            raw => Some(
                Username::try_from(raw.to_owned())
                    .ok()
                    .filter(|u| u.as_str() == u.as_str().to_lowercase())
                    .ok_or_else(|| Error::invalid("cursor is invalid"))?,
            ),
        };
        let mut users = self
            .users
            .search(
                viewer,
                query,
                after.as_ref().map(Username::as_str),
                i64::from(limit) + 1,
            )
            .await?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next_cursor = more
            .then(|| users.last().map(|u| u.username.to_lowercase()))
            .flatten();
        Ok(Response::new(pb::SearchUsersResponse {
            users: users.into_iter().map(user_pb).collect(),
            next_cursor,
        }))
    }

    #[tracing::instrument(name = "Update a profile", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let values = req.profile.unwrap_or_default();
        let update = ProfileUpdate::try_from(ProfileInput {
            fields: req.fields,
            display_name: values.display_name,
            bio: values.bio,
            birthdate: values.birthdate,
            gender: values.gender,
            location: values.location,
            avatar_url: values.avatar_url,
        })?;
        let profile = self
            .users
            .update_profile(user_id, &update)
            .await?
            .ok_or_else(|| Error::not_found("user"))?;
        Ok(Response::new(pb::UpdateProfileResponse {
            profile: Some(profile_pb(profile)),
        }))
    }

    #[tracing::instrument(name = "Block a person", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn block(
        &self,
        request: Request<pb::BlockRequest>,
    ) -> Result<Response<pb::BlockResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let target = UserId::parse(req.target_id, "target_id")?;
        self.blocks.block(user_id, target).await?;
        Ok(Response::new(pb::BlockResponse {}))
    }

    #[tracing::instrument(name = "Unblock a person", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn unblock(
        &self,
        request: Request<pb::BlockRequest>,
    ) -> Result<Response<pb::BlockResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let target = UserId::parse(req.target_id, "target_id")?;
        self.blocks.unblock(user_id, target).await?;
        Ok(Response::new(pb::BlockResponse {}))
    }

    #[tracing::instrument(name = "List blocked people", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn list_blocks(
        &self,
        request: Request<pb::ListBlocksRequest>,
    ) -> Result<Response<pb::ListBlocksResponse>, Status> {
        let user_id = UserId::parse(request.get_ref().user_id, "user_id")?;
        let users = self.blocks.list(user_id).await?;
        Ok(Response::new(pb::ListBlocksResponse {
            users: users.into_iter().map(user_pb).collect(),
        }))
    }

    #[tracing::instrument(name = "Check a block either way", skip_all)]
    async fn is_blocked(
        &self,
        request: Request<pb::IsBlockedRequest>,
    ) -> Result<Response<pb::IsBlockedResponse>, Status> {
        let req = request.into_inner();
        let a = UserId::parse(req.user_a, "user_a")?;
        let b = UserId::parse(req.user_b, "user_b")?;
        let blocked = self.blocks.either_way(a, b).await?;
        Ok(Response::new(pb::IsBlockedResponse { blocked }))
    }

    #[tracing::instrument(name = "Find blocks among people", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn blocked_among(
        &self,
        request: Request<pb::BlockedAmongRequest>,
    ) -> Result<Response<pb::BlockedAmongResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        if req.others.len() > MAX_AMONG {
            return Err(Error::invalid(format!("others must hold at most {MAX_AMONG} ids")).into());
        }
        let blocked = self.blocks.among(user_id, &req.others).await?;
        Ok(Response::new(pb::BlockedAmongResponse { blocked }))
    }

    #[tracing::instrument(name = "Read privacy settings", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn get_privacy(
        &self,
        request: Request<pb::GetPrivacyRequest>,
    ) -> Result<Response<pb::GetPrivacyResponse>, Status> {
        let user_id = UserId::parse(request.get_ref().user_id, "user_id")?;
        let privacy = self
            .privacy
            .get(user_id)
            .await?
            .ok_or_else(|| Error::not_found("user"))?;
        Ok(Response::new(pb::GetPrivacyResponse {
            privacy: Some(privacy_pb(privacy)),
        }))
    }

    #[tracing::instrument(name = "Update privacy settings", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn update_privacy(
        &self,
        request: Request<pb::UpdatePrivacyRequest>,
    ) -> Result<Response<pb::UpdatePrivacyResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let update = PrivacyUpdate {
            show_online: req.show_online,
            send_read_receipts: req.send_read_receipts,
        };
        let updated = self
            .privacy
            .update(user_id, update)
            .await?
            .ok_or_else(|| Error::not_found("user"))?;
        Ok(Response::new(pb::UpdatePrivacyResponse {
            privacy: Some(privacy_pb(updated.privacy)),
            show_online_changed: updated.show_online_changed,
        }))
    }

    #[tracing::instrument(name = "Set a push subscription", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn set_push_subscription(
        &self,
        request: Request<pb::SetPushSubscriptionRequest>,
    ) -> Result<Response<pb::SetPushSubscriptionResponse>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        let session = session_id(&req.session_id)?;
        let sub = req
            .subscription
            .ok_or_else(|| Error::invalid("subscription is required"))?;
        let subscription = Subscription::parse(
            sub.endpoint,
            sub.p256dh,
            sub.auth,
            sub.previews,
            &self.pushes.hosts,
        )?;
        self.pushes.set(user_id, &session, subscription).await?;
        Ok(Response::new(pb::SetPushSubscriptionResponse {}))
    }

    #[tracing::instrument(name = "Delete a push subscription", skip_all, fields(user_id = request.get_ref().user_id))]
    async fn delete_push_subscription(
        &self,
        request: Request<pb::DeletePushSubscriptionRequest>,
    ) -> Result<Response<pb::DeletePushSubscriptionResponse>, Status> {
        use pb::delete_push_subscription_request::Which;
        let req = request.into_inner();
        let user_id = UserId::parse(req.user_id, "user_id")?;
        match req.which {
            Some(Which::SessionId(raw)) => {
                // Not a session we could have made: it has no subscription.
                if let Some(session) = SessionId::parse(&raw) {
                    self.pushes.delete_for_session(user_id, &session).await?;
                }
            }
            Some(Which::Endpoint(endpoint)) => {
                self.pushes.delete_endpoint(user_id, &endpoint).await?;
            }
            None => return Err(Error::invalid("session_id or endpoint is required").into()),
        }
        Ok(Response::new(pb::DeletePushSubscriptionResponse {}))
    }

    #[tracing::instrument(name = "Find push targets", skip_all, fields(people = request.get_ref().user_ids.len()))]
    async fn push_targets(
        &self,
        request: Request<pb::PushTargetsRequest>,
    ) -> Result<Response<pb::PushTargetsResponse>, Status> {
        let req = request.into_inner();
        if req.user_ids.len() > MAX_TARGET_PEOPLE {
            return Err(
                Error::invalid(format!("user_ids holds at most {MAX_TARGET_PEOPLE} ids")).into(),
            );
        }
        let targets = self
            .pushes
            .targets(&req.user_ids)
            .await?
            .into_iter()
            .map(|(user_id, s)| pb::PushTarget {
                user_id,
                subscription: Some(pb::PushSubscription {
                    endpoint: s.endpoint,
                    p256dh: s.p256dh,
                    auth: s.auth,
                    previews: s.previews,
                }),
            })
            .collect();
        Ok(Response::new(pb::PushTargetsResponse { targets }))
    }
}
