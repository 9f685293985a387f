/*
 * The ABI policy of docs/api-conventions.md, checked the way a user's program meets it: this
 * file includes nothing of vmux but <vmux/vmux.h> and links the shared library.
 *
 * Sized structs: a struct from an "older" program (its size smaller than this header's) is
 * placed so that it ends exactly where a page that may not be touched begins. The library must
 * accept it and treat the fields it lacks as zero; had it read or written one byte past the
 * caller's size, the process would die with SIGSEGV. A struct from a "newer" program (larger)
 * is accepted when its unknown bytes are zero and refused when they are not; a struct zeroed by
 * hand (size 0) is refused.
 *
 * The version: the header's macros, the library's vmux_version() and the build's project
 * version are one, and the SOVERSION is what the policy says for it (0.MINOR for a 0.x release).
 */
/* mmap()'s MAP_ANONYMOUS and sysconf() are POSIX, not C11; vmux's headers need neither. */
#define _DEFAULT_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <vmux/vmux.h>

/* ---- a guard page ---- */

struct guard {
    unsigned char *base; /* two pages: the first readable, the second not */
    size_t page;
};

static struct guard guard_new(void)
{
    struct guard g = {.page = (size_t)sysconf(_SC_PAGESIZE)};
    void *p = mmap(NULL, 2 * g.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    g.base = p;
    assert_int_equal(mprotect(g.base + g.page, g.page, PROT_NONE), 0);
    return g;
}

static void guard_free(struct guard *g)
{
    munmap(g->base, 2 * g->page);
}

/* n bytes of src (its size field set to n) ending where the forbidden page begins. */
static void *at_page_end(struct guard *g, const void *src, size_t n)
{
    unsigned char *p = g->base + g->page - n;
    memcpy(p, src, n);
    memcpy(p, &n, sizeof n);
    return p;
}

/* ---- a server ---- */

static vmux *open_plain(void)
{
    const char *dir = getenv("VMUX_TEST_STATE_DIR");
    assert_non_null(dir);
    char path[4096], port[32] = {0}, cfg[128];
    snprintf(path, sizeof path, "%s/plain.port", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(port, 1, sizeof port - 1, f);
    fclose(f);
    port[n] = '\0';
    port[strcspn(port, "\r\n")] = '\0';
    snprintf(cfg, sizeof cfg, "127.0.0.1:%s", port);
    vmux *m = NULL;
    char err[256] = "";
    int rc = vmux_open_str(cfg, &m, err, sizeof err);
    if (rc != 0)
        fail_msg("vmux_open_str(%s): %s: %s", cfg, vmux_err_name(rc), err);
    return m;
}

static int setup(void **state)
{
    *state = open_plain();
    return 0;
}

static int teardown(void **state)
{
    vmux_close(*state);
    return 0;
}

static int echo(vmux *m, const vmux_callopts *opts)
{
    const char *argv[] = {"ECHO", "abi"};
    vmux_reply *r = NULL;
    int rc = vmux_call(m, opts, 2, argv, NULL, &r);
    if (rc == 0)
        assert_string_equal(vmux_reply_str(r, NULL), "abi");
    vmux_reply_free(r);
    return rc;
}

/* ---- the tests ---- */

static void test_init_sets_the_size(void **state)
{
    (void)state;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 250);
    assert_int_equal(o.size, sizeof(vmux_callopts));
    assert_int_equal(o.timeout_ms, 250);
    assert_int_equal(o.flags, 0);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(st.size, sizeof(vmux_stats));
}

/* Options from an older program: only size and timeout_ms exist; flags and errbuf are past
 * the end and must read as zero (their defaults). */
static void test_older_callopts(void **state)
{
    vmux *m = *state;
    struct guard g = guard_new();
    vmux_callopts full = VMUX_INIT(vmux_callopts, .timeout_ms = 2000);
    const vmux_callopts *old = at_page_end(&g, &full, offsetof(vmux_callopts, flags));
    assert_int_equal(echo(m, old), 0);
    /* the smallest there is: the size field alone */
    old = at_page_end(&g, &full, sizeof(size_t));
    assert_int_equal(echo(m, old), 0);
    /* a typed command reads options the same way */
    vmux_bytes v = {0};
    old = at_page_end(&g, &full, offsetof(vmux_callopts, flags));
    assert_int_equal(vmux_get(m, old, VMUX_STR("abi:missing"), &v), 0);
    assert_null(v.ptr);
    guard_free(&g);
}

/* Options from a newer program: zero bytes past what the library knows are fine; a field the
 * library lacks (a non-zero byte) is refused, and nothing is sent. */
static void test_newer_callopts(void **state)
{
    vmux *m = *state;
    struct {
        vmux_callopts known;
        unsigned char later[16];
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.known.size = sizeof newer;
    assert_int_equal(echo(m, &newer.known), 0);
    newer.later[9] = 1;
    assert_int_equal(echo(m, &newer.known), VMUX_ERR_INVALID_ARG);
    vmux_bytes v = {0};
    assert_int_equal(vmux_get(m, &newer.known, VMUX_STR("abi:k"), &v), VMUX_ERR_INVALID_ARG);
}

static void test_unsized_refused(void **state)
{
    vmux *m = *state;
    vmux_callopts zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    zeroed.timeout_ms = 1000;
    assert_int_equal(echo(m, &zeroed), VMUX_ERR_INVALID_ARG);
    vmux_bytes v = {0};
    assert_int_equal(vmux_get(m, &zeroed, VMUX_STR("abi:k"), &v), VMUX_ERR_INVALID_ARG);
    vmux_stats st;
    memset(&st, 0, sizeof st);
    assert_int_equal(vmux_read_stats(m, &st), VMUX_ERR_INVALID_ARG);
    assert_int_equal(echo(m, NULL), 0); /* NULL is still every default */
}

/* A result struct from an older program: the library fills the fields that fit, and not one
 * byte past them. */
static void test_older_stats(void **state)
{
    vmux *m = *state;
    assert_int_equal(echo(m, NULL), 0);
    struct guard g = guard_new();
    vmux_stats blank = VMUX_INIT(vmux_stats);
    size_t n = offsetof(vmux_stats, backlog);
    vmux_stats *old = at_page_end(&g, &blank, n);
    assert_int_equal(vmux_read_stats(m, old), 0);
    assert_int_equal(old->size, n);
    assert_true(old->submitted >= 1);
    assert_true(old->replied >= 1);
    assert_true(old->connects >= 1);
    guard_free(&g);
}

/* A result struct from a newer program: the bytes the library does not know come back zero. */
static void test_newer_stats(void **state)
{
    vmux *m = *state;
    struct {
        vmux_stats known;
        unsigned char later[24];
    } newer;
    memset(&newer, 0xab, sizeof newer);
    newer.known.size = sizeof newer;
    assert_int_equal(vmux_read_stats(m, &newer.known), 0);
    assert_int_equal(newer.known.size, sizeof newer);
    assert_true(newer.known.submitted >= 1);
    for (size_t i = 0; i < sizeof newer.later; i++)
        assert_int_equal(newer.later[i], 0);
}

/* The patterns' options and results follow the same rule. */
static void test_older_pattern_structs(void **state)
{
    vmux *m = *state;
    struct guard g = guard_new();

    vmux_lock_opts lo = VMUX_INIT(vmux_lock_opts, .ttl_ms = 5000);
    vmux_lock *lock = NULL;
    assert_int_equal(vmux_lock_new(m, VMUX_STR("abi:lock"),
                                   at_page_end(&g, &lo, offsetof(vmux_lock_opts, fence_key)),
                                   &lock),
                     0);
    bool acquired = false;
    assert_int_equal(vmux_lock_acquire(lock, &acquired, NULL), 0);
    assert_true(acquired);
    vmux_lock_free(lock);

    vmux_ratelimit_opts ro =
        VMUX_INIT(vmux_ratelimit_opts, .limit = 5, .period_ms = 60000, .prefix = "abi:rl:");
    vmux_ratelimit *rl = NULL;
    assert_int_equal(vmux_ratelimit_new(m, &ro, &rl), 0);
    assert_int_equal(vmux_ratelimit_reset(rl, VMUX_STR("k")), 0);
    vmux_ratelimit_result blank = VMUX_INIT(vmux_ratelimit_result);
    size_t n = offsetof(vmux_ratelimit_result, remaining);
    vmux_ratelimit_result *res = at_page_end(&g, &blank, n);
    assert_int_equal(vmux_ratelimit_check(rl, VMUX_STR("k"), 1, res), 0);
    assert_true(res->allowed);
    assert_int_equal(res->limit, 5);
    vmux_ratelimit_free(rl);

    vmux_session_opts so = VMUX_INIT(vmux_session_opts);
    vmux_session_store *s = NULL;
    assert_int_equal(vmux_session_store_new(m, at_page_end(&g, &so, sizeof(size_t)), &s), 0);
    vmux_session_store_free(s);

    vmux_scan_opts sc = VMUX_INIT(vmux_scan_opts, .match = "abi:*");
    vmux_scan *it = NULL;
    assert_int_equal(vmux_scan_begin(m, at_page_end(&g, &sc, offsetof(vmux_scan_opts, count)), &it),
                     0);
    vmux_scan_end(it);
    guard_free(&g);
}

/* ---- the version ---- */

static void test_version_agrees(void **state)
{
    (void)state;
    char parts[32];
    snprintf(parts, sizeof parts, "%d.%d.%d", VMUX_VERSION_MAJOR, VMUX_VERSION_MINOR,
             VMUX_VERSION_PATCH);
    assert_string_equal(VMUX_VERSION_STRING, parts);
    assert_string_equal(VMUX_VERSION_STRING, VMUX_ABI_PROJECT_VERSION);
    assert_string_equal(vmux_version(), VMUX_VERSION_STRING);
    assert_int_equal(vmux_version_hex(), VMUX_VERSION_HEX);
    char soversion[32];
    if (VMUX_VERSION_MAJOR == 0) { /* every 0.x minor release may break: 0.MINOR */
        snprintf(soversion, sizeof soversion, "0.%d", VMUX_VERSION_MINOR);
        assert_string_equal(VMUX_ABI_SOVERSION, soversion);
    } else {
        assert_true(atoi(VMUX_ABI_SOVERSION) >= 1 && strchr(VMUX_ABI_SOVERSION, '.') == NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_sets_the_size),    cmocka_unit_test(test_older_callopts),
        cmocka_unit_test(test_newer_callopts),        cmocka_unit_test(test_unsized_refused),
        cmocka_unit_test(test_older_stats),           cmocka_unit_test(test_newer_stats),
        cmocka_unit_test(test_older_pattern_structs), cmocka_unit_test(test_version_agrees),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
