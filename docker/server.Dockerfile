# syntax=docker/dockerfile:1
#
# The rboinc server: the scheduler and the daemons (run from config.xml by `start --foreground`),
# the project tools, and the static mnist app that update_versions publishes to volunteers.
# Built from the repository root: `docker compose -f docker/compose.yaml build` (see docs).

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# Release binaries of the server crates, and the app as a static binary (no shared libraries, so
# it runs on any volunteer's x86_64 Linux whatever its libc).
RUN cargo build --release --bins -p rboinc-scheduler -p rboinc-daemons -p rboinc-tools -p rboinc-research \
 && app/build-static.sh > /tmp/mnist-path \
 && mkdir -p /out/bin /out/app \
 && find target/release -maxdepth 1 -type f -perm -u+x -exec cp {} /out/bin/ \; \
 && cp "$(tail -n 1 /tmp/mnist-path)" /out/app/mnist

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 mariadb-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /srv/rboinc --shell /usr/sbin/nologin boincadm \
 && mkdir -p /srv/results && chown boincadm:boincadm /srv/results
COPY --from=build /out/bin/ /opt/rboinc/bin/
COPY --from=build /out/app/mnist /opt/rboinc/app/mnist
COPY app/data/mnist-10k /opt/rboinc/data/mnist-10k
COPY docker/server-entrypoint.sh /usr/local/bin/server-entrypoint.sh
ENV PATH=/opt/rboinc/bin:$PATH
USER boincadm
WORKDIR /srv/rboinc
EXPOSE 8080
# Project tree (config.xml, keys, download/upload) and the assimilated results live in volumes.
VOLUME ["/srv/rboinc", "/srv/results"]
ENTRYPOINT ["/usr/local/bin/server-entrypoint.sh"]
