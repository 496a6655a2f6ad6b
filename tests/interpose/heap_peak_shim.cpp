/* heap_peak_shim.so: a measuring LD_PRELOAD shim for the real-program tests.
 * It wraps glibc's allocator (dlsym(RTLD_NEXT)) and tracks live requested
 * bytes and their high-water mark; at exit it writes "peak <bytes>" (glibc's
 * footprint: each block's chunk, malloc_usable_size + 8, less the shim's
 * prefix, i.e. the chunk glibc would have used without the shim) and
 * "requested_peak <bytes>" (the sizes asked for) to
 * $HEAP_PEAK_OUTPUT (or stderr; with $HEAP_PEAK_DIR, to DIR/heap.<pid>, one
 * file per process of a tree). Each block carries a 16-byte prefix with
 * its size (aligned allocations: the prefix sits before the aligned pointer
 * and records the offset to the real block). The
 * two figures bracket the uninterposed heap: demand (requested) and glibc's
 * own footprint (chunks, without fragmentation of its arenas). The tests
 * compare memcg-run's memory.peak with the footprint (within 20%).
 *
 * Bootstrap: dlsym may call calloc before the real functions are known;
 * those come from a small static buffer and are never freed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <atomic>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void* (*real_malloc)(size_t);
static void (*real_free)(void*);
static void* (*real_memalign)(size_t, size_t);
static std::atomic<long> live{0}, peak{0}, req_live{0}, req_peak{0};
static size_t (*real_usable)(void*);
alignas(16) static char boot[65536];
static size_t boot_used;

#define HDR 16
struct hdr { unsigned long size; unsigned int offset; unsigned int chunk; };

static void init(void) {
  if (real_malloc) return;
  real_free = reinterpret_cast<void (*)(void*)>(dlsym(RTLD_NEXT, "free"));
  real_memalign = reinterpret_cast<void* (*)(size_t, size_t)>(dlsym(RTLD_NEXT, "memalign"));
  real_usable = reinterpret_cast<size_t (*)(void*)>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  real_malloc = reinterpret_cast<void* (*)(size_t)>(dlsym(RTLD_NEXT, "malloc"));
}

extern "C" {
static void bump(std::atomic<long>& l, std::atomic<long>& pk, long d) {
  long v = l.fetch_add(d) + d;
  long p = pk.load();
  while (v > p && !pk.compare_exchange_weak(p, v)) {}
}
// glibc's footprint of a block without the shim: its chunk (usable size +
// the 8-byte size field) less the shim's prefix.
static long chunk_of(void* raw, size_t offset) { return (long)(real_usable(raw) + 8 - offset); }

static int in_boot(void* p) { return (char*)p >= boot && (char*)p < boot + sizeof boot; }

static void* wrap(void* raw, size_t n, size_t offset) {
  if (!raw) return NULL;
  char* user = (char*)raw + offset;
  struct hdr* h = (struct hdr*)(user - HDR);
  h->size = n;
  h->offset = (unsigned)offset;
  long c = chunk_of(raw, offset);
  h->chunk = c > 0xffffffffL ? 0 : (unsigned)c;  /* huge blocks: recomputed at free */
  bump(live, peak, c);
  bump(req_live, req_peak, (long)n);
  return user;
}

static int initializing;

void* malloc(size_t n) {
  if (!real_malloc && !initializing) {
    initializing = 1;
    init();
    initializing = 0;
  }
  if (!real_malloc) {
    if (boot_used + n + 16 > sizeof boot) return NULL;
    void* p = boot + boot_used;
    boot_used += (n + 15) & ~(size_t)15;
    return p;
  }
  if (n > SIZE_MAX - 64) { errno = ENOMEM; return NULL; }
  return wrap(real_malloc(n + HDR), n, HDR);
}

void free(void* p) {
  if (!p || in_boot(p)) return;
  struct hdr* h = (struct hdr*)((char*)p - HDR);
  void* raw = (char*)p - h->offset;
  bump(live, peak, -(h->chunk ? (long)h->chunk : chunk_of(raw, h->offset)));
  bump(req_live, req_peak, -(long)h->size);
  real_free(raw);
}

void* calloc(size_t n, size_t m) {
  size_t t;
  if (__builtin_mul_overflow(n, m, &t)) { errno = ENOMEM; return NULL; }
  void* p = malloc(t);
  if (p && !in_boot(p)) memset(p, 0, t);
  return p;
}

void* realloc(void* p, size_t n) {
  if (!p) return malloc(n);
  if (n == 0) { free(p); return NULL; }
  size_t old = in_boot(p) ? n : ((struct hdr*)((char*)p - HDR))->size;
  void* q = malloc(n);
  if (!q) return NULL;
  memcpy(q, p, old < n ? old : n);
  free(p);
  return q;
}

void* reallocarray(void* p, size_t n, size_t m) {
  size_t t;
  if (__builtin_mul_overflow(n, m, &t)) { errno = ENOMEM; return NULL; }
  return realloc(p, t);
}

static void* aligned(size_t a, size_t n) {
  init();
  if (a <= 16) return malloc(n);
  return wrap(real_memalign(a, n + a), n, a);
}
int posix_memalign(void** out, size_t a, size_t n) {
  void* p = aligned(a, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void* aligned_alloc(size_t a, size_t n) { return aligned(a, n); }
void* memalign(size_t a, size_t n) { return aligned(a, n); }
void* valloc(size_t n) { return aligned(4096, n); }
void* pvalloc(size_t n) { return aligned(4096, (n + 4095) & ~(size_t)4095); }
size_t malloc_usable_size(void* p) { return p && !in_boot(p) ? ((struct hdr*)((char*)p - HDR))->size : 0; }

}  // extern "C"

__attribute__((constructor)) static void shim_init(void) { init(); }

__attribute__((destructor)) static void shim_fini(void) {
  const char* path = getenv("HEAP_PEAK_OUTPUT");
  char dir_path[4096];
  if (const char* dir = getenv("HEAP_PEAK_DIR")) {  // one file per process: DIR/heap.<pid>
    snprintf(dir_path, sizeof dir_path, "%s/heap.%d", dir, (int)getpid());
    path = dir_path;
  }
  char buf[128];
  int n = snprintf(buf, sizeof buf, "peak %ld\nrequested_peak %ld\n", peak.load(), req_peak.load());
  int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : 2;
  if (fd >= 0) {
    if (write(fd, buf, (size_t)n) < 0) {}
    if (fd != 2) close(fd);
  }
}
