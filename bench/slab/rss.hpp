// slab_bench's RSS overhead measurement: G groups x 10 caches, L live
// objects per (group, cache); RSS (/proc/self/statm) and
// slab_runtime_stats() before and after; shared caches first, then isolated
// ones (CacheOptions::isolate: a child cache per (group, cache) pair). Run
// once, before the benchmarks, so that no freed slab of a benchmark is
// reused.
#pragma once

#include <cstdint>
#include <vector>

#include "memcg/cache.hpp"
#include "slab/config.hpp"
#include "slab/env.hpp"
#include "testing_stats.hpp"

namespace slab_bench {

struct RssResult {
  bool isolated = false;
  int groups = 0, live = 0;
  std::uint64_t rss0 = 0, rss1 = 0, rss2 = 0, rss3 = 0;  // start, groups made, objects live, all freed
  memcg::detail::SlabRuntimeStats s0, s1, s2, s3;
  std::uint64_t live_bytes = 0;
  std::uint64_t slabs_free_at_start = 0;  // free slabs that could be reused (resident already)
  bool failed = false;

  double pairs() const { return static_cast<double>(groups) * kRssCaches; }
  double group_creation_per_group() const { return (double(rss1) - double(rss0)) / groups; }
  double pair_rss() const { return (double(rss2) - double(rss1)) / pairs(); }
  double pair_overhead() const { return (double(rss2) - double(rss1) - double(live_bytes)) / pairs(); }
  double group_rss() const { return (double(rss2) - double(rss0)) / groups; }
  double group_overhead() const { return (double(rss2) - double(rss0) - double(live_bytes)) / groups; }
  double meta_per_pair() const { return (double(s2.metadata_bytes) - double(s1.metadata_bytes)) / pairs(); }
  double slabs_per_pair() const { return (double(s2.slabs_in_use) - double(s1.slabs_in_use)) / pairs(); }
};

/// One round per L in kRssLive, G groups each, under e.rss_parent: with
/// shared caches, then with isolated ones.
std::vector<RssResult> run_rss(Env& e, int G);

/// The RSS of a (group, cache) pair holding one object, per mode; -1 if not
/// measured.
struct PairRss {
  double shared = -1, isolated = -1;
};
/// The RSS OVERHEAD table (nothing when rss is empty).
PairRss print_rss_table(const std::vector<RssResult>& rss);

}  // namespace slab_bench
