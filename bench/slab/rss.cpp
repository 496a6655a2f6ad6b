#include "slab/rss.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include "harness/report.hpp"

namespace slab_bench {
namespace {

using memcg_bench::rss_bytes;

RssResult measure_rss(Env& e, std::vector<memcg::Cache>& caches, bool isolated, int G, int L, int round) {
  RssResult r;
  r.isolated = isolated;
  r.groups = G;
  r.live = L;
  std::vector<memcg::Group> groups;
  groups.reserve(G);
  std::vector<void*> objs;
  objs.reserve(std::size_t(G) * kRssCaches * L);
  std::vector<std::string> names;
  for (int i = 0; i < G; ++i) {
    char n[32];
    std::snprintf(n, sizeof n, "r%d_%d", round, i);
    names.emplace_back(n);
  }
  memcg::barrier();
  r.s0 = memcg::detail::slab_runtime_stats();
  r.slabs_free_at_start = r.s0.slabs_free;
  r.rss0 = rss_bytes();
  for (int i = 0; i < G; ++i) {
    groups.push_back(e.rss_parent.create(names[i]));
    groups.back().set_max(kMax);
  }
  r.rss1 = rss_bytes();
  r.s1 = memcg::detail::slab_runtime_stats();
  for (int i = 0; i < G && !r.failed; ++i) {
    memcg::ScopedGroup s(groups[i]);
    for (int c = 0; c < kRssCaches && !r.failed; ++c) {
      for (int l = 0; l < L; ++l) {
        void* p = caches[c].alloc();
        if (!p) {
          r.failed = true;
          break;
        }
        std::memset(p, 0x5a, kRssSizes[c]);  // the user initialises its object
        objs.push_back(p);
        r.live_bytes += kRssSizes[c];
      }
    }
  }
  r.rss2 = rss_bytes();
  r.s2 = memcg::detail::slab_runtime_stats();
  for (void* p : objs) memcg::Cache::free(p);
  for (memcg::Group& g : groups) g.remove();
  groups.clear();
  memcg::barrier();
  r.rss3 = rss_bytes();
  r.s3 = memcg::detail::slab_runtime_stats();
  return r;
}

}  // namespace

std::vector<RssResult> run_rss(Env& e, int G) {
  std::vector<RssResult> out;
  int round = 0;
  for (bool isolated : {false, true}) {
    memcg::CacheOptions o;
    o.isolate = isolated;
    std::vector<memcg::Cache> caches;
    for (std::size_t s : kRssSizes)
      caches.push_back(memcg::Cache::create(
          std::string(isolated ? "slab_bench-rss-iso-" : "slab_bench-rss-") + std::to_string(s), s, o));
    for (int L : kRssLive) out.push_back(measure_rss(e, caches, isolated, G, L, round++));
    for (memcg::Cache& c : caches) {
      std::error_code ec;
      c.destroy(ec);
      if (ec) std::fprintf(stderr, "slab_bench: destroying an RSS cache: %s\n", ec.message().c_str());
    }
  }
  return out;
}

PairRss print_rss_table(const std::vector<RssResult>& rss) {
  PairRss pair_l1;
  if (!rss.empty()) {
    std::printf("\nRSS OVERHEAD  G=%d groups x %d caches (32..1024 B), L live objects per (group, cache), one thread;\n"
                "              measured before the benchmarks ran; bytes from /proc/self/statm; shared caches, then\n"
                "              isolated ones (CacheOptions::isolate: a child cache per pair)\n",
                rss.front().groups, kRssCaches);
    std::printf("%-4s %-4s %11s %11s %11s %11s %11s %10s %10s %10s %9s\n", "mode", "L", "grp create", "RSS/group",
                "ovh/group", "RSS/pair", "ovh/pair", "meta/pair", "slabs/pair", "live MiB", "freed");
    for (const RssResult& r : rss) {
      if (r.failed) {
        std::printf("%-4s %-4d allocation failed\n", r.isolated ? "iso" : "shr", r.live);
        continue;
      }
      // freed: RSS after freeing everything and removing the groups, relative to before.
      std::printf("%-4s %-4d %11.0f %11.0f %11.0f %11.0f %11.0f %10.0f %10.3f %10.2f %8.1f%%\n",
                  r.isolated ? "iso" : "shr", r.live,
                  r.group_creation_per_group(), r.group_rss(), r.group_overhead(), r.pair_rss(), r.pair_overhead(),
                  r.meta_per_pair(), r.slabs_per_pair(), r.live_bytes / 1048576.0,
                  r.rss2 > r.rss0 ? 100.0 * (double(r.rss2) - double(r.rss3)) / (double(r.rss2) - double(r.rss0))
                                  : 0.0);
      if (r.live == 1) (r.isolated ? pair_l1.isolated : pair_l1.shared) = r.pair_rss();
    }
    std::printf("  mode shr = shared caches (the default), iso = isolated caches;\n"
                "  grp create = RSS of creating a group (no allocation), per group; RSS/group = all of it per group;\n"
                "  ovh = minus the bytes of the live objects; pair = one (group, cache): the group's objects of that\n"
                "  cache (iso: its child cache), allocation phase only; meta = slab_runtime_stats().metadata_bytes;\n"
                "  slabs = slabs_in_use (64 KiB virtual each);\n"
                "  freed = share of the added RSS returned after freeing, removing the groups and barrier().\n"
                "  free slabs already resident at the start of each round (reusable, so not counted): ");
    for (const RssResult& r : rss)
      std::printf("%s L=%d: %llu  ", r.isolated ? "iso" : "shr", r.live,
                  static_cast<unsigned long long>(r.slabs_free_at_start));
    std::printf("\n  after each round (all freed, groups removed, barrier()), against its start:");
    for (const RssResult& r : rss)
      std::printf("\n    %s L=%-3d RSS %+.1f KiB, metadata %+lld B, slabs in use %+lld, free slabs %llu, child caches %+lld",
                  r.isolated ? "iso" : "shr", r.live, (double(r.rss3) - double(r.rss0)) / 1024.0,
                  static_cast<long long>(r.s3.metadata_bytes) - static_cast<long long>(r.s0.metadata_bytes),
                  static_cast<long long>(r.s3.slabs_in_use) - static_cast<long long>(r.s0.slabs_in_use),
                  static_cast<unsigned long long>(r.s3.slabs_free),
                  static_cast<long long>(r.s3.child_caches) - static_cast<long long>(r.s0.child_caches));
    std::printf("\n");
  }
  return pair_l1;
}

}  // namespace slab_bench
