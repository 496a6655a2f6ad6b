// Slab: the header at the start of every slab (one or more kSlabSize units,
// page_source.hpp) that holds objects. Objects are carved lazily (a bump pointer), so a slab with one
// live object touches only the pages that object and the header live on.
//
// Cache reference chain: object -> its slab (address mask and the region's
// unit table, slab_head() in page_source.hpp) -> the slab's
// ChildCache (the slab holds a reference on it) -> the cache's group (the
// cache holds one reference). A cache can be reparented without visiting its
// slabs.
//
// Every field but `kind` and `sole` is guarded by the owning cache's lock;
// the ones marked immutable are written before the slab is first handed
// out.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "platform/intrusive_list.hpp"
#include "slab/page_source.hpp"

namespace memcg::detail {

struct ChildCache;
struct ObjCgroup;

inline constexpr std::uint32_t kSlabKind = 0x51ab51ab;
inline constexpr std::uint32_t kLargeKind = 0x1a4e1a4e;  // a large allocation's span (span_kind() in page_source.hpp)
inline constexpr std::uint32_t kMediumKind = 0x3ed1a4e5;  // a medium kmalloc block's run (Slab::kind's place)

// A live object's owner entry: ObjCgroup address | reclaimable (ObjSlot::key_of).
using OwnerKey = std::uintptr_t;

struct FreeObject {
  FreeObject* next;
};

// An owner key that names no ObjCgroup: Slab::sole's "owners differ" (a
// real key is an ObjCgroup's address, far above it; 0 is "none yet").
inline constexpr OwnerKey kOwnersMixed = 1;

struct Slab {
  // ---- line 0: read by every free; written only while the slab is set up,
  // and `sole` when it changes (at most 0 -> key -> mixed; racing threads
  // may each store mixed) ----
  std::uint32_t kind = kSlabKind;  // checked builds: a slab header is where slab_head() points
  std::uint32_t capacity = 0;
  std::uint32_t stride = 0;
  ChildCache* cache = nullptr;     // holds a reference
  // Per-object accounting (shared caches of accounted roots; immutable):
  // objcgs[index(obj)] is the owner key of a live object: the ObjCgroup it
  // is charged through (weak: see charge/objcg.hpp) | its statistics kind
  // (reclaimable), as ObjSlot::key_of makes it; charge_bytes is what it is
  // charged. The
  // vector follows the header; objcgs is its address biased by index() of
  // the first object (see index()), so only objcgs[index(obj)] is valid.
  OwnerKey* objcgs = nullptr;
  std::uint64_t recip = 0;         // ceil(2^40 / stride): index() without a division
  std::uint32_t charge_bytes = 0;  // stride + one vector entry
  std::uint8_t reclaimable = 0;    // statistics: slab_reclaimable or slab_unreclaimable
  std::uint8_t units = 1;          // kSlabSize units (page source)
  std::uint16_t mag_off = 0;       // mag_off(cache->mag_slot_), read by free beside `cache` (no load through it)
  // SOLE OWNER. 0 until an owner entry is first written, then that key
  // while every entry written since the slab was set up holds it (by
  // value), then kOwnersMixed for good. An entry is zeroed when its object
  // is carved, and every write of an entry that changes it goes through
  // note_owner (fast_path.hpp), which updates `sole` before the object is
  // handed out; so a free, which happens after its object's allocation,
  // that reads a key here may use it instead of the object's entry: the
  // entry line, often cold or another thread's, is not read. Likewise an
  // allocation of a round not marked fresh (magazine.hpp Round) with the
  // sole owner's key writes nothing: its entry holds that key. Relaxed: the
  // user's hand-over of the object orders the allocation before the free.
  std::atomic<OwnerKey> sole{0};
  // ---- line 1: the slab lists' state, written under the cache lock ----
  alignas(64) std::uint32_t inuse = 0;  // objects handed out (to users or magazines)
  FreeObject* freelist = nullptr;  // freed objects
  char* bump = nullptr;            // next never-used object
  char* end = nullptr;             // end of the object area
  ListNode node;                   // on the cache's partial / full / empty list
  std::uint8_t list = 0;           // which list (ChildCache::kPartial...)

  static Slab* of(const void* obj) noexcept { return static_cast<Slab*>(slab_head(obj)); }
  /// of(obj), with obj's offset from the header in *off (for index_at).
  static Slab* of(const void* obj, std::uintptr_t* off) noexcept { return static_cast<Slab*>(slab_head(obj, off)); }

  /// floor(offset / stride) of an object at offset `first + i * stride` from
  /// the header: i plus a per-slab constant (floor(first / stride)), so the
  /// header's address, not the first object's, is the base, and objcgs is
  /// biased by the constant. Exact: with e = stride * recip - 2^40 < stride
  /// <= 2^20 and offsets below 16 units (2^20), offset * e < 2^40, so the
  /// error never carries past the fraction (stride - 1) / stride.
  std::uint32_t index(const void* obj) const noexcept {
    return index_at(static_cast<std::uintptr_t>(static_cast<const char*>(obj) - reinterpret_cast<const char*>(this)));
  }
  /// index() of the object at byte offset `off` from the header.
  std::uint32_t index_at(std::uintptr_t off) const noexcept { return static_cast<std::uint32_t>((off * recip) >> 40); }
  static_assert(std::uint64_t{kMaxSlabUnits} * kSlabSize <= (std::uint64_t{1} << 20), "index() is exact below 2^20");
  /// obj's owner entry, or nullptr if this slab's cache does not charge
  /// objects.
  OwnerKey* owner_slot(const void* obj) const noexcept { return objcgs ? &objcgs[index(obj)] : nullptr; }
  static constexpr std::uint64_t recip_of(std::uint32_t stride) noexcept {
    return ((std::uint64_t{1} << 40) + stride - 1) / stride;
  }

  // A free object's link keeps, in its low bit, whether the object's owner
  // entry holds 0 (magazine.hpp kFreshEntry); a carved object's does.
  void* pop(bool* fresh_entry) noexcept {
    if (FreeObject* o = freelist) {
      const auto next = reinterpret_cast<std::uintptr_t>(o->next);
      freelist = reinterpret_cast<FreeObject*>(next & ~std::uintptr_t{1});
      *fresh_entry = (next & 1) != 0;
      ++inuse;
      return o;
    }
    if (bump < end) {
      void* o = bump;
      bump += stride;
      *fresh_entry = true;
      ++inuse;
      return o;
    }
    return nullptr;
  }
  void push(void* obj, bool fresh_entry) noexcept {
    auto* o = static_cast<FreeObject*>(obj);
    o->next = reinterpret_cast<FreeObject*>(reinterpret_cast<std::uintptr_t>(freelist) | (fresh_entry ? 1 : 0));
    freelist = o;
    --inuse;
  }
  static const FreeObject* next_free(const FreeObject* o) noexcept {
    return reinterpret_cast<const FreeObject*>(reinterpret_cast<std::uintptr_t>(o->next) & ~std::uintptr_t{1});
  }
  bool full() const noexcept { return inuse == capacity; }
  bool empty() const noexcept { return inuse == 0; }
};
static_assert(offsetof(Slab, sole) + sizeof(Slab::sole) <= 64, "what a free reads is on the header's first line");
static_assert(offsetof(Slab, inuse) == 64, "the lists' state is on a line of its own");

}  // namespace memcg::detail
