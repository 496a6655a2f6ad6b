// memcg/group.hpp - the group tree: counted handles, limits, counters, lifecycle.
//
// Lifecycle (one-way):
//
//     create()          remove()            last reference         RCU grace period
//   ----------> online ----------> dying ---------------> released ---------------> freed
//                                                          (worker thread unlinks    (worker thread
//                                                           it, call_rcu)             frees, puts parent)
//
// - A Group is a counted handle (copy = get, destructor = put). A child holds
//   a reference on its parent, so a parent is freed only after all of its
//   children are. The parent holds only weak (RCU-protected) links to children.
// - remove() is rmdir: EBUSY while the group has children that are not
//   removed; it never waits for charges. After it returns the group is dying:
//   tryget_online fails, new charges fail with ENOENT, no thread stock holds
//   its bytes. Its memory stays accounted until the last uncharge.
// - The last reference never frees in the calling thread: the release is
//   handed to the library worker, which unlinks the group and passes it to
//   call_rcu; after the grace period the worker frees it (deferred free).
//   A reader that found the group under an RCU read lock never sees freed
//   memory.
// - Ids are small integers, recycled only after the group is freed.
//
// Concurrency: every member function may be called from any thread, on a
// handle that the thread owns; const getters are lock-free snapshots.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "memcg/types.hpp"

namespace memcg {
namespace detail { struct GroupImpl; }
class Group;

struct OomContext;
/// Frees memory (kills a query, drops a tenant's cache...) and returns true
/// if it freed anything; false means the allocation fails cleanly. See
/// OomContext (below Group) for what it is told.
using OomHandler = std::function<bool(const OomContext&)>;

class Group {
 public:
  Group() noexcept = default;  ///< the null handle
  Group(const Group& o) noexcept;
  Group(Group&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  Group& operator=(const Group& o) noexcept;
  Group& operator=(Group&& o) noexcept;
  ~Group();

  explicit operator bool() const noexcept { return p_ != nullptr; }
  friend bool operator==(const Group& a, const Group& b) noexcept { return a.p_ == b.p_; }

  /// The root of the tree ("/"). Never removed.
  static Group root();

  /// mkdir: a new online child. EEXIST if a live child has that name; EINVAL
  /// for an empty name, "/", ".", "..", control characters or over 255
  /// bytes, or names starting with "memory." or "cgroup." (reserved for
  /// control files); ENOENT if this group is not online; ENOSPC past 2^20
  /// groups.
  Group create(std::string_view name) const;
  Group create(std::string_view name, std::error_code& ec) const noexcept;

  /// Finds an online group by absolute path ("/", "/a/b"). ENOENT if absent,
  /// EINVAL if the path is malformed.
  static Group open(std::string_view path);
  static Group open(std::string_view path, std::error_code& ec) noexcept;

  /// rmdir: EBUSY while children are not removed, EINVAL on the root, ENOENT
  /// if already removed. Drains every thread's charge stock of this group
  /// before returning.
  void remove();
  void remove(std::error_code& ec) noexcept;

  bool online() const noexcept;
  GroupState state() const noexcept;
  Group parent() const;                    ///< null for the root
  std::vector<Group> children() const;     ///< online children, by creation order
  std::string path() const;
  std::string name() const;
  std::uint32_t id() const noexcept;

  /// Limits. Setting on a removed group fails with ENOENT; lowering max below
  /// the current usage is allowed (charges fail until usage drops).
  void set_max(std::uint64_t bytes);
  void set_high(std::uint64_t bytes);
  void set_low(std::uint64_t bytes);
  void set_min(std::uint64_t bytes);
  void set_max(std::uint64_t bytes, std::error_code& ec) noexcept;
  void set_high(std::uint64_t bytes, std::error_code& ec) noexcept;
  void set_low(std::uint64_t bytes, std::error_code& ec) noexcept;
  void set_min(std::uint64_t bytes, std::error_code& ec) noexcept;
  std::uint64_t max() const noexcept;
  std::uint64_t high() const noexcept;
  std::uint64_t low() const noexcept;
  std::uint64_t min() const noexcept;

  /// memory.current: bytes charged to the group and its descendants,
  /// including bytes pre-charged into thread stocks (see README: stocks).
  std::uint64_t current() const noexcept;
  std::uint64_t peak() const noexcept;
  void reset_peak() noexcept;               ///< peak := current
  std::uint64_t failcnt() const noexcept;   ///< charges refused at this level

  /// Effective protection (the kernel's effective_protection) of this group
  /// when reclaim is rooted at `reclaim_root` (default: the tree root).
  /// Computed top-down from the current usages; 0 for the reclaim root.
  std::uint64_t effective_min(const Group& reclaim_root) const;
  std::uint64_t effective_low(const Group& reclaim_root) const;
  std::uint64_t effective_min() const;
  std::uint64_t effective_low() const;

  /// memory.reclaim: reclaims up to `bytes` from the subtree (shrinkers,
  /// then empty slabs). Returns the bytes reclaimed; the error_code form
  /// sets EAGAIN when fewer than `bytes` were reclaimed.
  std::uint64_t reclaim(std::uint64_t bytes) const;
  std::uint64_t reclaim(std::uint64_t bytes, std::error_code& ec) const noexcept;

  /// OOM handler for this subtree: called, with no library lock held, when
  /// reclaim cannot make a charge fit under memory.max of this group or a
  /// descendant without a handler of its own. An empty handler removes it.
  /// Throws std::system_error: EINVAL on a null handle, ENOENT when setting
  /// a handler on a removed group (it would never be called).
  void set_oom_handler(OomHandler h);

  Events events() const noexcept;
  Events events_local() const noexcept;
  Stat stat() const;
  std::uint64_t nr_descendants() const noexcept;        ///< online descendants
  std::uint64_t nr_dying_descendants() const noexcept;  ///< removed, not yet released (drops with the last reference, as the kernel counts it)

  /// Internal: the implementation pointer (for the library's own layers).
  detail::GroupImpl* impl() const noexcept { return p_; }
  /// Internal: adopts a reference the caller already holds.
  static Group adopt(detail::GroupImpl* p) noexcept;

 private:
  detail::GroupImpl* p_ = nullptr;
};

inline Group Group::adopt(detail::GroupImpl* p) noexcept {
  Group g;
  g.p_ = p;
  return g;
}

/// What an OOM handler is told (see Group::set_oom_handler).
struct OomContext {
  const Group* group;        ///< the group whose memory.max could not be met
  /// Suggestion: the group of `group`'s subtree (itself included) with the
  /// largest own usage, i.e. its memory.current minus its online children's
  /// (a removed descendant's remaining charges count as its nearest online
  /// ancestor's, where the kernel reparents them). This is the group whose
  /// own objects weigh most, like the kernel's choice of the task with the
  /// largest footprint; following the largest child instead would pick a
  /// half of a big group over a single bigger sibling. Ties go to the first
  /// in pre-order (a group before its descendants, older siblings first), so
  /// a subtree whose groups are all empty suggests `group` itself.
  const Group* victim;
  std::uint64_t requested;   ///< bytes the failing charge asked for
  /// oom_kill is counted (memory.events.local, and memory.events of it and
  /// its ancestors) at the group the handler says it acted on, when the
  /// handler returns true: by default `victim`; a handler that freed memory
  /// of another group names it with killed(g) before returning (the last
  /// call wins; a null g restores the default). Nothing is counted when the
  /// handler returns false.
  void killed(const Group& g) const { killed_ = g; }
  /// Internal: the group named by killed() (null: `victim`).
  mutable Group killed_;
};

/// Makes `g` the calling thread's current group for the scope; nests.
class ScopedGroup {
 public:
  explicit ScopedGroup(const Group& g);
  ~ScopedGroup();
  ScopedGroup(const ScopedGroup&) = delete;
  ScopedGroup& operator=(const ScopedGroup&) = delete;

 private:
  Group group_;
  detail::GroupImpl* prev_;
};

/// The calling thread's current group: the innermost ScopedGroup, else root.
Group current_group();

/// Waits until every group released before the call has been freed (an
/// rcu_barrier followed by a flush of the library worker). For tests and
/// shutdown; must not be called from inside an RCU read section or a shrinker.
void barrier();

/// Process-wide lifecycle figures (for tests and the demo's checks).
struct RuntimeStats {
  std::uint64_t groups_allocated = 0;  ///< GroupImpl objects not yet freed (root included)
  std::uint64_t groups_freed = 0;      ///< freed since start
  std::uint64_t threads_with_stock = 0;
};
RuntimeStats runtime_stats() noexcept;

}  // namespace memcg
