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

struct Magazine {
  Magazine* next = nullptr;  // depot list link
  std::uint32_t n = 0;       // rounds present
  std::uint32_t pad = 0;
  void* rounds[kMagazineRounds];

  bool full() const noexcept { return n == kMagazineRounds; }
  bool empty() const noexcept { return n == 0; }
};
static_assert(sizeof(Magazine) == 256, "a magazine is one 256-byte metadata block");

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
