// kmalloc_span: a block of at least `size` bytes on a large span of its own
// (whole kRegionSize granules, its header at the span's start, the pointer
// at span + 64), charged and freed (kfree) as any block above
// kMaxSmallSize. For memcg-run's interposer, whose over-aligned
// allocations (above kmalloc_aligned's 32 KiB) return span + align: kmalloc
// itself puts blocks of up to 512 KiB in shared regions (medium blocks),
// which have no such alignment.
#pragma once

#include <cstddef>

namespace memcg::detail {

/// nullptr when the charge or the mapping fails.
void* kmalloc_span(std::size_t size) noexcept;

}  // namespace memcg::detail
