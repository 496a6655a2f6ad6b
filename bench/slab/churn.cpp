#include "slab/churn.hpp"

#include <cstdio>
#include <cstring>
#include <string>

#include "slab/env.hpp"
#include "testing_stats.hpp"

namespace slab_bench {
namespace {

using memcg_bench::Sample;

// kIsolated: the Cache has CacheOptions::isolate, so every churned group
// creates its own child cache, which its removal destroys or (objects still
// live) reparents; otherwise the objects share slabs and their object cgroup
// is re-pointed to the parent.
template <bool kRemoveFirst, bool kIsolated>
void BM_churn(benchmark::State& state) {
  Env& e = *g_env;
  memcg::Cache cache = kIsolated ? e.churn_cache_iso : e.churn_cache;
  void* objs[kChurnObjects];
  char name[32];
  bool failed = false;
  for (auto _ : state) {
    std::snprintf(name, sizeof name, "c%d", e.churn_seq++);
    memcg::Group g = e.churn_parent.create(name);
    {
      memcg::ScopedGroup s(g);
      for (int i = 0; i < kChurnObjects; ++i) {
        void* p = cache.alloc();
        if (__builtin_expect(p == nullptr, 0)) failed = true;
        else *static_cast<char*>(p) = static_cast<char>(i);
        objs[i] = p;
      }
    }
    benchmark::DoNotOptimize(objs[kChurnObjects - 1]);
    if constexpr (kRemoveFirst) {
      g.remove();
      for (void* p : objs) memcg::Cache::free(p);  // charged to the parent now
    } else {
      for (void* p : objs) memcg::Cache::free(p);
      g.remove();
    }
    // g's handle goes here
  }
  state.SetItemsProcessed(state.iterations());
  // Groups churned but not yet freed (the worker and RCU free them later).
  state.counters["groups_pending"] =
      static_cast<double>(memcg::detail::runtime_stats().groups_allocated) - static_cast<double>(e.groups_baseline);
  if (failed) state.SkipWithError("allocation failed");
}

struct ChurnCase {
  const char* name;
  void (*fn)(benchmark::State&);
};
constexpr ChurnCase kChurnCases[] = {
    {"churn/free_then_remove", BM_churn<false, false>},
    {"churn/remove_then_free", BM_churn<true, false>},
    {"churn/iso_free_then_remove", BM_churn<false, true>},
    {"churn/iso_remove_then_free", BM_churn<true, true>},
};

}  // namespace

void register_churn(long long fixed_iters) {
  for (const auto& [name, fn] : kChurnCases)
    with_iterations(benchmark::RegisterBenchmark(name, fn)->UseRealTime(), fixed_iters);
}

void print_churn_table(const memcg_bench::CaptureReporter& rep, std::uint64_t groups_baseline,
                       std::uint64_t groups_after, std::uint64_t child_caches_after) {
  std::printf("\nCHURN  create group, %d x %zu B from a Cache in it, free, remove, drop the handle (iso_: the Cache\n"
              "       has CacheOptions::isolate, a child cache per group)\n",
              kChurnObjects, kChurnSize);
  for (const ChurnCase& cc : kChurnCases) {
    Sample s;
    if (!rep.get(cc.name, 1, &s)) continue;
    const char* v = cc.name + std::strlen("churn/");
    auto pend = s.counters.find("groups_pending");
    std::printf("  %-21s %10.0f groups/s  %8.2f us/group  (groups not yet freed at the end of the run: %.0f)\n", v,
                s.items_per_s, s.items_per_s > 0 ? 1e6 / s.items_per_s : 0.0,
                pend != s.counters.end() ? pend->second : -1.0);
  }
  std::printf("  after memcg::barrier(): runtime_stats().groups_allocated = %llu (baseline before the benchmarks %llu:"
              " %s); live child caches %llu\n",
              static_cast<unsigned long long>(groups_after), static_cast<unsigned long long>(groups_baseline),
              groups_after == groups_baseline ? "every churned group was freed" : "GROUPS LEAKED",
              static_cast<unsigned long long>(child_caches_after));
}

}  // namespace slab_bench
