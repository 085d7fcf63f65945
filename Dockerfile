# The paas server image, for docker-compose.yml. Build: docker build -t paas .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p paas

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/paas /usr/local/bin/paas
ENV PAAS_DATA_DIR=/var/lib/paas \
    PAAS_LISTEN=0.0.0.0:5000 \
    PAAS_ROUTER_LISTEN=0.0.0.0:8080
VOLUME /var/lib/paas
EXPOSE 5000 8080
ENTRYPOINT ["paas"]
CMD ["serve"]
