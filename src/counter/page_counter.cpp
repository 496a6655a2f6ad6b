#include "counter/page_counter.hpp"

#include <algorithm>

#include "platform/assert.hpp"

namespace memcg::detail {

void PageCounter::raise_watermark(std::uint64_t usage) noexcept {
  std::uint64_t w = watermark_.load(std::memory_order_relaxed);
  while (usage > w && !watermark_.compare_exchange_weak(w, usage, std::memory_order_relaxed)) {
  }
}

// The kernel's propagate_protected_usage(): keep min_usage/low_usage equal to
// min(usage, setting) and the parent's children_*_usage equal to their sum.
// The xchg makes concurrent updaters agree on who carries which delta.
void PageCounter::propagate_protected_usage(std::uint64_t usage) noexcept {
  if (!parent_) return;
  std::uint64_t prot = std::min(usage, min_.load(std::memory_order_relaxed));
  if (prot != min_usage_.load(std::memory_order_relaxed)) {
    std::uint64_t old = min_usage_.exchange(prot, std::memory_order_relaxed);
    parent_->children_min_usage_.fetch_add(prot - old, std::memory_order_relaxed);  // wraps for negative deltas
  }
  prot = std::min(usage, low_.load(std::memory_order_relaxed));
  if (prot != low_usage_.load(std::memory_order_relaxed)) {
    std::uint64_t old = low_usage_.exchange(prot, std::memory_order_relaxed);
    parent_->children_low_usage_.fetch_add(prot - old, std::memory_order_relaxed);
  }
}

bool PageCounter::try_charge(std::uint64_t bytes, PageCounter** fail) noexcept {
  for (PageCounter* c = this; c; c = c->parent_) {
    std::uint64_t old = c->usage_.load(std::memory_order_relaxed);
    const std::uint64_t limit = c->max_.load(std::memory_order_relaxed);
    bool fits;
    // CAS, not add-then-undo: a concurrent reader never sees usage > max
    // because of a charge that is about to fail.
    // Usage never reaches UINT64_MAX (the "max" sentinel), even under an
    // unlimited level: a charge of 2^64-1 bytes is refused, not accepted.
    while ((fits = old <= limit && bytes <= limit - old && bytes < UINT64_MAX - old) &&
           !c->usage_.compare_exchange_weak(old, old + bytes, std::memory_order_relaxed)) {
    }
    if (MEMCG_LIKELY(fits) && MEMCG_UNLIKELY(c->upstream_.load(std::memory_order_relaxed) != nullptr) &&
        !c->upstream()->try_charge(*c, bytes)) {
      c->usage_.fetch_sub(bytes, std::memory_order_relaxed);  // refused upstream: as if this level had
      fits = false;
    }
    if (MEMCG_UNLIKELY(!fits)) {
      c->failcnt_.fetch_add(1, std::memory_order_relaxed);
      *fail = c;
      for (PageCounter* u = this; u != c; u = u->parent_) {
        std::uint64_t now = u->usage_.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
        // A level below the refuser whose upstream took the bytes gives them back.
        if (MEMCG_UNLIKELY(u->upstream_.load(std::memory_order_relaxed) != nullptr)) u->upstream()->uncharge(*u, bytes);
        u->propagate_protected_usage(now);
      }
      return false;
    }
    const std::uint64_t now = old + bytes;
    c->propagate_protected_usage(now);
    if (MEMCG_UNLIKELY(now > c->watermark_.load(std::memory_order_relaxed))) c->raise_watermark(now);
  }
  return true;
}

void PageCounter::force_charge(std::uint64_t bytes) noexcept {
  for (PageCounter* c = this; c; c = c->parent_) {
    std::uint64_t now = c->usage_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    if (MEMCG_UNLIKELY(c->upstream_.load(std::memory_order_relaxed) != nullptr)) c->upstream()->force_charge(*c, bytes);
    c->propagate_protected_usage(now);
    if (now > c->watermark_.load(std::memory_order_relaxed)) c->raise_watermark(now);
  }
}

void PageCounter::uncharge(std::uint64_t bytes) noexcept {
  for (PageCounter* c = this; c; c = c->parent_) {
    std::uint64_t old = c->usage_.fetch_sub(bytes, std::memory_order_relaxed);
    MEMCG_CHECK(old >= bytes, "page counter underflow: uncharge of bytes never charged");
    if (MEMCG_UNLIKELY(c->upstream_.load(std::memory_order_relaxed) != nullptr)) c->upstream()->uncharge(*c, bytes);
    c->propagate_protected_usage(old - bytes);
  }
}

void PageCounter::move_to_ancestor(std::uint64_t bytes, PageCounter* ancestor) noexcept {
  for (PageCounter* c = this; c != ancestor; c = c->parent_) {
    MEMCG_CHECK(c, "move_to_ancestor: not an ancestor");
    std::uint64_t old = c->usage_.fetch_sub(bytes, std::memory_order_relaxed);
    MEMCG_CHECK(old >= bytes, "page counter underflow: moving bytes never charged");
    // The bytes leave this level, so they leave its upstream too.
    if (MEMCG_UNLIKELY(c->upstream_.load(std::memory_order_relaxed) != nullptr)) c->upstream()->uncharge(*c, bytes);
    c->propagate_protected_usage(old - bytes);
  }
}

void PageCounter::set_min(std::uint64_t v) noexcept {
  min_.store(v, std::memory_order_relaxed);
  propagate_protected_usage(usage());
}

void PageCounter::set_low(std::uint64_t v) noexcept {
  low_.store(v, std::memory_order_relaxed);
  propagate_protected_usage(usage());
}

}  // namespace memcg::detail
