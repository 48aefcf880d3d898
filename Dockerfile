# syntax=docker/dockerfile:1
#
# rosetta-webhook for Cloud Run.
#   docker build -t rosetta-webhook .
#
# Builder and runtime are both Debian 12 (bookworm), so the binary's glibc
# matches the runtime's. TLS is rustls with bundled roots: no OpenSSL.

ARG RUST_VERSION=1.95

# ---- build ---------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /build

# 1. Dependencies only. The manifest plus stub sources for every target it
#    names (cargo refuses a manifest whose targets are missing), so this
#    layer stays cached until Cargo.toml or Cargo.lock change.
#    tests/api/container.rs runs these stub commands against the manifest.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches/load \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/load/main.rs \
 && echo 'fn main() {}' > benches/parse.rs \
 && cargo build --release --locked \
 && rm -rf src benches

# 2. The real sources. COPY keeps the files' modification times, which can be
#    older than the stub build; touch them so cargo rebuilds this crate.
#    (benches/ only has to exist for the manifest; `cargo build` does not
#    compile it.)
COPY src ./src
COPY benches ./benches
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && install -m 0755 target/release/rosetta-webhook /usr/local/bin/rosetta-webhook

# ---- run -----------------------------------------------------------------------
# glibc + libgcc + CA certificates, no shell, runs as uid 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /usr/local/bin/rosetta-webhook /usr/local/bin/rosetta-webhook

# Cloud Run sets PORT itself; this is the default for `docker run`.
ENV PORT=8080
EXPOSE 8080
# Cloud Run sends SIGTERM; the service stops accepting and drains in-flight
# requests for at most 9 s, inside Cloud Run's 10 s grace period.
STOPSIGNAL SIGTERM
USER nonroot:nonroot

ENTRYPOINT ["/usr/local/bin/rosetta-webhook"]
