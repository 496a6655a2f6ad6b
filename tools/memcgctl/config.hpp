// The demo's configuration: a small line-based text format (docs/memcgctl.md,
// "Configuration"), with a default compiled in (kDefaultConfig).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memcgctl {

/// A group the demo creates, with the limits it writes (file name, value).
struct GroupSpec {
  std::string path;
  std::vector<std::pair<std::string, std::string>> limits;  ///< e.g. {"memory.max", "64M"}
  bool has(std::string_view file) const;
};

/// A tenant: a child of the parent group that the workers charge.
struct TenantSpec {
  std::string name;
  GroupSpec group;
  std::uint64_t ws = UINT64_MAX;    ///< cache working set: above it the workers evict their oldest entries
  std::uint64_t kmem = UINT64_MAX;  ///< cap on the unreclaimable bytes the workers keep
  unsigned weight = 1;              ///< how often workers pick this tenant
  bool protected_() const { return group.has("memory.low") || group.has("memory.min"); }
};

/// "at SECONDS PATH VALUE": a text-tree write while the workload runs.
struct TimedWrite {
  double at = 0;        ///< seconds after the start
  double fraction = -1; ///< or, if >= 0, this fraction of the run ("60%")
  std::string path;
  std::string value;
  int line = 0;
};

struct DemoConfig {
  double seconds = 3.5;
  int workers = 2;
  GroupSpec parent{"/tenants", {}, };
  std::vector<GroupSpec> extra;  ///< "group" lines: created, limited, not charged
  std::vector<TenantSpec> tenants;
  // churn
  unsigned churn_every_ms = 20;
  unsigned churn_live = 3;
  std::string churn_max = "4M";
  std::uint64_t churn_fill = 3 << 20;
  unsigned churn_linger = 8;  ///< cycles a removed tmp group's kmalloc objects outlive it
  std::vector<TimedWrite> timeline;
  bool expect_oom = true;
  bool expect_reclaim = true;
  bool expect_protection = true;
  std::string source = "<default>";  ///< file name, for messages
};

extern const char* const kDefaultConfig;

/// Parses `text`; false with `err` = "<source>:<line>: <message>".
bool parse_config(std::string_view text, const std::string& source, DemoConfig& out, std::string& err);

}  // namespace memcgctl
