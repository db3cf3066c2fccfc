//! People for tests that speak to the services over gRPC (the gateway's
//! tests sign up over HTTP, as a browser does).

use totilove_proto::auth::v1::RegisterRequest;

use crate::{PASSWORD, TestSystem};

impl TestSystem {
    /// Registers a new person named `name` plus a unique suffix (tests share
    /// nothing, but a name may be used twice in one test) with [`PASSWORD`];
    /// their id.
    pub async fn register(&self, name: &str) -> i64 {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let username = format!("{name}_{suffix}");
        self.auth_client()
            .register(RegisterRequest {
                username: username.clone(),
                email: format!("{username}@example.com"),
                password: PASSWORD.into(),
                client: None,
            })
            .await
            .expect("registration works")
            .into_inner()
            .user
            .expect("a user")
            .id
    }
}
