// The checks after every operation, and the charge predictions.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "core/upcalls.hpp"
#include "ops/ops.hpp"
#include "platform/worker.hpp"

namespace ops_fuzz {

// Slab bytes of the isolated child caches listed in g's memory.kmem.slabinfo
// (slabs x pages per slab x 4 KiB).
u64 own_iso_slabinfo_bytes(const Group& g) {
  const std::string s = slabinfo(g);
  u64 bytes = 0;
  std::size_t pos = s.find('\n', s.find('\n') + 1) + 1;  // after the two header lines
  while (pos < s.size()) {
    const std::size_t eol = s.find('\n', pos);
    const std::string line = s.substr(pos, eol - pos);
    pos = eol + 1;
    char name[80];
    unsigned long long active, num, objsize, perslab, pages, lim, batch, shared, aslabs, nslabs, avail;
    FZ_CHECK(std::sscanf(line.c_str(),
                         "%79s %llu %llu %llu %llu %llu : tunables %llu %llu %llu : slabdata %llu %llu %llu", name,
                         &active, &num, &objsize, &perslab, &pages, &lim, &batch, &shared, &aslabs, &nslabs,
                         &avail) == 12,
             "malformed slabinfo line '%s'", line.c_str());
    bytes += nslabs * pages * 4096;
  }
  return bytes;
}

u64 iso_slabinfo_bytes(const Model& m, int i) {
  u64 sum = 0;
  for (int j = -1; j < m.n(); ++j)
    if (m.is_desc(j, i)) sum += own_iso_slabinfo_bytes(m.group(j));
  return sum;
}

// iso_slabinfo_bytes of every group (index node + 1), each slabinfo read once.
std::vector<u64> iso_slab_by_subtree(const Model& m) {
  std::vector<u64> own(static_cast<std::size_t>(m.n()) + 1), sub(own.size());
  for (int j = -1; j < m.n(); ++j) own[j + 1] = own_iso_slabinfo_bytes(m.group(j));
  for (int j = -1; j < m.n(); ++j) m.for_chain(j, [&](int x) { sub[x + 1] += own[j + 1]; });
  return sub;
}

// Charged rounds (thread_mags.hpp CHARGED ROUNDS) by subtree (index node +
// 1), [reclaimable]: one drain round for all groups.
std::vector<detail::ChargedRoundsSum> charged_rounds_by_subtree(const Model& m) {
  struct Arg {
    const Model* m;
    std::vector<detail::ChargedRoundsSum> own;
  } a{&m, std::vector<detail::ChargedRoundsSum>(static_cast<std::size_t>(m.n()) + 1)};
  detail::for_each_charged_rounds(
      [](void* p, detail::GroupImpl* charged, int kind, std::uint64_t bytes) {
        auto* a = static_cast<Arg*>(p);
        for (int j = -1; j < a->m->n(); ++j)
          if (detail::Access::impl(a->m->group(j)) == charged) {
            a->own[static_cast<std::size_t>(j + 1)].bytes[kind] += bytes;
            return;
          }
        FZ_CHECK(false, "charged rounds of %llu bytes charge a group the model does not know", U(bytes));
      },
      &a);
  std::vector<detail::ChargedRoundsSum> sub(a.own.size());
  for (int j = -1; j < m.n(); ++j)
    m.for_chain(j, [&](int x) {
      for (int kind = 0; kind < 2; ++kind) sub[x + 1].bytes[kind] += a.own[j + 1].bytes[kind];
    });
  return sub;
}

void after_op(Model& m, const OpCtx& ctx) {
  detail::worker::flush();  // deferred destruction of emptied dead caches uncharges
  const Sums s = m.sums();
  const int k = m.n();
  const std::vector<u64> iso_slab = iso_slab_by_subtree(m);
  const std::vector<detail::ChargedRoundsSum> rounds_by_subtree = charged_rounds_by_subtree(m);
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
  bool over_in_chain = false;  // a no_fail charge's chain has a group above its max
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
    // Shared objects, byte-precise at every moment (memory.stat adds the
    // object slots' statistics when read), with the charged rounds in the
    // threads' magazines (thread_mags.hpp CHARGED ROUNDS: freed objects
    // still charged, counted as slab): fz-big is all of slab_reclaimable;
    // slab_unreclaimable is kmalloc's objects plus the isolated cache's slabs.
    const detail::ChargedRoundsSum& rounds = rounds_by_subtree[i + 1];
    FZ_CHECK(rounds.bytes[0] + rounds.bytes[1] <= kStockThreads * kChargedRoundsMax,
             "%s charged rounds %llu + %llu above the documented bound %llu", p.c_str(), U(rounds.bytes[0]),
             U(rounds.bytes[1]), U(kStockThreads * kChargedRoundsMax));
    FZ_CHECK(st.slab_reclaimable == s.shared_r[i + 1] + rounds.bytes[1],
             "%s slab_reclaimable %llu, live fz-big objects charge %llu, charged rounds %llu", p.c_str(),
             U(st.slab_reclaimable), U(s.shared_r[i + 1]), U(rounds.bytes[1]));
    const u64 shared_u = s.shared[i + 1] - s.shared_r[i + 1] + rounds.bytes[0];
    FZ_CHECK(st.slab_unreclaimable >= shared_u,
             "%s slab_unreclaimable %llu < %llu charged by live kmalloc objects and charged rounds", p.c_str(),
             U(st.slab_unreclaimable), U(shared_u));
    const u64 iso = st.slab_unreclaimable - shared_u;
    FZ_CHECK(iso % kSlab == 0 && iso >= s.iso_lb[i + 1] && iso == iso_slab[i + 1],
             "%s isolated slab bytes %llu (slab_unreclaimable %llu - kmalloc objects %llu): want whole slabs, >= %llu "
             "needed by the live objects, == %llu in the subtree's slabinfo",
             p.c_str(), U(iso), U(st.slab_unreclaimable), U(shared_u), U(s.iso_lb[i + 1]), U(iso_slab[i + 1]));
    FZ_CHECK(x.cur == st.reservations + st.kmalloc_large + st.slab() + st.stock,
             "%s current %llu != res %llu + large %llu + slab %llu + stock %llu", p.c_str(), U(x.cur),
             U(st.reservations), U(st.kmalloc_large), U(st.slab()), U(st.stock));
    const u64 in_rounds = rounds.bytes[0] + rounds.bytes[1];
    FZ_CHECK(x.cur == s.res[i + 1] + s.large[i + 1] + s.shared[i + 1] + in_rounds + iso_slab[i + 1] + st.stock,
             "%s current %llu != model res %llu + large %llu + shared objects %llu + charged rounds %llu + isolated "
             "slabs %llu + stock %llu",
             p.c_str(), U(x.cur), U(s.res[i + 1]), U(s.large[i + 1]), U(s.shared[i + 1]), U(in_rounds),
             U(iso_slab[i + 1]), U(st.stock));
    // Stock slack (charge/stock.hpp, slab/obj_stock.cpp BOUND): per thread,
    // one object slot of at most kObjStockMax, and one charge-stock slot per
    // group (of at most kStockSlots) of at most a batch.
    const u64 slots = detail::object_slots_in_subtree(detail::Access::impl(g)).bytes;
    const u64 batches = kStockThreads * std::min<u64>(detail::kStockSlots, m.online_in_subtree(i)) * kBatch;
    FZ_CHECK(slots <= st.stock && slots <= kStockThreads * kObjSlotMax && st.stock - slots <= batches,
             "%s stock %llu (object slots %llu) above the documented bounds (%llu, %llu)", p.c_str(), U(st.stock),
             U(slots), U(kStockThreads * kObjSlotMax), U(batches));
    if (!m.online(i))
      FZ_CHECK(st.slab() == 0 && st.stock == 0, "removed %s: slab %llu stock %llu", p.c_str(), U(st.slab()),
               U(st.stock));
    // Pins (the kmem pin protocol): one per live reservation and large kmalloc.
    u64 pins = 0;
    for (auto& r : m.res) pins += r.node == i;
    for (auto& o : m.objs) pins += o.kind == 3 && o.charged == i;
    FZ_CHECK(detail::Access::impl(g)->pins.load() == pins, "%s pins %llu model %llu", p.c_str(), U(detail::Access::impl(g)->pins.load()), U(pins));
    // Limits.
    FZ_CHECK(g.max() == lim.max && g.high() == lim.high && g.low() == lim.low && g.min() == lim.min,
             "%s limits %llu/%llu/%llu/%llu model %llu/%llu/%llu/%llu", p.c_str(), U(g.max()), U(g.high()),
             U(g.low()), U(g.min()), U(lim.max), U(lim.high), U(lim.low), U(lim.min));
    // ChargeFlags::no_fail charges past max (a max event is counted).
    const bool forced_here = in_chain(i) && has(ctx.flags, ChargeFlags::no_fail) && x.cur > lim.max;
    over_in_chain |= forced_here;
    if (i >= 0) {
      Node& n = m.nodes[i];
      if (ctx.kind == OpCtx::kSetMax && ctx.node == i) n.over_max = x.cur > lim.max;
      if (forced_here) n.over_max = true;
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
    // The OOM handler runs for a small charge that reclaim could not fit,
    // unless the flags forbid it: no_reclaim fails at once, no_oom after one
    // reclaim attempt (charge_flags.hpp).
    const bool may_oom = !has(ctx.flags, ChargeFlags::no_reclaim) && !has(ctx.flags, ChargeFlags::no_oom);
    // Forced past max: it did not fit (a max event) and left a group above
    // its max (which no successful charge can do otherwise).
    const bool forced = over_in_chain && chain_max_ev >= 1 && !ctx.failed;
    g_stats.forced_charges += forced;
    const u64 want_oom = may_oom && ctx.bytes <= kCostly ? 1u : 0u;
    FZ_CHECK(!ctx.failed || !has(ctx.flags, ChargeFlags::no_fail), "a no_fail charge of %llu failed", U(ctx.bytes));
    if (ctx.failed || forced) {
      FZ_CHECK(chain_max_ev >= 1, "%s charge of %llu at %s recorded no max event", ctx.failed ? "failed" : "forced",
               U(ctx.bytes), m.path(ctx.node).c_str());
      FZ_CHECK(chain_oom == want_oom, "%s charge of %llu (flags %u): %llu oom events, want %llu",
               ctx.failed ? "failed" : "forced", U(ctx.bytes), static_cast<unsigned>(ctx.flags), U(chain_oom),
               U(want_oom));
    } else {
      FZ_CHECK(chain_oom == 0, "successful charge recorded %llu oom events", U(chain_oom));
    }
  }
  for (auto& r : m.res) FZ_CHECK(r.r.size() == r.size, "reservation size %llu model %llu", U(r.r.size()), U(r.size));
  for (int i = -1; i < k; ++i) m.seen(i) = now[i + 1];
}


u64 own_charged_rounds(const Model& m, int c) {
  struct Arg {
    detail::GroupImpl* g;
    u64 bytes;
  } a{detail::Access::impl(m.group(c)), 0};
  detail::for_each_charged_rounds(
      [](void* p, detail::GroupImpl* charged, int, std::uint64_t bytes) {
        auto* a = static_cast<Arg*>(p);
        if (charged == a->g) a->bytes += bytes;
      },
      &a);
  return a.bytes;
}

Prediction predict(const Model& m, const Sums& s, int c, u64 bytes, bool exact, u64 stocked, bool shared) {
  Prediction pr;
  for (int x = c;; x = m.nodes[x].parent) {
    const u64 cur = m.group(x).current(), max = m.lim(x).max;
    if (max != unlimited) {
      if (cur > max || bytes > max - cur) pr.must_succeed = false;
      const u64 lb = s.res[x + 1] + s.large[x + 1] + s.shared[x + 1] + s.iso_lb[x + 1];
      if (exact && (lb > max || bytes > max - lb)) pr.must_fail = true;
    }
    if (x < 0) break;
  }
  const Group root = Group::root();
  if (root.max() != unlimited && (root.current() > root.max() || bytes > root.max() - root.current()))
    pr.must_succeed = false;
  // A small charge is served from the thread's charge stock of c, or a
  // shared object from its object slot, if it holds enough (any thread's
  // stock of c counts: a superset).
  // An allocation for the owner of a thread's magazine entry may pop one of
  // its charged rounds and charge nothing (any thread's rounds of c count:
  // a superset).
  if (pr.must_fail && ((bytes <= kBatch && own_stock(m, c) >= std::min(bytes, stocked)) ||
                       (shared && own_charged_rounds(m, c) >= stocked))) {
    pr.must_fail = false;
    ++g_stats.stock_excused;
  }
  g_stats.must_succeed += pr.must_succeed;
  g_stats.must_fail += pr.must_fail;
  return pr;
}


}  // namespace ops_fuzz
