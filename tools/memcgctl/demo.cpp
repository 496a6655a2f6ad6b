// memcgctl demo: builds a multi-tenant tree from a configuration
// (config.hpp), runs the workload (workload.hpp) while showing the live table
// (table.hpp), then stops it and checks the accounting, the limits, reclaim,
// protection, OOM handling and the lifecycle of removed groups. Public API
// only: the tree is built and read through memcg::fs.
//
// Timeline:
//   setup      parent, tenants and extra groups with their limits (fs::write);
//              the cache's shrinker registered; the OOM handler set on the parent
//   run        workers + churn + sampler; timed writes; table every 250 ms (terminal) or 1 s
//   stop       workers and churn park: nothing charges
//              -> CHECK counters-exact, limits-held, reclaim-happened,
//                 protection-honoured, oom-handler
//   release    threads exit; every entry and object freed; memcg::barrier()
//              -> CHECK removed-groups-freed, released-to-zero
//   teardown   the demo's groups removed; memcg::barrier()
//              -> CHECK root-empty
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "config.hpp"
#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/shrinker.hpp"
#include "memcg/types.hpp"
#include "memcgctl.hpp"
#include "snapshot.hpp"
#include "table.hpp"
#include "testing_stats.hpp"
#include "workload.hpp"

namespace memcgctl {
namespace {

using Clock = std::chrono::steady_clock;

struct Check {
  explicit Check(std::string n) : name(std::move(n)) {}
  std::string name;
  bool ok = true;
  std::string detail;  // what was checked (ok) or what went wrong (failed)
};

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

std::string parent_of(const std::string& path) {
  std::size_t s = path.rfind('/');
  return s == 0 ? "/" : path.substr(0, s);
}

// mkdir -p for the groups of the configuration; records what it created.
bool make_group(const GroupSpec& g, std::vector<std::string>& created, std::string& err) {
  std::vector<std::string> chain;
  for (std::string p = g.path; p != "/"; p = parent_of(p)) chain.push_back(p);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    std::error_code ec;
    memcg::fs::mkdir(*it, ec);
    if (ec == std::errc::file_exists && *it != g.path) continue;
    if (ec) {
      err = fmt::format("mkdir {}: {}", *it, ec.message());
      return false;
    }
    created.push_back(*it);
  }
  for (const auto& [file, value] : g.limits) {
    std::error_code ec;
    memcg::fs::write(join_path(g.path, file), value, ec);
    if (ec) {
      err = fmt::format("write {} {}: {}", join_path(g.path, file), value, ec.message());
      return false;
    }
  }
  return true;
}

const GroupRow* find_row(const std::vector<GroupRow>& rows, const std::string& path) {
  for (const auto& r : rows)
    if (r.path == path) return &r;
  return nullptr;
}

nlohmann::json limit_json(std::uint64_t v) { return v == memcg::unlimited ? nlohmann::json("max") : nlohmann::json(v); }

nlohmann::json row_json(const GroupRow& r) {
  return {{"path", r.path},
          {"memory.current", r.current},
          {"memory.peak", r.peak},
          {"memory.max", limit_json(r.max)},
          {"memory.high", limit_json(r.high)},
          {"memory.low", limit_json(r.low)},
          {"events",
           {{"max", r.ev_max}, {"high", r.ev_high}, {"low", r.ev_low}, {"oom", r.ev_oom}, {"oom_kill", r.ev_oom_kill}}},
          {"nr_dying_descendants", r.nr_dying},
          {"stat",
           {{"slab", r.slab},
            {"reservations", r.reservations},
            {"kmalloc_large", r.kmalloc_large},
            {"stock", r.stock},
            {"pgscan", r.pgscan},
            {"pgsteal", r.pgsteal}}}};
}

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true, std::memory_order_relaxed); }

// Frees every entry and object still alive, from its own thread, so that the
// uncharges land in a stock that thread exit drains.
void release_everything(EntryCache& cache, std::vector<std::unique_ptr<Tenant>>& tenants, const std::string& parent) {
  std::thread t([&] {
    for (int round = 0; round < 8 && cache.on_lists() != 0; ++round)
      for (const std::string& g : walk_groups(parent)) {
        std::error_code ec;
        memcg::Group grp = memcg::Group::open(g, ec);
        if (ec) continue;
        while (cache.evict(grp, 1024) != 0) {
        }
      }
    for (auto& tn : tenants) tn->pool.free_all();
  });
  t.join();
}

}  // namespace

int run_demo(const DemoOptions& opts) {
  // ---------------------------------------------------------- configuration
  DemoConfig cfg;
  {
    std::string text = kDefaultConfig, source = "<default config>", err;
    if (!opts.config.empty()) {
      std::ifstream in(opts.config);
      if (!in) {
        fmt::print(stderr, "memcgctl: demo: cannot read {}\n", opts.config);
        return kExitFailed;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
      source = opts.config;
    }
    if (!parse_config(text, source, cfg, err)) {
      fmt::print(stderr, "memcgctl: demo: {}\n", err);
      return kExitUsage;
    }
    if (opts.print_config) {
      fmt::print("{}", text);
      return kExitOk;
    }
  }
  if (opts.seconds > 0) cfg.seconds = opts.seconds;
  if (opts.threads > 0) cfg.workers = opts.threads;
  for (auto& tw : cfg.timeline)
    if (tw.fraction >= 0) tw.at = tw.fraction * cfg.seconds;

  // ------------------------------------------------------------------ setup
  std::vector<std::string> created;  // creation order; removed in reverse
  {
    std::string err;
    bool ok = make_group(cfg.parent, created, err);
    for (const auto& t : cfg.tenants) ok = ok && make_group(t.group, created, err);
    for (const auto& g : cfg.extra) ok = ok && make_group(g, created, err);
    if (!ok) {
      fmt::print(stderr, "memcgctl: demo: {}\n", err);
      return kExitFailed;
    }
  }
  const std::string& parent_path = cfg.parent.path;
  memcg::Group parent = memcg::Group::open(parent_path);

  const std::uint32_t tmp_slot = static_cast<std::uint32_t>(cfg.tenants.size());
  auto cache = std::make_unique<EntryCache>(cfg.tenants.size() + 1);
  cache->register_now();
  std::vector<std::unique_ptr<Tenant>> tenants;
  for (std::size_t i = 0; i < cfg.tenants.size(); ++i) {
    auto t = std::make_unique<Tenant>();
    t->spec = cfg.tenants[i];
    t->group = memcg::Group::open(t->spec.group.path);
    t->slot = static_cast<std::uint32_t>(i);
    tenants.push_back(std::move(t));
  }
  OomStats oom;
  parent.set_oom_handler(make_oom_handler(tenants, oom));

  // Groups whose memory.max stays as configured (a timed write to memory.max
  // takes a group out: lowering max below usage is allowed).
  std::vector<std::string> fixed;
  {
    std::set<std::string> lowered;
    for (const auto& tw : cfg.timeline)
      if (tw.path.size() > 11 && tw.path.compare(tw.path.size() - 11, 11, "/memory.max") == 0)
        lowered.insert(tw.path.substr(0, tw.path.size() - 11));
    auto consider = [&](const GroupSpec& g) {
      if (g.has("memory.max") && !lowered.count(g.path)) fixed.push_back(g.path);
    };
    consider(cfg.parent);
    for (const auto& t : cfg.tenants) consider(t.group);
    for (const auto& g : cfg.extra) consider(g);
  }

  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::unique_ptr<TableView> view;
  if (!opts.json)
    view = std::make_unique<TableView>(stdout, tty && !opts.no_live ? TableView::Mode::live : TableView::Mode::plain);
  auto old_sigint = std::signal(SIGINT, on_sigint);

  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < cfg.workers; ++i) workers.push_back(std::make_unique<Worker>(i, tenants, *cache, shared));
  auto churn = std::make_unique<Churn>(cfg, parent, *cache, tmp_slot, shared);
  auto sampler = std::make_unique<Sampler>(fixed, parent_path, shared);

  // -------------------------------------------------------------------- run
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.seconds));
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  threads.emplace_back([&churn] { churn->run(); });
  std::thread sampler_thread([&sampler] { sampler->run(); });

  auto totals = [&](std::uint64_t& ops, std::uint64_t& refused) {
    ops = refused = 0;
    for (const auto& t : tenants) {
      ops += t->counters.ops.load(std::memory_order_relaxed);
      refused += t->counters.refused.load(std::memory_order_relaxed);
    }
  };
  auto footer = [&]() {
    std::vector<std::string> out;
    for (const auto& t : tenants) {
      const SlotStats& s = cache->slot(t->slot);
      out.push_back(fmt::format("{:<8} cache {:>7} (inserted {}, evicted {}, reclaimed {} = {})  kmem {:>7}  refused {}",
                                t->spec.name, format_bytes(std::max<std::int64_t>(0, s.held.load())), s.inserted.load(),
                                s.evicted.load(), s.reclaimed.load(), format_bytes(s.reclaimed_bytes.load()),
                                format_bytes(t->pool.bytes()), t->counters.refused.load()));
    }
    const SlotStats& ts = cache->slot(tmp_slot);
    out.push_back(fmt::format("churn:   tmp groups created {}  removed {}  entries kept past rmdir {}  "
                              "reclaimed {}  evicted from {} {}",
                              churn->created.load(), churn->removed.load(), churn->kept_past_rmdir.load(),
                              ts.reclaimed.load(), parent_path, churn->evicted_from_parent.load()));
    memcg::detail::ReclaimStats rs = memcg::detail::reclaim_stats();
    out.push_back(fmt::format("oom:     handler on {} ran {} times, freed memory {} times ({})  shrinker calls {}",
                              parent_path, oom.calls.load(), oom.kills.load(), format_bytes(oom.freed_bytes.load()),
                              rs.shrinker_calls));
    return out;
  };
  auto show = [&](const char* state) {
    if (!view) return;
    double t = std::chrono::duration<double>(Clock::now() - start).count();
    std::uint64_t ops, refused;
    totals(ops, refused);
    std::string title = fmt::format("memcgctl demo  {}  {:.2f}s / {:.2f}s  workers {}  ops {}  refused {}", state, t,
                                    cfg.seconds, cfg.workers, ops, refused);
    view->frame(title, snapshot_rows(), footer());
  };

  std::vector<bool> done(cfg.timeline.size(), false);
  nlohmann::json timeline_json = nlohmann::json::array();
  const auto period = view && view->mode() == TableView::Mode::live ? std::chrono::milliseconds(250)
                                                                    : std::chrono::milliseconds(1000);
  auto next = start + period;
  if (view && view->mode() == TableView::Mode::live) show("running");
  for (;;) {
    auto now = Clock::now();
    if (now >= end || g_interrupted.load(std::memory_order_relaxed)) break;
    const double t = std::chrono::duration<double>(now - start).count();
    for (std::size_t i = 0; i < cfg.timeline.size(); ++i) {
      if (done[i] || t < cfg.timeline[i].at) continue;
      done[i] = true;
      const TimedWrite& tw = cfg.timeline[i];
      std::error_code ec;
      const auto t0 = Clock::now();
      memcg::fs::write(tw.path, tw.value, ec);
      const double took = std::chrono::duration<double>(Clock::now() - t0).count();
      timeline_json.push_back({{"at", t}, {"path", tw.path}, {"value", tw.value}, {"seconds", took},
                               {"error", ec ? ec.message() : ""}});
      if (ec)
        shared.api_errors.add(fmt::format("{}:{}: write {} {}: {}", cfg.source, tw.line, tw.path, tw.value,
                                          ec.message()));
    }
    if (now >= next) {
      show("running");
      while (next <= now) next += period;
    }
    std::this_thread::sleep_until(std::min({next, end, now + std::chrono::milliseconds(20)}));
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  // ------------------------------------------------------------------- stop
  shared.set_phase(kStop);
  sampler_thread.join();
  shared.wait_parked(cfg.workers + 1);
  show(g_interrupted.load() ? "interrupted" : "stopped");

  std::vector<Check> checks;
  std::vector<GroupRow> rows_at_stop = snapshot_rows();
  std::uint64_t stock_at_stop = 0;
  {
    // Nothing charges now. For every tenant, the parent and the root:
    // memory.current - stock == reservations + slab + kmalloc_large, and
    // reservations == the page bytes the cache says it holds there.
    Check c{"counters-exact"};
    std::vector<std::pair<std::string, std::int64_t>> expect;
    std::int64_t all = 0;
    for (std::size_t i = 0; i <= tenants.size(); ++i) all += cache->slot(i).held.load();
    for (const auto& t : tenants) expect.emplace_back(t->group.path(), cache->slot(t->slot).held.load());
    expect.emplace_back(parent_path, all);
    for (const auto& p : churn->live_paths()) expect.emplace_back(p, -1);  // live tmp groups: stat identity only
    for (const auto& g : cfg.extra) expect.emplace_back(g.path, -1);
    expect.emplace_back("/", all);
    for (const auto& [path, held] : expect) {
      const GroupRow* r = find_row(rows_at_stop, path);
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
      if (path == "/") stock_at_stop = r->stock;
    }
    if (c.ok)
      c.detail = fmt::format("{} groups at stop: memory.current - stock == reservations + slab + kmalloc_large; "
                             "reservations == the cache's page bytes (/ holds {} B of pages, {} B in stocks)",
                             expect.size(), all, stock_at_stop);
    checks.push_back(std::move(c));
  }
  {
    Check b{"limits-held"};
    if (sampler->samples() == 0) fail(b, "the sampler took no samples");
    if (shared.limit_errors.count()) fail_with(b, shared.limit_errors, "samples over max");
    for (const std::string& p : fixed)
      if (const GroupRow* r = find_row(rows_at_stop, p); r && r->peak > r->max)
        fail(b, fmt::format("{}: memory.peak {} > memory.max {}", p, r->peak, r->max));
    if (b.ok)
      b.detail = fmt::format("{} samples of {} groups with a fixed memory.max ({}) never saw memory.current > "
                             "memory.max; their peaks <= max",
                             sampler->samples(), fixed.size(), fmt::join(fixed, " "));
    checks.push_back(std::move(b));
  }
  {
    // Reclaim ran: memory.stat pgsteal of some tenant > 0 and the shrinker freed entries.
    Check r{"reclaim-happened"};
    std::uint64_t steal = 0, objs = 0;
    std::vector<std::string> parts;
    for (const auto& t : tenants) {
      const GroupRow* row = find_row(rows_at_stop, t->group.path());
      const std::uint64_t s = row ? row->pgsteal : 0;
      steal += s;
      objs += cache->slot(t->slot).reclaimed.load();
      parts.push_back(fmt::format("{} pgsteal {}", t->spec.name, format_bytes(s)));
    }
    objs += cache->slot(tmp_slot).reclaimed.load();
    if (cfg.expect_reclaim) {
      if (steal == 0) fail(r, "no tenant has memory.stat pgsteal > 0");
      if (objs == 0) fail(r, "the shrinker freed no entry");
    }
    if (r.ok)
      r.detail = fmt::format("{}; the shrinker freed {} entries in {} scan calls{}", fmt::join(parts, ", "), objs,
                             cache->scans(), cfg.expect_reclaim ? "" : " (not required by the configuration)");
    checks.push_back(std::move(r));
  }
  {
    // Protection: a tenant with memory.low/min either had no low event
    // (never reclaimed inside its protection) or lost less, relative to its
    // peak, than every unprotected tenant that was reclaimed.
    Check p{"protection-honoured"};
    auto ratio = [&](const Tenant& t) {
      const GroupRow* row = find_row(rows_at_stop, t.group.path());
      const double peak = row && row->peak ? static_cast<double>(row->peak) : 1.0;
      return static_cast<double>(cache->slot(t.slot).reclaimed_bytes.load()) / peak;
    };
    double min_unprot = -1;
    std::vector<std::string> parts;
    for (const auto& t : tenants) {
      parts.push_back(fmt::format("{} {:.3f}", t->spec.name, ratio(*t)));
      if (t->spec.protected_() || cache->slot(t->slot).reclaimed_bytes.load() == 0) continue;
      min_unprot = min_unprot < 0 ? ratio(*t) : std::min(min_unprot, ratio(*t));
    }
    int nprot = 0;
    for (const auto& t : tenants) {
      if (!t->spec.protected_()) continue;
      ++nprot;
      const GroupRow* row = find_row(rows_at_stop, t->group.path());
      const std::uint64_t low_events = row ? row->ev_low : 0;
      if (low_events == 0 || (min_unprot >= 0 && ratio(*t) < min_unprot)) continue;
      if (cfg.expect_protection)
        fail(p, fmt::format("{}: {} low events and reclaimed {:.3f} of its peak, not less than the unprotected "
                            "tenants' {:.3f}",
                            t->group.path(), low_events, ratio(*t), min_unprot));
    }
    if (cfg.expect_protection) {
      if (nprot == 0) fail(p, "no tenant has memory.low or memory.min");
      if (min_unprot < 0) fail(p, "no unprotected tenant was reclaimed: no pressure to protect against");
    }
    if (p.ok)
      p.detail = fmt::format("bytes reclaimed by the shrinker / memory.peak: {}{}", fmt::join(parts, ", "),
                             cfg.expect_protection ? "" : " (not required by the configuration)");
    checks.push_back(std::move(p));
  }
  {
    // The parent's handler is the nearest for every group below it: each OOM
    // there called it once, and each call that freed memory is an oom_kill.
    Check o{"oom-handler"};
    const GroupRow* row = find_row(rows_at_stop, parent_path);
    const std::uint64_t calls = oom.calls.load(), kills = oom.kills.load();
    if (!row) {
      fail(o, fmt::format("{}: could not read its files", parent_path));
    } else {
      if (row->ev_oom != calls)
        fail(o, fmt::format("{} memory.events oom {} != {} handler calls", parent_path, row->ev_oom, calls));
      if (row->ev_oom_kill != kills)
        fail(o, fmt::format("{} memory.events oom_kill {} != {} handler calls that freed memory", parent_path,
                            row->ev_oom_kill, kills));
    }
    if (cfg.expect_oom && kills == 0) fail(o, fmt::format("the OOM handler never freed memory ({} calls)", calls));
    if (o.ok) {
      o.detail = fmt::format("handler on {} ran {} times == memory.events oom, freed {} in {} runs == oom_kill",
                             parent_path, calls, format_bytes(oom.freed_bytes.load()), kills);
      auto v = oom.victims.first();
      if (!v.empty()) o.detail += fmt::format(" (first: {})", v.front());
    }
    checks.push_back(std::move(o));
  }
  Check freed{"removed-groups-freed"};
  std::uint64_t dying_at_stop = 0;
  if (const GroupRow* r = find_row(rows_at_stop, parent_path)) dying_at_stop = r->nr_dying;
  if (dying_at_stop > churn->removed.load())
    fail(freed, fmt::format("at stop {} nr_dying_descendants {} > {} groups removed", parent_path, dying_at_stop,
                            churn->removed.load()));

  // ---------------------------------------------------------------- release
  shared.set_phase(kRelease);
  for (auto& t : threads) t.join();
  std::signal(SIGINT, old_sigint);
  const std::uint64_t dying_after_churn = [&] {
    std::error_code ec;
    return read_key(join_path(parent_path, "cgroup.stat"), "nr_dying_descendants", ec);
  }();
  release_everything(*cache, tenants, parent_path);
  parent.set_oom_handler(nullptr);
  const std::uint64_t left_on_lists = cache->on_lists();
  const std::uint64_t tmp_removed = churn->removed.load();
  workers.clear();
  memcg::barrier();
  {
    std::vector<std::string> live = walk_groups();
    memcg::detail::RuntimeStats rs = memcg::detail::runtime_stats();
    std::error_code ec;
    std::uint64_t dying = read_key("/cgroup.stat", "nr_dying_descendants", ec);
    const std::uint64_t peak = std::max({sampler->dying_peak(), dying_at_stop, dying_after_churn});
    if (peak == 0) fail(freed, "nr_dying_descendants never rose above 0 (no group outlived its rmdir)");
    if (churn->kept_past_rmdir.load() == 0 && churn->leftovers_made.load() == 0)
      fail(freed, "no object outlived its group's rmdir");
    if (churn->small_leftovers() == 0) fail(freed, "no slab object of a removed group alive at the check");
    if (left_on_lists != 0) fail(freed, fmt::format("{} entries still on the lists after release", left_on_lists));
    if (rs.groups_allocated != live.size())
      fail(freed, fmt::format("groups_allocated {} != {} groups in the tree", rs.groups_allocated, live.size()));
    if (ec)
      fail(freed, fmt::format("/cgroup.stat: {}", ec.message()));
    else if (dying != 0)
      fail(freed, fmt::format("/ nr_dying_descendants {} after release + barrier", dying));
    if (rs.groups_freed != tmp_removed)
      fail(freed, fmt::format("groups_freed {} != {} tmp groups removed", rs.groups_freed, tmp_removed));
    if (freed.ok)
      freed.detail = fmt::format("{} tmp groups removed with kmalloc objects alive ({} cache entries kept past "
                                 "rmdir too); {} nr_dying_descendants peaked at {} (sampled), {} at stop, {} after "
                                 "the last rmdirs; after release + barrier 0, groups_allocated {} == groups in the "
                                 "tree, groups_freed {}, while {} slab objects of removed groups were still alive",
                                 churn->leftovers_made.load(), churn->kept_past_rmdir.load(), parent_path,
                                 sampler->dying_peak(), dying_at_stop, dying_after_churn, rs.groups_allocated,
                                 rs.groups_freed, churn->small_leftovers());
  }
  churn->free_small_leftovers();
  checks.push_back(std::move(freed));

  std::vector<GroupRow> rows_final = snapshot_rows();
  {
    // After the release nothing but (empty) slabs and stocks is charged.
    Check z{"released-to-zero"};
    for (const GroupRow& r : rows_final) {
      if (r.reservations || r.kmalloc_large)
        fail(z, fmt::format("{}: reservations {} kmalloc_large {} after release", r.path, r.reservations,
                            r.kmalloc_large));
      if (r.current < r.stock || r.current - r.stock != r.slab)
        fail(z, fmt::format("{}: memory.current {} - stock {} != slab {} after release", r.path, r.current, r.stock,
                            r.slab));
    }
    cache->unregister();
    std::error_code ec;
    cache->cache().destroy(ec);
    if (ec) fail(z, fmt::format("Cache::destroy: {}", ec.message()));
    if (z.ok)
      z.detail = fmt::format("{} groups: reservations 0, kmalloc_large 0, memory.current - stock == slab (empty "
                             "slabs kept by the caches); the entry cache destroyed",
                             rows_final.size());
    checks.push_back(std::move(z));
  }
  if (!opts.json) {
    fmt::print("\n# text tree after release (grep . <every file>)\n");
    std::fflush(stdout);
    dump_tree(stdout);
  }

  const std::uint64_t tmp_created = churn->created.load(), kept_past = churn->kept_past_rmdir.load();
  std::uint64_t ops, refused;
  totals(ops, refused);
  std::vector<std::uint64_t> tenant_ops, tenant_refused;
  for (const auto& t : tenants) {
    tenant_ops.push_back(t->counters.ops.load());
    tenant_refused.push_back(t->counters.refused.load());
  }
  {
    Check d{"root-empty"};
    tenants.clear();
    churn.reset();
    sampler.reset();
    parent = memcg::Group();
    std::error_code ec;
    for (auto it = created.rbegin(); it != created.rend(); ++it) {
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
                             created.size());
    checks.push_back(std::move(d));
  }
  {
    Check e{"no-api-errors"};
    if (shared.api_errors.count()) fail_with(e, shared.api_errors, "unexpected API results");
    if (e.ok) e.detail = "every API call of the workload behaved as documented";
    checks.push_back(std::move(e));
  }

  bool all_ok = true;
  for (const Check& c : checks) all_ok = all_ok && c.ok;

  if (opts.json) {
    nlohmann::json j;
    j["config"] = cfg.source;
    j["seconds"] = cfg.seconds;
    j["elapsed"] = elapsed;
    j["workers"] = cfg.workers;
    j["interrupted"] = g_interrupted.load();
    nlohmann::json tj = nlohmann::json::object();
    for (std::size_t i = 0; i < cfg.tenants.size(); ++i) {
      const SlotStats& s = cache->slot(i);
      tj[cfg.tenants[i].name] = {{"ops", tenant_ops[i]},
                                 {"refused", tenant_refused[i]},
                                 {"inserted", s.inserted.load()},
                                 {"evicted", s.evicted.load()},
                                 {"reclaimed", s.reclaimed.load()},
                                 {"reclaimed_bytes", s.reclaimed_bytes.load()}};
    }
    j["workload"] = {{"ops", ops},
                     {"refused", refused},
                     {"tenants", tj},
                     {"churn",
                      {{"created", tmp_created},
                       {"removed", tmp_removed},
                       {"entries_kept_past_rmdir", kept_past},
                       {"reclaimed", cache->slot(tmp_slot).reclaimed.load()}}},
                     {"oom", {{"calls", oom.calls.load()}, {"kills", oom.kills.load()},
                              {"freed_bytes", oom.freed_bytes.load()}}},
                     {"timeline", timeline_json},
                     {"stock_at_stop", stock_at_stop},
                     {"api_errors", shared.api_errors.count()}};
    j["table_at_stop"] = nlohmann::json::array();
    for (const auto& r : rows_at_stop) j["table_at_stop"].push_back(row_json(r));
    j["table"] = nlohmann::json::array();
    for (const auto& r : rows_final) j["table"].push_back(row_json(r));
    j["checks"] = nlohmann::json::array();
    for (const Check& c : checks) j["checks"].push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    j["ok"] = all_ok;
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("\n# workload: {} ({}) for {:.2f}s{}: {} workers, {} ops, {} refused\n", cfg.source, parent_path,
               elapsed, g_interrupted.load() ? " (interrupted)" : "", cfg.workers, ops, refused);
    for (const Check& c : checks)
      if (c.ok) fmt::print("#   {}: {}\n", c.name, c.detail);
    for (const Check& c : checks) {
      if (c.ok)
        fmt::print("CHECK {}: ok\n", c.name);
      else
        fmt::print("CHECK {}: FAILED ({})\n", c.name, c.detail);
    }
  }
  std::fflush(stdout);
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace memcgctl
