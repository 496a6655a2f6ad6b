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

#include <functional>

#include "memcg/group.hpp"
#include "memcg/types.hpp"

namespace memcg {

class EventsFd;
class Subscription;
EventsFd events_fd(const Group& g);

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
  friend EventsFd events_fd(const Group&);
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

}  // namespace memcg
