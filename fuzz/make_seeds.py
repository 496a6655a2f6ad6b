#!/usr/bin/env python3
"""Writes the hand-made seeds 16-24 of fuzz/corpus/ from a symbolic form.

The input format is decoded by run_input() in fuzz/ops_fuzzer.cpp: one
opcode byte (taken modulo 22), then its operand bytes. Group operands are
picks: with the top group allowed, 0 is the input's top group and k is the
k-th group made (k-1 in the model); without it (rmdir, limit writes, peak
reset, set_max), k-1 names the k-th group. Trace a seed with
  FZ_TRACE=1 build/fuzz/fuzz/ops_fuzzer fuzz/corpus/<seed>
Run: python3 fuzz/make_seeds.py   (rewrites only the files listed below).
"""
import os

TOP = 0                     # pick of the top group
def g(k): return k          # pick of the k-th group made (1-based), top allowed
def w(k): return k - 1      # pick of the k-th group made, top not allowed

NAMES = {"a": 0, "b": 1, "c": 2}
VALUES = {"max": 0, "0": 1, "4096": 2, "64K": 3, "1M": 4, "16M": 7, "1G": 8, "": 15, "-1": 17}
FILES = {"min": 0, "low": 1, "high": 2, "max": 3}
READS = {"current": 0, "min": 1, "low": 2, "high": 3, "max": 4, "peak": 5, "events": 6, "events.local": 7,
         "stat": 8, "cgroup.stat": 9, "slabinfo": 10, "reclaim": 14}
SIZES = {1: 0, 8: 1, 24: 2, 100: 3, 512: 4, 1000: 5, 4096: 6, 8192: 7, 8193: 8, 70000: 9, 300000: 10}
KIND = {"small": 0, "big": 1, "kmalloc": 2}

def u16(v): assert 0 <= v < 65536; return [v & 0xff, v >> 8]
def mkdir(parent, name): return [0, parent, NAMES[name]]
def rmdir(k): return [2, k]
def write(k, f, value): return [3, k, FILES[f], VALUES[value]]
def alloc(pick, kind, size): return [5, pick, KIND[kind], SIZES[size]]
def alloc_current(kind, size): return [7, KIND[kind], SIZES[size]]
def free(idx): return [8] + u16(idx)
def reserve(pick, value, shift=0): return [10, pick] + u16(value) + [shift]
def grow(idx, value, shift=0): return [11] + u16(idx) + [0] + u16(value) + [shift]
def shrink_res(idx, value, shift=0): return [11] + u16(idx) + [1] + u16(value) + [shift]
def reclaim(pick, bytes_): assert bytes_ % 64 == 0; return [12, pick] + u16(bytes_ >> 6)
def read(pick, f): return [13, pick, READS[f]]
def scoped(pick): return [14, pick]
def other_thread(): return [15]
def checkpoint(): return [16]
def peak_reset(k): return [17, k]
def set_max(k, v): assert v % 256 == 0; return [18, k] + u16(v >> 8)
def free_group(pick): return [19, pick]
def cache_shrink(): return [20]
def fs_reclaim_value(pick, value): return [21, pick, VALUES[value]]
def fs_reclaim_bytes(pick, v, shift): return [21, pick, 128 + (shift - 128) % 12] + u16(v)  # v << shift

SEEDS = {
    # Found by the model (a library bug, fixed in src/reclaim/reclaim.cpp):
    # an object freed on another thread sits in that thread's magazine, so
    # only Group::reclaim's last attempt (which flushes every thread's
    # magazines) frees its slab; those 64K were not counted: reclaim(64K)
    # returned 0 and EAGAIN although current fell by 64K. (The isolated
    # cache: its slabs are charged to the group.)
    "16_reclaim_counts_final_drain": [
        *mkdir(TOP, "a"), *alloc(g(1), "small", 1), *other_thread(), *free(0), *reclaim(g(1), 65536)],
    # A limit refusal: 32K + 64K over a 64K max must fail (the model's usage
    # alone decides), with a max event, failcnt and one oom event at a.
    "17_reservation_must_fail": [
        *mkdir(TOP, "a"), *write(w(1), "max", "64K"), *reserve(g(1), 32768), *reserve(g(1), 65535, 0),
        *read(g(1), "events.local"), *grow(0, 16384), *grow(0, 32768), *read(g(1), "events"), *read(TOP, "events"),
        *checkpoint()],
    # Large kmallocs: 70000 bytes (73728 charged) over a 64K max fails;
    # 8193 (12288 charged, one batch) fits; memory.stat counts it exactly.
    "18_large_kmalloc_over_max": [
        *mkdir(TOP, "a"), *set_max(w(1), 65536), *alloc(g(1), "kmalloc", 70000), *alloc(g(1), "kmalloc", 8193),
        *read(g(1), "stat"), *read(g(1), "events.local"), *free(0), *read(g(1), "stat"), *checkpoint()],
    # A max written below usage that cannot be reclaimed: exactly one oom
    # event at a, current stays above max, every charge there fails.
    "19_max_below_usage_oom": [
        *mkdir(TOP, "a"), *mkdir(g(1), "b"), *reserve(g(2), 25000, 2), *write(w(1), "max", "4096"),
        *read(g(1), "events.local"), *read(g(1), "current"), *reserve(g(2), 64), *alloc(g(2), "small", 1),
        *shrink_res(0, 25000, 2), *read(g(1), "max"), *checkpoint()],
    # A thread inside a removed group's ScopedGroup allocates: shared objects
    # (fz-big, kmalloc) are charged through b's object cgroup, re-pointed to
    # a; the isolated cache's slab goes to a's child cache (checked at the
    # checkpoint, in a's memory.stat and memory.kmem.slabinfo).
    "20_removed_group_slab_goes_up": [
        *mkdir(TOP, "a"), *mkdir(g(1), "b"), *scoped(g(2)), *alloc_current("big", 1000), *rmdir(w(2)),
        *alloc_current("big", 1000), *alloc_current("kmalloc", 100), *alloc_current("small", 1),
        *read(g(1), "slabinfo"), *read(g(1), "stat"), *read(g(1), "cgroup.stat"), *checkpoint(),
        *reclaim(g(2), 65536)],
    # Cache::shrink after frees of the isolated cache on both threads: its
    # slabs back to what the live objects need; peak reset and re-read.
    "21_shrink_peak_reset": [
        *mkdir(TOP, "a"), *alloc(g(1), "small", 1), *alloc(g(1), "small", 1), *other_thread(), *free(1),
        *alloc(g(1), "small", 1), *other_thread(), *free(0), *cache_shrink(), *read(g(1), "stat"), *read(g(1), "peak"),
        *peak_reset(w(1)), *read(g(1), "peak"), *free_group(TOP), *cache_shrink(), *read(TOP, "slabinfo")],
    # memory.reclaim through the text tree: EINVAL for "max" and "", EAGAIN
    # when short (slabs bounded by the live objects), ENOENT once removed.
    "22_fs_memory_reclaim": [
        *mkdir(TOP, "a"), *alloc(g(1), "kmalloc", 512), *free(0), *fs_reclaim_value(g(1), "max"),
        *fs_reclaim_value(g(1), ""), *fs_reclaim_bytes(g(1), 256, 11), *fs_reclaim_value(g(1), "4096"),
        *read(g(1), "reclaim"), *rmdir(w(1)), *fs_reclaim_value(g(1), "4096"), *reclaim(g(1), 4096)],
    # Byte-precise charging of shared objects: under an 8K max, kmalloc(1000)
    # objects (1024-byte class + 8 = 1032 each, charged in 4K chunks) fit
    # seven times; the eighth must fail (the model's live bytes leave no
    # room and the object slot holds less than one object). A free on the
    # other thread stays charged there, a charged round of its magazine; the
    # checkpoint drains the slot and the rounds.
    "23_shared_bytes_under_max": [
        *mkdir(TOP, "a"), *set_max(w(1), 8192), *[b for _ in range(8) for b in alloc(g(1), "kmalloc", 1000)],
        *read(g(1), "stat"), *read(g(1), "events.local"), *other_thread(), *free(0), *read(g(1), "stat"),
        *checkpoint(), *read(g(1), "current")],
    # A removed group's shared objects: its object cgroup is re-pointed to
    # the parent with the charge (b's bytes appear on a, b is at 0); frees
    # on both threads then uncharge a; the isolated cache alongside.
    "24_shared_objects_reparented": [
        *mkdir(TOP, "a"), *mkdir(g(1), "b"), *alloc(g(2), "big", 1), *alloc(g(2), "kmalloc", 24),
        *alloc(g(2), "small", 1), *other_thread(), *alloc(g(2), "kmalloc", 8192), *rmdir(w(2)), *read(g(1), "stat"),
        *checkpoint(), *free(0), *other_thread(), *free(0), *alloc(g(2), "kmalloc", 512), *read(g(1), "stat"),
        *checkpoint(), *free_group(TOP), *checkpoint()],
}

def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for name, ops in SEEDS.items():
        with open(os.path.join(here, name), "wb") as f:
            f.write(bytes(ops))

if __name__ == "__main__":
    main()
