// Medium kmalloc blocks (above kMaxSmallSize, page-rounded length with the
// header up to 512 KiB): runs of page-source units in shared slab regions,
// not a mapping each. Books, ksize, alignment, kzalloc on reused units,
// group removal while a block is held, and frees on other threads.
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "memcg/kmalloc.hpp"
#include "memcg/memcg.hpp"
#include "slab/page_source.hpp"
#include "slab/slab.hpp"

namespace memcg::detail {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kHeader = 64;  // kmalloc.cpp kLargeMinOffset
constexpr std::size_t kMaxMedium = 8 * kSlabSize - kHeader;  // the largest medium size

std::size_t charged_len(std::size_t size) { return (kHeader + size + kPage - 1) & ~(kPage - 1); }

std::size_t mapping_count() {
  std::ifstream f("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}

// Many live blocks share regions: the process's mappings grow by about one
// per 4 MiB region, not one per block (a mapping each ran into
// vm.max_map_count, 65,530, at about 64 K live blocks).
TEST(Medium, ManyLiveBlocksShareRegionsNotMappings) {
  Group g = Group::root().create("medium_many");
  constexpr int kBlocks = 5000;
  constexpr std::size_t kSize = 20000;
  const std::size_t maps0 = mapping_count();
  std::vector<char*> blocks;
  blocks.reserve(kBlocks);
  for (int i = 0; i < kBlocks; ++i) {
    auto* p = static_cast<char*>(kmalloc(kSize, g));
    ASSERT_NE(p, nullptr) << i;
    p[0] = static_cast<char>(i);
    p[kSize - 1] = static_cast<char>(i);
    blocks.push_back(p);
  }
  const std::size_t grown = mapping_count() - maps0;
  // About one region (4 MiB, 63 units) per 63 blocks; sanitizers map
  // shadow memory beside each region (TSan: 256 here).
  EXPECT_LT(grown, static_cast<std::size_t>(kBlocks / 10)) << "mappings added for " << kBlocks << " blocks";
  EXPECT_EQ(g.stat().kmalloc_large, kBlocks * charged_len(kSize));
  EXPECT_EQ(g.current(), kBlocks * charged_len(kSize) + g.stat().stock);
  for (int i = 0; i < kBlocks; ++i) {
    ASSERT_EQ(blocks[i][0], static_cast<char>(i));
    ASSERT_EQ(blocks[i][kSize - 1], static_cast<char>(i));
    kfree(blocks[i]);
  }
  EXPECT_EQ(g.stat().kmalloc_large, 0u);
  g.remove();
}

// Every size from just above kMaxSmallSize to the largest medium size is a
// run in a slab region, its header where a slab's would be; one byte more
// is a large block (a span of its own).
TEST(Medium, SizesUpTo512KiBAreRunsInSlabRegions) {
  Group g = Group::root().create("medium_sizes");
  for (std::size_t n : {kMaxSmallSize + 1, std::size_t{20000}, kSlabSize - kHeader, kSlabSize - kHeader + 1,
                        std::size_t{300000}, kMaxMedium, kMaxMedium + 1, std::size_t{1} << 20}) {
    auto* p = static_cast<unsigned char*>(kmalloc(n, g));
    ASSERT_NE(p, nullptr) << n;
    const bool medium = n <= kMaxMedium;
    EXPECT_EQ(span_kind(p), medium ? kRegionKind : kLargeKind) << n;
    if (medium) {
      EXPECT_EQ(Slab::of(p)->kind, kMediumKind) << n;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(Slab::of(p)), kHeader) << n;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(Slab::of(p)) % kSlabSize, 0u) << n;
    }
    EXPECT_EQ(ksize(p), charged_len(n) - kHeader) << n;
    EXPECT_EQ(kmalloc_size_roundup(n), ksize(p)) << n;
    EXPECT_EQ(g.stat().kmalloc_large, charged_len(n)) << n;
    std::memset(p, 0x77, ksize(p));  // the whole usable size is ours
    kfree(p);
    EXPECT_EQ(g.stat().kmalloc_large, 0u) << n;
  }
  g.remove();
}

// A run's units may have held an earlier block: kzalloc clears it whole.
TEST(Medium, KzallocClearsReusedUnits) {
  Group g = Group::root().create("medium_zero");
  for (int round = 0; round < 20; ++round) {
    const std::size_t n = 16500 + static_cast<std::size_t>(round) * 25000;
    auto* p = static_cast<unsigned char*>(kmalloc(n, g));
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xab, n);
    kfree(p);
    auto* q = static_cast<unsigned char*>(kzalloc(n, g));
    ASSERT_NE(q, nullptr);
    std::size_t nonzero = 0;
    for (std::size_t i = 0; i < n; ++i) nonzero += q[i] != 0;
    EXPECT_EQ(nonzero, 0u) << n;
    kfree(q);
  }
  g.remove();
}

// Units never used (or purged) hold zeros past their first page: kzalloc
// clears only the first page of each, and does not fault in the rest.
// (Each test runs in a process of its own under ctest: the first medium
// block comes from fresh units.)
TEST(Medium, KzallocOnFreshUnitsClearsOnlyTheirFirstPages) {
  Group g = Group::root().create("medium_fresh");
  constexpr std::size_t n = 7 * kSlabSize - kHeader - kPage;  // seven units
  auto* p = static_cast<unsigned char*>(kzalloc(n, g));
  ASSERT_NE(p, nullptr);
  std::vector<unsigned char> v((kHeader + n + kPage - 1) / kPage);
  ASSERT_EQ(::mincore(Slab::of(p), kHeader + n, v.data()), 0);
  std::size_t resident = 0;
  for (unsigned char b : v) resident += b & 1;
  EXPECT_LE(resident, 7u) << "one page per unit, not " << n / kPage;
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < n; ++i) nonzero += p[i] != 0;
  EXPECT_EQ(nonzero, 0u);
  kfree(p);
  g.remove();
}

// Freed units stay resident within the page source's budget: half the most
// units in use within the window (about a second), at least 64. Once the
// window restarts, frees purge the excess, at most 64 units each. (Under
// ctest each test has a process of its own: no earlier test's peak.)
TEST(Medium, FreedUnitsStayResidentWithinTheBudgetWhichFollowsUseDown) {
  Group g = Group::root().create("medium_budget");
  constexpr int kBlocks = 600;
  constexpr std::size_t kSize = kSlabSize - kHeader;  // one unit each
  std::vector<char*> blocks;
  for (int i = 0; i < kBlocks; ++i) {
    auto* p = static_cast<char*>(kmalloc(kSize, g));
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, kSize);
    blocks.push_back(p);
  }
  // A block in every 60 stays, so that no region is all free (those are
  // unmapped, their units with them, beyond one).
  const auto peak = page_source::stats();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kBlocks; ++i)
    if (i % 60 != 0) kfree(blocks[i]);
  const auto freed = page_source::stats();
  EXPECT_LE(freed.slabs_dirty, peak.slabs_in_use / 2 + 1) << "within half the peak";
  if (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(900))  // the same window
    EXPECT_GE(freed.slabs_dirty + 1, peak.slabs_in_use / 2) << "the rest kept for reuse";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the window restarts
  std::size_t before = freed.slabs_dirty;
  for (int i = 0; i < 20 && before > kDirtySlabsMax; ++i) {
    void* p = kmalloc(kSize, g);
    ASSERT_NE(p, nullptr);
    kfree(p);
    const std::size_t after = page_source::stats().slabs_dirty;
    EXPECT_GE(after + 64, before) << "at most 64 purges a free";
    before = after;
  }
  EXPECT_LE(before, kDirtySlabsMax + 1) << "the budget followed use down";
  for (int i = 0; i < kBlocks; i += 60) kfree(blocks[i]);
  g.remove();
}

TEST(Medium, AlignedBlocks) {
  Group g = Group::root().create("medium_align");
  for (std::size_t align : {std::size_t{128}, std::size_t{4096}, std::size_t{1} << 15}) {
    auto* p = static_cast<char*>(kmalloc_aligned(20000, align, g));
    ASSERT_NE(p, nullptr) << align;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << align;
    EXPECT_EQ(Slab::of(p)->kind, kMediumKind) << align;
    EXPECT_GE(ksize(p), 20000u) << align;
    std::memset(p, 1, 20000);
    kfree(p);
  }
  EXPECT_EQ(g.stat().kmalloc_large, 0u);
  g.remove();
}

// A block keeps its group (pinned) after the group is removed; its charge
// stays in the parent's hierarchical usage until it is freed.
TEST(Medium, ABlockOutlivesItsGroupsRemoval) {
  Group parent = Group::root().create("medium_parent");
  Group child = parent.create("child");
  void* p = kmalloc(100000, child);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Slab::of(p)->kind, kMediumKind);
  const std::size_t len = charged_len(100000);
  EXPECT_GE(parent.current(), len);
  child.remove();
  EXPECT_GE(parent.current(), len);
  kfree(p);
  EXPECT_EQ(parent.stat().kmalloc_large, 0u);
  EXPECT_LT(parent.current(), len) << "the charge left with the block";
  parent.remove();
}

// Threads allocate medium blocks and hand them to other threads, which check
// and free them; the books end at zero. (TSan: the page source's lists.)
TEST(Medium, BlocksFreedOnOtherThreadsKeepContentsAndBooks) {
  Group g = Group::root().create("medium_threads");
  constexpr int kThreads = 4, kPerThread = 400;
  std::mutex mu;
  std::vector<std::pair<unsigned char*, std::size_t>> handed;
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < kPerThread; ++i) {
        const std::size_t n = kMaxSmallSize + 1 + rng() % (kMaxMedium - kMaxSmallSize);
        auto* p = static_cast<unsigned char*>(kmalloc(n, g));
        if (!p) {
          bad.fetch_add(1);
          continue;
        }
        std::memset(p, static_cast<int>(n & 0xff), 64);
        std::memset(p + n - 64, static_cast<int>(n & 0xff), 64);
        std::pair<unsigned char*, std::size_t> other{nullptr, 0};
        {
          std::lock_guard<std::mutex> l(mu);
          handed.emplace_back(p, n);
          if (handed.size() > 8) {
            other = handed.front();
            handed.erase(handed.begin());
          }
        }
        if (other.first) {
          const auto v = static_cast<unsigned char>(other.second & 0xff);
          if (other.first[0] != v || other.first[other.second - 1] != v) bad.fetch_add(1);
          kfree(other.first);
        }
      }
    });
  for (auto& t : ts) t.join();
  for (auto& [p, n] : handed) kfree(p);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(g.stat().kmalloc_large, 0u);
  g.remove();
}

}  // namespace
}  // namespace memcg::detail
