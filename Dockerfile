# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run as a non-root user in a slim image.
# SQLite and libpq are bundled into the binary, so the runtime image needs no database client.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
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
VOLUME ["/var/lib/casebridge"]
ENTRYPOINT ["/usr/local/bin/casebridge"]
CMD ["serve"]
