// The C API (include/memcg/memcg.h) over the public C++ API.
//
// The top layer: it includes only the public headers (include/memcg/*.hpp),
// never src/, so it sees the library exactly as a C++ user does. Everything
// that knows both the C surface and the C++ one is in this file: when the C++
// API changes, this is the one place to adapt; the C surface (memcg.h) stays.
//
// Rules every function here follows:
// - No exception leaves: each entry point is noexcept, and the ones that call
//   throwing C++ code run it inside guard(), which turns std::bad_alloc into
//   -ENOMEM and a std::system_error into its negated errno.
// - A handle is a heap box around the C++ object (memcg::Group,
//   memcg::Reservation), allocated with nothrow new: the box's lifetime is
//   the handle's, the object's own rules (counted reference, pinned charge)
//   do the rest.
// - Validation that the C surface adds (NULL pointers, the limit selector,
//   reservation overflow) happens before any C++ call, so a failing call
//   changes nothing.
#include "memcg/memcg.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "memcg/reservation.hpp"
#include "memcg/types.hpp"

struct memcg_group {
  // Never null once the handle is handed out. mutable: a const handle in C
  // means the handle does not change, not the group (limits, remove).
  mutable memcg::Group g;
};

struct memcg_reservation {
  memcg::Reservation r;  // non-empty from create until destroy
};

namespace {

static_assert(MEMCG_UNLIMITED == memcg::unlimited, "memcg.h and types.hpp disagree on unlimited");

// 0 for no error, else the negated errno of `ec` (the library reports POSIX
// codes through the generic category); -EIO for a code of another category.
int neg_errno(const std::error_code& ec) noexcept {
  if (!ec) return 0;
  if (ec.category() == std::generic_category() || ec.category() == std::system_category())
    return ec.value() > 0 ? -ec.value() : -EIO;
  return -EIO;
}

template <class F>
int guard(F&& f) noexcept {
  try {
    return std::forward<F>(f)();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (const std::system_error& e) {
    const int r = neg_errno(e.code());
    return r != 0 ? r : -EIO;
  } catch (...) {
    return -EIO;
  }
}

// Makes a handle: allocates the box first (so -ENOMEM means nothing was
// done), then make(box.g) fills it or returns a negated errno.
template <class Make>
int make_group(memcg_group** out, Make&& make) noexcept {
  auto* h = new (std::nothrow) memcg_group{};
  if (!h) return -ENOMEM;
  const int r = guard([&] { return make(h->g); });
  if (r != 0) {
    delete h;
    return r;
  }
  *out = h;
  return 0;
}

// The text convention of memcg.h: copy text and NUL when they fit, else
// -ERANGE with buf untouched; *len gets the length either way.
int copy_text(std::string_view text, char* buf, std::size_t size, std::size_t* len) noexcept {
  if (!buf && size != 0) return -EINVAL;
  if (len) *len = text.size();
  if (text.size() >= size) return -ERANGE;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return 0;
}

// --- limits: the only code that names the C++ limit setters and getters ---

int set_limit(memcg::Group& g, int which, std::uint64_t bytes) noexcept {
  std::error_code ec;
  switch (which) {
    case MEMCG_LIMIT_MIN: g.set_min(bytes, ec); break;
    case MEMCG_LIMIT_LOW: g.set_low(bytes, ec); break;
    case MEMCG_LIMIT_HIGH: g.set_high(bytes, ec); break;
    case MEMCG_LIMIT_MAX: g.set_max(bytes, ec); break;
    default: return -EINVAL;
  }
  return neg_errno(ec);
}

int get_limit(const memcg::Group& g, int which, std::uint64_t& out) noexcept {
  switch (which) {
    case MEMCG_LIMIT_MIN: out = g.min(); return 0;
    case MEMCG_LIMIT_LOW: out = g.low(); return 0;
    case MEMCG_LIMIT_HIGH: out = g.high(); return 0;
    case MEMCG_LIMIT_MAX: out = g.max(); return 0;
    default: return -EINVAL;
  }
}

}  // namespace

extern "C" {

// ---- groups -----------------------------------------------------------------

int memcg_group_root(memcg_group** out) noexcept {
  if (!out) return -EINVAL;
  *out = nullptr;
  return make_group(out, [](memcg::Group& g) {
    g = memcg::Group::root();
    return 0;
  });
}

int memcg_group_open(const char* path, memcg_group** out) noexcept {
  if (!out) return -EINVAL;
  *out = nullptr;
  if (!path) return -EINVAL;
  return make_group(out, [&](memcg::Group& g) {
    std::error_code ec;
    g = memcg::Group::open(path, ec);
    return neg_errno(ec);
  });
}

int memcg_group_create(const memcg_group* parent, const char* name, memcg_group** out) noexcept {
  if (!out) return -EINVAL;
  *out = nullptr;
  if (!parent || !name) return -EINVAL;
  return make_group(out, [&](memcg::Group& g) {
    std::error_code ec;
    g = parent->g.create(name, ec);
    return neg_errno(ec);
  });
}

int memcg_group_dup(const memcg_group* g, memcg_group** out) noexcept {
  if (!out) return -EINVAL;
  *out = nullptr;
  if (!g) return -EINVAL;
  return make_group(out, [&](memcg::Group& copy) {
    copy = g->g;
    return 0;
  });
}

void memcg_group_release(memcg_group* g) noexcept { delete g; }

int memcg_group_remove(const memcg_group* g) noexcept {
  if (!g) return -EINVAL;
  std::error_code ec;
  g->g.remove(ec);  // the handle stays a reference to the now dying group
  return neg_errno(ec);
}

int memcg_group_is_online(const memcg_group* g) noexcept {
  if (!g) return -EINVAL;
  return g->g.online() ? 1 : 0;
}

int memcg_group_path(const memcg_group* g, char* buf, size_t size, size_t* len) noexcept {
  if (!g) return -EINVAL;
  return guard([&] { return copy_text(g->g.path(), buf, size, len); });
}

// ---- limits and counters ----------------------------------------------------

int memcg_group_set_limit(const memcg_group* g, int which, uint64_t bytes) noexcept {
  if (!g) return -EINVAL;
  return set_limit(g->g, which, bytes);
}

int memcg_group_get_limit(const memcg_group* g, int which, uint64_t* out) noexcept {
  if (!g || !out) return -EINVAL;
  std::uint64_t v = 0;
  const int r = get_limit(g->g, which, v);
  if (r == 0) *out = v;
  return r;
}

int memcg_group_current(const memcg_group* g, uint64_t* out) noexcept {
  if (!g || !out) return -EINVAL;
  *out = g->g.current();
  return 0;
}

int memcg_group_peak(const memcg_group* g, uint64_t* out) noexcept {
  if (!g || !out) return -EINVAL;
  *out = g->g.peak();
  return 0;
}

int memcg_group_reset_peak(const memcg_group* g) noexcept {
  if (!g) return -EINVAL;
  g->g.reset_peak();
  return 0;
}

int memcg_group_events(const memcg_group* g, int local, memcg_events* out) noexcept {
  if (!g || !out) return -EINVAL;
  const memcg::Events e = local ? g->g.events_local() : g->g.events();
  out->low = e.low;
  out->high = e.high;
  out->max = e.max;
  out->oom = e.oom;
  out->oom_kill = e.oom_kill;
  return 0;
}

// ---- kmalloc ------------------------------------------------------------------

void* memcg_kmalloc(size_t size, const memcg_group* g) noexcept {
  void* p = g ? memcg::kmalloc(size, g->g) : memcg::kmalloc(size);
  if (!p) errno = ENOMEM;
  return p;
}

void* memcg_kzalloc(size_t size, const memcg_group* g) noexcept {
  void* p = g ? memcg::kzalloc(size, g->g) : memcg::kzalloc(size);
  if (!p) errno = ENOMEM;
  return p;
}

void memcg_kfree(void* p) noexcept { memcg::kfree(p); }

size_t memcg_ksize(const void* p) noexcept { return memcg::ksize(p); }

size_t memcg_kmalloc_size_roundup(size_t size) noexcept { return memcg::kmalloc_size_roundup(size); }

// ---- reservations -------------------------------------------------------------

int memcg_reservation_create(const memcg_group* g, uint64_t bytes, memcg_reservation** out) noexcept {
  if (!out) return -EINVAL;
  *out = nullptr;
  if (!g) return -EINVAL;
  auto* h = new (std::nothrow) memcg_reservation{};  // before the charge: -ENOMEM charges nothing
  if (!h) return -ENOMEM;
  std::error_code ec;
  h->r = memcg::Reservation::make(g->g, bytes, ec);
  if (ec) {
    delete h;
    return neg_errno(ec);
  }
  *out = h;
  return 0;
}

int memcg_reservation_grow(memcg_reservation* r, uint64_t bytes) noexcept {
  if (!r) return -EINVAL;
  if (bytes > UINT64_MAX - r->r.size()) return -EOVERFLOW;
  if (r->r.grow(bytes)) return 0;
  // Reservation::grow says only "refused": a removed group refuses every
  // charge, an online one refused it at a limit. (A group removed between
  // the refusal and this test reads as removed, which it then is.)
  return guard([&] { return r->r.group().online() ? -ENOMEM : -ENOENT; });
}

int memcg_reservation_shrink(memcg_reservation* r, uint64_t bytes) noexcept {
  if (!r) return -EINVAL;
  r->r.shrink(bytes);
  return 0;
}

int memcg_reservation_size(const memcg_reservation* r, uint64_t* out) noexcept {
  if (!r || !out) return -EINVAL;
  *out = r->r.size();
  return 0;
}

int memcg_reservation_group(const memcg_reservation* r, memcg_group** out) noexcept {
  if (!out) return -EINVAL;
  *out = nullptr;
  if (!r) return -EINVAL;
  return make_group(out, [&](memcg::Group& g) {
    g = r->r.group();
    return 0;
  });
}

void memcg_reservation_destroy(memcg_reservation* r) noexcept { delete r; }

// ---- the text tree --------------------------------------------------------------

int memcg_fs_read(const char* path, char* buf, size_t size, size_t* len) noexcept {
  if (!path) return -EINVAL;
  if (!buf && size != 0) return -EINVAL;
  return guard([&] {
    std::error_code ec;
    const std::string text = memcg::fs::read(path, ec);
    if (ec) return neg_errno(ec);
    return copy_text(text, buf, size, len);
  });
}

int memcg_fs_write(const char* path, const char* value) noexcept {
  if (!path || !value) return -EINVAL;
  std::error_code ec;
  memcg::fs::write(path, value, ec);
  return neg_errno(ec);
}

// ---- shutdown ---------------------------------------------------------------------

// memcg::barrier reports no errors; were it to throw, noexcept ends the
// process here rather than letting an exception unwind into C frames.
void memcg_barrier(void) noexcept { memcg::barrier(); }

}  // extern "C"
