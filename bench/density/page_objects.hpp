// (c) What page-sized objects are charged: one group allocates kPageBytes of
// 4096-byte objects from one memcg::Cache (default CacheOptions), from one
// thread inside a ScopedGroup, writing each whole; memory.current of the
// group is read with all of them live. Then they are freed, the cache
// destroyed and the group removed.
#pragma once

#include <cstdint>
#include <vector>

#include "density/report.hpp"

namespace density_bench {

inline constexpr std::size_t kPageObject = 4096;
inline constexpr std::uint64_t kPageBytes = std::uint64_t{150} << 20;
inline constexpr std::uint64_t kPageTarget = std::uint64_t{153} << 20;  // memory.current, at most

struct PageObjectsResult {
  std::uint64_t objects = 0;
  std::uint64_t current = 0;    // the group's memory.current, all objects live
  std::uint64_t slab = 0;       // its memory.stat slab
  std::uint64_t rss_delta = 0;  // process RSS growth over the allocation
  bool error = false;
};

PageObjectsResult run_page_objects();
void print_page_objects(const PageObjectsResult& r, std::vector<TargetRow>* targets);

}  // namespace density_bench
