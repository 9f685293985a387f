/*
 * A cluster node's share of the handle's admission (route/share.c, review helper-236 F1): a
 * primary that stops answering with its connection open (here paused with CLIENT PAUSE ...
 * WRITE, which, unlike SIGSTOP, cannot start a failover on a slow machine) holds every command
 * written to it until its late reply; under a long deadline they took the whole of maxPending,
 * and the healthy shards' calls were refused at the door. With maxPending=2000 the paused node
 * holds at most 1000 (half of maxPending): its next commands
 * complete at once with VMUX_ERR_BACKLOG_FULL naming it, the other primaries keep serving, and
 * once it answers again every command it held completes.
 *
 * It pauses a primary, so it runs alone (RUN_SERIAL).
 */
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

#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster"
#define MAXNODES 16
#define SHARE 1000 /* maxPending=2000 / 2, under the default backlogSize */
#define PUMP 2000  /* what the paused node is sent: as many as maxPending */

/* The port of the primary serving key, as node 0 says (CLUSTER KEYSLOT, CLUSTER SLOTS). */
static int owner_of(const char *key)
{
    int seed = vt_cluster_port(CLUSTER, 0);
    redisReply *r = vt_node_command(seed, false, "CLUSTER KEYSLOT %s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    int slot = (int)r->integer;
    freeReplyObject(r);
    int port = vt_slot_primary(seed, false, slot);
    assert_true(port > 0);
    return port;
}

/* A key of each primary other than the paused one's (its port): keys[i], n of them. */
static int healthy_keys(int paused, char keys[][32], int max)
{
    int ports[MAXNODES], n = 0;
    for (int i = 0; i < 1000 && n < max; i++) {
        char key[32];
        snprintf(key, sizeof key, "share:ok:%d", i);
        int port = owner_of(key), j = 0;
        while (j < n && ports[j] != port)
            j++;
        if (port == paused || j < n)
            continue;
        ports[n] = port;
        snprintf(keys[n++], 32, "%s", key);
    }
    return n;
}

/* The paused node's commands: how many completed, and how (the refusals' last words). */
struct pump {
    atomic_int ok, full, other, door;
    int want_full; /* the refusals the test waits for */
    char why[640];
};

static void pump_cb(int status, vmux_reply *reply, void *userdata)
{
    struct pump *p = userdata;
    if (status == 0) {
        atomic_fetch_add(&p->ok, 1);
    } else if (status == VMUX_ERR_BACKLOG_FULL) {
        snprintf(p->why, sizeof p->why, "%s", vmux_last_error());
        atomic_fetch_add(&p->full, 1);
    } else {
        atomic_fetch_add(&p->other, 1);
    }
    vmux_reply_free(reply);
}

/* Sends n INCRs of argv asynchronously to the pump (a refusal at the door counted there). */
static void pump(vmux *m, struct pump *p, const char *const *argv, int n)
{
    for (int i = 0; i < n; i++) {
        int rc = vmux_call_async(m, NULL, 2, argv, NULL, pump_cb, p);
        if (rc == VMUX_ERR_BACKLOG_FULL)
            atomic_fetch_add(&p->door, 1); /* at the door: the handle's maxPending, no callback */
        else
            assert_int_equal(rc, 0);
    }
}

static bool one_refused(void *arg)
{
    struct pump *p = arg;
    return atomic_load(&p->full) > 0;
}

/* The refusals the test waits for have all come (want_full of them). */
static bool refusals_in(void *arg)
{
    struct pump *p = arg;
    return atomic_load(&p->full) + atomic_load(&p->door) >= p->want_full;
}

static bool pump_done(void *arg)
{
    struct pump *p = arg;
    return atomic_load(&p->ok) + atomic_load(&p->full) + atomic_load(&p->other) +
               atomic_load(&p->door) ==
           PUMP;
}

/* Whether the paused node at arg (a redisContext) takes writes again. */
static bool node_writable(void *arg)
{
    redisReply *r = redisCommand(arg, "SET {share:stuck}probe 1") /* its slot */;
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok;
}

static void pause_writes(redisContext *c, const char *how)
{
    redisReply *r = redisCommand(c, how);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

/*
 * A paused primary sent as many commands as maxPending holds its share and no more; the
 * commands beyond it complete with VMUX_ERR_BACKLOG_FULL naming the node and the bound; every
 * other primary still serves synchronous calls; once unpaused, the held commands are answered.
 */
static void test_paused_node_holds_its_share(void **state)
{
    (void)state;
    const char *stuck = "share:stuck";
    int paused = owner_of(stuck);
    char keys[MAXNODES][32];
    int nhealthy = healthy_keys(paused, keys, MAXNODES);
    assert_true(nhealthy >= 1);
    char *conf = vt_node_config(vt_cluster_port(CLUSTER, 0), "maxPending=2000,syncTimeout=30000");
    vmux *m = vt_open_conf(conf);
    free(conf);
    assert_int_equal(vt_try_set(m, stuck, "0", 0), 0); /* every link used is connected */
    for (int i = 0; i < nhealthy; i++)
        assert_int_equal(vt_try_set(m, keys[i], "0", 0), 0);

    vmux_stats before = VMUX_INIT(vmux_stats), after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &before), 0);
    redisContext *c = vt_node_connect(paused);
    pause_writes(c, "CLIENT PAUSE 20000 WRITE");
    static struct pump p;
    memset(&p, 0, sizeof p);
    const char *argv[] = {"INCR", stuck};
    pump(m, &p, argv, SHARE);
    /* Held to its share only once it has answered nothing for a second: until then one more
     * command at a time is held, and then refused (a busy node's deep pipeline is not cut). */
    int probes = 0;
    while (atomic_load(&p.full) == 0 && probes < PUMP - SHARE) {
        pump(m, &p, argv, 1);
        probes++;
        vt_wait_until(one_refused, &p, 20);
    }
    pump(m, &p, argv, PUMP - SHARE - probes); /* each refused at once */
    p.want_full = PUMP - SHARE - probes + 1;  /* those, and the probe refused */
    bool refused = vt_wait_until(refusals_in, &p, 10000);
    /* The healthy primaries serve (before: maxPending was all the paused node's, and these were
     * refused at the door). */
    int healthy_rc[MAXNODES];
    for (int i = 0; i < nhealthy; i++)
        healthy_rc[i] = vt_try_set(m, keys[i], "1", 5000);
    char err[640] = "";
    vmux_reply *r = NULL;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int stuck_rc = vmux_call(m, &o, 2, argv, NULL, &r);
    vmux_reply_free(r);
    assert_int_equal(vmux_read_stats(m, &after), 0);
    pause_writes(c, "CLIENT UNPAUSE"); /* before any assertion can end the test */
    assert_true(vt_wait_until(node_writable, c, 10000));
    redisFree(c);

    for (int i = 0; i < nhealthy; i++)
        if (healthy_rc[i] != 0)
            fail_msg("SET %s (a healthy primary's) returned %d while 127.0.0.1:%d was paused",
                     keys[i], healthy_rc[i], paused);
    assert_true(refused);
    assert_int_equal(atomic_load(&p.door), 0);
    assert_true(atomic_load(&p.full) >= p.want_full);
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d already holds ", paused);
    if (strstr(p.why, where) == NULL || strstr(p.why, "the other nodes are not affected") == NULL)
        fail_msg("a refused command of the paused node read \"%s\"", p.why);
    assert_int_equal(stuck_rc, VMUX_ERR_BACKLOG_FULL);
    /* counted where overload shows, as the door's refusals are: the pump's and the call's */
    if (after.refused - before.refused < (uint64_t)atomic_load(&p.full) + 1)
        fail_msg("refused counted %llu of %d share refusals",
                 (unsigned long long)(after.refused - before.refused), atomic_load(&p.full) + 1);
    if (strstr(err, where) == NULL || strstr(err, "its share of maxPending=2000") == NULL)
        fail_msg("the synchronous call to the paused node read \"%s\"", err);
    /* Unpaused, the node answers what it held. */
    assert_true(vt_wait_until(pump_done, &p, 20000));
    assert_true(atomic_load(&p.ok) >= SHARE); /* the share, and the probes held before */
    assert_int_equal(atomic_load(&p.ok) + atomic_load(&p.full), PUMP);
    assert_int_equal(atomic_load(&p.other), 0);
    vmux_close(m);
}

/*
 * A node that answers, however slowly, keeps a pipeline deeper than its share: 2000 INCRs sent
 * while it holds writes for 300 ms (CLIENT PAUSE ... WRITE: less than the second of silence that
 * holds a node to its share) are all answered, none refused (review helper-241: a healthy bulk
 * load to one shard was refused past half of maxPending). Not a busy script: a script's TIME
 * stands still while it runs, and one that waited for it blocked its node for 5 s, long enough
 * for the cluster to fail it over.
 */
static void test_slow_node_keeps_its_pipeline(void **state)
{
    (void)state;
    const char *key = "share:slow";
    char *conf = vt_node_config(vt_cluster_port(CLUSTER, 0), "maxPending=2000,syncTimeout=30000");
    vmux *m = vt_open_conf(conf);
    free(conf);
    assert_int_equal(vt_try_set(m, key, "0", 0), 0);
    static struct pump p;
    memset(&p, 0, sizeof p);
    redisContext *c = vt_node_connect(owner_of(key));
    pause_writes(c, "CLIENT PAUSE 300 WRITE");
    redisFree(c);
    const char *argv[] = {"INCR", key};
    pump(m, &p, argv, PUMP);
    assert_true(vt_wait_until(pump_done, &p, 30000));
    if (atomic_load(&p.full) != 0)
        fail_msg("%d of %d commands to a slow node refused: %s", atomic_load(&p.full), PUMP, p.why);
    assert_int_equal(atomic_load(&p.ok), PUMP);
    assert_int_equal(atomic_load(&p.door), 0);
    vmux_close(m);
}

/* Teardown: no node left paused even when an assertion ended the test early (CLIENT PAUSE
 * 20000 outlives it). */
static int unpause_all(void **state)
{
    (void)state;
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++)
        free(vt_node_admin(vt_cluster_port(CLUSTER, i), false, "CLIENT UNPAUSE"));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_paused_node_holds_its_share, unpause_all),
        cmocka_unit_test_teardown(test_slow_node_keeps_its_pipeline, unpause_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
