// memcg/memcg.hpp - memory cgroups for C++ processes. Umbrella header.
//
// A tree of groups (tenants, queries, subsystems) with hierarchical memory
// accounting and cgroup-v2 limits (min/low/high/max), per-group charge
// stocks, raw reservations and a cgroupfs-like text tree.
//
//   #include <memcg/memcg.hpp>
//   memcg::Group tenants = memcg::Group::root().create("tenants");
//   memcg::Group a = tenants.create("a");
//   a.set_max(64 << 20);
//   std::error_code ec;
//   auto r = memcg::Reservation::try_make(a, 1 << 20, ec);   // charged to a and tenants
//   std::string usage = memcg::fs::read("/tenants/a/memory.current");
//   a.remove();                        // rmdir; r stays valid and uncharges later
//
// Cost model (release build, one core, see bench/charge_bench.cpp):
//   charge+uncharge of <= 64 KiB served by the thread's stock   ~ a few ns
//   charge that refills the stock (one CAS per ancestor)        ~ 10 ns x depth
//   Group copy / destruction                                    one atomic RMW
//   create / remove / open / fs::*                              a mutex, microseconds
//
// Limits: groups are per process and do not survive fork() in the child's
// favour (the child inherits a snapshot; do not use it there). Code running
// inside an RCU read section must not call barrier() or remove().
#pragma once

#include "memcg/cache.hpp"
#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "memcg/list_lru.hpp"
#include "memcg/reservation.hpp"
#include "memcg/shrinker.hpp"
#include "memcg/types.hpp"
