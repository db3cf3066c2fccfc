//! The presence service binary.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = totilove_common::telemetry::init("presence");
    let config = totilove_presence::Config::from_env()?;
    totilove_presence::Application::build(config)
        .await?
        .run_until_stopped(totilove_common::shutdown::signal())
        .await
}
