/*
 * Pub/sub through a primary's SIGKILL (fixture "cluster-pubsub-kill": three primaries with a
 * replica each, its own because nodes are killed):
 *
 * - shard channels: 100 channels spread over the slots and one channel, on two handles, with a
 *   thread publishing to each set; the primary serving the single channel's slot (and about a
 *   third of the others) is killed; once its replica is promoted and holds the channels (PUBSUB
 *   SHARDNUMSUB there), every message acknowledged from then on arrives, exactly once;
 * - channels and patterns: the node the subscriber link is on (the seed's) is killed; they move
 *   to another node by themselves, and every message published (on yet another node) after the
 *   move arrives.
 * The windows (the longest time a channel went without a message) are printed.
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

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster_pubsub.h"
#include "route/slot.h"
#include "node.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-pubsub-kill"

static atomic_int moved_events;

static void on_event(const vmux_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == VMUX_EVENT_SUBSCRIPTION_MOVED)
        atomic_fetch_add(&moved_events, 1);
}

/* The subscriber side's story, for a failure's diagnosis. */
static void on_log(vmux_log_level level, const char *message, void *userdata)
{
    (void)level;
    (void)userdata;
    if (strstr(message, "pubsub") != NULL || strstr(message, "subscriber") != NULL)
        fprintf(stderr, "[%llu] %s\n", (unsigned long long)vt_now_ms(), message);
}

static vmux *open_on(int port)
{
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=15000,reconnectMax=500", port);
    vmux_config *cfg = vt_config(conf);
    vmux_config_set_event_handler(cfg, on_event, NULL);
    vmux_config_set_log(cfg, on_log, VMUX_LOG_INFO, NULL);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

static bool is_up(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    bool up = c != NULL && c->err == 0;
    redisFree(c);
    return up;
}

static void kill_node(int port)
{
    long pid = vt_node_pid(port);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
}

static int promoted;

static bool replica_promoted(void *arg)
{
    (void)arg;
    return vt_node_is_primary(promoted);
}

struct on_node {
    struct cp_run *run;
    int port;
    bool need_all; /* every channel (else only those whose slot the node serves) */
};

/* Whether the promoted node holds every channel of the run whose slot it serves. */
static bool held_by(void *arg)
{
    struct on_node *w = arg;
    for (int i = 0; i < w->run->n; i++) {
        int slot = (int)vmux__slot_of(w->run->names[i], strlen(w->run->names[i]));
        if (!w->need_all && vt_slot_primary(w->port, false, slot) != w->port)
            continue;
        if (cp_numsub(w->port, w->run->kind, w->run->names[i]) != 1)
            return false;
    }
    return true;
}

static void report(const char *what, struct cp_run *run, int mark, double move_ms)
{
    int lost = cp_check_from(run, mark);
    double max_ms, median_ms;
    cp_windows(run, &max_ms, &median_ms);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(run->sub, &st), 0);
    printf("%s, %d channel(s): subscriptions on their new node %.0f ms after the kill; longest "
           "gap without a message %.0f ms (median over channels %.0f ms); %d acknowledged "
           "messages lost before that; %d publish errors; %llu second copies dropped\n",
           what, run->n, move_ms, max_ms, median_ms, lost, atomic_load(&run->pub_errors),
           (unsigned long long)st.pubsub_dropped);
}

static void test_shard_primary_killed(void **state)
{
    (void)state;
    static struct cp_run one, many;
    cp_init(&one, VMUX_SUB_SHARD, 1, "cpk:{one}:", 60000);
    cp_init(&many, VMUX_SUB_SHARD, 100, "cpk:many:", 4000);
    int slot = (int)vmux__slot_of(one.names[0], strlen(one.names[0]));
    int victim = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, slot);
    promoted = vt_cluster_replica_of(CLUSTER, victim);
    int seed = -1; /* a primary that stays up */
    for (int p = 0; p < vt_cluster_primaries(CLUSTER) && seed < 0; p++)
        if (vt_cluster_port(CLUSTER, p) != victim)
            seed = vt_cluster_port(CLUSTER, p);
    one.sub = open_on(seed);
    many.sub = open_on(seed);
    one.pub = open_on(seed);
    many.pub = open_on(seed);
    cp_subscribe(&one);
    cp_subscribe(&many);
    cp_start(&one);
    cp_start(&many);
    cp_wait_rounds(&many, 10);

    uint64_t t0 = vt_now_ns();
    kill_node(victim);
    assert_true(vt_wait_until(replica_promoted, NULL, 60000));
    uint64_t t_prom = vt_now_ns();
    struct on_node w1 = {&one, promoted, true}, w2 = {&many, promoted, false};
    assert_true(vt_wait_until(held_by, &w1, 60000));
    assert_true(vt_wait_until(held_by, &w2, 60000));
    double move_ms = (double)(vt_now_ns() - t0) / 1e6;
    printf("primary kill: the replica said it was a primary %.0f ms after the kill; the shard "
           "channels were on it %.0f ms after that\n",
           (double)(t_prom - t0) / 1e6, move_ms - (double)(t_prom - t0) / 1e6);
    int mark1 = atomic_load(&one.rounds) + 1, mark2 = atomic_load(&many.rounds) + 1;
    cp_wait_rounds(&many, 20);
    cp_wait_rounds(&one, 20);
    cp_stop(&one);
    cp_stop(&many);
    report("primary kill (shard channels)", &one, mark1, move_ms);
    report("primary kill (shard channels)", &many, mark2, move_ms);
    assert_true(atomic_load(&moved_events) >= 1);
    cp_free(&one);
    cp_free(&many);
    vmux_close(one.sub);
    vmux_close(many.sub);
    vmux_close(one.pub);
    vmux_close(many.pub);
}

static atomic_int pattern_hits;

static void on_pattern(const vmux_message *msg, void *userdata)
{
    (void)msg;
    (void)userdata;
    atomic_fetch_add(&pattern_hits, 1);
}

/* Whether a node other than `not` holds every channel of the run. */
struct elsewhere {
    struct cp_run *run;
    int not ;
    int found;
};

static bool moved_elsewhere(void *arg)
{
    struct elsewhere *e = arg;
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        if (port == e->not )
            continue;
        if (!is_up(port))
            continue; /* the shard test's victim */
        struct on_node w = {e->run, port, true};
        if (held_by(&w)) {
            e->found = port;
            return true;
        }
    }
    return false;
}

static void test_classic_node_killed(void **state)
{
    (void)state;
    /* the seed: a live primary; channels and patterns go on its node */
    int seed = -1, other = -1;
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        if (!is_up(port) || !vt_node_is_primary(port))
            continue;
        if (seed < 0)
            seed = port;
        else if (other < 0)
            other = port;
    }
    assert_true(seed > 0 && other > 0);
    promoted = vt_cluster_replica_of(CLUSTER, seed);
    static struct cp_run run;
    cp_init(&run, VMUX_SUB_CHANNEL, 10, "cpk:classic:", 60000);
    run.sub = open_on(seed);
    run.pub = open_on(other);
    cp_subscribe(&run);
    vmux_sub *pattern;
    assert_int_equal(vmux_subscribe(run.sub, VMUX_SUB_PATTERN, VMUX_STR("cpk:classic:*"),
                                    on_pattern, NULL, &pattern),
                     0);
    assert_int_equal(vmux_sub_wait_live(pattern, 30000), 0);
    for (int i = 0; i < run.n; i++)
        assert_int_equal(cp_numsub(seed, VMUX_SUB_CHANNEL, run.names[i]), 1);
    cp_start(&run);
    cp_wait_rounds(&run, 10);

    uint64_t t0 = vt_now_ns();
    int before = atomic_load(&moved_events);
    kill_node(seed);
    struct elsewhere e = {&run, seed, -1};
    assert_true(vt_wait_until(moved_elsewhere, &e, 60000));
    double move_ms = (double)(vt_now_ns() - t0) / 1e6;
    int mark = atomic_load(&run.rounds) + 1;
    cp_wait_rounds(&run, 2);
    int hits = atomic_load(&pattern_hits);
    cp_wait_rounds(&run, 30);
    cp_stop(&run);
    report("node kill (channels)", &run, mark, move_ms);
    assert_true(atomic_load(&pattern_hits) > hits); /* the pattern moved too */
    assert_int_equal(vmux_unsubscribe(run.sub, pattern), 0);
    assert_true(atomic_load(&moved_events) - before >= run.n);
    /* the cluster heals for whoever comes next */
    assert_true(vt_wait_until(replica_promoted, NULL, 60000));
    cp_free(&run);
    vmux_close(run.sub);
    vmux_close(run.pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_primary_killed),
        cmocka_unit_test(test_classic_node_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
