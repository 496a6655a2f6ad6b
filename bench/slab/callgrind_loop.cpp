// slab_callgrind_loop: the alloc+free loop of slab_bench's alloc_free case
// (64 B, warm heap), reduced to a plain program so that callgrind can count
// the instructions of one iteration (bench/slab/callgrind.sh runs it).
//
//   slab_callgrind_loop <variant> <iterations>
//
// variant:
//   shared    memcg::Cache with default options (shared slabs, each object
//             charged in bytes), Cache::alloc() in a ScopedGroup
//   iso       the same with CacheOptions::isolate (the group's child cache)
//   kmalloc   memcg::kmalloc(64) / kfree in the ScopedGroup
//   mimalloc  mi_malloc(64) / mi_free
//
// Every variant first makes a group with memory.max set (1 GiB) and enters it
// with a ScopedGroup, keeps 16 other objects of the same allocator live for
// the whole loop (so the slab or page never empties), then runs <iterations>
// times: allocate, write one byte, free. Everything outside the loop is the
// same for a given variant whatever the count, so the difference of the
// program's total instruction counts at two iteration counts, divided by
// their difference, is the cost of one iteration (loop overhead included,
// ~5 instructions).
//
// mimalloc is linked (-lmimalloc), which also makes it the process malloc;
// the memcg variants' loops call no malloc, so only their set-up differs.
#include <mimalloc.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "memcg/cache.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"

namespace {

constexpr std::size_t kSize = 64;
constexpr int kLive = 16;

enum class Variant { kShared, kIso, kKmalloc, kMimalloc };

// Keeps p (and the store through it) alive without adding instructions.
inline void escape(void* p) { asm volatile("" : : "r"(p) : "memory"); }

template <Variant V>
inline void* op_alloc(memcg::Cache& c) {
  if constexpr (V == Variant::kShared || V == Variant::kIso) return c.alloc();
  else if constexpr (V == Variant::kKmalloc) return memcg::kmalloc(kSize);
  else return mi_malloc(kSize);
}

template <Variant V>
inline void op_free(void* p) {
  if constexpr (V == Variant::kShared || V == Variant::kIso) memcg::Cache::free(p);
  else if constexpr (V == Variant::kKmalloc) memcg::kfree(p);
  else mi_free(p);
}

// The noinline loop is what callgrind's per-function view shows as
// "run_loop"; the totals come from the whole program.
template <Variant V>
[[gnu::noinline]] bool run_loop(memcg::Cache& c, long iters) {
  char v = 0;
  for (long i = 0; i < iters; ++i) {
    void* p = op_alloc<V>(c);
    if (__builtin_expect(p == nullptr, 0)) return false;
    *static_cast<char*>(p) = ++v;
    escape(p);
    op_free<V>(p);
  }
  return true;
}

template <Variant V>
int run(memcg::Cache& c, long iters) {
  void* live[kLive];
  for (void*& p : live) {
    p = op_alloc<V>(c);
    if (!p) {
      std::fprintf(stderr, "slab_callgrind_loop: allocation failed before the loop\n");
      return 1;
    }
    std::memset(p, 0x5a, kSize);
  }
  const bool ok = run_loop<V>(c, iters);
  for (void* p : live) op_free<V>(p);
  if (!ok) std::fprintf(stderr, "slab_callgrind_loop: allocation failed in the loop\n");
  return ok ? 0 : 1;
}

int usage() {
  std::fprintf(stderr, "usage: slab_callgrind_loop shared|iso|kmalloc|mimalloc <iterations>\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return usage();
  const std::string_view name = argv[1];
  const long iters = std::atol(argv[2]);
  if (iters <= 0) return usage();
  Variant v;
  if (name == "shared") v = Variant::kShared;
  else if (name == "iso") v = Variant::kIso;
  else if (name == "kmalloc") v = Variant::kKmalloc;
  else if (name == "mimalloc") v = Variant::kMimalloc;
  else return usage();

  memcg::Group g = memcg::Group::root().create("slab_callgrind_loop");
  g.set_max(std::uint64_t{1} << 30);
  memcg::CacheOptions o;
  o.isolate = v == Variant::kIso;
  memcg::Cache c;
  if (v == Variant::kShared || v == Variant::kIso) c = memcg::Cache::create("callgrind_loop-64", kSize, o);
  int rc;
  {
    memcg::ScopedGroup s(g);
    switch (v) {
      case Variant::kShared: rc = run<Variant::kShared>(c, iters); break;
      case Variant::kIso: rc = run<Variant::kIso>(c, iters); break;
      case Variant::kKmalloc: rc = run<Variant::kKmalloc>(c, iters); break;
      default: rc = run<Variant::kMimalloc>(c, iters); break;
    }
  }
  std::printf("%s: %ld iterations, rc %d\n", argv[1], iters, rc);
  return rc;
}
