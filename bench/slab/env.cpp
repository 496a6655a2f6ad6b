#include "slab/env.hpp"

#include <string>

namespace slab_bench {

Env* g_env = nullptr;

void build_env(Env& e) {
  memcg::Group root = memcg::Group::root();
  // The isolated caches differ from the shared ones only in isolate (same
  // sizes, default alignment).
  memcg::CacheOptions iso;
  iso.isolate = true;
  for (int i = 0; i < 2; ++i) {
    e.thread_group[i] = root.create("slab_bench_t" + std::to_string(i));
    e.thread_group[i].set_max(kMax);
  }
  for (int s = 0; s < kNumSizes; ++s) {
    e.cache[s] = memcg::Cache::create("slab_bench-" + std::to_string(kSizes[s]), kSizes[s]);
    e.cache_iso[s] = memcg::Cache::create("slab_bench-iso-" + std::to_string(kSizes[s]), kSizes[s], iso);
    e.naive[s] = std::make_unique<NaivePool>(kSizes[s]);
  }
  e.pc_cache = memcg::Cache::create("slab_bench-pc-256", kPcSize);
  e.pc_cache_iso = memcg::Cache::create("slab_bench-pc-iso-256", kPcSize, iso);
  e.pc_naive = std::make_unique<NaivePool>(kPcSize);
  e.churn_parent = root.create("slab_bench_churn");
  e.churn_parent.set_max(kMax);
  e.churn_cache = memcg::Cache::create("slab_bench-churn-256", kChurnSize);
  e.churn_cache_iso = memcg::Cache::create("slab_bench-churn-iso-256", kChurnSize, iso);
  e.rss_parent = root.create("slab_bench_rss");
}

}  // namespace slab_bench
