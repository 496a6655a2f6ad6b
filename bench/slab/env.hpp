// slab_bench's environment: the groups, caches and pools every workload
// uses, built once in main before any benchmark thread exists.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "memcg/cache.hpp"
#include "memcg/group.hpp"
#include "slab/config.hpp"
#include "slab/naive_pool.hpp"

namespace slab_bench {

struct Env {
  memcg::Group thread_group[2];  // benchmark thread i allocates into thread_group[i]
  memcg::Cache cache[kNumSizes];      // "slab_bench-64", ...: shared slabs (the default)
  memcg::Cache cache_iso[kNumSizes];  // "slab_bench-iso-64", ...: CacheOptions::isolate
  std::unique_ptr<NaivePool> naive[kNumSizes];
  memcg::Cache pc_cache;          // 256 B, producer/consumer
  memcg::Cache pc_cache_iso;      // the same, isolated
  std::unique_ptr<NaivePool> pc_naive;
  memcg::Group churn_parent;
  memcg::Cache churn_cache;       // 256 B
  memcg::Cache churn_cache_iso;   // the same, isolated
  memcg::Group rss_parent;
  std::uint64_t groups_baseline = 0;  // runtime_stats().groups_allocated once built
  int churn_seq = 0;
};
extern Env* g_env;

void build_env(Env& e);

/// --iterations=N (callgrind): every benchmark runs exactly N iterations.
inline benchmark::internal::Benchmark* with_iterations(benchmark::internal::Benchmark* b, long long fixed_iters) {
  if (fixed_iters > 0) b->Iterations(fixed_iters);
  return b;
}

}  // namespace slab_bench
