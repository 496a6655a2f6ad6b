#!/usr/bin/env bash
# memcgctl --attach against a running process: `memcgctl demo --socket`
# serves its tree; separate memcgctl processes create a group there, set and
# read back its limit, list and snapshot the tree, get ENOENT for a missing
# group, and remove the group; the demo then passes its own checks.
#   attach.sh MEMCGCTL DEMO_SECONDS
set -uo pipefail
ctl=$1 seconds=$2
sock=$(mktemp -u /tmp/memcgctl-attach-XXXXXX.sock)
out=$(mktemp)
trap 'rm -f "$out" "$sock"; kill "$demo" 2>/dev/null' EXIT
fail() { echo "attach.sh: $*" >&2; echo "--- demo output:" >&2; cat "$out" >&2; exit 1; }

"$ctl" demo --seconds "$seconds" --no-live --socket "$sock" >"$out" 2>&1 &
demo=$!
# Ready once it answers (the file exists from bind, before listen).
for _ in $(seq 200); do "$ctl" ls / --attach "$sock" >/dev/null 2>&1 && break; sleep 0.1; done
"$ctl" ls / --attach "$sock" >/dev/null 2>&1 || fail "the demo never served $sock"
[[ $(stat -c %a "$sock") == 600 ]] || fail "socket mode $(stat -c %a "$sock"), want 600"

"$ctl" mkdir /attached --attach "$sock" || fail "mkdir"
"$ctl" write /attached/memory.max 3M --attach "$sock" || fail "write"
got=$("$ctl" cat /attached/memory.max --attach "$sock") || fail "cat"
[[ $got == 3145728 ]] || fail "memory.max reads '$got' after writing 3M"
"$ctl" ls / --attach "$sock" | grep -qx 'attached/' || fail "ls / does not list attached/"
"$ctl" ls / --attach "$sock" | grep -qx 'tenants/' || fail "ls / does not list the demo's tenants/"
"$ctl" tree /attached --attach "$sock" | grep -q '"memory.max":"3145728\\n"' || fail "tree /attached"
"$ctl" cat /missing/memory.max --attach "$sock" 2>"$out.err"
rc=$?
[[ $rc == 1 ]] || fail "cat of a missing group exited $rc, want 1"
grep -q "No such file or directory" "$out.err" || fail "cat of a missing group: $(cat "$out.err")"
rm -f "$out.err"
json=$("$ctl" cat /missing/memory.max --attach "$sock" --json)
[[ $json == *'"error":"ENOENT"'* ]] || fail "--json error: $json"
# metrics: the real Prometheus parser reads it (tests/metrics/parse_metrics.py).
"$ctl" metrics --attach "$sock" >"$out.prom" || fail "metrics"
parsed=$(/usr/bin/python3 "$(dirname "$0")/../metrics/parse_metrics.py" "$out.prom")
rc=$?
rm -f "$out.prom"
if [[ $rc == 3 ]]; then
  echo "attach.sh: python3-prometheus-client missing, metrics not parsed" >&2
else
  [[ $rc == 0 ]] || fail "metrics do not parse"
  grep -q $'^memcg_memory_max_bytes\tgauge\tmemcg_memory_max_bytes\tpath=/attached\t3145728.0$' <<<"$parsed" ||
    fail "metrics: no memory.max of /attached: $(grep attached <<<"$parsed" | head -3)"
fi

# top: one frame, plain text (stdout is not a terminal); the root row first.
top=$("$ctl" top --attach "$sock" --once) || fail "top --once"
[[ $(sed -n 1p <<<"$top") == "memcgctl top  $sock  "*"sorted by current" ]] || fail "top title: $(sed -n 1p <<<"$top")"
[[ $(sed -n 2p <<<"$top") == PATH*CURRENT*PEAK*MAX* ]] || fail "top header: $(sed -n 2p <<<"$top")"
[[ $(sed -n 3p <<<"$top") == "/ "* ]] || fail "top: the first row is not the root: $(sed -n 3p <<<"$top")"
grep -q '^/tenants/gold ' <<<"$top" || fail "top: no /tenants/gold row"
grep -q '^/attached ' <<<"$top" || fail "top: no /attached row"
rows=$("$ctl" top --attach "$sock" --once --depth 1 /tenants | grep -c '^/')
[[ $rows -ge 4 ]] || fail "top --depth 1 /tenants: $rows rows"
"$ctl" top --attach "$sock" --once --depth 0 /tenants | grep -q '^/tenants/' && fail "top --depth 0 shows children"
frames=$("$ctl" top --attach "$sock" -n 2 --interval 0.1 | grep -c '^memcgctl top ')
[[ $frames == 2 ]] || fail "top -n 2 printed $frames frames"
"$ctl" top --attach "$sock" --once --sort bogus >/dev/null 2>&1 && fail "top --sort bogus accepted"
"$ctl" rmdir /attached --attach "$sock" || fail "rmdir"
wait "$demo"
rc=$?
[[ $rc == 0 ]] || fail "the demo exited $rc"
[[ ! -e $sock ]] || fail "the demo left $sock behind"
echo "attach.sh: ok"
