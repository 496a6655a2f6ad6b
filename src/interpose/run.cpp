// The interposer's management side: process init (the /run group, limits),
// thread setup (current group, per-thread groups), fork handlers and the
// exit report. Everything here runs "internal": its own allocations go to
// glibc. Configuration (set by memcg-run, docs/memcg-run.md):
//
//   MEMCG_RUN_MAX, MEMCG_RUN_HIGH   limits of /run (memcg::fs::parse_bytes syntax)
//   MEMCG_RUN_PER_THREAD=1          one child group of /run per thread
//   MEMCG_RUN_REPORT=text|json      write the report at exit (absent: no report)
//   MEMCG_RUN_OUTPUT=FILE           the report's file (default: stderr)
//   MEMCG_RUN_PID=N                 only process N writes the report
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "charge/current.hpp"
#include "core/access.hpp"
#include "core/runtime.hpp"
#include "interpose/state.hpp"
#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "platform/meta_arena.hpp"
#include "platform/worker.hpp"
#include "slab/cache_impl.hpp"
#include "slab/page_source.hpp"
#include "slab/slab_runtime.hpp"

#if !defined(MEMCG_TSAN)
extern "C" {
void urcu_memb_call_rcu_before_fork(void);
void urcu_memb_call_rcu_after_fork_parent(void);
void urcu_memb_call_rcu_after_fork_child(void);
}
#endif

namespace memcg::detail {
// fork() hooks of the layers (defined next to the locks they take).
void stock_fork_lock() noexcept;
void stock_fork_unlock(bool child) noexcept;
void mags_fork_lock() noexcept;
void mags_fork_unlock(bool child) noexcept;
namespace page_source {
void fork_lock() noexcept;
void fork_unlock() noexcept;
}  // namespace page_source
namespace meta {
void fork_lock() noexcept;
void fork_unlock() noexcept;
}  // namespace meta
namespace worker {
void fork_lock() noexcept;
void fork_unlock(bool child) noexcept;
}  // namespace worker
}  // namespace memcg::detail

namespace memcg::interpose {

std::atomic<int> g_state{kUninit};

namespace {

struct Config {
  bool per_thread = false;
  int report = 0;  // 0 none, 1 text, 2 json
  const char* output = nullptr;
  pid_t report_pid = 0;
};

struct Globals {
  Config cfg;
  Group run;
  std::mutex groups_mutex;     // the per-thread groups (fork: held across it)
  std::vector<Group> threads;  // per-thread groups, creation order
  pthread_key_t exit_key;
};

Globals* g = nullptr;  // created at init, leaked
std::atomic<std::size_t (*)(void*)> g_glibc_usable{nullptr};
std::atomic<bool> g_reported{false};

void on_thread_exit(void*) {
  // Allocations of an exiting thread after this point go to glibc (its
  // stocks and magazines are being drained by the library's own keys).
  set_mode(kPassthrough);
}

std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    out.push_back(ok ? c : '_');
  }
  return out;
}

detail::GroupImpl* create_thread_group() {
  char comm[32] = {};
  pthread_getname_np(pthread_self(), comm, sizeof comm);
  const auto tid = static_cast<long>(::syscall(SYS_gettid));
  const std::string base = "t" + std::to_string(tid) + "-" + sanitize(comm);
  std::lock_guard<std::mutex> l(g->groups_mutex);
  for (int i = 1; i < 1000; ++i) {
    std::error_code ec;
    Group c = g->run.create(i == 1 ? base : base + "-" + std::to_string(i), ec);
    if (!ec) {
      g->threads.push_back(c);
      return detail::Access::impl(c);  // g->threads keeps the reference
    }
    if (ec != std::errc::file_exists) break;  // tid reused: try a suffix
  }
  return detail::Access::impl(g->run);
}

// ---- report ----

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    off += static_cast<std::size_t>(n);
  }
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

nlohmann::json key_values(const std::string& text) {
  nlohmann::json o = nlohmann::json::object();
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    const std::size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    const std::string v = line.substr(sp + 1);
    char* end = nullptr;
    const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
    if (end && *end == '\0' && !v.empty()) o[line.substr(0, sp)] = x; else o[line.substr(0, sp)] = v;
  }
  return o;
}

nlohmann::json lines(const std::string& text) {
  nlohmann::json a = nlohmann::json::array();
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) a.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return a;
}

nlohmann::json number_or_text(const std::string& s) {
  const std::string t = trim(s);
  char* end = nullptr;
  const unsigned long long x = std::strtoull(t.c_str(), &end, 10);
  if (!t.empty() && end && *end == '\0') return x;
  return t;
}

constexpr const char* kScalarFiles[] = {"memory.current", "memory.peak", "memory.max", "memory.high"};
constexpr const char* kTextFiles[] = {"memory.events", "memory.stat", "memory.kmem.slabinfo"};

void write_report() {
  if (!g || g->cfg.report == 0) return;
  if (g->cfg.report_pid != 0 && g->cfg.report_pid != ::getpid()) return;
  if (g_reported.exchange(true)) return;
  Internal in;
  std::vector<std::string> paths;
  {
    std::lock_guard<std::mutex> l(g->groups_mutex);
    paths.push_back(g->run.path());
    for (const Group& t : g->threads) paths.push_back(t.path());
  }
  std::string out;
  auto rd = [](const std::string& path, const char* file) {
    std::error_code ec;
    std::string v = fs::read(path + "/" + file, ec);
    return ec ? std::string() : v;
  };
  if (g->cfg.report == 2) {
    nlohmann::json doc;
    doc["pid"] = static_cast<long>(::getpid());
    nlohmann::json groups = nlohmann::json::array();
    for (const std::string& p : paths) {
      nlohmann::json o;
      o["path"] = p;
      for (const char* f : kScalarFiles) o[f] = number_or_text(rd(p, f));
      o["memory.events"] = key_values(rd(p, "memory.events"));
      o["memory.stat"] = key_values(rd(p, "memory.stat"));
      o["memory.kmem.slabinfo"] = lines(rd(p, "memory.kmem.slabinfo"));
      groups.push_back(std::move(o));
    }
    doc["groups"] = std::move(groups);
    out = doc.dump(2) + "\n";
  } else {
    out = "memcg-run report (pid " + std::to_string(::getpid()) + ")\n";
    for (const std::string& p : paths) {
      out += "\n[" + p + "]\n";
      for (const char* f : kScalarFiles) out += std::string(f) + ": " + trim(rd(p, f)) + "\n";
      for (const char* f : kTextFiles) {
        out += std::string(f) + ":\n";
        const std::string t = rd(p, f);
        std::size_t pos = 0;
        while (pos < t.size()) {
          std::size_t nl = t.find('\n', pos);
          if (nl == std::string::npos) nl = t.size();
          if (nl > pos) out += "  " + t.substr(pos, nl - pos) + "\n";
          pos = nl + 1;
        }
      }
    }
  }
  int fd = 2;
  if (g->cfg.output && *g->cfg.output) {
    fd = ::open(g->cfg.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fd = 2;
  }
  write_all(fd, out);
  if (fd != 2) ::close(fd);
}

// ---- fork ----
// Lock order (platform/lock_order.hpp): tree → slab → stock drain → stock
// registry → magazine registry → every child cache → page source → meta
// arena → worker queue. liburcu's call_rcu threads are paused first (they
// may take library locks in callbacks).
// Not analysed (MEMCG_NO_TSA): the locks are taken in the prepare handler and
// released in the parent and child handlers, a varying number of cache locks.

void lock_all_caches() MEMCG_NO_TSA {
  auto& rt = detail::slab_runtime();
  bool first = true;
  for (detail::ListNode* n = rt.roots.next; n != &rt.roots; n = n->next) {
    auto* r = static_cast<detail::RootCache*>(n->owner);
    for (detail::ListNode* m = r->all_children.next; m != &r->all_children; m = m->next) {
      auto* c = static_cast<detail::ChildCache*>(m->owner);
      if (first) c->lock.lock(); else c->lock.lock_nested();
      first = false;
    }
  }
}

void unlock_all_caches() MEMCG_NO_TSA {
  auto& rt = detail::slab_runtime();
  for (detail::ListNode* n = rt.roots.next; n != &rt.roots; n = n->next) {
    auto* r = static_cast<detail::RootCache*>(n->owner);
    for (detail::ListNode* m = r->all_children.next; m != &r->all_children; m = m->next)
      static_cast<detail::ChildCache*>(m->owner)->lock.unlock();
  }
}

void fork_prepare() MEMCG_NO_TSA {
  tls_word += kDepthUnit;
#if !defined(MEMCG_TSAN)
  urcu_memb_call_rcu_before_fork();
#endif
  g->groups_mutex.lock();
  detail::runtime().tree_mutex.lock();
  detail::slab_runtime().slab_mutex.lock();
  detail::stock_fork_lock();
  detail::mags_fork_lock();
  lock_all_caches();
  detail::page_source::fork_lock();
  detail::meta::fork_lock();
  detail::worker::fork_lock();
}

void fork_release(bool child) MEMCG_NO_TSA {
  detail::worker::fork_unlock(child);
  detail::meta::fork_unlock();
  detail::page_source::fork_unlock();
  unlock_all_caches();
  detail::mags_fork_unlock(child);
  detail::stock_fork_unlock(child);
  detail::slab_runtime().slab_mutex.unlock();
  detail::runtime().tree_mutex.unlock();
  g->groups_mutex.unlock();
#if !defined(MEMCG_TSAN)
  if (child) urcu_memb_call_rcu_after_fork_child(); else urcu_memb_call_rcu_after_fork_parent();
#endif
  tls_word -= kDepthUnit;
}

void fork_parent() { fork_release(false); }
void fork_child() { fork_release(true); }

bool parse_limit(const char* name, std::uint64_t& out) {
  const char* v = ::getenv(name);
  if (!v || !*v) return false;
  return fs::parse_bytes(v, out);
}

void global_init() {
  int expected = kUninit;
  if (!g_state.compare_exchange_strong(expected, kInitializing)) return;
  Internal in;
  g = new Globals;
  Config& c = g->cfg;
  if (const char* v = ::getenv("MEMCG_RUN_PER_THREAD")) c.per_thread = *v && strcmp(v, "0") != 0;
  if (const char* v = ::getenv("MEMCG_RUN_REPORT")) c.report = strcmp(v, "json") == 0 ? 2 : strcmp(v, "text") == 0 ? 1 : 0;
  c.output = ::getenv("MEMCG_RUN_OUTPUT");
  if (const char* v = ::getenv("MEMCG_RUN_PID")) c.report_pid = static_cast<pid_t>(std::atol(v));
  std::error_code ec;
  g->run = Group::root().create("run", ec);
  if (ec) {
    g_state.store(kDisabled);
    return;
  }
  std::uint64_t b;
  if (parse_limit("MEMCG_RUN_HIGH", b)) g->run.set_high(b, ec);
  if (parse_limit("MEMCG_RUN_MAX", b)) g->run.set_max(b, ec);
  // Create every kmalloc size class now: later, no thread takes the size
  // class init lock (which fork does not take).
  for (std::size_t s = 8; s <= kMaxSmallSize; s += 8) kfree(kmalloc(s, Group::root()));
  pthread_key_create(&g->exit_key, on_thread_exit);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  g_state.store(kReady, std::memory_order_release);
}

__attribute__((constructor(101))) void preload_init() { global_init(); }
__attribute__((destructor(101))) void preload_fini() { write_report(); }

}  // namespace

bool thread_setup() noexcept {
  if (g_state.load(std::memory_order_acquire) != kReady) return false;
  Internal in;
  if (detail::worker::on_worker_thread()) {
    set_mode(kPassthrough);
    return false;
  }
  detail::GroupImpl* grp = detail::Access::impl(g->run);
  if (g->cfg.per_thread) {
    try {
      grp = create_thread_group();
    } catch (...) {
    }
  }
  detail::tls_current_group = grp;
  pthread_setspecific(g->exit_key, reinterpret_cast<void*>(1));
  set_mode(kAccounted);
  return true;
}

std::size_t glibc_usable_size(void* p) noexcept {
  auto f = g_glibc_usable.load(std::memory_order_acquire);
  if (!f) {
    Internal in;
    f = reinterpret_cast<std::size_t (*)(void*)>(::dlsym(RTLD_NEXT, "malloc_usable_size"));
    if (!f) return 0;
    g_glibc_usable.store(f, std::memory_order_release);
  }
  return f(p);
}

}  // namespace memcg::interpose
