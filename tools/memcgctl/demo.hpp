// The demo's phases (demo.cpp, demo_checks.cpp). run_demo (memcgctl.hpp) is
// the driver:
//
//   load_demo_config  the configuration file (or the embedded default) and
//                     the command-line overrides
//   Demo::setup       parent, tenants and extra groups with their limits
//                     (fs::write); the cache's shrinker registered; the OOM
//                     handler set on the parent; the threads created
//   Demo::run         workers + churn + sampler; timed writes; the table
//                     every 250 ms (terminal) or 1 s
//   Demo::stop        workers and churn park: nothing charges
//                     -> CHECK counters-exact, limits-held, reclaim-happened,
//                        protection-honoured, oom-handler
//   Demo::release     threads exit; every entry and object freed;
//                     memcg::barrier()
//                     -> CHECK removed-groups-freed, released-to-zero
//   Demo::teardown    the demo's groups removed; memcg::barrier()
//                     -> CHECK root-empty, no-api-errors
//   Demo::report      the checks (and with --json everything) printed
//
// A Demo lives on one thread (the driver's); the phases run once each, in
// this order. It is neither copied nor moved: the workload threads and the
// OOM handler hold references into it.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "memcg/group.hpp"
#include "memcgctl.hpp"
#include "snapshot.hpp"
#include "table.hpp"
#include "workload.hpp"

namespace memcgctl {

/// One outcome check of the demo.
struct Check {
  explicit Check(std::string n) : name(std::move(n)) {}
  std::string name;
  bool ok = true;
  std::string detail;  // what was checked (ok) or what went wrong (failed)
};

/// SIGINT arrived during the run (the demo then stops early; demo.cpp).
bool demo_interrupted();

/// Reads the configuration and applies the options. Returns -1 to go on, or
/// the exit code to return (a bad configuration, --print-config).
int load_demo_config(const DemoOptions& opts, DemoConfig& cfg);

class Demo {
 public:
  using Clock = std::chrono::steady_clock;

  Demo(const DemoConfig& cfg, const DemoOptions& opts) : cfg_(cfg), opts_(opts) {}
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;

  bool setup();     // false: a group could not be made (printed)
  void run();
  void stop();
  void release();
  void teardown();
  int report();     // the exit code

 private:
  // demo.cpp
  void totals(std::uint64_t& ops, std::uint64_t& refused) const;
  std::vector<std::string> footer() const;
  void show(const char* state);
  void timed_writes(double t);
  // demo_checks.cpp: the stop phase's checks
  Check check_counters_exact();
  Check check_limits_held();
  Check check_reclaim_happened();
  Check check_protection_honoured();
  Check check_oom_handler();
  void release_everything();

  const DemoConfig& cfg_;
  const DemoOptions& opts_;

  // setup
  std::vector<std::string> created_;  // creation order; removed in reverse
  std::string parent_path_;
  memcg::Group parent_;
  std::uint32_t tmp_slot_ = 0;  // the churn's cache slot, after the tenants'
  std::unique_ptr<EntryCache> cache_;
  std::vector<std::unique_ptr<Tenant>> tenants_;
  OomStats oom_;
  std::vector<std::string> fixed_;  // groups whose memory.max stays as configured
  std::unique_ptr<TableView> view_;  // null with --json
  void (*old_sigint_)(int) = SIG_DFL;
  Shared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<Churn> churn_;
  std::unique_ptr<Sampler> sampler_;

  // run
  Clock::time_point start_;
  std::vector<std::thread> threads_;  // workers and churn
  std::thread sampler_thread_;
  std::vector<bool> done_;  // timed writes made
  nlohmann::json timeline_json_ = nlohmann::json::array();
  double elapsed_ = 0;

  // stop, release, teardown
  std::vector<Check> checks_;
  std::vector<GroupRow> rows_at_stop_;
  std::uint64_t stock_at_stop_ = 0;
  std::uint64_t dying_at_stop_ = 0;
  Check freed_{"removed-groups-freed"};  // begun at stop, finished at release
  std::vector<GroupRow> rows_final_;
  std::uint64_t tmp_created_ = 0, tmp_removed_ = 0, kept_past_ = 0;
  std::uint64_t ops_ = 0, refused_ = 0;
  std::vector<std::uint64_t> tenant_ops_, tenant_refused_;
};

}  // namespace memcgctl
