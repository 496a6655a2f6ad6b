// PageCounter: one level of the hierarchical charge counter (the kernel's
// struct page_counter, in bytes).
//
// Invariants (at quiescence, i.e. no charge in flight):
//   usage == bytes charged at this level directly + Σ children.usage
//   usage <= max  for every successful try_charge at the moment it succeeded
//                 (try_charge never lets a sampled usage pass max: it uses a
//                 CAS loop, not add-then-undo, so a concurrent reader never
//                 sees an overshoot; force_charge and lowering max can).
//   min_usage == min(usage, min), low_usage == min(usage, low)  (after each
//                 charge/uncharge/limit write at this level)
//   parent.children_min_usage == Σ children.min_usage   (same for low)
//
// Concurrency: every member is an atomic; charge/uncharge/limit writes may
// run concurrently from any thread. emin/elow are written only by the
// protection calculation (a reclaimer walking top-down) and read by it.
#pragma once

#include <atomic>
#include <cstdint>

#include "platform/assert.hpp"

namespace memcg::detail {

inline constexpr std::uint64_t kUnlimited = UINT64_MAX;

class PageCounter;

/// A counter outside the process that one level also charges: memcg-run's
/// process-tree counters in shared memory (src/interpose/shared_tree.hpp).
/// The level calls it after its own usage changed, so it runs only where
/// the level's counter is touched (stock refills and drains, large blocks),
/// never on the allocation fast path. `level` is the calling counter.
class ChargeUpstream {
 public:
  /// Charges `bytes` upstream; false refuses them (the level then fails the
  /// charge as if its own max had refused it: failcnt, reclaim, OOM).
  virtual bool try_charge(PageCounter& level, std::uint64_t bytes) noexcept = 0;
  virtual void force_charge(PageCounter& level, std::uint64_t bytes) noexcept = 0;
  virtual void uncharge(PageCounter& level, std::uint64_t bytes) noexcept = 0;
  /// Bytes the upstream can still take before its max.
  virtual std::uint64_t margin() const noexcept = 0;
  /// An event recorded on the level's group (record_event).
  virtual void on_event(int event) noexcept = 0;

 protected:
  ~ChargeUpstream() = default;
};

class PageCounter {
 public:
  PageCounter(PageCounter* parent, void* owner) noexcept : parent_(parent), owner_(owner) {}
  PageCounter(const PageCounter&) = delete;
  PageCounter& operator=(const PageCounter&) = delete;

  /// Charges `bytes` at every level up to the root. On failure nothing stays
  /// charged, *fail names the level that refused (its failcnt is bumped) and
  /// false is returned.
  bool try_charge(std::uint64_t bytes, PageCounter** fail) noexcept;
  /// Charges unconditionally (may pass max). For callers that must not fail.
  void force_charge(std::uint64_t bytes) noexcept;
  /// Uncharges `bytes` at every level up to the root.
  void uncharge(std::uint64_t bytes) noexcept;
  /// Moves `bytes` charged here to `ancestor`: the usage of this level and
  /// of every level below `ancestor` drops; `ancestor` and above do not
  /// change (they already include them). Reparenting.
  void move_to_ancestor(std::uint64_t bytes, PageCounter* ancestor) noexcept;

  std::uint64_t usage() const noexcept { return usage_.load(std::memory_order_relaxed); }
  std::uint64_t max() const noexcept { return max_.load(std::memory_order_relaxed); }
  std::uint64_t high() const noexcept { return high_.load(std::memory_order_relaxed); }
  std::uint64_t low() const noexcept { return low_.load(std::memory_order_relaxed); }
  std::uint64_t min() const noexcept { return min_.load(std::memory_order_relaxed); }
  std::uint64_t watermark() const noexcept { return watermark_.load(std::memory_order_relaxed); }
  std::uint64_t failcnt() const noexcept { return failcnt_.load(std::memory_order_relaxed); }
  /// Bytes that can still be charged here before max (0 if at or over),
  /// and, at a level with an upstream, before the upstream's max.
  std::uint64_t margin() const noexcept {
    std::uint64_t u = usage(), m = max();
    const std::uint64_t own = u < m ? m - u : 0;
    if (MEMCG_UNLIKELY(upstream_.load(std::memory_order_relaxed) != nullptr)) {
      const std::uint64_t up = upstream()->margin();
      return up < own ? up : own;
    }
    return own;
  }

  void set_max(std::uint64_t v) noexcept { max_.store(v, std::memory_order_relaxed); }
  void set_high(std::uint64_t v) noexcept { high_.store(v, std::memory_order_relaxed); }
  void set_min(std::uint64_t v) noexcept;
  void set_low(std::uint64_t v) noexcept;
  void reset_watermark() noexcept { watermark_.store(usage(), std::memory_order_relaxed); }

  /// Attaches the upstream counter (set once, before the level charges).
  void set_upstream(ChargeUpstream* u) noexcept { upstream_.store(u, std::memory_order_release); }
  ChargeUpstream* upstream() const noexcept { return upstream_.load(std::memory_order_acquire); }

  PageCounter* parent() const noexcept { return parent_; }
  /// The object this counter is embedded in (a group), for error reports.
  void* owner() const noexcept { return owner_; }

  // Protection state (see protection.hpp).
  std::uint64_t emin() const noexcept { return emin_.load(std::memory_order_relaxed); }
  std::uint64_t elow() const noexcept { return elow_.load(std::memory_order_relaxed); }
  void set_emin(std::uint64_t v) noexcept { emin_.store(v, std::memory_order_relaxed); }
  void set_elow(std::uint64_t v) noexcept { elow_.store(v, std::memory_order_relaxed); }
  std::uint64_t children_min_usage() const noexcept { return children_min_usage_.load(std::memory_order_relaxed); }
  std::uint64_t children_low_usage() const noexcept { return children_low_usage_.load(std::memory_order_relaxed); }
  std::uint64_t min_usage() const noexcept { return min_usage_.load(std::memory_order_relaxed); }
  std::uint64_t low_usage() const noexcept { return low_usage_.load(std::memory_order_relaxed); }

 private:
  void propagate_protected_usage(std::uint64_t usage) noexcept;
  void raise_watermark(std::uint64_t usage) noexcept;

  // Written by every charge into this level: its own cache line.
  alignas(64) std::atomic<std::uint64_t> usage_{0};
  std::atomic<std::uint64_t> watermark_{0};
  std::atomic<std::uint64_t> min_usage_{0};
  std::atomic<std::uint64_t> low_usage_{0};
  // Written by children's charges that change their protected usage.
  alignas(64) std::atomic<std::uint64_t> children_min_usage_{0};
  std::atomic<std::uint64_t> children_low_usage_{0};
  // Read-mostly.
  alignas(64) std::atomic<std::uint64_t> max_{kUnlimited};
  std::atomic<std::uint64_t> high_{kUnlimited};
  std::atomic<std::uint64_t> low_{0};
  std::atomic<std::uint64_t> min_{0};
  std::atomic<std::uint64_t> emin_{0};
  std::atomic<std::uint64_t> elow_{0};
  std::atomic<std::uint64_t> failcnt_{0};
  std::atomic<ChargeUpstream*> upstream_{nullptr};
  PageCounter* const parent_;
  void* const owner_;
};

}  // namespace memcg::detail
