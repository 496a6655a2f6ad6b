#include "interpose/anon_maps.hpp"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <system_error>
#include <vector>

#include "charge/charge.hpp"
#include "charge/current.hpp"
#include "charge/pin.hpp"
#include "core/group_impl.hpp"
#include "interpose/state.hpp"
#include "platform/os_map.hpp"

namespace memcg::interpose::anon {

namespace {

using detail::GroupImpl;

// The system calls themselves: the wrappers below are the program's mmap.
void* sys_mmap(void* a, std::size_t len, int prot, int flags, int fd, off_t off) {
  const long r = ::syscall(SYS_mmap, a, len, prot, flags, fd, off);
  return r == -1 ? MAP_FAILED : reinterpret_cast<void*>(r);
}
int sys_munmap(void* a, std::size_t len) { return static_cast<int>(::syscall(SYS_munmap, a, len)); }
void* sys_mremap(void* a, std::size_t old_len, std::size_t new_len, int flags, void* new_addr) {
  const long r = ::syscall(SYS_mremap, a, old_len, new_len, flags, new_addr);
  return r == -1 ? MAP_FAILED : reinterpret_cast<void*>(r);
}

struct Piece {
  std::uintptr_t end;
  GroupImpl* group;
};

// Bytes to give back to a group once the mutex is released.
struct Release {
  GroupImpl* group;
  std::uint64_t bytes;
};

// The state, created on first use (inside the library: glibc's heap) and
// never freed. refs counts each group's pieces; a group with pieces holds
// one pin.
struct State {
  std::mutex mu;
  std::map<std::uintptr_t, Piece> pieces;
  std::map<GroupImpl*, std::size_t> refs;
};

State* state() {
  static State* s = [] {
    Internal in;
    return new State;
  }();
  return s;
}

std::atomic<std::size_t> g_pieces{0};  // pieces.size(), read without the mutex
std::atomic<std::uint64_t> g_charged{0};

std::uintptr_t page_up(std::uintptr_t x) {
  static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  return (x + page - 1) & ~(page - 1);
}

bool counted(int prot, int flags) {
  return (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && prot != PROT_NONE;
}

// A thread whose allocations are charged, outside the library.
bool accounted_thread() {
  if (detail::tls_os_map_depth != 0) return false;
  const unsigned w = tls_word;
  return w == kAccounted || (w == kFresh && thread_setup());
}

// The calling thread's group (or its nearest online ancestor), pinned.
GroupImpl* pin_current() {
  GroupImpl* x = detail::current_group_impl();
  std::error_code ec;
  for (;;) {
    while (!x->is_online()) x = x->parent;
    if (detail::pin_group(x, ec)) return x;
  }
}

bool charge(GroupImpl* g, std::uint64_t bytes) {
  if (bytes == 0) return true;
  if (!detail::try_charge_memcg(g, bytes)) return false;
  g_charged.fetch_add(bytes, std::memory_order_relaxed);
  return true;
}

// Under the mutex: the bytes of g's pieces inside [start, end).
std::uint64_t held_by(const State& s, GroupImpl* g, std::uintptr_t start, std::uintptr_t end) {
  std::uint64_t n = 0;
  auto it = s.pieces.upper_bound(start);
  if (it != s.pieces.begin() && std::prev(it)->second.end > start) --it;
  for (; it != s.pieces.end() && it->first < end; ++it) {
    if (it->second.group != g) continue;
    const std::uintptr_t lo = it->first > start ? it->first : start;
    const std::uintptr_t hi = it->second.end < end ? it->second.end : end;
    n += hi - lo;
  }
  return n;
}

// `moved` of g's released bytes stay charged (they move to a new piece).
void keep_moved(std::vector<Release>& rel, GroupImpl* g, std::uint64_t moved) {
  for (Release& r : rel) {
    if (r.group != g || moved == 0) continue;
    const std::uint64_t k = r.bytes < moved ? r.bytes : moved;
    r.bytes -= k;
    moved -= k;
  }
}

// Under the mutex: the pieces overlapping [start, end) lose that part,
// whose bytes are appended to `out` per piece.
void carve(State& s, std::uintptr_t start, std::uintptr_t end, std::vector<Release>& out) {
  auto it = s.pieces.upper_bound(start);
  if (it != s.pieces.begin() && std::prev(it)->second.end > start) --it;
  while (it != s.pieces.end() && it->first < end) {
    const std::uintptr_t ps = it->first, pe = it->second.end;
    GroupImpl* g = it->second.group;
    const std::uintptr_t lo = ps > start ? ps : start, hi = pe < end ? pe : end;
    out.push_back({g, hi - lo});
    it = s.pieces.erase(it);
    std::size_t& r = s.refs[g];
    --r;
    if (ps < start) {
      s.pieces.emplace(ps, Piece{start, g});
      ++r;
    }
    if (pe > end) {
      it = s.pieces.emplace(end, Piece{pe, g}).first;
      ++r;
      ++it;
    }
  }
  g_pieces.store(s.pieces.size(), std::memory_order_relaxed);
}

// Under the mutex: adds [start, end) for g, whose charge holds a fresh pin;
// true if g already had pieces (the fresh pin is then extra).
bool insert(State& s, std::uintptr_t start, std::uintptr_t end, GroupImpl* g) {
  s.pieces.emplace(start, Piece{end, g});
  g_pieces.store(s.pieces.size(), std::memory_order_relaxed);
  return s.refs[g]++ > 0;
}

// Under the mutex: the groups of `rel` left without pieces, forgotten here
// and returned so that their pins are dropped after the unlock.
std::vector<GroupImpl*> orphans(State& s, const std::vector<Release>& rel) {
  std::vector<GroupImpl*> out;
  for (const Release& r : rel) {
    auto it = s.refs.find(r.group);
    if (it != s.refs.end() && it->second == 0) {
      s.refs.erase(it);
      out.push_back(r.group);
    }
  }
  return out;
}

void give_back(const std::vector<Release>& rel, const std::vector<GroupImpl*>& unpin) {
  for (const Release& r : rel) {
    if (r.bytes == 0) continue;
    detail::uncharge_memcg(r.group, r.bytes);
    g_charged.fetch_sub(r.bytes, std::memory_order_relaxed);
  }
  for (GroupImpl* g : unpin) detail::unpin_group(g);  // after their uncharges: the groups live until here
}

}  // namespace

void* map(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) noexcept {
  const bool charged = counted(prot, flags) && len != 0 && accounted_thread();
  if (!charged && (!(flags & MAP_FIXED) || g_pieces.load(std::memory_order_relaxed) == 0))
    return sys_mmap(addr, len, prot, flags, fd, off);
  Internal in;
  const std::uintptr_t bytes = page_up(len);
  if (charged && bytes < len) {  // the length wraps when rounded up: the kernel refuses it too
    errno = ENOMEM;
    return MAP_FAILED;
  }
  GroupImpl* g = charged ? pin_current() : nullptr;
  State& s = *state();
  std::vector<Release> rel;
  std::vector<GroupImpl*> unpin;
  void* p = MAP_FAILED;
  int e = 0;
  {
    std::lock_guard<std::mutex> l(s.mu);
    // A fixed mapping over g's own charged range replaces it: only the
    // difference is charged, so a limit that held the old one holds the new.
    const auto fixed = reinterpret_cast<std::uintptr_t>(addr);
    const std::uint64_t have = g && (flags & MAP_FIXED) ? held_by(s, g, fixed, fixed + bytes) : 0;
    const std::uint64_t need = bytes - have;
    if (g && !charge(g, need)) {
      e = ENOMEM;
      unpin.push_back(g);
    } else {
      p = sys_mmap(addr, len, prot, flags, fd, off);
      e = errno;
      if (p == MAP_FAILED) {
        if (g) {
          rel.push_back({g, need});
          unpin.push_back(g);
        }
      } else {
        const auto start = reinterpret_cast<std::uintptr_t>(p);
        if (flags & MAP_FIXED) carve(s, start, start + page_up(len), rel);  // replaced what was there
        if (g) keep_moved(rel, g, have);
        unpin = orphans(s, rel);  // before the insert: g's fresh pin then stays if g had no piece left
        if (g && insert(s, start, start + bytes, g)) unpin.push_back(g);
      }
    }
  }
  give_back(rel, unpin);
  errno = e;
  return p;
}

int unmap(void* addr, std::size_t len) noexcept {
  if (detail::tls_os_map_depth != 0 || g_pieces.load(std::memory_order_relaxed) == 0) return sys_munmap(addr, len);
  Internal in;
  State& s = *state();
  std::vector<Release> rel;
  std::vector<GroupImpl*> unpin;
  int r;
  {
    std::lock_guard<std::mutex> l(s.mu);
    r = sys_munmap(addr, len);
    if (r == 0) {
      const auto start = reinterpret_cast<std::uintptr_t>(addr);
      carve(s, start, start + page_up(len), rel);
      unpin = orphans(s, rel);
    }
  }
  const int e = errno;
  give_back(rel, unpin);
  errno = e;
  return r;
}

void* remap(void* old_addr, std::size_t old_len, std::size_t new_len, int flags, void* new_addr) noexcept {
  if (detail::tls_os_map_depth != 0 || g_pieces.load(std::memory_order_relaxed) == 0)
    return sys_mremap(old_addr, old_len, new_len, flags, new_addr);
  Internal in;
  State& s = *state();
  const auto old_start = reinterpret_cast<std::uintptr_t>(old_addr);
  const std::uintptr_t old_end = old_start + page_up(old_len), new_bytes = page_up(new_len);
  std::vector<Release> rel;
  std::vector<GroupImpl*> unpin;
  void* p;
  {
    std::lock_guard<std::mutex> l(s.mu);
    // The group of the piece holding old_addr, and what it has charged in
    // the old range: that much moves to the new range with the pages.
    GroupImpl* g = nullptr;
    auto it = s.pieces.upper_bound(old_start);
    if (it != s.pieces.begin() && std::prev(it)->second.end > old_start) g = std::prev(it)->second.group;
    const std::uint64_t have = g && !(flags & MREMAP_DONTUNMAP) ? held_by(s, g, old_start, old_end) : 0;
    if (g && new_bytes > have && !charge(g, new_bytes - have)) {  // growth: refused at the limit
      errno = ENOMEM;
      return MAP_FAILED;
    }
    p = sys_mremap(old_addr, old_len, new_len, flags, new_addr);
    if (p == MAP_FAILED) {
      if (g && new_bytes > have) rel.push_back({g, new_bytes - have});
    } else {
      const auto start = reinterpret_cast<std::uintptr_t>(p);
      if (!(flags & MREMAP_DONTUNMAP)) carve(s, old_start, old_end, rel);
      if (flags & MREMAP_FIXED) carve(s, start, start + new_bytes, rel);  // replaced what was there
      if (g) {
        keep_moved(rel, g, have < new_bytes ? have : new_bytes);  // they move with the pages
        s.pieces.emplace(start, Piece{start + new_bytes, g});
        ++s.refs[g];
        g_pieces.store(s.pieces.size(), std::memory_order_relaxed);
      }
    }
    unpin = orphans(s, rel);
  }
  const int e = errno;
  give_back(rel, unpin);
  errno = e;
  return p;
}

std::uint64_t charged_bytes() noexcept { return g_charged.load(std::memory_order_relaxed); }

void fork_prepare() noexcept { state()->mu.lock(); }
void fork_release() noexcept { state()->mu.unlock(); }

}  // namespace memcg::interpose::anon
