# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run as a non-root user in a slim image.
# SQLite and libpq are bundled into the binary, so the runtime image needs no database client.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo .cargo
# Dependencies first, in a layer of their own: a change to the service's code rebuilds only
# the service (a stand-in crate with the same manifest compiles every dependency).
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && mkdir -p migrations/sqlite migrations/postgres \
    && cargo build --release --locked \
    && rm -rf src migrations target/release/casebridge* target/release/deps/casebridge-* \
       target/release/deps/libcasebridge-* target/release/.fingerprint/casebridge-*
COPY src src
COPY migrations migrations
COPY policies policies
RUN cargo build --release --locked && strip target/release/casebridge

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/casebridge --create-home casebridge
COPY --from=build /src/target/release/casebridge /usr/local/bin/casebridge
COPY policies /etc/casebridge/policies
USER casebridge
WORKDIR /var/lib/casebridge
ENV CASEBRIDGE_DATA_DIR=/var/lib/casebridge \
    CASEBRIDGE_POLICY_DIR=/etc/casebridge/policies \
    CASEBRIDGE_BIND=0.0.0.0:8080
EXPOSE 8080
# Ready: the database takes an audit row now and the disk has room (docs/operations.md).
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
    CMD ["/usr/local/bin/casebridge", "ready-check", "--url", "http://127.0.0.1:8080/ready"]
VOLUME ["/var/lib/casebridge"]
ENTRYPOINT ["/usr/local/bin/casebridge"]
CMD ["serve"]
