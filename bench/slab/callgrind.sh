#!/bin/sh
# Instructions per alloc+free iteration of bench/slab/callgrind_loop.cpp
# (64 B, 16 objects live, a group with memory.max set) for the shared Cache,
# the isolated Cache, kmalloc and mimalloc, counted by callgrind. Builds
# nothing: build the target slab_callgrind_loop first, e.g.
#   cmake --build --preset release --target slab_callgrind_loop
# Usage: bench/slab/callgrind.sh [path/to/slab_callgrind_loop]
#        (default build/release/bench/slab_callgrind_loop)
#
# Each variant runs at N1 = 100000 and N2 = 200000 iterations; the
# per-iteration count is (Ir(N2) - Ir(N1)) / (N2 - N1), which removes the
# start-up, the set-up and the exit (identical at both counts) and keeps the
# loop's own ~5 instructions.
set -eu

bin=${1:-build/release/bench/slab_callgrind_loop}
if [ ! -x "$bin" ]; then
  echo "callgrind.sh: $bin not found or not executable (build the slab_callgrind_loop target)" >&2
  exit 1
fi
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 1; }

n1=100000
n2=200000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# total_ir <variant> <iterations>: the program's total instruction count.
total_ir() {
  out="$tmp/$1.$2.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >"$tmp/log" 2>&1 || {
    echo "callgrind.sh: $bin $1 $2 failed under valgrind:" >&2
    cat "$tmp/log" >&2
    exit 1
  }
  # "summary: <Ir>" (older callgrind) or "totals: <Ir>"
  ir=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out" | tail -n 1)
  if [ -z "$ir" ]; then
    echo "callgrind.sh: no total instruction count in $out" >&2
    exit 1
  fi
  echo "$ir"
}

printf '%-9s %14s %14s %12s\n' variant "Ir($n1)" "Ir($n2)" "Ir/iteration"
for v in shared iso kmalloc mimalloc; do
  a=$(total_ir "$v" "$n1")
  b=$(total_ir "$v" "$n2")
  awk -v v="$v" -v a="$a" -v b="$b" -v n1="$n1" -v n2="$n2" \
    'BEGIN { printf "%-9s %14d %14d %12.2f\n", v, a, b, (b - a) / (n2 - n1) }'
done
