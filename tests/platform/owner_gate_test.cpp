// OwnerGate (src/platform/owner_gate.hpp) under schedule perturbation.
//
// Oracle: the owner's state is two plain counters a and b that every owner
// operation increments one after the other, with a random yield or sleep in
// between; a drainer, after announce / heavy barrier / wait_idle / lock,
// checks a == b (no owner operation is in progress) and adds the same
// amount to both. Mutual exclusion means the drainer never sees a != b and
// no update is lost: at the end a == b == owner increments + drainer
// additions. Random yields and sleeps sit between every step of both sides.
// The counters are plain ints, so under TSan any missing happens-before
// edge of the protocol is also reported as a race. Bounded by iteration
// counts and a time cap, with no timing threshold.
#include "platform/owner_gate.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "platform/membarrier.hpp"

namespace memcg::detail {
namespace {

// A random pause: nothing, a few yields, or a short sleep.
void perturb(std::mt19937& rng) {
  switch (rng() % 8) {
    case 0: case 1: case 2: case 3: break;
    case 4: case 5: case 6:
      for (unsigned i = rng() % 4; i > 0; --i) std::this_thread::yield();
      break;
    default: std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50));
  }
}

struct OwnerState {
  std::uint64_t a = 0;  // plain: guarded by the gate
  std::uint64_t b = 0;
};

class OwnerGateTest : public ::testing::Test {
 protected:
  void SetUp() override { membarrier::init(); }
};

TEST_F(OwnerGateTest, TryEnterSucceedsUntilADrainerAnnouncesAndRunThenTakesTheLock) {
  if (!membarrier::g_available) GTEST_SKIP() << "no membarrier(2): gates are pinned to their lock";
  OwnerGate gate(LockRank::kThreadMags);
  ASSERT_TRUE(gate.try_enter());
  gate.leave();
  int ran = 0;
  gate.run([&] { ++ran; });
  EXPECT_EQ(ran, 1);
  gate.announce();
  membarrier::heavy();
  EXPECT_FALSE(gate.try_enter()) << "a pending drainer must turn the owner away from the fast path";
  gate.wait_idle();  // try_enter's failure left the gate idle: returns at once
  gate.run([&] { ++ran; });  // contended path: serialised on the lock
  EXPECT_EQ(ran, 2);
  gate.retire();
  EXPECT_TRUE(gate.try_enter());
  gate.leave();
}

// run()'s contended path waits for a drainer holding the lock and runs the
// operation after the drainer's work.
TEST_F(OwnerGateTest, ContendedRunWaitsForTheDrainerHoldingTheLock) {
  OwnerGate gate(LockRank::kThreadMags);
  OwnerState st;
  std::atomic<int> phase{0};
  std::thread drainer([&] {
    gate.announce();
    membarrier::heavy();
    gate.wait_idle();
    {
      LockGuard<SpinLock> l(gate.lock());
      phase.store(1);
      while (phase.load() != 2) std::this_thread::yield();  // the owner is about to run()
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      st.a += 100;
      st.b += 100;
    }
    gate.retire();
  });
  while (phase.load() != 1) std::this_thread::yield();
  phase.store(2);
  std::uint64_t seen_a = 0;
  gate.run([&] {  // drain pending: takes the lock, so runs after the drainer's work
    seen_a = st.a;
    ++st.a;
    ++st.b;
  });
  drainer.join();
  EXPECT_EQ(seen_a, 100u);
  EXPECT_EQ(st.a, 101u);
  EXPECT_EQ(st.b, 101u);
}

TEST_F(OwnerGateTest, DrainersAndOwnerNeverOverlapUnderPerturbation) {
  OwnerGate gate(LockRank::kThreadMags);
  if (!membarrier::g_available) gate.serialise_always();  // as enrolment does (thread_registry.cpp)
  OwnerState st;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> owner_ops{0}, fast{0}, contended{0}, locked{0};
  std::atomic<std::uint64_t> drains{0}, drained_total{0}, torn{0};

  std::thread owner([&] {
    std::mt19937 rng(1);
    auto op = [&] {
      ++st.a;
      perturb(rng);
      ++st.b;
    };
    while (!stop.load(std::memory_order_relaxed)) {
      switch (rng() % 8) {
        case 0:  // the owner's exclusive access outside run() (thread exit, own flushes)
        {
          LockGuard<SpinLock> l(gate.lock());
          op();
          locked.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        case 1: case 2: case 3:
          gate.run(op);
          break;
        default:
          if (gate.try_enter()) {
            op();
            gate.leave();
            fast.fetch_add(1, std::memory_order_relaxed);
          } else {
            gate.run(op);
            contended.fetch_add(1, std::memory_order_relaxed);
          }
      }
      owner_ops.fetch_add(1, std::memory_order_relaxed);
      perturb(rng);
    }
  });

  std::vector<std::thread> drainers;
  for (int d = 0; d < 2; ++d)
    drainers.emplace_back([&, d] {
      std::mt19937 rng(100 + d);
      while (!stop.load(std::memory_order_relaxed)) {
        gate.announce();
        perturb(rng);
        membarrier::heavy();
        perturb(rng);
        gate.wait_idle();
        perturb(rng);
        {
          LockGuard<SpinLock> l(gate.lock());
          if (st.a != st.b) torn.fetch_add(1, std::memory_order_relaxed);
          const std::uint64_t add = 1 + rng() % 5;
          st.a += add;
          perturb(rng);
          st.b += add;
          drained_total.fetch_add(add, std::memory_order_relaxed);
        }
        perturb(rng);
        gate.retire();
        drains.fetch_add(1, std::memory_order_relaxed);
        perturb(rng);
      }
    });

  // At least ~300 ms and enough of every path, at most a few seconds.
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto t = std::chrono::steady_clock::now() - start;
    const bool enough = owner_ops.load() > 2000 && drains.load() > 200 && fast.load() > 0 &&
                        contended.load() > 0 && locked.load() > 0;
    if ((t >= std::chrono::milliseconds(300) && enough) || t >= std::chrono::seconds(4)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  owner.join();
  for (auto& t : drainers) t.join();

  EXPECT_EQ(torn.load(), 0u) << "a drainer saw an owner operation in progress";
  EXPECT_EQ(st.a, st.b);
  EXPECT_EQ(st.a, owner_ops.load() + drained_total.load()) << "an update was lost";
  EXPECT_GT(drains.load(), 0u);
  EXPECT_GT(fast.load(), 0u) << "the fast path never ran";
  EXPECT_GT(contended.load(), 0u) << "try_enter never failed while a drainer was pending";
  EXPECT_GT(locked.load(), 0u);
}

}  // namespace
}  // namespace memcg::detail
