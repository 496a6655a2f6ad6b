#!/bin/bash
# The interposer's footprint in a C program: the C++ runtime is linked into
# libmemcg_preload.so, so a program that does not use libstdc++ (cat) must
# not have it (or the unwinder, libgcc_s) mapped under memcg-run (docs/memcg-run.md, "Footprint"). (GCC
# builds need no libm either; clang's calls ceil from fmt's formatting.)
# Usage: footprint.sh MEMCG_RUN
set -euo pipefail
run=$1
maps=$("$run" --output /dev/null -- cat /proc/self/maps)
grep -q libmemcg_preload <<<"$maps" || { echo "FAIL: the preload is not mapped in cat" >&2; exit 1; }
for lib in libstdc++ libgcc_s; do
  if grep -q "$lib" <<<"$maps"; then
    echo "FAIL: $lib mapped in a C program under memcg-run:" >&2
    grep "$lib" <<<"$maps" >&2
    exit 1
  fi
done
# python3 links libm itself; a C++ program (the unit test) is checked by
# interpose.unit (new handler, bad_alloc through the program's runtime).
# The supervisor maps no shared runtime at all (linked statically; sanitizer
# builds, which skip this test, link it dynamically): its resident set is a
# floor under the peak RSS a parent such as time(1) reads for the whole tree.
deps=$(LC_ALL=C ldd "$run" 2>&1 || true)
if ! grep -q "not a dynamic executable" <<<"$deps"; then
  echo "FAIL: memcg-run is dynamically linked:" >&2
  echo "$deps" >&2
  exit 1
fi
# The process tree's segment: the pages of slots never taken are never
# touched, so a one-process tree keeps at most the header's and one slot's.
rss=$("$run" --output /dev/null -- awk '/^[0-9a-f]+-/ {on = /memcg-run-/; next} on && /^Rss:/ {print $2}' /proc/self/smaps)
if [[ -z "$rss" || "$rss" -gt 16 ]]; then
  echo "FAIL: the process tree's segment is ${rss:-?} KiB resident in a one-process tree (at most 16)" >&2
  exit 1
fi
# The preload's executable segment is split past its first 64 KiB into
# mappings of at most two pages, so the kernel's fault-around (the 64 KiB
# block around a faulting page, clipped to its mapping) maps no more than
# the chunk a program runs.
sizes=$(grep libmemcg_preload <<<"$maps" | while read -r range perms _; do
  [[ $perms == *x* ]] || continue
  echo $(( (16#${range#*-} - 16#${range%-*}) / 1024 ))
done)
chunks=$(wc -l <<<"$sizes")
first=$(head -1 <<<"$sizes")
largest=$(tail -n +2 <<<"$sizes" | sort -n | tail -1)
if [[ "$chunks" -lt 3 || "$first" -gt 64 || "${largest:-0}" -gt 8 ]]; then
  echo "FAIL: the preload's text is not split into small mappings (KiB each: $(tr '\n' ' ' <<<"$sizes"))" >&2
  exit 1
fi
# The unwinder is loaded by the first exception: in a C program whose
# preload throws (here std::thread, for the control socket's server, cannot
# map a 4 GiB stack under a 3 GiB address-space limit, and the preload
# catches the std::system_error), libgcc_s appears and the program runs on.
sock=$(mktemp -u /tmp/memcg-footprint.XXXXXX)
out=$(ulimit -s 4194304 && ulimit -v 3145728 && "$run" --output /dev/null --socket "$sock" -- cat /proc/self/maps 2>&1)
rm -f "$sock"
if ! grep -q "cannot serve the control socket" <<<"$out" || ! grep -q libgcc_s <<<"$out"; then
  echo "FAIL: an exception thrown and caught in the preload under a C program (expected the server's error and libgcc_s mapped):" >&2
  head -5 <<<"$out" >&2
  exit 1
fi
echo "PASS: no libstdc++ or libgcc_s in a C program until an exception under memcg-run; memcg-run static; segment ${rss} KiB resident; text in $chunks mappings"
