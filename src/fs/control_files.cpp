#include "fs/control_files.hpp"

#include <fmt/format.h>

#include <cstring>

#include "core/errors.hpp"
#include "memcg/cache.hpp"
#include "memcg/fs.hpp"
#include "memcg/notify.hpp"

namespace memcg::fs::detail {
namespace {

using memcg::detail::make_err;

std::string line(std::uint64_t v) { return fmt::format("{}\n", v); }
std::string limit_line(std::uint64_t v) { return format_limit(v) + "\n"; }

std::string events_text(const Events& e) {
  return fmt::format("low {}\nhigh {}\nmax {}\noom {}\noom_kill {}\n", e.low, e.high, e.max, e.oom, e.oom_kill);
}

std::string stat_text(const Group& g) {
  Stat s = g.stat();
  return fmt::format(
      "reservations {}\nkmalloc_large {}\nslab_reclaimable {}\nslab_unreclaimable {}\nslab {}\n"
      "stock {}\nstock_drains {}\npgscan {}\npgsteal {}\nreclaimed {}\n",
      s.reservations, s.kmalloc_large, s.slab_reclaimable, s.slab_unreclaimable, s.slab(), s.stock,
      s.stock_drains, s.pgscan, s.pgsteal, s.reclaimed);
}

// The kernel's PSI format (triggers: memcg::pressure_trigger).
std::string pressure_text(const Group& g) {
  const Pressure p = pressure(g);
  auto l = [](const char* kind, const PressureLine& x) {
    return fmt::format("{} avg10={:.2f} avg60={:.2f} avg300={:.2f} total={}\n", kind, x.avg10, x.avg60, x.avg300,
                       x.total_us);
  };
  return l("some", p.some) + l("full", p.full);
}

template <void (Group::*Set)(Bytes, std::error_code&) noexcept>
void write_limit(const Group& g, std::string_view v, std::error_code& ec) {
  std::uint64_t bytes;
  if (!parse_bytes(v, bytes)) {
    ec = make_err(std::errc::invalid_argument);
    return;
  }
  (const_cast<Group&>(g).*Set)(bytes, ec);
}

template <void (Group::*Set)(std::uint64_t, std::error_code&) noexcept>
void write_count(const Group& g, std::string_view v, std::error_code& ec) {
  std::uint64_t n;
  if (!parse_count(v, n)) {
    ec = make_err(std::errc::invalid_argument);
    return;
  }
  (const_cast<Group&>(g).*Set)(n, ec);
}

// "0" or "1" (whitespace around allowed), as the kernel's boolean files.
bool parse_bool(std::string_view v, bool& out) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\n')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\n')) v.remove_suffix(1);
  if (v != "0" && v != "1") return false;
  out = v == "1";
  return true;
}

void write_oom_group(const Group& g, std::string_view v, std::error_code& ec) {
  bool on;
  if (!parse_bool(v, on)) {
    ec = make_err(std::errc::invalid_argument);
    return;
  }
  if (!g.online()) {
    ec = make_err(std::errc::no_such_file_or_directory);
    return;
  }
  const_cast<Group&>(g).set_oom_group(on);
  ec.clear();
}

// cgroup.kill: only "1" is accepted (the kernel's), then every kill handler
// of the subtree runs.
void write_kill(const Group& g, std::string_view v, std::error_code& ec) {
  bool on;
  if (!parse_bool(v, on) || !on) {
    ec = make_err(std::errc::invalid_argument);
    return;
  }
  if (!g.online()) {
    ec = make_err(std::errc::no_such_file_or_directory);
    return;
  }
  g.kill();
  ec.clear();
}

void write_peak(const Group& g, std::string_view, std::error_code& ec) {
  if (!g.online()) {
    ec = make_err(std::errc::no_such_file_or_directory);
    return;
  }
  const_cast<Group&>(g).reset_peak();
  ec.clear();
}

// memory.reclaim: a byte count (suffixes allowed, "max" is not); EAGAIN if
// less could be reclaimed.
void write_reclaim(const Group& g, std::string_view v, std::error_code& ec) {
  std::uint64_t bytes;
  if (!parse_bytes(v, bytes) || bytes == unlimited) {
    ec = make_err(std::errc::invalid_argument);
    return;
  }
  if (!g.online()) {
    ec = make_err(std::errc::no_such_file_or_directory);
    return;
  }
  g.reclaim(bytes, ec);
}

const ControlFile kFiles[] = {
    {"cgroup.kill", nullptr, write_kill},
    {"cgroup.max.depth", [](const Group& g) { return limit_line(g.max_depth()); },
     write_count<&Group::set_max_depth>},
    {"cgroup.max.descendants", [](const Group& g) { return limit_line(g.max_descendants()); },
     write_count<&Group::set_max_descendants>},
    {"cgroup.stat",
     [](const Group& g) {
       return fmt::format("nr_descendants {}\nnr_dying_descendants {}\n", g.nr_descendants(),
                          g.nr_dying_descendants());
     },
     nullptr},
    {"memory.current", [](const Group& g) { return line(g.current()); }, nullptr},
    {"memory.events", [](const Group& g) { return events_text(g.events()); }, nullptr},
    {"memory.events.local", [](const Group& g) { return events_text(g.events_local()); }, nullptr},
    {"memory.high", [](const Group& g) { return limit_line(g.high()); }, write_limit<&Group::set_high>},
    {"memory.kmem.slabinfo", [](const Group& g) { return memcg::slabinfo(g); }, nullptr},
    {"memory.low", [](const Group& g) { return limit_line(g.low()); }, write_limit<&Group::set_low>},
    {"memory.max", [](const Group& g) { return limit_line(g.max()); }, write_limit<&Group::set_max>},
    {"memory.min", [](const Group& g) { return limit_line(g.min()); }, write_limit<&Group::set_min>},
    {"memory.oom.group", [](const Group& g) { return line(g.oom_group() ? 1 : 0); }, write_oom_group},
    {"memory.peak", [](const Group& g) { return line(g.peak()); }, write_peak},
    {"memory.pressure", pressure_text, nullptr},
    {"memory.reclaim", nullptr, write_reclaim},
    {"memory.stat", stat_text, nullptr},
};

}  // namespace

const ControlFile* control_files(std::size_t& count) noexcept {
  count = sizeof(kFiles) / sizeof(kFiles[0]);
  return kFiles;
}

const ControlFile* find_control_file(std::string_view name) noexcept {
  for (const auto& f : kFiles)
    if (name == f.name) return &f;
  return nullptr;
}

}  // namespace memcg::fs::detail
