#!/usr/bin/env bash
# Tenant isolation (issue 16): tenant A stores a working set and keeps
# reading it; tenant B writes ten times its limit. tenant-cache gives A a
# memory.low above its working set and B a memory.max; memcached gets the
# same total memory (-m) and nothing else. Prints A's hit ratio during B's
# flood under both, side by side.
#
# usage: bench/tenant_cache/isolation.sh [TENANT_CACHE] [ISOLATION_CLIENT]
#   A: 16,000 items of 1 KiB (about 20 MiB with keys and headers), low 32M,
#      reading one of its keys (at random) every 4 writes of B;
#   B: max 24M, 250,000 writes of 1 KiB (ten times its limit);
#   total: 64 MiB for both servers.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
tc=$(realpath "${1:-$root/build/release/examples/tenant-cache/memcg-tenant-cache}")
client=$(realpath "${2:-$root/build/release/bench/tenant_cache_isolation_client}")
command -v memcached >/dev/null || { echo "isolation.sh: memcached not installed" >&2; exit 2; }
trap 'kill $(jobs -p) 2>/dev/null' EXIT
a_items=16000 b_writes=250000 size=1024 every=4

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }

memcached -u "$(id -un)" -l 127.0.0.1 -p 22901 -U 0 -t 2 -m 64 >/dev/null 2>&1 &
mc=$!
wait_port 22901
r_mc=$("$client" 22901 $a_items $b_writes $size $every)
kill $mc; wait $mc 2>/dev/null || true

"$tc" --port 22902 --threads 2 --memory-limit 64M --tenant a:low=32M --tenant b:max=24M >/dev/null 2>&1 &
tc_pid=$!
wait_port 22902
r_tc=$("$client" 22902 $a_items $b_writes $size $every)
kill $tc_pid; wait $tc_pid 2>/dev/null || true

echo "A: $a_items x $size B working set, reading one of its keys every $every B writes; B: $b_writes writes of $size B; 64 MiB in all"
echo "memcached -m 64:                                $r_mc"
echo "tenant-cache (a: low 32M, b: max 24M, -m 64M):  $r_tc"
