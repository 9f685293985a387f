/*
 * The credentials provider: called on every (re)connect, so a password rotated on the server
 * between two connections is picked up by the next one. An ACL user "rot" is created through a
 * side connection; the test changes its password on the server, changes what the provider
 * answers, kills the handle's connection (CLIENT KILL USER rot) and sees the next commands
 * succeed over a connection that authenticated with the new password. A provider that fails,
 * or gives a wrong password, makes vmux_open fail with VMUX_ERR_AUTH; with abortConnect=false a
 * failed AUTH is retried until the provider's answer is right.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup, asprintf under -std=c11 */
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

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "evlog.h"
#include "servers.h"
#include "sidetext.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum { MAXEV = 256, EVENT_DEADLINE_MS = 10000 };

/* ---- a side connection to the server, not through vmux ---- */

/* A reply's text; an array is "(array)". */
static char *reply_text(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY ? strdup("(array)") : vt_reply_scalar_text(r);
}

/* Sends one command to 127.0.0.1:port on a fresh hiredis connection (default user); returns
 * its text (malloc'ed), or NULL when the server cannot be reached or does not answer in 5 s. */
#define side(port, ...) vt_side_text(port, reply_text, __VA_ARGS__)

static void side_expect(int port, const char *expect, const char *cmd)
{
    char *r = side(port, cmd);
    if (r == NULL || strcmp(r, expect) != 0)
        fail_msg("%s: %s (expected %s)", cmd, r ? r : "(no reply)", expect);
    free(r);
}

/* ---- the provider ---- */

struct creds {
    _Atomic(const char *) password; /* a string literal: the test swaps it atomically */
    atomic_bool fail;
    const char *why; /* with fail: the words the provider gives (vmux_credentials_failed()) */
    atomic_int calls;
};

static int provider(char *user, size_t user_size, char *password, size_t password_size,
                    void *userdata)
{
    struct creds *c = userdata;
    atomic_fetch_add(&c->calls, 1);
    if (atomic_load(&c->fail))
        return c->why != NULL ? vmux_credentials_failed(-1, "vault: %s", c->why) : -1;
    snprintf(user, user_size, "rot");
    snprintf(password, password_size, "%s", atomic_load(&c->password));
    return 0;
}

/* ---- events ---- */

/* Waits for an event of type (and code, when code != 0) at index from or later. */
struct ev_wait {
    vt_evlog *log;
    vmux_event_type type;
    int code;
    int from;
};

static bool event_seen(void *arg)
{
    struct ev_wait *w = arg;
    bool found = false;
    pthread_mutex_lock(&w->log->mu);
    for (int i = w->from; i < w->log->n && !found; i++)
        found = w->log->ev[i].type == w->type && (w->code == 0 || w->log->ev[i].code == w->code);
    pthread_mutex_unlock(&w->log->mu);
    return found;
}

static int event_count(vt_evlog *log)
{
    pthread_mutex_lock(&log->mu);
    int n = log->n;
    pthread_mutex_unlock(&log->mu);
    return n;
}

static void wait_event(vt_evlog *log, vmux_event_type type, int code, int from)
{
    struct ev_wait w = {log, type, code, from};
    if (!vt_wait_until(event_seen, &w, EVENT_DEADLINE_MS))
        fail_msg("no event of type %d (code %s) within %d ms", (int)type, vmux_err_name(code),
                 EVENT_DEADLINE_MS);
}

/* ---- fixture: one server with the ACL user "rot" ---- */

static int server_setup(void **state)
{
    *state = vt_server_new(NULL);
    return *state != NULL ? 0 : -1;
}

static int server_teardown(void **state)
{
    vt_server *s = *state;
    vt_server_stop(s);
    free(s);
    return 0;
}

/* (Re)creates the user "rot" with password pw1 and every permission. */
static void reset_user(const vt_server *s)
{
    side_expect(s->port, "OK", "ACL SETUSER rot reset on >pw1 ~* &* +@all");
}

static vmux_config *config_for(const vt_server *s, const char *extra, struct creds *c,
                               vt_evlog *log)
{
    char *text = vt_server_conf(s, extra);
    vmux_config *cfg = vt_config(text);
    free(text);
    vmux_config_set_credentials_provider(cfg, provider, c);
    if (log != NULL)
        vmux_config_set_event_handler(cfg, vt_evlog_on_event, log);
    return cfg;
}

/* Calls a command of NUL-terminated words; returns its text (malloc'ed) or fails the test. */
static char *call_text(vmux *m, int argc, const char *const *argv)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, argc, argv, NULL, &r);
    if (rc != 0)
        fail_msg("%s: %s %s", argv[0], vmux_err_name(rc), r ? vmux_reply_str(r, NULL) : "");
    const char *s = vmux_reply_str(r, NULL);
    assert_non_null(s);
    char *text = strdup(s);
    vmux_reply_free(r);
    return text;
}

static void expect_whoami_rot(vmux *m)
{
    char *who = call_text(m, 2, (const char *[]){"ACL", "WHOAMI"});
    assert_string_equal(who, "rot");
    free(who);
}

static void expect_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("'%s' not found in '%s'", needle, haystack);
}

/* ---- tests ---- */

static void test_rotated_password_used_on_reconnect(void **state)
{
    vt_server *s = *state;
    reset_user(s);
    struct creds c = {.password = "pw1"};
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    vmux_config *cfg = config_for(s, "reconnectMin=20,reconnectMax=200", &c, &log);
    vmux *m = vt_open_config(cfg, "reconnectMin=20,reconnectMax=200");
    vmux_config_free(cfg);
    expect_whoami_rot(m);
    assert_int_equal(atomic_load(&c.calls), 1);

    /* Rotate: the server now accepts only pw2, the provider now answers pw2. pw1 sessions
     * already open stay authenticated, so the handle's connection must be cut. */
    side_expect(s->port, "OK", "ACL SETUSER rot resetpass >pw2");
    atomic_store(&c.password, "pw2");
    int before = event_count(&log);
    char *killed = side(s->port, "CLIENT KILL USER rot");
    assert_non_null(killed);
    assert_true(atoi(killed) >= 1);
    free(killed);

    wait_event(&log, VMUX_EVENT_CONNECTION_RESTORED, 0, before);
    expect_whoami_rot(m);
    free(call_text(m, 3, (const char *[]){"SET", "cred:key", "v"}));
    char *v = call_text(m, 2, (const char *[]){"GET", "cred:key"});
    assert_string_equal(v, "v");
    free(v);
    assert_true(atomic_load(&c.calls) >= 2);

    /* The reconnect never tried pw1: no AUTH failure was reported. */
    pthread_mutex_lock(&log.mu);
    for (int i = 0; i < log.n; i++)
        if (log.ev[i].type == VMUX_EVENT_CONNECTION_FAILED)
            assert_int_not_equal(log.ev[i].code, VMUX_ERR_AUTH);
    pthread_mutex_unlock(&log.mu);
    vmux_close(m);
}

/* abortConnect=false: a rejected password is retried with backoff until the provider is right. */
static void test_failed_auth_is_retried(void **state)
{
    vt_server *s = *state;
    reset_user(s);
    struct creds c = {.password = "not-yet"};
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    const char *keys = "abortConnect=false,reconnectMin=20,reconnectMax=200";
    vmux_config *cfg = config_for(s, keys, &c, &log);
    vmux *m = vt_open_config(cfg, keys);
    vmux_config_free(cfg);

    wait_event(&log, VMUX_EVENT_CONNECTION_FAILED, VMUX_ERR_AUTH, 0);
    pthread_mutex_lock(&log.mu);
    for (int i = 0; i < log.n; i++) {
        assert_int_equal(log.ev[i].type, VMUX_EVENT_CONNECTION_FAILED);
        assert_int_equal(log.ev[i].code, VMUX_ERR_AUTH);
        expect_contains(log.ev[i].reason, "WRONGPASS");
    }
    pthread_mutex_unlock(&log.mu);

    int before = event_count(&log);
    atomic_store(&c.password, "pw1");
    wait_event(&log, VMUX_EVENT_CONNECTION_RESTORED, 0, before);
    expect_whoami_rot(m);
    assert_true(atomic_load(&c.calls) >= 2);
    vmux_close(m);
}

/* vmux_open() with the provider c and extra keys fails VMUX_ERR_AUTH, its handle NULL; err gets
 * its words. */
static void open_fails_auth(const vt_server *s, const char *extra, struct creds *c, char *err,
                            size_t errlen)
{
    vmux_config *cfg = config_for(s, extra, c, NULL);
    vmux *m = (vmux *)cfg; /* a non-NULL marker that a failed open must clear */
    int rc = vmux_open(cfg, &m, err, errlen);
    vmux_config_free(cfg);
    assert_int_equal(rc, VMUX_ERR_AUTH);
    assert_null(m);
}

static void test_provider_error_fails_open(void **state)
{
    vt_server *s = *state;
    reset_user(s);
    struct creds c = {.password = "pw1"};
    atomic_store(&c.fail, true);
    char err[256] = "";
    open_fails_auth(s, "connectRetry=2,reconnectMin=20,reconnectMax=40", &c, err, sizeof err);
    /* what it returned, and the buffers it had: it may have found them too small */
    expect_contains(err, "the credentials provider failed: it returned -1 (VMUX_ERR_INVALID_ARG) "
                         "with buffers of 256 and 16384 bytes");
    assert_true(atomic_load(&c.calls) >= 2); /* once per attempt */
}

/* A provider that says why it fails: its words, not its return code, in the failure. */
static void test_provider_words_fail_open(void **state)
{
    vt_server *s = *state;
    reset_user(s);
    struct creds c = {.password = "pw1", .why = "sealed since 09:00"};
    atomic_store(&c.fail, true);
    char err[256] = "";
    open_fails_auth(s, "connectRetry=1", &c, err, sizeof err);
    expect_contains(err, "the credentials provider failed: vault: sealed since 09:00");
    assert_null(strstr(err, "it returned"));
    /* the words are the calling thread's: this one's stay its own */
    assert_int_equal(vmux_credentials_failed(VMUX_ERR_CONFIG, "here %d", 1), VMUX_ERR_CONFIG);
    assert_string_equal(vmux_last_error(), "here 1");
    assert_int_equal(vmux_credentials_failed(-1, NULL), -1);
    assert_string_equal(vmux_last_error(), "");
}

static void test_wrong_password_from_provider(void **state)
{
    vt_server *s = *state;
    reset_user(s);
    struct creds c = {.password = "wrong"};
    char err[256] = "";
    open_fails_auth(s, "connectRetry=1", &c, err, sizeof err);
    expect_contains(err, "WRONGPASS");
    assert_int_equal(atomic_load(&c.calls), 1);
}

/* ---- re-AUTH of a live connection (reauthInterval) ---- */

/* The server's count of AUTH commands: all of them, and those that failed. */
struct auth_counts {
    int calls, failed;
};

static struct auth_counts auth_counts(int port)
{
    struct auth_counts n = {-1, -1};
    char *info = side(port, "INFO commandstats");
    const char *line = info != NULL ? strstr(info, "cmdstat_auth:") : NULL;
    if (line != NULL) {
        n.calls = 0;
        sscanf(line, "cmdstat_auth:calls=%d", &n.calls);
        const char *f = strstr(line, "failed_calls=");
        n.failed = f != NULL ? atoi(f + strlen("failed_calls=")) : 0;
    } else if (info != NULL) {
        n.calls = n.failed = 0; /* no AUTH since the stats were reset */
    }
    free(info);
    return n;
}

struct auth_wait {
    int port, calls, failed; /* at least this many (calls), this many failed */
};

static bool auth_reached(void *arg)
{
    struct auth_wait *w = arg;
    struct auth_counts n = auth_counts(w->port);
    return n.calls >= w->calls && n.failed >= w->failed;
}

static void wait_auths(int port, int calls, int failed)
{
    struct auth_wait w = {port, calls, failed};
    if (!vt_wait_until(auth_reached, &w, EVENT_DEADLINE_MS))
        fail_msg("the server did not count %d AUTH (%d failed) within %d ms", calls, failed,
                 EVENT_DEADLINE_MS);
}

static long long client_id(vmux *m)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"CLIENT", "ID"}, NULL, &r), 0);
    long long id = vmux_reply_integer(r);
    vmux_reply_free(r);
    return id;
}

/* Counts the log lines that say a re-AUTH was refused, and those that say the provider failed
 * (in what it returned: creds.fail's -1). */
static atomic_int refused_lines, provider_failed_lines;

static void on_log(vmux_log_level level, const char *msg, void *ud)
{
    (void)ud;
    if (level == VMUX_LOG_WARN && strstr(msg, "re-AUTH refused: WRONGPASS") != NULL)
        atomic_fetch_add(&refused_lines, 1);
    if (level == VMUX_LOG_WARN &&
        strstr(msg, ": the credentials provider failed: it returned -1 (VMUX_ERR_INVALID_ARG) "
                    "with buffers of 256 and 16384 bytes; re-AUTH later") != NULL)
        atomic_fetch_add(&provider_failed_lines, 1);
}

static bool refusal_logged(void *arg)
{
    (void)arg;
    return atomic_load(&refused_lines) >= 1;
}

static bool provider_failure_logged(void *arg)
{
    (void)arg;
    return atomic_load(&provider_failed_lines) >= 1;
}

static bool key_gone(void *arg)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(arg, NULL, 2, (const char *[]){"EXISTS", "cred:tick"}, NULL, &r);
    bool gone = rc == 0 && vmux_reply_integer(r) == 0;
    vmux_reply_free(r);
    return gone;
}

/*
 * The server takes only the new password, and the connection stays the same: with
 * reauthInterval=1 the handle authenticates its live connection again every second with the
 * provider's answer, so the rotation needs no reconnect (ElastiCache's IAM connections must do
 * this within 12 hours).
 */
static void test_reauth_renews_live_connection(void **state)
{
    vt_server *s = *state;
    reset_user(s);
    struct creds c = {.password = "pw1"};
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    vmux_config *cfg = config_for(s, "reauthInterval=1", &c, &log);
    vmux *m = vt_open_config(cfg, "reauthInterval=1");
    vmux_config_free(cfg);
    long long id = client_id(m);
    int events = event_count(&log);

    side_expect(s->port, "OK", "ACL SETUSER rot >pw2");
    atomic_store(&c.password, "pw2");
    side_expect(s->port, "OK", "ACL SETUSER rot <pw1"); /* from here on only pw2 works */
    side_expect(s->port, "OK", "CONFIG RESETSTAT");
    wait_auths(s->port, 2, 0); /* two renewals with pw2 */
    struct auth_counts n = auth_counts(s->port);
    assert_int_equal(n.failed, 0);

    assert_int_equal(client_id(m), id); /* the same connection */
    expect_whoami_rot(m);
    assert_int_equal(event_count(&log), events); /* no disconnect, no restore */
    assert_true(atomic_load(&c.calls) >= 3);
    vmux_close(m);
}

/* A renewal the server refuses, or the provider fails, is logged; the connection keeps its
 * earlier authentication. */
static void test_reauth_refused_keeps_connection(void **state)
{
    vt_server *s = *state;
    reset_user(s);
    struct creds c = {.password = "pw1"};
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cap = MAXEV};
    atomic_store(&refused_lines, 0);
    atomic_store(&provider_failed_lines, 0);
    vmux_config *cfg = config_for(s, "reauthInterval=1", &c, &log);
    vmux_config_set_log(cfg, on_log, VMUX_LOG_WARN, NULL);
    vmux *m = vt_open_config(cfg, "reauthInterval=1");
    vmux_config_free(cfg);
    long long id = client_id(m);
    int events = event_count(&log);

    atomic_store(&c.fail, true); /* first the provider fails (a refusal waits 60 s to retry) */
    assert_true(vt_wait_until(provider_failure_logged, NULL, EVENT_DEADLINE_MS));
    atomic_store(&c.fail, false);
    side_expect(s->port, "OK", "CONFIG RESETSTAT");
    atomic_store(&c.password, "wrong");
    wait_auths(s->port, 1, 1);
    assert_true(vt_wait_until(refusal_logged, NULL, EVENT_DEADLINE_MS));

    assert_int_equal(client_id(m), id);
    expect_whoami_rot(m);
    free(call_text(m, 3, (const char *[]){"SET", "cred:reauth", "v"}));
    assert_int_equal(event_count(&log), events);
    vmux_close(m);
}

/* Without reauthInterval's renewals (0), the connection authenticates once. */
static void test_reauth_off(void **state)
{
    vt_server *s = *state;
    reset_user(s);
    struct creds c = {.password = "pw1"};
    vmux_config *cfg = config_for(s, "reauthInterval=0", &c, NULL);
    vmux *m = vt_open_config(cfg, "reauthInterval=0");
    vmux_config_free(cfg);
    long long id = client_id(m);
    side_expect(s->port, "OK", "CONFIG RESETSTAT");
    /* three seconds of ticks, proved by a key's TTL running out on the server */
    free(call_text(m, 5, (const char *[]){"SET", "cred:tick", "v", "PX", "3000"}));
    assert_true(vt_wait_until(key_gone, m, EVENT_DEADLINE_MS));
    assert_int_equal(auth_counts(s->port).calls, 0);
    assert_int_equal(client_id(m), id);
    assert_int_equal(atomic_load(&c.calls), 1);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotated_password_used_on_reconnect),
        cmocka_unit_test(test_failed_auth_is_retried),
        cmocka_unit_test(test_provider_error_fails_open),
        cmocka_unit_test(test_provider_words_fail_open),
        cmocka_unit_test(test_wrong_password_from_provider),
        cmocka_unit_test(test_reauth_renews_live_connection),
        cmocka_unit_test(test_reauth_refused_keeps_connection),
        cmocka_unit_test(test_reauth_off),
    };
    return cmocka_run_group_tests(tests, server_setup, server_teardown);
}
