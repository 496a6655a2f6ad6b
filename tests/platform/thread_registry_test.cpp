// ThreadRegistry (platform/thread_registry.hpp) with a toy policy: a
// per-thread counter that owners bump inside their gate and drain rounds
// take out. Oracle: nothing is lost or counted twice, every thread's exit
// hook and retirement run once, an exited node never enrols again.
#include "platform/thread_registry.hpp"

#include "platform/membarrier.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace memcg::detail {
namespace {

struct Toy : ThreadNode {
  constexpr Toy() noexcept : ThreadNode(LockRank::kThreadStock) {}
  std::uint64_t value = 0;  // gate-guarded: the owner in run(), drainers under the gate lock
};

constinit thread_local Toy tls_toy{};

std::atomic<std::uint64_t> g_exits{0}, g_retired{0}, g_given_back{0};

void toy_exit(ThreadNode* n) noexcept {
  auto* t = static_cast<Toy*>(n);
  LockGuard<SpinLock> l(t->gate.lock());
  g_given_back.fetch_add(t->value);
  t->value = 0;
  g_exits.fetch_add(1);
}
void toy_retired(ThreadNode*) noexcept { g_retired.fetch_add(1); }
ThreadNode* own_toy() noexcept { return &tls_toy; }

ThreadRegistry& registry() {
  static auto* r = new ThreadRegistry(LockRank::kStockRegistry, {own_toy, toy_exit, toy_retired});
  return *r;
}

std::uint64_t drain_all() {
  std::uint64_t taken = 0;
  ThreadRegistry& r = registry();
  LockGuard<RankedMutex> l(r.mutex());
  std::uint64_t got = 0;
  r.drain_round([&](ThreadNode& n) {
                  got = static_cast<Toy&>(n).value;
                  static_cast<Toy&>(n).value = 0;
                },
                [&](ThreadNode&) { taken += got; });
  return taken;
}

TEST(ThreadRegistry, DrainRoundsAndExitsLoseNothing) {
  const std::uint64_t exits0 = g_exits.load(), retired0 = g_retired.load(), given0 = g_given_back.load();
  constexpr int kThreads = 4;
  constexpr std::uint64_t kOps = 200000;
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&] {
      Toy& t = tls_toy;
      ASSERT_TRUE(registry().enrol(t));
      ASSERT_TRUE(registry().enrol(t));  // idempotent
      while (!go.load()) std::this_thread::yield();
      for (std::uint64_t k = 0; k < kOps; ++k) t.gate.run([&] { t.value = t.value + 1; });
    });
  }
  go = true;
  std::uint64_t drained = 0;
  for (int round = 0; round < 200; ++round) drained += drain_all();
  for (auto& t : ts) t.join();
  drained += drain_all();  // whatever is left after the exits: nothing
  EXPECT_EQ(drained + (g_given_back.load() - given0), kThreads * kOps);
  EXPECT_EQ(g_exits.load() - exits0, static_cast<std::uint64_t>(kThreads));
  EXPECT_EQ(g_retired.load() - retired0, static_cast<std::uint64_t>(kThreads));
  EXPECT_EQ(registry().count(), 0u);
}

// Without membarrier(2) a drain round's heavy barrier is only a fence on
// the drainer's side, so an enrolled node's gate must never take its
// lock-free path: enrolment pins it. (g_available is flipped for one
// freshly enrolled thread only; no drain round runs meanwhile.)
TEST(ThreadRegistry, WithoutMembarrierAnEnrolledNodeAlwaysTakesTheGateLock) {
  membarrier::init();
  const bool had = membarrier::g_available;
  std::thread([&] {
    Toy& t = tls_toy;
    ASSERT_TRUE(t.gate.try_enter()) << "an unenrolled node is nobody's to drain: the fast path is fine";
    t.gate.leave();
    membarrier::g_available = false;
    const bool enrolled = registry().enrol(t);
    membarrier::g_available = had;
    ASSERT_TRUE(enrolled);
    EXPECT_FALSE(t.gate.try_enter()) << "a pinned gate sends every owner operation to the lock";
    t.gate.run([&] { t.value = t.value + 1; });  // the locked path still runs the operation
    EXPECT_EQ(t.value, 1u);
    EXPECT_FALSE(t.gate.try_enter());
  }).join();
  drain_all();
}

TEST(ThreadRegistry, AnExitedNodeNeverEnrolsAgain) {
  std::thread([] {
    Toy& t = tls_toy;
    t.exited = true;  // as after its key destructor ran
    EXPECT_FALSE(registry().enrol(t));
    EXPECT_FALSE(t.registered);
  }).join();
  EXPECT_EQ(registry().count(), 0u);
}

}  // namespace
}  // namespace memcg::detail
