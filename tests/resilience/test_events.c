/*
 * What a handle tells its user: connection events (restored at open, failed with a code and a
 * reason when the server dies, restored after it returns), log lines filtered by level (and
 * the loud warning for sslVerify=false), and the counters of vmux_read_stats for a known
 * sequence of commands. Also the dead-link rule: a server stopped with SIGSTOP while commands
 * wait (its kernel still accepts bytes, nothing is ever answered) gets its connection
 * replaced once nothing has been read for the dead-link threshold, and service resumes after
 * SIGCONT, with a retry-safe command resent on the new connection.
 *
 * Not tested here: the freeze detection (the I/O thread's tick arriving far too late), which
 * would need the test process itself to be stopped (tests/pubsub/test_pubsub_reconnect.c
 * stalls the I/O thread in a message callback instead).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup, kill under -std=c11 */
#endif
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "evlog.h"
#include "servers.h"
#include "sidetext.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum {
    MAXLOG = 512,
    EVENT_DEADLINE_MS = 15000,
    NCALLS = 20,    /* successful calls in the counters test */
    NTIMEOUTS = 5,  /* calls that time out against the paused server */
    SHORT_MS = 100, /* their timeout */
};

/* ---- a side connection to a server, not through vmux ---- */

/* An integer in decimal, a string as it is; NULL for other replies. */
static char *reply_text(const redisReply *r)
{
    char *text = NULL;
    if (r->type == REDIS_REPLY_INTEGER && asprintf(&text, "%lld", r->integer) < 0)
        text = NULL;
    else if (r->str != NULL)
        text = strndup(r->str, r->len);
    return text;
}

/* Sends one command to 127.0.0.1:port on a fresh hiredis connection; returns its text
 * (malloc'ed), or NULL when the server cannot be reached or does not answer in 5 s. */
#define side(port, ...) vt_side_text(port, reply_text, __VA_ARGS__)

static void side_ok(int port, const char *cmd)
{
    char *r = side(port, cmd);
    if (r == NULL || strcmp(r, "OK") != 0)
        fail_msg("%s: %s", cmd, r ? r : "(no reply)");
    free(r);
}

/* ---- events and log lines, as the handle reports them ---- */

struct ev_wait {
    vt_evlog *log;
    vmux_event_type type;
    const char *needle; /* in the reason; NULL: any */
    int from;
    int found;
};

static bool event_seen(void *arg)
{
    struct ev_wait *w = arg;
    pthread_mutex_lock(&w->log->mu);
    for (int i = w->from; i < w->log->n && w->found < 0; i++)
        if (w->log->ev[i].type == w->type &&
            (w->needle == NULL || strstr(w->log->ev[i].reason, w->needle) != NULL))
            w->found = i;
    pthread_mutex_unlock(&w->log->mu);
    return w->found >= 0;
}

/* Waits for an event of type (whose reason contains needle) at index from or later; returns
 * its index. */
static int wait_event(vt_evlog *log, vmux_event_type type, const char *needle, int from)
{
    struct ev_wait w = {log, type, needle, from, -1};
    if (!vt_wait_until(event_seen, &w, EVENT_DEADLINE_MS))
        fail_msg("no event of type %d with '%s' within %d ms", (int)type, needle ? needle : "",
                 EVENT_DEADLINE_MS);
    return w.found;
}

struct loglog {
    pthread_mutex_t mu;
    int n;
    struct {
        vmux_log_level level;
        char text[512]; /* a whole line: at most 511 bytes */
    } line[MAXLOG];
};

static void on_log(vmux_log_level level, const char *message, void *ud)
{
    struct loglog *log = ud;
    pthread_mutex_lock(&log->mu);
    if (log->n < MAXLOG) {
        log->line[log->n].level = level;
        snprintf(log->line[log->n].text, sizeof log->line[0].text, "%s", message);
        log->n++;
    }
    pthread_mutex_unlock(&log->mu);
}

/* How many lines at exactly level contain needle. */
static int log_count(struct loglog *log, vmux_log_level level, const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->n; i++)
        if (log->line[i].level == level && strstr(log->line[i].text, needle) != NULL)
            n++;
    pthread_mutex_unlock(&log->mu);
    return n;
}

static vmux_log_level log_min_level(struct loglog *log)
{
    vmux_log_level min = VMUX_LOG_ERROR + 1;
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->n; i++)
        if (log->line[i].level < min)
            min = log->line[i].level;
    pthread_mutex_unlock(&log->mu);
    return min;
}

/* ---- handles ---- */

struct hooks {
    vt_evlog *events;
    struct loglog *log;
    vmux_log_level level;
};

static vmux *open_with(const char *text, const struct hooks *h)
{
    vmux_config *cfg = vt_config(text);
    if (h != NULL && h->events != NULL)
        vmux_config_set_event_handler(cfg, vt_evlog_on_event, h->events);
    if (h != NULL && h->log != NULL)
        assert_int_equal(vmux_config_set_log(cfg, on_log, h->level, h->log), 0);
    vmux *m = vt_open_config(cfg, text);
    vmux_config_free(cfg);
    return m;
}

static vmux *open_server(const vt_server *s, const char *extra, const struct hooks *h)
{
    char *text = vt_server_conf(s, extra);
    vmux *m = open_with(text, h);
    free(text);
    return m;
}

static uint64_t connected(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st.connected;
}

static void expect_pong(vmux *m)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, 1, (const char *[]){"PING"}, NULL, &r);
    if (rc != 0)
        fail_msg("PING: %s", vmux_err_name(rc));
    assert_string_equal(vmux_reply_str(r, NULL), "PONG");
    vmux_reply_free(r);
}

/* ---- fixture: a server of the test's own, resumed if a test stopped it ---- */

static int server_setup(void **state)
{
    *state = vt_server_new(NULL);
    return *state != NULL ? 0 : -1;
}

static int server_teardown(void **state)
{
    vt_server *s = *state;
    if (s->pid > 0)
        kill(s->pid, SIGCONT);
    vt_server_stop(s);
    free(s);
    return 0;
}

/* ---- tests ---- */

static void test_events_follow_the_connection(void **state)
{
    vt_server *s = *state;
    vt_evlog ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct hooks h = {.events = &ev};
    vmux *m = open_server(s, "reconnectMin=20,reconnectMax=200", &h);
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", s->port);

    /* vmux_open returned once the connection was ready, and the event came before. */
    pthread_mutex_lock(&ev.mu);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.ev[0].type, VMUX_EVENT_CONNECTION_RESTORED);
    assert_int_equal(ev.ev[0].code, 0);
    assert_string_equal(ev.ev[0].endpoint, where);
    assert_string_equal(ev.ev[0].reason, "");
    pthread_mutex_unlock(&ev.mu);
    assert_int_equal(connected(m), 1); /* the gauge moves before the event is raised */

    vt_server_kill(s);
    int failed = wait_event(&ev, VMUX_EVENT_CONNECTION_FAILED, NULL, 1);
    assert_int_equal(connected(m), 0);
    assert_int_equal(vt_server_restart(s), 0);
    int restored = wait_event(&ev, VMUX_EVENT_CONNECTION_RESTORED, NULL, failed + 1);
    assert_int_equal(connected(m), 1);
    expect_pong(m);
    vmux_close(m);

    /* Every failure carries a code and a reason naming the endpoint; the first is the broken
     * connection itself, the rest (if any) refused attempts while the server was down. */
    pthread_mutex_lock(&ev.mu);
    for (int i = failed; i < restored; i++) {
        assert_int_equal(ev.ev[i].type, VMUX_EVENT_CONNECTION_FAILED);
        assert_true(ev.ev[i].code < 0);
        assert_string_equal(ev.ev[i].endpoint, where);
        if (strncmp(ev.ev[i].reason, where, strlen(where)) != 0 ||
            strlen(ev.ev[i].reason) <= strlen(where) + 2)
            fail_msg("event %d: reason '%s'", i, ev.ev[i].reason);
    }
    assert_int_equal(ev.ev[failed].code, VMUX_ERR_IO);
    assert_string_equal(ev.ev[restored].endpoint, where);
    pthread_mutex_unlock(&ev.mu);
}

/* Three handles watch the same kill and restart, each logging at its own minimum level. */
static void test_log_levels(void **state)
{
    vt_server *s = *state;
    static struct loglog info, warn, error;
    struct loglog *logs[] = {&info, &warn, &error};
    const vmux_log_level levels[] = {VMUX_LOG_INFO, VMUX_LOG_WARN, VMUX_LOG_ERROR};
    vt_evlog ev[3];
    vmux *m[3];
    for (int i = 0; i < 3; i++) {
        memset(logs[i], 0, sizeof(*logs[i]));
        pthread_mutex_init(&logs[i]->mu, NULL);
        memset(&ev[i], 0, sizeof(ev[i]));
        pthread_mutex_init(&ev[i].mu, NULL);
        struct hooks h = {.events = &ev[i], .log = logs[i], .level = levels[i]};
        m[i] = open_server(s, "reconnectMin=20,reconnectMax=200", &h);
    }
    vt_server_kill(s);
    for (int i = 0; i < 3; i++)
        wait_event(&ev[i], VMUX_EVENT_CONNECTION_FAILED, NULL, 0);
    assert_int_equal(vt_server_restart(s), 0);
    for (int i = 0; i < 3; i++) {
        wait_event(&ev[i], VMUX_EVENT_CONNECTION_RESTORED, NULL, 1);
        expect_pong(m[i]);
        vmux_close(m[i]);
    }

    /* INFO: both connections' "ready" lines, the open's finding (docs/reliability.md's table)
     * and the failure's warning. */
    assert_int_equal(log_count(&info, VMUX_LOG_INFO, "connection ready"), 2);
    assert_true(log_count(&info, VMUX_LOG_INFO, ": standalone server") >= 1);
    assert_true(log_count(&info, VMUX_LOG_WARN, "connection failed") >= 1);
    assert_true(log_min_level(&info) >= VMUX_LOG_INFO);
    /* WARN: the same warnings, no INFO line. */
    assert_int_equal(log_count(&warn, VMUX_LOG_INFO, ""), 0);
    assert_true(log_count(&warn, VMUX_LOG_WARN, "connection failed") >= 1);
    assert_true(log_min_level(&warn) >= VMUX_LOG_WARN);
    /* ERROR: nothing below it. */
    assert_true(log_min_level(&error) >= VMUX_LOG_ERROR);
    assert_int_equal(log_count(&error, VMUX_LOG_WARN, ""), 0);
    for (int i = 0; i < 3; i++) {
        pthread_mutex_destroy(&logs[i]->mu);
        pthread_mutex_destroy(&ev[i].mu);
    }
}

/* ssl=true,sslVerify=false is loud: a WARN as the handle opens; verified TLS is quiet. */
static void test_ssl_verify_false_warns(void **state)
{
    (void)state;
    static struct loglog unverified, verified;
    memset(&unverified, 0, sizeof unverified);
    memset(&verified, 0, sizeof verified);
    pthread_mutex_init(&unverified.mu, NULL);
    pthread_mutex_init(&verified.mu, NULL);
    int port = vt_server_port("tls-noclient");
    char text[4096 + 128];

    snprintf(text, sizeof text, "127.0.0.1:%d,ssl=true,sslVerify=false", port);
    struct hooks h = {.log = &unverified, .level = VMUX_LOG_WARN};
    vmux *m = open_with(text, &h);
    expect_pong(m);
    vmux_close(m);
    assert_int_equal(log_count(&unverified, VMUX_LOG_WARN, "sslVerify=false"), 1);

    snprintf(text, sizeof text, "127.0.0.1:%d,ssl=true,sslCaFile=%s/ca.crt", port, vt_certs_dir());
    h.log = &verified;
    m = open_with(text, &h);
    expect_pong(m);
    vmux_close(m);
    assert_int_equal(log_count(&verified, VMUX_LOG_WARN, "sslVerify"), 0);
    pthread_mutex_destroy(&unverified.mu);
    pthread_mutex_destroy(&verified.mu);
}

/* A host name of 248 bytes ending in .invalid, made of c (labels of at most 63). */
static void long_host(char host[249], char c)
{
    memset(host, c, 240);
    for (int i = 63; i < 240; i += 64)
        host[i] = '.';
    memcpy(host + 240, ".invalid", sizeof ".invalid");
}

/*
 * A legal host name of 248 bytes (labels of at most 63) that cannot resolve: vmux_open()'s error
 * buffer and the log's warning keep the cause after "host:port: ", rather than being cut inside
 * or just after the host name.
 */
static void test_long_host_name_keeps_the_cause(void **state)
{
    (void)state;
    static struct loglog log;
    memset(&log, 0, sizeof log);
    pthread_mutex_init(&log.mu, NULL);
    char host[249], text[400], err[1024] = "";
    long_host(host, 'a');
    assert_int_equal(strlen(host), 248);
    snprintf(text, sizeof text, "%s:24751,connectRetry=1,connectTimeout=5000", host);
    vmux_config *cfg = vt_config(text);
    assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_WARN, &log), 0);
    vmux *m = NULL;
    int rc = vmux_open(cfg, &m, err, sizeof err);
    vmux_config_free(cfg);
    /* the resolver may say no, or still be asking when connectTimeout ends */
    if (rc != VMUX_ERR_RESOLVE && rc != VMUX_ERR_TIMEOUT)
        fail_msg("vmux_open: %s: %s", vmux_err_name(rc), err);
    assert_int_equal(strncmp(err, host, strlen(host)), 0);
    assert_non_null(strstr(err, ":24751: "));
    if (strstr(err + strlen(host), "resolv") == NULL)
        fail_msg("no cause in the error buffer (%zu bytes): %s", strlen(err), err);
    /* the warning is logged before vmux_open() learns of the failure */
    assert_int_equal(log_count(&log, VMUX_LOG_WARN, "resolv"), 1);
    pthread_mutex_destroy(&log.mu);
}

/* How many times needle stands in s. */
static int occurrences(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/*
 * Two endpoints of 248-byte host names, tried three times between them: vmux_open() names each
 * once, with its cause (review helper-242: each retry of one endpoint was listed again, cut
 * before its port and its cause, as its "host:port: " no longer fit the kept copy).
 */
static void test_long_hosts_each_named_once(void **state)
{
    (void)state;
    char a[249], b[249], text[700], err[1024] = "";
    long_host(a, 'a');
    long_host(b, 'b');
    snprintf(text, sizeof text, "%s:24751,%s:24752,connectRetry=3,connectTimeout=5000", a, b);
    vmux *m = NULL;
    int rc = vmux_open_str(text, &m, err, sizeof err);
    if (rc != VMUX_ERR_RESOLVE && rc != VMUX_ERR_TIMEOUT)
        fail_msg("vmux_open: %s: %s", vmux_err_name(rc), err);
    assert_non_null(strstr(err, "each endpoint tried failed: "));
    char at[300];
    snprintf(at, sizeof at, "%s:24751: ", a);
    if (occurrences(err, at) != 1)
        fail_msg("the first endpoint named %d times: %s", occurrences(err, at), err);
    snprintf(at, sizeof at, "%s:24752: ", b);
    if (occurrences(err, at) != 1)
        fail_msg("the second endpoint named %d times: %s", occurrences(err, at), err);
    if (occurrences(err, "resolv") + occurrences(err, "timed out") < 2)
        fail_msg("not each endpoint's cause: %s", err);
}

/* ---- counters ---- */

/* Async completions in the order they came: status and reply text. */
struct pending {
    pthread_mutex_t mu;
    int done;
    int status[NTIMEOUTS + 4];
    char text[NTIMEOUTS + 4][32];
};

static void on_pending(int status, vmux_reply *reply, void *ud)
{
    struct pending *p = ud;
    const char *s = reply != NULL ? vmux_reply_str(reply, NULL) : NULL;
    pthread_mutex_lock(&p->mu);
    snprintf(p->text[p->done], sizeof p->text[0], "%s", s != NULL ? s : "");
    p->status[p->done++] = status;
    pthread_mutex_unlock(&p->mu);
    vmux_reply_free(reply);
}

struct pending_wait {
    struct pending *p;
    int n;
};

static bool pending_done(void *arg)
{
    struct pending_wait *w = arg;
    pthread_mutex_lock(&w->p->mu);
    bool yes = w->p->done >= w->n;
    pthread_mutex_unlock(&w->p->mu);
    return yes;
}

static void wait_pending(struct pending *p, int n, int deadline_ms)
{
    struct pending_wait w = {p, n};
    if (!vt_wait_until(pending_done, &w, deadline_ms))
        fail_msg("fewer than %d callbacks within %d ms", n, deadline_ms);
}

static bool idle(void *arg)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    vmux_read_stats(arg, &st);
    return st.backlog == 0 && st.in_flight == 0;
}

struct in_flight {
    vmux *m;
    uint64_t n;
};

static bool in_flight_is(void *arg)
{
    struct in_flight *w = arg;
    vmux_stats st = VMUX_INIT(vmux_stats);
    vmux_read_stats(w->m, &st);
    return st.in_flight == w->n;
}

static void test_stats_count_a_known_sequence(void **state)
{
    vt_server *s = *state;
    vmux *m = open_server(s, NULL, NULL);
    vmux_stats s0 = VMUX_INIT(vmux_stats), s1 = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &s0), 0);
    assert_int_equal(vmux_read_stats(NULL, &s0), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_read_stats(m, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(s0.submitted, 0); /* the session setup is not counted as commands */
    assert_int_equal(s0.connects, 1);

    for (int i = 0; i < NCALLS; i++)
        expect_pong(m);

    /* Writes stop being answered (a paused write holds every command behind it on the
     * connection); reads on the side connection still work, so CLIENT UNPAUSE gets through. */
    side_ok(s->port, "CLIENT PAUSE 20000 WRITE");
    struct pending p = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = SHORT_MS);
    for (int i = 0; i < NTIMEOUTS; i++)
        assert_int_equal(
            vmux_call_async(m, &o, 3, (const char *[]){"SET", "st:k", "v"}, NULL, on_pending, &p),
            0);
    wait_pending(&p, NTIMEOUTS, 10000);
    for (int i = 0; i < NTIMEOUTS; i++)
        assert_int_equal(p.status[i], VMUX_ERR_TIMEOUT);
    /* Timed out, they still owe replies: in flight until those are read (the next tick
     * publishes it; unpausing well before the 2 s dead-link threshold). */
    struct in_flight want = {m, NTIMEOUTS};
    if (!vt_wait_until(in_flight_is, &want, 1500))
        fail_msg("in_flight never showed the %d unanswered commands", NTIMEOUTS);
    side_ok(s->port, "CLIENT UNPAUSE");
    expect_pong(m); /* behind the late replies, which are read and dropped */

    /* The gauges are published by the I/O thread at least once a second. */
    if (!vt_wait_until(idle, m, 5000))
        fail_msg("backlog or in-flight not back to 0 within 5 s");
    assert_int_equal(vmux_read_stats(m, &s1), 0);
    vmux_close(m);

    assert_int_equal(s1.submitted - s0.submitted, NCALLS + NTIMEOUTS + 1);
    assert_int_equal(s1.replied - s0.replied, NCALLS + 1);
    assert_int_equal(s1.timed_out - s0.timed_out, NTIMEOUTS);
    assert_int_equal(s1.connection_lost, 0);
    assert_int_equal(s1.failed_other, 0);
    assert_int_equal(s1.closed, 0);
    assert_int_equal(s1.resent, 0);
    assert_int_equal(s1.retried, 0);
    assert_int_equal(s1.connects, 1);
    assert_int_equal(s1.connect_failures, 0);
    /* Each PING is 14 bytes out and 7 in ("+PONG\r\n"); each SET more than that. */
    assert_true(s1.bytes_out - s0.bytes_out >= 14u * (NCALLS + 1) + 14u * NTIMEOUTS);
    assert_true(s1.bytes_in - s0.bytes_in >= 7u * (NCALLS + 1) + 5u * NTIMEOUTS);
    pthread_mutex_destroy(&p.mu);
}

/* ---- dead link ---- */

static void test_stopped_server_link_replaced(void **state)
{
    vt_server *s = *state;
    vt_evlog ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct hooks h = {.events = &ev};
    vmux *m = open_server(s, "reconnectMin=20,reconnectMax=200,connectTimeout=1000", &h);
    expect_pong(m);
    side_ok(s->port, "SET dl:k before");

    assert_int_equal(kill(s->pid, SIGSTOP), 0);
    /* The head command's 1 s timeout makes the dead-link threshold max(2 s, 2 x 1 s). */
    struct pending p = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vmux_callopts head = VMUX_INIT(vmux_callopts, .timeout_ms = 1000);
    vmux_callopts safe =
        VMUX_INIT(vmux_callopts, .timeout_ms = 30000, .flags = VMUX_CALL_RETRY_SAFE);
    assert_int_equal(vmux_call_async(m, &head, 1, (const char *[]){"PING"}, NULL, on_pending, &p),
                     0);
    assert_int_equal(
        vmux_call_async(m, &safe, 2, (const char *[]){"GET", "dl:k"}, NULL, on_pending, &p), 0);

    int dead = wait_event(&ev, VMUX_EVENT_CONNECTION_FAILED, "dead link", 1);
    assert_int_equal(ev.ev[dead].code, VMUX_ERR_IO);
    wait_pending(&p, 1, 1000);
    assert_int_equal(p.status[0], VMUX_ERR_TIMEOUT); /* the PING, on its own deadline */

    assert_int_equal(kill(s->pid, SIGCONT), 0);
    wait_event(&ev, VMUX_EVENT_CONNECTION_RESTORED, NULL, dead + 1);
    wait_pending(&p, 2, 30000);
    assert_int_equal(p.status[1], 0); /* the GET, resent once on the new connection */
    assert_string_equal(p.text[1], "before");
    expect_pong(m);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.resent, 1);
    assert_int_equal(st.timed_out, 1);
    assert_true(st.connects >= 2);
    vmux_close(m);
    pthread_mutex_destroy(&p.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_follow_the_connection, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_log_levels, server_setup, server_teardown),
        cmocka_unit_test(test_ssl_verify_false_warns),
        cmocka_unit_test(test_long_host_name_keeps_the_cause),
        cmocka_unit_test(test_long_hosts_each_named_once),
        cmocka_unit_test_setup_teardown(test_stats_count_a_known_sequence, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_stopped_server_link_replaced, server_setup,
                                        server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
