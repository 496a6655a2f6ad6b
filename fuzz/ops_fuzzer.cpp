// libFuzzer target: decodes its input into a sequence of operations on a
// small group tree and checks every result against a reference model.
//
// Operations (one opcode byte each, then operand bytes; see run_input):
// mkdir, rmdir (memcg::fs, valid and invalid names), limit writes through
// fs::write (valid and invalid values) and Group::set_max, Cache::alloc(group)
// and kmalloc (small and large) into a group or the current group, frees (on
// the fuzzing thread or on a second thread driven in lockstep: cross-thread
// frees and charges), Reservation make / grow / shrink / reset,
// Group::reclaim and memory.reclaim, fs::read of every control file,
// ScopedGroup switches, memory.peak resets, Cache::shrink, checkpoints.
//
// THE MODEL. Per group (the input's top group and up to 12 below it): parent,
// name, online/removed, memory.max/high/low/min as written, and the objects
// the fuzzer holds: reservations (exact size), large kmallocs (exact charged
// length: the page-rounded mapping), slab objects (cache, object stride, the
// group charged: the nearest online ancestor at allocation). From these, for
// each group G and its subtree:
//   R(G), L(G)  reservations / large kmalloc bytes, exact;
//   S(G)        a lower bound on slab bytes: each (charged group, root cache)
//               is its own child cache, whose n live objects of stride s need
//               at least ceil(n / (64 KiB / s)) slabs of 64 KiB;
//   N(G)        live slab objects (an upper bound: N x 64 KiB once every
//               empty slab of the subtree has been released).
//
// CHECKED after every operation (all groups, removed ones included; the
// library worker is flushed first so that no deferred slab release races):
//   - memory.stat: reservations == R, kmalloc_large == L, slab >= S, and
//     memory.current == reservations + kmalloc_large + slab + stock, exactly;
//     a removed group: slab == stock == 0 (its caches were reparented and its
//     stocks drained), so current == R + L;
//   - the reservation pin count (seed 002) == live reservations + large
//     kmallocs of the group; Reservation::size() == the model's size;
//   - limits read back (API) == the model; current <= max unless a max write
//     left usage above it (then until usage drops below);
//   - memory.peak >= current; peak never moves except by a charge of this
//     operation at that level (and then to at most old current + the charge
//     attempt) or a reset (then peak == current);
//   - no operation but a charge raises any current; a charge raises only its
//     chain (charged group to the top), by at most the charge attempt;
//   - events: local counters never decrease, hierarchical == own + Σ children
//     deltas; failcnt and the max event rise only on a charge, only at a level
//     of its chain where (current before + attempt) > max; a failed charge
//     raised the max event somewhere in the chain and (charges <= 64 KiB)
//     exactly one oom event, a successful one none; a max write records one
//     oom event iff usage stays above the new max; low events only with
//     reclaim; high events only at levels with a finite high; oom_kill never;
//   - nr_descendants / nr_dying_descendants == online / removed model
//     descendants.
// CHARGES (reservation make / grow, large kmalloc: exact; slab: one slab):
//   - must succeed if current + bytes <= max at every level (current read
//     just before; stocks are drained and reclaim run before a refusal);
//   - must fail with ENOMEM (reservations) / nullptr / false if at some level
//     R + L + S + bytes > max (nothing live can be reclaimed), unless the
//     charge is <= 64 KiB and the group's own stocks hold enough bytes;
//   - a removed group: reservations ENOENT, grow false, no events; slab and
//     large allocations are charged to the nearest online ancestor (checked
//     through the slab's child cache at checkpoints and through S, R, L);
//   - ksize == the size class (kmalloc_size_roundup); large: mapping - 64.
// RECLAIM: EAGAIN exactly when got < requested; got >= the drop of the
//   group's current; memory.stat pgsteal of the group rises by exactly got;
//   a removed group reclaims 0 (documented); when short
//   (the last attempt flushed every magazine of the subtree and shrank its
//   caches) slab <= N x 64 KiB. memory.reclaim: EINVAL for "max" or bad
//   values, ENOENT for a removed group, the same bound when EAGAIN.
// FILES: every fs error is the documented one; a malformed value is EINVAL
//   and changes nothing; a valid one reads back as format_limit(parse(value))
//   (reference parser below); reads compare with the model and the API:
//   memory.current, .min/.low/.high/.max ("max" when unlimited), .peak,
//   .events / .events.local (all five counters), .stat (as above),
//   cgroup.stat, memory.kmem.slabinfo (slabs x 64 KiB == the group's own slab
//   bytes, objects in use >= the model's live objects of each cache there).
// CHECKPOINT (and Cache::shrink): both threads' stocks and magazines drained:
//   stock == 0, every live slab object's child cache belongs to the nearest
//   online ancestor of the group it was charged to, limit files, fs::list;
//   after Cache::shrink, slab_reclaimable (only cache "fz-big" is
//   reclaimable) is between its S and N x 64 KiB: 0 without live objects.
// END OF INPUT: everything is freed, caches shrunk, stocks and magazines
//   drained, groups removed children first (each then at current 0) and the
//   top reclaimed: the top's current must be 0 and the root's back to its
//   value before the input; after the top is removed and the worker flushed,
//   every group's reference count is exactly our handle + its children (+
//   children made and removed outside the model, until their RCU free): no
//   leaked reference, pin, stock or child cache. The first input, every
//   128th and the exit also wait for the RCU frees (memcg::barrier, ~10 ms
//   per tree level with urcu) and require detail::runtime_stats().groups_allocated
//   back to its baseline. (Deferred frees defeat libFuzzer's per-input leak
//   heuristic: LLVMFuzzerInitialize turns -detect_leaks off unless given;
//   LeakSanitizer still runs at exit.)
// A violated check aborts (libFuzzer then saves the input).
//
// FZ_TRACE=1: one line per operation on stderr. FZ_STATS=1: at exit, how
// often the charge predictions, failed charges, short reclaims... fired.
// fuzz/make_seeds.py writes the hand-made seeds 16-22 and documents the
// encoding; seed 16 reproduces a reclaim accounting bug found by this model.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "charge/stock.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "memcg/memcg.hpp"
#include "platform/worker.hpp"
#include "slab/slab_internal.hpp"
#include "testing_stats.hpp"

namespace {

using namespace memcg;

#define FZ_CHECK(cond, ...)                                                  \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "ops_fuzzer: check failed at line %d: %s\n  ", __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
      std::abort();                                                          \
    }                                                                        \
  } while (0)

// FZ_TRACE=1 in the environment: one line per operation on stderr.
const bool g_trace = std::getenv("FZ_TRACE") != nullptr;
#define FZ_TRACE(...)                                 \
  do {                                                \
    if (g_trace) std::fprintf(stderr, __VA_ARGS__);   \
  } while (0)

using u64 = std::uint64_t;

// FZ_STATS=1: how often each kind of check fired, printed at exit.
struct CheckStats {
  u64 charges = 0, charges_failed = 0, must_succeed = 0, must_fail = 0, stock_excused = 0, set_max_oom = 0,
      reclaims = 0, reclaims_short = 0, file_reads = 0, shrinks = 0, checkpoints = 0, barriers = 0;
} g_stats;
#define U(x) static_cast<unsigned long long>(x)

constexpr u64 kSlab = 64 * 1024;         // slab size (page_source kSlabSize)
constexpr u64 kBatch = detail::kChargeBatch;
constexpr u64 kCostly = 64 * 1024;        // kCostlyBytes: no OOM above it
static_assert(kSlab == detail::kSlabSize);

// ---- input decoding -------------------------------------------------------
struct Input {
  const std::uint8_t* p;
  std::size_t n;
  bool empty() const { return n == 0; }
  std::uint8_t byte() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  std::uint32_t u16() { return byte() | (std::uint32_t{byte()} << 8); }
};

// ---- the second thread, driven in lockstep ---------------------------------
class Lockstep {
 public:
  Lockstep() : t_([this] { loop(); }) {}
  ~Lockstep() {
    run([this] { quit_ = true; });
    t_.join();
  }
  void run(std::function<void()> f) {
    std::unique_lock<std::mutex> l(m_);
    job_ = std::move(f);
    cv_.notify_all();
    cv_.wait(l, [&] { return !job_; });
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> l(m_);
    while (!quit_) {
      cv_.wait(l, [&] { return bool(job_); });
      job_();
      job_ = nullptr;
      cv_.notify_all();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool quit_ = false;
  std::thread t_;
};

Lockstep& other_thread() {
  static Lockstep* t = new Lockstep;  // lives for the process
  return *t;
}

void quiesce_this_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

void quiesce_both() {
  quiesce_this_thread();
  other_thread().run(quiesce_this_thread);
}

Cache& cache(int i) {
  static Cache* cs = [] {
    auto* a = new Cache[2];
    a[0] = Cache::create("fz-small", 64);
    a[1] = Cache::create("fz-big", 1000, CacheOptions{.reclaimable = true});
    return a;
  }();
  return cs[i];
}
const char* const kCacheNames[] = {"fz-small", "fz-big"};

// ---- reference parser (independent of src/fs/parse.cpp) ---------------------
bool ref_parse(const std::string& text, u64& out) {
  std::size_t b = 0, e = text.size();
  auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (b < e && sp(text[b])) ++b;
  while (e > b && sp(text[e - 1])) --e;
  std::string s = text.substr(b, e - b);
  if (s == "max") {
    out = unlimited;
    return true;
  }
  unsigned shift = 0;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      case 't': case 'T': shift = 40; break;
    }
    if (shift) s.pop_back();
  }
  if (s.empty()) return false;
  unsigned __int128 v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > UINT64_MAX) return false;
  }
  v <<= shift;
  if (v > UINT64_MAX) return false;
  out = static_cast<u64>(v);
  return true;
}

std::string ref_limit_text(u64 v) { return v == unlimited ? "max\n" : std::to_string(v) + "\n"; }

// "key value\n" lines -> value of key (nullopt if absent or malformed).
std::optional<u64> field(const std::string& text, const std::string& key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) return std::nullopt;
    if (text.compare(pos, key.size() + 1, key + " ") == 0) {
      u64 v = 0;
      std::size_t i = pos + key.size() + 1;
      if (i == eol) return std::nullopt;
      for (; i < eol; ++i) {
        if (text[i] < '0' || text[i] > '9') return std::nullopt;
        v = v * 10 + static_cast<u64>(text[i] - '0');
      }
      return v;
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

// ---- the model ------------------------------------------------------------
struct Limits {
  u64 max = unlimited, high = unlimited, low = 0, min = 0;
};

// Counters as last seen (at the end of the previous operation).
struct Seen {
  u64 cur = 0, peak = 0, failcnt = 0;
  Events ev{}, evl{};
};

struct Node {
  Group g;
  int parent = -1;  // -1: the input's top group
  std::string name;
  bool online = true;
  Limits lim;
  bool over_max = false;  // a max write left usage above max: allowed until usage drops
  Seen seen;
  int ghosts = 0;  // children made and removed outside the model (path reuse), maybe not yet freed
};

struct Obj {
  void* p;
  int kind;        // 0: cache 0, 1: cache 1, 2: kmalloc small, 3: kmalloc large
  int charged;     // the nearest online ancestor of the target at allocation
  u64 large_len;   // kind 3: bytes charged (the mapping)
  std::uint32_t stride;  // kinds 0-2: ksize (the slab stride)
};

struct Res {
  Reservation r;
  int node;
  u64 size;  // the model's size
};

constexpr int kMaxNodes = 12;

// What the operation did, for the counter checks of after_op.
struct OpCtx {
  enum Kind { kNone, kCharge, kSetMax, kReclaim } kind = kNone;
  int node = -1;       // charge: the charged group; set_max: the group
  u64 bytes = 0;       // charge: bytes; set_max: the new max
  u64 attempt = 0;     // charge: the largest single counter charge (batch)
  bool failed = false;
  int peak_reset = -2; // a group whose peak was reset (-2: none)
};

struct Sums {
  std::vector<u64> res, large, slab_lb, slab_objs, big_lb, big_objs;
};

struct Model {
  Group top;  // the subtree root of this input (node -1)
  std::string top_path;
  Seen top_seen;
  int top_ghosts = 0;
  std::vector<Node> nodes;
  std::vector<Obj> objs;
  std::vector<Res> res;
  std::optional<ScopedGroup> scoped;
  int scoped_node = -2;  // -2: none (root of the process)
  bool on_other = false; // allocations and frees on the other thread

  int n() const { return static_cast<int>(nodes.size()); }
  const Group& group(int i) const { return i < 0 ? top : nodes[i].g; }
  Seen& seen(int i) { return i < 0 ? top_seen : nodes[i].seen; }
  Limits lim(int i) const { return i < 0 ? Limits{} : nodes[i].lim; }
  std::string path(int i) const { return i < 0 ? top_path : path(nodes[i].parent) + "/" + nodes[i].name; }
  bool online(int i) const { return i < 0 || nodes[i].online; }
  bool is_desc(int i, int anc) const {  // i in anc's subtree (anc -1: everything)
    for (int x = i;; x = nodes[x].parent) {
      if (x == anc) return true;
      if (x < 0) return false;
    }
  }
  int nearest_online(int i) const {
    while (i >= 0 && !nodes[i].online) i = nodes[i].parent;
    return i;
  }
  bool has_online_children(int i) const {
    for (auto& n : nodes)
      if (n.online && n.parent == i) return true;
    return false;
  }
  int pick(Input& in, bool include_top = true) const {
    const int k = n() + (include_top ? 1 : 0);
    if (k == 0) return -1;
    int v = in.byte() % k;
    return include_top ? v - 1 : v;
  }
  template <class F>
  void for_chain(int i, F&& f) const {  // i, its ancestors, the top
    for (int x = i;; x = nodes[x].parent) {
      f(x);
      if (x < 0) break;
    }
  }

  Sums sums() const {
    Sums s;
    const std::size_t k = nodes.size() + 1;
    s.res.assign(k, 0);
    s.large.assign(k, 0);
    s.slab_lb.assign(k, 0);
    s.slab_objs.assign(k, 0);
    s.big_lb.assign(k, 0);
    s.big_objs.assign(k, 0);
    for (auto& r : res) for_chain(r.node, [&](int x) { s.res[x + 1] += r.size; });
    struct Key { int node, kind; std::uint32_t stride; u64 n; };
    std::vector<Key> keys;
    for (auto& o : objs) {
      if (o.kind == 3) {
        for_chain(o.charged, [&](int x) { s.large[x + 1] += o.large_len; });
        continue;
      }
      // A removed group's caches were reparented to its nearest online
      // ancestor: the objects count there and above.
      for_chain(nearest_online(o.charged), [&](int x) {
        ++s.slab_objs[x + 1];
        if (o.kind == 1) ++s.big_objs[x + 1];
      });
      auto it = std::find_if(keys.begin(), keys.end(),
                             [&](const Key& key) { return key.node == o.charged && key.kind == o.kind && key.stride == o.stride; });
      if (it == keys.end()) keys.push_back(Key{o.charged, o.kind, o.stride, 1}); else ++it->n;
    }
    for (auto& key : keys) {
      const u64 per_slab = kSlab / key.stride;  // >= the real capacity (the header takes room)
      const u64 bytes = (key.n + per_slab - 1) / per_slab * kSlab;
      for_chain(nearest_online(key.node), [&](int x) {
        s.slab_lb[x + 1] += bytes;
        if (key.kind == 1) s.big_lb[x + 1] += bytes;
      });
    }
    return s;
  }
};

const char* const kValues[] = {
    "max", "0", "4096", "64K", "1M", "1m", "3M", "16M", "1G", "  2M\n", "\t512k ", "1T", "max\n",
    "18446744073709551615", "17179869183G",
    // invalid
    "", " ", "-1", "+1", "1.5G", "0x10", "1KB", "MAX", "maxx", "18446744073709551616", "17179869184G",
    "99999999999999999999K", "1 M", "k", "1\x01", "1e6", "\n\n"};
const char* const kFiles[] = {"memory.min", "memory.low", "memory.high", "memory.max"};
const char* const kReadFiles[] = {"memory.current", "memory.min", "memory.low", "memory.high", "memory.max",
                                  "memory.peak", "memory.events", "memory.events.local", "memory.stat",
                                  "cgroup.stat", "memory.kmem.slabinfo", "memory.nope", "cgroup.procs", "x",
                                  "memory.reclaim"};
const char* const kNames[] = {"a", "b", "c", "sp ace", "d", "", ".", "..", "memory.x", "cgroup.y", "bad\x01", "tab\tname"};
constexpr std::size_t kSizes[] = {1, 8, 24, 100, 512, 1000, 4096, 8192, 8193, 70000, 300000};

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
  for (unsigned char c : s)
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  return s.rfind("memory.", 0) != 0 && s.rfind("cgroup.", 0) != 0;
}

u64 limit_of(const Group& g, int f) {
  switch (f) {
    case 0: return g.min();
    case 1: return g.low();
    case 2: return g.high();
    default: return g.max();
  }
}
u64& limit_ref(Limits& l, int f) { return f == 0 ? l.min : f == 1 ? l.low : f == 2 ? l.high : l.max; }

// Bytes in thread stocks (any thread) of group i itself, not its children.
u64 own_stock(const Model& m, int i) {
  u64 s = m.group(i).stat().stock;
  for (int j = 0; j < m.n(); ++j)
    if (m.nodes[j].parent == i) s -= m.nodes[j].g.stat().stock;
  return s;
}

// ---- the checks after every operation --------------------------------------
void after_op(Model& m, const OpCtx& ctx) {
  detail::worker::flush();  // deferred destruction of emptied dead caches uncharges
  const Sums s = m.sums();
  const int k = m.n();
  std::vector<Seen> now(static_cast<std::size_t>(k) + 1);
  for (int i = -1; i < k; ++i) {
    const Group& g = m.group(i);
    Seen& x = now[i + 1];
    x.cur = g.current();
    x.peak = g.peak();
    x.failcnt = g.failcnt();
    x.ev = g.events();
    x.evl = g.events_local();
  }
  auto in_chain = [&](int j) { return ctx.kind == OpCtx::kCharge && m.is_desc(ctx.node, j); };
  u64 chain_max_ev = 0, chain_oom = 0;
  for (int i = -1; i < k; ++i) {
    const Group& g = m.group(i);
    const std::string p = m.path(i);
    const Seen& was = m.seen(i);
    const Seen& x = now[i + 1];
    const Limits lim = m.lim(i);
    // memory.stat against the model; current is the sum of its parts.
    const Stat st = g.stat();
    FZ_CHECK(st.reservations == s.res[i + 1], "%s reservations %llu model %llu", p.c_str(), U(st.reservations),
             U(s.res[i + 1]));
    FZ_CHECK(st.kmalloc_large == s.large[i + 1], "%s kmalloc_large %llu model %llu", p.c_str(), U(st.kmalloc_large),
             U(s.large[i + 1]));
    FZ_CHECK(st.slab() >= s.slab_lb[i + 1], "%s slab %llu < %llu needed by the live objects", p.c_str(),
             U(st.slab()), U(s.slab_lb[i + 1]));
    FZ_CHECK(x.cur == st.reservations + st.kmalloc_large + st.slab() + st.stock,
             "%s current %llu != res %llu + large %llu + slab %llu + stock %llu", p.c_str(), U(x.cur),
             U(st.reservations), U(st.kmalloc_large), U(st.slab()), U(st.stock));
    if (!m.online(i))
      FZ_CHECK(st.slab() == 0 && st.stock == 0, "removed %s: slab %llu stock %llu", p.c_str(), U(st.slab()),
               U(st.stock));
    // Pins (seed 002): one per live reservation and large kmalloc.
    u64 pins = 0;
    for (auto& r : m.res) pins += r.node == i;
    for (auto& o : m.objs) pins += o.kind == 3 && o.charged == i;
    FZ_CHECK(detail::Access::impl(g)->pins.load() == pins, "%s pins %llu model %llu", p.c_str(), U(detail::Access::impl(g)->pins.load()), U(pins));
    // Limits.
    FZ_CHECK(g.max() == lim.max && g.high() == lim.high && g.low() == lim.low && g.min() == lim.min,
             "%s limits %llu/%llu/%llu/%llu model %llu/%llu/%llu/%llu", p.c_str(), U(g.max()), U(g.high()),
             U(g.low()), U(g.min()), U(lim.max), U(lim.high), U(lim.low), U(lim.min));
    if (i >= 0) {
      Node& n = m.nodes[i];
      if (ctx.kind == OpCtx::kSetMax && ctx.node == i) n.over_max = x.cur > lim.max;
      if (x.cur <= lim.max) n.over_max = false;
      FZ_CHECK(x.cur <= lim.max || n.over_max, "%s current %llu > max %llu", p.c_str(), U(x.cur), U(lim.max));
    }
    // Usage: only a charge raises it, only along its chain, by its attempt.
    if (in_chain(i))
      FZ_CHECK(x.cur <= was.cur + ctx.attempt, "%s current %llu -> %llu, charge attempt %llu", p.c_str(),
               U(was.cur), U(x.cur), U(ctx.attempt));
    else
      FZ_CHECK(x.cur <= was.cur, "%s current rose %llu -> %llu without a charge there", p.c_str(), U(was.cur),
               U(x.cur));
    // Peak.
    FZ_CHECK(x.peak >= x.cur, "%s peak %llu < current %llu", p.c_str(), U(x.peak), U(x.cur));
    if (ctx.peak_reset == i) {
      FZ_CHECK(x.peak == x.cur, "%s peak %llu after a reset, current %llu", p.c_str(), U(x.peak), U(x.cur));
    } else if (in_chain(i)) {
      FZ_CHECK(x.peak >= was.peak && x.peak <= std::max(was.peak, was.cur + ctx.attempt),
               "%s peak %llu -> %llu (current was %llu, attempt %llu)", p.c_str(), U(was.peak), U(x.peak),
               U(was.cur), U(ctx.attempt));
    } else {
      FZ_CHECK(x.peak == was.peak, "%s peak moved %llu -> %llu without a charge there", p.c_str(), U(was.peak),
               U(x.peak));
    }
    // Events: monotone; hierarchical == own + descendants' (all in the model).
    const u64 lv[5] = {x.evl.low, x.evl.high, x.evl.max, x.evl.oom, x.evl.oom_kill};
    const u64 lw[5] = {was.evl.low, was.evl.high, was.evl.max, was.evl.oom, was.evl.oom_kill};
    u64 hd[5] = {x.ev.low - was.ev.low, x.ev.high - was.ev.high, x.ev.max - was.ev.max, x.ev.oom - was.ev.oom,
                 x.ev.oom_kill - was.ev.oom_kill};
    for (int e = 0; e < 5; ++e) FZ_CHECK(lv[e] >= lw[e], "%s local event %d went backwards", p.c_str(), e);
    u64 sum[5] = {};
    for (int j = -1; j < k; ++j) {
      if (!m.is_desc(j, i)) continue;
      const Seen &a = now[j + 1], &b = m.seen(j);
      sum[0] += a.evl.low - b.evl.low;
      sum[1] += a.evl.high - b.evl.high;
      sum[2] += a.evl.max - b.evl.max;
      sum[3] += a.evl.oom - b.evl.oom;
      sum[4] += a.evl.oom_kill - b.evl.oom_kill;
    }
    for (int e = 0; e < 5; ++e)
      FZ_CHECK(hd[e] == sum[e], "%s hierarchical event %d rose by %llu, the subtree's local ones by %llu", p.c_str(),
               e, U(hd[e]), U(sum[e]));
    const u64 dfail = x.failcnt - was.failcnt, dmax = lv[2] - lw[2], doom = lv[3] - lw[3];
    FZ_CHECK(x.failcnt >= was.failcnt, "%s failcnt went backwards", p.c_str());
    FZ_CHECK(lv[4] == lw[4], "%s oom_kill without a handler", p.c_str());
    FZ_CHECK(lv[0] == lw[0] || ctx.kind != OpCtx::kNone, "%s low event without reclaim", p.c_str());
    FZ_CHECK(lv[1] == lw[1] || (in_chain(i) && lim.high != unlimited), "%s high event (high %llu)", p.c_str(),
             U(lim.high));
    if (in_chain(i)) {
      const bool over_attempt = lim.max != unlimited && (was.cur > lim.max || ctx.attempt > lim.max - was.cur);
      const bool over_bytes = lim.max != unlimited && (was.cur > lim.max || ctx.bytes > lim.max - was.cur);
      FZ_CHECK(dfail == 0 || over_attempt, "%s failcnt +%llu, but %llu + %llu fits max %llu", p.c_str(), U(dfail),
               U(was.cur), U(ctx.attempt), U(lim.max));
      FZ_CHECK(dmax == 0 || over_bytes, "%s max event +%llu, but %llu + %llu fits max %llu", p.c_str(), U(dmax),
               U(was.cur), U(ctx.bytes), U(lim.max));
      FZ_CHECK(doom == 0 || dmax > 0, "%s oom event without a max event there", p.c_str());
      if (dmax) FZ_CHECK(dfail >= dmax, "%s max events +%llu, failcnt only +%llu", p.c_str(), U(dmax), U(dfail));
      chain_max_ev += dmax;
      chain_oom += doom;
    } else {
      FZ_CHECK(dfail == 0 && dmax == 0, "%s failcnt +%llu max +%llu without a charge there", p.c_str(), U(dfail),
               U(dmax));
      const u64 want_oom = ctx.kind == OpCtx::kSetMax && ctx.node == i && x.cur > lim.max ? 1 : 0;
      g_stats.set_max_oom += want_oom;
      FZ_CHECK(doom == want_oom, "%s oom events +%llu, want %llu (current %llu max %llu)", p.c_str(), U(doom),
               U(want_oom), U(x.cur), U(lim.max));
    }
    // Descendant counts.
    u64 desc = 0, dying = 0;
    for (int j = 0; j < k; ++j) {
      if (j == i || !m.is_desc(j, i)) continue;
      if (m.nodes[j].online) ++desc; else ++dying;
    }
    FZ_CHECK(g.nr_descendants() == desc && g.nr_dying_descendants() == dying,
             "%s nr_descendants %llu/%llu model %llu/%llu", p.c_str(), U(g.nr_descendants()),
             U(g.nr_dying_descendants()), U(desc), U(dying));
  }
  if (ctx.kind == OpCtx::kCharge) {
    ++g_stats.charges;
    g_stats.charges_failed += ctx.failed;
    if (ctx.failed) {
      FZ_CHECK(chain_max_ev >= 1, "failed charge of %llu at %s recorded no max event", U(ctx.bytes),
               m.path(ctx.node).c_str());
      FZ_CHECK(chain_oom == (ctx.bytes <= kCostly ? 1u : 0u), "failed charge of %llu: %llu oom events", U(ctx.bytes),
               U(chain_oom));
    } else {
      FZ_CHECK(chain_oom == 0, "successful charge recorded %llu oom events", U(chain_oom));
    }
  }
  for (auto& r : m.res) FZ_CHECK(r.r.size() == r.size, "reservation size %llu model %llu", U(r.r.size()), U(r.size));
  for (int i = -1; i < k; ++i) m.seen(i) = now[i + 1];
}

// ---- charge predictions ----------------------------------------------------
struct Prediction {
  bool must_succeed = true;
  bool must_fail = false;
};

// `bytes` charged at group c (online): must it succeed, must it fail?
// exact: the charge is exactly `bytes` (reservations, large kmalloc); for a
// slab allocation (maybe no charge, at most one slab) only must_succeed.
Prediction predict(const Model& m, const Sums& s, int c, u64 bytes, bool exact) {
  Prediction pr;
  for (int x = c;; x = m.nodes[x].parent) {
    const u64 cur = m.group(x).current(), max = m.lim(x).max;
    if (max != unlimited) {
      if (cur > max || bytes > max - cur) pr.must_succeed = false;
      const u64 lb = s.res[x + 1] + s.large[x + 1] + s.slab_lb[x + 1];
      if (exact && (lb > max || bytes > max - lb)) pr.must_fail = true;
    }
    if (x < 0) break;
  }
  const Group root = Group::root();
  if (root.max() != unlimited && (root.current() > root.max() || bytes > root.max() - root.current()))
    pr.must_succeed = false;
  // A small charge is served from the thread's stock of c if it holds enough.
  if (pr.must_fail && bytes <= kBatch && own_stock(m, c) >= bytes) {
    pr.must_fail = false;
    ++g_stats.stock_excused;
  }
  g_stats.must_succeed += pr.must_succeed;
  g_stats.must_fail += pr.must_fail;
  return pr;
}

// ---- operations ----------------------------------------------------------------
void checkpoint(Model& m) {
  ++g_stats.checkpoints;
  quiesce_both();
  after_op(m, OpCtx{});
  for (int i = -1; i < m.n(); ++i) {
    const Group& g = m.group(i);
    FZ_CHECK(g.stat().stock == 0, "%s stock %llu after draining both threads", m.path(i).c_str(), U(g.stat().stock));
    if (!m.online(i)) continue;
    if (i >= 0)
      for (int f = 0; f < 4; ++f) {
        const std::string t = fs::read(m.path(i) + "/" + kFiles[f]);
        FZ_CHECK(t == ref_limit_text(limit_ref(m.nodes[i].lim, f)), "%s/%s reads '%s'", m.path(i).c_str(), kFiles[f],
                 t.c_str());
      }
    // Online children: fs::list agrees with the model.
    std::vector<std::string> kids, listed;
    for (auto& n : m.nodes)
      if (n.online && n.parent == i) kids.push_back(n.name + "/");
    for (auto& e : fs::list(m.path(i)))
      if (!e.empty() && e.back() == '/') listed.push_back(e);
    std::sort(kids.begin(), kids.end());
    FZ_CHECK(listed == kids, "%s: fs::list children differ from the model (%zu vs %zu)", m.path(i).c_str(),
             listed.size(), kids.size());
  }
  // Every live slab object sits in a child cache of its root cache that
  // belongs to the nearest online ancestor of the group it was charged to.
  for (auto& o : m.objs) {
    if (o.kind == 3) continue;
    const detail::ChildCache* c = detail::Slab::of(o.p)->cache;
    const int want = m.nearest_online(o.charged);
    FZ_CHECK(c->group.load() == detail::Access::impl(m.group(want)), "object of %s is charged elsewhere than %s",
             m.path(o.charged).c_str(), m.path(want).c_str());
    if (o.kind <= 1) FZ_CHECK(c->root == detail::Access::impl(cache(o.kind)), "object in a foreign root cache");
  }
}

void do_free(Model& m, std::size_t idx) {
  Obj o = m.objs[idx];
  FZ_TRACE("  free %p (kind %d charged %s)%s\n", o.p, o.kind, m.path(o.charged).c_str(),
           m.on_other ? " on the other thread" : "");
  m.objs[idx] = m.objs.back();
  m.objs.pop_back();
  auto f = [o] {
    if (o.kind <= 1) Cache::free(o.p); else kfree(o.p);
  };
  if (m.on_other) other_thread().run(f); else f();
}

OpCtx alloc_op(Model& m, Input& in, bool from_current) {
  int i = from_current ? (m.scoped_node == -2 ? -3 : m.scoped_node) : m.pick(in);
  const int kind = in.byte() % 3;
  std::size_t size = kSizes[in.byte() % (sizeof(kSizes) / sizeof(kSizes[0]))];
  if (i == -3) return {};  // no ScopedGroup: the process root; not modelled, skip
  const int charged = m.nearest_online(i);
  const bool large = kind == 2 && size > kMaxSmallSize;
  const u64 large_len = large ? (64 + size + 4095) & ~u64{4095} : 0;
  const u64 need = large ? large_len : kSlab;  // a slab allocation charges at most one slab
  const Prediction pr = predict(m, m.sums(), charged, need, large);
  void* p = nullptr;
  auto f = [&] {
    if (from_current) {
      p = kind <= 1 ? cache(kind).alloc() : kmalloc(size);
    } else {
      const Group& g = m.group(i);
      p = kind <= 1 ? cache(kind).alloc(g) : kmalloc(size, g);
    }
  };
  if (m.on_other && !from_current) other_thread().run(f); else f();
  FZ_TRACE("  alloc kind %d size %zu into %s (charged %s)%s: %p\n", kind, size, m.path(i).c_str(),
           m.path(charged).c_str(), m.on_other && !from_current ? " on the other thread" : "", p);
  OpCtx ctx;
  ctx.kind = OpCtx::kCharge;
  ctx.node = charged;
  ctx.bytes = need;
  ctx.attempt = need <= kBatch ? kBatch : need;  // small charges try a whole batch first
  ctx.failed = !p;
  if (!p) {
    FZ_CHECK(!pr.must_succeed, "allocation (kind %d size %zu) into %s failed although it fits", kind, size,
             m.path(i).c_str());
    return ctx;
  }
  FZ_CHECK(!pr.must_fail, "large kmalloc of %zu (%llu charged) into %s succeeded, but the model's usage leaves no room",
           size, U(large_len), m.path(i).c_str());
  std::uint32_t stride = 0;
  if (kind == 2) {
    FZ_CHECK(ksize(p) >= size && ksize(p) == kmalloc_size_roundup(size), "ksize %zu for %zu (roundup %zu)", ksize(p),
             size, kmalloc_size_roundup(size));
    if (large) FZ_CHECK(ksize(p) == large_len - 64, "large ksize %zu, charged %llu", ksize(p), U(large_len));
  }
  if (!large) stride = static_cast<std::uint32_t>(ksize(p));
  std::memset(p, 0xa5, kind == 0 ? 64 : kind == 1 ? 1000 : size);
  m.objs.push_back(Obj{p, large ? 3 : kind, charged, large_len, stride});
  return ctx;
}

OpCtx write_op(Model& m, Input& in) {
  const int i = m.pick(in, false);
  if (i < 0) return {};
  const int f = in.byte() % 4;
  std::string value;
  const std::uint8_t sel = in.byte();
  if (sel < 200) {
    value = kValues[sel % (sizeof(kValues) / sizeof(kValues[0]))];
  } else {
    value = std::to_string(u64{in.u16()} << (in.byte() % 24));
  }
  if (f == 2) {  // memory.high: throttling sleeps; keep it high or invalid
    u64 v;
    if (ref_parse(value, v) && v < (u64{1} << 30)) value = "1G";
  }
  const std::string file = m.path(i) + "/" + kFiles[f];
  std::error_code rec;
  const std::string before = fs::read(file, rec);
  FZ_CHECK(m.online(i) ? !rec : rec == std::errc::no_such_file_or_directory, "read %s: %s", file.c_str(),
           rec.message().c_str());
  std::error_code ec;
  fs::write(file, value, ec);
  FZ_TRACE("  write '%s' to %s: %s\n", value.c_str(), file.c_str(), ec.message().c_str());
  u64 v = 0;
  const bool valid = ref_parse(value, v);
  u64 lib_v = 0;
  FZ_CHECK(fs::parse_bytes(value, lib_v) == valid && (!valid || lib_v == v), "parse_bytes disagrees on '%s'",
           value.c_str());
  if (!m.online(i)) {
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "write to removed %s: %s", file.c_str(), ec.message().c_str());
    return {};
  }
  if (!valid) {
    FZ_CHECK(ec == std::errc::invalid_argument, "write '%s' to %s: %s (want EINVAL)", value.c_str(), file.c_str(),
             ec.message().c_str());
    FZ_CHECK(fs::read(file) == before, "invalid write changed %s", file.c_str());
    return {};
  }
  FZ_CHECK(!ec, "write '%s' to %s: %s", value.c_str(), file.c_str(), ec.message().c_str());
  const std::string after = fs::read(file);
  FZ_CHECK(after == fs::format_limit(v) + "\n" && after == ref_limit_text(v), "%s reads '%s' after writing '%s'",
           file.c_str(), after.c_str(), value.c_str());
  limit_ref(m.nodes[i].lim, f) = v;
  FZ_CHECK(limit_of(m.nodes[i].g, f) == v, "%s: API reads %llu after writing %llu", file.c_str(),
           U(limit_of(m.nodes[i].g, f)), U(v));
  OpCtx ctx;
  if (f == 3) {
    ctx.kind = OpCtx::kSetMax;
    ctx.node = i;
    ctx.bytes = v;
  } else if (f == 2) {
    ctx.kind = OpCtx::kReclaim;  // a high below usage reclaims (never below 1G here)
  }
  return ctx;
}

OpCtx reservation_make(Model& m, Input& in) {
  const int i = m.pick(in);
  const u64 bytes = u64{in.u16()} << (in.byte() % 10);
  Prediction pr;
  if (m.online(i)) pr = predict(m, m.sums(), i, bytes, true);
  std::error_code ec;
  Reservation r = Reservation::make(m.group(i), bytes, ec);
  FZ_TRACE("  reservation of %llu at %s: %s\n", U(bytes), m.path(i).c_str(), ec.message().c_str());
  if (!m.online(i)) {
    FZ_CHECK(!r && ec == std::errc::no_such_file_or_directory, "reservation on removed group: %s",
             ec.message().c_str());
    return {};
  }
  if (pr.must_succeed)
    FZ_CHECK(r && !ec, "reservation of %llu at %s failed although it fits: %s", U(bytes), m.path(i).c_str(),
             ec.message().c_str());
  if (pr.must_fail)
    FZ_CHECK(!r, "reservation of %llu at %s succeeded, but the model's usage leaves no room", U(bytes),
             m.path(i).c_str());
  if (!r) FZ_CHECK(ec == std::errc::not_enough_memory, "failed reservation: %s (want ENOMEM)", ec.message().c_str());
  OpCtx ctx;
  ctx.kind = OpCtx::kCharge;
  ctx.node = i;
  ctx.bytes = bytes;
  ctx.attempt = bytes <= kBatch ? kBatch : bytes;
  ctx.failed = !r;
  if (bytes == 0) ctx.attempt = 0;  // no charge at all
  if (r) {
    FZ_CHECK(!ec && r.size() == bytes, "size %llu, want %llu", U(r.size()), U(bytes));
    FZ_CHECK(r.group() == m.group(i), "reservation group");
    m.res.push_back(Res{std::move(r), i, bytes});
  }
  return ctx;
}

OpCtx reservation_change(Model& m, Input& in) {
  if (m.res.empty()) return {};
  const std::size_t idx = in.u16() % m.res.size();
  Res& r = m.res[idx];
  const std::uint8_t how = in.byte() % 3;
  const u64 bytes = u64{in.u16()} << (in.byte() % 10);
  const u64 old = r.r.size();
  FZ_TRACE("  reservation %zu at %s (%llu): %s %llu\n", idx, m.path(r.node).c_str(), U(old),
           how == 0 ? "grow" : how == 1 ? "shrink" : "reset", U(bytes));
  if (how == 0) {
    if (!m.online(r.node)) {
      const bool ok = r.r.grow(bytes);
      FZ_CHECK(!ok && r.r.size() == old, "grow of a removed group's reservation succeeded");
      return {};
    }
    const Prediction pr = predict(m, m.sums(), r.node, bytes, true);
    const bool ok = r.r.grow(bytes);
    if (pr.must_succeed) FZ_CHECK(ok, "grow by %llu at %s failed although it fits", U(bytes), m.path(r.node).c_str());
    if (pr.must_fail)
      FZ_CHECK(!ok, "grow by %llu at %s succeeded, but the model's usage leaves no room", U(bytes),
               m.path(r.node).c_str());
    FZ_CHECK(r.r.size() == (ok ? old + bytes : old), "size after grow");
    if (ok) r.size += bytes;
    OpCtx ctx;
    ctx.kind = OpCtx::kCharge;
    ctx.node = r.node;
    ctx.bytes = bytes;
    ctx.attempt = bytes == 0 ? 0 : bytes <= kBatch ? kBatch : bytes;
    ctx.failed = !ok;  // a refusal at a limit: checked through the max event
    return ctx;
  }
  if (how == 1) {
    r.r.shrink(bytes);
    r.size = bytes >= old ? 0 : old - bytes;
    FZ_CHECK(r.r.size() == r.size, "size after shrink");
    return {};
  }
  r.r.reset();
  FZ_CHECK(r.r.size() == 0 && !r.r, "size after reset");
  FZ_CHECK(!r.r.grow(1), "an empty (reset) reservation grew");
  m.res.erase(m.res.begin() + static_cast<std::ptrdiff_t>(idx));  // empty now: it has no group
  return {};
}

// After a reclaim that came out short: its last attempt flushed every
// magazine of the subtree and released every empty slab there.
void check_short_reclaim(const Model& m, int i) {
  ++g_stats.reclaims_short;
  const Sums s = m.sums();
  const u64 slab = m.group(i).stat().slab();
  FZ_CHECK(slab <= s.slab_objs[i + 1] * kSlab, "%s: short reclaim left slab %llu with %llu live objects",
           m.path(i).c_str(), U(slab), U(s.slab_objs[i + 1]));
}

OpCtx reclaim_op(Model& m, Input& in) {
  const int i = m.pick(in);
  const u64 bytes = u64{in.u16()} << 6;
  const u64 before = m.group(i).current(), pgsteal = m.group(i).stat().pgsteal;
  ++g_stats.reclaims;
  std::error_code ec;
  const u64 got = m.group(i).reclaim(bytes, ec);
  const u64 after = m.group(i).current();
  FZ_CHECK(m.group(i).stat().pgsteal == pgsteal + got, "reclaim at %s got %llu, pgsteal %llu -> %llu",
           m.path(i).c_str(), U(got), U(pgsteal), U(m.group(i).stat().pgsteal));
  FZ_TRACE("  reclaim %llu at %s: got %llu, current %llu -> %llu\n", U(bytes), m.path(i).c_str(), U(got), U(before),
           U(after));
  FZ_CHECK(got < bytes ? ec == std::errc::resource_unavailable_try_again : !ec,
           "reclaim of %llu at %s got %llu: '%s'", U(bytes), m.path(i).c_str(), U(got), ec.message().c_str());
  FZ_CHECK(after <= before && got >= before - after, "reclaim at %s: current %llu -> %llu but got %llu",
           m.path(i).c_str(), U(before), U(after), U(got));
  if (!m.online(i)) FZ_CHECK(got == 0, "reclaim of a removed group got %llu", U(got));
  else if (got < bytes) check_short_reclaim(m, i);
  OpCtx ctx;
  ctx.kind = OpCtx::kReclaim;
  return ctx;
}

OpCtx fs_reclaim_op(Model& m, Input& in) {
  const int i = m.pick(in);
  const std::uint8_t sel = in.byte();
  std::string value = sel < 128 ? kValues[sel % (sizeof(kValues) / sizeof(kValues[0]))]
                                : std::to_string(u64{in.u16()} << (sel % 12));
  u64 v = 0;
  const bool valid = ref_parse(value, v) && v != unlimited;
  std::error_code ec;
  fs::write(m.path(i) + "/memory.reclaim", value, ec);
  if (!m.online(i)) {  // the path no longer resolves
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "memory.reclaim of removed: %s", ec.message().c_str());
    return {};
  }
  if (!valid) {
    FZ_CHECK(ec == std::errc::invalid_argument, "memory.reclaim '%s': %s (want EINVAL)", value.c_str(),
             ec.message().c_str());
    return {};
  }
  FZ_CHECK(!ec || ec == std::errc::resource_unavailable_try_again, "memory.reclaim '%s': %s", value.c_str(),
           ec.message().c_str());
  if (ec) check_short_reclaim(m, i);
  OpCtx ctx;
  ctx.kind = OpCtx::kReclaim;
  return ctx;
}

void read_op(Model& m, Input& in) {
  const int i = m.pick(in);
  const std::string f = kReadFiles[in.byte() % (sizeof(kReadFiles) / sizeof(kReadFiles[0]))];
  const std::string p = m.path(i) + "/" + f;
  std::error_code ec;
  const std::string s = fs::read(p, ec);
  if (f == "x") {
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "read of a missing group: %s", ec.message().c_str());
    return;
  }
  if (!m.online(i)) {
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "read of removed group: %s", ec.message().c_str());
    return;
  }
  if (f == "memory.nope" || f == "cgroup.procs") {
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "read of an unknown file: %s", ec.message().c_str());
    return;
  }
  if (f == "memory.reclaim") {
    FZ_CHECK(ec == std::errc::permission_denied, "read of write-only memory.reclaim: %s", ec.message().c_str());
    return;
  }
  FZ_CHECK(!ec && !s.empty() && s.back() == '\n', "read %s: %s", p.c_str(), ec.message().c_str());
  ++g_stats.file_reads;
  const Group& g = m.group(i);
  const Limits lim = m.lim(i);
  if (f == "memory.current") {
    FZ_CHECK(s == std::to_string(g.current()) + "\n", "%s reads '%s', current %llu", p.c_str(), s.c_str(),
             U(g.current()));
  } else if (f == "memory.peak") {
    FZ_CHECK(s == std::to_string(g.peak()) + "\n" && g.peak() >= g.current(), "%s reads '%s', peak %llu", p.c_str(),
             s.c_str(), U(g.peak()));
  } else if (f == "memory.min" || f == "memory.low" || f == "memory.high" || f == "memory.max") {
    const u64 want = f == "memory.min" ? lim.min : f == "memory.low" ? lim.low : f == "memory.high" ? lim.high : lim.max;
    FZ_CHECK(s == ref_limit_text(want), "%s reads '%s', model %llu", p.c_str(), s.c_str(), U(want));
  } else if (f == "memory.events" || f == "memory.events.local") {
    const Events e = f == "memory.events" ? g.events() : g.events_local();
    const std::string want = "low " + std::to_string(e.low) + "\nhigh " + std::to_string(e.high) + "\nmax " +
                             std::to_string(e.max) + "\noom " + std::to_string(e.oom) + "\noom_kill " +
                             std::to_string(e.oom_kill) + "\n";
    FZ_CHECK(s == want, "%s reads '%s', want '%s'", p.c_str(), s.c_str(), want.c_str());
  } else if (f == "memory.stat") {
    const Sums sm = m.sums();
    const auto res = field(s, "reservations"), large = field(s, "kmalloc_large"), sr = field(s, "slab_reclaimable"),
               su = field(s, "slab_unreclaimable"), slab = field(s, "slab"), stock = field(s, "stock");
    FZ_CHECK(res && large && sr && su && slab && stock && field(s, "stock_drains") && field(s, "pgscan") &&
                 field(s, "pgsteal"),
             "%s: malformed '%s'", p.c_str(), s.c_str());
    FZ_CHECK(*res == sm.res[i + 1] && *large == sm.large[i + 1] && *slab == *sr + *su && *slab >= sm.slab_lb[i + 1] &&
                 *res + *large + *slab + *stock == g.current(),
             "%s reads '%s'; model reservations %llu large %llu slab >= %llu, current %llu", p.c_str(), s.c_str(),
             U(sm.res[i + 1]), U(sm.large[i + 1]), U(sm.slab_lb[i + 1]), U(g.current()));
  } else if (f == "cgroup.stat") {
    u64 desc = 0, dying = 0;
    for (int j = 0; j < m.n(); ++j) {
      if (j == i || !m.is_desc(j, i)) continue;
      if (m.nodes[j].online) ++desc; else ++dying;
    }
    const std::string want =
        "nr_descendants " + std::to_string(desc) + "\nnr_dying_descendants " + std::to_string(dying) + "\n";
    FZ_CHECK(s == want, "%s reads '%s', want '%s'", p.c_str(), s.c_str(), want.c_str());
  } else if (f == "memory.kmem.slabinfo") {
    // Header (2 lines), then one line per child cache charging this group.
    std::size_t pos = 0;
    for (int h = 0; h < 2; ++h) {
      pos = s.find('\n', pos);
      FZ_CHECK(pos != std::string::npos, "%s: no header", p.c_str());
      ++pos;
    }
    FZ_CHECK(s.rfind("slabinfo - version: 2.1\n", 0) == 0, "%s: header '%s'", p.c_str(), s.c_str());
    u64 slab_bytes = 0;
    std::vector<std::pair<std::string, u64>> inuse;  // by cache name
    while (pos < s.size()) {
      const std::size_t eol = s.find('\n', pos);
      const std::string line = s.substr(pos, eol - pos);
      pos = eol + 1;
      char name[80];
      unsigned long long active, num, objsize, perslab, pages, lim_, batch, shared, aslabs, nslabs, avail;
      const int got = std::sscanf(line.c_str(),
                                  "%79s %llu %llu %llu %llu %llu : tunables %llu %llu %llu : slabdata %llu %llu %llu",
                                  name, &active, &num, &objsize, &perslab, &pages, &lim_, &batch, &shared, &aslabs,
                                  &nslabs, &avail);
      FZ_CHECK(got == 12, "%s: malformed line '%s'", p.c_str(), line.c_str());
      FZ_CHECK(num == nslabs * perslab && perslab * objsize <= kSlab && pages * 4096 == kSlab && aslabs <= nslabs &&
                   active <= num,
               "%s: inconsistent line '%s'", p.c_str(), line.c_str());
      slab_bytes += nslabs * kSlab;
      auto it = std::find_if(inuse.begin(), inuse.end(), [&](auto& e) { return e.first == name; });
      if (it == inuse.end()) inuse.emplace_back(name, active); else it->second += active;
    }
    // The group's own slab bytes: its memory.stat slab minus its children's.
    u64 own = g.stat().slab();
    for (auto& n : m.nodes)
      if (n.parent == i) own -= n.g.stat().slab();
    FZ_CHECK(slab_bytes == own, "%s: slabinfo counts %llu slab bytes, memory.stat says %llu of its own", p.c_str(),
             U(slab_bytes), U(own));
    // Live objects whose cache now charges this group are counted in use.
    std::vector<std::pair<std::string, u64>> want;
    for (auto& o : m.objs) {
      if (o.kind == 3 || m.nearest_online(o.charged) != i) continue;
      const std::string name = o.kind <= 1 ? kCacheNames[o.kind] : "kmalloc-" + std::to_string(o.stride);
      auto it = std::find_if(want.begin(), want.end(), [&](auto& e) { return e.first == name; });
      if (it == want.end()) want.emplace_back(name, 1); else ++it->second;
    }
    for (auto& w : want) {
      auto it = std::find_if(inuse.begin(), inuse.end(), [&](auto& e) { return e.first == w.first; });
      FZ_CHECK(it != inuse.end() && it->second >= w.second, "%s: %s in use %llu, model has %llu live", p.c_str(),
               w.first.c_str(), U(it == inuse.end() ? 0 : it->second), U(w.second));
    }
  }
}

// Cache::shrink of both caches after both threads flushed their magazines:
// only slabs holding live objects remain in them.
void shrink_op(Model& m) {
  ++g_stats.shrinks;
  quiesce_both();
  cache(0).shrink();
  cache(1).shrink();
  detail::worker::flush();
  const Sums s = m.sums();
  for (int i = -1; i < m.n(); ++i) {
    const Stat st = m.group(i).stat();
    FZ_CHECK(st.slab_reclaimable >= s.big_lb[i + 1] && st.slab_reclaimable <= s.big_objs[i + 1] * kSlab,
             "%s: after Cache::shrink slab_reclaimable %llu, model [%llu, %llu]", m.path(i).c_str(),
             U(st.slab_reclaimable), U(s.big_lb[i + 1]), U(s.big_objs[i + 1] * kSlab));
  }
}

// The reference count of a group (internal): handles + children + ...
u64 refs(const Group& g) { return detail::Access::impl(g)->ref.load() & detail::GroupImpl::kCountMask; }

void finish_input(Model& m, u64 root_before) {
  checkpoint(m);
  // Release everything.
  m.scoped.reset();
  m.scoped_node = -2;
  while (!m.objs.empty()) do_free(m, m.objs.size() - 1);
  m.res.clear();
  after_op(m, OpCtx{});
  shrink_op(m);  // slab_reclaimable is 0 everywhere now
  // Remove every group, children first (created after their parents): an
  // empty removed group holds nothing.
  for (int i = m.n() - 1; i >= 0; --i) {
    if (!m.nodes[i].online) continue;
    std::error_code ec;
    m.nodes[i].g.remove(ec);
    FZ_CHECK(!ec, "final remove %s: %s", m.path(i).c_str(), ec.message().c_str());
    m.nodes[i].online = false;
  }
  after_op(m, OpCtx{});
  for (int i = 0; i < m.n(); ++i)
    FZ_CHECK(m.nodes[i].g.current() == 0, "removed %s holds %llu with nothing live", m.path(i).c_str(),
             U(m.nodes[i].g.current()));
  // What the top still holds are empty slabs of its own kmalloc caches.
  std::error_code ec;
  if (const u64 cur = m.top.current()) m.top.reclaim(cur, ec);
  after_op(m, OpCtx{OpCtx::kReclaim});
  FZ_CHECK(m.top.current() == 0, "%s holds %llu with nothing live after reclaim", m.top_path.c_str(),
           U(m.top.current()));
  m.top.remove();
  FZ_CHECK(Group::root().current() == root_before, "root current %llu, before the input %llu",
           U(Group::root().current()), U(root_before));
  fs::list(m.top_path, ec);
  FZ_CHECK(ec == std::errc::no_such_file_or_directory, "removed group still listed");
  // No reference leaked: each group is held by our handle and its children
  // (and by the children made outside the model until the RCU frees them).
  detail::worker::flush();
  for (int i = -1; i < m.n(); ++i) {
    u64 kids = 0;
    for (auto& n : m.nodes) kids += n.parent == i;
    const u64 ghosts = static_cast<u64>(i < 0 ? m.top_ghosts : m.nodes[i].ghosts);
    const Group& g = m.group(i);
    FZ_CHECK(refs(g) >= 1 + kids && refs(g) <= 1 + kids + ghosts && detail::Access::impl(g)->pins.load() == 0 &&
                 g.state() == GroupState::dying,
             "%s: %llu references (want 1 + %llu children + up to %llu not yet freed), %llu pins, state %s",
             m.path(i).c_str(), U(refs(g)), U(kids), U(ghosts), U(detail::Access::impl(g)->pins.load()), to_string(g.state()));
  }
  m.nodes.clear();
  m.top = Group();
}

void run_input(const std::uint8_t* data, std::size_t size) {
  static u64 seq = 0;
  Input in{data, size};
  Model m;
  m.top_path = "/fz" + std::to_string(seq++);
  const u64 root_before = Group::root().current();
  fs::mkdir(m.top_path);
  m.top = Group::open(m.top_path);
  m.top_seen = Seen{m.top.current(), m.top.peak(), m.top.failcnt(), m.top.events(), m.top.events_local()};
  while (!in.empty()) {
    const std::uint8_t op = in.byte() % 22;
    FZ_TRACE("op %d (%zu bytes left)\n", op, in.n);
    OpCtx ctx;
    switch (op) {
      case 0: case 1: {  // mkdir
        const int parent = m.pick(in);
        const std::string name = kNames[in.byte() % (sizeof(kNames) / sizeof(kNames[0]))];
        if (m.n() >= kMaxNodes) break;
        const std::string path = m.path(parent) + "/" + name;
        std::error_code ec;
        fs::mkdir(path, ec);
        if (!valid_name(name)) {
          // A removed parent may be reported first.
          FZ_CHECK(ec == std::errc::invalid_argument ||
                       (!m.online(parent) && ec == std::errc::no_such_file_or_directory),
                   "mkdir of bad name '%s': %s", path.c_str(), ec.message().c_str());
          break;
        }
        bool dup = false, reused = false;
        for (auto& n : m.nodes) {
          if (n.parent != parent || n.name != name) continue;
          if (n.online) dup = true; else reused = true;
        }
        // The model never reuses a removed group's path: paths then name
        // exactly one model node (a removed node's path is gone for good).
        if (reused && !dup) {
          if (!ec) {
            fs::rmdir(path);
            ++(parent < 0 ? m.top_ghosts : m.nodes[parent].ghosts);  // holds a reference on parent until freed
          }
          break;
        }
        if (!m.online(parent)) {
          FZ_CHECK(ec == std::errc::no_such_file_or_directory, "mkdir %s under removed: %s", path.c_str(),
                   ec.message().c_str());
        } else if (dup) {
          FZ_CHECK(ec == std::errc::file_exists, "mkdir %s duplicate: %s", path.c_str(), ec.message().c_str());
        } else {
          FZ_CHECK(!ec, "mkdir %s: %s", path.c_str(), ec.message().c_str());
          Node n;
          n.g = Group::open(path);
          n.parent = parent;
          n.name = name;
          FZ_CHECK(n.g.current() == 0 && n.g.peak() == 0 && n.g.failcnt() == 0, "new group %s not empty",
                   path.c_str());
          m.nodes.push_back(std::move(n));
        }
        break;
      }
      case 2: {  // rmdir
        const int i = m.pick(in, false);
        if (i < 0) break;
        std::error_code ec;
        fs::rmdir(m.path(i), ec);
        if (!m.nodes[i].online) {
          FZ_CHECK(ec == std::errc::no_such_file_or_directory, "rmdir removed %s: %s", m.path(i).c_str(),
                   ec.message().c_str());
        } else if (m.has_online_children(i)) {
          FZ_CHECK(ec == std::errc::device_or_resource_busy, "rmdir %s with children: %s", m.path(i).c_str(),
                   ec.message().c_str());
        } else {
          FZ_CHECK(!ec, "rmdir %s: %s", m.path(i).c_str(), ec.message().c_str());
          m.nodes[i].online = false;
          FZ_CHECK(m.nodes[i].g.stat().stock == 0, "a removed group's bytes are still in a stock");
        }
        break;
      }
      case 3: case 4: ctx = write_op(m, in); break;
      case 5: case 6: ctx = alloc_op(m, in, false); break;
      case 7: ctx = alloc_op(m, in, true); break;
      case 8: case 9:
        if (!m.objs.empty()) do_free(m, in.u16() % m.objs.size());
        break;
      case 10: ctx = reservation_make(m, in); break;
      case 11: ctx = reservation_change(m, in); break;
      case 12: ctx = reclaim_op(m, in); break;
      case 13: read_op(m, in); break;
      case 14: {  // ScopedGroup switch
        const int i = m.pick(in);
        m.scoped.reset();
        m.scoped.emplace(m.group(i));
        m.scoped_node = i;
        FZ_CHECK(current_group() == m.group(i), "current_group");
        break;
      }
      case 15: m.on_other = !m.on_other; break;
      case 16: checkpoint(m); break;
      case 17: {  // memory.peak reset, list of a maybe-removed group
        const int i = m.pick(in, false);
        if (i < 0) break;
        std::error_code ec;
        fs::write(m.path(i) + "/memory.peak", "0", ec);
        FZ_CHECK(m.online(i) ? !ec : ec == std::errc::no_such_file_or_directory, "peak write: %s",
                 ec.message().c_str());
        if (!ec) ctx.peak_reset = i;
        fs::list(m.path(i), ec);
        FZ_CHECK(m.online(i) ? !ec : ec == std::errc::no_such_file_or_directory, "list: %s", ec.message().c_str());
        break;
      }
      case 18: {  // set a limit through the API on a maybe-removed group
        const int i = m.pick(in, false);
        if (i < 0) break;
        std::error_code ec;
        const u64 v = u64{in.u16()} << 8;
        m.nodes[i].g.set_max(v, ec);
        FZ_CHECK(m.online(i) ? !ec : ec == std::errc::no_such_file_or_directory, "set_max: %s", ec.message().c_str());
        if (!ec) {
          m.nodes[i].lim.max = v;
          ctx.kind = OpCtx::kSetMax;
          ctx.node = i;
          ctx.bytes = v;
        }
        break;
      }
      case 19: {  // free everything charged to one group (the reference model's bulk release)
        const int i = m.pick(in);
        for (std::size_t k = 0; k < m.objs.size();)
          if (m.is_desc(m.objs[k].charged, i)) do_free(m, k); else ++k;
        break;
      }
      case 20: shrink_op(m); break;
      case 21: ctx = fs_reclaim_op(m, in); break;
    }
    after_op(m, ctx);
  }
  finish_input(m, root_before);
}

u64 g_baseline = 0;  // groups allocated before the first input (the root)

// Waits for every deferred free and requires every group of every input freed.
void check_all_groups_freed(const char* when) {
  ++g_stats.barriers;
  memcg::barrier();
  const auto rs = memcg::detail::runtime_stats();
  FZ_CHECK(rs.groups_allocated == g_baseline, "groups not freed %s: %llu allocated, baseline %llu", when,
           U(rs.groups_allocated), U(g_baseline));
}

}  // namespace

// Groups are freed after an RCU grace period, on the library's threads, so an
// input ends with more mallocs than frees; libFuzzer's per-mutation leak
// check (-detect_leaks, on by default under ASan) then re-runs every input
// and scans the heap, which cut executions per second by ~10x. It is turned
// off here unless given on the command line: group leaks are checked exactly
// by the model (reference counts at the end of every input, and every group
// freed at exit and every kBarrierEvery inputs), and LeakSanitizer still runs
// at exit (ASAN_OPTIONS=detect_leaks=1 in scripts/fuzz.sh).
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  for (int i = 1; i < *argc; ++i)
    if (std::strncmp((*argv)[i], "-detect_leaks=", 14) == 0) return 0;
  static std::vector<char*> args;
  args.assign(*argv, *argv + *argc);
  static char flag[] = "-detect_leaks=0";
  args.insert(args.begin() + 1, flag);
  args.push_back(nullptr);
  *argc += 1;
  *argv = args.data();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Waiting for the RCU frees costs ~10 ms per tree level (urcu's call_rcu
  // thread batches): done for the first input (a reproducer is checked in
  // full), every kBarrierEvery inputs and at exit.
  constexpr u64 kBarrierEvery = 128;
  static u64 inputs = 0;
  static const bool init = [] {
    cache(0);
    other_thread();
    memcg::barrier();
    g_baseline = memcg::detail::runtime_stats().groups_allocated;
    std::atexit([] {
      check_all_groups_freed("at exit");
      if (std::getenv("FZ_STATS"))
        std::fprintf(stderr,
                     "ops_fuzzer stats: charges %llu (failed %llu), predicted must-succeed %llu must-fail %llu "
                     "(stock-excused %llu), set_max oom %llu, reclaims %llu (short %llu), file reads %llu, "
                     "shrinks %llu, checkpoints %llu, barriers %llu\n",
                     U(g_stats.charges), U(g_stats.charges_failed), U(g_stats.must_succeed), U(g_stats.must_fail),
                     U(g_stats.stock_excused), U(g_stats.set_max_oom), U(g_stats.reclaims), U(g_stats.reclaims_short),
                     U(g_stats.file_reads), U(g_stats.shrinks), U(g_stats.checkpoints), U(g_stats.barriers));
    });
    return true;
  }();
  (void)init;
  if (size > 4096) return -1;  // keep inputs short: the model is quadratic
  run_input(data, size);
  quiesce_both();
  if (inputs++ % kBarrierEvery == 0) check_all_groups_freed("after the input");
  return 0;
}
