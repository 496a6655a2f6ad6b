#include "pressure_load.hpp"

#include <poll.h>

#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "check.hpp"

namespace soak {

using namespace memcg;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kDeliveryWait = std::chrono::seconds(20);  // bound of the final delivery checks
constexpr std::uint64_t kTriggerWindowUs = 500000;

bool le(const Events& a, const Events& b) {
  return a.low <= b.low && a.high <= b.high && a.max <= b.max && a.oom <= b.oom && a.oom_kill <= b.oom_kill;
}
bool eq(const Events& a, const Events& b) { return le(a, b) && le(b, a); }
unsigned long long U(std::uint64_t v) { return v; }

bool in_subtree(const Group& g, const Group& root) {
  const std::string p = g.path(), r = root.path();
  return p == r || (p.size() > r.size() && p.compare(0, r.size(), r) == 0 && p[r.size()] == '/');
}

}  // namespace

// One subscription's state: written by its callback (calls never overlap),
// read by finish() under `m`.
struct PressureLoad::Watched {
  Group g;
  Subscription sub;
  std::mutex m;
  bool reported = false;  // m: `last` holds a report
  Events last;            // m: the latest call's current
  std::atomic<bool> in_call{false};
  std::atomic<std::uint64_t> calls{0};

  void on_call(const EventNotice& n) {
    SOAK_CHECK(!in_call.exchange(true), "%s: two calls of one subscription at once", g.path().c_str());
    SOAK_CHECK(le(n.previous, n.current), "%s: a report's counts went backwards (max %llu -> %llu)",
               g.path().c_str(), U(n.previous.max), U(n.current.max));
    const Events now = g.events();
    SOAK_CHECK(le(n.current, now), "%s: reported counts above memory.events (max %llu > %llu)", g.path().c_str(),
               U(n.current.max), U(now.max));
    {
      std::lock_guard<std::mutex> l(m);
      SOAK_CHECK(!reported || eq(n.previous, last), "%s: previous (max %llu) is not the last report (max %llu)",
                 g.path().c_str(), U(n.previous.max), U(last.max));
      reported = true;
      last = n.current;
    }
    calls.fetch_add(1, std::memory_order_relaxed);
    in_call.store(false);
  }
};

PressureLoad::PressureLoad(const Group& top, const Group* fixed, int n)
    : top_(top), fixed_(fixed, fixed + n), psi_seen_(static_cast<std::size_t>(n) + 1), started_(Clock::now()) {
  SOAK_CHECK(n >= 3, "PressureLoad needs three fixed groups, got %d", n);
  auto watch = [&](const Group& g) {
    auto w = std::make_unique<Watched>();
    w->g = g;
    Watched* raw = w.get();
    w->sub = on_events(g, [raw](const EventNotice& notice) { raw->on_call(notice); });
    watched_.push_back(std::move(w));
  };
  watch(top_);
  for (const Group& g : fixed_) watch(g);
  fd_ = events_fd(top_);
  fd_seen_ = top_.events();
  trigger_ = pressure_trigger(top_, "some 10000 " + std::to_string(kTriggerWindowUs),
                              [this] { trigger_fires_.fetch_add(1, std::memory_order_relaxed); });
  // fixed[1]: refuses, after checking that a charge of its own fails at once.
  const Group f1 = fixed_[1];
  fixed_[1].set_oom_handler([this, f1](const OomContext& c) {
    SOAK_CHECK(in_handler_[0].fetch_add(1) == 0, "two OOM handlers of %s's domain at once", f1.path().c_str());
    SOAK_CHECK(c.group && *c.group == f1 && c.victim && in_subtree(*c.victim, f1) && c.requested > 0,
               "OOM context of %s: group %s, victim %s, %llu bytes", f1.path().c_str(),
               c.group ? c.group->path().c_str() : "-", c.victim ? c.victim->path().c_str() : "-", U(c.requested));
    std::error_code ec;
    Reservation r = Reservation::make(f1, f1.max(), ec);  // can never fit while anything is charged
    SOAK_CHECK(!r || f1.current() == f1.max(), "%s: the OOM handler's own charge of max succeeded",
               f1.path().c_str());
    handler_calls_[0].fetch_add(1, std::memory_order_relaxed);
    in_handler_[0].fetch_sub(1);
    return false;
  });
  // fixed[2]: frees memory by reclaiming its group.
  const Group f2 = fixed_[2];
  fixed_[2].set_oom_handler([this, f2](const OomContext& c) {
    SOAK_CHECK(in_handler_[1].fetch_add(1) == 0, "two OOM handlers of %s's domain at once", f2.path().c_str());
    SOAK_CHECK(c.group && *c.group == f2 && c.victim && in_subtree(*c.victim, f2) && c.requested > 0,
               "OOM context of %s", f2.path().c_str());
    std::error_code ec;
    const std::uint64_t got = f2.reclaim(1 << 20, ec);
    handler_calls_[1].fetch_add(1, std::memory_order_relaxed);
    in_handler_[1].fetch_sub(1);
    return got > 0;
  });
}

PressureLoad::~PressureLoad() = default;

void PressureLoad::check_pressure(const Group& g, PsiSeen& seen) {
  const Pressure p = pressure(g);
  for (const PressureLine* l : {&p.some, &p.full})
    SOAK_CHECK(l->avg10 >= 0 && l->avg10 <= 100 && l->avg60 >= 0 && l->avg60 <= 100 && l->avg300 >= 0 &&
                   l->avg300 <= 100,
               "%s: memory.pressure averages %.2f %.2f %.2f", g.path().c_str(), l->avg10, l->avg60, l->avg300);
  SOAK_CHECK(p.full.total_us <= p.some.total_us, "%s: full %llu us > some %llu us", g.path().c_str(),
             U(p.full.total_us), U(p.some.total_us));
  SOAK_CHECK(p.some.total_us >= seen.some && p.full.total_us >= seen.full,
             "%s: stall totals went backwards (some %llu -> %llu, full %llu -> %llu)", g.path().c_str(), U(seen.some),
             U(p.some.total_us), U(seen.full), U(p.full.total_us));
  seen.some = p.some.total_us;
  seen.full = p.full.total_us;
}

void PressureLoad::poll() {
  pollfd pfd{fd_.fd(), POLLIN, 0};
  if (::poll(&pfd, 1, 0) == 1 && fd_.consume()) {
    fd_wakeups_.fetch_add(1, std::memory_order_relaxed);
    const Events now = top_.events();
    SOAK_CHECK(le(fd_seen_, now), "%s: memory.events went backwards after an events fd wakeup",
               top_.path().c_str());
    fd_seen_ = now;
  }
  check_pressure(top_, psi_seen_[0]);
  for (std::size_t i = 0; i < fixed_.size(); ++i) check_pressure(fixed_[i], psi_seen_[i + 1]);
}

Subscription PressureLoad::subscribe_churned(const Group& g) {
  return on_events(g, [this, seen = Events{}](const EventNotice& n) mutable {
    SOAK_CHECK(le(n.previous, n.current) && le(seen, n.current), "%s: churned group's counts went backwards",
               n.group.path().c_str());
    seen = n.current;
    churned_calls_.fetch_add(1, std::memory_order_relaxed);
  });
}

void PressureLoad::finish() {
  // One more max event at the top group's subtree, with nothing else
  // running: a child with a page of max refuses a reservation of two.
  fd_.consume();
  {
    Group child = top_.create("pressure-final");
    child.set_max(4096);
    std::error_code ec;
    Reservation r = Reservation::make(child, 8192, ChargeFlags::no_reclaim, ec);
    SOAK_CHECK(!r, "a reservation above max succeeded");
    child.remove();
  }
  const Events final_events = top_.events();
  pollfd pfd{fd_.fd(), POLLIN, 0};
  const int ready = ::poll(&pfd, 1, static_cast<int>(std::chrono::milliseconds(kDeliveryWait).count()));
  SOAK_CHECK(ready == 1, "the events fd of %s did not become readable after a max event", top_.path().c_str());
  // Every subscription on the top group reports its final counts.
  const auto deadline = Clock::now() + kDeliveryWait;
  Watched& w = *watched_.front();
  for (;;) {
    {
      std::lock_guard<std::mutex> l(w.m);
      if (w.reported && eq(w.last, final_events)) break;
    }
    if (Clock::now() > deadline) {
      SOAK_CHECK(false, "%s: the subscription never reported the final memory.events (max %llu)",
                 top_.path().c_str(), U(final_events.max));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started_).count();
  const std::uint64_t fires = trigger_fires_.load();
  SOAK_CHECK(static_cast<double>(fires) <= secs / (kTriggerWindowUs / 1e6) + 1,
             "the PSI trigger fired %llu times in %.1f s (at most once per %llu us)", U(fires), secs,
             U(kTriggerWindowUs));
  fixed_[1].set_oom_handler({});
  fixed_[2].set_oom_handler({});
  trigger_.reset();
  fd_.reset();
  std::uint64_t calls = 0;
  for (auto& x : watched_) {
    x->sub.reset();
    calls += x->calls.load();
  }
  const Pressure p = pressure(top_);
  std::printf(
      "memcg_soak: notifications %llu (churned groups %llu), events fd wakeups %llu, PSI trigger fires %llu, "
      "top some/full stall %llu/%llu us, OOM handler calls %llu (refusing) %llu (reclaiming)\n",
      U(calls), U(churned_calls_.load()), U(fd_wakeups_.load()), U(fires), U(p.some.total_us), U(p.full.total_us),
      U(handler_calls_[0].load()), U(handler_calls_[1].load()));
}

}  // namespace soak
