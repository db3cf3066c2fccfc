//! The service's port is not an open door.

use totilove_proto::auth::v1::{GetUserRequest, auth_service_client::AuthServiceClient};

use crate::helpers::TestApp;

#[tokio::test]
async fn a_call_without_the_internal_credential_is_refused() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let channel = totilove_kit::grpc::channel(&app.system.auth[0].url).expect("a channel");
    let status = AuthServiceClient::new(channel)
        .get_user(GetUserRequest {
            user_id: alice.id,
            include_private: true,
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn a_call_with_a_wrong_credential_is_refused() {
    let app = TestApp::start().await;
    let channel = totilove_kit::grpc::channel(&app.system.auth[0].url).expect("a channel");
    let wrong = totilove_kit::grpc::Outbound::new(&totilove_kit::config::Secret::new("guess"))
        .expect("an interceptor");
    let status = AuthServiceClient::with_interceptor(channel, wrong)
        .get_user(GetUserRequest {
            user_id: 1,
            include_private: false,
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}
