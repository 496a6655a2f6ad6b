#include "density/many_groups.hpp"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"

namespace density_bench {
namespace {

void measure_memcg(ManyGroupsResult& r) {
  const int G = r.groups;
  memcg::Group root = memcg::Group::root();
  memcg::Group parent = root.create("density_groups");
  // Every container is sized and touched before the first reading, so that
  // its pages are not counted as the groups' cost.
  std::vector<memcg::Group> groups(G);
  std::vector<void*> objs(std::size_t(G) * kSetSizes, nullptr);
  char name[32];
  malloc_trim(0);
  memcg::barrier();
  r.rss0 = rss_bytes();
  r.root0 = root.current();
  for (int i = 0; i < G; ++i) {
    std::snprintf(name, sizeof name, "g%d", i);
    groups[i] = parent.create(name);
  }
  r.rss1 = rss_bytes();
  r.root1 = root.current();
  for (int i = 0; i < G && !r.error; ++i) {
    memcg::ScopedGroup scope(groups[i]);
    for (int c = 0; c < kSetSizes; ++c) {
      void* p = memcg::kmalloc(kSetSize[c]);
      if (!p) {
        std::fprintf(stderr, "density_bench (b): kmalloc(%zu) failed in group %d\n", kSetSize[c], i);
        r.error = true;
        break;
      }
      std::memset(p, 0x5a, kSetSize[c]);
      objs[std::size_t(i) * kSetSizes + c] = p;
      if (i == 0) r.usable_per_group += memcg::ksize(p);
    }
  }
  r.rss2 = rss_bytes();
  r.root2 = root.current();
  r.parent_current = parent.current();
  for (void* p : objs) memcg::kfree(p);
  for (memcg::Group& g : groups) g.remove();
  groups.clear();
  groups.shrink_to_fit();
  parent.remove();
  parent = memcg::Group();
  memcg::barrier();
  r.rss3 = rss_bytes();
  r.root3 = root.current();
}

void measure_glibc(ManyGroupsResult& r) {
  const std::size_t n = std::size_t(r.groups) * kSetSizes;
  std::vector<void*> objs(n, nullptr);
  malloc_trim(0);
  r.glibc_rss0 = rss_bytes();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t size = kSetSize[i % kSetSizes];
    objs[i] = std::malloc(size);
    if (!objs[i]) {
      std::fprintf(stderr, "density_bench (b): malloc(%zu) failed\n", size);
      r.error = true;
      break;
    }
    std::memset(objs[i], 0x5a, size);
    if (i < kSetSizes) r.glibc_live_per_set += malloc_usable_size(objs[i]);
  }
  r.glibc_rss1 = rss_bytes();
  for (void* p : objs) std::free(p);
  malloc_trim(0);
}

}  // namespace

ManyGroupsResult run_many_groups(int groups) {
  ManyGroupsResult r;
  r.groups = groups;
  for (std::size_t s : kSetSize) r.live_per_group += s;
  try {
    measure_memcg(r);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "density_bench (b): %s\n", e.what());
    r.error = true;
  }
  if (!r.error) measure_glibc(r);
  return r;
}

void print_many_groups(const ManyGroupsResult& r, std::vector<TargetRow>* targets) {
  std::printf("\n(b) MANY GROUPS  %d groups, each holding one kmalloc object of", r.groups);
  for (std::size_t s : kSetSize) std::printf(" %zu", s);
  std::printf(" B\n    (live bytes per group: %llu requested, %llu usable); per group = growth / %d\n",
              static_cast<unsigned long long>(r.live_per_group), static_cast<unsigned long long>(r.usable_per_group),
              r.groups);
  if (r.error) {
    std::printf("    FAILED (see stderr)\n");
    return;
  }
  std::printf("    %-44s %12s %12s\n", "", "process RSS", "root current");
  std::printf("    %-44s %12s %12s\n", "per group, creating the groups (no objects)", human(r.rss_per_group_created()).c_str(),
              human((double(r.root1) - double(r.root0)) / r.groups).c_str());
  std::printf("    %-44s %12s %12s\n", "per group, all of it (groups + objects)",
              human((double(r.rss2) - double(r.rss0)) / r.groups).c_str(),
              human((double(r.root2) - double(r.root0)) / r.groups).c_str());
  std::printf("    %-44s %12s %12s\n", "per group beyond its live bytes", human(r.rss_per_group_beyond_live()).c_str(),
              human(r.current_per_group_beyond_live()).c_str());
  std::printf("    totals: RSS %+.2f MiB, root memory.current %+.2f MiB (the parent's %s)\n",
              (double(r.rss2) - double(r.rss0)) / 1048576.0, (double(r.root2) - double(r.root0)) / 1048576.0,
              human(double(r.parent_current)).c_str());
  std::printf("    after freeing, removing the groups and barrier(): RSS %+.2f MiB, root memory.current %+.2f MiB\n"
              "      (against the start)\n",
              (double(r.rss3) - double(r.rss0)) / 1048576.0, (double(r.root3) - double(r.root0)) / 1048576.0);
  std::printf("    glibc malloc, the same %d sets (reference, no groups): RSS %s per set beyond its live bytes\n"
              "      (%s per set, malloc_usable_size %llu B)\n",
              r.groups, human(r.glibc_rss_per_set_beyond_live()).c_str(),
              human((double(r.glibc_rss1) - double(r.glibc_rss0)) / r.groups).c_str(),
              static_cast<unsigned long long>(r.glibc_live_per_set));
  if (!targets) return;
  targets->push_back({"(b) RSS per group beyond its live bytes", "<= 2.0 KiB", human(r.rss_per_group_beyond_live()),
                      "36 KiB", r.rss_per_group_beyond_live() <= kGroupTarget});
  targets->push_back({"(b) root memory.current per group beyond live bytes", "<= 2.0 KiB",
                      human(r.current_per_group_beyond_live()), "- (its 36 KiB is RSS)",
                      r.current_per_group_beyond_live() <= kGroupTarget});
}

}  // namespace density_bench
