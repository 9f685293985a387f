#ifndef VMUX_TEST_FAILALLOC_H
#define VMUX_TEST_FAILALLOC_H

/*
 * A test-only allocation failure injector, for the allocation-failure sweeps
 * (tests/faults/test_alloc_failure.c), in the manner of libcurl's torture mode and SQLite's
 * malloc tests.
 *
 * A test executable that compiles failalloc.c must link with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
 * (VMUX_FAILALLOC_LINK_OPTIONS in tests/faults/CMakeLists.txt). The linker then sends the calls
 * of the objects linked statically (the library, the test support, the test) to the
 * __wrap_ functions here, which call the real ones unless armed; the shared libraries (libuv,
 * hiredis, OpenSSL, libc itself) keep calling the real allocator. Under AddressSanitizer the
 * real one is ASan's, so the sanitizer still sees every allocation that succeeds.
 *
 * Counting: while armed, every call to one of the five whose thread matches the filter gets the
 * next sequence number, from 1. Calls numbered nth .. nth + count - 1 fail (NULL, errno
 * ENOMEM); the others succeed. realloc() that fails leaves its block as it was, as the real
 * one does; realloc(p, 0) is not counted. An executable not linked with --wrap does not link
 * (__real_malloc is undefined), so a test cannot sweep nothing by mistake.
 *
 * With VT_FAILALLOC_TRACE set in the environment, each failure prints a backtrace to stderr
 * (build with -rdynamic, or read the addresses with addr2line), to find the failing call.
 *
 * Threads: any thread may allocate at any time; arming and disarming are for one thread at a
 * time (the test's).
 */
/* Which threads' allocations count (and may fail). */
typedef enum vt_fa_threads {
    VT_FA_ANY = 0, /* every thread's */
    VT_FA_ARMER,   /* only the thread that armed it (the caller of a synchronous call) */
    VT_FA_OTHERS,  /* every thread but that one (the handle's I/O thread) */
} vt_fa_threads;

/*
 * Arms the injector: counting starts again from 0, and allocations nth .. nth + count - 1 of
 * the threads selected fail. nth 0 fails none (counting only: how many allocations an operation
 * makes). count < 0 fails every one from nth on.
 */
void vt_failalloc_arm(long nth, long count, vt_fa_threads threads);

/* Disarms it: every allocation succeeds again. Returns how many were counted since arming. */
long vt_failalloc_disarm(void);

/* How many allocations have failed since the last arming. */
long vt_failalloc_failed(void);

#endif
