/*
 * After a freeze (the I/O thread stood still for more than 3 s, as in a process thawed after a
 * suspension; here a message callback holds it), each connection proves itself with a PING
 * before commands are trusted to it.
 *
 * Long blocking commands in flight across the freeze: a pool BLPOP and a WAIT on the shared
 * connection, both blocking 10 s on a healthy server, get their answers (nil, 0 replicas). The
 * check's PING is queued behind them, and commands written before the freeze are judged by the
 * dead-link rule: the check must not fail a connection because a command ahead of its PING
 * owes a long reply.
 *
 * A command that times out while the check waits (the server stopped) says why: the connection
 * was being checked after the I/O thread stood still. It said only "timed out".
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "resil.h"
#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum {
    STALL_MS = 3500,  /* longer than the 3 s after which a late tick means a freeze */
    BLOCK_MS = 10000, /* the blocking commands' block: well past the thaw plus connectTimeout */
    WAIT_MS = 60000,
};

/* A short connectTimeout: a check that times its PING from its sending fails 1 s after the thaw. */
static const char *const CONF = "connectTimeout=1000,syncTimeout=5000";

struct freeze {
    atomic_bool stalling; /* the stall callback has started */
    atomic_bool checking; /* the handle logged its check after the freeze */
};

/* Holds the I/O thread for STALL_MS, as a frozen process would stand still (not a wait). */
static void on_stall(const vmux_message *msg, void *ud)
{
    (void)msg;
    struct freeze *f = ud;
    atomic_store(&f->stalling, true);
    vt_stand_still(STALL_MS);
}

static void on_log(vmux_log_level level, const char *message, void *ud)
{
    (void)level;
    if (strstr(message, "stood still") != NULL)
        atomic_store(&((struct freeze *)ud)->checking, true);
}

static bool flag_set(void *arg)
{
    return atomic_load((atomic_bool *)arg);
}

/* A handle on srv with extra keys, its log going to f; a subscription whose message stalls. */
static vmux *open_frozen(vt_server *srv, const char *extra, struct freeze *f, vmux_sub **stall,
                         const char *channel)
{
    atomic_init(&f->stalling, false);
    atomic_init(&f->checking, false);
    char *text = vt_server_conf(srv, extra);
    vmux_config *cfg = vt_config(text);
    assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_WARN, f), 0);
    vmux *m = vt_open_config(cfg, text);
    vmux_config_free(cfg);
    free(text);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(channel), on_stall, f, stall), 0);
    assert_int_equal(vmux_sub_wait_live(*stall, WAIT_MS), 0);
    return m;
}

/* Publishes on channel (the stall) and waits until the handle noticed the freeze. */
static void freeze(vt_server *srv, struct freeze *f, const char *channel)
{
    assert_int_equal(rt_admin_int(srv->port, "PUBLISH %s stall", channel), 1);
    if (!vt_wait_until(flag_set, &f->stalling, WAIT_MS))
        fail_msg("the stall callback did not run");
    if (!vt_wait_until(flag_set, &f->checking, WAIT_MS))
        fail_msg("the handle did not notice the freeze");
}

/* ---- long blocking commands in flight across the freeze ---- */

struct blocked {
    vmux *m;
    char key[64];
    int pop_rc, wait_rc;
    bool pop_nil;
    int64_t acked;
    char pop_why[256], wait_why[256];
};

static void *pop_main(void *arg)
{
    struct blocked *b = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = b->pop_why, .errlen = sizeof b->pop_why);
    vmux_str k = VMUX_STR(b->key);
    vmux_bytes key = {0}, value = {0};
    b->pop_rc = vmux_bpop(b->m, &o, VMUX_HEAD, &k, 1, BLOCK_MS, &key, &value);
    b->pop_nil = value.ptr == NULL;
    vmux_bytes_free(&key);
    vmux_bytes_free(&value);
    return NULL;
}

static void *wait_main(void *arg)
{
    struct blocked *b = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = b->wait_why, .errlen = sizeof b->wait_why);
    b->wait_rc = vmux_wait(b->m, &o, 1, BLOCK_MS, &b->acked);
    return NULL;
}

/* The server's count of blocked clients (INFO clients). */
static long blocked_clients(int port)
{
    char *info = rt_admin(port, "INFO clients");
    const char *at = info != NULL ? strstr(info, "blocked_clients:") : NULL;
    long n = at != NULL ? strtol(at + 16, NULL, 10) : -1;
    free(info);
    return n;
}

static bool both_blocked(void *arg)
{
    return blocked_clients(*(int *)arg) >= 2;
}

static void test_blocking_across_freeze(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    static struct freeze f;
    char channel[64];
    rt_unique(channel, sizeof channel, "frz:stall");
    vmux_sub *stall = NULL;
    vmux *m = open_frozen(&srv, CONF, &f, &stall, channel);
    static struct blocked b;
    b = (struct blocked){.m = m, .pop_rc = 1, .wait_rc = 1, .acked = -1};
    rt_unique(b.key, sizeof b.key, "frz:list");
    pthread_t tp, tw;
    assert_int_equal(pthread_create(&tp, NULL, pop_main, &b), 0);
    assert_int_equal(pthread_create(&tw, NULL, wait_main, &b), 0);
    bool blocked = vt_wait_until(both_blocked, &srv.port, WAIT_MS);
    if (blocked)
        freeze(&srv, &f, channel);
    pthread_join(tp, NULL);
    pthread_join(tw, NULL);
    if (!blocked)
        fail_msg("the BLPOP and the WAIT did not both block on the server");
    printf("BLPOP: %s %s; WAIT: %s acked %lld %s\n", vmux_err_name(b.pop_rc), b.pop_why,
           vmux_err_name(b.wait_rc), (long long)b.acked, b.wait_why);
    assert_int_equal(b.pop_rc, 0);
    assert_true(b.pop_nil);
    assert_int_equal(b.wait_rc, 0);
    assert_int_equal(b.acked, 0);
    assert_int_equal(vmux_unsubscribe(m, stall), 0);
    vmux_close(m);
    vt_server_stop(&srv);
}

/* ---- a command that times out while the check waits ---- */

/* Long enough that the check outlasts the command's deadline (300 ms) with the server stopped. */
static const char *const PATIENT = "connectTimeout=15000,syncTimeout=15000";

static void test_timeout_while_checking_says_why(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    static struct freeze f;
    char channel[64];
    rt_unique(channel, sizeof channel, "frz:stall");
    vmux_sub *stall = NULL;
    vmux *m = open_frozen(&srv, PATIENT, &f, &stall, channel);
    assert_int_equal(rt_admin_int(srv.port, "PUBLISH %s stall", channel), 1);
    if (!vt_wait_until(flag_set, &f.stalling, WAIT_MS))
        fail_msg("the stall callback did not run");
    assert_int_equal(kill(srv.pid, SIGSTOP), 0); /* the check's PING cannot be answered */
    bool checking = vt_wait_until(flag_set, &f.checking, WAIT_MS);
    char why[512] = "";
    int rc = -1;
    if (checking) {
        vmux_callopts o =
            VMUX_INIT(vmux_callopts, .timeout_ms = 300, .errbuf = why, .errlen = sizeof why);
        vmux_reply *r = NULL;
        rc = vmux_call(m, &o, 2, (const char *[]){"GET", "frz:any"}, NULL, &r);
        vmux_reply_free(r);
    }
    assert_int_equal(kill(srv.pid, SIGCONT), 0);
    if (!checking)
        fail_msg("the handle did not notice the freeze");
    printf("GET during the check: %s: %s\n", vmux_err_name(rc), why);
    assert_int_equal(rc, VMUX_ERR_TIMEOUT);
    if (strstr(why, "stood still") == NULL)
        fail_msg("the words do not say the connection was being checked: \"%s\"", why);
    assert_int_equal(vmux_unsubscribe(m, stall), 0);
    vmux_close(m);
    vt_server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocking_across_freeze),
        cmocka_unit_test(test_timeout_while_checking_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
