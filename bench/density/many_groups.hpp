// (b) What a group costs: G groups (children of one parent) each hold one
// kmalloc object of each of kSetSizes size classes (16 .. 2048 B), allocated
// from one thread inside a ScopedGroup per group and written whole. Process
// RSS (/proc/self/statm) and root memory.current are read before the groups
// are created, after they are created, and after the objects are allocated;
// the cost of a group is the growth divided by G, minus the group's live
// bytes. Then everything is freed, the groups removed and memcg::barrier()
// waits for them to be freed. For reference, the same object sets from
// glibc malloc (after malloc_trim, so that freed heap is not reused).
#pragma once

#include <cstdint>
#include <vector>

#include "density/report.hpp"

namespace density_bench {

inline constexpr int kSetSizes = 8;
inline constexpr std::size_t kSetSize[kSetSizes] = {16, 32, 64, 128, 256, 512, 1024, 2048};
inline constexpr double kGroupTarget = 2048;  // bytes per group beyond its live bytes, at most

struct ManyGroupsResult {
  int groups = 0;
  std::uint64_t live_per_group = 0;     // requested bytes of one set (the sum of kSetSize)
  std::uint64_t usable_per_group = 0;   // ksize() sum of one set
  std::uint64_t rss0 = 0, rss1 = 0, rss2 = 0, rss3 = 0;  // start, groups created, objects, all freed
  std::uint64_t root0 = 0, root1 = 0, root2 = 0, root3 = 0;  // root memory.current at the same points
  std::uint64_t parent_current = 0;     // the parent's memory.current with every object live
  std::uint64_t glibc_rss0 = 0, glibc_rss1 = 0;  // glibc reference: before and with every set live
  std::uint64_t glibc_live_per_set = 0;          // malloc_usable_size sum of one set
  bool error = false;

  double rss_per_group_created() const { return (double(rss1) - double(rss0)) / groups; }
  double rss_per_group_beyond_live() const {
    return (double(rss2) - double(rss0)) / groups - double(live_per_group);
  }
  double current_per_group_beyond_live() const {
    return (double(root2) - double(root0)) / groups - double(live_per_group);
  }
  double glibc_rss_per_set_beyond_live() const {
    return (double(glibc_rss1) - double(glibc_rss0)) / groups - double(live_per_group);
  }
};

ManyGroupsResult run_many_groups(int groups);
void print_many_groups(const ManyGroupsResult& r, std::vector<TargetRow>* targets);

}  // namespace density_bench
