# The build stack: the full run stack plus what buildpacks compile with, and
# git to fetch buildpacks given by URL.
ARG RUN_IMAGE
FROM ${RUN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv npm golang-go git \
 && rm -rf /var/lib/apt/lists/*
