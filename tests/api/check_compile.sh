#!/usr/bin/env bash
# Compiles compile_checks.cpp once per CASE against the public headers:
# CASE 0 must compile; every other case must fail with the diagnostic named
# below (so that it fails for the intended reason).
#   check_compile.sh <c++ compiler> <include dir> <compile_checks.cpp>
set -uo pipefail
cxx="$1" inc="$2" src="$3"
cases=(
  "1|negative_byte_count_is_not_a_size"
  "2|negative_byte_count_is_not_a_size"
  "3|negative_byte_count_is_not_a_size"
  "4|not usable in a constant expression|is not a constant expression"
  "5|no matching (member )?function|cannot convert|no viable"
  "6|negative_byte_count_is_not_a_size"
  "7|negative_byte_count_is_not_a_size"
  "8|negative_byte_count_is_not_a_size"
  "9|has no member named .impl.|no member named .impl."
  "10|adopt. is not a member|no member named .adopt."
  "11|private"
  "12|private"
  "13|runtime_stats. is not a member|no member named .runtime_stats."
  "14|try_make. is not a member|no member named .try_make."
)
fail=0
out=$("$cxx" -std=c++20 -fsyntax-only -I"$inc" -DCASE=0 "$src" 2>&1) || {
  echo "CASE 0 (the valid uses) does not compile:"; echo "$out"; exit 1; }
for c in "${cases[@]}"; do
  n="${c%%|*}" want="${c#*|}"
  if out=$("$cxx" -std=c++20 -fsyntax-only -I"$inc" -DCASE="$n" "$src" 2>&1); then
    echo "CASE $n compiles; it must not"; fail=1
  elif ! grep -Eq "$want" <<<"$out"; then
    echo "CASE $n fails, but not with /$want/:"; echo "$out" | head -20; fail=1
  else
    echo "CASE $n rejected: $(grep -Em1 "$want" <<<"$out" | cut -c1-160)"
  fi
done
exit $fail
