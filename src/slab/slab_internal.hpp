// Entry points shared by the slab layer's files (not a public interface).
//
// Reference rule: every function taking a ChildCache* requires the caller to
// hold a reference on it (child_get), or to be inside the calling thread's
// magazine gate with the cache found published or in its table.
#pragma once

#include <cstdint>

#include "slab/cache_impl.hpp"

namespace memcg::detail {

// Magazines a depot list keeps: as many as hold kDepotBytes of objects and
// magazine blocks, at least one, and at most kDepotMax (kDepotMaxIsolated
// for a per-group cache, of which a process may have one per group and
// root) (RootCache::depot_max). Frees of many small objects in a row (a
// consumer thread freeing a producer's batch of 4,096; glibc's malloc
// benchmarks free 1,600) go to the depot and come back from it without
// touching the slabs, whose lists are a lock-held, per-object walk. Every
// list stays within kDepotBytes: one magazine of the biggest objects
// (Cache::kMaxObjectSize) is 62 x 16 KiB plus its block.
inline constexpr std::uint32_t kDepotMin = 1;
inline constexpr std::uint32_t kDepotMax = 1024;
inline constexpr std::uint32_t kDepotMaxIsolated = 64;
inline constexpr std::uint64_t kDepotBytes = std::uint64_t{1} << 20;
constexpr std::uint64_t depot_list_bytes(std::uint32_t magazines, std::size_t stride) {
  return std::uint64_t{magazines} * (std::uint64_t{kMagazineRounds} * stride + kMagazineBlock);
}
constexpr std::uint32_t depot_max_for(std::size_t stride, bool isolated = false) {
  const std::uint64_t n = kDepotBytes / depot_list_bytes(1, stride);
  const std::uint32_t most = isolated ? kDepotMaxIsolated : kDepotMax;
  return n < kDepotMin ? kDepotMin : n > most ? most : static_cast<std::uint32_t>(n);
}
static_assert(depot_list_bytes(1, 16 * 1024) <= kDepotBytes, "one magazine of the biggest objects fits the bound");
inline constexpr std::uint64_t kEmptySlabsKept = 1;  // per live child cache
// Bytes of never-used objects one magazine fill carves at most (fill_locked).
inline constexpr std::uint64_t kFillCarveBytes = 16 * 1024;

enum class RefillResult { kOk, kRetry, kNoMem };

void child_get(ChildCache* c) noexcept;
void child_put(ChildCache* c) noexcept;

Magazine* new_magazine() noexcept;
void free_magazine(Magazine* m) noexcept;

/// A full (or partly filled, never empty) magazine of c's objects, from the
/// depot or the slabs; may take and charge a new slab (no locks held).
/// kRetry: the cache died or was reparented meanwhile (look it up again).
RefillResult get_full_magazine(ChildCache* c, Magazine** out) noexcept;
/// Returns m's rounds to their slabs (c->lock held).
void flush_magazine_locked(ChildCache* c, Magazine* m) noexcept MEMCG_REQUIRES(c->lock);
/// Gives a magazine back to c's depot (or to the slabs if c is dead or the
/// depot is full), freeing it when it is not kept.
void return_magazine(ChildCache* c, Magazine* m) noexcept;
/// One object straight to its slab.
void free_to_slab(ChildCache* c, void* obj) noexcept;
/// Releases empty slabs beyond `keep` (uncharging the group). No lock held.
void release_empty_slabs(ChildCache* c, std::uint64_t keep) noexcept;
/// Flushes the depot to the slabs, then releases empty slabs beyond `keep`.
void shrink_child(ChildCache* c, std::uint64_t keep_empty) noexcept;
/// A dead cache that just became empty: queue its destruction.
void maybe_queue_dead_destroy(ChildCache* c) noexcept;
void destroy_dead_child_work(WorkItem* w);

/// The child cache of root for g (or g's nearest online ancestor), created
/// if needed, with a reference for the caller. nullptr: out of metadata.
ChildCache* get_child_cache(RootCache* root, GroupImpl* g) noexcept;

/// Drain round: flushes, in every thread, the magazine table entries whose
/// cache satisfies pred, returning their objects to the slabs (no slab is
/// released here). Caller holds no lock ranked above kSlab.
void flush_thread_magazines(bool (*pred)(ChildCache*, void*), void* arg) noexcept;

/// Returns every magazine of the calling thread to its cache's depot, and
/// gives back its object slot (what it pre-charged goes back to the groups).
void flush_own_magazines() noexcept;
/// Threads with a registered magazine table (tests, statistics).
std::uint64_t threads_with_magazines() noexcept;

// cache_alloc() and cache_free(), the fast paths, are inline in fast_path.hpp.

}  // namespace memcg::detail
