#include "counter/page_counter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace memcg::detail {
namespace {

struct Chain {
  PageCounter root{nullptr, nullptr};
  PageCounter mid{&root, nullptr};
  PageCounter leaf{&mid, nullptr};
};

TEST(PageCounter, ChargeWalksToTheRoot) {
  Chain c;
  PageCounter* fail = nullptr;
  ASSERT_TRUE(c.leaf.try_charge(100, &fail));
  EXPECT_EQ(c.leaf.usage(), 100u);
  EXPECT_EQ(c.mid.usage(), 100u);
  EXPECT_EQ(c.root.usage(), 100u);
  c.leaf.uncharge(100);
  EXPECT_EQ(c.root.usage(), 0u);
}

TEST(PageCounter, RefusalRollsBackEveryLevelAndNamesTheRefuser) {
  Chain c;
  c.mid.set_max(150);
  PageCounter* fail = nullptr;
  ASSERT_TRUE(c.leaf.try_charge(100, &fail));
  EXPECT_FALSE(c.leaf.try_charge(51, &fail));
  EXPECT_EQ(fail, &c.mid);
  EXPECT_EQ(c.mid.failcnt(), 1u);
  EXPECT_EQ(c.leaf.failcnt(), 0u);
  EXPECT_EQ(c.leaf.usage(), 100u);
  EXPECT_EQ(c.mid.usage(), 100u);
  EXPECT_EQ(c.root.usage(), 100u);
  EXPECT_TRUE(c.leaf.try_charge(50, &fail));  // exactly at max is allowed
  EXPECT_EQ(c.mid.usage(), 150u);
  EXPECT_EQ(c.mid.margin(), 0u);
}

TEST(PageCounter, RootLimitRefusesToo) {
  Chain c;
  c.root.set_max(10);
  PageCounter* fail = nullptr;
  EXPECT_FALSE(c.leaf.try_charge(11, &fail));
  EXPECT_EQ(fail, &c.root);
  EXPECT_EQ(c.leaf.usage(), 0u);
  EXPECT_EQ(c.mid.usage(), 0u);
}

TEST(PageCounter, HugeChargeDoesNotOverflow) {
  Chain c;
  PageCounter* fail = nullptr;
  ASSERT_TRUE(c.leaf.try_charge(10, &fail));
  EXPECT_FALSE(c.leaf.try_charge(UINT64_MAX - 5, &fail));  // would wrap
  EXPECT_EQ(c.leaf.usage(), 10u);
}

TEST(PageCounter, WatermarkFollowsPeakAndResetsToCurrent) {
  Chain c;
  PageCounter* fail = nullptr;
  c.leaf.try_charge(300, &fail);
  c.leaf.uncharge(200);
  EXPECT_EQ(c.leaf.watermark(), 300u);
  EXPECT_EQ(c.root.watermark(), 300u);
  c.leaf.reset_watermark();
  EXPECT_EQ(c.leaf.watermark(), 100u);
  EXPECT_EQ(c.root.watermark(), 300u);
}

TEST(PageCounter, ProtectedUsagePropagatesToParent) {
  Chain c;
  PageCounter sib{&c.mid, nullptr};
  c.leaf.set_min(100);
  c.leaf.set_low(300);
  sib.set_min(50);
  PageCounter* fail = nullptr;
  c.leaf.try_charge(200, &fail);
  sib.try_charge(20, &fail);
  EXPECT_EQ(c.leaf.min_usage(), 100u);
  EXPECT_EQ(c.leaf.low_usage(), 200u);
  EXPECT_EQ(sib.min_usage(), 20u);
  EXPECT_EQ(c.mid.children_min_usage(), 120u);
  EXPECT_EQ(c.mid.children_low_usage(), 200u);
  c.leaf.uncharge(150);  // leaf usage 50
  EXPECT_EQ(c.mid.children_min_usage(), 70u);
  EXPECT_EQ(c.mid.children_low_usage(), 50u);
  c.leaf.set_min(0);
  EXPECT_EQ(c.mid.children_min_usage(), 20u);
}

TEST(PageCounter, ConcurrentChargesNeverPassMaxAndBalance) {
  Chain c;
  c.mid.set_max(10000);
  std::atomic<bool> stop{false};
  std::atomic<bool> over{false};
  std::thread sampler([&] {
    while (!stop) {
      if (c.mid.usage() > 10000) over = true;
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      PageCounter* fail;
      for (int i = 0; i < 20000; ++i) {
        if (c.leaf.try_charge(700, &fail)) c.leaf.uncharge(700);
      }
    });
  for (auto& t : ts) t.join();
  stop = true;
  sampler.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(c.leaf.usage(), 0u);
  EXPECT_EQ(c.mid.usage(), 0u);
  EXPECT_EQ(c.root.usage(), 0u);
}


// An upstream with a limit of its own, counting what the level gives it.
struct FakeUpstream final : ChargeUpstream {
  std::atomic<std::uint64_t> usage{0};
  std::uint64_t max = kUnlimited;
  std::atomic<int> events{0};
  bool try_charge(PageCounter&, std::uint64_t bytes) noexcept override {
    std::uint64_t old = usage.load();
    do {
      if (bytes > max - old) return false;
    } while (!usage.compare_exchange_weak(old, old + bytes));
    return true;
  }
  void force_charge(PageCounter&, std::uint64_t bytes) noexcept override { usage += bytes; }
  void uncharge(PageCounter&, std::uint64_t bytes) noexcept override { usage -= bytes; }
  std::uint64_t margin() const noexcept override { return max - usage.load(); }
  void on_event(int) noexcept override { ++events; }
};

TEST(PageCounterUpstream, ARefusalUpstreamFailsTheLevelAndRollsEverythingBack) {
  Chain c;
  FakeUpstream up;
  up.max = 150;
  c.mid.set_upstream(&up);
  PageCounter* fail = nullptr;
  ASSERT_TRUE(c.leaf.try_charge(100, &fail));
  EXPECT_EQ(up.usage.load(), 100u);
  EXPECT_FALSE(c.leaf.try_charge(51, &fail));
  EXPECT_EQ(fail, &c.mid);  // the level with the upstream refused
  EXPECT_EQ(c.mid.failcnt(), 1u);
  EXPECT_EQ(c.leaf.usage(), 100u);
  EXPECT_EQ(c.mid.usage(), 100u);
  EXPECT_EQ(c.root.usage(), 100u);
  EXPECT_EQ(up.usage.load(), 100u);
  EXPECT_EQ(c.mid.margin(), 50u);  // the upstream's, below the level's own unlimited one
  EXPECT_EQ(c.leaf.margin(), kUnlimited - 100);  // a level without upstream: its own only
  c.mid.set_max(120);
  EXPECT_EQ(c.mid.margin(), 20u);  // the smaller of the two
}

TEST(PageCounterUpstream, ARefusalAboveTheLevelGivesTheUpstreamItsBytesBack) {
  Chain c;
  FakeUpstream up;
  c.mid.set_upstream(&up);
  c.root.set_max(100);
  PageCounter* fail = nullptr;
  ASSERT_TRUE(c.leaf.try_charge(60, &fail));
  EXPECT_FALSE(c.leaf.try_charge(60, &fail));
  EXPECT_EQ(fail, &c.root);
  EXPECT_EQ(up.usage.load(), 60u);  // not 120: the refused charge left nothing upstream
  EXPECT_EQ(c.mid.usage(), 60u);
}

TEST(PageCounterUpstream, UnchargeForceChargeAndReparentingReachTheUpstream) {
  Chain c;
  FakeUpstream up;
  c.mid.set_upstream(&up);
  PageCounter* fail = nullptr;
  ASSERT_TRUE(c.leaf.try_charge(100, &fail));
  c.leaf.force_charge(30);
  EXPECT_EQ(up.usage.load(), 130u);
  c.leaf.uncharge(20);
  EXPECT_EQ(up.usage.load(), 110u);
  // Moving bytes from leaf to mid keeps them in mid, so in the upstream.
  c.leaf.move_to_ancestor(10, &c.mid);
  EXPECT_EQ(up.usage.load(), 110u);
  // Moving past mid (to root) takes them out of mid, so out of the upstream.
  c.leaf.move_to_ancestor(40, &c.root);
  EXPECT_EQ(up.usage.load(), 70u);
  EXPECT_EQ(c.mid.usage(), 70u);
  EXPECT_EQ(c.root.usage(), 110u);
}

TEST(PageCounterUpstream, ConcurrentChargesNeverPassTheUpstreamLimit) {
  Chain c;
  FakeUpstream up;
  up.max = 1000;
  c.mid.set_upstream(&up);
  std::vector<std::thread> ts;
  std::atomic<std::uint64_t> held{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      PageCounter* fail = nullptr;
      for (int i = 0; i < 20000; ++i) {
        if (c.leaf.try_charge(7, &fail)) {
          held += 7;
          EXPECT_LE(up.usage.load(), 1000u);
          c.leaf.uncharge(7);
          held -= 7;
        }
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(up.usage.load(), 0u);
  EXPECT_EQ(c.root.usage(), 0u);
}

}  // namespace
}  // namespace memcg::detail
