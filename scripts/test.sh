#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export QUILT_TARGET_DIR="$PWD/target/quilt-apps"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo build --workspace --release --quiet
# The tests run on the release build: the same artifacts as above, no second (debug) build of the
# workspace and its dependencies, and the platform under test as users run it. cargo-nextest (see
# .config/nextest.toml) runs tests of different binaries side by side; without it, cargo test runs
# the same tests one binary after another. (The workspace has no doctests.)
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --release --cargo-quiet 2>&1
else
  cargo test --workspace --release --quiet 2>&1
fi
