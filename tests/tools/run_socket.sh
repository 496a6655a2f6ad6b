#!/usr/bin/env bash
# memcg-run --socket: the program's tree is served while it runs. memcgctl
# attaches, sees /run, changes its memory.high and reads it back; top shows
# /run; --pid finds the socket; the file is gone once the program exits
# (normally: a program killed by a signal leaves it, and the next serve() on
# it replaces it). Then a shell that execs a program: the exec'd program
# takes the socket over from the shell.
#   run_socket.sh MEMCG_RUN MEMCGCTL
set -uo pipefail
run=$1 ctl=$2
sock=$(mktemp -u /tmp/memcg-run-socket-XXXXXX.sock)
prog=""
trap 'rm -f "$sock"; [[ -n $prog ]] && kill "$prog" 2>/dev/null' EXIT
fail() { echo "run_socket.sh: $*" >&2; exit 1; }
ready() { for _ in $(seq 200); do "$ctl" ls / --attach "$sock" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

"$run" --socket "$sock" -- sleep 8 &
prog=$!
ready || fail "memcg-run never served $sock"
"$ctl" ls / --attach "$sock" | grep -qx 'run/' || fail "ls / does not show run/"
"$ctl" write /run/memory.high 512M --attach "$sock" || fail "write /run/memory.high"
got=$("$ctl" cat /run/memory.high --attach "$sock") || fail "cat"
[[ $got == 536870912 ]] || fail "memory.high reads '$got' after writing 512M"
"$ctl" top --attach "$sock" --once | grep -q '^/run ' || fail "top shows no /run row"
child=$(pgrep -P "$prog" | head -1)
[[ -n $child ]] || fail "no child of memcg-run"
"$ctl" cat /run/memory.high --pid "$child" | grep -qx 536870912 || fail "cat --pid $child"
"$ctl" top --pid "$child" --once | grep -q '^/run ' || fail "top --pid $child"
"$ctl" cat /run/memory.high --pid "$prog" >/dev/null 2>&1 && fail "memcg-run itself serves nothing, --pid found a socket"
wait "$prog" || fail "memcg-run exited $?"
prog=""
[[ ! -e $sock ]] || fail "the socket file outlived the program's exit"

# sh serves first, then execs sleep, whose own start takes the stale file over.
"$run" --socket "$sock" -- sh -c 'sleep 0.3; exec sleep 4' &
prog=$!
# memcg-run's child is sh until the exec, then sleep.
taken=""
for _ in $(seq 100); do
  c=$(pgrep -x sleep -P "$prog" | head -1)
  if [[ -n $c ]] && "$ctl" cat /run/memory.current --pid "$c" >/dev/null 2>&1; then taken=$c; break; fi
  sleep 0.05
done
[[ -n $taken ]] || fail "the exec'd program did not take the socket over"
wait "$prog" || fail "memcg-run exited $?"
prog=""
echo "run_socket.sh: ok"
