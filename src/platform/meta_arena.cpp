#include "platform/meta_arena.hpp"
#include "platform/fork.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <new>

#include "platform/fault.hpp"
#include "platform/os_map.hpp"
#include "platform/ranked_mutex.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define MEMCG_META_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMCG_META_ASAN 1
#endif
#endif
#if defined(MEMCG_META_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace memcg::detail::meta {
namespace {

// Under ASan a free block is poisoned whole (its free-list link included;
// the arena unpoisons a block before it reads the link): a use of metadata
// after its free is reported like a heap use-after-free.
inline void poison(void* p, std::size_t size) {
#if defined(MEMCG_META_ASAN)
  ASAN_POISON_MEMORY_REGION(p, size);
#else
  (void)p, (void)size;
#endif
}
inline void unpoison(void* p, std::size_t size) {
#if defined(MEMCG_META_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(p, size);
#else
  (void)p, (void)size;
#endif
}

constexpr int kMinShift = 4;   // 16 bytes
constexpr int kMaxShift = 20;  // 1 MiB
constexpr int kClasses = kMaxShift - kMinShift + 1;
constexpr std::size_t kChunk = 4u << 20;

struct FreeBlock {
  FreeBlock* next;
};

struct Arena {
  SpinLock lock{LockRank::kMetaArena};
  FreeBlock* free[kClasses] MEMCG_GUARDED_BY(lock) = {};
  char* cur MEMCG_GUARDED_BY(lock) = nullptr;  // bump region of the current chunk
  char* end MEMCG_GUARDED_BY(lock) = nullptr;
  std::atomic<std::uint64_t> in_use{0};
};

constinit Arena g_arena;
fork::HeldAcrossFork<SpinLock> g_arena_fork{g_arena.lock};

int class_of(std::size_t bytes) {
  int shift = kMinShift;
  while ((std::size_t{1} << shift) < bytes) ++shift;
  return shift - kMinShift;
}

}  // namespace

void* alloc(std::size_t bytes) noexcept {
  if (bytes == 0) bytes = 1;
  if (bytes > (std::size_t{1} << kMaxShift)) return nullptr;
  if (MEMCG_FAULT_FAIL(fault::Kind::kMetaAlloc)) return nullptr;
  const int c = class_of(bytes);
  const std::size_t size = std::size_t{1} << (c + kMinShift);
  void* p = nullptr;
  {
    LockGuard<SpinLock> l(g_arena.lock);
    if (FreeBlock* b = g_arena.free[c]) {
      unpoison(b, size);
      g_arena.free[c] = b->next;
      p = b;
    } else {
      const std::size_t align = size < kMaxAlign ? size : kMaxAlign;
      char* at = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(g_arena.cur) + align - 1) & ~(align - 1));
      if (!g_arena.cur || at + size > g_arena.end) {
        void* chunk = os_mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk == MAP_FAILED) return nullptr;
        g_arena.cur = static_cast<char*>(chunk);
        g_arena.end = g_arena.cur + kChunk;
        at = g_arena.cur;  // chunk start is page aligned
      }
      g_arena.cur = at + size;
      p = at;
    }
  }
  std::memset(p, 0, size);
  g_arena.in_use.fetch_add(size, std::memory_order_relaxed);
  return p;
}

void free(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes == 0) bytes = 1;
  const int c = class_of(bytes);
  g_arena.in_use.fetch_sub(std::size_t{1} << (c + kMinShift), std::memory_order_relaxed);
  LockGuard<SpinLock> l(g_arena.lock);
  auto* b = static_cast<FreeBlock*>(p);
  b->next = g_arena.free[c];
  g_arena.free[c] = b;
  poison(b, std::size_t{1} << (c + kMinShift));
}

std::uint64_t bytes_in_use() noexcept { return g_arena.in_use.load(std::memory_order_relaxed); }


}  // namespace memcg::detail::meta
