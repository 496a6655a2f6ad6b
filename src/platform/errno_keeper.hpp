// ErrnoKeeper: restores errno at scope exit. The free paths' slow halves may
// make system calls (futex, madvise, munmap) and free(3) must leave errno as
// it found it; the fast halves make none, so they pay nothing for it.
#pragma once

#include <cerrno>

namespace memcg::detail {

class ErrnoKeeper {
 public:
  ErrnoKeeper() noexcept : saved_(errno) {}
  ~ErrnoKeeper() { errno = saved_; }
  ErrnoKeeper(const ErrnoKeeper&) = delete;
  ErrnoKeeper& operator=(const ErrnoKeeper&) = delete;

 private:
  int saved_;
};

}  // namespace memcg::detail
