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
//
// Errors: the two forms of memcg/types.hpp (throwing std::system_error, or
// std::error_code& and noexcept); getters that allocate (path, children,
// stat, effective_*) can only throw std::bad_alloc.
#pragma once

#include <cstdint>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "memcg/types.hpp"

namespace memcg {
namespace detail {
struct GroupImpl;
struct Access;  // the library's own way in (src/core/access.hpp); not API
}  // namespace detail
class Group;

struct OomContext;
/// Frees memory (kills a query, drops a tenant's cache...) and returns true
/// if it freed anything; false means the allocation fails cleanly. See
/// OomContext (below Group) for what it is told.
using OomHandler = std::function<bool(const OomContext&)>;
/// Stops what runs in a group (cancels its queries, drops its sessions) so
/// that its memory is freed: the in-process cgroup.kill. Gets the group.
using KillHandler = std::function<void(const Group&)>;

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

  /// mkdir: a new online child. EEXIST if a live child has that name; EAGAIN
  /// past an ancestor's max_depth or max_descendants; EINVAL
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
  /// before returning, and sets its memory.min and memory.low to 0 (a
  /// removed group claims no protection, as in the kernel).
  void remove();
  void remove(std::error_code& ec) noexcept;

  bool online() const noexcept;
  /// online, or dying once removed (a handle keeps its group from being
  /// released, so released and freed are never seen); none for the null
  /// handle.
  GroupState state() const noexcept;
  Group parent() const;                    ///< null for the root
  std::vector<Group> children() const;     ///< online children, by creation order
  std::string path() const;
  std::string name() const;
  std::uint32_t id() const noexcept;

  /// Limits, in Bytes (memcg/types.hpp: a negative value does not compile;
  /// `unlimited` is "max"). Setting on a removed group fails with ENOENT;
  /// lowering max below the current usage is allowed (charges fail until
  /// usage drops).
  void set_max(Bytes bytes);
  void set_high(Bytes bytes);
  void set_low(Bytes bytes);
  void set_min(Bytes bytes);
  void set_max(Bytes bytes, std::error_code& ec) noexcept;
  void set_high(Bytes bytes, std::error_code& ec) noexcept;
  void set_low(Bytes bytes, std::error_code& ec) noexcept;
  void set_min(Bytes bytes, std::error_code& ec) noexcept;
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
  /// then empty slabs). Returns the bytes reclaimed. EAGAIN when fewer than
  /// `bytes` were reclaimed (the throwing form then throws, as a write to
  /// memory.reclaim fails), EINVAL on a null handle.
  std::uint64_t reclaim(Bytes bytes) const;
  std::uint64_t reclaim(Bytes bytes, std::error_code& ec) const noexcept;

  /// OOM handler for this subtree: called, with no library lock held, when
  /// reclaim cannot make a charge fit under memory.max of this group or a
  /// descendant without a handler of its own. An empty handler removes it.
  /// It runs on the failing thread, at most one at a time per overlapping
  /// subtree; threads failing meanwhile wait and call it only if their
  /// charge still does not fit. A charge the handler itself makes that does
  /// not fit fails at once. It is called again while it reports memory
  /// freed and usage falls (4 calls in a row without progress end the
  /// charge). See docs/reclaim.md, "OOM".
  /// Errors: EINVAL on a null handle, ENOENT when setting a handler on a
  /// removed group (it would never be called; removing one is allowed).
  void set_oom_handler(OomHandler h);
  void set_oom_handler(OomHandler h, std::error_code& ec) noexcept;

  /// cgroup.kill for in-process work: set_kill_handler() says how to stop
  /// what runs in this group; kill() calls the kill handler of this group
  /// and of every descendant (each once, on the calling thread, no library
  /// lock held) and returns how many ran. An empty handler removes it.
  /// Setting on a removed group: ENOENT; a null handle: EINVAL.
  void set_kill_handler(KillHandler h);
  void set_kill_handler(KillHandler h, std::error_code& ec) noexcept;
  std::uint64_t kill() const;

  /// memory.oom.group: when an OOM's victim lies in this group's subtree,
  /// the whole group is the unit to kill (the kernel's
  /// mem_cgroup_get_oom_group: the highest such ancestor of the victim, up
  /// to the group whose limit failed). It is OomContext::oom_group; without
  /// an OOM handler, OOM kills it (Group::kill()) by itself.
  void set_oom_group(bool on) noexcept;
  bool oom_group() const noexcept;

  /// After an OOM handler (or an oom.group kill) reports memory freed, the
  /// failing charge waits up to this long for the victim to give the memory
  /// back (a kill that frees asynchronously: a query cancelled at its next
  /// check), then re-checks; the nearest setting at or above the group
  /// whose limit failed applies. 0 (default): no wait.
  void set_oom_wait(std::chrono::microseconds wait) noexcept;
  std::chrono::microseconds oom_wait() const noexcept;

  Events events() const noexcept;
  Events events_local() const noexcept;
  Stat stat() const;
  std::uint64_t nr_descendants() const noexcept;        ///< online descendants
  std::uint64_t nr_dying_descendants() const noexcept;  ///< removed, not yet released (drops with the last reference, as the kernel counts it)

  /// cgroup.max.depth and cgroup.max.descendants: creating a group fails
  /// with EAGAIN when it would lie more than max_depth levels below this
  /// group, or when this group already has max_descendants online
  /// descendants (checked at every ancestor, as the kernel's
  /// cgroup_check_hierarchy_limits). `unlimited` ("max") by default; a
  /// lower value does not remove existing groups. ENOENT on a removed
  /// group, EINVAL on a null handle. Getters: 0 on a null handle.
  void set_max_depth(std::uint64_t depth);
  void set_max_depth(std::uint64_t depth, std::error_code& ec) noexcept;
  void set_max_descendants(std::uint64_t n);
  void set_max_descendants(std::uint64_t n, std::error_code& ec) noexcept;
  std::uint64_t max_depth() const noexcept;
  std::uint64_t max_descendants() const noexcept;


 private:
  friend struct detail::Access;
  detail::GroupImpl* p_ = nullptr;
};

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
  /// The group to kill as a whole (memory.oom.group), or null: the highest
  /// ancestor-or-self of `victim`, up to `group`, with oom_group() set.
  const Group* oom_group = nullptr;
  /// oom_kill is counted (memory.events.local, and memory.events of it and
  /// its ancestors) at the group the handler says it acted on, when the
  /// handler returns true: by default `victim`; a handler that freed memory
  /// of another group names it with killed(g) before returning (the last
  /// call wins; a null g restores the default). Nothing is counted when the
  /// handler returns false.
  void killed(const Group& g) const noexcept { killed_ = g; }

 private:
  friend struct detail::Access;
  OomContext(const Group* g, const Group* v, std::uint64_t bytes) noexcept
      : group(g), victim(v), requested(bytes) {}
  mutable Group killed_;  // named by killed() (null: `victim`)
};

/// Makes `g` the calling thread's current group for the scope; nests. The
/// outermost ScopedGroup of a thread is also its memory.high throttle
/// window: all the throttling its charges pay in the scope sleeps at most
/// 2 s in total (the kernel's clamp per return to user space); later charges
/// in the scope still reclaim their overage but do not sleep. Outside any
/// ScopedGroup each charge is its own window.
class ScopedGroup {
 public:
  explicit ScopedGroup(const Group& g);
  ~ScopedGroup();
  ScopedGroup(const ScopedGroup&) = delete;
  ScopedGroup& operator=(const ScopedGroup&) = delete;

 private:
  Group group_;
  detail::GroupImpl* prev_;
  detail::GroupImpl* prev_member_;  // memory.pressure: the thread's membership before the scope
  bool opened_window_;  // outermost: opened the thread's memory.high throttle window
};

/// The calling thread's current group: the innermost ScopedGroup, else root.
Group current_group();

/// memory_recursiveprot (the cgroup2 mount option), for the whole process:
/// a group's memory.min/low that its children do not claim is handed down
/// to them in proportion to their unprotected usage, so protecting a
/// tenant protects its queries without setting every leaf. Off by default.
void set_memory_recursiveprot(bool on) noexcept;
bool memory_recursiveprot() noexcept;

/// Waits until every group released before the call has been freed (an
/// rcu_barrier followed by a flush of the library worker). For tests and
/// shutdown; must not be called from inside an RCU read section or a shrinker.
void barrier();

}  // namespace memcg
