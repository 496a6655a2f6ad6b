#!/usr/bin/env bash
# scripts/demo.sh - builds memcgctl (release preset) and runs its demo.
#   scripts/demo.sh [demo arguments...]
# Works from any directory.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

bash scripts/deps.sh
cmake --preset release
# memcg_package: memcgctl and everything else `cmake --install build/release` installs.
cmake --build --preset release --target memcgctl memcg_package
exec build/release/tools/memcgctl/memcgctl demo "$@"
