/*
 * Keyspace notifications on a cluster (fixture "cluster-keyspace": three primaries with a
 * replica each, notify-keyspace-events set on every node through vmux_call_nodes()). A server
 * publishes a key's notifications only on the node that holds it, so a subscription to them must
 * be on every primary:
 *
 * - spread: PSUBSCRIBE __keyspace@0__:ks:* and SUBSCRIBE __keyevent@0__:set are on every primary
 *   (PUBSUB NUMPAT / NUMSUB) and on no replica; SET on 60 keys, 20 per shard, brings each key's
 *   event to each subscription exactly once;
 * - failover: one shard's replica takes over (CLUSTER FAILOVER); the subscriptions follow (on the
 *   promoted primary, off the demoted one, which as a replica would repeat its new primary's
 *   events) and 60 more keys' events arrive, those of the promoted primary's shard too, once each;
 * - unsubscribe: no node counts the subscriptions any more, and 60 more SETs deliver nothing.
 *
 * "Exactly once" is checked after a barrier: a key of each primary SET after the others, whose
 * events come on the same connections after theirs.
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

#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-keyspace"
#define NKEYS 60
#define NPRI 3
#define WAIT_MS 20000
#define PATTERN "__keyspace@0__:ks:*"
#define KEYEVENT "__keyevent@0__:set"

enum { BY_PATTERN, BY_CHANNEL };

/* Arrivals per subscription, phase ('a', 'b', 'c') and key (the I/O thread writes). */
static atomic_int got[2][3][NKEYS];
static atomic_int barrier[2][3];
static vmux *sub, *w;
static vmux_sub *subs[2];
static char keys[3][NKEYS][32], bars[3][NPRI][32];
static int owner[16384]; /* the primary's port per slot, from the last CLUSTER SLOTS read */

/* Counts the key a message names: "ks:<phase>:<i>{tag}" or "ks:<phase>:bar{tag}". */
static void count(int by, const char *key, size_t len)
{
    char k[64];
    snprintf(k, sizeof k, "%.*s", (int)(len < 63 ? len : 63), key);
    if (strncmp(k, "ks:", 3) != 0 || k[3] < 'a' || k[3] > 'c' || k[4] != ':')
        return;
    int phase = k[3] - 'a';
    if (strncmp(k + 5, "bar", 3) == 0)
        atomic_fetch_add(&barrier[by][phase], 1);
    else if (atoi(k + 5) >= 0 && atoi(k + 5) < NKEYS)
        atomic_fetch_add(&got[by][phase][atoi(k + 5)], 1);
}

static void on_message(const vmux_message *msg, void *userdata)
{
    int by = (int)(intptr_t)userdata;
    if (by == BY_PATTERN) { /* "__keyspace@0__:<key>", payload "set" */
        size_t skip = strlen("__keyspace@0__:");
        count(by, msg->channel.ptr + skip, msg->channel.len - skip);
    } else { /* "__keyevent@0__:set", payload the key */
        count(by, msg->payload.ptr, msg->payload.len);
    }
}

/* The slot owners, as node 0 (still a primary or not) says. */
static void read_owners(void)
{
    redisReply *r = vt_node_command(vt_cluster_port(CLUSTER, 0), false, "CLUSTER SLOTS");
    assert_non_null(r);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *range = r->element[i];
        for (long long s = range->element[0]->integer; s <= range->element[1]->integer; s++)
            owner[s] = (int)range->element[2]->element[1]->integer;
    }
    freeReplyObject(r);
}

/* The distinct primaries' ports, in slot order. */
static void primaries(int ports[NPRI])
{
    int n = 0;
    for (int s = 0; s < 16384; s++)
        if (n == 0 || owner[s] != ports[n - 1]) {
            assert_true(n < NPRI);
            ports[n++] = owner[s];
        }
    assert_int_equal(n, NPRI);
}

/* Names phase's keys: NKEYS / NPRI on each primary (by hash tag), and a barrier key on each. */
static void name_keys(int phase)
{
    int ports[NPRI], per[NPRI] = {0}, n = 0;
    primaries(ports);
    for (int tag = 0; n < NKEYS + NPRI; tag++) {
        char t[16];
        snprintf(t, sizeof t, "{%d}", tag);
        int port = owner[vmux__slot_of(t, strlen(t))], p = 0;
        while (ports[p] != port)
            p++;
        if (per[p] < NKEYS / NPRI)
            snprintf(keys[phase][p * (NKEYS / NPRI) + per[p]], 32, "ks:%c:%d%s", 'a' + phase,
                     p * (NKEYS / NPRI) + per[p], t);
        else if (per[p] == NKEYS / NPRI)
            snprintf(bars[phase][p], 32, "ks:%c:bar%s", 'a' + phase, t);
        else
            continue;
        per[p]++;
        n++;
    }
}

/* Sets phase's keys through the writer, then each primary's barrier key. */
static void set_keys(int phase)
{
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(vt_try_set(w, keys[phase][i], "v", 0), 0);
    for (int p = 0; p < NPRI; p++)
        assert_int_equal(vt_try_set(w, bars[phase][p], "v", 0), 0);
}

struct barrier_wait {
    int phase, want;
};

static bool barriers_in(void *arg)
{
    const struct barrier_wait *b = arg;
    return atomic_load(&barrier[BY_PATTERN][b->phase]) >= b->want &&
           atomic_load(&barrier[BY_CHANNEL][b->phase]) >= b->want;
}

/* Waits for every primary's barrier event, then counts the keys' events: [by][0] keys that
 * arrived once, [by][1] twice or more. */
static void tally(int phase, int out[2][2], int want_barriers)
{
    struct barrier_wait b = {phase, want_barriers};
    bool in = vt_wait_until(barriers_in, &b, want_barriers > 0 ? WAIT_MS : 1000);
    for (int by = 0; by < 2; by++) {
        out[by][0] = out[by][1] = 0;
        for (int i = 0; i < NKEYS; i++) {
            int n = atomic_load(&got[by][phase][i]);
            out[by][0] += n == 1;
            out[by][1] += n > 1;
        }
    }
    print_message("phase %c: pattern %d once, %d twice; channel %d once, %d twice; barriers %d/%d "
                  "of %d\n",
                  'a' + phase, out[BY_PATTERN][0], out[BY_PATTERN][1], out[BY_CHANNEL][0],
                  out[BY_CHANNEL][1], atomic_load(&barrier[BY_PATTERN][phase]),
                  atomic_load(&barrier[BY_CHANNEL][phase]), want_barriers);
    if (want_barriers > 0)
        assert_true(in);
}

/* Sets phase's keys: each one's event arrives exactly once at each subscription. */
static void expect_once(int phase)
{
    set_keys(phase);
    int t[2][2];
    tally(phase, t, NPRI);
    for (int by = 0; by < 2; by++) {
        assert_int_equal(t[by][0], NKEYS);
        assert_int_equal(t[by][1], 0);
        assert_int_equal(atomic_load(&barrier[by][phase]), NPRI);
    }
}

/*
 * PUBSUB NUMPAT + NUMSUB of the keyevent channel, per node of the set, through the handle. *n is
 * 0 when the two fan-outs met different maps (after a failover the demoted primary leaves the
 * map between them): the callers' waits ask again.
 */
static void counts_on(vmux_node_set set, int *numpat, int *numsub, size_t max, size_t *n)
{
    const char *np[] = {"PUBSUB", "NUMPAT"}, *ns[] = {"PUBSUB", "NUMSUB", KEYEVENT};
    vmux_node_replies a, b;
    assert_int_equal(vmux_call_nodes(w, NULL, set, 2, np, NULL, &a), 0);
    assert_int_equal(vmux_call_nodes(w, NULL, set, 3, ns, NULL, &b), 0);
    *n = a.count != b.count ? 0 : a.count < max ? a.count : max;
    for (size_t i = 0; i < *n; i++) {
        assert_int_equal(a.nodes[i].status, 0);
        assert_int_equal(b.nodes[i].status, 0);
        numpat[i] = (int)vmux_reply_integer(a.nodes[i].reply);
        numsub[i] = (int)vmux_reply_integer(vmux_reply_element(b.nodes[i].reply, 1));
    }
    vmux_node_replies_free(&a);
    vmux_node_replies_free(&b);
}

/* Whether every node of set counts want of each subscription. */
static bool counted(vmux_node_set set, int want)
{
    int np[8], ns[8];
    size_t n = 0;
    counts_on(set, np, ns, 8, &n);
    bool ok = n > 0;
    for (size_t i = 0; i < n; i++)
        ok = ok && np[i] == want && ns[i] == want;
    return ok;
}

static bool on_every_primary_only(void *arg)
{
    (void)arg;
    return counted(VMUX_NODES_PRIMARIES, 1) && counted(VMUX_NODES_REPLICAS, 0);
}

static bool on_no_node(void *arg)
{
    (void)arg;
    return counted(VMUX_NODES_ALL, 0);
}

static void print_counts(const char *when)
{
    int np[8], ns[8];
    size_t n = 0;
    counts_on(VMUX_NODES_PRIMARIES, np, ns, 8, &n);
    for (size_t i = 0; i < n; i++)
        print_message("%s: primary %zu: NUMPAT %d, NUMSUB %s %d\n", when, i, np[i], KEYEVENT,
                      ns[i]);
}

static int setup(void **state)
{
    (void)state;
    sub = vt_open(CLUSTER, "syncTimeout=15000");
    w = vt_open(CLUSTER, "syncTimeout=15000");
    const char *argv[] = {"CONFIG", "SET", "notify-keyspace-events", "KE$"};
    vmux_node_replies res;
    assert_int_equal(vmux_call_nodes(w, NULL, VMUX_NODES_ALL, 4, argv, NULL, &res), 0);
    assert_int_equal(res.count, 2 * NPRI);
    for (size_t i = 0; i < res.count; i++)
        assert_int_equal(res.nodes[i].status, 0);
    vmux_node_replies_free(&res);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vmux_close(sub);
    vmux_close(w);
    return 0;
}

/* Both subscriptions on every primary; 60 keys over every shard, each event once. */
static void test_spread(void **state)
{
    (void)state;
    read_owners();
    name_keys(0);
    assert_int_equal(vmux_subscribe(sub, VMUX_SUB_PATTERN, VMUX_STR(PATTERN), on_message,
                                    (void *)(intptr_t)BY_PATTERN, &subs[BY_PATTERN]),
                     0);
    assert_int_equal(vmux_subscribe(sub, VMUX_SUB_CHANNEL, VMUX_STR(KEYEVENT), on_message,
                                    (void *)(intptr_t)BY_CHANNEL, &subs[BY_CHANNEL]),
                     0);
    for (int by = 0; by < 2; by++)
        assert_int_equal(vmux_sub_wait_live(subs[by], WAIT_MS), 0);
    print_counts("live"); /* live: confirmed on every primary */
    expect_once(0);
    assert_true(vt_poll_until(on_every_primary_only, NULL, WAIT_MS, 50));
}

static int promoted; /* the replica taking over */

/* Whether the subscriber handle's subscriptions are on the promoted primary and off the
 * demoted one (PUBSUB on each, asked of the node itself). */
static bool followed(void *arg)
{
    int demoted = *(int *)arg;
    redisReply *a = vt_node_command(promoted, false, "PUBSUB NUMPAT");
    redisReply *b = vt_node_command(demoted, false, "PUBSUB NUMPAT");
    bool ok = a != NULL && b != NULL && a->integer == 1 && b->integer == 0;
    freeReplyObject(a);
    freeReplyObject(b);
    return ok;
}

/* One shard fails over; the subscriptions follow; 60 more keys, each event once. */
static void test_failover(void **state)
{
    (void)state;
    int ports[NPRI];
    primaries(ports);
    int demoted = ports[1];
    promoted = vt_cluster_replica_of(CLUSTER, demoted);
    redisReply *r = vt_node_command(promoted, false, "CLUSTER FAILOVER");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    assert_true(vt_poll_until(vt_port_is_primary, &promoted, WAIT_MS, 20));
    uint64_t t0 = vt_now_ms();
    /* the subscriber's own write to that shard hears MOVED: its map is refreshed now, not at the
     * periodic check (30 s) */
    read_owners();
    name_keys(1);
    char trigger[48]; /* a key of that shard that the ledger does not count */
    snprintf(trigger, sizeof trigger, "kx:%s", strchr(keys[1][NKEYS / NPRI], '{'));
    assert_int_equal(vt_try_set(sub, trigger, "v", 0), 0);
    assert_true(vt_poll_until(followed, &demoted, WAIT_MS, 20));
    for (int by = 0; by < 2; by++)
        assert_int_equal(vmux_sub_wait_live(subs[by], WAIT_MS), 0);
    print_message("127.0.0.1:%d took over from 127.0.0.1:%d; followed %llu ms after\n", promoted,
                  demoted, (unsigned long long)(vt_now_ms() - t0));
    assert_int_equal(vt_try_set(w, trigger, "v", 0), 0); /* the writer's map too, for PUBSUB */
    print_counts("followed");
    assert_true(vt_poll_until(on_every_primary_only, NULL, WAIT_MS, 50));
    expect_once(1);
}

/* Unsubscribed: no node holds them (the check that matters: the API already promises that no
 * callback runs once vmux_unsubscribe() returns); 60 more SETs deliver nothing. */
static void test_unsubscribe(void **state)
{
    (void)state;
    read_owners();
    name_keys(2);
    assert_true(counted(VMUX_NODES_PRIMARIES, 1)); /* on every primary until now */
    for (int by = 0; by < 2; by++)
        assert_int_equal(vmux_unsubscribe(sub, subs[by]), 0);
    assert_true(vt_poll_until(on_no_node, NULL, WAIT_MS, 20));
    print_counts("unsubscribed");
    set_keys(2);
    int t[2][2];
    tally(2, t, 0);
    for (int by = 0; by < 2; by++) {
        assert_int_equal(t[by][0] + t[by][1], 0);
        assert_int_equal(atomic_load(&barrier[by][2]), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_unsubscribe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
