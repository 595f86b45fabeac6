# Ringback's container image: built in one stage, run from a small one as a non-root user
# with the data directory on a volume. Not built in CI (CI machines have no container
# engine); docs/deployment.md says how to build and run it.
#
#   docker build -t ringback .
#   docker compose -f deploy/compose.yaml up -d

# The toolchain Cargo.toml asks for (rust-version), on the Debian the runtime uses.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ringback

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/ringback --shell /usr/sbin/nologin ringback \
 && install -d -o ringback -g ringback -m 0700 /var/lib/ringback
COPY --from=build /src/target/release/ringback /usr/local/bin/ringback
COPY deploy/container.toml /etc/ringback/config.toml
USER ringback:ringback
WORKDIR /var/lib/ringback
# The store, generated tokens and keys: keep this volume, back it up (docs/operations.md).
VOLUME ["/var/lib/ringback"]
EXPOSE 8080
ENV RUST_LOG=info
ENTRYPOINT ["/usr/local/bin/ringback"]
CMD ["serve", "--config", "/etc/ringback/config.toml"]
