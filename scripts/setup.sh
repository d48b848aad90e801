#!/usr/bin/env bash
# Installs what Quilt needs on a Debian 12 machine, where it is missing: LLVM 22 and clang-22 (the
# merging compiler), Redis and memcached (benchmark storage), wrk (benchmarks), skopeo and umoci
# (OCI images), graphviz (call-graph drawings), iproute2 (`quilt up --hosts`: network namespaces),
# chromium and chromium-driver (the dashboard's browser test), nginx (the gateway's benchmark
# compares with it), CBC (the solver's MIP: `coinor-libcbc-dev`, found through pkg-config), GNU time
# (`scripts/cpu-per-request.sh` counts the load generator's CPU with it).
# Safe to run again: it does nothing when all is there.
set -euo pipefail

packages=(llvm-22 llvm-22-dev clang-22 lld-22 libpolly-22-dev zlib1g-dev libzstd-dev
          redis-server memcached wrk curl skopeo umoci graphviz iproute2
          chromium chromium-driver nginx coinor-libcbc-dev pkgconf time)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust 1.95+) is required" >&2; exit 1; }
