// The allocator entry points of libmemcg_preload.so (design: docs/interpose.md).
//
// Every allocation of a set-up thread outside the library is served by
// kmalloc and charged to the thread's current group; everything else
// (before the process is ready, inside the library, the library worker,
// exiting threads) goes to glibc's __libc_* functions. free/realloc/
// malloc_usable_size tell the two apart with page_source::owns (exact: the
// library maps whole 4 MiB granules and marks them in a byte map).
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>

#include "memcg/kmalloc.hpp"
#include "interpose/anon_maps.hpp"
#include "interpose/state.hpp"
#include "slab/kfree_one_owner.hpp"
#include "slab/kmalloc_span.hpp"
#include "slab/page_source.hpp"
#include "slab/slab.hpp"

extern "C" {
void* __libc_malloc(std::size_t);
void __libc_free(void*);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace memcg::interpose {

constinit thread_local unsigned tls_word __attribute__((tls_model("initial-exec"))) = kFresh;

namespace {

namespace ps = memcg::detail::page_source;
using memcg::detail::kRegionSize;
using memcg::detail::kSlabSize;

// Alignments kmalloc_aligned serves; above, up to kMaxOverAlign, the
// interposer over-allocates a large span (4 MiB-aligned, kmalloc_span) and
// returns base + align; that pointer is kSlabSize-aligned, which no medium
// or large kmalloc pointer ever is (the header sits before it), and the
// span's kind word tells it from a slab object that starts a unit of a
// multi-unit slab.
constexpr std::size_t kMaxKmallocAlign = kSlabSize / 2;   // 32 KiB
constexpr std::size_t kMaxOverAlign = kRegionSize / 2;     // 2 MiB
constexpr std::size_t kLargeOffset = 64;                   // kmalloc.cpp: large header size at align <= 64

inline bool use_kmalloc() noexcept {
  const unsigned w = tls_word;
  if (__builtin_expect(w == kAccounted, 1)) return true;
  return w == kFresh && thread_setup();
}

// Runs f with the thread marked internal (nested allocations go to glibc).
template <class F>
inline auto in_library(F f) noexcept {
  const unsigned saved = tls_word;
  tls_word = saved + kDepthUnit;
  auto r = f();
  tls_word = saved;
  return r;
}

inline bool over_aligned(const void* p) noexcept { return (reinterpret_cast<std::uintptr_t>(p) & (kSlabSize - 1)) == 0; }

// The pointer kmalloc returned for one of ours.
inline void* real_pointer(void* p) noexcept {
  if (__builtin_expect(!over_aligned(p), 1)) return p;
  // A slab object starts a unit of a multi-unit slab; any other kind (a
  // large block, or a freed one in the large-block cache) is a large span,
  // and kfree's kind check then catches a double free.
  if (memcg::detail::span_kind(p) == memcg::detail::kRegionKind) return p;
  return reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) & ~(kRegionSize - 1)) + kLargeOffset;
}

inline std::size_t our_usable(void* p) noexcept {
  void* r = real_pointer(p);
  return memcg::ksize(r) - static_cast<std::size_t>(static_cast<char*>(p) - static_cast<char*>(r));
}

// Accounted allocation (caller checked use_kmalloc()).
inline void* k_alloc(std::size_t n) noexcept {
  return in_library([&] { return memcg::kmalloc(n); });
}

void* k_alloc_aligned(std::size_t n, std::size_t align) noexcept {
  if (align <= 16) return k_alloc(n);
  if (align <= kMaxKmallocAlign) return in_library([&] { return memcg::kmalloc_aligned(n, align); });
  if (align > kMaxOverAlign) return nullptr;  // refused: ENOMEM (docs/interpose.md)
  std::size_t need;
  if (__builtin_add_overflow(n, align, &need)) return nullptr;
  char* p = static_cast<char*>(in_library([&] { return memcg::detail::kmalloc_span(need); }));
  if (!p) return nullptr;
  char* base = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) & ~(kRegionSize - 1));
  return base + align;
}

void* do_malloc(std::size_t n) noexcept {
  void* p;
  if (use_kmalloc()) {
    p = k_alloc(n);
    if (__builtin_expect(!p, 0)) errno = ENOMEM;
  } else {
    p = __libc_malloc(n);
  }
  return p;
}

void do_free(void* p) noexcept {
  if (!p) return;
  if (__builtin_expect(ps::owns(p), 1)) {
    // kfree leaves errno alone (its slow paths restore it).
    in_library([&] {
      memcg::detail::kfree_one_owner(real_pointer(p));
      return 0;
    });
    return;
  }
  __libc_free(p);
}

// Aligned allocation with a valid power-of-two alignment.
void* do_aligned(std::size_t align, std::size_t n) noexcept {
  if (align <= 16) return do_malloc(align > 8 && n < 16 ? 16 : n);  // kmalloc(<= 8) is 8-aligned
  void* p;
  if (use_kmalloc()) {
    p = k_alloc_aligned(n, align);
  } else {
    p = __libc_memalign(align, n);
  }
  if (!p) errno = ENOMEM;
  return p;
}

inline bool pow2(std::size_t a) noexcept { return a && !(a & (a - 1)); }

void* do_realloc(void* p, std::size_t n) noexcept {
  if (!p) return do_malloc(n);
  if (n == 0) {  // glibc: frees and returns NULL
    do_free(p);
    return nullptr;
  }
  if (ps::owns(p)) {
    const std::size_t old = our_usable(p);
    // Keep the block only when it is what malloc(n) would give, or a large
    // block with at most 1/8 to spare: glibc gives the tail of a shrunk
    // chunk back, and programs shrink over-allocated buffers (python's
    // string builders: keeping them cost python3 +21% peak, docs/memcg-run.md).
    if (n <= old && (memcg::kmalloc_size_roundup(n) == old || (old > memcg::kMaxSmallSize && old - n <= old / 8)))
      return p;
    void* q = do_malloc(n);
    if (!q) return nullptr;  // errno set, p intact
    memcpy(q, p, n < old ? n : old);
    do_free(p);
    return q;
  }
  // glibc's block: move it to kmalloc when this thread is accounted.
  if (!use_kmalloc()) return __libc_realloc(p, n);
  const std::size_t old = glibc_usable_size(p);
  void* q = k_alloc(n);
  if (!q) {
    errno = ENOMEM;
    return nullptr;
  }
  memcpy(q, p, n < old ? n : old);
  __libc_free(p);
  return q;
}

// The program's new handler. The C++ runtime is linked into this object
// (src/interpose/CMakeLists.txt) with its symbols local, so a C++ program's
// std::set_new_handler sets the handler of the program's own libstdc++,
// found here by name in the global scope; a program without libstdc++ can
// set none, and this object's own is the one to read.
std::new_handler current_new_handler() {
  using Get = std::new_handler (*)();
  static const Get get = [] {
    void* f = dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv");
    return f ? reinterpret_cast<Get>(f) : static_cast<Get>(&std::get_new_handler);
  }();
  return get();
}

void* new_impl(std::size_t n) {
  for (;;) {
    if (void* p = do_malloc(n)) return p;
    std::new_handler h = current_new_handler();
    if (!h) throw std::bad_alloc();
    h();
  }
}

void* new_aligned_impl(std::size_t n, std::align_val_t al) {
  const auto a = static_cast<std::size_t>(al);
  for (;;) {
    if (void* p = pow2(a) ? do_aligned(a, n) : nullptr) return p;
    std::new_handler h = current_new_handler();
    if (!h) throw std::bad_alloc();
    h();
  }
}

// The nothrow forms: nullptr where the throwing forms throw, and no
// exception at all unless a new handler throws one (a refused allocation
// is routine under a limit, and an exception is the unwinder's work:
// unwind_shim.cpp).
template <class Alloc>
void* new_nothrow(Alloc&& alloc) noexcept {
  for (;;) {
    if (void* p = alloc()) return p;
    std::new_handler h = current_new_handler();
    if (!h) return nullptr;
    try {
      h();
    } catch (...) {
      return nullptr;
    }
  }
}

void* new_nothrow_impl(std::size_t n) noexcept {
  return new_nothrow([n] { return do_malloc(n); });
}

void* new_aligned_nothrow_impl(std::size_t n, std::align_val_t al) noexcept {
  const auto a = static_cast<std::size_t>(al);
  return new_nothrow([n, a]() -> void* { return pow2(a) ? do_aligned(a, n) : nullptr; });
}

}  // namespace
}  // namespace memcg::interpose

using namespace memcg::interpose;

extern "C" {

__attribute__((visibility("default"))) void* malloc(std::size_t n) {
  if (__builtin_expect(tls_word == kAccounted, 1)) {
    tls_word = kAccounted + kDepthUnit;
    void* p = memcg::kmalloc(n);
    tls_word = kAccounted;
    if (__builtin_expect(!p, 0)) errno = ENOMEM;
    return p;
  }
  return do_malloc(n);
}

__attribute__((visibility("default"))) void free(void* p) { do_free(p); }

__attribute__((visibility("default"))) void* calloc(std::size_t n, std::size_t m) {
  std::size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (!use_kmalloc()) return __libc_calloc(n, m);
  // kzalloc clears a slab object, and a medium or large block only where
  // its memory may hold data (fresh and purged pages are zero).
  void* p = in_library([&] { return memcg::kzalloc(total); });
  if (!p) errno = ENOMEM;
  return p;
}

__attribute__((visibility("default"))) void* realloc(void* p, std::size_t n) { return do_realloc(p, n); }

__attribute__((visibility("default"))) void* reallocarray(void* p, std::size_t n, std::size_t m) {
  std::size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return do_realloc(p, total);
}

__attribute__((visibility("default"))) int posix_memalign(void** out, std::size_t align, std::size_t n) {
  if (!pow2(align) || align % sizeof(void*) != 0) return EINVAL;
  const int e = errno;
  void* p = do_aligned(align, n);
  errno = e;
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

__attribute__((visibility("default"))) void* aligned_alloc(std::size_t align, std::size_t n) {
  if (!pow2(align)) {  // glibc 2.36: any power of two, any size
    errno = EINVAL;
    return nullptr;
  }
  return do_aligned(align, n);
}

__attribute__((visibility("default"))) void* memalign(std::size_t align, std::size_t n) {
  if (align > (~std::size_t{0} >> 1) + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if (align < 16) align = 16;
  if (!pow2(align)) {  // glibc rounds up to a power of two
    std::size_t a = 16;
    while (a < align) a <<= 1;
    align = a;
  }
  return do_aligned(align, n);
}

__attribute__((visibility("default"))) void* valloc(std::size_t n) { return do_aligned(4096, n); }

__attribute__((visibility("default"))) void* pvalloc(std::size_t n) {
  std::size_t r;
  if (__builtin_add_overflow(n, std::size_t{4095}, &r)) {
    errno = ENOMEM;
    return nullptr;
  }
  r &= ~std::size_t{4095};
  return do_aligned(4096, r ? r : 4096);
}

__attribute__((visibility("default"))) std::size_t malloc_usable_size(void* p) {
  if (!p) return 0;
  if (ps::owns(p)) return our_usable(p);
  return glibc_usable_size(p);
}

// The program's own mappings: private anonymous ones are charged
// (anon_maps.hpp); glibc's internal calls (its malloc, thread stacks) do
// not come through here.
__attribute__((visibility("default"))) void* mmap(void* addr, std::size_t len, int prot, int flags, int fd,
                                                  off_t off) {
  return memcg::interpose::anon::map(addr, len, prot, flags, fd, off);
}
__attribute__((visibility("default"))) void* mmap64(void* addr, std::size_t len, int prot, int flags, int fd,
                                                    off_t off) {
  return memcg::interpose::anon::map(addr, len, prot, flags, fd, off);
}
__attribute__((visibility("default"))) int munmap(void* addr, std::size_t len) {
  return memcg::interpose::anon::unmap(addr, len);
}
__attribute__((visibility("default"))) void* mremap(void* old_addr, std::size_t old_len, std::size_t new_len, int flags,
                                                    ...) {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  return memcg::interpose::anon::remap(old_addr, old_len, new_len, flags, new_addr);
}

}  // extern "C"

// ---- operator new / delete ----
#define MEMCG_EXPORT __attribute__((visibility("default")))

MEMCG_EXPORT void* operator new(std::size_t n) { return new_impl(n); }
MEMCG_EXPORT void* operator new[](std::size_t n) { return new_impl(n); }
MEMCG_EXPORT void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return new_nothrow_impl(n); }
MEMCG_EXPORT void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return new_nothrow_impl(n); }
MEMCG_EXPORT void* operator new(std::size_t n, std::align_val_t a) { return new_aligned_impl(n, a); }
MEMCG_EXPORT void* operator new[](std::size_t n, std::align_val_t a) { return new_aligned_impl(n, a); }
MEMCG_EXPORT void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return new_aligned_nothrow_impl(n, a); }
MEMCG_EXPORT void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return new_aligned_nothrow_impl(n, a); }

MEMCG_EXPORT void operator delete(void* p) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete[](void* p) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete(void* p, std::size_t) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete[](void* p, std::size_t) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete(void* p, std::align_val_t) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete(void* p, std::size_t, std::align_val_t) noexcept { do_free(p); }
MEMCG_EXPORT void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { do_free(p); }
