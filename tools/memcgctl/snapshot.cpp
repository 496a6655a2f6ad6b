#include "snapshot.hpp"

#include <fmt/format.h>

#include "memcg/fs.hpp"

namespace memcgctl {

KeyValues parse_key_values(std::string_view text) {
  KeyValues out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::size_t sp = line.find(' ');
    if (line.empty() || sp == std::string_view::npos) continue;
    out.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  return out;
}

std::optional<std::uint64_t> key_value(const KeyValues& kv, std::string_view key) {
  for (const auto& [k, v] : kv) {
    if (k != key) continue;
    std::uint64_t n;
    // parse_bytes takes "max" and decimal bytes, which is what the files hold.
    if (!memcg::fs::parse_bytes(v, n)) return std::nullopt;
    return n;
  }
  return std::nullopt;
}

std::string fs_reader(const std::string& file, std::error_code& ec) { return memcg::fs::read(file, ec); }

std::uint64_t read_value(const std::string& file, std::error_code& ec, const Reader& read) {
  std::string text = read(file, ec);
  if (ec) return 0;
  std::uint64_t n;
  if (!memcg::fs::parse_bytes(text, n)) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return 0;
  }
  return n;
}

std::uint64_t read_key(const std::string& file, std::string_view key, std::error_code& ec, const Reader& read) {
  std::string text = read(file, ec);
  if (ec) return 0;
  std::optional<std::uint64_t> v = key_value(parse_key_values(text), key);
  if (!v) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return 0;
  }
  return *v;
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

namespace {
void walk(const std::string& path, std::vector<std::string>& out) {
  std::error_code ec;
  std::vector<std::string> entries = memcg::fs::list(path, ec);
  if (ec) return;  // removed since its parent was listed
  out.push_back(path);
  for (const auto& e : entries) {
    if (e.empty() || e.back() != '/') continue;  // a file; groups end with '/'
    walk(join_path(path, std::string_view(e).substr(0, e.size() - 1)), out);
  }
}
}  // namespace

std::vector<std::string> walk_groups(const std::string& root) {
  std::vector<std::string> out;
  walk(root, out);
  return out;
}

bool read_row(const std::string& path, GroupRow& row, std::error_code& ec, const Reader& read) {
  row.path = path;
  row.current = read_value(join_path(path, "memory.current"), ec, read);
  if (ec) return false;
  row.peak = read_value(join_path(path, "memory.peak"), ec, read);
  if (ec) return false;
  row.max = read_value(join_path(path, "memory.max"), ec, read);
  if (ec) return false;
  row.high = read_value(join_path(path, "memory.high"), ec, read);
  if (ec) return false;
  row.low = read_value(join_path(path, "memory.low"), ec, read);
  if (ec) return false;
  std::string events = read(join_path(path, "memory.events"), ec);
  if (ec) return false;
  KeyValues ev = parse_key_values(events);
  auto emax = key_value(ev, "max"), ehigh = key_value(ev, "high"), eoom = key_value(ev, "oom");
  auto elow = key_value(ev, "low"), ekill = key_value(ev, "oom_kill");
  row.nr_dying = read_key(join_path(path, "cgroup.stat"), "nr_dying_descendants", ec, read);
  if (ec) return false;
  std::string stat = read(join_path(path, "memory.stat"), ec);
  if (ec) return false;
  KeyValues st = parse_key_values(stat);
  auto slab = key_value(st, "slab"), steal = key_value(st, "pgsteal"), scan = key_value(st, "pgscan");
  auto reclaimed = key_value(st, "reclaimed");
  auto res = key_value(st, "reservations"), large = key_value(st, "kmalloc_large"), stock = key_value(st, "stock");
  if (!emax || !ehigh || !eoom || !elow || !ekill || !slab || !steal || !scan || !reclaimed || !res || !large ||
      !stock) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return false;
  }
  row.ev_max = *emax;
  row.ev_high = *ehigh;
  row.ev_low = *elow;
  row.ev_oom = *eoom;
  row.ev_oom_kill = *ekill;
  row.slab = *slab;
  row.pgsteal = *steal;
  row.reclaimed = *reclaimed;
  row.pgscan = *scan;
  row.reservations = *res;
  row.kmalloc_large = *large;
  row.stock = *stock;
  return true;
}

std::vector<GroupRow> snapshot_rows(const std::string& root) {
  std::vector<GroupRow> rows;
  for (const auto& path : walk_groups(root)) {
    GroupRow row;
    std::error_code ec;
    if (read_row(path, row, ec)) rows.push_back(std::move(row));
  }
  return rows;
}

void dump_tree(std::FILE* out, const std::string& root) {
  for (const auto& group : walk_groups(root)) {
    std::error_code ec;
    std::vector<std::string> entries = memcg::fs::list(group, ec);
    if (ec) continue;
    for (const auto& e : entries) {
      if (e.empty() || e.back() == '/') continue;  // child groups get their own turn
      std::string file = join_path(group, e);
      std::string text = memcg::fs::read(file, ec);
      if (ec) continue;  // write-only or vanished: grep would skip it too
      std::string_view rest(text);
      while (!rest.empty()) {
        std::size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        if (!line.empty()) fmt::print(out, "{}:{}\n", file, line);
      }
    }
  }
}

}  // namespace memcgctl
