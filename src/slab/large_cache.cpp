// LargeCache (large_cache.hpp): bins of cached spans by granule count and an
// age list, both intrusive through a node in each span's first page.
//
// A node is on both lists or on neither: take() and the decay/budget
// passes detach it under the mutex and then own the span alone, so the
// madvise/munmap that follow run unlocked; a purged span is linked back
// at the old end of both lists, clean but for its node's page.
//
// FORK: the mutex is held across fork(), so the child's lists are whole. A
// span another thread had detached at that moment is on no list in the
// child, and `in_use` still counts the blocks of threads that are gone:
// the child leaks those spans' address space (never their charges) and
// its budget starts larger. Both are bounded by what was in flight.
#include "slab/large_cache.hpp"

#include <sys/mman.h>
#include <time.h>

#include <atomic>
#include <new>

#include "platform/coarse_clock.hpp"
#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"
#include "slab/page_source.hpp"

namespace memcg::detail::large_cache {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::uint32_t kMaxGranules = 32;  // spans of 1..32 granules (128 MiB) are cached
constexpr std::size_t kTrimSlack = std::size_t{64} << 10;
constexpr int kWorkMax = 16;                // spans one locked pass detaches

// Bins. One-granule spans (blocks up to 4 MiB: most of them) are binned by
// their dirty bytes, four classes per doubling from one page to a granule,
// so that a request finds a span whose resident pages fit it; bigger spans
// by granule count after those.
constexpr std::uint32_t dirty_class(std::size_t bytes) {  // floor class of bytes >= kPage
  const std::size_t pages = bytes / kPage;
  const std::uint32_t l = 63u - static_cast<std::uint32_t>(__builtin_clzll(pages));
  const std::uint32_t sub = l >= 2 ? static_cast<std::uint32_t>(pages >> (l - 2)) & 3u
                                   : static_cast<std::uint32_t>(pages << (2 - l)) & 3u;
  return l * 4 + sub;
}
constexpr std::uint32_t kDirtyBins = dirty_class(kRegionSize) + 1;
constexpr std::uint32_t kBins = kDirtyBins + kMaxGranules + 1;
constexpr std::uint32_t granule_bin(std::size_t granules) { return kDirtyBins + static_cast<std::uint32_t>(granules); }
static_assert(dirty_class(kPage) == 0 && dirty_class(2 * kPage) == 4 && dirty_class(3 * kPage) == 6,
              "four classes per doubling");

std::uint32_t bin_of(std::size_t span_len, std::size_t dirty) {
  return span_len == kRegionSize ? dirty_class(dirty) : granule_bin(span_len / kRegionSize);
}

struct Node {
  std::uint32_t kind = kLargeCachedKind;
  std::uint32_t bin = 0;       // bin_of(span_len, dirty)
  std::size_t span_len = 0;
  std::size_t dirty = 0;       // >= kPage (the node's own page)
  std::uint64_t since_ms = 0;  // when it was cached
  Node* bin_prev = nullptr;
  Node* bin_next = nullptr;
  Node* age_prev = nullptr;    // toward the newest
  Node* age_next = nullptr;    // toward the oldest
};
static_assert(sizeof(Node) <= kPage, "the node lives in the span's first page");

struct List {
  Node* head = nullptr;  // newest (bins: taken first)
  Node* tail = nullptr;
};

struct Cache {
  RankedMutex mutex{LockRank::kLargeCache};
  fork::HeldAcrossFork<RankedMutex> fork{mutex};
  List bins[kBins] MEMCG_GUARDED_BY(mutex);
  List age MEMCG_GUARDED_BY(mutex);
  Tuning tuning MEMCG_GUARDED_BY(mutex);
  std::uint64_t spans MEMCG_GUARDED_BY(mutex) = 0;
  std::uint64_t span_bytes MEMCG_GUARDED_BY(mutex) = 0;
  std::uint64_t dirty_bytes MEMCG_GUARDED_BY(mutex) = 0;
  std::uint64_t in_use MEMCG_GUARDED_BY(mutex) = 0;  // bytes of the blocks handed out
  std::uint64_t last_tick_ms MEMCG_GUARDED_BY(mutex) = 0;
  std::atomic<std::uint64_t> hits{0}, misses{0}, purged_bytes{0}, unmapped{0};
};

Cache& cache() {
  static Cache* c = new Cache;  // leaked: spans may be freed during static destruction
  return *c;
}

// ---- the two lists (mutex held) ----

// One intrusive list through the node's Prev/Next links (Prev: toward the
// head, the newest), at its head or its tail.
template <Node* Node::*Prev, Node* Node::*Next>
void push(List& l, Node* n, bool at_head) {
  if (at_head) {
    n->*Prev = nullptr;
    n->*Next = l.head;
    if (l.head) l.head->*Prev = n; else l.tail = n;
    l.head = n;
  } else {
    n->*Next = nullptr;
    n->*Prev = l.tail;
    if (l.tail) l.tail->*Next = n; else l.head = n;
    l.tail = n;
  }
}

template <Node* Node::*Prev, Node* Node::*Next>
void remove(List& l, Node* n) {
  if (n->*Prev) (n->*Prev)->*Next = n->*Next; else l.head = n->*Next;
  if (n->*Next) (n->*Next)->*Prev = n->*Prev; else l.tail = n->*Prev;
}

void link(Cache& c, Node* n, bool newest) MEMCG_REQUIRES(c.mutex) {
  n->bin = bin_of(n->span_len, n->dirty);
  push<&Node::bin_prev, &Node::bin_next>(c.bins[n->bin], n, newest);
  push<&Node::age_prev, &Node::age_next>(c.age, n, newest);
  ++c.spans;
  c.span_bytes += n->span_len;
  c.dirty_bytes += n->dirty;
}

void unlink(Cache& c, Node* n) MEMCG_REQUIRES(c.mutex) {
  remove<&Node::bin_prev, &Node::bin_next>(c.bins[n->bin], n);
  remove<&Node::age_prev, &Node::age_next>(c.age, n);
  --c.spans;
  c.span_bytes -= n->span_len;
  c.dirty_bytes -= n->dirty;
}

// ---- detached work, run without the mutex ----

struct Work {
  Node* purge[kWorkMax];
  Node* unmap[kWorkMax];
  int npurge = 0, nunmap = 0;
  bool full() const { return npurge == kWorkMax || nunmap == kWorkMax; }
  bool empty() const { return npurge == 0 && nunmap == 0; }
};

void run(Cache& c, Work& w) noexcept {
  for (int i = 0; i < w.nunmap; ++i) {
    Node* n = w.unmap[i];
    page_source::unmap_span(n, n->span_len);
    c.unmapped.fetch_add(1, std::memory_order_relaxed);
  }
  // A purge that fails (locked memory: mlockall) leaves the pages as they
  // were; such a span is unmapped instead, so that `dirty` never
  // understates what a reused span may hold.
  int relink = 0;
  for (int i = 0; i < w.npurge; ++i) {
    Node* n = w.purge[i];
    if (::madvise(reinterpret_cast<char*>(n) + kPage, n->dirty - kPage, MADV_DONTNEED) == 0) {
      c.purged_bytes.fetch_add(n->dirty - kPage, std::memory_order_relaxed);
      n->dirty = kPage;
      w.purge[relink++] = n;
    } else {
      page_source::unmap_span(n, n->span_len);
      c.unmapped.fetch_add(1, std::memory_order_relaxed);
    }
  }
  w.npurge = w.nunmap = 0;
  if (relink == 0) return;
  // The relinked spans were not counted while they were off the lists:
  // other threads may have cached spans up to max_spans meanwhile, so the
  // span-count pass runs again here (the oldest go).
  {
    LockGuard<RankedMutex> l(c.mutex);
    for (int i = 0; i < relink; ++i) link(c, w.purge[i], /*newest=*/false);
    const std::size_t max_spans = c.tuning.max_spans;
    while (c.spans > max_spans && c.age.tail && !w.full()) {
      Node* n = c.age.tail;
      unlink(c, n);
      w.unmap[w.nunmap++] = n;
    }
  }
  for (int i = 0; i < w.nunmap; ++i) {
    page_source::unmap_span(w.unmap[i], w.unmap[i]->span_len);
    c.unmapped.fetch_add(1, std::memory_order_relaxed);
  }
  w.nunmap = 0;
}

// The decay pass (when its tick is due or `force`), then the budget: the
// oldest spans first. Fills w; returns true if w filled up (more to do).
bool collect(Cache& c, Work& w, std::uint64_t now, bool force) MEMCG_REQUIRES(c.mutex) {
  const Tuning t = c.tuning;  // a copy: the analysis does not follow references
  // `now` is read under the mutex, so it never precedes a tick or a
  // node's time; the ages saturate at 0 all the same.
  auto since = [now](std::uint64_t t0) { return now > t0 ? now - t0 : 0; };
  if (force || since(c.last_tick_ms) >= kDecayTickMs) {
    c.last_tick_ms = now;
    for (Node* n = c.age.tail; n && !w.full();) {
      Node* older_to_newer = n->age_prev;
      const std::uint64_t age = since(n->since_ms);
      if (age >= t.retain_ms) {
        unlink(c, n);
        w.unmap[w.nunmap++] = n;
      } else if (age >= t.dirty_decay_ms && n->dirty > kPage) {
        unlink(c, n);
        w.purge[w.npurge++] = n;
      }
      n = older_to_newer;
    }
  }
  while (c.spans > t.max_spans && c.age.tail && !w.full()) {
    Node* n = c.age.tail;
    unlink(c, n);
    w.unmap[w.nunmap++] = n;
  }
  // The resident budget follows the blocks in use (half of them), from
  // dirty_min up to dirty_max: a program with few large blocks keeps little.
  std::size_t budget = static_cast<std::size_t>(c.in_use / 2);
  if (budget < t.dirty_min) budget = t.dirty_min;
  if (budget > t.dirty_max) budget = t.dirty_max;
  for (Node* n = c.age.tail; n && c.dirty_bytes > budget && !w.full();) {
    Node* next = n->age_prev;
    if (n->dirty > kPage) {
      unlink(c, n);
      w.purge[w.npurge++] = n;
    }
    n = next;
  }
  return w.full();
}

// Detach-and-run until no pass fills its work list. A forced decay pass
// stays forced until it is done: each pass unmaps or purges different
// spans (a purged span is clean but for its node page and is not purged
// again), so this ends.
void settle(Cache& c, bool force) noexcept {
  for (bool more = true; more;) {
    Work w;
    {
      LockGuard<RankedMutex> l(c.mutex);
      more = collect(c, w, coarse_ms(), force);
    }
    run(c, w);
  }
}

// The span to take for a request of `keep` bytes (page-rounded) in `need`
// bytes of granules, or nullptr. One granule: the dirty classes from the
// request's up to twice it, then smaller ones (their missing pages fault in
// as a new mapping's would), then larger ones (trimmed by the caller).
// More granules: the smallest span that fits.
Node* find(Cache& c, std::size_t need, std::size_t keep) MEMCG_REQUIRES(c.mutex) {
  if (need == kRegionSize) {
    const std::uint32_t k = dirty_class(keep);
    for (std::uint32_t b = k; b < kDirtyBins && b <= k + 4; ++b)
      if (c.bins[b].head) return c.bins[b].head;
    for (std::uint32_t b = k; b-- > 0;)
      if (c.bins[b].head) return c.bins[b].head;
    for (std::uint32_t b = k + 5; b < kDirtyBins; ++b)
      if (c.bins[b].head) return c.bins[b].head;
    return nullptr;
  }
  for (std::size_t g = need / kRegionSize; g <= kMaxGranules; ++g)  // the smallest that fits
    if (Node* n = c.bins[granule_bin(g)].head) return n;
  return nullptr;
}

}  // namespace

Taken take(std::size_t len) noexcept {
  Cache& c = cache();
  const std::size_t need = (len + kRegionSize - 1) & ~(kRegionSize - 1);
  const std::size_t keep = (len + kPage - 1) & ~(kPage - 1);
  Taken t;
  if (len == 0) return t;
  Node* n = nullptr;
  {
    Work w;
    {
      LockGuard<RankedMutex> l(c.mutex);
      c.in_use += keep;
      if (need / kRegionSize <= kMaxGranules) {
        n = find(c, need, keep);
        if (n) unlink(c, n);
      }
      collect(c, w, coarse_ms(), false);
    }
    run(c, w);
  }
  if (n) {
    c.hits.fetch_add(1, std::memory_order_relaxed);
    t.base = n;
    t.span_len = n->span_len;
    t.dirty = n->dirty;
    t.reused = true;
    const std::size_t part = t.span_len == kRegionSize ? keep / 4 : keep;
    const std::size_t slack = part > kTrimSlack ? part : kTrimSlack;
    if (t.dirty > keep + slack) {  // a small block must not pin a big one's pages
      if (::madvise(static_cast<char*>(t.base) + keep, t.dirty - keep, MADV_DONTNEED) == 0) {
        c.purged_bytes.fetch_add(t.dirty - keep, std::memory_order_relaxed);
        t.dirty = keep;
      }  // else (locked memory) the pages stay, and so does `dirty`
    }
    return t;
  }
  c.misses.fetch_add(1, std::memory_order_relaxed);
  t.base = page_source::map_span(len);
  if (t.base) {
    t.span_len = need;
  } else {
    LockGuard<RankedMutex> l(c.mutex);
    c.in_use -= keep;
  }
  return t;
}

void give(void* base, std::size_t span_len, std::size_t dirty, std::size_t len) noexcept {
  Cache& c = cache();
  const std::size_t g = span_len / kRegionSize;
  const std::size_t keep = (len + kPage - 1) & ~(kPage - 1);
  if (g == 0 || g > kMaxGranules) {
    {
      LockGuard<RankedMutex> l(c.mutex);
      c.in_use -= keep;
    }
    page_source::unmap_span(base, span_len);
    return;
  }
  dirty = (dirty + kPage - 1) & ~(kPage - 1);
  if (dirty < kPage) dirty = kPage;
  if (dirty > span_len) dirty = span_len;
  auto* n = new (base) Node;
  n->span_len = span_len;
  n->dirty = dirty;
  Work w;
  bool more;
  {
    LockGuard<RankedMutex> l(c.mutex);
    const std::uint64_t now = coarse_ms();
    n->since_ms = now;
    c.in_use -= keep;
    link(c, n, /*newest=*/true);  // max_spans 0: the span-count pass below unmaps it
    more = collect(c, w, now, false);
  }
  run(c, w);
  if (more) settle(c, false);
}

Tuning tuning() noexcept {
  Cache& c = cache();
  LockGuard<RankedMutex> l(c.mutex);
  return c.tuning;
}

void set_tuning(const Tuning& t) noexcept {
  Cache& c = cache();
  {
    LockGuard<RankedMutex> l(c.mutex);
    c.tuning = t;
  }
  settle(c, true);
}

Stats stats() noexcept {
  Cache& c = cache();
  Stats s;
  {
    LockGuard<RankedMutex> l(c.mutex);
    s.spans = c.spans;
    s.span_bytes = c.span_bytes;
    s.dirty_bytes = c.dirty_bytes;
  }
  s.hits = c.hits.load(std::memory_order_relaxed);
  s.misses = c.misses.load(std::memory_order_relaxed);
  s.purged_bytes = c.purged_bytes.load(std::memory_order_relaxed);
  s.unmapped = c.unmapped.load(std::memory_order_relaxed);
  return s;
}

void decay_now() noexcept { settle(cache(), true); }

void release_all() noexcept {
  Cache& c = cache();
  for (bool more = true; more;) {
    Work w;
    {
      LockGuard<RankedMutex> l(c.mutex);
      while (c.age.tail && !w.full()) {
        Node* n = c.age.tail;
        unlink(c, n);
        w.unmap[w.nunmap++] = n;
      }
      more = c.age.tail != nullptr;
    }
    run(c, w);
  }
}

}  // namespace memcg::detail::large_cache
