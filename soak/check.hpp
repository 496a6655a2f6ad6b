// The soak's check: counts a violation and prints it, without stopping (the
// run ends with exit status 1 if any check failed).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>

namespace soak {

inline std::atomic<std::uint64_t> g_failures{0};

}  // namespace soak

#define SOAK_CHECK(cond, ...)                                                      \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      ::soak::g_failures.fetch_add(1);                                             \
      std::fprintf(stderr, "soak: CHECK FAILED (%s:%d): %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fprintf(stderr, "\n");                                                  \
    }                                                                              \
  } while (0)
