// Clang thread-safety annotations behind our own macros (no-ops elsewhere).
#pragma once

#if defined(__clang__)
#define MEMCG_TSA(x) __attribute__((x))
#else
#define MEMCG_TSA(x)
#endif

#define MEMCG_CAPABILITY(x) MEMCG_TSA(capability(x))
#define MEMCG_GUARDED_BY(x) MEMCG_TSA(guarded_by(x))
#define MEMCG_PT_GUARDED_BY(x) MEMCG_TSA(pt_guarded_by(x))
#define MEMCG_REQUIRES(...) MEMCG_TSA(requires_capability(__VA_ARGS__))
#define MEMCG_EXCLUDES(...) MEMCG_TSA(locks_excluded(__VA_ARGS__))
#define MEMCG_ACQUIRE(...) MEMCG_TSA(acquire_capability(__VA_ARGS__))
#define MEMCG_RELEASE(...) MEMCG_TSA(release_capability(__VA_ARGS__))
#define MEMCG_TRY_ACQUIRE(...) MEMCG_TSA(try_acquire_capability(__VA_ARGS__))
#define MEMCG_ASSERT_CAPABILITY(...) MEMCG_TSA(assert_capability(__VA_ARGS__))
#define MEMCG_RETURN_CAPABILITY(x) MEMCG_TSA(lock_returned(x))
#define MEMCG_SCOPED_CAPABILITY MEMCG_TSA(scoped_lockable)
#define MEMCG_RETURN_CAPABILITY(x) MEMCG_TSA(lock_returned(x))
#define MEMCG_NO_TSA MEMCG_TSA(no_thread_safety_analysis)
