#include "slab/peers.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace slab_bench {

Peers g_peers;

namespace {

constexpr const char* kReexecEnv = "MEMCG_SLAB_BENCH_REEXEC";
constexpr const char* kStaticTlsTunable = "glibc.rtld.optional_static_tls=16384";

void* open_peer(const char* lib, std::string* status, bool* static_tls_failure) {
  dlerror();
  void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    const char* e = dlerror();
    std::string err = e ? e : "unknown dlopen error";
    if (static_tls_failure) *static_tls_failure = err.find("static TLS") != std::string::npos;
    *status = "SKIPPED: dlopen(" + std::string(lib) + ") failed: " + err;
  }
  return h;
}

template <class F>
bool bind(void* h, const char* sym, F* out, std::string* status) {
  *out = reinterpret_cast<F>(dlsym(h, sym));
  if (!*out) *status = std::string("SKIPPED: dlsym(") + sym + ") failed";
  return *out != nullptr;
}


}  // namespace

void load_peers(char** argv, bool allow_reexec) {
  const bool reexeced = std::getenv(kReexecEnv) != nullptr;
  if (void* h = open_peer("libmimalloc.so.2", &g_peers.mi_status, nullptr)) {
    if (bind(h, "mi_malloc", &g_peers.mi_malloc, &g_peers.mi_status) &&
        bind(h, "mi_free", &g_peers.mi_free, &g_peers.mi_status))
      g_peers.mi_status = "loaded libmimalloc.so.2: mi_malloc / mi_free";
    else
      g_peers.mi_malloc = nullptr, g_peers.mi_free = nullptr;
  }
  if (void* h = open_peer("libtcmalloc_minimal.so.4", &g_peers.tc_status, nullptr)) {
    if (bind(h, "tc_malloc", &g_peers.tc_malloc, &g_peers.tc_status) &&
        bind(h, "tc_free", &g_peers.tc_free, &g_peers.tc_status))
      g_peers.tc_status = "loaded libtcmalloc_minimal.so.4: tc_malloc / tc_free";
    else
      g_peers.tc_malloc = nullptr, g_peers.tc_free = nullptr;
  }
  bool static_tls = false;
  if (void* h = open_peer("libjemalloc.so.2", &g_peers.je_status, &static_tls)) {
    if (bind(h, "mallocx", &g_peers.je_mallocx, &g_peers.je_status) &&
        bind(h, "dallocx", &g_peers.je_dallocx, &g_peers.je_status))
      g_peers.je_status = std::string("loaded libjemalloc.so.2: mallocx / dallocx (flags 0)") +
                          (reexeced ? "; after re-executing with GLIBC_TUNABLES=" + std::string(kStaticTlsTunable) +
                                          " (its initial-exec TLS does not fit glibc's default static TLS surplus)"
                                    : "");
    else
      g_peers.je_mallocx = nullptr, g_peers.je_dallocx = nullptr;
  } else if (static_tls && !reexeced && allow_reexec) {
    // Enlarge the static TLS surplus and start over; the process malloc is
    // still glibc's (the tunable only reserves TLS space for dlopen).
    std::string t = kStaticTlsTunable;
    if (const char* old = std::getenv("GLIBC_TUNABLES"); old && *old) t = std::string(old) + ":" + t;
    std::fprintf(stderr,
                 "slab_bench: dlopen(libjemalloc.so.2) failed: jemalloc's initial-exec TLS does not fit the static\n"
                 "            TLS surplus; re-executing once with GLIBC_TUNABLES=%s\n",
                 t.c_str());
    std::fflush(stdout);
    std::fflush(stderr);
    setenv("GLIBC_TUNABLES", t.c_str(), 1);
    setenv(kReexecEnv, "1", 1);
    execv("/proc/self/exe", argv);
    std::fprintf(stderr, "slab_bench: re-exec failed (%s); skipping jemalloc\n", std::strerror(errno));
    unsetenv(kReexecEnv);
    g_peers.je_status += " (re-exec with a larger static TLS surplus failed too)";
  } else if (static_tls) {
    g_peers.je_status += reexeced ? " (even with " + std::string(kStaticTlsTunable) + ")"
                                  : " (--no-reexec: not retried with a larger static TLS surplus)";
  }
}

}  // namespace slab_bench
