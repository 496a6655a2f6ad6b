// detail::Access: the library's one way into the private parts of the public
// handles (Group, Cache, OomContext, ListLruHook). The public headers only
// declare it and name it a friend; it is defined here, outside the installed
// headers, so src/ (and tests, benchmarks and tools built against the source
// tree) can reach the implementation while an application cannot.
#pragma once

#include <atomic>
#include <cstdint>

#include "memcg/cache.hpp"
#include "memcg/group.hpp"
#include "memcg/list_lru.hpp"

namespace memcg::detail {

struct GroupImpl;
struct RootCache;

struct Access {
  // ---- Group ----
  /// The group of a handle (null for the null handle); borrows, no reference.
  static GroupImpl* impl(const Group& g) noexcept { return g.p_; }
  /// A handle owning a reference the caller already holds (p may be null).
  static Group adopt(GroupImpl* p) noexcept {
    Group g;
    g.p_ = p;
    return g;
  }

  // ---- Cache ----
  static RootCache* impl(const Cache& c) noexcept { return c.r_; }

  // ---- OomContext ----
  static OomContext oom_context(const Group* g, const Group* victim, std::uint64_t bytes) noexcept {
    return OomContext(g, victim, bytes);
  }
  /// The group the handler named with killed() (null: none named).
  static const Group& killed(const OomContext& c) noexcept { return c.killed_; }

  // ---- ListLruHook: links, and the list holding it (atomic access) ----
  static ListLruHook*& next(ListLruHook& h) noexcept { return h.next_; }
  static ListLruHook*& prev(ListLruHook& h) noexcept { return h.prev_; }
  static std::atomic<void*>& list(ListLruHook& h) noexcept {
    static_assert(sizeof(std::atomic<void*>) == sizeof(void*) && std::atomic<void*>::is_always_lock_free);
    return *reinterpret_cast<std::atomic<void*>*>(&h.list_);
  }
};

}  // namespace memcg::detail
