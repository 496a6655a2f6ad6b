#include "slab/churn.hpp"

#include <cstdio>
#include <string>

#include "slab/env.hpp"

namespace slab_bench {
namespace {

using memcg_bench::Sample;

template <bool kRemoveFirst>
void BM_churn(benchmark::State& state) {
  Env& e = *g_env;
  void* objs[kChurnObjects];
  char name[32];
  bool failed = false;
  for (auto _ : state) {
    std::snprintf(name, sizeof name, "c%d", e.churn_seq++);
    memcg::Group g = e.churn_parent.create(name);
    {
      memcg::ScopedGroup s(g);
      for (int i = 0; i < kChurnObjects; ++i) {
        void* p = e.churn_cache.alloc();
        if (__builtin_expect(p == nullptr, 0)) failed = true;
        else *static_cast<char*>(p) = static_cast<char>(i);
        objs[i] = p;
      }
    }
    benchmark::DoNotOptimize(objs[kChurnObjects - 1]);
    if constexpr (kRemoveFirst) {
      g.remove();
      for (void* p : objs) memcg::Cache::free(p);  // reparented: straight to the slabs
    } else {
      for (void* p : objs) memcg::Cache::free(p);
      g.remove();
    }
    // g's handle goes here
  }
  state.SetItemsProcessed(state.iterations());
  // Groups churned but not yet freed (the worker and RCU free them later).
  state.counters["groups_pending"] =
      static_cast<double>(memcg::runtime_stats().groups_allocated) - static_cast<double>(e.groups_baseline);
  if (failed) state.SkipWithError("allocation failed");
}

}  // namespace

void register_churn(long long fixed_iters) {
  with_iterations(benchmark::RegisterBenchmark("churn/free_then_remove", BM_churn<false>)->UseRealTime(), fixed_iters);
  with_iterations(benchmark::RegisterBenchmark("churn/remove_then_free", BM_churn<true>)->UseRealTime(), fixed_iters);
}

void print_churn_table(const memcg_bench::CaptureReporter& rep, std::uint64_t groups_baseline,
                       std::uint64_t groups_after, std::uint64_t child_caches_after) {
  std::printf("\nCHURN  create group, %d x %zu B from a Cache in it, free, remove, drop the handle\n", kChurnObjects,
              kChurnSize);
  for (const char* v : {"free_then_remove", "remove_then_free"}) {
    Sample s;
    if (!rep.get(std::string("churn/") + v, 1, &s)) continue;
    auto pend = s.counters.find("groups_pending");
    std::printf("  %-17s %10.0f groups/s  %8.2f us/group  (groups not yet freed at the end of the run: %.0f)\n", v,
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
