// memcgctl top: a live view of a running process's groups, like
// systemd-cgtop, from its control socket's `tree` snapshots.
//
// Each frame is one `tree ROOT` request. Its groups become table rows
// (snapshot.hpp's GroupRow, read from the snapshot's file contents); ROOT
// comes first and the others are sorted by the chosen column, largest
// first, ties by path. On a terminal, without --once or --iterations, the
// frame is redrawn in place; otherwise each frame is a plain block (for
// scripts and pipes).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "memcg/serve.hpp"
#include "memcgctl.hpp"
#include "snapshot.hpp"
#include "table.hpp"

namespace memcgctl {
namespace {

// Groups below `root` at most `max_depth` levels down (-1: all).
int depth_below(const std::string& root, const std::string& path) {
  if (path == root) return 0;
  int d = 0;
  for (std::size_t i = root == "/" ? 0 : root.size(); i < path.size(); ++i) d += path[i] == '/';
  return d;
}

void collect(const nlohmann::json& g, const std::string& root, int max_depth, std::vector<GroupRow>& rows) {
  const std::string path = g.at("path").get<std::string>();
  if (max_depth >= 0 && depth_below(root, path) > max_depth) return;
  const nlohmann::json& files = g.at("files");
  const std::string prefix = path == "/" ? "/" : path + "/";
  Reader from_snapshot = [&](const std::string& file, std::error_code& ec) {
    ec.clear();
    const auto it = files.find(file.substr(prefix.size()));
    if (it == files.end()) {
      ec = std::make_error_code(std::errc::no_such_file_or_directory);
      return std::string();
    }
    return it->get<std::string>();
  };
  GroupRow row;
  std::error_code ec;
  if (read_row(path, row, ec, from_snapshot)) rows.push_back(std::move(row));
  for (const nlohmann::json& c : g.at("children")) collect(c, root, max_depth, rows);
}

std::uint64_t sort_key(const GroupRow& r, const std::string& by) {
  if (by == "peak") return r.peak;
  if (by == "max-events") return r.ev_max;
  if (by == "reclaimed") return r.reclaimed;
  if (by == "slab") return r.slab;
  return r.current;
}

}  // namespace

const char* const kTopSortKeys = "current, peak, max-events, reclaimed, slab";

bool valid_top_sort(const std::string& by) {
  return by == "current" || by == "peak" || by == "max-events" || by == "reclaimed" || by == "slab";
}

int run_top(const TopOptions& o) {
  memcg::ControlClient client = memcg::ControlClient::connect(o.attach);
  const bool live = !o.once && o.iterations == 0 && ::isatty(STDOUT_FILENO);
  TableView view(stdout, live ? TableView::Mode::live : TableView::Mode::plain);
  const int frames = o.once ? 1 : o.iterations;  // 0: until interrupted
  for (int n = 0; frames == 0 || n < frames; ++n) {
    if (n > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.interval));
    const memcg::ControlReply r = client.request("tree " + o.root);
    if (!r.ok) {
      std::fprintf(stderr, "memcgctl top: tree %s: %s %s\n", o.root.c_str(), r.error.c_str(), r.payload.c_str());
      return kExitFailed;
    }
    std::vector<GroupRow> rows;
    collect(nlohmann::json::parse(r.payload), o.root, o.depth, rows);
    if (rows.size() > 1)
      std::stable_sort(rows.begin() + 1, rows.end(), [&](const GroupRow& a, const GroupRow& b) {
        const std::uint64_t ka = sort_key(a, o.sort), kb = sort_key(b, o.sort);
        return ka != kb ? ka > kb : a.path < b.path;
      });
    char when[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&now));
    const std::string title = "memcgctl top  " + o.attach + "  " + when + "  groups " + std::to_string(rows.size()) +
                              "  sorted by " + o.sort;
    view.frame(title, rows, {});
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace memcgctl
