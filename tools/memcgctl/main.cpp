// memcgctl: argument parsing and dispatch (CLI11). See docs/memcgctl.md.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "memcgctl.hpp"

int main(int argc, char** argv) {
  using namespace memcgctl;

  CLI::App app{"memcgctl - drive the in-process memcg group tree", "memcgctl"};
  app.require_subcommand(1);
  app.fallthrough(false);

  DemoOptions demo_opts;
  CLI::App* demo = app.add_subcommand(
      "demo", "Run a multi-tenant workload with a live table, then check the accounting");
  demo->add_option("--seconds", demo_opts.seconds, "Run time of the workload (default: the configuration's, 3.5)")
      ->check(CLI::Range(0.01, 86400.0));
  demo->add_option("--threads", demo_opts.threads, "Worker threads (default: the configuration's, 2)")
      ->check(CLI::Range(1, 256));
  demo->add_option("--config", demo_opts.config, "Configuration file (default: the embedded one)");
  demo->add_flag("--print-config", demo_opts.print_config, "Print the configuration and exit");
  demo->add_flag("--json", demo_opts.json, "Print one JSON object at the end instead of text");
  demo->add_flag("--no-live", demo_opts.no_live, "Plain periodic blocks instead of the live table");
  demo->add_option("--socket", demo_opts.socket,
                   "Serve the tree on this control socket while the workload runs (memcgctl ... --attach)");

  ScriptOptions script_opts;
  CLI::App* script = app.add_subcommand("script", "Run a line-based scenario (docs/memcgctl-script.md)");
  script->add_option("FILE", script_opts.file, "Script file, or - for stdin")->required();
  script->add_flag("--keep-going", script_opts.keep_going, "Run every line and report every failure");
  script->add_flag("--json", script_opts.json, "One JSON object per executed line");
  script->footer(script_verbs_help());

  TopOptions top_opts;
  CLI::App* top = app.add_subcommand("top", "Live view of a running process's groups (like systemd-cgtop)");
  long top_pid = 0;
  CLI::Option* top_attach =
      top->add_option("--attach", top_opts.attach, "The process's control socket (memcg::serve, memcg-run --socket)");
  top->add_option("--pid", top_pid, "The process, found by its pid (its listening control socket)")
      ->excludes(top_attach);
  top->add_option("PATH", top_opts.root, "Subtree to show (default /)");
  top->add_option("--interval", top_opts.interval, "Seconds between frames (default 1)")->check(CLI::Range(0.01, 3600.0));
  top->add_option("--iterations,-n", top_opts.iterations, "Frames to show, then exit (default: until interrupted)")
      ->check(CLI::Range(1, 1000000));
  top->add_flag("--once", top_opts.once, "One frame, then exit");
  top->add_option("--depth", top_opts.depth, "Levels below PATH to show (default: all)")->check(CLI::Range(0, 1000));
  top->add_option("--sort", top_opts.sort, std::string("Column to sort by: ") + kTopSortKeys)
      ->check([](const std::string& s) { return valid_top_sort(s) ? std::string() : "unknown sort key '" + s + "'"; });

  MountOptions mount_opts;
  long mount_pid = 0;
  CLI::App* mount = app.add_subcommand("mount", "Mount a running process's tree with FUSE (ls, cat, echo >, mkdir, rmdir)");
  CLI::Option* mount_attach = mount->add_option("--attach", mount_opts.attach, "The process's control socket");
  mount->add_option("--pid", mount_pid, "The process, found by its pid")->excludes(mount_attach);
  mount->add_option("DIR", mount_opts.dir, "Mount point (an existing directory)")->required()->check(CLI::ExistingDirectory);

  std::string path, value;
  bool verb_json = false;
  CLI::App* cat = app.add_subcommand("cat", "Print a control file");
  cat->add_option("PATH", path, "File path, e.g. /memory.current")->required();
  CLI::App* write = app.add_subcommand("write", "Write a value to a control file");
  write->add_option("PATH", path, "File path, e.g. /a/memory.max")->required();
  write->add_option("VALUE", value, "\"max\" or bytes with an optional K/M/G/T suffix")->required();
  CLI::App* ls = app.add_subcommand("ls", "List a group's child groups and files");
  ls->add_option("PATH", path, "Group path, e.g. /")->required();
  CLI::App* mkdir = app.add_subcommand("mkdir", "Create a group");
  mkdir->add_option("PATH", path, "Group path, e.g. /a")->required();
  CLI::App* rmdir = app.add_subcommand("rmdir", "Remove a group");
  rmdir->add_option("PATH", path, "Group path, e.g. /a")->required();
  CLI::App* tree = app.add_subcommand("tree", "Print a subtree (groups and file contents) as JSON");
  tree->add_option("PATH", path, "Group path (default /)");
  CLI::App* metrics = app.add_subcommand("metrics", "Print a subtree as Prometheus metrics (text exposition format)");
  metrics->add_option("PATH", path, "Group path (default /)");
  std::string attach_socket;
  long attach_pid = 0;
  for (CLI::App* v : {cat, write, ls, mkdir, rmdir, tree, metrics}) {
    v->add_flag("--json", verb_json, "Print one JSON object (result or error) on stdout");
    CLI::Option* a = v->add_option(
        "--attach", attach_socket,
        "Act on the tree a running process serves at this control socket (memcg::serve, memcg-run --socket)");
    v->add_option("--pid", attach_pid, "Act on the tree process PID serves (finds its control socket)")->excludes(a);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();  // the selected subcommand's help, if any
    return kExitUsage;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitUsage;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    // CLI11 reports an unknown first word as a missing subcommand.
    if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-')
      what = fmt::format("unknown subcommand '{}'", argv[1]);
    std::cerr << "memcgctl: " << what << "\n\n" << app.help();
    return kExitUsage;
  }

  try {
    if (attach_pid) attach_socket = find_control_socket(attach_pid);
    if (!attach_socket.empty()) attach(attach_socket);
    if (*top && top_opts.attach.empty()) {
      if (!top_pid) {
        std::cerr << "memcgctl: top needs --attach SOCKET or --pid N\n";
        return kExitUsage;
      }
      top_opts.attach = find_control_socket(top_pid);
    }
    if ((*tree || *metrics) && path.empty()) path = "/";
    if (*mount) {
      if (mount_opts.attach.empty() && !mount_pid) {
        std::cerr << "memcgctl: mount needs --attach SOCKET or --pid N\n";
        return kExitUsage;
      }
      if (mount_opts.attach.empty()) mount_opts.attach = find_control_socket(mount_pid);
      return run_mount(mount_opts);
    }
    if (*demo) return run_demo(demo_opts);
    if (*top) return run_top(top_opts);
    if (*script) return run_script(script_opts);
    if (*cat) return run_cat(path, verb_json);
    if (*write) return run_write(path, value, verb_json);
    if (*ls) return run_ls(path, verb_json);
    if (*mkdir) return run_mkdir(path, verb_json);
    if (*rmdir) return run_rmdir(path, verb_json);
    if (*tree) return run_tree(path, verb_json);
    if (*metrics) return run_metrics(path, verb_json);
  } catch (const std::exception& e) {
    fmt::print(stderr, "memcgctl: {}\n", e.what());
    return kExitFailed;
  }
  std::cerr << app.help();
  return kExitUsage;
}
