// memcg/memcg.hpp - memory cgroups for C++ processes. Umbrella header.
//
// A tree of groups (tenants, queries, subsystems) with hierarchical memory
// accounting and cgroup-v2 limits (min/low/high/max), per-thread charge
// stocks, raw reservations, slab object caches with per-group child caches
// and kmalloc, reclaim through shrinkers with the kernel's protection
// semantics, OOM handlers, and a cgroupfs-like text tree.
//
// Headers: group.hpp (tree, limits, counters, lifecycle, ScopedGroup,
// OOM handlers, reclaim), charge_flags.hpp (what a charge may do when
// memory is short), reservation.hpp, cache.hpp (Cache, TypedCache),
// kmalloc.hpp (kmalloc, Allocator, MemoryResource), shrinker.hpp,
// list_lru.hpp, fs.hpp (text tree), types.hpp (Bytes, Events, Stat and the
// error conventions: each fallible operation has a throwing form and a
// std::error_code& + noexcept form of the same name).
//
//   #include <memcg/memcg.hpp>
//   memcg::Group tenants = memcg::Group::root().create("tenants");
//   memcg::Group a = tenants.create("a");
//   a.set_max(64 << 20);
//   std::error_code ec;
//   auto r = memcg::Reservation::make(a, 1 << 20, ec);       // charged to a and tenants
//   std::string usage = memcg::fs::read("/tenants/a/memory.current");
//   a.remove();                        // rmdir; r stays valid and uncharges later
//
// Cost model (release build, 2-vCPU VM; bench/charge_bench, bench/slab_bench):
//   Cache::alloc + free, accounted, from the thread's magazine   ~6 ns (mimalloc malloc+free ~5.5 ns)
//   charge+uncharge of <= 64 KiB served by the thread's stock   ~5-7 ns, flat in depth
//   charge that walks the hierarchy (one CAS per ancestor)      ~15 ns per level
//   a new slab (64 KiB charged), a magazine refill              a cache lock, then the walk
//   Group copy / destruction                                    one atomic RMW
//   create / remove / open / fs::*                              a mutex, microseconds
//   remove() with threads caching the group                     one membarrier() per drain
//   a charge over memory.max / memory.high                      reclaim: shrinker calls
//
// Limits: groups are per process; after fork() only the forking thread's
// state is kept in the child (memcg-run's interposer handles this; library
// users should not keep using groups across fork without exec). Code running
// inside an RCU read section, a shrinker or an OOM handler must not call
// barrier(), remove groups or unregister shrinkers.
#pragma once

#include "memcg/cache.hpp"
#include "memcg/charge_error.hpp"
#include "memcg/charge_flags.hpp"
#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "memcg/list_lru.hpp"
#include "memcg/notify.hpp"
#include "memcg/reservation.hpp"
#include "memcg/shrinker.hpp"
#include "memcg/types.hpp"
