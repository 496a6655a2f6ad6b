#!/bin/bash
# The interposer's footprint in a C program: the C++ runtime is linked into
# libmemcg_preload.so, so a program that does not use libstdc++ (cat) must
# not have it mapped under memcg-run (docs/memcg-run.md, "Footprint"). (GCC
# builds need no libm either; clang's calls ceil from fmt's formatting.)
# Usage: footprint.sh MEMCG_RUN
set -euo pipefail
run=$1
maps=$("$run" --output /dev/null -- cat /proc/self/maps)
grep -q libmemcg_preload <<<"$maps" || { echo "FAIL: the preload is not mapped in cat" >&2; exit 1; }
for lib in libstdc++; do
  if grep -q "$lib" <<<"$maps"; then
    echo "FAIL: $lib mapped in a C program under memcg-run:" >&2
    grep "$lib" <<<"$maps" >&2
    exit 1
  fi
done
# python3 links libm itself; a C++ program (the unit test) is checked by
# interpose.unit (new handler, bad_alloc through the program's runtime).
echo "PASS: no libstdc++ in a C program under memcg-run"
