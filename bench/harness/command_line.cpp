#include "harness/command_line.hpp"

#include <benchmark/benchmark.h>

#include <cstring>

namespace memcg_bench {

CommandLine::CommandLine(int argc, char** argv) : argc_(argc), argv_(argv) {}

bool CommandLine::next() {
  if (!taken_) passed_.push_back(argv_[i_]);
  if (i_ + 1 >= argc_) {
    taken_ = true;
    i_ = argc_;
    return false;
  }
  ++i_;
  taken_ = false;
  return true;
}

bool CommandLine::flag(const char* name) {
  if (taken_ || std::strcmp(argv_[i_], name) != 0) return false;
  taken_ = true;
  return true;
}

const char* CommandLine::value(const char* name, Form form) {
  if (taken_) return nullptr;
  const char* a = argv_[i_];
  const std::size_t len = std::strlen(name);
  if (std::strncmp(a, name, len) != 0) return nullptr;
  if (a[len] == '=') {
    taken_ = true;
    return a + len + 1;
  }
  if (form == Form::kEqualsOrNext && a[len] == '\0' && i_ + 1 < argc_) {
    taken_ = true;
    return argv_[++i_];
  }
  return nullptr;
}

void CommandLine::add_default(const char* benchmark_flag) { defaults_.emplace_back(benchmark_flag); }

void CommandLine::add_forced(const char* benchmark_flag) { forced_.emplace_back(benchmark_flag); }

bool CommandLine::initialize() {
  while (next()) {
  }
  std::vector<char*> args{argv_[0]};
  for (std::string& s : defaults_) args.push_back(s.data());
  args.insert(args.end(), passed_.begin(), passed_.end());
  for (std::string& s : forced_) args.push_back(s.data());
  int nargs = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&nargs, args.data());
  return !benchmark::ReportUnrecognizedArguments(nargs, args.data());
}

}  // namespace memcg_bench
