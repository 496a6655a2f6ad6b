// Metric names follow Prometheus's conventions: a memcg_ prefix, the unit in
// the name (_bytes, _seconds), _total on counters, one HELP and TYPE per
// family; the group is the `path` label. "max" limits are +Inf.
#include "metrics/exposition.hpp"

#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "memcg/fs.hpp"
#include "memcg/types.hpp"

namespace memcg::detail::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// One family per name, in first-use order.
class Families {
 public:
  void add(const std::string& name, MetricType type, const std::string& help, const std::string& path, double v,
           const char* label = nullptr, const std::string& label_value = {}) {
    auto [it, fresh] = index_.emplace(name, out_.size());
    if (fresh) out_.push_back(MetricFamily{name, help, type, {}});
    ClientMetric m;
    m.label.push_back({"path", path});
    if (label) m.label.push_back({label, label_value});
    if (type == MetricType::Counter) m.counter.value = v; else m.gauge.value = v;
    out_[it->second].metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> take() { return std::move(out_); }

 private:
  std::map<std::string, std::size_t> index_;
  std::vector<MetricFamily> out_;
};

// "123\n" or "max\n" (+Inf); NaN if the text does not parse.
double value_of(const std::string& text) {
  std::uint64_t n;
  if (!memcg::fs::parse_bytes(text, n)) return std::numeric_limits<double>::quiet_NaN();
  return n == memcg::unlimited ? std::numeric_limits<double>::infinity() : static_cast<double>(n);
}

// "key value" lines.
std::vector<std::pair<std::string, std::string>> key_values(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  std::string k, v;
  while (in >> k >> v) out.emplace_back(k, v);
  return out;
}

// memory.pressure: "some avg10=.. avg60=.. avg300=.. total=US".
void pressure(Families& f, const std::string& path, const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::string kind = line.substr(0, line.find(' '));
    const std::size_t t = line.find("total=");
    if ((kind != "some" && kind != "full") || t == std::string::npos) continue;
    f.add("memcg_memory_pressure_stalled_seconds_total", MetricType::Counter,
          "Time threads stalled charging this subtree: some (at least one) or full (every member thread), "
          "memory.pressure",
          path, std::strtod(line.c_str() + t + 6, nullptr) / 1e6, "kind", kind);
  }
}

struct Stat {
  const char* key;
  const char* name;
  MetricType type;
  const char* help;
};
constexpr Stat kStats[] = {
    {"reservations", "memcg_memory_stat_reservations_bytes", MetricType::Gauge, "Bytes held by Reservations"},
    {"kmalloc_large", "memcg_memory_stat_kmalloc_large_bytes", MetricType::Gauge, "Bytes of kmalloc allocations above the size classes"},
    {"slab_reclaimable", "memcg_memory_stat_slab_reclaimable_bytes", MetricType::Gauge, "Slab bytes of reclaimable caches"},
    {"slab_unreclaimable", "memcg_memory_stat_slab_unreclaimable_bytes", MetricType::Gauge, "Slab bytes of other caches"},
    {"slab", "memcg_memory_stat_slab_bytes", MetricType::Gauge, "Slab bytes"},
    {"stock", "memcg_memory_stat_stock_bytes", MetricType::Gauge, "Bytes pre-charged in per-thread stocks"},
    {"stock_drains", "memcg_memory_stat_stock_drains_total", MetricType::Counter, "Drains of per-thread stocks"},
    {"pgscan", "memcg_memory_stat_pgscan_total", MetricType::Counter, "Objects shrinkers scanned in reclaim"},
    {"pgsteal", "memcg_memory_stat_pgsteal_total", MetricType::Counter, "Objects shrinkers freed in reclaim"},
    {"reclaimed", "memcg_memory_stat_reclaimed_bytes_total", MetricType::Counter, "Bytes reclaim rooted here freed"},
};

void group(Families& f, const nlohmann::json& g) {
  const std::string path = g.at("path").get<std::string>();
  const nlohmann::json& files = g.at("files");
  auto file = [&](const char* name) -> const std::string* {
    const auto it = files.find(name);
    return it == files.end() ? nullptr : it->get_ptr<const std::string*>();
  };
  struct One {
    const char* file;
    const char* name;
    const char* help;
  };
  constexpr One kOnes[] = {
      {"memory.current", "memcg_memory_current_bytes", "Bytes charged to the group and its descendants"},
      {"memory.peak", "memcg_memory_peak_bytes", "Highest memory.current since creation or the last reset"},
      {"memory.max", "memcg_memory_max_bytes", "memory.max: the hard limit (+Inf: none)"},
      {"memory.high", "memcg_memory_high_bytes", "memory.high: the throttle limit (+Inf: none)"},
      {"memory.low", "memcg_memory_low_bytes", "memory.low: best-effort protection"},
      {"memory.min", "memcg_memory_min_bytes", "memory.min: hard protection"},
  };
  for (const One& o : kOnes)
    if (const std::string* t = file(o.file)) f.add(o.name, MetricType::Gauge, o.help, path, value_of(*t));
  if (const std::string* t = file("memory.events"))
    for (const auto& [k, v] : key_values(*t))
      f.add("memcg_memory_events_total", MetricType::Counter,
            "memory.events: events of the group and its descendants (low, high, max, oom, oom_kill)", path,
            value_of(v), "event", k);
  if (const std::string* t = file("memory.events.local"))
    for (const auto& [k, v] : key_values(*t))
      f.add("memcg_memory_events_local_total", MetricType::Counter, "memory.events.local: the group's own events",
            path, value_of(v), "event", k);
  if (const std::string* t = file("memory.stat")) {
    const auto kv = key_values(*t);
    for (const Stat& s : kStats)
      for (const auto& [k, v] : kv)
        if (k == s.key) f.add(s.name, s.type, std::string("memory.stat ") + s.key + ": " + s.help, path, value_of(v));
  }
  if (const std::string* t = file("cgroup.stat"))
    for (const auto& [k, v] : key_values(*t)) {
      if (k == "nr_descendants")
        f.add("memcg_cgroup_descendants", MetricType::Gauge, "cgroup.stat nr_descendants: online descendants", path,
              value_of(v));
      else if (k == "nr_dying_descendants")
        f.add("memcg_cgroup_dying_descendants", MetricType::Gauge,
              "cgroup.stat nr_dying_descendants: removed descendants not yet freed", path, value_of(v));
    }
  if (const std::string* t = file("memory.pressure")) pressure(f, path, *t);
  for (const nlohmann::json& c : g.at("children")) group(f, c);
}

}  // namespace

std::vector<MetricFamily> families_from_tree(const std::string& tree_json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(tree_json);
    Families f;
    group(f, j);
    return f.take();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("not a tree snapshot: ") + e.what());
  }
}

std::string serialize(const std::vector<MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace memcg::detail::metrics
