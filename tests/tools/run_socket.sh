#!/usr/bin/env bash
# memcg-run --socket: the program's tree is served while it runs. memcgctl
# attaches, sees /run, changes its memory.high and reads it back; top shows
# /run; the socket file is gone once the program exits (normally: a program
# killed by a signal leaves it, and the next serve() on it replaces it).
#   run_socket.sh MEMCG_RUN MEMCGCTL
set -uo pipefail
run=$1 ctl=$2
sock=$(mktemp -u /tmp/memcg-run-socket-XXXXXX.sock)
trap 'rm -f "$sock"; kill "$prog" 2>/dev/null' EXIT
fail() { echo "run_socket.sh: $*" >&2; exit 1; }

# A shell that execs sleep: the exec'd program takes the socket over from
# the shell (the shell's listening socket closes at exec; its file stays).
"$run" --socket "$sock" -- sh -c 'exec sleep 4' &
prog=$!
for _ in $(seq 200); do
  "$ctl" ls / --attach "$sock" >/dev/null 2>&1 && break
  sleep 0.1
done
"$ctl" ls / --attach "$sock" | grep -qx 'run/' || fail "ls / does not show run/"
"$ctl" write /run/memory.high 512M --attach "$sock" || fail "write /run/memory.high"
got=$("$ctl" cat /run/memory.high --attach "$sock") || fail "cat"
[[ $got == 536870912 ]] || fail "memory.high reads '$got' after writing 512M"
"$ctl" top --attach "$sock" --once | grep -q '^/run ' || fail "top shows no /run row"
# --pid finds the socket: the program is memcg-run's child (sh exec'd sleep).
child=$(pgrep -P "$prog" | head -1)
[[ -n $child ]] || fail "no child of memcg-run"
"$ctl" cat /run/memory.high --pid "$child" | grep -qx 536870912 || fail "cat --pid $child"
"$ctl" top --pid "$child" --once | grep -q '^/run ' || fail "top --pid $child"
"$ctl" cat /run/memory.high --pid "$prog" >/dev/null 2>&1 && fail "memcg-run itself serves nothing, --pid found a socket"
wait "$prog" || fail "memcg-run exited $?"
[[ ! -e $sock ]] || fail "the socket file outlived the program's exit"
echo "run_socket.sh: ok"
