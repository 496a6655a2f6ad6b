// The interposer's process and thread state (see docs/interpose.md).
//
// tls_word: low two bits = the thread's mode, the rest = "internal" depth
// (in units of kDepthUnit). The malloc fast path tests tls_word == kAccounted
// (one TLS load and a compare): a set-up thread, not inside the library.
#pragma once

#include <atomic>
#include <cstddef>

namespace memcg::interpose {

enum : unsigned {
  kFresh = 0,        // thread not set up yet (set up on its first allocation once the process is ready)
  kAccounted = 1,    // allocations go to kmalloc, charged to the thread's group
  kPassthrough = 2,  // allocations go to glibc (library worker, exiting threads)
  kModeMask = 3,
  kDepthUnit = 4,    // one level of "inside the library": allocations go to glibc
};

enum : int { kUninit = 0, kInitializing = 1, kReady = 2, kDisabled = 3 };

extern constinit thread_local unsigned tls_word __attribute__((tls_model("initial-exec")));
extern std::atomic<int> g_state;

/// Scope in which the calling thread's allocations go to glibc.
struct Internal {
  Internal() noexcept { tls_word += kDepthUnit; }
  ~Internal() { tls_word -= kDepthUnit; }
  Internal(const Internal&) = delete;
  Internal& operator=(const Internal&) = delete;
};

inline void set_mode(unsigned m) noexcept { tls_word = (tls_word & ~unsigned{kModeMask}) | m; }

/// Sets up the calling thread (its group, its exit hook); true if it is now
/// kAccounted. Called with tls_word == kFresh.
bool thread_setup() noexcept;
/// glibc's malloc_usable_size (resolved lazily with dlsym(RTLD_NEXT)).
std::size_t glibc_usable_size(void* p) noexcept;

#if defined(MEMCG_UNWIND_SHIM)
/// At init: binds the preload's unwinder entry points to a libgcc_s the
/// program has loaded already (a C++ program's), so that no exception
/// looks it up later (unwind_shim.cpp).
void find_loaded_unwinder() noexcept;
#else
inline void find_loaded_unwinder() noexcept {}  // the shared runtime: no shim
#endif

}  // namespace memcg::interpose
