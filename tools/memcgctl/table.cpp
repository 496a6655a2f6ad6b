#include "table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "memcg/types.hpp"

namespace memcgctl {

std::string format_bytes(std::uint64_t bytes) {
  if (bytes == memcg::unlimited) return "max";
  if (bytes < 1024) return std::to_string(bytes);
  static constexpr std::array<char, 5> kUnits{'K', 'M', 'G', 'T', 'P'};
  double v = static_cast<double>(bytes) / 1024.0;
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < kUnits.size()) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f}{}", v, kUnits[u]);
}

std::vector<std::string> render_table(const std::vector<GroupRow>& rows) {
  constexpr std::size_t kCols = 14;
  using Cells = std::array<std::string, kCols>;
  std::vector<Cells> cells;
  cells.push_back({"PATH", "CURRENT", "PEAK", "MAX", "HIGH", "LOW", "EV.MAX", "EV.HIGH", "EV.LOW", "OOM", "KILL",
                   "DYING", "SLAB", "RECLAIMED"});
  for (const auto& r : rows)
    cells.push_back({r.path, format_bytes(r.current), format_bytes(r.peak), format_bytes(r.max),
                     format_bytes(r.high), r.low ? format_bytes(r.low) : "0", std::to_string(r.ev_max),
                     std::to_string(r.ev_high), std::to_string(r.ev_low), std::to_string(r.ev_oom),
                     std::to_string(r.ev_oom_kill), std::to_string(r.nr_dying), format_bytes(r.slab),
                     format_bytes(r.reclaimed)});
  std::array<std::size_t, kCols> width{};
  for (const auto& c : cells)
    for (std::size_t i = 0; i < kCols; ++i) width[i] = std::max(width[i], c[i].size());
  std::vector<std::string> out;
  for (const auto& c : cells) {
    std::string line = fmt::format("{:<{}}", c[0], width[0]);
    for (std::size_t i = 1; i < kCols; ++i) line += fmt::format("  {:>{}}", c[i], width[i]);
    out.push_back(std::move(line));
  }
  return out;
}

void TableView::frame(const std::string& title, const std::vector<GroupRow>& rows,
                      const std::vector<std::string>& footer) {
  std::vector<std::string> lines;
  lines.push_back(title);
  for (auto& l : render_table(rows)) lines.push_back(std::move(l));
  for (const auto& l : footer) lines.push_back(l);

  std::string buf;
  if (mode_ == Mode::live) {
    // Home, then each line followed by "erase to end of line", then "erase
    // below": the frame is redrawn in place without flicker, and rows that
    // disappeared since the last frame are wiped. The first frame clears the
    // whole screen once.
    buf += first_ ? "\x1b[H\x1b[2J" : "\x1b[H";
    for (const auto& l : lines) {
      buf += l;
      buf += "\x1b[K\n";
    }
    buf += "\x1b[J";
  } else {
    for (const auto& l : lines) {
      buf += l;
      buf += '\n';
    }
    buf += '\n';
  }
  first_ = false;
  std::fwrite(buf.data(), 1, buf.size(), out_);
  std::fflush(out_);
}

}  // namespace memcgctl
