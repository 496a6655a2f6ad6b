// Magazines and the depot (Bonwick, "Magazines and Vmem", 2001).
//
// A magazine is an array of up to kMagazineRounds rounds (objects). Each
// thread keeps, per cache it uses, a loaded and a previous magazine; the
// cache's depot keeps full and empty magazines. Allocation pops from the
// loaded magazine, swaps with the previous one when it is empty, and only
// then goes to the depot (lock) or the slabs. Frees push symmetrically.
#pragma once

#include <cstddef>
#include <cstdint>

#include "slab/slab.hpp"

namespace memcg::detail {

inline constexpr std::uint32_t kMagazineRounds = 31;

// A round: an object, and for a cache that charges each object (shared
// slabs of an accounted root) the object's entry in its slab's owner
// vector (Slab::objcgs), so that an allocation records the owner with one
// store and no arithmetic on the slab header. The entry stays valid while
// the round is in a magazine: the object counts in its slab's inuse, which
// keeps the slab. Other caches leave `owner` unset and never read it.
//
// The owner pointer's low bit (kFreshEntry) says the entry holds 0: its
// object has not been handed out since it was carved, so the allocation
// must write it (slab.hpp SOLE OWNER). Every other entry a round names holds
// a real key, and while the slab has a sole owner it is that key.
struct Round {
  void* obj;
  OwnerKey* owner;  // tagged: see kFreshEntry
};
inline constexpr std::uintptr_t kFreshEntry = 1;
inline OwnerKey* tag_entry(OwnerKey* entry, bool fresh) noexcept {
  return reinterpret_cast<OwnerKey*>(reinterpret_cast<std::uintptr_t>(entry) | (fresh ? kFreshEntry : 0));
}
inline OwnerKey* entry_of(const OwnerKey* tagged) noexcept {
  return reinterpret_cast<OwnerKey*>(reinterpret_cast<std::uintptr_t>(tagged) & ~kFreshEntry);
}
inline bool entry_is_fresh(const OwnerKey* tagged) noexcept {
  return (reinterpret_cast<std::uintptr_t>(tagged) & kFreshEntry) != 0;
}
/// The round of an object going back into a magazine off the fast path
/// (its entry, tagged fresh if it holds 0: an object whose charge was
/// refused before it was ever handed out).
inline Round round_of(const Slab* s, void* obj) noexcept {
  OwnerKey* e = s->owner_slot(obj);
  return Round{obj, tag_entry(e, e && *e == 0)};
}

// A magazine is one 512-byte-aligned metadata block with the rounds last,
// so a pointer into its rounds (a thread's loaded magazine is held as its
// top, thread_mags.hpp) names the magazine and the count at once, and the
// fast paths test emptiness and fullness on the address they compute
// anyway: a pop's new top (top - 1) is the block's start when the magazine
// was empty, a push's top is the block's end when it is full.
struct Magazine {
  Magazine* next = nullptr;  // depot list link
  std::uint32_t n = 0;       // rounds present (stale while loaded in a thread's table entry)
  std::uint32_t pad = 0;
  Round rounds[kMagazineRounds];

  bool full() const noexcept { return n == kMagazineRounds; }
  bool empty() const noexcept { return n == 0; }
};
inline constexpr std::uintptr_t kMagazineBlock = 512;
static_assert(sizeof(Magazine) == kMagazineBlock, "a magazine is one 512-byte metadata block (meta::alloc aligns it)");
static_assert(offsetof(Magazine, rounds) == sizeof(Round), "the header takes one round's room");

// Singly linked stack of magazines (guarded by the cache lock).
struct MagazineStack {
  Magazine* head = nullptr;
  std::uint32_t count = 0;

  void push(Magazine* m) noexcept {
    m->next = head;
    head = m;
    ++count;
  }
  Magazine* pop() noexcept {
    Magazine* m = head;
    if (m) {
      head = m->next;
      m->next = nullptr;
      --count;
    }
    return m;
  }
};

}  // namespace memcg::detail
