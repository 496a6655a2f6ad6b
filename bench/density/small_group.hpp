// (a) How much a small group holds: a group with memory.max = 1M allocates
// kmalloc objects of kSmallSizes sizes (16 B .. 4 KiB, geometric), round-robin,
// from one thread inside a ScopedGroup, writing each whole, until kmalloc
// returns nullptr (the first ENOMEM). Then everything is freed and the group
// removed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "density/report.hpp"

namespace density_bench {

inline constexpr int kSmallSizes = 25;
inline constexpr std::uint64_t kSmallMax = 1 << 20;
inline constexpr double kSmallTarget = 0.9 * 1048576.0;  // live bytes, at least

struct SmallGroupResult {
  std::vector<std::size_t> sizes;      // the kSmallSizes request sizes
  std::uint64_t objects = 0;           // allocated before the first ENOMEM
  std::uint64_t requested = 0;         // their requested bytes
  std::uint64_t usable = 0;            // their ksize() bytes
  std::size_t failed_size = 0;         // the request that got nullptr (0: none did)
  std::uint64_t current_at_enomem = 0; // memory.current when it failed
  std::uint64_t slab_at_enomem = 0;    // memory.stat slab then
  std::uint64_t events_max = 0, events_oom = 0;
  std::uint64_t current_after_free = 0;  // memory.current with every object freed, before removal
  bool error = false;                  // a group operation threw (message printed)
};

SmallGroupResult run_small_group();
void print_small_group(const SmallGroupResult& r, std::vector<TargetRow>* targets);

}  // namespace density_bench
