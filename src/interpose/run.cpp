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
//   MEMCG_RUN_SHM=NAME              the process tree's shared counters
//                                   (shared_tree.hpp): --max/--high apply to
//                                   the tree, memcg-run writes the report
//
// In a process tree (MEMCG_RUN_SHM), the process's threads charge its own
// child group of /run, /run/<pid>-<comm> (per-thread groups go under it),
// whose counter also charges the process's slot of the shared segment
// (TreeUpstream). A forked child takes a slot and a group of its own before
// it returns from fork() (tree_child).
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "charge/current.hpp"
#include "core/access.hpp"
#include "core/runtime.hpp"
#include "interpose/anon_maps.hpp"
#include "interpose/shared_tree.hpp"
#include "interpose/state.hpp"
#include "memcg/serve.hpp"
#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "platform/library_thread.hpp"
#include "platform/fork.hpp"
#include "platform/meta_arena.hpp"
#include "platform/worker.hpp"
#include "slab/slab_internal.hpp"
#include "slab/cache_impl.hpp"
#include "slab/page_source.hpp"
#include "slab/slab_runtime.hpp"

namespace memcg::interpose {

std::atomic<int> g_state{kUninit};

namespace {

struct Config {
  bool per_thread = false;
  int report = 0;  // 0 none, 1 text, 2 json
  const char* output = nullptr;
  pid_t report_pid = 0;
};

// The tree's counter above /run's (installed on /run's PageCounter).
// `slot` changes only in a fork child, before it returns from fork();
// `detached` is set at exit, after the slot gave its charges back: later
// charges and uncharges (static destructors of other objects) stay local.
class TreeUpstream final : public detail::ChargeUpstream {
 public:
  tree::Segment* seg = nullptr;
  tree::Ref slot;
  std::atomic<bool> detached{false};

  bool try_charge(detail::PageCounter& level, std::uint64_t bytes) noexcept override {
    if (detached.load(std::memory_order_relaxed)) return true;
    std::uint64_t tree_usage = 0;
    // Refused: processes of the tree that died without exiting may still
    // hold charges memcg-run has not yet given back; give them back now.
    if (!tree::charge(seg, slot, bytes, false, &tree_usage) &&
        (tree::sweep(seg) == 0 || !tree::charge(seg, slot, bytes, false, &tree_usage)))
      return false;
    follow_high(level, tree_usage);
    return true;
  }
  void force_charge(detail::PageCounter& level, std::uint64_t bytes) noexcept override {
    if (detached.load(std::memory_order_relaxed)) return;
    std::uint64_t tree_usage = 0;
    tree::charge(seg, slot, bytes, true, &tree_usage);
    follow_high(level, tree_usage);
  }
  void uncharge(detail::PageCounter&, std::uint64_t bytes) noexcept override {
    if (!detached.load(std::memory_order_relaxed)) tree::uncharge(seg, slot, bytes);
  }
  std::uint64_t margin() const noexcept override {
    if (detached.load(std::memory_order_relaxed)) return tree::kUnlimited;
    const std::uint64_t u = __atomic_load_n(&seg->usage, __ATOMIC_RELAXED);
    const std::uint64_t m = __atomic_load_n(&seg->max, __ATOMIC_RELAXED);
    return u < m ? m - u : 0;
  }
  void on_event(int event) noexcept override {
    if (!detached.load(std::memory_order_relaxed)) tree::count_event(seg, slot, event);
  }

 private:
  // The tree's memory.high as this process's /run sees it: /run's usage
  // plus the tree's headroom at this charge (minus the tree's excess when
  // it is over), so /run is over high exactly when the tree is, and the
  // library's high reclaim and throttling act on the process's own share.
  void follow_high(detail::PageCounter& level, std::uint64_t tree_usage) noexcept {
    const std::uint64_t h = __atomic_load_n(&seg->high, __ATOMIC_RELAXED);
    if (h == tree::kUnlimited) return;
    const std::uint64_t u = level.usage();
    if (tree_usage <= h) {
      level.set_high(u + (h - tree_usage));
    } else {
      const std::uint64_t over = tree_usage - h;
      level.set_high(u > over ? u - over : 0);
    }
  }
};

struct Globals {
  Config cfg;
  TreeUpstream upstream;  // seg == nullptr: no process tree
  Group proc;             // the process's group under /run (process tree only)
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

// The group a thread's own group goes under (or that it charges): the
// process's group in a process tree, else /run. In a process tree it is
// also the group whose counter charges the shared tree (counted_group).
Group& base_group() { return g->proc ? g->proc : g->run; }
Group& counted_group() { return base_group(); }

// A child of `parent` named `base`, or `base-2`, `base-3`... if the name is
// taken (a reused tid or pid); an empty Group if none could be created.
Group create_unique(Group& parent, const std::string& base) {
  for (int i = 1; i < 1000; ++i) {
    std::error_code ec;
    Group c = parent.create(i == 1 ? base : base + "-" + std::to_string(i), ec);
    if (!ec) return c;
    if (ec != std::errc::file_exists) break;
  }
  return Group();
}

detail::GroupImpl* create_thread_group() {
  char comm[32] = {};
  pthread_getname_np(pthread_self(), comm, sizeof comm);
  const auto tid = static_cast<long>(::syscall(SYS_gettid));
  std::lock_guard<std::mutex> l(g->groups_mutex);
  Group c = create_unique(base_group(), "t" + std::to_string(tid) + "-" + sanitize(comm));
  if (!c) return detail::Access::impl(base_group());
  g->threads.push_back(c);
  return detail::Access::impl(c);  // g->threads keeps the reference
}

// The process's group in a process tree: /run/<pid>-<comm>.
Group create_process_group() {
  char comm[17] = {};
  prctl(PR_GET_NAME, comm, 0, 0, 0);
  return create_unique(g->run, std::to_string(static_cast<long>(::getpid())) + "-" + sanitize(comm));
}

// The calling thread's group: its own with --per-thread, else base_group().
detail::GroupImpl* thread_group() {
  if (g->cfg.per_thread) {
    try {
      return create_thread_group();
    } catch (...) {
    }
  }
  return detail::Access::impl(base_group());
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
// The library holds its own locks across fork() (platform/fork.hpp); the
// interposer adds two stages before them: the forking thread's allocations
// go to glibc while the handlers run (they may allocate, and the library's
// locks are being taken), and the per-thread group list is held (it is held
// while creating groups, so before the tree mutex).

void depth_up(void*) noexcept { tls_word += kDepthUnit; }
void depth_down(void*) noexcept { tls_word -= kDepthUnit; }
void groups_lock(void*) noexcept MEMCG_NO_TSA { g->groups_mutex.lock(); }
void groups_unlock(void*) noexcept MEMCG_NO_TSA { g->groups_mutex.unlock(); }
void maps_lock(void*) noexcept { anon::fork_prepare(); }
void maps_unlock(void*) noexcept { anon::fork_release(); }

// In a process tree, a forked child takes a slot of its own before fork()
// returns in it (it has charged nothing since: every handler runs
// internal). The parent's groups stay in the child's tree with the copy of
// the parent's heap, but leave the shared tree: their charges are the
// parent's, so the child's frees of inherited blocks uncharge only them.
// A new process group, counted in the child's slot, takes the forking
// thread. The copy is counted once, in the parent (as the kernel charges a
// copy-on-write page to the child only when the child writes it).
void tree_child(void*) noexcept {
  if (!g || !g->upstream.seg || !g->upstream.slot) return;
  Internal in;
  detail::Access::impl(counted_group())->counter.set_upstream(nullptr);
  g->upstream.slot = tree::attach(g->upstream.seg);
  Group p;
  try {
    std::lock_guard<std::mutex> l(g->groups_mutex);
    g->threads.clear();  // their threads are the parent's
    if (g->upstream.slot) p = create_process_group();
  } catch (...) {
  }
  if (p) {
    g->proc = p;
    detail::Access::impl(p)->counter.set_upstream(&g->upstream);
  } else if (g->upstream.slot) {  // no group to count it in: counted nowhere
    tree::finish(g->upstream.seg, g->upstream.slot, tree::kExited);
    g->upstream.slot = tree::Ref{};
  }
  if (!g->upstream.slot) g->upstream.detached.store(true, std::memory_order_relaxed);
  detail::tls_current_group = thread_group();
}

detail::fork::Participant g_fork_depth{detail::fork::kOrderInterposeDepth, depth_up, depth_down, depth_down};
detail::fork::Participant g_fork_groups{detail::fork::kOrderInterposeGroups, groups_lock, groups_unlock,
                                        groups_unlock};
// The mappings' mutex is a leaf, taken after the group list.
detail::fork::Participant g_fork_maps{detail::fork::kOrderInterposeGroups, maps_lock, maps_unlock, maps_unlock};
detail::fork::Participant g_fork_tree{detail::fork::kOrderInterposeTree, nullptr, nullptr, tree_child};

bool parse_limit(const char* name, std::uint64_t& out) {
  const char* v = ::getenv(name);
  if (!v || !*v) return false;
  return fs::parse_bytes(v, out);
}

// This object's first byte: its ELF header (provided by the linker).
extern "C" const ElfW(Ehdr) __ehdr_start;  // NOLINT(readability-identifier-naming)

// Splits this object's executable segment into mappings of
// kTextChunkPages pages, past the first 64 KiB. A read fault on a file
// page maps the cached pages around it too (the kernel's fault-around:
// the 64 KiB-aligned block that holds it, clipped to its mapping), so a
// small program that runs a few dozen of the preload's pages scattered
// over its text would hold most of the text resident. Clipped to small
// mappings, a fault maps its own chunk. The first 64 KiB (the load
// segment is 64 KiB-aligned) stays one mapping: the loader has faulted it
// in reading the ELF tables, and the startup code laid out right after
// them runs from it (startup_order.txt), this function included, so
// nothing here faults outside it before the split. Every other chunk is
// advised MADV_NOHUGEPAGE (text this small is never a huge page), which
// is what keeps the kernel from merging neighbours again; a kernel without
// transparent huge pages refuses it, and then every other chunk is
// advised MADV_RANDOM instead (no readahead when it is read from disk).
// Advice only: a kernel that refuses both changes nothing but the
// footprint (docs/memcg-run.md, "Footprint").
constexpr std::uintptr_t kTextChunkPages = 2;
constexpr std::uintptr_t kFaultAroundBytes = 64 * 1024;
void split_own_text() {
  const auto base = reinterpret_cast<std::uintptr_t>(&__ehdr_start);
  const auto* ph = reinterpret_cast<const ElfW(Phdr)*>(base + __ehdr_start.e_phoff);
  const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t chunk = kTextChunkPages * page;
  for (int i = 0; i < __ehdr_start.e_phnum; ++i) {
    if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X)) continue;
    const std::uintptr_t start = (base + ph[i].p_vaddr) & ~(page - 1);
    const std::uintptr_t end = (base + ph[i].p_vaddr + ph[i].p_memsz + page - 1) & ~(page - 1);
    int advice = MADV_NOHUGEPAGE;
    bool marked = true;
    for (std::uintptr_t a = (start + kFaultAroundBytes) & ~(kFaultAroundBytes - 1); a < end; a += chunk) {
      if (marked && ::madvise(reinterpret_cast<void*>(a), std::min(chunk, end - a), advice) != 0 &&
          advice == MADV_NOHUGEPAGE) {
        advice = MADV_RANDOM;
        ::madvise(reinterpret_cast<void*>(a), std::min(chunk, end - a), advice);
      }
      marked = !marked;
    }
  }
}

void global_init() {
  int expected = kUninit;
  if (!g_state.compare_exchange_strong(expected, kInitializing)) return;
  split_own_text();
  Internal in;
  find_loaded_unwinder();
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
  if (const char* name = ::getenv("MEMCG_RUN_SHM"); name && *name) {
    // A process tree: the tree's limits and report are memcg-run's. A
    // segment that is gone (memcg-run ended before this process started)
    // or full leaves the process unlimited and unreported.
    c.report = 0;
    if (tree::Segment* seg = tree::open(name)) {
      const tree::Ref r = tree::attach(seg);
      if (r) {
        g->upstream.seg = seg;
        g->upstream.slot = r;
        g->proc = create_process_group();
        detail::Access::impl(counted_group())->counter.set_upstream(&g->upstream);
      }
    }
  } else {
    std::uint64_t b;
    if (parse_limit("MEMCG_RUN_HIGH", b)) g->run.set_high(b, ec);
    if (parse_limit("MEMCG_RUN_MAX", b)) g->run.set_max(b, ec);
  }
  pthread_key_create(&g->exit_key, on_thread_exit);
  detail::fork::add(&g_fork_depth);
  detail::fork::add(&g_fork_groups);
  detail::fork::add(&g_fork_maps);
  detail::fork::add(&g_fork_tree);
  g_state.store(kReady, std::memory_order_release);
  // The control socket (memcg-run --socket): its thread is a library thread,
  // never accounted. The program's own children inherit the environment
  // and find the file taken by a live server (EADDRINUSE, silently): the
  // first process serves; an exec'd program takes a stale file over.
  if (const char* s = ::getenv("MEMCG_SOCKET"); s && *s) {
    std::error_code sec;
    serve(s, sec);
    if (sec && sec != std::errc::address_in_use)
      std::fprintf(stderr, "memcg-run: cannot serve the control socket %s: %s\n", s, sec.message().c_str());
  }
}

__attribute__((constructor(101))) void preload_init() { global_init(); }
// In a process tree, the process's heap ends with it: its slot gives the
// charges back (detached first, so that a charge racing with the exit
// cannot land on a finished slot; frees after this stay local).
void tree_exit() {
  if (!g || !g->upstream.seg || !g->upstream.slot) return;
  g->upstream.detached.store(true, std::memory_order_relaxed);
  tree::record_rss_peak(g->upstream.seg, g->upstream.slot, tree::self_rss_peak());
  tree::finish(g->upstream.seg, g->upstream.slot, tree::kExited);
}

__attribute__((destructor(101))) void preload_fini() {
  write_report();
  tree_exit();
}

}  // namespace

bool thread_setup() noexcept {
  if (g_state.load(std::memory_order_acquire) != kReady) return false;
  Internal in;
  if (detail::worker::on_worker_thread() || detail::on_library_thread()) {
    set_mode(kPassthrough);
    return false;
  }
  detail::tls_current_group = thread_group();
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
