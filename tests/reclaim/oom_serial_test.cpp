// OOM as the kernel runs it, and as a server needs it: serialised per
// domain with the margin re-checked (one kill for N threads failing at one
// full group), a charge inside a handler failing fast instead of recursing,
// and the handler retried while it makes progress.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "../test_util.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t K = 1 << 10;

// Tenants holding unreclaimable memory (Reservations) that a handler can
// "kill" (free all of one tenant's) or trim (free one reservation).
struct Tenants {
  std::mutex m;
  std::map<std::string, std::vector<Reservation>> held;  // by group path

  void fill(const Group& g, std::uint64_t bytes, std::uint64_t piece) {
    std::lock_guard<std::mutex> l(m);
    for (std::uint64_t done = 0; done < bytes; done += piece) held[g.path()].push_back(Reservation::make(g, piece));
  }
  std::uint64_t kill(const Group& g) {
    std::vector<Reservation> dead;
    {
      std::lock_guard<std::mutex> l(m);
      dead.swap(held[g.path()]);
    }
    std::uint64_t bytes = 0;
    for (auto& r : dead) bytes += r.size();
    return bytes;  // freed when `dead` goes
  }
  bool trim_one(const Group& g) {
    Reservation r;
    std::lock_guard<std::mutex> l(m);
    auto& v = held[g.path()];
    if (v.empty()) return false;
    r = std::move(v.back());
    v.pop_back();
    return true;
  }
  void clear() {
    std::lock_guard<std::mutex> l(m);
    held.clear();
  }
};

// Four threads each need 32K in a full group whose handler kills one
// 240K tenant per call (slowly, so that all four fail while it runs). One
// kill frees enough for all: the handler runs once, never concurrently.
TEST(OomSerial, ThreadsFailingAtOneGroupCallTheHandlerOnce) {
  test::TempGroup t("oomserial");
  t.get().set_max(1024 * K);
  Tenants ten;
  std::vector<Group> tenants;
  for (int i = 0; i < 4; ++i) {
    tenants.push_back(t->create("tenant" + std::to_string(i)));
    ten.fill(tenants.back(), 240 * K, 16 * K);
  }
  Group q = t->create("queries");
  ten.fill(q, 64 * K, 16 * K);  // 1024K in all: full
  std::atomic<int> calls{0}, inside{0}, most_inside{0};
  t.get().set_oom_handler([&](const OomContext& ctx) {
    calls++;
    const int now = ++inside;
    int seen = most_inside.load();
    while (now > seen && !most_inside.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::uint64_t freed = ten.kill(*ctx.victim);
    --inside;
    return freed > 0;
  });
  std::vector<std::thread> ths;
  std::atomic<int> ok{0};
  std::vector<Reservation> got(4);
  for (int i = 0; i < 4; ++i)
    ths.emplace_back([&, i] {
      std::error_code ec;
      got[i] = Reservation::make(q, 32 * K, ec);
      if (got[i]) ok++;
    });
  for (auto& th : ths) th.join();
  EXPECT_EQ(ok.load(), 4) << "every query fits after one kill";
  EXPECT_EQ(calls.load(), 1) << "one kill freed enough for all four";
  EXPECT_EQ(most_inside.load(), 1) << "the handler ran concurrently with itself";
  EXPECT_EQ(t->events().oom_kill, 1u);
  t.get().set_oom_handler(nullptr);
  got.clear();
  ten.clear();
  for (Group& g : tenants) g.remove();
  q.remove();
}

// OOMs in disjoint subtrees do not wait for each other: while a slow
// handler runs for one tenant, another tenant's OOM is handled at once.
TEST(OomSerial, DisjointDomainsRunConcurrently) {
  test::TempGroup t("oomdisjoint");
  Group a = t->create("a"), b = t->create("b");
  a.set_max(128 * K);
  b.set_max(128 * K);
  Tenants ten;
  ten.fill(a, 128 * K, 16 * K);
  ten.fill(b, 128 * K, 16 * K);
  std::atomic<bool> a_inside{false}, b_done{false}, b_ran_while_a{false};
  a.set_oom_handler([&](const OomContext& ctx) {
    a_inside = true;
    for (int i = 0; i < 500 && !b_done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    a_inside = false;
    return ten.trim_one(*ctx.group);
  });
  b.set_oom_handler([&](const OomContext& ctx) {
    b_ran_while_a = a_inside.load();
    return ten.trim_one(*ctx.group);
  });
  std::thread ta([&] { Reservation r = Reservation::make(a, 16 * K); });
  while (!a_inside) std::this_thread::yield();
  {
    Reservation r = Reservation::make(b, 16 * K);
    EXPECT_TRUE(r);
  }
  b_done = true;
  ta.join();
  EXPECT_TRUE(b_ran_while_a.load()) << "b's OOM waited for a's handler";
  a.set_oom_handler(nullptr);
  b.set_oom_handler(nullptr);
  ten.clear();
  a.remove();
  b.remove();
}

// A handler that charges the full group it is handling: that charge fails
// at once (it used to recurse into OOM until the stack overflowed).
TEST(OomSerial, AChargeInsideAHandlerFailsInsteadOfRecursing) {
  test::TempGroup t("oomrecurse");
  t.get().set_max(256 * K);
  Tenants ten;
  ten.fill(*t, 256 * K, 16 * K);
  std::atomic<int> calls{0};
  std::error_code inner;
  t.get().set_oom_handler([&](const OomContext& ctx) {
    calls++;
    Reservation r = Reservation::make(*ctx.group, 16 * K, inner);  // does not fit
    return false;
  });
  std::error_code ec;
  Reservation r = Reservation::make(*t, 16 * K, ec);
  EXPECT_FALSE(r);
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_EQ(inner, std::errc::not_enough_memory) << "the handler's own charge must fail, not recurse";
  EXPECT_EQ(calls.load(), 1);
  t.get().set_oom_handler(nullptr);
  ten.clear();
}

// A charge that needs five trims gets them: the handler is called again as
// long as each call makes progress (it used to give up after four).
TEST(OomSerial, TheHandlerIsRetriedWhileItMakesProgress) {
  test::TempGroup t("oomprogress");
  t.get().set_max(512 * K);
  Group idle = t->create("idle");
  Tenants ten;
  ten.fill(idle, 512 * K, 8 * K);
  std::atomic<int> calls{0};
  t.get().set_oom_handler([&](const OomContext& ctx) {
    calls++;
    return ten.trim_one(*ctx.victim);  // 8K a call
  });
  std::error_code ec;
  Reservation r = Reservation::make(*t, 40 * K, ec);  // small enough for OOM; needs 5 trims of 8K
  EXPECT_TRUE(r) << ec.message();
  EXPECT_EQ(calls.load(), 5);
  EXPECT_EQ(t->events().oom_kill, 5u);
  r.reset();
  t.get().set_oom_handler(nullptr);
  ten.clear();
  idle.remove();
}

// A handler that says it freed memory but did not: the charge fails after a
// bounded number of calls instead of spinning.
TEST(OomSerial, AHandlerThatFreesNothingIsCalledABoundedNumberOfTimes) {
  test::TempGroup t("oomliar");
  t.get().set_max(128 * K);
  Tenants ten;
  ten.fill(*t, 128 * K, 16 * K);
  std::atomic<int> calls{0};
  t.get().set_oom_handler([&](const OomContext&) {
    calls++;
    return true;  // claims progress, frees nothing
  });
  std::error_code ec;
  Reservation r = Reservation::make(*t, 16 * K, ec);
  EXPECT_FALSE(r);
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_EQ(calls.load(), 4) << "kMaxOomStalls consecutive calls without progress";
  t.get().set_oom_handler(nullptr);
  ten.clear();
}

// cgroup.kill: kill() calls the kill handler of the group and of every
// descendant, once each; the text tree's cgroup.kill takes only "1".
TEST(OomGroup, KillCallsEveryKillHandlerOfTheSubtree) {
  test::TempGroup t("killsub");
  Group a = t->create("a"), b = a.create("b"), c = t->create("c");
  std::vector<std::string> killed;
  std::mutex m;
  for (Group* g : {&a, &b, &c}) {
    g->set_kill_handler([&](const Group& x) {
      std::lock_guard<std::mutex> l(m);
      killed.push_back(x.path());
    });
  }
  EXPECT_EQ(a.kill(), 2u);
  EXPECT_EQ(killed.size(), 2u);
  killed.clear();
  fs::write(t->path() + "/cgroup.kill", "1\n");
  EXPECT_EQ(killed.size(), 3u);
  std::error_code ec;
  fs::write(t->path() + "/cgroup.kill", "0", ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  fs::read(t->path() + "/cgroup.kill", ec);
  EXPECT_EQ(ec, std::errc::permission_denied);
  b.remove();
  b.set_kill_handler([](const Group&) {}, ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  a.remove();
  c.remove();
}

// Two over-limit queries under a tenant whose queries are oom groups, no
// OOM handler: an OOM kills exactly one query (the heavier), as a whole,
// and the charge that needed the memory succeeds.
TEST(OomGroup, AnOomKillsExactlyOneQueryAsAWhole) {
  test::TempGroup t("oomgroup");
  t.get().set_max(512 * K);
  Tenants ten;
  Group q1 = t->create("q1"), q2 = t->create("q2");
  Group q1sub = q1.create("sort");  // the whole query dies, its parts too
  std::atomic<int> kills{0};
  for (Group* q : {&q1, &q2}) {
    q->set_oom_group(true);
    q->set_kill_handler([&](const Group& x) {
      kills++;
      ten.kill(x);
    });
  }
  q1sub.set_kill_handler([&](const Group& x) { ten.kill(x); });
  EXPECT_EQ(fs::read(q1.path() + "/memory.oom.group"), "1\n");
  ten.fill(q1, 240 * K, 16 * K);    // the victim: the largest own usage
  ten.fill(q1sub, 48 * K, 16 * K);  // q1 in all: 288K
  ten.fill(q2, 224 * K, 16 * K);    // 512K: full
  Group q3 = t->create("q3");
  std::error_code ec;
  Reservation r = Reservation::make(q3, 32 * K, ec);
  ASSERT_TRUE(r) << ec.message();
  EXPECT_EQ(kills.load(), 1) << "exactly one query killed";
  EXPECT_EQ(q1.current(), 0u) << "the victim's query, with its parts";
  EXPECT_EQ(q2.current(), 224 * K) << "the other query lives";
  EXPECT_EQ(q1.events().oom_kill, 1u);
  r.reset();
  ten.clear();
  q1sub.remove();
  for (Group* g : {&q1, &q2, &q3}) g->remove();
}

// A kill that frees asynchronously (a query cancelled at its next check):
// with an oom wait the failing charge waits for the memory and succeeds.
TEST(OomGroup, TheChargeWaitsBoundedlyForTheVictimToReleaseMemory) {
  test::TempGroup t("oomwait");
  t.get().set_max(256 * K);
  Tenants ten;
  Group q = t->create("q");
  ten.fill(q, 256 * K, 16 * K);
  std::vector<std::thread> cancellers;
  q.set_oom_group(true);
  q.set_kill_handler([&](const Group& x) {
    cancellers.emplace_back([&ten, x] {  // the query notices its cancellation 30 ms later
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      ten.kill(x);
    });
  });
  t.get().set_oom_wait(std::chrono::seconds(5));
  EXPECT_EQ(t->oom_wait(), std::chrono::seconds(5));
  std::error_code ec;
  Reservation r = Reservation::make(*t, 16 * K, ec);
  EXPECT_TRUE(r) << "the charge did not wait for the victim: " << ec.message();
  for (auto& th : cancellers) th.join();
  r.reset();
  ten.clear();
  q.remove();
}

}  // namespace
}  // namespace memcg
