/*
 * Cluster redirects and topology against scripted fake nodes (fakecluster.h), for what a real
 * cluster will not do on demand: MOVED with an empty host, "?", an IPv6 address or a host name;
 * MOVED naming the node that sent it; an ASK chain; a MOVED loop and a MOVED ping-pong (backed
 * off); "?" redirects resolved by the map's node at their port; TRYAGAIN and CLUSTERDOWN
 * bursts; a truncated "-MOV" line; CLUSTER SLOTS with holes, overlaps and garbage; and the
 * refresh storm (CLUSTERDOWN from every node for 5 s: at most one topology query a second); a
 * command refused with CLUSTERDOWN following the slot's new owner once the map names it; and,
 * under backlogPolicy=failFast, commands that waited for a node link's first attempt failing with
 * VMUX_ERR_NOT_CONNECTED and its refusal when that attempt is refused; and the words of a command
 * whose deadline comes while it waits in the router's own queues (a ping-pong's backoff, a fence,
 * a map naming its slot's owner after "?", COMMAND GETKEYS, and detection: on a fake server,
 * fakeserver.h, that never answers INFO cluster, or on a port that refuses connections); and
 * two blocking pops of one key, one queued behind the other for a pool connection, kept in order
 * when a refresh or another command's MOVED names the slot's new owner while the first blocks (a
 * blocking read from "$" queued so goes on at once).
 * Each case checks its outcome; ASan/LSan runs check that none crashes or leaks.
 *
 * Every handle opens with cluster=yes on node 0 (but detection's); unless a test says otherwise
 * node 0 serves every slot, so a key's first stop is node 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "vmux/vmux.h"

#include "fakecluster.h"
#include "fakeserver.h"
#include "faultproxy.h"
#include "route/slot.h"
#include "servers.h"
#include "testutil.h"

#define WAIT_MS 10000 /* a condition that must come: the deadline of its wait */

#define assert_status(expr, want)                                                                  \
    do {                                                                                           \
        int got_ = (expr);                                                                         \
        if (got_ != (want))                                                                        \
            fail_msg("%s returned %s, expected %s", #expr, vmux_err_name(got_),                    \
                     vmux_err_name(want));                                                         \
    } while (0)

/* ---- set-up ---- */

/* One node serves every slot, in every node's CLUSTER SLOTS. */
static void all_on(vt_fcluster *c, size_t owner)
{
    struct vt_fc_range r = {0, 16383, vt_fcluster_host(c, owner), vt_fcluster_port(c, owner)};
    char *resp = vt_fcluster_slots_resp(&r, 1);
    assert_non_null(resp);
    vt_fcluster_set_slots(c, -1, resp);
    free(resp);
}

static vt_fcluster *start(size_t n, const char *const *hosts)
{
    vt_fcluster *c = vt_fcluster_start(n, hosts);
    assert_non_null(c);
    all_on(c, 0);
    return c;
}

/* 64 letters, to build host names from. */
#define VT_A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static vmux *open_on(vt_fcluster *c, const char *extra)
{
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000%s%s",
             vt_fcluster_port(c, 0), extra != NULL ? "," : "", extra != NULL ? extra : "");
    return vt_open_conf(conf);
}

static void rule(vt_fcluster *c, size_t node, const char *key, int times, unsigned flags,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A rule whose reply is printf-formatted. */
static void rule(vt_fcluster *c, size_t node, const char *key, int times, unsigned flags,
                 const char *fmt, ...)
{
    char resp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp, sizeof resp, fmt, ap);
    va_end(ap);
    assert_int_equal(vt_fcluster_rule(c, node, key, times, flags, resp), 0);
}

static unsigned slot(const char *key)
{
    return vmux__slot_of(key, strlen(key));
}

/* ---- calls ---- */

struct got {
    int rc;
    char text[512]; /* the reply's string, or "(nil)" */
    char err[512];  /* the error buffer */
};

static struct got get_opts(vmux *m, const char *key, int64_t timeout_ms, uint32_t flags)
{
    struct got g = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = timeout_ms, .flags = flags,
                                .errbuf = g.err, .errlen = sizeof g.err);
    const char *argv[] = {"GET", key};
    vmux_reply *r = NULL;
    g.rc = vmux_call(m, &o, 2, argv, NULL, &r);
    const char *s = vmux_reply_str(r, NULL);
    snprintf(g.text, sizeof g.text, "%s", s != NULL ? s : r != NULL ? "(nil)" : "");
    vmux_reply_free(r);
    return g;
}

static struct got get(vmux *m, const char *key)
{
    return get_opts(m, key, 0, 0);
}

static void want_value(vmux *m, const char *key, const char *want)
{
    struct got g = get(m, key);
    if (g.rc != 0 || strcmp(g.text, want) != 0)
        fail_msg("GET %s: %s '%s' (%s), expected '%s'", key, vmux_err_name(g.rc), g.text, g.err,
                 want);
}

/* ---- MOVED endpoints ---- */

/* An empty host means the host that was asked. */
static void test_moved_empty_host(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    all_on(c, 1); /* what a node that answers MOVED lists too */
    rule(c, 0, "k", 1, 0, "-MOVED %u :%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    want_value(m, "k", "from-1");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 1);
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 1);
    /* the map was patched: the slot's next command goes straight to node 1 */
    want_value(m, "k", "from-1");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* A host name is resolved like a configured one. */
static void test_moved_host_name(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    all_on(c, 1); /* what a node that answers MOVED lists too */
    rule(c, 0, "k", 1, 0, "-MOVED %u localhost:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    want_value(m, "k", "from-1");
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A host name over DNS's 253 bytes (a MOVED's; a map's or a sentinel's goes the same way): its
 * connection fails unresolved, saying so with the port, and the command with it; the handle goes
 * on. It used to be resolved, and its failure cut before the port ("aaa...a: cannot resolve").
 */
static void test_moved_host_too_long(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, "connectRetry=1");
    char host[301];
    memset(host, 'a', 300);
    host[300] = '\0';
    rule(c, 0, "k", 1, 0, "-MOVED %u %s:%d\r\n", slot("k"), host, vt_fcluster_port(c, 1));
    rule(c, 0, "j", -1, 0, "$6\r\nfrom-0\r\n");
    struct got g = get_opts(m, "k", 2000, 0);
    char want[96];
    snprintf(want, sizeof want, "(300 bytes):%d: the host name is 300 bytes, over the 253",
             vt_fcluster_port(c, 1));
    if (g.rc == 0 || strstr(g.err, want) == NULL)
        fail_msg("GET k: %s '%s', expected a failure saying \"%s\"", vmux_err_name(g.rc), g.err,
                 want);
    want_value(m, "j", "from-0");
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A MOVED to "::1%" and a zone id of zone bytes, on two fake nodes (127.0.0.1 and ::1): the GET
 * fails undialled, saying so, and the handle goes on.
 */
static void moved_to_zone(int zone)
{
    vt_fcluster *c = start(2, (const char *const[]){"127.0.0.1", "::1"});
    vmux *m = open_on(c, "connectRetry=1");
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    rule(c, 0, "j", -1, 0, "$6\r\nfrom-0\r\n");
    char host[310] = "::1%", want[128];
    memset(host + 4, 'a', (size_t)zone);
    host[4 + zone] = '\0';
    rule(c, 0, "k", 1, 0, "-MOVED %u %s:%d\r\n", slot("k"), host, vt_fcluster_port(c, 1));
    struct got g = get_opts(m, "k", 2000, 0);
    snprintf(want, sizeof want,
             ":%d: the IPv6 address's zone id is %d bytes, over the 15 of the longest interface "
             "name: no interface, not dialled",
             vt_fcluster_port(c, 1), zone);
    if (g.rc == 0 || strstr(g.err, want) == NULL)
        fail_msg("GET k, MOVED to a zone id of %d bytes: %s '%s', expected a failure saying \"%s\"",
                 zone, vmux_err_name(g.rc), g.rc == 0 ? g.text : g.err, want);
    assert_int_equal(vt_fcluster_accepted(c, 1), 0); /* never dialled */
    want_value(m, "j", "from-0");
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * An IPv6 literal whose zone id is longer than any interface name (15 bytes), in a MOVED (a map's
 * or a sentinel's goes the same way), whether the host is short or over DNS's 253 bytes: its
 * connection fails undialled, saying so, and the command with it. libuv takes any zone text,
 * ignoring one that names no interface, so "::1%aaa...a" was dialled as ::1, past the 253-byte
 * check, and the node there answered (review helper-245).
 */
static void test_moved_zone_too_long(void **state)
{
    (void)state;
    if (!vt_fcluster_ipv6_loopback()) {
        print_message("skipped: this machine cannot listen on the IPv6 loopback address ::1\n");
        skip();
    }
    moved_to_zone(16);
    moved_to_zone(300);
}

/*
 * An absolute name of 253 bytes and its trailing dot (254: valid in DNS) is resolved, not refused
 * by the length check: the GET fails on resolving it (no such name here), never "over the 253".
 */
static void test_moved_host_trailing_dot(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, "connectRetry=1");
    char host[255]; /* labels of 63 (DNS's most), dots between, and the root's dot: 254 bytes */
    snprintf(host, sizeof host, "%.63s.%.63s.%.63s.%.61s.", VT_A64, VT_A64, VT_A64, VT_A64);
    assert_int_equal(strlen(host), 254);
    rule(c, 0, "k", 1, 0, "-MOVED %u %s:%d\r\n", slot("k"), host, vt_fcluster_port(c, 1));
    rule(c, 0, "j", -1, 0, "$6\r\nfrom-0\r\n");
    struct got g = get_opts(m, "k", 2000, 0);
    if (g.rc == 0 || strstr(g.err, "over the 253") != NULL || strstr(g.err, "resolv") == NULL)
        fail_msg("GET k: %s '%s', expected a failure resolving the 254-byte absolute name",
                 vmux_err_name(g.rc), g.err);
    want_value(m, "j", "from-0");
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* The same host in the map (CLUSTER SLOTS): the slots' commands fail saying so; the handle stays.
 */
static void test_map_host_too_long(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    char host[301];
    memset(host, 'a', 300);
    host[300] = '\0';
    struct vt_fc_range r[] = {{0, 8191, host, vt_fcluster_port(c, 1)},
                              {8192, 16383, vt_fcluster_host(c, 0), vt_fcluster_port(c, 0)}};
    char *resp = vt_fcluster_slots_resp(r, 2);
    assert_non_null(resp);
    vt_fcluster_set_slots(c, -1, resp);
    free(resp);
    vmux *m = open_on(c, "connectRetry=1");
    const char *far = "k", *near = "foo"; /* slots 7629 and 12182 */
    assert_true(slot(far) <= 8191 && slot(near) > 8191);
    rule(c, 0, near, -1, 0, "$6\r\nfrom-0\r\n");
    struct got g = get_opts(m, far, 2000, 0);
    char want[96];
    snprintf(want, sizeof want, "(300 bytes):%d: the host name is 300 bytes, over the 253",
             vt_fcluster_port(c, 1));
    if (g.rc == 0 || strstr(g.err, want) == NULL)
        fail_msg("GET %s: %s '%s', expected a failure saying \"%s\"", far, vmux_err_name(g.rc),
                 g.err, want);
    want_value(m, near, "from-0");
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* An IPv6 address, written as the server writes it (no brackets, split at the last colon). */
static void test_moved_ipv6(void **state)
{
    (void)state;
    if (!vt_fcluster_ipv6_loopback()) {
        print_message("skipped: this machine cannot listen on the IPv6 loopback address ::1\n");
        skip();
    }
    const char *hosts[] = {"127.0.0.1", "::1"};
    vt_fcluster *c = start(2, hosts);
    vmux *m = open_on(c, NULL);
    all_on(c, 1); /* what a node that answers MOVED lists too */
    rule(c, 0, "k", 1, 0, "-MOVED %u ::1:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    want_value(m, "k", "from-1");
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 1);
    assert_int_equal(vt_fcluster_accepted(c, 1), 1);
    /* its counters, by the host as vmux_call_nodes() names it or as events do, in brackets */
    vmux_stats a = VMUX_INIT(vmux_stats), b = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_node_stats(m, "::1", vt_fcluster_port(c, 1), &a), 0);
    assert_int_equal(vmux_read_node_stats(m, "[::1]", vt_fcluster_port(c, 1), &b), 0);
    assert_true(a.connects == 1 && b.connects == 1 && a.bytes_out > 0);
    char text[8192], label[64];
    assert_true(vmux_format_metrics(m, text, sizeof text) > 0);
    snprintf(label, sizeof label, "node=\"[::1]:%d\"", vt_fcluster_port(c, 1));
    assert_non_null(strstr(text, label));
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * Node 0 answers key k with a MOVED to no address it can give ("?" at node 1's port, or port 0)
 * while the nodes' map says node 1: the command waits for a refreshed map, and goes to the owner
 * it names.
 */
static void expect_wait_for_map(bool port_zero)
{
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    unsigned before = vt_fcluster_topology_queries(c);
    all_on(c, 1); /* the handle's map still says node 0 */
    if (port_zero)
        rule(c, 0, "k", -1, 0, "-MOVED %u :0\r\n", slot("k"));
    else
        rule(c, 0, "k", -1, 0, "-MOVED %u ?:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    want_value(m, "k", "from-1");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 1);
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 1);
    assert_true(vt_fcluster_topology_queries(c) > before);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* "?" is never dialled. */
static void test_moved_unknown_host(void **state)
{
    (void)state;
    expect_wait_for_map(false);
}

/*
 * Port 0 (probe37: a primary restarted empty at its address is "noaddr", and every node answered
 * "MOVED <slot> :0"): as "?". It reached the caller as VMUX_ERR_SERVER, and no refresh was asked.
 */
static void test_moved_port_zero(void **state)
{
    (void)state;
    expect_wait_for_map(true);
}

/*
 * "?" while every refreshed map names the node that keeps answering "?": the command is sent
 * again after each refresh and fails honestly when its deadline comes.
 */
static void test_moved_unknown_host_forever(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "k", -1, 0, "-MOVED %u ?:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    struct got g = get_opts(m, "k", 2500, 0);
    assert_status(g.rc, VMUX_ERR_TIMEOUT);
    assert_true(vt_fcluster_count(c, 0, "GET") >= 2); /* sent again after the first refresh */
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 0);
    assert_int_equal(vt_fcluster_accepted(c, 1), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* MOVED naming the very node that sent it: a new connection to it, and the command again. */
static void test_moved_to_itself(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, NULL);
    assert_int_equal(vt_fcluster_accepted(c, 0), 1);
    rule(c, 0, "k", 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("k"), vt_fcluster_port(c, 0));
    rule(c, 0, "k", -1, 0, "$4\r\nself\r\n");
    want_value(m, "k", "self");
    assert_int_equal(vt_fcluster_accepted(c, 0), 2);
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 2);
    vmux_close(m);
    /* the same with an empty host (the host asked), on a handle of its own (a second MOVED to
     * itself within a second of the first replacement is not followed by another) */
    m = open_on(c, NULL);
    rule(c, 0, "j", 1, 0, "-MOVED %u :%d\r\n", slot("j"), vt_fcluster_port(c, 0));
    rule(c, 0, "j", -1, 0, "$4\r\nself\r\n");
    want_value(m, "j", "self");
    assert_int_equal(vt_fcluster_accepted(c, 0), 4);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* Commands written behind the one that got MOVED to itself are answered once each. */
struct many {
    atomic_int done;
    int fails;
    char last[64];
};

static void on_many(int status, vmux_reply *r, void *arg)
{
    struct many *a = arg;
    const char *s = vmux_reply_str(r, NULL);
    if (status != 0 || s == NULL || (strcmp(s, "self") != 0 && strcmp(s, "v") != 0)) {
        a->fails++;
        snprintf(a->last, sizeof a->last, "%s %s", vmux_err_name(status), s != NULL ? s : "");
    }
    vmux_reply_free(r);
    atomic_fetch_add(&a->done, 1);
}

static bool many_done(void *arg)
{
    return atomic_load(&((struct many *)arg)->done) == 21;
}

static void test_moved_to_itself_pipelined(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "k", 1, 0, "-MOVED %u :%d\r\n", slot("k"), vt_fcluster_port(c, 0));
    rule(c, 0, "k", -1, 0, "$4\r\nself\r\n");
    rule(c, 0, "v", -1, 0, "$1\r\nv\r\n");
    struct many a = {0};
    const char *k[] = {"GET", "k"}, *v[] = {"GET", "v"};
    assert_status(vmux_call_async(m, NULL, 2, k, NULL, on_many, &a), 0);
    for (int i = 0; i < 20; i++) /* not retry-safe: none may be sent twice */
        assert_status(vmux_call_async(m, NULL, 2, v, NULL, on_many, &a), 0);
    assert_true(vt_wait_until(many_done, &a, WAIT_MS));
    if (a.fails != 0)
        fail_msg("%d commands failed, the last with %s", a.fails, a.last);
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 22); /* k twice, v twenty times */
    assert_int_equal(vt_fcluster_accepted(c, 0), 2);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A pipeline whose every command is answered MOVED to itself (probe37's forwarder, or a node
 * replaced behind its name): the first replaces the connection, and those behind it on the
 * connection being replaced go first on the next one, in the order they were written, as the
 * first does. They were bounced instead (a second MOVED to itself within a second of the
 * replacement), each after a jittered backoff of its own: they ran in any order. The MOVEDs come
 * from the first connection only, as from the node replaced behind the name; half the commands
 * are submitted once the replacement is dialled, and wait behind the redirected ones (a CI run
 * under TSan submitted the last two that late by chance: the fake answered their first try, on
 * the new connection, MOVED too).
 */
enum { ORDER_N = 16 };

struct order {
    atomic_int done;
    int fails;
    int seq[ORDER_N]; /* the values, in the order their replies came */
    char why[160];    /* the first failure: its status and reply */
};

static void on_order(int status, vmux_reply *r, void *arg)
{
    struct order *o = arg;
    const char *s = vmux_reply_str(r, NULL);
    int i = atomic_load(&o->done);
    if (status != 0 || s == NULL) {
        if (o->fails++ == 0)
            snprintf(o->why, sizeof o->why, "reply %d: %s, %s", i, vmux_err_name(status),
                     s != NULL   ? s
                     : r != NULL ? vmux_reply_kind_name(vmux_reply_get_kind(r))
                                 : "no reply");
    } else
        o->seq[i] = atoi(s);
    vmux_reply_free(r);
    atomic_fetch_add(&o->done, 1);
}

static bool order_done(void *arg)
{
    return atomic_load(&((struct order *)arg)->done) == ORDER_N;
}

static bool second_conn(void *arg)
{
    return vt_fcluster_accepted(arg, 0) >= 2;
}

static void test_moved_to_itself_pipeline_order(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, NULL);
    char keys[ORDER_N][16];
    for (int i = 0; i < ORDER_N; i++) {
        snprintf(keys[i], sizeof keys[i], "{o}%d", i);
        rule(c, 0, keys[i], -1, VT_FC_FIRST_CONN, "-MOVED %u :%d\r\n", slot(keys[i]),
             vt_fcluster_port(c, 0));
        rule(c, 0, keys[i], -1, 0, "$%d\r\n%d\r\n", i < 10 ? 1 : 2, i);
    }
    struct order o = {0};
    for (int i = 0; i < ORDER_N; i++) {
        const char *argv[] = {"GET", keys[i]};
        if (i == ORDER_N / 2) /* the rest while the connection is being replaced */
            assert_true(vt_wait_until(second_conn, c, WAIT_MS));
        assert_status(vmux_call_async(m, NULL, 2, argv, NULL, on_order, &o), 0);
    }
    assert_true(vt_wait_until(order_done, &o, WAIT_MS));
    assert_int_equal(o.fails, 0);
    for (int i = 0; i < ORDER_N; i++)
        if (o.seq[i] != i)
            fail_msg("reply %d was the command %d's: the pipeline ran out of order", i, o.seq[i]);
    assert_int_equal(vt_fcluster_accepted(c, 0), 2);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A node that answers MOVED to itself forever (probe37: a forwarder behind the announced port
 * led to another node): a redirect loop, whose first MOVED replaces the connection and whose
 * later ones, within a second of that, wait a backoff each on the new one (a connection per try
 * before: 4,789 connections in 3.7 s under load).
 */
static void test_moved_to_itself_forever(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "k", -1, 0, "-MOVED %u :%d\r\n", slot("k"), vt_fcluster_port(c, 0));
    struct got g = get(m, "k");
    assert_status(g.rc, VMUX_ERR_REDIRECT_LOOP);
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 6);
    /* the first and its one replacement (a third only if the loop stood still for a second) */
    if (vt_fcluster_accepted(c, 0) > 3)
        fail_msg("%u connections for one command", vt_fcluster_accepted(c, 0));
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- ASK and loops ---- */

/* ASK to B, which ASKs to C, which answers: ASKING before each, and no map change. */
static void test_ask_chain(void **state)
{
    (void)state;
    vt_fcluster *c = start(3, NULL);
    vmux *m = open_on(c, NULL);
    unsigned s = slot("k");
    rule(c, 0, "k", 1, 0, "-ASK %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, VT_FC_AFTER_ASKING, "-ASK %u :%d\r\n", s, vt_fcluster_port(c, 2));
    rule(c, 2, "k", -1, VT_FC_AFTER_ASKING, "$6\r\nfrom-C\r\n");
    want_value(m, "k", "from-C");
    assert_int_equal(vt_fcluster_count(c, 1, "ASKING"), 1);
    assert_int_equal(vt_fcluster_count(c, 2, "ASKING"), 1);
    assert_int_equal(vt_fcluster_count(c, 2, "GET"), 1);
    /* the map did not change: the next command for the slot goes to node 0 again */
    want_value(m, "k", "(nil)");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 2);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* XREAD BLOCK 100 STREAMS k $ (VMUX_OP_FROM_NOW); why gets the words of a failure. */
static int xread_now(vmux *m, char *why, size_t len, vmux_stream_batch_array *out)
{
    vmux_str keys[] = {VMUX_STR("k")}, ids[] = {VMUX_STR("$")};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = len);
    return vmux_xread(m, &o, keys, ids, 1, 0, 100, out);
}

/*
 * A blocking XREAD from "$" answered ASK follows it as any command does: a node ends a blocked
 * client's wait with MOVED, CLUSTERDOWN or UNBLOCKED, never ASK, so it had not blocked yet (the
 * rules match "BLOCK", the XREAD's second word).
 */
static void test_xread_now_follows_ask(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "BLOCK", 1, 0, "-ASK %u 127.0.0.1:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "BLOCK", 1, VT_FC_AFTER_ASKING, "*-1\r\n");
    char why[512] = "";
    vmux_stream_batch_array got = {0};
    int rc = xread_now(m, why, sizeof why, &got);
    if (rc != 0)
        fail_msg("XREAD BLOCK ... $ answered ASK: %s: %s", vmux_err_name(rc), why);
    assert_int_equal(got.count, 0);
    vmux_stream_batch_array_free(&got);
    assert_int_equal(vt_fcluster_count(c, 1, "ASKING"), 1);
    assert_int_equal(vt_fcluster_count(c, 1, "XREAD"), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * One answered CLUSTERDOWN is not sent again: a node ends its blocked clients' waits so when the
 * cluster fails, which the client cannot tell from a CLUSTERDOWN that came at once; sent again,
 * its "$" would skip the entries added meanwhile. Without the rule it went again 10 ms later.
 */
static void test_xread_now_clusterdown_not_resent(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "BLOCK", 1, 0, "-CLUSTERDOWN The cluster is down\r\n");
    rule(c, 0, "BLOCK", -1, 0, "*-1\r\n"); /* what a resend would get */
    char why[512] = "";
    vmux_stream_batch_array got = {0};
    int rc = xread_now(m, why, sizeof why, &got);
    vmux_stream_batch_array_free(&got);
    if (rc != VMUX_ERR_SERVER || strstr(why, "CLUSTERDOWN The cluster is down") == NULL ||
        strstr(why, "is not sent again") == NULL)
        fail_msg("XREAD BLOCK ... $ answered CLUSTERDOWN: %s: %s", vmux_err_name(rc), why);
    assert_int_equal(vt_fcluster_count(c, 0, "XREAD"), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* A -> B -> A ...: the sixth redirect ends the command, naming the slot and the last target. */
static void test_moved_loop(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    unsigned s = slot("k");
    int p0 = vt_fcluster_port(c, 0), p1 = vt_fcluster_port(c, 1);
    rule(c, 0, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, p1);
    rule(c, 1, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, p0);
    struct got g = get(m, "k");
    assert_status(g.rc, VMUX_ERR_REDIRECT_LOOP);
    char want[64];
    snprintf(want, sizeof want, "slot %u:", s);
    assert_non_null(strstr(g.err, want));
    snprintf(want, sizeof want, "MOVED to 127.0.0.1:%d;", p0); /* the sixth came from node 1 */
    if (strstr(g.err, want) == NULL)
        fail_msg("'%s' does not name the last target (%s)", g.err, want);
    assert_string_equal(g.text, g.err); /* the error reply says the same */
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 3);
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 3);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* The same loop through the asynchronous API: the callback gets the code and the error reply. */
struct async_got {
    atomic_int done;
    int rc;
    char text[512];
};

static void on_async(int status, vmux_reply *r, void *arg)
{
    struct async_got *a = arg;
    a->rc = status;
    const char *s = vmux_reply_str(r, NULL);
    snprintf(a->text, sizeof a->text, "%s", s != NULL ? s : "");
    vmux_reply_free(r);
    atomic_store(&a->done, 1);
}

static bool async_done(void *arg)
{
    return atomic_load(&((struct async_got *)arg)->done) != 0;
}

static void test_moved_loop_async(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    unsigned s = slot("k");
    rule(c, 0, "k", -1, 0, "-ASK %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 0));
    struct async_got a = {0};
    const char *argv[] = {"GET", "k"};
    assert_status(vmux_call_async(m, NULL, 2, argv, NULL, on_async, &a), 0);
    assert_true(vt_wait_until(async_done, &a, WAIT_MS));
    assert_status(a.rc, VMUX_ERR_REDIRECT_LOOP);
    assert_non_null(strstr(a.text, "REDIRECT_LOOP slot"));
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- keys a node lists (COMMAND GETKEYS) ---- */

/* A command the key table does not know, whose keys the node lists in two slots: refused before
 * it is sent, with the message naming both keys and their slots, as for a known command. */
static void test_getkeys_crossslot(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "GETKEYS", -1, 0, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    char err[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    const char *argv[] = {"MYMGET", "a", "b"};
    vmux_reply *r = NULL;
    assert_status(vmux_call(m, &o, 3, argv, NULL, &r), VMUX_ERR_CROSSSLOT);
    assert_null(r);
    char want[128];
    snprintf(want, sizeof want, "keys 'a' (slot %u) and 'b' (slot %u)", slot("a"), slot("b"));
    if (strstr(err, want) == NULL)
        fail_msg("error buffer '%s', expected it to hold \"%s\"", err, want);
    struct async_got a = {0};
    assert_status(vmux_call_async(m, NULL, 3, argv, NULL, on_async, &a), 0);
    assert_true(vt_wait_until(async_done, &a, WAIT_MS));
    assert_status(a.rc, VMUX_ERR_CROSSSLOT);
    assert_non_null(strstr(a.text, want));
    assert_int_equal(vt_fcluster_count(c, 0, "MYMGET"), 0); /* nothing was sent */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- readFrom=replica: a read waiting for its replica stays with it ---- */

/* A CLUSTER SLOTS reply: every slot on node 0, with n replicas at the ports given. */
static char *slots_with_replicas(vt_fcluster *c, const int *replicas, int n)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    fprintf(f, "*1\r\n*%d\r\n:0\r\n:16383\r\n", 3 + n);
    fprintf(f, "*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n", vt_fcluster_port(c, 0));
    for (int i = 0; i < n; i++)
        fprintf(f, "*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n", replicas[i]);
    fclose(f);
    return out;
}

static bool replica_failed(void *arg)
{
    const int *port = ((void **)arg)[1];
    vmux_stats st = VMUX_INIT(vmux_stats);
    return vmux_read_node_stats(((void **)arg)[0], "127.0.0.1", *port, &st) == 0 &&
           st.connect_failures > 0;
}

/*
 * readFrom=replica, the shard's only replica down: reads wait in its backlog for it, not for the
 * primary (replicas.md). A refreshed map (a second replica, down too) that arrives meanwhile
 * re-sent the waiting commands of every link not ready to their slot's primary, reads for a
 * replica included (review of the router): node 0 answered them.
 */
static void test_replica_reads_keep_waiting_through_a_new_map(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(1, NULL);
    assert_non_null(c);
    int dead[2] = {vt_free_port(), vt_free_port()};
    char *first = slots_with_replicas(c, dead, 1), *more = slots_with_replicas(c, dead, 2);
    vt_fcluster_set_slots(c, -1, first);
    vmux *m = open_on(c, "readFrom=replica,reconnectMin=20,reconnectMax=100");
    vt_fcluster_set_slots(c, -1, more); /* the next refresh installs it */
    struct async_got a = {0}, b = {0};
    const char *get[] = {"GET", "k"};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 1500);
    assert_status(vmux_call_async(m, &o, 2, get, NULL, on_async, &a), 0);
    void *args[] = {m, &dead[0]};
    assert_true(vt_wait_until(replica_failed, args, WAIT_MS));
    /* routed to the replica that failed: asks for a refresh (replicas.c) */
    assert_status(vmux_call_async(m, &o, 2, get, NULL, on_async, &b), 0);
    assert_true(vt_wait_until(async_done, &a, WAIT_MS));
    assert_true(vt_wait_until(async_done, &b, WAIT_MS));
    assert_true(vt_fcluster_count(c, 0, "CLUSTER SLOTS") >= 2); /* the new map was asked for */
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 0);
    assert_status(a.rc, VMUX_ERR_TIMEOUT);
    assert_status(b.rc, VMUX_ERR_TIMEOUT);
    vmux_close(m);
    vt_fcluster_stop(c);
    free(first);
    free(more);
}

/* ---- backlogPolicy=failFast: a node link's first attempt fails ---- */

/* A key whose slot is in lo..hi (and the index it was found at, for a second one). */
static void key_in(char *key, size_t len, unsigned lo, unsigned hi, int *from)
{
    for (;; (*from)++) {
        snprintf(key, len, "ff%d", *from);
        if (slot(key) >= lo && slot(key) <= hi)
            return;
    }
}

/* The failed connection attempts the handle counts for the node at port. */
static uint64_t node_failures(vmux *m, int port)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_node_stats(m, "127.0.0.1", port, &st), 0);
    return st.connect_failures;
}

/*
 * backlogPolicy=failFast, the upper half of the slots on a port where nothing listens: the first
 * commands for it wait for the router's first attempt at that node, then fail with
 * VMUX_ERR_NOT_CONNECTED naming the refusal (not VMUX_ERR_TIMEOUT at their 20 s deadline: a
 * patch that kept them in the backlog once the attempt failed); a later one fails at once, with
 * the same words. The other half is served. Before, the first failed at once with no failure to
 * name ("no connection was ready"): the link had not tried yet.
 */
static void test_failfast_node_first_attempt_refused(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(1, NULL);
    assert_non_null(c);
    int fd, dead = vt_refusing_port(&fd);
    assert_true(dead > 0);
    struct vt_fc_range halves[] = {{0, 8191, "127.0.0.1", vt_fcluster_port(c, 0)},
                                   {8192, 16383, "127.0.0.1", dead}};
    char *resp = vt_fcluster_slots_resp(halves, 2);
    vt_fcluster_set_slots(c, -1, resp);
    free(resp);
    vmux *m = open_on(c, "backlogPolicy=failFast");
    char k_dead[16], k_dead2[16], k_live[16], port[16];
    int at = 0;
    key_in(k_dead, sizeof k_dead, 8192, 16383, &at);
    at++;
    key_in(k_dead2, sizeof k_dead2, 8192, 16383, &at);
    at = 0;
    key_in(k_live, sizeof k_live, 0, 8191, &at);
    snprintf(port, sizeof port, ":%d", dead);

    struct vt_async a = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 20000);
    assert_status(
        vmux_call_async(m, &o, 2, (const char *[]){"GET", k_dead2}, NULL, vt_on_async, &a), 0);
    struct got g = get_opts(m, k_dead, 20000, 0);
    if (g.rc != VMUX_ERR_NOT_CONNECTED || strstr(g.err, port) == NULL ||
        strstr(g.err, "refused") == NULL)
        fail_msg("GET %s: %s (%s)", k_dead, vmux_err_name(g.rc), g.err);
    assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS));
    if (a.status != VMUX_ERR_NOT_CONNECTED || strstr(a.words, "refused") == NULL)
        fail_msg("async GET %s: %s (%s)", k_dead2, vmux_err_name(a.status), a.words);
    vmux_reply_free(a.reply);
    assert_true(node_failures(m, dead) > 0); /* the attempt was made before they failed */

    g = get_opts(m, k_dead2, 20000, 0); /* the link is known down: at once, as failFast does */
    if (g.rc != VMUX_ERR_NOT_CONNECTED || strstr(g.err, "refused") == NULL)
        fail_msg("GET %s again: %s (%s)", k_dead2, vmux_err_name(g.rc), g.err);
    g = get(m, k_live);
    if (g.rc != 0)
        fail_msg("GET %s: %s (%s)", k_live, vmux_err_name(g.rc), g.err);
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 1); /* none of the others went to node 0 */
    vmux_close(m);
    vt_fcluster_stop(c);
    close(fd);
}

/* ---- a MOVED to a node the map lists as a replica, no failover (helper-217 F3) ---- */

/* Node 0 serves 0..8191 with node 2 listed as its replica, node 1 the rest: every node says so. */
static void half_with_replica(vt_fcluster *c)
{
    char resp[256];
    snprintf(resp, sizeof resp,
             "*2\r\n*4\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n*2\r\n$9\r\n127.0.0."
             "1\r\n:%d\r\n*3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
             vt_fcluster_port(c, 0), vt_fcluster_port(c, 2), vt_fcluster_port(c, 1));
    vt_fcluster_set_slots(c, -1, resp);
}

struct slots_asked {
    vt_fcluster *c;
    unsigned before;
};

static bool refreshed(void *arg)
{
    struct slots_asked *a = arg;
    return vt_fcluster_count_all(a->c, "CLUSTER SLOTS") > a->before;
}

/*
 * Node 2, listed as node 0's replica, was reset and reused as a primary of its own (scale-out):
 * node 0, healthy, answers MOVED for k's slot to it. That patches k's slot alone, and a refresh
 * follows; another slot of the shard still goes to node 0, before and after the refresh (which
 * still lists node 2 as node 0's replica). Before, the MOVED swapped the whole shard to node 2
 * as a failover's (probe: four whole-shard swaps in 19 ms, the shard's commands sent to the
 * wrong node and back).
 */
static void test_moved_to_listed_replica_one_slot(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(3, NULL);
    assert_non_null(c);
    half_with_replica(c);
    vmux *m = open_on(c, NULL);
    char k[16], k2[16];
    int at = 0;
    key_in(k, sizeof k, 0, 8191, &at);
    do {
        at++;
        key_in(k2, sizeof k2, 0, 8191, &at);
    } while (slot(k2) == slot(k));
    rule(c, 0, k, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot(k), vt_fcluster_port(c, 2));
    rule(c, 2, k, -1, 0, "$2\r\nv2\r\n");
    rule(c, 0, k2, -1, 0, "$2\r\nv0\r\n");
    rule(c, 2, k2, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot(k2), vt_fcluster_port(c, 0));
    struct slots_asked asked = {c, vt_fcluster_count_all(c, "CLUSTER SLOTS")};
    vt_get_value(m, k, "v2");
    vt_get_value(m, k2, "v0");
    if (vt_fcluster_count(c, 2, "GET") != 1)
        fail_msg("node 2 got %u GETs, expected 1 (k's): a MOVED of slot %u to node 0's listed "
                 "replica swapped the whole shard to it, and k2 (slot %u) went there and came back",
                 vt_fcluster_count(c, 2, "GET"), slot(k), slot(k2));
    assert_true(vt_wait_until(refreshed, &asked, WAIT_MS)); /* the MOVED asked for one */
    vt_get_value(m, k2, "v0");
    vt_get_value(m, k, "v2");
    assert_int_equal(vt_fcluster_count(c, 2, "GET"), 2); /* k's two: k2 never went there */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- a MOVED ping-pong (the nodes disagree for a moment) ---- */

static atomic_int slot_moved_events;

static void on_moved_event(const vmux_event *e, void *arg)
{
    (void)arg;
    if (e->type == VMUX_EVENT_SLOT_MOVED)
        atomic_fetch_add(&slot_moved_events, 1);
}

/* A handle on node 0 that counts its VMUX_EVENT_SLOT_MOVED events in slot_moved_events. */
static vmux *open_counting_moves(vt_fcluster *c)
{
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000",
             vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_moved_event, NULL), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    atomic_store(&slot_moved_events, 0);
    return m;
}

/* A ping-pong on key that lasts: node 0 answers MOVED to node 1, which answers MOVED back. */
static void pingpong_forever(vt_fcluster *c, const char *key)
{
    unsigned s = slot(key);
    rule(c, 0, key, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 1));
    rule(c, 1, key, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 0));
}

/*
 * A migration's SETSLOT NODE reached the source (node 0) before the destination (node 1): node 0
 * answers MOVED to node 1, which, still importing, answers MOVED back to node 0 for 60 ms, then
 * serves the slot. Resent at once, the command spent its five redirects in a millisecond
 * (REDIRECT_LOOP); backed off, it is served by node 1 within its deadline. Only the first MOVED
 * patched the map (one VMUX_EVENT_SLOT_MOVED): the ping-pong's patch nothing.
 */
static void test_moved_pingpong_settles(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_counting_moves(c);
    unsigned s = slot("k");
    rule(c, 0, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 1));
    char back[128];
    snprintf(back, sizeof back, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 0));
    assert_int_equal(vt_fcluster_rule_for(c, 1, "k", 60, 0, back), 0);
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    struct got g = get_opts(m, "k", 3000, VMUX_CALL_RETRY_SAFE);
    if (g.rc != 0 || strcmp(g.text, "from-1") != 0)
        fail_msg("GET k during a 60 ms ping-pong: %s '%s' (%s)", vmux_err_name(g.rc), g.text,
                 g.err);
    assert_true(vt_fcluster_count(c, 1, "GET") >= 2); /* it did meet the ping-pong */
    assert_int_equal(atomic_load(&slot_moved_events), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* Whether node 1 of the fake cluster has been sent a GET. */
static bool node1_got(void *arg)
{
    return vt_fcluster_count(arg, 1, "GET") >= 1;
}

/*
 * A pipeline of ORDER_N commands of one slot meets a ping-pong: node 0 answers MOVED to node 1,
 * which answers MOVED back (each command once, window_ms 0; else every command for window_ms
 * from its first answer, node 0's CLUSTER SLOTS naming node 1 meanwhile, as a migration's source
 * told first does), then serves. The first early commands are submitted at once, the rest once
 * node 1 was sent the first. They are answered in the order they were written, and only the
 * first MOVED patched the map (one VMUX_EVENT_SLOT_MOVED).
 */
static void pingpong_order(int early, long window_ms)
{
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_counting_moves(c);
    unsigned s = slot("{p}");
    rule(c, 0, NULL, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 1));
    char back[128];
    snprintf(back, sizeof back, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 0));
    if (window_ms == 0) {
        rule(c, 1, NULL, ORDER_N, 0, "%s", back); /* each once: a pipeline cut by a window's
                                                     end would be the nodes' order */
    } else {
        struct vt_fc_range r = {0, 16383, vt_fcluster_host(c, 1), vt_fcluster_port(c, 1)};
        char *resp = vt_fcluster_slots_resp(&r, 1);
        assert_non_null(resp);
        vt_fcluster_set_slots(c, 0, resp);
        free(resp);
        assert_int_equal(vt_fcluster_rule_for(c, 1, NULL, window_ms, 0, back), 0);
    }
    char keys[ORDER_N][16];
    for (int i = 0; i < ORDER_N; i++) {
        snprintf(keys[i], sizeof keys[i], "{p}%d", i);
        rule(c, 1, keys[i], -1, 0, "$%d\r\n%d\r\n", i < 10 ? 1 : 2, i);
    }
    struct order o = {0};
    for (int i = 0; i < ORDER_N; i++) {
        const char *argv[] = {"GET", keys[i]};
        if (i == early)
            assert_true(vt_wait_until(node1_got, c, WAIT_MS));
        assert_status(vmux_call_async(m, NULL, 2, argv, NULL, on_order, &o), 0);
    }
    assert_true(vt_wait_until(order_done, &o, WAIT_MS));
    assert_int_equal(o.fails, 0);
    for (int i = 0; i < ORDER_N; i++)
        if (o.seq[i] != i)
            fail_msg("reply %d was the command %d's: the pipeline ran out of order", i, o.seq[i]);
    assert_int_equal(atomic_load(&slot_moved_events), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* Every command written to node 0 first (each drew its own jittered backoff and took the first
 * due: any order, in the review of the router). */
static void test_moved_pingpong_pipeline_order(void **state)
{
    (void)state;
    pingpong_order(ORDER_N, 0);
}

/*
 * The first command met the ping-pong before the others were submitted, which went to node 1
 * (the map named it): its MOVED back was their first redirect, not a ping-pong (a CI run under
 * TSan submitted them that late by chance: "reply 0 was the command 5's"). Then, waiting behind
 * the first, they went by their slot, to node 1, while the first went back to node 0: with the
 * ping-pong over, node 1 served them first ("1 .. 15 then 0" every run, against real servers
 * too: review helper-174), and their MOVED back, heard once the first had left the queue,
 * patched the map (two VMUX_EVENT_SLOT_MOVED). They go where the one ahead of them goes.
 */
static void test_moved_pingpong_pipeline_order_late(void **state)
{
    (void)state;
    pingpong_order(1, 5);
}

struct expired {
    atomic_int done;
};

static void on_expired_get(int status, vmux_reply *r, void *arg)
{
    (void)status;
    vmux_reply_free(r);
    atomic_fetch_add(&((struct expired *)arg)->done, 1);
}

static bool all_expired(void *arg)
{
    return atomic_load(&((struct expired *)arg)->done) == 8;
}

/*
 * Commands whose deadlines come while they wait out a lasting ping-pong leave their slot's count
 * (bounce.c): once the nodes agree, the slot's next command goes at once, not behind nobody.
 */
static void test_pingpong_expired_forgotten(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_counting_moves(c);
    pingpong_forever(c, "k");
    struct expired e = {0};
    const char *argv[] = {"GET", "k"};
    vmux_callopts brief = VMUX_INIT(vmux_callopts, .timeout_ms = 15); /* within the backoffs */
    for (int i = 0; i < 8; i++)
        assert_status(vmux_call_async(m, &brief, 2, argv, NULL, on_expired_get, &e), 0);
    assert_true(vt_wait_until(all_expired, &e, WAIT_MS));
    vt_fcluster_clear_rules(c, -1);
    rule(c, 0, "k", -1, 0, "$4\r\nfrom\r\n");
    rule(c, 1, "k", -1, 0, "$4\r\nfrom\r\n");
    want_value(m, "k", "from");
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* A pipeline submitted from a callback, on the I/O thread: routed at once, written together. */
struct pipeline {
    vmux *m;
    const char *prefix; /* the keys: prefix0, prefix1... */
    struct order o;
};

static void on_pipeline_start(int status, vmux_reply *r, void *arg)
{
    struct pipeline *p = arg;
    (void)status;
    vmux_reply_free(r);
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    for (int i = 0; i < ORDER_N; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%d", p->prefix, i);
        const char *argv[] = {"GET", key};
        if (vmux_call_async(p->m, &safe, 2, argv, NULL, on_order, &p->o) != 0) {
            p->o.fails++; /* refused: no callback runs */
            atomic_fetch_add(&p->o.done, 1);
        }
    }
}

/* Submits the pipeline of ORDER_N retry-safe GETs of p's keys, behind a PING, and waits for it. */
static void run_pipeline(struct pipeline *p)
{
    const char *ping[] = {"PING"};
    assert_status(vmux_call_async(p->m, NULL, 1, ping, NULL, on_pipeline_start, p), 0);
    assert_true(vt_wait_until(order_done, &p->o, WAIT_MS));
    if (p->o.fails != 0)
        fail_msg("%d of the pipeline failed; the first, the %s", p->o.fails, p->o.why);
    for (int i = 0; i < ORDER_N; i++)
        if (p->o.seq[i] != i)
            fail_msg("reply %d was the command %d's: the pipeline ran out of order", i,
                     p->o.seq[i]);
}

static atomic_int pingpong_logged;

/* Drops node 0's connections (arg: the fake cluster) as the first ping-pong is logged. */
static void on_pingpong_drop(vmux_log_level level, const char *message, void *arg)
{
    (void)level;
    if (strstr(message, "MOVED ping-pong") != NULL && atomic_fetch_add(&pingpong_logged, 1) == 0)
        vt_fcluster_drop_conns(arg, 0);
}

/*
 * A pipeline of one slot, written to node 0: node 0 answers the first command MOVED to node 1
 * (the map patched, a fence raised on node 0, which holds the rest) and hangs; node 1 answers
 * MOVED back (a ping-pong: the first waits its backoff) and node 0's connection closes. The
 * retry-safe commands it held, sent again, go behind the first, which was submitted before them;
 * the fence lifted by the closed connection sent them to node 1 at once, which served them, the
 * ping-pong over, before the first came back ("reply 0 was the command 1's").
 */
static void test_pingpong_requeued_behind(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000",
             vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, on_pingpong_drop, VMUX_LOG_DEBUG, c), 0);
    atomic_store(&pingpong_logged, 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    unsigned s = slot("{q}");
    rule(c, 1, "{q}0", 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 0));
    for (int i = 0; i < ORDER_N; i++) {
        char key[16];
        snprintf(key, sizeof key, "{q}%d", i);
        if (i > 0) /* the first is answered; the rest wait on node 0's first connection */
            rule(c, 0, key, -1, VT_FC_FIRST_CONN | VT_FC_SILENT, "-ERR unsent\r\n");
        rule(c, 0, key, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 1));
        rule(c, 1, key, -1, 0, "$%d\r\n%d\r\n", i < 10 ? 1 : 2, i);
    }
    struct pipeline p = {.m = m, .prefix = "{q}"};
    run_pipeline(&p);
    assert_true(atomic_load(&pingpong_logged) > 0); /* the ping-pong did happen */
    assert_true(vt_fcluster_accepted(c, 0) >= 2);   /* and node 0's connection closed */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A ping-pong's slot moves on to a third node while commands of a pipeline wait it out: node 0
 * answers each command MOVED to node 1 once (then MOVED to node 2); node 1 answers the first
 * MOVED back to node 0 (a ping-pong: it waits its backoff) and the rest MOVED to node 2, which
 * serves the slot. Every command goes to node 2, in the order they were submitted, and the map
 * names node 2 (two VMUX_EVENT_SLOT_MOVED: node 1, then node 2), so the next command goes there
 * at once. A MOVED to a node outside the ping-pong was taken for part of it: no patch, a backoff
 * each, and the first went back to node 0 while the others went to node 2, which served them
 * first ("reply 0 was the command 1's").
 */
static void test_pingpong_third_node(void **state)
{
    (void)state;
    vt_fcluster *c = start(3, NULL);
    vmux *m = open_counting_moves(c);
    unsigned s = slot("{t}");
    rule(c, 1, "{t}0", 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 0));
    for (int i = 0; i < ORDER_N; i++) {
        char key[16];
        snprintf(key, sizeof key, "{t}%d", i);
        rule(c, 0, key, 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 1));
        rule(c, 0, key, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 2));
        rule(c, 1, key, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, vt_fcluster_port(c, 2));
        rule(c, 2, key, -1, 0, "$%d\r\n%d\r\n", i < 10 ? 1 : 2, i);
    }
    struct pipeline p = {.m = m, .prefix = "{t}"};
    run_pipeline(&p);
    assert_int_equal(atomic_load(&slot_moved_events), 2);
    unsigned on0 = vt_fcluster_count(c, 0, "GET"), on1 = vt_fcluster_count(c, 1, "GET");
    want_value(m, "{t}0", "0");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), on0); /* straight to node 2 */
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), on1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* Whether a command waits at node 0's gate (arg: the fake cluster). */
static bool node0_gated(void *arg)
{
    return vt_fcluster_gated(arg, 0) >= 1;
}

/* A key whose slot is not s. */
static const char *other_slot_key(unsigned s)
{
    return slot("o1") != s ? "o1" : "o2";
}

/*
 * Waits for A (SET {g} from-A) and B (GET {g}, submitted after it) to complete, and fails unless A
 * wrote and B read what A wrote (it ran before A otherwise); frees their replies.
 */
static void a_then_b(struct vt_async *a, struct vt_async *b)
{
    assert_true(vt_wait_until(vt_async_done, a, WAIT_MS));
    assert_true(vt_wait_until(vt_async_done, b, WAIT_MS));
    const char *ra = vmux_reply_str(a->reply, NULL), *rb = vmux_reply_str(b->reply, NULL);
    if (a->status != 0 || ra == NULL || strcmp(ra, "OK") != 0)
        fail_msg("A (SET): %s '%s' (%s)", vmux_err_name(a->status), ra != NULL ? ra : "(nil)",
                 a->words);
    if (b->status != 0 || rb == NULL || strcmp(rb, "from-A") != 0)
        fail_msg("B (GET) read %s '%s' (%s): it ran before A", vmux_err_name(b->status),
                 rb != NULL ? rb : "(nil)", b->words);
    vmux_reply_free(a->reply);
    vmux_reply_free(b->reply);
}

/*
 * Sets every node's CLUSTER SLOTS: the slots below s served by 127.0.0.1:below, s by at, those
 * above by above (0 < s < 16383).
 */
static void around_slot(vt_fcluster *c, unsigned s, int below, int at, int above)
{
    assert_true(s > 0 && s < 16383);
    const struct vt_fc_range parts[3] = {{0, (int)s - 1, "127.0.0.1", below},
                                         {(int)s, (int)s, "127.0.0.1", at},
                                         {(int)s + 1, 16383, "127.0.0.1", above}};
    char *resp = vt_fcluster_slots_resp(parts, 3);
    assert_non_null(resp);
    vt_fcluster_set_slots(c, -1, resp);
    free(resp);
}

/*
 * A of a pipeline of one slot meets a ping-pong (node 0 answers MOVED to node 1, which answers
 * MOVED back) and, after its backoff, goes to node 0 again, which holds it (a gate) while B, the
 * slot's next command, is submitted: nothing of the slot waits out the ping-pong then, A is in
 * flight. Then node 0 answers A MOVED to node 1 again (A's backoff again), or, with drop, closes
 * the connection (A, retry-safe, sent again by its slot: node 1); node 1 serves the slot from then
 * on. A (SET {g} from-A) runs before B (GET {g}) and each reply goes to its caller: B reads what A
 * wrote. A GET of another slot, node 1's, after B and before the gate opens: node 1 answered B
 * first, had B been sent.
 */
/*
 * new_behind_inflight()'s start on c (2 nodes, node 0 serving slot s of {g}): a handle on node 0
 * (returned), A (a retry-safe SET {g} from-A, completing into *a) met a ping-pong and, sent again,
 * waits at node 0's gate, which will answer it MOVED to node 1.
 */
static vmux *a_gated_at_node0(vt_fcluster *c, unsigned s, struct vt_async *a)
{
    int n0 = vt_fcluster_port(c, 0), n1 = vt_fcluster_port(c, 1);
    around_slot(c, s, n1, n0, n1);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "{g}", 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, n1);
    rule(c, 0, "{g}", 1, VT_FC_GATED, "-MOVED %u 127.0.0.1:%d\r\n", s, n1);
    rule(c, 1, "{g}", 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, n0);
    const char *set[] = {"SET", "{g}", "from-A"};
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    assert_status(vmux_call_async(m, &safe, 3, set, NULL, vt_on_async, a), 0);
    assert_true(vt_wait_until(node0_gated, c, WAIT_MS)); /* A, resent, in flight at node 0 */
    return m;
}

static void new_behind_inflight(bool drop)
{
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    unsigned s = slot("{g}");
    struct vt_async a = {0}, b = {0};
    vmux *m = a_gated_at_node0(c, s, &a);
    const char *getb[] = {"GET", "{g}"};
    assert_status(vmux_call_async(m, NULL, 2, getb, NULL, vt_on_async, &b), 0);
    want_value(m, other_slot_key(s), "(nil)"); /* node 1's: B had its turn there */
    if (drop)
        vt_fcluster_drop_conns(c, 0);
    else
        vt_fcluster_open_gate(c, 0);
    a_then_b(&a, &b);
    assert_int_equal(vt_fcluster_count(c, 0, "SET"), 2); /* A met the ping-pong at node 0 twice */
    assert_int_equal(vt_fcluster_count(c, 1, "SET"), 2); /* and ran at node 1 the second time */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A is sent back once more: B went by its slot, to node 1, and ran there while A waited its second
 * backoff ("B read nil"): new commands waited only behind those waiting, not behind one in flight
 * after a MOVED. Now a fence on node 0's link holds B, and lets it go behind A.
 */
static void test_pingpong_new_behind_inflight(void **state)
{
    (void)state;
    new_behind_inflight(false);
}

/* Node 0's connection closes under A: its fence lifts, A goes first (by its slot), then B. */
static void test_pingpong_new_behind_inflight_dropped(void **state)
{
    (void)state;
    new_behind_inflight(true);
}

/* ---- where a command waited when its deadline came in the router's queues (helper-202 F3) ---- */

/* Fails unless text holds needle. */
static void want_in(const char *what, const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("%s: \"%s\" lacks \"%s\"", what, text, needle);
}

/*
 * A GET of key with a deadline of ms that ends while it waits in one of the router's queues: its
 * words hold wait. The deadline may also come in the moment the command is written between its
 * waits (a fake node answers at once: "written to ..."), or while a link waits for a connection:
 * then it is asked again, up to 20 times. Returns what the one with wait got.
 */
static struct got timed_out_waiting(vmux *m, const char *key, int64_t ms, uint32_t flags,
                                    const char *wait)
{
    struct got g = {0};
    for (int i = 0; i < 20; i++) {
        g = get_opts(m, key, ms, flags);
        if (strstr(g.err, wait) != NULL)
            return g;
    }
    fail_msg("GET %s: 20 times without \"%s\": %s (%s)", key, wait, vmux_err_name(g.rc), g.err);
    return g;
}

/*
 * A lasting MOVED ping-pong: a GET whose deadline comes while it waits out the backoff between
 * its tries says so, and that it did not run (each node answered MOVED), with VMUX_ERR_TIMEOUT,
 * or, with VMUX_CALL_TELL_UNSENT, VMUX_ERR_NOT_CONNECTED without "no connection was ready" (its
 * connections were up). Before, "timed out" alone, and "not sent: no connection was ready, or its
 * deadline passed first".
 */
static void test_pingpong_timeout_words(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    pingpong_forever(c, "k");
    char owner[64];
    snprintf(owner, sizeof owner, "name each other the owner of slot %u", slot("k"));
    /* 100 ms: past the first three backoffs' least (70 ms), within the fourth's (150 ms) */
    struct got g = timed_out_waiting(m, "k", 100, 0, "waiting to be sent again to 127.0.0.1:");
    assert_status(g.rc, VMUX_ERR_TIMEOUT);
    want_in("GET k in a ping-pong", g.err, "timed out: waiting to be sent again to 127.0.0.1:");
    want_in("GET k in a ping-pong", g.err, "after MOVED from 127.0.0.1:");
    want_in("GET k in a ping-pong", g.err, owner);
    want_in("GET k in a ping-pong", g.err, "backoff between tries): not executed");
    g = timed_out_waiting(m, "k", 100, VMUX_CALL_TELL_UNSENT, "waiting to be sent again");
    assert_status(g.rc, VMUX_ERR_NOT_CONNECTED);
    want_in("GET k in a ping-pong, TELL_UNSENT", g.err,
            "its deadline passed: waiting to be sent again to 127.0.0.1:");
    want_in("GET k in a ping-pong, TELL_UNSENT", g.err, "): not executed");
    if (strstr(g.err, "no connection") != NULL)
        fail_msg("GET k in a ping-pong, TELL_UNSENT: \"%s\"", g.err);
    vmux_close(m);
    vt_fcluster_stop(c);
}

struct gets_since {
    vt_fcluster *c;
    unsigned before; /* node 0's GETs before */
};

/* Whether node 0 was sent a GET since (arg: struct gets_since). */
static bool node0_got_more(void *arg)
{
    const struct gets_since *w = arg;
    return vt_fcluster_count(w->c, 0, "GET") > w->before;
}

/*
 * One retry-safe GET k with VMUX_CALL_TELL_UNSENT, a deadline of ms, written to node 0, which
 * holds it until its connections are closed under it: what it completed with.
 */
static struct got resent_get(vt_fcluster *c, vmux *m, int64_t ms)
{
    vt_fcluster_clear_rules(c, -1);
    rule(c, 0, "k", 1, VT_FC_SILENT, "%s", "");
    pingpong_forever(c, "k");
    struct gets_since w = {c, vt_fcluster_count(c, 0, "GET")};
    struct vt_async a = {0};
    const char *argv[] = {"GET", "k"};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = ms,
                                .flags = VMUX_CALL_RETRY_SAFE | VMUX_CALL_TELL_UNSENT);
    assert_status(vmux_call_async(m, &o, 2, argv, NULL, vt_on_async, &a), 0);
    assert_true(vt_wait_until(node0_got_more, &w, WAIT_MS));
    vt_fcluster_drop_conns(c, 0);
    assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS));
    vmux_reply_free(a.reply);
    struct got g = {.rc = a.status};
    snprintf(g.err, sizeof g.err, "%.*s", (int)sizeof g.err - 1, a.words);
    return g;
}

/*
 * A retry-safe GET written to node 0, whose connection closes under it (so it may have run
 * there), then sent again into a lasting ping-pong: timing out while it waits out a backoff, it
 * says it may have run (its async caller's vmux_last_error()), with VMUX_ERR_TIMEOUT even with
 * VMUX_CALL_TELL_UNSENT (it was written). Retried, as timed_out_waiting(), when the deadline
 * came elsewhere.
 */
static void test_pingpong_timeout_words_resent(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    struct got g = {0};
    for (int i = 0; i < 20 && strstr(g.err, "waiting to be sent again") == NULL; i++)
        g = resent_get(c, m, 120); /* past the backoffs' least after the resend (70 ms) */
    assert_status(g.rc, VMUX_ERR_TIMEOUT);
    want_in("a resent GET in a ping-pong", g.err, "timed out: waiting to be sent again to");
    want_in("a resent GET in a ping-pong", g.err,
            "it was sent before a connection broke, so it may have run");
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * Commands held by a fence (new_behind_inflight()'s: A, resent after a ping-pong, in flight at
 * node 0's gate) whose deadlines come there: never sent, they say so and behind what, with
 * VMUX_ERR_NOT_CONNECTED under VMUX_CALL_TELL_UNSENT (without "no connection was ready": node 0's
 * connection is up), else VMUX_ERR_TIMEOUT, synchronous or async (vmux_last_error()).
 */
static void test_fence_held_timeout_words(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    unsigned s = slot("{g}");
    int n0 = vt_fcluster_port(c, 0);
    struct vt_async a = {0}, b = {0};
    vmux *m = a_gated_at_node0(c, s, &a);
    const char *getb[] = {"GET", "{g}"};

    char held[160];
    snprintf(held, sizeof held,
             "held behind a command of slot %u sent again to 127.0.0.1:%d after a MOVED ping-pong",
             s, n0);
    struct got g = get_opts(m, "{g}", 50, VMUX_CALL_TELL_UNSENT);
    assert_status(g.rc, VMUX_ERR_NOT_CONNECTED);
    want_in("a held GET, TELL_UNSENT", g.err, "its deadline passed: held behind");
    want_in("a held GET, TELL_UNSENT", g.err, held);
    want_in("a held GET, TELL_UNSENT", g.err, "keep their order): never sent, not executed");
    g = get_opts(m, "{g}", 50, 0);
    assert_status(g.rc, VMUX_ERR_TIMEOUT);
    want_in("a held GET", g.err, "timed out: held behind");
    want_in("a held GET", g.err, "): never sent, not executed");
    vmux_callopts brief = VMUX_INIT(vmux_callopts, .timeout_ms = 50);
    assert_status(vmux_call_async(m, &brief, 2, getb, NULL, vt_on_async, &b), 0);
    assert_true(vt_wait_until(vt_async_done, &b, WAIT_MS));
    assert_status(b.status, VMUX_ERR_TIMEOUT);
    want_in("a held async GET", b.words, held);
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 0); /* none went to the slot's new owner */

    vt_fcluster_open_gate(c, 0);
    assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS));
    assert_status(a.status, 0);
    vmux_reply_free(a.reply);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A GET answered MOVED to "?" while every refreshed map names node 0, which answers it again:
 * timing out while it waits for a map that names its slot's owner, it says so and who sent it
 * there, and that it did not run. Before, "timed out".
 */
static void test_unowned_timeout_words(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "k", -1, 0, "-MOVED %u ?:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    char want[200];
    snprintf(want, sizeof want,
             "timed out: waiting for a slot map that names the owner of slot %u, after MOVED from "
             "127.0.0.1:%d to an unknown address (\"?\"): not executed",
             slot("k"), vt_fcluster_port(c, 0));
    struct got g = timed_out_waiting(m, "k", 300, 0, "waiting for a slot map");
    assert_status(g.rc, VMUX_ERR_TIMEOUT);
    want_in("GET k redirected to \"?\"", g.err, want);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* One call of argv (argc arguments) with a deadline of ms and flags: what it completed with. */
static struct got call_opts(vmux *m, int argc, const char *const *argv, int64_t ms, uint32_t flags)
{
    struct got g = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = ms, .flags = flags, .errbuf = g.err,
                                .errlen = sizeof g.err);
    vmux_reply *r = NULL;
    g.rc = vmux_call(m, &o, argc, argv, NULL, &r);
    const char *str = vmux_reply_str(r, NULL);
    snprintf(g.text, sizeof g.text, "%s", str != NULL ? str : r != NULL ? "(nil)" : "");
    vmux_reply_free(r);
    return g;
}

/*
 * A command the key table does not know waits for COMMAND GETKEYS to name its keys, which node 0
 * holds at its gate: timing out there, it says so, which command and whom the handle asked, and
 * that it never ran, with VMUX_ERR_TIMEOUT, or, with VMUX_CALL_TELL_UNSENT, VMUX_ERR_NOT_CONNECTED
 * (before: "timed out", and VMUX_ERR_TIMEOUT with the flag too), synchronous or async. The
 * answers, when they come, find their commands done; a command after them is sent as before.
 */
static void test_getkeys_timeout_words(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "GETKEYS", -1, VT_FC_GATED, "*1\r\n$1\r\nk\r\n");
    const char *argv[] = {"MYGET", "k"};
    char want[300];
    snprintf(want, sizeof want,
             "waiting for COMMAND GETKEYS to name the keys of MYGET (a command the key table does "
             "not know), asked of 127.0.0.1:%d: never sent, not executed",
             vt_fcluster_port(c, 0));
    struct got g = call_opts(m, 2, argv, 100, 0);
    assert_status(g.rc, VMUX_ERR_TIMEOUT);
    want_in("MYGET k waiting for GETKEYS", g.err, "timed out: waiting for COMMAND GETKEYS");
    want_in("MYGET k waiting for GETKEYS", g.err, want);
    g = call_opts(m, 2, argv, 100, VMUX_CALL_TELL_UNSENT);
    assert_status(g.rc, VMUX_ERR_NOT_CONNECTED);
    want_in("MYGET k waiting for GETKEYS, TELL_UNSENT", g.err, "its deadline passed: waiting for");
    want_in("MYGET k waiting for GETKEYS, TELL_UNSENT", g.err, want);
    struct vt_async a = {0};
    vmux_callopts brief = VMUX_INIT(vmux_callopts, .timeout_ms = 100);
    assert_status(vmux_call_async(m, &brief, 2, argv, NULL, vt_on_async, &a), 0);
    assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS));
    assert_status(a.status, VMUX_ERR_TIMEOUT);
    want_in("an async MYGET k waiting for GETKEYS", a.words, want);
    assert_int_equal(vt_fcluster_count(c, 0, "MYGET"), 0); /* none was sent */

    vt_fcluster_open_gate(c, 0);
    g = call_opts(m, 2, argv, 0, 0);
    assert_status(g.rc, 0);
    assert_string_equal(g.text, "OK");
    assert_int_equal(vt_fcluster_count(c, 0, "MYGET"), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* Whether the fake server at arg was asked INFO (detection's question). */
static bool fake_asked_info(void *arg)
{
    return vt_fake_count(arg, "INFO") > 0;
}

/*
 * A handle (cluster=mode) whose server never answers detection's INFO cluster: a GET sent while
 * it waits for the answer (its connection ready) times out saying so, which server, and that it
 * never ran, with VMUX_ERR_TIMEOUT, or, with VMUX_CALL_TELL_UNSENT, VMUX_ERR_NOT_CONNECTED
 * without "no connection was ready" (its connection is). Before: "timed out", and "not sent: no
 * connection was ready, or its deadline passed first".
 */
static void parked_timeout_words(const char *mode)
{
    vt_fake *f = vt_fake_start();
    assert_non_null(f);
    assert_int_equal(vt_fake_answer(f, "READONLY", "+OK\r\n", 0), 0); /* the seed's setup */
    assert_int_equal(vt_fake_push(f, VT_FAKE_SEND_SILENT, "", 0), 0); /* INFO: no answer */
    char conf[160], want[300];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=%s,abortConnect=false,syncTimeout=5000",
             vt_fake_port(f), mode);
    vmux *m = vt_open_conf(conf);
    assert_true(vt_wait_until(fake_asked_info, f, WAIT_MS));
    snprintf(want, sizeof want,
             "waiting for the handle to find out whether 127.0.0.1:%d is a cluster node "
             "(cluster=%s): never sent, not executed",
             vt_fake_port(f), mode);
    struct got g = get_opts(m, "k", 100, 0);
    assert_status(g.rc, VMUX_ERR_TIMEOUT);
    want_in("GET k while detecting", g.err, "timed out: waiting for the handle");
    want_in("GET k while detecting", g.err, want);
    g = get_opts(m, "k", 100, VMUX_CALL_TELL_UNSENT);
    assert_status(g.rc, VMUX_ERR_NOT_CONNECTED);
    want_in("GET k while detecting, TELL_UNSENT", g.err, "its deadline passed: waiting for");
    want_in("GET k while detecting, TELL_UNSENT", g.err, want);
    if (strstr(g.err, "no connection") != NULL)
        fail_msg("GET k while detecting, TELL_UNSENT: \"%s\"", g.err);
    assert_int_equal(vt_fake_count(f, "GET"), 0); /* none was sent */
    vmux_close(m);
    vt_fake_stop(f);
}

static void test_parked_timeout_words(void **state)
{
    (void)state;
    parked_timeout_words("auto");
    parked_timeout_words("yes");
}

/*
 * A loopback TCP port bound and never listened on, so connections to it are refused and no other
 * process takes it meanwhile: its socket into *fd (the caller closes it), the port returned.
 */
static int refusing_port(int *fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/*
 * cluster=yes on a port that refuses connections (abortConnect=false): a GET waits for detection,
 * which waits for a first connection, and timing out says so, with the seed link's last failure
 * once it has one.
 */
static void test_parked_unconnected_timeout_words(void **state)
{
    (void)state;
    int fd;
    const int port = refusing_port(&fd);
    char conf[160], want[200], failed[80];
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,cluster=yes,abortConnect=false,syncTimeout=5000,reconnectMin=50", port);
    vmux *m = vt_open_conf(conf);
    snprintf(want, sizeof want,
             "timed out: waiting for the handle to find out whether 127.0.0.1:%d is a cluster node "
             "(cluster=yes)",
             port);
    snprintf(failed, sizeof failed, "(cluster=yes); no connection is ready: 127.0.0.1:%d: ", port);
    struct got g = {0};
    for (int i = 0; i < 50 && strstr(g.err, failed) == NULL; i++) {
        g = get_opts(m, "k", 100, 0);
        assert_status(g.rc, VMUX_ERR_TIMEOUT);
        want_in("GET k, cluster=yes, unconnected", g.err, want);
        want_in("GET k, cluster=yes, unconnected", g.err, ": never sent, not executed");
    }
    want_in("GET k, cluster=yes, unconnected", g.err, failed);
    vmux_close(m);
    close(fd);
}

/* Whether a command waits at node 1's gate (arg: the fake cluster). */
static bool node1_gated(void *arg)
{
    return vt_fcluster_gated(arg, 1) >= 1;
}

/* A log callback's arg: the lines that contain needle are counted in seen. */
struct log_watch {
    const char *needle;
    atomic_int seen;
};

static void on_log_watch(vmux_log_level level, const char *message, void *arg)
{
    (void)level;
    struct log_watch *w = arg;
    if (strstr(message, w->needle) != NULL)
        atomic_fetch_add(&w->seen, 1);
}

/* Whether the struct log_watch at arg saw its line: a condition for vt_wait_until(). */
static bool log_seen(void *arg)
{
    struct log_watch *w = arg;
    return atomic_load(&w->seen) > 0;
}

/* A resent command that waits for its node's connection (static: the handle outlives the call). */
static struct log_watch unready_logged = {"no connection ready", 0};

struct redialled {
    vt_proxy *p;
    unsigned before; /* connections the proxy had accepted when it began to refuse */
};

/* Whether the proxy took a new connection (arg: struct redialled): its link tried again. */
static bool proxy_redialled(void *arg)
{
    const struct redialled *r = arg;
    return vt_proxy_accepted(r->p) > r->before;
}

/* A key whose slot is above s (node 1's in backlog_fenced()'s map). */
static void key_above(unsigned s, char *key, size_t size)
{
    for (int i = 0;; i++) {
        snprintf(key, size, "n%d", i);
        if (slot(key) > s)
            return;
    }
}

/*
 * As new_behind_inflight(), but A's second trip to node 0 (behind a fault proxy, which the map
 * names for it) finds no connection ready: node 0's was cut while node 1 held A, and the proxy
 * refuses the link's new ones (down VT_PROXY_REFUSE) or takes them and never answers their setup
 * (VT_PROXY_BLACKHOLE). A waits in node 0's link backlog when B, the slot's next command, is
 * submitted. Then, with reconnect, the proxy lets node 0 in again and node 0 answers A MOVED to
 * node 1 (its backoff again); else the fence lifts when the link's next attempt fails, or at its
 * cap while the blackholed one hangs, and A, still waiting there, goes by its slot (node 1)
 * first. A runs before B every way: B reads what A wrote.
 */
static void backlog_fenced(vt_proxy_mode down, bool reconnect)
{
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    vt_proxy *px = vt_proxy_start("127.0.0.1", vt_fcluster_port(c, 0));
    assert_non_null(px);
    int p0 = vt_proxy_port(px), n1 = vt_fcluster_port(c, 1);
    unsigned s = slot("{g}"); /* 7233: node 0 keeps the slots below, node 1 those above */
    around_slot(c, s, p0, p0, n1);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000", n1);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, on_log_watch, VMUX_LOG_DEBUG, &unready_logged), 0);
    atomic_store(&unready_logged.seen, 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    rule(c, 0, "{g}", 2, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, n1);
    rule(c, 1, "{g}", 1, VT_FC_GATED, "-MOVED %u 127.0.0.1:%d\r\n", s, p0);

    struct vt_async a = {0}, b = {0};
    const char *set[] = {"SET", "{g}", "from-A"}, *getb[] = {"GET", "{g}"};
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    assert_status(vmux_call_async(m, &safe, 3, set, NULL, vt_on_async, &a), 0);
    assert_true(vt_wait_until(node1_gated, c, WAIT_MS)); /* A, sent on by node 0, at node 1 */
    around_slot(c, s, p0, n1, n1); /* the cluster agrees now: the slot is node 1's */
    struct redialled redialled = {px, vt_proxy_accepted(px)};
    assert_int_equal(vt_proxy_set_mode(px, down, 0), 0);
    vt_proxy_cut(px);
    assert_true(vt_wait_until(proxy_redialled, &redialled, WAIT_MS)); /* node 0's link not ready */
    vt_fcluster_open_gate(c, 1); /* MOVED back to node 0: A waits its backoff, then node 0's link */
    assert_true(vt_wait_until(log_seen, &unready_logged, WAIT_MS));
    assert_status(vmux_call_async(m, NULL, 2, getb, NULL, vt_on_async, &b), 0);
    char other[16];
    key_above(s, other, sizeof other);
    want_value(m, other, "(nil)"); /* node 1's: B had its turn there */
    if (reconnect)
        assert_int_equal(vt_proxy_set_mode(px, VT_PROXY_PASS, 0), 0);
    a_then_b(&a, &b);
    assert_int_equal(vt_fcluster_count(c, 1, "SET"), 2); /* A ran at node 1 the second time */
    vmux_close(m);
    vt_proxy_stop(px);
    vt_fcluster_stop(c);
}

/*
 * B went by its slot, to node 1, and ran there while A waited for node 0's connection ("B read
 * nil"): a resent command raised a fence only while written. Now the fence counts the commands of
 * its slot that wait on node 0's link too, and stands across the new connection.
 */
static void test_pingpong_new_behind_backlogged(void **state)
{
    (void)state;
    backlog_fenced(VT_PROXY_REFUSE, true);
}

/* Node 0 refuses on: the next attempt's failure lifts the fence, A goes by its slot first. */
static void test_pingpong_new_behind_backlogged_refused(void **state)
{
    (void)state;
    backlog_fenced(VT_PROXY_REFUSE, false);
}

/* Node 0's new connection hangs in its setup: at the fence's cap A goes by its slot first. */
static void test_pingpong_new_behind_backlogged_capped(void **state)
{
    (void)state;
    backlog_fenced(VT_PROXY_BLACKHOLE, false);
}

/* A key whose slot is below s. */
static void key_below(unsigned s, char *key, size_t size)
{
    for (int i = 0;; i++) {
        snprintf(key, size, "n%d", i);
        if (slot(key) < s)
            return;
    }
}

struct then_submit {
    vmux *m;
    struct vt_async *b;
    vt_fcluster *drop; /* not NULL: node 0's connections end just after B is submitted */
};

/* C's callback (I/O thread): submits B, GET {g}, as C's reply is read. */
static void on_c_submit_b(int status, vmux_reply *reply, void *arg)
{
    (void)status;
    const struct then_submit *t = arg;
    vmux_reply_free(reply);
    const char *getb[] = {"GET", "{g}"};
    if (vmux_call_async(t->m, NULL, 2, getb, NULL, vt_on_async, t->b) != 0)
        atomic_store(&t->b->done, true); /* status 0, no reply: the test fails on it */
    if (t->drop != NULL)
        vt_fcluster_drop_conns(t->drop, 0);
}

/*
 * As new_behind_inflight(), but node 0 answers A, resent after its backoff, TRYAGAIN (from its
 * gate, with C, a command of another of node 0's slots, behind it): A waits its retry on node 0's
 * link, then goes to its slot's owner as the map says, node 1, which serves it. B, the slot's next
 * command, is submitted as C's reply is read, just after A's TRYAGAIN. The fence lifted as A left
 * node 0's connection for its retry, and B went by its slot to node 1 at once, while A waited
 * ("B read nil"); now it stands while A waits on the link too, and B goes behind A.
 */
static void tryagain_fenced(bool drop)
{
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    int n0 = vt_fcluster_port(c, 0), n1 = vt_fcluster_port(c, 1);
    unsigned s = slot("{g}"); /* 7233: node 0 keeps the slots below, node 1 those above */
    around_slot(c, s, n0, n0, n1);
    vmux *m = open_on(c, NULL);
    rule(c, 0, "{g}", 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, n1);
    rule(c, 0, "{g}", 1, VT_FC_GATED, "-TRYAGAIN Multiple keys request during rehashing\r\n");
    rule(c, 1, "{g}", 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, n0);

    struct vt_async a = {0}, b = {0};
    const char *set[] = {"SET", "{g}", "from-A"}, *getc[] = {"GET", NULL};
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    assert_status(vmux_call_async(m, &safe, 3, set, NULL, vt_on_async, &a), 0);
    assert_true(vt_wait_until(node0_gated, c, WAIT_MS)); /* A, resent, in flight at node 0 */
    char ckey[16];
    key_below(s, ckey, sizeof ckey);
    getc[1] = ckey;
    struct then_submit t = {m, &b, drop ? c : NULL};
    assert_status(vmux_call_async(m, NULL, 2, getc, NULL, on_c_submit_b, &t), 0);
    vt_fcluster_open_gate(c, 0);
    a_then_b(&a, &b);
    assert_int_equal(vt_fcluster_count(c, 0, "SET"), 2); /* the ping-pong, then TRYAGAIN */
    assert_int_equal(vt_fcluster_count(c, 1, "SET"), 2); /* and it ran at node 1 the second time */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* A transaction whose MULTI's answer is over maxBulkLength: it fails, done, and stays in its
 * connection's FIFO until its last reply (never answered here). */
struct husk_tx {
    vmux *m;
    atomic_int done;
    int rc;
};

static void *run_husk_tx(void *arg)
{
    struct husk_tx *t = arg;
    vmux_tx *tx = NULL;
    const char *get[] = {"GET", "{g}"};
    bool committed = false;
    vmux_reply *r = NULL;
    if (vmux_tx_new(&tx) == 0 && vmux_tx_add(tx, 2, get, NULL) == 0)
        t->rc = vmux_tx_exec(t->m, NULL, tx, &committed, &r);
    vmux_reply_free(r);
    vmux_tx_free(tx);
    atomic_store(&t->done, 1);
    return NULL;
}

static bool husk_done(void *arg)
{
    return atomic_load(&((struct husk_tx *)arg)->done) != 0;
}

/* The fence's lift at its cap (static: the handle outlives the call). */
static struct log_watch capped_logged = {"fence lifted (capped)", 0};

/*
 * A fence whose walk found a transaction in flight on the old owner lifts once that transaction
 * fails over a reply limit at its MULTI, though its block stays in the FIFO as a husk: the husk
 * counts as gone. It did not (review helper-200): the walk was skipped while no op had left the
 * link, so B, the slot's next command, waited for the fence's 1 s cap.
 */
static void test_fence_lifts_for_refused_block(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    int n0 = vt_fcluster_port(c, 0), n1 = vt_fcluster_port(c, 1);
    unsigned s = slot("{g}");
    around_slot(c, s, n1, n0, n1);
    char conf[160];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000,maxBulkLength=64", n1);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, on_log_watch, VMUX_LOG_DEBUG, &capped_logged), 0);
    atomic_store(&capped_logged.seen, 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    char big[101];
    memset(big, 'x', 100);
    big[100] = '\0';
    rule(c, 0, NULL, 1, VT_FC_GATED, "$100\r\n%s\r\n", big); /* MULTI's answer */
    rule(c, 0, NULL, -1, VT_FC_SILENT, "+QUEUED\r\n");       /* the rest: never answered */
    struct husk_tx t = {.m = m};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_husk_tx, &t), 0);
    assert_true(vt_wait_until(node0_gated, c, WAIT_MS));
    /* the map moves the slot to node 1 (a MOVED on another key), while T is in flight on node 0 */
    rule(c, 1, "k2", 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", s, n1);
    const char *getx[] = {"GET", "k2"}, *getb[] = {"GET", "{g}"}, *gety[] = {"GET", "k3"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, getx, NULL, &r), 0);
    vmux_reply_free(r);
    struct vt_async b = {0};
    assert_int_equal(vmux_call_async(m, NULL, 2, getb, NULL, vt_on_async, &b), 0);
    /* a call after B: the loop has taken B, held it, and walked the link (T found there) */
    assert_int_equal(vmux_call(m, NULL, 2, gety, NULL, &r), 0);
    vmux_reply_free(r);
    assert_false(vt_async_done(&b));
    vt_fcluster_open_gate(c, 0); /* MULTI's answer over the limit: T fails, its block a husk */
    assert_true(vt_wait_until(husk_done, &t, WAIT_MS));
    assert_int_equal(t.rc, VMUX_ERR_PROTOCOL);
    assert_true(vt_wait_until(vt_async_done, &b, WAIT_MS));
    pthread_join(th, NULL);
    if (atomic_load(&capped_logged.seen) != 0)
        fail_msg("B waited for the fence's cap after T failed");
    assert_int_equal(b.status, 0);
    vmux_reply_free(b.reply);
    vmux_close(m);
    vt_fcluster_stop(c);
}

static void test_pingpong_new_behind_tryagain(void **state)
{
    (void)state;
    tryagain_fenced(false);
}

/*
 * As test_pingpong_new_behind_tryagain, but node 0's connections end just after B is submitted,
 * while A waits its retry in node 0's link's queue (the link's, not the connection's). The fence
 * lifted as the connection ended, A stayed in that queue for its backoff, and B went by its slot
 * to node 1 and ran first ("B read nil", review helper-197, 8 of 8 runs). Now it takes the next
 * connection while A waits there, and B goes behind A.
 */
static void test_pingpong_new_behind_tryagain_dropped(void **state)
{
    (void)state;
    tryagain_fenced(true);
}

enum { REFUSING = 14 };

/* GET key with a short deadline; its outcome does not matter (it only opens a link). */
static void touch(vmux *m, const char *key)
{
    const char *argv[] = {"GET", key};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 200);
    vmux_reply *r = NULL;
    (void)vmux_call(m, &o, 2, argv, NULL, &r);
    vmux_reply_free(r);
}

/*
 * The router's node ids grow with every link it opens; a ping-pong is a MOVED back to the node
 * that redirected the command last. It was a MOVED to any node that had redirected it, by one bit
 * per node id modulo 16: with the seed (id 0) and 14 more links, node 2 gets id 15 and node 1 id
 * 16, and a command node 0 sends to node 2 and node 2 to node 1 was taken for a ping-pong at node
 * 1 (its bit the seed's): no map patch (one VMUX_EVENT_SLOT_MOVED, not two), and a backoff.
 */
static void test_moved_on_past_sixteen_links(void **state)
{
    (void)state;
    vt_fcluster *c = start(3, NULL);
    vmux *m = open_counting_moves(c);
    int fds[REFUSING];
    char key[16];
    for (int i = 0; i < REFUSING; i++) { /* ids 1 to 14 */
        snprintf(key, sizeof key, "dead%d", i);
        rule(c, 0, key, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot(key), vt_refusing_port(&fds[i]));
        touch(m, key);
    }
    rule(c, 0, "w2", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("w2"), vt_fcluster_port(c, 2));
    touch(m, "w2"); /* node 2: id 15 */
    rule(c, 0, "w1", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("w1"), vt_fcluster_port(c, 1));
    touch(m, "w1"); /* node 1: id 16 */
    rule(c, 0, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("k"), vt_fcluster_port(c, 2));
    rule(c, 2, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    int before = atomic_load(&slot_moved_events);
    struct got g = get_opts(m, "k", 3000, 0);
    if (g.rc != 0 || strcmp(g.text, "from-1") != 0)
        fail_msg("GET k: %s '%s' (%s)", vmux_err_name(g.rc), g.text, g.err);
    assert_int_equal(atomic_load(&slot_moved_events) - before, 2); /* both MOVEDs patched */
    vmux_close(m);
    vt_fcluster_stop(c);
    for (int i = 0; i < REFUSING; i++)
        close(fds[i]);
}

/*
 * A ping-pong that lasts still ends in REDIRECT_LOOP after five redirects, only later: the
 * backoffs after the second to the fifth take at least 10 + 20 + 40 + 80 ms. One SLOT_MOVED.
 */
static void test_moved_pingpong_forever(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_counting_moves(c);
    pingpong_forever(c, "k");
    uint64_t t0 = vt_now_ns();
    struct got g = get_opts(m, "k", 10000, VMUX_CALL_RETRY_SAFE);
    uint64_t took_ms = (vt_now_ns() - t0) / 1000000u;
    assert_status(g.rc, VMUX_ERR_REDIRECT_LOOP);
    assert_non_null(strstr(g.err, "redirected 5 times"));
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 3);
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 3);
    if (took_ms < 140) /* 150 ms of backoffs, less the loop clock's slack */
        fail_msg("REDIRECT_LOOP after %llu ms: the ping-pong was not backed off",
                 (unsigned long long)took_ms);
    assert_int_equal(atomic_load(&slot_moved_events), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* Two commands that hear the same MOVED patch the map once: one VMUX_EVENT_SLOT_MOVED. */
static void test_moved_same_patch_once(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_counting_moves(c);
    rule(c, 0, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, 0, "$1\r\nv\r\n");
    struct many a = {0};
    const char *k[] = {"GET", "k"};
    for (int i = 0; i < 21; i++) /* pipelined: most are on their way to node 0 together */
        assert_status(vmux_call_async(m, NULL, 2, k, NULL, on_many, &a), 0);
    assert_true(vt_wait_until(many_done, &a, WAIT_MS));
    if (a.fails != 0)
        fail_msg("%d commands failed, the last with %s", a.fails, a.last);
    assert_true(vt_fcluster_count(c, 0, "GET") >= 1);
    assert_int_equal(atomic_load(&slot_moved_events), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- "?" endpoints resolved by the map ---- */

#define ID_NODE1 "2222222222222222222222222222222222222222"

/*
 * CLUSTER SLOTS as a cluster that prefers host names gives it when no node announced one: node 0
 * (0..8191) by its address, node 1 (8192..16383) as "?" with its ip in the metadata; extra, when
 * not NULL, a third primary "?" at node 1's port with another ip (16383 moved to it).
 */
static void slots_with_unknown(vt_fcluster *c, bool extra)
{
    char resp[768];
    int n = snprintf(resp, sizeof resp,
                     "*%d\r\n*3\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n"
                     "*3\r\n:8192\r\n:%d\r\n*4\r\n$1\r\n?\r\n:%d\r\n$40\r\n%s\r\n"
                     "*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n",
                     extra ? 3 : 2, vt_fcluster_port(c, 0), extra ? 16382 : 16383,
                     vt_fcluster_port(c, 1), ID_NODE1);
    if (extra)
        snprintf(resp + n, sizeof resp - (size_t)n,
                 "*3\r\n:16383\r\n:16383\r\n*4\r\n$1\r\n?\r\n:%d\r\n$40\r\n%s\r\n"
                 "*2\r\n$2\r\nip\r\n$9\r\n127.0.0.2\r\n",
                 vt_fcluster_port(c, 1), "3333333333333333333333333333333333333333");
    vt_fcluster_set_slots(c, -1, resp);
}

static uint64_t asked_count(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st.cluster_asked;
}

/*
 * ASK ?:P1 and MOVED ?:P1 (a cluster that prefers host names, a node with none): the map knows
 * one node at P1, by its ip metadata, and the command goes there at once (ASKING first for the
 * ASK; the MOVED patches the map). Without it the command waited for refreshes that still named
 * node 0, which sent it back there.
 */
static void test_unknown_host_by_port(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    slots_with_unknown(c, false);
    vmux *m = open_on(c, NULL);
    int p1 = vt_fcluster_port(c, 1);
    assert_true(slot("k") <= 8191);
    uint64_t asked = asked_count(m);
    rule(c, 0, "k", 1, 0, "-ASK %u ?:%d\r\n", slot("k"), p1);
    rule(c, 1, "k", -1, VT_FC_AFTER_ASKING, "$6\r\nasked1\r\n");
    struct got g = get_opts(m, "k", 3000, 0);
    if (g.rc != 0 || strcmp(g.text, "asked1") != 0)
        fail_msg("GET k after ASK ?:%d: %s '%s' (%s)", p1, vmux_err_name(g.rc), g.text, g.err);
    assert_int_equal(vt_fcluster_count(c, 1, "ASKING"), 1);
    assert_int_equal(asked_count(m) - asked, 1);
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 1);

    /* a MOVED to ?:P1 of another slot of node 0 */
    rule(c, 0, "j", 1, 0, "-MOVED %u ?:%d\r\n", slot("j"), p1);
    rule(c, 1, "j", -1, 0, "$6\r\nmoved1\r\n");
    assert_true(slot("j") <= 8191);
    g = get_opts(m, "j", 3000, 0);
    if (g.rc != 0 || strcmp(g.text, "moved1") != 0)
        fail_msg("GET j after MOVED ?:%d: %s '%s' (%s)", p1, vmux_err_name(g.rc), g.text, g.err);
    want_value(m, "j", "moved1"); /* the map was patched: straight to node 1 */
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 2);
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 3);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * Two nodes of the map at that port (another ip): the port does not tell which, so the command
 * waits for a refreshed map, as before, and goes where it says (node 0 again here).
 */
static void test_unknown_host_ambiguous(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    slots_with_unknown(c, true);
    vmux *m = open_on(c, NULL);
    unsigned before = vt_fcluster_topology_queries(c);
    rule(c, 0, "k", 1, 0, "-ASK %u ?:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    want_value(m, "k", "(nil)");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 2);
    assert_int_equal(vt_fcluster_count(c, 1, "ASKING"), 0);
    assert_true(vt_fcluster_topology_queries(c) > before);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- transient errors ---- */

/*
 * GET j, which the node refuses with reply every time, with a 600 ms deadline. The deadline
 * finds it either waiting to be sent again (VMUX_ERR_SERVER with the last refusal: it did not
 * run) or sent again and not answered yet (VMUX_ERR_TIMEOUT, as any command in flight):
 * docs/reliability.md. The second is a round trip's window among delays of tens of ms, which a
 * loaded machine (ASan, two cores) widens enough to be met now and then. Returns whether the
 * deadline found it waiting, after checking that the error is the refusal then.
 */
static bool refused_at_deadline(vmux *m, const char *reply)
{
    struct got g = get_opts(m, "j", 600, VMUX_CALL_RETRY_SAFE);
    if (g.rc == VMUX_ERR_TIMEOUT)
        return false;
    assert_status(g.rc, VMUX_ERR_SERVER);
    if (strstr(g.err, reply) == NULL)
        fail_msg("'%s' is not the refusal '%s'", g.err, reply);
    return true;
}

static void burst(const char *reply)
{
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, "reconnectMin=20,reconnectMax=200");
    /* a burst that ends within the deadline: the command succeeds */
    rule(c, 0, "k", 5, 0, "-%s\r\n", reply);
    rule(c, 0, "k", -1, 0, "$2\r\nok\r\n");
    struct got g =
        get_opts(m, "k", 10000, 0); /* not retry-safe: it did not run, so it goes again */
    if (g.rc != 0 || strcmp(g.text, "ok") != 0)
        fail_msg("%s: %s '%s'", reply, vmux_err_name(g.rc), g.err);
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 6);
    /* one that does not: the deadline ends it with what the cluster kept answering (asked
     * again when the deadline came while it was in flight: five in a row do not happen) */
    rule(c, 0, "j", -1, 0, "-%s\r\n", reply);
    int in_flight = 0;
    while (!refused_at_deadline(m, reply))
        if (++in_flight == 5)
            fail_msg("%s: the deadline found GET j in flight 5 times in a row", reply);
    vmux_close(m);
    vt_fcluster_stop(c);
}

static void test_tryagain_burst(void **state)
{
    (void)state;
    burst("TRYAGAIN Multiple keys request during rehashing of slot");
}

/*
 * MGET of two keys of one slot with a 600 ms deadline, while a migration splits them: the node
 * answers TRYAGAIN for longer than that (vt_fcluster_rule_for()). Whichever way the deadline
 * finds it (waiting to be sent again, or in flight: refused_at_deadline()), a refused one's words
 * say how many times and how long it was refused, and that it did not run (helper-247 O1: only
 * the server's words, even with VMUX_CALL_TELL_UNSENT). Returns whether it was refused.
 */
static bool tryagain_worded(vmux *m)
{
    char err[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 600, .flags = VMUX_CALL_TELL_UNSENT,
                                .errbuf = err, .errlen = sizeof err);
    const char *argv[] = {"MGET", "{t}a", "{t}b"};
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, 3, argv, NULL, &r);
    const char *said = vmux_reply_str(r, NULL);
    char text[512];
    snprintf(text, sizeof text, "%s", said != NULL ? said : "");
    vmux_reply_free(r);
    if (rc == VMUX_ERR_TIMEOUT)
        return false;
    assert_status(rc, VMUX_ERR_SERVER);
    unsigned times = 0, ms = 0;
    const char *words = strstr(err, " (refused ");
    if (strncmp(err, "TRYAGAIN Multiple keys request during rehashing of slot (refused ", 65) !=
            0 ||
        words == NULL || sscanf(words, " (refused %u times over %u ms", &times, &ms) != 2 ||
        strstr(err, " while its slot migrates; not executed)") == NULL)
        fail_msg("MGET refused through its deadline: '%s'", err);
    assert_true(times >= 2);
    assert_true(ms >= 600);
    assert_string_equal(text, err); /* the reply carries them too */
    return true;
}

static void test_tryagain_words(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, NULL);
    assert_int_equal(vt_fcluster_rule_for(c, 0, "{t}a", 600000, 0,
                                          "-TRYAGAIN Multiple keys request during rehashing of "
                                          "slot\r\n"),
                     0);
    int in_flight = 0;
    while (!tryagain_worded(m))
        if (++in_flight == 5)
            fail_msg("the deadline found MGET in flight 5 times in a row");
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * MSET split over three slots, one of which ("{t}a") keeps answering TRYAGAIN past the 600 ms
 * deadline while the other parts are answered OK (review helper-268: the error buffer said only
 * "TRYAGAIN ... (refused N times ...; not executed)", the words of that part, read as the
 * call's, though the other parts' keys were written; against a real cluster an open slot made
 * vmux_del() say "not executed" while it deleted the other slots' keys). The words name the
 * part's slot, and say the others may have run.
 */
static void test_split_refused_part_words(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    vmux *m = open_on(c, NULL);
    want_value(m, "k", "(nil)"); /* the map is loaded */
    assert_int_equal(vt_fcluster_rule_for(c, 0, "{t}a", 600000, 0,
                                          "-TRYAGAIN Multiple keys request during rehashing of "
                                          "slot\r\n"),
                     0);
    vmux_str keys[] = {VMUX_STR("{t}a"), VMUX_STR("x"), VMUX_STR("y")};
    assert_true(slot("{t}a") != slot("x") && slot("x") != slot("y") && slot("{t}a") != slot("y"));
    char err[512] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 600, .errbuf = err, .errlen = sizeof err);
    int rc = vmux_mset(m, &o, keys, keys, 3);
    if (rc == VMUX_ERR_TIMEOUT) /* the deadline found it in flight: written, its words say so */
        assert_non_null(strstr(err, "the others may have run"));
    else {
        assert_status(rc, VMUX_ERR_SERVER);
        char want[128];
        snprintf(want, sizeof want,
                 "; not executed) (the command for slot %u, one of the 3 this call was split "
                 "into; the others may have run)",
                 slot("{t}a"));
        if (strncmp(err, "TRYAGAIN Multiple keys request during rehashing of slot (refused ", 65) !=
                0 ||
            strstr(err, want) == NULL)
            fail_msg("MSET with one part refused through its deadline: '%s'", err);
    }
    assert_true(vt_fcluster_count(c, 0, "MSET") >= 3); /* the other two parts ran */
    vmux_close(m);
    vt_fcluster_stop(c);
}

static void test_clusterdown_burst(void **state)
{
    (void)state;
    burst("CLUSTERDOWN The cluster is down");
}

/*
 * A primary cut off from the majority answers CLUSTERDOWN for good while the cluster promotes
 * another node (here: every node's CLUSTER SLOTS names node 1 from now on). The refresh the first
 * CLUSTERDOWN asks for learns of it, and the refused command's next try goes to node 1: it kept
 * going to node 0 until its deadline, and failed with CLUSTERDOWN.
 */
static void test_clusterdown_follows_new_owner(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    want_value(m, "k", "(nil)"); /* the map is loaded: node 0 serves every slot */
    rule(c, 0, NULL, -1, 0, "-CLUSTERDOWN The cluster is down\r\n");
    all_on(c, 1);
    char err[256] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 8000, .errbuf = err, .errlen = sizeof err);
    const char *set[] = {"SET", "k", "v"}; /* not retry-safe: it did not run, so it goes again */
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, 3, set, NULL, &r);
    vmux_reply_free(r);
    if (rc != 0)
        fail_msg("SET k: %s (%s), expected it on node 1", vmux_err_name(rc), err);
    assert_int_equal(vt_fcluster_count(c, 1, "SET"), 1);
    assert_true(vt_fcluster_count(c, 0, "SET") >= 1);
    want_value(m, "k", "v");
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* Node 0 answers key's command as a demoted primary would: UNBLOCKED once, then MOVED to node
 * to. */
static void unblocked_then_moved_to(vt_fcluster *c, const char *key, size_t to)
{
    rule(c, 0, key, 1, 0,
         "-UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
         "replica?)\r\n");
    rule(c, 0, key, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot(key), vt_fcluster_port(c, to));
}

/* unblocked_then_moved_to() node 1. */
static void unblocked_then_moved(vt_fcluster *c, const char *key)
{
    unblocked_then_moved_to(c, key, 1);
}

/*
 * A blocking pop that a failover unblocked (the node became a replica: it did not run) is sent
 * again, and the demoted node's MOVED takes it to the new primary, where it gets its element.
 */
static void test_unblocked_by_failover(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    unblocked_then_moved(c, "k");
    rule(c, 1, "k", -1, 0, "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    vmux_str keys[] = {VMUX_STR("k")};
    vmux_bytes key, value;
    assert_status(vmux_bpop(m, NULL, VMUX_HEAD, keys, 1, 1000, &key, &value), 0);
    assert_string_equal(value.ptr, "v");
    vmux_bytes_free(&key);
    vmux_bytes_free(&value);
    assert_int_equal(vt_fcluster_count(c, 0, "BLPOP"), 2);
    /* an operator's CLIENT UNBLOCK ... ERROR is the caller's to see */
    for (size_t node = 0; node < 2; node++) /* whichever the map sends it to */
        rule(c, node, "u", -1, 0, "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    vmux_str ukeys[] = {VMUX_STR("u")};
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    assert_status(vmux_bpop(m, &o, VMUX_HEAD, ukeys, 1, 1000, &key, &value), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "CLIENT UNBLOCK"));
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A blocking pop sent again after a failover's UNBLOCKED and the demoted node's MOVED (or after
 * an ASK), its block time cut to what was left of it, which the new node leaves unanswered until
 * its deadline (block time plus timeout_ms, counted from the first send) ends it: the words say
 * it was sent again, where, after what, with how much of its deadline left and its block cut, so
 * that only a slow server explains the timeout (helper-203 F3: "written to ... and not answered
 * in time ..." said nothing of the resend).
 */
static void test_unblocked_resent_timeout_words(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    unblocked_then_moved(c, "k");
    rule(c, 0, "a", -1, 0, "-ASK %u 127.0.0.1:%d\r\n", slot("a"), vt_fcluster_port(c, 1));
    /* node 1 leaves both blocked for good */
    rule(c, 1, "k", -1, VT_FC_SILENT, "%s", "");
    rule(c, 1, "a", -1, VT_FC_AFTER_ASKING | VT_FC_SILENT, "%s", "");
    static const char *const keys[] = {"k", "a"};
    static const char *const after[] = {
        "after UNBLOCKED (a failover ended its block) and MOVED (its slot moved, or its node was "
        "demoted) with ",
        "after ASK (its slot is migrating) with "};
    for (size_t i = 0; i < 2; i++) {
        char err[640] = "", to[64];
        vmux_callopts o =
            VMUX_INIT(vmux_callopts, .timeout_ms = 200, .errbuf = err, .errlen = sizeof err);
        vmux_str k = {keys[i], 1};
        vmux_bytes key = {0}, value = {0};
        int rc = vmux_bpop(m, &o, VMUX_HEAD, &k, 1, 1000, &key, &value);
        snprintf(to, sizeof to, "timed out: sent again to 127.0.0.1:%d ", vt_fcluster_port(c, 1));
        if (rc != VMUX_ERR_TIMEOUT || strstr(err, to) == NULL || strstr(err, after[i]) == NULL ||
            strstr(err, " ms of its deadline left, its block time cut to what was left of it, and "
                        "not answered in time, so it may have run (the server, or the path to it, "
                        "is slow") == NULL)
            fail_msg("BLPOP %s: %s: '%s'", keys[i], vmux_err_name(rc), err);
        print_message("BLPOP %s: %s\n", keys[i], err);
    }
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- queued blocking pops keep their order across a map change ---- */

/* BLPOP key 10 on m, asynchronously, into *out. */
static void blpop_async(vmux *m, const char *key, struct vt_async *out)
{
    const char *argv[] = {"BLPOP", key, "10"};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 20000);
    assert_status(vmux_call_async(m, &o, 3, argv, NULL, vt_on_async, out), 0);
}

/* The value of a BLPOP's reply ([key, value]) in buf, or its status's name. */
static const char *popped(const struct vt_async *a, char *buf, size_t len)
{
    const vmux_reply *v =
        a->status == 0 && vmux_reply_len(a->reply) == 2 ? vmux_reply_element(a->reply, 1) : NULL;
    size_t n = 0;
    const char *str = v != NULL ? vmux_reply_str(v, &n) : NULL;
    snprintf(buf, len, "%.*s", str != NULL ? (int)n : 0, str != NULL ? str : "");
    return str != NULL ? buf : vmux_err_name(a->status);
}

/*
 * Waits for A and B, two BLPOPs of one key, and fails unless A, sent first, got "first" and B
 * "second" (how came in the message); frees their replies.
 */
static void a_first(struct vt_async *a, struct vt_async *b, const char *how)
{
    assert_true(vt_wait_until(vt_async_done, a, WAIT_MS));
    assert_true(vt_wait_until(vt_async_done, b, WAIT_MS));
    char a_buf[32], b_buf[32];
    const char *a_got = popped(a, a_buf, sizeof a_buf), *b_got = popped(b, b_buf, sizeof b_buf);
    bool in_order = strcmp(a_got, "first") == 0 && strcmp(b_got, "second") == 0;
    vmux_reply_free(a->reply);
    vmux_reply_free(b->reply);
    if (!in_order)
        fail_msg("A, first to pop, got \"%s\" and B \"%s\" (%s)", a_got, b_got, how);
}

/* A handle's GET of a key of slot k's and node 1's count of GETs, for served_by_node1(). */
struct probe {
    vmux *m;
    vt_fcluster *c;
    unsigned before;
};

/* Whether a GET of a key in the slot of "k" (node 0 answers nil) reaches node 1 now. */
static bool served_by_node1(void *arg)
{
    struct probe *p = arg;
    want_value(p->m, "{k}y", "(nil)");
    return vt_fcluster_count(p->c, 1, "GET") > p->before;
}

/*
 * Node 0 serves every slot and leaves a BLPOP k blocked (a gate, then MOVED to node 1), node 1
 * answers its first BLPOP k "first", the next "second". A handle with one pool connection per
 * node (returned) sends A, BLPOP k (into *a), which blocks on node 0.
 */
static vmux *a_blocks_on_node0(vt_fcluster *c, struct vt_async *a)
{
    rule(c, 0, "k", -1, VT_FC_GATED, "-MOVED %u 127.0.0.1:%d\r\n", slot("k"),
         vt_fcluster_port(c, 1));
    rule(c, 1, "k", 1, 0, "*2\r\n$1\r\nk\r\n$5\r\nfirst\r\n");
    rule(c, 1, "k", -1, 0, "*2\r\n$1\r\nk\r\n$6\r\nsecond\r\n");
    vmux *m = open_on(c, "blockingPoolSize=1,clusterRefreshMinInterval=100");
    want_value(m, "x", "(nil)"); /* the map is loaded: node 0 serves every slot */
    blpop_async(m, "k", a);
    assert_true(vt_wait_until(node0_gated, c, WAIT_MS)); /* A blocks on node 0 */
    return m;
}

/*
 * Every node's CLUSTER SLOTS gives k's slot to node 1, and m learns it: by_refresh, from a refresh
 * (asked for by another slot's MOVED); else by the MOVED of another command of the slot. Returns
 * once m sends a command of the slot to node 1.
 */
static void slot_of_k_to_node1(vt_fcluster *c, vmux *m, bool by_refresh)
{
    unsigned s = slot("k");
    int n0 = vt_fcluster_port(c, 0), n1 = vt_fcluster_port(c, 1);
    around_slot(c, s, n0, n1, n0);
    const char *other = by_refresh ? other_slot_key(s) : "{k}x";
    rule(c, 0, other, 1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot(other), n1);
    want_value(m, other, "(nil)"); /* followed to node 1 */
    struct probe p = {m, c, vt_fcluster_count(c, 1, "GET")};
    assert_true(vt_wait_until(served_by_node1, &p, WAIT_MS));
}

/*
 * blockingPoolSize=1: A's BLPOP k holds node 0's only pool connection (node 0 leaves it blocked),
 * B's BLPOP k waits for it. The handle then learns that node 1 owns k's slot while A still
 * blocks (slot_of_k_to_node1()). Node 0 then ends A's block with MOVED. A goes on first and gets
 * "first": B stayed behind it (it went to node 1 at the map change, blocked there first and got
 * "first" before: review helper-215 F1's second case).
 */
static void queued_pops_keep_order(bool by_refresh)
{
    vt_fcluster *c = start(2, NULL);
    static struct vt_async a, b; /* static: a failed assertion leaves their callbacks due */
    a = (struct vt_async){.done = false};
    b = (struct vt_async){.done = false};
    vmux *m = a_blocks_on_node0(c, &a);
    blpop_async(m, "k", &b);
    want_value(m, "x", "(nil)"); /* one thread's commands are routed in order: B waits now */
    slot_of_k_to_node1(c, m, by_refresh);
    assert_false(atomic_load(&a.done));
    vt_fcluster_open_gate(c, 0); /* node 0 ends A's block: MOVED */
    a_first(&a, &b,
            by_refresh ? "node 1 named the slot's owner by a refresh while A blocked on node 0"
                       : "node 1 named the slot's owner by another command's MOVED while A "
                         "blocked on node 0");
    vmux_close(m);
    vt_fcluster_stop(c);
}

static void test_queued_pops_keep_order_refresh(void **state)
{
    (void)state;
    queued_pops_keep_order(true);
}

static void test_queued_pops_keep_order_moved(void **state)
{
    (void)state;
    queued_pops_keep_order(false);
}

/*
 * blockingPoolSize=1: k's slot is served by a node that refuses connections, so A's BLPOP k waits
 * in the backlog of that node's only pool connection and B's in the pool's queue. A refresh then
 * gives the slot to node 1: the pool's unsent ops go there (its node's link is down) and A, sent
 * first, gets "first". B went first before: vmux__pool_take_unsent() took the pool's queue ahead
 * of its connections' backlogs (and so swapped A and B at each refresh while the node was down).
 */
static void test_unsent_pops_keep_order_off_a_dead_node(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    int fd, dead = vt_refusing_port(&fd);
    assert_true(dead > 0);
    unsigned s = slot("k");
    around_slot(c, s, vt_fcluster_port(c, 0), dead, vt_fcluster_port(c, 0));
    rule(c, 1, "k", 1, 0, "*2\r\n$1\r\nk\r\n$5\r\nfirst\r\n");
    rule(c, 1, "k", -1, 0, "*2\r\n$1\r\nk\r\n$6\r\nsecond\r\n");
    vmux *m = open_on(c, "blockingPoolSize=1");
    want_value(m, "x", "(nil)"); /* the map is loaded: k's slot is the refusing node's */
    static struct vt_async a, b; /* static: a failed assertion leaves their callbacks due */
    a = (struct vt_async){.done = false};
    b = (struct vt_async){.done = false};
    blpop_async(m, "k", &a);
    blpop_async(m, "k", &b);
    want_value(m, "x", "(nil)"); /* one thread's commands are routed in order: both wait now */
    slot_of_k_to_node1(c, m, true);
    a_first(&a, &b, "both unsent on a node that refuses connections, their slot given to node 1");
    vmux_close(m);
    close(fd);
    vt_fcluster_stop(c);
}

/*
 * As queued_pops_keep_order(), B a blocking XREAD from "$" of a stream in k's slot: it takes
 * nothing from A, and goes to node 1 at the map change while A still blocks (held behind A and
 * sent to node 0, its MOVED would end it: VMUX_ERR_SERVER, "not sent again").
 */
static void test_queued_read_from_now_leaves(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    static const char entry[] = "*1\r\n*2\r\n$4\r\n{k}s\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\n"
                                "f\r\n$1\r\nv\r\n";
    rule(c, 0, "BLOCK", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "BLOCK", -1, 0, "%s", entry); /* the fake's key is argv[1] */
    static struct vt_async a, b; /* static: a failed assertion leaves their callbacks due */
    a = (struct vt_async){.done = false};
    b = (struct vt_async){.done = false};
    vmux *m = a_blocks_on_node0(c, &a);
    const char *xread[] = {"XREAD", "BLOCK", "10000", "STREAMS", "{k}s", "$"};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 20000);
    assert_status(vmux_call_async(m, &o, 6, xread, NULL, vt_on_async, &b), 0);
    want_value(m, "x", "(nil)"); /* one thread's commands are routed in order: B waits now */
    slot_of_k_to_node1(c, m, true);
    bool b_first = vt_wait_until(vt_async_done, &b, WAIT_MS) && !atomic_load(&a.done);
    vt_fcluster_open_gate(c, 0);
    assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS));
    assert_true(vt_wait_until(vt_async_done, &b, WAIT_MS));
    if (!b_first || b.status != 0)
        fail_msg("B (XREAD BLOCK ... $) %s A's block ended: %s (%s)",
                 b_first ? "ended before" : "still waited behind A until", vmux_err_name(b.status),
                 b.words);
    vmux_reply_free(a.reply);
    vmux_reply_free(b.reply);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * Lets ms pass, where the time itself is what a test is about (a pop blocked a while before a
 * failover ended it; the storm's spacing): no condition to wait for.
 */
static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/*
 * Node 0 answers the command whose first argument is rule_key (slot: key's) as a demoted primary
 * would, once it blocked a while: UNBLOCKED at its gate (opened by open_gate_later()), then MOVED
 * to node 1.
 */
static void gated_unblocked_then_moved(vt_fcluster *c, const char *rule_key, const char *key)
{
    rule(c, 0, rule_key, 1, VT_FC_GATED,
         "-UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
         "replica?)\r\n");
    rule(c, 0, rule_key, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot(key), vt_fcluster_port(c, 1));
}

/* Opens node 0's gate 400 ms after a command reached it (a thread's, or the test's own). */
static void *open_gate_later(void *arg)
{
    if (vt_wait_until(node0_gated, arg, WAIT_MS)) {
        pause_ms(400);
        vt_fcluster_open_gate(arg, 0);
    }
    return NULL;
}

/*
 * A blocking pop whose block a failover ended once it had blocked a while (UNBLOCKED after 400
 * ms, then the demoted node's MOVED) is sent again with what is left of its block time, not the
 * whole, so the new node, which nothing feeds, answers nil at the block's end, before the
 * deadline (block time plus timeout_ms, counted from the first send). With its block time whole
 * (helper-228) the new node answered at 1.4 s, after the deadline at 1.2 s: VMUX_ERR_TIMEOUT, its
 * pool connection closed, and a pop the server made then lost with it. typed: vmux_bpop() (block
 * 1000 ms sent as "1"); else the raw command with a decimal block time ("1.0").
 */
static void resent_block_cut(bool typed)
{
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    gated_unblocked_then_moved(c, "k", "k");
    rule(c, 1, "k", -1, VT_FC_AT_BLOCK_END, "*-1\r\n");
    struct vt_async a = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = typed ? 200 : 1200);
    uint64_t t0 = vt_now_ms();
    if (typed) {
        vmux_str k = VMUX_STR("k");
        vmux_bytes key = {0}, value = {0};
        /* the typed call is synchronous: the gate opens from this thread after it blocked */
        pthread_t opener;
        assert_int_equal(pthread_create(&opener, NULL, open_gate_later, c), 0);
        a.status = vmux_bpop(m, &o, VMUX_HEAD, &k, 1, 1000, &key, &value);
        pthread_join(opener, NULL);
        if (a.status != 0 || key.ptr != NULL)
            fail_msg("BLPOP k 1 (typed): %s, key %s", vmux_err_name(a.status),
                     key.ptr != NULL ? "set" : "none");
        vmux_bytes_free(&key);
        vmux_bytes_free(&value);
    } else {
        const char *argv[] = {"BLPOP", "k", "1.0"};
        assert_status(vmux_call_async(m, &o, 3, argv, NULL, vt_on_async, &a), 0);
        open_gate_later(c);
        assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS));
        if (a.status != 0 || a.reply == NULL || vmux_reply_get_kind(a.reply) != VMUX_REPLY_NIL)
            fail_msg("BLPOP k 1.0: %s (%s) after %llu ms", vmux_err_name(a.status), a.words,
                     (unsigned long long)(vt_now_ms() - t0));
        vmux_reply_free(a.reply);
    }
    char last[256], name[16];
    double block = -1;
    vt_fcluster_last_command(c, 1, last, sizeof last);
    uint64_t took = vt_now_ms() - t0;
    /* 400 ms at least passed before the pop went again: 600 ms or less were left of its block */
    if (sscanf(last, "%15s k %lf", name, &block) != 2 || strcmp(name, "BLPOP") != 0 ||
        !(block > 0 && block <= 0.6))
        fail_msg("the BLPOP sent again to node 1 was '%s', not its block cut to what was left",
                 last);
    print_message("sent again as '%s'; nil after %llu ms\n", last, (unsigned long long)took);
    vmux_close(m);
    vt_fcluster_stop(c);
}

static void test_resent_block_cut_to_what_is_left(void **state)
{
    (void)state;
    resent_block_cut(false);
    resent_block_cut(true);
}

/* Whether node 1 of the fake cluster arg points to received an XREAD. */
static bool node1_xread(void *arg)
{
    return vt_fcluster_count(arg, 1, "XREAD") >= 1;
}

/*
 * XREAD's BLOCK, in ms, is cut the same way when it goes again: found among its options, written
 * as an integer (the server takes no fraction there).
 */
static void test_resent_xread_block_cut(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    gated_unblocked_then_moved(c, "COUNT", "s"); /* the rules' key: XREAD's first argument */
    rule(c, 1, "COUNT", -1, VT_FC_SILENT, "%s", "");
    struct vt_async a = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 1200);
    const char *argv[] = {"XREAD", "COUNT", "1", "BLOCK", "1000", "STREAMS", "s", "0-0"};
    assert_status(vmux_call_async(m, &o, 8, argv, NULL, vt_on_async, &a), 0);
    open_gate_later(c);
    assert_true(vt_wait_until(node1_xread, c, WAIT_MS));
    char last[256];
    long block = -1;
    vt_fcluster_last_command(c, 1, last, sizeof last);
    if (sscanf(last, "XREAD COUNT 1 BLOCK %ld STREAMS s 0-0", &block) != 1 || block < 1 ||
        block > 600)
        fail_msg("the XREAD sent again to node 1 was '%s', not its BLOCK cut to what was left",
                 last);
    print_message("sent again as '%s'\n", last);
    assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS)); /* node 1 never answers */
    vmux_reply_free(a.reply);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- broken replies ---- */

/* A truncated or malformed redirect is an ordinary server error to the caller. */
static void test_truncated_moved(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    static const char *const lines[] = {"MOV",
                                        "MOVED",
                                        "MOVED 12",
                                        "MOVED 12 ",
                                        "ASK 99999 :1",
                                        "MOVED 12 127.0.0.1",
                                        "MOVED x 127.0.0.1:1"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        rule(c, 0, "k", 1, 0, "-%s\r\n", lines[i]);
        struct got g = get(m, "k");
        assert_status(g.rc, VMUX_ERR_SERVER);
        assert_string_equal(g.text, lines[i]);
    }
    assert_int_equal(vt_fcluster_accepted(c, 1), 0);
    want_value(m, "k", "(nil)"); /* the handle goes on */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- CLUSTER SLOTS with holes, overlaps and garbage ---- */

struct count_wait {
    vt_fcluster *c;
    unsigned want;
};

static bool queries_reached(void *arg)
{
    struct count_wait *w = arg;
    return vt_fcluster_topology_queries(w->c) >= w->want;
}

/*
 * Makes the handle refresh (a CLUSTERDOWN reply asks for one) and waits until the nodes have
 * been asked twice since: a failed refresh is followed by another, so by then the first reply
 * has been read and judged.
 */
static void refresh_twice(vt_fcluster *c, vmux *m)
{
    struct count_wait w = {c, vt_fcluster_topology_queries(c) + 2};
    rule(c, 0, "trigger", 1, 0, "-CLUSTERDOWN scripted\r\n");
    struct got g = get_opts(m, "trigger", 10000, VMUX_CALL_RETRY_SAFE);
    assert_status(g.rc, 0);
    assert_true(vt_wait_until(queries_reached, &w, WAIT_MS));
}

/*
 * Replies that vmux must refuse (slotmap.h): the handle keeps serving on its last good map. Each
 * of the 8 replies takes two refreshes, which clusterRefreshMinInterval spaces (1 s by default:
 * 15 s for the test); 100 ms here, as what is judged is each reply, not the spacing.
 */
static void test_slots_garbage(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, "clusterRefreshMinInterval=100");
    char bad[8][256];
    int p1 = vt_fcluster_port(c, 1);
    size_t n = 0;
    /* overlapping ranges */
    snprintf(bad[n++], sizeof bad[0],
             "*2\r\n*3\r\n:0\r\n:9000\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n"
             "*3\r\n:8000\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
             p1, p1);
    /* a slot as a string */
    snprintf(bad[n++], sizeof bad[0],
             "*1\r\n*3\r\n$1\r\n0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n", p1);
    /* a port out of range */
    snprintf(bad[n++], sizeof bad[0],
             "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:70000\r\n");
    /* a slot out of range, a range upside down */
    snprintf(bad[n++], sizeof bad[0],
             "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n", p1);
    snprintf(bad[n++], sizeof bad[0],
             "*1\r\n*3\r\n:200\r\n:100\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n", p1);
    /* a node that is not an array, a range that is an integer, not an array at all */
    snprintf(bad[n++], sizeof bad[0], "*1\r\n*3\r\n:0\r\n:16383\r\n:%d\r\n", p1);
    snprintf(bad[n++], sizeof bad[0], "*1\r\n:5\r\n");
    snprintf(bad[n++], sizeof bad[0], "+OK\r\n");
    rule(c, 0, "k", -1, 0, "$6\r\nfrom-0\r\n");
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    for (size_t i = 0; i < n; i++) {
        vt_fcluster_set_slots(c, -1, bad[i]);
        refresh_twice(c, m);
        want_value(m, "k", "from-0");
    }
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

struct served_wait {
    vt_fcluster *c;
    vmux *m;
    const char *key;
    size_t node;
};

/* Sends GET key until the node says it received one (the new map is in use). */
static bool served_by(void *arg)
{
    struct served_wait *w = arg;
    unsigned before = vt_fcluster_count(w->c, w->node, "GET");
    struct got g = get_opts(w->m, w->key, 1000, VMUX_CALL_RETRY_SAFE);
    (void)g;
    return vt_fcluster_count(w->c, w->node, "GET") > before;
}

/* Replies that make a map (holes; a NULL host is the host asked): the new map is used. */
static void test_slots_holes_and_null_host(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vmux *m = open_on(c, NULL);
    int p1 = vt_fcluster_port(c, 1);
    /* "k" is in slot 7629, "a" in 15495: node 1 serves 0..9999 with a NULL host, the rest is a
     * hole, which commands send to the seed node */
    assert_int_equal(slot("k"), 7629);
    assert_int_equal(slot("a"), 15495);
    char resp[256];
    snprintf(resp, sizeof resp, "*1\r\n*3\r\n:0\r\n:9999\r\n*2\r\n$-1\r\n:%d\r\n", p1);
    vt_fcluster_set_slots(c, -1, resp);
    rule(c, 0, "trigger", 1, 0, "-CLUSTERDOWN scripted\r\n");
    assert_status(get_opts(m, "trigger", 10000, VMUX_CALL_RETRY_SAFE).rc, 0);
    struct served_wait w = {c, m, "k", 1};
    assert_true(vt_wait_until(served_by, &w, WAIT_MS));
    unsigned on0 = vt_fcluster_count(c, 0, "GET");
    rule(c, 0, "a", -1, 0, "$6\r\nfrom-0\r\n");
    want_value(m, "a", "from-0"); /* a hole: the seed node */
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), on0 + 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- a lagging refresh ---- */

static struct log_watch kept_logged = {"kept as MOVED said", 0}; /* a refresh kept a MOVED's */

/*
 * A refresh from nodes whose view lags does not undo a MOVED: node 0 answers MOVED for "k"'s slot
 * (to node 1) every time, while every node's CLUSTER SLOTS still says node 0 serves every slot.
 * Once the refresh the MOVED asked for has come back, "k" still goes straight to node 1.
 */
static void test_moved_outranks_lagging_refresh(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    rule(c, 0, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("k"), vt_fcluster_port(c, 1));
    rule(c, 1, "k", -1, 0, "$6\r\nnode-1\r\n");
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000",
             vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, on_log_watch, VMUX_LOG_INFO, &kept_logged), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    want_value(m, "k", "node-1"); /* MOVED, followed, and a refresh asked for */
    unsigned on0 = vt_fcluster_count(c, 0, "GET");
    assert_true(vt_wait_until(log_seen, &kept_logged, WAIT_MS));
    want_value(m, "k", "node-1");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), on0); /* not sent to node 0 again */
    vmux_close(m);
    vt_fcluster_stop(c);
}

static atomic_int maps_refreshed;

static void on_map_event(const vmux_event *e, void *arg)
{
    (void)arg;
    if (e->type == VMUX_EVENT_MAP_REFRESHED)
        atomic_fetch_add(&maps_refreshed, 1);
}

struct count_above {
    atomic_int *count;
    int above;
};

static bool count_above(void *arg)
{
    struct count_above *w = arg;
    return atomic_load(w->count) > w->above;
}

/*
 * A failover undone within seconds: node 0's shard fails over to node 2 (UNBLOCKED, then MOVED:
 * the whole shard patched), then back (node 2 answers MOVED to node 0, and every node's map says
 * node 0 again). Node 2's MOVED disowns the first patch: the refresh it asks for is taken whole,
 * and neither key of the shard goes to node 2 again. Before, the first MOVED's patch outranked
 * every refresh for 5 s and took the whole shard back to node 2 each time (review helper-252:
 * 5,322 SLOT_MOVED events over 6.5 s for one shard, MAP_REFRESHED saying "4 shards").
 */
static void test_moved_failback_within_trust(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(3, NULL);
    assert_non_null(c);
    half_with_replica(c);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000",
             vt_fcluster_port(c, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_map_event, NULL), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    char k1[16], k2[16];
    int at = 0;
    key_in(k1, sizeof k1, 0, 8191, &at);
    do {
        at++;
        key_in(k2, sizeof k2, 0, 8191, &at);
    } while (slot(k2) == slot(k1));
    /* the failover: node 2 primary of the lower half, node 0 its replica */
    char resp[256];
    snprintf(resp, sizeof resp,
             "*2\r\n*4\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n*2\r\n$9\r\n127.0.0."
             "1\r\n:%d\r\n*3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
             vt_fcluster_port(c, 2), vt_fcluster_port(c, 0), vt_fcluster_port(c, 1));
    vt_fcluster_set_slots(c, -1, resp);
    unblocked_then_moved_to(c, k1, 2);
    rule(c, 2, k1, -1, 0, "$2\r\nv2\r\n");
    vt_get_value(m, k1, "v2");
    /* and back: node 0 primary again, node 2 disowns the shard's slots */
    vt_fcluster_clear_rules(c, -1);
    half_with_replica(c);
    for (size_t i = 0; i < 2; i++) {
        const char *k = i == 0 ? k1 : k2;
        rule(c, 2, k, -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot(k), vt_fcluster_port(c, 0));
        rule(c, 0, k, -1, 0, "$2\r\nv0\r\n");
    }
    vt_get_value(m, k2, "v0"); /* MOVED by node 2 */
    struct count_above after = {&maps_refreshed, atomic_load(&maps_refreshed)};
    assert_true(vt_wait_until(count_above, &after, WAIT_MS)); /* a map answered after it */
    unsigned on2 = vt_fcluster_count(c, 2, "GET");
    vt_get_value(m, k2, "v0");
    vt_get_value(m, k1, "v0");
    if (vt_fcluster_count(c, 2, "GET") != on2)
        fail_msg("node 2 got %u GETs after the refresh that followed its MOVED: the first "
                 "failover's patch outranked the refreshed map and took the shard back to it",
                 vt_fcluster_count(c, 2, "GET") - on2);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- fan-outs ---- */

/*
 * A primary the map gives no address for ("?", no ip in the metadata) fails a fan-out: DBSIZE is
 * not a sum that leaves it out, and vmux_call_nodes() lists it, failed.
 */
static void test_fanout_unknown_primary(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    struct vt_fc_range r[2] = {{0, 8191, vt_fcluster_host(c, 0), vt_fcluster_port(c, 0)},
                               {8192, 16383, "?", vt_fcluster_port(c, 1)}};
    char *resp = vt_fcluster_slots_resp(r, 2);
    assert_non_null(resp);
    vt_fcluster_set_slots(c, -1, resp);
    free(resp);
    rule(c, 0, NULL, -1, 0, ":5\r\n"); /* DBSIZE, and any other data command, on node 0 */
    vmux *m = open_on(c, NULL);
    int64_t n = -1;
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    assert_status(vmux_dbsize(m, &o, &n), VMUX_ERR_NOT_CONNECTED);
    if (strstr(err, "?:0") == NULL || strstr(err, "no address") == NULL)
        fail_msg("the error names no unknown primary: '%s'", err);

    static const char *const dbsize[] = {"DBSIZE"};
    vmux_node_replies res = {0};
    assert_status(vmux_call_nodes(m, NULL, VMUX_NODES_PRIMARIES, 1, dbsize, NULL, &res), 0);
    assert_int_equal(res.count, 2);
    assert_int_equal(res.nodes[0].status, 0);
    assert_int_equal(vmux_reply_integer(res.nodes[0].reply), 5);
    assert_string_equal(res.nodes[1].address, "?:0");
    assert_status(res.nodes[1].status, VMUX_ERR_NOT_CONNECTED);
    vmux_node_replies_free(&res);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A cluster SCAN whose primaries answer CLUSTER NODES with text that names no node (empty, or
 * garbage): the step fails with VMUX_ERR_PROTOCOL and says so. Such views counted as read made
 * every slot a hole: the iteration ended at once with no key and no error.
 */
static void test_scan_garbage_nodes_text(void **state)
{
    (void)state;
    vt_fcluster *c = start(2, NULL);
    vt_fcluster_set_nodes(c, 0, "");
    vt_fcluster_set_nodes(c, 1, "hello\nnot a node line at all\n");
    vmux *m = open_on(c, NULL);
    vmux_scan *it = NULL;
    assert_status(vmux_scan_begin(m, NULL, &it), 0);
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_bytes_array batch = {0};
    assert_status(vmux_scan_next(it, &o, &batch), VMUX_ERR_PROTOCOL);
    if (strstr(err, "CLUSTER NODES") == NULL)
        fail_msg("the error does not say what was wrong: '%s'", err);
    assert_true(vt_fcluster_count_all(c, "CLUSTER NODES") >= 1);
    vmux_scan_end(it);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * A conditional transaction with a command the key table does not know asks COMMAND GETKEYS; an
 * answer that is no array of at most as many keys as the command has arguments (more keys, or
 * not an array) refuses the transaction with VMUX_ERR_PROTOCOL, nothing run. More keys wrote past
 * the array of declared keys; a status counted as no key at all.
 */
static void test_tx_getkeys_answer_checked(void **state)
{
    (void)state;
    vt_fcluster *c = start(1, NULL);
    static const char *const answers[] = {"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "+OK\r\n",
                                          "*1\r\n:1\r\n"};
    vmux *m = open_on(c, NULL);
    for (size_t i = 0; i < sizeof answers / sizeof *answers; i++) {
        vt_fcluster_clear_rules(c, -1);
        rule(c, 0, "GETKEYS", -1, 0, "%s", answers[i]);
        vmux_tx *tx;
        assert_int_equal(vmux_tx_new(&tx), 0);
        assert_int_equal(vmux_tx_when_exists(tx, VMUX_STR("k")), 0);
        assert_int_equal(vmux_tx_add(tx, 2, (const char *[]){"MODCMD.DO", "k"}, NULL), 0);
        char why[256] = "";
        vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
        bool committed = true;
        vmux_reply *r = NULL;
        assert_status(vmux_tx_exec(m, &o, tx, &committed, &r), VMUX_ERR_PROTOCOL);
        assert_false(committed);
        assert_null(r);
        if (strstr(why, "COMMAND GETKEYS MODCMD.DO: not an array of at most 2 keys") == NULL)
            fail_msg("answer %zu: '%s'", i, why);
        vmux_tx_free(tx);
    }
    assert_int_equal(vt_fcluster_count(c, 0, "EVALSHA") + vt_fcluster_count(c, 0, "EVAL"), 0);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* ---- the refresh storm ---- */

#define STORM_THREADS 3

struct storm {
    vmux *m;
    atomic_bool stop;
    atomic_uint calls;
};

static void *storm_thread(void *arg)
{
    struct storm *s = arg;
    char key[32];
    for (unsigned i = 0; !atomic_load(&s->stop); i++) {
        snprintf(key, sizeof key, "storm:%u", i);
        (void)get_opts(s->m, key, 300, i % 2 ? VMUX_CALL_RETRY_SAFE : 0);
        atomic_fetch_add(&s->calls, 1);
    }
    return NULL;
}

/*
 * CLUSTERDOWN from every node for burst_ms while three threads keep sending: the handle asks for
 * the topology at most once per gap_ms (the first at once), counted by the nodes. extra: the
 * handle's configuration keys, or NULL.
 */
static void storm(const char *extra, double gap_s, uint64_t burst_ms)
{
    vt_fcluster *c = vt_fcluster_start(3, NULL); /* the default map: three shards */
    assert_non_null(c);
    vmux *m = open_on(c, extra);
    struct storm s = {.m = m};
    pthread_t th[STORM_THREADS];
    for (int i = 0; i < STORM_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, storm_thread, &s), 0);
    uint64_t t0 = vt_now_ns();
    unsigned q0 = vt_fcluster_topology_queries(c);
    for (size_t i = 0; i < 3; i++)
        rule(c, i, NULL, -1, 0, "-CLUSTERDOWN The cluster is down\r\n");
    unsigned calls0 = atomic_load(&s.calls);
    while (vt_now_ns() - t0 < burst_ms * 1000000u)
        pause_ms(50); /* the burst lasts burst_ms: a length of time, not a wait for a condition */
    vt_fcluster_clear_rules(c, -1);
    unsigned q1 = vt_fcluster_topology_queries(c);
    uint64_t t1 = vt_now_ns();
    atomic_store(&s.stop, true);
    for (int i = 0; i < STORM_THREADS; i++)
        pthread_join(th[i], NULL);
    double seconds = (double)(t1 - t0) / 1e9;
    unsigned queries = q1 - q0;
    print_message("storm: %u topology queries in %.2f s (one per %.1f s allowed), %u calls\n",
                  queries, seconds, gap_s, atomic_load(&s.calls) - calls0);
    assert_true(atomic_load(&s.calls) - calls0 > 0);
    assert_true(queries >= 1); /* CLUSTERDOWN asks for a refresh */
    if ((double)queries > seconds / gap_s + 1)
        fail_msg("%u topology queries in %.2f s: more than one per %.1f s", queries, seconds,
                 gap_s);
    want_value(m, "after", "(nil)"); /* served again once the burst ended */
    vmux_close(m);
    vt_fcluster_stop(c);
}

static void test_refresh_storm(void **state)
{
    (void)state;
    storm(NULL, 1.0, 5000);
}

/* The same with clusterRefreshMinInterval=2000: at most one every 2 s. */
static void test_refresh_storm_configured(void **state)
{
    (void)state;
    storm("clusterRefreshMinInterval=2000", 2.0, 5000);
}

/* ---- the seed's node by its id ---- */

#define ID_ONE "1111111111111111111111111111111111111111"

/*
 * The seed link, named localhost, is adopted for node 1 (127.0.0.1:P1 in the map) because node 0
 * says node 1's id: as when a name that resolves to several nodes led it elsewhere than its id
 * said. Node 0 answers MOVED to 127.0.0.1:P1: the adoption is dropped and the command goes to a
 * link of that name, once; the seed's connection is not replaced (which would reach node 0
 * again, until REDIRECT_LOOP).
 */
static void test_seed_id_mismatch(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL);
    assert_non_null(c);
    int p1 = vt_fcluster_port(c, 1);
    char slots[256];
    snprintf(slots, sizeof slots,
             "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$40\r\n%s\r\n", p1,
             ID_ONE);
    vt_fcluster_set_slots(c, -1, slots);
    vt_fcluster_set_myid(c, 0, ID_ONE);
    vt_fcluster_set_myid(c, 1, ID_ONE);
    char conf[128];
    snprintf(conf, sizeof conf, "localhost:%d,cluster=yes,syncTimeout=5000",
             vt_fcluster_port(c, 0));
    vmux *m = vt_open_conf(conf);
    assert_int_equal(vt_fcluster_count(c, 0, "CLUSTER MYID"), 1);
    rule(c, 0, "k", -1, 0, "-MOVED %u 127.0.0.1:%d\r\n", slot("k"), p1);
    rule(c, 1, "k", -1, 0, "$6\r\nfrom-1\r\n");
    want_value(m, "k", "from-1");
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 1); /* sent by the adopted seed link */
    assert_int_equal(vt_fcluster_count(c, 1, "GET"), 1);
    assert_int_equal(vt_fcluster_accepted(c, 0), 1); /* its connection was not replaced */
    assert_int_equal(vt_fcluster_accepted(c, 1), 1);
    want_value(m, "k", "from-1"); /* straight to node 1's own link now */
    assert_int_equal(vt_fcluster_count(c, 0, "GET"), 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moved_empty_host),
        cmocka_unit_test(test_moved_host_name),
        cmocka_unit_test(test_moved_host_too_long),
        cmocka_unit_test(test_moved_zone_too_long),
        cmocka_unit_test(test_moved_host_trailing_dot),
        cmocka_unit_test(test_map_host_too_long),
        cmocka_unit_test(test_moved_ipv6),
        cmocka_unit_test(test_moved_unknown_host),
        cmocka_unit_test(test_moved_port_zero),
        cmocka_unit_test(test_moved_unknown_host_forever),
        cmocka_unit_test(test_moved_to_itself),
        cmocka_unit_test(test_moved_to_itself_pipelined),
        cmocka_unit_test(test_moved_to_itself_pipeline_order),
        cmocka_unit_test(test_moved_to_itself_forever),
        cmocka_unit_test(test_ask_chain),
        cmocka_unit_test(test_xread_now_follows_ask),
        cmocka_unit_test(test_xread_now_clusterdown_not_resent),
        cmocka_unit_test(test_moved_loop),
        cmocka_unit_test(test_moved_loop_async),
        cmocka_unit_test(test_getkeys_crossslot),
        cmocka_unit_test(test_moved_to_listed_replica_one_slot),
        cmocka_unit_test(test_moved_pingpong_settles),
        cmocka_unit_test(test_moved_pingpong_forever),
        cmocka_unit_test(test_moved_pingpong_pipeline_order),
        cmocka_unit_test(test_moved_pingpong_pipeline_order_late),
        cmocka_unit_test(test_pingpong_expired_forgotten),
        cmocka_unit_test(test_pingpong_requeued_behind),
        cmocka_unit_test(test_pingpong_third_node),
        cmocka_unit_test(test_pingpong_new_behind_inflight),
        cmocka_unit_test(test_pingpong_new_behind_inflight_dropped),
        cmocka_unit_test(test_pingpong_timeout_words),
        cmocka_unit_test(test_pingpong_timeout_words_resent),
        cmocka_unit_test(test_fence_held_timeout_words),
        cmocka_unit_test(test_unowned_timeout_words),
        cmocka_unit_test(test_getkeys_timeout_words),
        cmocka_unit_test(test_parked_timeout_words),
        cmocka_unit_test(test_parked_unconnected_timeout_words),
        cmocka_unit_test(test_pingpong_new_behind_backlogged),
        cmocka_unit_test(test_pingpong_new_behind_backlogged_refused),
        cmocka_unit_test(test_pingpong_new_behind_backlogged_capped),
        cmocka_unit_test(test_fence_lifts_for_refused_block),
        cmocka_unit_test(test_pingpong_new_behind_tryagain),
        cmocka_unit_test(test_pingpong_new_behind_tryagain_dropped),
        cmocka_unit_test(test_moved_on_past_sixteen_links),
        cmocka_unit_test(test_replica_reads_keep_waiting_through_a_new_map),
        cmocka_unit_test(test_failfast_node_first_attempt_refused),
        cmocka_unit_test(test_moved_same_patch_once),
        cmocka_unit_test(test_unknown_host_by_port),
        cmocka_unit_test(test_unknown_host_ambiguous),
        cmocka_unit_test(test_tryagain_burst),
        cmocka_unit_test(test_tryagain_words),
        cmocka_unit_test(test_split_refused_part_words),
        cmocka_unit_test(test_clusterdown_burst),
        cmocka_unit_test(test_clusterdown_follows_new_owner),
        cmocka_unit_test(test_unblocked_by_failover),
        cmocka_unit_test(test_unblocked_resent_timeout_words),
        cmocka_unit_test(test_resent_block_cut_to_what_is_left),
        cmocka_unit_test(test_resent_xread_block_cut),
        cmocka_unit_test(test_queued_pops_keep_order_refresh),
        cmocka_unit_test(test_queued_pops_keep_order_moved),
        cmocka_unit_test(test_queued_read_from_now_leaves),
        cmocka_unit_test(test_unsent_pops_keep_order_off_a_dead_node),
        cmocka_unit_test(test_truncated_moved),
        cmocka_unit_test(test_slots_garbage),
        cmocka_unit_test(test_slots_holes_and_null_host),
        cmocka_unit_test(test_fanout_unknown_primary),
        cmocka_unit_test(test_scan_garbage_nodes_text),
        cmocka_unit_test(test_tx_getkeys_answer_checked),
        cmocka_unit_test(test_moved_outranks_lagging_refresh),
        cmocka_unit_test(test_moved_failback_within_trust),
        cmocka_unit_test(test_refresh_storm),
        cmocka_unit_test(test_refresh_storm_configured),
        cmocka_unit_test(test_seed_id_mismatch),
    };
    cmocka_set_test_filter(getenv("VT_ONLY"));
    vt_filter_tests();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
