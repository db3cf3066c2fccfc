//! The auth service binary.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = totilove_kit::telemetry::init("auth");
    let config = totilove_auth::Config::from_env()?;
    totilove_auth::Application::build(config)
        .await?
        .run_until_stopped(totilove_kit::shutdown::signal())
        .await
}
