/*
 * What a cluster handle tells: the events (VMUX_EVENT_SLOT_MOVED, _MAP_REFRESHED,
 * _REFRESH_THROTTLED, _NODE_ADDED, _NODE_REMOVED) and the counters (cluster_moved,
 * cluster_asked, cluster_refreshes), against scripted fake nodes (fakecluster.h) whose
 * CLUSTER SLOTS the test changes at will; and the link to a node that left the map is closed once
 * ten refresh intervals passed, and what it used freed soon after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "fakecluster.h"
#include "mux/mux.h"
#include "nodeset.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define WAIT_MS 15000
#define MAX_EVENTS 256

struct seen {
    vmux_event_type type;
    char endpoint[128];
    char reason[512];
};

struct recorder {
    uv_mutex_t mu;
    struct seen ev[MAX_EVENTS];
    size_t n;
};

static void record(const vmux_event *e, void *arg)
{
    struct recorder *rec = arg;
    uv_mutex_lock(&rec->mu);
    if (rec->n < MAX_EVENTS) {
        struct seen *s = &rec->ev[rec->n++];
        s->type = e->type;
        snprintf(s->endpoint, sizeof s->endpoint, "%s", e->endpoint);
        snprintf(s->reason, sizeof s->reason, "%s", e->reason);
    }
    uv_mutex_unlock(&rec->mu);
}

/* The first event of type (whose endpoint is endpoint, when not NULL) into *out. */
static bool find(struct recorder *rec, vmux_event_type type, const char *endpoint, struct seen *out)
{
    bool found = false;
    uv_mutex_lock(&rec->mu);
    for (size_t i = 0; i < rec->n && !found; i++) {
        if (rec->ev[i].type == type &&
            (endpoint == NULL || strcmp(rec->ev[i].endpoint, endpoint) == 0)) {
            *out = rec->ev[i];
            found = true;
        }
    }
    uv_mutex_unlock(&rec->mu);
    return found;
}

struct wanted {
    struct recorder *rec;
    vmux_event_type type;
    const char *endpoint;
    struct seen got;
};

static bool came(void *arg)
{
    struct wanted *w = arg;
    return find(w->rec, w->type, w->endpoint, &w->got);
}

static struct seen wait_event(struct recorder *rec, vmux_event_type type, const char *endpoint)
{
    struct wanted w = {rec, type, endpoint, {0}};
    if (!vt_wait_until(came, &w, WAIT_MS))
        fail_msg("no event %d (%s) within %d ms", type, endpoint ? endpoint : "any", WAIT_MS);
    return w.got;
}

/* CLUSTER SLOTS on every node: ranges[i] served by node owners[i]. */
static void slots(vt_fcluster *c, const int (*ranges)[2], const size_t *owners, size_t n)
{
    struct vt_fc_range r[4];
    for (size_t i = 0; i < n; i++)
        r[i] = (struct vt_fc_range){ranges[i][0], ranges[i][1], vt_fcluster_host(c, owners[i]),
                                    vt_fcluster_port(c, owners[i])};
    char *resp = vt_fcluster_slots_resp(r, n);
    assert_non_null(resp);
    vt_fcluster_set_slots(c, -1, resp);
    free(resp);
}

/* Two nodes, each serving half the slots. */
static vt_fcluster *start_halves(void)
{
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    static const int halves[][2] = {{0, 8191}, {8192, 16383}};
    static const size_t on01[] = {0, 1};
    slots(c, halves, on01, 2);
    return c;
}

/* A key whose slot is in lo..hi. */
static void key_in(int lo, int hi, char *key, size_t len)
{
    for (int i = 0;; i++) {
        snprintf(key, len, "ev%d", i);
        int s = (int)vmux__slot_of(key, strlen(key));
        if (s >= lo && s <= hi)
            return;
    }
}

static void test_events_and_counters(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(3, NULL);
    assert_non_null(c);
    static const int one[][2] = {{0, 16383}};
    static const size_t on0[] = {0};
    slots(c, one, on0, 1);
    static struct recorder rec;
    rec.n = 0;
    assert_int_equal(uv_mutex_init(&rec.mu), 0);
    char conf[256], addr[3][64];
    for (int i = 0; i < 3; i++)
        snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d", vt_fcluster_port(c, (size_t)i));
    /* reactive refreshes at most every 4 s: the second one below is sure to be held back */
    snprintf(conf, sizeof conf, "%s,cluster=yes,syncTimeout=8000,clusterRefreshMinInterval=4000",
             addr[0]);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, record, &rec), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_true(st.cluster_refreshes >= 1); /* the first map's CLUSTER SLOTS (probe30: 0) */

    /* The cluster is resharded over three nodes; the handle hears of it by a MOVED. */
    static const int three[][2] = {{0, 5460}, {5461, 10922}, {10923, 16383}};
    static const size_t on012[] = {0, 1, 2};
    slots(c, three, on012, 3);
    char k[16];
    key_in(5461, 10922, k, sizeof k);
    unsigned ks = vmux__slot_of(k, strlen(k));
    char resp[128];
    snprintf(resp, sizeof resp, "-MOVED %u %s\r\n", ks, addr[1]);
    assert_int_equal(vt_fcluster_rule(c, 0, k, 1, 0, resp), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, k, -1, 0, "$2\r\nv1\r\n"), 0);
    vt_get_value(m, k, "v1");

    struct seen e = wait_event(&rec, VMUX_EVENT_SLOT_MOVED, addr[1]);
    char want[256];
    snprintf(want, sizeof want, "slot %u moved from %s to %s", ks, addr[0], addr[1]);
    assert_string_equal(e.reason, want);
    /* node 1 joins the map by that MOVED, before any refresh: the refresh will not count it (a
     * new primary that a reshard gives slots was never announced: probe20) */
    e = wait_event(&rec, VMUX_EVENT_NODE_ADDED, addr[1]);
    assert_string_equal(e.reason, "joined");
    e = wait_event(&rec, VMUX_EVENT_MAP_REFRESHED, NULL);
    /* the MOVED had patched one slot; the refresh moves the rest of both ranges */
    assert_non_null(strstr(e.reason, "3 shards serve 16384 slots"));
    snprintf(want, sizeof want, "%u slots changed primary", 10922 - 5461 + 16383 - 10923 + 1);
    assert_non_null(strstr(e.reason, want));
    assert_non_null(strstr(e.reason, "1 nodes added, 0 removed"));
    wait_event(&rec, VMUX_EVENT_NODE_ADDED, addr[2]);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.cluster_moved, 1);
    assert_int_equal(st.cluster_asked, 0);
    assert_true(st.cluster_refreshes >= 1);

    /* Node 2 leaves; a MOVED from it comes within the refresh interval: held back, then done. */
    static const int two[][2] = {{0, 5460}, {5461, 16383}};
    static const size_t on01[] = {0, 1};
    slots(c, two, on01, 2);
    char j[16];
    key_in(10923, 16383, j, sizeof j);
    snprintf(resp, sizeof resp, "-MOVED %u %s\r\n", (unsigned)vmux__slot_of(j, strlen(j)), addr[1]);
    assert_int_equal(vt_fcluster_rule(c, 2, j, 1, 0, resp), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, j, -1, 0, "$2\r\nv2\r\n"), 0);
    vt_get_value(m, j, "v2");
    e = wait_event(&rec, VMUX_EVENT_REFRESH_THROTTLED, NULL);
    assert_non_null(strstr(e.reason, "clusterRefreshMinInterval"));
    wait_event(&rec, VMUX_EVENT_NODE_REMOVED, addr[2]);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.cluster_moved, 2);
    assert_true(st.cluster_refreshes >= 2);

    /* An ASK is counted, and changes nothing. */
    char a[16];
    key_in(0, 5460, a, sizeof a);
    snprintf(resp, sizeof resp, "-ASK %u %s\r\n", (unsigned)vmux__slot_of(a, strlen(a)), addr[1]);
    assert_int_equal(vt_fcluster_rule(c, 0, a, 1, 0, resp), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, a, 1, VT_FC_AFTER_ASKING, "$2\r\nv3\r\n"), 0);
    vt_get_value(m, a, "v3");
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.cluster_asked, 1);
    assert_int_equal(st.cluster_moved, 2);

    vmux_close(m);
    vt_fcluster_stop(c);
    uv_mutex_destroy(&rec.mu);
}

/* ---- a map that serves fewer slots waits for a second node (probe37) ---- */

static size_t count_events(struct recorder *rec, vmux_event_type type)
{
    size_t n = 0;
    uv_mutex_lock(&rec->mu);
    for (size_t i = 0; i < rec->n; i++)
        n += rec->ev[i].type == type;
    uv_mutex_unlock(&rec->mu);
    return n;
}

/* A handle on node 0 whose events rec records, refreshing its map at most every 20 ms. */
static vmux *open_recorded(vt_fcluster *c, struct recorder *rec)
{
    rec->n = 0;
    assert_int_equal(uv_mutex_init(&rec->mu), 0);
    char conf[256];
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,cluster=yes,syncTimeout=8000,clusterRefreshMinInterval=20",
             vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, record, rec), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

/* Whether a map of one shard serving half the slots was taken. */
static bool half_map_taken(void *arg)
{
    struct recorder *rec = arg;
    bool found = false;
    uv_mutex_lock(&rec->mu);
    for (size_t i = 0; i < rec->n && !found; i++)
        found = rec->ev[i].type == VMUX_EVENT_MAP_REFRESHED &&
                strstr(rec->ev[i].reason, "1 shards serve 8192 slots") != NULL;
    uv_mutex_unlock(&rec->mu);
    return found;
}

/*
 * Makes the handle refresh its map until node has been asked `more` more times: a key of node
 * 0's (key, in 0..8191) answered CLUSTERDOWN, which asks for a refresh each time it is retried.
 */
static void refresh_until(vt_fcluster *c, vmux *m, size_t node, unsigned more, const char *key)
{
    unsigned want = vt_fcluster_count(c, node, "CLUSTER SLOTS") + more;
    vt_fcluster_clear_rules(c, 0);
    assert_int_equal(vt_fcluster_rule(c, 0, key, -1, 0, "-CLUSTERDOWN The cluster is down\r\n"), 0);
    struct vt_async g = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 3 * WAIT_MS);
    assert_int_equal(vmux_call_async(m, &o, 2, (const char *[]){"GET", key}, NULL, vt_on_async, &g),
                     0);
    if (!vt_fcluster_wait_count(c, node, "CLUSTER SLOTS", want, WAIT_MS))
        fail_msg("node %zu was not asked CLUSTER SLOTS %u times within %d ms", node, want, WAIT_MS);
    vt_fcluster_clear_rules(c, 0);
    assert_int_equal(vt_fcluster_rule(c, 0, key, -1, 0, "$2\r\nva\r\n"), 0);
    assert_true(vt_wait_until(vt_async_done, &g, WAIT_MS));
    assert_int_equal(g.status, 0);
    vmux_reply_free(g.reply);
}

/*
 * Two nodes serve half the slots each. Node 1 is reset (it answers CLUSTER SLOTS with no slot):
 * its map is one node's view, never taken while node 0 answers the full one (it was taken, and
 * the next full map taken again, every other refresh: a key of node 1's then went to the seed).
 * Then both nodes serve half the slots only (CLUSTER DELSLOTS on node 1): two nodes agree, and
 * that map is taken.
 */
static void test_fewer_slots_wait_for_agreement(void **state)
{
    (void)state;
    vt_fcluster *c = start_halves();
    static struct recorder rec;
    vmux *m = open_recorded(c, &rec);
    char a[16], b[16];
    key_in(0, 8191, a, sizeof a);
    key_in(8192, 16383, b, sizeof b);
    assert_int_equal(vt_fcluster_rule(c, 1, b, -1, 0, "$2\r\nvb\r\n"), 0);
    vt_get_value(m, b, "vb"); /* the handle's link to node 1 */

    vt_fcluster_set_slots(c, 1, "*0\r\n");
    size_t refreshed = count_events(&rec, VMUX_EVENT_MAP_REFRESHED);
    refresh_until(c, m, 1, 3, a);
    assert_int_equal(count_events(&rec, VMUX_EVENT_MAP_REFRESHED), refreshed);
    unsigned on0 = vt_fcluster_count(c, 0, "GET");
    vt_get_value(m, b, "vb");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), on0); /* straight to node 1 */

    static const int half[][2] = {{0, 8191}};
    static const size_t only0[] = {0};
    slots(c, half, only0, 1); /* every node */
    refresh_until(c, m, 1, 2, a);
    assert_true(vt_wait_until(half_map_taken, &rec, WAIT_MS));

    vmux_close(m);
    vt_fcluster_stop(c);
    uv_mutex_destroy(&rec.mu);
}

/* One node alone (or the only one that answers): its smaller map is taken at its third answer. */
static void test_fewer_slots_from_the_only_node(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(1, NULL);
    assert_non_null(c);
    static const int all[][2] = {{0, 16383}};
    static const size_t on0[] = {0};
    slots(c, all, on0, 1);
    static struct recorder rec;
    vmux *m = open_recorded(c, &rec);
    char a[16];
    key_in(0, 8191, a, sizeof a);
    static const int half[][2] = {{0, 8191}};
    slots(c, half, on0, 1);
    refresh_until(c, m, 0, 3, a);
    assert_true(vt_wait_until(half_map_taken, &rec, WAIT_MS));
    vmux_close(m);
    vt_fcluster_stop(c);
    uv_mutex_destroy(&rec.mu);
}

/* ---- a MOVED to a replica of the slot's own shard: the shard's slots go with it ---- */

struct log_seen {
    uv_mutex_t mu;
    char want[128];
    bool seen;
};

static void on_log(vmux_log_level level, const char *msg, void *arg)
{
    struct log_seen *l = arg;
    (void)level;
    uv_mutex_lock(&l->mu);
    if (strstr(msg, l->want) != NULL)
        l->seen = true;
    uv_mutex_unlock(&l->mu);
}

static bool log_came(void *arg)
{
    struct log_seen *l = arg;
    uv_mutex_lock(&l->mu);
    bool seen = l->seen;
    uv_mutex_unlock(&l->mu);
    return seen;
}

/* Node 0 serves 0..8191 with node 2 listed as its replica, node 1 the rest: every node says so. */
static vt_fcluster *start_replica_listed(void)
{
    vt_fcluster *c = vt_fcluster_start(3, NULL);
    assert_non_null(c);
    char slotsresp[256];
    snprintf(slotsresp, sizeof slotsresp,
             "*2\r\n*4\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n*2\r\n$9\r\n127.0.0.1\r\n:"
             "%d\r\n"
             "*3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
             vt_fcluster_port(c, 0), vt_fcluster_port(c, 2), vt_fcluster_port(c, 1));
    vt_fcluster_set_slots(c, -1, slotsresp);
    return c;
}

/* A handle on node 0 (default refresh interval) whose events rec records and whose INFO log
 * lines l watches (l NULL: none). */
static vmux *open_watched(vt_fcluster *c, struct recorder *rec, struct log_seen *l)
{
    rec->n = 0;
    assert_int_equal(uv_mutex_init(&rec->mu), 0);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes", vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, record, rec), 0);
    if (l != NULL)
        assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_INFO, l), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

/*
 * The handle's retried count is the sum of its nodes' (vmux_read_node_stats() of the three; a
 * node never dialled, node 2 here, has none), and node 0, which answered READONLY, counts that
 * refusal's resend (helper-254: it counted in the handle's total only, so the nodes' stats did not
 * add up to it, as client.h says they do).
 */
static void retried_adds_up(vt_fcluster *c, vmux *m)
{
    vmux_stats total = VMUX_INIT(vmux_stats), node[3];
    assert_int_equal(vmux_read_stats(m, &total), 0);
    uint64_t sum = 0;
    for (size_t i = 0; i < 3; i++) {
        node[i] = VMUX_INIT(vmux_stats);
        int rc = vmux_read_node_stats(m, "127.0.0.1", vt_fcluster_port(c, i), &node[i]);
        assert_true(rc == 0 || (i > 0 && rc == VMUX_ERR_INVALID_ARG));
        sum += node[i].retried;
    }
    if (sum != total.retried || node[0].retried < 1)
        fail_msg(
            "retried: the handle %llu, its nodes %llu + %llu + %llu (node 0 answered READONLY)",
            (unsigned long long)total.retried, (unsigned long long)node[0].retried,
            (unsigned long long)node[1].retried, (unsigned long long)node[2].retried);
}

/*
 * Node 0 says a failover demoted it (READONLY to a GET of k), then answers MOVED for k's slot to
 * node 2 (to: its address), which serves k: the MOVED with that sign. The GET refused READONLY
 * waits for a map that no longer names node 0 a primary (route/demoted.c), which these nodes never
 * give: its deadline (300 ms) ends it with the server's words, how often it was refused, and that
 * it did not run; the resend counts in node 0's stats as in the handle's (retried_adds_up()).
 */
static void moved_after_sign(vt_fcluster *c, vmux *m, const char *k, const char *to)
{
    char resp[128];
    snprintf(resp, sizeof resp, "-MOVED %u %s\r\n", (unsigned)vmux__slot_of(k, strlen(k)), to);
    assert_int_equal(vt_fcluster_rule(c, 0, k, 1, 0,
                                      "-READONLY You can't write against a read only replica.\r\n"),
                     0);
    assert_int_equal(vt_fcluster_rule(c, 0, k, 1, 0, resp), 0);
    assert_int_equal(vt_fcluster_rule(c, 2, k, -1, 0, "$2\r\nv1\r\n"), 0);
    vmux_reply *r = NULL;
    char why[512] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 300, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_call(m, &o, 2, (const char *[]){"GET", k}, NULL, &r), VMUX_ERR_SERVER);
    vmux_reply_free(r); /* READONLY: the sign */
    if (strncmp(why, "READONLY", 8) != 0 || strstr(why, "(refused 1 time over ") == NULL ||
        strstr(why, "not executed)") == NULL)
        fail_msg("a GET refused READONLY until its deadline: %s", why);
    retried_adds_up(c, m);
    vt_get_value(m, k, "v1");
}

/*
 * Node 0 serves 0..8191 with node 2 its replica, node 1 the rest. Node 0 says a failover demoted
 * it (READONLY), then answers MOVED to node 2: with that sign, the MOVED (a failover promoted node
 * 2) patches the whole shard over: one SLOT_MOVED, which says so (it named one slot while 8192
 * changed owner: probe20), and no NODE_ADDED (node 2 was in the map). Without a sign it would
 * patch the one slot (faults.cluster_fake test_moved_to_listed_replica_one_slot).
 */
static void test_promotion_event(void **state)
{
    (void)state;
    vt_fcluster *c = start_replica_listed();
    static struct recorder rec;
    vmux *m = open_watched(c, &rec, NULL);
    char k[16], to[64];
    snprintf(to, sizeof to, "127.0.0.1:%d", vt_fcluster_port(c, 2));
    key_in(0, 8191, k, sizeof k);
    moved_after_sign(c, m, k, to);
    struct seen e = wait_event(&rec, VMUX_EVENT_SLOT_MOVED, to);
    if (strstr(e.reason, "a replica of its shard promoted: the shard's 8192 slots with it") == NULL)
        fail_msg("SLOT_MOVED said '%s'", e.reason);
    struct seen none;
    assert_false(find(&rec, VMUX_EVENT_NODE_ADDED, to, &none));
    vmux_close(m);
    vt_fcluster_stop(c);
    uv_mutex_destroy(&rec.mu);
}

/*
 * The same promotion, then a refresh that has not heard of the failover (every node still lists
 * node 2 as node 0's replica): within VMUX_ROUTER_MOVED_TRUST_MS the patch outranks it for the
 * whole shard, as the MOVED said, not for k's slot alone: another slot of the shard (k2's) still
 * goes to node 2.
 */
static void test_promotion_kept_by_refresh(void **state)
{
    (void)state;
    vt_fcluster *c = start_replica_listed();
    static struct recorder rec;
    static struct log_seen l;
    assert_int_equal(uv_mutex_init(&l.mu), 0);
    snprintf(l.want, sizeof l.want, "kept as MOVED said");
    vmux *m = open_watched(c, &rec, &l);
    char k[16], k2[16], to[64];
    snprintf(to, sizeof to, "127.0.0.1:%d", vt_fcluster_port(c, 2));
    key_in(0, 8191, k, sizeof k);
    unsigned ks = vmux__slot_of(k, strlen(k)), k2s;
    int i = 0;
    do {
        snprintf(k2, sizeof k2, "kept%d", i++);
        k2s = vmux__slot_of(k2, strlen(k2));
    } while (k2s > 8191 || k2s == ks); /* another slot of node 0's shard */
    assert_int_equal(vt_fcluster_rule(c, 0, k2, -1, 0, "$2\r\nv0\r\n"), 0);
    assert_int_equal(vt_fcluster_rule(c, 2, k2, -1, 0, "$2\r\nv2\r\n"), 0);
    moved_after_sign(c, m, k, to);
    assert_true(vt_wait_until(log_came, &l, WAIT_MS)); /* the refresh came, the patch kept */
    vt_get_value(m, k2, "v2");
    vmux_close(m);
    vt_fcluster_stop(c);
    uv_mutex_destroy(&rec.mu);
    uv_mutex_destroy(&l.mu);
}

/* ---- the link to a node that left the map is closed ---- */

static void test_departed_node_link_closed(void **state)
{
    (void)state;
    vt_fcluster *c = start_halves();
    static struct log_seen l;
    assert_int_equal(uv_mutex_init(&l.mu), 0);
    snprintf(l.want, sizeof l.want, "closing the link to 127.0.0.1:%d", vt_fcluster_port(c, 1));
    char conf[256];
    /* refreshes at most every 200 ms: a departed node's link closes 2 s after it left */
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,cluster=yes,syncTimeout=8000,clusterRefreshMinInterval=200",
             vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_INFO, &l), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    char k[16];
    key_in(8192, 16383, k, sizeof k);
    assert_int_equal(vt_fcluster_rule(c, 1, k, 1, 0, "$2\r\nv1\r\n"), 0);
    vt_get_value(m, k, "v1"); /* the link to node 1 opens */
    /* node 1 leaves: node 0 serves everything, and says so with a MOVED */
    static const int all[][2] = {{0, 16383}};
    static const size_t on0[] = {0};
    slots(c, all, on0, 1);
    char resp[128];
    snprintf(resp, sizeof resp, "-MOVED %u 127.0.0.1:%d\r\n", (unsigned)vmux__slot_of(k, strlen(k)),
             vt_fcluster_port(c, 0));
    assert_int_equal(vt_fcluster_rule(c, 1, k, 1, 0, resp), 0);
    assert_int_equal(vt_fcluster_rule(c, 0, k, -1, 0, "$2\r\nv0\r\n"), 0);
    vt_get_value(m, k, "v0");
    assert_true(vt_wait_until(log_came, &l, WAIT_MS));
    vt_get_value(m, k, "v0"); /* routing goes on without it */
    vmux_close(m);
    vt_fcluster_stop(c);
    uv_mutex_destroy(&l.mu);
}

/* The router's state the next test reads on the I/O thread. */
struct router_seen {
    vmux *m;
    int port;     /* of the node whose link is watched */
    bool linked;  /* the router has a link to it */
    size_t ngone; /* closed nodes the router still holds */
};

static int read_router(vmux *m, void *arg)
{
    struct router_seen *s = arg;
    s->linked = vmux__router_link_of(&m->router, "127.0.0.1", s->port) != NULL;
    s->ngone = m->router.ngone;
    return 0;
}

static bool link_closed(void *arg)
{
    struct router_seen *s = arg;
    return vmux__run_on_io(s->m, read_router, s) == 0 && !s->linked;
}

static bool none_gone(void *arg)
{
    struct router_seen *s = arg;
    return vmux__run_on_io(s->m, read_router, s) == 0 && s->ngone == 0;
}

/* A rule on node that answers key with a MOVED to node to. */
static void moved_rule(vt_fcluster *c, size_t node, const char *key, size_t to)
{
    char moved[128];
    snprintf(moved, sizeof moved, "-MOVED %u 127.0.0.1:%d\r\n",
             (unsigned)vmux__slot_of(key, strlen(key)), vt_fcluster_port(c, to));
    assert_int_equal(vt_fcluster_rule(c, node, key, -1, 0, moved), 0);
}

/* A blocking pop of key on m, answered value by the node the rules send it to. */
static void bpop_value(vmux *m, const char *key, const char *want)
{
    vmux_str keys[] = {VMUX_STR(key)};
    vmux_bytes got_key, value;
    int rc = vmux_bpop(m, NULL, VMUX_HEAD, keys, 1, 1000, &got_key, &value);
    if (rc != 0)
        fail_msg("BLPOP %s: %s", key, vmux_err_name(rc));
    assert_string_equal(value.ptr, want);
    vmux_bytes_free(&got_key);
    vmux_bytes_free(&value);
}

/*
 * Node 1 back in the map, serving the upper half (the slots of k and b), k read there and a
 * blocking pop of b run by its blocking pool; or gone, node 0 serving everything, k and b read
 * there (each key's MOVED patch agrees with the refreshed map: none is kept over it,
 * recent.c). Each key answered by a MOVED to wherever it is now, and there.
 */
static void node1_in_map(vt_fcluster *c, vmux *m, const char *k, const char *b, bool in)
{
    static const int halves[][2] = {{0, 8191}, {8192, 16383}}, all[][2] = {{0, 16383}};
    static const size_t on01[] = {0, 1}, on0[] = {0};
    size_t to = in ? 1 : 0;
    vt_fcluster_clear_rules(c, -1);
    if (in)
        slots(c, halves, on01, 2);
    else
        slots(c, all, on0, 1);
    char popped[64];
    snprintf(popped, sizeof popped, "*2\r\n$%zu\r\n%s\r\n$1\r\nv\r\n", strlen(b), b);
    const char *value = in ? "$2\r\nv1\r\n" : "$2\r\nv0\r\n";
    moved_rule(c, 1 - to, k, to);
    moved_rule(c, 1 - to, b, to);
    assert_int_equal(vt_fcluster_rule(c, to, k, -1, 0, value), 0);
    assert_int_equal(vt_fcluster_rule(c, to, b, -1, 0, in ? popped : value), 0);
    vt_get_value(m, k, in ? "v1" : "v0");
    if (in)
        bpop_value(m, b, "v");
    else
        vt_get_value(m, b, "v0");
}

/*
 * A node that leaves the map and comes back, again and again (a slot moved to a slotless node
 * and back, helper-205's churn): each time its link and its blocking pool are closed once it has
 * been gone ten refresh intervals, and what they used is freed a couple of ticks later. It was
 * kept until vmux_close(), ~1 KB per close: router.ngone grew by one each time.
 */
static void test_departed_node_memory_freed(void **state)
{
    (void)state;
    vt_fcluster *c = start_halves();
    char conf[256];
    /* refreshes at most every 100 ms: a departed node's link closes 1 s after it left */
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,cluster=yes,syncTimeout=8000,clusterRefreshMinInterval=100",
             vt_fcluster_port(c, 0));
    vmux *m = vt_open_conf(conf);
    char k[16], b[16];
    key_in(8192, 11999, k, sizeof k);
    key_in(12000, 16383, b, sizeof b);
    struct router_seen seen = {.m = m, .port = vt_fcluster_port(c, 1)};
    for (int round = 0; round < 3; round++) {
        node1_in_map(c, m, k, b, true); /* node 1's link and pool open (again) */
        node1_in_map(c, m, k, b, false);
        if (!vt_wait_until(link_closed, &seen, WAIT_MS))
            fail_msg("round %d: the link to the departed node 1 was not closed", round);
        if (!vt_wait_until(none_gone, &seen, WAIT_MS))
            fail_msg("round %d: the router still holds %zu closed nodes", round, seen.ngone);
    }
    node1_in_map(c, m, k, b, true); /* the handle goes on: node 1 is reached again */
    assert_int_equal(vt_fcluster_count(c, 1, "BLPOP"), 4); /* each round by a pool of node 1 */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- the nodes announced follow the map, whatever changed it ---- */

static void set_of(vt_fcluster *c, const size_t *nodes, size_t n, vt_nodeset *out)
{
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "127.0.0.1:%d", vt_fcluster_port(c, nodes[i]));
        assert_true(vt_nodeset_add(out, name));
    }
}

/*
 * Replays the NODE_ADDED and NODE_REMOVED rec holds onto start, as a consumer tracking the
 * membership by events would: a node added while in the set, or removed while not in it, fails.
 */
static void replay(struct recorder *rec, vt_nodeset *set)
{
    uv_mutex_lock(&rec->mu);
    for (size_t i = 0; i < rec->n; i++) {
        const struct seen *e = &rec->ev[i];
        bool there = vt_nodeset_has(set, e->endpoint);
        if (e->type == VMUX_EVENT_NODE_ADDED && there)
            fail_msg("event %zu: NODE_ADDED %s, announced already", i, e->endpoint);
        if (e->type == VMUX_EVENT_NODE_REMOVED && !there)
            fail_msg("event %zu: NODE_REMOVED %s, not announced", i, e->endpoint);
        if (e->type == VMUX_EVENT_NODE_ADDED)
            assert_true(vt_nodeset_add(set, e->endpoint));
        else if (e->type == VMUX_EVENT_NODE_REMOVED)
            vt_nodeset_del(set, e->endpoint);
    }
    uv_mutex_unlock(&rec->mu);
}

/* The events, replayed onto the nodes of the first map, give exactly want. */
static void assert_announced(struct recorder *rec, const vt_nodeset *first, const vt_nodeset *want,
                             const char *when)
{
    vt_nodeset got = *first;
    replay(rec, &got);
    if (vt_nodeset_same(want, &got))
        return;
    char list[512];
    vt_nodeset_text(&got, list, sizeof list);
    fail_msg("%s: the events announce%s (%zu nodes), the map names %zu", when, list, got.n,
             want->n);
}

/* One range of a CLUSTER SLOTS reply: slots lo..hi, node p's, with node rep its replica (or -1). */
static int range_resp(vt_fcluster *c, char *out, size_t len, int lo, int hi, size_t p, int rep)
{
    char tail[64] = "";
    if (rep >= 0)
        snprintf(tail, sizeof tail, "*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
                 vt_fcluster_port(c, (size_t)rep));
    return snprintf(out, len, "*%d\r\n:%d\r\n:%d\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n%s",
                    rep >= 0 ? 4 : 3, lo, hi, vt_fcluster_port(c, p), tail);
}

/*
 * CLUSTER SLOTS on every node: node 0 serves 0..16381 (replica rep0, or -1), node p the two slots
 * 16382..16383 (replica rep, or -1).
 */
static void slots_two(vt_fcluster *c, int rep0, size_t p, int rep)
{
    char resp[512] = "*2\r\n";
    size_t n = strlen(resp);
    n += (size_t)range_resp(c, resp + n, sizeof resp - n, 0, 16381, 0, rep0);
    range_resp(c, resp + n, sizeof resp - n, 16382, 16383, p, rep);
    vt_fcluster_set_slots(c, -1, resp);
}

/* A GET of key that node from answers with a MOVED to node to, which answers value. */
static void moved_get(vt_fcluster *c, vmux *m, size_t from, size_t to, const char *key,
                      const char *value)
{
    char resp[128], bulk[32];
    snprintf(resp, sizeof resp, "-MOVED %u 127.0.0.1:%d\r\n",
             (unsigned)vmux__slot_of(key, strlen(key)), vt_fcluster_port(c, to));
    snprintf(bulk, sizeof bulk, "$%zu\r\n%s\r\n", strlen(value), value);
    assert_int_equal(vt_fcluster_rule(c, from, key, -1, 0, resp), 0);
    assert_int_equal(vt_fcluster_rule(c, to, key, -1, 0, bulk), 0);
    vt_get_value(m, key, value);
}

/*
 * The outside probe's reshard, scripted: node 1 (replica node 3) serves two slots; MOVED
 * answers move them, one after the other, to node 2, which the map did not name. The patched
 * map keeps node 1's drained shard. Then node 1 is gone and node 3, resyncing with node 2, is
 * left out: CLUSTER SLOTS names nodes 0 and 2 only, which the handle took for its patched map
 * (shards without slots were not compared), so node 1 and node 3 were never announced gone
 * (2 of 2 runs). Then node 3 shows again as node 2's replica. After each step, the events
 * replayed give exactly the nodes the map names, and no node is added twice without a removal.
 */
static void test_announced_follow_drain(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(4, NULL);
    assert_non_null(c);
    slots_two(c, -1, 1, 3);
    static struct recorder rec;
    vmux *m = open_recorded(c, &rec);
    vt_nodeset first, want;
    set_of(c, (const size_t[]){0, 1, 3}, 3, &first);

    char ka[16], kb[16], a[16];
    key_in(16382, 16382, ka, sizeof ka);
    key_in(16383, 16383, kb, sizeof kb);
    key_in(0, 8191, a, sizeof a);
    moved_get(c, m, 1, 2, ka, "va");
    moved_get(c, m, 1, 2, kb, "vb");
    set_of(c, (const size_t[]){0, 1, 2, 3}, 4, &want); /* the drained shard is kept */
    assert_announced(&rec, &first, &want, "after the MOVEDs");

    slots_two(c, -1, 2, -1);
    refresh_until(c, m, 0, 2, a);
    set_of(c, (const size_t[]){0, 2}, 2, &want);
    assert_announced(&rec, &first, &want, "node 1 gone, node 3 resyncing");

    slots_two(c, -1, 2, 3);
    refresh_until(c, m, 0, 2, a);
    set_of(c, (const size_t[]){0, 2, 3}, 3, &want);
    assert_announced(&rec, &first, &want, "node 3 back");
    vmux_close(m);
    vt_fcluster_stop(c);
    uv_mutex_destroy(&rec.mu);
}

/*
 * A map that names a node twice (node 3 a replica of node 0's shard and the primary of node 1's
 * old slots: what a MOVED to a replica of another shard patches) announces it once, and once
 * gone: two NODE_ADDED, then two NODE_REMOVED, came before.
 */
static void test_announced_once_per_node(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(4, NULL);
    assert_non_null(c);
    slots_two(c, -1, 1, -1);
    static struct recorder rec;
    vmux *m = open_recorded(c, &rec);
    vt_nodeset first, want;
    set_of(c, (const size_t[]){0, 1}, 2, &first);
    char a[16];
    key_in(0, 8191, a, sizeof a);

    slots_two(c, 3, 3, -1);
    refresh_until(c, m, 0, 2, a);
    set_of(c, (const size_t[]){0, 3}, 2, &want);
    assert_announced(&rec, &first, &want, "node 3 named twice");
    struct seen e;
    assert_true(find(&rec, VMUX_EVENT_MAP_REFRESHED, NULL, &e));
    if (strstr(e.reason, "1 nodes added, 1 removed") == NULL)
        fail_msg("MAP_REFRESHED said '%s'", e.reason);

    slots_two(c, -1, 1, -1);
    refresh_until(c, m, 0, 2, a);
    assert_announced(&rec, &first, &first, "node 3 gone");
    vmux_close(m);
    vt_fcluster_stop(c);
    uv_mutex_destroy(&rec.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_and_counters),
        cmocka_unit_test(test_promotion_event),
        cmocka_unit_test(test_promotion_kept_by_refresh),
        cmocka_unit_test(test_departed_node_link_closed),
        cmocka_unit_test(test_departed_node_memory_freed),
        cmocka_unit_test(test_fewer_slots_wait_for_agreement),
        cmocka_unit_test(test_fewer_slots_from_the_only_node),
        cmocka_unit_test(test_announced_follow_drain),
        cmocka_unit_test(test_announced_once_per_node),
    };
    vt_filter_tests(); /* VT_ONLY=test_name runs one */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
