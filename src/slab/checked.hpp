// Checked builds (MEMCG_CHECKED): validation of the pointers given to
// Cache::free, kfree and ksize, with a clear fatal message (MEMCG_CHECK):
//   - foreign pointer: its page is not mapped, or it is not in memory this
//     library mapped (page_source::owns), or its region does not start with
//     a slab region's or a large allocation's kind word, or its slab has no
//     slab header;
//   - misaligned pointer: not at an object boundary of its slab (offset from
//     the first object not a multiple of the stride, or outside the object
//     area), or not the start of a large allocation;
//   - double free: a poison word is written into the last 8 bytes of each
//     freed object (objects of 16 bytes or more, caches without a
//     constructor, whose state must survive free) and cleared on allocation;
//     a free that finds it set aborts. Detection is best effort: a slab whose
//     objects are all free may be returned to the page source, and a second
//     free then reports a foreign pointer.
// In other builds every function here is an empty inline.
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#include "platform/assert.hpp"
#include "slab/cache_impl.hpp"
#include "slab/slab.hpp"

namespace memcg::detail::checked {

inline constexpr std::uint64_t kFreePoison = 0xdeadf7ee5eedf7eeull;

#if defined(MEMCG_CHECKED)

// The page of p is mapped (by anyone).
inline bool span_mapped(const void* p) {
  unsigned char vec;
  void* page = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t{4095});
  return ::mincore(page, 1, &vec) == 0 || errno != ENOMEM;
}

inline bool poisons(const Slab* s) { return s->stride >= 16 && !s->cache->root->options.ctor; }

/// Cache::free / kfree of a slab object.
inline void on_free(void* obj) {
  MEMCG_CHECK(span_mapped(obj), "free of a pointer no memcg cache returned (foreign pointer: span not mapped)");
  MEMCG_CHECK(page_source::owns(obj), "free of a pointer no memcg cache returned (foreign pointer: not memcg's memory)");
  MEMCG_CHECK(span_kind(obj) == kRegionKind,
              "free of a pointer no memcg cache returned (foreign pointer: not in a slab region)");
  const Slab* s = Slab::of(obj);
  MEMCG_CHECK(s->kind == kSlabKind, "free of a pointer no memcg cache returned (foreign pointer: no slab header)");
  const char* data = reinterpret_cast<const char*>(s) + s->cache->root->data_offset;
  const char* o = static_cast<const char*>(obj);
  MEMCG_CHECK(o >= data && o < s->end, "free of a pointer outside its slab's objects (misaligned pointer)");
  MEMCG_CHECK((o - data) % s->stride == 0, "free of a pointer that is not at an object boundary (misaligned pointer)");
  if (poisons(s)) {
    auto* w = reinterpret_cast<std::uint64_t*>(static_cast<char*>(obj) + s->stride - 8);
    MEMCG_CHECK(*w != kFreePoison, "double free of a slab object");
    *w = kFreePoison;
  }
}

/// Every object handed out by cache_alloc.
inline void* on_alloc(void* obj) {
  if (obj) {
    const Slab* s = Slab::of(obj);
    if (poisons(s)) *reinterpret_cast<std::uint64_t*>(static_cast<char*>(obj) + s->stride - 8) = 0;
  }
  return obj;
}

/// An object popped as a charged round for owner key `key` (thread_mags.hpp
/// CHARGED ROUNDS): its owner entry must hold the key.
inline void* charged_round(void* obj, std::uintptr_t key) {
  const Slab* s = Slab::of(obj);
  MEMCG_CHECK(s->objcgs && s->objcgs[s->index(obj)] == key, "a charged round's owner entry does not hold its owner");
  return obj;
}

/// kfree / ksize: before the span's header is read.
inline void on_span(const void* p) {
  MEMCG_CHECK(span_mapped(p), "kfree/ksize of a pointer kmalloc did not return (foreign pointer: span not mapped)");
  MEMCG_CHECK(page_source::owns(p), "kfree/ksize of a pointer kmalloc did not return (foreign pointer: not memcg's memory)");
}

#else

inline void on_free(void*) {}
inline void* on_alloc(void* obj) { return obj; }
inline void* charged_round(void* obj, std::uintptr_t) { return obj; }
inline void on_span(const void*) {}

#endif

}  // namespace memcg::detail::checked
