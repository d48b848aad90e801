#!/usr/bin/env bash
# Benchmark of the local platform's gateway (not a test): the `noop` function of tests/apps/faults
# through the gateway, measured with wrk.
#
#   - p50 latency at 1 connection                 (target: <= 150 us)
#   - requests/s at 16 connections                (target: >= 10,000)
#   - one extra hop: `relay` invokes `noop` through the gateway; relay p50 - noop p50 at 1 connection
#                                                 (target: <= 250 us)
#   - for reference: the noop instance alone, without the gateway (p50 at 1 connection)
#   - `quilt bench` against wrk on the same endpoints, each run right after wrk's
#                                                 (target: throughput within 10% of wrk's)
#   - nginx (2 workers, keepalive upstream) as the reverse proxy in front of the same noop
#     instance the gateway routes to, alternating with the gateway and the instance alone: the
#     latency each proxy adds over the instance alone at 1 connection (target: the gateway's at
#     most nginx's), requests/s at 16 connections (at least nginx's), p99 at 16 connections (at
#     most 1.2x nginx's), and the CPU each proxy spends per request at 16 connections; then the
#     1-connection runs again with every process on one CPU (`taskset`)
#
# Usage: scripts/bench-platform.sh [--duration SECONDS] [--port PORT] [--rounds N]
#   --rounds N: alternating rounds of the nginx comparison (default 3; medians over them)
# Prints wrk's output and a summary; docs/PERFORMANCE.md ("Platform") records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
port=18431
rounds=3
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--port PORT] [--rounds N]" >&2; exit 2 ;;
  esac
done
direct_port=$((port + 1))

command -v wrk >/dev/null || { echo "bench-platform: wrk is missing (apt-get install wrk)" >&2; exit 1; }
export QUILT_TARGET_DIR="${QUILT_TARGET_DIR:-$PWD/target/quilt-apps}"
export QUILT_LOG="${QUILT_LOG:-warn}"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
EOF

cargo build --release --quiet -p quilt-cli
quilt=target/release/quilt

# The platform (it builds tests/apps/faults first: release binaries of every function).
"$quilt" up tests/apps/faults --port "$port" >"$work/up.out" 2>"$work/up.err" &
pids+=($!)
for _ in $(seq 3000); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/up.err" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "bench-platform: quilt up did not start" >&2; exit 1; }

# The noop binary on its own, for reference (no gateway in front).
QUILT_PORT=$direct_port tests/apps/faults/.quilt/bin/noop >/dev/null &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$direct_port/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done

# Cold starts happen here, not during the measurements.
for f in noop relay; do
  curl -sf -X POST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$port/$f" >/dev/null
done

# nginx in front of the gateway's own noop instance (its port from /_quilt/status).
nginx_port=$((port + 2))
instance_port=$(curl -sf "http://127.0.0.1:$port/_quilt/status" |
  sed 's/{"answered"/\n&/g' | grep '"route":"noop"' | sed -n 's/.*"port":\([0-9]*\).*/\1/p' | head -1)
[ -n "$instance_port" ] || { echo "bench-platform: no noop instance in /_quilt/status" >&2; exit 1; }
command -v nginx >/dev/null || { echo "bench-platform: nginx is missing (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  upstream noop { server 127.0.0.1:$instance_port; keepalive 64; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://noop;
      proxy_set_header Host 127.0.0.1;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
nginx -c "$work/nginx.conf" -p "$work/nginx" &
pids+=($!)
nginx_master=$!
for _ in $(seq 100); do
  curl -sf -X POST -d '{}' "http://127.0.0.1:$nginx_port/noop" >/dev/null 2>&1 && break
  sleep 0.05
done

# Converts wrk's latency ("61.00us", "1.20ms", "1.00s") to microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "ms") n *= 1000; else if (u == "s") n *= 1000000;
    printf "%.1f", n }'
}

all_cpus="0-$(($(nproc) - 1))"
# ticks PID...: CPU time (user + system, clock ticks) the processes used so far.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
# run NAME THREADS CONNECTIONS URL [PID...]: runs wrk, keeps its output in $work/NAME.txt and
# the CPU the processes PID... used per request, in microseconds, in $work/NAME.cpu.
run() {
  local name=$1 threads=$2 conns=$3 url=$4 before
  shift 4
  before=$(ticks "$@")
  echo "== $name: wrk -t$threads -c$conns -d${duration}s --latency -s post.lua $url"
  taskset -c "${wrk_cpu:-$all_cpus}" \
    wrk -t"$threads" -c"$conns" -d"${duration}s" --latency -s "$work/post.lua" "$url" | tee "$work/$name.txt"
  awk -v t=$(($(ticks "$@") - before)) -v hz="$(getconf CLK_TCK)" '/requests in/ { printf "%.1f", t * 1e6 / hz / $1 }' "$work/$name.txt" >"$work/$name.cpu"
  if grep -q "Non-2xx" "$work/$name.txt"; then
    echo "bench-platform: $name got non-2xx responses" >&2
    exit 1
  fi
}
# qbench NAME CONNECTIONS URL: runs `quilt bench` closed loop, keeps its JSON in $work/NAME.json.
qbench() {
  local name=$1 conns=$2 url=$3
  echo "== $name: quilt bench --url $url -c $conns -d ${duration}s --json"
  "$quilt" bench --url "$url" -c "$conns" -d "${duration}s" --json | tee "$work/$name.json"
}
qfield() { sed -n "s/.*\"$2\": *\([0-9.]*\).*/\1/p" "$work/$1.json" | head -1; }
p50() { to_us "$(awk '$1 == "50%" { print $2 }' "$work/$1.txt")"; }
p99() { to_us "$(awk '$1 == "99%" { print $2 }' "$work/$1.txt")"; }
rps() { awk '$1 == "Requests/sec:" { printf "%.0f", $2 }' "$work/$1.txt"; }
cpu() { cat "$work/$1.cpu"; }

gw="http://127.0.0.1:$port"
run noop-c1 1 1 "$gw/noop"
qbench noop-c1-qb 1 "$gw/noop"
run noop-c16 2 16 "$gw/noop"
qbench noop-c16-qb 16 "$gw/noop"
run relay-c1 1 1 "$gw/relay"
run relay-c16 2 16 "$gw/relay"
qbench relay-c16-qb 16 "$gw/relay"
run direct-c1 1 1 "http://127.0.0.1:$direct_port/noop"
run direct-c16 2 16 "http://127.0.0.1:$direct_port/noop"
# The gateway and nginx side by side, alternating with the instance alone, $rounds times each:
# medians (at one connection this machine's latency changes with its load from run to run).
for i in $(seq "$rounds"); do
  run "direct-c1-$i" 1 1 "http://127.0.0.1:$direct_port/noop"
  run "gw-c1-$i" 1 1 "$gw/noop"
  run "nginx-c1-$i" 1 1 "http://127.0.0.1:$nginx_port/noop"
  run "gw-c16-$i" 2 16 "$gw/noop" "${pids[0]}"
  run "nginx-c16-$i" 2 16 "http://127.0.0.1:$nginx_port/noop" $(pgrep -P "$nginx_master")
done
# The same three at 1 connection with every process (wrk, quilt up and its instances, nginx, the
# instance alone) on one CPU: no wake-up crosses vCPUs, so what is left is each proxy's own work
# (on this VM a wake-up of an idle vCPU costs tens of microseconds, and where the scheduler puts
# the chain's threads decides the unpinned figures).
descendants() { local p; for p in "$@"; do echo "$p"; descendants $(pgrep -P "$p"); done; }
pin() { local p; for p in $(descendants "${pids[@]}"); do taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true; done; }
pin 0
for i in $(seq "$rounds"); do
  wrk_cpu=0 run "pinned-direct-c1-$i" 1 1 "http://127.0.0.1:$direct_port/noop"
  wrk_cpu=0 run "pinned-gw-c1-$i" 1 1 "$gw/noop"
  wrk_cpu=0 run "pinned-nginx-c1-$i" 1 1 "http://127.0.0.1:$nginx_port/noop"
done
pin "$all_cpus"
# median FIELD NAME: the median of FIELD (p50, p99, rps, cpu) over NAME-1..rounds (the lower
# middle one when the rounds are even).
median() {
  local i
  for i in $(seq "$rounds"); do "$1" "$2-$i"; echo; done | sort -g | sed -n "$(((rounds + 1) / 2))p"
}

hop=$(awk -v a="$(p50 relay-c1)" -v b="$(p50 noop-c1)" 'BEGIN { printf "%.1f", a - b }')
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == "le") ? v <= t : v >= t; print ok ? "met" : "MISSED" }'; }
# against NAME: quilt bench's throughput on NAME against wrk's, "<qb> vs <wrk> req/s (ratio, verdict)".
against() {
  local q w
  q=$(qfield "$1-qb" throughput_rps)
  w=$(rps "$1")
  awk -v q="$q" -v w="$w" 'BEGIN { r = q / w; printf "%.0f vs %.0f req/s (x%.3f, target within 10%%: %s)", q, w, r, (r >= 0.9 && r <= 1.1) ? "met" : "MISSED" }'
}

# added PROXY ALONE: the median p50 of runs PROXY-* minus that of runs ALONE-*, in microseconds.
added() { awk -v a="$(median p50 "$1")" -v b="$(median p50 "$2")" 'BEGIN { printf "%.1f", a - b }'; }
gw_added=$(added gw-c1 direct-c1)
nginx_added=$(added nginx-c1 direct-c1)
pinned_gw_added=$(added pinned-gw-c1 pinned-direct-c1)
pinned_nginx_added=$(added pinned-nginx-c1 pinned-direct-c1)
cat <<EOF

== Summary ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), ${duration}s per run)
noop through the gateway, 1 connection:   p50 $(p50 noop-c1) us, p99 $(p99 noop-c1) us, $(rps noop-c1) req/s   (target p50 <= 150 us: $(verdict "$(p50 noop-c1)" 150 le))
noop through the gateway, 16 connections: $(rps noop-c16) req/s, p50 $(p50 noop-c16) us, p99 $(p99 noop-c16) us   (target >= 10000 req/s: $(verdict "$(rps noop-c16)" 10000 ge))
relay -> noop, 1 connection:              p50 $(p50 relay-c1) us, p99 $(p99 relay-c1) us, $(rps relay-c1) req/s
relay -> noop, 16 connections:            $(rps relay-c16) req/s, p50 $(p50 relay-c16) us
one extra hop (relay p50 - noop p50):     $hop us   (target <= 250 us: $(verdict "$hop" 250 le))
noop instance alone, 1 connection:        p50 $(p50 direct-c1) us, $(rps direct-c1) req/s
noop instance alone, 16 connections:      $(rps direct-c16) req/s, p50 $(p50 direct-c16) us
quilt bench vs wrk, noop, 1 connection:   $(against noop-c1); quilt bench p50 $(awk -v v="$(qfield noop-c1-qb p50)" 'BEGIN { printf "%.1f", v * 1000 }') us
quilt bench vs wrk, noop, 16 connections: $(against noop-c16)
quilt bench vs wrk, relay, 16 connections: $(against relay-c16)
gateway vs nginx in front of the same noop instance (medians of $rounds alternating runs):
  p50 at 1 connection: gateway $(median p50 gw-c1) us, nginx $(median p50 nginx-c1) us, the instance alone $(median p50 direct-c1) us
  added p50 at 1 connection (over the instance alone): gateway $gw_added us, nginx $nginx_added us   (target: at most nginx's: $(verdict "$gw_added" "$nginx_added" le))
  the same, everything on one CPU: p50 gateway $(median p50 pinned-gw-c1) us, nginx $(median p50 pinned-nginx-c1) us, the instance alone $(median p50 pinned-direct-c1) us; added: gateway $pinned_gw_added us, nginx $pinned_nginx_added us   (target: at most nginx's: $(verdict "$pinned_gw_added" "$pinned_nginx_added" le))
  requests/s at 16 connections: gateway $(median rps gw-c16), nginx $(median rps nginx-c16)   (target: at least nginx's: $(verdict "$(median rps gw-c16)" "$(median rps nginx-c16)" ge))
  p99 at 16 connections: gateway $(median p99 gw-c16) us, nginx $(median p99 nginx-c16) us   (target: at most 1.2x nginx's: $(verdict "$(median p99 gw-c16)" "$(awk -v n="$(median p99 nginx-c16)" 'BEGIN { print 1.2 * n }')" le))
  CPU per request at 16 connections: gateway $(median cpu gw-c16) us, nginx (its workers) $(median cpu nginx-c16) us
EOF
