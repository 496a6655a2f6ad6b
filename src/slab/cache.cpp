// The public Cache: root caches.
#include "memcg/cache.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "charge/current.hpp"
#include "core/access.hpp"
#include "core/errors.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "platform/meta_arena.hpp"
#include "slab/fast_path.hpp"
#include "slab/slab_internal.hpp"
#include "slab/slab_runtime.hpp"
#include "testing_stats.hpp"

namespace memcg {

using detail::ChildCache;
using detail::LockGuard;
using detail::RankedMutex;
using detail::RootCache;
using detail::SpinLock;

namespace detail {
bool cache_of_root(ChildCache* c, void* root);
void destroy_child_locked(ChildCache* c) MEMCG_REQUIRES(slab_mutex());

namespace {
bool valid_cache_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  return std::none_of(n.begin(), n.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7f;
  });
}
}  // namespace

std::uint32_t take_root_seq_locked(SlabRuntime& rt) noexcept {
  MEMCG_ASSERT_HELD(slab_mutex());
  if (SlabRuntime::FreeSeq* f = rt.free_seqs) {
    rt.free_seqs = f->next;
    const std::uint32_t s = f->seq;
    meta::destroy(f);
    return s;
  }
  if (rt.next_seq == 0) return 0;  // wrapped: every number is taken
  return rt.next_seq++;
}

void give_root_seq_locked(SlabRuntime& rt, std::uint32_t seq) noexcept {
  MEMCG_ASSERT_HELD(slab_mutex());
  if (seq <= kKmallocRootSeqs) return;  // a kmalloc class's: stays its class's
  auto* f = meta::make<SlabRuntime::FreeSeq>();
  if (!f) return;  // out of metadata: the number is never reused, which is safe
  f->seq = seq;
  f->next = rt.free_seqs;
  rt.free_seqs = f;
}

// Where a slab's objects start and how many fit in a slab of `units`. A
// cache that charges objects one by one keeps a vector of ObjCgroup
// pointers, one per object, between the header and the objects (the
// kernel's slab->obj_exts; ours needs no allocation of its own).
struct SlabLayout {
  std::size_t data_offset;
  std::uint32_t capacity;
};
SlabLayout layout_for(const RootCache& r, std::uint32_t units) noexcept {
  const std::size_t bytes = std::size_t{units} * kSlabSize;
  const std::size_t entry = r.charge_objects ? sizeof(OwnerKey) : 0;
  std::size_t n = (bytes - sizeof(Slab)) / (r.stride + entry);
  for (;; --n) {  // the vector and the alignment padding may cost an object
    const std::size_t off = (sizeof(Slab) + n * entry + r.align - 1) & ~(r.align - 1);
    if (off + n * r.stride <= bytes) return SlabLayout{off, static_cast<std::uint32_t>(n)};
  }
}

// The slab size of a root (SLUB's calculate_order, in 64 KiB units): the
// fewest units whose slab wastes at most 1/50 of itself on the header, the
// padding and the tail (the ownership vector is charged to the objects, not
// waste); else the least wasteful up to kMaxSlabUnits.
void layout_slab(RootCache& r) noexcept {
  const std::size_t entry = r.charge_objects ? sizeof(OwnerKey) : 0;
  std::uint32_t best = 1;
  std::size_t best_waste_per_mille = SIZE_MAX;
  for (std::uint32_t u = 1; u <= kMaxSlabUnits; ++u) {
    const SlabLayout l = layout_for(r, u);
    const std::size_t bytes = std::size_t{u} * kSlabSize;
    const std::size_t waste = bytes - l.capacity * (r.stride + entry);
    const std::size_t per_mille = waste * 1000 / bytes;
    if (per_mille < best_waste_per_mille) best = u, best_waste_per_mille = per_mille;
    if (waste * 50 <= bytes) {
      best = u;
      break;
    }
  }
  const SlabLayout l = layout_for(r, best);
  r.units = best;
  r.depot_max = depot_max_for(r.stride, r.per_group);
  r.data_offset = l.data_offset;
  r.capacity = l.capacity;
  if (r.charge_objects) r.charge_bytes = static_cast<std::uint32_t>(r.stride + entry);
}

RootCache* create_root(std::string_view name, std::size_t size, const CacheOptions& o, std::uint32_t kmalloc_seq,
                       std::error_code& ec) noexcept {
  const bool is_kmalloc = kmalloc_seq != 0;
  if (!valid_cache_name(name) || size == 0 || size > Cache::kMaxObjectSize || o.align == 0 ||
      (o.align & (o.align - 1)) != 0 || o.align > 4096) {
    ec = make_err(std::errc::invalid_argument);
    return nullptr;
  }
  RootCache* r = meta::make<RootCache>();
  if (!r) {
    ec = make_err(std::errc::not_enough_memory);
    return nullptr;
  }
  std::memcpy(r->name, name.data(), name.size());
  r->object_size = size;
  r->options = o;
  r->is_kmalloc = is_kmalloc;
  SlabRuntime& rt = slab_runtime();
  {
    LockGuard<RankedMutex> l(slab_mutex());
    r->seq = is_kmalloc ? kmalloc_seq : take_root_seq_locked(rt);
  }
  if (r->seq == 0) {
    meta::destroy(r);
    ec = make_err(std::errc::not_enough_memory);
    return nullptr;
  }
  // Objects are at least pointer-sized (free objects hold a link) and
  // aligned to the largest power of two dividing the stride, up to a page.
  std::size_t align = std::max<std::size_t>(o.align, alignof(void*));
  r->stride = (std::max(size, sizeof(void*)) + align - 1) & ~(align - 1);
  std::size_t natural = r->stride & (~r->stride + 1);
  r->align = std::max(align, std::min<std::size_t>(natural, 4096));
  r->shared_key = mag_key(r->seq, kNoGroupId);
  r->shared_off = mag_off(mag_slot(r->seq, kNoGroupId));
  r->per_group = o.account && o.isolate;
  r->charge_objects = o.account && !o.isolate;
  layout_slab(*r);
  if (!r->per_group) {
    r->shared = meta::make<ChildCache>(r, nullptr);
    if (!r->shared) {
      {
        LockGuard<RankedMutex> l(slab_mutex());
        give_root_seq_locked(rt, r->seq);
      }
      meta::destroy(r);
      ec = make_err(std::errc::not_enough_memory);
      return nullptr;
    }
  }
  {
    LockGuard<RankedMutex> l(slab_mutex());
    rt.roots.push_back(&r->root_node);
    if (r->shared) {
      r->all_children.push_back(&r->shared->root_node);
      rt.child_caches.fetch_add(1, std::memory_order_relaxed);
    }
  }
  ec.clear();
  return r;
}

std::string slabinfo_header() {
  return "slabinfo - version: 2.1\n"
         "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> "
         "<batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n";
}

std::string slabinfo_line(ChildCache* c) {
  std::uint64_t inuse, slabs, empty;
  {
    LockGuard<SpinLock> l(c->lock);
    inuse = c->inuse;
    slabs = c->nr_slabs;
    empty = c->nr_empty;
  }
  const RootCache* r = c->root;
  return fmt::format("{:<17} {:6} {:6} {:6} {:4} {:4} : tunables {:4} {:4} {:4} : slabdata {:6} {:6} {:6}\n", r->name,
                     inuse, slabs * r->capacity, r->stride, r->capacity, r->slab_bytes() / 4096, kMagazineRounds,
                     kMagazineRounds, 0, slabs - empty, slabs, 0);
}

}  // namespace detail

Cache Cache::create(std::string_view name, std::size_t size, CacheOptions options, std::error_code& ec) noexcept {
  return Cache(detail::create_root(name, size, options, 0, ec));
}

Cache Cache::create(std::string_view name, std::size_t size, std::error_code& ec) noexcept {
  return create(name, size, CacheOptions{}, ec);
}

Cache Cache::create(std::string_view name, std::size_t size, CacheOptions options) {
  std::error_code ec;
  Cache c = create(name, size, options, ec);
  detail::throw_if(ec, "memcg::Cache::create");
  return c;
}

namespace {
// Cache::alloc() without a current group (or without a cache), out of line
// so that the fast path saves no registers.
__attribute__((noinline)) void* alloc_outside_groups(detail::RootCache* r) noexcept {
  return r ? detail::cache_alloc(r, detail::current_group_impl()) : nullptr;
}
}  // namespace

void* Cache::alloc() noexcept {
  detail::RootCache* r = r_;
  detail::GroupImpl* g = detail::tls_current_group;
  if (MEMCG_LIKELY(r != nullptr && g != nullptr)) return detail::cache_alloc(r, g);
  return alloc_outside_groups(r);
}

void* Cache::alloc(const Group& g) noexcept {
  if (!r_ || !g) return nullptr;
  return detail::cache_alloc(r_, detail::Access::impl(g));
}

void* Cache::alloc(ChargeFlags flags) noexcept {
  ScopedChargeFlags scope(flags);
  return alloc();
}

void* Cache::alloc(const Group& g, ChargeFlags flags) noexcept {
  ScopedChargeFlags scope(flags);
  return alloc(g);
}

void Cache::free(void* p) noexcept {
  if (p) detail::cache_free(p);
}

void Cache::shrink() noexcept {
  if (!r_) return;
  LockGuard<RankedMutex> l(detail::slab_mutex());
  detail::flush_thread_magazines(detail::cache_of_root, r_);
  for (detail::ListNode* n = r_->all_children.next; n != &r_->all_children; n = n->next) {
    auto* c = static_cast<ChildCache*>(n->owner);
    detail::child_get(c);
    detail::shrink_child(c, 0);
    detail::child_put(c);
  }
}

void Cache::destroy(std::error_code& ec) noexcept {
  if (!r_) {
    ec = detail::make_err(std::errc::invalid_argument);
    return;
  }
  detail::SlabRuntime& rt = detail::slab_runtime();
  {
    LockGuard<RankedMutex> l(detail::slab_mutex());
    detail::flush_thread_magazines(detail::cache_of_root, r_);
    bool busy = false;
    for (detail::ListNode* n = r_->all_children.next; n != &r_->all_children; n = n->next) {
      auto* c = static_cast<ChildCache*>(n->owner);
      detail::child_get(c);
      detail::shrink_child(c, 0);
      {
        LockGuard<SpinLock> cl(c->lock);
        busy |= c->inuse != 0;
      }
      detail::child_put(c);
    }
    if (busy) {
      ec = detail::make_err(std::errc::device_or_resource_busy);
      return;
    }
    // Unpublish everything, then drop each child's registration.
    if (detail::ChildArray* arr = r_->children.load(std::memory_order_relaxed))
      for (std::uint32_t i = 0; i < arr->capacity; ++i) arr->slot[i].store(nullptr, std::memory_order_release);
    for (detail::ListNode* n = r_->all_children.next; n != &r_->all_children; n = n->next)
      static_cast<ChildCache*>(n->owner)->dead.store(true, std::memory_order_seq_cst);
    // Thread tables may have picked entries up between the flush and the
    // unpublish only if the caller allocated concurrently (forbidden); flush
    // once more so that nothing can reference the children.
    detail::flush_thread_magazines(detail::cache_of_root, r_);
    while (!r_->all_children.empty()) {
      auto* c = static_cast<ChildCache*>(r_->all_children.next->owner);
      if (c == r_->shared) {
        c->root_node.unlink();
        c->listed = false;
        detail::child_put(c);
        continue;
      }
      detail::destroy_child_locked(c);
    }
    r_->root_node.unlink();
    r_->destroyed = true;
    detail::give_root_seq_locked(rt, r_->seq);  // no table entry names it any more
  }
  // Children are freed once their last reference goes; the root's arrays and
  // the root itself only when no child can reach it: each child's memory is
  // released in child_put, which never touches the root, so free now.
  detail::ChildArray* arr = r_->children.load(std::memory_order_relaxed);
  while (arr) {
    detail::ChildArray* next = arr->retired_next;
    detail::meta::free(arr, detail::ChildArray::bytes_for(arr->capacity));
    arr = next;
  }
  detail::meta::destroy(r_);
  r_ = nullptr;
  ec.clear();
}

void Cache::destroy() {
  std::error_code ec;
  destroy(ec);
  detail::throw_if(ec, "memcg::Cache::destroy");
}

std::string Cache::slabinfo(const Group& g) const {
  std::string out = detail::slabinfo_header();
  if (!r_ || !g) return out;
  LockGuard<RankedMutex> l(detail::slab_mutex());
  detail::GroupImpl* gi = detail::Access::impl(g);
  for (detail::ListNode* n = gi->slab_caches.next; n != &gi->slab_caches; n = n->next) {
    auto* c = static_cast<ChildCache*>(n->owner);
    if (c->root == r_) out += detail::slabinfo_line(c);
  }
  return out;
}

std::string_view Cache::name() const noexcept { return r_ ? std::string_view(r_->name) : std::string_view(); }
std::size_t Cache::object_size() const noexcept { return r_ ? r_->object_size : 0; }

std::string slabinfo(const Group& g) {
  std::string out = detail::slabinfo_header();
  if (!g) return out;
  LockGuard<RankedMutex> l(detail::slab_mutex());
  detail::GroupImpl* gi = detail::Access::impl(g);
  for (detail::ListNode* n = gi->slab_caches.next; n != &gi->slab_caches; n = n->next)
    out += detail::slabinfo_line(static_cast<ChildCache*>(n->owner));
  return out;
}

detail::SlabRuntimeStats detail::slab_runtime_stats() noexcept {
  auto ps = detail::page_source::stats();
  SlabRuntimeStats s;
  s.regions_mapped = ps.regions_mapped;
  s.slabs_in_use = ps.slabs_in_use;
  s.slabs_free = ps.slabs_free;
  s.regions_unmapped = ps.regions_unmapped;
  s.map_failures = ps.map_failures;
  s.metadata_bytes = detail::meta::bytes_in_use();
  s.child_caches = detail::slab_runtime().child_caches.load(std::memory_order_relaxed);
  return s;
}

}  // namespace memcg
