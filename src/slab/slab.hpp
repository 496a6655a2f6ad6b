// Slab: the header at the start of every kSlabSize-aligned span that holds
// objects. Objects are carved lazily (a bump pointer), so a slab with one
// live object touches only the pages that object and the header live on.
//
// Cache reference chain: object -> its slab (address mask) -> the slab's
// ChildCache (the slab holds a reference on it) -> the cache's group (the
// cache holds one reference). A cache can be reparented without visiting its
// slabs.
//
// Every field but `kind` is guarded by the owning cache's lock.
#pragma once

#include <cstdint>

#include "platform/intrusive_list.hpp"
#include "slab/page_source.hpp"

namespace memcg::detail {

struct ChildCache;

inline constexpr std::uint32_t kSlabKind = 0x51ab51ab;
inline constexpr std::uint32_t kLargeKind = 0x1a4e1a4e;

struct FreeObject {
  FreeObject* next;
};

struct Slab {
  std::uint32_t kind = kSlabKind;  // first field of every span header (slab or large)
  std::uint32_t inuse = 0;         // objects handed out (to users or magazines)
  std::uint32_t capacity = 0;
  std::uint32_t stride = 0;
  ChildCache* cache = nullptr;     // holds a reference
  FreeObject* freelist = nullptr;  // freed objects
  char* bump = nullptr;            // next never-used object
  char* end = nullptr;             // end of the object area
  ListNode node;                   // on the cache's partial / full / empty list
  std::uint8_t list = 0;           // which list (ChildCache::kPartial...)

  static Slab* of(const void* obj) noexcept { return static_cast<Slab*>(slab_base(obj)); }

  void* pop() noexcept {
    if (FreeObject* o = freelist) {
      freelist = o->next;
      ++inuse;
      return o;
    }
    if (bump < end) {
      void* o = bump;
      bump += stride;
      ++inuse;
      return o;
    }
    return nullptr;
  }
  void push(void* obj) noexcept {
    auto* o = static_cast<FreeObject*>(obj);
    o->next = freelist;
    freelist = o;
    --inuse;
  }
  bool full() const noexcept { return inuse == capacity; }
  bool empty() const noexcept { return inuse == 0; }
};

}  // namespace memcg::detail
