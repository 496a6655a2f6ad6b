#include "platform/rcu.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace memcg::detail {
namespace {

TEST(Rcu, SynchronizeWaitsForPreexistingReader) {
  std::atomic<bool> in_section{false}, release{false}, synced{false};
  std::thread reader([&] {
    rcu::ReadGuard g;
    in_section = true;
    while (!release) std::this_thread::yield();
  });
  while (!in_section) std::this_thread::yield();
  std::thread writer([&] {
    rcu::synchronize();
    synced = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(synced.load()) << "grace period ended while a reader was inside";
  release = true;
  reader.join();
  writer.join();
  EXPECT_TRUE(synced.load());
}

TEST(Rcu, ReadSectionsNest) {
  rcu::read_lock();
  rcu::read_lock();
  EXPECT_TRUE(rcu::in_read_section());
  rcu::read_unlock();
  EXPECT_TRUE(rcu::in_read_section());
  rcu::read_unlock();
  EXPECT_FALSE(rcu::in_read_section());
}

struct Obj {
  rcu::Head head;
  std::atomic<int>* ran;
};

TEST(Rcu, CallbacksRunAfterGracePeriodAndBarrierWaitsForThem) {
  std::atomic<int> ran{0};
  constexpr int kN = 100;
  for (int i = 0; i < kN; ++i) {
    auto* o = new Obj;
    o->ran = &ran;
    o->head.arg = o;
    rcu::call(&o->head, [](rcu::Head* h) {
      auto* obj = static_cast<Obj*>(h->arg);
      obj->ran->fetch_add(1);
      delete obj;
    });
  }
  rcu::barrier();
  EXPECT_EQ(ran.load(), kN);
}

TEST(Rcu, CallbackRunsOnAnotherThread) {
  struct O {
    rcu::Head head;
    std::thread::id where;
    std::atomic<bool> done{false};
  } o;
  o.head.arg = &o;
  rcu::call(&o.head, [](rcu::Head* h) {
    auto* p = static_cast<O*>(h->arg);
    p->where = std::this_thread::get_id();
    p->done = true;
  });
  rcu::barrier();
  ASSERT_TRUE(o.done.load());
  EXPECT_NE(o.where, std::this_thread::get_id());
}

}  // namespace
}  // namespace memcg::detail
