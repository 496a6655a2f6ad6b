#!/usr/bin/env bash
# Every row of docs/bad-inputs.md names a test (last column, `Suite.Name`: a
# gtest TEST/TEST_F, or a ctest added by add_test(NAME Suite.Name) under
# tests/); fails if a named test does not exist (a row that is not a test).
#   scripts/check_bad_inputs.sh [repo root]
set -euo pipefail
root="${1:-$(dirname "$(readlink -f "$0")")/..}"
doc="$root/docs/bad-inputs.md"
rows=0
missing=0
while IFS= read -r line; do
  last="${line%|}"
  last="${last##*|}"
  names=$(grep -oE '`[A-Za-z0-9_]+\.[A-Za-z0-9_]+`' <<<"$last" | tr -d '`' || true)
  if [[ -z "$names" ]]; then
    echo "row without a test: $line" >&2
    missing=$((missing + 1))
    continue
  fi
  rows=$((rows + 1))
  for n in $names; do
    suite="${n%%.*}"
    test="${n#*.}"
    if ! grep -rqE "TEST(_F)?\(\s*${suite},\s*${test}\s*\)" "$root/tests" &&
       ! grep -rqE "add_test\(NAME ${suite}\.${test}( |$)" "$root/tests"; then
      echo "row names a test that does not exist: $n" >&2
      missing=$((missing + 1))
    fi
  done
done < <(grep -E '^\| ' "$doc" | grep -vE '^\| entry point \||^\|---')
echo "bad-inputs.md: $rows rows, $missing problems"
[[ $rows -gt 0 && $missing -eq 0 ]]
