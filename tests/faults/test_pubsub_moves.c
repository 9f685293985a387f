/*
 * Pub/sub moves deliver each message at most once, against scripted fake cluster nodes
 * (fakecluster.h) that send what real nodes send at the worst moment, every time:
 *
 * - the node carrying a channel delivers m1 and m2, then its connection breaks; the channel
 *   moves to the other node, which delivers m2 again (a real cluster's bus brought it there
 *   after the handle subscribed: the replay seen in CI) and then m3;
 * - a shard channel moves from one node to another while the old one still serves another
 *   channel: the old node delivers m3 before it reads the SUNSUBSCRIBE, the new node delivers
 *   m3 and m4 after its confirmation (a primary demoted in its own shard still delivers what
 *   the new primary publishes until it reads the SUNSUBSCRIBE);
 * - a shard channel moves off a node the map no longer names, which wrote m3 before its answer
 *   to the SUNSUBSCRIBE: m3 is delivered (make-before-break), then that connection closes.
 *
 * Each message must arrive exactly once, and vmux_stats.pubsub_dropped count the second copy.
 *
 * The replay guard waits for the subscriptions that moved: one that never confirms on the new
 * node and ends leaves no guard there, and the guard's second runs from the moved one's own
 * confirmation, not another subscription's. A MOVED answering the SSUBSCRIBE of a channel
 * unsubscribed meanwhile is no error.
 *
 * And a MOVED ping-pong (a migration finished on the source first: the source answers SSUBSCRIBE
 * with MOVED to the target, the target with MOVED back for a second) costs each channel a
 * handful of SSUBSCRIBEs, a backoff apart, and one VMUX_EVENT_SUBSCRIPTION_MOVED.
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

#include "fakecluster.h"
#include "logtext.h"
#include "mux/mux.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define WAIT_MS 20000
#define NMSG 5

/* How many times m0..m4 arrived. */
struct tally {
    atomic_int n[NMSG];
    atomic_int other;
};

static void on_message(const vmux_message *msg, void *userdata)
{
    struct tally *t = userdata;
    if (msg->payload.len == 2 && msg->payload.ptr[0] == 'm' && msg->payload.ptr[1] >= '0' &&
        msg->payload.ptr[1] < '0' + NMSG)
        atomic_fetch_add(&t->n[msg->payload.ptr[1] - '0'], 1);
    else
        atomic_fetch_add(&t->other, 1);
}

struct arrival {
    struct tally *t;
    int msg;
};

static bool arrived(void *arg)
{
    struct arrival *a = arg;
    return atomic_load(&a->t->n[a->msg]) > 0;
}

static void wait_for(struct tally *t, int msg)
{
    struct arrival a = {t, msg};
    if (!vt_wait_until(arrived, &a, WAIT_MS))
        fail_msg("m%d never arrived", msg);
}

/* Appends a RESP array of bulk strings (and a final integer when num >= 0) to buf. */
static void push3(char *buf, size_t len, const char *kind, const char *name, const char *payload,
                  int num)
{
    size_t at = strlen(buf);
    if (payload != NULL)
        snprintf(buf + at, len - at, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                 strlen(kind), kind, strlen(name), name, strlen(payload), payload);
    else
        snprintf(buf + at, len - at, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n:%d\r\n", strlen(kind),
                 kind, strlen(name), name, num);
}

static vmux *open_on(vt_fcluster *c, int node)
{
    char conf[256];
    /* keepAlive=0: the fake nodes answer a subscriber's PING with +PONG, not ["pong", ""] */
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=8000,keepAlive=0",
             vt_fcluster_port(c, (size_t)node));
    return vt_open_conf(conf);
}

static uint64_t dropped(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st.pubsub_dropped;
}

static void expect_once(struct tally *t, int first, int last)
{
    for (int i = first; i <= last; i++)
        if (atomic_load(&t->n[i]) != 1)
            fail_msg("m%d arrived %d times", i, atomic_load(&t->n[i]));
    assert_int_equal(atomic_load(&t->other), 0);
}

/* The channel's node breaks after delivering m1 and m2; the next node delivers m2 again. */
static void test_replay_after_failure(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char old[512] = "", fresh[512] = "";
    push3(old, sizeof old, "subscribe", "rp:ch", NULL, 1);
    push3(old, sizeof old, "message", "rp:ch", "m1", -1);
    push3(old, sizeof old, "message", "rp:ch", "m2", -1);
    strcat(old, "@not RESP\r\n"); /* the connection fails here: a protocol error */
    push3(fresh, sizeof fresh, "subscribe", "rp:ch", NULL, 1);
    push3(fresh, sizeof fresh, "message", "rp:ch", "m2", -1); /* the bus brought it late */
    push3(fresh, sizeof fresh, "message", "rp:ch", "m3", -1);
    assert_int_equal(vt_fcluster_rule(c, 0, "rp:ch", 1, 0, old), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, "rp:ch", 1, 0, fresh), 0);
    vmux *m = open_on(c, 0);
    static struct tally t;
    vmux_sub *sub;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("rp:ch"), on_message, &t, &sub),
                     0);
    wait_for(&t, 3); /* after m2's second copy on the same connection */
    expect_once(&t, 1, 3);
    assert_int_equal(dropped(m), 1);
    assert_int_equal(vt_fcluster_count(c, 1, "SUBSCRIBE"), 1);
    assert_int_equal(vmux_unsubscribe(m, sub), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* A name whose slot is in lo..hi and not `not` (-1: any). */
static int name_in(const char *prefix, int lo, int hi, int not, char *name, size_t len)
{
    for (int i = 0;; i++) {
        snprintf(name, len, "%s%d", prefix, i);
        int s = (int)vmux__slot_of(name, strlen(name));
        if (s >= lo && s <= hi && s != not )
            return s;
    }
}

/* CLUSTER SLOTS on every node: `slot` on node 1, the rest of 0..8191 on node 0, the rest on 1. */
static void move_slot(vt_fcluster *c, int slot)
{
    struct vt_fc_range r[4];
    size_t n = 0;
    const char *h0 = vt_fcluster_host(c, 0), *h1 = vt_fcluster_host(c, 1);
    int p0 = vt_fcluster_port(c, 0), p1 = vt_fcluster_port(c, 1);
    if (slot > 0)
        r[n++] = (struct vt_fc_range){0, slot - 1, h0, p0};
    r[n++] = (struct vt_fc_range){slot, slot, h1, p1};
    if (slot < 8191)
        r[n++] = (struct vt_fc_range){slot + 1, 8191, h0, p0};
    r[n++] = (struct vt_fc_range){8192, 16383, h1, p1};
    char *resp = vt_fcluster_slots_resp(r, n);
    assert_non_null(resp);
    vt_fcluster_set_slots(c, -1, resp);
    free(resp);
}

struct late {
    struct tally *t;
    vmux *m;
};

static bool old_m3_read(void *arg)
{
    struct late *w = arg;
    return dropped(w->m) >= 1 || atomic_load(&w->t->n[3]) >= 2;
}

/* A shard channel leaves a node that goes on serving another: the old node's late m3 drops. */
static void test_old_node_after_move(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char moving[32], staying[32], key[40];
    int slot = name_in("rp:s", 0, 8191, -1, moving, sizeof moving);
    name_in("rp:t", 0, 8191, slot, staying, sizeof staying);
    snprintf(key, sizeof key, "{%s}k", moving); /* a key in the moving channel's slot */
    char sub0[512] = "", unsub0[512] = "", sub1[512] = "", keep[256] = "";
    push3(sub0, sizeof sub0, "ssubscribe", moving, NULL, 1);
    push3(sub0, sizeof sub0, "smessage", moving, "m1", -1);
    push3(sub0, sizeof sub0, "smessage", moving, "m2", -1);
    push3(unsub0, sizeof unsub0, "smessage", moving, "m3", -1); /* before it reads SUNSUBSCRIBE */
    push3(unsub0, sizeof unsub0, "sunsubscribe", moving, NULL, 0);
    push3(sub1, sizeof sub1, "ssubscribe", moving, NULL, 1);
    push3(sub1, sizeof sub1, "smessage", moving, "m3", -1);
    push3(sub1, sizeof sub1, "smessage", moving, "m4", -1);
    push3(keep, sizeof keep, "ssubscribe", staying, NULL, 1);
    assert_int_equal(vt_fcluster_rule(c, 0, moving, 1, 0, sub0), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, moving, 1, 0, unsub0), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, staying, 1, 0, keep), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, moving, 1, 0, sub1), 0);
    vmux *m = open_on(c, 0);
    static struct tally t, u;
    vmux_sub *s1, *s2;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){moving, strlen(moving)}, on_message, &t, &s1),
        0);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){staying, strlen(staying)},
                                    on_message, &u, &s2),
                     0);
    assert_int_equal(vmux_sub_wait_live(s1, WAIT_MS), 0);
    assert_int_equal(vmux_sub_wait_live(s2, WAIT_MS), 0);
    wait_for(&t, 2);
    /* the slot moves to node 1; node 0 says so to a GET in it, and the map follows */
    move_slot(c, slot);
    char moved[128];
    snprintf(moved, sizeof moved, "-MOVED %d 127.0.0.1:%d\r\n", slot, vt_fcluster_port(c, 1));
    assert_int_equal(vt_fcluster_rule(c, 0, key, 1, 0, moved), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, key, 1, 0, "$1\r\nv\r\n"), 0);
    vmux_reply *r = NULL;
    const char *argv[] = {"GET", key};
    assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &r), 0);
    vmux_reply_free(r);
    wait_for(&t, 4);
    assert_int_equal(vmux_sub_wait_live(s1, WAIT_MS), 0);
    /* node 0's m3 came on a connection that was no longer the channel's: once it is read, it
     * is either dropped or a second m3, whichever connection the I/O thread read first */
    struct late w = {&t, m};
    if (!vt_wait_until(old_m3_read, &w, WAIT_MS))
        fail_msg("node 0's m3 was neither dropped nor delivered");
    expect_once(&t, 1, 4);
    assert_int_equal(vt_fcluster_count(c, 0, "SUNSUBSCRIBE"), 1);
    assert_int_equal(vmux_unsubscribe(m, s1), 0);
    assert_int_equal(vmux_unsubscribe(m, s2), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

static int count_sublinks(vmux *m, void *arg)
{
    int n = 0;
    for (const struct vmux_sublink *sl = m->pubsub.links; sl != NULL; sl = sl->next)
        n++;
    *(int *)arg = n;
    return 0;
}

static int count_retired(vmux *m, void *arg)
{
    int n = 0;
    for (const struct vmux_sublink *sl = m->pubsub.retired; sl != NULL; sl = sl->next)
        n++;
    *(int *)arg = n;
    return 0;
}

static bool none_retired(void *arg)
{
    int n = -1;
    return vmux__run_on_io(arg, count_retired, &n) == 0 && n == 0;
}

static int keep_idle_links(vmux *m, void *arg)
{
    (void)arg;
    m->pubsub.idle_close_ms = 600000; /* an idle link to a named node outlives the test */
    return 0;
}

struct sublinks {
    vmux *m;
    int want;
};

struct on_node {
    vt_fcluster *c;
    size_t node;
};

static bool subscribed_on(void *arg)
{
    const struct on_node *o = arg;
    return vt_fcluster_count(o->c, o->node, "SSUBSCRIBE") > 0;
}

static bool sublinks_are(void *arg)
{
    struct sublinks *l = arg;
    int n = -1;
    return vmux__run_on_io(l->m, count_sublinks, &n) == 0 && n == l->want;
}

/*
 * Node 0 leaves the map: every node's CLUSTER SLOTS names node 1 alone from now on, and a GET of
 * key (in slot) that node 0 answers MOVED to node 1 makes m refresh its map.
 */
static void leave_map_to_node1(vt_fcluster *c, vmux *m, int slot, const char *key)
{
    char moved[128];
    struct vt_fc_range all = {0, 16383, vt_fcluster_host(c, 1), vt_fcluster_port(c, 1)};
    char *resp = vt_fcluster_slots_resp(&all, 1);
    assert_non_null(resp);
    vt_fcluster_set_slots(c, -1, resp);
    free(resp);
    snprintf(moved, sizeof moved, "-MOVED %d 127.0.0.1:%d\r\n", slot, vt_fcluster_port(c, 1));
    assert_int_equal(vt_fcluster_rule(c, 0, key, 1, 0, moved), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, key, 1, 0, "$1\r\nv\r\n"), 0);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"GET", key}, NULL, &r), 0);
    vmux_reply_free(r);
}

/*
 * Node 0 leaves the map (its slots all on node 1: a shard drained and removed); the shard channel
 * moves to node 1, and node 0's subscriber link, with nothing on it and its node no longer named,
 * closes at once rather than after the idle time (probe30: ~30 s after the node was removed).
 */
static void test_link_to_departed_node_closes(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char ch[32], key[40];
    int slot = name_in("dn:s", 0, 8191, -1, ch, sizeof ch);
    snprintf(key, sizeof key, "{%s}k", ch);
    char sub[256] = "", unsub[256] = "";
    push3(sub, sizeof sub, "ssubscribe", ch, NULL, 1);
    push3(unsub, sizeof unsub, "sunsubscribe", ch, NULL, 0);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, sub), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, unsub), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, ch, 1, 0, sub), 0);
    vmux *m = open_on(c, 1);
    assert_int_equal(vmux__run_on_io(m, keep_idle_links, NULL), 0);
    static struct tally t;
    vmux_sub *s;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){ch, strlen(ch)}, on_message, &t, &s), 0);
    assert_int_equal(vmux_sub_wait_live(s, WAIT_MS), 0);
    struct sublinks one = {m, 1};
    assert_true(sublinks_are(&one));

    leave_map_to_node1(c, m, slot, key);
    /* the refresh's map names node 1 alone: the channel goes there, node 0's link closes */
    struct on_node n1 = {c, 1};
    if (!vt_wait_until(subscribed_on, &n1, WAIT_MS))
        fail_msg("the channel never moved to node 1");
    assert_int_equal(vmux_sub_wait_live(s, WAIT_MS), 0);
    if (!vt_wait_until(sublinks_are, &one, WAIT_MS))
        fail_msg("node 0's subscriber link is still open");
    assert_int_equal(vmux_unsubscribe(m, s), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * Make-before-break (review helper-262: 2 of ~10 real failovers lost a message): a shard channel
 * moves off a node the map no longer names (a demoted primary a stale map had resubscribed it
 * on), which had counted the handle and written m3 before it read the SUNSUBSCRIBE. The old
 * link reads on until that answer: m3 is delivered, once, and only then the link closes. It was
 * closed in the same pass that moved the channel, and m3, unread, lost (pubsub_dropped 0).
 */
static void test_moved_away_node_drains(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char ch[32], key[40];
    int slot = name_in("dr:s", 0, 8191, -1, ch, sizeof ch);
    snprintf(key, sizeof key, "{%s}k", ch);
    char sub0[256] = "", unsub0[256] = "", sub1[256] = "";
    push3(sub0, sizeof sub0, "ssubscribe", ch, NULL, 1);
    push3(unsub0, sizeof unsub0, "smessage", ch, "m3", -1); /* counted before the SUNSUBSCRIBE */
    push3(unsub0, sizeof unsub0, "sunsubscribe", ch, NULL, 0);
    push3(sub1, sizeof sub1, "ssubscribe", ch, NULL, 1);
    push3(sub1, sizeof sub1, "smessage", ch, "m4", -1);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, sub0), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, unsub0), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, ch, 1, 0, sub1), 0);
    vmux *m = open_on(c, 1);
    static struct tally t;
    vmux_sub *s;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){ch, strlen(ch)}, on_message, &t, &s), 0);
    assert_int_equal(vmux_sub_wait_live(s, WAIT_MS), 0);

    leave_map_to_node1(c, m, slot, key);
    wait_for(&t, 4);
    if (atomic_load(&t.n[3]) == 0 && !vt_wait_until(arrived, &(struct arrival){&t, 3}, WAIT_MS))
        fail_msg("m3, written by node 0 before its answer to the SUNSUBSCRIBE, was never "
                 "delivered (pubsub_dropped %llu)",
                 (unsigned long long)dropped(m));
    struct sublinks one = {m, 1};
    if (!vt_wait_until(sublinks_are, &one, WAIT_MS))
        fail_msg("node 0's subscriber link is still open after its last answer");
    if (!vt_wait_until(none_retired, m, WAIT_MS)) /* while the subscription that left it lives */
        fail_msg("node 0's closed subscriber link is still kept: a subscription names it");
    expect_once(&t, 3, 4);
    assert_int_equal(dropped(m), 0);
    assert_int_equal(vt_fcluster_count(c, 0, "SUNSUBSCRIBE"), 1);
    assert_int_equal(vmux_unsubscribe(m, s), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

#define PP_CHANNELS 10
#define PP_GAP_MS 1000 /* how long the target answers MOVED back */

static atomic_int sub_moved_events, slot_moved_events;

static void count_moves(const vmux_event *e, void *ud)
{
    (void)ud;
    if (e->type == VMUX_EVENT_SUBSCRIPTION_MOVED)
        atomic_fetch_add(&sub_moved_events, 1);
    else if (e->type == VMUX_EVENT_SLOT_MOVED)
        atomic_fetch_add(&slot_moved_events, 1);
}

static bool all_moved(void *arg)
{
    (void)arg;
    return atomic_load(&sub_moved_events) >= PP_CHANNELS;
}

/*
 * Node 0 confirms each channel of one slot; then (answering the SSUBSCRIBE of a channel of
 * another slot, the trigger) it ends them all, as a source does when SETSLOT NODE hands their
 * slot over, and from then on answers their SSUBSCRIBE with MOVED to node 1, which answers MOVED
 * back to node 0 for PP_GAP_MS before it confirms. Followed at once, each channel went round the
 * two nodes hundreds of times (and raised as many events); with the backoff of a command's
 * ping-pong (10 ms, doubling) it takes about a dozen SSUBSCRIBEs, and raises one event, once
 * node 1 has it.
 */
static void test_pingpong_backs_off(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char tag[32], names[PP_CHANNELS][48], to0[64], to1[64], trigger[32], ends[2048] = "";
    int slot = name_in("pp", 0, 8191, -1, tag, sizeof tag); /* node 0's by default */
    name_in("pt", 0, 8191, slot, trigger, sizeof trigger);
    push3(ends, sizeof ends, "ssubscribe", trigger, NULL, 1);
    snprintf(to0, sizeof to0, "-MOVED %d 127.0.0.1:%d\r\n", slot, vt_fcluster_port(c, 0));
    snprintf(to1, sizeof to1, "-MOVED %d 127.0.0.1:%d\r\n", slot, vt_fcluster_port(c, 1));
    for (int i = 0; i < PP_CHANNELS; i++) {
        char confirmed[128] = "";
        snprintf(names[i], sizeof names[i], "{%s}:%d", tag, i);
        push3(confirmed, sizeof confirmed, "ssubscribe", names[i], NULL, 1);
        push3(ends, sizeof ends, "sunsubscribe", names[i], NULL, 0); /* the slot left */
        /* node 0: confirmed, then MOVED to node 1 for good; node 1: MOVED back for PP_GAP_MS
         * from the first, then confirmed */
        assert_int_equal(vt_fcluster_rule(c, 0, names[i], 1, 0, confirmed), 0);
        assert_int_equal(vt_fcluster_rule(c, 0, names[i], -1, 0, to1), 0);
        assert_int_equal(vt_fcluster_rule_for(c, 1, names[i], PP_GAP_MS, 0, to0), 0);
        assert_int_equal(vt_fcluster_rule(c, 1, names[i], -1, 0, confirmed), 0);
    }

    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=8000,keepAlive=0",
             vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    vmux_config_set_event_handler(cfg, count_moves, NULL);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    static struct tally t;
    vmux_sub *subs[PP_CHANNELS];
    for (int i = 0; i < PP_CHANNELS; i++)
        assert_int_equal(vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){names[i], strlen(names[i])},
                                        on_message, &t, &subs[i]),
                         0);
    for (int i = 0; i < PP_CHANNELS; i++)
        assert_int_equal(vmux_sub_wait_live(subs[i], WAIT_MS), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, trigger, 1, 0, ends), 0);
    vmux_sub *trig;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){trigger, strlen(trigger)},
                                    on_message, &t, &trig),
                     0);
    if (!vt_wait_until(all_moved, NULL, WAIT_MS))
        fail_msg("%d SUBSCRIPTION_MOVED events", atomic_load(&sub_moved_events));
    for (int i = 0; i < PP_CHANNELS; i++)
        assert_int_equal(vmux_sub_wait_live(subs[i], WAIT_MS), 0);
    unsigned on0 = vt_fcluster_count(c, 0, "SSUBSCRIBE") - 1, /* the trigger's */
        on1 = vt_fcluster_count(c, 1, "SSUBSCRIBE");
    printf("MOVED ping-pong of %d ms, %d shard channels: %u SSUBSCRIBEs on the source, %u on the "
           "target; %d SUBSCRIPTION_MOVED, %d SLOT_MOVED events\n",
           PP_GAP_MS, PP_CHANNELS, on0, on1, atomic_load(&sub_moved_events),
           atomic_load(&slot_moved_events));
    /* one move each: confirmed on node 0, then on node 1 */
    assert_int_equal(atomic_load(&sub_moved_events), PP_CHANNELS);
    /* per channel: node 0's confirmation and first MOVED, then the two nodes in turn, each try
     * a backoff after the last (10-20, 20-40, 40-80, 80-160, 160-320, 320-640 ms: seven or so
     * within node 1's second), then node 1's confirmation: about a dozen (unfixed: hundreds) */
    assert_true(on0 + on1 <= 16u * PP_CHANNELS);
    /* the map patched by node 0's first MOVED, not by the MOVEDs back (unfixed: thousands) */
    assert_true(atomic_load(&slot_moved_events) <= 2);
    /* every MOVED followed is counted, an SSUBSCRIBE's as an op's (probe30: more SLOT_MOVED
     * events than cluster_moved) */
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_true(st.cluster_moved >= PP_CHANNELS); /* node 0's MOVED to each, at least */
    assert_true(st.cluster_moved >= (uint64_t)atomic_load(&slot_moved_events));
    for (int i = 0; i < PP_CHANNELS; i++)
        assert_int_equal(vmux_unsubscribe(m, subs[i]), 0);
    assert_int_equal(vmux_unsubscribe(m, trig), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- the replay guard waits for the subscriptions that moved ---- */

/* Whether s is lost on the link to port (its SSUBSCRIBE answered with an error there). */
struct lost_on {
    vmux *m;
    vmux_sub *s;
    int port;
};

static int read_lost_on(vmux *m, void *arg)
{
    (void)m;
    const struct lost_on *w = arg;
    const struct vmux_sub *s = w->s;
    return s->lost && s->at != NULL && s->at->port == w->port ? 1 : 0;
}

static bool is_lost_on(void *arg)
{
    const struct lost_on *w = arg;
    return vmux__run_on_io(w->m, read_lost_on, (void *)w) == 1;
}

/* Moves slot (of key) from node 0 to node 1: the map, and a GET that node 0 answers MOVED. */
static void move_to_node1(vt_fcluster *c, vmux *m, int slot, const char *key)
{
    move_slot(c, slot);
    char moved[128];
    snprintf(moved, sizeof moved, "-MOVED %d 127.0.0.1:%d\r\n", slot, vt_fcluster_port(c, 1));
    assert_int_equal(vt_fcluster_rule(c, 0, key, 1, 0, moved), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, key, 1, 0, "$1\r\nv\r\n"), 0);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"GET", key}, NULL, &r), 0);
    vmux_reply_free(r);
}

#define TRYAGAIN "-TRYAGAIN Multiple keys request during rehashing of slot\r\n"

/*
 * A shard channel delivers m1 and m2 on node 0, moves to node 1, whose SSUBSCRIBE answers
 * TRYAGAIN (it never confirms there), and is unsubscribed. A new subscription of the same
 * channel on node 1 then receives m1, m2 and m3: it moved from nowhere, and nothing delivered
 * them to it. The guard the move armed on node 1's link stayed armed with no end (a window
 * opened by any later confirmation on the link): the new subscription's confirmation opened it,
 * and m1 and m2 were dropped as replays.
 */
static void test_unconfirmed_move_leaves_no_guard(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char ch[32], key[40];
    int slot = name_in("ug:s", 0, 8191, -1, ch, sizeof ch);
    snprintf(key, sizeof key, "{%s}k", ch);
    char sub0[512] = "", unsub0[256] = "", sub1[512] = "";
    push3(sub0, sizeof sub0, "ssubscribe", ch, NULL, 1);
    push3(sub0, sizeof sub0, "smessage", ch, "m1", -1);
    push3(sub0, sizeof sub0, "smessage", ch, "m2", -1);
    push3(unsub0, sizeof unsub0, "sunsubscribe", ch, NULL, 0);
    push3(sub1, sizeof sub1, "ssubscribe", ch, NULL, 1);
    push3(sub1, sizeof sub1, "smessage", ch, "m1", -1);
    push3(sub1, sizeof sub1, "smessage", ch, "m2", -1);
    push3(sub1, sizeof sub1, "smessage", ch, "m3", -1);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, sub0), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, unsub0), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, ch, -1, 0, TRYAGAIN), 0); /* until cleared */
    vmux *m = open_on(c, 0);
    static struct tally t, u;
    vmux_sub *s1, *s2;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){ch, strlen(ch)}, on_message, &t, &s1), 0);
    wait_for(&t, 2);
    move_to_node1(c, m, slot, key);
    struct lost_on w = {m, s1, vt_fcluster_port(c, 1)};
    if (!vt_wait_until(is_lost_on, &w, WAIT_MS))
        fail_msg("node 1 never answered the SSUBSCRIBE");
    assert_int_equal(vmux_unsubscribe(m, s1), 0);
    vt_fcluster_clear_rules(c, 1);
    assert_int_equal(vt_fcluster_rule(c, 1, ch, 1, 0, sub1), 0);
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){ch, strlen(ch)}, on_message, &u, &s2), 0);
    wait_for(&u, 3); /* after m1 and m2 on the same connection */
    expect_once(&u, 1, 3);
    assert_int_equal(dropped(m), 0);
    assert_int_equal(vmux_unsubscribe(m, s2), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A shard channel delivers m1 and m2 on node 0 and moves to node 1, whose first answer is the
 * confirmation of another subscription (sent there before the move), then TRYAGAIN to the
 * channel's SSUBSCRIBE; a second later the channel is confirmed there, and node 1 delivers m2
 * again (the bus brought it late) and m3. m2 arrives once: the guard's time runs from the moved
 * subscription's own confirmation. It ran from the other one's, and was over when the replay
 * came (m2 arrived twice).
 */
static void test_guard_window_from_own_confirmation(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char ch[32], other[32], key[40];
    int slot = name_in("gw:s", 0, 8191, -1, ch, sizeof ch);
    name_in("gw:o", 8192, 16383, -1, other, sizeof other); /* node 1's */
    snprintf(key, sizeof key, "{%s}k", ch);
    char sub0[512] = "", unsub0[256] = "", first1[512] = "", sub1[512] = "";
    push3(sub0, sizeof sub0, "ssubscribe", ch, NULL, 1);
    push3(sub0, sizeof sub0, "smessage", ch, "m1", -1);
    push3(sub0, sizeof sub0, "smessage", ch, "m2", -1);
    push3(unsub0, sizeof unsub0, "sunsubscribe", ch, NULL, 0);
    push3(first1, sizeof first1, "ssubscribe", other, NULL, 1); /* late: answers the other */
    strcat(first1, TRYAGAIN);
    push3(sub1, sizeof sub1, "ssubscribe", ch, NULL, 1);
    push3(sub1, sizeof sub1, "smessage", ch, "m2", -1); /* the replay */
    push3(sub1, sizeof sub1, "smessage", ch, "m3", -1);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, sub0), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, unsub0), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, other, 1, 0, ""), 0); /* answered with ch's */
    assert_int_equal(vt_fcluster_rule(c, 1, ch, 1, 0, first1), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, ch, 1, 0, sub1), 0);
    vmux *m = open_on(c, 0);
    static struct tally t, u;
    vmux_sub *s1, *s2;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){other, strlen(other)}, on_message, &u, &s2),
        0);
    struct on_node n1 = {c, 1};
    if (!vt_wait_until(subscribed_on, &n1, WAIT_MS))
        fail_msg("the other channel's SSUBSCRIBE never reached node 1");
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){ch, strlen(ch)}, on_message, &t, &s1), 0);
    wait_for(&t, 2);
    move_to_node1(c, m, slot, key);
    wait_for(&t, 3); /* after the second m2 on the same connection */
    expect_once(&t, 1, 3);
    assert_int_equal(dropped(m), 1);
    assert_int_equal(vt_fcluster_count(c, 1, "SSUBSCRIBE"), 3);
    assert_int_equal(vmux_sub_wait_live(s2, WAIT_MS), 0);
    assert_int_equal(vmux_unsubscribe(m, s1), 0);
    assert_int_equal(vmux_unsubscribe(m, s2), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- the answers to a subscription that has ended ---- */

static int count_requests(vmux *m, void *arg)
{
    int n = 0;
    for (const struct vmux_sublink *sl = m->pubsub.links; sl != NULL; sl = sl->next)
        for (const struct vmux_sub_request *rq = sl->sent_head; rq != NULL; rq = rq->next)
            n++;
    *(int *)arg = n;
    return 0;
}

static bool all_answered(void *arg)
{
    int n = -1;
    return vmux__run_on_io(arg, count_requests, &n) == 0 && n == 0;
}

/* A handle on node 0 (as open_on()) whose WARN and ERROR lines go to log. */
static vmux *open_logged(vt_fcluster *c, vt_logtext *log)
{
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=8000,keepAlive=0",
             vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, vt_logtext_line, VMUX_LOG_WARN, log), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

static bool unsubscribed_on_0(void *arg)
{
    return vt_fcluster_count(arg, 0, "SUNSUBSCRIBE") == 1;
}

/*
 * A shard channel is unsubscribed while its SSUBSCRIBE waits for its answer, which is a MOVED
 * (the slot left during a migration). Nothing is wrong: the subscription has ended, and there is
 * nothing to follow. It was logged as an error ("subscriber connection: MOVED ...").
 */
static void test_moved_after_end_is_no_error(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char ch[32], answers[512];
    int slot = name_in("me:s", 0, 8191, -1, ch, sizeof ch);
    snprintf(answers, sizeof answers, "-MOVED %d 127.0.0.1:%d\r\n", slot, vt_fcluster_port(c, 1));
    push3(answers, sizeof answers, "sunsubscribe", ch, NULL, 0);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, ""), 0); /* answered with the next */
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, answers), 0);
    static vt_logtext log = VT_LOGTEXT_INIT;
    vmux *m = open_logged(c, &log);
    assert_int_equal(vmux__run_on_io(m, keep_idle_links, NULL), 0);
    static struct tally t;
    vmux_sub *s;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){ch, strlen(ch)}, on_message, &t, &s), 0);
    struct on_node n0 = {c, 0};
    if (!vt_wait_until(subscribed_on, &n0, WAIT_MS))
        fail_msg("the SSUBSCRIBE never reached node 0");
    assert_int_equal(vmux_unsubscribe(m, s), 0);
    if (!vt_wait_until(unsubscribed_on_0, c, WAIT_MS))
        fail_msg("the SUNSUBSCRIBE never reached node 0");
    if (!vt_wait_until(all_answered, m, WAIT_MS))
        fail_msg("the answers were never read");
    if (vt_logtext_has(&log, "MOVED"))
        fail_msg("logged: %s", log.text);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * The server ends a shard channel itself (its slot left the node) just before it reads the
 * handle's own SUNSUBSCRIBE of it, which Valkey 8 then answers with MOVED, not NOSUB: the
 * "sunsubscribe" push is taken for the SUNSUBSCRIBE's answer, and the MOVED that follows is no
 * answer to the next request, a SUBSCRIBE of a classic channel on the same connection. It was
 * taken for it: "'lm:c' refused: MOVED ...", the channel not live, and every later answer on the
 * connection one request off (helper-262: against a real cluster, a classic channel was still not
 * live 8 s later).
 */
static void test_late_moved_to_unsubscribe(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char ch[32], confirmed[128] = "", ended[128] = "", late[512];
    int slot = name_in("lm:s", 0, 8191, -1, ch, sizeof ch);
    push3(confirmed, sizeof confirmed, "ssubscribe", ch, NULL, 1);
    push3(ended, sizeof ended, "sunsubscribe", ch, NULL, 0);
    snprintf(late, sizeof late, "-MOVED %d 127.0.0.1:%d\r\n", slot, vt_fcluster_port(c, 1));
    push3(late, sizeof late, "subscribe", "lm:c", NULL, 1);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, confirmed), 0); /* the SSUBSCRIBE */
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, ended), 0);     /* the SUNSUBSCRIBE */
    assert_int_equal(vt_fcluster_rule(c, 0, "lm:c", 1, 0, late), 0);  /* the SUBSCRIBE */
    static vt_logtext log = VT_LOGTEXT_INIT;
    vmux *m = open_logged(c, &log);
    assert_int_equal(vmux__run_on_io(m, keep_idle_links, NULL), 0);
    static struct tally t;
    vmux_sub *s, *classic;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){ch, strlen(ch)}, on_message, &t, &s), 0);
    assert_int_equal(vmux_sub_wait_live(s, WAIT_MS), 0);
    assert_int_equal(vmux_unsubscribe(m, s), 0);
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("lm:c"), on_message, &t, &classic), 0);
    if (vmux_sub_wait_live(classic, 3000) != 0)
        fail_msg("the classic channel is not live; the log: %s", log.text);
    if (!vt_wait_until(all_answered, m, WAIT_MS))
        fail_msg("the answers were never read");
    if (vt_logtext_has(&log, "MOVED"))
        fail_msg("logged: %s", log.text);
    assert_int_equal(vt_fcluster_count(c, 0, "SUBSCRIBE"), 1);
    assert_int_equal(vmux_unsubscribe(m, classic), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* Whether every subscriber link's host is whole: short, or the MOVED's 300 bytes (never cut). */
static int hosts_whole(vmux *m, void *arg)
{
    int cut = 0;
    for (const struct vmux_sublink *sl = m->pubsub.links; sl != NULL; sl = sl->next) {
        size_t n = sl->host != NULL ? strlen(sl->host) : 0;
        cut += n > 64 && n != 300;
    }
    *(int *)arg = cut;
    return 0;
}

struct long_host_wait {
    vt_logtext *log;
    const char *words;
};

static bool log_says(void *arg)
{
    struct long_host_wait *w = arg;
    return vt_logtext_has(w->log, w->words);
}

/*
 * A MOVED answering an SSUBSCRIBE names a host of 300 bytes (a broken or hostile node; DNS allows
 * 253): the subscription's connection there fails unresolved, in words naming the host's length
 * and the port whole; no link is made to the host cut short (pubsub_bounce.c's copy); and the
 * refreshed map brings the channel back to node 0, which confirms it.
 */
static void test_moved_to_long_host(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    char ch[32], moved[400], host[301], confirm[128] = "";
    int slot = name_in("lh:s", 0, 8191, -1, ch, sizeof ch);
    memset(host, 'a', 300);
    host[300] = '\0';
    snprintf(moved, sizeof moved, "-MOVED %d %s:%d\r\n", slot, host, vt_fcluster_port(c, 1));
    push3(confirm, sizeof confirm, "ssubscribe", ch, NULL, 1);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, 1, 0, moved), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, ch, -1, 0, confirm), 0);
    static vt_logtext log = VT_LOGTEXT_INIT;
    vmux *m = open_logged(c, &log);
    static struct tally t;
    vmux_sub *s;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, (vmux_str){ch, strlen(ch)}, on_message, &t, &s), 0);
    char words[128];
    snprintf(words, sizeof words, "(300 bytes):%d: the host name is 300 bytes, over the 253",
             vt_fcluster_port(c, 1));
    struct long_host_wait w = {&log, words};
    if (!vt_wait_until(log_says, &w, WAIT_MS))
        fail_msg("no failure naming the 300-byte host whole; the log: %s", log.text);
    int cut = -1;
    assert_int_equal(vmux__run_on_io(m, hosts_whole, &cut), 0);
    if (cut != 0)
        fail_msg("%d subscriber links to a host cut short", cut);
    if (vmux_sub_wait_live(s, WAIT_MS) != 0)
        fail_msg("the shard channel never came back to node 0; the log: %s", log.text);
    assert_int_equal(vmux_unsubscribe(m, s), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_after_failure),
        cmocka_unit_test(test_old_node_after_move),
        cmocka_unit_test(test_pingpong_backs_off),
        cmocka_unit_test(test_link_to_departed_node_closes),
        cmocka_unit_test(test_moved_away_node_drains),
        cmocka_unit_test(test_unconfirmed_move_leaves_no_guard),
        cmocka_unit_test(test_guard_window_from_own_confirmation),
        cmocka_unit_test(test_moved_after_end_is_no_error),
        cmocka_unit_test(test_late_moved_to_unsubscribe),
        cmocka_unit_test(test_moved_to_long_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
