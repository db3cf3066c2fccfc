//! The gateway binary.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = totilove_common::telemetry::init("gateway");
    let config = totilove_gateway::Config::from_env()?;
    let app = totilove_gateway::Application::build(config).await?;
    tracing::info!(port = app.port(), "gateway listening");
    app.run_until_stopped(totilove_common::shutdown::signal())
        .await
}
