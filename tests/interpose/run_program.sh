#!/usr/bin/env bash
# run_program.sh PROG MEMCG_RUN SHIM WORKDIR - a real program under memcg-run.
#
# PROG: python | sqlite | xz | memcg_run (memcg-run's own exit codes/options).
# For a program:
#  1. run it with the measuring shim (heap_peak_shim.so: glibc malloc wrapped,
#     live requested bytes and their high-water mark) -> output A, heap peak H;
#  2. run it under memcg-run --report json -> output B, /run's memory.peak P;
#     require A == B and |P - H| <= 20% of H;
#  3. run it under memcg-run --max (below its need) and require the program's
#     own ENOMEM failure and max/oom events in the report.
set -uo pipefail
prog=$1 run=$2 shim=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail() { echo "FAIL($prog): $*" >&2; exit 1; }

json_get() {  # json_get FILE EXPR(python, d = the report)
  env -u LD_PRELOAD python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

check_peak() {  # check_peak REPORT HEAP_PEAK_FILE [TOLERANCE_PERCENT, default 20]
  local p h tol=${3:-20}
  p=$(json_get "$1" "d['groups'][0]['memory.peak']") || fail "bad report $1"
  h=$(awk '/^peak/{print $2}' "$2")
  [[ -n "$h" && "$h" -gt 0 ]] || fail "no heap peak measured"
  echo "$prog: requested-bytes peak=$(awk '/^requested_peak/{print $2}' "$2")"
  echo "$prog: memcg-run memory.peak=$p measured heap peak (glibc chunks)=$h ($(awk -v p="$p" -v h="$h" 'BEGIN{printf "%+.1f%%", (p-h)*100/h}'))"
  awk -v p="$p" -v h="$h" -v t="$tol" 'BEGIN{d=(p-h)/h; if (d < 0) d = -d; exit !(d <= t / 100)}' || fail "peak $p not within $tol% of $h"
}

check_events() {  # the limited run's report shows max events (oom ones only for
                  # allocations of at most kCostlyBytes, as in the kernel)
  local m o
  m=$(json_get "$1" "d['groups'][0]['memory.events']['max']")
  o=$(json_get "$1" "d['groups'][0]['memory.events']['oom']")
  echo "$prog: limited run: events max=$m oom=$o"
  [[ "$m" -gt 0 ]] || fail "expected max events, got max=$m oom=$o"
}

case "$prog" in
memcg_run)
  "$run" --bogus -- true 2>err; [[ $? -eq 2 ]] && grep -q usage err || fail "bad option: not exit 2 with usage"
  "$run" --max 12Q -- true 2>err; [[ $? -eq 2 ]] || fail "bad --max: not exit 2"
  "$run" --report xml -- true 2>err; [[ $? -eq 2 ]] || fail "bad --report: not exit 2"
  "$run" 2>err; [[ $? -eq 2 ]] || fail "no command: not exit 2"
  "$run" -- /nonexistent/program 2>err; [[ $? -eq 127 ]] || fail "missing program: not 127"
  "$run" --output r1 -- bash -c 'exit 7'; [[ $? -eq 7 ]] || fail "exit code not propagated"
  "$run" --output r2 -- sh -c 'kill -TERM $$'; [[ $? -eq 143 ]] || fail "signal not 128+15"
  "$run" --max 1G --high 512M --report json --output r3.json -- /bin/echo hi >out || fail "echo failed"
  [[ "$(cat out)" == hi ]] || fail "stdout differs"
  [[ "$(json_get r3.json "d['groups'][0]['memory.max']")" == 1073741824 ]] || fail "max not applied"
  [[ "$(json_get r3.json "d['groups'][0]['memory.high']")" == 536870912 ]] || fail "high not applied"
  "$run" --max=max --output r4.txt -- true || fail "--max=max"
  grep -q '^\[/run\]' r4.txt && grep -q '^processes: 1$' r4.txt || fail "text report"
  # the report goes to stderr without --output, once for the whole tree
  "$run" -- bash -c '/bin/true; /bin/true; exit 0' 2>err >/dev/null
  [[ $(grep -c 'memcg-run report' err) -eq 1 ]] || fail "expected exactly one report on stderr"
  # --per-process: each process its own /run; the first one reports, from
  # the program itself, with its slab figures
  "$run" --per-process --max 1G --output r5.txt -- bash -c '/bin/true; exit 0' || fail "--per-process"
  grep -q '^\[/run\]' r5.txt && grep -q 'memory.kmem.slabinfo:' r5.txt || fail "--per-process text report"
  [[ "$(grep '^memory.max' r5.txt)" == "memory.max: 1073741824" ]] || fail "--per-process max not applied"
  echo "memcg_run: options, exit codes and reports OK"
  ;;
python)
  py=$(command -v python3) || exit 77
  cat >work.py <<'PY'
import sys
d = {}
for i in range(300000):
    d["key-%07d" % i] = ("value-%d-" % i) * 4
rows = [[str(i), str(i * 7), "x" * (i % 50)] for i in range(150000)]
total = sum(len(k) + len(v) for k, v in d.items()) + sum(len(r[2]) for r in rows)
print(len(d), len(rows), total)
del d, rows
big = [b"%d" % i * 10 for i in range(200000)]
print(len(big), sum(map(len, big)))
PY
  export PYTHONMALLOC=malloc PYTHONHASHSEED=0 HEAP_PEAK_OUTPUT=$work/heap.peak
  LD_PRELOAD=$shim "$py" work.py >out.plain || fail "python with the shim failed"
  "$run" --report json --output r.json -- "$py" work.py >out.memcg || fail "python under memcg-run failed"
  cmp -s out.plain out.memcg || fail "outputs differ"
  # python's string builders shrink every string they build with realloc:
  # the interposer must give the spare tail back as glibc does
  # (docs/memcg-run.md, "Accuracy"; keeping it measured +21%).
  check_peak r.json heap.peak
  "$run" --max 40M --report json --output lim.json -- "$py" work.py >out.lim 2>err.lim
  rc=$?
  echo "python: limited run exit=$rc: $(grep -m1 MemoryError err.lim)"
  [[ $rc -eq 1 ]] && grep -q MemoryError err.lim || fail "expected MemoryError and exit 1"
  check_events lim.json
  ;;
sqlite)
  sq=$(command -v sqlite3) || { echo "sqlite3 not installed"; exit 77; }
  cat >work.sql <<'SQL'
PRAGMA cache_size = -200000;
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, 'name-' || x, x % 97, printf('%.*c', 100 + x % 200, 'p') FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, id);
SELECT grp, count(*), sum(length(payload)) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(DISTINCT name), max(id) FROM t;
SELECT name FROM t ORDER BY payload DESC, id LIMIT 3;
SQL
  export HEAP_PEAK_OUTPUT=$work/heap.peak
  LD_PRELOAD=$shim "$sq" :memory: <work.sql >out.plain || fail "sqlite3 with the shim failed"
  "$run" --report json --output r.json -- "$sq" :memory: <work.sql >out.memcg || fail "sqlite3 under memcg-run failed"
  cmp -s out.plain out.memcg || fail "outputs differ"
  # With eight size classes per power of two, sqlite's page-cache blocks
  # (4096 + ~250 bytes) fall in kmalloc-4608; this workload measures +9.4%.
  check_peak r.json heap.peak
  "$run" --max 20M --report json --output lim.json -- "$sq" :memory: <work.sql >out.lim 2>err.lim
  rc=$?
  echo "sqlite: limited run exit=$rc: $(grep -m1 -i 'out of memory' err.lim)"
  [[ $rc -ne 0 ]] && grep -qi 'out of memory' err.lim || fail "expected an out of memory error"
  check_events lim.json
  ;;
xz)
  command -v xz >/dev/null || exit 77
  # ~8 MB of compressible, deterministic text
  awk 'BEGIN { for (i = 0; i < 400000; i++) printf "line %d value %d %s\n", i, (i * 7919) % 100003, substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1) }' >in.txt
  export HEAP_PEAK_OUTPUT=$work/heap.peak
  LD_PRELOAD=$shim xz -T2 -3 --block-size=1MiB -c in.txt >plain.xz || fail "xz with the shim failed"
  "$run" --report json --output r.json -- xz -T2 -3 --block-size=1MiB -c in.txt >memcg.xz || fail "xz under memcg-run failed"
  cmp -s plain.xz memcg.xz || fail "compressed files differ"
  xz -dc memcg.xz | cmp -s - in.txt || fail "round trip differs"
  check_peak r.json heap.peak
  "$run" --max 16M --report json --output lim.json -- xz -T2 -3 --block-size=1MiB -c in.txt >lim.xz 2>err.lim
  rc=$?
  echo "xz: limited run exit=$rc: $(head -n1 err.lim)"
  [[ $rc -eq 1 ]] && grep -q 'Cannot allocate memory' err.lim || fail "expected 'Cannot allocate memory' and exit 1"
  check_events lim.json
  ;;
*) echo "unknown program $prog" >&2; exit 2 ;;
esac
