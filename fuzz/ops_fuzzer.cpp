// libFuzzer target: decodes its input into a sequence of operations on a
// small group tree and checks every result against a reference model.
//
// Operations: mkdir, rmdir (memcg::fs, valid and invalid names), limit writes
// through fs::write (valid and invalid values), Cache::alloc(group) and
// kmalloc (small and large), frees (on the fuzzing thread or on a second
// thread driven in lockstep: cross-thread frees), Reservation make / grow /
// shrink / reset, Group::reclaim, fs::read/list, ScopedGroup switches and
// allocation from the current group, explicit checkpoints.
//
// The model knows which groups exist and are online, their limits, and the
// bytes the fuzzer holds per group (reservations, large kmallocs). Checked:
//   - every fs error is the documented one; a malformed value is EINVAL and
//     changes nothing (the value read back is unchanged); a valid one reads
//     back as format_limit(parse(value)) (reference parser below)
//   - an allocation / reservation that fits under every ancestor's max (from
//     the usages read just before; stocks are drained on failure, so they
//     never make a fitting charge fail) succeeds; one larger than some
//     ancestor's max fails with ENOMEM; a removed group's reservation ENOENT
//   - at each checkpoint, after both threads drained their stocks and
//     magazines: for each online group memory.current == reservations + slab
//     + kmalloc_large (memory.stat), reservations and kmalloc_large equal the
//     model's sums over the subtree, memory.current <= memory.max unless max
//     was lowered below usage, memory.events counters never decrease,
//     nr_descendants and fs::list match the model's online children, removed
//     groups are absent from fs::list
//   - at the end of each input everything is released and removed, and every
//     group is freed (runtime_stats().groups_allocated back to its baseline)
// A violated check aborts (libFuzzer then saves the input).
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
#include "memcg/memcg.hpp"
#include "slab/slab_internal.hpp"

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

Cache& cache(int i) {
  static Cache* cs = [] {
    auto* a = new Cache[2];
    a[0] = Cache::create("fz-small", 64);
    a[1] = Cache::create("fz-big", 1000, CacheOptions{.reclaimable = true});
    return a;
  }();
  return cs[i];
}

// ---- reference parser (independent of src/fs/parse.cpp) ---------------------
bool ref_parse(const std::string& text, std::uint64_t& out) {
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
  out = static_cast<std::uint64_t>(v);
  return true;
}

// ---- the model ------------------------------------------------------------
struct Node {
  Group g;
  int parent = -1;  // -1: the test root
  std::string name;
  bool online = true;
  bool max_below_usage = false;  // max was written below usage: current may exceed it
  Events last_events{};
};

struct Obj {
  void* p;
  int kind;        // 0: cache 0, 1: cache 1, 2: kmalloc small, 3: kmalloc large
  int charged;     // node index (kind 3: the nearest online ancestor at alloc time)
  std::uint64_t large_len;
};

struct Res {
  Reservation r;
  int node;
};

constexpr int kMaxNodes = 12;

struct Model {
  Group top;           // the subtree root of this input (node -1)
  std::string top_path;
  std::vector<Node> nodes;
  std::vector<Obj> objs;
  std::vector<Res> res;
  std::optional<ScopedGroup> scoped;
  int scoped_node = -2;  // -2: none (root of the process)
  bool on_other = false; // allocations and frees on the other thread

  const Group& group(int i) const { return i < 0 ? top : nodes[i].g; }
  std::string path(int i) const { return i < 0 ? top_path : path(nodes[i].parent) + "/" + nodes[i].name; }
  bool online(int i) const { return i < 0 || nodes[i].online; }
  bool is_desc(int i, int anc) const {  // i in anc's subtree (anc -1: everything)
    for (int x = i; ; x = nodes[x].parent) {
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
    const int n = static_cast<int>(nodes.size()) + (include_top ? 1 : 0);
    if (n == 0) return -1;
    int v = in.byte() % n;
    return include_top ? v - 1 : v;
  }
  // Would `bytes` charged at node i fit under every max up to the process root?
  bool fits(int i, std::uint64_t bytes) const {
    for (Group g = group(nearest_online(i)); g; g = g.parent()) {
      const std::uint64_t cur = g.current(), max = g.max();
      if (max == unlimited) continue;
      if (cur > max || max - cur < bytes) return false;
    }
    return true;
  }
  bool exceeds_some_max(int i, std::uint64_t bytes) const {
    for (Group g = group(nearest_online(i)); g; g = g.parent())
      if (g.max() != unlimited && bytes > g.max()) return true;
    return false;
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
                                  "cgroup.stat", "memory.kmem.slabinfo", "memory.nope", "cgroup.procs", "x"};
const char* const kNames[] = {"a", "b", "c", "sp ace", "d", "", ".", "..", "memory.x", "cgroup.y", "bad\x01", "tab\tname"};
constexpr std::size_t kSizes[] = {1, 8, 24, 100, 512, 1000, 4096, 8192, 8193, 70000, 300000};

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
  for (unsigned char c : s)
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  return s.rfind("memory.", 0) != 0 && s.rfind("cgroup.", 0) != 0;
}

void checkpoint(Model& m) {
  quiesce_this_thread();
  other_thread().run(quiesce_this_thread);
  for (int i = -1; i < static_cast<int>(m.nodes.size()); ++i) {
    if (!m.online(i)) continue;
    const Group& g = m.group(i);
    const Stat st = g.stat();
    std::uint64_t res = 0, large = 0;
    for (auto& r : m.res)
      if (m.is_desc(r.node, i)) res += r.r.size();
    for (auto& o : m.objs)
      if (o.kind == 3 && m.is_desc(o.charged, i)) large += o.large_len;
    const std::uint64_t cur = g.current();
    FZ_CHECK(st.stock == 0, "%s stock %llu after draining both threads", m.path(i).c_str(), (unsigned long long)st.stock);
    FZ_CHECK(st.reservations == res, "%s reservations %llu model %llu", m.path(i).c_str(),
             (unsigned long long)st.reservations, (unsigned long long)res);
    FZ_CHECK(st.kmalloc_large == large, "%s kmalloc_large %llu model %llu", m.path(i).c_str(),
             (unsigned long long)st.kmalloc_large, (unsigned long long)large);
    FZ_CHECK(cur == st.reservations + st.slab() + st.kmalloc_large, "%s current %llu != res %llu + slab %llu + large %llu",
             m.path(i).c_str(), (unsigned long long)cur, (unsigned long long)st.reservations,
             (unsigned long long)st.slab(), (unsigned long long)st.kmalloc_large);
    if (i >= 0) {
      Node& n = m.nodes[i];
      if (cur <= g.max()) n.max_below_usage = false;
      FZ_CHECK(cur <= g.max() || n.max_below_usage, "%s current %llu > max %llu", m.path(i).c_str(),
               (unsigned long long)cur, (unsigned long long)g.max());
      const Events e = g.events();
      FZ_CHECK(e.low >= n.last_events.low && e.high >= n.last_events.high && e.max >= n.last_events.max &&
                   e.oom >= n.last_events.oom && e.oom_kill >= n.last_events.oom_kill,
               "%s events went backwards", m.path(i).c_str());
      n.last_events = e;
    }
    // Online children: cgroup.stat and fs::list agree with the model.
    std::uint64_t desc = 0;
    std::vector<std::string> kids;
    for (int j = 0; j < static_cast<int>(m.nodes.size()); ++j) {
      if (!m.nodes[j].online || j == i || !m.is_desc(j, i)) continue;
      ++desc;
      if (m.nodes[j].parent == i) kids.push_back(m.nodes[j].name + "/");
    }
    FZ_CHECK(g.nr_descendants() == desc, "%s nr_descendants %llu model %llu", m.path(i).c_str(),
             (unsigned long long)g.nr_descendants(), (unsigned long long)desc);
    const std::string cs = fs::read(m.path(i) + "/cgroup.stat");
    FZ_CHECK(cs.rfind("nr_descendants " + std::to_string(desc) + "\n", 0) == 0, "%s cgroup.stat: %s",
             m.path(i).c_str(), cs.c_str());
    std::vector<std::string> listed;
    for (auto& e : fs::list(m.path(i)))
      if (!e.empty() && e.back() == '/') listed.push_back(e);
    std::sort(kids.begin(), kids.end());
    FZ_CHECK(listed == kids, "%s: fs::list children differ from the model (%zu vs %zu)", m.path(i).c_str(),
             listed.size(), kids.size());
  }
}

void do_free(Model& m, std::size_t idx) {
  Obj o = m.objs[idx];
  m.objs[idx] = m.objs.back();
  m.objs.pop_back();
  auto f = [o] {
    if (o.kind <= 1) Cache::free(o.p); else kfree(o.p);
  };
  if (m.on_other) other_thread().run(f); else f();
}

void alloc_op(Model& m, Input& in, bool from_current) {
  int i = from_current ? (m.scoped_node == -2 ? -3 : m.scoped_node) : m.pick(in);
  const int kind = in.byte() % 3;
  std::size_t size = kSizes[in.byte() % (sizeof(kSizes) / sizeof(kSizes[0]))];
  if (i == -3) {  // no ScopedGroup: the process root; not modelled, skip
    return;
  }
  const int charged = m.nearest_online(i);
  std::uint64_t need;
  int okind = kind;
  std::uint64_t large_len = 0;
  if (kind == 2 && size > kMaxSmallSize) {
    okind = 3;
    large_len = (64 + size + 4095) & ~std::uint64_t{4095};
    need = large_len;
  } else {
    need = 64 * 1024;  // at most one new slab
  }
  const bool fits = m.fits(i, need);
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
  if (!p) {
    FZ_CHECK(!fits, "allocation (kind %d size %zu) into %s failed although it fits", kind, size, m.path(i).c_str());
    return;
  }
  if (kind == 2) FZ_CHECK(ksize(p) >= size, "ksize %zu < %zu", ksize(p), size);
  std::memset(p, 0xa5, kind == 0 ? 64 : kind == 1 ? 1000 : size);
  m.objs.push_back(Obj{p, okind, charged, large_len});
}

void write_op(Model& m, Input& in) {
  const int i = m.pick(in, false);
  if (i < 0) return;
  const int f = in.byte() % 4;
  std::string value;
  const std::uint8_t sel = in.byte();
  if (sel < 200) {
    value = kValues[sel % (sizeof(kValues) / sizeof(kValues[0]))];
  } else {
    value = std::to_string(std::uint64_t{in.u16()} << (in.byte() % 24));
  }
  if (f == 2) {  // memory.high: throttling sleeps; keep it high or invalid
    std::uint64_t v;
    if (ref_parse(value, v) && v < (std::uint64_t{1} << 30)) value = "1G";
  }
  const std::string file = m.path(i) + "/" + kFiles[f];
  std::error_code rec;
  const std::string before = fs::read(file, rec);
  FZ_CHECK(m.online(i) ? !rec : rec == std::errc::no_such_file_or_directory, "read %s: %s", file.c_str(),
           rec.message().c_str());
  std::error_code ec;
  const std::uint64_t usage = m.group(i).current();
  fs::write(file, value, ec);
  std::uint64_t v = 0;
  const bool valid = ref_parse(value, v);
  std::uint64_t lib_v = 0;
  FZ_CHECK(fs::parse_bytes(value, lib_v) == valid && (!valid || lib_v == v), "parse_bytes disagrees on '%s'",
           value.c_str());
  if (!m.online(i)) {
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "write to removed %s: %s", file.c_str(), ec.message().c_str());
    return;
  }
  if (!valid) {
    FZ_CHECK(ec == std::errc::invalid_argument, "write '%s' to %s: %s (want EINVAL)", value.c_str(), file.c_str(),
             ec.message().c_str());
    FZ_CHECK(fs::read(file) == before, "invalid write changed %s", file.c_str());
    return;
  }
  FZ_CHECK(!ec, "write '%s' to %s: %s", value.c_str(), file.c_str(), ec.message().c_str());
  const std::string after = fs::read(file);
  FZ_CHECK(after == fs::format_limit(v) + "\n", "%s reads '%s' after writing '%s'", file.c_str(), after.c_str(),
           value.c_str());
  if (f == 3 && v < usage) m.nodes[i].max_below_usage = true;
}

void run_input(const std::uint8_t* data, std::size_t size) {
  static std::uint64_t seq = 0;
  Input in{data, size};
  Model m;
  m.top_path = "/fz" + std::to_string(seq++);
  fs::mkdir(m.top_path);
  m.top = Group::open(m.top_path);
  int created = 0;
  while (!in.empty()) {
    const std::uint8_t op = in.byte() % 20;
    switch (op) {
      case 0: case 1: {  // mkdir
        const int parent = m.pick(in);
        const std::string name = kNames[in.byte() % (sizeof(kNames) / sizeof(kNames[0]))];
        if (static_cast<int>(m.nodes.size()) >= kMaxNodes) break;
        const std::string path = m.path(parent) + "/" + name;
        std::error_code ec;
        fs::mkdir(path, ec);
        if (!valid_name(name)) {
          FZ_CHECK(ec, "mkdir of bad name '%s' succeeded", path.c_str());
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
          if (!ec) fs::rmdir(path);
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
          m.nodes.push_back(std::move(n));
          ++created;
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
      case 3: case 4: write_op(m, in); break;
      case 5: case 6: alloc_op(m, in, false); break;
      case 7: alloc_op(m, in, true); break;
      case 8: case 9:
        if (!m.objs.empty()) do_free(m, in.u16() % m.objs.size());
        break;
      case 10: {  // reservation make
        const int i = m.pick(in);
        const std::uint64_t bytes = std::uint64_t{in.u16()} << (in.byte() % 10);
        const bool fits = m.fits(i, bytes), too_big = m.exceeds_some_max(i, bytes);
        std::error_code ec;
        Reservation r = Reservation::try_make(m.group(i), bytes, ec);
        if (!m.online(i)) {
          FZ_CHECK(!r && ec == std::errc::no_such_file_or_directory, "reservation on removed group: %s",
                   ec.message().c_str());
        } else if (fits) {
          FZ_CHECK(r && !ec, "reservation of %llu at %s failed although it fits: %s", (unsigned long long)bytes,
                   m.path(i).c_str(), ec.message().c_str());
        } else if (too_big) {
          FZ_CHECK(!r && ec == std::errc::not_enough_memory, "reservation above max: %s", ec.message().c_str());
        }
        if (r) {
          FZ_CHECK(r.size() == bytes, "size");
          m.res.push_back(Res{std::move(r), i});
        }
        break;
      }
      case 11: {  // grow / shrink / reset
        if (m.res.empty()) break;
        Res& r = m.res[in.u16() % m.res.size()];
        const std::uint8_t how = in.byte() % 3;
        const std::uint64_t bytes = std::uint64_t{in.u16()} << (in.byte() % 10);
        const std::uint64_t old = r.r.size();
        if (how == 0) {
          const bool fits = m.online(r.node) && m.fits(r.node, bytes);
          const bool ok = r.r.grow(bytes);
          if (fits) FZ_CHECK(ok, "grow by %llu failed although it fits", (unsigned long long)bytes);
          if (!m.online(r.node)) FZ_CHECK(!ok, "grow of a removed group's reservation succeeded");
          FZ_CHECK(r.r.size() == (ok ? old + bytes : old), "size after grow");
        } else if (how == 1) {
          r.r.shrink(bytes);
          FZ_CHECK(r.r.size() == (bytes >= old ? 0 : old - bytes), "size after shrink");
        } else {
          r.r.reset();
          FZ_CHECK(r.r.size() == 0 && !r.r, "size after reset");
          FZ_CHECK(!r.r.grow(1), "an empty (reset) reservation grew");
          m.res.erase(m.res.begin() + (&r - m.res.data()));  // empty now: it has no group
        }
        break;
      }
      case 12: {  // reclaim
        const int i = m.pick(in);
        const std::uint64_t bytes = std::uint64_t{in.u16()} << 6;
        std::error_code ec;
        const std::uint64_t got = m.group(i).reclaim(bytes, ec);
        FZ_CHECK(!ec || ec == std::errc::resource_unavailable_try_again || (!m.online(i) && ec),
                 "reclaim: %s", ec.message().c_str());
        (void)got;
        break;
      }
      case 13: {  // read a file
        const int i = m.pick(in);
        const std::string f = kReadFiles[in.byte() % (sizeof(kReadFiles) / sizeof(kReadFiles[0]))];
        std::error_code ec;
        std::string s = fs::read(m.path(i) + "/" + f, ec);
        if (!m.online(i)) {
          FZ_CHECK(ec == std::errc::no_such_file_or_directory, "read of removed group: %s", ec.message().c_str());
        } else if (f == "memory.nope" || f == "cgroup.procs") {
          FZ_CHECK(ec, "read of an unknown file succeeded");
        } else if (f == "x") {
          FZ_CHECK(ec == std::errc::no_such_file_or_directory, "read of a missing group: %s", ec.message().c_str());
        } else {
          FZ_CHECK(!ec && (s.empty() || s.back() == '\n'), "read %s: %s", f.c_str(), ec.message().c_str());
        }
        break;
      }
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
      case 17: {  // memory.peak reset, list of a removed group
        const int i = m.pick(in, false);
        if (i < 0) break;
        std::error_code ec;
        fs::write(m.path(i) + "/memory.peak", "0", ec);
        FZ_CHECK(m.online(i) ? !ec : ec == std::errc::no_such_file_or_directory, "peak write: %s",
                 ec.message().c_str());
        fs::list(m.path(i), ec);
        FZ_CHECK(m.online(i) ? !ec : ec == std::errc::no_such_file_or_directory, "list: %s", ec.message().c_str());
        break;
      }
      case 18: {  // set a limit through the API on a maybe-removed group
        const int i = m.pick(in, false);
        if (i < 0) break;
        std::error_code ec;
        const std::uint64_t v = std::uint64_t{in.u16()} << 8;
        const std::uint64_t usage = m.group(i).current();
        m.nodes[i].g.set_max(v, ec);
        FZ_CHECK(m.online(i) ? !ec : ec == std::errc::no_such_file_or_directory, "set_max: %s", ec.message().c_str());
        if (!ec && v < usage) m.nodes[i].max_below_usage = true;
        break;
      }
      case 19: {  // free everything charged to one group (the reference model's bulk release)
        const int i = m.pick(in);
        for (std::size_t k = 0; k < m.objs.size();)
          if (m.is_desc(m.objs[k].charged, i)) do_free(m, k); else ++k;
        break;
      }
    }
  }
  checkpoint(m);
  // Release everything; remove every group; all of them must be freed.
  m.scoped.reset();
  while (!m.objs.empty()) do_free(m, m.objs.size() - 1);
  m.res.clear();
  for (int i = static_cast<int>(m.nodes.size()) - 1; i >= 0; --i) {  // children were created after parents
    if (!m.nodes[i].online) continue;
    std::error_code ec;
    m.nodes[i].g.remove(ec);
    FZ_CHECK(!ec, "final remove %s: %s", m.path(i).c_str(), ec.message().c_str());
  }
  m.nodes.clear();
  m.top.remove();
  m.top = Group();
  std::error_code ec;
  fs::list(m.top_path, ec);
  FZ_CHECK(ec == std::errc::no_such_file_or_directory, "removed group still listed");
  (void)created;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::uint64_t baseline = [] {
    cache(0);
    other_thread();
    memcg::barrier();
    return memcg::runtime_stats().groups_allocated;
  }();
  if (size > 4096) return -1;  // keep inputs short: the model is quadratic
  run_input(data, size);
  quiesce_this_thread();
  other_thread().run(quiesce_this_thread);
  memcg::barrier();
  const auto rs = memcg::runtime_stats();
  FZ_CHECK(rs.groups_allocated == baseline, "groups not freed at the end of the input: %llu allocated, baseline %llu",
           (unsigned long long)rs.groups_allocated, (unsigned long long)baseline);
  return 0;
}
