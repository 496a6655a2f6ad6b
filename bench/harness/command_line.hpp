// CommandLine: a benchmark program's argv, split between the program's own
// flags and Google Benchmark's.
//
//   memcg_bench::CommandLine cl(argc, argv);
//   cl.add_default(memcg_bench::kDefaultWarmup);  // the user's flag wins
//   while (cl.next()) {
//     if (cl.flag("--smoke")) smoke = true;
//     else if (const char* v = cl.value("--seconds")) seconds = std::atof(v);
//   }                                   // anything not taken goes to Google Benchmark
//   if (smoke) cl.add_forced(memcg_bench::kSmokeMinTime);
//   if (!cl.initialize()) return 1;     // an argument nobody recognised
//
// The argument list handed to benchmark::Initialize is argv[0], the
// defaults, the arguments the program did not take (in their order), then
// the forced flags: Google Benchmark keeps the last value of a flag, so a
// default yields to the user and a forced flag does not.
#pragma once

#include <deque>
#include <string>
#include <vector>

namespace memcg_bench {

// Every benchmark program accepts --smoke (the ctest smoke test runs it):
// minimal time per benchmark. Charge and slab benchmarks warm up 0.1 s by
// default (a shared VM runs the first moments after an idle period slower).
inline constexpr const char* kSmokeMinTime = "--benchmark_min_time=0.01";
inline constexpr const char* kNoWarmup = "--benchmark_min_warmup_time=0";
inline constexpr const char* kDefaultWarmup = "--benchmark_min_warmup_time=0.1";

class CommandLine {
 public:
  CommandLine(int argc, char** argv);
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  /// Moves to the next argument (argv[1] first); false after the last. The
  /// argument left behind, if no flag() or value() took it, goes to Google
  /// Benchmark.
  bool next();
  /// The current argument is exactly `name`: takes it.
  bool flag(const char* name);
  /// "--name=v" (and with kEqualsOrNext, "--name v" with a following
  /// argument): takes it and returns v; nullptr otherwise.
  enum class Form { kEqualsOnly, kEqualsOrNext };
  const char* value(const char* name, Form form = Form::kEqualsOrNext);

  void add_default(const char* benchmark_flag);
  void add_forced(const char* benchmark_flag);

  /// benchmark::Initialize over the assembled list; false if it left an
  /// argument unrecognised (Google Benchmark has printed which).
  bool initialize();

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  bool taken_ = true;               // argv_[i_] was taken by flag()/value()
  std::vector<char*> passed_;       // the user's arguments for Google Benchmark
  std::deque<std::string> defaults_, forced_;  // stable storage for the char* below
};

}  // namespace memcg_bench
