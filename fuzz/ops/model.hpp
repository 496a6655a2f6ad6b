// The reference model of ops_fuzzer (see ops_fuzzer.cpp): the groups of an
// input, the objects and reservations the fuzzer holds, what the counters
// were after the previous operation, and the vocabulary inputs pick from.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "ops/common.hpp"
#include "ops/input.hpp"

namespace ops_fuzz {

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

// The two Caches (lockstep.hpp): cache 0 "fz-small" is isolated (per-group
// child caches, charged per 64 KiB slab), cache 1 "fz-big" is shared and
// reclaimable; kmalloc's small size classes are shared (unreclaimable).
// A shared cache charges each live object its stride plus one ownership
// record (the slab's vector entry); its slot charges in whole chunks.
constexpr int kIsolatedKind = 0;
inline bool shared_kind(int kind) { return kind == 1 || kind == 2; }
inline u64 chunk_of(u64 bytes) { return (bytes + kObjChunk - 1) / kObjChunk * kObjChunk; }

struct Obj {
  void* p;
  int kind;        // 0: cache 0 (isolated), 1: cache 1 (shared), 2: kmalloc small (shared), 3: kmalloc large
  int charged;     // the nearest online ancestor of the target at allocation
  u64 large_len;   // kind 3: bytes charged (the block: a medium run or a large span)
  std::uint32_t stride;  // kinds 0-2: ksize (the slab stride)
  u64 charge;      // kinds 1-2: bytes charged while live (stride + kOwnerRecord); else 0
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
  ChargeFlags flags = ChargeFlags::none;  // charge: the call's flags
  int peak_reset = -2; // a group whose peak was reset (-2: none)
};

// Per group and subtree (index node + 1). Shared objects count at the
// nearest online ancestor of the group they were charged to (their object
// cgroup was re-pointed there); so do the isolated child caches (reparented).
struct Sums {
  std::vector<u64> res, large;
  std::vector<u64> shared;    // Σ charge of live shared objects, exact
  std::vector<u64> shared_r;  // ... of the reclaimable cache (fz-big) alone
  std::vector<u64> iso_lb;    // isolated slab bytes needed by the live objects (a lower bound)
  std::vector<u64> iso_objs;  // live isolated objects (N: at most N slabs once empty ones are released)
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
    for (auto* v : {&s.res, &s.large, &s.shared, &s.shared_r, &s.iso_lb, &s.iso_objs}) v->assign(k, 0);
    for (auto& r : res) for_chain(r.node, [&](int x) { s.res[x + 1] += r.size; });
    struct Key { int node; std::uint32_t stride; u64 n; };
    std::vector<Key> keys;  // (charged group, stride) of the isolated cache: one child cache each
    for (auto& o : objs) {
      if (o.kind == 3) {
        for_chain(o.charged, [&](int x) { s.large[x + 1] += o.large_len; });
        continue;
      }
      if (shared_kind(o.kind)) {
        for_chain(nearest_online(o.charged), [&](int x) {
          s.shared[x + 1] += o.charge;
          if (o.kind == 1) s.shared_r[x + 1] += o.charge;
        });
        continue;
      }
      for_chain(nearest_online(o.charged), [&](int x) { ++s.iso_objs[x + 1]; });
      auto it = std::find_if(keys.begin(), keys.end(),
                             [&](const Key& key) { return key.node == o.charged && key.stride == o.stride; });
      if (it == keys.end()) keys.push_back(Key{o.charged, o.stride, 1}); else ++it->n;
    }
    for (auto& key : keys) {
      const u64 per_slab = kSlab / key.stride;  // >= the real capacity (the header takes room)
      const u64 bytes = (key.n + per_slab - 1) / per_slab * kSlab;
      for_chain(nearest_online(key.node), [&](int x) { s.iso_lb[x + 1] += bytes; });
    }
    return s;
  }
  // Online groups in i's subtree (i included): the charge stocks' bound.
  u64 online_in_subtree(int i) const {
    u64 c = online(i) ? 1 : 0;
    for (int j = 0; j < n(); ++j)
      if (j != i && nodes[j].online && is_desc(j, i)) ++c;
    return c;
  }
};

inline const char* const kValues[] = {
    "max", "0", "4096", "64K", "1M", "1m", "3M", "16M", "1G", "  2M\n", "\t512k ", "1T", "max\n",
    "18446744073709551615", "17179869183G",
    // invalid
    "", " ", "-1", "+1", "1.5G", "0x10", "1KB", "MAX", "maxx", "18446744073709551616", "17179869184G",
    "99999999999999999999K", "1 M", "k", "1\x01", "1e6", "\n\n"};
inline const char* const kFiles[] = {"memory.min", "memory.low", "memory.high", "memory.max"};
inline const char* const kReadFiles[] = {"memory.current", "memory.min", "memory.low", "memory.high", "memory.max",
                                  "memory.peak", "memory.events", "memory.events.local", "memory.stat",
                                  "cgroup.stat", "memory.kmem.slabinfo", "memory.nope", "cgroup.procs", "x",
                                  "memory.reclaim", "cgroup.max.depth", "cgroup.max.descendants", "memory.pressure",
                                  "memory.oom.group", "cgroup.kill"};
inline const char* const kNames[] = {"a", "b", "c", "sp ace", "d", "", ".", "..", "memory.x", "cgroup.y", "bad\x01", "tab\tname"};
inline constexpr std::size_t kSizes[] = {1, 8, 24, 100, 512, 1000, 4096, 8192, 8193, 16384, 16385, 70000, 300000};

inline bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
  for (unsigned char c : s)
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  return s.rfind("memory.", 0) != 0 && s.rfind("cgroup.", 0) != 0;
}

inline u64 limit_of(const Group& g, int f) {
  switch (f) {
    case 0: return g.min();
    case 1: return g.low();
    case 2: return g.high();
    default: return g.max();
  }
}
inline u64& limit_ref(Limits& l, int f) { return f == 0 ? l.min : f == 1 ? l.low : f == 2 ? l.high : l.max; }

// Slab bytes of the isolated cache in i's subtree, from memory.kmem.slabinfo
// of every group there (slabs x 64 KiB; a removed group lists none: its
// child caches were reparented and are listed by their new group).
u64 iso_slabinfo_bytes(const Model& m, int i);

// Bytes in thread stocks (any thread) of group i itself, not its children.
inline u64 own_stock(const Model& m, int i) {
  u64 s = m.group(i).stat().stock;
  for (int j = 0; j < m.n(); ++j)
    if (m.nodes[j].parent == i) s -= m.nodes[j].g.stat().stock;
  return s;
}


}  // namespace ops_fuzz
