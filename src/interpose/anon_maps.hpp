// The program's private anonymous mappings, charged (docs/memcg-run.md,
// "Anonymous mappings"): mmap/munmap/mremap of private anonymous memory
// that is not PROT_NONE, by an accounted thread, charge their page-rounded
// length to the thread's current group and are refused with ENOMEM at its
// limit, so custom allocators that map their own arenas (pymalloc, arena
// allocators) are counted. The library's own mappings pass through
// (platform/os_map.hpp), and so do file and shared mappings, PROT_NONE
// reservations and every call of a thread that is not accounted.
//
// Every charged range is kept in a map, range -> group, with one pin per
// group that has ranges (charge/pin.hpp), so that an unmap uncharges the
// group it was charged to, whichever thread unmaps it. The map's mutex is
// held across the system call, so the map and the address space change
// together; charges are taken before it is locked, and given back after it
// is unlocked. Lock order: the map's mutex is a leaf (the charge path never
// maps through these wrappers). It is held across fork().
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace memcg::interpose::anon {

/// mmap(2) as the program called it.
void* map(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) noexcept;
/// munmap(2) as the program called it.
int unmap(void* addr, std::size_t len) noexcept;
/// mremap(2) as the program called it (new_addr: only with MREMAP_FIXED).
void* remap(void* old_addr, std::size_t old_len, std::size_t new_len, int flags, void* new_addr) noexcept;

/// Bytes currently charged for mappings (all groups), for tests and reports.
std::uint64_t charged_bytes() noexcept;

/// Fork: hold the map's mutex across it (installed by run.cpp).
void fork_prepare() noexcept;
void fork_release() noexcept;

}  // namespace memcg::interpose::anon
