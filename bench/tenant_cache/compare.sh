#!/usr/bin/env bash
# memcg-tenant-cache against the real memcached (Debian package), same
# settings, one script (docs/benchmarks.md, "tenant-cache"):
#   1. throughput: memcaslap (libmemcached-tools), 2 threads, 32 connections,
#      512-byte values, 90% get / 10% set, RUNS runs of SECONDS each,
#      interleaved; medians and the ratio tenant-cache / memcached;
#   2. memory per stored item: SET_ITEMS set-only operations (64-byte keys,
#      512-byte values) into each server, then (VmRSS after - VmRSS before)
#      / curr_items, and the ratio.
# Targets (issue 16): throughput >= 0.9x memcached, bytes per item <= 1.1x.
#
# usage: bench/tenant_cache/compare.sh [TENANT_CACHE] [RUNS] [SECONDS] [SET_ITEMS]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
tc=$(realpath "${1:-$root/build/release/examples/tenant-cache/memcg-tenant-cache}")
runs=${2:-3} secs=${3:-10} items=${4:-200000}
for c in memcached memcaslap; do command -v $c >/dev/null || { echo "compare.sh: $c not installed (apt-get install memcached libmemcached-tools)" >&2; exit 2; }; done
work=$(mktemp -d) && trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"

start() {  # start NAME PORT: memcached or tenant-cache with 2 threads and 1 GiB
  if [[ $1 == memcached ]]; then
    memcached -u "$(id -un)" -l 127.0.0.1 -p "$2" -U 0 -t 2 -m 1024 -c 4096 >/dev/null 2>&1 &
  else
    "$tc" --listen 127.0.0.1 --port "$2" --threads 2 --memory-limit 1G >/dev/null 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$2") 2>/dev/null && break; sleep 0.05; done
}
rss() { awk '/^VmRSS/ { print $2 * 1024 }' /proc/"$1"/status; }
curr_items() {
  exec 3<>/dev/tcp/127.0.0.1/"$1"
  printf 'stats\r\n' >&3
  local n=""
  while read -r -t 5 line <&3; do
    line=${line%$'\r'}
    [[ $line == "STAT curr_items "* ]] && n=${line#STAT curr_items }
    [[ $line == END ]] && break
  done
  exec 3<&-
  echo "$n"
}

declare -A tps
port=22000
for run in $(seq 1 "$runs"); do
  for s in memcached tenant-cache; do
    port=$((port + 1))
    start $s $port
    out=$(memcaslap -s 127.0.0.1:$port -T 2 -c 32 -t "${secs}s" -X 512 2>&1)
    kill $pid; wait $pid 2>/dev/null || true
    t=$(echo "$out" | awk '/TPS:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }')
    tps[$s]="${tps[$s]:-} $t"
    echo "run $run $s: $t ops/s" >&2
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
m_mc=$(echo "${tps[memcached]}" | median)
m_tc=$(echo "${tps[tenant-cache]}" | median)

printf 'key\n64 64 1\nvalue\n512 512 1\ncmd\n0 1.0\n1 0.0\n' >set-only.cfg
declare -A per
for s in memcached tenant-cache; do
  port=$((port + 1))
  start $s $port
  before=$(rss $pid)
  memcaslap -s 127.0.0.1:$port -T 2 -c 32 -x "$items" -F set-only.cfg >/dev/null 2>&1
  after=$(rss $pid)
  n=$(curr_items $port)
  kill $pid; wait $pid 2>/dev/null || true
  per[$s]=$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "%.0f", (a - b) / n }')
  echo "$s: $n items, RSS +$(( (after - before) >> 20 )) MiB, ${per[$s]} bytes per item" >&2
done

echo "tenant-cache vs memcached $(memcached -V | awk '{print $2}'): memcaslap -T 2 -c 32 -X 512 (90% get), $runs x ${secs}s, medians"
printf '%-14s %12s %16s\n' server "ops/s" "bytes/item"
printf '%-14s %12.0f %16s\n' memcached "$m_mc" "${per[memcached]}"
printf '%-14s %12.0f %16s\n' tenant-cache "$m_tc" "${per[tenant-cache]}"
awk -v a="$m_tc" -v b="$m_mc" -v c="${per[tenant-cache]}" -v d="${per[memcached]}" \
  'BEGIN { printf "ratio tenant-cache/memcached: throughput %.3f (target >= 0.9), bytes per item %.3f (target <= 1.1)\n", a / b, c / d }'
