// The large-block cache (slab/large_cache.hpp): freed large blocks (above
// 512 KiB: smaller ones are medium blocks, medium_test.cpp) are reused
// without a new mapping, kzalloc clears reused memory, decay gives
// pages back and then unmaps, the budget bounds what stays resident, and
// the books balance under concurrent use. Each test runs in its own process
// (ctest), so tuning changes do not leak.
#include "slab/large_cache.hpp"

#include <sys/mman.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "memcg/kmalloc.hpp"
#include "memcg/memcg.hpp"
#include "slab/page_source.hpp"

namespace memcg::detail {
namespace {

constexpr std::size_t kPage = 4096;
// Large blocks of one granule, well above the medium path's 512 KiB.
constexpr std::size_t kBlock = std::size_t{3} << 20;
constexpr std::size_t kSmallLarge = (std::size_t{2} << 20) + 100 * 1024;  // smaller than kBlock and kBigLarge
constexpr std::size_t kBigLarge = std::size_t{7} << 19;                    // 3.5 MiB

// Resident pages of [p, p + len) (page-aligned p).
std::size_t resident_pages(const void* p, std::size_t len) {
  std::vector<unsigned char> v((len + kPage - 1) / kPage);
  if (::mincore(const_cast<void*>(p), len, v.data()) != 0) return SIZE_MAX;
  std::size_t n = 0;
  for (unsigned char b : v) n += b & 1;
  return n;
}

void* span_of(const void* p) { return region_base(p); }

// Every test starts from an empty cache with the default settings (they
// also run together in one process outside ctest).
class LargeCache : public ::testing::Test {
 protected:
  void SetUp() override {
    large_cache::set_tuning(large_cache::Tuning{});
    large_cache::release_all();
  }
};

TEST_F(LargeCache, AFreedBlockIsReusedWithoutANewMappingAndChargedOnlyWhileHeld) {
  Group g = Group::root().create("lc_reuse");
  const auto s0 = large_cache::stats();
  auto* p = static_cast<char*>(kmalloc(kBlock, g));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, kBlock);
  EXPECT_EQ(g.stat().kmalloc_large, (kBlock) + kPage);  // the header's page-rounded room
  kfree(p);
  EXPECT_EQ(g.stat().kmalloc_large, 0u);
  EXPECT_EQ(large_cache::stats().spans, s0.spans + 1);
  auto* q = static_cast<char*>(kmalloc(kBlock, g));
  EXPECT_EQ(q, p) << "the cached span is taken again";
  const auto s1 = large_cache::stats();
  EXPECT_EQ(s1.hits, s0.hits + 1);
  EXPECT_EQ(s1.misses, s0.misses + 1);
  EXPECT_EQ(s1.spans, s0.spans);
  EXPECT_EQ(resident_pages(span_of(q), (kBlock) + kPage), ((kBlock) + kPage) / kPage)
      << "its pages are still resident: no faults on reuse";
  kfree(q);
  g.remove();
}

TEST_F(LargeCache, KzallocClearsAReusedBlockAndCallocSizedGrowth) {
  Group g = Group::root().create("lc_zero");
  constexpr std::size_t n = kSmallLarge + 200 * 1024;
  auto* p = static_cast<unsigned char*>(kmalloc(n, g));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xab, n);
  kfree(p);
  for (std::size_t m : {n, kBigLarge, kSmallLarge}) {
    auto* q = static_cast<unsigned char*>(kzalloc(m, g));
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q, p) << "reused (" << m << ")";
    std::size_t nonzero = 0;
    for (std::size_t i = 0; i < m; ++i) nonzero += q[i] != 0;
    EXPECT_EQ(nonzero, 0u) << m;
    std::memset(q, 0xcd, m);
    kfree(q);
  }
  g.remove();
}

TEST_F(LargeCache, DecayGivesPagesBackThenUnmaps) {
  large_cache::release_all();
  large_cache::Tuning t = large_cache::tuning();
  t.dirty_decay_ms = 0;
  t.retain_ms = 3600 * 1000;
  large_cache::set_tuning(t);
  Group g = Group::root().create("lc_decay");
  constexpr std::size_t n = std::size_t{2} << 20;
  auto* p = static_cast<char*>(kmalloc(n, g));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, n);
  void* base = span_of(p);
  kfree(p);
  large_cache::decay_now();
  const auto s = large_cache::stats();
  EXPECT_EQ(s.spans, 1u);
  EXPECT_EQ(s.dirty_bytes, kPage) << "only the cache's node page stays";
  EXPECT_GE(s.purged_bytes, n - kPage);
  EXPECT_EQ(resident_pages(static_cast<char*>(base) + kPage, n), 0u) << "pages given back to the OS";
  EXPECT_TRUE(page_source::owns(base));
  t.retain_ms = 0;
  large_cache::set_tuning(t);  // runs a decay pass
  EXPECT_EQ(large_cache::stats().spans, 0u);
  EXPECT_EQ(large_cache::stats().unmapped, s.unmapped + 1);
  EXPECT_FALSE(page_source::owns(base)) << "unmapped and unmarked";
  g.remove();
}

// A forced decay pass (set_tuning, decay_now) finishes however many spans
// are due, beyond one pass's work list.
TEST_F(LargeCache, AForcedDecayHandlesEverySpanDue) {
  Group g = Group::root().create("lc_many");
  std::vector<char*> blocks;
  for (int i = 0; i < 40; ++i) {
    auto* p = static_cast<char*>(kmalloc(kBlock, g));
    ASSERT_NE(p, nullptr);
    std::memset(p, 6, 64 * 1024);
    blocks.push_back(p);
  }
  for (char* p : blocks) kfree(p);
  EXPECT_EQ(large_cache::stats().spans, 40u);
  large_cache::Tuning t = large_cache::tuning();
  t.dirty_decay_ms = 0;
  large_cache::set_tuning(t);
  EXPECT_EQ(large_cache::stats().spans, 40u);
  EXPECT_EQ(large_cache::stats().dirty_bytes, 40 * kPage) << "every span purged, not just one pass's";
  t.retain_ms = 0;
  large_cache::set_tuning(t);
  EXPECT_EQ(large_cache::stats().spans, 0u) << "every span unmapped";
  g.remove();
}

TEST_F(LargeCache, BudgetBoundsDirtyBytesAndSpans) {
  large_cache::release_all();
  large_cache::Tuning t = large_cache::tuning();
  t.dirty_decay_ms = 3600 * 1000;
  t.retain_ms = 3600 * 1000;
  t.dirty_max = std::size_t{4} << 20;
  t.max_spans = 5;
  large_cache::set_tuning(t);
  Group g = Group::root().create("lc_budget");
  std::vector<char*> blocks;
  for (int i = 0; i < 12; ++i) {
    auto* p = static_cast<char*>(kmalloc(kBlock, g));
    ASSERT_NE(p, nullptr);
    std::memset(p, 2, kBlock);
    blocks.push_back(p);
  }
  for (char* p : blocks) {
    kfree(p);
    const auto s = large_cache::stats();
    EXPECT_LE(s.dirty_bytes, t.dirty_max);
    EXPECT_LE(s.spans, t.max_spans);
  }
  std::size_t resident = 0;
  for (char* p : blocks)
    if (page_source::owns(p)) resident += resident_pages(span_of(p), (kBlock) + kPage);
  EXPECT_LE(resident * kPage, t.dirty_max) << "what the cache holds is within its budget";
  EXPECT_EQ(large_cache::stats().spans, t.max_spans);
  g.remove();
}

TEST_F(LargeCache, ASmallRequestDoesNotPinABigBlocksPages) {
  Group g = Group::root().create("lc_trim");
  constexpr std::size_t big = kBigLarge;
  auto* p = static_cast<char*>(kmalloc(big, g));
  ASSERT_NE(p, nullptr);
  std::memset(p, 3, big);
  kfree(p);
  auto* q = static_cast<char*>(kmalloc(kSmallLarge, g));
  ASSERT_EQ(span_of(q), span_of(p)) << "the same granule serves it";
  EXPECT_LE(resident_pages(span_of(q), big + kPage), (kSmallLarge + kPage) / kPage + 1)
      << "the excess beyond the request was given back";
  kfree(q);
  g.remove();
}

// One-granule spans are binned by their resident bytes: each request takes
// the span that fits it, not the most recent one.
TEST_F(LargeCache, ARequestTakesTheSpanWhoseResidentPagesFitIt) {
  Group g = Group::root().create("lc_fit");
  constexpr std::size_t small = kSmallLarge, big = kBigLarge;
  auto* a = static_cast<char*>(kmalloc(big, g));
  auto* b = static_cast<char*>(kmalloc(small, g));
  ASSERT_TRUE(a && b);
  std::memset(a, 4, big);
  std::memset(b, 5, small);
  kfree(b);
  kfree(a);  // the most recent
  const std::uint64_t purged = large_cache::stats().purged_bytes;
  auto* q = static_cast<char*>(kmalloc(small, g));
  EXPECT_EQ(q, b) << "the small span for the small request";
  auto* r = static_cast<char*>(kmalloc(big, g));
  EXPECT_EQ(r, a) << "the big span for the big request";
  EXPECT_EQ(large_cache::stats().purged_bytes, purged) << "no trimming was needed";
  kfree(q);
  kfree(r);
  g.remove();
}

TEST_F(LargeCache, SpansOverTheLargestBinAreUnmappedOnFree) {
  Group g = Group::root().create("lc_huge");
  auto* p = static_cast<char*>(kmalloc(std::size_t{200} << 20, g));
  ASSERT_NE(p, nullptr);
  kfree(p);
  EXPECT_EQ(large_cache::stats().spans, 0u);
  EXPECT_FALSE(page_source::owns(p));
  g.remove();
}

// Locked pages cannot be purged (MADV_DONTNEED fails on them): the cache
// must not then believe them clean, or kzalloc would hand out old bytes.
TEST_F(LargeCache, APurgeThatFailsOnLockedMemoryNeverHidesOldBytes) {
  Group g = Group::root().create("lc_locked");
  constexpr std::size_t n = kBigLarge;
  auto* p = static_cast<unsigned char*>(kmalloc(n, g));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xff, n);
  if (::mlock(p, n) != 0) GTEST_SKIP() << "mlock refused (RLIMIT_MEMLOCK)";
  kfree(p);  // cached, its pages locked
  large_cache::Tuning t = large_cache::tuning();
  t.dirty_decay_ms = 0;
  large_cache::set_tuning(t);  // the purge runs, and fails
  auto* q = static_cast<unsigned char*>(kzalloc(n, g));
  ASSERT_NE(q, nullptr);
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < n; ++i) nonzero += q[i] != 0;
  EXPECT_EQ(nonzero, 0u);
  kfree(q);
  // A trim that fails: a small block taking the locked span keeps its dirty
  // figure, and the big block after it is cleared whole.
  t.dirty_decay_ms = 3600 * 1000;
  large_cache::set_tuning(t);
  large_cache::release_all();
  auto* big = static_cast<unsigned char*>(kmalloc(n, g));
  ASSERT_NE(big, nullptr);
  std::memset(big, 0xee, n);
  ASSERT_EQ(::mlock(big, n), 0);
  kfree(big);
  auto* small = static_cast<unsigned char*>(kzalloc(kSmallLarge, g));
  ASSERT_EQ(span_of(small), span_of(big));
  kfree(small);
  auto* again = static_cast<unsigned char*>(kzalloc(n, g));
  ASSERT_EQ(span_of(again), span_of(big));
  nonzero = 0;
  for (std::size_t i = 0; i < n; ++i) nonzero += again[i] != 0;
  EXPECT_EQ(nonzero, 0u);
  ::munlock(again, n);
  kfree(again);
  g.remove();
}

// kfree leaves errno alone on every path: the fast one, a magazine
// overflow, a medium block, a cached span, an unmapped one.
TEST_F(LargeCache, KfreeKeepsErrno) {
  Group g = Group::root().create("lc_errno");
  std::vector<void*> small;
  for (int i = 0; i < 5000; ++i) small.push_back(kmalloc(64, g));
  void* medium = kmalloc(20000, g);
  void* cached = kmalloc(kBlock, g);
  void* huge = kmalloc(std::size_t{200} << 20, g);
  ASSERT_TRUE(medium && cached && huge);
  errno = 4321;
  for (void* p : small) kfree(p);
  kfree(medium);
  kfree(cached);
  kfree(huge);
  EXPECT_EQ(errno, 4321);
  g.remove();
}

// Threads allocate, check and free blocks of many sizes across the cache's
// bins; every block keeps its contents while held and the group's books end
// at zero. (TSan: the lists, the detached purges and the counters.)
TEST_F(LargeCache, ConcurrentUseKeepsContentsAndBooks) {
  large_cache::Tuning t = large_cache::tuning();
  t.dirty_max = std::size_t{8} << 20;  // purges run often
  t.max_spans = 6;
  large_cache::set_tuning(t);
  Group g = Group::root().create("lc_conc");
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int id = 0; id < 4; ++id)
    ts.emplace_back([&, id] {
      ScopedGroup in(g);
      std::mt19937 rng(static_cast<unsigned>(id) * 7919u + 1);
      std::vector<std::pair<unsigned char*, std::size_t>> held;
      for (int i = 0; i < 600; ++i) {
        if (held.size() < 4 && (rng() & 1)) {
          const std::size_t n = 9000 + rng() % (std::size_t{6} << 20);
          auto* p = static_cast<unsigned char*>((i & 3) ? kmalloc(n) : kzalloc(n));
          if (!p) {
            bad++;
            continue;
          }
          if (!(i & 3) && (p[0] != 0 || p[n / 2] != 0 || p[n - 1] != 0)) bad++;
          p[0] = p[n / 2] = p[n - 1] = static_cast<unsigned char>(id + 1);
          held.emplace_back(p, n);
        } else if (!held.empty()) {
          auto [p, n] = held.back();
          held.pop_back();
          const auto v = static_cast<unsigned char>(id + 1);
          if (p[0] != v || p[n / 2] != v || p[n - 1] != v) bad++;
          kfree(p);
        }
      }
      for (auto [p, n] : held) kfree(p);
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(g.stat().kmalloc_large, 0u);
  const auto s = large_cache::stats();
  EXPECT_LE(s.spans, t.max_spans);
  EXPECT_LE(s.dirty_bytes, t.dirty_max);
  EXPECT_GT(s.hits, 0u);
  g.remove();
}

}  // namespace
}  // namespace memcg::detail
