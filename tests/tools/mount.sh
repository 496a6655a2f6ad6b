#!/usr/bin/env bash
# memcgctl mount: a running process's tree through FUSE 3, used by real
# coreutils: ls, cat, echo >, mkdir, rmdir do what they do on cgroupfs and
# fail with the same errno; the mount goes away when the mount command is
# stopped, and when the serving process exits.
#   mount.sh MEMCGCTL DEMO_SECONDS        (exit 77: /dev/fuse not usable)
set -uo pipefail
ctl=$1 seconds=$2
if [[ ! -c /dev/fuse ]] || ! command -v fusermount3 >/dev/null || ! command -v mountpoint >/dev/null; then
  echo "mount.sh: skipped: /dev/fuse, fusermount3 or mountpoint missing (apt-get install fuse3)"
  exit 77
fi
work=$(mktemp -d /tmp/memcgctl-mount-XXXXXX)
sock=$work/sock mnt=$work/mnt
mkdir "$mnt"
demo="" mounter=""
cleanup() {
  [[ -n $mounter ]] && kill "$mounter" 2>/dev/null
  mountpoint -q "$mnt" && fusermount3 -u -z "$mnt"
  [[ -n $demo ]] && kill "$demo" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "mount.sh: $*" >&2; exit 1; }
wait_mounted() {  # wait_mounted yes|no
  for _ in $(seq 100); do
    if [[ $1 == yes ]]; then mountpoint -q "$mnt" && return 0; else mountpoint -q "$mnt" || return 0; fi
    sleep 0.1
  done
  return 1
}

"$ctl" demo --seconds "$seconds" --no-live --socket "$sock" >"$work/demo.out" 2>&1 &
demo=$!
for _ in $(seq 200); do "$ctl" ls / --attach "$sock" >/dev/null 2>&1 && break; sleep 0.1; done
"$ctl" ls / --attach "$sock" >/dev/null 2>&1 || fail "the demo never served $sock"

"$ctl" mount --attach "$sock" "$mnt" 2>"$work/mount.err" &
mounter=$!
if ! wait_mounted yes; then
  if grep -q "cannot mount" "$work/mount.err"; then
    echo "mount.sh: skipped: /dev/fuse is not usable here: $(cat "$work/mount.err")"
    exit 77
  fi
  fail "not mounted: $(cat "$work/mount.err")"
fi

ls "$mnt" | grep -qx tenants || fail "ls: no tenants"
ls "$mnt" | grep -qx memory.current || fail "ls: no memory.current"
[[ -d $mnt/tenants/gold ]] || fail "tenants/gold is not a directory"
[[ $(cat "$mnt/tenants/memory.max") == 67108864 ]] || fail "cat tenants/memory.max: $(cat "$mnt/tenants/memory.max")"
mkdir "$mnt/fusegrp" || fail "mkdir"
echo 2M >"$mnt/fusegrp/memory.max" || fail "echo 2M > memory.max"
[[ $(cat "$mnt/fusegrp/memory.max") == 2097152 ]] || fail "memory.max after echo 2M: $(cat "$mnt/fusegrp/memory.max")"
"$ctl" cat /fusegrp/memory.max --attach "$sock" | grep -qx 2097152 || fail "the process does not see the write"
err=$( (echo bogus >"$mnt/fusegrp/memory.max") 2>&1) && fail "echo bogus succeeded"
[[ $err == *"Invalid argument"* ]] || fail "echo bogus: '$err', want EINVAL"
err=$(cat "$mnt/nope/memory.max" 2>&1) && fail "cat of a missing group succeeded"
[[ $err == *"No such file or directory"* ]] || fail "cat of a missing group: '$err'"
err=$(mkdir "$mnt/fusegrp" 2>&1) && fail "mkdir of an existing group succeeded"
[[ $err == *"File exists"* ]] || fail "mkdir twice: '$err'"
grep -q '^low ' "$mnt/tenants/gold/memory.events" || fail "grep on memory.events"
rmdir "$mnt/fusegrp" || fail "rmdir"
[[ ! -e $mnt/fusegrp ]] || fail "fusegrp still there after rmdir"

# Stopping the mount command unmounts.
kill -TERM "$mounter"
wait "$mounter"
mounter=""
wait_mounted no || fail "still mounted after the mount command was stopped"

# The serving process exiting unmounts too.
"$ctl" mount --attach "$sock" "$mnt" 2>"$work/mount.err" &
mounter=$!
wait_mounted yes || fail "second mount: $(cat "$work/mount.err")"
wait "$demo" || fail "the demo failed: $(tail -20 "$work/demo.out")"
demo=""
wait_mounted no || fail "still mounted after the serving process exited"
wait "$mounter"
mounter=""
echo "mount.sh: ok"
