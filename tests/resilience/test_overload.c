/*
 * Overload: what the handle holds stays bounded by configuration (maxPending, maxPendingBytes,
 * backlogSize) whatever callers do, connected or not; refusals cost O(1); every deadline runs
 * from submission wherever the command waits; and the I/O thread keeps running timers, so the
 * handle reconnects as soon as the server is back.
 *
 * - no server at all: a sync call times out on time; 100,000 async GETs fill the backlog; the
 *   next 20,000 are refused at well over 100,000 a second and a sync call comes back at once;
 *   with a small maxPending the refusal happens at the door (no callback); over maxPendingBytes,
 *   before the value is read; commands that time out in the backlog free their place at once;
 * - a 15 s outage of a server with AOF (appendfsync always) while 4
 *   threads submit async INCRs as fast as they are accepted and 4 call INCR synchronously with
 *   the default configuration: RSS stays under a bound, no sync call outlives LIVENESS times
 *   its timeout (a call left waiting for the server's return would: the outage is longer),
 *   every accepted callback runs once, the handle reconnects once the server is back, and each
 *   counter on the server lies between its successful INCRs and those plus the ones whose
 *   outcome is unknown.
 *
 * The time bounds are liveness guards, not speed claims: a deadline that fires, however late a
 * loaded machine makes it, passes them; one that does not fire fails them. A TIMEOUT never comes
 * before its deadline.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "resil.h"
#include "servers.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
enum { SANITIZED = 1 };
#else
enum { SANITIZED = 0 };
#endif

/* LIVENESS x SYNC_TIMEOUT_MS stays below OUTAGE_MS, so the guard can see a deadline that never
 * ran while its command waited for the server. The RSS peak is the backlog filled, which a
 * longer outage only holds longer (plain build: 106 MB over the start after 15 s, 117 MB after
 * 30 s, against a bound of 256 MB; memory lost for good is the ASan build's leak check's). */
enum { NASYNC = 4, NSYNC = 4, SYNC_TIMEOUT_MS = 5000, RECONNECT_MAX_MS = 5000, LIVENESS = 2 };
enum { OUTAGE_MS = 15000 };

/* A port where nothing listens: a server's, stopped. */
static int closed_port(void)
{
    vt_server s;
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    int port = s.port;
    vt_server_stop(&s);
    return port;
}

/* Resident set size of this process, in bytes. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- no server ---- */

struct counted {
    rt_ledger ledger;
    atomic_ulong calls;
};

static void on_counted(int status, vmux_reply *reply, void *userdata)
{
    struct counted *c = userdata;
    rt_ledger_add(&c->ledger, status);
    vmux_reply_free(reply);
    atomic_fetch_add(&c->calls, 1);
}

static int get_async(vmux *m, struct counted *c)
{
    return vmux_call_async(m, NULL, 2, (const char *[]){"GET", "k"}, NULL, on_counted, c);
}

/*
 * A sync GET (syncTimeout 1 s) that must come back with want: a TIMEOUT never before its
 * deadline, and nothing after 10 times it (a liveness guard: the deadline did not run). Its
 * error words go to err (len bytes).
 */
static void sync_get_on_time(vmux *m, int want, char *err, size_t len)
{
    vmux_reply *r = NULL;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = len);
    uint64_t t0 = vt_now_ms();
    int rc = vmux_call(m, &o, 2, (const char *[]){"GET", "k"}, NULL, &r);
    uint64_t took = vt_now_ms() - t0;
    printf("sync GET: %s after %llu ms: %s\n", vmux_err_name(rc), (unsigned long long)took, err);
    assert_int_equal(rc, want);
    assert_in_range(took, want == VMUX_ERR_TIMEOUT ? 1000 : 0, 10 * 1000);
    vmux_reply_free(r);
}

static void test_no_server_backlog_full(void **state)
{
    (void)state;
    char conf[160];
    int port = closed_port();
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,abortConnect=false,asyncTimeout=60000,syncTimeout=1000", port);
    vmux *m = rt_open(conf);
    static struct counted c;
    char err[640];
    sync_get_on_time(m, VMUX_ERR_TIMEOUT, err, sizeof err);

    for (int i = 0; i < 100000; i++)
        assert_int_equal(get_async(m, &c), 0);
    assert_true(rt_wait_stat(m, RT_STAT(backlog), 100000, 10000));

    uint64_t t0 = vt_now_ns();
    unsigned long door = 0;
    for (int i = 0; i < 20000; i++) {
        int rc = get_async(m, &c);
        if (rc == VMUX_ERR_BACKLOG_FULL)
            door++;
        else
            assert_int_equal(rc, 0);
    }
    while (rt_ledger_get(&c.ledger, VMUX_ERR_BACKLOG_FULL) + door < 20000 &&
           vt_now_ns() - t0 < 10000000000ull)
        sched_yield();
    double secs = (double)(vt_now_ns() - t0) / 1e9;
    double rate = 20000 / secs;
    printf("20,000 refusals (%lu at the door) in %.1f ms: %.0f per second\n", door, secs * 1e3,
           rate);
    assert_int_equal(rt_ledger_get(&c.ledger, VMUX_ERR_BACKLOG_FULL) + door, 20000);
    assert_true(rate >= (SANITIZED ? 10000 : 100000));
    sync_get_on_time(m, VMUX_ERR_BACKLOG_FULL, err, sizeof err);
    char words[160];
    snprintf(words, sizeof words,
             "too many commands pending; never sent: the backlog holds backlogSize (100000) "
             "commands waiting for a connection; last connection failure: 127.0.0.1:%d: ",
             port);
    if (strncmp(err, words, strlen(words)) != 0)
        fail_msg("'%s' does not start with '%s'", err, words);

    vmux_close(m);
    assert_int_equal(atomic_load(&c.calls), 120000 - door);
    assert_int_equal(rt_ledger_get(&c.ledger, VMUX_ERR_CLOSED), 100000);
}

static void test_refused_at_the_door(void **state)
{
    (void)state;
    char conf[160];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false,maxPending=1000", closed_port());
    vmux *m = rt_open(conf);
    static struct counted c;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(get_async(m, &c), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(get_async(m, &c), VMUX_ERR_BACKLOG_FULL);
    vmux_reply *r = NULL;
    char err[200] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    assert_int_equal(vmux_call(m, &o, 2, (const char *[]){"GET", "k"}, NULL, &r),
                     VMUX_ERR_BACKLOG_FULL);
    assert_string_equal(err, "too many commands pending; never sent: the handle holds maxPending "
                             "(1000) commands already, each until it completes (one written "
                             "and timed out: until its late reply or the connection ends)");
    vmux_stats st = rt_stats(m);
    assert_int_equal(st.pending, 1000);
    assert_int_equal(st.refused, 501);
    assert_int_equal(st.submitted, 1000);
    vmux_close(m);
    assert_int_equal(atomic_load(&c.calls), 1000); /* a refused call's callback never runs */
}

/*
 * A refusal at the door costs no copy of the value: a call over maxPendingBytes is refused
 * before its arguments are encoded. The refused value is memory that cannot be read (PROT_NONE):
 * encoding it first would crash the test.
 */
static void test_large_refused_before_encoding(void **state)
{
    (void)state;
    enum { BIG = 2 << 20 };
    char conf[160];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false,maxPendingBytes=1048576",
             closed_port());
    vmux *m = rt_open(conf);
    static struct counted c;
    char *held = malloc(BIG);
    assert_non_null(held);
    memset(held, 'v', BIG);
    const char *set[] = {"SET", "k", held};
    size_t lens[] = {3, 1, BIG};
    /* Larger than the bound, accepted while nothing else is pending; it waits in the backlog. */
    assert_int_equal(vmux_call_async(m, NULL, 3, set, lens, on_counted, &c), 0);
    free(held);

    void *unreadable = mmap(NULL, BIG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(unreadable != MAP_FAILED);
    set[2] = unreadable;
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call_async(m, NULL, 3, set, lens, on_counted, &c), VMUX_ERR_BACKLOG_FULL);
    assert_int_equal(vmux_call_forget(m, NULL, 3, set, lens), VMUX_ERR_BACKLOG_FULL);
    char err[200] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    assert_int_equal(vmux_call(m, &o, 3, set, lens, &r), VMUX_ERR_BACKLOG_FULL);
    assert_null(r);
    /* this command's own size against the bound, not the little the handle holds */
    if (strstr(err, "bytes of commands are more than maxPendingBytes (1048576): one command "
                    "that large is taken only while nothing else is pending") == NULL)
        fail_msg("the refusal does not say the command is too large: '%s'", err);
    vmux_stats st = rt_stats(m);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.refused, 3);
    assert_int_equal(st.submitted, 1);
    munmap(unreadable, BIG);
    vmux_close(m);
    assert_int_equal(atomic_load(&c.calls), 1); /* the first, closed; the refused never ran */
}

static bool nothing_pending(void *arg)
{
    vmux_stats st = rt_stats(arg);
    return st.pending == 0 && st.pending_bytes == 0 && st.backlog == 0;
}

static void test_expired_leave_the_backlog(void **state)
{
    (void)state;
    char conf[160];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false,asyncTimeout=300,maxPending=5000",
             closed_port());
    vmux *m = rt_open(conf);
    static struct counted c;
    for (int round = 0; round < 3; round++) {
        /* Each round fills maxPending: it only fits if the last round's commands left. */
        for (int i = 0; i < 5000; i++)
            assert_int_equal(get_async(m, &c), 0);
        assert_true(rt_wait_count(&c.calls, 5000ul * (unsigned long)(round + 1), 5000));
        /* the backlog gauge follows within a tick (1 s) while the link is down; a liveness
         * guard, not a bound */
        assert_true(vt_wait_until(nothing_pending, m, 15000));
    }
    assert_int_equal(rt_ledger_get(&c.ledger, VMUX_ERR_TIMEOUT), 15000);
    vmux_close(m);
    assert_int_equal(atomic_load(&c.calls), 15000);
}

/* ---- a 15 s outage under load ---- */

struct tally {
    atomic_ulong ok, unknown, not_run;
    char key[64];
};

struct run {
    vmux *m;
    atomic_bool stop;
    atomic_ulong accepted, completions, door, late;
    atomic_ullong worst_ms;
    rt_ledger ledger;
    struct tally t[NASYNC + NSYNC];
};

struct worker {
    struct run *run;
    struct tally *t;
    pthread_t thread;
};

static void tally_outcome(struct run *r, struct tally *t, int status, const vmux_reply *reply)
{
    rt_ledger_add(&r->ledger, status);
    if (status == 0 && vmux_reply_get_kind(reply) != VMUX_REPLY_INTEGER)
        rt_ledger_bad(&r->ledger, "INCR replied with a %s",
                      vmux_reply_kind_name(vmux_reply_get_kind(reply)));
    if (status == VMUX_ERR_SERVER) {
        /* The restarted server answers LOADING while it replays its AOF: not run. */
        const char *msg = vmux_reply_str(reply, NULL);
        if (msg == NULL || strncmp(msg, "LOADING", 7) != 0)
            rt_ledger_bad(&r->ledger, "INCR failed: %s", msg != NULL ? msg : "?");
    }
    if (status == 0)
        atomic_fetch_add(&t->ok, 1);
    else if (status == VMUX_ERR_TIMEOUT || status == VMUX_ERR_CONNECTION_LOST)
        atomic_fetch_add(&t->unknown, 1);
    else
        atomic_fetch_add(&t->not_run, 1);
}

static void on_incr(int status, vmux_reply *reply, void *userdata)
{
    struct worker *w = userdata;
    tally_outcome(w->run, w->t, status, reply);
    vmux_reply_free(reply);
    atomic_fetch_add(&w->run->completions, 1);
}

static void *async_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    while (!atomic_load(&r->stop)) {
        int rc =
            vmux_call_async(r->m, NULL, 2, (const char *[]){"INCR", w->t->key}, NULL, on_incr, w);
        if (rc == 0) {
            atomic_fetch_add(&r->accepted, 1);
        } else if (rc == VMUX_ERR_BACKLOG_FULL) {
            atomic_fetch_add(&r->door, 1);
            sched_yield(); /* what a caller does with a refusal: let others run */
        } else {
            rt_ledger_bad(&r->ledger, "vmux_call_async: %s", vmux_err_name(rc));
        }
    }
    return NULL;
}

static void *sync_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    while (!atomic_load(&r->stop)) {
        vmux_reply *reply = NULL;
        uint64_t t0 = vt_now_ms();
        int rc = vmux_call(r->m, NULL, 2, (const char *[]){"INCR", w->t->key}, NULL, &reply);
        uint64_t took = vt_now_ms() - t0;
        if (rc == VMUX_ERR_BACKLOG_FULL)
            atomic_fetch_add(&r->door, 1);
        else
            tally_outcome(r, w->t, rc, reply);
        vmux_reply_free(reply);
        unsigned long long worst = atomic_load(&r->worst_ms);
        while (took > worst && !atomic_compare_exchange_weak(&r->worst_ms, &worst, took))
            ;
        if (took > LIVENESS * SYNC_TIMEOUT_MS)
            atomic_fetch_add(&r->late, 1);
        if (rc == VMUX_ERR_BACKLOG_FULL)
            sched_yield();
    }
    return NULL;
}

/* Samples RSS until ms have passed; returns the largest seen. */
static uint64_t watch_rss(uint64_t ms, uint64_t peak)
{
    uint64_t until = vt_now_ms() + ms;
    while (vt_now_ms() < until) {
        uint64_t now = rss_bytes();
        if (now > peak)
            peak = now;
        struct timespec tick = {0, 20 * 1000000};
        nanosleep(&tick, NULL); /* the sampling period, not a wait for a condition */
    }
    return peak;
}

static bool all_completed(void *arg)
{
    struct run *r = arg;
    return atomic_load(&r->completions) == atomic_load(&r->accepted);
}

static void check_counters(struct run *r, int port)
{
    for (int i = 0; i < NASYNC + NSYNC; i++) {
        struct tally *t = &r->t[i];
        char *v = rt_admin(port, "GET %s", t->key);
        assert_non_null(v);
        long long n = strcmp(v, "(nil)") == 0 ? 0 : atoll(v);
        free(v);
        unsigned long ok = atomic_load(&t->ok), unknown = atomic_load(&t->unknown);
        printf("%s: server %lld, ok %lu, unknown %lu, not run %lu\n", t->key, n, ok, unknown,
               atomic_load(&t->not_run));
        assert_true(n >= (long long)ok);             /* nothing acknowledged was lost */
        assert_true(n <= (long long)(ok + unknown)); /* nothing ran twice */
    }
}

static void test_outage_under_load(void **state)
{
    (void)state;
    vt_server s;
    const char *const aof[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};
    assert_int_equal(vt_server_start(&s, 0, aof), 0);
    char *conf = vt_server_conf(&s, NULL); /* the defaults: the point of the test */
    static struct run r;
    rt_events ev = {0};
    r.m = rt_open_events(conf, &ev);
    free(conf);
    struct worker w[NASYNC + NSYNC];
    for (int i = 0; i < NASYNC + NSYNC; i++) {
        w[i] = (struct worker){&r, &r.t[i], 0};
        rt_unique(r.t[i].key, sizeof r.t[i].key, i < NASYNC ? "ovl:async" : "ovl:sync");
    }
    uint64_t base = rss_bytes();
    for (int i = 0; i < NASYNC + NSYNC; i++)
        assert_int_equal(
            pthread_create(&w[i].thread, NULL, i < NASYNC ? async_main : sync_main, &w[i]), 0);
    uint64_t peak = watch_rss(2000, base);
    unsigned long restored = atomic_load(&ev.restored);
    vt_server_kill(&s);
    peak = watch_rss(OUTAGE_MS, peak);
    assert_int_equal(vt_server_restart(&s), 0);
    uint64_t back = vt_now_ms();
    /* The next attempt comes within reconnectMax; the guard only says that one came at all. */
    bool reconnected = rt_wait_count(&ev.restored, restored + 1, 3 * RECONNECT_MAX_MS);
    uint64_t took = vt_now_ms() - back;
    peak = watch_rss(2000, peak);
    atomic_store(&r.stop, true);
    for (int i = 0; i < NASYNC + NSYNC; i++)
        pthread_join(w[i].thread, NULL);
    bool drained = vt_wait_until(all_completed, &r, 3 * SYNC_TIMEOUT_MS);

    vmux_stats st = rt_stats(r.m);
    printf("RSS %.0f MB before, peak %.0f MB; reconnected %.0f ms after the server's return; "
           "worst sync call %llu ms; accepted %lu async, completed %lu, refused at the door %lu\n",
           base / 1e6, peak / 1e6, (double)took, (unsigned long long)atomic_load(&r.worst_ms),
           atomic_load(&r.accepted), atomic_load(&r.completions), atomic_load(&r.door));
    rt_ledger_print(&r.ledger, "outcomes");
    assert_true(reconnected);
    assert_true(drained);
    assert_int_equal(atomic_load(&r.late), 0);
    assert_int_equal(st.pending, 0);
    if (!SANITIZED) /* ASan keeps freed memory in quarantine; the bound is for real builds */
        assert_true(peak - base < 256ull * 1024 * 1024);
    int allowed[] = {0, VMUX_ERR_TIMEOUT, VMUX_ERR_CONNECTION_LOST, VMUX_ERR_BACKLOG_FULL,
                     VMUX_ERR_SERVER /* LOADING only: checked above */};
    rt_ledger_expect(&r.ledger, allowed, 5);
    check_counters(&r, s.port);
    vmux_close(r.m);
    vt_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_server_backlog_full),
        cmocka_unit_test(test_refused_at_the_door),
        cmocka_unit_test(test_large_refused_before_encoding),
        cmocka_unit_test(test_expired_leave_the_backlog),
        cmocka_unit_test(test_outage_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
