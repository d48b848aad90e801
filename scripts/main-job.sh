#!/usr/bin/env bash
# The main job: build Quilt, start the local platform with examples/hello, invoke its workflow and
# print the answer, then stop the platform.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet -p quilt-cli
quilt=target/release/quilt
port=${QUILT_PORT:-18080}
$quilt build examples/hello >/dev/null
$quilt up examples/hello --no-build --port "$port" &
up=$!
trap 'kill -TERM $up 2>/dev/null; wait $up 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
$quilt invoke hello --data '{"name":"quilt"}' --gateway "http://127.0.0.1:$port"
