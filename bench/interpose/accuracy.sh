#!/usr/bin/env bash
# memcg-run's accuracy table (docs/memcg-run.md, "Accuracy"): real programs
# with default settings, each run three ways:
#   plain, under GNU time     peak resident set (%M; for a process tree the
#                             largest process's)
#   under heap_peak_shim      the heap peak: glibc's chunk bytes of live
#                             malloc blocks (malloc family only, no mmap);
#                             for a tree the largest process's and the sum
#   under memcg-run           memory.peak (charged) and resident.peak
#
# usage: bench/interpose/accuracy.sh [MEMCG_RUN] [HEAP_PEAK_SHIM] [WORKDIR]
#   (defaults: the release build's memcg-run and tests/interpose shim, /tmp/memcg-accuracy)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$(realpath "${1:-$root/build/release/tools/memcg-run/memcg-run}")
shim=$(realpath "${2:-$root/build/release/tests/interpose/heap_peak_shim.so}")
work=${3:-/tmp/memcg-accuracy}
[[ -x $run && -f $shim ]] || { echo "accuracy.sh: build memcg-run and heap_peak_shim first" >&2; exit 2; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"

# ---- inputs ----
cat >work.py <<'PY'
d = {}
for i in range(300000):
    d["key-%07d" % i] = ("value-%d-" % i) * 4
rows = [[str(i), str(i * 7), "x" * (i % 50)] for i in range(150000)]
print(len(d), len(rows), sum(len(k) + len(v) for k, v in d.items()))
PY
cat >work.pl <<'PL'
my %h; $h{"key-$_"} = ("value-$_-" x 4) for 1 .. 300000;
my @k = sort keys %h; print scalar(@k), "\n";
PL
cat >work.sql <<'SQL'
PRAGMA cache_size = -200000;
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, 'name-' || x, x % 97, printf('%.*c', 100 + x % 200, 'p') FROM c;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(length(payload)) FROM t GROUP BY grp ORDER BY grp LIMIT 3;
SQL
seq 1 400000 | awk '{ printf "%08d line %d %s\n", ($1 * 7919) % 1000003, $1, "payload-payload-payload" }' >lines.txt
for i in $(seq 1 40); do cat lines.txt; done | head -c 8000000 >xz-in.txt
mkdir -p proj
for i in 1 2 3 4 5 6; do
  printf '#include <stdio.h>\n#include <string.h>\nint f%d(const char* s) { char b[64]; snprintf(b, sizeof b, "%%s-%d", s); return (int)strlen(b); }\n' $i $i >proj/f$i.c
done
printf 'int f1(const char*);int f2(const char*);int f3(const char*);int f4(const char*);int f5(const char*);int f6(const char*);\nint main(void) { return f1("a")+f2("a")+f3("a")+f4("a")+f5("a")+f6("a") > 0 ? 0 : 1; }\n' >proj/main.c
printf 'prog: main.o f1.o f2.o f3.o f4.o f5.o f6.o\n\t$(CC) -o $@ $^\n%%.o: %%.c\n\t$(CC) -O2 -c $<\nclean:\n\trm -f *.o prog\n' >proj/Makefile

# name|command (run with sh -c in $work)
cases=(
  "python3 (default allocator)|python3 work.py"
  "perl|perl work.pl"
  "sort|sort lines.txt | md5sum"
  "sqlite3|sqlite3 :memory: <work.sql"
  "xz -T2 -3|xz -T2 -3 -c xz-in.txt | wc -c"
  "make -j2 (7 C files)|make -s -C proj clean >/dev/null; make -s -j2 -C proj"
)

kb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
printf '| program | peak RSS (time %%M) | heap peak, glibc chunks (largest process / sum) | memcg-run memory.peak | memcg-run resident.peak | charged / RSS | charged / heap |\n'
printf '|---|---|---|---|---|---|---|\n'
for c in "${cases[@]}"; do
  name=${c%%|*} cmd=${c#*|}
  /usr/bin/time -f %M -o time.txt sh -c "$cmd" >/dev/null 2>&1
  rss=$(( $(tail -1 time.txt) * 1024 ))
  rm -rf heap && mkdir heap
  HEAP_PEAK_DIR=$work/heap LD_PRELOAD=$shim sh -c "$cmd" >/dev/null 2>&1
  hmax=$(cat heap/heap.* | awk '/^peak/ { if ($2 > m) m = $2 } END { print m + 0 }')
  hsum=$(cat heap/heap.* | awk '/^peak/ { s += $2 } END { print s + 0 }')
  "$run" --report json --output r.json -- sh -c "$cmd" >/dev/null 2>&1
  read -r mpeak rpeak < <(env -u LD_PRELOAD python3 -c "import json; g=json.load(open('r.json'))['groups'][0]; print(g['memory.peak'], g['resident.peak'])")
  printf '| %s | %s MiB | %s / %s MiB | %s MiB | %s MiB | %s | %s |\n' "$name" "$(kb $rss)" "$(kb $hmax)" "$(kb $hsum)" \
    "$(kb $mpeak)" "$(kb $rpeak)" "$(awk -v a=$mpeak -v b=$rss 'BEGIN { printf "%.2f", a / b }')" \
    "$(awk -v a=$mpeak -v b=$hsum 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
done
