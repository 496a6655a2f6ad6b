// memcg/kmalloc.hpp - accounted general-purpose allocation.
//
// kmalloc serves sizes up to kMaxSmallSize from size-class root caches
// ("kmalloc-64", ...), and larger sizes as one block each, charged whole
// (page-rounded, header included): up to 512 KiB a run of 64 KiB units of
// the slab regions (a medium block), above that a span of whole 4 MiB granules
// from a cache of freed large blocks or a new mapping (docs/slab.md,
// "Medium and large blocks"). Such a block pins its group through the kmem
// pin protocol, like a reservation, so it may outlive the group's removal.
// memory.stat shows them as kmalloc_large.
//
// Alignment: kmalloc(n) is aligned to 16 bytes (8 for n <= 8);
// kmalloc_aligned supports any power-of-two alignment up to 32 KiB.
//
// Concurrency: any thread. Failure (a limit, or no memory) returns nullptr;
// nothing here throws but Allocator::allocate and MemoryResource (which
// throw std::bad_alloc, as the standard requires).
#pragma once

#include <cstddef>
#include <memory_resource>
#include <new>

#include "memcg/charge_error.hpp"
#include "memcg/charge_flags.hpp"
#include "memcg/group.hpp"

namespace memcg {

inline constexpr std::size_t kMaxSmallSize = 16384;

void* kmalloc(std::size_t size) noexcept;                     ///< charged to current_group()
void* kmalloc(std::size_t size, const Group& g) noexcept;     ///< charged to g
void* kmalloc_aligned(std::size_t size, std::size_t align) noexcept;
void* kmalloc_aligned(std::size_t size, std::size_t align, const Group& g) noexcept;
/// kmalloc, zeroed (a medium or large block is cleared only where it may hold data).
void* kzalloc(std::size_t size) noexcept;
void* kzalloc(std::size_t size, const Group& g) noexcept;
/// The same with per-call charge flags (memcg/charge_flags.hpp).
void* kmalloc(std::size_t size, ChargeFlags flags) noexcept;
void* kmalloc(std::size_t size, const Group& g, ChargeFlags flags) noexcept;
void kfree(void* p) noexcept;  ///< any thread; nullptr is a no-op; errno is left as it was
std::size_t ksize(const void* p) noexcept;                    ///< usable bytes at p (0 for nullptr)
/// The usable size kmalloc(size) returns (its size class; for sizes above
/// kMaxSmallSize the page-rounded size less the block's 64-byte header), as the kernel's
/// kmalloc_size_roundup. 0 when no allocation of that size is possible.
std::size_t kmalloc_size_roundup(std::size_t size) noexcept;

namespace detail {
/// Allocator and MemoryResource: kmalloc (aligned if `align` > 16) charged
/// to g with `flags`; throws ChargeRefused (memcg/charge_error.hpp) when a
/// limit refused, std::bad_alloc otherwise. Never returns nullptr.
void* allocate_or_throw(std::size_t bytes, std::size_t align, const Group& g, ChargeFlags flags);
}  // namespace detail

/// An STL allocator charging a fixed group (the current group when default
/// constructed).
template <class T>
class Allocator {
 public:
  using value_type = T;
  Allocator() : g_(current_group()) {}
  explicit Allocator(Group g, ChargeFlags flags = ChargeFlags::none) noexcept : g_(std::move(g)), flags_(flags) {}
  template <class U>
  Allocator(const Allocator<U>& o) noexcept : g_(o.group()), flags_(o.flags()) {}

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(detail::allocate_or_throw(n * sizeof(T), alignof(T), g_, flags_));
  }
  void deallocate(T* p, std::size_t) noexcept { kfree(p); }

  const Group& group() const noexcept { return g_; }
  ChargeFlags flags() const noexcept { return flags_; }
  template <class U>
  bool operator==(const Allocator<U>& o) const noexcept { return g_ == o.group() && flags_ == o.flags(); }

 private:
  Group g_;
  ChargeFlags flags_ = ChargeFlags::none;
};

/// A std::pmr::memory_resource charging a fixed group.
class MemoryResource : public std::pmr::memory_resource {
 public:
  explicit MemoryResource(Group g, ChargeFlags flags = ChargeFlags::none) noexcept
      : g_(std::move(g)), flags_(flags) {}
  const Group& group() const noexcept { return g_; }
  ChargeFlags flags() const noexcept { return flags_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t align) override;
  void do_deallocate(void* p, std::size_t, std::size_t) override { kfree(p); }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override;
  Group g_;
  ChargeFlags flags_;
};

}  // namespace memcg
