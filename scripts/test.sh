#!/usr/bin/env bash
# scripts/test.sh - configures, builds and tests each preset in turn.
#
#   scripts/test.sh            presets from $MEMCG_PRESETS (default: "release asan tsan")
#   scripts/test.sh --quick    the release preset only
#
# Per preset: cmake --preset P; cmake --build --preset P -j2; ctest --preset P
# (the test presets run 2 jobs and print the output of failing tests).
# Tests, benchmarks and tools are switched on explicitly, so a build directory
# configured earlier with any of them OFF still gets the full build, and a
# run that finds no tests fails.
# Stops at the first failing preset with its exit code; prints a summary line
# per preset with its wall time. Works from any directory.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

presets="${MEMCG_PRESETS:-release asan tsan}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) presets="release"; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
  cmake --preset "$p" -DMEMCG_BUILD_TESTS=ON -DMEMCG_BUILD_BENCH=ON -DMEMCG_BUILD_TOOLS=ON || rc=$?
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
  elapsed=$((SECONDS - start))
  if [[ $rc -ne 0 ]]; then
    summary+=("$(printf '%-8s FAIL (%s, exit %d)  %s' "$p" "$stage" "$rc" "$(fmt_time $elapsed)")")
    print_summary
    echo "test.sh: preset $p failed at $stage" >&2
    exit "$rc"
  fi
  summary+=("$(printf '%-8s PASS  %s' "$p" "$(fmt_time $elapsed)")")
done

print_summary
echo "all presets passed (${preset_list[*]}) in $(fmt_time $((SECONDS - total_start)))"
