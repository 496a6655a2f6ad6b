// The demo's stop, release and teardown phases and their checks (the
// phases are listed in demo.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <thread>

#include "demo.hpp"
#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/types.hpp"
#include "testing_stats.hpp"

namespace memcgctl {
namespace {

void fail(Check& c, const std::string& why) {
  if (c.ok) {
    c.ok = false;
    c.detail.clear();
  }
  if (!c.detail.empty()) c.detail += "; ";
  c.detail += why;
}

void fail_with(Check& c, const Problems& p, const char* what) {
  std::string msg = fmt::format("{} {}", p.count(), what);
  auto first = p.first();
  for (std::size_t i = 0; i < first.size() && i < 3; ++i) msg += fmt::format("{} {}", i ? ";" : ":", first[i]);
  fail(c, msg);
}

const GroupRow* find_row(const std::vector<GroupRow>& rows, const std::string& path) {
  for (const auto& r : rows)
    if (r.path == path) return &r;
  return nullptr;
}

}  // namespace

void Demo::stop() {
  shared_.set_phase(kStop);
  sampler_thread_.join();
  shared_.wait_parked(cfg_.workers + 1);
  show(demo_interrupted() ? "interrupted" : "stopped");

  rows_at_stop_ = snapshot_rows();
  checks_.push_back(check_counters_exact());
  checks_.push_back(check_limits_held());
  checks_.push_back(check_reclaim_happened());
  checks_.push_back(check_protection_honoured());
  checks_.push_back(check_oom_handler());

  if (const GroupRow* r = find_row(rows_at_stop_, parent_path_)) dying_at_stop_ = r->nr_dying;
  if (dying_at_stop_ > churn_->removed.load())
    fail(freed_, fmt::format("at stop {} nr_dying_descendants {} > {} groups removed", parent_path_, dying_at_stop_,
                             churn_->removed.load()));
}

// Nothing charges now. For every tenant, the parent and the root:
// memory.current - stock == reservations + slab + kmalloc_large, and
// reservations == the page bytes the cache says it holds there.
Check Demo::check_counters_exact() {
  Check c{"counters-exact"};
  std::vector<std::pair<std::string, std::int64_t>> expect;
  std::int64_t all = 0;
  for (std::size_t i = 0; i <= tenants_.size(); ++i) all += cache_->slot(i).held.load();
  for (const auto& t : tenants_) expect.emplace_back(t->group.path(), cache_->slot(t->slot).held.load());
  expect.emplace_back(parent_path_, all);
  for (const auto& p : churn_->live_paths()) expect.emplace_back(p, -1);  // live tmp groups: stat identity only
  for (const auto& g : cfg_.extra) expect.emplace_back(g.path, -1);
  expect.emplace_back("/", all);
  for (const auto& [path, held] : expect) {
    const GroupRow* r = find_row(rows_at_stop_, path);
    if (!r) {
      fail(c, fmt::format("{}: could not read its files", path));
      continue;
    }
    const std::uint64_t parts = r->reservations + r->slab + r->kmalloc_large;
    if (r->current < r->stock || r->current - r->stock != parts)
      fail(c, fmt::format("{}: memory.current {} - stock {} != reservations {} + slab {} + kmalloc_large {}", path,
                          r->current, r->stock, r->reservations, r->slab, r->kmalloc_large));
    if (held >= 0 && r->reservations != static_cast<std::uint64_t>(held))
      fail(c, fmt::format("{}: memory.stat reservations {} != {} page bytes held by the cache", path,
                          r->reservations, held));
    if (path == "/") stock_at_stop_ = r->stock;
  }
  if (c.ok)
    c.detail = fmt::format("{} groups at stop: memory.current - stock == reservations + slab + kmalloc_large; "
                           "reservations == the cache's page bytes (/ holds {} B of pages, {} B in stocks)",
                           expect.size(), all, stock_at_stop_);
  return c;
}

Check Demo::check_limits_held() {
  Check b{"limits-held"};
  if (sampler_->samples() == 0) fail(b, "the sampler took no samples");
  if (shared_.limit_errors.count()) fail_with(b, shared_.limit_errors, "samples over max");
  for (const std::string& p : fixed_)
    if (const GroupRow* r = find_row(rows_at_stop_, p); r && r->peak > r->max)
      fail(b, fmt::format("{}: memory.peak {} > memory.max {}", p, r->peak, r->max));
  if (b.ok)
    b.detail = fmt::format("{} samples of {} groups with a fixed memory.max ({}) never saw memory.current > "
                           "memory.max; their peaks <= max",
                           sampler_->samples(), fixed_.size(), fmt::join(fixed_, " "));
  return b;
}

// Reclaim ran: memory.stat reclaimed of some tenant > 0 and the shrinker freed entries.
Check Demo::check_reclaim_happened() {
  Check r{"reclaim-happened"};
  std::uint64_t steal = 0, objs = 0;
  std::vector<std::string> parts;
  for (const auto& t : tenants_) {
    const GroupRow* row = find_row(rows_at_stop_, t->group.path());
    const std::uint64_t s = row ? row->reclaimed : 0;
    steal += s;
    objs += cache_->slot(t->slot).reclaimed.load();
    parts.push_back(fmt::format("{} reclaimed {}", t->spec.name, format_bytes(s)));
  }
  objs += cache_->slot(tmp_slot_).reclaimed.load();
  if (cfg_.expect_reclaim) {
    if (steal == 0) fail(r, "no tenant has memory.stat reclaimed > 0");
    if (objs == 0) fail(r, "the shrinker freed no entry");
  }
  if (r.ok)
    r.detail = fmt::format("{}; the shrinker freed {} entries in {} scan calls{}", fmt::join(parts, ", "), objs,
                           cache_->scans(), cfg_.expect_reclaim ? "" : " (not required by the configuration)");
  return r;
}

// Protection: a tenant with memory.low/min either had no low event (never
// reclaimed inside its protection) or lost less, relative to its peak, than
// every unprotected tenant that was reclaimed.
Check Demo::check_protection_honoured() {
  Check p{"protection-honoured"};
  auto ratio = [&](const Tenant& t) {
    const GroupRow* row = find_row(rows_at_stop_, t.group.path());
    const double peak = row && row->peak ? static_cast<double>(row->peak) : 1.0;
    return static_cast<double>(cache_->slot(t.slot).reclaimed_bytes.load()) / peak;
  };
  double min_unprot = -1;
  std::vector<std::string> parts;
  for (const auto& t : tenants_) {
    parts.push_back(fmt::format("{} {:.3f}", t->spec.name, ratio(*t)));
    if (t->spec.protected_() || cache_->slot(t->slot).reclaimed_bytes.load() == 0) continue;
    min_unprot = min_unprot < 0 ? ratio(*t) : std::min(min_unprot, ratio(*t));
  }
  int nprot = 0;
  for (const auto& t : tenants_) {
    if (!t->spec.protected_()) continue;
    ++nprot;
    const GroupRow* row = find_row(rows_at_stop_, t->group.path());
    const std::uint64_t low_events = row ? row->ev_low : 0;
    if (low_events == 0 || (min_unprot >= 0 && ratio(*t) < min_unprot)) continue;
    if (cfg_.expect_protection)
      fail(p, fmt::format("{}: {} low events and reclaimed {:.3f} of its peak, not less than the unprotected "
                          "tenants' {:.3f}",
                          t->group.path(), low_events, ratio(*t), min_unprot));
  }
  if (cfg_.expect_protection) {
    if (nprot == 0) fail(p, "no tenant has memory.low or memory.min");
    if (min_unprot < 0) fail(p, "no unprotected tenant was reclaimed: no pressure to protect against");
  }
  if (p.ok)
    p.detail = fmt::format("bytes reclaimed by the shrinker / memory.peak: {}{}", fmt::join(parts, ", "),
                           cfg_.expect_protection ? "" : " (not required by the configuration)");
  return p;
}

// The parent's handler is the nearest for every group below it: each OOM
// there counted an oom event and called it at most once (an OOM that waited
// for another one and then found its charge fitting calls nothing, as the
// kernel's margin check under oom_lock), and each call that freed memory is
// an oom_kill.
Check Demo::check_oom_handler() {
  Check o{"oom-handler"};
  const GroupRow* row = find_row(rows_at_stop_, parent_path_);
  const std::uint64_t calls = oom_.calls.load(), kills = oom_.kills.load();
  if (!row) {
    fail(o, fmt::format("{}: could not read its files", parent_path_));
  } else {
    if (row->ev_oom < calls)
      fail(o, fmt::format("{} memory.events oom {} < {} handler calls", parent_path_, row->ev_oom, calls));
    if (row->ev_oom_kill != kills)
      fail(o, fmt::format("{} memory.events oom_kill {} != {} handler calls that freed memory", parent_path_,
                          row->ev_oom_kill, kills));
  }
  if (cfg_.expect_oom && kills == 0) fail(o, fmt::format("the OOM handler never freed memory ({} calls)", calls));
  if (o.ok) {
    o.detail = fmt::format("handler on {} ran {} times for {} oom events (the rest fit after waiting), freed {} in "
                           "{} runs == oom_kill",
                           parent_path_, calls, row->ev_oom, format_bytes(oom_.freed_bytes.load()), kills);
    auto v = oom_.victims.first();
    if (!v.empty()) o.detail += fmt::format(" (first: {})", v.front());
  }
  return o;
}

// Frees every entry and object still alive, from its own thread, so that the
// uncharges land in a stock that thread exit drains.
void Demo::release_everything() {
  std::thread t([&] {
    for (int round = 0; round < 8 && cache_->on_lists() != 0; ++round)
      for (const std::string& g : walk_groups(parent_path_)) {
        std::error_code ec;
        memcg::Group grp = memcg::Group::open(g, ec);
        if (ec) continue;
        while (cache_->evict(grp, 1024) != 0) {
        }
      }
    for (auto& tn : tenants_) tn->pool.free_all();
  });
  t.join();
}

void Demo::release() {
  shared_.set_phase(kRelease);
  for (auto& t : threads_) t.join();
  std::signal(SIGINT, old_sigint_);
  const std::uint64_t dying_after_churn = [&] {
    std::error_code ec;
    return read_key(join_path(parent_path_, "cgroup.stat"), "nr_dying_descendants", ec);
  }();
  release_everything();
  parent_.set_oom_handler(nullptr);
  const std::uint64_t left_on_lists = cache_->on_lists();
  tmp_removed_ = churn_->removed.load();
  workers_.clear();
  memcg::barrier();
  {
    Check& freed = freed_;
    std::vector<std::string> live = walk_groups();
    memcg::detail::RuntimeStats rs = memcg::detail::runtime_stats();
    std::error_code ec;
    std::uint64_t dying = read_key("/cgroup.stat", "nr_dying_descendants", ec);
    const std::uint64_t peak = std::max({sampler_->dying_peak(), dying_at_stop_, dying_after_churn});
    if (peak == 0) fail(freed, "nr_dying_descendants never rose above 0 (no group outlived its rmdir)");
    if (churn_->kept_past_rmdir.load() == 0 && churn_->leftovers_made.load() == 0)
      fail(freed, "no object outlived its group's rmdir");
    if (churn_->small_leftovers() == 0) fail(freed, "no slab object of a removed group alive at the check");
    if (left_on_lists != 0) fail(freed, fmt::format("{} entries still on the lists after release", left_on_lists));
    if (rs.groups_allocated != live.size())
      fail(freed, fmt::format("groups_allocated {} != {} groups in the tree", rs.groups_allocated, live.size()));
    if (ec)
      fail(freed, fmt::format("/cgroup.stat: {}", ec.message()));
    else if (dying != 0)
      fail(freed, fmt::format("/ nr_dying_descendants {} after release + barrier", dying));
    // With --socket an attached client may have created and removed groups
    // of its own: then at least the demo's are freed.
    const bool exact = opts_.socket.empty();
    if (exact ? rs.groups_freed != tmp_removed_ : rs.groups_freed < tmp_removed_)
      fail(freed, fmt::format("groups_freed {} {} {} tmp groups removed", rs.groups_freed, exact ? "!=" : "<",
                              tmp_removed_));
    if (freed.ok)
      freed.detail = fmt::format("{} tmp groups removed with kmalloc objects alive ({} cache entries kept past "
                                 "rmdir too); {} nr_dying_descendants peaked at {} (sampled), {} at stop, {} after "
                                 "the last rmdirs; after release + barrier 0, groups_allocated {} == groups in the "
                                 "tree, groups_freed {}, while {} slab objects of removed groups were still alive",
                                 churn_->leftovers_made.load(), churn_->kept_past_rmdir.load(), parent_path_,
                                 sampler_->dying_peak(), dying_at_stop_, dying_after_churn, rs.groups_allocated,
                                 rs.groups_freed, churn_->small_leftovers());
  }
  churn_->free_small_leftovers();
  checks_.push_back(std::move(freed_));

  rows_final_ = snapshot_rows();
  {
    // After the release nothing but (empty) slabs and stocks is charged.
    Check z{"released-to-zero"};
    for (const GroupRow& r : rows_final_) {
      if (r.reservations || r.kmalloc_large)
        fail(z, fmt::format("{}: reservations {} kmalloc_large {} after release", r.path, r.reservations,
                            r.kmalloc_large));
      if (r.current < r.stock || r.current - r.stock != r.slab)
        fail(z, fmt::format("{}: memory.current {} - stock {} != slab {} after release", r.path, r.current, r.stock,
                            r.slab));
    }
    cache_->unregister();
    std::error_code ec;
    cache_->cache().destroy(ec);
    if (ec) fail(z, fmt::format("Cache::destroy: {}", ec.message()));
    if (z.ok)
      z.detail = fmt::format("{} groups: reservations 0, kmalloc_large 0, memory.current - stock == slab (empty "
                             "slabs kept by the caches); the entry cache destroyed",
                             rows_final_.size());
    checks_.push_back(std::move(z));
  }
  if (!opts_.json) {
    fmt::print("\n# text tree after release (grep . <every file>)\n");
    std::fflush(stdout);
    dump_tree(stdout);
  }
}

void Demo::teardown() {
  tmp_created_ = churn_->created.load();
  kept_past_ = churn_->kept_past_rmdir.load();
  totals(ops_, refused_);
  for (const auto& t : tenants_) {
    tenant_ops_.push_back(t->counters.ops.load());
    tenant_refused_.push_back(t->counters.refused.load());
  }
  {
    Check d{"root-empty"};
    tenants_.clear();
    churn_.reset();
    sampler_.reset();
    parent_ = memcg::Group();
    std::error_code ec;
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      memcg::fs::rmdir(*it, ec);
      if (ec) fail(d, fmt::format("rmdir {}: {}", *it, ec.message()));
    }
    memcg::barrier();
    std::uint64_t cur = read_value("/memory.current", ec);
    if (ec) fail(d, fmt::format("/memory.current: {}", ec.message()));
    std::uint64_t stock = read_key("/memory.stat", "stock", ec);
    if (cur != 0) fail(d, fmt::format("/ memory.current {} (stock {}) after removing every group", cur, stock));
    std::string cstat = memcg::fs::read("/cgroup.stat", ec);
    KeyValues kv = parse_key_values(cstat);
    if (key_value(kv, "nr_descendants") != 0u || key_value(kv, "nr_dying_descendants") != 0u)
      fail(d, fmt::format("/cgroup.stat after teardown: {}", cstat));
    memcg::detail::RuntimeStats rs = memcg::detail::runtime_stats();
    if (rs.groups_allocated != 1)
      fail(d, fmt::format("groups_allocated {} after teardown, expected 1", rs.groups_allocated));
    if (d.ok)
      d.detail = fmt::format("after removing the demo's {} groups + barrier: / memory.current 0, no descendants, "
                             "groups_allocated 1",
                             created_.size());
    checks_.push_back(std::move(d));
  }
  {
    Check e{"no-api-errors"};
    if (shared_.api_errors.count()) fail_with(e, shared_.api_errors, "unexpected API results");
    if (e.ok) e.detail = "every API call of the workload behaved as documented";
    checks_.push_back(std::move(e));
  }
}

}  // namespace memcgctl
