// MetaArena: the library's own allocator for its metadata (child caches,
// magazines, per-thread tables, root arrays). It never calls malloc, so it
// is usable on paths reachable from inside malloc (the interposer). Blocks
// come from mmap'd chunks, carved by power-of-two size class and recycled
// through per-class free lists; chunks are never returned to the OS.
//
// Concurrency: any thread; one spin lock (rank kMetaArena), short sections.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memcg::detail::meta {

inline constexpr std::size_t kMaxAlign = 512;

/// A zeroed block of at least `bytes` (<= 1 MiB), aligned to min(kMaxAlign,
/// its class size) (slab magazines rely on it). nullptr if mmap fails.
void* alloc(std::size_t bytes) noexcept;
/// Returns a block obtained from alloc(bytes) with the same `bytes`.
void free(void* p, std::size_t bytes) noexcept;
/// Bytes currently handed out (for the RSS overhead figures).
std::uint64_t bytes_in_use() noexcept;

template <class T, class... A>
T* make(A&&... a) noexcept {
  void* p = alloc(sizeof(T));
  return p ? new (p) T(static_cast<A&&>(a)...) : nullptr;
}
template <class T>
void destroy(T* p) noexcept {
  if (!p) return;
  p->~T();
  free(p, sizeof(T));
}

}  // namespace memcg::detail::meta
