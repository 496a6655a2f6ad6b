// memcgctl script: runs a line-based scenario against this process's tree
// (docs/memcgctl-script.md). The whole script is parsed first (a parse error
// runs nothing); then lines run in order, and the first failure ends the run
// unless --keep-going. The verbs themselves are the table in script_verbs.*.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "memcgctl.hpp"
#include "script_verbs.hpp"

namespace memcgctl {
namespace {

Words split(const std::string& s) {
  Words w;
  std::istringstream in(s);
  std::string x;
  while (in >> x) w.push_back(x);
  return w;
}

}  // namespace

int run_script(const ScriptOptions& opts) {
  std::string text, name;
  if (opts.file == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
    name = "<stdin>";
  } else {
    std::ifstream in(opts.file);
    if (!in) {
      fmt::print(stderr, "memcgctl: script: cannot read {}\n", opts.file);
      return kExitFailed;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    name = opts.file;
  }

  auto emit = [&](const nlohmann::json& j) {
    fmt::print("{}\n", j.dump());
    std::fflush(stdout);
  };

  // Parse everything first.
  std::vector<Line> lines;
  int parse_errors = 0;
  {
    std::istringstream in(text);
    std::string raw;
    int no = 0;
    while (std::getline(in, raw)) {
      ++no;
      Line l;
      l.no = no;
      // A '#' at the start of a word starts a comment.
      for (std::size_t i = 0; i < raw.size(); ++i)
        if (raw[i] == '#' && (i == 0 || raw[i - 1] == ' ' || raw[i - 1] == '\t')) {
          raw.resize(i);
          break;
        }
      l.text = trim(raw);
      if (l.text.empty()) continue;
      l.words = split(l.text);
      if (l.words[0] == "expect" && l.words.size() >= 4 && l.words[2] == "contains") {
        std::size_t p = l.text.find(" contains ");
        if (p == std::string::npos) p = l.text.find("\tcontains ");
        l.rest_after_contains = trim(std::string_view(l.text).substr(p + 10));
      }
      std::string e = validate(l.words, false);
      if (!e.empty()) {
        ++parse_errors;
        const std::string msg = fmt::format("{}:{}: parse error: {}", name, no, e);
        if (opts.json)
          emit({{"file", name}, {"line", no}, {"text", l.text}, {"ok", false}, {"parse_error", e}, {"message", msg}});
        else
          fmt::print(stderr, "{}\n", msg);
        if (!opts.keep_going) return kExitFailed;
        continue;
      }
      lines.push_back(std::move(l));
    }
  }
  if (parse_errors) return kExitFailed;

  ScriptState state;
  int failures = 0;
  for (const Line& l : lines) {
    Result r = run_verb(state, l.words, l);
    std::string msg;
    if (!r.failure.empty())
      msg = fmt::format("{}:{}: {} failed: {}", name, l.no, l.text, r.failure);
    else if (r.ec && l.words[0] != "expect-error")
      msg = fmt::format("{}:{}: {} failed: {} ({})", name, l.no, l.text, errno_name(r.ec), r.ec.message());
    const bool ok = msg.empty();
    if (opts.json) {
      nlohmann::json j{{"file", name}, {"line", l.no}, {"text", l.text}, {"verb", l.words[0]}, {"ok", ok}};
      j.update(r.out);
      if (r.ec && l.words[0] != "expect-error") j["error"] = errno_name(r.ec);
      if (!ok) j["message"] = msg;
      emit(j);
    } else {
      if (!r.text.empty()) {
        std::fwrite(r.text.data(), 1, r.text.size(), stdout);
        std::fflush(stdout);
      }
      if (!ok) fmt::print(stderr, "{}\n", msg);
    }
    if (!ok) {
      ++failures;
      if (!opts.keep_going) break;
    }
  }
  state.cleanup();
  if (failures && opts.keep_going && !opts.json) fmt::print(stderr, "{}: {} failed line(s)\n", name, failures);
  return failures ? kExitFailed : kExitOk;
}

}  // namespace memcgctl
