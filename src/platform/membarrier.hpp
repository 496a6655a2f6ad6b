// Asymmetric barriers: a thread on a hot path pays only a compiler barrier,
// and the rare thread that needs ordering against it calls heavy(), which
// makes every thread of the process execute a full memory barrier
// (membarrier(2) PRIVATE_EXPEDITED). Where the kernel lacks it, light()
// falls back to a real fence. Under TSan both are seq_cst fences in form, and
// callers use seq_cst atomics instead (TSan does not model membarrier).
#pragma once

#include <atomic>
#include <cstdint>

namespace memcg::detail::membarrier {

/// True once heavy() is known to work (decided at first use, never changes).
extern bool g_available;

void init() noexcept;

inline void light() noexcept {
  if (__builtin_expect(g_available, 1))
    std::atomic_signal_fence(std::memory_order_seq_cst);
  else
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

void heavy() noexcept;

/// heavy() calls so far (tests and benchmarks: what pays a process-wide
/// barrier, and how often).
std::uint64_t heavy_calls() noexcept;

}  // namespace memcg::detail::membarrier
