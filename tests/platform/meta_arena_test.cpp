// The metadata arena (src/platform/meta_arena.hpp): sizes and classes,
// alignment, zeroing, reuse through the per-class free lists, the byte
// count, refusal beyond 1 MiB, injected failure (fault::Kind::kMetaAlloc),
// and concurrent use with an oracle: every live block carries its owner's
// pattern over all its bytes, verified before it is freed, so two blocks
// handed out at once can never overlap unnoticed.
#include "platform/meta_arena.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "platform/fault.hpp"

namespace memcg::detail {
namespace {

std::size_t class_size(std::size_t bytes) {
  std::size_t s = 16;
  while (s < bytes) s <<= 1;
  return s;
}

bool all_zero(const void* p, std::size_t n) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (c[i]) return false;
  return true;
}

TEST(MetaArena, BlocksAreZeroedAlignedToTheirClassAndCounted) {
  for (std::size_t bytes : {std::size_t{1}, std::size_t{8}, std::size_t{16}, std::size_t{17}, std::size_t{48},
                            std::size_t{64}, std::size_t{100}, std::size_t{256}, std::size_t{512}, std::size_t{4000},
                            std::size_t{65536}, std::size_t{1} << 20}) {
    const std::uint64_t before = meta::bytes_in_use();
    void* p = meta::alloc(bytes);
    ASSERT_NE(p, nullptr) << bytes;
    const std::size_t cls = class_size(bytes);
    // Aligned to min(class, meta::kMaxAlign): slab magazines are 512-byte
    // blocks found by masking a pointer into them (slab/magazine.hpp).
    const std::size_t align = cls < meta::kMaxAlign ? cls : meta::kMaxAlign;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << bytes;
    EXPECT_TRUE(all_zero(p, cls)) << bytes;
    EXPECT_EQ(meta::bytes_in_use() - before, cls) << bytes;
    std::memset(p, 0xab, cls);  // the whole class is usable
    meta::free(p, bytes);
    EXPECT_EQ(meta::bytes_in_use(), before) << bytes;
  }
}

TEST(MetaArena, ZeroBytesIsTheSmallestClassAndMoreThanOneMiBIsRefused) {
  void* p = meta::alloc(0);
  ASSERT_NE(p, nullptr);
  meta::free(p, 0);
  const std::uint64_t before = meta::bytes_in_use();
  EXPECT_EQ(meta::alloc((std::size_t{1} << 20) + 1), nullptr);
  EXPECT_EQ(meta::bytes_in_use(), before);
}

// A freed block goes back to its class's free list and comes out zeroed
// again; blocks of one class never serve another.
TEST(MetaArena, FreedBlocksAreReusedWithinTheirClassAndZeroedAgain) {
  void* p = meta::alloc(100);  // class 128
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, 128);
  meta::free(p, 100);
  void* q = meta::alloc(120);  // the same class: the free list's head (LIFO)
  EXPECT_EQ(q, p);
  EXPECT_TRUE(all_zero(q, 128));
  void* r = meta::alloc(100);  // the class's list is empty again: a new block
  EXPECT_NE(r, q);
  meta::free(q, 120);
  void* s = meta::alloc(200);  // class 256: never the freed 128-byte block
  EXPECT_NE(s, q);
  meta::free(r, 100);
  meta::free(s, 200);
}

TEST(MetaArena, ManyBlocksSpanSeveralChunksWithoutOverlap) {
  // 4 MiB chunks: 160 blocks of 64 KiB need three.
  std::vector<void*> blocks;
  for (int i = 0; i < 160; ++i) {
    void* p = meta::alloc(65536);
    ASSERT_NE(p, nullptr);
    std::memset(p, i + 1, 65536);
    blocks.push_back(p);
  }
  for (int i = 0; i < 160; ++i) {
    const auto* c = static_cast<const unsigned char*>(blocks[i]);
    EXPECT_EQ(c[0], static_cast<unsigned char>(i + 1));
    EXPECT_EQ(c[65535], static_cast<unsigned char>(i + 1));
    meta::free(blocks[i], 65536);
  }
}

#if defined(MEMCG_FAULT_INJECTION)
TEST(MetaArena, InjectedFailureReturnsNullAndLeavesTheArenaUsable) {
  fault::ScopedClear clear;
  const std::uint64_t before = meta::bytes_in_use();
  const std::uint64_t injected = fault::injected(fault::Kind::kMetaAlloc);
  fault::set(fault::Kind::kMetaAlloc, 1.0);
  EXPECT_EQ(meta::alloc(64), nullptr);
  EXPECT_EQ(meta::alloc(1 << 20), nullptr);
  EXPECT_EQ(fault::injected(fault::Kind::kMetaAlloc) - injected, 2u);
  EXPECT_EQ(meta::bytes_in_use(), before);
  {
    fault::Suppress s;  // sites whose failure is fatal by design allocate anyway
    void* p = meta::alloc(64);
    EXPECT_NE(p, nullptr);
    meta::free(p, 64);
  }
  // Every other allocation fails.
  fault::set_fail_hook(fault::Kind::kMetaAlloc, [] {
    static thread_local int n = 0;
    return (n++ % 2) == 0;
  });
  int ok = 0, failed = 0;
  for (int i = 0; i < 10; ++i) {
    if (void* p = meta::alloc(32)) {
      ++ok;
      EXPECT_TRUE(all_zero(p, 32));
      meta::free(p, 32);
    } else {
      ++failed;
    }
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(failed, 5);
  fault::clear(fault::Kind::kMetaAlloc);
  void* p = meta::alloc(64);
  ASSERT_NE(p, nullptr);
  meta::free(p, 64);
  EXPECT_EQ(meta::bytes_in_use(), before);
}
#endif

// Threads allocate blocks of random sizes, fill each with a pattern of
// (thread, sequence number), keep a random set alive and verify every byte
// of a block before freeing it. Two live blocks sharing a byte would show
// as a pattern mismatch; a block not zeroed on allocation too.
TEST(MetaArena, ConcurrentBlocksNeverOverlap) {
  constexpr int kThreads = 4, kOps = 20000, kLive = 64;
  std::atomic<std::uint64_t> bad{0}, not_zero{0};
  const std::uint64_t before = meta::bytes_in_use();
  auto body = [&](int t) {
    struct Block {
      unsigned char* p;
      std::size_t bytes;
      unsigned char tag;
    };
    std::mt19937 rng(t);
    std::vector<Block> live;
    auto verify_free = [&](const Block& b) {
      for (std::size_t i = 0; i < b.bytes; ++i)
        if (b.p[i] != b.tag) {
          bad.fetch_add(1);
          break;
        }
      meta::free(b.p, b.bytes);
    };
    for (int i = 0; i < kOps; ++i) {
      if (live.size() >= kLive || (!live.empty() && rng() % 3 == 0)) {
        const std::size_t k = rng() % live.size();
        verify_free(live[k]);
        live[k] = live.back();
        live.pop_back();
        continue;
      }
      const std::size_t bytes = 1 + (rng() % 4 == 0 ? rng() % 8192 : rng() % 300);
      auto* p = static_cast<unsigned char*>(meta::alloc(bytes));
      if (!p) {
        bad.fetch_add(1);
        continue;
      }
      if (!all_zero(p, bytes)) not_zero.fetch_add(1);
      const auto tag = static_cast<unsigned char>(1 + ((t * 61 + i) % 255));
      std::memset(p, tag, bytes);
      live.push_back({p, bytes, tag});
    }
    for (const Block& b : live) verify_free(b);
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) ts.emplace_back(body, t);
  for (auto& th : ts) th.join();
  EXPECT_EQ(bad.load(), 0u) << "a block's pattern was overwritten (overlap) or an allocation failed";
  EXPECT_EQ(not_zero.load(), 0u);
  EXPECT_EQ(meta::bytes_in_use(), before);
}

}  // namespace
}  // namespace memcg::detail
