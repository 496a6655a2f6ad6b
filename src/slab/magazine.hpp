// Magazines and the depot (Bonwick, "Magazines and Vmem", 2001).
//
// A magazine is an array of up to kMagazineRounds object pointers. Each
// thread keeps, per cache it uses, a loaded and a previous magazine; the
// cache's depot keeps full and empty magazines. Allocation pops from the
// loaded magazine, swaps with the previous one when it is empty, and only
// then goes to the depot (lock) or the slabs. Frees push symmetrically.
#pragma once

#include <cstdint>

namespace memcg::detail {

inline constexpr std::uint32_t kMagazineRounds = 30;

// Rounds come first and a magazine is one 256-byte-aligned metadata block,
// so a pointer into its rounds (a thread's loaded magazine is held as its
// top, thread_mags.hpp) names the magazine and the count at once.
struct Magazine {
  void* rounds[kMagazineRounds];
  Magazine* next = nullptr;  // depot list link
  std::uint32_t n = 0;       // rounds present (stale while loaded in a thread's table entry)
  std::uint32_t pad = 0;

  bool full() const noexcept { return n == kMagazineRounds; }
  bool empty() const noexcept { return n == 0; }
};
inline constexpr std::uintptr_t kMagazineBlock = 256;
static_assert(sizeof(Magazine) == kMagazineBlock, "a magazine is one 256-byte metadata block (meta::alloc aligns it)");
static_assert(sizeof(void*) * kMagazineRounds < kMagazineBlock, "a full magazine's top stays inside its block");

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
