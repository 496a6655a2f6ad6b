// The general-purpose allocators slab_bench compares against, loaded with
// dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND) and called through their
// non-overriding entry points (dlsym): the process malloc stays glibc's.
// jemalloc may need a re-execution with a larger static TLS surplus (see
// slab_bench.cpp).
#pragma once

#include <cstddef>
#include <string>

namespace slab_bench {

using MallocFn = void* (*)(std::size_t);
using FreeFn = void (*)(void*);
using MallocxFn = void* (*)(std::size_t, int);
using DallocxFn = void (*)(void*, int);

struct Peers {
  MallocFn mi_malloc = nullptr;
  FreeFn mi_free = nullptr;
  MallocFn tc_malloc = nullptr;
  FreeFn tc_free = nullptr;
  MallocxFn je_mallocx = nullptr;
  DallocxFn je_dallocx = nullptr;
  std::string mi_status = "not loaded", tc_status = "not loaded", je_status = "not loaded";
};
extern Peers g_peers;

/// Loads the peers into g_peers (a status line each). May re-execute the
/// program (jemalloc's static TLS) unless allow_reexec is false; returns
/// only otherwise.
void load_peers(char** argv, bool allow_reexec);

}  // namespace slab_bench
