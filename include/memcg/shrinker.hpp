// memcg/shrinker.hpp - reclaimable memory: shrinkers.
//
// A Shrinker reports how many objects it could free (count) and frees some
// (scan), as the kernel's shrinkers do. A group-aware shrinker is asked per
// group (ShrinkControl::group) for the objects charged to that group; a
// global one (group_aware = false) may free anything, so it is asked only
// in reclaim of the whole process (ShrinkControl::group is the root group:
// memory.reclaim or a limit of the root, and the background reclaimer), as
// the kernel calls memcg-unaware shrinkers only in global reclaim. A
// group's own limit or memory.reclaim never calls it: one tenant's limit
// must not evict everyone's objects.
//
// Reclaim calls shrinkers without holding any library lock, in bounded
// batches (kShrinkBatch objects per scan call), from the thread that needs
// memory (a charge over memory.max or memory.high, memory.reclaim, set_max)
// or from the background reclaimer. At most kMaxConcurrentCalls reclaimers
// are inside one shrinker at a time; others skip it, so one slow or blocked
// shrinker cannot stall every reclaimer.
//
// Rules for implementers: count() and scan() may run concurrently from
// several threads; they must not call memcg::barrier(), remove groups or
// unregister shrinkers; memory they allocate is charged even over limits
// (reclaim never recurses). scan() returns the number of objects freed, or
// kShrinkStop to end this round.
#pragma once

#include <cstdint>

#include "memcg/group.hpp"

namespace memcg {

inline constexpr std::uint64_t kShrinkStop = ~std::uint64_t{0};
inline constexpr std::uint64_t kShrinkBatch = 128;

struct ShrinkControl {
  Group group;               ///< the group whose objects to count/scan
  std::uint64_t nr_to_scan;  ///< scan(): at most this many (<= kShrinkBatch)
  int priority;              ///< 12 (gentle) .. 0 (desperate)
};

class Shrinker {
 public:
  virtual ~Shrinker() = default;
  virtual std::uint64_t count(const ShrinkControl& sc) = 0;
  virtual std::uint64_t scan(const ShrinkControl& sc) = 0;
  /// Relative cost of recreating an object (the kernel's seeks): scan
  /// pressure is (count >> priority) * 4 / seeks.
  virtual unsigned seeks() const { return 2; }
};

/// Keeps a shrinker registered; unregisters on destruction (or reset()),
/// waiting for calls already inside the shrinker to return.
class ShrinkerRegistration {
 public:
  ShrinkerRegistration() noexcept = default;
  ShrinkerRegistration(ShrinkerRegistration&& o) noexcept : h_(o.h_) { o.h_ = nullptr; }
  ShrinkerRegistration& operator=(ShrinkerRegistration&& o) noexcept;
  ShrinkerRegistration(const ShrinkerRegistration&) = delete;
  ShrinkerRegistration& operator=(const ShrinkerRegistration&) = delete;
  ~ShrinkerRegistration() { reset(); }
  void reset() noexcept;
  explicit operator bool() const noexcept { return h_ != nullptr; }

 private:
  friend ShrinkerRegistration register_shrinker(Shrinker&, bool);
  void* h_ = nullptr;
};

/// Registers s (which must outlive the registration). Safe while reclaim runs.
ShrinkerRegistration register_shrinker(Shrinker& s, bool group_aware = true);

}  // namespace memcg
