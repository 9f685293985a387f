/*
 * Many threads, one handle: every synchronous call must get its own reply. 32 threads each make
 * 10,000 calls through one vmux whose values name the thread and the sequence number, so a reply
 * handed to the wrong caller shows up as a byte mismatch. Also: arguments and values that hold
 * NUL bytes, CR LF and nothing at all go through unchanged; a caller thread cancelled
 * (pthread_cancel()) while it calls leaves the handle working for the others (probe33: it kept
 * the direct lane, and every other caller, and vmux_close(), hung).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

enum { NTHREADS = 32, NCALLS = 10000, NKEYS = 16, MAXVAL = 160 };

struct run {
    vmux *m;
    int pid;
    atomic_int done;       /* calls that returned, whatever the outcome */
    atomic_int mismatches; /* calls whose outcome was not exactly the expected reply */
    atomic_flag reported;  /* the first mismatch is printed, the rest only counted */
};

struct worker {
    struct run *run;
    int id;
    int last_set[NKEYS]; /* sequence number of the last SET of each key, -1 before any */
    pthread_t thread;
};

/* What one call sends and what it must get back. */
struct exchange {
    int argc;
    const char *argv[3];
    size_t argvlen[3];
    vmux_reply_kind kind;
    const char *want;
    size_t wantlen;
};

/* Sync timeouts well above any plausible latency, so only a wrong reply can fail the test. */
static const char *const HANDLE_OPTS = "syncTimeout=60000";

/* Returns true when (rc, r) is exactly a reply of kind with the bytes want[0..wantlen). */
static bool reply_is(int rc, const vmux_reply *r, vmux_reply_kind kind, const char *want,
                     size_t wantlen)
{
    if (rc != 0 || r == NULL || vmux_reply_get_kind(r) != kind)
        return false;
    if (kind == VMUX_REPLY_NIL)
        return true;
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    return s != NULL && len == wantlen && memcmp(s, want, len) == 0;
}

/* Thread t's value for call i names both, padded to varying lengths to vary the frames. */
static size_t value_of(char *buf, int t, int i)
{
    int n = snprintf(buf, MAXVAL, "t%d:s%d:", t, i);
    int pad = i % 97;
    memset(buf + n, 'a' + t % 26, (size_t)pad);
    buf[n + pad] = '\0';
    return (size_t)n + (size_t)pad;
}

static void report(struct run *run, int t, int i, const struct exchange *x, int rc,
                   const vmux_reply *r)
{
    atomic_fetch_add(&run->mismatches, 1);
    if (atomic_flag_test_and_set(&run->reported))
        return;
    size_t len = 0;
    const char *s = r ? vmux_reply_str(r, &len) : NULL;
    fprintf(stderr, "thread %d call %d (%s): want '%.*s', got %s %s '%.*s'\n", t, i, x->argv[0],
            (int)x->wantlen, x->want ? x->want : "", vmux_err_name(rc),
            r ? vmux_reply_kind_name(vmux_reply_get_kind(r)) : "(no reply)", (int)len, s ? s : "");
}

static void exchange(struct worker *w, int i, const struct exchange *x)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(w->run->m, NULL, x->argc, x->argv, x->argvlen, &r);
    if (!reply_is(rc, r, x->kind, x->want, x->wantlen))
        report(w->run, w->id, i, x, rc, r);
    vmux_reply_free(r);
    atomic_fetch_add(&w->run->done, 1);
}

/*
 * Call i of a worker: SET of key i%16, a GET of some key (whose last SET this worker knows, or
 * nil if never set), or an ECHO, in turn.
 */
static void one_call(struct worker *w, int i)
{
    char key[64], val[MAXVAL], want[MAXVAL];
    struct exchange x = {.argc = 2};
    int k = (i * 7) % NKEYS;
    if (i % 3 == 0)
        k = i % NKEYS;
    snprintf(key, sizeof key, "mt:%d:k:%d:%d", w->run->pid, w->id, k);
    size_t vlen = value_of(val, w->id, i);
    if (i % 3 == 0) {
        x = (struct exchange){3, {"SET", key, val}, {3, strlen(key), vlen}, VMUX_REPLY_STATUS, "OK",
                              2};
        w->last_set[k] = i;
    } else if (i % 3 == 1) {
        x = (struct exchange){2, {"GET", key}, {3, strlen(key)}, VMUX_REPLY_NIL, NULL, 0};
        if (w->last_set[k] >= 0) {
            x.kind = VMUX_REPLY_STRING;
            x.wantlen = value_of(want, w->id, w->last_set[k]);
            x.want = want;
        }
    } else {
        x = (struct exchange){2, {"ECHO", val}, {4, vlen}, VMUX_REPLY_STRING, val, vlen};
    }
    exchange(w, i, &x);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int k = 0; k < NKEYS; k++)
        w->last_set[k] = -1;
    for (int i = 0; i < NCALLS; i++)
        one_call(w, i);
    return NULL;
}

/*
 * Callers that INCR in a loop. A cancelled one goes on calling (the library holds cancellation
 * off while it works) until it is told to reach a cancellation point of its own (exit_now);
 * without that hold, the cancel acted inside its next call.
 */
struct canceled_run {
    vmux *m;
    atomic_int calls[4];
    atomic_bool exit_now[4];
    atomic_bool stop;
};

struct canceled_caller {
    struct canceled_run *run;
    int id;
};

static void *incr_main(void *arg)
{
    struct canceled_caller *c = arg;
    const char *argv[] = {"INCR", "threads:cancel"};
    while (!atomic_load(&c->run->stop)) {
        vmux_reply *r = NULL;
        if (vmux_call(c->run->m, NULL, 2, argv, NULL, &r) == 0)
            atomic_fetch_add(&c->run->calls[c->id], 1);
        vmux_reply_free(r);
        if (atomic_load(&c->run->exit_now[c->id]))
            pthread_testcancel();
    }
    return NULL;
}

struct calls_wanted {
    struct canceled_run *run;
    int id, want;
};

static bool calls_made(void *arg)
{
    const struct calls_wanted *w = arg;
    return atomic_load(&w->run->calls[w->id]) >= w->want;
}

/* Waits until caller id has made want calls in all; false after 30 s. */
static bool calls_reach(struct canceled_run *run, int id, int want)
{
    struct calls_wanted w = {run, id, want};
    return vt_wait_until(calls_made, &w, 30000);
}

static void test_canceled_caller(void **state)
{
    (void)state;
#ifdef __SANITIZE_ADDRESS__
    /* GCC 12's AddressSanitizer leaves a cancelled thread's unwound stack poisoned and then
     * reports a stack-buffer-underflow in its own thread teardown (sigaltstack), whatever the
     * thread ran; the plain and ThreadSanitizer builds run this test. */
    print_message("skipped: AddressSanitizer cannot follow a cancelled thread's unwinding\n");
    skip();
#endif
    struct canceled_run run = {.m = vt_open("plain", "syncTimeout=2000")};
    assert_non_null(run.m);
    struct canceled_caller c[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (struct canceled_caller){.run = &run, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, incr_main, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_true(calls_reach(&run, i, 200));
    for (int round = 0; round < 3; round++) { /* callers 0, 1 and 2 in turn */
        assert_int_equal(pthread_cancel(t[round]), 0);
        for (int i = round; i < 4; i++) /* it and the others go on */
            assert_true(calls_reach(&run, i, atomic_load(&run.calls[i]) + 500));
        atomic_store(&run.exit_now[round], true);
        void *how = NULL;
        assert_int_equal(pthread_join(t[round], &how), 0);
        assert_ptr_equal(how, PTHREAD_CANCELED);
    }
    assert_true(calls_reach(&run, 3, atomic_load(&run.calls[3]) + 1000)); /* the last goes on */
    atomic_store(&run.stop, true);
    assert_int_equal(pthread_join(t[3], NULL), 0);
    vmux_close(run.m);
}

static void test_many_threads_one_handle(void **state)
{
    (void)state;
    struct run run = {.m = vt_open("plain", HANDLE_OPTS), .pid = (int)getpid()};
    atomic_init(&run.done, 0);
    atomic_init(&run.mismatches, 0);
    atomic_flag_clear(&run.reported);

    struct worker *w = calloc(NTHREADS, sizeof *w);
    assert_non_null(w);
    for (int t = 0; t < NTHREADS; t++) {
        w[t].run = &run;
        w[t].id = t;
        assert_int_equal(pthread_create(&w[t].thread, NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        assert_int_equal(pthread_join(w[t].thread, NULL), 0);
    free(w);
    vmux_close(run.m);

    assert_int_equal(atomic_load(&run.mismatches), 0);
    assert_int_equal(atomic_load(&run.done), NTHREADS * NCALLS);
}

/* Sends argv (binary, with lengths) and expects exactly the reply (kind, want, wantlen). */
static void expect_call(vmux *m, int argc, const char *const *argv, const size_t *argvlen,
                        vmux_reply_kind kind, const char *want, size_t wantlen)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, argc, argv, argvlen, &r);
    assert_int_equal(rc, 0);
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), kind);
    if (kind == VMUX_REPLY_STRING || kind == VMUX_REPLY_STATUS) {
        size_t len = 99;
        const char *s = vmux_reply_str(r, &len);
        assert_non_null(s);
        assert_int_equal(len, wantlen);
        assert_int_equal(vmux_reply_len(r), wantlen);
        assert_memory_equal(s, want, wantlen);
        assert_int_equal(s[len], '\0');
    } else if (kind == VMUX_REPLY_INTEGER) {
        assert_int_equal(vmux_reply_integer(r), (int64_t)wantlen);
    }
    vmux_reply_free(r);
}

static void test_binary_keys_and_values(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char key[64], val[] = "va\0l\r\nue\r\n$3\r\n*1\r\n\0";
    int klen = snprintf(key, sizeof key, "bin_\r\n%d", (int)getpid());
    key[3] = '\0'; /* "bin\0\r\n<pid>": the NUL must not end the key */
    size_t vlen = sizeof val - 1;

    const char *set[] = {"SET", key, val};
    size_t setlen[] = {3, (size_t)klen, vlen};
    expect_call(m, 3, set, setlen, VMUX_REPLY_STATUS, "OK", 2);
    const char *get[] = {"GET", key};
    size_t getlen[] = {3, (size_t)klen};
    expect_call(m, 2, get, getlen, VMUX_REPLY_STRING, val, vlen);

    /* The key up to its NUL is another key, which does not exist. */
    const char *exists[] = {"EXISTS", key};
    size_t exlen[] = {6, (size_t)klen};
    expect_call(m, 2, exists, exlen, VMUX_REPLY_INTEGER, NULL, 1);
    exlen[1] = 3;
    expect_call(m, 2, exists, exlen, VMUX_REPLY_INTEGER, NULL, 0);

    /* An empty value is an empty string, not nil. */
    setlen[2] = 0;
    expect_call(m, 3, set, setlen, VMUX_REPLY_STATUS, "OK", 2);
    expect_call(m, 2, get, getlen, VMUX_REPLY_STRING, "", 0);
    const char *echo[] = {"ECHO", ""};
    size_t echolen[] = {4, 0};
    expect_call(m, 2, echo, echolen, VMUX_REPLY_STRING, "", 0);
    vmux_close(m);
}

/* A value of every byte value, larger than any single socket read, comes back whole. */
static void test_large_binary_value(void **state)
{
    (void)state;
    enum { BIG = 3 * 1024 * 1024 + 17 };
    vmux *m = vt_open("plain", NULL);
    char *big = malloc(BIG);
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)((i * 131u + i / 256u) & 0xff);
    const char *echo[] = {"ECHO", big};
    size_t echolen[] = {4, BIG};
    expect_call(m, 2, echo, echolen, VMUX_REPLY_STRING, big, BIG);
    free(big);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_keys_and_values),
        cmocka_unit_test(test_large_binary_value),
        cmocka_unit_test(test_many_threads_one_handle),
        cmocka_unit_test(test_canceled_caller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
