// Pressure stall information (memory.pressure) and PSI triggers: the
// totals agree with the stall time measured around the stalling calls, the
// text has the kernel's format, a trigger fires on its descriptor and
// callback within a deadline, bad trigger specs are EINVAL. Waits are
// bounded by deadlines; the checks compare measured quantities, no timing
// threshold.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "memcg/memcg.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t K = 1 << 10;

std::uint64_t wall_us(std::chrono::steady_clock::time_point a) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - a).count());
}

// Charges far above memory.high with nothing reclaimable: the thread
// sleeps (throttle) and memory.pressure counts it, in some and, as the
// thread is the group's only member, in full.
TEST(Psi, ThrottlingCountsAsSomeAndFullStall) {
  test::TempGroup t("psi");
  t.get().set_high(128 * K);
  std::vector<Reservation> held;
  held.push_back(Reservation::make(*t, 512 * K, ChargeFlags::no_throttle));
  const Pressure before = pressure(*t);
  const std::uint64_t slept0 = detail::reclaim_stats().throttle_us;
  const auto start = std::chrono::steady_clock::now();
  {
    ScopedGroup member(*t);
    for (int i = 0; i < 3; ++i) held.push_back(Reservation::make(*t, 64 * K));
  }
  const std::uint64_t wall = wall_us(start);
  const Pressure after = pressure(*t);
  const std::uint64_t slept = detail::reclaim_stats().throttle_us - slept0;
  const std::uint64_t some = after.some.total_us - before.some.total_us;
  const std::uint64_t full = after.full.total_us - before.full.total_us;
  std::printf("slept %llu us, some +%llu us, full +%llu us, wall %llu us\n", static_cast<unsigned long long>(slept),
              static_cast<unsigned long long>(some), static_cast<unsigned long long>(full),
              static_cast<unsigned long long>(wall));
  ASSERT_GT(slept, 0u) << "the charges were not throttled";
  EXPECT_GE(some, slept) << "every throttled microsecond is a stalled one";
  EXPECT_LE(some, wall) << "stall time within the calls' wall time";
  EXPECT_GE(full, slept) << "the only member was stalled: full";
  EXPECT_LE(full, some);
  // Hierarchical: the root saw at least as much.
  EXPECT_GE(pressure(Group::root()).some.total_us, after.some.total_us);
  const std::string text = fs::read(t->path() + "/memory.pressure");
  EXPECT_EQ(text.rfind("some avg10=", 0), 0u) << text;
  EXPECT_NE(text.find("\nfull avg10="), std::string::npos) << text;
  EXPECT_NE(text.find(" total="), std::string::npos) << text;
  held.clear();
}

// No member stalled: a stall of a thread outside the group's ScopedGroups
// counts in some only.
TEST(Psi, AStallOfANonMemberIsSomeNotFull) {
  test::TempGroup t("psinm");
  t.get().set_high(128 * K);
  std::vector<Reservation> held;
  held.push_back(Reservation::make(*t, 512 * K, ChargeFlags::no_throttle));
  const Pressure before = pressure(*t);
  held.push_back(Reservation::make(*t, 64 * K));  // remote charge, throttled, no ScopedGroup
  const Pressure after = pressure(*t);
  EXPECT_GT(after.some.total_us, before.some.total_us);
  EXPECT_EQ(after.full.total_us, before.full.total_us) << "no member: never full";
  held.clear();
}

TEST(Psi, TriggerFiresOnItsDescriptorAndCallback) {
  test::TempGroup t("psitrig");
  t.get().set_high(128 * K);
  std::atomic<int> calls{0};
  PressureTrigger trig = pressure_trigger(*t, "some 50000 1000000", [&] { calls++; });
  ASSERT_GE(trig.fd(), 0);
  pollfd p{trig.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "fired with no stall";
  std::vector<Reservation> held;
  held.push_back(Reservation::make(*t, 512 * K, ChargeFlags::no_throttle));
  {
    ScopedGroup q(*t);
    for (int i = 0; i < 3; ++i) held.push_back(Reservation::make(*t, 64 * K));  // well over 50 ms of stall
  }
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "the trigger did not fire within 10 s";
  EXPECT_TRUE(trig.consume());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (calls.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(calls.load(), 1);
  trig.reset();
  EXPECT_EQ(trig.fd(), -1);
  held.clear();
}

// A trigger fires at most once per tracking window, however long the stall
// (the kernel's rate limit): a 2 s stall with a 1 s window fires at most 3 times.
TEST(Psi, ATriggerFiresAtMostOncePerWindow) {
  test::TempGroup t("psionce");
  t.get().set_high(128 * K);
  std::atomic<int> calls{0};
  PressureTrigger trig = pressure_trigger(*t, "some 10000 1000000", [&] { calls++; });
  std::vector<Reservation> held;
  held.push_back(Reservation::make(*t, 512 * K, ChargeFlags::no_throttle));
  {
    ScopedGroup q(*t);
    for (int i = 0; i < 3; ++i) held.push_back(Reservation::make(*t, 64 * K));  // 2 s of stall in one window
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the notifier's last checks
  std::printf("fired %d times over a 2 s stall\n", calls.load());
  EXPECT_GE(calls.load(), 1);
  EXPECT_LE(calls.load(), 3);
  held.clear();
}

TEST(Psi, BadTriggerSpecsAreEinval) {
  test::TempGroup t("psibad");
  for (const char* spec : {"", "some", "some 1", "some 100000", "half 1000 1000000", "some 0 1000000",
                           "some 2000000 1000000", "some 1000 400000", "some 1000 20000000", "some -1 1000000",
                           "some 1000 1000000 extra", "some 1e3 1000000", "SOME 1000 1000000"}) {
    try {
      PressureTrigger x = pressure_trigger(*t, spec);
      ADD_FAILURE() << "accepted '" << spec << "'";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::invalid_argument) << spec;
    }
  }
  EXPECT_THROW(pressure_trigger(Group(), "some 1000 1000000"), std::system_error);
  EXPECT_THROW(pressure(Group()), std::system_error);
  PressureTrigger ok = pressure_trigger(*t, " full 500000 500000\n");
  EXPECT_GE(ok.fd(), 0);
}

}  // namespace
}  // namespace memcg
