use totilove_testkit::TestSystem;

#[tokio::test]
async fn healthz_answers_while_the_gateway_runs() {
    let system = TestSystem::start().await;
    let res = reqwest::get(format!("{}/healthz", system.url()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
