#include "platform/library_thread.hpp"

namespace memcg::detail {

namespace {
constinit thread_local bool tls_library_thread = false;
}  // namespace

void mark_library_thread() noexcept { tls_library_thread = true; }
bool on_library_thread() noexcept { return tls_library_thread; }

}  // namespace memcg::detail
