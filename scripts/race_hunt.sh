#!/usr/bin/env bash
# scripts/race_hunt.sh BUILD_DIR SECONDS - the concurrency tests under load.
#
# Runs the stress and fault-injection test programs of BUILD_DIR (a
# sanitizer preset's build) in rounds, three copies of each at once on the
# machine's cores, until SECONDS have passed. Races in the library's
# lifecycle protocols show up mostly when threads are preempted inside their
# windows, which a run on an idle machine rarely does (the kmem pin
# protocol's bugs failed 1 run in 8 under this load and never alone). Exit 1
# and the failing program's output on the first failure; each round is
# bounded by the tests' own bounded durations.
set -uo pipefail
dir=$1 seconds=$2
progs=(stress_charge_churn_test stress_reclaim_churn_test stress_slab_churn_test fault_fault_injection_test
       charge_reservation_test slab_reparent_test reclaim_oom_serial_test core_notify_test
       reclaim_stat_monotonic_test)
for p in "${progs[@]}"; do
  [[ -x "$dir/tests/$p" ]] || { echo "race_hunt: missing $dir/tests/$p" >&2; exit 2; }
done
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
end=$((SECONDS + seconds))
rounds=0
while [[ $SECONDS -lt $end ]]; do
  pids=()
  for p in "${progs[@]}"; do
    for copy in 1 2 3; do
      "$dir/tests/$p" >"$logs/$p.$copy" 2>&1 &
      pids+=("$!:$p.$copy")
    done
  done
  failed=""
  for entry in "${pids[@]}"; do
    wait "${entry%%:*}" || failed="$failed ${entry#*:}"
  done
  rounds=$((rounds + 1))
  if [[ -n "$failed" ]]; then
    for f in $failed; do
      echo "race_hunt: $f failed in round $rounds; its output:" >&2
      tail -n 60 "$logs/$f" >&2
    done
    exit 1
  fi
done
echo "race_hunt: $rounds rounds of ${#progs[@]} programs x 3 copies, no failure"
