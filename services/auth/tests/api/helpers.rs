//! A running system and typed helpers speaking the auth service's gRPC API.

use fred::{clients::Pool, interfaces::KeysInterface};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use totilove_common::{Error, grpc::Outbound};
use totilove_proto::auth::v1::{
    self as pb, ClientInfo, LoginRequest, LoginResponse, RegisterRequest, ValidateTokenRequest,
    ValidateTokenResponse, auth_service_client::AuthServiceClient,
};
use totilove_testkit::TestSystem;

pub(crate) use totilove_testkit::{PASSWORD, eventually};

pub(crate) type Client = AuthServiceClient<InterceptedService<Channel, Outbound>>;

pub(crate) struct TestApp {
    pub system: TestSystem,
    pub auth: Client,
}

/// Someone registered (and, through `signed_in`, logged in).
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: i64,
    pub username: String,
    pub email: String,
}

/// A logged-in session of someone.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user_id: i64,
    pub token: String,
    pub session_id: String,
}

pub(crate) fn client(ip: &str) -> Option<ClientInfo> {
    Some(ClientInfo {
        ip: ip.to_owned(),
        user_agent: "auth-tests/1.0".to_owned(),
    })
}

impl TestApp {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The auth service alone (and its stores): nothing here needs the
    /// other services or a gateway.
    pub(crate) async fn start_with(settings: &[(&str, &str)]) -> Self {
        let system = TestSystem::builder()
            .auth()
            .settings(settings)
            .build()
            .await;
        let auth = system.auth_client();
        Self { system, auth }
    }

    pub(crate) fn auth(&self) -> Client {
        self.auth.clone()
    }

    pub(crate) async fn try_register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<pb::User, Error> {
        self.try_register_from(username, email, password, "192.0.2.1")
            .await
    }

    pub(crate) async fn try_register_from(
        &self,
        username: &str,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Result<pb::User, Error> {
        self.auth()
            .register(RegisterRequest {
                username: username.to_owned(),
                email: email.to_owned(),
                password: password.to_owned(),
                client: client(ip),
            })
            .await
            .map(|r| r.into_inner().user.expect("a user"))
            .map_err(Error::from)
    }

    /// Registers `username` with `{username}@example.com` and [`PASSWORD`].
    pub(crate) async fn register(&self, username: &str) -> Person {
        let email = format!("{username}@example.com");
        let user = self
            .try_register(username, &email, PASSWORD)
            .await
            .expect("registered");
        Person {
            id: user.id,
            username: user.username,
            email,
        }
    }

    pub(crate) async fn try_login(
        &self,
        login: &str,
        password: &str,
        ip: &str,
    ) -> Result<LoginResponse, Error> {
        self.auth()
            .login(LoginRequest {
                login: login.to_owned(),
                password: password.to_owned(),
                client: client(ip),
            })
            .await
            .map(|r| r.into_inner())
            .map_err(Error::from)
    }

    pub(crate) async fn login(&self, person: &Person) -> Session {
        let answer = self
            .try_login(&person.username, PASSWORD, "192.0.2.1")
            .await
            .expect("logged in");
        Session {
            user_id: person.id,
            token: answer.token,
            session_id: answer.session_id,
        }
    }

    /// Registers and logs in.
    pub(crate) async fn signed_in(&self, username: &str) -> (Person, Session) {
        let person = self.register(username).await;
        let session = self.login(&person).await;
        (person, session)
    }

    pub(crate) async fn validate(&self, token: &str) -> Result<ValidateTokenResponse, Error> {
        self.auth()
            .validate_token(ValidateTokenRequest {
                token: token.to_owned(),
            })
            .await
            .map(|r| r.into_inner())
            .map_err(Error::from)
    }

    pub(crate) async fn logout(&self, session: &Session) -> Result<(), Error> {
        self.auth()
            .logout(pb::LogoutRequest {
                user_id: session.user_id,
                session_id: session.session_id.clone(),
                client: client("192.0.2.1"),
            })
            .await
            .map(|_| ())
            .map_err(Error::from)
    }

    /// A Redis client of the test's own server (for looking at keys).
    pub(crate) async fn redis(&self) -> Pool {
        totilove_common::redis::connect(
            &totilove_common::redis::Target::plain(self.system.redis.url()),
            1,
        )
        .await
        .expect("a Redis pool")
    }

    pub(crate) async fn redis_get(&self, key: &str) -> Option<String> {
        let redis = self.redis().await;
        redis.get(key).await.expect("Redis answers")
    }

    /// How many accounts exist.
    pub(crate) async fn account_count(&self) -> i64 {
        let db = sqlx::PgPool::connect(&self.system.database_url)
            .await
            .expect("the test database");
        sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM auth.users"#)
            .fetch_one(&db)
            .await
            .expect("the accounts")
    }

    /// The events of the audit trail, oldest first.
    pub(crate) async fn audit_events(&self) -> Vec<(String, Option<i64>)> {
        let trail = self.audit_trail().await;
        trail.into_iter().map(|(e, id, _)| (e, id)).collect()
    }

    /// The audit trail's rows (event, user, detail), oldest first.
    pub(crate) async fn audit_trail(&self) -> Vec<(String, Option<i64>, serde_json::Value)> {
        let db = sqlx::PgPool::connect(&self.system.database_url)
            .await
            .expect("the test database");
        sqlx::query!("SELECT event, user_id, detail FROM auth.system_logs ORDER BY id")
            .fetch_all(&db)
            .await
            .expect("the audit trail")
            .into_iter()
            .map(|r| (r.event, r.user_id, r.detail))
            .collect()
    }
}
