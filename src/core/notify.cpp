// Event notifications (memcg/notify.hpp, core/notify.hpp).
//
// LIFECYCLE of a watch: created by on_events()/events_fd() with a group
// reference; listed under the notifier mutex; the notifier marks it busy
// while it runs its callback outside the mutex. Unsubscribing unlists it
// and waits until it is not busy, then frees it; from inside its own
// callback (the notifier thread) it only marks it removed, and the
// notifier frees it when the callback returns.
#include "memcg/notify.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <new>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "core/access.hpp"
#include "core/errors.hpp"
#include "core/group_impl.hpp"
#include "core/notify.hpp"
#include "core/psi.hpp"
#include "core/refcount.hpp"
#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg {
namespace detail {

std::atomic<int> g_event_watches{0};

namespace {

struct Watch {
  GroupImpl* g = nullptr;  // holds a reference
  std::function<void(const EventNotice&)> cb;
  int efd = -1;            // an EventsFd's or a trigger's: signalled (and cb/psi_cb run)
  Events last;             // notifier mutex
  int busy = 0;            // notifier mutex: callbacks in progress
  bool removed = false;    // notifier mutex: unsubscribed from inside its callback
  // A PSI trigger (pressure_trigger): fires when g's stall time grows by
  // `threshold` us within `window` us (all notifier mutex but the constants).
  bool psi = false, full = false;
  std::uint64_t threshold = 0, window = 0, win_start = 0, win_total = 0;
  std::uint64_t last_fired = 0;  // us; 0: never (at most one event per window, as the kernel)
  std::function<void()> psi_cb;
};

std::uint64_t now_us() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// A trigger's check (notifier mutex held): true when it fires now.
bool trigger_fires(Watch* w) noexcept {
  const std::uint64_t total = psi_total_us(w->g, w->full), now = now_us();
  if (w->last_fired && now - w->last_fired < w->window) return false;  // one event per window
  if (total - w->win_total >= w->threshold) {
    w->win_start = now;
    w->win_total = total;
    w->last_fired = now;
    return true;
  }
  if (now - w->win_start >= w->window) {  // a new tracking window
    w->win_start = now;
    w->win_total = total;
  }
  return false;
}

bool same(const Events& a, const Events& b) {
  return a.low == b.low && a.high == b.high && a.max == b.max && a.oom == b.oom && a.oom_kill == b.oom_kill;
}

struct Notifier {
  RankedMutex mutex{LockRank::kNotify};
  std::condition_variable_any wake;  // the thread waits for work
  std::condition_variable_any idle;  // a callback finished
  std::vector<Watch*> watches MEMCG_GUARDED_BY(mutex);
  bool started MEMCG_GUARDED_BY(mutex) = false;
  bool wanted MEMCG_GUARDED_BY(mutex) = false;
  std::thread::id thread MEMCG_GUARDED_BY(mutex);
  std::atomic<bool> pending{false};

  // Fork child: no notifier thread; the next wake-up starts one. Callbacks
  // that were running belonged to threads that are gone.
  static void fork_child_fixup(void* p) noexcept MEMCG_NO_TSA {
    auto* n = static_cast<Notifier*>(p);
    new (&n->wake) std::condition_variable_any;
    new (&n->idle) std::condition_variable_any;
    n->started = false;
    n->thread = std::thread::id();
    n->pending.store(false, std::memory_order_relaxed);
    for (Watch* w : n->watches) w->busy = 0;
  }
  fork::HeldAcrossFork<RankedMutex> fork{mutex, fork_child_fixup, this};
};

Notifier& notifier() {
  static Notifier* n = new Notifier;  // leaked: the thread outlives static destructors
  return *n;
}

void free_watch(Watch* w) noexcept {
  group_put(w->g);
  delete w;
}

void run() {
  Notifier& n = notifier();
  {
    LockGuard<RankedMutex> l(n.mutex);
    n.thread = std::this_thread::get_id();
  }
  std::vector<std::pair<Watch*, EventNotice>> due;
  std::vector<Watch*> finished;
  for (;;) {
    {
      UniqueLock<RankedMutex> l(n.mutex);
      // The timeout also catches a change whose wake-up raced the reset below.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
      while (!n.wanted)
        if (n.wake.wait_until(l, deadline) == std::cv_status::timeout) break;
      n.wanted = false;
    }
    n.pending.store(false, std::memory_order_release);
    {
      LockGuard<RankedMutex> l(n.mutex);
      for (Watch* w : n.watches) {
        if (w->psi) {
          if (!trigger_fires(w)) continue;
          group_get(w->g);
          due.emplace_back(w, EventNotice{Access::adopt(w->g), w->last, w->last});
          ++w->busy;
          continue;
        }
        const Events now = w->g->events.snapshot();
        if (same(now, w->last)) continue;
        group_get(w->g);
        due.emplace_back(w, EventNotice{Access::adopt(w->g), w->last, now});
        w->last = now;
        ++w->busy;
      }
    }
    for (auto& [w, notice] : due) {
      // Unsubscribed by an earlier callback of this round (only this thread
      // sets `removed`): its owner may have closed its descriptor already.
      if (w->removed) continue;
      if (w->efd >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t r = ::write(w->efd, &one, sizeof one);  // EAGAIN: already readable
      }
      if (w->psi) {
        if (w->psi_cb) {
          try {
            w->psi_cb();
          } catch (...) {
          }
        }
      } else if (w->efd < 0) {
        try {
          w->cb(notice);
        } catch (...) {
          // A throwing callback loses this notice, not the subscription.
        }
      }
    }
    {
      LockGuard<RankedMutex> l(n.mutex);
      for (auto& d : due)
        if (--d.first->busy == 0 && d.first->removed) finished.push_back(d.first);
    }
    n.idle.notify_all();
    due.clear();  // drops the notices' group references, no lock held
    for (Watch* w : finished) free_watch(w);
    finished.clear();
  }
}

Watch* subscribe(Watch* w) {
  Notifier& n = notifier();
  {
    LockGuard<RankedMutex> l(n.mutex);
    w->last = w->g->events.snapshot();
    if (w->psi) {
      w->win_start = now_us();
      w->win_total = psi_total_us(w->g, w->full);
    }
    n.watches.push_back(w);  // may throw std::bad_alloc: the caller frees w
  }
  g_event_watches.fetch_add(1, std::memory_order_relaxed);
  if (w->psi) wake_notifier();  // triggers are checked by the running thread
  return w;
}

// "some|full <threshold us> <window us>"; false on anything else.
bool parse_trigger(std::string_view spec, bool& full, std::uint64_t& threshold, std::uint64_t& window) {
  auto next = [&](std::string_view& out) {
    while (!spec.empty() && (spec.front() == ' ' || spec.front() == '\t' || spec.front() == '\n')) spec.remove_prefix(1);
    std::size_t i = 0;
    while (i < spec.size() && spec[i] != ' ' && spec[i] != '\t' && spec[i] != '\n') ++i;
    out = spec.substr(0, i);
    spec.remove_prefix(i);
    return !out.empty();
  };
  auto number = [](std::string_view t, std::uint64_t& v) {
    if (t.empty() || t.size() > 19) return false;
    v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
  };
  std::string_view kind, t, w, rest;
  if (!next(kind) || !next(t) || !next(w) || next(rest)) return false;
  if (kind != "some" && kind != "full") return false;
  full = kind == "full";
  if (!number(t, threshold) || !number(w, window)) return false;
  return window >= 500000 && window <= 10000000 && threshold >= 1 && threshold <= window;
}

void unsubscribe(Watch* w) noexcept {
  Notifier& n = notifier();
  {
    UniqueLock<RankedMutex> l(n.mutex);
    for (auto it = n.watches.begin(); it != n.watches.end(); ++it)
      if (*it == w) {
        n.watches.erase(it);
        break;
      }
    g_event_watches.fetch_sub(1, std::memory_order_relaxed);
    if (w->busy && n.thread == std::this_thread::get_id()) {  // from inside its own callback
      w->removed = true;
      return;
    }
    while (w->busy) n.idle.wait(l);
  }
  free_watch(w);
}

Watch* new_watch(const Group& g) {
  GroupImpl* p = Access::impl(g);
  if (!p) throw_error(make_err(std::errc::invalid_argument), "memcg::on_events");
  auto* w = new Watch;
  group_get(p);
  w->g = p;
  return w;
}

}  // namespace

void wake_notifier() noexcept {
  Notifier& n = notifier();
  if (n.pending.exchange(true, std::memory_order_acq_rel)) return;  // already asked
  {
    LockGuard<RankedMutex> l(n.mutex);
    n.wanted = true;
    if (!n.started) {
      try {
        std::thread(run).detach();
        n.started = true;
      } catch (...) {
        // No thread now (out of memory or threads): the next event retries.
        n.pending.store(false, std::memory_order_relaxed);
      }
    }
  }
  n.wake.notify_one();
}

}  // namespace detail

Subscription& Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    reset();
    h_ = o.h_;
    o.h_ = nullptr;
  }
  return *this;
}

void Subscription::reset() noexcept {
  if (!h_) return;
  detail::unsubscribe(static_cast<detail::Watch*>(h_));
  h_ = nullptr;
}

Subscription on_events(const Group& g, std::function<void(const EventNotice&)> cb) {
  detail::Watch* w = detail::new_watch(g);
  w->cb = std::move(cb);
  Subscription s;
  try {
    s.h_ = detail::subscribe(w);
  } catch (...) {
    detail::free_watch(w);
    throw;
  }
  return s;
}

EventsFd::EventsFd(EventsFd&& o) noexcept : sub_(std::move(o.sub_)), fd_(o.fd_) { o.fd_ = -1; }

EventsFd& EventsFd::operator=(EventsFd&& o) noexcept {
  if (this != &o) {
    reset();
    sub_ = std::move(o.sub_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void EventsFd::reset() noexcept {
  sub_.reset();  // first: the notifier no longer writes to fd_
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool EventsFd::consume() noexcept {
  std::uint64_t v = 0;
  return fd_ >= 0 && ::read(fd_, &v, sizeof v) == static_cast<ssize_t>(sizeof v) && v != 0;
}

Pressure pressure(const Group& g) {
  detail::GroupImpl* p = detail::Access::impl(g);
  if (!p) detail::throw_error(detail::make_err(std::errc::invalid_argument), "memcg::pressure");
  return detail::psi_read(p);
}

PressureTrigger::PressureTrigger(PressureTrigger&& o) noexcept : sub_(std::move(o.sub_)), fd_(o.fd_) { o.fd_ = -1; }

PressureTrigger& PressureTrigger::operator=(PressureTrigger&& o) noexcept {
  if (this != &o) {
    reset();
    sub_ = std::move(o.sub_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void PressureTrigger::reset() noexcept {
  sub_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool PressureTrigger::consume() noexcept {
  std::uint64_t v = 0;
  return fd_ >= 0 && ::read(fd_, &v, sizeof v) == static_cast<ssize_t>(sizeof v) && v != 0;
}

PressureTrigger pressure_trigger(const Group& g, std::string_view spec, std::function<void()> cb) {
  bool full = false;
  std::uint64_t threshold = 0, window = 0;
  if (!g || !detail::parse_trigger(spec, full, threshold, window))
    detail::throw_error(detail::make_err(std::errc::invalid_argument), "memcg::pressure_trigger");
  detail::Watch* w = detail::new_watch(g);
  w->psi = true;
  w->full = full;
  w->threshold = threshold;
  w->window = window;
  w->psi_cb = std::move(cb);
  w->efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->efd < 0) {
    const int e = errno;
    detail::free_watch(w);
    throw std::system_error(e, std::generic_category(), "memcg::pressure_trigger: eventfd");
  }
  PressureTrigger t;
  t.fd_ = w->efd;
  try {
    t.sub_.h_ = detail::subscribe(w);
  } catch (...) {
    ::close(w->efd);
    t.fd_ = -1;
    detail::free_watch(w);
    throw;
  }
  return t;
}

EventsFd events_fd(const Group& g) {
  detail::Watch* w = detail::new_watch(g);
  w->efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->efd < 0) {
    const int e = errno;
    detail::free_watch(w);
    throw std::system_error(e, std::generic_category(), "memcg::events_fd: eventfd");
  }
  EventsFd f;
  f.fd_ = w->efd;
  try {
    f.sub_.h_ = detail::subscribe(w);
  } catch (...) {
    ::close(w->efd);
    f.fd_ = -1;
    detail::free_watch(w);
    throw;
  }
  return f;
}

}  // namespace memcg
