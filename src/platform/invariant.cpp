#include "platform/invariant.hpp"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace memcg::detail {

void invariant_failed(const char* invariant, const char* file, int line, const char* fmt, ...) noexcept {
  // Formats on the stack and writes with write(2): no malloc, no stdio locks.
  char buf[768];
  int n = std::snprintf(buf, sizeof buf, "memcg: invariant violated: %s: ", invariant);
  if (n < 0) n = 0;
  if (static_cast<std::size_t>(n) < sizeof buf) {
    va_list ap;
    va_start(ap, fmt);
    const int m = std::vsnprintf(buf + n, sizeof buf - n, fmt, ap);
    va_end(ap);
    if (m > 0) n += m;
  }
  if (static_cast<std::size_t>(n) < sizeof buf) {
    const int m = std::snprintf(buf + n, sizeof buf - n, " at %s:%d\n", file, line);
    if (m > 0) n += m;
  }
  if (static_cast<std::size_t>(n) >= sizeof buf) {
    n = sizeof buf - 1;
    buf[n - 1] = '\n';
  }
  ssize_t ignored = ::write(2, buf, static_cast<std::size_t>(n));
  (void)ignored;
  std::abort();
}

}  // namespace memcg::detail
