#!/usr/bin/env bash
# scripts/test.sh - configures, builds and tests each preset in turn.
#
#   scripts/test.sh            presets from $MEMCG_PRESETS (default: "release clang asan tsan")
#   scripts/test.sh --quick    the release preset only (no soak, no fuzzing)
#
# Per preset: cmake --preset P; cmake --build --preset P -j2; ctest --preset P
# (the test presets run 2 jobs and print the output of failing tests).
# Tests, benchmarks and tools are switched on explicitly, so a build directory
# configured earlier with any of them OFF still gets the full build, and a
# run that finds no tests fails. The clang preset (-Werror=thread-safety)
# builds the library, tests and tools only, and runs no soak or race hunt.
# Stops at the first failing preset with its exit code; prints a summary line
# per preset with its wall time. Works from any directory.
#
# After the tests of the asan and tsan presets, the soak harness runs for
# $MEMCG_SOAK_SECONDS (default 180; 0 skips it), then the stress and fault
# tests run three copies at a time for $MEMCG_HUNT_SECONDS (default 60; 0
# skips it; scripts/race_hunt.sh); after all presets (not with
# --quick), the libFuzzer target runs for $MEMCG_FUZZ_SECONDS (default 120;
# 0 skips it) through scripts/fuzz.sh (clang, ASan + UBSan).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

presets="${MEMCG_PRESETS:-release clang asan tsan}"
quick=0
soak_seconds="${MEMCG_SOAK_SECONDS:-180}"
fuzz_seconds="${MEMCG_FUZZ_SECONDS:-120}"
hunt_seconds="${MEMCG_HUNT_SECONDS:-60}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) presets="release"; quick=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done
read -r -a preset_list <<<"$presets"
[[ ${#preset_list[@]} -gt 0 ]] || { echo "test.sh: no presets given" >&2; exit 2; }

banner() {
  local line="================================================================================"
  printf '\n%s\n== %s\n%s\n' "$line" "$*" "$line"
}

summary=()
print_summary() {
  banner "summary"
  local s
  for s in "${summary[@]}"; do echo "$s"; done
}

fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

banner "dependencies"
bash scripts/deps.sh

total_start=$SECONDS
for p in "${preset_list[@]}"; do
  start=$SECONDS
  stage=""
  rc=0
  banner "preset $p: configure"
  stage=configure
  extras=(-DMEMCG_BUILD_BENCH=ON -DMEMCG_BUILD_SOAK=ON)
  [[ $p == clang ]] && extras=(-DMEMCG_BUILD_BENCH=OFF -DMEMCG_BUILD_SOAK=OFF)
  cmake --preset "$p" -DMEMCG_BUILD_TESTS=ON -DMEMCG_BUILD_TOOLS=ON "${extras[@]}" || rc=$?
  if [[ $rc -eq 0 ]]; then
    banner "preset $p: build"
    stage=build
    cmake --build --preset "$p" -j2 || rc=$?
  fi
  if [[ $rc -eq 0 ]]; then
    banner "preset $p: test"
    stage=test
    ctest --preset "$p" --no-tests=error || rc=$?
  fi
  if [[ $rc -eq 0 && ( $p == asan || $p == tsan ) && $soak_seconds -gt 0 ]]; then
    banner "preset $p: soak (${soak_seconds}s)"
    stage=soak
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
      "build/$p/soak/memcg_soak" --seconds "$soak_seconds" || rc=$?
  fi
  if [[ $rc -eq 0 && ( $p == asan || $p == tsan ) && $hunt_seconds -gt 0 ]]; then
    banner "preset $p: race hunt (${hunt_seconds}s, scripts/race_hunt.sh)"
    stage=race-hunt
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
      bash scripts/race_hunt.sh "build/$p" "$hunt_seconds" || rc=$?
  fi
  elapsed=$((SECONDS - start))
  if [[ $rc -ne 0 ]]; then
    summary+=("$(printf '%-8s FAIL (%s, exit %d)  %s' "$p" "$stage" "$rc" "$(fmt_time $elapsed)")")
    print_summary
    echo "test.sh: preset $p failed at $stage" >&2
    exit "$rc"
  fi
  summary+=("$(printf '%-8s PASS  %s' "$p" "$(fmt_time $elapsed)")")
done

if [[ $quick -eq 0 && $fuzz_seconds -gt 0 ]]; then
  banner "fuzz: ops_fuzzer for ${fuzz_seconds}s (scripts/fuzz.sh)"
  start=$SECONDS
  rc=0
  bash scripts/fuzz.sh "$fuzz_seconds" || rc=$?
  if [[ $rc -ne 0 ]]; then
    summary+=("$(printf '%-8s FAIL (exit %d)  %s' fuzz "$rc" "$(fmt_time $((SECONDS - start)))")")
    print_summary
    echo "test.sh: the fuzzer failed (crash inputs in build/fuzz/artifacts/)" >&2
    exit "$rc"
  fi
  summary+=("$(printf '%-8s PASS  %s' fuzz "$(fmt_time $((SECONDS - start)))")")
fi

print_summary
echo "all presets passed (${preset_list[*]}) in $(fmt_time $((SECONDS - total_start)))"
