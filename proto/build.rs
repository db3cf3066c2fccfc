//! Generates the gRPC code from `proto/` with protox, so no machine needs `protoc`.

const PROTOS: &[&str] = &[
    "proto/totilove/auth/v1/auth.proto",
    "proto/totilove/message/v1/message.proto",
    "proto/totilove/presence/v1/presence.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // compile_fds prints no rerun-if-changed of its own.
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
