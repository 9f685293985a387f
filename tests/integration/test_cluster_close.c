/*
 * vmux_close() with commands waiting unsent behind a dead cluster node (fixture "cluster-close":
 * three primaries with a replica each, its own because this test kills a primary). The primary's
 * replica is held (SIGSTOP) so that no failover can complete, the primary SIGKILLed, and once the
 * handle has seen its connection fail, typed fan-outs (DBSIZE, SCRIPT LOAD, FLUSHALL, each on a
 * thread of its own, as they are synchronous), an asynchronous fan-out (vmux_call_nodes_async())
 * and asynchronous SETs to the dead primary's slot are started: their parts and commands for that
 * node wait in its backlog. vmux_close() then ends them: every callback runs exactly once, and
 * every call says of the dead node's part "never sent, not executed" (core/op_words.c,
 * vmux__op_closed_why()), never that it may have run; the ones for the live primaries ran. Once
 * the replica resumes and is promoted, none of the SETs is there. The standalone twin is
 * integration.mux_close's test_close_words_never_sent.
 */
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
#include <pthread.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "route/slot.h"
#include "nodefail.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-close"
#define NSETS 8
#define NEVER "never sent, not executed"

/* A typed fan-out run on a thread of its own: which, and what it returned. */
struct typed {
    vmux *m;
    const char *name;
    int rc;
    char why[512];
    pthread_t th;
};

static void *dbsize(void *arg)
{
    struct typed *t = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = t->why, .errlen = sizeof t->why);
    int64_t n = -1;
    t->rc = vmux_dbsize(t->m, &o, &n);
    return NULL;
}

static void *script_load(void *arg)
{
    struct typed *t = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = t->why, .errlen = sizeof t->why);
    vmux_bytes sha1 = {0};
    t->rc = vmux_script_load(t->m, &o, VMUX_STR("return 'closed behind a dead node'"), &sha1);
    vmux_bytes_free(&sha1);
    return NULL;
}

static void *flushall(void *arg)
{
    struct typed *t = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = t->why, .errlen = sizeof t->why);
    t->rc = vmux_flushall_for_tests(t->m, &o, VMUX_FLUSH_SYNC);
    return NULL;
}

/* An asynchronous call's completions: how many ran, and what the first said. */
struct done {
    atomic_int runs;
    int status;
    char words[640];
};

static void on_set(int status, vmux_reply *reply, void *userdata)
{
    struct done *d = userdata;
    if (atomic_fetch_add(&d->runs, 1) == 0) {
        d->status = status;
        snprintf(d->words, sizeof d->words, "%s", vmux_last_error());
    }
    vmux_reply_free(reply);
}

/* The asynchronous fan-out's completion: its parts, kept for the test thread. */
struct fan_done {
    atomic_int runs;
    int status;
    vmux_node_replies *res;
};

static void on_fan(int status, vmux_node_replies *result, void *userdata)
{
    struct fan_done *d = userdata;
    if (atomic_fetch_add(&d->runs, 1) == 0) {
        d->status = status;
        d->res = result;
        return;
    }
    vmux_node_replies_free(result);
    free(result);
}

/* A hash tag whose slot the primary at port serves, as the node at ask says (written in tag). */
static void tag_of(int ask, int port, char *tag, size_t cap)
{
    for (int i = 0; i < 1000; i++) {
        snprintf(tag, cap, "cc%d", i);
        if (vt_slot_primary(ask, false, (int)vmux__slot_of(tag, strlen(tag))) == port)
            return;
    }
    fail_msg("no hash tag found in the slots of 127.0.0.1:%d", port);
}

/* What the test waits for: the dead node's backlog holding want commands. */
struct backlog {
    vmux *m;
    int port;
    uint64_t want;
};

static bool backlog_full(void *arg)
{
    struct backlog *b = arg;
    vmux_stats s = VMUX_INIT(vmux_stats);
    return vmux_read_node_stats(b->m, "127.0.0.1", b->port, &s) == 0 && s.backlog >= b->want;
}

/*
 * Whether every primary but dead answered a PING sent to it now: the fan-outs' parts written to
 * it before, on the same connection, have been answered then, so vmux_close() finds none of them
 * in flight (one was, under ASan: "127.0.0.1:P: the handle was closed; a command it had sent may
 * have run", a live node's part, where the test wants the dead node's words).
 */
static bool live_parts_answered(vmux *m, int dead)
{
    for (int i = 0; i < vt_cluster_primaries(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        const char *ping[] = {"PING"};
        vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 20000);
        if (port != dead && vmux_call_node(m, &o, "127.0.0.1", port, 1, ping, NULL, NULL) != 0)
            return false;
    }
    return true;
}

/* Fails the test unless the typed fan-out t failed CLOSED, naming dead and saying NEVER. */
static void check_typed(const struct typed *t, const char *dead)
{
    if (t->rc != VMUX_ERR_CLOSED || strstr(t->why, dead) == NULL || strstr(t->why, NEVER) == NULL)
        fail_msg("%s closed behind a dead node: %s: \"%s\"", t->name, vmux_err_name(t->rc), t->why);
}

/* Fails the test unless the asynchronous fan-out ran once, its dead node's part saying NEVER
 * and the live primaries' parts answered. */
static void check_fan(const struct fan_done *d, const char *dead)
{
    assert_int_equal(atomic_load(&d->runs), 1);
    assert_int_equal(d->status, 0);
    assert_non_null(d->res);
    assert_int_equal(d->res->count, 3);
    for (size_t i = 0; i < d->res->count; i++) {
        const vmux_node_reply *n = &d->res->nodes[i];
        const char *said = n->reply != NULL ? vmux_reply_str(n->reply, NULL) : NULL;
        bool is_dead = strcmp(dead, n->address) == 0;
        if (is_dead && (n->status != VMUX_ERR_CLOSED || said == NULL || !strstr(said, NEVER)))
            fail_msg("vmux_call_nodes_async's part on %s at close: %s: \"%s\"", n->address,
                     vmux_err_name(n->status), said ? said : "(no reply)");
        if (!is_dead && n->status != 0)
            fail_msg("vmux_call_nodes_async's part on the live %s: %s: \"%s\"", n->address,
                     vmux_err_name(n->status), said ? said : "(no reply)");
    }
}

static void test_close_behind_dead_primary(void **state)
{
    (void)state;
    int primary = vt_cluster_port(CLUSTER, 0), other = vt_cluster_port(CLUSTER, 1);
    int rep = vt_cluster_replica_of(CLUSTER, primary);
    long rep_pid = vt_node_pid(rep), pid = vt_node_pid(primary);
    char tag[16], dead[32];
    tag_of(other, primary, tag, sizeof tag);
    snprintf(dead, sizeof dead, "127.0.0.1:%d", primary);
    vmux *m = vt_open_linked(other, "syncTimeout=60000,asyncTimeout=60000");

    /* the failover is held: a stopped replica asks for no votes */
    assert_int_equal(kill((pid_t)rep_pid, SIGSTOP), 0);
    bool stopped = vt_wait_until(vt_process_stopped, &rep_pid, 10000);
    struct vt_conn_watch w;
    vt_conn_watch_start(&w, m);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    bool seen = vt_wait_until(vt_conn_failed, &w, 30000); /* what follows waits in its backlog */

    struct typed t[] = {
        {.m = m, .name = "DBSIZE"}, {.m = m, .name = "SCRIPT LOAD"}, {.m = m, .name = "FLUSHALL"}};
    void *(*fn[])(void *) = {dbsize, script_load, flushall};
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i].th, NULL, fn[i], &t[i]), 0);
    struct fan_done fan = {0};
    const char *dbsize_argv[] = {"DBSIZE"};
    assert_int_equal(
        vmux_call_nodes_async(m, NULL, VMUX_NODES_PRIMARIES, 1, dbsize_argv, NULL, on_fan, &fan),
        0);
    static struct done sets[NSETS];
    for (int i = 0; i < NSETS; i++) {
        char key[32];
        snprintf(key, sizeof key, "{%s}:%d", tag, i);
        const char *set[] = {"SET", key, "never"};
        assert_int_equal(vmux_call_async(m, NULL, 3, set, NULL, on_set, &sets[i]), 0);
    }
    /* each typed part comes with its ROLE; the threads' calls have handed their parts over */
    struct backlog b = {m, primary, 3 * 2 + 1 + NSETS};
    bool queued = vt_wait_until(backlog_full, &b, 20000);
    /* the live primaries' parts answered: a PING behind them on each node's connection is */
    bool answered = queued && live_parts_answered(m, primary);
    bool held = vt_process_stopped(&rep_pid); /* no failover could complete meanwhile */
    vmux_close(m);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i].th, NULL);
    assert_int_equal(kill((pid_t)rep_pid, SIGCONT), 0); /* before any assertion can end the test */
    assert_true(stopped);
    assert_true(seen);
    assert_true(queued);
    assert_true(answered);
    assert_true(held);

    for (int i = 0; i < 3; i++)
        check_typed(&t[i], dead);
    check_fan(&fan, dead);
    vmux_node_replies_free(fan.res);
    free(fan.res);
    for (int i = 0; i < NSETS; i++) {
        assert_int_equal(atomic_load(&sets[i].runs), 1);
        assert_int_equal(sets[i].status, VMUX_ERR_CLOSED);
        if (strstr(sets[i].words, NEVER) == NULL)
            fail_msg("an asynchronous SET behind a dead node, at close: \"%s\"", sets[i].words);
    }

    /* the failover completes now; the SETs never ran, so the promoted replica has none */
    assert_true(vt_poll_until(vt_port_is_primary, &rep, 60000, 50));
    for (int i = 0; i < NSETS; i++) {
        redisReply *r = vt_node_command(rep, false, "EXISTS {%s}:%d", tag, i);
        assert_non_null(r);
        assert_int_equal(r->integer, 0);
        freeReplyObject(r);
    }
    printf("closed behind a dead node: %s\n", t[0].why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_behind_dead_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
