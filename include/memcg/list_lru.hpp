// memcg/list_lru.hpp - intrusive per-group LRU lists for reclaimable objects.
//
// A ListLru keeps, for every group, a list of the objects charged to it, in
// least-recently-added order, with a count per group; a group-aware shrinker
// counts and walks the list of the group it is asked about. When a group is
// removed its list is spliced into its nearest online ancestor's, so its
// objects stay reclaimable (the kernel's memcg_reparent_list_lrus); an add()
// racing with the removal lands on that ancestor's list too, and the emptied
// list is freed after an RCU grace period.
//
// Concurrency: add/del/count/walk from any thread. walk() calls `isolate`
// with the group's list lock held: the callback must not block, allocate
// through memcg, or call into the same ListLru; the usual pattern is to
// collect the objects it removes and free them after walk() returns.
#pragma once

#include <cstdint>
#include <system_error>
#include <type_traits>
#include <utility>

#include "memcg/group.hpp"

namespace memcg {

namespace detail {
struct Access;
}  // namespace detail

/// The member an object keeps to be on a ListLru (one hook per ListLru the
/// object can be on). Its fields belong to the ListLru holding it.
class ListLruHook {
 public:
  ListLruHook() noexcept = default;

 private:
  friend struct detail::Access;
  ListLruHook* next_ = nullptr;
  ListLruHook* prev_ = nullptr;
  void* list_ = nullptr;  // the per-group list holding it (atomic access)
};

enum class LruStatus {
  removed,  ///< take the object off the list (the callback now owns it)
  rotate,   ///< move it to the tail (recently used)
  skip,     ///< leave it where it is
  stop,     ///< end the walk here
};

template <class T, ListLruHook T::*Hook>
class ListLru;

namespace detail {
// The untyped ListLru that ListLru<T, Hook> wraps; nothing of it is public.
class ListLruBase {
  template <class T, ListLruHook T::*Hook>
  friend class memcg::ListLru;

  ListLruBase();
  ~ListLruBase();
  ListLruBase(const ListLruBase&) = delete;
  ListLruBase& operator=(const ListLruBase&) = delete;

  bool add(ListLruHook* h, const Group& g, std::error_code& ec) noexcept;
  bool del(ListLruHook* h) noexcept;
  std::uint64_t count(const Group& g) const noexcept;
  std::uint64_t count_all() const noexcept;
  std::uint64_t walk(const Group& g, LruStatus (*cb)(ListLruHook*, void*), void* arg, std::uint64_t nr_to_walk) noexcept;

  void* impl_;
};
}  // namespace detail

template <class T, ListLruHook T::*Hook>
class ListLru {
 public:
  /// Adds obj to g's list (g's nearest online ancestor if g was removed).
  /// False, and obj is on no list of this ListLru, if obj is already on a
  /// list, g is a null handle, or the per-group list could not be allocated
  /// (out of metadata memory: the first add for a group allocates the lists
  /// of the group and of its ancestors that have none, so that removing a
  /// group later never allocates). The overload with an error_code tells
  /// which.
  bool add(T& obj, const Group& g) noexcept {
    std::error_code ec;
    return base_.add(&(obj.*Hook), g, ec);
  }
  /// As add(obj, g); ec: file_exists (obj already on a list), invalid_argument
  /// (null handle), not_enough_memory (no list could be allocated), or clear.
  bool add(T& obj, const Group& g, std::error_code& ec) noexcept { return base_.add(&(obj.*Hook), g, ec); }
  /// Adds obj to the calling thread's current group's list.
  bool add(T& obj) noexcept { return add(obj, current_group()); }
  /// Takes obj off whatever list holds it; false if it was on none.
  bool del(T& obj) noexcept { return base_.del(&(obj.*Hook)); }
  /// Objects on g's own list (not its descendants').
  std::uint64_t count(const Group& g) const noexcept { return base_.count(g); }
  std::uint64_t count_all() const noexcept { return base_.count_all(); }

  /// Visits up to nr_to_walk objects of g's list, oldest first, calling
  /// isolate(T&) -> LruStatus under the list lock. Returns objects removed.
  template <class F>
  std::uint64_t walk(const Group& g, F&& isolate, std::uint64_t nr_to_walk) {
    auto thunk = [](ListLruHook* h, void* arg) -> LruStatus {
      T* obj = reinterpret_cast<T*>(reinterpret_cast<char*>(h) - hook_offset());
      return (*static_cast<std::remove_reference_t<F>*>(arg))(*obj);
    };
    return base_.walk(g, thunk, &isolate, nr_to_walk);
  }

 private:
  static std::ptrdiff_t hook_offset() noexcept {
    alignas(T) static char probe[sizeof(T)];
    T* t = reinterpret_cast<T*>(probe);
    return reinterpret_cast<char*>(&(t->*Hook)) - reinterpret_cast<char*>(t);
  }
  detail::ListLruBase base_;
};

}  // namespace memcg
