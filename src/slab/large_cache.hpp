// LargeCache: freed large spans (kmalloc's large blocks, above 512 KiB, and
// memcg-run's over-aligned ones: kmalloc_span.hpp)
// kept for reuse, so that a program that frees and allocates big blocks
// does not map, unmap and fault them in each time.
//
// A span is a kRegionSize-aligned mapping of whole granules
// (page_source::map_span). A cached span keeps its mapping and its
// ownership-map marks; its first bytes hold the cache's node, whose kind
// word (kLargeCachedKind) makes kfree of a freed pointer fail its kind check.
// Cached spans are charged to no group.
//
// DIRTY BYTES: each span records how many bytes from its start may be
// resident and nonzero (`dirty`, page-rounded); the rest reads as zero.
// take() hands that figure to the allocator (kzalloc clears only it).
//
// DECAY (the peers' policy: keep for a while, then give back): a cached
// span's pages past its first are returned with MADV_DONTNEED once it has
// been cached `dirty_decay_ms`; the span is unmapped once cached
// `retain_ms`. The dirty bytes of all cached spans stay within a budget of
// half the large bytes in use, clamped to [dirty_min, dirty_max],
// and at most `max_spans` spans are kept (the oldest go first). Decay runs
// on cache operations, at most every kDecayTickMs, not on a thread: an idle
// process keeps at most its budget resident in the cache.
//
// REUSE: a request of one granule (up to 4 MiB: most large blocks) takes a
// one-granule span binned by its dirty bytes (four classes per doubling):
// one with enough resident pages and at most about twice them, else one with
// fewer, else one with more; a request of n granules takes the smallest
// cached span of n or more. A span whose dirty bytes exceed the request by
// more than a quarter of it (one granule) or all of it (more), and by at
// least 64 KiB, has the excess returned first, so a small block does not pin
// a big block's pages.
//
// Concurrency: any thread; one mutex (rank kLargeCache), held across fork.
// madvise and munmap run outside it, on spans taken off the lists.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memcg::detail::large_cache {

inline constexpr std::uint32_t kLargeCachedKind = 0x1a4ec0de;
inline constexpr std::uint64_t kDecayTickMs = 100;

struct Taken {
  void* base = nullptr;       // kRegionSize-aligned; nullptr: mapping failed
  std::size_t span_len = 0;   // whole granules
  std::size_t dirty = 0;      // bytes from base that may be nonzero
  bool reused = false;
};

/// A span of at least `len` bytes: a cached one or a new mapping (dirty 0).
Taken take(std::size_t len) noexcept;
/// Gives back a span that take(len) returned; its first `dirty` bytes may
/// be nonzero.
void give(void* base, std::size_t span_len, std::size_t dirty, std::size_t len) noexcept;

struct Tuning {
  std::uint64_t dirty_decay_ms = 1000;
  std::uint64_t retain_ms = 10000;
  std::size_t dirty_min = std::size_t{8} << 20;  // the resident budget is half the large
  std::size_t dirty_max = std::size_t{1} << 30;  // bytes in use, within [dirty_min, dirty_max]
  std::size_t max_spans = 256;
};
Tuning tuning() noexcept;
/// Tests and embedders: new decay settings (applied at the next operation).
void set_tuning(const Tuning& t) noexcept;

struct Stats {
  std::uint64_t spans = 0;          // cached now
  std::uint64_t span_bytes = 0;     // their mapped bytes
  std::uint64_t dirty_bytes = 0;    // their possibly resident bytes
  std::uint64_t hits = 0;           // take() served from the cache
  std::uint64_t misses = 0;         // take() mapped anew
  std::uint64_t purged_bytes = 0;   // given back with MADV_DONTNEED
  std::uint64_t unmapped = 0;       // cached spans unmapped
};
Stats stats() noexcept;

/// Runs the decay pass now, whatever the tick.
void decay_now() noexcept;
/// Unmaps every cached span.
void release_all() noexcept;

}  // namespace memcg::detail::large_cache
