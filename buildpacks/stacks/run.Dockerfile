# The run stack: what every buildpack-built app runs on. Runtimes come from
# the OS packages (no downloads from elsewhere).
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 nodejs busybox ca-certificates \
 && rm -rf /var/lib/apt/lists/*
