#!/usr/bin/env bash
# memcg-run on process trees (docs/memcg-run.md, "Process trees"): real
# programs (sh pipelines, xargs -P2, make -j2, python3 multiprocessing), a
# limit that covers the whole tree, reports written by memcg-run whatever
# the processes do at exit, and the charges of a SIGKILLed process returned.
#
# usage: tree.sh CASE MEMCG_RUN TREE_HELPER WORKDIR
set -u
case_=$1 run=$2 helper=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

fail() { echo "FAIL ($case_): $*" >&2; exit 1; }
json_get() {  # json_get FILE EXPR (python; d = the report, g = d['groups'])
  env -u LD_PRELOAD python3 -c "import json,sys; d=json.load(open(sys.argv[1])); g=d['groups']; print($2)" "$1"
}
# The tree's figures every report must show once all its processes ended:
# nothing charged, and every process finished.
check_ended() {
  [[ "$(json_get "$1" "g[0]['memory.current']")" == 0 ]] || fail "tree memory.current not 0 at the end: $(json_get "$1" "g[0]")"
  [[ "$(json_get "$1" "sum(1 for x in g[1:] if x['ended'] == 'running')")" == 0 ]] || fail "a process still running"
  [[ "$(json_get "$1" "sum(x['memory.current'] for x in g[1:])")" == 0 ]] || fail "a process still charged"
}

case "$case_" in
pipeline)
  # dash leaves through _exit, so no process writes anything at exit: the
  # report is memcg-run's.
  cmd='seq 1 60000 | sort -r | gzip -c | gzip -dc | sort -n | md5sum'
  sh -c "$cmd" >plain.out || fail "plain run failed"
  "$run" --report json --output r.json -- sh -c "$cmd" >memcg.out || fail "memcg-run failed"
  cmp -s plain.out memcg.out || fail "output differs from the plain run"
  check_ended r.json
  n=$(json_get r.json "len(g) - 1")
  [[ "$n" -ge 6 ]] || fail "expected at least 6 processes (sh, seq, sort, gzip, gzip, sort, md5sum), got $n"
  for c in seq sort gzip md5sum; do
    [[ "$(json_get r.json "sum(1 for x in g[1:] if x['comm'] == '$c')")" -ge 1 ]] || fail "no line for $c"
  done
  [[ "$(json_get r.json "g[0]['memory.peak']")" -gt 0 ]] || fail "no tree peak"
  # text report on stderr, also when the program closed its own stderr
  "$run" -- sh -c 'exec 2>&-; seq 1 1000 | sort -r >/dev/null' 2>err.txt || fail "closed-stderr run failed"
  grep -q '^memcg-run report' err.txt && grep -q '^\[/run\]' err.txt && grep -q '^ended: ' err.txt ||
    fail "no text report after the program closed stderr: $(cat err.txt)"
  # exec: the shell's slot ends as execed, the program's as exited
  "$run" --report json --output e.json -- sh -c "exec '$helper' hold 1" || fail "exec run failed"
  [[ "$(json_get e.json "[x['ended'] for x in g[1:]]")" == "['execed', 'exited']" ]] ||
    fail "exec: $(json_get e.json "[(x['comm'], x['ended']) for x in g[1:]]")"
  echo "pipeline: identical output, $n processes reported, closed stderr and exec OK"
  ;;
clobber-env)
  # The program overwrites its environment strings (as setproctitle does):
  # the report still goes to --output, since memcg-run writes it.
  "$run" --output r.txt -- "$helper" clobber-env 4 2>err.txt || fail "run failed"
  grep -q '^\[/run\]' r.txt || fail "no report in --output"
  ! grep -q 'memcg-run report' err.txt || fail "report on stderr instead of --output"
  echo "clobber-env: report in --output OK"
  ;;
xargs)
  # Two processes of 30 MiB each: a 48 MiB limit on the tree fails the tree
  # (per process, each would fit), 96 MiB does not.
  printf '1\n2\n' | "$run" --max 48M --report json --output lim.json -- xargs -P2 -I{} "$helper" hold 30 3 2>err.txt
  rc=$?
  [[ $rc -ne 0 ]] || fail "48M for two 30 MiB processes: the tree did not fail"
  grep -q 'malloc(30 MiB) failed' err.txt || fail "expected one process's malloc to fail: $(cat err.txt)"
  [[ "$(json_get lim.json "g[0]['memory.max']")" == $((48 << 20)) ]] || fail "max not applied"
  [[ "$(json_get lim.json "g[0]['memory.events']['max']")" -gt 0 ]] || fail "no max events"
  [[ "$(json_get lim.json "g[0]['memory.peak']")" -le $((48 << 20)) ]] || fail "tree peak above max"
  check_ended lim.json
  printf '1\n2\n' | "$run" --max 96M --report json --output ok.json -- xargs -P2 -I{} "$helper" hold 30 0.3 ||
    fail "96M for two 30 MiB processes failed"
  check_ended ok.json
  [[ "$(json_get ok.json "sum(1 for x in g[1:] if x['comm'] == 'tree_helper')")" == 2 ]] || fail "expected 2 tree_helper lines"
  printf '1\n2\n' | "$run" --per-process --max 48M --output pp.txt -- xargs -P2 -I{} "$helper" hold 30 0.3 ||
    fail "--per-process: each process's own 48M failed"
  # fork without exec: the children take slots of their own
  "$run" --max 96M --report json --output f.json -- "$helper" fork-workers 2 30 || fail "fork-workers under 96M failed"
  check_ended f.json
  [[ "$(json_get f.json "sum(1 for x in g[1:] if x['ended'] == 'gone')")" == 2 ]] || fail "expected 2 _exit'd children"
  "$run" --max 48M -- "$helper" fork-workers 2 30 2>/dev/null && fail "fork-workers under 48M did not fail"
  # A forked child's copy of its parent's heap is counted once, in the
  # parent: 30 MiB held by the parent, and by each of 2 children that free
  # their copy and churn 15 MiB blocks, fit in 72M (30 + 2 x 15 + slack),
  # and no child's peak includes the copy.
  "$run" --max 72M --report json --output inh.json -- "$helper" fork-inherit 2 30 2>err.txt ||
    fail "fork-inherit under 72M failed: $(cat err.txt)"
  check_ended inh.json
  [[ "$(json_get inh.json "max(x['memory.peak'] for x in g[1:] if x['ended'] == 'gone')")" -lt $((20 << 20)) ]] ||
    fail "a child's peak includes its inherited copy: $(json_get inh.json "[(x['comm'], x['ended'], x['memory.peak']) for x in g[1:]]")"
  echo "xargs: a tree-wide limit fails the tree, per-process does not; fork children counted"
  ;;
sigkill)
  # A child holding 30 MiB is killed with SIGKILL; a 48 MiB tree then has
  # room for another 30 MiB only if the dead child's charges came back.
  cat >tree.sh <<EOF
'$helper' hold-and-wait 30 >ready.txt &
p=\$!
while ! grep -q ready ready.txt 2>/dev/null; do sleep 0.02; done
kill -9 \$p
wait \$p
'$helper' hold 30
EOF
  "$run" --max 48M --report json --output r.json -- sh tree.sh 2>err.txt || fail "second 30 MiB refused after the kill: $(cat err.txt)"
  check_ended r.json
  [[ "$(json_get r.json "sum(1 for x in g[1:] if x['comm'] == 'tree_helper' and x['ended'] == 'gone' and x['memory.peak'] >= (30 << 20))")" == 1 ]] ||
    fail "the killed child is not reported gone with its peak: $(json_get r.json "[(x['comm'], x['ended'], x['memory.peak']) for x in g[1:]]")"
  echo "sigkill: the killed child's charges were returned"
  ;;
make)
  command -v make >/dev/null && command -v cc >/dev/null || { echo "skipped: no make or cc"; exit 77; }
  for i in 1 2 3 4; do printf 'int f%d(int x) { return x * %d; }\n' $i $i >f$i.c; done
  printf 'int f1(int);int f2(int);int f3(int);int f4(int);\nint main(void) { return f1(1)+f2(1)+f3(1)+f4(1) - 10; }\n' >main.c
  printf 'prog: main.o f1.o f2.o f3.o f4.o\n\t$(CC) -o $@ $^\n%%.o: %%.c\n\t$(CC) -O2 -c $<\nclean:\n\trm -f *.o prog\n' >Makefile
  make -s -j2 >plain.out 2>&1 || fail "plain make failed: $(cat plain.out)"
  ./prog || fail "plain prog"
  make -s clean
  "$run" --report json --output r.json -- make -s -j2 >memcg.out 2>&1 || fail "make under memcg-run failed: $(cat memcg.out)"
  ./prog || fail "prog built under memcg-run"
  cmp -s plain.out memcg.out || fail "make output differs"
  check_ended r.json
  [[ "$(json_get r.json "sum(1 for x in g[1:] if x['comm'] == 'cc1')")" -ge 5 ]] || fail "expected a cc1 line per file"
  make -s clean
  "$run" --max 1M --output lim.txt -- make -s -j2 >/dev/null 2>&1 && fail "make under a 1M tree limit succeeded"
  echo "make: identical output, cc1 processes counted, a small tree limit fails the build"
  ;;
mmap)
  # Private anonymous mappings are charged: 30 MiB maps fit a 48M tree ten
  # times over only if munmap gives the charge back; a fixed mapping over
  # one, a partial unmap and an mremap back to 30 MiB fit too; 30 MiB does
  # not fit 16M, and growing 8 MiB to 40 MiB does not fit 32M.
  "$run" --max 48M --report json --output r.json -- "$helper" mmap 30 2>err.txt || fail "mmap churn under 48M: $(cat err.txt)"
  [[ "$(json_get r.json "g[0]['memory.peak']")" -ge $((30 << 20)) ]] || fail "mappings not charged: $(json_get r.json "g[0]")"
  [[ "$(json_get r.json "g[0]['memory.peak']")" -le $((48 << 20)) ]] || fail "peak above max"
  check_ended r.json
  "$run" --max 16M -- "$helper" mmap 30 2>err.txt; rc=$?
  [[ $rc -eq 3 ]] && grep -q 'mmap refused: Cannot allocate memory' err.txt || fail "30 MiB mapped under 16M (exit $rc): $(cat err.txt)"
  "$run" --max 32M -- "$helper" mremap 8 40 2>err.txt; rc=$?
  [[ $rc -eq 3 ]] && grep -q 'mremap refused' err.txt || fail "mremap grew past the limit (exit $rc): $(cat err.txt)"
  "$run" --max 64M -- "$helper" mremap 8 40 || fail "mremap to 40 MiB under 64M refused"
  # python's own allocator maps 256 KiB arenas: a limit now holds it.
  py=/usr/bin/python3
  if [[ -x $py ]]; then
    "$run" --max 16M -- "$py" -c 'x = [str(i) * 4 for i in range(2000000)]' 2>err.txt && fail "pymalloc arenas not limited"
    grep -q MemoryError err.txt || fail "expected MemoryError: $(tail -3 err.txt)"
  fi
  echo "mmap: anonymous mappings charged, given back, refused at the limit"
  ;;
python)
  py=/usr/bin/python3
  [[ -x $py ]] || { echo "skipped: no /usr/bin/python3"; exit 77; }
  cat >mp.py <<'PY'
import multiprocessing as mp
def work(i):
    b = bytearray(10 << 20)  # malloc'd: above pymalloc's small-object limit
    xs = [str(j) * 3 for j in range(100000)]
    return len(b) + sum(len(x) for x in xs) + i
if __name__ == "__main__":
    mp.set_start_method("fork")
    with mp.Pool(2) as p:
        print(sum(p.map(work, range(4))))
PY
  "$py" mp.py >plain.out || fail "plain python failed"
  "$run" --report json --output r.json -- "$py" mp.py >memcg.out || fail "python under memcg-run failed"
  cmp -s plain.out memcg.out || fail "output differs"
  check_ended r.json
  [[ "$(json_get r.json "sum(1 for x in g[1:] if x['comm'].startswith('python'))")" -ge 3 ]] || fail "expected the parent and 2 workers"
  [[ "$(json_get r.json "max(x['memory.peak'] for x in g[1:] if x['ended'] == 'gone')")" -ge $((10 << 20)) ]] ||
    fail "a worker's 10 MiB block is not in its peak"
  "$run" --max 8M --output lim.txt -- "$py" mp.py >/dev/null 2>&1 && fail "an 8M tree limit did not fail the pool"
  echo "python: multiprocessing pool counted, identical output, a small limit fails"
  ;;
*) fail "unknown case" ;;
esac
