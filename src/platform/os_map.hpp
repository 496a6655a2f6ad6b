// The library's own anonymous mappings. Under memcg-run the preload charges
// the program's mmap/munmap/mremap of private anonymous memory; the
// library's mappings (slab regions, large spans, metadata) are its own
// accounting's business and must not be charged again, so the library maps
// through these, which mark the calling thread for the preload's wrappers
// (tls_os_map_depth != 0: pass the call through). Outside memcg-run they are
// plain mmap and munmap.
#pragma once

#include <sys/mman.h>

#include <cstddef>

namespace memcg::detail {

extern constinit thread_local int tls_os_map_depth __attribute__((tls_model("initial-exec")));

/// mmap(2) on the library's behalf: MAP_FAILED with errno on failure.
inline void* os_mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) noexcept {
  ++tls_os_map_depth;
  void* p = ::mmap(addr, len, prot, flags, fd, off);
  --tls_os_map_depth;
  return p;
}

/// munmap(2) on the library's behalf: 0, or -1 with errno.
inline int os_munmap(void* addr, std::size_t len) noexcept {
  ++tls_os_map_depth;
  const int r = ::munmap(addr, len);
  --tls_os_map_depth;
  return r;
}

}  // namespace memcg::detail
