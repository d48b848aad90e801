#!/usr/bin/env bash
# The main job: take a workflow from source to a faster deployment with `quilt optimize` — build,
# deploy the baseline, profile, plan, merge, deploy the merged groups, and measure both side by side.
# Prints the before/after table; the report lands in results/optimize/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet -p quilt-cli
export QUILT_LOG=${QUILT_LOG:-warn}
exec target/release/quilt optimize "${QUILT_APP:-apps/social-network}" --workflow "${QUILT_WORKFLOW:-compose-post}" --quick "$@"
