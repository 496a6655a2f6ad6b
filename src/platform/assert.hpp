// Assertions. MEMCG_CHECK is always on and fatal; MEMCG_ASSERT only in
// checked builds (MEMCG_CHECKED: debug and sanitizer presets). Neither
// allocates: both are usable from paths reachable from malloc.
#pragma once

namespace memcg::detail {
[[noreturn]] void check_failed(const char* expr, const char* file, int line, const char* msg) noexcept;
}

#define MEMCG_CHECK(cond, msg)                                                   \
  do {                                                                           \
    if (__builtin_expect(!(cond), 0))                                            \
      ::memcg::detail::check_failed(#cond, __FILE__, __LINE__, msg);             \
  } while (0)

#if defined(MEMCG_CHECKED)
#define MEMCG_ASSERT(cond) MEMCG_CHECK(cond, "assertion")
#else
#define MEMCG_ASSERT(cond) ((void)0)
#endif

#define MEMCG_LIKELY(x) __builtin_expect(!!(x), 1)
#define MEMCG_UNLIKELY(x) __builtin_expect(!!(x), 0)
