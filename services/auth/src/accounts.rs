//! Registration, login, token validation and ending sessions: the steps of
//! each, in the order that keeps them safe.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use totilove_common::{Code, Error};

use crate::{
    audit::{self, Event},
    domain::{
        ClientInfo, Email, LoginName, OfferedPassword, Password, SessionId, UserId, Username,
    },
    passwords::Passwords,
    registration_limit::RegistrationLimit,
    sessions::Sessions,
    throttle::Throttle,
    tokens::{TokenSubject, Tokens},
    users::{UserCard, Users},
};

/// A successful login.
pub(crate) struct LoggedIn {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserCard,
    pub session_id: SessionId,
}

#[derive(Clone)]
pub(crate) struct Accounts {
    pub db: PgPool,
    pub users: Users,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub registration_limit: RegistrationLimit,
    /// How long a login from an address makes it known to the account
    /// (`Config::login_known_address_for`); zero: never.
    pub known_address_for: chrono::Duration,
}

/// What a failed login records: the login only when it named an account
/// (then it is that account's username or email). Text that names nobody may
/// be anything, a password typed into the wrong field first of all.
fn failure_detail(named_an_account: bool, login: &LoginName, reason: &str) -> serde_json::Value {
    if named_an_account {
        json!({"login": login.normalized(), "reason": reason})
    } else {
        json!({"reason": reason})
    }
}

fn invalid_credentials() -> Error {
    Error::new(Code::InvalidCredentials, "invalid login or password")
}

impl Accounts {
    /// The address's limit first (a refusal costs nothing), then the hash,
    /// and only then whether the names are free: a taken name and a free one
    /// cost the same hash, so the time of the answer does not tell them apart.
    pub(crate) async fn register(
        &self,
        username: Username,
        email: Email,
        password: Password,
        client: &ClientInfo,
    ) -> Result<UserCard, Error> {
        self.registration_limit.check(&client.ip).await?;
        let hash = self.passwords.hash(&password).await?;
        self.users.check_free(&username, &email).await?;
        let user = self.users.insert(&username, &email, &hash).await?;
        audit::record(
            &self.db,
            Event::Register,
            Some(UserId::from_stored(user.id)),
            client,
            json!({}),
        )
        .await;
        Ok(user)
    }

    /// Throttle first (before any hashing), then the password, then the session.
    pub(crate) async fn login(
        &self,
        login: LoginName,
        password: OfferedPassword,
        client: &ClientInfo,
    ) -> Result<LoggedIn, Error> {
        let account = self.users.find_for_login(&login).await?;
        let account_key = match &account {
            Some(account) => format!("user:{}", account.id),
            None => format!("login:{}", login.normalized()),
        };
        let user_id = account.as_ref().map(|a| UserId::from_stored(a.id));
        let known_address = self.is_known_address(user_id, &client.ip);
        let attempt = match self
            .throttle
            .begin(&account_key, &client.ip, known_address)
            .await
        {
            Ok(attempt) => attempt,
            Err(e) => {
                let detail = failure_detail(account.is_some(), &login, "throttled");
                audit::record(&self.db, Event::LoginFailed, user_id, client, detail).await;
                return Err(e);
            }
        };
        let hash = account.as_ref().map(|a| a.password_hash.as_str());
        let matches = self.passwords.verify(&password, hash).await?;
        let Some(account) = account.filter(|_| matches) else {
            let reason = if user_id.is_some() {
                "wrong_password"
            } else {
                "unknown_user"
            };
            let detail = failure_detail(user_id.is_some(), &login, reason);
            audit::record(&self.db, Event::LoginFailed, user_id, client, detail).await;
            return Err(invalid_credentials());
        };
        let user_id = UserId::from_stored(account.id);
        let session = self.sessions.open(user_id, client).await?;
        self.throttle.succeeded(attempt).await;
        let subject = TokenSubject {
            user_id,
            session_id: session.id.clone(),
        };
        let token = self
            .tokens
            .issue(&subject, session.created_at, session.expires_at)?;
        let detail = json!({"session_id": session.id.as_str()});
        audit::record(&self.db, Event::LoginOk, Some(user_id), client, detail).await;
        Ok(LoggedIn {
            token,
            expires_at: session.expires_at,
            user: account.card(),
            session_id: session.id,
        })
    }

    /// Whether `user_id` logged in from `ip` lately (see `throttle`). When
    /// that cannot be told, no: the account-wide counter then holds.
    async fn is_known_address(&self, user_id: Option<UserId>, ip: &str) -> bool {
        let Some(user_id) = user_id else {
            return false;
        };
        if ip.is_empty() || self.known_address_for.is_zero() {
            return false;
        }
        let since = Utc::now() - self.known_address_for;
        match self.sessions.opened_from(user_id, ip, since).await {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(error = %e, "could not tell whether the address is known");
                false
            }
        }
    }

    /// The token's signature and claims, then its session in the stores.
    pub(crate) async fn validate(&self, token: &str) -> Result<TokenSubject, Error> {
        let subject = self.tokens.verify(token)?;
        self.sessions.check(&subject).await?;
        Ok(subject)
    }

    /// Ends the caller's own session. Idempotent for their own session (a
    /// logout racing a revocation is still a logout); not for anyone else's.
    pub(crate) async fn logout(
        &self,
        user_id: UserId,
        session_id: &SessionId,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        let ended = self.sessions.end(user_id, session_id).await?;
        if !ended && !self.sessions.belongs_to(user_id, session_id).await? {
            return Err(Error::not_found("session"));
        }
        let detail = json!({"session_id": session_id.as_str()});
        audit::record(&self.db, Event::Logout, Some(user_id), client, detail).await;
        Ok(())
    }

    /// Ends another of the caller's sessions; `not_found` when it is not
    /// theirs or has already ended.
    pub(crate) async fn revoke(
        &self,
        user_id: UserId,
        session_id: &SessionId,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        if !self.sessions.end(user_id, session_id).await? {
            return Err(Error::not_found("session"));
        }
        let detail = json!({"session_id": session_id.as_str()});
        audit::record(&self.db, Event::Revoke, Some(user_id), client, detail).await;
        Ok(())
    }
}
