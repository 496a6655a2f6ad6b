// The unwinder, found when the first exception needs it.
//
// The preload links libstdc++ in (its __cxa_throw, personality routine and
// landing pads), and they call the unwinder's entry points below. Those are
// defined here, local to the preload (exports.map), and forward to the one
// unwinder of the process: libgcc_s.so.1. A C++ program has mapped it
// already (its libstdc++ needs it), so the std::bad_alloc the preload's
// operator new throws unwinds through the program's frames with the
// program's own unwinder. A C program never maps it: the preload's
// internal exceptions (an out-of-memory std::string in a failure path) are
// its only use there, and the first one loads it (dlopen) — about 100 KiB
// of resident pages that a C program no longer pays for (docs/memcg-run.md,
// "Footprint").
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

namespace memcg::interpose {
namespace {

// The address of libgcc_s's `name`, loading the library if no object of
// the process has. Races resolve the same address; an unwinder that cannot
// be found ends the process, as an exception with no unwinder must.
void* resolve(std::atomic<void*>& slot, const char* name) noexcept {
  void* f = slot.load(std::memory_order_acquire);
  if (f) return f;
  f = ::dlsym(RTLD_DEFAULT, name);
  if (!f) {
    if (void* lib = ::dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NODELETE)) f = ::dlsym(lib, name);
  }
  if (!f) {
    static constexpr char kMsg[] = "memcg preload: cannot load the unwinder (libgcc_s.so.1) for an exception\n";
    (void)!::write(2, kMsg, sizeof kMsg - 1);
    std::abort();
  }
  slot.store(f, std::memory_order_release);
  return f;
}

#define MEMCG_UNWIND_FN(name) \
  static std::atomic<void*> slot{nullptr}; \
  auto* fn = reinterpret_cast<decltype(&::name)>(resolve(slot, #name))

}  // namespace
}  // namespace memcg::interpose

using memcg::interpose::resolve;

extern "C" {

_Unwind_Reason_Code _Unwind_RaiseException(_Unwind_Exception* e) {
  MEMCG_UNWIND_FN(_Unwind_RaiseException);
  return fn(e);
}

void _Unwind_Resume(_Unwind_Exception* e) {
  MEMCG_UNWIND_FN(_Unwind_Resume);
  fn(e);
  __builtin_unreachable();
}

_Unwind_Reason_Code _Unwind_Resume_or_Rethrow(_Unwind_Exception* e) {
  MEMCG_UNWIND_FN(_Unwind_Resume_or_Rethrow);
  return fn(e);
}

void _Unwind_DeleteException(_Unwind_Exception* e) {
  MEMCG_UNWIND_FN(_Unwind_DeleteException);
  fn(e);
}

_Unwind_Ptr _Unwind_GetDataRelBase(_Unwind_Context* c) {
  MEMCG_UNWIND_FN(_Unwind_GetDataRelBase);
  return fn(c);
}

_Unwind_Ptr _Unwind_GetTextRelBase(_Unwind_Context* c) {
  MEMCG_UNWIND_FN(_Unwind_GetTextRelBase);
  return fn(c);
}

_Unwind_Ptr _Unwind_GetRegionStart(_Unwind_Context* c) {
  MEMCG_UNWIND_FN(_Unwind_GetRegionStart);
  return fn(c);
}

_Unwind_Ptr _Unwind_GetIPInfo(_Unwind_Context* c, int* before) {
  MEMCG_UNWIND_FN(_Unwind_GetIPInfo);
  return fn(c, before);
}

void* _Unwind_GetLanguageSpecificData(_Unwind_Context* c) {
  MEMCG_UNWIND_FN(_Unwind_GetLanguageSpecificData);
  return fn(c);
}

void _Unwind_SetGR(_Unwind_Context* c, int index, _Unwind_Word value) {
  MEMCG_UNWIND_FN(_Unwind_SetGR);
  fn(c, index, value);
}

void _Unwind_SetIP(_Unwind_Context* c, _Unwind_Ptr ip) {
  MEMCG_UNWIND_FN(_Unwind_SetIP);
  fn(c, ip);
}

}  // extern "C"
