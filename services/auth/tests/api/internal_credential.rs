//! The service's port is not an open door.

use totilove_proto::auth::v1::{GetUserRequest, auth_service_client::AuthServiceClient};

use crate::helpers::TestApp;

#[tokio::test]
async fn a_call_without_the_internal_credential_is_refused() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let channel = totilove_common::grpc::channel(&app.system.auth[0].url).expect("a channel");
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
    let channel = totilove_common::grpc::channel(&app.system.auth[0].url).expect("a channel");
    let wrong =
        totilove_common::grpc::Outbound::new(&totilove_common::config::Secret::new("guess"))
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

/// Asks the service's gRPC reflection which services it serves.
async fn listed_services(
    credential: Option<totilove_common::grpc::Outbound>,
    url: &str,
) -> Result<Vec<String>, tonic::Status> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = totilove_common::grpc::channel(url).expect("a channel");
    let ask = futures::stream::iter([ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    }]);
    let mut answers = match credential {
        Some(outbound) => ServerReflectionClient::with_interceptor(channel, outbound)
            .server_reflection_info(ask)
            .await?
            .into_inner(),
        None => ServerReflectionClient::new(channel)
            .server_reflection_info(ask)
            .await?
            .into_inner(),
    };
    let answer = answers.message().await?.expect("an answer");
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        other => panic!("not a service list: {other:?}"),
    }
}

#[tokio::test]
async fn reflection_lists_the_service_to_holders_of_the_credential_only() {
    let app = TestApp::start().await;
    let url = &app.system.auth[0].url;
    let credential = totilove_common::grpc::Outbound::new(&totilove_common::config::Secret::new(
        totilove_testkit::INTERNAL_TOKEN,
    ))
    .expect("an interceptor");
    let listed = listed_services(Some(credential), url)
        .await
        .expect("answered");
    assert_eq!(listed, ["totilove.auth.v1.AuthService"]);

    let refused = listed_services(None, url).await.expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}
