// Group lifecycle, made observable with a pause point (deferred free):
//   last put -> worker: release (unlink, unpublish id, call_rcu)
//            -> grace period -> worker: free (Kind::kBeforeGroupFree, then free)
//
// Checked, with the free held at kBeforeGroupFree:
//   - dropping the last handle only queues work: groups_allocated is unchanged
//     when the drop returns, and the group never becomes freed in that thread
//   - a reader that found the group under RCU before the drop sees it
//     released and intact, and the free does not start while it reads
//   - the released group's id is not handed out again before the free
//   - the free runs on the library worker, not in the thread that dropped
//     the last reference
//   - after the free: groups_allocated dropped by one, the id is reusable
// Builds without MEMCG_FAULT_INJECTION (release) compile this file to a
// single skipped test.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "charge/objcg.hpp"
#include "core/runtime.hpp"
#include "memcg/cache.hpp"
#include "charge/stock.hpp"
#include "slab/slab_internal.hpp"
#include "platform/fault.hpp"
#include "platform/rcu.hpp"
#include "platform/worker.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

#if !defined(MEMCG_FAULT_INJECTION)

TEST(LifecycleFault, NotCompiledIn) { GTEST_SKIP() << "MEMCG_FAULT_INJECTION is off in this build"; }

#else

namespace fault = detail::fault;
using fault::Kind;
using Clock = std::chrono::steady_clock;
constexpr auto kPatience = std::chrono::seconds(60);  // a hang is a failure, not a stuck CI job

// The pause helper of fault_injection_test.cpp, plus a record of the thread
// that reached the point. Phases: 0 armed, -1 claimed (recording), 1 paused,
// 2 resumed. The record is written before phase 1 is published, so a reader
// that saw phase 1 reads it without a race.
std::atomic<int> g_phase{0};
bool g_paused_on_worker = false;
std::thread::id g_paused_thread;

void pause_first_at(Kind k) {
  g_phase = 0;
  fault::set_point_hook(k, [](Kind) {
    int expected = 0;
    if (!g_phase.compare_exchange_strong(expected, -1)) return;
    g_paused_on_worker = detail::worker::on_worker_thread();
    g_paused_thread = std::this_thread::get_id();
    g_phase = 1;
    while (g_phase.load() != 2) std::this_thread::yield();
  });
}
bool wait_until_paused() {
  const auto end = Clock::now() + kPatience;
  while (g_phase.load() != 1) {
    if (Clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}
void resume_paused() { g_phase = 2; }

// Resumes the paused thread on every exit path (a failed ASSERT included):
// a worker left paused would hang every later release.
struct ResumeAtExit {
  ~ResumeAtExit() {
    resume_paused();
    fault::clear_all();
  }
};

detail::Lifecycle state_of(const detail::GroupImpl* g) { return g->state.load(std::memory_order_acquire); }

TEST(LifecycleFault, LastPutQueuesReleaseThenFreeOnTheWorkerAfterTheGracePeriod) {
  fault::clear_all();
  test::TempGroup t("lf");
  Group victim = t->create("victim");
  Group dropper = victim;  // copy: moved into the thread that drops the last reference
  detail::GroupImpl* const impl = detail::Access::impl(victim);
  const std::uint32_t id = victim.id();
  victim.remove();
  victim = Group();
  EXPECT_EQ(state_of(impl), detail::Lifecycle::dying);
  barrier();  // nothing else pending: the first free to reach the point is the victim's
  const detail::RuntimeStats before = detail::runtime_stats();

  ResumeAtExit resume_guard;
  pause_first_at(Kind::kBeforeGroupFree);

  // 1. A reader finds the group under RCU (through the id table, as child-cache
  //    lookups do), then another thread drops the last reference.
  std::thread::id dropping_thread;
  {
    detail::rcu::ReadGuard rg;
    ASSERT_EQ(detail::runtime().ids.lookup(id), impl);
    std::thread([&] {
      dropping_thread = std::this_thread::get_id();
      dropper = Group();  // the last put
      // Returned: nothing was freed here, the group is not even freed yet.
      EXPECT_EQ(detail::runtime_stats().groups_allocated, before.groups_allocated);
      EXPECT_NE(state_of(impl), detail::Lifecycle::freed);
    }).join();
    EXPECT_EQ(detail::runtime_stats().groups_allocated, before.groups_allocated);

    // The worker releases it: unlinked, id unpublished, call_rcu queued.
    const auto end = Clock::now() + kPatience;
    while (state_of(impl) != detail::Lifecycle::released && Clock::now() < end) std::this_thread::yield();
    ASSERT_EQ(state_of(impl), detail::Lifecycle::released);
    EXPECT_EQ(detail::runtime().ids.lookup(id), nullptr) << "a released group's id is still published";
    EXPECT_EQ(impl->magic.load(), detail::kGroupMagicLive);
    // Our read section began before the unlink: the grace period cannot
    // end while it lasts, so the free must not start.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(g_phase.load(), 0) << "the free started inside a reader's RCU read section";
    EXPECT_EQ(state_of(impl), detail::Lifecycle::released);
    EXPECT_EQ(impl->magic.load(), detail::kGroupMagicLive);
    EXPECT_EQ(detail::runtime_stats().groups_allocated, before.groups_allocated);
  }

  // 2. Grace period over: the free reaches the pause point, on the worker.
  ASSERT_TRUE(wait_until_paused()) << "the released group never reached its free";
  EXPECT_TRUE(g_paused_on_worker) << "the group is freed outside the library worker";
  EXPECT_NE(g_paused_thread, dropping_thread) << "the group is freed in the thread that dropped it";
  EXPECT_NE(g_paused_thread, std::this_thread::get_id());
  {
    // The object is still there because its free is paused; read it as any
    // reader of the tree would, under RCU.
    detail::rcu::ReadGuard rg;
    EXPECT_EQ(state_of(impl), detail::Lifecycle::released);
    EXPECT_EQ(impl->magic.load(), detail::kGroupMagicLive);
  }
  EXPECT_EQ(detail::runtime_stats().groups_allocated, before.groups_allocated);
  EXPECT_EQ(detail::runtime_stats().groups_freed, before.groups_freed);
  // Ids are recycled only after free: not to a group created now.
  Group other = t->create("other");
  EXPECT_NE(other.id(), id) << "a released, not yet freed group's id was reused";
  const std::uint64_t with_other = detail::runtime_stats().groups_allocated;
  EXPECT_EQ(with_other, before.groups_allocated + 1);

  // 3. Resume: the free completes.
  resume_paused();
  barrier();
  EXPECT_EQ(detail::runtime_stats().groups_allocated, with_other - 1);
  EXPECT_EQ(detail::runtime_stats().groups_freed, before.groups_freed + 1);
  // Lowest free id first (core/id_table.hpp): the victim's id is now free
  // and, nothing else having been freed, the lowest.
  Group reuse = t->create("reuse");
  EXPECT_EQ(reuse.id(), id) << "the freed group's id was not recycled";
  other.remove();
  reuse.remove();
}

// Many last puts from several threads at once: each group is freed exactly
// once, on the worker (the MEMCG_CHECKs in lifecycle.cpp fire otherwise),
// and every id comes back.
TEST(LifecycleFault, ConcurrentLastPutsAreAllFreedOnTheWorker) {
  fault::clear_all();
  test::TempGroup t("lfc");
  barrier();
  const detail::RuntimeStats before = detail::runtime_stats();
  const std::uint64_t points_before = fault::injected(Kind::kBeforeGroupFree);
  std::atomic<std::uint64_t> off_worker{0};
  static std::atomic<std::uint64_t>* s_off_worker;
  s_off_worker = &off_worker;
  ResumeAtExit clear_guard;
  fault::set_point_hook(Kind::kBeforeGroupFree, [](Kind) {
    if (!detail::worker::on_worker_thread()) s_off_worker->fetch_add(1);
  });
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i)
    ts.emplace_back([&, i] {
      for (int n = 0; n < kPerThread; ++n) {
        Group g = t->create("g" + std::to_string(i) + "-" + std::to_string(n));
        Group copy = g;
        g.remove();
        std::thread([c = std::move(copy)]() mutable { c = Group(); }).join();
      }
    });
  for (auto& x : ts) x.join();
  barrier();
  EXPECT_EQ(fault::injected(Kind::kBeforeGroupFree) - points_before, std::uint64_t{kThreads * kPerThread});
  EXPECT_EQ(off_worker.load(), 0u);
  EXPECT_EQ(detail::runtime_stats().groups_allocated, before.groups_allocated);
  EXPECT_EQ(detail::runtime_stats().groups_freed, before.groups_freed + kThreads * kPerThread);
  EXPECT_EQ(t->nr_dying_descendants(), 0u);
}


// Object cgroups: a thread freeing an object moves its bytes into its
// object slot, then finishes outside the slot's gate. Meanwhile the group
// is removed (its object cgroup moves to the parent and every thread's slot
// of it is drained: the bytes go back, the charge reaches 0) and freed (the
// group's reference goes). The freeing thread must still hold the object
// cgroup it goes on using; ASan reports a use after free otherwise (freed
// metadata is poisoned).
TEST(LifecycleFault, ObjectFreeSlowPathOutlivesTheDrainAndFreeOfItsObjectCgroup) {
  fault::clear_all();
  test::TempGroup t("objlf");
  Cache c = Cache::create("objlf", 64);
  const auto objcgs_before = detail::objcgs_allocated();
  const auto groups_before = detail::runtime_stats().groups_allocated;
  Group g = t->create("g");
  void* p = c.alloc(g);
  ASSERT_NE(p, nullptr);
  detail::flush_own_magazines();  // g's object cgroup now has exactly the object's bytes charged
  detail::drain_own_stock();
  ASSERT_EQ(g.current(), 64 + sizeof(void*));
  ASSERT_EQ(detail::objcgs_allocated(), objcgs_before + 1);
  ResumeAtExit resume;
  pause_first_at(Kind::kObjSlotGiveBack);
  std::thread freer([&] { Cache::free(p); });  // a new thread: its slot is empty, the slow path runs
  ASSERT_TRUE(wait_until_paused());
  EXPECT_EQ(g_paused_thread, freer.get_id());
  g.remove();  // drains the freer's slot: the object's bytes go back, the charge reaches 0
  g = Group();
  barrier();   // g is freed: its reference on the object cgroup goes
  EXPECT_EQ(detail::runtime_stats().groups_allocated, groups_before);
  EXPECT_EQ(t->current(), 0u);
  resume_paused();
  freer.join();  // the freer's own reference was the last: the object cgroup goes now
  EXPECT_EQ(detail::objcgs_allocated(), objcgs_before);
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}


// A free whose object slot cannot take the bytes (it holds another object
// cgroup) publishes the object in its magazine first and uncharges after.
// Meanwhile a shrink flushes the magazine, the object's slab empties and is
// given back, and another cache takes the same memory for a slab of its
// own: the uncharge must use what the object was charged, read before the
// object was published, not the new slab's header.
TEST(LifecycleFault, ObjectFreeUnchargesWhatItWasChargedAfterItsSlabIsReused) {
  fault::clear_all();
  test::TempGroup t("objpub");
  Cache shared = Cache::create("objpub", 64);
  CacheOptions iso;
  iso.isolate = true;
  Cache isolated = Cache::create("objpub-iso", 64, iso);
  Group g = t->create("g");
  Group h = t->create("h");
  void* p = shared.alloc(g);
  ASSERT_NE(p, nullptr);
  detail::flush_own_magazines();
  detail::drain_own_stock();
  ASSERT_EQ(g.current(), 64 + sizeof(void*));
  ResumeAtExit resume;
  std::atomic<bool> ready{false};
  std::thread freer([&] {
    Cache::free(shared.alloc(h));  // a magazine of the shared cache; the slot holds h's object cgroup
    pause_first_at(Kind::kObjectFreePublished);
    ready = true;
    Cache::free(p);  // g's object: the slot refuses it, the magazine takes it
  });
  while (!ready.load()) std::this_thread::yield();
  ASSERT_TRUE(wait_until_paused());
  shared.shrink();  // flushes the freer's magazine: the slab empties and is given back
  void* other = isolated.alloc(*t);  // most recently freed unit first: the same memory
  ASSERT_NE(other, nullptr);
  resume_paused();
  freer.join();  // exit gives the freer's slot back
  EXPECT_EQ(detail::objcg_charged_bytes(detail::Access::impl(g)), 0u);
  EXPECT_EQ(g.current(), 0u);
  EXPECT_EQ(g.stat().slab(), 0u);
  Cache::free(other);
  isolated.shrink();
  detail::flush_own_magazines();
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
  shared.destroy();
  isolated.destroy();
}

#endif

}  // namespace
}  // namespace memcg
