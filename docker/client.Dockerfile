# syntax=docker/dockerfile:1
#
# A volunteer: Debian's stock BOINC client, unmodified, attached to the project on first start.

ARG RUNTIME_IMAGE=debian:bookworm-slim
FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      boinc-client ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY docker/client-entrypoint.sh /usr/local/bin/client-entrypoint.sh
# The client's data directory (its account key, app files, jobs) survives restarts.
VOLUME ["/var/lib/boinc"]
ENTRYPOINT ["/usr/local/bin/client-entrypoint.sh"]
