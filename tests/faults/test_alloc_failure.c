/*
 * Allocation failure sweeps (libcurl's torture mode, SQLite's malloc tests): each scenario runs
 * once counting the allocations it makes (tests/support/failalloc.h), then once for every N
 * from 1 to that count with allocation N failing (every VT_STRIDE-th N under ThreadSanitizer,
 * from a varying start, as it runs several times slower). Every run must return, with the right
 * result or a documented error (docs/errors.md: VMUX_ERR_NOMEM, or VMUX_ERR_CONNECTION_LOST when
 * the failure broke the connection under a command that was sent); a command that failed with
 * VMUX_ERR_NOMEM did not run; and afterwards, with allocation working again, the same handle
 * completes a SET and a GET (or vmux_open() failed with an error and a reason). The sanitizer
 * builds add: no leak (at exit, or after every run with VT_FAILALLOC_LEAKCHECK=1), no use after
 * free.
 *
 * The library is linked statically, so the failures hit its own allocations (and this file's),
 * not libuv's, hiredis's or OpenSSL's inside their shared libraries. Allocations are counted on
 * every thread: the caller's and the I/O thread's, in the order they happen.
 *
 * To look at one failure: VT_ONLY=<test> VT_NTH=<N> VT_FAILALLOC_TRACE=1 (a backtrace where the
 * allocation fails). To explore: VT_THREADS=io or caller (one thread's allocations only),
 * VT_BURST=<K> (K failures from N on; -1: all).
 *
 * Against the "plain" server, and again against the cluster fixture (cluster mode), where the
 * scenarios that only repeat the standalone ones are skipped and MGET splits across slots.
 */
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "testutil.h"
#include "vmux/vmux.h"

#if defined(__SANITIZE_THREAD__)
#define VT_STRIDED 1
#else
#define VT_STRIDED 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

/* Every VT_STRIDE-th N under ThreadSanitizer (the plain and ASan builds sweep every N). */
#define VT_STRIDE 3
/* A call's own deadline, and how long past it a run may take before it counts as a hang. */
#define CALL_TIMEOUT_MS 4000
#define HANG_MARGIN_MS 6000
#define BURST_TIMEOUT_MS 100
/* A run that has not returned after this long hangs (a run takes a few deadlines at most). */
#define WATCHDOG_S 60

/* The handles of the suite, opened once. */
typedef struct fx {
    vmux *m;    /* the main handle */
    vmux *near; /* nearCache=true */
    char *conf; /* the main handle's configuration */
} fx;

/* ---- the sweep: which allocation fails in this run ---- */

static const char *g_name; /* the scenario, for messages */
static long g_nth;         /* the allocation that fails in this run; 0: none (counting) */
static long g_burst = 1;   /* how many fail from g_nth on (-1: all) */
static long g_seen;        /* allocations counted in this run's earlier windows */
static vt_fa_threads g_threads;

/* Opens a window in which the run's allocations count (and the chosen ones fail); a scenario
 * may open several, which count on from each other. */
static void fa_on(void)
{
    long from = g_nth - g_seen;
    long end = g_burst < 0 ? LONG_MAX : g_nth + g_burst - g_seen; /* relative, exclusive */
    if (g_nth == 0 || end <= 1)
        vt_failalloc_arm(0, 0, g_threads);
    else if (from < 1)
        vt_failalloc_arm(1, g_burst < 0 ? -1 : end - 1, g_threads);
    else
        vt_failalloc_arm(from, g_burst < 0 ? -1 : end - from, g_threads);
}

static void fa_off(void)
{
    g_seen += vt_failalloc_disarm();
}

/* Fails the test unless rc is 0 or one of the n codes given. */
static void expect_rc(const char *what, int rc, int n, ...)
{
    if (rc == 0)
        return;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        if (va_arg(ap, int) == rc) {
            va_end(ap);
            return;
        }
    }
    va_end(ap);
    fail_msg("%s, allocation %ld failing: %s returned %s, not a documented error", g_name, g_nth,
             what, vmux_err_name(rc));
}

/* A call's deadline in this sweep: CALL_TIMEOUT_MS, or BURST_TIMEOUT_MS for bursts. */
static int g_timeout_ms = CALL_TIMEOUT_MS;

/*
 * The errors a command's completion may have when an allocation fails under it: NOMEM (it was
 * not sent), CONNECTION_LOST (the failure broke the connection after it was sent); in a burst,
 * where the handle cannot reconnect until it ends, also TIMEOUT.
 */
#define EXPECT_CALL_RC(what, rc)                                                                   \
    expect_rc(what, rc, 3, VMUX_ERR_NOMEM, VMUX_ERR_CONNECTION_LOST,                               \
              g_burst == 1 ? VMUX_ERR_NOMEM : VMUX_ERR_TIMEOUT)

static vmux_callopts call_opts(void)
{
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.timeout_ms = g_timeout_ms;
    return o;
}

/* vmux_call() of a command of NUL-terminated arguments (NULL after the last). */
static int call_argv(vmux *m, vmux_reply **out, const char *a0, const char *a1, const char *a2,
                     const char *a3)
{
    const char *argv[] = {a0, a1, a2, a3};
    int argc = a1 == NULL ? 1 : a2 == NULL ? 2 : a3 == NULL ? 3 : 4;
    vmux_callopts o = call_opts();
    return vmux_call(m, &o, argc, argv, NULL, out);
}

/* An idempotent command a0 a1 [a2], with allocation working: retry-safe (a connection that a
 * scenario left broken does not fail it) and with the full deadline. */
static int idempotent_call(vmux *m, vmux_reply **out, const char *a0, const char *a1,
                           const char *a2)
{
    const char *argv[] = {a0, a1, a2};
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.timeout_ms = CALL_TIMEOUT_MS;
    o.flags = VMUX_CALL_RETRY_SAFE;
    return vmux_call(m, &o, a2 == NULL ? 2 : 3, argv, NULL, out);
}

/* The integer value of key on the server, read with allocation working. */
static long long read_counter(vmux *m, const char *key)
{
    vmux_reply *r = NULL;
    int rc = idempotent_call(m, &r, "GET", key, NULL);
    if (rc != 0)
        fail_msg("%s, after allocation %ld: GET %s: %s", g_name, g_nth, key, vmux_err_name(rc));
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    long long v = s == NULL ? 0 : strtoll(s, NULL, 10);
    vmux_reply_free(r);
    return v;
}

/* An INCR of key from before: after VMUX_ERR_NOMEM it did not run; after a lost connection or
 * a timeout it ran once or not at all; after 0 it ran once. */
static void check_incr(vmux *m, const char *key, long long before, int rc)
{
    long long now = read_counter(m, key);
    if (rc == VMUX_ERR_CONNECTION_LOST || rc == VMUX_ERR_TIMEOUT)
        assert_true(now == before || now == before + 1);
    else if (rc == 0)
        assert_int_equal(now, before + 1);
    else if (now != before)
        fail_msg("%s, allocation %ld failing: INCR %s returned %s but ran (%lld -> %lld)", g_name,
                 g_nth, key, vmux_err_name(rc), before, now);
}

/* With allocation working again: the handle completes a SET and a GET of a fresh value. */
static void check_alive(vmux *m)
{
    char value[64];
    snprintf(value, sizeof value, "%s-%ld", g_name, g_nth);
    vmux_reply *r = NULL;
    int rc = idempotent_call(m, &r, "SET", "oom:alive", value);
    if (rc != 0)
        fail_msg("%s, after allocation %ld failed: SET: %s", g_name, g_nth, vmux_err_name(rc));
    vmux_reply_free(r);
    rc = idempotent_call(m, &r, "GET", "oom:alive", NULL);
    if (rc != 0)
        fail_msg("%s, after allocation %ld failed: GET: %s", g_name, g_nth, vmux_err_name(rc));
    assert_string_equal(vmux_reply_str(r, NULL), value);
    vmux_reply_free(r);
}

/* An idempotent command run with allocation working, which must succeed. */
static void admin_ok_quiet(vmux *m, const char *a0, const char *a1, const char *a2)
{
    vmux_reply *r = NULL;
    int rc = idempotent_call(m, &r, a0, a1, a2);
    if (rc != 0)
        fail_msg("%s %s: %s", a0, a1, vmux_err_name(rc));
    vmux_reply_free(r);
}

/* A run that does not return is a hang: say which, rather than wait for CTest's timeout. */
static void on_hang(int sig)
{
    (void)sig;
    char msg[160];
    int n = snprintf(msg, sizeof msg, "HANG: %s, allocation %ld failing: no return in %d s\n",
                     g_name, g_nth, WATCHDOG_S);
    (void)!write(STDERR_FILENO, msg, n > 0 ? (size_t)n : 0);
    abort();
}

static void set_key_quiet(vmux *m, const char *key, const char *value)
{
    admin_ok_quiet(m, "SET", key, value);
}

typedef int (*scenario_fn)(fx *f);

/*
 * Runs scenario once counting, then once per N (every stride-th under ThreadSanitizer) with
 * allocation N failing (and burst - 1 more after it; -1: all the rest), checking the handle
 * after each run. The scenario asserts its own results and returns 0 or the error it got.
 */
static void sweep(fx *f, const char *name, scenario_fn scenario, vt_fa_threads threads, long burst)
{
    g_name = name;
    g_threads = threads;
    if (getenv("VT_THREADS") != NULL && threads == VT_FA_ANY) /* one side: io (or caller) */
        g_threads = strcmp(getenv("VT_THREADS"), "io") == 0 ? VT_FA_OTHERS : VT_FA_ARMER;
    if (getenv("VT_BURST") != NULL) /* to sweep bursts everywhere: VT_BURST=-1 */
        burst = atol(getenv("VT_BURST"));
    g_burst = burst;
    g_timeout_ms = burst == 1 ? CALL_TIMEOUT_MS : BURST_TIMEOUT_MS;
    g_nth = 0;
    g_seen = 0;
    signal(SIGALRM, on_hang);
    int rc = scenario(f);
    if (rc != 0)
        fail_msg("%s: without failures: %s", name, vmux_err_name(rc));
    long total = g_seen;
    if (total == 0 && g_threads != VT_FA_ANY)
        return;             /* nothing allocated on that side */
    assert_true(total > 0); /* the --wrap options are in place */
    long stride = VT_STRIDED ? VT_STRIDE : 1;
    long span = stride < total ? stride : total; /* a short sweep still runs once */
    long first = 1 + (long)(vt_now_ns() / 1000 % (unsigned long)span);
    if (getenv("VT_NTH") != NULL) /* to run one N again: VT_NTH=<N> */
        first = atol(getenv("VT_NTH")), total = first, stride = 1;
    long errors = 0, runs = 0;
    uint64_t worst = 0;
    for (long n = first; n <= total; n += stride) {
        g_nth = n;
        g_seen = 0;
        uint64_t t0 = vt_now_ms();
        alarm(WATCHDOG_S);
        rc = scenario(f);
        alarm(0);
        uint64_t took = vt_now_ms() - t0;
        worst = took > worst ? took : worst;
        if (took > CALL_TIMEOUT_MS + HANG_MARGIN_MS)
            fail_msg("%s, allocation %ld failing: took %llu ms", name, n, (unsigned long long)took);
        errors += rc != 0;
        runs++;
        if (took >= 500)
            print_message("%s: allocation %ld failing: %s after %llu ms\n", name, n,
                          vmux_err_name(rc), (unsigned long long)took);
        check_alive(f->m);
#if defined(__SANITIZE_ADDRESS__)
        if (getenv("VT_FAILALLOC_LEAKCHECK") != NULL && __lsan_do_recoverable_leak_check() != 0)
            fail_msg("%s, allocation %ld failing: leaked (above)", name, n);
#endif
    }
    print_message("%s: %ld allocations, %ld runs, %ld ended with an error, slowest %llu ms\n", name,
                  total, runs, errors, (unsigned long long)worst);
}

/* ---- scenarios ---- */

/* vmux_config_parse() + vmux_open(), then (allocation working) a round trip, then vmux_close()
 * with allocations failing again. */
static int scenario_open_close(fx *f)
{
    char err[256] = "";
    vmux_config *cfg = NULL;
    vmux *m = NULL;
    fa_on();
    int rc = vmux_config_parse(f->conf, &cfg, err, sizeof err);
    if (rc == 0)
        rc = vmux_open(cfg, &m, err, sizeof err);
    vmux_reply *r = NULL;
    /* the first command waits for what an open leaves to the I/O thread (a cluster's map) */
    int rc_get = rc != 0 ? 0 : call_argv(m, &r, "GET", "oom:s3", NULL, NULL);
    fa_off();
    vmux_config_free(cfg);
    if (rc == 0) {
        EXPECT_CALL_RC("GET on a new handle", rc_get);
        assert_true(rc_get == 0 ? strcmp(vmux_reply_str(r, NULL), "oom:s3") == 0 : r == NULL);
        vmux_reply_free(r);
    }
    if (rc != 0) {
        expect_rc("vmux_config_parse/vmux_open", rc, 1, VMUX_ERR_NOMEM);
        assert_null(m);
        if (err[0] == '\0')
            fail_msg("%s, allocation %ld failing: %s without a reason", g_name, g_nth,
                     vmux_err_name(rc));
        return rc;
    }
    check_alive(m);
    fa_on();
    vmux_close(m);
    fa_off();
    return 0;
}

/* SET, GET (the value checked) and INCR (run once or not at all). */
static int scenario_sync(fx *f)
{
    char value[32];
    snprintf(value, sizeof value, "v%ld", g_nth);
    long long before = read_counter(f->m, "oom:counter");
    vmux_reply *set = NULL, *get = NULL, *incr = NULL;
    fa_on();
    int rc_set = call_argv(f->m, &set, "SET", "oom:sync", value, NULL);
    int rc_get = call_argv(f->m, &get, "GET", "oom:sync", NULL, NULL);
    int rc_incr = call_argv(f->m, &incr, "INCR", "oom:counter", NULL, NULL);
    fa_off();
    EXPECT_CALL_RC("SET", rc_set);
    EXPECT_CALL_RC("GET", rc_get);
    EXPECT_CALL_RC("INCR", rc_incr);
    if (rc_set == 0)
        assert_string_equal(vmux_reply_str(set, NULL), "OK");
    if (rc_set == 0 && rc_get == 0)
        assert_string_equal(vmux_reply_str(get, NULL), value);
    if (rc_incr == 0)
        assert_int_equal(vmux_reply_integer(incr), before + 1);
    vmux_reply_free(set);
    vmux_reply_free(get);
    vmux_reply_free(incr);
    check_incr(f->m, "oom:counter", before, rc_incr);
    return rc_set != 0 ? rc_set : rc_get != 0 ? rc_get : rc_incr;
}

/* vmux_call_async() of an INCR: an error returned means the callback never runs. */
static int scenario_async(fx *f)
{
    long long before = read_counter(f->m, "oom:counter");
    static struct vt_async a;
    atomic_store(&a.done, false);
    a.status = 0;
    a.reply = NULL;
    const char *argv[] = {"INCR", "oom:counter"};
    vmux_callopts o = call_opts();
    fa_on();
    int rc = vmux_call_async(f->m, &o, 2, argv, NULL, vt_on_async, &a);
    bool done = rc != 0 || vt_wait_until(vt_async_done, &a, CALL_TIMEOUT_MS + HANG_MARGIN_MS);
    fa_off();
    if (rc != 0) {
        expect_rc("vmux_call_async", rc, 1, VMUX_ERR_NOMEM);
        check_alive(f->m); /* the I/O thread has done what it had to */
        if (atomic_load(&a.done))
            fail_msg("%s, allocation %ld failing: the callback ran after %s", g_name, g_nth,
                     vmux_err_name(rc));
        check_incr(f->m, "oom:counter", before, VMUX_ERR_NOMEM);
        return rc;
    }
    if (!done)
        fail_msg("%s, allocation %ld failing: the callback did not run", g_name, g_nth);
    EXPECT_CALL_RC("INCR's callback", a.status);
    if (a.status == 0)
        assert_int_equal(vmux_reply_integer(a.reply), before + 1);
    else
        assert_null(a.reply);
    vmux_reply_free(a.reply);
    check_incr(f->m, "oom:counter", before, a.status);
    return a.status;
}

static bool bytes_equal(vmux_bytes b, const char *s)
{
    return b.ptr != NULL && b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

/* MGET of three keys (the last missing), HGETALL of a hash of two fields, XREAD of a stream of
 * two entries: the typed replies copied out, each checked; zeroed on an error. */
static int scenario_typed(fx *f)
{
    const vmux_str keys[] = {VMUX_STR("oom:{a}"), VMUX_STR("oom:{b}"), VMUX_STR("oom:{c}")};
    const vmux_str skey = VMUX_STR("oom:stream"), sid = VMUX_STR("0");
    vmux_bytes_array values = {0};
    vmux_field_array fields = {0};
    vmux_stream_batch_array batches = {0};
    vmux_callopts o = call_opts();
    fa_on();
    int rc_mget = vmux_mget(f->m, &o, keys, 3, &values);
    int rc_hgetall = vmux_hgetall(f->m, &o, VMUX_STR("oom:hash"), &fields);
    int rc_xread = vmux_xread(f->m, &o, &skey, &sid, 1, 0, VMUX_NO_BLOCK, &batches);
    fa_off();
    EXPECT_CALL_RC("vmux_mget", rc_mget);
    EXPECT_CALL_RC("vmux_hgetall", rc_hgetall);
    EXPECT_CALL_RC("vmux_xread", rc_xread);
    if (rc_mget == 0) {
        assert_int_equal(values.count, 3);
        assert_true(bytes_equal(values.items[0], "va"));
        assert_true(bytes_equal(values.items[1], "vb"));
        assert_null(values.items[2].ptr);
    } else {
        assert_true(values.count == 0 && values.items == NULL);
    }
    if (rc_hgetall == 0) {
        assert_int_equal(fields.count, 2);
        for (size_t i = 0; i < 2; i++) {
            bool f1 = bytes_equal(fields.items[i].field, "f1");
            assert_true(bytes_equal(fields.items[i].value, f1 ? "v1" : "v2"));
        }
    } else {
        assert_true(fields.count == 0 && fields.items == NULL);
    }
    if (rc_xread == 0) {
        assert_int_equal(batches.count, 1);
        assert_true(bytes_equal(batches.items[0].key, "oom:stream"));
        assert_int_equal(batches.items[0].entries.count, 2);
        assert_true(bytes_equal(batches.items[0].entries.items[1].fields.items[1], "e2"));
    } else {
        assert_true(batches.count == 0 && batches.items == NULL);
    }
    vmux_bytes_array_free(&values);
    vmux_field_array_free(&fields);
    vmux_stream_batch_array_free(&batches);
    return rc_mget != 0 ? rc_mget : rc_hgetall != 0 ? rc_hgetall : rc_xread;
}

/* MULTI INCR GET EXEC through vmux_tx_*: it ran with both replies, or not at all. */
static int scenario_tx(fx *f)
{
    long long before = read_counter(f->m, "oom:{t}counter");
    const char *incr[] = {"INCR", "oom:{t}counter"}, *get[] = {"GET", "oom:{t}value"};
    vmux_tx *tx = NULL;
    vmux_reply *replies = NULL;
    bool committed = false;
    vmux_callopts o = call_opts();
    fa_on();
    int rc = vmux_tx_new(&tx);
    if (rc == 0)
        rc = vmux_tx_add(tx, 2, incr, NULL);
    if (rc == 0)
        rc = vmux_tx_add(tx, 2, get, NULL);
    bool built = rc == 0;
    if (built)
        rc = vmux_tx_exec(f->m, &o, tx, &committed, &replies);
    vmux_tx_free(tx);
    fa_off();
    if (!built) {
        expect_rc("vmux_tx_new/vmux_tx_add", rc, 1, VMUX_ERR_NOMEM);
        check_incr(f->m, "oom:{t}counter", before, VMUX_ERR_NOMEM);
        return rc;
    }
    EXPECT_CALL_RC("vmux_tx_exec", rc);
    if (rc == 0) {
        assert_true(committed);
        assert_int_equal(vmux_reply_len(replies), 2);
        assert_int_equal(vmux_reply_integer(vmux_reply_element(replies, 0)), before + 1);
        assert_string_equal(vmux_reply_str(vmux_reply_element(replies, 1), NULL), "tv");
    } else {
        assert_null(replies);
    }
    vmux_reply_free(replies);
    check_incr(f->m, "oom:{t}counter", before, rc);
    return rc;
}

/* vmux_script_new() + vmux_script_run() after a SCRIPT FLUSH: EVALSHA, NOSCRIPT, then EVAL. */
static int scenario_script(fx *f)
{
    vmux_reply *r = NULL;
    assert_int_equal(call_argv(f->m, &r, "SCRIPT", "FLUSH", NULL, NULL), 0);
    vmux_reply_free(r);
    r = NULL;
    long long before = read_counter(f->m, "oom:counter");
    const vmux_str key = VMUX_STR("oom:counter");
    vmux_script *s = NULL;
    vmux_callopts o = call_opts();
    fa_on();
    int rc = vmux_script_new(VMUX_STR("return redis.call('INCR', KEYS[1])"), &s);
    bool made = rc == 0;
    if (made)
        rc = vmux_script_run(f->m, &o, s, &key, 1, NULL, 0, &r);
    vmux_script_free(s);
    fa_off();
    if (!made)
        expect_rc("vmux_script_new", rc, 1, VMUX_ERR_NOMEM);
    else
        EXPECT_CALL_RC("vmux_script_run", rc);
    if (rc == 0)
        assert_int_equal(vmux_reply_integer(r), before + 1);
    else
        assert_null(r);
    vmux_reply_free(r);
    check_incr(f->m, "oom:counter", before, made ? rc : VMUX_ERR_NOMEM);
    return rc;
}

/* Each run publishes a payload of its own ("hello <n>"): in a cluster, a subscription that
 * moves off a failed link drops a message identical to one that link delivered in its last
 * second as a replay (pubsub.md, "At most once across a move"), and the runs come faster. */
typedef struct got_msgs {
    atomic_int n;
    char payload[32];
} got_msgs;

static void on_message(const vmux_message *msg, void *userdata)
{
    got_msgs *g = userdata;
    if (bytes_equal(msg->payload, g->payload))
        atomic_fetch_add(&g->n, 1);
}

static atomic_int subscriber_lost; /* VMUX_EVENT_SUBSCRIBER_LOST events of the main handle */

static void on_event(const vmux_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == VMUX_EVENT_SUBSCRIBER_LOST)
        atomic_fetch_add(&subscriber_lost, 1);
}

static int lost_before; /* subscriber_lost when the scenario started */

/* The message came, or the subscriber connection that was to bring it broke. */
static bool got_one(void *arg)
{
    return atomic_load(&((got_msgs *)arg)->n) >= 1 || atomic_load(&subscriber_lost) > lost_before;
}

/* vmux_subscribe(), vmux_sub_wait_live(), vmux_publish() (the message arrives, or the handle
 * counts a lost subscriber connection), vmux_unsubscribe(). */
static int scenario_pubsub(fx *f)
{
    static got_msgs g;
    atomic_store(&g.n, 0);
    snprintf(g.payload, sizeof g.payload, "hello %ld", g_nth);
    lost_before = atomic_load(&subscriber_lost);
    vmux_sub *sub = NULL;
    int64_t receivers = -1;
    vmux_callopts o = call_opts();
    /* in a burst the subscription cannot go live until the burst ends */
    int live_ms = g_burst == 1 ? CALL_TIMEOUT_MS + HANG_MARGIN_MS : g_timeout_ms;
    fa_on();
    int rc = vmux_subscribe(f->m, VMUX_SUB_CHANNEL, VMUX_STR("oom:ch"), on_message, &g, &sub);
    int rc_live = rc != 0 ? rc : vmux_sub_wait_live(sub, live_ms);
    int rc_pub = rc_live != 0 ? rc_live
                              : vmux_publish(f->m, &o, VMUX_SUB_CHANNEL, VMUX_STR("oom:ch"),
                                             VMUX_STR(g.payload), &receivers);
    bool got = rc_pub == 0 && receivers == 1 &&
               vt_wait_until(got_one, &g, CALL_TIMEOUT_MS + HANG_MARGIN_MS);
    int rc_unsub = rc != 0 || rc_live != 0 ? 0 : vmux_unsubscribe(f->m, sub);
    fa_off();
    if (rc != 0) {
        expect_rc("vmux_subscribe", rc, 1, VMUX_ERR_NOMEM);
        assert_null(sub);
        return rc;
    }
    if (rc_live != 0) {
        if (g_burst == 1 || rc_live != VMUX_ERR_TIMEOUT)
            fail_msg("%s, allocation %ld failing: vmux_sub_wait_live: %s", g_name, g_nth,
                     vmux_err_name(rc_live));
        /* the burst is over: it goes live by itself */
        assert_int_equal(vmux_sub_wait_live(sub, CALL_TIMEOUT_MS + HANG_MARGIN_MS), 0);
        assert_int_equal(vmux_unsubscribe(f->m, sub), 0);
        return rc_live;
    }
    EXPECT_CALL_RC("vmux_publish", rc_pub);
    expect_rc("vmux_unsubscribe", rc_unsub, 1, VMUX_ERR_NOMEM);
    if (rc_unsub != 0) /* nothing changed: it is still there to unsubscribe */
        assert_int_equal(vmux_unsubscribe(f->m, sub), 0);
    if (rc_pub == 0 && receivers == 1 && !got)
        fail_msg("%s, allocation %ld failing: published to 1 subscriber, the message did not "
                 "come, and no subscriber connection was lost",
                 g_name, g_nth);
    return rc_pub;
}

/* ---- an unsubscribe whose UNSUBSCRIBE could not be written ---- */

/* How long the server may go on sending an ended subscription's channel: the UNSUBSCRIBE that
 * could not be written is written again a second later. */
#define UNSUB_DEADLINE_MS CALL_TIMEOUT_MS

/* The unsubscribe scenarios' channels (this process's own, as the TLS run may share the
 * server): the one ended, and the keeper's, which holds the subscriber connection (in a cluster
 * a node's link with nothing on it closes, and the server forgets its subscriptions with it). */
static char unsub_channel[64], keep_channel[64];

/* Messages to the subscription ended, to the one made again on its channel, to the keeper. */
static atomic_int msgs_ended, msgs_again, msgs_keep;

/* The main handle's log: UNSUBSCRIBEs owed for want of memory, and how many were settled. */
static atomic_int unsub_owed, unsub_settled;

static void on_log(vmux_log_level level, const char *message, void *userdata)
{
    (void)level;
    (void)userdata;
    if (strstr(message, "out of memory writing") != NULL)
        atomic_fetch_add(&unsub_owed, 1);
    if (strstr(message, "owed since memory ran out") != NULL)
        atomic_fetch_add(&unsub_settled, 1);
}

static void count_message(const vmux_message *msg, void *userdata)
{
    (void)msg;
    atomic_fetch_add((atomic_int *)userdata, 1);
}

/* vmux_subscribe() of channel with allocation working, once the server has confirmed it. */
static vmux_sub *subscribe_live(vmux *m, const char *channel, atomic_int *count)
{
    vmux_sub *sub = NULL;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(channel), count_message, count, &sub), 0);
    assert_int_equal(vmux_sub_wait_live(sub, CALL_TIMEOUT_MS), 0);
    return sub;
}

/*
 * PUBLISH to channel with allocation working: the receivers the server counts (in a cluster,
 * on the node of the handle's channel subscriptions, where vmux_publish() goes). Each payload
 * is new: in a cluster a failed allocation may end the subscriber connection (the reader's, for
 * the next reply it reads), its subscriptions then move to another node, and there the replay
 * guard drops a message identical to one the old node delivered in its last second
 * (docs/pubsub.md, "At most once across a move"). The same "late" each time was the keeper's
 * message that "did not come" when the caller was slow to close the window (under load).
 */
static int64_t receivers_of(vmux *m, const char *channel)
{
    static atomic_long published;
    char payload[32];
    snprintf(payload, sizeof payload, "late %ld", atomic_fetch_add(&published, 1));
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.timeout_ms = CALL_TIMEOUT_MS;
    o.flags = VMUX_CALL_RETRY_SAFE;
    int64_t n = -1;
    int rc = vmux_publish(m, &o, VMUX_SUB_CHANNEL, VMUX_STR(channel), VMUX_STR(payload), &n);
    if (rc != 0)
        fail_msg("%s, after allocation %ld failed: PUBLISH %s: %s", g_name, g_nth, channel,
                 vmux_err_name(rc));
    return n;
}

static bool unsub_channel_quiet(void *arg)
{
    return receivers_of(arg, unsub_channel) == 0;
}

static bool counted(void *arg)
{
    return atomic_load(&msgs_keep) > *(int *)arg;
}

/* With allocation working: a message to the keeper arrives, so the handle has read (and dealt
 * with) every message the server sent its subscriber connection before. */
static void drain_subscriber(vmux *m, vmux_sub *keep)
{
    assert_int_equal(vmux_sub_wait_live(keep, CALL_TIMEOUT_MS), 0);
    int before = atomic_load(&msgs_keep);
    assert_int_equal(receivers_of(m, keep_channel), 1);
    if (!vt_wait_until(counted, &before, CALL_TIMEOUT_MS))
        fail_msg("%s, after allocation %ld failed: the keeper's message did not come", g_name,
                 g_nth);
}

/*
 * vmux_unsubscribe() of a channel's subscription (the keeper holds the subscriber connection):
 * once memory is back, the server stops sending the channel to the handle within
 * UNSUB_DEADLINE_MS, even when the UNSUBSCRIBE could not be written (it is written again a
 * second later), and the messages that come meanwhile reach no callback.
 */
static int scenario_unsubscribe(fx *f)
{
    atomic_store(&msgs_ended, 0);
    vmux_sub *keep = subscribe_live(f->m, keep_channel, &msgs_keep);
    vmux_sub *sub = subscribe_live(f->m, unsub_channel, &msgs_ended);
    fa_on();
    int rc = vmux_unsubscribe(f->m, sub);
    fa_off();
    expect_rc("vmux_unsubscribe", rc, 1, VMUX_ERR_NOMEM);
    if (rc != 0) /* nothing changed: it is still there to unsubscribe */
        assert_int_equal(vmux_unsubscribe(f->m, sub), 0);
    if (!vt_poll_until(unsub_channel_quiet, f->m, UNSUB_DEADLINE_MS, 20))
        fail_msg("%s, allocation %ld failing: %d ms after vmux_unsubscribe(), the server still "
                 "sends %s to the handle",
                 g_name, g_nth, UNSUB_DEADLINE_MS, unsub_channel);
    drain_subscriber(f->m, keep);
    if (atomic_load(&msgs_ended) != 0)
        fail_msg("%s, allocation %ld failing: %d messages reached an ended subscription", g_name,
                 g_nth, atomic_load(&msgs_ended));
    assert_int_equal(vmux_unsubscribe(f->m, keep), 0);
    return rc;
}

static bool settled_all(void *arg)
{
    return atomic_load(&unsub_settled) >= *(int *)arg;
}

/*
 * As scenario_unsubscribe, but the channel is subscribed again at once: an UNSUBSCRIBE owed
 * for the first subscription must not end the second when the reconciler comes to it. Once the
 * log says it was settled, the server still counts the handle, and the new callback (not the
 * old one) gets the message.
 */
static int scenario_resubscribe(fx *f)
{
    atomic_store(&msgs_ended, 0);
    atomic_store(&msgs_again, 0);
    vmux_sub *keep = subscribe_live(f->m, keep_channel, &msgs_keep);
    vmux_sub *sub = subscribe_live(f->m, unsub_channel, &msgs_ended);
    int owed = atomic_load(&unsub_owed), settled = atomic_load(&unsub_settled);
    fa_on();
    int rc = vmux_unsubscribe(f->m, sub);
    fa_off();
    expect_rc("vmux_unsubscribe", rc, 1, VMUX_ERR_NOMEM);
    if (rc != 0)
        assert_int_equal(vmux_unsubscribe(f->m, sub), 0);
    vmux_sub *again = subscribe_live(f->m, unsub_channel, &msgs_again);
    /* the owed UNSUBSCRIBE, noted before vmux_unsubscribe() returned, is settled a second later */
    int until = settled + (atomic_load(&unsub_owed) - owed);
    if (!vt_wait_until(settled_all, &until, UNSUB_DEADLINE_MS))
        fail_msg("%s, allocation %ld failing: an owed UNSUBSCRIBE was not settled in %d ms", g_name,
                 g_nth, UNSUB_DEADLINE_MS);
    if (receivers_of(f->m, unsub_channel) != 1)
        fail_msg("%s, allocation %ld failing: the channel subscribed again was unsubscribed",
                 g_name, g_nth);
    drain_subscriber(f->m, keep);
    assert_true(atomic_load(&msgs_again) >= 1);
    assert_int_equal(atomic_load(&msgs_ended), 0);
    assert_int_equal(vmux_unsubscribe(f->m, again), 0);
    assert_int_equal(vmux_unsubscribe(f->m, keep), 0);
    return rc;
}

/* Two vmux_near_get()s of one key (a miss, then a hit) on the nearCache handle. */
static int scenario_near(fx *f)
{
    const vmux_str key = VMUX_STR("oom:near");
    assert_int_equal(vmux_near_forget(f->near, key), 0);
    vmux_bytes v1 = {0}, v2 = {0};
    vmux_callopts o = call_opts();
    fa_on();
    int rc1 = vmux_near_get(f->near, &o, key, &v1);
    int rc2 = vmux_near_get(f->near, &o, key, &v2);
    fa_off();
    EXPECT_CALL_RC("vmux_near_get (miss)", rc1);
    EXPECT_CALL_RC("vmux_near_get (hit)", rc2);
    if (rc1 == 0)
        assert_true(bytes_equal(v1, "nv"));
    else
        assert_null(v1.ptr);
    if (rc2 == 0)
        assert_true(bytes_equal(v2, "nv"));
    else
        assert_null(v2.ptr);
    vmux_bytes_free(&v1);
    vmux_bytes_free(&v2);
    check_alive(f->near);
    return rc1 != 0 ? rc1 : rc2;
}

/* An MGET of keys in six slots: on a cluster, split into one MGET per slot and put together. */
static int scenario_mget_split(fx *f)
{
    vmux_str keys[6];
    const char *names[] = {"oom:s0", "oom:s1", "oom:s2", "oom:s3", "oom:s4", "oom:s5"};
    for (int i = 0; i < 6; i++)
        keys[i] = VMUX_STR(names[i]);
    vmux_bytes_array values = {0};
    vmux_callopts o = call_opts();
    fa_on();
    int rc = vmux_mget(f->m, &o, keys, 6, &values);
    fa_off();
    EXPECT_CALL_RC("vmux_mget", rc);
    if (rc == 0) {
        assert_int_equal(values.count, 6);
        for (int i = 0; i < 6; i++)
            assert_true(bytes_equal(values.items[i], names[i]));
    } else {
        assert_true(values.count == 0 && values.items == NULL);
    }
    vmux_bytes_array_free(&values);
    return rc;
}

/* After the server cut the handle's connection (CLIENT KILL ID): a retry-safe GET, which waits
 * for the reconnect, its session setup and the backlog's drain. */
static int scenario_reconnect(fx *f)
{
    vmux_reply *r = NULL;
    assert_int_equal(call_argv(f->m, &r, "CLIENT", "ID", NULL, NULL), 0);
    long long id = vmux_reply_integer(r);
    vmux_reply_free(r);
    r = NULL;
    free(vt_admin("plain", "CLIENT KILL ID %lld", id));
    const char *argv[] = {"GET", "oom:{a}"};
    vmux_callopts o = call_opts();
    o.flags = VMUX_CALL_RETRY_SAFE;
    fa_on();
    int rc = vmux_call(f->m, &o, 2, argv, NULL, &r);
    fa_off();
    EXPECT_CALL_RC("GET after the connection was cut", rc);
    if (rc == 0)
        assert_string_equal(vmux_reply_str(r, NULL), "va");
    else
        assert_null(r);
    vmux_reply_free(r);
    return rc;
}

typedef struct set_wait {
    struct vt_async a[16];
    int rc[16];
} set_wait;

static bool all_done(void *arg)
{
    set_wait *w = arg;
    for (int i = 0; i < 16; i++)
        if (w->rc[i] == 0 && !atomic_load(&w->a[i].done))
            return false;
    return true;
}

/* Volume: 16 async SETs of 4 KiB in flight at once, a GET of 256 KiB (the reader's buffer
 * grows), and an HSCAN of a hash of 200 fields to its end. */
static int scenario_bulk(fx *f)
{
    static set_wait w;
    static char value[4096];
    memset(value, 'x', sizeof value);
    const char *argv[] = {"SET", "oom:bulk", value};
    const size_t lens[] = {3, 8, sizeof value};
    vmux_callopts o = call_opts();
    vmux_reply *big = NULL;
    vmux_scan *it = NULL;
    size_t fields = 0;
    fa_on();
    for (int i = 0; i < 16; i++) {
        atomic_store(&w.a[i].done, false);
        w.a[i].reply = NULL;
        w.rc[i] = vmux_call_async(f->m, &o, 3, argv, lens, vt_on_async, &w.a[i]);
    }
    int rc_big = call_argv(f->m, &big, "GET", "oom:big", NULL, NULL);
    int rc_scan = vmux_hscan_begin(f->m, VMUX_STR("oom:bighash"), NULL, &it);
    while (rc_scan == 0) {
        vmux_bytes_array batch = {0};
        rc_scan = vmux_scan_next(it, &o, &batch);
        fields += batch.count / 2;
        vmux_bytes_array_free(&batch);
        if (rc_scan != 1)
            break;
        rc_scan = 0;
    }
    vmux_scan_end(it);
    bool done = vt_wait_until(all_done, &w, CALL_TIMEOUT_MS + HANG_MARGIN_MS);
    fa_off();
    if (!done)
        fail_msg("%s, allocation %ld failing: an async SET's callback did not run", g_name, g_nth);
    int rc = 0;
    for (int i = 0; i < 16; i++) {
        expect_rc("vmux_call_async", w.rc[i], 1, VMUX_ERR_NOMEM);
        if (w.rc[i] != 0) {
            rc = w.rc[i];
            continue;
        }
        EXPECT_CALL_RC("an async SET's callback", w.a[i].status);
        if (w.a[i].status == 0)
            assert_string_equal(vmux_reply_str(w.a[i].reply, NULL), "OK");
        rc = rc != 0 ? rc : w.a[i].status;
        vmux_reply_free(w.a[i].reply);
    }
    EXPECT_CALL_RC("GET of 256 KiB", rc_big);
    if (rc_big == 0)
        assert_int_equal(vmux_reply_len(big), 256 * 1024);
    vmux_reply_free(big);
    EXPECT_CALL_RC("vmux_hscan_begin/vmux_scan_next", rc_scan);
    if (rc_scan == 0) /* HSCAN may give a field twice, never fewer than all */
        assert_true(fields >= 200);
    return rc != 0 ? rc : rc_big != 0 ? rc_big : rc_scan;
}

/* BLPOP through the blocking pool (its own connections), of a list holding one element. */
static int scenario_blocking(fx *f)
{
    admin_ok_quiet(f->m, "RPUSH", "oom:list", "elem");
    const char *argv[] = {"BLPOP", "oom:list", "1"};
    vmux_callopts o = call_opts();
    o.flags = VMUX_CALL_BLOCKING;
    vmux_reply *r = NULL;
    fa_on();
    int rc = vmux_call(f->m, &o, 3, argv, NULL, &r);
    fa_off();
    EXPECT_CALL_RC("BLPOP", rc);
    if (rc == 0) {
        assert_int_equal(vmux_reply_len(r), 2);
        assert_string_equal(vmux_reply_str(vmux_reply_element(r, 1), NULL), "elem");
    }
    vmux_reply_free(r);
    admin_ok_quiet(f->m, "DEL", "oom:list", NULL);
    return rc;
}

#define LOADER_NOMEM (-1001)

static int load_value(vmux_str key, vmux_bytes *value, void *userdata)
{
    (void)key;
    (void)userdata;
    value->ptr = strdup("loaded");
    value->len = 6;
    return value->ptr != NULL ? 0 : LOADER_NOMEM;
}

/* Cache-aside (strict): vmux_cache_new(), a get that loads and stores, a get that hits. */
static int scenario_cache(fx *f)
{
    const vmux_str key = VMUX_STR("oom:cached");
    vmux_cache_opts co = VMUX_INIT(vmux_cache_opts);
    co.timeout_ms = g_timeout_ms;
    co.strict = true;
    vmux_cache *c = NULL;
    vmux_bytes v1 = {0}, v2 = {0};
    admin_ok_quiet(f->m, "DEL", "vmux:cache:oom:cached", NULL);
    fa_on();
    int rc = vmux_cache_new(f->m, &co, &c);
    int rc1 = rc != 0 ? rc : vmux_cache_get(c, key, load_value, NULL, 0, &v1);
    int rc2 = rc != 0 ? rc : vmux_cache_get(c, key, load_value, NULL, 0, &v2);
    vmux_cache_free(c);
    fa_off();
    if (rc != 0) {
        expect_rc("vmux_cache_new", rc, 1, VMUX_ERR_NOMEM);
        return rc;
    }
    if (rc1 != LOADER_NOMEM)
        EXPECT_CALL_RC("vmux_cache_get (a load)", rc1);
    if (rc2 != LOADER_NOMEM)
        EXPECT_CALL_RC("vmux_cache_get (a hit)", rc2);
    assert_true(rc1 == 0 ? bytes_equal(v1, "loaded") : v1.ptr == NULL);
    assert_true(rc2 == 0 ? bytes_equal(v2, "loaded") : v2.ptr == NULL);
    vmux_bytes_free(&v1);
    vmux_bytes_free(&v2);
    return rc1 != 0 ? rc1 : rc2;
}

static long long key_exists(vmux *m, const char *key)
{
    vmux_reply *r = NULL;
    int rc = idempotent_call(m, &r, "EXISTS", key, NULL);
    if (rc != 0)
        fail_msg("%s, after allocation %ld: EXISTS %s: %s", g_name, g_nth, key, vmux_err_name(rc));
    long long n = vmux_reply_integer(r);
    vmux_reply_free(r);
    return n;
}

/* A lock: vmux_lock_new(), acquire, release, free. An acquire that returned VMUX_ERR_NOMEM
 * took nothing; a release that returned 0 freed the key. */
static int scenario_lock(fx *f)
{
    vmux_lock_opts lo = VMUX_INIT(vmux_lock_opts);
    lo.timeout_ms = g_timeout_ms;
    lo.resolve_timeout_ms = g_timeout_ms; /* a burst keeps a lost reply unresolved to the end */
    vmux_lock *lock = NULL;
    bool acquired = false, was_held = false;
    int rc_release = 0;
    admin_ok_quiet(f->m, "DEL", "oom:lock", NULL); /* a failed run's leftover */
    fa_on();
    int rc = vmux_lock_new(f->m, VMUX_STR("oom:lock"), &lo, &lock);
    int rc_acquire = rc != 0 ? rc : vmux_lock_acquire(lock, &acquired, NULL);
    if (rc_acquire == 0 && acquired)
        rc_release = vmux_lock_release(lock, &was_held);
    vmux_lock_free(lock);
    fa_off();
    if (rc != 0) {
        expect_rc("vmux_lock_new", rc, 1, VMUX_ERR_NOMEM);
        return rc;
    }
    EXPECT_CALL_RC("vmux_lock_acquire", rc_acquire);
    EXPECT_CALL_RC("vmux_lock_release", rc_release);
    if (rc_acquire == 0)
        assert_true(acquired); /* nobody else takes oom:lock */
    else
        assert_false(acquired);
    long long held = key_exists(f->m, "oom:lock");
    if (rc_acquire == VMUX_ERR_NOMEM && held != 0)
        fail_msg("%s, allocation %ld failing: vmux_lock_acquire returned VMUX_ERR_NOMEM but took "
                 "the lock",
                 g_name, g_nth);
    if (rc_acquire == 0 && rc_release == 0) {
        assert_true(was_held);
        assert_int_equal(held, 0);
    }
    admin_ok_quiet(f->m, "DEL", "oom:lock", NULL); /* what an unknown outcome may have left */
    return rc_acquire != 0 ? rc_acquire : rc_release;
}

/* vmux_call_nodes(): DBSIZE on every primary (on a cluster each node's own, one per shard). */
static int scenario_fanout(fx *f)
{
    const char *argv[] = {"DBSIZE"};
    vmux_callopts o = call_opts();
    vmux_node_replies out = {0};
    fa_on();
    int rc = vmux_call_nodes(f->m, &o, VMUX_NODES_PRIMARIES, 1, argv, NULL, &out);
    fa_off();
    expect_rc("vmux_call_nodes", rc, 1, VMUX_ERR_NOMEM);
    if (rc != 0) {
        assert_true(out.count == 0 && out.nodes == NULL);
        return rc;
    }
    int first = 0;
    assert_true(out.count >= 1);
    for (size_t i = 0; i < out.count; i++) {
        EXPECT_CALL_RC("a node's DBSIZE", out.nodes[i].status);
        assert_non_null(out.nodes[i].address);
        if (out.nodes[i].status == 0)
            assert_true(vmux_reply_integer(out.nodes[i].reply) >= 0);
        first = first != 0 ? first : out.nodes[i].status;
    }
    vmux_node_replies_free(&out);
    return first;
}

typedef struct near_wait {
    vmux *m;
    char want[32];
} near_wait;

/* Whether the near cache serves the value written last. */
static bool near_fresh(void *arg)
{
    near_wait *w = arg;
    vmux_bytes v = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.timeout_ms = g_timeout_ms;
    int rc = vmux_near_get(w->m, &o, VMUX_STR("oom:nearinv"), &v);
    bool fresh = rc == 0 && bytes_equal(v, w->want);
    vmux_bytes_free(&v);
    return fresh;
}

/* The near cache holds a value; another client writes the key: the invalidation (read and
 * applied on the I/O threads, whose allocations fail here) must make the cache serve the new
 * value soon, never the old one for ever. */
static int scenario_near_invalidate(fx *f)
{
    static near_wait w;
    w.m = f->near;
    snprintf(w.want, sizeof w.want, "old%ld", g_nth);
    set_key_quiet(f->m, "oom:nearinv", w.want);
    if (!vt_wait_until(near_fresh, &w, CALL_TIMEOUT_MS)) /* cached: the first read fills */
        fail_msg("%s: the near cache does not serve %s", g_name, w.want);
    snprintf(w.want, sizeof w.want, "new%ld", g_nth);
    fa_on();
    char *ok = vt_admin("plain", "SET oom:nearinv %s", w.want);
    /* in a burst the handle may not reach the server until the burst ends */
    bool fresh =
        vt_wait_until(near_fresh, &w, g_burst == 1 ? CALL_TIMEOUT_MS + HANG_MARGIN_MS : 200);
    fa_off();
    if (!fresh && g_burst != 1)
        fresh = vt_wait_until(near_fresh, &w, CALL_TIMEOUT_MS + HANG_MARGIN_MS);
    assert_non_null(ok);
    assert_string_equal(ok, "OK");
    free(ok);
    if (!fresh) {
        vmux_near_stats st = VMUX_INIT(vmux_near_stats);
        vmux_near_read_stats(f->near, &st);
        fail_msg("%s, allocation %ld failing: the near cache still serves the old value (hits "
                 "%llu, misses %llu, untracked %llu, fills %llu, invalidations %llu, "
                 "flushes_lost %llu, flushes_reconnect %llu, entries %llu)",
                 g_name, g_nth, (unsigned long long)st.hits, (unsigned long long)st.misses,
                 (unsigned long long)st.untracked, (unsigned long long)st.fills,
                 (unsigned long long)st.invalidations, (unsigned long long)st.flushes_lost,
                 (unsigned long long)st.flushes_reconnect, (unsigned long long)st.entries);
    }
    return 0;
}

static atomic_int callbacks; /* of scenario_close_pending's ops: how many times they ran */

static void count_callback(int status, vmux_reply *reply, void *userdata)
{
    int *st = userdata;
    *st = status;
    vmux_reply_free(reply);
    atomic_fetch_add(&callbacks, 1);
}

/* A new handle closed with 8 async GETs in flight: each accepted one's callback runs exactly
 * once (by the time vmux_close() returns), with its reply or a documented error. */
static int scenario_close_pending(fx *f)
{
    static int status[8];
    char err[256] = "";
    vmux_config *cfg = vt_config(f->conf);
    vmux *m = NULL;
    int rc_call[8] = {0};
    atomic_store(&callbacks, 0);
    fa_on();
    int rc = vmux_open(cfg, &m, err, sizeof err);
    int accepted = 0;
    for (int i = 0; i < 8 && rc == 0; i++) {
        const char *argv[] = {"GET", "oom:{a}"};
        status[i] = 1;
        rc_call[i] = vmux_call_async(m, NULL, 2, argv, NULL, count_callback, &status[i]);
        accepted += rc_call[i] == 0;
    }
    if (rc == 0)
        vmux_close(m);
    fa_off();
    vmux_config_free(cfg);
    if (rc != 0) {
        expect_rc("vmux_open", rc, 1, VMUX_ERR_NOMEM);
        return rc;
    }
    assert_int_equal(atomic_load(&callbacks), accepted);
    int first = 0;
    for (int i = 0; i < 8; i++) {
        expect_rc("vmux_call_async", rc_call[i], 1, VMUX_ERR_NOMEM);
        if (rc_call[i] != 0) {
            assert_int_equal(status[i], 1); /* its callback never ran */
            first = first != 0 ? first : rc_call[i];
            continue;
        }
        expect_rc("a GET's callback", status[i], 3, VMUX_ERR_NOMEM, VMUX_ERR_CONNECTION_LOST,
                  VMUX_ERR_CLOSED);
        if (status[i] != VMUX_ERR_CLOSED) /* closing ends what is in flight: not a failure */
            first = first != 0 ? first : status[i];
    }
    return first;
}

typedef struct batch_wait {
    atomic_bool done;
    size_t n;
    int statuses[3];
    bool replies_ok[3];
} batch_wait;

/* Whether an async batch's failed command has its words as its reply (batch.h): an error reply,
 * for the codes of a command unsent or lost, NULL when memory ran out for it. */
static bool worded(int status, const vmux_reply *reply)
{
    bool unsent_or_lost = status == VMUX_ERR_TIMEOUT || status == VMUX_ERR_CONNECTION_LOST ||
                          status == VMUX_ERR_NOT_CONNECTED || status == VMUX_ERR_BACKLOG_FULL ||
                          status == VMUX_ERR_PROTOCOL;
    return unsent_or_lost && vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR;
}

static void on_batch(size_t n, const int *statuses, vmux_reply **replies, void *userdata)
{
    batch_wait *w = userdata;
    w->n = n;
    for (size_t i = 0; i < n && i < 3; i++) {
        w->statuses[i] = statuses[i];
        w->replies_ok[i] =
            statuses[i] == 0
                ? replies[i] != NULL && strcmp(vmux_reply_str(replies[i], NULL), "va") == 0
                : replies[i] == NULL || worded(statuses[i], replies[i]);
    }
    for (size_t i = 0; i < n; i++)
        vmux_reply_free(replies[i]);
    atomic_store(&w->done, true);
}

static bool batch_done(void *arg)
{
    return atomic_load(&((batch_wait *)arg)->done);
}

/* A batch (SET, GET, INCR) run synchronously, then a batch of three GETs run asynchronously:
 * each command's outcome its own, an INCR that got VMUX_ERR_NOMEM not run. */
static int scenario_batch(fx *f)
{
    char value[32];
    snprintf(value, sizeof value, "b%ld", g_nth);
    long long before = read_counter(f->m, "oom:counter");
    static batch_wait w;
    atomic_store(&w.done, false);
    const char *set[] = {"SET", "oom:batch", value}, *get[] = {"GET", "oom:batch"};
    const char *incr[] = {"INCR", "oom:counter"}, *geta[] = {"GET", "oom:{a}"};
    int statuses[3] = {1, 1, 1};
    vmux_reply *replies[3] = {NULL, NULL, NULL};
    vmux_batch *b = NULL, *ab = NULL;
    vmux_callopts o = call_opts();
    fa_on();
    int rc = vmux_batch_new(&b);
    rc = rc != 0 ? rc : vmux_batch_add(b, 3, set, NULL);
    rc = rc != 0 ? rc : vmux_batch_add(b, 2, get, NULL);
    rc = rc != 0 ? rc : vmux_batch_add(b, 2, incr, NULL);
    bool built = rc == 0;
    if (built)
        rc = vmux_batch_exec(f->m, &o, b, statuses, replies);
    int rc_async = vmux_batch_new(&ab);
    for (int i = 0; i < 3 && rc_async == 0; i++)
        rc_async = vmux_batch_add(ab, 2, geta, NULL);
    bool abuilt = rc_async == 0;
    if (abuilt)
        rc_async = vmux_batch_exec_async(f->m, &o, ab, on_batch, &w);
    vmux_batch_free(ab); /* the run copied it */
    bool done = rc_async != 0 || vt_wait_until(batch_done, &w, CALL_TIMEOUT_MS + HANG_MARGIN_MS);
    vmux_batch_free(b);
    fa_off();
    if (!built) {
        expect_rc("vmux_batch_new/vmux_batch_add", rc, 1, VMUX_ERR_NOMEM);
        check_incr(f->m, "oom:counter", before, VMUX_ERR_NOMEM);
    } else {
        EXPECT_CALL_RC("vmux_batch_exec", rc);
        for (int i = 0; i < 3; i++) {
            EXPECT_CALL_RC("a batch command", statuses[i]);
            if (statuses[i] != 0)
                assert_null(replies[i]);
        }
        if (statuses[0] == 0)
            assert_string_equal(vmux_reply_str(replies[0], NULL), "OK");
        if (statuses[0] == 0 && statuses[1] == 0)
            assert_string_equal(vmux_reply_str(replies[1], NULL), value);
        if (statuses[2] == 0)
            assert_int_equal(vmux_reply_integer(replies[2]), before + 1);
        for (int i = 0; i < 3; i++)
            vmux_reply_free(replies[i]);
        check_incr(f->m, "oom:counter", before, statuses[2]);
    }
    if (!abuilt || rc_async != 0) {
        expect_rc("vmux_batch_*_async", rc_async, 1, VMUX_ERR_NOMEM);
        check_alive(f->m); /* the I/O thread has done what it had to */
        if (atomic_load(&w.done))
            fail_msg("%s, allocation %ld failing: the batch's callback ran after %s", g_name, g_nth,
                     vmux_err_name(rc_async));
    } else {
        if (!done)
            fail_msg("%s, allocation %ld failing: the batch's callback did not run", g_name, g_nth);
        assert_int_equal(w.n, 3);
        for (int i = 0; i < 3; i++) {
            EXPECT_CALL_RC("an async batch command", w.statuses[i]);
            assert_true(w.replies_ok[i]);
        }
    }
    return rc != 0 ? rc : rc_async != 0 ? rc_async : w.statuses[0];
}

static vmux *g_refresher; /* test_refresh's handle: clusterRefreshMinInterval=100 */

static uint64_t refreshes(void)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    return vmux_read_stats(g_refresher, &st) == 0 ? st.cluster_refreshes : 0;
}

static uint64_t g_refreshes_before;

static bool refreshed(void *arg)
{
    (void)arg;
    return refreshes() > g_refreshes_before;
}

/* The server cuts the handle's connection to a primary: the handle asks for a slot map refresh
 * (has it failed over?), which the I/O thread (whose allocations fail here) must send, now or
 * once memory is back, not drop until the periodic check 30 s later. */
static int scenario_refresh(fx *f)
{
    (void)f;
    int port = vt_cluster_port("cluster", 0);
    const char *argv[] = {"CLIENT", "ID"};
    vmux_reply *r = NULL;
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.timeout_ms = CALL_TIMEOUT_MS;
    o.flags = VMUX_CALL_RETRY_SAFE;
    assert_int_equal(vmux_call_node(g_refresher, &o, "127.0.0.1", port, 2, argv, NULL, &r), 0);
    long long id = vmux_reply_integer(r);
    vmux_reply_free(r);
    g_refreshes_before = refreshes();
    fa_on();
    char *killed = vt_node_admin(port, vt_tls_mode(), "CLIENT KILL ID %lld", id);
    /* the refresh goes out clusterRefreshMinInterval (+ jitter) after the last one */
    bool in_window = vt_wait_until(refreshed, NULL, 1000);
    fa_off();
    assert_non_null(killed);
    free(killed);
    if (!in_window && !vt_wait_until(refreshed, NULL, 2000))
        fail_msg("%s, allocation %ld failing: the slot map refresh asked for was never sent",
                 g_name, g_nth);
    return 0;
}

/* ---- tests ---- */

static void set_key(vmux *m, const char *key, const char *value)
{
    assert_int_equal(vt_try_set(m, key, value, CALL_TIMEOUT_MS), 0);
}

static void admin_ok(vmux *m, const char *a0, const char *a1, const char *a2, const char *a3)
{
    vmux_reply *r = NULL;
    int rc = call_argv(m, &r, a0, a1, a2, a3);
    if (rc != 0)
        fail_msg("%s %s: %s", a0, a1, vmux_err_name(rc));
    vmux_reply_free(r);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->conf = vt_server_config("plain", "syncTimeout=4000,reconnectMin=1,reconnectMax=50");
    vmux_config *cfg = vt_config(f->conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_event, NULL), 0);
    assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_INFO, NULL), 0);
    snprintf(unsub_channel, sizeof unsub_channel, "oom:unsub:%d", (int)getpid());
    snprintf(keep_channel, sizeof keep_channel, "oom:keep:%d", (int)getpid());
    f->m = vt_open_config(cfg, f->conf);
    vmux_config_free(cfg);
    char *near_conf = vt_server_config("plain", "nearCache=true,reconnectMin=1,reconnectMax=50");
    f->near = vt_open_conf(near_conf);
    free(near_conf);
    set_key(f->m, "oom:{a}", "va");
    set_key(f->m, "oom:{b}", "vb");
    admin_ok(f->m, "DEL", "oom:{c}", NULL, NULL);
    admin_ok(f->m, "DEL", "oom:hash", NULL, NULL);
    const char *hset[] = {"HSET", "oom:hash", "f1", "v1", "f2", "v2"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(f->m, NULL, 6, hset, NULL, &r), 0);
    vmux_reply_free(r);
    admin_ok(f->m, "DEL", "oom:stream", NULL, NULL);
    const char *xadd1[] = {"XADD", "oom:stream", "1-1", "e", "e1"};
    const char *xadd2[] = {"XADD", "oom:stream", "1-2", "e", "e2"};
    assert_int_equal(vmux_call(f->m, NULL, 5, xadd1, NULL, &r), 0);
    vmux_reply_free(r);
    assert_int_equal(vmux_call(f->m, NULL, 5, xadd2, NULL, &r), 0);
    vmux_reply_free(r);
    set_key(f->m, "oom:{t}value", "tv");
    char *big = malloc(256 * 1024 + 1);
    assert_non_null(big);
    memset(big, 'b', 256 * 1024);
    big[256 * 1024] = '\0';
    set_key(f->m, "oom:big", big);
    free(big);
    admin_ok(f->m, "DEL", "oom:bighash", NULL, NULL);
    for (int i = 0; i < 200; i++) {
        char field[16];
        snprintf(field, sizeof field, "f%d", i);
        admin_ok(f->m, "HSET", "oom:bighash", field, "v");
    }
    set_key(f->m, "oom:near", "nv");
    const char *names[] = {"oom:s0", "oom:s1", "oom:s2", "oom:s3", "oom:s4", "oom:s5"};
    for (int i = 0; i < 6; i++)
        set_key(f->m, names[i], names[i]);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vmux_close(f->near);
    vmux_close(f->m);
    free(f->conf);
    free(f);
    return 0;
}

static void test_open_close(void **state)
{
    sweep(*state, "open_close", scenario_open_close, VT_FA_ANY, 1);
}

static void test_sync_calls(void **state)
{
    sweep(*state, "sync", scenario_sync, VT_FA_ANY, 1);
}

static void test_async_call(void **state)
{
    sweep(*state, "async", scenario_async, VT_FA_ANY, 1);
}

static void test_typed_replies(void **state)
{
    sweep(*state, "typed", scenario_typed, VT_FA_ANY, 1);
}

static void test_transaction(void **state)
{
    sweep(*state, "tx", scenario_tx, VT_FA_ANY, 1);
}

static void test_script(void **state)
{
    sweep(*state, "script", scenario_script, VT_FA_ANY, 1);
}

static void test_pubsub(void **state)
{
    sweep(*state, "pubsub", scenario_pubsub, VT_FA_ANY, 1);
}

static void test_unsubscribe(void **state)
{
    sweep(*state, "unsubscribe", scenario_unsubscribe, VT_FA_ANY, 1);
}

static void test_resubscribe(void **state)
{
    sweep(*state, "resubscribe", scenario_resubscribe, VT_FA_ANY, 1);
}

static void test_near_cache(void **state)
{
    sweep(*state, "near", scenario_near, VT_FA_ANY, 1);
}

static void test_mget_split(void **state)
{
    sweep(*state, "mget_split", scenario_mget_split, VT_FA_ANY, 1);
}

static void test_reconnect(void **state)
{
    VT_SKIP_ON_CLUSTER("kills the connection of one standalone server");
    sweep(*state, "reconnect", scenario_reconnect, VT_FA_ANY, 1);
}

static void test_bulk(void **state)
{
    sweep(*state, "bulk", scenario_bulk, VT_FA_ANY, 1);
}

static void test_blocking(void **state)
{
    sweep(*state, "blocking", scenario_blocking, VT_FA_ANY, 1);
}

static void test_cache(void **state)
{
    sweep(*state, "cache", scenario_cache, VT_FA_ANY, 1);
}

static void test_lock(void **state)
{
    sweep(*state, "lock", scenario_lock, VT_FA_ANY, 1);
}

static void test_fanout(void **state)
{
    sweep(*state, "fanout", scenario_fanout, VT_FA_ANY, 1);
}

static void test_near_invalidation(void **state)
{
    VT_SKIP_ON_CLUSTER("writes through vt_admin to one standalone server");
    /* the I/O threads' allocations only: the test's own writer and reader must work */
    sweep(*state, "near_invalidate", scenario_near_invalidate, VT_FA_OTHERS, 1);
}

static void test_close_pending(void **state)
{
    sweep(*state, "close_pending", scenario_close_pending, VT_FA_ANY, 1);
}

static void test_batch(void **state)
{
    sweep(*state, "batch", scenario_batch, VT_FA_ANY, 1);
}

static void test_refresh(void **state)
{
    if (vt_cluster_mode() == NULL) {
        print_message("[  SKIPPED ] test_refresh: a cluster's slot map (standalone mode)\n");
        skip();
    }
    char *conf = vt_server_config("plain", "clusterRefreshMinInterval=100");
    g_refresher = vt_open_conf(conf);
    free(conf);
    sweep(*state, "refresh", scenario_refresh, VT_FA_OTHERS, 1);
    vmux_close(g_refresher);
}

/* Bursts: every allocation from N on fails until the scenario ends, then the handle must
 * recover (a new one must open). */
static void test_bursts(void **state)
{
    sweep(*state, "open_close_burst", scenario_open_close, VT_FA_ANY, -1);
    sweep(*state, "sync_burst", scenario_sync, VT_FA_ANY, -1);
    sweep(*state, "typed_burst", scenario_typed, VT_FA_ANY, -1);
    sweep(*state, "pubsub_burst", scenario_pubsub, VT_FA_ANY, -1);
    sweep(*state, "unsubscribe_burst", scenario_unsubscribe, VT_FA_ANY, -1);
    sweep(*state, "batch_burst", scenario_batch, VT_FA_ANY, -1);
    /* three in a row: the lost reply of an acquire, then its resolution's first read */
    sweep(*state, "lock_burst3", scenario_lock, VT_FA_ANY, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_close),    cmocka_unit_test(test_sync_calls),
        cmocka_unit_test(test_async_call),    cmocka_unit_test(test_typed_replies),
        cmocka_unit_test(test_transaction),   cmocka_unit_test(test_script),
        cmocka_unit_test(test_pubsub),        cmocka_unit_test(test_unsubscribe),
        cmocka_unit_test(test_resubscribe),   cmocka_unit_test(test_near_cache),
        cmocka_unit_test(test_mget_split),    cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_bulk),          cmocka_unit_test(test_blocking),
        cmocka_unit_test(test_cache),         cmocka_unit_test(test_lock),
        cmocka_unit_test(test_fanout),        cmocka_unit_test(test_near_invalidation),
        cmocka_unit_test(test_close_pending), cmocka_unit_test(test_batch),
        cmocka_unit_test(test_refresh),       cmocka_unit_test(test_bursts),
    };
    if (getenv("VT_ONLY") != NULL) /* to run one test: VT_ONLY=test_pubsub */
        cmocka_set_test_filter(getenv("VT_ONLY"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
