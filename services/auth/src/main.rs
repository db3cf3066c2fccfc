//! The auth service binary.

// Password hashes take 19 MiB each; glibc kept hundreds of MB of freed ones,
// mimalloc about one per hashing thread (see `passwords.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = totilove_common::telemetry::init("auth");
    let config = totilove_auth::Config::from_env()?;
    totilove_auth::Application::build(config)
        .await?
        .run_until_stopped(totilove_common::shutdown::signal())
        .await
}
