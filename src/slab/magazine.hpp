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

inline constexpr std::uint32_t kMagazineRounds = 62;

// A round: an object pointer with two tag bits (objects are at least
// 8-aligned; caches that do not charge objects set neither):
//  - kFreshEntry: for a cache that charges each object (shared slabs of an
//    accounted root), the object's owner entry holds 0: the object has not
//    been handed out since it was carved (or its charge was refused), so the
//    allocation must write the entry (slab.hpp SOLE OWNER). Every other
//    object of such a cache has an entry holding a real key, which is its
//    slab's sole owner while the slab has one.
//  - kChargedRound: the object is still charged, through the owner of the
//    thread table entry whose magazines hold it, and its owner entry holds
//    that owner (thread_mags.hpp CHARGED ROUNDS). Only a thread's loaded
//    and previous magazines hold such rounds: a magazine leaving a table
//    entry is discharged first, so depots and slabs never see the bit.
struct Round {
  std::uintptr_t tagged;

  static constexpr std::uintptr_t kTags = 3;
  static Round of(void* obj, bool fresh_entry) noexcept {
    return Round{reinterpret_cast<std::uintptr_t>(obj) | (fresh_entry ? 1u : 0u)};
  }
  void* object() const noexcept { return reinterpret_cast<void*>(tagged & ~kTags); }
  bool fresh_entry() const noexcept { return (tagged & 1) != 0; }
  bool charged() const noexcept { return (tagged & 2) != 0; }
};
inline constexpr std::uintptr_t kFreshEntry = 1;
inline constexpr std::uintptr_t kChargedRound = 2;
/// The round of an object going back into a magazine off the fast path
/// (fresh if its entry holds 0: an object whose charge was refused before it
/// was ever handed out).
inline Round round_of(const Slab* s, void* obj) noexcept {
  const OwnerKey* e = s->owner_slot(obj);
  return Round::of(obj, e && *e == 0);
}

// A magazine is one 512-byte-aligned metadata block with the rounds last,
// so a pointer into its rounds (a thread's loaded magazine is held as its
// top, thread_mags.hpp) names the magazine and the count at once, and the
// fast paths test emptiness and fullness on the address they compute
// anyway: a pop's new top (top - 1) lies in the header's room (the block's
// first 16 bytes) when the magazine was empty, a push's top is the block's
// end when it is full.
struct Magazine {
  Magazine* next = nullptr;  // depot list link
  std::uint32_t n = 0;       // rounds present (stale while loaded in a thread's table entry)
  std::uint32_t pad = 0;
  Round rounds[kMagazineRounds];

  bool full() const noexcept { return n == kMagazineRounds; }
  bool empty() const noexcept { return n == 0; }
};
inline constexpr std::uintptr_t kMagazineBlock = 512;
inline constexpr std::uintptr_t kMagazineHeader = 16;
static_assert(sizeof(Magazine) == kMagazineBlock, "a magazine is one 512-byte metadata block (meta::alloc aligns it)");
static_assert(offsetof(Magazine, rounds) == kMagazineHeader && kMagazineHeader == 2 * sizeof(Round),
              "the header takes two rounds' room");

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
