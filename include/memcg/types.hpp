// memcg/types.hpp - value types shared by the public API, and its error
// conventions.
//
// Errors. Every operation that can fail for a reason the caller may act on
// comes in two forms with the same name and arguments:
//   X(args)                        throws std::system_error carrying the code;
//   X(args, std::error_code& ec)   noexcept: sets ec (cleared on success) and
//                                  returns what X returns, or an empty value
//                                  (null handle, empty string, 0, false).
// The codes are the errno values cgroupfs gives for the same act (EINVAL,
// ENOENT, EBUSY, EEXIST, ENOMEM, EAGAIN, EACCES, ...); each header lists its
// own. This holds for Group (create, open, remove, set_min/low/high/max,
// reclaim, set_oom_handler), Cache (create, destroy), Reservation (make),
// fs (read, write, mkdir, rmdir, list; what() names the path). A charge a
// limit refused is the exception: the throwing charging APIs
// (Reservation::make, Allocator, MemoryResource) throw memcg::ChargeRefused
// (memcg/charge_error.hpp), a std::bad_alloc that names the group whose
// limit refused, the limit, its usage and the request.
// Two kinds of entry points have no throwing form:
//   - the allocation and charge paths (Cache::alloc, kmalloc, Reservation::
//     grow, ListLru::add) never throw, like malloc: they return nullptr or
//     false; those with several failure reasons (Reservation::grow,
//     ListLru::add) also have the error_code form, still noexcept;
//   - getters and formatters that can fail only for lack of memory (path(),
//     children(), stat(), slabinfo(), register_shrinker...) throw
//     std::bad_alloc and have no error_code form.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>

namespace memcg {

/// The value "max" in the text tree: no limit.
inline constexpr std::uint64_t unlimited = UINT64_MAX;

namespace detail {
// Never defined: a constant Bytes(-n) calls it, which is not a constant
// expression, so the compiler rejects the call and names this function.
void negative_byte_count_is_not_a_size() noexcept;
}  // namespace detail

/// A byte count: every memcg parameter that is a limit or an amount of
/// memory (Group::set_min/low/high/max, Group::reclaim, Reservation::make/
/// grow/shrink) takes one, so that it cannot be negative:
///   - any unsigned integer converts implicitly (std::size_t, std::uint64_t,
///     `unlimited`, 4096u);
///   - a signed integer converts only as a constant, checked at compile time:
///     set_max(64 << 20) compiles, set_max(-1) and set_max(-2) do not;
///   - a signed variable does not convert (set_max(n) with `int n` does not
///     compile): check it and convert it (std::uint64_t(n)) where it is made;
///   - floating point and bool do not convert.
class Bytes {
 public:
  template <std::unsigned_integral T>
    requires(!std::same_as<T, bool>)
  constexpr Bytes(T bytes) noexcept : v_(bytes) {}
  template <std::signed_integral T>
  consteval Bytes(T bytes) : v_(checked(bytes)) {}

  constexpr std::uint64_t value() const noexcept { return v_; }
  constexpr operator std::uint64_t() const noexcept { return v_; }

 private:
  template <class T>
  static consteval std::uint64_t checked(T v) {
    if (v < 0) detail::negative_byte_count_is_not_a_size();
    return static_cast<std::uint64_t>(v);
  }
  std::uint64_t v_;
};

/// memory.events / memory.events.local. Hierarchical counts (events()) include
/// every descendant's events; local counts (events_local()) only the group's own.
struct Events {
  std::uint64_t low = 0;       ///< reclaimed while within its effective low
  std::uint64_t high = 0;      ///< a charge left the group over memory.high
  std::uint64_t max = 0;       ///< a charge hit memory.max (before reclaim/OOM)
  std::uint64_t oom = 0;       ///< a charge failed at max after every retry
  std::uint64_t oom_kill = 0;  ///< an OOM handler freed memory for the group
};

/// memory.stat: hierarchical (the group and all its descendants, dying ones
/// included), in bytes unless the name says otherwise.
struct Stat {
  std::uint64_t slab_reclaimable = 0;    ///< slabs of reclaimable caches
  std::uint64_t slab_unreclaimable = 0;  ///< slabs of other caches
  std::uint64_t kmalloc_large = 0;       ///< kmalloc allocations above the size classes
  std::uint64_t reservations = 0;        ///< bytes held by live Reservations
  std::uint64_t stock = 0;               ///< pre-charged bytes cached in thread stocks
  std::uint64_t stock_drains = 0;        ///< count: stocks drained by other threads
  // Reclaim, in the kernel's pair of units made ours: pgscan and pgsteal
  // count shrinker objects (the kernel counts pages), so pgsteal / pgscan
  // is reclaim's efficiency; `reclaimed` is the bytes reclaim uncharged
  // (objects' charges and emptied slabs).
  std::uint64_t pgscan = 0;              ///< count: objects shrinkers were asked to scan
  std::uint64_t pgsteal = 0;             ///< count: objects shrinkers freed
  std::uint64_t reclaimed = 0;           ///< bytes reclaimed

  std::uint64_t slab() const noexcept { return slab_reclaimable + slab_unreclaimable; }
};

/// What a handle sees of its group's lifecycle (the diagram in
/// memcg/group.hpp): online until remove(), then dying for as long as any
/// handle holds it (release and free happen only after the last handle is
/// gone, so no handle observes them). A null handle has no group: none.
enum class GroupState : std::uint8_t { online, dying, none };

const char* to_string(GroupState) noexcept;

}  // namespace memcg
