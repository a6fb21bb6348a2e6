#!/usr/bin/env bash
# Builds the executable that BOINC clients download: `mnist` as a static x86_64 Linux binary
# (glibc linked in with `+crt-static`, no interpreter, no shared libraries), so it runs on any
# x86_64 Linux whatever its libc. Only this crate's target artifacts get the flag: with an explicit
# --target, RUSTFLAGS does not reach build scripts and proc-macros.
#
# Usage: app/build-static.sh [extra cargo build args]
# Prints the path of the binary as the last line of stdout:
#   ${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/mnist
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release -p mnist-app --bin mnist --target "$target" "$@" >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/$target/release/mnist"
