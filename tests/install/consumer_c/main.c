/* A C11 program using memcg through memcg/memcg.h only: groups, limits,
 * counters, kmalloc, reservations, the text tree. Built in-tree by
 * tests/capi (ctest capi.c11_consumer) and against the installed package by
 * tests/install/check_install.sh (CMake and pkg-config), always with
 * -std=c11 -Wall -Wextra -Werror -pedantic. Exit 0 when every check passes. */
#include <memcg/memcg.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "c consumer: FAILED at line %d: %s\n", __LINE__, #cond); \
      ++failures;                                                       \
    }                                                                   \
  } while (0)

/* memcg_fs_read into a fixed buffer; "" on error. */
static const char* read_file(const char* path, char* buf, size_t size) {
  size_t len = 0;
  int r = memcg_fs_read(path, buf, size, &len);
  if (r != 0) {
    fprintf(stderr, "c consumer: memcg_fs_read(%s) = %d\n", path, r);
    ++failures;
    buf[0] = '\0';
  }
  return buf;
}

int main(void) {
  enum { kMiB = 1 << 20 };
  memcg_group* root = NULL;
  memcg_group* tenants = NULL;
  memcg_group* a = NULL;
  memcg_group* dup = NULL;
  memcg_reservation* r = NULL;
  uint64_t v = 0;
  char buf[128];
  size_t len = 0;
  void* p = NULL;
  memcg_events ev;

  CHECK(memcg_group_root(&root) == 0);
  CHECK(memcg_group_create(root, "c_tenants", &tenants) == 0);
  CHECK(memcg_group_create(tenants, "a", &a) == 0);
  if (!root || !tenants || !a) return 1;
  CHECK(memcg_group_create(tenants, "a", &dup) == -EEXIST && dup == NULL);
  CHECK(memcg_group_create(tenants, "bad/name", &dup) == -EINVAL);

  CHECK(memcg_group_path(a, buf, sizeof buf, &len) == 0);
  CHECK(strcmp(buf, "/c_tenants/a") == 0 && len == strlen("/c_tenants/a"));
  CHECK(memcg_group_path(a, buf, 4, &len) == -ERANGE && len == strlen("/c_tenants/a"));

  /* Limits, through the API and the text tree. */
  CHECK(memcg_group_set_limit(a, MEMCG_LIMIT_MAX, 8u * kMiB) == 0);
  CHECK(memcg_group_get_limit(a, MEMCG_LIMIT_MAX, &v) == 0 && v == 8u * kMiB);
  CHECK(strcmp(read_file("/c_tenants/a/memory.max", buf, sizeof buf), "8388608\n") == 0);
  CHECK(memcg_fs_write("/c_tenants/a/memory.high", "4M") == 0);
  CHECK(memcg_group_get_limit(a, MEMCG_LIMIT_HIGH, &v) == 0 && v == 4u * kMiB);
  CHECK(memcg_fs_write("/c_tenants/a/memory.high", "max") == 0);
  CHECK(memcg_group_get_limit(a, MEMCG_LIMIT_HIGH, &v) == 0 && v == MEMCG_UNLIMITED);
  CHECK(memcg_fs_write("/c_tenants/a/memory.max", "lots") == -EINVAL);
  CHECK(memcg_group_set_limit(a, 42, 1) == -EINVAL);

  /* A reservation is charged to a and its ancestors, exactly. */
  CHECK(memcg_reservation_create(a, 1u * kMiB, &r) == 0);
  CHECK(memcg_group_current(a, &v) == 0 && v == 1u * kMiB);
  CHECK(memcg_group_current(tenants, &v) == 0 && v == 1u * kMiB);
  CHECK(strcmp(read_file("/c_tenants/a/memory.current", buf, sizeof buf), "1048576\n") == 0);
  CHECK(memcg_reservation_grow(r, 16u * kMiB) == -ENOMEM);
  CHECK(memcg_reservation_size(r, &v) == 0 && v == 1u * kMiB);
  CHECK(memcg_group_events(a, 1, &ev) == 0 && ev.max >= 1);

  /* kmalloc charged to a. */
  p = memcg_kmalloc(1000, a);
  CHECK(p != NULL);
  if (p) {
    memset(p, 1, 1000);
    CHECK(memcg_ksize(p) == memcg_kmalloc_size_roundup(1000));
    memcg_kfree(p);
  }
  errno = 0;
  CHECK(memcg_kmalloc(32u * kMiB, a) == NULL && errno == ENOMEM);

  /* rmdir while children live: EBUSY; the reservation survives removal. */
  CHECK(memcg_group_remove(tenants) == -EBUSY);
  CHECK(memcg_group_remove(a) == 0);
  CHECK(memcg_group_is_online(a) == 0);
  CHECK(memcg_group_open("/c_tenants/a", &dup) == -ENOENT && dup == NULL);
  CHECK(memcg_reservation_grow(r, 1) == -ENOENT);
  memcg_reservation_destroy(r);
  CHECK(memcg_group_current(tenants, &v) == 0 && v == 0);
  CHECK(memcg_group_peak(tenants, &v) == 0 && v >= 1u * kMiB);
  CHECK(memcg_group_remove(tenants) == 0);

  memcg_group_release(a);
  memcg_group_release(tenants);
  memcg_group_release(root);
  memcg_barrier();

  if (failures != 0) {
    fprintf(stderr, "c consumer: %d check(s) failed\n", failures);
    return 1;
  }
  printf("c consumer ok (C API %d.%d)\n", MEMCG_C_API_VERSION_MAJOR, MEMCG_C_API_VERSION_MINOR);
  return 0;
}
