//! The message service binary.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = totilove_kit::telemetry::init("message");
    let config = totilove_message::Config::from_env()?;
    totilove_message::Application::build(config)
        .await?
        .run_until_stopped(totilove_kit::shutdown::signal())
        .await
}
