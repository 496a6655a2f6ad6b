#include "platform/membarrier.hpp"

#include "platform/assert.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>

namespace memcg::detail::membarrier {

bool g_available = false;

namespace {
long sys_membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }
std::once_flag g_once;
}  // namespace

void init() noexcept {
  std::call_once(g_once, [] {
    long q = sys_membarrier(MEMBARRIER_CMD_QUERY);
    if (q < 0 || !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return;
    if (sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) return;
    g_available = true;
  });
}

namespace {
std::atomic<std::uint64_t> g_heavy_calls{0};
}  // namespace

std::uint64_t heavy_calls() noexcept { return g_heavy_calls.load(std::memory_order_relaxed); }

void heavy() noexcept {
  g_heavy_calls.fetch_add(1, std::memory_order_relaxed);
  if (g_available) {
    // Owners rely on this barrier and pay only a compiler barrier: a
    // failure here cannot be papered over with a local fence.
    MEMCG_CHECK(sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0, "membarrier(PRIVATE_EXPEDITED) failed");
    return;
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace memcg::detail::membarrier

