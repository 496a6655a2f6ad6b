#include "platform/assert.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace memcg::detail {

void check_failed(const char* expr, const char* file, int line, const char* msg) noexcept {
  // Formats on the stack and writes with write(2): no malloc, no stdio locks.
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, "memcg: %s failed: %s at %s:%d\n", msg, expr, file, line);
  if (n > 0) {
    ssize_t ignored = ::write(2, buf, static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1);
    (void)ignored;
  }
  std::abort();
}

}  // namespace memcg::detail
