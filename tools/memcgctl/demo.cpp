// memcgctl demo: builds a small multi-tenant tree, runs the workload
// (workload.hpp) while showing the live table (table.hpp), then stops it and
// checks the accounting. Public API only: the tree is built and read through
// memcg::fs; the threads use Group, ScopedGroup and Reservation.
//
// Timeline:
//   setup      /system, /tenants/{gold,silver,bronze} with limits (fs::write)
//   run        workers + churn + sampler; table every 250 ms (terminal) or 1 s
//   stop       workers and churn park holding their reservations
//              -> CHECK counters-exact, limits-held (peaks), rmdir-keeps-reservations (dying count)
//   release    they release everything and exit; memcg::barrier()
//              -> CHECK removed-groups-freed; text tree printed
//   teardown   the demo's groups removed; memcg::barrier()
//              -> CHECK root-empty
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/types.hpp"
#include "memcgctl.hpp"
#include "snapshot.hpp"
#include "table.hpp"
#include "workload.hpp"

namespace memcgctl {
namespace {

using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------- setup

struct Limit {
  const char* group;
  const char* file;
  const char* value;
};

// The demo's tree, in creation order; the limits are written through the text tree.
constexpr const char* kGroups[] = {"/system", "/tenants", "/tenants/gold", "/tenants/silver", "/tenants/bronze"};
constexpr Limit kLimits[] = {
    {"/system", "memory.min", "1M"},           {"/system", "memory.max", "8M"},
    {"/tenants", "memory.max", "128M"},        {"/tenants/gold", "memory.low", "32M"},
    {"/tenants/gold", "memory.max", "64M"},    {"/tenants/silver", "memory.high", "24M"},
    {"/tenants/silver", "memory.max", "48M"},  {"/tenants/bronze", "memory.max", "16M"},
};
// Groups whose memory.max is fixed for the whole run: the sampler watches them.
constexpr const char* kFixedLimit[] = {"/system", "/tenants", "/tenants/gold", "/tenants/silver", "/tenants/bronze"};

std::string tenant_path(int t) { return fmt::format("/tenants/{}", kTenantNames[t]); }

bool setup_tree(std::string& err) {
  std::error_code ec;
  for (const char* g : kGroups) {
    memcg::fs::mkdir(g, ec);
    if (ec) {
      err = fmt::format("mkdir {}: {}", g, ec.message());
      return false;
    }
  }
  for (const Limit& l : kLimits) {
    std::string file = join_path(l.group, l.file);
    memcg::fs::write(file, l.value, ec);
    if (ec) {
      err = fmt::format("write {} {}: {}", file, l.value, ec.message());
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------------------ checks

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

// (a) memory.current - stock == the threads' records, memory.stat
// reservations == the records, for every group the workload charges.
struct Expected {
  std::string path;
  std::uint64_t bytes;
};

Check check_counters(const std::vector<Expected>& expected, std::uint64_t* stock_total) {
  Check c{"counters-exact"};
  std::uint64_t root_bytes = 0, root_stock = 0;
  for (const Expected& e : expected) {
    std::error_code ec;
    std::uint64_t cur = read_value(join_path(e.path, "memory.current"), ec);
    std::string stat = ec ? std::string() : memcg::fs::read(join_path(e.path, "memory.stat"), ec);
    if (ec) {
      fail(c, fmt::format("{}: {}", e.path, ec.message()));
      continue;
    }
    KeyValues kv = parse_key_values(stat);
    auto stock = key_value(kv, "stock"), res = key_value(kv, "reservations");
    if (!stock || !res) {
      fail(c, fmt::format("{}: memory.stat lacks stock/reservations", e.path));
      continue;
    }
    if (cur < *stock || cur - *stock != e.bytes)
      fail(c, fmt::format("{}: memory.current {} - stock {} != {} recorded", e.path, cur, *stock, e.bytes));
    if (*res != e.bytes)
      fail(c, fmt::format("{}: memory.stat reservations {} != {} recorded", e.path, *res, e.bytes));
    if (e.path == "/") {
      root_bytes = e.bytes;
      root_stock = *stock;
    }
  }
  if (stock_total) *stock_total = root_stock;
  if (c.ok)
    c.detail = fmt::format("{} groups: memory.current - stock == recorded bytes; / holds {} B recorded + {} B in stocks",
                           expected.size(), root_bytes, root_stock);
  return c;
}

// ----------------------------------------------------------------- display

std::vector<std::string> footer_lines(const std::vector<std::unique_ptr<Worker>>& workers, const Churn& churn) {
  std::string refused = "refused:";
  for (int t = 0; t < kTenants; ++t) {
    std::uint64_t n = 0;
    for (const auto& w : workers) n += w->counters(t).refused.load(std::memory_order_relaxed);
    refused += fmt::format("  {} {}", kTenantNames[t], n);
  }
  refused += fmt::format("  tmp-* {}", churn.refused.load(std::memory_order_relaxed));
  std::string tmp = fmt::format(
      "churn:   tmp groups created {}  removed {}  reservations kept past rmdir {} (released {})",
      churn.created.load(std::memory_order_relaxed), churn.removed.load(std::memory_order_relaxed),
      churn.orphans_made.load(std::memory_order_relaxed), churn.orphans_released.load(std::memory_order_relaxed));
  return {refused, tmp};
}

std::uint64_t total_ops(const std::vector<std::unique_ptr<Worker>>& workers) {
  std::uint64_t n = 0;
  for (const auto& w : workers)
    for (int t = 0; t < kTenants; ++t) n += w->counters(t).ops.load(std::memory_order_relaxed);
  return n;
}

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true, std::memory_order_relaxed); }

nlohmann::json row_json(const GroupRow& r) {
  auto limit = [](std::uint64_t v) { return v == memcg::unlimited ? nlohmann::json("max") : nlohmann::json(v); };
  return {{"path", r.path},
          {"memory.current", r.current},
          {"memory.peak", r.peak},
          {"memory.max", limit(r.max)},
          {"memory.high", limit(r.high)},
          {"events", {{"max", r.ev_max}, {"high", r.ev_high}, {"oom", r.ev_oom}}},
          {"nr_dying_descendants", r.nr_dying}};
}

}  // namespace

int run_demo(const DemoOptions& opts) {
  std::string err;
  if (!setup_tree(err)) {
    fmt::print(stderr, "memcgctl: demo: {}\n", err);
    return kExitFailed;
  }

  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::unique_ptr<TableView> view;
  if (!opts.json)
    view = std::make_unique<TableView>(stdout, tty && !opts.no_live ? TableView::Mode::live : TableView::Mode::plain);
  auto old_sigint = std::signal(SIGINT, on_sigint);

  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<Churn> churn;
  std::unique_ptr<Sampler> sampler;
  {
    std::array<memcg::Group, kTenants> tenants;
    for (int t = 0; t < kTenants; ++t) tenants[t] = memcg::Group::open(tenant_path(t));
    for (int i = 0; i < opts.threads; ++i) workers.push_back(std::make_unique<Worker>(i, tenants, shared));
    churn = std::make_unique<Churn>(memcg::Group::open("/system"), shared);
    sampler = std::make_unique<Sampler>(std::vector<std::string>(std::begin(kFixedLimit), std::end(kFixedLimit)),
                                        shared);
  }

  // ------------------------------------------------------------------ run
  const auto start = Clock::now();
  const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts.seconds));
  const auto end = start + duration;
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  threads.emplace_back([&churn] { churn->run(); });
  std::thread sampler_thread([&sampler] { sampler->run(); });

  auto show = [&](const char* state) {
    if (!view) return;
    double t = std::chrono::duration<double>(Clock::now() - start).count();
    std::uint64_t refused = 0;
    for (const auto& w : workers)
      for (int k = 0; k < kTenants; ++k) refused += w->counters(k).refused.load(std::memory_order_relaxed);
    std::string title = fmt::format("memcgctl demo  {}  {:.2f}s / {:.2f}s  workers {}  ops {}  refused {}", state, t,
                                    opts.seconds, opts.threads, total_ops(workers), refused);
    view->frame(title, snapshot_rows(), footer_lines(workers, *churn));
  };

  const auto period = view && view->mode() == TableView::Mode::live ? std::chrono::milliseconds(250)
                                                                    : std::chrono::milliseconds(1000);
  auto next = start + period;
  if (view && view->mode() == TableView::Mode::live) show("running");
  for (;;) {
    auto now = Clock::now();
    if (now >= end || g_interrupted.load(std::memory_order_relaxed)) break;
    if (now >= next) {
      show("running");
      while (next <= now) next += period;
    }
    // Short naps so an interrupt or the end is noticed promptly.
    std::this_thread::sleep_until(std::min({next, end, now + std::chrono::milliseconds(50)}));
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  // ----------------------------------------------------------------- stop
  shared.set_phase(kStop);
  sampler_thread.join();
  shared.wait_parked(opts.threads + 1);
  show(g_interrupted.load() ? "interrupted" : "stopped");

  std::vector<Check> checks;
  std::uint64_t stock_at_stop = 0;
  std::vector<GroupRow> rows_at_stop = snapshot_rows();
  {
    // (a) With everything parked nothing charges: compare each group's
    // counter with what the threads' records say they hold in it.
    std::vector<Expected> expected;
    std::uint64_t tenants_total = 0;
    for (int t = 0; t < kTenants; ++t) {
      std::uint64_t sum = 0;
      for (const auto& w : workers) sum += w->held_bytes(t);
      expected.push_back({tenant_path(t), sum});
      tenants_total += sum;
    }
    for (const auto& lt : churn->live_tmp()) expected.push_back({lt.path, lt.bytes});
    expected.push_back({"/tenants", tenants_total + churn->tmp_bytes()});
    expected.push_back({"/system", churn->system_bytes()});
    expected.push_back({"/", tenants_total + churn->tmp_bytes() + churn->system_bytes()});
    checks.push_back(check_counters(expected, &stock_at_stop));
  }
  {
    // (b) The sampler never saw current > max; no peak passed max either.
    Check b{"limits-held"};
    if (sampler->samples() == 0) fail(b, "the sampler took no samples");
    if (shared.limit_errors.count()) fail_with(b, shared.limit_errors, "samples over max");
    for (const GroupRow& r : rows_at_stop)
      for (const char* p : kFixedLimit)
        if (r.path == p && r.peak > r.max)
          fail(b, fmt::format("{}: memory.peak {} > memory.max {}", r.path, r.peak, r.max));
    if (b.ok)
      b.detail = fmt::format("{} samples of {} fixed-limit groups never saw memory.current > memory.max; peaks <= max",
                             sampler->samples(), std::size(kFixedLimit));
    checks.push_back(std::move(b));
  }
  Check orphans{"rmdir-keeps-reservations"};
  {
    // Removed groups that still have reservations must be dying descendants.
    std::error_code ec;
    std::uint64_t dying = read_key("/tenants/cgroup.stat", "nr_dying_descendants", ec);
    std::size_t pinned = churn->dying_with_reservations();
    if (ec)
      fail(orphans, fmt::format("/tenants/cgroup.stat: {}", ec.message()));
    else if (dying < pinned || dying > churn->removed.load())
      fail(orphans, fmt::format("at stop /tenants nr_dying_descendants {}, but {} removed groups hold reservations "
                                "and {} were removed",
                                dying, pinned, churn->removed.load()));
  }

  // -------------------------------------------------------------- release
  shared.set_phase(kRelease);
  for (auto& t : threads) t.join();
  std::signal(SIGINT, old_sigint);
  if (shared.orphan_errors.count()) fail_with(orphans, shared.orphan_errors, "problems");
  if (churn->orphans_made.load() == 0) fail(orphans, "no reservation outlived an rmdir (run too short?)");
  if (orphans.ok)
    orphans.detail = fmt::format("{} reservations of {} removed tmp groups stayed valid (size kept, group dying, "
                                 "grow refused) until released",
                                 churn->orphans_made.load(), churn->removed.load());
  checks.push_back(std::move(orphans));

  struct TenantTotals {
    std::uint64_t ops = 0, refused = 0;
  };
  std::array<TenantTotals, kTenants> totals;
  for (int t = 0; t < kTenants; ++t)
    for (const auto& w : workers) {
      totals[t].ops += w->counters(t).ops.load();
      totals[t].refused += w->counters(t).refused.load();
    }
  const std::uint64_t ops = total_ops(workers);
  const std::uint64_t tmp_created = churn->created.load(), tmp_removed = churn->removed.load();
  const std::uint64_t tmp_ops = churn->ops.load(), tmp_refused = churn->refused.load();
  const std::uint64_t orphans_made = churn->orphans_made.load();
  workers.clear();  // their Group handles go with them
  churn.reset();
  sampler.reset();
  memcg::barrier();

  {
    // (c) Every removed group is freed: allocated == the groups in the tree.
    Check c{"removed-groups-freed"};
    std::vector<std::string> live = walk_groups();
    memcg::RuntimeStats rs = memcg::runtime_stats();
    std::error_code ec;
    std::uint64_t dying = read_key("/cgroup.stat", "nr_dying_descendants", ec);
    if (rs.groups_allocated != live.size())
      fail(c, fmt::format("groups_allocated {} != {} groups in the tree", rs.groups_allocated, live.size()));
    if (ec)
      fail(c, fmt::format("/cgroup.stat: {}", ec.message()));
    else if (dying != 0)
      fail(c, fmt::format("/ nr_dying_descendants {}", dying));
    if (rs.groups_freed != tmp_removed)
      fail(c, fmt::format("groups_freed {} != {} tmp groups removed", rs.groups_freed, tmp_removed));
    if (c.ok)
      c.detail = fmt::format("after release + barrier: groups_allocated {} == groups in the tree, {} freed, "
                             "/ nr_dying_descendants 0",
                             rs.groups_allocated, rs.groups_freed);
    checks.push_back(std::move(c));
  }

  std::vector<GroupRow> rows_final = snapshot_rows();
  if (!opts.json) {
    fmt::print("\n# text tree after release (grep . <every file>)\n");
    std::fflush(stdout);
    dump_tree(stdout);
  }

  {
    // (d) Nothing left: every group at 0 after release (the threads have
    // exited, and thread exit drains their stocks; this thread never
    // charged), and after removing the demo's groups the root is back at 0
    // with only itself allocated.
    Check d{"root-empty"};
    for (const GroupRow& r : rows_final)
      if (r.current != 0) fail(d, fmt::format("{}: memory.current {} after release", r.path, r.current));
    std::error_code ec;
    for (auto it = std::rbegin(kGroups); it != std::rend(kGroups); ++it) {
      memcg::fs::rmdir(*it, ec);
      if (ec) fail(d, fmt::format("rmdir {}: {}", *it, ec.message()));
    }
    memcg::barrier();
    std::uint64_t cur = read_value("/memory.current", ec);
    if (ec) fail(d, fmt::format("/memory.current: {}", ec.message()));
    std::uint64_t stock = read_key("/memory.stat", "stock", ec);
    if (ec) fail(d, fmt::format("/memory.stat: {}", ec.message()));
    if (cur != 0) fail(d, fmt::format("/ memory.current {} (stock {}) after removing every group", cur, stock));
    std::string cstat = memcg::fs::read("/cgroup.stat", ec);
    KeyValues kv = parse_key_values(cstat);
    if (key_value(kv, "nr_descendants") != 0u || key_value(kv, "nr_dying_descendants") != 0u)
      fail(d, fmt::format("/cgroup.stat after teardown: {}", cstat));
    memcg::RuntimeStats rs = memcg::runtime_stats();
    if (rs.groups_allocated != 1) fail(d, fmt::format("groups_allocated {} after teardown, expected 1", rs.groups_allocated));
    if (d.ok)
      d.detail = fmt::format("all {} groups at 0 after release; after removing them / memory.current 0, "
                             "groups_allocated 1",
                             rows_final.size());
    checks.push_back(std::move(d));
  }

  {
    // Every call of the workload returned what the API promises (charges
    // fail only with ENOMEM in online groups, mkdir/rmdir/write succeed,
    // reservation sizes match the records, reset empties).
    Check e{"no-api-errors"};
    if (shared.api_errors.count()) fail_with(e, shared.api_errors, "unexpected API results");
    if (e.ok) e.detail = "every API call of the workload behaved as documented";
    checks.push_back(std::move(e));
  }

  bool all_ok = true;
  for (const Check& c : checks) all_ok = all_ok && c.ok;

  if (opts.json) {
    nlohmann::json j;
    j["seconds"] = opts.seconds;
    j["elapsed"] = elapsed;
    j["threads"] = opts.threads;
    j["interrupted"] = g_interrupted.load();
    nlohmann::json tenants = nlohmann::json::object();
    for (int t = 0; t < kTenants; ++t)
      tenants[kTenantNames[t]] = {{"ops", totals[t].ops}, {"refused", totals[t].refused}};
    j["workload"] = {{"ops", ops},
                     {"tenants", tenants},
                     {"churn",
                      {{"created", tmp_created},
                       {"removed", tmp_removed},
                       {"ops", tmp_ops},
                       {"refused", tmp_refused},
                       {"reservations_kept_past_rmdir", orphans_made}}},
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
    fmt::print("\n# workload: {} workers for {:.2f}s{}, {} ops\n", opts.threads, elapsed,
               g_interrupted.load() ? " (interrupted)" : "", ops);
    for (int t = 0; t < kTenants; ++t)
      fmt::print("#   {:<16} ops {:>10}  refused {:>8}\n", tenant_path(t), totals[t].ops, totals[t].refused);
    fmt::print("#   churn: {} tmp groups created, {} removed, {} charges ({} refused), "
               "{} reservations kept past rmdir\n",
               tmp_created, tmp_removed, tmp_ops, tmp_refused, orphans_made);
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
