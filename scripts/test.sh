#!/usr/bin/env bash
# The project's test command (README: "Run the tests").
#
# On a fresh Debian machine it installs what the build and the tests use (libssl-dev for the
# libcrypto the server's RSA links, the stock BOINC client, qemu-user for
# the determinism test, Chromium for the ops-page test, docker-compose to validate the compose
# file, Prometheus and promtool for the metrics and alert-rule tests), makes sure MariaDB answers on 127.0.0.1:3306, then runs formatting, lints and the whole
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

APT_PACKAGES=(libssl-dev pkg-config boinc-client qemu-user chromium docker-compose mariadb-server mariadb-client python3-numpy openssl dataset-fashion-mnist prometheus)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  step "installing apt packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "making sure MariaDB answers on 127.0.0.1:3306"
if ! mariadb-admin -uroot -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1; then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 1 60); do
    mariadb-admin -uroot -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1 && break
    sleep 1
  done
fi
mariadb-admin -uroot -h127.0.0.1 --connect-timeout=2 ping

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace --no-fail-fast
