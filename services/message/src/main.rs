//! The message service binary.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = totilove_common::telemetry::init("message");
    let config = totilove_message::Config::from_env()?;
    totilove_message::Application::build(config)
        .await?
        .run_until_stopped(totilove_common::shutdown::signal())
        .await
}
