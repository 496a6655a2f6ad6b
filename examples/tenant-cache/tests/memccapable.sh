#!/usr/bin/env bash
# memcached's protocol conformance tester (memccapable -a: the ASCII
# protocol, every test) against memcg-tenant-cache.
# usage: memccapable.sh SERVER WORKDIR
set -u
server=$1 work=$2
command -v memccapable >/dev/null || { echo "skipped: memccapable not installed (libmemcached-tools)"; exit 77; }
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
"$server" --port 0 --port-file port --threads 2 >server.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 1 200); do [[ -s port ]] && break; sleep 0.05; done
[[ -s port ]] || { echo "FAIL: the server did not start: $(cat server.log)"; exit 1; }
port=$(cat port)
memccapable -a -h 127.0.0.1 -p "$port" -t 10 >out.txt 2>&1
rc=$?
cat out.txt
[[ $rc -eq 0 ]] && grep -q "All tests passed" out.txt || { echo "FAIL: memccapable -a (exit $rc)"; exit 1; }
kill -0 $pid || { echo "FAIL: the server died: $(cat server.log)"; exit 1; }
# SIGTERM: a clean stop (groups removed and freed; under ASan, no leak report)
kill -TERM $pid
wait $pid
src=$?
[[ $src -eq 0 ]] || { echo "FAIL: the server exited with $src after SIGTERM: $(tail -20 server.log)"; exit 1; }
