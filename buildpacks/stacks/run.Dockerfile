# A run stack: what buildpack-built apps run on. Only the runtimes the app's
# buildpacks need (PACKAGES: python3, nodejs, or both for Procfile-only and
# custom buildpacks), from the OS packages; busybox (static, also for the
# minimal stack) and the CA certificates always.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG PACKAGES
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates busybox-static ${PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
