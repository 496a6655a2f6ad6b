// memcgctl: the project's command-line tool. Entry points of the subcommands,
// shared by main.cpp (argument parsing) and the files that implement them.
#pragma once

#include <string>
#include <system_error>

namespace memcgctl {

/// Exit codes: 0 success (demo: every check passed), 1 failure (demo: a check
/// failed; fs verbs: the operation failed), 2 usage error or --help.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct DemoOptions {
  double seconds = 0;    ///< run time of the workload (0: the configuration's)
  int threads = 0;       ///< worker threads (0: the configuration's); churn and sampler come on top
  std::string config;    ///< configuration file (empty: the embedded default)
  bool print_config = false;  ///< print the configuration text and exit
  bool json = false;     ///< one JSON object at the end instead of the human text
  bool no_live = false;  ///< plain periodic blocks even on a terminal
  std::string socket;    ///< serve the tree on this control socket while running (empty: none)
};

struct TopOptions {
  std::string attach;       ///< the control socket of the process to watch
  std::string root = "/";   ///< the subtree shown
  double interval = 1.0;    ///< seconds between frames
  int iterations = 0;       ///< frames to show (0: until interrupted)
  bool once = false;        ///< one frame (iterations = 1)
  int depth = -1;           ///< levels below root shown (-1: all)
  std::string sort = "current";  ///< kTopSortKeys
};

struct MountOptions {
  std::string attach;  ///< the control socket of the process whose tree is mounted
  std::string dir;     ///< the mount point
};

struct ScriptOptions {
  std::string file;         ///< script path, or "-" for stdin
  bool keep_going = false;  ///< report every failure instead of stopping at the first
  bool json = false;        ///< one JSON object per executed line
};

/// `memcgctl demo`: demo.cpp.
int run_demo(const DemoOptions& opts);

/// The fs verbs (verbs.cpp): operate on this process's tree; errors print
/// "memcgctl: <verb> <path>: <message>" on stderr and return kExitFailed.
/// With json, print one object {"verb", "path", "ok", ...} on stdout instead.
int run_cat(const std::string& path, bool json = false);
int run_write(const std::string& path, const std::string& value, bool json = false);
int run_ls(const std::string& path, bool json = false);
int run_mkdir(const std::string& path, bool json = false);
int run_rmdir(const std::string& path, bool json = false);
/// The subtree at path as one JSON object (docs/control-socket.md, "tree").
int run_tree(const std::string& path, bool json = false);
/// The subtree at path as Prometheus metrics (docs/metrics.md).
int run_metrics(const std::string& path, bool json = false);
/// Makes the verbs act on the tree served at `socket` (std::system_error
/// naming it if the connection fails).
void attach(const std::string& socket);
/// The control socket process `pid` serves (find_socket.cpp); throws
/// std::system_error (ENOENT if it serves none).
std::string find_control_socket(long pid);

/// `memcgctl top`: top.cpp. The sort keys, for --help and validation.
int run_top(const TopOptions& opts);
extern const char* const kTopSortKeys;
bool valid_top_sort(const std::string& by);

/// `memcgctl mount`: mount.cpp (FUSE 3). Returns when unmounted.
int run_mount(const MountOptions& opts);

/// `memcgctl script`: script.cpp.
int run_script(const ScriptOptions& opts);
/// The verbs of a script, one usage line and summary each, from the verb
/// table (script_verbs.cpp): the footer of `memcgctl script --help`.
std::string script_verbs_help();

/// "ENOENT" for ENOENT, ... ("E<number>" for codes without a name here).
std::string errno_name(const std::error_code& ec);
/// The errno value for a name like "ENOENT"; 0 if unknown.
int errno_from_name(const std::string& name);

}  // namespace memcgctl
