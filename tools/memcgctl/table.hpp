// The demo's per-group table: formatting and the two ways of showing it
// (a live view redrawn in place on a terminal, or plain periodic blocks).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "snapshot.hpp"

namespace memcgctl {

/// "max" for unlimited, plain bytes below 1 KiB, else one decimal and a
/// binary unit: "1.5K", "63.9M", "2.0G".
std::string format_bytes(std::uint64_t bytes);

/// Header plus one line per row, columns aligned to their widest cell.
std::vector<std::string> render_table(const std::vector<GroupRow>& rows);

class TableView {
 public:
  enum class Mode {
    live,   ///< redraw in place with ANSI escapes (stdout is a terminal)
    plain,  ///< append one block per frame
  };
  TableView(std::FILE* out, Mode mode) : out_(out), mode_(mode) {}

  /// Shows one frame: a title line, the table, then the footer lines.
  void frame(const std::string& title, const std::vector<GroupRow>& rows, const std::vector<std::string>& footer);
  Mode mode() const { return mode_; }

 private:
  std::FILE* out_;
  Mode mode_;
  bool first_ = true;
};

}  // namespace memcgctl
