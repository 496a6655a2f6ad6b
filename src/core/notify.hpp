// Event notifications (memcg/notify.hpp): record_event() wakes the
// notifier thread when anyone watches; the thread compares each watched
// group's memory.events with what it last reported and runs the callbacks
// (or signals the eventfds) with no library lock held.
#pragma once

#include <atomic>

namespace memcg::detail {

/// Subscriptions alive (any group): record_event() wakes the notifier only then.
extern std::atomic<int> g_event_watches;

/// Wakes the notifier thread (starting it on first use). Any thread, no
/// library lock of rank >= kNotify held.
void wake_notifier() noexcept;

}  // namespace memcg::detail
