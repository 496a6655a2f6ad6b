#include "report.hpp"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace memcg::run {

namespace tree = memcg::interpose::tree;

namespace {

constexpr const char* kEventNames[5] = {"low", "high", "max", "oom", "oom_kill"};

const char* ended(std::uint32_t state) {
  switch (state) {
    case tree::kLive: return "running";
    case tree::kExited: return "exited";
    case tree::kExeced: return "execed";
    case tree::kGone: return "gone";  // _exit, a signal: memcg-run gave its charges back
    default: return "?";
  }
}

nlohmann::json limit(std::uint64_t v) {
  if (v == tree::kUnlimited) return "max";
  return v;
}

std::string limit_text(std::uint64_t v) { return v == tree::kUnlimited ? "max" : std::to_string(v); }

std::string comm_of(const tree::Slot& sl) {
  std::string c(sl.comm, strnlen(sl.comm, sizeof sl.comm));
  for (char& ch : c) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.';
    if (!ok) ch = '_';
  }
  return c;
}

}  // namespace

std::string tree_report(tree::Segment* s, pid_t pid, bool json) {
  // A copy taken under the lock: one consistent picture.
  std::vector<tree::Slot> slots;
  std::uint64_t usage, peak, rss_peak, max, high, folded_count, folded_peak, events[5] = {};
  std::uint32_t unattached;
  {
    tree::Locked l(s);
    usage = s->usage;
    peak = s->peak;
    rss_peak = s->rss_peak;
    max = s->max;
    high = s->high;
    folded_count = s->folded_count;
    folded_peak = s->folded_peak;
    unattached = s->unattached;
    for (int e = 0; e < 5; ++e) events[e] = s->folded_events[e];
    for (std::uint32_t i = 0; i < s->slots_used; ++i) {
      const tree::Slot& sl = s->slots[i];
      if (sl.state == tree::kFree) continue;
      slots.push_back(sl);
      for (int e = 0; e < 5; ++e) events[e] += sl.events[e];
    }
  }
  std::sort(slots.begin(), slots.end(), [](const tree::Slot& a, const tree::Slot& b) { return a.seq < b.seq; });
  auto path_of = [](const tree::Slot& sl) { return "/run/" + std::to_string(sl.pid) + "-" + comm_of(sl); };

  if (json) {
    nlohmann::json doc;
    doc["pid"] = static_cast<long>(pid);
    nlohmann::json run;
    run["path"] = "/run";
    run["memory.current"] = usage;
    run["memory.peak"] = peak;
    run["resident.peak"] = rss_peak;
    run["memory.max"] = limit(max);
    run["memory.high"] = limit(high);
    nlohmann::json ev = nlohmann::json::object();
    for (int e = 0; e < 5; ++e) ev[kEventNames[e]] = events[e];
    run["memory.events"] = ev;
    run["processes"] = slots.size() + folded_count;
    run["processes_unattached"] = unattached;
    run["processes_folded"] = folded_count;
    run["processes_folded_peak"] = folded_peak;
    nlohmann::json groups = nlohmann::json::array();
    groups.push_back(std::move(run));
    for (const tree::Slot& sl : slots) {
      nlohmann::json o;
      o["path"] = path_of(sl);
      o["pid"] = sl.pid;
      o["ppid"] = sl.ppid;
      o["comm"] = std::string(sl.comm, strnlen(sl.comm, sizeof sl.comm));
      o["ended"] = ended(sl.state);
      o["memory.current"] = sl.usage;
      o["memory.peak"] = sl.peak;
      o["resident.peak"] = sl.rss_peak;
      nlohmann::json pe = nlohmann::json::object();
      for (int e = 0; e < 5; ++e) pe[kEventNames[e]] = sl.events[e];
      o["memory.events"] = pe;
      groups.push_back(std::move(o));
    }
    doc["groups"] = std::move(groups);
    // A name cut inside a multibyte character is not UTF-8: replace, never throw.
    return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }

  std::string out = "memcg-run report (pid " + std::to_string(pid) + ")\n\n[/run]\n";
  out += "memory.current: " + std::to_string(usage) + "\n";
  out += "memory.peak: " + std::to_string(peak) + "\n";
  out += "resident.peak: " + std::to_string(rss_peak) + " (sampled sum of VmRSS)\n";
  out += "memory.max: " + limit_text(max) + "\n";
  out += "memory.high: " + limit_text(high) + "\n";
  out += "memory.events:\n";
  for (int e = 0; e < 5; ++e) out += std::string("  ") + kEventNames[e] + " " + std::to_string(events[e]) + "\n";
  out += "processes: " + std::to_string(slots.size() + folded_count);
  if (folded_count) out += " (" + std::to_string(folded_count) + " summarised: peak " + std::to_string(folded_peak) + ")";
  if (unattached) out += ", " + std::to_string(unattached) + " not counted (no free slot)";
  out += "\n";
  for (const tree::Slot& sl : slots) {
    out += "\n[" + path_of(sl) + "]\n";
    out += "ppid: " + std::to_string(sl.ppid) + "\n";
    out += std::string("ended: ") + ended(sl.state) + "\n";
    out += "memory.current: " + std::to_string(sl.usage) + "\n";
    out += "memory.peak: " + std::to_string(sl.peak) + "\n";
    out += "resident.peak: " + std::to_string(sl.rss_peak) + "\n";
    out += "memory.events:";
    for (int e = 0; e < 5; ++e) out += std::string(" ") + kEventNames[e] + " " + std::to_string(sl.events[e]);
    out += "\n";
  }
  return out;
}

}  // namespace memcg::run
