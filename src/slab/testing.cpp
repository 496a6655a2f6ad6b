#include "slab/testing.hpp"

namespace memcg::detail::testing {

std::atomic<void (*)(Point)> g_delay_hook{nullptr};

void set_delay_hook(void (*h)(Point)) noexcept { g_delay_hook.store(h, std::memory_order_release); }

}  // namespace memcg::detail::testing
