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
    // The same descriptors, for gRPC reflection (`grpcurl list`).
    let out = std::env::var("OUT_DIR")?;
    std::fs::write(
        std::path::Path::new(&out).join("totilove_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    // No default stubs: every service implements every RPC of its proto,
    // and one that does not fails to compile rather than answering
    // UNIMPLEMENTED at run time.
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
