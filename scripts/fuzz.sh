#!/usr/bin/env bash
# scripts/fuzz.sh [seconds] - builds fuzz/ops_fuzzer with clang (libFuzzer,
# ASan + UBSan) in build/fuzz and runs it for a bounded time (default 120 s)
# on a copy of the committed seed corpus (fuzz/corpus/ is never modified).
# New crashing inputs are written to build/fuzz/artifacts/. Exit status: the
# fuzzer's (non-zero on a crash, a sanitizer report or a failed model check).
#
#   MEMCG_FUZZ_BUILD_DIR   build directory (default build/fuzz)
#   MEMCG_FUZZ_JOBS        build jobs (default 2)
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
seconds="${1:-120}"
dir="${MEMCG_FUZZ_BUILD_DIR:-build/fuzz}"
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMEMCG_CHECKED=ON -DMEMCG_FAULT_INJECTION=ON -DMEMCG_BUILD_FUZZERS=ON \
  -DMEMCG_BUILD_TESTS=OFF -DMEMCG_BUILD_BENCH=OFF -DMEMCG_BUILD_TOOLS=OFF -DMEMCG_BUILD_SOAK=OFF \
  "-DCMAKE_CXX_FLAGS=$san -fsanitize=fuzzer-no-link" \
  "-DCMAKE_EXE_LINKER_FLAGS=$san" "-DCMAKE_SHARED_LINKER_FLAGS=$san" >/dev/null
cmake --build "$dir" --target ops_fuzzer -j"${MEMCG_FUZZ_JOBS:-2}"
work="$dir/corpus"
mkdir -p "$work" "$dir/artifacts"
cp -n fuzz/corpus/* "$work/" 2>/dev/null || true
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
echo "fuzz.sh: running ops_fuzzer for ${seconds}s (corpus $work)"
exec "$dir/fuzz/ops_fuzzer" -max_total_time="$seconds" -max_len=512 -timeout=30 -rss_limit_mb=4096 \
  -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$work" fuzz/corpus
