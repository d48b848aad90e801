#!/usr/bin/env bash
# Fuzzes Quilt's parsers and request handling (not part of the quick test run): the manifest
# parser, the funcTree parser, the call-graph reader (+ solver on small graphs), the instance
# runtime's request-head parser and the gateway's request handling.
#
# Usage: scripts/fuzz.sh [TARGET...]      (default: every target; FUZZ_SECONDS per target, 600)
#
# cargo-fuzz (libFuzzer) on stable Rust: RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags
# cargo-fuzz passes; --sanitizer none (the code under test is safe Rust; AddressSanitizer was not
# used). Overflow checks and debug assertions stay on (-a). Two targets run at a time. New corpus
# entries go to fuzz/corpus/<target> (seeds in fuzz/seeds/<target>), crashes to
# fuzz/artifacts/<target>; each run's log and final stats to fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-600}
targets=("$@")
((${#targets[@]})) || targets=(manifest func_tree call_graph runtime_head gateway)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
# FUZZ_BIN: a folder of already built targets (skips the build).
bin=${FUZZ_BIN:-target/x86_64-unknown-linux-gnu/release}
[[ -n ${FUZZ_BIN:-} ]] || cargo fuzz build -O -a -s none
mkdir -p logs
run() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  local start=$SECONDS
  set +e
  "$bin/$t" "corpus/$t" "seeds/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"logs/$t.log" 2>&1
  local rc=$?
  set -e
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
  echo "$t: exit $rc, $((SECONDS - start)) s, $execs executions, crashes: $(ls "artifacts/$t" | wc -l)"
}
pending=()
for t in "${targets[@]}"; do
  run "$t" &
  pending+=($!)
  if ((${#pending[@]} == 2)); then
    wait "${pending[0]}"
    pending=("${pending[@]:1}")
  fi
done
wait
