// memcgctl demo: builds a multi-tenant tree from a configuration
// (config.hpp), runs the workload (workload.hpp) while showing the live table
// (table.hpp), then stops it and checks the accounting, the limits, reclaim,
// protection, OOM handling and the lifecycle of removed groups. Public API
// only: the tree is built and read through memcg::fs. The phases are the
// member functions of Demo (demo.hpp); the checks are in demo_checks.cpp.
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

#include "demo.hpp"
#include "memcg/fs.hpp"
#include "memcg/serve.hpp"
#include "memcg/group.hpp"
#include "memcg/shrinker.hpp"
#include "memcg/types.hpp"
#include "testing_stats.hpp"

namespace memcgctl {
namespace {

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
            {"pgsteal", r.pgsteal},
            {"reclaimed", r.reclaimed}}}};
}

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true, std::memory_order_relaxed); }

}  // namespace

bool demo_interrupted() { return g_interrupted.load(); }

int load_demo_config(const DemoOptions& opts, DemoConfig& cfg) {
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
  return -1;
}

bool Demo::setup() {
  {
    std::string err;
    bool ok = make_group(cfg_.parent, created_, err);
    for (const auto& t : cfg_.tenants) ok = ok && make_group(t.group, created_, err);
    for (const auto& g : cfg_.extra) ok = ok && make_group(g, created_, err);
    if (!ok) {
      fmt::print(stderr, "memcgctl: demo: {}\n", err);
      return false;
    }
  }
  parent_path_ = cfg_.parent.path;
  parent_ = memcg::Group::open(parent_path_);

  tmp_slot_ = static_cast<std::uint32_t>(cfg_.tenants.size());
  cache_ = std::make_unique<EntryCache>(cfg_.tenants.size() + 1);
  cache_->register_now();
  for (std::size_t i = 0; i < cfg_.tenants.size(); ++i) {
    auto t = std::make_unique<Tenant>();
    t->spec = cfg_.tenants[i];
    t->group = memcg::Group::open(t->spec.group.path);
    t->slot = static_cast<std::uint32_t>(i);
    tenants_.push_back(std::move(t));
  }
  parent_.set_oom_handler(make_oom_handler(tenants_, oom_));

  // Groups whose memory.max stays as configured (a timed write to memory.max
  // takes a group out: lowering max below usage is allowed).
  {
    std::set<std::string> lowered;
    for (const auto& tw : cfg_.timeline)
      if (tw.path.size() > 11 && tw.path.compare(tw.path.size() - 11, 11, "/memory.max") == 0)
        lowered.insert(tw.path.substr(0, tw.path.size() - 11));
    auto consider = [&](const GroupSpec& g) {
      if (g.has("memory.max") && !lowered.count(g.path)) fixed_.push_back(g.path);
    };
    consider(cfg_.parent);
    for (const auto& t : cfg_.tenants) consider(t.group);
    for (const auto& g : cfg_.extra) consider(g);
  }

  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  if (!opts_.json)
    view_ = std::make_unique<TableView>(stdout, tty && !opts_.no_live ? TableView::Mode::live : TableView::Mode::plain);
  old_sigint_ = std::signal(SIGINT, on_sigint);

  for (int i = 0; i < cfg_.workers; ++i) workers_.push_back(std::make_unique<Worker>(i, tenants_, *cache_, shared_));
  churn_ = std::make_unique<Churn>(cfg_, parent_, *cache_, tmp_slot_, shared_);
  sampler_ = std::make_unique<Sampler>(fixed_, parent_path_, shared_);
  return true;
}

void Demo::totals(std::uint64_t& ops, std::uint64_t& refused) const {
  ops = refused = 0;
  for (const auto& t : tenants_) {
    ops += t->counters.ops.load(std::memory_order_relaxed);
    refused += t->counters.refused.load(std::memory_order_relaxed);
  }
}

std::vector<std::string> Demo::footer() const {
  std::vector<std::string> out;
  for (const auto& t : tenants_) {
    const SlotStats& s = cache_->slot(t->slot);
    out.push_back(fmt::format("{:<8} cache {:>7} (inserted {}, evicted {}, reclaimed {} = {})  kmem {:>7}  refused {}",
                              t->spec.name, format_bytes(std::max<std::int64_t>(0, s.held.load())), s.inserted.load(),
                              s.evicted.load(), s.reclaimed.load(), format_bytes(s.reclaimed_bytes.load()),
                              format_bytes(t->pool.bytes()), t->counters.refused.load()));
  }
  const SlotStats& ts = cache_->slot(tmp_slot_);
  out.push_back(fmt::format("churn:   tmp groups created {}  removed {}  entries kept past rmdir {}  "
                            "reclaimed {}  evicted from {} {}",
                            churn_->created.load(), churn_->removed.load(), churn_->kept_past_rmdir.load(),
                            ts.reclaimed.load(), parent_path_, churn_->evicted_from_parent.load()));
  memcg::detail::ReclaimStats rs = memcg::detail::reclaim_stats();
  out.push_back(fmt::format("oom:     handler on {} ran {} times, freed memory {} times ({})  shrinker calls {}",
                            parent_path_, oom_.calls.load(), oom_.kills.load(), format_bytes(oom_.freed_bytes.load()),
                            rs.shrinker_calls));
  return out;
}

void Demo::show(const char* state) {
  if (!view_) return;
  double t = std::chrono::duration<double>(Clock::now() - start_).count();
  std::uint64_t ops, refused;
  totals(ops, refused);
  std::string title = fmt::format("memcgctl demo  {}  {:.2f}s / {:.2f}s  workers {}  ops {}  refused {}", state, t,
                                  cfg_.seconds, cfg_.workers, ops, refused);
  view_->frame(title, snapshot_rows(), footer());
}

// The timed writes of the configuration that are due at t seconds.
void Demo::timed_writes(double t) {
  for (std::size_t i = 0; i < cfg_.timeline.size(); ++i) {
    if (done_[i] || t < cfg_.timeline[i].at) continue;
    done_[i] = true;
    const TimedWrite& tw = cfg_.timeline[i];
    std::error_code ec;
    const auto t0 = Clock::now();
    memcg::fs::write(tw.path, tw.value, ec);
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    timeline_json_.push_back({{"at", t}, {"path", tw.path}, {"value", tw.value}, {"seconds", took},
                              {"error", ec ? ec.message() : ""}});
    if (ec)
      shared_.api_errors.add(fmt::format("{}:{}: write {} {}: {}", cfg_.source, tw.line, tw.path, tw.value,
                                         ec.message()));
  }
}

void Demo::run() {
  start_ = Clock::now();
  const auto end = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg_.seconds));
  for (auto& w : workers_) threads_.emplace_back([&w] { w->run(); });
  threads_.emplace_back([this] { churn_->run(); });
  sampler_thread_ = std::thread([this] { sampler_->run(); });

  done_.assign(cfg_.timeline.size(), false);
  const auto period = view_ && view_->mode() == TableView::Mode::live ? std::chrono::milliseconds(250)
                                                                      : std::chrono::milliseconds(1000);
  auto next = start_ + period;
  if (view_ && view_->mode() == TableView::Mode::live) show("running");
  for (;;) {
    auto now = Clock::now();
    if (now >= end || g_interrupted.load(std::memory_order_relaxed)) break;
    timed_writes(std::chrono::duration<double>(now - start_).count());
    if (now >= next) {
      show("running");
      while (next <= now) next += period;
    }
    std::this_thread::sleep_until(std::min({next, end, now + std::chrono::milliseconds(20)}));
  }
  elapsed_ = std::chrono::duration<double>(Clock::now() - start_).count();
}

int Demo::report() {
  bool all_ok = true;
  for (const Check& c : checks_) all_ok = all_ok && c.ok;

  if (opts_.json) {
    nlohmann::json j;
    j["config"] = cfg_.source;
    j["seconds"] = cfg_.seconds;
    j["elapsed"] = elapsed_;
    j["workers"] = cfg_.workers;
    j["interrupted"] = g_interrupted.load();
    nlohmann::json tj = nlohmann::json::object();
    for (std::size_t i = 0; i < cfg_.tenants.size(); ++i) {
      const SlotStats& s = cache_->slot(i);
      tj[cfg_.tenants[i].name] = {{"ops", tenant_ops_[i]},
                                  {"refused", tenant_refused_[i]},
                                  {"inserted", s.inserted.load()},
                                  {"evicted", s.evicted.load()},
                                  {"reclaimed", s.reclaimed.load()},
                                  {"reclaimed_bytes", s.reclaimed_bytes.load()}};
    }
    j["workload"] = {{"ops", ops_},
                     {"refused", refused_},
                     {"tenants", tj},
                     {"churn",
                      {{"created", tmp_created_},
                       {"removed", tmp_removed_},
                       {"entries_kept_past_rmdir", kept_past_},
                       {"reclaimed", cache_->slot(tmp_slot_).reclaimed.load()}}},
                     {"oom", {{"calls", oom_.calls.load()}, {"kills", oom_.kills.load()},
                              {"freed_bytes", oom_.freed_bytes.load()}}},
                     {"timeline", timeline_json_},
                     {"stock_at_stop", stock_at_stop_},
                     {"api_errors", shared_.api_errors.count()}};
    j["table_at_stop"] = nlohmann::json::array();
    for (const auto& r : rows_at_stop_) j["table_at_stop"].push_back(row_json(r));
    j["table"] = nlohmann::json::array();
    for (const auto& r : rows_final_) j["table"].push_back(row_json(r));
    j["checks"] = nlohmann::json::array();
    for (const Check& c : checks_) j["checks"].push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    j["ok"] = all_ok;
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("\n# workload: {} ({}) for {:.2f}s{}: {} workers, {} ops, {} refused\n", cfg_.source, parent_path_,
               elapsed_, g_interrupted.load() ? " (interrupted)" : "", cfg_.workers, ops_, refused_);
    for (const Check& c : checks_)
      if (c.ok) fmt::print("#   {}: {}\n", c.name, c.detail);
    for (const Check& c : checks_) {
      if (c.ok)
        fmt::print("CHECK {}: ok\n", c.name);
      else
        fmt::print("CHECK {}: FAILED ({})\n", c.name, c.detail);
    }
  }
  std::fflush(stdout);
  return all_ok ? kExitOk : kExitFailed;
}

int run_demo(const DemoOptions& opts) {
  DemoConfig cfg;
  if (int rc = load_demo_config(opts, cfg); rc >= 0) return rc;
  Demo demo(cfg, opts);
  if (!demo.setup()) return kExitFailed;
  // Another terminal can attach while the workload runs (memcgctl ... --attach).
  if (!opts.socket.empty()) memcg::serve(opts.socket);
  demo.run();
  if (!opts.socket.empty()) memcg::stop_serving();
  demo.stop();
  demo.release();
  demo.teardown();
  return demo.report();
}

}  // namespace memcgctl
