#include "script_verbs.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "memcgctl.hpp"
#include "snapshot.hpp"

namespace memcgctl {

nlohmann::json contents_json(const std::string& text);  // verbs.cpp

// ---------------------------------------------------------------- state

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

ScriptState::ScriptState() = default;
ScriptState::~ScriptState() { cleanup(); }

void ScriptState::cleanup() {
  spawns.clear();  // stop and join
  for (auto& [n, v] : allocs)
    for (void* p : v) memcg::kfree(p);
  allocs.clear();
  reservations.clear();
}

std::string trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

namespace {

bool parse_size(const std::string& s, std::uint64_t& out, bool allow_max = false) {
  if (!memcg::fs::parse_bytes(s, out)) return false;
  return allow_max || out != memcg::unlimited;
}

bool parse_uint(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 18) return false;
  out = std::stoull(s);
  return true;
}

std::error_code err(std::errc e) { return std::make_error_code(e); }

const char* const kOps[] = {"==", "!=", "<=", ">=", "<", ">"};

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

// ---------------------------------------------------------------- checks

std::string check_alloc(const Verb&, const Words& w) {
  std::uint64_t n;
  if (!parse_size(w[3], n) || n == 0) return fmt::format("alloc: bad size '{}'", w[3]);
  if (w.size() == 5 && (!parse_uint(w[4], n) || n == 0 || n > 1000000))
    return fmt::format("alloc: bad count '{}' (1..1000000)", w[4]);
  return "";
}

std::string check_reserve(const Verb&, const Words& w) {
  std::uint64_t n;
  if (!parse_size(w[3], n)) return fmt::format("reserve: bad size '{}'", w[3]);
  return "";
}

std::string check_spawn(const Verb&, const Words& w) {
  std::uint64_t n;
  if (!parse_uint(w[3], n) || n == 0 || n > 64) return fmt::format("spawn: bad thread count '{}' (1..64)", w[3]);
  char* end;
  double s = std::strtod(w[4].c_str(), &end);
  if (*end || end == w[4].c_str() || s < 0 || s > 3600) return fmt::format("spawn: bad seconds '{}'", w[4]);
  return "";
}

std::string check_sleep(const Verb&, const Words& w) {
  std::uint64_t n;
  if (!parse_uint(w[1], n) || n > 3600000) return fmt::format("sleep: bad milliseconds '{}'", w[1]);
  return "";
}

std::string check_expect(const Verb& v, const Words& w) {
  if (w.size() >= 4 && w[2] == "contains") return "";
  if (w.size() != 4) return fmt::format("usage: {}", v.usage);
  bool op_ok = false;
  for (const char* op : kOps) op_ok = op_ok || w[2] == op;
  if (!op_ok) return fmt::format("expect: unknown operator '{}' (==, !=, <=, >=, <, >, contains)", w[2]);
  std::uint64_t n;
  if (w[2] != "==" && w[2] != "!=" && !parse_size(w[3], n, true))
    return fmt::format("expect: '{}' is not a number (bytes with an optional K/M/G/T suffix, or max)", w[3]);
  return "";
}

std::string check_expect_error(const Verb& v, const Words& w) {
  std::size_t arrow = 0;
  for (std::size_t i = 1; i < w.size(); ++i)
    if (w[i] == "->") arrow = i;
  if (arrow < 2 || arrow + 2 != w.size()) return fmt::format("usage: {}", v.usage);
  if (!errno_from_name(w.back())) return fmt::format("expect-error: unknown error name '{}'", w.back());
  Words inner(w.begin() + 1, w.begin() + static_cast<long>(arrow));
  std::string e = validate(inner, true);
  if (!e.empty()) return "expect-error: " + e;
  if (!find_verb(inner[0])->can_fail) return fmt::format("expect-error: '{}' cannot fail", inner[0]);
  return "";
}

// ---------------------------------------------------------------- handlers

Result do_mkdir(ScriptState&, const Words& w, const Line&) {
  Result r;
  memcg::fs::mkdir(w[1], r.ec);
  return r;
}

Result do_rmdir(ScriptState&, const Words& w, const Line&) {
  Result r;
  memcg::fs::rmdir(w[1], r.ec);
  return r;
}

Result do_write(ScriptState&, const Words& w, const Line&) {
  Result r;
  memcg::fs::write(w[1], w[2], r.ec);
  return r;
}

Result do_cat(ScriptState&, const Words& w, const Line&) {
  Result r;
  std::string text = memcg::fs::read(w[1], r.ec);
  if (!r.ec) {
    r.text = text;
    r.out["content"] = text;
    r.out["value"] = contents_json(text);
  }
  return r;
}

Result do_ls(ScriptState&, const Words& w, const Line&) {
  Result r;
  auto entries = memcg::fs::list(w[1], r.ec);
  if (!r.ec) {
    for (const auto& e : entries) r.text += e + "\n";
    r.out["entries"] = entries;
  }
  return r;
}

Result do_alloc(ScriptState& s, const Words& w, const Line&) {
  Result r;
  if (s.allocs.count(w[1])) {
    r.ec = err(std::errc::file_exists);
    return r;
  }
  memcg::Group g = memcg::Group::open(w[2], r.ec);
  if (r.ec) return r;
  std::uint64_t size = 0, count = 1;
  parse_size(w[3], size);
  if (w.size() == 5) parse_uint(w[4], count);
  std::vector<void*> objs;
  objs.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    void* p = memcg::kmalloc(size, g);
    if (!p) {
      for (void* q : objs) memcg::kfree(q);
      r.ec = err(std::errc::not_enough_memory);
      r.out["allocated_before_failure"] = i;
      return r;
    }
    objs.push_back(p);
  }
  s.allocs[w[1]] = std::move(objs);
  return r;
}

Result do_free(ScriptState& s, const Words& w, const Line&) {
  Result r;
  auto it = s.allocs.find(w[1]);
  if (it == s.allocs.end()) {
    r.ec = err(std::errc::no_such_file_or_directory);
    return r;
  }
  for (void* p : it->second) memcg::kfree(p);
  s.allocs.erase(it);
  return r;
}

Result do_reserve(ScriptState& s, const Words& w, const Line&) {
  Result r;
  if (s.reservations.count(w[1])) {
    r.ec = err(std::errc::file_exists);
    return r;
  }
  memcg::Group g = memcg::Group::open(w[2], r.ec);
  if (r.ec) return r;
  std::uint64_t bytes = 0;
  parse_size(w[3], bytes);
  memcg::Reservation res = memcg::Reservation::try_make(g, bytes, r.ec);
  if (!r.ec) s.reservations[w[1]] = std::move(res);
  return r;
}

Result do_release(ScriptState& s, const Words& w, const Line&) {
  Result r;
  auto it = s.reservations.find(w[1]);
  if (it == s.reservations.end()) {
    r.ec = err(std::errc::no_such_file_or_directory);
    return r;
  }
  s.reservations.erase(it);
  return r;
}

Result do_spawn(ScriptState& s, const Words& w, const Line&) {
  Result r;
  if (s.spawns.count(w[1])) {
    r.ec = err(std::errc::file_exists);
    return r;
  }
  memcg::Group g = memcg::Group::open(w[2], r.ec);
  if (r.ec) return r;
  std::uint64_t threads = 1;
  parse_uint(w[3], threads);
  const double seconds = std::strtod(w[4].c_str(), nullptr);
  auto sp = std::make_unique<Spawned>();
  sp->group = w[2];
  for (std::uint64_t i = 0; i < threads; ++i)
    sp->threads.emplace_back(spawn_body, sp.get(), g, seconds, s.seed += 0x9e3779b97f4a7c15ull);
  s.spawns[w[1]] = std::move(sp);
  return r;
}

Result do_wait(ScriptState& s, const Words& w, const Line&) {
  Result r;
  auto it = s.spawns.find(w[1]);
  if (it == s.spawns.end()) {
    r.ec = err(std::errc::no_such_file_or_directory);
    return r;
  }
  for (auto& t : it->second->threads) t.join();
  const std::uint64_t ops = it->second->ops.load(), refused = it->second->refused.load();
  r.out["ops"] = ops;
  r.out["refused"] = refused;
  r.text = fmt::format("{}: {} ops in {}, {} refused\n", w[1], ops, it->second->group, refused);
  s.spawns.erase(it);
  return r;
}

Result do_sleep(ScriptState&, const Words& w, const Line&) {
  std::uint64_t ms = 0;
  parse_uint(w[1], ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return {};
}

Result do_barrier(ScriptState&, const Words&, const Line&) {
  memcg::barrier();
  return {};
}

Result do_echo(ScriptState&, const Words&, const Line& line) {
  Result r;
  std::string t = trim(std::string_view(line.text).substr(4));
  r.text = t + "\n";
  r.out["text"] = t;
  return r;
}

Result do_expect(ScriptState&, const Words& w, const Line& line) {
  Result r;
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
    if (text.find(want) == std::string::npos) r.failure = fmt::format("got {}", nlohmann::json(text).dump());
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
  return r;
}

Result do_expect_error(ScriptState& s, const Words& w, const Line& line) {
  Result r;
  const std::string want = w.back();
  Words inner(w.begin() + 1, w.end() - 2);
  Result in = run_verb(s, inner, line);
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
  return r;
}

constexpr std::size_t kAny = Verb::kUnbounded;

}  // namespace

const std::vector<Verb>& script_verbs() {
  // name, usage, summary, arity checked, min, max, can fail, nestable, check, run
  static const std::vector<Verb> verbs = {
      {"mkdir", "mkdir PATH", "create a group (fs::mkdir)", true, 1, 1, true, true, nullptr, do_mkdir},
      {"rmdir", "rmdir PATH", "remove a group (fs::rmdir)", true, 1, 1, true, true, nullptr, do_rmdir},
      {"write", "write PATH VALUE", "write a control file (fs::write)", true, 2, 2, true, true, nullptr, do_write},
      {"cat", "cat PATH", "print a file (fs::read)", true, 1, 1, true, true, nullptr, do_cat},
      {"ls", "ls PATH", "print a group's entries (fs::list)", true, 1, 1, true, true, nullptr, do_ls},
      {"alloc", "alloc NAME GROUP SIZE [COUNT]", "COUNT kmalloc objects of SIZE in GROUP, all or nothing", true, 3,
       4, true, true, check_alloc, do_alloc},
      {"free", "free NAME", "free the objects of alloc NAME", true, 1, 1, true, true, nullptr, do_free},
      {"reserve", "reserve NAME GROUP BYTES", "Reservation::try_make(GROUP, BYTES) as NAME", true, 3, 3, true, true,
       check_reserve, do_reserve},
      {"release", "release NAME", "release the reservation NAME", true, 1, 1, true, true, nullptr, do_release},
      {"spawn", "spawn NAME GROUP THREADS SECONDS", "background kmalloc/kfree threads in GROUP", true, 4, 4, true,
       true, check_spawn, do_spawn},
      {"wait", "wait NAME", "join spawn NAME; print its ops and refusals", true, 1, 1, false, true, nullptr, do_wait},
      {"sleep", "sleep MS", "sleep MS milliseconds", true, 1, 1, false, true, check_sleep, do_sleep},
      {"barrier", "barrier", "memcg::barrier(): released groups are freed", true, 0, 0, false, true, nullptr,
       do_barrier},
      {"echo", "echo TEXT", "print TEXT", true, 0, kAny, false, true, nullptr, do_echo},
      {"expect", "expect PATH[:KEY] OP VALUE | expect PATH[:KEY] contains TEXT",
       "assert a file's value (OP: == != <= >= < >) or contents", false, 0, 0, true, false, check_expect,
       do_expect},
      {"expect-error", "expect-error VERB ARGS... -> ERRNAME", "assert that the verb fails with ERRNAME", false, 0,
       0, true, false, check_expect_error, do_expect_error},
  };
  return verbs;
}

const Verb* find_verb(std::string_view name) {
  for (const Verb& v : script_verbs())
    if (name == v.name) return &v;
  return nullptr;
}

std::string validate(const Words& w, bool nested) {
  if (w.empty()) return "empty line";
  const Verb* v = find_verb(w[0]);
  if (!v || (nested && !v->nestable)) return fmt::format("unknown verb '{}'", w[0]);
  const std::size_t args = w.size() - 1;
  if (v->arity_checked && (args < v->min_args || args > v->max_args)) return fmt::format("usage: {}", v->usage);
  return v->check ? v->check(*v, w) : "";
}

Result run_verb(ScriptState& s, const Words& w, const Line& line) { return find_verb(w[0])->run(s, w, line); }

std::string script_verbs_help() {
  std::string out = "Verbs (one statement per line; docs/memcgctl-script.md):\n";
  for (const Verb& v : script_verbs()) {
    // The alternatives of a usage go on lines of their own.
    std::string_view u = v.usage;
    std::size_t bar = u.find(" | ");
    out += fmt::format("  {:<42} {}\n", u.substr(0, bar), v.summary);
    while (bar != std::string_view::npos) {
      u.remove_prefix(bar + 3);
      bar = u.find(" | ");
      out += fmt::format("  {}\n", u.substr(0, bar));
    }
  }
  return out;
}

}  // namespace memcgctl
