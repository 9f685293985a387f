/*
 * The allocation failure injector (failalloc.h). The __wrap_ functions are called instead of the
 * allocator by every object linked with --wrap; __real_ names the allocator itself. This file's
 * own code never allocates.
 */
#include "failalloc.h"

#include <errno.h>
#include <execinfo.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static atomic_bool armed;
static atomic_long seq;    /* allocations counted since arming */
static atomic_long failed; /* of those, how many failed */
/* Allocations numbered in [fail_from, fail_to) fail. Atomic, as another thread may read them
 * while the test arms again; a read racing an arming sees one setting or the other. */
static atomic_long fail_from, fail_to;
static atomic_int filter;
static _Atomic(pthread_t) armer; /* atomic as the others: a racing reader sees either */
static atomic_bool trace;        /* VT_FAILALLOC_TRACE set: print a backtrace at each failure */

/* Whether this allocation must fail; counts it when armed and the thread matches. */
static bool should_fail(void)
{
    if (!atomic_load_explicit(&armed, memory_order_acquire))
        return false;
    int threads = atomic_load(&filter);
    if (threads != VT_FA_ANY &&
        (pthread_equal(pthread_self(), atomic_load(&armer)) != 0) != (threads == VT_FA_ARMER))
        return false;
    long n = atomic_fetch_add(&seq, 1) + 1;
    if (n < atomic_load(&fail_from) || n >= atomic_load(&fail_to))
        return false;
    atomic_fetch_add(&failed, 1);
    if (atomic_load(&trace)) {
        void *frames[32];
        fprintf(stderr, "failalloc: allocation %ld fails here:\n", n);
        backtrace_symbols_fd(frames, backtrace(frames, 32), STDERR_FILENO);
    }
    errno = ENOMEM;
    return true;
}

void vt_failalloc_arm(long nth, long count, vt_fa_threads threads)
{
    atomic_store(&armed, false);
    atomic_store(&seq, 0);
    atomic_store(&failed, 0);
    atomic_store(&fail_from, nth > 0 ? nth : 0);
    atomic_store(&fail_to, nth <= 0 ? 0 : count < 0 ? LONG_MAX : nth + count);
    atomic_store(&filter, (int)threads);
    atomic_store(&trace, getenv("VT_FAILALLOC_TRACE") != NULL);
    atomic_store(&armer, pthread_self());
    atomic_store_explicit(&armed, true, memory_order_release);
}

long vt_failalloc_disarm(void)
{
    atomic_store(&armed, false);
    return atomic_load(&seq);
}

long vt_failalloc_failed(void)
{
    return atomic_load(&failed);
}

void *__wrap_malloc(size_t size)
{
    return should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    /* realloc(p, 0) frees p: it is left alone, as failing it would leak or double-free */
    return size != 0 && should_fail() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    return should_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : __real_strndup(s, n);
}
