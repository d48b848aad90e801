#!/usr/bin/env bash
# Benchmark (not a test): where the CPU of one compose-post request goes, for the baseline (11
# functions, every call through the gateway), the merged group and the monolith, on the fake
# database (storage calls are the reference's sleeps). For each route and connection count it runs
# `quilt bench` closed loop (after a warm-up of its own) and divides the CPU time each side used
# during the measured run by the requests answered:
#
#   gateway         the `quilt up` process (gateway and platform)
#   instances       every process `quilt up` started (function instances; one that exits during
#                   the run takes its CPU time with it)
#   load generator  the `quilt bench` process
#
# The two cores bound throughput at about 2,000,000 µs / (sum of the three) requests per second.
#
# Usage: scripts/cpu-per-request.sh [--duration SECONDS] [--connections "256 1024"] [--port PORT]
# docs/PERFORMANCE.md ("Merged deployments: CPU per request") records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=8
connections="256 1024"
port=18611
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--connections \"C...\"] [--port PORT]" >&2; exit 2 ;;
  esac
done

export QUILT_TARGET_DIR="${QUILT_TARGET_DIR:-$PWD/target/quilt-apps}"
export QUILT_LOG="${QUILT_LOG:-warn}"
app=apps/social-network
tree=$app/workflows/compose-post.tree

cargo build --release --quiet -p quilt-cli
quilt=$PWD/target/release/quilt
"$quilt" build "$app" >/dev/null
"$quilt" merge "$app" --tree "$tree" --no-build >/dev/null
"$quilt" merge "$app" --tree "$tree" --monolith --no-build >/dev/null

work=$(mktemp -d)
up=""
cleanup() {
  [ -n "$up" ] && kill -TERM "$up" 2>/dev/null && wait "$up" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"$quilt" up "$app" --fakedb --no-build --port "$port" >"$work/up.out" 2>"$work/up.err" &
up=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$up" 2>/dev/null || { cat "$work/up.err" >&2; exit 1; }
  sleep 0.1
done

# descendants PID: every process below PID.
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
# ticks PID...: CPU time (user + system, clock ticks) the processes used so far.
ticks() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)

printf '\n%-24s %6s %9s %9s %7s %10s %10s %10s %10s %10s\n' route conns "req/s" "p50 ms" errors "gateway" instances "load gen" total "2-core cap"
for conns in $connections; do
  for route in compose-post compose-post-merged compose-post-monolith; do
    # Warm-up: instances started, connections open.
    "$quilt" bench --url "http://127.0.0.1:$port/$route" --generator social-network/compose-post \
      -c "$conns" -d 3s --json >/dev/null
    kids=$(descendants "$up")
    g0=$(ticks "$up")
    i0=$(ticks $kids)
    /usr/bin/time -f '%U %S' -o "$work/time" "$quilt" bench --url "http://127.0.0.1:$port/$route" \
      --generator social-network/compose-post -c "$conns" -d "${duration}s" --json >"$work/out.json"
    g1=$(ticks "$up")
    i1=$(ticks $(descendants "$up"))
    python3 - "$work/out.json" "$((g1 - g0))" "$((i1 - i0))" "$(cat "$work/time")" "$hz" "$route" "$conns" <<'EOF'
import json, sys
out, g, i, (u, s), hz, route, conns = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(), int(sys.argv[5]), sys.argv[6], sys.argv[7]
n = out["requests"]
per = lambda t: t * 1e6 / hz / n
gw, inst, gen = per(g), per(i), (float(u) + float(s)) * 1e6 / n
total = gw + inst + gen
print(f"{route:<24} {conns:>6} {out['throughput_rps']:>9.0f} {out['latency_ms']['p50']:>9.1f} {out['errors']:>7} "
      f"{gw:>7.0f} us {inst:>7.0f} us {gen:>7.0f} us {total:>7.0f} us {2e6 / total:>7.0f}/s")
EOF
  done
done
