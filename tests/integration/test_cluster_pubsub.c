/*
 * Pub/sub on a healthy cluster and through slot migrations (fixture "cluster-pubsub": three
 * primaries, no replica; its own, because it moves slots):
 *
 * - 100 shard channels spread over the slots: each is subscribed on the primary of its slot (the
 *   servers' PUBSUB SHARDNUMSUB say so), and SPUBLISH through a handle reaches every one;
 *   SPUBLISH goes straight to the slot's owner (no MOVED followed); channels on a cluster work
 *   on one node, and PUBLISH through another node reaches them;
 * - 1 and then 100 shard channels of one slot, with a thread publishing to them round after
 *   round, while the slot migrates to another primary (CLUSTER SETSLOT, as valkey-cli does): the
 *   subscriptions follow the slot with no user call (VMUX_EVENT_SUBSCRIPTION_MOVED, one per
 *   channel), every message acknowledged after the new owner holds them all arrives, exactly
 *   once; the window (the longest time a channel went without a message) is printed.
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

#include "cluster_pubsub.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-pubsub"

static atomic_int moved_events;

static void on_event(const vmux_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == VMUX_EVENT_SUBSCRIPTION_MOVED)
        atomic_fetch_add(&moved_events, 1);
}

static vmux *open_on(int port)
{
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=15000", port);
    vmux_config *cfg = vt_config(conf);
    vmux_config_set_event_handler(cfg, on_event, NULL);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

/* The primary (index) serving slot, from the node's own CLUSTER SLOTS. */
static int owner_of(int slot)
{
    redisContext *c = vt_node_connect(vt_cluster_port(CLUSTER, 0));
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    assert_non_null(r);
    int port = -1;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *range = r->element[i];
        if (slot >= range->element[0]->integer && slot <= range->element[1]->integer)
            port = (int)range->element[2]->element[1]->integer;
    }
    freeReplyObject(r);
    redisFree(c);
    for (int p = 0; p < vt_cluster_primaries(CLUSTER); p++)
        if (vt_cluster_port(CLUSTER, p) == port)
            return p;
    fail_msg("no primary serves slot %d", slot);
    return -1;
}

static void test_spread(void **state)
{
    (void)state;
    static struct cp_run run;
    cp_init(&run, VMUX_SUB_SHARD, 100, "cps:spread:", 4);
    run.sub = open_on(vt_cluster_port(CLUSTER, 0));
    run.pub = open_on(vt_cluster_port(CLUSTER, 1));
    cp_subscribe(&run);
    /* each channel is subscribed on its slot's primary, and only there */
    for (int i = 0; i < run.n; i++) {
        int owner = owner_of((int)vmux__slot_of(run.names[i], strlen(run.names[i])));
        for (int p = 0; p < vt_cluster_primaries(CLUSTER); p++)
            assert_int_equal(cp_numsub(vt_cluster_port(CLUSTER, p), VMUX_SUB_SHARD, run.names[i]),
                             p == owner ? 1 : 0);
    }
    vmux_stats before = VMUX_INIT(vmux_stats), after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(run.pub, &before), 0);
    cp_start(&run);
    cp_wait_rounds(&run, 3);
    cp_stop(&run);
    assert_int_equal(cp_check_from(&run, 0), 0);
    assert_int_equal(atomic_load(&run.pub_errors), 0);
    /* SPUBLISH went straight to each channel's slot owner: no MOVED was followed */
    assert_int_equal(vmux_read_stats(run.pub, &after), 0);
    assert_int_equal(after.cluster_moved, before.cluster_moved);
    cp_free(&run);

    /* channels and patterns: one node; PUBLISH on another reaches them */
    static struct cp_run classic;
    cp_init(&classic, VMUX_SUB_CHANNEL, 10, "cpc:spread:", 4);
    classic.sub = run.sub;
    classic.pub = run.pub;
    cp_subscribe(&classic);
    cp_start(&classic);
    cp_wait_rounds(&classic, 3);
    cp_stop(&classic);
    assert_int_equal(cp_check_from(&classic, 0), 0);
    cp_free(&classic);
    vmux_close(run.sub);
    vmux_close(run.pub);
}

/* ---- a slot migration ---- */

static redisReply *must(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", fmt, r ? r->str : c->errstr);
    return r;
}

static void node_id(int p, char *out, size_t len)
{
    redisContext *c = vt_node_connect(vt_cluster_port(CLUSTER, p));
    redisReply *r = must(c, "CLUSTER MYID");
    snprintf(out, len, "%s", r->str);
    freeReplyObject(r);
    redisFree(c);
}

/* Moves slot from primary `from` to primary `to` as valkey-cli does (the slot holds no key). */
static void migrate_slot(int slot, int from, int to)
{
    int np = vt_cluster_primaries(CLUSTER);
    char idto[64], idfrom[64];
    node_id(to, idto, sizeof idto);
    node_id(from, idfrom, sizeof idfrom);
    redisContext *cf = vt_node_connect(vt_cluster_port(CLUSTER, from));
    redisContext *ct = vt_node_connect(vt_cluster_port(CLUSTER, to));
    freeReplyObject(must(ct, "CLUSTER SETSLOT %d IMPORTING %s", slot, idfrom));
    freeReplyObject(must(cf, "CLUSTER SETSLOT %d MIGRATING %s", slot, idto));
    redisReply *r = must(cf, "CLUSTER GETKEYSINSLOT %d 100", slot);
    for (size_t i = 0; i < r->elements; i++)
        freeReplyObject(must(cf, "MIGRATE 127.0.0.1 %d %s 0 5000 REPLACE",
                             vt_cluster_port(CLUSTER, to), r->element[i]->str));
    freeReplyObject(r);
    freeReplyObject(must(ct, "CLUSTER SETSLOT %d NODE %s", slot, idto));
    freeReplyObject(must(cf, "CLUSTER SETSLOT %d NODE %s", slot, idto));
    for (int p = 0; p < np; p++)
        if (p != from && p != to) {
            redisContext *c = vt_node_connect(vt_cluster_port(CLUSTER, p));
            freeReplyObject(must(c, "CLUSTER SETSLOT %d NODE %s", slot, idto));
            redisFree(c);
        }
    redisFree(cf);
    redisFree(ct);
}

struct on_node {
    struct cp_run *run;
    int port;
};

/* Whether the node at port holds every channel of the run (and so the move is complete). */
static bool all_on(void *arg)
{
    struct on_node *w = arg;
    for (int i = 0; i < w->run->n; i++)
        if (cp_numsub(w->port, w->run->kind, w->run->names[i]) != 1)
            return false;
    return true;
}

static void through_migration(int n, const char *prefix)
{
    static struct cp_run run;
    memset(&run, 0, sizeof run);
    cp_init(&run, VMUX_SUB_SHARD, n, prefix, n == 1 ? 60000 : 3000);
    int slot = (int)vmux__slot_of(run.names[0], strlen(run.names[0]));
    int from = owner_of(slot), to = (from + 1) % vt_cluster_primaries(CLUSTER);
    run.sub = open_on(vt_cluster_port(CLUSTER, to)); /* the seed is not the old owner */
    run.pub = open_on(vt_cluster_port(CLUSTER, (to + 1) % vt_cluster_primaries(CLUSTER)));
    cp_subscribe(&run);
    int events_before = atomic_load(&moved_events);
    cp_start(&run);
    cp_wait_rounds(&run, 20);

    uint64_t t0 = vt_now_ns();
    migrate_slot(slot, from, to);
    struct on_node w = {&run, vt_cluster_port(CLUSTER, to)};
    assert_true(vt_wait_until(all_on, &w, 60000));
    uint64_t t1 = vt_now_ns();
    int mark = atomic_load(&run.rounds) + 1; /* the round under way may have started before */
    cp_wait_rounds(&run, 30);
    cp_stop(&run);
    int lost = cp_check_from(&run, mark);
    double max_ms, median_ms;
    cp_windows(&run, &max_ms, &median_ms);
    printf("migration, %d shard channel(s): subscriptions on the new owner %.0f ms after the "
           "slot's SETSLOT began; longest gap without a message %.0f ms (median over channels "
           "%.0f ms); %d messages acknowledged during the move lost; %d publish errors\n",
           n, (double)(t1 - t0) / 1e6, max_ms, median_ms, lost, atomic_load(&run.pub_errors));
    for (int i = 0; i < run.n; i++)
        assert_int_equal(cp_numsub(vt_cluster_port(CLUSTER, from), VMUX_SUB_SHARD, run.names[i]),
                         0);
    assert_true(atomic_load(&moved_events) - events_before >= n);
    cp_free(&run);
    vmux_close(run.sub);
    vmux_close(run.pub);
}

static void test_migration_one(void **state)
{
    (void)state;
    through_migration(1, "cps:{mig1}:");
}

static void test_migration_hundred(void **state)
{
    (void)state;
    through_migration(100, "cps:{mig100}:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_migration_one),
        cmocka_unit_test(test_migration_hundred),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
