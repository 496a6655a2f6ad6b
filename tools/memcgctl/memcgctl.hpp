// memcgctl: the project's command-line tool. Entry points of the subcommands,
// shared by main.cpp (argument parsing) and the files that implement them.
#pragma once

#include <string>

namespace memcgctl {

/// Exit codes: 0 success (demo: every check passed), 1 failure (demo: a check
/// failed; fs verbs: the operation failed), 2 usage error or --help.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct DemoOptions {
  double seconds = 3.0;  ///< run time of the workload
  int threads = 2;       ///< worker threads (the churn and sampler threads come on top)
  bool json = false;     ///< one JSON object at the end instead of the human text
  bool no_live = false;  ///< plain periodic blocks even on a terminal
};

/// `memcgctl demo`: demo.cpp.
int run_demo(const DemoOptions& opts);

/// The fs verbs (verbs.cpp): operate on this process's tree; errors print
/// "memcgctl: <verb> <path>: <message>" on stderr and return kExitFailed.
int run_cat(const std::string& path);
int run_write(const std::string& path, const std::string& value);
int run_ls(const std::string& path);
int run_mkdir(const std::string& path);
int run_rmdir(const std::string& path);

}  // namespace memcgctl
