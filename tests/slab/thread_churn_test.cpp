// Thread churn: short threads that allocate and exit. A thread's start and
// exit must not pay a process-wide barrier (membarrier: only drain rounds
// do), and what the exited threads charged, cached or left live balances
// exactly once everything is freed.
#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "memcg/memcg.hpp"
#include "platform/membarrier.hpp"
#include "charge/stock.hpp"
#include "slab/slab_internal.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

struct Left {
  std::mutex m;
  std::vector<void*> kmalloced, cached;
};

// One short thread's work in g: small, medium and large kmalloc blocks and a
// Cache object; some freed at once, the rest handed to the main thread.
void short_thread(const Group& g, Cache& c, Left& left, int i) {
  ScopedGroup in(g);
  void* a = kmalloc(64 + static_cast<std::size_t>(i % 200));
  void* b = kmalloc(5000);
  void* d = kmalloc(40000 + static_cast<std::size_t>(i % 7) * 4096);
  void* e = c.alloc();
  void* f = c.alloc();
  kfree(b);
  Cache::free(f);
  std::lock_guard<std::mutex> l(left.m);
  left.kmalloced.push_back(a);
  left.kmalloced.push_back(d);
  left.cached.push_back(e);
}

TEST(ThreadChurn, ShortThreadsPayNoProcessWideBarrierAndTheBooksBalance) {
  test::TempGroup t("churn");
  Cache c = Cache::create("churn-200", 200);
  Left left;
  constexpr int kThreads = 4000;
  const std::uint64_t barriers = detail::membarrier::heavy_calls();
  for (int i = 0; i < kThreads; i += 2) {
    std::thread x(short_thread, std::cref(*t), std::ref(c), std::ref(left), i);
    std::thread y(short_thread, std::cref(*t), std::ref(c), std::ref(left), i + 1);
    x.join();
    y.join();
  }
  EXPECT_EQ(detail::membarrier::heavy_calls() - barriers, 0u)
      << "thread start or exit paid a process-wide barrier";
  ASSERT_EQ(left.kmalloced.size(), 2u * kThreads);
  ASSERT_EQ(left.cached.size(), 1u * kThreads);
  for (void* p : left.kmalloced) ASSERT_NE(p, nullptr);
  for (void* p : left.cached) ASSERT_NE(p, nullptr);
  EXPECT_GT(t->current(), 0u) << "the live objects are charged";
  for (void* p : left.kmalloced) kfree(p);
  for (void* p : left.cached) Cache::free(p);
  detail::flush_own_magazines();  // this thread's magazines, object slot
  detail::drain_own_stock();      // and stock
  c.shrink();
  EXPECT_EQ(t->current(), 0u) << "exited threads left nothing charged";
  EXPECT_EQ(t->stat().kmalloc_large, 0u);
  c.destroy();
}

}  // namespace
}  // namespace memcg
