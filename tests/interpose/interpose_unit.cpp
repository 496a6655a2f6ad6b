// interpose_unit: the interposer's entry points, run under memcg-run (ctest,
// tests/interpose/CMakeLists.txt) with --max 64M. Plain main, no gtest and no
// link to memcg: everything it allocates goes through libmemcg_preload.so.
// Exit 0 on success; prints every failed check.
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <new>
#include <string>
#include <thread>
#include <vector>

static int failures = 0;
#define CHECK(c)                                                         \
  do {                                                                   \
    if (!(c)) {                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
      ++failures;                                                        \
    }                                                                    \
  } while (0)

extern "C" void* __libc_malloc(size_t);  // glibc's own: a "foreign" block

static bool aligned_to(const void* p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

// Constructors before main: the interposer must already work.
static void* g_before_main = nullptr;
__attribute__((constructor)) static void before_main() {
  g_before_main = malloc(100);
  memset(g_before_main, 7, 100);
}
// After main: atexit handlers allocate and free.
static void after_main() {
  void* p = malloc(5000);
  memset(p, 1, 5000);
  void* q = realloc(p, 50000);
  free(q);
  std::string s(1000, 'x');
  (void)s;
}

static void test_malloc_free() {
  void* a = malloc(0);
  void* b = malloc(0);
  CHECK(a && b && a != b);  // unique pointers
  free(a);
  free(b);
  free(nullptr);
  for (size_t n : {1u, 8u, 9u, 16u, 17u, 100u, 1000u, 4096u, 8192u, 8193u, 100000u, 3u << 20}) {
    char* p = static_cast<char*>(malloc(n));
    CHECK(p != nullptr);
    CHECK(aligned_to(p, 16) || n <= 8);
    CHECK(malloc_usable_size(p) >= n);
    memset(p, 0xab, n);
    free(p);
  }
  CHECK(malloc_usable_size(nullptr) == 0);
  errno = 0;
  CHECK(malloc(SIZE_MAX) == nullptr && errno == ENOMEM);
  errno = 0;
  CHECK(malloc(SIZE_MAX / 2) == nullptr && errno == ENOMEM);
  // free keeps errno, also on its slow paths (magazine overflow to the
  // slabs, a medium block's units given back, a large block cached)
  void* p = malloc(20000);
  errno = 1234;
  free(p);
  CHECK(errno == 1234);
  {
    static void* many[5000];
    for (void*& q : many) q = malloc(64);
    void* huge = malloc(size_t{6} << 20);
    CHECK(huge != nullptr);
    errno = 4321;
    for (void* q : many) free(q);
    free(huge);
    CHECK(errno == 4321);
  }
  // the constructor's block
  CHECK(g_before_main && static_cast<unsigned char*>(g_before_main)[99] == 7);
  free(g_before_main);
}

static void test_calloc() {
  for (int round = 0; round < 3; ++round) {
    // dirty the slabs first: calloc must zero reused objects
    for (size_t n : {24, 200, 3000, 8000, 20000}) {
      void* d = malloc(n);
      memset(d, 0xff, n);
      free(d);
      unsigned char* c = static_cast<unsigned char*>(calloc(1, n));
      CHECK(c != nullptr);
      bool zero = true;
      for (size_t i = 0; i < n; ++i) zero &= c[i] == 0;
      CHECK(zero);
      free(c);
    }
  }
  errno = 0;
  CHECK(calloc(SIZE_MAX / 2, 4) == nullptr && errno == ENOMEM);  // overflow
  errno = 0;
  CHECK(calloc(1u << 31, 1u << 31) == nullptr && errno == ENOMEM);
  void* z = calloc(0, 10);
  CHECK(z != nullptr);
  free(z);
}

static void test_realloc() {
  CHECK(realloc(nullptr, 0) != nullptr || true);  // glibc: malloc(0)
  char* p = static_cast<char*>(realloc(nullptr, 10));
  CHECK(p != nullptr);
  memcpy(p, "0123456789", 10);
  p = static_cast<char*>(realloc(p, 100000));  // grow: slab -> medium
  CHECK(p && memcmp(p, "0123456789", 10) == 0);
  memset(p + 10, 'y', 100000 - 10);
  p = static_cast<char*>(realloc(p, 5000));  // shrink: medium -> slab
  CHECK(p && memcmp(p, "0123456789", 10) == 0 && p[4999] == 'y');
  p = static_cast<char*>(realloc(p, 4000));  // shrink to a smaller class: moves
  CHECK(p && p[3999] == 'y' && malloc_usable_size(p) == 4096);  // kmalloc-4096, was kmalloc-5120
  char* same = static_cast<char*>(realloc(p, 3990));  // same class: in place
  CHECK(same == p && p[3989] == 'y');
  // A shrunk block gives its tail back (glibc does; python's string
  // builders rely on it): its usable size is what malloc of the new size gives.
  char* big = static_cast<char*>(malloc(200));
  memset(big, 'z', 200);
  big = static_cast<char*>(realloc(big, 60));
  CHECK(big && big[59] == 'z' && malloc_usable_size(big) == 64);  // kmalloc-64
  free(big);
  char* lg = static_cast<char*>(malloc(1 << 20));  // large: at most 1/8 spare is kept
  lg[0] = 'l';
  char* lg2 = static_cast<char*>(realloc(lg, (1 << 20) - 1000));
  CHECK(lg2 == lg);
  lg2 = static_cast<char*>(realloc(lg2, 100000));
  CHECK(lg2 && lg2[0] == 'l' && malloc_usable_size(lg2) == 102400 - 64);  // pages minus the header
  free(lg2);
  errno = 0;
  char* q = static_cast<char*>(realloc(p, SIZE_MAX / 2));  // failure keeps p
  CHECK(q == nullptr && errno == ENOMEM);
  CHECK(p[0] == '0');
  CHECK(realloc(p, 0) == nullptr);  // glibc: frees
  // reallocarray
  int* a = static_cast<int*>(reallocarray(nullptr, 100, sizeof(int)));
  CHECK(a != nullptr);
  for (int i = 0; i < 100; ++i) a[i] = i;
  a = static_cast<int*>(reallocarray(a, 10000, sizeof(int)));
  CHECK(a && a[99] == 99);
  errno = 0;
  CHECK(reallocarray(a, SIZE_MAX / 2, 4) == nullptr && errno == ENOMEM);
  free(a);
  // foreign (glibc) blocks: usable size, realloc moves them, free
  char* f = static_cast<char*>(__libc_malloc(300));
  CHECK(f && malloc_usable_size(f) >= 300);
  memset(f, 'f', 300);
  f = static_cast<char*>(realloc(f, 600));
  CHECK(f && f[299] == 'f');
  free(f);
  f = static_cast<char*>(__libc_malloc(100));
  free(f);
}

static void test_aligned() {
  for (size_t al : {8u, 16u, 32u, 64u, 256u, 4096u, 32768u, 65536u, 1u << 20, 2u << 20}) {
    for (size_t n : {1, 100, 5000, 70000}) {
      void* p = nullptr;
      CHECK(posix_memalign(&p, al, n) == 0);
      CHECK(p && aligned_to(p, al));
      if (!p || !aligned_to(p, al)) fprintf(stderr, "  posix_memalign(%zu, %zu) = %p\n", al, n, p);
      CHECK(malloc_usable_size(p) >= n);
      memset(p, 0x5a, n);
      void* r = realloc(p, n * 2);  // keeps data, alignment not required
      CHECK(r && static_cast<unsigned char*>(r)[n - 1] == 0x5a);
      free(r);
      void* q = aligned_alloc(al, n);
      CHECK(q && aligned_to(q, al));
      free(q);
      void* m = memalign(al, n);
      CHECK(m && aligned_to(m, al));
      free(m);
    }
  }
  void* p = reinterpret_cast<void*>(1);
  CHECK(posix_memalign(&p, 3, 10) == EINVAL);
  CHECK(posix_memalign(&p, 4, 10) == EINVAL);   // not a multiple of sizeof(void*)
  CHECK(posix_memalign(&p, 48, 10) == EINVAL);
  CHECK(p == reinterpret_cast<void*>(1));
  CHECK(posix_memalign(&p, 8u << 20, 10) == ENOMEM);  // above the cap (docs/interpose.md)
  errno = 0;
  CHECK(aligned_alloc(24, 10) == nullptr && errno == EINVAL);
  void* m = memalign(24, 10);  // glibc rounds up to 32
  CHECK(m && aligned_to(m, 32));
  free(m);
  void* v = valloc(10);
  CHECK(v && aligned_to(v, 4096));
  free(v);
  void* pv = pvalloc(10);
  CHECK(pv && aligned_to(pv, 4096) && malloc_usable_size(pv) >= 4096);
  free(pv);
}

struct alignas(128) Big128 {
  char c[128];
};
struct alignas(1 << 16) Big64k {
  char c[100];
};

static int handler_calls = 0;
static void releasing_handler() {
  ++handler_calls;
  std::set_new_handler(nullptr);
}

static void throwing_handler() {
  ++handler_calls;
  throw std::bad_alloc();
}

static void test_new_delete() {
  int* i = new int(5);
  delete i;
  int* a = new int[1000];
  delete[] a;
  int* nt = new (std::nothrow) int[10];
  CHECK(nt != nullptr);
  delete[] nt;
  auto* b = new Big128;
  CHECK(aligned_to(b, 128));
  delete b;  // sized + aligned delete
  auto* ba = new Big128[3];
  CHECK(aligned_to(ba, 128));
  delete[] ba;
  auto* c = new Big64k;
  CHECK(aligned_to(c, 1 << 16));
  delete c;
  auto* cn = new (std::nothrow) Big64k;
  CHECK(cn && aligned_to(cn, 1 << 16));
  delete cn;
  void* raw = ::operator new(100, std::align_val_t(256));
  CHECK(aligned_to(raw, 256));
  ::operator delete(raw, 100, std::align_val_t(256));
  raw = ::operator new[](100, std::align_val_t(64), std::nothrow);
  CHECK(raw && aligned_to(raw, 64));
  ::operator delete[](raw, std::align_val_t(64), std::nothrow);
  raw = ::operator new(0);
  CHECK(raw != nullptr);
  ::operator delete(raw, std::size_t{0});
}

// Beyond --max 64M: NULL/ENOMEM, bad_alloc, nothrow nullptr, new_handler loop.
static void test_limit() {
  errno = 0;
  void* p = malloc(100u << 20);
  CHECK(p == nullptr && errno == ENOMEM);
  bool threw = false;
  try {
    char* x = new char[100u << 20];
    delete[] x;
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);
  // Called directly: a new-expression whose result is only compared may be
  // elided (clang does), and the interposed operator would not run.
  CHECK(::operator new[](100u << 20, std::nothrow) == nullptr);
  handler_calls = 0;
  std::set_new_handler(releasing_handler);
  threw = false;
  try {
    void* big = ::operator new(100u << 20);
    ::operator delete(big);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw && handler_calls == 1);
  // The nothrow forms call the handler too, and return nullptr where it
  // throws or gives up (uninstalls itself).
  handler_calls = 0;
  std::set_new_handler(releasing_handler);
  CHECK(::operator new(100u << 20, std::nothrow) == nullptr && handler_calls == 1);
  std::set_new_handler(throwing_handler);
  CHECK(::operator new(100u << 20, std::align_val_t(64), std::nothrow) == nullptr && handler_calls == 2);
  std::set_new_handler(nullptr);
  // Many small allocations up to the limit, then everything freed.
  std::vector<void*> v;
  for (;;) {
    void* q = malloc(4000);
    if (!q) break;
    v.push_back(q);
    if (v.size() > 100000) break;
  }
  CHECK(v.size() < 100000 && v.size() > 1000);
  for (void* q : v) free(q);
  void* again = malloc(10u << 20);
  CHECK(again != nullptr);  // usage went back down
  free(again);
}

static void test_threads() {
  std::vector<std::thread> ts;
  std::vector<void*> handoff(8, nullptr);
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([t, &handoff] {
      std::vector<std::string> v;
      for (int i = 0; i < 5000; ++i) v.emplace_back(50 + (i % 300), static_cast<char>('a' + t));
      handoff[t] = malloc(1000 + t);  // freed by the main thread
      void* big = malloc(200000);
      memset(big, t, 200000);
      free(big);
    });
  }
  for (auto& th : ts) th.join();
  for (void* p : handoff) {
    CHECK(p != nullptr);
    free(p);
  }
  // pthread with a thread name
  pthread_t th;
  pthread_create(&th, nullptr, [](void*) -> void* {
    pthread_setname_np(pthread_self(), "worker/1 x");
    void* p = malloc(123);
    free(p);
    return nullptr;
  }, nullptr);
  pthread_join(th, nullptr);
}

static void test_fork() {
  void* shared = malloc(777);
  memset(shared, 3, 777);
  // a thread allocating while we fork
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop.load()) {
      void* p = malloc(64 + (rand() % 5000));
      free(p);
    }
  });
  for (int i = 0; i < 20; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      void* p = malloc(5000);
      memset(p, 1, 5000);
      free(p);
      std::vector<std::string> v(1000, std::string(100, 'c'));
      free(shared);  // the parent's block, in the child's copy
      std::thread t([] { free(malloc(100)); });
      t.join();
      _exit(static_cast<unsigned char*>(p) ? 0 : 1);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  stop = true;
  busy.join();
  CHECK(static_cast<unsigned char*>(shared)[776] == 3);
  free(shared);
}

// A double free of an over-aligned block (its span now in the large-block
// cache) aborts in the child that does it; it must not be taken for a slab
// object and corrupt the heap.
static void test_double_free_of_over_aligned_block() {
  void* p = nullptr;
  CHECK(posix_memalign(&p, 1u << 20, 100) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);  // the abort message
    free(p);
    free(p);
    _exit(0);
  }
  int st = 0;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  free(p);
}

int main() {
  atexit(after_main);
  test_malloc_free();
  test_calloc();
  test_realloc();
  test_aligned();
  test_new_delete();
  test_threads();
  test_fork();
  test_double_free_of_over_aligned_block();
  test_limit();
  if (failures) fprintf(stderr, "interpose_unit: %d failure(s)\n", failures);
  else printf("interpose_unit: all checks passed\n");
  return failures ? 1 : 0;
}
