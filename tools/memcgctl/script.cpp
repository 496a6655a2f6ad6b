// memcgctl script: runs a line-based scenario against this process's tree
// (docs/memcgctl-script.md). The whole script is parsed first (a parse error
// runs nothing); then lines run in order, and the first failure ends the run
// unless --keep-going.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "memcg/reservation.hpp"
#include "memcgctl.hpp"
#include "snapshot.hpp"

namespace memcgctl {

nlohmann::json contents_json(const std::string& text);  // verbs.cpp

namespace {

using Words = std::vector<std::string>;

struct Line {
  int no = 0;
  std::string text;  // as written, trimmed
  Words words;
  std::string rest_after_contains;  // expect PATH contains TEXT: TEXT verbatim
};

std::string trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

Words split(const std::string& s) {
  Words w;
  std::istringstream in(s);
  std::string x;
  while (in >> x) w.push_back(x);
  return w;
}

bool parse_size(const std::string& s, std::uint64_t& out, bool allow_max = false) {
  if (!memcg::fs::parse_bytes(s, out)) return false;
  return allow_max || out != memcg::unlimited;
}

bool parse_uint(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 18) return false;
  out = std::stoull(s);
  return true;
}

const char* const kOps[] = {"==", "!=", "<=", ">=", "<", ">"};

// Checks a verb's arguments (words[0] is the verb). Empty string: fine.
std::string validate(const Words& w, bool nested) {
  if (w.empty()) return "empty line";
  const std::string& v = w[0];
  auto argc = [&](std::size_t lo, std::size_t hi, const char* usage) -> std::string {
    if (w.size() - 1 < lo || w.size() - 1 > hi) return fmt::format("usage: {}", usage);
    return "";
  };
  std::uint64_t n;
  if (v == "mkdir" || v == "rmdir" || v == "cat" || v == "ls") return argc(1, 1, (v + " PATH").c_str());
  if (v == "write") return argc(2, 2, "write PATH VALUE");
  if (v == "alloc") {
    if (auto e = argc(3, 4, "alloc NAME GROUP SIZE [COUNT]"); !e.empty()) return e;
    if (!parse_size(w[3], n) || n == 0) return fmt::format("alloc: bad size '{}'", w[3]);
    if (w.size() == 5 && (!parse_uint(w[4], n) || n == 0 || n > 1000000))
      return fmt::format("alloc: bad count '{}' (1..1000000)", w[4]);
    return "";
  }
  if (v == "free" || v == "release" || v == "wait") return argc(1, 1, (v + " NAME").c_str());
  if (v == "reserve") {
    if (auto e = argc(3, 3, "reserve NAME GROUP BYTES"); !e.empty()) return e;
    if (!parse_size(w[3], n)) return fmt::format("reserve: bad size '{}'", w[3]);
    return "";
  }
  if (v == "spawn") {
    if (auto e = argc(4, 4, "spawn NAME GROUP THREADS SECONDS"); !e.empty()) return e;
    if (!parse_uint(w[3], n) || n == 0 || n > 64) return fmt::format("spawn: bad thread count '{}' (1..64)", w[3]);
    char* end;
    double s = std::strtod(w[4].c_str(), &end);
    if (*end || end == w[4].c_str() || s < 0 || s > 3600) return fmt::format("spawn: bad seconds '{}'", w[4]);
    return "";
  }
  if (v == "sleep") {
    if (auto e = argc(1, 1, "sleep MS"); !e.empty()) return e;
    if (!parse_uint(w[1], n) || n > 3600000) return fmt::format("sleep: bad milliseconds '{}'", w[1]);
    return "";
  }
  if (v == "barrier") return argc(0, 0, "barrier");
  if (v == "echo") return "";
  if (v == "expect" && !nested) {
    if (w.size() >= 4 && w[2] == "contains") return "";
    if (auto e = argc(3, 3, "expect PATH[:KEY] OP VALUE | expect PATH[:KEY] contains TEXT"); !e.empty()) return e;
    bool op_ok = false;
    for (const char* op : kOps) op_ok = op_ok || w[2] == op;
    if (!op_ok) return fmt::format("expect: unknown operator '{}' (==, !=, <=, >=, <, >, contains)", w[2]);
    if (w[2] != "==" && w[2] != "!=" && !parse_size(w[3], n, true))
      return fmt::format("expect: '{}' is not a number (bytes with an optional K/M/G/T suffix, or max)", w[3]);
    return "";
  }
  if (v == "expect-error" && !nested) {
    std::size_t arrow = 0;
    for (std::size_t i = 1; i < w.size(); ++i)
      if (w[i] == "->") arrow = i;
    if (arrow < 2 || arrow + 2 != w.size()) return "usage: expect-error VERB ARGS... -> ERRNAME";
    if (!errno_from_name(w.back())) return fmt::format("expect-error: unknown error name '{}'", w.back());
    Words inner(w.begin() + 1, w.begin() + static_cast<long>(arrow));
    std::string e = validate(inner, true);
    if (!e.empty()) return "expect-error: " + e;
    if (inner[0] == "sleep" || inner[0] == "barrier" || inner[0] == "echo" || inner[0] == "wait")
      return fmt::format("expect-error: '{}' cannot fail", inner[0]);
    return "";
  }
  return fmt::format("unknown verb '{}'", v);
}

// ---------------------------------------------------------------- runtime

struct Spawned {
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ops{0}, refused{0};
  std::string group;
  ~Spawned() {
    stop.store(true);
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
};

void spawn_body(Spawned* s, memcg::Group g, double seconds, std::uint64_t seed) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::vector<void*> held;
  std::uint64_t x = seed;
  auto rnd = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::uint64_t ops = 0, refused = 0;
  while (!s->stop.load(std::memory_order_relaxed)) {
    if ((ops & 255) == 0 && std::chrono::steady_clock::now() >= end) break;
    ++ops;
    if (held.size() < 512 && (held.empty() || rnd() % 100 < 55)) {
      const std::size_t size = rnd() % 10 < 8 ? 64 + rnd() % 4096 : 8192 + rnd() % (24 * 1024);
      void* p = memcg::kmalloc(size, g);
      if (p)
        held.push_back(p);
      else
        ++refused;
    } else {
      std::size_t i = rnd() % held.size();
      memcg::kfree(held[i]);
      held[i] = held.back();
      held.pop_back();
    }
  }
  for (void* p : held) memcg::kfree(p);
  s->ops.fetch_add(ops);
  s->refused.fetch_add(refused);
}

struct Result {
  std::error_code ec;   // the verb failed with this (expect-error compares it)
  std::string failure;  // a failure that is not an errno (expect mismatch, bad name...)
  nlohmann::json out = nlohmann::json::object();  // for --json
  std::string text;     // printed in text mode (cat, ls, wait, echo)
};

class Runner {
 public:
  explicit Runner(bool json) : json_(json) {}
  ~Runner() { cleanup(); }

  Result run(const Words& w, const Line& line);
  void cleanup() {
    spawns_.clear();  // stop and join
    for (auto& [n, v] : allocs_)
      for (void* p : v) memcg::kfree(p);
    allocs_.clear();
    reservations_.clear();
  }

 private:
  static std::error_code err(std::errc e) { return std::make_error_code(e); }
  bool json_;
  std::map<std::string, std::vector<void*>> allocs_;
  std::map<std::string, memcg::Reservation> reservations_;
  std::map<std::string, std::unique_ptr<Spawned>> spawns_;
  std::uint64_t seed_ = 0x5eed;
};

// "/a/memory.events:oom" -> file "/a/memory.events", key "oom".
void split_key(const std::string& p, std::string& file, std::string& key) {
  std::size_t c = p.rfind(':');
  if (c != std::string::npos && p.find('/', c) == std::string::npos && c + 1 < p.size()) {
    file = p.substr(0, c);
    key = p.substr(c + 1);
  } else {
    file = p;
    key.clear();
  }
}

Result Runner::run(const Words& w, const Line& line) {
  Result r;
  const std::string& v = w[0];
  if (v == "mkdir") {
    memcg::fs::mkdir(w[1], r.ec);
  } else if (v == "rmdir") {
    memcg::fs::rmdir(w[1], r.ec);
  } else if (v == "write") {
    memcg::fs::write(w[1], w[2], r.ec);
  } else if (v == "cat") {
    std::string text = memcg::fs::read(w[1], r.ec);
    if (!r.ec) {
      r.text = text;
      r.out["content"] = text;
      r.out["value"] = contents_json(text);
    }
  } else if (v == "ls") {
    auto entries = memcg::fs::list(w[1], r.ec);
    if (!r.ec) {
      for (const auto& e : entries) r.text += e + "\n";
      r.out["entries"] = entries;
    }
  } else if (v == "alloc") {
    if (allocs_.count(w[1])) {
      r.ec = err(std::errc::file_exists);
      return r;
    }
    memcg::Group g = memcg::Group::open(w[2], r.ec);
    if (r.ec) return r;
    std::uint64_t size = 0, count = 1;
    parse_size(w[3], size);
    if (w.size() == 5) parse_uint(w[4], count);
    std::vector<void*> v2;
    v2.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      void* p = memcg::kmalloc(size, g);
      if (!p) {
        for (void* q : v2) memcg::kfree(q);
        r.ec = err(std::errc::not_enough_memory);
        r.out["allocated_before_failure"] = i;
        return r;
      }
      v2.push_back(p);
    }
    allocs_[w[1]] = std::move(v2);
  } else if (v == "free") {
    auto it = allocs_.find(w[1]);
    if (it == allocs_.end()) {
      r.ec = err(std::errc::no_such_file_or_directory);
      return r;
    }
    for (void* p : it->second) memcg::kfree(p);
    allocs_.erase(it);
  } else if (v == "reserve") {
    if (reservations_.count(w[1])) {
      r.ec = err(std::errc::file_exists);
      return r;
    }
    memcg::Group g = memcg::Group::open(w[2], r.ec);
    if (r.ec) return r;
    std::uint64_t bytes = 0;
    parse_size(w[3], bytes);
    memcg::Reservation res = memcg::Reservation::make(g, bytes, r.ec);
    if (!r.ec) reservations_[w[1]] = std::move(res);
  } else if (v == "release") {
    auto it = reservations_.find(w[1]);
    if (it == reservations_.end()) {
      r.ec = err(std::errc::no_such_file_or_directory);
      return r;
    }
    reservations_.erase(it);
  } else if (v == "spawn") {
    if (spawns_.count(w[1])) {
      r.ec = err(std::errc::file_exists);
      return r;
    }
    memcg::Group g = memcg::Group::open(w[2], r.ec);
    if (r.ec) return r;
    std::uint64_t threads = 1;
    parse_uint(w[3], threads);
    const double seconds = std::strtod(w[4].c_str(), nullptr);
    auto s = std::make_unique<Spawned>();
    s->group = w[2];
    for (std::uint64_t i = 0; i < threads; ++i)
      s->threads.emplace_back(spawn_body, s.get(), g, seconds, seed_ += 0x9e3779b97f4a7c15ull);
    spawns_[w[1]] = std::move(s);
  } else if (v == "wait") {
    auto it = spawns_.find(w[1]);
    if (it == spawns_.end()) {
      r.ec = err(std::errc::no_such_file_or_directory);
      return r;
    }
    for (auto& t : it->second->threads) t.join();
    const std::uint64_t ops = it->second->ops.load(), refused = it->second->refused.load();
    r.out["ops"] = ops;
    r.out["refused"] = refused;
    r.text = fmt::format("{}: {} ops in {}, {} refused\n", w[1], ops, it->second->group, refused);
    spawns_.erase(it);
  } else if (v == "sleep") {
    std::uint64_t ms = 0;
    parse_uint(w[1], ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  } else if (v == "barrier") {
    memcg::barrier();
  } else if (v == "echo") {
    std::string t = trim(std::string_view(line.text).substr(4));
    r.text = t + "\n";
    r.out["text"] = t;
  } else if (v == "expect") {
    std::string file, key;
    split_key(w[1], file, key);
    std::error_code ec;
    std::string text = memcg::fs::read(file, ec);
    if (ec) {
      r.failure = fmt::format("cannot read {}: {} ({})", file, errno_name(ec), ec.message());
      return r;
    }
    std::string got;
    if (key.empty()) {
      got = trim(text);
    } else {
      bool found = false;
      for (const auto& [k, val] : parse_key_values(text))
        if (k == key) {
          got = val;
          found = true;
        }
      if (!found) {
        r.failure = fmt::format("{} has no key '{}'", file, key);
        return r;
      }
    }
    r.out["got"] = got;
    if (w[2] == "contains") {
      const std::string& want = line.rest_after_contains;
      if (text.find(want) == std::string::npos)
        r.failure = fmt::format("got {}", nlohmann::json(text).dump());
      return r;
    }
    std::uint64_t a, b;
    const std::string& op = w[2];
    const bool numeric = memcg::fs::parse_bytes(got, a) && memcg::fs::parse_bytes(w[3], b);
    bool pass;
    if (!numeric) {
      if (op != "==" && op != "!=") {
        r.failure = fmt::format("got '{}', not a number", got);
        return r;
      }
      pass = (got == w[3]) == (op == "==");
    } else {
      pass = op == "==" ? a == b : op == "!=" ? a != b : op == "<=" ? a <= b : op == ">=" ? a >= b : op == "<" ? a < b : a > b;
    }
    if (!pass) r.failure = fmt::format("got {}", got);
  } else if (v == "expect-error") {
    const std::string want = w.back();
    Words inner(w.begin() + 1, w.end() - 2);
    Result in = run(inner, line);
    r.out["inner"] = in.out;
    if (!in.failure.empty()) {
      r.failure = in.failure;
    } else if (!in.ec) {
      r.failure = fmt::format("expected {}, but it succeeded", want);
    } else if (in.ec.value() != errno_from_name(want)) {
      r.failure = fmt::format("expected {}, got {} ({})", want, errno_name(in.ec), in.ec.message());
    }
    if (!r.failure.empty()) r.out["expected_error"] = want;
    r.out["error"] = in.ec ? errno_name(in.ec) : "";
  }
  return r;
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

  Runner runner(opts.json);
  int failures = 0;
  for (const Line& l : lines) {
    Result r = runner.run(l.words, l);
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
  runner.cleanup();
  if (failures && opts.keep_going && !opts.json) fmt::print(stderr, "{}: {} failed line(s)\n", name, failures);
  return failures ? kExitFailed : kExitOk;
}

}  // namespace memcgctl
