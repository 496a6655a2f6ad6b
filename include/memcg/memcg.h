/* memcg/memcg.h - the C API of memcg (C11 or later, and C++).
 *
 * The same library as the C++ API (link -lmemcg, or pkg-config memcg), with
 * the same semantics; docs/c-api.md maps each function to its C++ form.
 *
 * Conventions
 * - Every function that can fail returns an int: 0 on success, or a negative
 *   errno value (-EINVAL, -ENOENT, -EBUSY, -EEXIST, -ENOMEM, -ENOSPC, -ERANGE,
 *   -EACCES, -EISDIR, -ENOTDIR, -EOVERFLOW). Nothing else reports errors: no
 *   errno, no exception crosses this interface, nothing prints. The exceptions
 *   are memcg_kmalloc, which returns NULL and sets errno as malloc does, and
 *   the functions returning void, which cannot fail.
 * - A NULL handle or NULL output pointer is -EINVAL. Output pointers are
 *   written only on success, except that *out handles are set to NULL on
 *   failure, and size reports (*len) are written on success and on -ERANGE.
 * - Handles are opaque. A memcg_group is one counted reference to a group
 *   (like a memcg::Group): it keeps the group's memory valid, not the group
 *   online; memcg_group_release drops it. A memcg_reservation owns a charge
 *   (memcg::Reservation); memcg_reservation_destroy uncharges it.
 * - Text (names, paths, file contents) is NUL-terminated. A function that
 *   returns text writes it into a caller buffer `buf` of `size` bytes: when
 *   the text and its NUL fit, it copies them and returns 0; otherwise it
 *   returns -ERANGE and leaves buf untouched. Either way *len (if len is not
 *   NULL) receives the text's length without the NUL, so a caller can retry
 *   with len + 1 bytes. buf may be NULL when size is 0 (a length query).
 *
 * Concurrency: every function may be called from any thread. A group handle
 * may be used by several threads at once; a reservation by one thread at a
 * time (hand it over with the usual synchronisation), as memcg::Reservation.
 * Releasing or destroying a handle must be its last use. Code running inside a shrinker or an OOM handler (C++ callbacks)
 * must not call memcg_barrier or remove groups.
 *
 * Lifecycle: online -> (remove) -> dying -> (last reference) -> freed after
 * an RCU grace period, on the library's worker thread. A removed group's
 * handles and reservations stay valid; new charges to it fail with -ENOENT.
 */
#ifndef MEMCG_MEMCG_H
#define MEMCG_MEMCG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions noexcept for C++ callers (they never throw). */
#if defined(__cplusplus)
#define MEMCG_C_NOEXCEPT noexcept
#else
#define MEMCG_C_NOEXCEPT
#endif

/* The C API's version: bumped when a function is added (MINOR) or changed
 * incompatibly (MAJOR). The library's own version is in CHANGELOG.md. */
#define MEMCG_C_API_VERSION_MAJOR 0
#define MEMCG_C_API_VERSION_MINOR 1

/* The limit value "max": no limit. What memcg_group_get_limit reports for a
 * limit never set (max and high), and what memory.max reads as "max". */
#define MEMCG_UNLIMITED UINT64_MAX

/* Upper bound of a group name in bytes (without the NUL), as in cgroupfs. */
#define MEMCG_NAME_MAX 255

typedef struct memcg_group memcg_group;
typedef struct memcg_reservation memcg_reservation;

/* The four limits (memory.min, memory.low, memory.high, memory.max): the
 * `which` argument of memcg_group_set_limit/get_limit. It is an int, not the
 * enum type, so that any value a C caller passes is defined in C++ too (an
 * enum without a fixed underlying type cannot hold every int there); values
 * other than these are -EINVAL. */
enum memcg_limit {
  MEMCG_LIMIT_MIN = 0,
  MEMCG_LIMIT_LOW = 1,
  MEMCG_LIMIT_HIGH = 2,
  MEMCG_LIMIT_MAX = 3
};

/* memory.events (hierarchical) or memory.events.local (the group's own). */
typedef struct memcg_events {
  uint64_t low;      /* reclaimed while within its effective low */
  uint64_t high;     /* a charge left the group over memory.high */
  uint64_t max;      /* a charge hit memory.max (before reclaim/OOM) */
  uint64_t oom;      /* a charge failed at max after every retry */
  uint64_t oom_kill; /* an OOM handler freed memory for the group */
} memcg_events;

/* ---- groups ------------------------------------------------------------ */

/* A handle to the root ("/"), which is never removed. -ENOMEM only. */
int memcg_group_root(memcg_group** out) MEMCG_C_NOEXCEPT;

/* A handle to the online group at an absolute path ("/", "/a/b").
 * -ENOENT: no such online group; -EINVAL: malformed path. */
int memcg_group_open(const char* path, memcg_group** out) MEMCG_C_NOEXCEPT;

/* mkdir: creates the online child `name` of `parent`.
 * -EEXIST: a live child has that name; -EINVAL: empty, ".", "..", containing
 * '/' or control characters, longer than MEMCG_NAME_MAX, or starting with
 * "memory." or "cgroup."; -ENOENT: parent removed; -ENOSPC: too many groups. */
int memcg_group_create(const memcg_group* parent, const char* name, memcg_group** out) MEMCG_C_NOEXCEPT;

/* A second handle to the same group (a new reference). */
int memcg_group_dup(const memcg_group* g, memcg_group** out) MEMCG_C_NOEXCEPT;

/* Drops the handle's reference and frees the handle. NULL is a no-op. */
void memcg_group_release(memcg_group* g) MEMCG_C_NOEXCEPT;

/* rmdir: -EBUSY while it has children that are not removed; -EINVAL on the
 * root; -ENOENT if already removed. Charges stay until uncharged. */
int memcg_group_remove(const memcg_group* g) MEMCG_C_NOEXCEPT;

/* 1 if online, 0 if removed, -EINVAL for NULL. */
int memcg_group_is_online(const memcg_group* g) MEMCG_C_NOEXCEPT;

/* The group's absolute path ("/a/b"; "/" for the root), text convention. */
int memcg_group_path(const memcg_group* g, char* buf, size_t size, size_t* len) MEMCG_C_NOEXCEPT;

/* ---- limits and counters ----------------------------------------------- */

/* Sets a limit in bytes (MEMCG_UNLIMITED: no limit). -EINVAL: bad `which`;
 * -ENOENT: the group is removed. Lowering max or high below the usage
 * reclaims towards it (and may run OOM handlers) before returning. */
int memcg_group_set_limit(const memcg_group* g, int which, uint64_t bytes) MEMCG_C_NOEXCEPT;
int memcg_group_get_limit(const memcg_group* g, int which, uint64_t* out) MEMCG_C_NOEXCEPT;

/* memory.current (bytes charged to the group and its descendants, thread
 * stocks included) and memory.peak; both readable after removal. */
int memcg_group_current(const memcg_group* g, uint64_t* out) MEMCG_C_NOEXCEPT;
int memcg_group_peak(const memcg_group* g, uint64_t* out) MEMCG_C_NOEXCEPT;
/* peak := current. */
int memcg_group_reset_peak(const memcg_group* g) MEMCG_C_NOEXCEPT;

/* memory.events (local == 0) or memory.events.local (local != 0). */
int memcg_group_events(const memcg_group* g, int local, memcg_events* out) MEMCG_C_NOEXCEPT;

/* ---- kmalloc ------------------------------------------------------------ */

/* Accounted allocation, aligned to 16 bytes (8 for size <= 8), charged to g,
 * or to the calling thread's current group when g is NULL (the root unless
 * C++ code set a memcg::ScopedGroup). Returns NULL with errno = ENOMEM when a
 * limit refuses it or memory is exhausted. */
void* memcg_kmalloc(size_t size, const memcg_group* g) MEMCG_C_NOEXCEPT;
/* memcg_kmalloc, zeroed. */
void* memcg_kzalloc(size_t size, const memcg_group* g) MEMCG_C_NOEXCEPT;
/* Frees what memcg_kmalloc returned, from any thread; NULL is a no-op. */
void memcg_kfree(void* p) MEMCG_C_NOEXCEPT;
/* Usable bytes at p (0 for NULL). */
size_t memcg_ksize(const void* p) MEMCG_C_NOEXCEPT;
/* The usable size memcg_kmalloc(size) gives; 0 if no allocation of that size
 * is possible. */
size_t memcg_kmalloc_size_roundup(size_t size) MEMCG_C_NOEXCEPT;

/* ---- reservations ------------------------------------------------------- */

/* Charges `bytes` to g and its ancestors. -ENOMEM: a limit refused it;
 * -ENOENT: the group is removed. The reservation stays valid after the group
 * is removed; it pins the group until it is destroyed. */
int memcg_reservation_create(const memcg_group* g, uint64_t bytes, memcg_reservation** out) MEMCG_C_NOEXCEPT;
/* Charges `bytes` more; on failure nothing changes. -ENOMEM: a limit refused
 * it; -ENOENT: the group is removed; -EOVERFLOW: the size would pass 2^64-1. */
int memcg_reservation_grow(memcg_reservation* r, uint64_t bytes) MEMCG_C_NOEXCEPT;
/* Uncharges min(bytes, size). */
int memcg_reservation_shrink(memcg_reservation* r, uint64_t bytes) MEMCG_C_NOEXCEPT;
/* Bytes currently charged by the reservation. */
int memcg_reservation_size(const memcg_reservation* r, uint64_t* out) MEMCG_C_NOEXCEPT;
/* A handle to the reservation's group (which may have been removed). */
int memcg_reservation_group(const memcg_reservation* r, memcg_group** out) MEMCG_C_NOEXCEPT;
/* Uncharges everything and frees the reservation. NULL is a no-op. */
void memcg_reservation_destroy(memcg_reservation* r) MEMCG_C_NOEXCEPT;

/* ---- the text tree ------------------------------------------------------ */

/* Reads a control file ("/a/memory.current"), text convention (the text ends
 * in '\n' as cgroupfs files do). -ENOENT: no such group or file; -EISDIR: a
 * group; -EACCES: a write-only file; -EINVAL: malformed path. */
int memcg_fs_read(const char* path, char* buf, size_t size, size_t* len) MEMCG_C_NOEXCEPT;

/* Writes a control file ("/a/memory.max", "64M" or "max"); errors as
 * memcg::fs::write: -EINVAL for a malformed value (nothing changes),
 * -EACCES for a read-only file, -ENOENT, -EISDIR. */
int memcg_fs_write(const char* path, const char* value) MEMCG_C_NOEXCEPT;

/* ---- shutdown ------------------------------------------------------------ */

/* Waits until every group released before the call has been freed. Call it
 * before exit under LeakSanitizer; not from a shrinker or an OOM handler. */
void memcg_barrier(void) MEMCG_C_NOEXCEPT;

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* MEMCG_MEMCG_H */
