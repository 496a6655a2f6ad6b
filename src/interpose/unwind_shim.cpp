// The unwinder, bound at init or by the first exception.
//
// The preload links libstdc++ in (its __cxa_throw, personality routine and
// landing pads), and they call the unwinder's entry points below. Those are
// defined here, local to the preload (exports.map), and forward to the one
// unwinder of the process: libgcc_s.so.1.
// - A C++ program has it mapped already (its libstdc++ needs it): init
//   binds every entry point to it (find_loaded_unwinder(), one lookup of
//   the global scope, nothing mapped), so the std::bad_alloc the preload's
//   operator new throws unwinds through the program's frames with the
//   program's own unwinder, and no exception ever calls into the loader.
// - A C program never maps it: the preload's own exceptions (a std::string
//   that glibc cannot allocate, in a failure path; an std::thread that
//   cannot start) are its only use there, and the first one binds every
//   entry point at once, loading libgcc_s (dlopen) with the preload's
//   allocations going to glibc (Internal), so no limit refuses them. That
//   saves a C program about 100 KiB of resident pages (docs/memcg-run.md,
//   "Footprint"). The cost: such a first exception takes the loader's
//   lock while its thread may hold others, and if libgcc_s cannot be
//   loaded (no memory for the loader at all) the process ends, as an
//   exception with no unwinder must.
//
// A forwarding function is one more frame for the unwinder to walk: it has
// call-frame information and no personality routine, so both phases pass
// through it, and the registers it saved are restored with the frames
// below it (_Unwind_Resume's cleanup phase starts at its caller's caller,
// the landing pad's function, exactly as without it).
//
// Built only when libstdc++ is linked in (src/interpose/CMakeLists.txt);
// sanitizer builds use the shared runtime and libgcc_s directly.
#include <dlfcn.h>
#include <unistd.h>
#include <unwind.h>

#include <atomic>
#include <cstdlib>

#include "interpose/state.hpp"

namespace memcg::interpose {
namespace {

// The entry points, bound all at once (so that every one is the same
// unwinder's) and published by g_bound. Concurrent binders store the same
// addresses.
struct Unwinder {
  std::atomic<decltype(&::_Unwind_RaiseException)> raise{nullptr};
  std::atomic<decltype(&::_Unwind_Resume)> resume{nullptr};
  std::atomic<decltype(&::_Unwind_Resume_or_Rethrow)> resume_or_rethrow{nullptr};
  std::atomic<decltype(&::_Unwind_DeleteException)> delete_exception{nullptr};
  std::atomic<decltype(&::_Unwind_GetDataRelBase)> get_data_rel_base{nullptr};
  std::atomic<decltype(&::_Unwind_GetTextRelBase)> get_text_rel_base{nullptr};
  std::atomic<decltype(&::_Unwind_GetRegionStart)> get_region_start{nullptr};
  std::atomic<decltype(&::_Unwind_GetIPInfo)> get_ip_info{nullptr};
  std::atomic<decltype(&::_Unwind_GetLanguageSpecificData)> get_lsda{nullptr};
  std::atomic<decltype(&::_Unwind_SetGR)> set_gr{nullptr};
  std::atomic<decltype(&::_Unwind_SetIP)> set_ip{nullptr};
};
Unwinder g_unwinder;
std::atomic<bool> g_bound{false};

template <class F>
bool bind_one(void* lib, const char* name, std::atomic<F>& out) {
  const auto f = reinterpret_cast<F>(::dlsym(lib, name));
  out.store(f, std::memory_order_relaxed);
  return f != nullptr;
}

// Binds every entry point to lib's (RTLD_DEFAULT: the global scope).
bool bind_all(void* lib) {
  Unwinder& u = g_unwinder;
  const bool ok = bind_one(lib, "_Unwind_RaiseException", u.raise) && bind_one(lib, "_Unwind_Resume", u.resume) &&
                  bind_one(lib, "_Unwind_Resume_or_Rethrow", u.resume_or_rethrow) &&
                  bind_one(lib, "_Unwind_DeleteException", u.delete_exception) &&
                  bind_one(lib, "_Unwind_GetDataRelBase", u.get_data_rel_base) &&
                  bind_one(lib, "_Unwind_GetTextRelBase", u.get_text_rel_base) &&
                  bind_one(lib, "_Unwind_GetRegionStart", u.get_region_start) &&
                  bind_one(lib, "_Unwind_GetIPInfo", u.get_ip_info) &&
                  bind_one(lib, "_Unwind_GetLanguageSpecificData", u.get_lsda) &&
                  bind_one(lib, "_Unwind_SetGR", u.set_gr) && bind_one(lib, "_Unwind_SetIP", u.set_ip);
  if (ok) g_bound.store(true, std::memory_order_release);
  return ok;
}

// The bound entry points: the global scope's, or libgcc_s loaded now.
const Unwinder& unwinder() noexcept {
  if (__builtin_expect(g_bound.load(std::memory_order_acquire), 1)) return g_unwinder;
  Internal in;  // the loader's allocations go to glibc
  if (!bind_all(RTLD_DEFAULT)) {
    void* lib = ::dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NODELETE);
    if (!lib || !bind_all(lib)) {
      static constexpr char kMsg[] = "memcg preload: cannot load the unwinder (libgcc_s.so.1) for an exception\n";
      (void)!::write(2, kMsg, sizeof kMsg - 1);
      std::abort();
    }
  }
  return g_unwinder;
}

}  // namespace

void find_loaded_unwinder() noexcept {
  if (::dlsym(RTLD_DEFAULT, "_Unwind_RaiseException")) bind_all(RTLD_DEFAULT);
}

}  // namespace memcg::interpose

using memcg::interpose::unwinder;

extern "C" {

_Unwind_Reason_Code _Unwind_RaiseException(_Unwind_Exception* e) {
  auto* fn = unwinder().raise.load(std::memory_order_relaxed);
  return fn(e);
}

void _Unwind_Resume(_Unwind_Exception* e) {
  auto* fn = unwinder().resume.load(std::memory_order_relaxed);
  fn(e);
  __builtin_unreachable();
}

_Unwind_Reason_Code _Unwind_Resume_or_Rethrow(_Unwind_Exception* e) {
  auto* fn = unwinder().resume_or_rethrow.load(std::memory_order_relaxed);
  return fn(e);
}

void _Unwind_DeleteException(_Unwind_Exception* e) {
  auto* fn = unwinder().delete_exception.load(std::memory_order_relaxed);
  fn(e);
}

_Unwind_Ptr _Unwind_GetDataRelBase(_Unwind_Context* c) {
  auto* fn = unwinder().get_data_rel_base.load(std::memory_order_relaxed);
  return fn(c);
}

_Unwind_Ptr _Unwind_GetTextRelBase(_Unwind_Context* c) {
  auto* fn = unwinder().get_text_rel_base.load(std::memory_order_relaxed);
  return fn(c);
}

_Unwind_Ptr _Unwind_GetRegionStart(_Unwind_Context* c) {
  auto* fn = unwinder().get_region_start.load(std::memory_order_relaxed);
  return fn(c);
}

_Unwind_Ptr _Unwind_GetIPInfo(_Unwind_Context* c, int* before) {
  auto* fn = unwinder().get_ip_info.load(std::memory_order_relaxed);
  return fn(c, before);
}

void* _Unwind_GetLanguageSpecificData(_Unwind_Context* c) {
  auto* fn = unwinder().get_lsda.load(std::memory_order_relaxed);
  return fn(c);
}

void _Unwind_SetGR(_Unwind_Context* c, int index, _Unwind_Word value) {
  auto* fn = unwinder().set_gr.load(std::memory_order_relaxed);
  fn(c, index, value);
}

void _Unwind_SetIP(_Unwind_Context* c, _Unwind_Ptr ip) {
  auto* fn = unwinder().set_ip.load(std::memory_order_relaxed);
  fn(c, ip);
}

}  // extern "C"
