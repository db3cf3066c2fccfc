# syntax=docker/dockerfile:1
# One image holding the four Totilove binaries; the command chooses which one
# runs (the gateway by default):
#   docker run totilove                     -> totilove-gateway
#   docker run totilove totilove-auth       (also totilove-message, totilove-presence)
# Every setting is an environment variable: see docs/operations.md.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# sqlx's query macros read the committed .sqlx/ data: no database at build time.
ENV SQLX_OFFLINE=true
COPY . .
# The caches keep crates.io downloads and compiled dependencies between builds;
# the binaries are copied out because a cache mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        --bin totilove-auth --bin totilove-message \
        --bin totilove-presence --bin totilove-gateway \
    && mkdir -p /out \
    && cp target/release/totilove-auth target/release/totilove-message \
        target/release/totilove-presence target/release/totilove-gateway /out/

FROM debian:bookworm-slim
# ca-certificates: the system's roots that TLS to a managed store (and to a
# collector) checks servers against; a private CA is named by a setting.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --uid 10001 --no-create-home \
        --shell /usr/sbin/nologin totilove
COPY --from=builder /out/ /usr/local/bin/
USER 10001:10001
# Outside a container the binaries listen on loopback; inside one they are
# reached over the container network. The gRPC ports refuse every call without
# INTERNAL_TOKEN, which is what guards them.
ENV GATEWAY_ADDR=0.0.0.0:8080 \
    AUTH_LISTEN_ADDR=0.0.0.0:50051 \
    MESSAGE_LISTEN_ADDR=0.0.0.0:50052 \
    PRESENCE_LISTEN_ADDR=0.0.0.0:50053
EXPOSE 8080 50051 50052 50053
CMD ["totilove-gateway"]
