#!/usr/bin/env bash
# scripts/deps.sh - installs the build and test dependencies on Debian 12.
#
# Idempotent: asks dpkg which packages are installed and only runs apt-get
# (update once, then install --no-install-recommends) for the missing ones.
# Needs root when something is missing; otherwise lists the missing packages
# and exits 1.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config git
  liburcu-dev libfmt-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev
  libcli11-dev nlohmann-json3-dev
  prometheus-cpp-dev python3-prometheus-client  # memcg::metrics and the real parser of its tests
  libfuse3-dev fuse3
  clang libclang-rt-14-dev valgrind
  sqlite3 xz-utils python3  # real programs of tests/interpose
  memcached libmemcached-tools  # tenant-cache: memccapable in ctest, memcached and memcaslap in bench/tenant_cache
)

installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#packages[@]} packages installed"
  exit 0
fi

echo "deps: missing: ${missing[*]}"
if [[ "$(id -u)" -ne 0 ]]; then
  echo "deps: not root; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
  installed "$p" || still+=("$p")
done
if [[ ${#still[@]} -ne 0 ]]; then
  echo "deps: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
echo "deps: installed ${missing[*]}"
