// Event notifications (memcg/notify.hpp): a callback on a library thread and
// a pollable eventfd, both woken by memory.events changes (no polling), and
// their lifetime rules. Deadlines bound every wait; no timing threshold.
#include "memcg/notify.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "memcg/memcg.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t K = 1 << 10;

struct Mailbox {
  std::mutex m;
  std::condition_variable cv;
  int calls = 0;
  EventNotice last;
  std::thread::id thread;

  void put(const EventNotice& n) {
    std::lock_guard<std::mutex> l(m);
    ++calls;
    last = n;
    thread = std::this_thread::get_id();
    cv.notify_all();
  }
  bool wait_calls(int n) {
    std::unique_lock<std::mutex> l(m);
    return cv.wait_for(l, std::chrono::seconds(10), [&] { return calls >= n; });
  }
  // Events arrive in one or more notices (the max event before the oom one).
  bool wait_oom() {
    std::unique_lock<std::mutex> l(m);
    return cv.wait_for(l, std::chrono::seconds(10), [&] { return calls > 0 && last.current.oom >= 1; });
  }
};

// A charge refused at a child's max: the parent's subscriber hears of it on
// a library thread, with the counts before and after.
TEST(Notify, CallbackRunsOnALibraryThreadWhenEventsChange) {
  test::TempGroup t("ntf");
  Group c = t->create("c");
  c.set_max(64 * K);
  Mailbox box;
  Subscription s = on_events(*t, [&](const EventNotice& n) { box.put(n); });
  ASSERT_TRUE(s);
  std::error_code ec;
  Reservation full = Reservation::make(c, 64 * K);
  EXPECT_FALSE(Reservation::make(c, 64 * K, ec));  // max and oom events at c, hierarchical at t
  ASSERT_TRUE(box.wait_oom()) << "no notification of the oom event within 10 s";
  {
    std::lock_guard<std::mutex> l(box.m);
    EXPECT_NE(box.thread, std::this_thread::get_id()) << "never on the charging thread";
    EXPECT_EQ(box.last.group, *t);
    EXPECT_GE(box.last.current.max, 1u);
    EXPECT_TRUE(box.last.current.max > box.last.previous.max || box.last.current.oom > box.last.previous.oom)
        << "a notice reports a change";
  }
  s.reset();
  full.reset();
  c.remove();
}

// Returns once the notifier has finished a round whose checks all began
// after this call: the round that notices a sentinel's second event began
// after the round that noticed its first had ended, which began after this
// call. Watches subscribed earlier are checked (and written) before the
// sentinel's callback runs, so they have seen every event raised before.
bool notifier_caught_up() {
  test::TempGroup s("ntfsentinel");
  s.get().set_max(4 * K);
  Mailbox box;
  Subscription sub = on_events(*s, [&](const EventNotice& n) { box.put(n); });
  std::error_code ec;
  bool ok = !Reservation::make(*s, 8 * K, ec) && box.wait_calls(1);
  int seen = 0;
  {
    std::lock_guard<std::mutex> l(box.m);
    seen = box.calls;
  }
  const std::uint64_t first = (*s).events().max;
  ok = ok && !Reservation::make(*s, 8 * K, ec);
  {
    std::unique_lock<std::mutex> l(box.m);
    ok = ok && box.cv.wait_for(l, std::chrono::seconds(10),
                               [&] { return box.calls > seen && box.last.current.max > first; });
  }
  sub.reset();
  return ok;
}

// The eventfd is readable after a change and not before; consume() resets it.
TEST(Notify, EventsFdBecomesReadableOnAChange) {
  test::TempGroup t("ntfd");
  t.get().set_max(64 * K);
  EventsFd f = events_fd(*t);
  ASSERT_GE(f.fd(), 0);
  pollfd p{f.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "readable with no event";
  Reservation full = Reservation::make(*t, 64 * K);
  std::error_code ec;
  EXPECT_FALSE(Reservation::make(*t, 4 * K, ec));
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "not readable 10 s after a max event";
  // The max and oom events may reach the notifier in one round or in two;
  // wait until it has finished a round that began after both.
  ASSERT_TRUE(notifier_caught_up()) << "the notifier did not run two rounds within 20 s";
  EXPECT_TRUE(f.consume());
  EXPECT_FALSE(f.consume()) << "consume() resets it";
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  f.reset();
  EXPECT_EQ(f.fd(), -1);
}

// Unsubscribing waits for a callback in progress; a callback may
// unsubscribe itself without deadlock; calls of one subscription never overlap.
TEST(Notify, UnsubscribeWaitsForARunningCallbackAndMayComeFromInside) {
  test::TempGroup t("ntlife");
  t.get().set_max(16 * K);
  Reservation full = Reservation::make(*t, 16 * K);
  std::atomic<bool> inside{false}, release{false}, finished{false};
  std::atomic<int> overlap{0}, running{0};
  Subscription s = on_events(*t, [&](const EventNotice&) {
    if (++running > 1) overlap++;
    inside = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    finished = true;
    --running;
  });
  std::error_code ec;
  EXPECT_FALSE(Reservation::make(*t, 4 * K, ec));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!inside && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(inside.load());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
  });
  s.reset();  // waits for the callback
  EXPECT_TRUE(finished.load()) << "reset() returned while the callback ran";
  releaser.join();
  EXPECT_EQ(overlap.load(), 0);

  // From inside its own callback.
  Mailbox box;
  Subscription self;
  std::mutex sm;
  self = on_events(*t, [&](const EventNotice& n) {
    std::lock_guard<std::mutex> l(sm);
    self.reset();
    box.put(n);
  });
  EXPECT_FALSE(Reservation::make(*t, 4 * K, ec));
  ASSERT_TRUE(box.wait_calls(1));
  std::lock_guard<std::mutex> l(sm);
  EXPECT_FALSE(self);
}

// A callback that unsubscribes another subscription due in the same round:
// the other's callback does not run once its reset() returned.
TEST(Notify, ACallbackUnsubscribingAnotherStopsItsCallback) {
  test::TempGroup t("ntother");
  t.get().set_max(16 * K);
  Reservation full = Reservation::make(*t, 16 * K);
  std::atomic<bool> b_reset{false}, b_ran_after_reset{false};
  Mailbox box;
  Subscription b;
  Subscription a = on_events(*t, [&](const EventNotice& n) {
    if (b) {
      b.reset();
      b_reset = true;
    }
    box.put(n);
  });
  b = on_events(*t, [&](const EventNotice&) {
    if (b_reset) b_ran_after_reset = true;
  });
  std::error_code ec;
  EXPECT_FALSE(Reservation::make(*t, 4 * K, ec));
  ASSERT_TRUE(box.wait_calls(1));
  EXPECT_FALSE(b_ran_after_reset.load()) << "a callback ran after its subscription was reset";
  a.reset();
}

TEST(Notify, NullGroupIsEinval) {
  EXPECT_THROW(on_events(Group(), [](const EventNotice&) {}), std::system_error);
  EXPECT_THROW(events_fd(Group()), std::system_error);
}

}  // namespace
}  // namespace memcg
