/*
 * Failover between two endpoints. B is a replica of A, and a handle configured with both (B
 * first) must find the primary by asking ROLE. Then, while 16 threads write (SET marked
 * retry-safe, INCR not), B is promoted and A demoted; the handle must move to B by itself
 * within a few seconds, and meanwhile every command completes exactly once, with its reply or
 * one of the documented errors: VMUX_ERR_SERVER with READONLY (or LOADING, MASTERDOWN,
 * TRYAGAIN) for the INCRs only, VMUX_ERR_CONNECTION_LOST, VMUX_ERR_TIMEOUT,
 * VMUX_ERR_NOT_CONNECTED. No INCR runs twice: each counter on the new primary is at most the
 * INCRs that may have run (replied, lost or timed out); after a failover that first pauses
 * writes on A until B has caught up, it is also at least the INCRs that were answered.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup, kill under -std=c11 */
#endif
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
#include <time.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "node.h"
#include "evlog.h"
#include "servers.h"
#include "sidetext.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum {
    NTHREADS = 16,
    WINDOW = 4, /* async commands each writer keeps outstanding */
    OP_TIMEOUT_MS = 5000,
    SWITCH_DEADLINE_MS = 10000,
    SETTLE_DEADLINE_MS = 10000,
    DRAIN_DEADLINE_MS = 30000,
    CHUNK = 4096,
    MAX_CHUNKS = 4096,
    BEFORE_SWITCH_OK = 2000, /* writes that must succeed before the failover */
    AFTER_SWITCH_OK = 2000,  /* and after the switch */
    MAXEV = 256,
};

/* ---- a side connection to a server, not through vmux ---- */

/* A reply's text; an array's elements' texts, one a line. */
static char *reply_text(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return vt_reply_scalar_text(r);
    char *out = strdup("");
    for (size_t i = 0; out != NULL && i < r->elements; i++) {
        char *e = reply_text(r->element[i]);
        char *joined = NULL;
        if (e != NULL && asprintf(&joined, "%s%s%s", out, i ? "\n" : "", e) < 0)
            joined = NULL;
        free(e);
        free(out);
        out = joined;
    }
    return out;
}

/* Sends one command to 127.0.0.1:port on a fresh hiredis connection (default user); returns
 * its text (malloc'ed), or NULL when the server cannot be reached or does not answer in 5 s. */
#define side(port, ...) vt_side_text(port, reply_text, __VA_ARGS__)

static void side_ok(int port, const char *cmd)
{
    char *r = side(port, cmd);
    if (r == NULL || strcmp(r, "OK") != 0)
        fail_msg("port %d: %s: %s", port, cmd, r ? r : "(no reply)");
    free(r);
}

/* The integer after "field:" in an INFO reply from the side connection; -1 if absent. */
static long long side_info_field(int port, const char *section, const char *field)
{
    char *info = side(port, "INFO %s", section);
    long long v = vt_info_field(info, field);
    free(info);
    return v;
}

static bool side_contains(int port, const char *section, const char *needle)
{
    char *info = side(port, "INFO %s", section);
    bool yes = info != NULL && strstr(info, needle) != NULL;
    free(info);
    return yes;
}

/* ---- the two servers ---- */

struct pair {
    vt_server a, b;
};

struct link_up {
    int port;
};

static bool replica_link_up(void *arg)
{
    return side_contains(((struct link_up *)arg)->port, "replication", "master_link_status:up");
}

/* Makes the server on replica_port a replica of primary_port and waits until it has synced. */
static void make_replica(int replica_port, int primary_port)
{
    char *r = side(replica_port, "REPLICAOF 127.0.0.1 %d", primary_port);
    if (r == NULL || strncmp(r, "OK", 2) != 0)
        fail_msg("REPLICAOF on %d: %s", replica_port, r ? r : "(no reply)");
    free(r);
    struct link_up up = {replica_port};
    if (!vt_poll_until(replica_link_up, &up, 10000, 20))
        fail_msg("the replica on %d did not sync with %d within 10 s", replica_port, primary_port);
}

static int pair_setup(void **state)
{
    /* The replica needs a full sync at once, not after the default 5 s of waiting. */
    static const char *const extra[] = {"--repl-diskless-sync-delay", "0", NULL};
    struct pair *p = calloc(1, sizeof(*p));
    if (p == NULL || vt_server_start(&p->a, 0, extra) != 0) {
        free(p);
        return -1;
    }
    if (vt_server_start(&p->b, 0, extra) != 0) {
        vt_server_stop(&p->a);
        free(p);
        return -1;
    }
    *state = p;
    make_replica(p->b.port, p->a.port);
    return 0;
}

static int pair_teardown(void **state)
{
    struct pair *p = *state;
    vt_server_stop(&p->a);
    vt_server_stop(&p->b);
    free(p);
    return 0;
}

/* ---- connection events, as the handle reports them ---- */

/* Opens a handle on "127.0.0.1:<b>,127.0.0.1:<a>": the replica first. */
static vmux *open_both(const struct pair *p, vt_evlog *log)
{
    char text[256];
    snprintf(text, sizeof text,
             "127.0.0.1:%d,127.0.0.1:%d,reconnectMin=20,reconnectMax=500,connectTimeout=2000",
             p->b.port, p->a.port);
    vmux_config *cfg = vt_config(text);
    vmux_config_set_event_handler(cfg, vt_evlog_on_event, log);
    vmux *m = vt_open_config(cfg, text);
    vmux_config_free(cfg);
    return m;
}

/* ---- what the handle itself says: ROLE and INFO's tcp_port ---- */

/* ROLE through the handle: "master" or "slave", or "" when the call failed. */
static void handle_role(vmux *m, char *out, size_t len)
{
    const char *argv[] = {"ROLE"};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 1000, .flags = VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    out[0] = '\0';
    if (vmux_call(m, &o, 1, argv, NULL, &r) == 0) {
        const char *s = vmux_reply_str(vmux_reply_element(r, 0), NULL);
        snprintf(out, len, "%s", s ? s : "");
    }
    vmux_reply_free(r);
}

/* tcp_port from INFO server through the handle, or -1 when the call failed. */
static int handle_port(vmux *m)
{
    const char *argv[] = {"INFO", "server"};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 1000, .flags = VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    int port = -1;
    if (vmux_call(m, &o, 2, argv, NULL, &r) == 0) {
        const char *s = vmux_reply_str(r, NULL);
        const char *p = s != NULL ? strstr(s, "tcp_port:") : NULL;
        if (p != NULL)
            port = atoi(p + strlen("tcp_port:"));
    }
    vmux_reply_free(r);
    return port;
}

/* ---- the writers and their ledger ---- */

enum kind { K_SET, K_INCR, NKINDS };
enum outcome { O_OK, O_SERVER, O_LOST, O_TIMEOUT, O_NOT_CONNECTED, O_UNEXPECTED, NOUTCOMES };
static const char *const outcome_names[NOUTCOMES] = {"ok",      "server error",  "connection lost",
                                                     "timeout", "not connected", "unexpected"};

struct writer;

/* One command: how many times its callback ran (must end at exactly 1). */
struct rec {
    struct writer *w;
    atomic_uint calls;
    enum kind kind;
};

struct writer {
    pthread_t thread;
    vmux *m;
    atomic_bool *stop;
    int id;
    struct rec *chunks[MAX_CHUNKS];
    size_t submitted;
    /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outstanding;
    unsigned long outcomes[NKINDS][NOUTCOMES];
    unsigned long doubles;
    char why[256]; /* the first unexpected outcome */
};

static bool is_documented_server_error(const char *msg)
{
    static const char *const ok[] = {"READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN"};
    for (size_t i = 0; msg != NULL && i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(msg, ok[i], strlen(ok[i])) == 0)
            return true;
    return false;
}

/* Sorts a completion. A retry-safe SET must never report READONLY & co.: it is re-routed. */
static enum outcome classify(enum kind k, int status, const vmux_reply *r, char *why, size_t len)
{
    switch (status) {
    case 0:
        if (k == K_SET && vmux_reply_get_kind(r) == VMUX_REPLY_STATUS &&
            strcmp(vmux_reply_str(r, NULL), "OK") == 0)
            return O_OK;
        if (k == K_INCR && vmux_reply_get_kind(r) == VMUX_REPLY_INTEGER)
            return O_OK;
        snprintf(why, len, "%s: unexpected reply type %d", k == K_SET ? "SET" : "INCR",
                 (int)vmux_reply_get_kind(r));
        return O_UNEXPECTED;
    case VMUX_ERR_SERVER:
        if (k == K_INCR && is_documented_server_error(vmux_reply_str(r, NULL)))
            return O_SERVER;
        snprintf(why, len, "%s: server error '%s'", k == K_SET ? "SET" : "INCR",
                 vmux_reply_str(r, NULL));
        return O_UNEXPECTED;
    case VMUX_ERR_CONNECTION_LOST:
        return O_LOST;
    case VMUX_ERR_TIMEOUT:
        return O_TIMEOUT;
    case VMUX_ERR_NOT_CONNECTED:
        return O_NOT_CONNECTED;
    default:
        snprintf(why, len, "%s: %s", k == K_SET ? "SET" : "INCR", vmux_err_name(status));
        return O_UNEXPECTED;
    }
}

static void on_done(int status, vmux_reply *reply, void *ud)
{
    struct rec *rec = ud;
    struct writer *w = rec->w;
    char why[256] = "";
    unsigned prev = atomic_fetch_add(&rec->calls, 1);
    enum outcome o = classify(rec->kind, status, reply, why, sizeof why);
    vmux_reply_free(reply);
    pthread_mutex_lock(&w->mu);
    if (prev != 0)
        w->doubles++;
    w->outcomes[rec->kind][o]++;
    if (o == O_UNEXPECTED && w->why[0] == '\0')
        snprintf(w->why, sizeof w->why, "%s", why);
    w->outstanding--;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static struct rec *next_rec(struct writer *w)
{
    size_t i = w->submitted;
    if (i / CHUNK >= MAX_CHUNKS)
        return NULL;
    if (w->chunks[i / CHUNK] == NULL &&
        (w->chunks[i / CHUNK] = calloc(CHUNK, sizeof(struct rec))) == NULL)
        return NULL;
    struct rec *r = &w->chunks[i / CHUNK][i % CHUNK];
    r->w = w;
    atomic_init(&r->calls, 0);
    return r;
}

/* Waits for a free slot in the window; false once the run is over. */
static bool wait_slot(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->outstanding >= WINDOW && !atomic_load(w->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    bool go = !atomic_load(w->stop);
    if (go)
        w->outstanding++; /* before submitting: the callback may run before the call returns */
    pthread_mutex_unlock(&w->mu);
    return go;
}

static void submit_one(struct writer *w, struct rec *rec)
{
    char key[32], val[32];
    rec->kind = w->submitted % 2 == 0 ? K_SET : K_INCR;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = OP_TIMEOUT_MS);
    int rc;
    if (rec->kind == K_SET) {
        snprintf(key, sizeof key, "fo:set:%d", w->id);
        snprintf(val, sizeof val, "%zu", w->submitted);
        o.flags = VMUX_CALL_RETRY_SAFE;
        rc = vmux_call_async(w->m, &o, 3, (const char *[]){"SET", key, val}, NULL, on_done, rec);
    } else {
        snprintf(key, sizeof key, "fo:ctr:%d", w->id);
        rc = vmux_call_async(w->m, &o, 2, (const char *[]){"INCR", key}, NULL, on_done, rec);
    }
    pthread_mutex_lock(&w->mu);
    if (rc != 0) {
        w->outstanding--;
        if (w->why[0] == '\0')
            snprintf(w->why, sizeof w->why, "vmux_call_async refused: %s", vmux_err_name(rc));
        w->outcomes[rec->kind][O_UNEXPECTED]++;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == 0)
        w->submitted++;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct rec *rec;
    while (wait_slot(w)) {
        if ((rec = next_rec(w)) == NULL) {
            pthread_mutex_lock(&w->mu);
            w->outstanding--;
            pthread_mutex_unlock(&w->mu);
            break;
        }
        submit_one(w, rec);
    }
    return NULL;
}

struct load {
    vmux *m;
    atomic_bool stop;
    struct writer w[NTHREADS];
};

static void load_start(struct load *L, vmux *m)
{
    L->m = m;
    atomic_init(&L->stop, false);
    for (int i = 0; i < NTHREADS; i++) {
        struct writer *w = &L->w[i];
        memset(w, 0, sizeof(*w));
        w->m = m;
        w->stop = &L->stop;
        w->id = i;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
    }
}

static unsigned long load_total(struct load *L, enum kind k, enum outcome o)
{
    unsigned long n = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_mutex_lock(&L->w[i].mu);
        n += L->w[i].outcomes[k][o];
        pthread_mutex_unlock(&L->w[i].mu);
    }
    return n;
}

static unsigned long load_ok(struct load *L)
{
    return load_total(L, K_SET, O_OK) + load_total(L, K_INCR, O_OK);
}

struct ok_target {
    struct load *L;
    unsigned long target;
};

static bool ok_reached(void *arg)
{
    struct ok_target *t = arg;
    return load_ok(t->L) >= t->target;
}

/* Waits until the writers have seen n more successful commands. */
static void wait_more_ok(struct load *L, unsigned long n, int deadline_ms, const char *when)
{
    struct ok_target t = {L, load_ok(L) + n};
    if (!vt_wait_until(ok_reached, &t, deadline_ms))
        fail_msg("%s: fewer than %lu writes succeeded within %d ms", when, n, deadline_ms);
}

static bool all_settled(void *arg)
{
    struct load *L = arg;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_mutex_lock(&L->w[i].mu);
        int n = L->w[i].outstanding;
        pthread_mutex_unlock(&L->w[i].mu);
        if (n != 0)
            return false;
    }
    return true;
}

/* Stops the writers and waits (deadline) for every outstanding command to complete. */
static void load_stop(struct load *L)
{
    atomic_store(&L->stop, true);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_mutex_lock(&L->w[i].mu);
        pthread_cond_broadcast(&L->w[i].cv);
        pthread_mutex_unlock(&L->w[i].mu);
        pthread_join(L->w[i].thread, NULL);
    }
    if (!vt_wait_until(all_settled, L, DRAIN_DEADLINE_MS))
        fail_msg("commands still outstanding %d ms after the writers stopped", DRAIN_DEADLINE_MS);
}

/* Every submitted command's callback ran exactly once; no outcome outside the documented set. */
static unsigned long load_check(struct load *L)
{
    unsigned long total = 0;
    for (int i = 0; i < NTHREADS; i++) {
        struct writer *w = &L->w[i];
        for (size_t j = 0; j < w->submitted; j++) {
            unsigned calls = atomic_load(&w->chunks[j / CHUNK][j % CHUNK].calls);
            if (calls != 1)
                fail_msg("writer %d, command %zu: completed %u times", i, j, calls);
        }
        if (w->doubles != 0)
            fail_msg("writer %d: %lu double completions", i, w->doubles);
        if (w->why[0] != '\0')
            fail_msg("writer %d: %s", i, w->why);
        total += w->submitted;
    }
    for (int k = 0; k < NKINDS; k++) {
        printf("# %s:", k == K_SET ? "SET (retry-safe)" : "INCR");
        for (int o = 0; o < NOUTCOMES; o++)
            printf(" %s %lu%s", outcome_names[o], load_total(L, (enum kind)k, (enum outcome)o),
                   o + 1 < NOUTCOMES ? "," : "\n");
    }
    return total;
}

static void load_free(struct load *L)
{
    for (int i = 0; i < NTHREADS; i++) {
        for (int c = 0; c < MAX_CHUNKS; c++)
            free(L->w[i].chunks[c]);
        pthread_mutex_destroy(&L->w[i].mu);
        pthread_cond_destroy(&L->w[i].cv);
    }
}

/*
 * No INCR ran twice: the counter of each writer on the primary is at most its INCRs that may
 * have run (answered, lost, timed out). With exact_floor, none that was answered was lost.
 */
static void check_counters(struct load *L, int primary_port, bool exact_floor)
{
    for (int i = 0; i < NTHREADS; i++) {
        struct writer *w = &L->w[i];
        char *v = side(primary_port, "GET fo:ctr:%d", i);
        assert_non_null(v);
        long long n = strcmp(v, "(nil)") == 0 ? 0 : atoll(v);
        free(v);
        unsigned long ok = w->outcomes[K_INCR][O_OK];
        unsigned long maybe = w->outcomes[K_INCR][O_LOST] + w->outcomes[K_INCR][O_TIMEOUT];
        if ((unsigned long long)n > ok + maybe)
            fail_msg("writer %d: counter %lld > %lu answered + %lu unknown: an INCR ran twice", i,
                     n, ok, maybe);
        if (exact_floor && (unsigned long long)n < ok)
            fail_msg("writer %d: counter %lld < %lu answered INCRs", i, n, ok);
    }
}

/* ---- waiting for the handle to follow the primary ---- */

struct on_port {
    vmux *m;
    int port;
};

static bool serves_from(void *arg)
{
    struct on_port *p = arg;
    char role[32];
    if (handle_port(p->m) != p->port)
        return false;
    handle_role(p->m, role, sizeof role);
    return strcmp(role, "master") == 0;
}

/* Every handle command completed: the handle's own counters agree with the ledger. */
static void check_stats(vmux *m, unsigned long ledger_total)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    uint64_t completed =
        st.replied + st.timed_out + st.connection_lost + st.closed + st.failed_other;
    assert_true(st.submitted >= ledger_total);
    if (completed != st.submitted)
        fail_msg("stats: %llu submitted, %llu completed", (unsigned long long)st.submitted,
                 (unsigned long long)completed);
    assert_int_equal(st.backlog, 0);
    printf("# stats: submitted %llu, resent %llu, retried %llu, connects %llu, failures %llu\n",
           (unsigned long long)st.submitted, (unsigned long long)st.resent,
           (unsigned long long)st.retried, (unsigned long long)st.connects,
           (unsigned long long)st.connect_failures);
}

static bool has_event(vt_evlog *log, vmux_event_type type, const char *needle)
{
    bool found = false;
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->n && !found; i++)
        found = log->ev[i].type == type && strstr(log->ev[i].reason, needle) != NULL;
    pthread_mutex_unlock(&log->mu);
    return found;
}

/* ---- the tests ---- */

/* B (the replica) is listed first; the handle skips it after ROLE and serves from A. */
static void test_finds_primary_by_role(void **state)
{
    struct pair *p = *state;
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    vmux *m = open_both(p, &log);

    char role[32];
    handle_role(m, role, sizeof role);
    assert_string_equal(role, "master");
    assert_int_equal(handle_port(m), p->a.port);
    vmux_reply *r = NULL;
    const char *set[] = {"SET", "fo:first", "written"};
    int rc = vmux_call(m, NULL, 3, set, NULL, &r);
    if (rc != 0)
        fail_msg("SET on the primary: %s %s", vmux_err_name(rc), vmux_reply_str(r, NULL));
    vmux_reply_free(r);
    vmux_close(m);

    /* The replica was tried first and refused by its role; the handle settled on A. */
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", p->a.port);
    assert_true(has_event(&log, VMUX_EVENT_CONNECTION_FAILED, "not the primary"));
    pthread_mutex_lock(&log.mu);
    assert_true(log.n >= 2);
    assert_int_equal(log.ev[0].type, VMUX_EVENT_CONNECTION_FAILED);
    assert_int_equal(log.ev[log.n - 1].type, VMUX_EVENT_CONNECTION_RESTORED);
    assert_string_equal(log.ev[log.n - 1].endpoint, where);
    pthread_mutex_unlock(&log.mu);
}

/* ---- a replica as the handle's only endpoint ---- */

/* One async call's outcome: its status and its reply's words. */
struct outcome_box {
    atomic_bool done;
    int status;
    char words[512];
};

static void on_outcome(int status, vmux_reply *reply, void *ud)
{
    struct outcome_box *b = ud;
    const char *s = vmux_reply_str(reply, NULL);
    snprintf(b->words, sizeof b->words, "%s", s != NULL ? s : "");
    b->status = status;
    vmux_reply_free(reply);
    atomic_store(&b->done, true);
}

static void call_async(vmux *m, int timeout_ms, int argc, const char *const *argv,
                       struct outcome_box *b)
{
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = (uint32_t)timeout_ms);
    assert_int_equal(vmux_call_async(m, &o, argc, argv, NULL, on_outcome, b), 0);
}

static bool both_done(void *arg)
{
    struct outcome_box *b = arg;
    return atomic_load(&b[0].done) && atomic_load(&b[1].done);
}

/* A write's outcome on a lone replica: refused at once, in words that say why and that it did
 * not run. */
static void expect_lone_refusal(const struct outcome_box *b, const char *what, int port)
{
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d is a replica and the handle's only endpoint", port);
    printf("# %s: %s \"%s\"\n", what, vmux_err_name(b->status), b->words);
    if (b->status != VMUX_ERR_SERVER || strncmp(b->words, "READONLY", 8) != 0 ||
        strstr(b->words, where) == NULL || strstr(b->words, "not executed") == NULL)
        fail_msg("%s on the lone replica: %s \"%s\", expected VMUX_ERR_SERVER \"READONLY ... "
                 "(%s ...; not executed)\"",
                 what, vmux_err_name(b->status), b->words, where);
}

/*
 * A replica as the only endpoint, a fixed address (helper-258 F4): since aab8335 every write it
 * refused waited its whole deadline (30 s here) while the link reconnected to it with backoff,
 * and then said only the server's words. ROLE, asked on the connection after the READONLY,
 * finds a replica with no primary the handle could go to: a SET and an INCR (not retry-safe)
 * fail long before their deadlines, saying why and that they did not run; the connection stays
 * and serves a GET; a later write fails at once on it without a reconnection.
 */
static bool replica_has_key(void *arg)
{
    char *v = side(*(int *)arg, "GET fo:lone-read");
    bool has = v != NULL && strcmp(v, "replicated") == 0;
    free(v);
    return has;
}

static void test_lone_replica_write(void **state)
{
    struct pair *p = *state;
    side_ok(p->a.port, "SET fo:lone-read replicated");
    if (!vt_poll_until(replica_has_key, &p->b.port, 10000, 10))
        fail_msg("the replica did not get fo:lone-read within 10 s");
    char text[128];
    snprintf(text, sizeof text, "127.0.0.1:%d", p->b.port);
    vmux *m = vt_open_conf(text);

    struct outcome_box w[2] = {0};
    call_async(m, 30000, 3, (const char *const[]){"SET", "fo:lone", "v"}, &w[0]);
    call_async(m, 30000, 2, (const char *const[]){"INCR", "fo:lone-n"}, &w[1]);
    if (!vt_poll_until(both_done, w, 10000, 10))
        fail_msg("a SET and an INCR with a 30 s deadline on a lone replica: not failed within "
                 "10 s (SET %s, INCR %s): they wait for a primary none can name",
                 atomic_load(&w[0].done) ? "done" : "waiting",
                 atomic_load(&w[1].done) ? "done" : "waiting");
    expect_lone_refusal(&w[0], "SET", p->b.port);
    expect_lone_refusal(&w[1], "INCR", p->b.port);

    char err[256] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 5000, .errbuf = err, .errlen = sizeof err);
    vmux_stats before = VMUX_INIT(vmux_stats), after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &before), 0);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, 2, (const char *const[]){"GET", "fo:lone-read"}, NULL, &r);
    if (rc != 0)
        fail_msg("GET on the lone replica: %s \"%s\"", vmux_err_name(rc), err);
    assert_string_equal(vmux_reply_str(r, NULL), "replicated");
    vmux_reply_free(r);

    struct outcome_box again[2] = {0};
    call_async(m, 30000, 3, (const char *const[]){"SET", "fo:lone", "w"}, &again[0]);
    call_async(m, 30000, 2, (const char *const[]){"INCR", "fo:lone-n"}, &again[1]);
    if (!vt_poll_until(both_done, again, 10000, 10))
        fail_msg("a second SET and INCR on the lone replica: not failed within 10 s");
    expect_lone_refusal(&again[0], "second SET", p->b.port);
    expect_lone_refusal(&again[1], "second INCR", p->b.port);
    assert_int_equal(vmux_read_stats(m, &after), 0);
    assert_int_equal(after.connects, before.connects); /* the connection stayed, for reads */
    vmux_close(m);

    char *v = side(p->b.port, "EXISTS fo:lone fo:lone-n");
    assert_non_null(v);
    assert_string_equal(v, "0"); /* nothing ran */
    free(v);
}

/*
 * The same replica named by a host name, which may yet name a primary once resolved anew (an
 * ElastiCache primary endpoint follows a failover so): the write waits for one, within its
 * deadline, and then says how often and how long it was refused and that it did not run (before,
 * only the server's words).
 */
static void test_lone_replica_by_name_waits(void **state)
{
    struct pair *p = *state;
    char text[128];
    snprintf(text, sizeof text, "localhost:%d,reconnectMin=20,reconnectMax=200", p->b.port);
    vmux *m = vt_open_conf(text);
    char err[512] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 1500, .errbuf = err, .errlen = sizeof err);
    int rc =
        vmux_set(m, &o, VMUX_STR("fo:lone"), VMUX_STR("v"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL);
    printf("# lone replica by name: %s \"%s\"\n", vmux_err_name(rc), err);
    if (rc != VMUX_ERR_SERVER || strncmp(err, "READONLY", 8) != 0 ||
        strstr(err, "by a demoted primary or a replica while no connection to a primary was "
                    "ready; not executed)") == NULL ||
        strstr(err, "(refused ") == NULL)
        fail_msg("SET on a lone replica named by a host name: %s \"%s\", expected VMUX_ERR_SERVER "
                 "\"READONLY ... (refused N times over M ms by a demoted primary or a replica "
                 "...; not executed)\"",
                 vmux_err_name(rc), err);
    vmux_close(m);
}

/* A call's error words name both endpoints' failures: the dead primary's and the replica's. */
struct both_named {
    vmux *m;
    char want_a[64], want_b[96];
    char err[512];
};

static bool names_both(void *arg)
{
    struct both_named *w = arg;
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 200, .errbuf = w->err, .errlen = sizeof w->err);
    w->err[0] = '\0';
    int rc = vmux_set(w->m, &o, VMUX_STR("fo:down"), VMUX_STR("v"), VMUX_NO_EXPIRY,
                      VMUX_COND_ALWAYS, NULL);
    return rc == VMUX_ERR_TIMEOUT && strstr(w->err, w->want_a) != NULL &&
           strstr(w->err, w->want_b) != NULL;
}

/*
 * The primary (A) gone, the replica (B) still up and refusing by its role: a command that waits
 * for a primary and times out says what each endpoint last did, not only the newest attempt's
 * refusal by the healthy replica (probe 51: half the callers were told only "not the primary").
 */
static void test_down_primary_named_beside_the_replica(void **state)
{
    struct pair *p = *state;
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    vmux *m = open_both(p, &log);
    assert_int_equal(handle_port(m), p->a.port);
    vt_server_stop(&p->a);

    struct both_named w = {.m = m};
    snprintf(w.want_a, sizeof w.want_a, "127.0.0.1:%d: ", p->a.port);
    snprintf(w.want_b, sizeof w.want_b, "127.0.0.1:%d: not the primary (ROLE: slave)", p->b.port);
    bool named = vt_poll_until(names_both, &w, 10000, 10);
    printf("# the words: %s\n", w.err);
    if (!named)
        fail_msg("no call's words named both %s and %s within 10 s; the last: %s", w.want_a,
                 w.want_b, w.err);
    vmux_close(m);
}

/* Waits until the replica on replica_port has applied everything the primary has. */
struct caught_up {
    int primary, replica;
};

static bool replica_caught_up(void *arg)
{
    struct caught_up *c = arg;
    long long want = side_info_field(c->primary, "replication", "master_repl_offset");
    long long have = side_info_field(c->replica, "replication", "slave_repl_offset");
    return want >= 0 && want == have;
}

struct blocked {
    int port;
};

static bool has_paused_client(void *arg)
{
    return side_info_field(((struct blocked *)arg)->port, "clients", "blocked_clients") > 0;
}

/*
 * The failover itself. graceful: writes on A are paused first (with the handle's writes held
 * on A), B catches up, B is promoted, A demoted, and A's writes resume (to answer READONLY);
 * otherwise B is promoted and A demoted while A still accepts writes.
 */
static void failover_from(struct pair *p, bool graceful);

static void failover(struct pair *p, bool graceful)
{
    if (graceful)
        side_ok(p->a.port, "CLIENT PAUSE 30000 WRITE");
    failover_from(p, graceful);
}

/* failover() after its pause (graceful: writes on A are paused already). */
static void failover_from(struct pair *p, bool graceful)
{
    if (graceful) {
        struct blocked bl = {p->a.port};
        if (!vt_poll_until(has_paused_client, &bl, 5000, 5))
            fail_msg("no write of the handle is held on the paused primary");
        struct caught_up cu = {p->a.port, p->b.port};
        if (!vt_poll_until(replica_caught_up, &cu, 10000, 5))
            fail_msg("the replica did not catch up within 10 s");
    }
    side_ok(p->b.port, "REPLICAOF NO ONE");
    char *r = side(p->a.port, "REPLICAOF 127.0.0.1 %d", p->b.port);
    if (r == NULL || strncmp(r, "OK", 2) != 0)
        fail_msg("REPLICAOF on A: %s", r ? r : "(no reply)");
    free(r);
    if (graceful)
        side_ok(p->a.port, "CLIENT UNPAUSE");
}

/*
 * A write that is not retry-safe, sent to a primary demoted under the handle (A made a replica of
 * B, the promoted one), is answered READONLY: it did not run, so it waits for the next
 * connection, which ROLE takes to B, and runs there once. Before, it failed VMUX_ERR_SERVER
 * with the READONLY at once (only retry-safe writes went on).
 */
static void test_demoted_incr_runs_on_new_primary(void **state)
{
    struct pair *p = *state;
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    vmux *m = open_both(p, &log);
    assert_int_equal(handle_port(m), p->a.port);
    char err[256] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 10000, .errbuf = err, .errlen = sizeof err);
    int64_t n = 0;
    assert_int_equal(vmux_incrby(m, &o, VMUX_STR("fo:demoted"), 1, &n), 0);
    failover(p, false);
    int rc = vmux_incrby(m, &o, VMUX_STR("fo:demoted"), 1, &n);
    if (rc != 0)
        fail_msg("INCR on the demoted primary: %s \"%s\", expected it to run on the new primary",
                 vmux_err_name(rc), err);
    assert_int_equal(handle_port(m), p->b.port);
    char *v = side(p->b.port, "GET fo:demoted");
    assert_non_null(v);
    assert_int_equal(atoll(v), n); /* once: the refused INCR never ran on A */
    free(v);
    vmux_close(m);
}

/* Completions in order: each call's outcome and its place. */
struct ordered {
    atomic_int seq;
    struct {
        atomic_bool done;
        int status, place;
        char text[128];
    } call[2];
};

static void on_ordered(int status, vmux_reply *reply, void *ud, int i)
{
    struct ordered *o = ud;
    const char *s = vmux_reply_str(reply, NULL);
    snprintf(o->call[i].text, sizeof o->call[i].text, "%s", s != NULL ? s : "");
    o->call[i].status = status;
    o->call[i].place = atomic_fetch_add(&o->seq, 1);
    vmux_reply_free(reply);
    atomic_store(&o->call[i].done, true);
}

static void on_first(int status, vmux_reply *reply, void *ud)
{
    on_ordered(status, reply, ud, 0);
}

static void on_second(int status, vmux_reply *reply, void *ud)
{
    on_ordered(status, reply, ud, 1);
}

static bool ordered_done(void *arg)
{
    struct ordered *o = arg;
    return atomic_load(&o->call[0].done) && atomic_load(&o->call[1].done);
}

/*
 * A read written behind a write that the demoted primary refused (review helper-257 F3): a SET
 * (not retry-safe) and then a GET (retry-safe) of the same key, pipelined on A's connection while
 * A's writes are paused, A then demoted under the handle. The SET, answered READONLY, waits for
 * B and runs there; the GET, answered by A after that READONLY, waits behind it and is sent to B
 * after it: it reads the SET's value, and its callback comes after the SET's. Before, the GET
 * returned A's old value, before the SET completed.
 */
static void test_read_behind_refused_write_sees_it(void **state)
{
    struct pair *p = *state;
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    vmux *m = open_both(p, &log);
    assert_int_equal(handle_port(m), p->a.port);
    const char *set_old[] = {"SET", "fo:ryw", "old"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, set_old, NULL, &r), 0);
    vmux_reply_free(r);

    side_ok(p->a.port, "CLIENT PAUSE 30000 WRITE");
    struct ordered ord = {0};
    vmux_callopts w = VMUX_INIT(vmux_callopts, .timeout_ms = 10000);
    vmux_callopts rd = VMUX_INIT(vmux_callopts, .timeout_ms = 10000, .flags = VMUX_CALL_RETRY_SAFE);
    const char *set_new[] = {"SET", "fo:ryw", "new"}, *get[] = {"GET", "fo:ryw"};
    assert_int_equal(vmux_call_async(m, &w, 3, set_new, NULL, on_first, &ord), 0);
    assert_int_equal(vmux_call_async(m, &rd, 2, get, NULL, on_second, &ord), 0);
    failover_from(p, true);
    if (!vt_poll_until(ordered_done, &ord, 15000, 10))
        fail_msg("the SET and the GET did not both complete within 15 s");
    printf("# SET: %s \"%s\" (#%d); GET: %s \"%s\" (#%d)\n", vmux_err_name(ord.call[0].status),
           ord.call[0].text, ord.call[0].place, vmux_err_name(ord.call[1].status), ord.call[1].text,
           ord.call[1].place);
    if (ord.call[0].status != 0)
        fail_msg("SET on the demoted primary: %s \"%s\", expected it to run on the new primary",
                 vmux_err_name(ord.call[0].status), ord.call[0].text);
    if (ord.call[1].status != 0 || strcmp(ord.call[1].text, "new") != 0 ||
        ord.call[1].place < ord.call[0].place)
        fail_msg("the GET written behind the refused SET: %s \"%s\", completed %s the SET; "
                 "expected \"new\", after it",
                 vmux_err_name(ord.call[1].status), ord.call[1].text,
                 ord.call[1].place < ord.call[0].place ? "before" : "after");
    vmux_close(m);
}

static void run_failover(struct pair *p, bool graceful)
{
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    vmux *m = open_both(p, &log);
    assert_int_equal(handle_port(m), p->a.port);

    static struct load L;
    load_start(&L, m);
    wait_more_ok(&L, BEFORE_SWITCH_OK, SETTLE_DEADLINE_MS, "before the failover");

    failover(p, graceful);
    struct on_port want = {m, p->b.port};
    if (!vt_poll_until(serves_from, &want, SWITCH_DEADLINE_MS, 10))
        fail_msg("the handle did not move to the new primary within %d ms", SWITCH_DEADLINE_MS);
    wait_more_ok(&L, AFTER_SWITCH_OK, SETTLE_DEADLINE_MS, "after the switch");

    load_stop(&L);
    unsigned long total = load_check(&L);
    assert_true(load_total(&L, K_INCR, O_OK) > 0 && load_total(&L, K_SET, O_OK) > 0);
    check_stats(m, total);
    check_counters(&L, p->b.port, graceful);
    assert_true(has_event(&log, VMUX_EVENT_CONNECTION_FAILED, ""));
    vmux_close(m);
    load_free(&L);

    /* The last connection the handle made was to B. */
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", p->b.port);
    pthread_mutex_lock(&log.mu);
    int last = -1;
    for (int i = 0; i < log.n; i++)
        if (log.ev[i].type == VMUX_EVENT_CONNECTION_RESTORED)
            last = i;
    assert_true(last >= 0);
    assert_string_equal(log.ev[last].endpoint, where);
    pthread_mutex_unlock(&log.mu);
}

static void test_failover_under_load(void **state)
{
    run_failover(*state, false);
}

static void test_graceful_failover_loses_nothing(void **state)
{
    run_failover(*state, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_finds_primary_by_role, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_lone_replica_write, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_lone_replica_by_name_waits, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_demoted_incr_runs_on_new_primary, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_down_primary_named_beside_the_replica, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_read_behind_refused_write_sees_it, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_failover_under_load, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_graceful_failover_loses_nothing, pair_setup,
                                        pair_teardown),
    };
    vt_filter_tests(); /* VT_ONLY, VT_SKIP: resilience.failover and resilience.failover.serial */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
