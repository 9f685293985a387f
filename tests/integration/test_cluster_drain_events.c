/*
 * The node events against a real cluster whose primary is drained and removed (the outside
 * probe's reshard, on servers of the test's own: tests/support/servers.h). Node a serves slots
 * 0..16379, node b the four slots 16380..16383 with node r its replica, node n is a fresh empty
 * primary; no replica migration, so the drained b and r stay out of CLUSTER SLOTS (as a stopped
 * node and a resyncing replica are). A handle opened on a records its events. Each of b's slots
 * is moved to n as valkey-cli --cluster reshard does (SETSLOT IMPORTING, MIGRATING, MIGRATE of
 * its key, SETSLOT NODE on the primaries) and the handle reads the slot's key at once: b answers
 * MOVED and the map is patched (after the first, a refresh gives n's shard with its node id).
 * The last patch leaves b's shard without slots. Then b is stopped and forgotten. Checked:
 * replaying the NODE_ADDED and NODE_REMOVED events onto the nodes of the handle's first map
 * never adds a node twice nor removes one not there, and ends, within 60 s (two periodic
 * checks), at exactly the nodes CLUSTER SLOTS names, which the handle's fan-out reaches. Before
 * the fix the map kept b's drained shard (a refresh without it compared equal): b and r stayed
 * named and announced (2 of 2 runs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "evlog.h"
#include "node.h"
#include "nodeset.h"
#include "route/slot.h"
#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define FIRST_SLOT 16380

/* The nodes the handle's map names: those a fan-out to every node reaches. */
static void map_nodes(vmux *m, vt_nodeset *out)
{
    const char *argv[] = {"PING"};
    vmux_node_replies res;
    out->n = 0;
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_ALL, 1, argv, NULL, &res), 0);
    for (size_t i = 0; i < res.count; i++)
        vt_nodeset_add(out, res.nodes[i].address);
    vmux_node_replies_free(&res);
}

/* The nodes CLUSTER SLOTS asked of the node at port names; false when it does not answer. */
static bool slots_nodes(int port, vt_nodeset *out)
{
    redisReply *r = vt_node_command(port, false, "CLUSTER SLOTS");
    out->n = 0;
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY;
    for (size_t i = 0; ok && i < r->elements; i++)
        for (size_t k = 2; k < r->element[i]->elements; k++) {
            const redisReply *node = r->element[i]->element[k];
            char name[32];
            snprintf(name, sizeof name, "%s:%lld", node->element[0]->str,
                     node->element[1]->integer);
            vt_nodeset_add(out, name);
        }
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/*
 * Replays log's NODE_ADDED and NODE_REMOVED onto set, as a consumer tracking membership by events
 * would; a node added while there, or removed while not, fails the test.
 */
static void replay(vt_evlog *log, vt_nodeset *set)
{
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->n; i++) {
        const char *who = log->ev[i].endpoint;
        bool there = vt_nodeset_has(set, who);
        if (log->ev[i].type == VMUX_EVENT_NODE_ADDED && there)
            fail_msg("event %d: NODE_ADDED %s, announced already", i, who);
        if (log->ev[i].type == VMUX_EVENT_NODE_REMOVED && !there)
            fail_msg("event %d: NODE_REMOVED %s, not announced", i, who);
        if (log->ev[i].type == VMUX_EVENT_NODE_ADDED)
            vt_nodeset_add(set, who);
        else if (log->ev[i].type == VMUX_EVENT_NODE_REMOVED)
            vt_nodeset_del(set, who);
    }
    pthread_mutex_unlock(&log->mu);
}

static char *node_id(int port)
{
    char *id = vt_node_admin(port, false, "CLUSTER MYID");
    assert_non_null(id);
    return id;
}

struct known {
    const vt_server *const *nodes;
    size_t n;
    int count;
};

/* Every one of the nodes (running) says cluster_state:ok and knows count nodes. */
static bool all_know(void *arg)
{
    const struct known *k = arg;
    char want[48];
    snprintf(want, sizeof want, "cluster_known_nodes:%d\r", k->count);
    for (size_t i = 0; i < k->n; i++) {
        char *t = vt_node_admin(k->nodes[i]->port, false, "CLUSTER INFO");
        bool ok = t != NULL && strstr(t, "cluster_state:ok") != NULL && strstr(t, want) != NULL;
        free(t);
        if (!ok)
            return false;
    }
    return true;
}

struct listed {
    int asked, port;
    bool want;
};

/* Whether CLUSTER SLOTS asked of l->asked names the node at l->port (l->want) or not. */
static bool listed(void *arg)
{
    const struct listed *l = arg;
    vt_nodeset in;
    char name[32];
    snprintf(name, sizeof name, "127.0.0.1:%d", l->port);
    return slots_nodes(l->asked, &in) && vt_nodeset_has(&in, name) == l->want;
}

/* Runs cmd (words split at spaces) on the node at port; must: an error fails the test. */
static void admin_words(int port, bool must, char *cmd)
{
    const char *argv[8];
    int argc = 0;
    for (char *save = NULL, *w = strtok_r(cmd, " ", &save); w != NULL && argc < 8;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    redisContext *ctx = vt_node_connect(port);
    redisReply *r = must ? vt_must_argv(ctx, argc, argv) : redisCommandArgv(ctx, argc, argv, NULL);
    if (r != NULL)
        freeReplyObject(r);
    redisFree(ctx);
}

static void admin_fmt(int port, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void admin_fmt(int port, const char *fmt, ...)
{
    char cmd[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    admin_words(port, true, cmd);
}

struct cluster {
    vt_server a, b, r, n;
    char *idb, *idn;
};

/* a serves 0..16379, b 16380..16383 with r its replica, n none; every node knows the others. */
static void cluster_start(struct cluster *c)
{
    /* no replica migration: a drained b (and r) stay out of CLUSTER SLOTS, as nodes that are
     * gone or resyncing do */
    static const char *const args[] = {"--cluster-enabled",
                                       "yes",
                                       "--cluster-node-timeout",
                                       "3000",
                                       "--cluster-allow-replica-migration",
                                       "no",
                                       NULL};
    const vt_server *all[] = {&c->a, &c->b, &c->r, &c->n};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(vt_server_start((vt_server *)all[i], 0, args), 0);
    c->idb = node_id(c->b.port);
    c->idn = node_id(c->n.port);
    admin_fmt(c->a.port, "CLUSTER ADDSLOTSRANGE 0 %d", FIRST_SLOT - 1);
    admin_fmt(c->b.port, "CLUSTER ADDSLOTSRANGE %d 16383", FIRST_SLOT);
    for (size_t i = 1; i < 4; i++)
        admin_fmt(c->a.port, "CLUSTER MEET 127.0.0.1 %d %d", all[i]->port, all[i]->port + 10000);
    struct known k = {all, 4, 4};
    assert_true(vt_wait_until(all_know, &k, 60000));
    admin_fmt(c->r.port, "CLUSTER REPLICATE %s", c->idb);
    struct listed l = {c->a.port, c->r.port, true};
    assert_true(vt_wait_until(listed, &l, 60000));
}

/* A key (into buf) of slot. */
static void key_of(int slot, char *buf, size_t len)
{
    for (unsigned i = 0;; i++) {
        snprintf(buf, len, "drain:%u", i);
        if ((int)vmux__slot_of(buf, strlen(buf)) == slot)
            return;
    }
}

/* Moves slot from b to n as valkey-cli --cluster reshard does. */
static void move_slot(struct cluster *c, int slot)
{
    admin_fmt(c->n.port, "CLUSTER SETSLOT %d IMPORTING %s", slot, c->idb);
    admin_fmt(c->b.port, "CLUSTER SETSLOT %d MIGRATING %s", slot, c->idn);
    redisContext *b = vt_node_connect(c->b.port);
    vt_migrate_keys(b, slot, c->n.port, NULL, NULL);
    redisFree(b);
    admin_fmt(c->n.port, "CLUSTER SETSLOT %d NODE %s", slot, c->idn);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "CLUSTER SETSLOT %d NODE %s", slot, c->idn);
    admin_words(c->b.port, false, cmd); /* its last slot: b turns replica and may say UNBLOCKED */
    admin_fmt(c->a.port, "CLUSTER SETSLOT %d NODE %s", slot, c->idn);
}

struct agree {
    vmux *m;
    vt_evlog *log;
    const vt_nodeset *first;
    int asked;
    char why[640]; /* the three lists of events_agree() (159 bytes each) and their words */
};

/* The events replayed onto the first map's nodes, the map's nodes and CLUSTER SLOTS agree. */
static bool events_agree(void *arg)
{
    struct agree *g = arg;
    vt_nodeset announced = *g->first, map, truth;
    replay(g->log, &announced);
    map_nodes(g->m, &map);
    bool ok = slots_nodes(g->asked, &truth) && vt_nodeset_same(&announced, &truth) &&
              vt_nodeset_same(&map, &truth);
    char a[160], b[160], t[160];
    vt_nodeset_text(&announced, a, sizeof a);
    vt_nodeset_text(&map, b, sizeof b);
    vt_nodeset_text(&truth, t, sizeof t);
    snprintf(g->why, sizeof g->why, "announced%s; the map names%s; CLUSTER SLOTS names%s", a, b, t);
    return ok;
}

/* Whether log holds a MAP_REFRESHED. */
static bool refreshed(void *arg)
{
    vt_evlog *log = arg;
    bool found = false;
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->n && !found; i++)
        found = log->ev[i].type == VMUX_EVENT_MAP_REFRESHED;
    pthread_mutex_unlock(&log->mu);
    return found;
}

/* The node events and the map refreshes, for the record. */
static void print_events(vt_evlog *log)
{
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->n; i++)
        if (log->ev[i].type == VMUX_EVENT_NODE_ADDED ||
            log->ev[i].type == VMUX_EVENT_NODE_REMOVED ||
            log->ev[i].type == VMUX_EVENT_MAP_REFRESHED || log->ev[i].type == VMUX_EVENT_SLOT_MOVED)
            print_message("event %d: %s %s\n", log->ev[i].type, log->ev[i].endpoint,
                          log->ev[i].reason);
    pthread_mutex_unlock(&log->mu);
}

static void test_drained_primary_announced_gone(void **state)
{
    (void)state;
    struct cluster c = {0};
    cluster_start(&c);
    static vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,clusterRefreshMinInterval=100", c.a.port);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, vt_evlog_on_event, &log), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    vt_nodeset first;
    map_nodes(m, &first);
    assert_int_equal(first.n, 3); /* a, b, r */

    char keys[4][32];
    for (int i = 0; i < 4; i++) {
        key_of(FIRST_SLOT + i, keys[i], sizeof keys[i]);
        assert_int_equal(vt_try_set(m, keys[i], keys[i], 5000), 0);
    }
    for (int i = 0; i < 4; i++) {
        move_slot(&c, FIRST_SLOT + i);
        vt_get_value(m, keys[i], keys[i]); /* b answers MOVED: the map is patched */
        /* n's shard as a refresh gives it (with its node id), not as the MOVED made it */
        if (i == 0 && !vt_wait_until(refreshed, &log, 10000))
            fail_msg("no refresh after the first MOVED");
    }
    vt_server_stop(&c.b);
    const vt_server *rest[] = {&c.a, &c.r, &c.n};
    for (size_t i = 0; i < 3; i++) /* r refuses: b is its primary */
        free(vt_node_admin(rest[i]->port, false, "CLUSTER FORGET %s", c.idb));

    struct agree g = {m, &log, &first, c.a.port, ""};
    if (!vt_wait_until(events_agree, &g, 60000)) /* the periodic check comes every 30 s */
        fail_msg("after 60 s: %s", g.why);
    print_events(&log);
    vmux_close(m);
    for (size_t i = 0; i < 3; i++)
        vt_server_stop((vt_server *)rest[i]);
    free(c.idb);
    free(c.idn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drained_primary_announced_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
