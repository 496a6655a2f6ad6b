#include "interpose/shared_tree.hpp"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <new>

namespace memcg::interpose::tree {

namespace {

// "/proc/<pid>/<leaf>" in `out`. Written by hand: the preload reads these
// files in every process, and libc's printf machinery would be a few dozen
// more resident pages of libc in a program that never prints.
template <std::size_t N>
void proc_path(char (&out)[N], pid_t pid, const char* leaf) {
  static_assert(N >= 32, "room for /proc/<pid>/ and a short leaf");
  char digits[12];
  int d = 0;
  for (auto v = static_cast<unsigned long>(pid); d == 0 || v; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
  std::size_t n = 0;
  for (const char* p = "/proc/"; *p;) out[n++] = *p++;
  while (d) out[n++] = digits[--d];
  out[n++] = '/';
  for (const char* p = leaf; *p && n + 1 < N;) out[n++] = *p++;
  out[n] = '\0';
}

// Fields 3 (state) and 22 (start time) of /proc/<pid>/stat; false if the
// file cannot be read. The command name (field 2) may hold spaces and
// parentheses: parse after its last ')'.
bool read_stat(pid_t pid, char* state, std::uint64_t* start) {
  char path[64];
  proc_path(path, pid, "stat");
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');
  if (!p || p[1] != ' ') return false;
  p += 2;
  *state = *p;
  // After the state, fields 4..21 then the start time.
  for (int field = 3; field < 22; ++field) {
    p = strchr(p, ' ');
    if (!p) return false;
    ++p;
  }
  *start = strtoull(p, nullptr, 10);
  return true;
}

// The tree's usage is read outside the lock (margins, reports): written
// whole.
void set_usage(Segment* s, std::uint64_t v) { __atomic_store_n(&s->usage, v, __ATOMIC_RELAXED); }

std::uint64_t add_usage(Segment* s, std::uint64_t bytes) {
  set_usage(s, s->usage + bytes);
  if (s->usage > s->peak) s->peak = s->usage;
  return s->usage;
}

void sub_usage(Segment* s, std::uint64_t bytes) { set_usage(s, s->usage - (bytes < s->usage ? bytes : s->usage)); }

void finish_locked(Segment* s, Slot& sl, SlotState how) {
  sub_usage(s, sl.usage);
  sl.usage = 0;
  sl.state = how;
}

}  // namespace

Locked::Locked(Segment* s) : s_(s) {
  if (pthread_mutex_lock(&s->lock) == EOWNERDEAD) {
    // The holder died mid-update: slots are written before the tree, so
    // the tree's usage is the sum of the live slots'.
    std::uint64_t sum = 0;
    for (std::uint32_t i = 0; i < s->slots_used; ++i)
      if (s->slots[i].state == kLive) sum += s->slots[i].usage;
    __atomic_store_n(&s->usage, sum, __ATOMIC_RELAXED);
    pthread_mutex_consistent(&s->lock);
  }
}

Locked::~Locked() { pthread_mutex_unlock(&s_->lock); }

Segment* create(const std::string& name, std::uint64_t max, std::uint64_t high) {
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return nullptr;
  if (::ftruncate(fd, sizeof(Segment)) != 0) {
    const int e = errno;
    ::close(fd);
    ::shm_unlink(name.c_str());
    errno = e;
    return nullptr;
  }
  void* m = ::mmap(nullptr, sizeof(Segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (m == MAP_FAILED) {
    ::shm_unlink(name.c_str());
    errno = e;
    return nullptr;
  }
  auto* s = static_cast<Segment*>(m);  // zero-filled by ftruncate
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&s->lock, &a);
  pthread_mutexattr_destroy(&a);
  s->max = max;
  s->high = high;
  s->version = kVersion;
  __atomic_store_n(&s->magic, kMagic, __ATOMIC_RELEASE);
  return s;
}

Segment* open(const char* name) {
  const int fd = ::shm_open(name, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  void* m = ::mmap(nullptr, sizeof(Segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return nullptr;
  auto* s = static_cast<Segment*>(m);
  if (__atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) != kMagic || s->version != kVersion) {
    ::munmap(m, sizeof(Segment));
    return nullptr;
  }
  return s;
}

std::uint64_t self_start_time() {
  char st;
  std::uint64_t t = 0;
  return read_stat(::getpid(), &st, &t) ? t : 0;
}

// The numbers after `keys` (e.g. "\nThreads:") in /proc/<pid>/status, or
// -1 where absent; false if the file cannot be read.
template <int N>
bool read_status(pid_t pid, const char* const (&keys)[N], long long (&out)[N]) {
  char path[64];
  proc_path(path, pid, "status");
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[8192];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  for (int i = 0; i < N; ++i) {
    const char* t = strstr(buf, keys[i]);
    out[i] = t ? strtoll(t + strlen(keys[i]), nullptr, 10) : -1;
  }
  return true;
}

// A zombie thread-group leader whose other threads still run (the main
// thread called pthread_exit) is a live process.
bool other_threads_run(pid_t pid) {
  static const char* const keys[] = {"\nThreads:"};
  long long v[1];
  return read_status(pid, keys, v) && v[0] > 1;
}

bool alive(pid_t pid, std::uint64_t start_time) {
  // A slot without a start time (no /proc where it attached) is never
  // taken for dead: its charges stay until it finishes itself.
  if (start_time == 0) return true;
  char st = 0;
  std::uint64_t t = 0;
  if (!read_stat(pid, &st, &t)) return false;
  if (t != start_time || st == 'X' || st == 'x') return false;
  return st != 'Z' || other_threads_run(pid);
}

Ref attach(Segment* s) {
  const pid_t pid = ::getpid();
  const std::uint64_t start = self_start_time();
  char comm[16] = {};
  prctl(PR_GET_NAME, comm, 0, 0, 0);
  Locked l(s);
  // A never-used slot is preferred (finished ones stay in the report);
  // a finished one is reused when all are taken.
  const std::uint32_t used = s->slots_used;
  int done_slot = -1;
  for (std::uint32_t i = 0; i < used; ++i) {
    Slot& sl = s->slots[i];
    if (sl.state == kLive && sl.pid == pid && sl.start_time == start) {
      finish_locked(s, sl, kExeced);  // this process's image before exec
    }
    if (sl.state != kLive && done_slot < 0) done_slot = static_cast<int>(i);
  }
  const int i = used < kSlots ? static_cast<int>(used) : done_slot;
  if (i < 0) {
    ++s->unattached;
    return Ref{};
  }
  Slot& sl = s->slots[i];
  if (sl.state != kFree) {
    ++s->folded_count;
    if (sl.peak > s->folded_peak) s->folded_peak = sl.peak;
    for (int e = 0; e < 5; ++e) s->folded_events[e] += sl.events[e];
  }
  sl = Slot{};
  sl.pid = pid;
  sl.ppid = ::getppid();
  sl.seq = ++s->next_seq;
  sl.start_time = start;
  memcpy(sl.comm, comm, sizeof sl.comm);
  sl.comm[sizeof sl.comm - 1] = '\0';
  sl.state = kLive;
  if (static_cast<std::uint32_t>(i) == used) __atomic_store_n(&s->slots_used, used + 1, __ATOMIC_RELEASE);
  return Ref{i, sl.seq};
}

namespace {
// r's slot if it is still r's and live (under the lock).
Slot* live_slot(Segment* s, Ref r) {
  Slot& sl = s->slots[r.slot];
  return sl.state == kLive && sl.seq == r.seq ? &sl : nullptr;
}
}  // namespace

void finish(Segment* s, Ref r, SlotState how) {
  Locked l(s);
  if (Slot* sl = live_slot(s, r)) finish_locked(s, *sl, how);
}

int sweep(Segment* s) {
  // Liveness is read outside the lock (it reads /proc); a slot is finished
  // only if it still names the same process under the lock.
  int n = 0;
  const std::uint32_t used = slots_used(s);
  for (std::uint32_t i = 0; i < used; ++i) {
    Slot& sl = s->slots[i];
    const std::uint32_t state = __atomic_load_n(&sl.state, __ATOMIC_RELAXED);
    if (state != kLive) continue;
    const pid_t pid = __atomic_load_n(&sl.pid, __ATOMIC_RELAXED);
    const std::uint64_t start = __atomic_load_n(&sl.start_time, __ATOMIC_RELAXED);
    if (alive(pid, start)) continue;
    Locked l(s);
    if (sl.state == kLive && sl.pid == pid && sl.start_time == start) {
      finish_locked(s, sl, kGone);
      ++n;
    }
  }
  return n;
}

void sample_resident(Segment* s) {
  static const char* const keys[] = {"\nVmHWM:", "\nVmRSS:"};
  std::uint64_t sum = 0;
  const std::uint32_t used = slots_used(s);
  for (std::uint32_t i = 0; i < used; ++i) {
    Slot& sl = s->slots[i];
    if (__atomic_load_n(&sl.state, __ATOMIC_RELAXED) != kLive) continue;
    const pid_t pid = __atomic_load_n(&sl.pid, __ATOMIC_RELAXED);
    long long v[2];
    if (!read_status(pid, keys, v) || v[0] < 0) continue;
    if (v[1] > 0) sum += static_cast<std::uint64_t>(v[1]) << 10;
    Locked l(s);
    if (sl.state == kLive && sl.pid == pid && (static_cast<std::uint64_t>(v[0]) << 10) > sl.rss_peak)
      sl.rss_peak = static_cast<std::uint64_t>(v[0]) << 10;
  }
  Locked l(s);
  if (sum > s->rss_peak) s->rss_peak = sum;
}

std::uint64_t self_rss_peak() {
  static const char* const keys[] = {"\nVmHWM:"};
  long long v[1];
  return read_status(::getpid(), keys, v) && v[0] > 0 ? static_cast<std::uint64_t>(v[0]) << 10 : 0;
}

void record_rss_peak(Segment* s, Ref r, std::uint64_t bytes) {
  Locked l(s);
  if (Slot* sl = live_slot(s, r); sl && bytes > sl->rss_peak) sl->rss_peak = bytes;
}

bool charge(Segment* s, Ref r, std::uint64_t bytes, bool force, std::uint64_t* tree_usage) {
  Locked l(s);
  Slot* slp = live_slot(s, r);
  *tree_usage = s->usage;
  if (!slp) return true;
  Slot& sl = *slp;
  if (!force && (s->usage > s->max || bytes > s->max - s->usage)) {
    ++s->failcnt;
    return false;
  }
  sl.usage += bytes;
  if (sl.usage > sl.peak) sl.peak = sl.usage;
  *tree_usage = add_usage(s, bytes);
  return true;
}

void uncharge(Segment* s, Ref r, std::uint64_t bytes) {
  Locked l(s);
  Slot* slp = live_slot(s, r);
  if (!slp) return;
  Slot& sl = *slp;
  if (bytes > sl.usage) bytes = sl.usage;  // never below zero
  sl.usage -= bytes;
  sub_usage(s, bytes);
}

void count_event(Segment* s, Ref r, int event) {
  if (event < 0 || event >= 5) return;
  Locked l(s);
  if (Slot* sl = live_slot(s, r)) ++sl->events[event];
}

}  // namespace memcg::interpose::tree
