// memcg/notify.hpp - react to a group's memory.events without polling (the
// kernel's cgroup_file_notify on memory.events).
//
// on_events(g, callback): the callback runs on a library thread (never on
// the charging thread, never with a library lock held) soon after
// g's memory.events changes — an event at g or any descendant (low, high,
// max, oom, oom_kill). It gets the counts it last saw and the current ones;
// several events between two calls arrive as one call. Calls for one
// subscription never overlap.
//
// events_fd(g): an eventfd that becomes readable when g's memory.events
// changes; read(2) (or EventsFd::consume()) resets it. For poll/epoll loops.
//
// Lifetime: destroying a Subscription (or EventsFd) unsubscribes and waits
// for a callback of it in progress, unless called from inside that
// callback. A subscription holds a reference on its group: a removed
// group's remaining events are still delivered.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "memcg/group.hpp"
#include "memcg/types.hpp"

namespace memcg {

class EventsFd;
class Subscription;
class PressureTrigger;
EventsFd events_fd(const Group& g);

/// One line of memory.pressure: the share of wall time stalled, in
/// percent, averaged over 10 s, 60 s and 300 s, and the total in
/// microseconds (the kernel's PSI format).
struct PressureLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;
  std::uint64_t total_us = 0;
};
/// memory.pressure: `some` — at least one thread stalled charging the
/// group's subtree (reclaim, memory.high throttling, OOM); `full` — and
/// every thread whose ScopedGroup lies in the subtree was stalled. See
/// docs/reclaim.md, "Pressure stall information".
struct Pressure {
  PressureLine some, full;
};
/// g's memory.pressure now. EINVAL (std::system_error) on a null group.
Pressure pressure(const Group& g);

struct EventNotice {
  Group group;      ///< the group subscribed to
  Events previous;  ///< its memory.events when the subscription last reported (or was made)
  Events current;   ///< its memory.events now
};

class Subscription {
 public:
  Subscription() noexcept = default;
  Subscription(Subscription&& o) noexcept : h_(o.h_) { o.h_ = nullptr; }
  Subscription& operator=(Subscription&& o) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }
  /// Unsubscribes (waits for a running callback, see above).
  void reset() noexcept;
  explicit operator bool() const noexcept { return h_ != nullptr; }

 private:
  friend Subscription on_events(const Group&, std::function<void(const EventNotice&)>);
  friend class EventsFd;
  friend class PressureTrigger;
  friend EventsFd events_fd(const Group&);
  friend PressureTrigger pressure_trigger(const Group&, std::string_view, std::function<void()>);
  void* h_ = nullptr;
};

/// Calls `cb` on a library thread whenever g's memory.events changes.
/// EINVAL (std::system_error) on a null group; std::bad_alloc.
Subscription on_events(const Group& g, std::function<void(const EventNotice&)> cb);

class EventsFd {
 public:
  EventsFd() noexcept = default;
  EventsFd(EventsFd&& o) noexcept;
  EventsFd& operator=(EventsFd&& o) noexcept;
  EventsFd(const EventsFd&) = delete;
  EventsFd& operator=(const EventsFd&) = delete;
  ~EventsFd() { reset(); }
  void reset() noexcept;
  /// The eventfd (-1 for an empty object): readable after a change.
  int fd() const noexcept { return fd_; }
  /// Resets the descriptor; true if a change was pending.
  bool consume() noexcept;

 private:
  friend EventsFd events_fd(const Group&);
  Subscription sub_;
  int fd_ = -1;
};

/// An eventfd that becomes readable whenever g's memory.events changes.
/// EINVAL on a null group, or the eventfd(2) error (std::system_error).
EventsFd events_fd(const Group& g);

/// A PSI trigger (the kernel's "some 150000 1000000" written to
/// memory.pressure): fires when g's some (or full) stall time grows by at
/// least the threshold within a tracking window, at most once per window.
/// Firing makes fd() readable and runs the callback, if given, on the
/// notifier thread. Checked every 100 ms.
class PressureTrigger {
 public:
  PressureTrigger() noexcept = default;
  PressureTrigger(PressureTrigger&& o) noexcept;
  PressureTrigger& operator=(PressureTrigger&& o) noexcept;
  PressureTrigger(const PressureTrigger&) = delete;
  PressureTrigger& operator=(const PressureTrigger&) = delete;
  ~PressureTrigger() { reset(); }
  void reset() noexcept;
  int fd() const noexcept { return fd_; }
  /// Resets the descriptor; true if the trigger fired since the last call.
  bool consume() noexcept;

 private:
  friend PressureTrigger pressure_trigger(const Group&, std::string_view, std::function<void()>);
  Subscription sub_;
  int fd_ = -1;
};

/// `spec`: "some|full <threshold us> <window us>", the window between
/// 500000 and 10000000 and the threshold between 1 and the window (the
/// kernel's limits); EINVAL (std::system_error) otherwise or on a null group.
PressureTrigger pressure_trigger(const Group& g, std::string_view spec, std::function<void()> cb = {});

}  // namespace memcg
