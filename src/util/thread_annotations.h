// Clang's thread-safety annotations (-Wthread-safety), as in LevelDB's
// port/thread_annotations.h. They document which mutex guards what, and
// the clang build (scripts/build.sh clang) checks every access; other
// compilers see nothing.
#pragma once

#if defined(__clang__)
#define PARLEY_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PARLEY_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) PARLEY_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY PARLEY_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) PARLEY_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) PARLEY_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) PARLEY_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) PARLEY_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) PARLEY_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) PARLEY_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) PARLEY_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) PARLEY_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) PARLEY_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) PARLEY_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) PARLEY_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) PARLEY_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) PARLEY_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) PARLEY_THREAD_ANNOTATION(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) PARLEY_THREAD_ANNOTATION(assert_shared_capability(x))
#define RETURN_CAPABILITY(x) PARLEY_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS PARLEY_THREAD_ANNOTATION(no_thread_safety_analysis)
