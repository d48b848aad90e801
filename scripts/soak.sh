#!/usr/bin/env bash
# Overload soak (a benchmark, not part of the test run): the `wait` function of tests/apps/faults
# (sleeps SOAK_MS per request; 2 instances x 8 slots, a queue of 32) behind `quilt up`, driven by
# `quilt bench`:
#
#   1. capacity: closed loop with as many connections as there are slots, 30 s;
#   2. overload: open loop at twice that rate for SOAK_SECONDS (default 600) over 256 connections
#      (more than slots + queue), sampling the gateway's resident memory (VmRSS of `quilt up`) and
#      the 503 count from /metrics every 10 s;
#   3. recovery: the closed loop of step 1 again, 30 s, right after the load drops.
#
# The platform must shed with 503 rather than queue without bound, keep its memory bounded, and be
# back at capacity in step 3. Writes results/soak/samples.csv and results/soak/summary.txt.
#
# Usage: SOAK_SECONDS=600 SOAK_MS=10 scripts/soak.sh [--port PORT]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${SOAK_SECONDS:-600}
ms=${SOAK_MS:-10}
port=18531
while (($#)); do
  case "$1" in
    --port) port=$2; shift 2 ;;
    *) echo "usage: SOAK_SECONDS=N SOAK_MS=N $0 [--port PORT]" >&2; exit 2 ;;
  esac
done
export QUILT_TARGET_DIR="${QUILT_TARGET_DIR:-$PWD/target/quilt-apps}"
export QUILT_LOG="${QUILT_LOG:-warn}"
out=results/soak
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet -p quilt-cli
quilt=target/release/quilt
"$quilt" up tests/apps/faults --port "$port" >"$work/up.out" 2>"$work/up.err" &
gw_pid=$!
pids+=("$gw_pid")
gw="http://127.0.0.1:$port"
for _ in $(seq 3000); do
  curl -sf "$gw/healthz" >/dev/null 2>&1 && break
  kill -0 "$gw_pid" 2>/dev/null || { cat "$work/up.err" >&2; exit 1; }
  sleep 0.1
done
printf '{"ms":%s}' "$ms" >"$work/body.json"
curl -sf -X POST -d @"$work/body.json" "$gw/wait" >/dev/null

slots=16 # max_instances x concurrency of `wait` in tests/apps/faults/quilt.toml
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$gw_pid/status"; }
count_503() {
  curl -sf "$gw/metrics" |
    awk '/^quilt_gateway_responses_total\{/ && /function="wait"/ && /code="503"/ { n += $2 } END { print n + 0 }'
}
bench() { # bench NAME ARGS...: runs quilt bench --json, keeps its output
  local name=$1
  shift
  "$quilt" bench --url "$gw/wait" --body "$work/body.json" --json "$@" >"$out/$name.json"
  jq -r --arg n "$name" '"\($n): \(.requests) ok, \(.errors) errors, \(.throughput_rps | floor) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms"' "$out/$name.json"
}

echo "== capacity: closed loop, $slots connections, 30 s (SOAK_MS=$ms)"
rss_start=$(rss_kb)
bench capacity -c "$slots" -d 30s --warmup 5s
capacity=$(jq '.throughput_rps' "$out/capacity.json")
rate=$(awk -v c="$capacity" 'BEGIN { printf "%.0f", 2 * c }')

echo "== overload: open loop at $rate req/s (2 x capacity), 256 connections, $seconds s"
echo "t_s,rss_kb,count_503" >"$out/samples.csv"
before_503=$(count_503)
start=$SECONDS
bench overload --rate "$rate" -c 256 -d "${seconds}s" &
bench_pid=$!
pids+=("$bench_pid")
while kill -0 "$bench_pid" 2>/dev/null; do
  echo "$((SECONDS - start)),$(rss_kb),$(($(count_503) - before_503))" >>"$out/samples.csv"
  sleep 10
done
wait "$bench_pid"
shed=$(($(count_503) - before_503))
rss_end_overload=$(rss_kb)

echo "== recovery: closed loop, $slots connections, 30 s, right after the load drops"
bench recovery -c "$slots" -d 30s
recovered=$(jq '.throughput_rps' "$out/recovery.json")
rss_end=$(rss_kb)
rss_max=$(awk -F, 'NR > 1 && $2 > m { m = $2 } END { print m }' "$out/samples.csv")
rss_first=$(awk -F, 'NR == 2 { print $2 }' "$out/samples.csv")
rss_last=$(awk -F, 'END { print $2 }' "$out/samples.csv")

tee "$out/summary.txt" <<EOF

== Overload soak ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), wait ${ms} ms, $slots slots, queue 32)
capacity (closed loop, $slots connections):  $(printf '%.0f' "$capacity") req/s
offered (open loop, 256 connections):        $rate req/s for $seconds s
served during overload:                      $(jq '.throughput_rps | floor' "$out/overload.json") req/s ($(jq '.requests' "$out/overload.json") ok, p50 $(jq '.latency_ms.p50' "$out/overload.json") ms, p99 $(jq '.latency_ms.p99' "$out/overload.json") ms)
shed with 503:                               $shed ($(awk -v s="$shed" -v t="$seconds" 'BEGIN { printf "%.0f", s / t }') /s); bench errors $(jq '.errors' "$out/overload.json")
gateway RSS (KiB): start $rss_start, first sample $rss_first, max $rss_max, last sample $rss_last, after overload $rss_end_overload, end $rss_end
throughput after the load dropped:           $(printf '%.0f' "$recovered") req/s ($(awk -v r="$recovered" -v c="$capacity" 'BEGIN { printf "%.0f", 100 * r / c }')% of capacity)
samples: $out/samples.csv
EOF
