// Charged rounds (slab/thread_mags.hpp CHARGED ROUNDS): a thread's frees of
// small objects of a charging cache stay charged to the owner of its
// magazine entry, its allocations for that owner pop them with no charge,
// and every way a round leaves the entry or the owner changes gives the
// bytes back: re-keying, a limit's drain, group removal, flushes, thread
// exit.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "core/access.hpp"
#include "memcg/cache.hpp"
#include "memcg/charge_flags.hpp"
#include "memcg/kmalloc.hpp"
#include "slab/slab_internal.hpp"
#include "slab/thread_mags.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t kCharge64 = 64 + sizeof(detail::OwnerKey);  // a kmalloc(64) object's charge
constexpr std::uint64_t kEntryBound = 2 * detail::kMagazineRounds;   // charged rounds an entry holds at most

void quiesce_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

std::uint64_t rounds_of(const Group& g) {
  const detail::ChargedRoundsSum s = detail::charged_rounds_in_subtree(detail::Access::impl(g));
  return s.bytes[0] + s.bytes[1];
}

// Allocates n objects of `size` in g (kmalloc) and frees them.
void churn(const Group& g, std::size_t size, int n) {
  ScopedGroup sg(g);
  std::vector<void*> objs;
  for (int i = 0; i < n; ++i) {
    objs.push_back(kmalloc(size));
    ASSERT_NE(objs.back(), nullptr);
  }
  for (void* p : objs) kfree(p);
}

TEST(ChargedRounds, FreedSmallObjectsStayChargedWithinTheBoundUntilFlushed) {
  quiesce_thread();
  test::TempGroup a("cr-stay");
  churn(*a, 64, 100);
  const std::uint64_t rounds = rounds_of(*a);
  EXPECT_GT(rounds, 0u) << "the frees went into charged rounds";
  EXPECT_EQ(rounds % kCharge64, 0u);
  EXPECT_LE(rounds, kEntryBound * kCharge64) << "an entry holds at most two magazines of them";
  // They are charged slab objects of the group: memory.stat counts them.
  EXPECT_EQ(a->stat().slab_unreclaimable, rounds);
  EXPECT_GE(a->current(), rounds);
  quiesce_thread();
  EXPECT_EQ(rounds_of(*a), 0u);
  EXPECT_EQ(a->current(), 0u) << "a flush gives every charged round back";
  EXPECT_EQ(a->stat().slab(), 0u);
}

TEST(ChargedRounds, AllocationsOfTheOwnerPopThemWithoutCharging) {
  quiesce_thread();
  test::TempGroup a("cr-pop");
  churn(*a, 64, 100);
  const std::uint64_t rounds = rounds_of(*a);
  const std::uint64_t cur = a->current();
  const auto n = static_cast<int>(rounds / kCharge64);
  ASSERT_GT(n, 0);
  std::vector<void*> objs;
  {
    ScopedGroup sg(*a);
    for (int i = 0; i < n; ++i) objs.push_back(kmalloc(64));
  }
  EXPECT_EQ(rounds_of(*a), 0u) << "every charged round was handed out";
  EXPECT_EQ(a->current(), cur) << "handing them out charged nothing more";
  EXPECT_EQ(a->stat().slab_unreclaimable, rounds) << "they are live objects now";
  for (void* p : objs) kfree(p);
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
}

// A thread that moves to another group re-keys its entry on its first
// allocation there: the old owner's charged rounds are uncharged from it.
TEST(ChargedRounds, AnAllocationForAnotherGroupReKeysTheEntry) {
  quiesce_thread();
  test::TempGroup a("cr-rekey-a"), b("cr-rekey-b");
  churn(*a, 64, 100);
  ASSERT_GT(rounds_of(*a), 0u);
  void* p;
  {
    ScopedGroup sg(*b);
    p = kmalloc(64);
  }
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(rounds_of(*a), 0u);
  detail::drain_own_object_slot();
  detail::drain_own_stock();
  EXPECT_EQ(a->current(), 0u) << "a's charged rounds went back to it";
  EXPECT_EQ(a->stat().slab(), 0u);
  EXPECT_EQ(b->current(), kCharge64) << "b has its one object";
  EXPECT_EQ(b->stat().slab_unreclaimable, kCharge64);
  kfree(p);
  quiesce_thread();
  EXPECT_EQ(b->current(), 0u);
}

// Objects above kChargedRoundMax go back uncharged through the object slot.
TEST(ChargedRounds, LargerObjectsAreFreedUncharged) {
  quiesce_thread();
  test::TempGroup a("cr-big");
  churn(*a, detail::kChargedRoundMax + 1, 100);
  EXPECT_EQ(rounds_of(*a), 0u);
  detail::drain_own_object_slot();
  detail::drain_own_stock();
  EXPECT_EQ(a->current(), 0u);
  churn(*a, detail::kChargedRoundMax, 100);
  EXPECT_GT(rounds_of(*a), 0u) << "objects of kChargedRoundMax bytes are small";
  quiesce_thread();
}

// A Cache of reclaimable objects: its charged rounds count as
// slab_reclaimable.
TEST(ChargedRounds, ACacheOfReclaimableObjectsKeepsItsKind) {
  quiesce_thread();
  test::TempGroup a("cr-cache");
  Cache c = Cache::create("cr-reclaimable", 48, CacheOptions{.reclaimable = true});
  {
    ScopedGroup sg(*a);
    std::vector<void*> objs;
    for (int i = 0; i < 50; ++i) objs.push_back(c.alloc());
    for (void* p : objs) Cache::free(p);
  }
  const detail::ChargedRoundsSum s = detail::charged_rounds_in_subtree(detail::Access::impl(*a));
  EXPECT_EQ(s.bytes[0], 0u);
  EXPECT_GT(s.bytes[1], 0u);
  EXPECT_EQ(a->stat().slab_reclaimable, s.bytes[1]);
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
}

// A thread that stops and waits with charged rounds of `g` in its
// magazines, until released.
class Holder {
 public:
  explicit Holder(const Group& g) {
    t_ = std::thread([this, g] {
      churn(g, 64, 100);
      std::unique_lock<std::mutex> l(m_);
      ready_ = true;
      cv_.notify_all();
      cv_.wait(l, [this] { return done_; });
    });
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [this] { return ready_; });
  }
  ~Holder() {
    {
      std::lock_guard<std::mutex> l(m_);
      done_ = true;
    }
    cv_.notify_all();
    t_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool ready_ = false, done_ = false;
  std::thread t_;
};

// A charge that fails at a limit drains the subtree's charged rounds in
// every thread, so another thread's freed objects do not hold the room.
TEST(ChargedRounds, ALimitDrainsOtherThreadsChargedRounds) {
  quiesce_thread();
  test::TempGroup a("cr-limit");
  constexpr std::uint64_t kMax = 64 * 1024;
  a.get().set_max(kMax);
  {
    Holder h(*a);
    const std::uint64_t held = rounds_of(*a);
    ASSERT_GT(held, 4096u) << "the other thread holds more than an object-slot chunk";
    std::vector<void*> objs;
    {
      ScopedGroup sg(*a);
      while (void* p = kmalloc(256)) objs.push_back(p);
    }
    EXPECT_EQ(rounds_of(*a), 0u) << "the failed charge drained them";
    const std::uint64_t live = objs.size() * (256 + sizeof(detail::OwnerKey));
    EXPECT_LE(a->current(), kMax);
    EXPECT_GT(live, kMax - held) << "the allocations took the room the charged rounds held";
    for (void* p : objs) kfree(p);
  }
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
}

// A ChargeFlags::no_reclaim charge drains no other thread and does not
// reclaim, but the charging thread's own charged rounds of the subtree go
// back before it is refused.
TEST(ChargedRounds, ANoReclaimChargeTakesBackItsOwnThreadsChargedRounds) {
  quiesce_thread();
  test::TempGroup a("cr-nowait");
  constexpr std::uint64_t kMax = 256 * 1024;
  a.get().set_max(kMax);
  churn(*a, 256, 124);
  const std::uint64_t held = rounds_of(*a);
  ASSERT_GT(held, 16384u);
  std::vector<void*> objs;
  {
    ScopedGroup sg(*a);
    while (a->current() + 16384 < kMax) objs.push_back(kmalloc(1024));  // never at the limit: no drain
    ASSERT_EQ(rounds_of(*a), held);
    const std::uint64_t room = kMax - a->current();
    std::uint64_t got = 0;
    {
      ScopedChargeFlags nowait(ChargeFlags::no_reclaim);
      while (void* p = kmalloc(1024)) {
        objs.push_back(p);
        got += 1024 + sizeof(detail::OwnerKey);
      }
    }
    EXPECT_GT(got, room) << "the allocations used the room this thread's charged rounds held";
    EXPECT_EQ(rounds_of(*a), 0u);
    EXPECT_LE(a->current(), kMax);
  }
  for (void* p : objs) kfree(p);
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
}

// Removal: the charged rounds of the removed group's ObjCgroups now charge
// the parent, and the removal's drain gives them back.
TEST(ChargedRounds, RemovalGivesTheRemovedGroupsChargedRoundsBack) {
  quiesce_thread();
  test::TempGroup p("cr-parent");
  Group c = p->create("child");
  {
    Holder h(c);
    ASSERT_GT(rounds_of(c), 0u);
    c.remove();
    EXPECT_EQ(rounds_of(*p), 0u);
    EXPECT_EQ(p->current(), 0u) << "the holder's charged rounds and stocks of the child went back";
  }
  quiesce_thread();
  EXPECT_EQ(p->current(), 0u);
}

TEST(ChargedRounds, ThreadExitGivesThemBack) {
  quiesce_thread();
  test::TempGroup a("cr-exit");
  std::thread([&] { churn(*a, 64, 100); }).join();
  EXPECT_EQ(rounds_of(*a), 0u);
  EXPECT_EQ(a->current(), 0u);
}

// A thread that only frees (a consumer) keeps the objects of the owner it
// first freed charged too, and gives them back the same ways.
TEST(ChargedRounds, AFreeOnlyThreadKeepsItsOwnersRoundsCharged) {
  quiesce_thread();
  test::TempGroup a("cr-consumer");
  std::vector<void*> objs;
  {
    ScopedGroup sg(*a);
    for (int i = 0; i < 100; ++i) objs.push_back(kmalloc(64));
  }
  std::uint64_t held = 0;
  std::thread([&] {
    for (void* p : objs) kfree(p);
    held = rounds_of(*a);
  }).join();
  EXPECT_GT(held, 0u) << "the consumer's entry took the owner of the objects it freed";
  EXPECT_EQ(rounds_of(*a), 0u) << "its exit gave them back";
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
}

}  // namespace
}  // namespace memcg
