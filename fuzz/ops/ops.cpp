// The operations that change the tree or the objects held (see ops.hpp).
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "charge/objcg.hpp"
#include "ops/lockstep.hpp"
#include "ops/ops.hpp"
#include "ops/ref_parse.hpp"
#include "platform/worker.hpp"

namespace ops_fuzz {

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
  // Every live object of the isolated cache sits in a child cache of it
  // that belongs to the nearest online ancestor of the group it was charged
  // to; every live shared object sits in its root's one shared cache (no
  // group) and its ownership record names an object cgroup that now
  // charges that ancestor.
  const Sums s = m.sums();
  std::vector<u64> own_shared(static_cast<std::size_t>(m.n()) + 1), own_shared_r(own_shared.size());
  for (auto& o : m.objs) {
    if (o.kind == 3) continue;
    const detail::Slab* slab = detail::Slab::of(o.p);
    const detail::ChildCache* c = slab->cache;
    const int want = m.nearest_online(o.charged);
    detail::GroupImpl* const wg = detail::Access::impl(m.group(want));
    if (o.kind <= 1) FZ_CHECK(c->root == detail::Access::impl(cache(o.kind)), "object in a foreign root cache");
    if (!shared_kind(o.kind)) {
      FZ_CHECK(c->group.load() == wg, "object of %s is charged elsewhere than %s", m.path(o.charged).c_str(),
               m.path(want).c_str());
      continue;
    }
    FZ_CHECK(c->group.load() == nullptr && c == c->root->shared && slab->objcgs != nullptr,
             "shared object of %s in a per-group cache", m.path(o.charged).c_str());
    const detail::OwnerKey key = slab->objcgs[slab->index(o.p)];  // ObjCgroup address | reclaimable
    FZ_CHECK((key & 1) == slab->reclaimable, "shared object of %s: owner key's kind %u, its slab's %u",
             m.path(o.charged).c_str(), static_cast<unsigned>(key & 1), static_cast<unsigned>(slab->reclaimable));
    const auto* oc = reinterpret_cast<const detail::ObjCgroup*>(key & ~std::uintptr_t{1});
    FZ_CHECK(oc != nullptr && oc->group.load() == wg, "shared object of %s: its object cgroup charges %s",
             m.path(o.charged).c_str(), oc ? "another group" : "nobody");
    own_shared[want + 1] += o.charge;
    if (o.kind == 1) own_shared_r[want + 1] += o.charge;
  }
  // With every slot drained, the object cgroups charging a group have
  // exactly its shared objects' bytes outstanding and in its statistics;
  // memory.current is the model's, the isolated slabs aside.
  for (int i = -1; i < m.n(); ++i) {
    detail::GroupImpl* gi = detail::Access::impl(m.group(i));
    u64 sb[2] = {};
    detail::objcg_slab_bytes(gi, sb);
    FZ_CHECK(detail::objcg_charged_bytes(gi) == own_shared[i + 1] && sb[1] == own_shared_r[i + 1] &&
                 sb[0] + sb[1] == own_shared[i + 1],
             "%s: object cgroups have %llu charged, slab %llu + %llu; its own shared objects %llu (fz-big %llu)",
             m.path(i).c_str(), U(detail::objcg_charged_bytes(gi)), U(sb[0]), U(sb[1]), U(own_shared[i + 1]),
             U(own_shared_r[i + 1]));
    const u64 iso = iso_slabinfo_bytes(m, i);
    FZ_CHECK(m.group(i).current() == s.res[i + 1] + s.large[i + 1] + s.shared[i + 1] + iso,
             "%s: current %llu after draining both threads, model %llu + %llu + %llu + isolated slabs %llu",
             m.path(i).c_str(), U(m.group(i).current()), U(s.res[i + 1]), U(s.large[i + 1]), U(s.shared[i + 1]),
             U(iso));
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
  const bool shared = !large && shared_kind(kind);
  const u64 large_len = large ? (64 + size + 4095) & ~u64{4095} : 0;
  // A shared object is charged its stride (fz-big: its size rounded up to
  // the default alignment) and ownership record, through the object slot,
  // which charges whole chunks when it runs short; an isolated allocation
  // charges at most one slab.
  constexpr u64 kAlign = alignof(std::max_align_t);
  const u64 stride_want = kind == 1 ? (cache(1).object_size() + kAlign - 1) & ~(kAlign - 1) : kmalloc_size_roundup(size);
  const u64 charge = shared ? stride_want + kOwnerRecord : 0;
  const u64 need = large ? large_len : shared ? chunk_of(charge) : kSlab;
  const Prediction pr = predict(m, m.sums(), charged, need, large || shared, shared ? charge : need, shared);
  g_stats.must_fail_shared += shared && pr.must_fail;
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
  FZ_CHECK(!pr.must_fail, "allocation (kind %d size %zu, %llu charged) into %s succeeded, but the model's usage leaves no room",
           kind, size, U(large ? large_len : charge), m.path(i).c_str());
  std::uint32_t stride = 0;
  if (kind == 2) {
    FZ_CHECK(ksize(p) >= size && ksize(p) == kmalloc_size_roundup(size), "ksize %zu for %zu (roundup %zu)", ksize(p),
             size, kmalloc_size_roundup(size));
    if (large) FZ_CHECK(ksize(p) == large_len - 64, "large ksize %zu, charged %llu", ksize(p), U(large_len));
  }
  if (!large) stride = static_cast<std::uint32_t>(ksize(p));
  if (shared)
    FZ_CHECK(stride + kOwnerRecord == charge && detail::Slab::of(p)->charge_bytes == charge,
             "kind %d: stride %u, slab charges %u per object, model %llu", kind, stride,
             detail::Slab::of(p)->charge_bytes, U(charge));
  std::memset(p, 0xa5, kind == 0 ? 64 : kind == 1 ? 1000 : size);
  m.objs.push_back(Obj{p, large ? 3 : kind, charged, large_len, stride, charge});
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

// The charge flags a reservation is made with (charge_flags.hpp): those
// whose effect the model can tell (after_op checks the events they allow).
constexpr ChargeFlags kFuzzFlags[] = {ChargeFlags::none,   ChargeFlags::none,    ChargeFlags::no_reclaim,
                                      ChargeFlags::no_oom, ChargeFlags::no_fail, ChargeFlags::no_fail | ChargeFlags::no_oom};

OpCtx reservation_make(Model& m, Input& in) {
  const int i = m.pick(in);
  const u64 base = in.u16();
  const std::uint8_t sel = in.byte();
  const u64 bytes = base << (sel % 10);
  const ChargeFlags flags = kFuzzFlags[(sel / 10) % (sizeof(kFuzzFlags) / sizeof(kFuzzFlags[0]))];
  const bool no_fail = has(flags, ChargeFlags::no_fail);
  Prediction pr;
  if (m.online(i)) pr = predict(m, m.sums(), i, bytes, true);
  if (no_fail) pr = Prediction{true, false};  // charged past max when it does not fit
  std::error_code ec;
  Reservation r = Reservation::make(m.group(i), bytes, flags, ec);
  FZ_TRACE("  reservation of %llu at %s (flags %u): %s\n", U(bytes), m.path(i).c_str(), static_cast<unsigned>(flags),
           ec.message().c_str());
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
  ctx.flags = flags;
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
// magazine of the subtree and released every empty slab there: the
// isolated cache keeps at most one slab per live object (shared objects are
// exact at all times, after_op).
void check_short_reclaim(const Model& m, int i) {
  ++g_stats.reclaims_short;
  const Sums s = m.sums();
  const u64 iso = iso_slabinfo_bytes(m, i);
  FZ_CHECK(iso <= s.iso_objs[i + 1] * kSlab, "%s: short reclaim left %llu isolated slab bytes with %llu live objects",
           m.path(i).c_str(), U(iso), U(s.iso_objs[i + 1]));
}

OpCtx reclaim_op(Model& m, Input& in) {
  const int i = m.pick(in);
  const u64 bytes = u64{in.u16()} << 6;
  const u64 before = m.group(i).current(), reclaimed = m.group(i).stat().reclaimed;
  ++g_stats.reclaims;
  std::error_code ec;
  const u64 got = m.group(i).reclaim(bytes, ec);
  const u64 after = m.group(i).current();
  FZ_CHECK(m.group(i).stat().reclaimed == reclaimed + got, "reclaim at %s got %llu, reclaimed %llu -> %llu",
           m.path(i).c_str(), U(got), U(reclaimed), U(m.group(i).stat().reclaimed));
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


// Cache::shrink of both caches after both threads flushed their magazines:
// only slabs holding live objects remain in them (the isolated cache's
// slabs between the model's bound and one per live object; 0 without any).
void shrink_op(Model& m) {
  ++g_stats.shrinks;
  quiesce_both();
  cache(0).shrink();
  cache(1).shrink();
  detail::worker::flush();
  const Sums s = m.sums();
  for (int i = -1; i < m.n(); ++i) {
    const u64 iso = iso_slabinfo_bytes(m, i);
    FZ_CHECK(iso >= s.iso_lb[i + 1] && iso <= s.iso_objs[i + 1] * kSlab,
             "%s: after Cache::shrink %llu isolated slab bytes, model [%llu, %llu]", m.path(i).c_str(), U(iso),
             U(s.iso_lb[i + 1]), U(s.iso_objs[i + 1] * kSlab));
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
  shrink_op(m);  // no isolated slab is left anywhere now
  // Remove every group, children first (created after their parents): an
  // empty removed group holds nothing.
  for (int i = m.n() - 1; i >= 0; --i) {
    if (!m.nodes[i].online) continue;
    std::error_code ec;
    m.nodes[i].g.remove(ec);
    FZ_CHECK(!ec, "final remove %s: %s", m.path(i).c_str(), ec.message().c_str());
    m.nodes[i].online = false;
    m.nodes[i].lim.min = m.nodes[i].lim.low = 0;  // removal zeroes protection (the kernel's css_offline)
  }
  after_op(m, OpCtx{});
  for (int i = 0; i < m.n(); ++i)
    FZ_CHECK(m.nodes[i].g.current() == 0, "removed %s holds %llu with nothing live", m.path(i).c_str(),
             U(m.nodes[i].g.current()));
  // Nothing is left: the object slots and stocks were drained, the
  // isolated cache shrunk and the removed groups' charges moved up (kmalloc
  // keeps no slab of a group); reclaim then finds nothing.
  FZ_CHECK(m.top.current() == 0, "%s holds %llu with nothing live", m.top_path.c_str(), U(m.top.current()));
  std::error_code ec;
  FZ_CHECK(m.top.reclaim(4096, ec) == 0 && ec == std::errc::resource_unavailable_try_again,
           "reclaim of an empty group: %s", ec.message().c_str());
  after_op(m, OpCtx{OpCtx::kReclaim});
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

}  // namespace ops_fuzz
