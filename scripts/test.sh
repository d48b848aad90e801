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
# workspace and its dependencies, and the platform under test as users run it.
cargo test --workspace --release --quiet 2>&1
