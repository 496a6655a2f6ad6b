// kfree for a process whose objects mostly have one owner: memcg-run's
// interposer, where every thread charges the process's group (unless
// --per-thread), so kmalloc's slabs keep a sole owner (slab.hpp SOLE
// OWNER). memcg::kfree lays out the read of a mixed slab's owner entry in
// line instead (in-process groups share the class slabs); both free any
// kmalloc pointer exactly alike, and differ only in which branch is taken.
#pragma once

namespace memcg::detail {

void kfree_one_owner(void* p) noexcept;

}  // namespace memcg::detail
