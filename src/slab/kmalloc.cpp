// kmalloc: size classes on root caches, the medium path and the large path.
#include "memcg/kmalloc.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstring>

#include "charge/charge.hpp"
#include "charge/current.hpp"
#include "charge/pin.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "platform/assert.hpp"
#include "platform/fork.hpp"
#include "platform/errno_keeper.hpp"
#include "platform/fault.hpp"
#include "slab/checked.hpp"
#include "slab/fast_path.hpp"
#include "slab/kfree_one_owner.hpp"
#include "slab/kmalloc_span.hpp"
#include "slab/large_cache.hpp"
#include "slab/page_source.hpp"
#include "slab/slab_internal.hpp"
#include "slab/slab_runtime.hpp"

namespace memcg {
namespace detail {

/// kmalloc_seq: 0 for a Cache, else the kmalloc class root's fixed number.
RootCache* create_root(std::string_view name, std::size_t size, const CacheOptions& o, std::uint32_t kmalloc_seq,
                       std::error_code& ec) noexcept;

namespace {

// Size classes: 8, then steps of 16 up to 256, then eight steps per power
// of two up to 8 KiB: at most 12.5% internal waste above 256 bytes, 6% for
// most sizes (glibc rounds to 16; four steps per doubling measured 20-23%
// more peak heap than glibc on python3 and sqlite3, see docs/memcg-run.md).
struct ClassTable {
  std::uint32_t size[64] = {};
  int n = 0;
  std::uint32_t charge[64] = {};  // bytes an object of the class is charged (stride + its owner record)
  std::uint8_t by_8[kMaxSmallSize / 8 + 1] = {};  // (size + 7) / 8 -> class (every class is a multiple of 8)
  constexpr ClassTable() {
    size[n++] = 8;
    for (std::uint32_t s = 16; s <= 256; s += 16) size[n++] = s;
    for (std::uint32_t base = 256; base < kMaxSmallSize; base *= 2) {
      const std::uint32_t steps = base < 8192 ? 8 : 4;  // above 8 KiB: 10, 12, 14, 16 KiB (64 table slots)
      for (std::uint32_t k = 1; k <= steps; ++k) size[n++] = base + k * (base / steps);
    }
    for (int i = 0; i < n; ++i) charge[i] = size[i] + sizeof(void*);
    int c = 0;
    for (std::uint32_t i = 0; i <= kMaxSmallSize / 8; ++i) {
      while (size[c] < i * 8) ++c;
      by_8[i] = static_cast<std::uint8_t>(c);
    }
  }
};
constexpr ClassTable kClasses{};
constexpr const std::uint32_t* kClassSizes = kClasses.size;
constexpr int kNumClasses = kClasses.n;
static_assert(kClasses.size[kClasses.n - 1] == kMaxSmallSize, "the last class is kMaxSmallSize");
static_assert(kClasses.n <= 64, "class table size");

// A class's fixed root number and so its shared cache's magazine-table key
// and slot (cache_impl.hpp), known without loading the root. The numbers
// start where a shared cache's slot is 0, so that class c's slot is c and
// the fast path finds its table entry from the class row's offset with no
// load (entries are four times the size of rows).
constexpr std::uint32_t first_class_seq() {
  std::uint32_t s = 1;
  while (mag_slot(s, kNoGroupId) != 0) ++s;
  return s;
}
constexpr std::uint32_t class_seq(std::uint32_t c) { return first_class_seq() + c; }
constexpr std::uint64_t class_mag_key(std::uint32_t c) { return mag_key(class_seq(c), kNoGroupId); }
constexpr std::uint32_t class_mag_off(std::uint32_t c) { return mag_off(mag_slot(class_seq(c), kNoGroupId)); }
static_assert(class_seq(static_cast<std::uint32_t>(kClasses.n - 1)) <= kKmallocRootSeqs,
              "every class has a fixed root number");

// What kmalloc's fast path needs of a class, in one 16-byte row.
struct ClassFast {
  std::uint64_t mag_key;
  std::uint32_t charge;
  std::uint32_t unused;
};
static_assert(sizeof(ClassFast) == 16, "16-byte rows");
static_assert(kMagEntryBytes == 4 * sizeof(ClassFast), "class c's table entry is at four times its row's offset");
constexpr bool class_slots_are_classes() {
  for (std::uint32_t c = 0; c < static_cast<std::uint32_t>(kClasses.n); ++c)
    if (class_mag_off(c) != 4 * c * sizeof(ClassFast)) return false;
  return kClasses.n <= static_cast<int>(kMagTableSize);
}
static_assert(class_slots_are_classes(), "class c's shared cache has table slot c");

// The rows, and (size + 7) / 8 -> the byte offset of its class's row from
// the start of this table: one base address serves both lookups, and the
// fast path indexes the rows without a multiplication.
struct FastTable {
  ClassFast row[64] = {};
  std::uint16_t off[kMaxSmallSize / 8 + 1] = {};
  constexpr FastTable() {
    for (int c = 0; c < kClasses.n; ++c)
      row[c] = ClassFast{class_mag_key(static_cast<std::uint32_t>(c)), kClasses.charge[c], 0};
    for (std::uint32_t i = 0; i <= kMaxSmallSize / 8; ++i)
      off[i] = static_cast<std::uint16_t>(kClasses.by_8[i] * sizeof(ClassFast));  // row is at offset 0
  }
};
constexpr FastTable kFast{};

inline std::uintptr_t fast_row_off(std::size_t size) { return kFast.off[(size + 7) >> 3]; }
inline const ClassFast* fast_row_at(std::uintptr_t off) {
  return reinterpret_cast<const ClassFast*>(reinterpret_cast<const char*>(&kFast) + off);
}

struct KmallocCaches {
  std::atomic<RootCache*> roots[kNumClasses] = {};
  SpinLock init_lock{LockRank::kKmallocInit};
};

constinit KmallocCaches g_kmalloc;
fork::HeldAcrossFork<SpinLock> g_kmalloc_fork{g_kmalloc.init_lock};

__attribute__((noinline)) RootCache* create_class_root(int c) {
  LockGuard<SpinLock> l(g_kmalloc.init_lock);
  RootCache* r = g_kmalloc.roots[c].load(std::memory_order_relaxed);
  if (r) return r;
  char name[32];
  int n = 0;
  const char* prefix = "kmalloc-";
  while (prefix[n]) { name[n] = prefix[n]; ++n; }
  char digits[12];
  int d = 0;
  for (std::uint32_t v = kClassSizes[c]; v; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
  while (d) name[n++] = digits[--d];
  CacheOptions o;
  o.align = kClassSizes[c] >= 16 ? 16 : 8;
  std::error_code ec;
  r = create_root(std::string_view(name, static_cast<std::size_t>(n)), kClassSizes[c], o, class_seq(static_cast<std::uint32_t>(c)), ec);
  // kmalloc's fast path relies on these without reading the root.
  MEMCG_CHECK(!r || (r->charge_objects && !r->options.reclaimable && r->charge_bytes == kClasses.charge[c] &&
                     r->shared_key == class_mag_key(static_cast<std::uint32_t>(c)) &&
                     r->shared_off == class_mag_off(static_cast<std::uint32_t>(c))),
              "kmalloc class root does not match its class table");
  if (r) g_kmalloc.roots[c].store(r, std::memory_order_release);
  return r;
}

inline RootCache* root_for_class(int c) {
  RootCache* r = g_kmalloc.roots[c].load(std::memory_order_acquire);
  return MEMCG_LIKELY(r != nullptr) ? r : create_class_root(c);
}

// size <= kMaxSmallSize (0 is class 0).
inline int class_of(std::size_t size) { return kClasses.by_8[(size + 7) >> 3]; }

// ---- medium and large paths ----
// A block above kMaxSmallSize is one allocation with this header before it,
// charged whole (page-rounded offset + size), counted in kmalloc_large and
// pinned to its group (kmem pin protocol). The returned pointer is at
// header + offset (offset >= 64, a multiple of the requested alignment, at
// most kSlabSize / 2).
//  - MEDIUM (page-rounded length up to kMaxMediumLen): a run of 1-8
//    page-source units in a shared slab region, the header where a slab's
//    would be. kfree takes it for a slab object, and the header presents
//    the fields the slab free path reads so that the path misses without
//    a test of its own (MEDIUM FREE below). Many blocks share a region: no
//    mapping, no page-table page and no address-space granule of its own.
//  - LARGE: a kRegionSize-aligned span of whole granules (large_cache.hpp),
//    the header at its start, so kfree finds its kind word by the region
//    mask and the pointer's offset in its granule (below kSlabSize, where no
//    slab lies) tells it from a slab object without a load.
// MEDIUM FREE. A medium block's header overlays a slab header's first line
// (the [slab: ...] fields): its cache is kNoMagazineCache, which no thread
// table entry holds, so free_charged's push always misses and the free goes
// to free_charged_miss, which tells the block by its kind word and calls
// kfree_medium; its sole owner slot holds span_len (above kOwnersMixed:
// no owner entry is read) and its magazine offset 0 (a valid entry). The
// free fast path thus pays nothing for medium blocks. A large span's header
// is the same struct; no slab path reads it.
inline constexpr std::uintptr_t kNoMagazineCache = 1;  // no ChildCache's address

struct LargeHeader {
  std::uint32_t kind = kLargeKind;  // [slab: kind] kLargeKind or kMediumKind
  std::uint32_t offset = 0;
  std::size_t usable = 0;           // bytes from the returned pointer to the end of the charged length
  std::uintptr_t no_cache = kNoMagazineCache;  // [slab: cache]
  GroupImpl* group = nullptr;       // [slab: objcgs] pinned (kmem pin protocol)
  std::size_t map_len = 0;          // charged bytes (page-rounded offset + size)
  std::uint32_t zero_charge = 0;    // [slab: charge_bytes]
  std::uint8_t zero_reclaimable = 0;  // [slab: reclaimable]
  std::uint8_t zero_units = 0;
  std::uint16_t entry_off = 0;      // [slab: mag_off]
  std::size_t span_len = 0;         // [slab: sole] mapped bytes: units * kSlabSize (medium), whole granules (large)
  // Bytes from the span's start that may be nonzero when handed out (large);
  // medium: span_len, or 0 when only each unit's first page may be
  // (page_source::take's *dirty).
  std::size_t dirty = 0;
};
static_assert(offsetof(LargeHeader, kind) == offsetof(Slab, kind) && offsetof(LargeHeader, no_cache) == offsetof(Slab, cache) &&
                  offsetof(LargeHeader, group) == offsetof(Slab, objcgs) &&
                  offsetof(LargeHeader, zero_charge) == offsetof(Slab, charge_bytes) &&
                  offsetof(LargeHeader, zero_reclaimable) == offsetof(Slab, reclaimable) &&
                  offsetof(LargeHeader, entry_off) == offsetof(Slab, mag_off) &&
                  offsetof(LargeHeader, span_len) == offsetof(Slab, sole),
              "MEDIUM FREE: the header's slab fields are where a slab keeps them");
static_assert(sizeof(LargeHeader::no_cache) == sizeof(Slab::cache) && sizeof(LargeHeader::entry_off) == sizeof(Slab::mag_off) &&
                  sizeof(LargeHeader::span_len) == sizeof(OwnerKey) && sizeof(LargeHeader) <= 64,
              "MEDIUM FREE: the overlaid fields have the slab's sizes");

constexpr std::size_t kLargeMinOffset = 64;  // the header's room; larger alignments use align
static_assert(sizeof(LargeHeader) <= kLargeMinOffset, "the header fits its room");
// kfree: a large pointer lies in its span's first kSlabSize bytes (large_alloc refuses larger alignments).
static_assert(kSlabSize / 2 >= kLargeMinOffset, "large offsets stay below kSlabSize");
constexpr std::size_t kMaxLargeSize = std::size_t{1} << 46;
// Eight units (512 KiB), header included. Runs of 16 (blocks up to 1 MiB)
// raised mstress's peak RSS by a third: the page source keeps freed units
// resident within its budget (page_source.hpp), where the large-block cache
// trims a reused span's excess and purges only after a delay.
constexpr std::size_t kMaxMediumLen = 8 * kSlabSize;
static_assert(kMaxMediumLen <= kMaxSlabUnits * kSlabSize, "a medium run is at most a slab's units");

constexpr std::size_t large_map_len(std::size_t size, std::size_t offset) {
  return (offset + size + 4095) & ~std::size_t{4095};
}

// The memory of a block of charged length len: a page-source run (medium)
// or a span (large); its header written but for group. nullptr: no memory.
LargeHeader* block_memory(std::size_t len, bool span_only) {
  if (len <= kMaxMediumLen && !span_only) {
    const auto units = static_cast<std::uint32_t>((len + kSlabSize - 1) / kSlabSize);
    bool dirty = true;
    void* run = MEMCG_FAULT_FAIL(fault::Kind::kLargeMap) ? nullptr : page_source::take(units, &dirty);
    if (!run) return nullptr;
    auto* h = new (run) LargeHeader;
    h->kind = kMediumKind;
    h->span_len = std::size_t{units} * kSlabSize;
    h->dirty = dirty ? h->span_len : 0;
    return h;
  }
  // A kRegionSize-aligned span of whole granules, registered in the page
  // source's ownership map (page_source::owns, used by the interposer):
  // a cached one, or a new mapping.
  large_cache::Taken t;
  if (!MEMCG_FAULT_FAIL(fault::Kind::kLargeMap)) t = large_cache::take(len);
  if (!t.base) return nullptr;
  auto* h = new (t.base) LargeHeader;
  h->span_len = t.span_len;
  h->dirty = t.dirty;
  return h;
}

void* large_alloc(std::size_t size, std::size_t align, GroupImpl* g, bool span_only = false) {
  if (align > kSlabSize / 2) return nullptr;
  const std::size_t offset = align > kLargeMinOffset ? align : kLargeMinOffset;
  if (size > kMaxLargeSize) return nullptr;
  const std::size_t len = large_map_len(size, offset);
  GroupImpl* x = g;
  std::error_code ec;
  for (;;) {
    while (!x->is_online()) x = x->parent;
    if (pin_group(x, ec)) break;  // lost a race with remove(): try the parent
  }
  if (!try_charge_memcg(x, len)) {
    unpin_group(x);
    return nullptr;
  }
  LargeHeader* h = block_memory(len, span_only);
  if (!h) {
    uncharge_memcg(x, len);
    unpin_group(x);
    return nullptr;
  }
  h->offset = static_cast<std::uint32_t>(offset);
  h->usable = len - offset;
  h->map_len = len;
  h->group = x;
  x->stats.kmalloc_large.fetch_add(len, std::memory_order_relaxed);
  return reinterpret_cast<char*>(h) + offset;
}

void large_free(LargeHeader* h) {
  ErrnoKeeper keep_errno;
  GroupImpl* g = h->group;
  const std::size_t len = h->map_len;
  if (h->kind == kMediumKind) {
    const auto units = static_cast<std::uint32_t>(h->span_len / kSlabSize);
    page_source::give(h, units);  // its free-list links overwrite the kind word
  } else {
    large_cache::give(h, h->span_len, h->dirty > len ? h->dirty : len, len);
  }
  g->stats.kmalloc_large.fetch_sub(len, std::memory_order_relaxed);
  uncharge_memcg(g, len);
  unpin_group(g);  // may drop the last reference of a removed group
}

// The header of the medium or large block holding p (p from kmalloc).
LargeHeader* block_header(const void* p) {
  if (span_kind(p) == kRegionKind) return static_cast<LargeHeader*>(slab_head(p));
  return static_cast<LargeHeader*>(region_base(p));
}


void* alloc_in(std::size_t size, std::size_t align, GroupImpl* g) {
  if (align <= 16) {
    if (size == 0) size = 1;
    if (size <= kMaxSmallSize) {
      RootCache* r = root_for_class(class_of(size));
      return r ? cache_alloc(r, g) : nullptr;
    }
    return large_alloc(size, 16, g);
  }
  if (align & (align - 1)) return nullptr;
  // Power-of-two classes up to a page are aligned to their size.
  std::size_t rounded = size < align ? align : size;
  if (align <= 4096 && rounded <= kMaxSmallSize) {
    std::size_t p2 = 32;
    while (p2 < rounded) p2 <<= 1;
    if (p2 <= kMaxSmallSize) {
      RootCache* r = root_for_class(class_of(p2));
      return r ? cache_alloc(r, g) : nullptr;
    }
  }
  return large_alloc(size, align, g);
}

}  // namespace
}  // namespace detail

namespace detail {
namespace {
// Out of line, so that kmalloc's fast path saves no registers.
__attribute__((noinline)) void* kmalloc_slow(std::size_t size) noexcept { return alloc_in(size, 16, current_group_impl()); }
}  // namespace

void* kmalloc_span(std::size_t size) noexcept { return large_alloc(size, 16, current_group_impl(), true); }

namespace {

// The fast path's miss: `obj` (charged to nobody) or nullptr; the class root
// may not exist yet (then no table entry can name it and obj is nullptr).
// The class is found from its row here, off the fast path.
__attribute__((noinline)) void* kmalloc_miss(const ClassFast* row, GroupImpl* g, void* obj) noexcept {
  RootCache* r = root_for_class(static_cast<int>(row - kFast.row));
  if (!r) return nullptr;
  return alloc_charged_miss(r, g, obj);
}
}  // namespace
}  // namespace detail

// The fast path: cache_alloc() of a class root, inside a group, with the
// root's key, slot and charge taken from the class table (fixed root
// numbers, slab_runtime.hpp), so that no load waits for the root.
void* kmalloc(std::size_t size) noexcept {
  using namespace detail;
  GroupImpl* g = tls_current_group;
  // Size 0 is class 0, as alloc_in() makes it.
  if (MEMCG_UNLIKELY(size > kMaxSmallSize) || MEMCG_UNLIKELY(g == nullptr)) return kmalloc_slow(size);
  const std::uintptr_t row_off = fast_row_off(size);
  const ClassFast* f = fast_row_at(row_off);
  ThreadMags& t = tls_mags;
  ObjCgroup* oc = g->objcg.load(std::memory_order_acquire);
  return take_charged(
      t.enter_fast(), f->mag_key, 4 * row_off /* class_mag_off(class) */, ObjSlot::key_of(oc, 0),
      [f] {
        const ClassFast* row = f;
        __asm__("" : "+r"(row));  // loaded where it is used, not ahead of the charged round's return
        return row->charge;
      },
      [&](void* obj) { return kmalloc_miss(f, g, obj); });
}
void* kmalloc(std::size_t size, const Group& g) noexcept {
  return g ? detail::alloc_in(size, 16, detail::Access::impl(g)) : nullptr;
}
// An alignment that is 0 or not a power of two is refused (nullptr), as
// aligned_alloc does, also below 16 where any valid alignment is met anyway.
void* kmalloc_aligned(std::size_t size, std::size_t align) noexcept {
  if (align == 0 || (align & (align - 1))) return nullptr;
  return detail::alloc_in(size, align, detail::current_group_impl());
}
void* kmalloc_aligned(std::size_t size, std::size_t align, const Group& g) noexcept {
  if (align == 0 || (align & (align - 1))) return nullptr;
  return g ? detail::alloc_in(size, align, detail::Access::impl(g)) : nullptr;
}

namespace detail {
namespace {
// Clears what kmalloc(size) returned at p: a slab object whole; a medium or
// large block only where it may hold nonzero bytes (the rest is fresh or
// purged memory, and clearing it would fault it in): a medium block on
// units that were not dirty, each unit's first page.
void* zeroed(void* p, std::size_t size) noexcept {
  if (!p) return nullptr;
  if (size <= kMaxSmallSize) return std::memset(p, 0, size);
  const LargeHeader* h = block_header(p);
  if (h->kind == kMediumKind) {
    if (h->dirty) return std::memset(p, 0, size);
    char* const b = static_cast<char*>(p);
    char* const e = b + size;
    for (char* u = const_cast<char*>(reinterpret_cast<const char*>(h)); u < e; u += kSlabSize) {
      char* lo = u > b ? u : b;
      char* hi = u + 4096 < e ? u + 4096 : e;
      if (lo < hi) std::memset(lo, 0, static_cast<std::size_t>(hi - lo));
    }
    return p;
  }
  const std::size_t start = static_cast<std::size_t>(static_cast<const char*>(p) - reinterpret_cast<const char*>(h));
  if (h->dirty > start) std::memset(p, 0, h->dirty - start < size ? h->dirty - start : size);
  return p;
}
}  // namespace
}  // namespace detail

void* kzalloc(std::size_t size) noexcept { return detail::zeroed(kmalloc(size), size); }
void* kzalloc(std::size_t size, const Group& g) noexcept { return detail::zeroed(kmalloc(size, g), size); }

namespace detail {
namespace {
// kfree of a large block (or a pointer kmalloc did not return, outside slab regions), out of line
// so that kfree's slab path saves no registers.
__attribute__((noinline)) void kfree_large(void* p) noexcept {
  checked::on_span(p);
  const std::uint32_t kind = span_kind(p);
  MEMCG_CHECK(kind != large_cache::kLargeCachedKind, "kfree of a freed large block (double free)");
  MEMCG_CHECK(kind == kLargeKind, "kfree of a pointer that kmalloc did not return");
#if defined(MEMCG_CHECKED)
  auto* h = static_cast<const LargeHeader*>(region_base(p));
  MEMCG_CHECK(static_cast<const char*>(p) == reinterpret_cast<const char*>(h) + h->offset,
              "kfree of a pointer inside a large allocation (misaligned pointer)");
#endif
  large_free(static_cast<LargeHeader*>(region_base(p)));
}

}  // namespace

// kfree of a medium block (MEDIUM FREE): its run's header has kMediumKind
// where a slab's has kSlabKind.
void kfree_medium(void* p) noexcept {
  auto* h = static_cast<LargeHeader*>(slab_head(p));
  // A freed run's first bytes are the page source's links.
  MEMCG_CHECK(h->kind == kMediumKind, "kfree of a pointer kmalloc did not return, or of a freed medium block (double free)");
  MEMCG_CHECK(static_cast<const char*>(p) == reinterpret_cast<const char*>(h) + h->offset,
              "kfree of a pointer inside a medium allocation (misaligned pointer)");
  large_free(h);
}
}  // namespace detail

namespace detail {
// kfree's body; kMixedLikely: which owner key free_charged lays out in line
// (fast_path.hpp).
template <bool kMixedLikely>
inline void kfree_as(void* p) noexcept {
  // A slab never lies in a region's first unit (the region header's); a
  // large allocation's pointer always does (its offset is below kSlabSize),
  // and so does nullptr: the address tells them apart without a load. A
  // medium block lies in a slab region like a slab object, and takes the
  // slab path to its miss (MEDIUM FREE).
  if (MEMCG_LIKELY((reinterpret_cast<std::uintptr_t>(p) & (kRegionSize - 1)) >= kSlabSize)) {
    checked::on_span(p);
#if defined(MEMCG_CHECKED)
    MEMCG_CHECK(span_kind(p) == kRegionKind, "kfree of a pointer that kmalloc did not return");
#endif
    std::uintptr_t off;
    Slab* s = Slab::of(p, &off);
#if defined(MEMCG_CHECKED)
    // on_free validates slab objects; other builds send a medium block
    // through free_charged's miss (MEDIUM FREE).
    if (s->kind != kSlabKind) return kfree_medium(p);
#endif
    // Every kmalloc class root charges objects: no test of the owner vector.
    checked::on_free(p);
    MEMCG_ASSERT(s->objcgs != nullptr && s->reclaimable == 0);
    if constexpr (kMixedLikely) free_charged<true>(p, s, s->objcgs, off);
    else free_charged<false>(p, s);
  } else {
    if (!p) return;
    kfree_large(p);
  }
}

void kfree_one_owner(void* p) noexcept { kfree_as<false>(p); }
}  // namespace detail

// In a process, kmalloc's class slabs are shared by every group that
// allocates from them: a slab's objects usually have several owners.
void kfree(void* p) noexcept { detail::kfree_as<true>(p); }

std::size_t kmalloc_size_roundup(std::size_t size) noexcept {
  if (size == 0) size = 1;
  if (size <= kMaxSmallSize) return detail::kClassSizes[detail::class_of(size)];
  if (size > detail::kMaxLargeSize) return 0;
  return detail::large_map_len(size, detail::kLargeMinOffset) - detail::kLargeMinOffset;
}

std::size_t ksize(const void* p) noexcept {
  if (!p) return 0;
  detail::checked::on_span(p);
  const void* base = detail::region_base(p);
  const std::uint32_t kind = detail::span_kind(p);
  if (kind == detail::kRegionKind) {
    const detail::Slab* s = detail::Slab::of(p);
    if (MEMCG_LIKELY(s->kind == detail::kSlabKind)) return s->stride;
    MEMCG_CHECK(s->kind == detail::kMediumKind,
                "ksize of a pointer kmalloc did not return, or of a freed medium block");
    base = s;
  } else {
    MEMCG_CHECK(kind != detail::large_cache::kLargeCachedKind, "ksize of a freed large block");
    MEMCG_CHECK(kind == detail::kLargeKind, "ksize of a pointer that kmalloc did not return");
  }
  auto* h = static_cast<const detail::LargeHeader*>(base);
  return h->usable - (static_cast<const char*>(p) - (static_cast<const char*>(base) + h->offset));
}

void* kmalloc(std::size_t size, ChargeFlags flags) noexcept {
  ScopedChargeFlags scope(flags);
  return kmalloc(size);
}

void* kmalloc(std::size_t size, const Group& g, ChargeFlags flags) noexcept {
  ScopedChargeFlags scope(flags);
  return kmalloc(size, g);
}

void* detail::allocate_or_throw(std::size_t bytes, std::size_t align, const Group& g, ChargeFlags flags) {
  // An alignment that is 0 or not a power of two goes to kmalloc_aligned,
  // which refuses it (std::bad_alloc), also below 16.
  const bool plain = align != 0 && align <= 16 && (align & (align - 1)) == 0;
  detail::clear_refusal();
  void* p;
  {
    ScopedChargeFlags scope(flags);
    p = plain ? kmalloc(bytes, g) : kmalloc_aligned(bytes, align, g);
  }
  if (!p) detail::throw_refused(bytes);  // ChargeRefused if a limit refused
  return p;
}

void* MemoryResource::do_allocate(std::size_t bytes, std::size_t align) {
  return detail::allocate_or_throw(bytes, align, g_, flags_);
}

bool MemoryResource::do_is_equal(const std::pmr::memory_resource& o) const noexcept {
  auto* m = dynamic_cast<const MemoryResource*>(&o);
  return m && m->g_ == g_ && m->flags_ == flags_;
}

}  // namespace memcg
