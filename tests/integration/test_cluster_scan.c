/*
 * SCAN over a whole cluster (scan.h, docs/cluster.md "Scanning a cluster") against a real
 * cluster (fixture "cluster-scan": three primaries, its own, since it moves slots) and a
 * standalone server ("plain"):
 *
 * - 3000 keys spread over the primaries: the iterator returns every one at least once;
 * - the step that chooses a node scans it too: the first step returns keys;
 * - the same while two slots move between primaries in the middle of the iteration (SETSLOT
 *   IMPORTING / MIGRATING, MIGRATE, SETSLOT NODE): one away from the node being scanned, one
 *   onto it after its scan: still every key;
 * - standalone: the plain SCAN of one server, every key;
 * - a slot left open (MIGRATING on its owner, IMPORTING on another primary, half its keys moved
 *   there, as an interrupted reshard leaves it): the iteration ends, every key returned; the
 *   slot is closed again (keys moved back, STABLE on both) after, whatever the outcome;
 * - two slots of one primary left open to two different primaries, some keys of each moved: the
 *   iteration ends, every key returned; both slots closed after, whatever the outcome;
 * - a step's deadline: with the owner of slot 0 paused for one and a half timeouts, a step
 *   returns VMUX_ERR_TIMEOUT (its round trips share the timeout; a second round trip to the
 *   node, given a whole timeout of its own, outlasted the pause);
 * - a step that ran out of time after choosing its node (the primary the scan reaches last
 *   stopped with SIGSTOP, resumed in the teardown) keeps the node: the next step scans it and
 *   asks no primary CLUSTER NODES;
 * - with that primary stopped, every step returns keys until the other primaries' keys have all
 *   come, and only then does a step time out;
 * - the nodes named otherwise in the handle's map than in CLUSTER NODES (which gives their IP
 *   addresses): with cluster-preferred-endpoint-type unknown-endpoint (CLUSTER SLOTS gives an
 *   empty host, "the host asked") and a seed named "localhost", the map names every node
 *   localhost; with hostname and every node announcing "localhost" (cluster-announce-hostname),
 *   so does CLUSTER SLOTS. Every key, either way. The nodes are set back (ip, no host name)
 *   after each, whatever its outcome.
 * - a one-node cluster of the test's own (cluster-enabled, every slot added, no other node ever
 *   met: its CLUSTER NODES line gives no IP for itself, ":port@cport", and CLUSTER SLOTS an
 *   empty host), as a single-endpoint service looks: every key; once the node is stopped, a
 *   step fails with its reason in the error buffer.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "node.h"
#include "readkeys.h"
#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-scan"
#define NKEYS 3000
#define NTAGGED 40
#define NP 3
#define EXTRA NP /* tag[EXTRA]: a second tag on one primary, for the tests that write it */

/* A handle on the seed named host, with the configuration keys extra ("" for none). */
static vmux *open_seed_with(const char *host, const char *extra)
{
    char conf[192];
    snprintf(conf, sizeof conf, "%s:%d%s%s", host, vt_cluster_port(CLUSTER, 0),
             extra[0] != '\0' ? "," : "", extra);
    return vt_open_conf(conf);
}

static vmux *open_seed_named(const char *host)
{
    return open_seed_with(host, "");
}

static vmux *open_seed(void)
{
    return open_seed_named("127.0.0.1");
}

/* Which primary (index) serves key, asked directly: the one that does not answer MOVED. */
static int owner_of(redisContext **c, const char *key)
{
    for (int p = 0; p < NP; p++) {
        redisReply *r = redisCommand(c[p], "GET %s", key);
        bool moved = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "MOVED", 5) == 0;
        freeReplyObject(r);
        if (!moved)
            return p;
    }
    fail_msg("no primary serves %s", key);
    return -1;
}

/*
 * The keys: scan:<i> (NKEYS), and scan:{tag<p>}:<i> (NTAGGED per primary p, in one slot; and per
 * tag[EXTRA] when a test writes it: "" when not).
 */
struct keyset {
    char tag[NP + 1][16];
    long long slot[NP + 1];
    bool seen[NKEYS];
    bool seen_tagged[NP + 1][NTAGGED];
};

static void set_key(vmux *m, const char *key)
{
    const char *argv[] = {"SET", key, "v"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, argv, NULL, &r), 0);
    vmux_reply_free(r);
}

static long long keyslot(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "CLUSTER KEYSLOT %s", key);
    long long slot = r->integer;
    freeReplyObject(r);
    return slot;
}

/* The NTAGGED keys of tag[t]. */
static void write_tagged(vmux *m, const struct keyset *ks, int t)
{
    char key[64];
    for (int i = 0; i < NTAGGED; i++) {
        snprintf(key, sizeof key, "scan:%s:%d", ks->tag[t], i);
        set_key(m, key);
    }
}

/* Writes every key; finds one tag whose slot each primary serves. */
static void write_keys(vmux *m, redisContext **c, struct keyset *ks)
{
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    char key[64];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof key, "scan:%d", i);
        set_key(m, key);
    }
    int found = 0;
    for (int t = 0; found < NP && t < 1000; t++) {
        char tag[16];
        snprintf(tag, sizeof tag, "{g%d}", t);
        int p = owner_of(c, tag);
        if (ks->tag[p][0] != '\0')
            continue;
        memcpy(ks->tag[p], tag, sizeof tag);
        ks->slot[p] = keyslot(c[0], tag);
        found++;
    }
    assert_int_equal(found, NP);
    for (int p = 0; p < NP; p++)
        write_tagged(m, ks, p);
}

/* Writes the keys of tag[EXTRA]: a tag of primary p in another slot than tag[p]'s. */
static void write_extra_tag(vmux *m, redisContext **c, struct keyset *ks, int p)
{
    for (int t = 0; ks->tag[EXTRA][0] == '\0' && t < 1000; t++) {
        char tag[16];
        snprintf(tag, sizeof tag, "{x%d}", t);
        long long slot = keyslot(c[0], tag);
        if (slot != ks->slot[p] && owner_of(c, tag) == p) {
            memcpy(ks->tag[EXTRA], tag, sizeof tag);
            ks->slot[EXTRA] = slot;
        }
    }
    assert_true(ks->tag[EXTRA][0] != '\0');
    write_tagged(m, ks, EXTRA);
}

static void mark(struct keyset *ks, const vmux_bytes *k)
{
    assert_true(k->len > 5 && strncmp(k->ptr, "scan:", 5) == 0);
    const char *rest = k->ptr + 5;
    if (rest[0] != '{') {
        int i = atoi(rest);
        assert_true(i >= 0 && i < NKEYS);
        ks->seen[i] = true;
        return;
    }
    for (int p = 0; p <= EXTRA; p++) {
        size_t n = strlen(ks->tag[p]);
        if (n > 0 && strncmp(rest, ks->tag[p], n) == 0) {
            int i = atoi(rest + n + 1);
            assert_true(i >= 0 && i < NTAGGED);
            ks->seen_tagged[p][i] = true;
            return;
        }
    }
    fail_msg("unexpected key %s", k->ptr);
}

static void assert_all_seen(const struct keyset *ks)
{
    for (int i = 0; i < NKEYS; i++)
        if (!ks->seen[i])
            fail_msg("scan:%d was never returned", i);
    for (int p = 0; p <= EXTRA; p++)
        for (int i = 0; i < NTAGGED && ks->tag[p][0] != '\0'; i++)
            if (!ks->seen_tagged[p][i])
                fail_msg("scan:%s:%d was never returned", ks->tag[p], i);
}

/* Counts and marks a returned key (vt_scan_step()'s mark). */
struct marking {
    struct keyset *ks;
    int *returned;
};

static void mark_one(void *arg, const vmux_bytes *k)
{
    struct marking *mk = arg;
    mark(mk->ks, k);
    (*mk->returned)++;
}

/* One step; marks its keys; returns what vmux_scan_next() returned. */
static int scan_step(vmux_scan *it, struct keyset *ks, int *returned)
{
    struct marking mk = {ks, returned};
    return vt_scan_step(it, mark_one, &mk);
}

static void connect_all(redisContext **c, char id[][64])
{
    for (int p = 0; p < NP; p++) {
        c[p] = vt_node_connect(vt_cluster_port(CLUSTER, p));
        redisReply *r = redisCommand(c[p], "CLUSTER MYID");
        snprintf(id[p], 64, "%s", r->str);
        freeReplyObject(r);
    }
}

/* A test's cluster: a connection to each primary and its id, a handle, and the keys written. */
struct env {
    redisContext *c[NP];
    char id[NP][64];
    vmux *m;
    struct keyset *ks;
};

/* Connects, opens a handle on the seed named host (with the configuration keys extra) and writes
 * the keys through it. */
static void env_open(struct env *e, const char *host, const char *extra)
{
    connect_all(e->c, e->id);
    e->m = open_seed_with(host, extra);
    e->ks = calloc(1, sizeof *e->ks);
    assert_non_null(e->ks);
    write_keys(e->m, e->c, e->ks);
}

static void env_close(struct env *e)
{
    free(e->ks);
    vmux_close(e->m);
    for (int p = 0; p < NP; p++)
        redisFree(e->c[p]);
}

/*
 * Writes the keys through a handle on the seed named host (with the configuration keys extra),
 * and scans every one of them.
 */
static void scan_every_key_via(const char *host, const char *extra)
{
    struct env e;
    env_open(&e, host, extra);
    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "scan:*", .count = 200);
    assert_int_equal(vmux_scan_begin(e.m, &o, &it), 0);
    int returned = 0, rc;
    while ((rc = scan_step(it, e.ks, &returned)) == 1)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(vmux_scan_next(it, NULL, NULL), 0); /* complete stays complete */
    vmux_scan_end(it);
    assert_all_seen(e.ks);
    assert_true(returned >= NKEYS + NP * NTAGGED);
    env_close(&e);
}

static void test_scan_every_key(void **state)
{
    (void)state;
    scan_every_key_via("127.0.0.1", "");
}

/*
 * The step that chooses a node scans it too: the first step of an iteration (COUNT 200, about a
 * thousand keys on each primary) returns keys. It returned 1 with an empty batch: the step ended
 * once the node was chosen, and its SCAN waited for the next step.
 */
static void test_scan_first_step_brings_keys(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "127.0.0.1", "");
    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "scan:*", .count = 200);
    assert_int_equal(vmux_scan_begin(e.m, &o, &it), 0);
    int returned = 0;
    assert_int_equal(scan_step(it, e.ks, &returned), 1);
    if (returned == 0)
        fail_msg("the first step returned no key");
    vmux_scan_end(it);
    env_close(&e);
}

/*
 * maxBulkLength bounds the replies to the user's commands (the SCAN steps' keys), not the
 * CLUSTER NODES the iteration asks for itself (a few hundred bytes): with 64 every step failed
 * VMUX_ERR_PROTOCOL before.
 */
static void test_scan_under_small_reply_limits(void **state)
{
    (void)state;
    scan_every_key_via("127.0.0.1", "maxBulkLength=64");
}

/* Moves slot from primary `from` to primary `to`, keys and all, and tells every primary. */
static void migrate_slot(redisContext **c, char id[][64], long long slot, int from, int to)
{
    vt_must_ok(c[to], "CLUSTER SETSLOT %lld IMPORTING %s", slot, id[from]);
    vt_must_ok(c[from], "CLUSTER SETSLOT %lld MIGRATING %s", slot, id[to]);
    vt_migrate_keys(c[from], slot, vt_cluster_port(CLUSTER, to), NULL, NULL);
    vt_must_ok(c[to], "CLUSTER SETSLOT %lld NODE %s", slot, id[to]);
    vt_must_ok(c[from], "CLUSTER SETSLOT %lld NODE %s", slot, id[to]);
    for (int p = 0; p < NP; p++)
        if (p != from && p != to)
            vt_must_ok(c[p], "CLUSTER SETSLOT %lld NODE %s", slot, id[to]);
}

/* owner[i]: the primary serving scan:<i>, asked directly (pipelined GETs: MOVED or not). */
static void regular_owners(redisContext **c, int *owner)
{
    for (int p = 0; p < NP; p++) {
        for (int i = 0; i < NKEYS; i++)
            redisAppendCommand(c[p], "GET scan:%d", i);
        for (int i = 0; i < NKEYS; i++) {
            redisReply *r = NULL;
            assert_int_equal(redisGetReply(c[p], (void **)&r), REDIS_OK);
            if (r->type != REDIS_REPLY_ERROR)
                owner[i] = p;
            freeReplyObject(r);
        }
    }
}

static bool seen_from(const struct keyset *ks, const int *owner, int p)
{
    for (int i = 0; i < NKEYS; i++)
        if (ks->seen[i] && owner[i] == p)
            return true;
    return false;
}

static void test_scan_across_migrations(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "127.0.0.1", "");
    redisContext **c = e.c;
    struct keyset *ks = e.ks;
    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "scan:*", .count = 20);
    assert_int_equal(vmux_scan_begin(e.m, &o, &it), 0);

    int *owner = calloc(NKEYS, sizeof *owner);
    regular_owners(c, owner);

    /* the first node scanned: the one whose keys the first batches bring */
    int returned = 0, rc = 1, first = -1;
    while (rc == 1 && returned == 0)
        rc = scan_step(it, ks, &returned);
    assert_int_equal(rc, 1);
    for (int p = 0; p < NP; p++)
        if (seen_from(ks, owner, p))
            first = p;
    assert_true(first >= 0);
    int other = (first + 1) % NP, third = (first + 2) % NP;

    /* in the middle of the first node's scan, one of its slots moves away */
    migrate_slot(c, e.id, ks->slot[first], first, other);
    /* in the middle of the third node's scan, one of its slots moves onto the first node,
     * scanned already: its keys not yet returned must be found there */
    while (rc == 1 && !seen_from(ks, owner, third))
        rc = scan_step(it, ks, &returned);
    assert_int_equal(rc, 1);
    migrate_slot(c, e.id, ks->slot[third], third, first);
    while (rc == 1)
        rc = scan_step(it, ks, &returned);
    free(owner);
    assert_int_equal(rc, 0);
    vmux_scan_end(it);
    assert_all_seen(ks);
    env_close(&e);
}

static void test_scan_standalone(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    bool seen[300] = {false};
    for (int i = 0; i < 300; i++) {
        char key[48];
        snprintf(key, sizeof key, "scanplain:%d", i);
        set_key(m, key);
    }
    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "scanplain:*", .count = 50);
    assert_int_equal(vmux_scan_begin(m, &o, &it), 0);
    vmux_bytes_array batch;
    int rc;
    while ((rc = vmux_scan_next(it, NULL, &batch)) == 1) {
        for (size_t i = 0; i < batch.count; i++)
            seen[atoi(batch.items[i].ptr + 10)] = true;
        vmux_bytes_array_free(&batch);
    }
    assert_int_equal(rc, 0);
    vmux_scan_end(it);
    for (int i = 0; i < 300; i++)
        assert_true(seen[i]);
    vmux_close(m);
}

/* ---- a slot left open (MIGRATING / IMPORTING: an interrupted reshard) ---- */

/* The slots the test left open, for the teardown that closes them, whatever its outcome. */
#define MAX_OPEN 2
static struct {
    bool open;
    int src, dst;
    long long slot;
} opened[MAX_OPEN];

/* Closes each slot opened: stable on its source, keys back, stable on its target. */
static int close_open_slots(void **state)
{
    (void)state;
    for (int k = 0; k < MAX_OPEN; k++) {
        if (!opened[k].open)
            continue;
        long long slot = opened[k].slot;
        int src = vt_cluster_port(CLUSTER, opened[k].src);
        int dst = vt_cluster_port(CLUSTER, opened[k].dst);
        free(vt_node_admin(src, false, "CLUSTER SETSLOT %lld STABLE", slot));
        redisContext *c = vt_node_connect(dst);
        vt_migrate_keys_asking(c, slot, src); /* ASKING: it does not own the slot */
        redisFree(c);
        free(vt_node_admin(dst, false, "CLUSTER SETSLOT %lld STABLE", slot));
        opened[k].open = false;
    }
    return 0;
}

/*
 * Leaves the slot of tag[t] (primary src's) MIGRATING to primary dst, IMPORTING there, with half
 * its keys moved: an interrupted reshard. Noted in opened[k] first, for the teardown.
 */
static void open_slot(redisContext **c, char id[][64], const struct keyset *ks, int t, int k,
                      int src, int dst)
{
    long long slot = ks->slot[t];
    opened[k].src = src;
    opened[k].dst = dst;
    opened[k].slot = slot;
    opened[k].open = true;
    vt_must_ok(c[dst], "CLUSTER SETSLOT %lld IMPORTING %s", slot, id[src]);
    vt_must_ok(c[src], "CLUSTER SETSLOT %lld MIGRATING %s", slot, id[dst]);
    for (int i = 0; i < NTAGGED / 2; i++)
        vt_must_ok(c[src], "MIGRATE 127.0.0.1 %d scan:%s:%d 0 5000", vt_cluster_port(CLUSTER, dst),
                   ks->tag[t], i);
}

/* Scans the whole cluster, every key marked in ks; fails when 1000 steps did not end it. */
static void scan_to_end(vmux *m, struct keyset *ks)
{
    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "scan:*", .count = 200);
    assert_int_equal(vmux_scan_begin(m, &o, &it), 0);
    int returned = 0, rc = 1, steps = 0;
    while (rc == 1 && steps < 1000) {
        rc = scan_step(it, ks, &returned);
        steps++;
    }
    vmux_scan_end(it);
    if (rc != 0)
        fail_msg("the iteration did not end: %d steps, %d keys returned", steps, returned);
}

/*
 * A slot left MIGRATING on its owner and IMPORTING on another primary, half its keys moved: the
 * iteration ends, with every key (those moved found on the importing node). It never ended: the
 * slot, stable on neither node, stayed the lowest to do, and its owner was scanned again and
 * again (1000 steps, every one bringing keys already returned).
 */
static void test_scan_open_slot(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "127.0.0.1", "");
    open_slot(e.c, e.id, e.ks, 0, 0, 0, 1);
    scan_to_end(e.m, e.ks);
    assert_all_seen(e.ks);
    env_close(&e);
}

/*
 * Two slots of primary 0 left open, one to primary 1 and one to primary 2, half the keys of each
 * moved: the iteration ends, with every key (each moved key found on its importing node). It
 * never ended: the source named the target of its lowest open slot, done or not, so once that
 * target was scanned and the slot done, the source was scanned again and again, and the other
 * target never.
 */
static void test_scan_open_slots_two_targets(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "127.0.0.1", "");
    write_extra_tag(e.m, e.c, e.ks, 0);
    open_slot(e.c, e.id, e.ks, 0, 0, 0, 1);
    open_slot(e.c, e.id, e.ks, EXTRA, 1, 0, 2);
    scan_to_end(e.m, e.ks);
    assert_all_seen(e.ks);
    env_close(&e);
}

/* ---- a step's deadline ---- */

/* The port of the node the test paused (0: none), for the teardown that waits for its end. */
static int paused_port;

static bool node_answers(void *arg)
{
    char *t = vt_node_admin(*(int *)arg, false, "PING");
    bool ok = t != NULL;
    free(t);
    return ok;
}

/* The pause ends by itself (CLIENT UNPAUSE too waits under CLIENT PAUSE ALL): waits for it. */
static int pause_over(void **state)
{
    (void)state;
    if (paused_port != 0 && !vt_wait_until(node_answers, &paused_port, 30000))
        return -1;
    paused_port = 0;
    return 0;
}

/*
 * One step with timeout_ms 2000 while the owner of slot 0 is paused (CLIENT PAUSE ALL) for
 * 3000 ms, longer than the timeout and shorter than two (a second of margin either side, for
 * slow sanitizer builds): VMUX_ERR_TIMEOUT, when the question to
 * every primary has spent the step's time, the pause still holding. Every round trip of a step
 * used to get the whole timeout: the step then asked the node again (as the owner of slot 0 in
 * another primary's view) for another 2000 ms, which the node answered once the pause ended,
 * and the step went on and returned keys (1), after twice the timeout.
 */
static void test_scan_step_deadline(void **state)
{
    (void)state;
    redisContext *c[NP];
    char id[NP][64];
    connect_all(c, id);
    redisReply *r = redisCommand(c[0], "CLUSTER KEYSLOT {06S}");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    int p = owner_of(c, "{06S}"), port = vt_cluster_port(CLUSTER, p);
    vmux *m = open_seed();
    vmux_scan *it;
    assert_int_equal(vmux_scan_begin(m, NULL, &it), 0);
    assert_int_equal(vmux_scan_next(it, NULL, NULL), 1); /* the links are open */
    vmux_scan_end(it);
    assert_int_equal(vmux_scan_begin(m, NULL, &it), 0);

    paused_port = port;
    vt_must_ok(c[p], "CLIENT PAUSE 3000 ALL");
    char why[256] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 2000, .errbuf = why, .errlen = sizeof why);
    int rc = vmux_scan_next(it, &o, NULL);
    if (rc != VMUX_ERR_TIMEOUT)
        fail_msg("vmux_scan_next: %d (%s), not VMUX_ERR_TIMEOUT", rc, rc < 0 ? why : "a batch");
    assert_non_null(strstr(why, "cluster SCAN: "));
    assert_int_equal(pause_over(NULL), 0);
    vmux_scan_end(it);
    vmux_close(m);
    for (int i = 0; i < NP; i++)
        redisFree(c[i]);
}

/* ---- one primary stopped (SIGSTOP) ---- */

/* The process the test stopped (0: none), for the teardown that resumes it, whatever happens. */
static long stopped_pid;

/* Whether no node's CLUSTER NODES flags a node failed (or suspected): the cluster healed. */
static bool none_failed(void *arg)
{
    (void)arg;
    for (int p = 0; p < NP; p++) {
        char *t = vt_node_admin(vt_cluster_port(CLUSTER, p), false, "CLUSTER NODES");
        bool ok = t != NULL && strstr(t, "fail") == NULL;
        free(t);
        if (!ok)
            return false;
    }
    return true;
}

/* Resumes the stopped primary and waits until no node flags it failed any more. */
static int resume_stopped(void **state)
{
    (void)state;
    if (stopped_pid == 0)
        return 0;
    int rc = kill((pid_t)stopped_pid, SIGCONT);
    stopped_pid = 0;
    return rc == 0 && vt_poll_until(none_failed, NULL, 60000, 50) ? 0 : -1;
}

/* The lowest slot primary p serves, as the CLUSTER SLOTS of primary 0 says. */
static long long lowest_slot_of(int p)
{
    redisReply *r = vt_node_command(vt_cluster_port(CLUSTER, 0), false, "CLUSTER SLOTS");
    assert_non_null(r);
    long long low = 16384;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *range = r->element[i];
        if (range->element[2]->element[1]->integer == vt_cluster_port(CLUSTER, p) &&
            range->element[0]->integer < low)
            low = range->element[0]->integer;
    }
    freeReplyObject(r);
    return low;
}

/* The primary the scan reaches last: the one whose lowest slot is the highest. */
static int last_reached(long long *low)
{
    int victim = 0;
    *low = -1;
    for (int p = 0; p < NP; p++) {
        long long l = lowest_slot_of(p);
        if (l > *low) {
            *low = l;
            victim = p;
        }
    }
    return victim;
}

/* Stops primary p (SIGSTOP): it keeps its connections and answers nothing. */
static void stop_primary(int p)
{
    long pid = vt_node_pid(vt_cluster_port(CLUSTER, p));
    stopped_pid = pid;
    assert_int_equal(kill((pid_t)pid, SIGSTOP), 0);
}

/* How many CLUSTER NODES the node at port has answered (INFO commandstats). */
static long cluster_nodes_calls(int port)
{
    char *t = vt_node_admin(port, false, "INFO commandstats");
    assert_non_null(t);
    const char *at = strstr(t, "cmdstat_cluster|nodes:calls=");
    long n = at != NULL ? atol(at + strlen("cmdstat_cluster|nodes:calls=")) : 0;
    free(t);
    return n;
}

/* A scan step given timeout_ms: what vmux_scan_next() returned, its keys marked in ks. */
static int timed_step(vmux_scan *it, struct keyset *ks, int timeout_ms, char *why, size_t len)
{
    vmux_bytes_array batch;
    why[0] = '\0';
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = timeout_ms, .errbuf = why, .errlen = len);
    uint64_t t0 = vt_now_ms();
    int rc = vmux_scan_next(it, &o, &batch);
    printf("step (%d ms): %s in %llu ms\n", timeout_ms, rc == 1 ? "keys" : vmux_err_name(rc),
           (unsigned long long)(vt_now_ms() - t0));
    for (size_t i = 0; rc == 1 && i < batch.count; i++)
        mark(ks, &batch.items[i]);
    if (rc == 1)
        vmux_bytes_array_free(&batch);
    return rc;
}

/* A scan of every key (COUNT 50) on e's handle, its links to every primary open already. */
static vmux_scan *scan_warm(struct env *e)
{
    vmux_scan *it;
    assert_int_equal(vmux_scan_begin(e->m, NULL, &it), 0);
    assert_int_equal(vmux_scan_next(it, NULL, NULL), 1); /* the links are open */
    vmux_scan_end(it);
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "scan:*", .count = 50);
    assert_int_equal(vmux_scan_begin(e->m, &o, &it), 0);
    return it;
}

/*
 * A step that ran out of time after choosing its node, before its SCAN, keeps the node: with the
 * primary the scan reaches last stopped, a step (1000 ms) either returns keys or times out; the
 * next one returns keys, and asks no primary CLUSTER NODES (the owner of slot 0, counted). The
 * pick used to go with the failed step: the next step asked every primary again, waited for the
 * stopped one the whole step, and timed out too (every step did). Since the question to every
 * primary is given half the step (test_scan_one_primary_stopped), the first step returns keys
 * here, and this test no longer makes a step run out of time after its choice: it checks that
 * the steps after a choice ask nothing again.
 */
static void test_scan_keeps_pick_out_of_time(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "127.0.0.1", "");
    vmux_scan *it = scan_warm(&e);
    long long low;
    int victim = last_reached(&low), first = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, 0);
    assert_true(first > 0 && first != vt_cluster_port(CLUSTER, victim));
    stop_primary(victim);
    char why[256];
    int rc = timed_step(it, e.ks, 1000, why, sizeof why);
    if (rc != 1 && rc != VMUX_ERR_TIMEOUT)
        fail_msg("first step: %s (%s)", vmux_err_name(rc), why);
    long asked = cluster_nodes_calls(first);
    rc = timed_step(it, e.ks, 1000, why, sizeof why);
    if (rc != 1)
        fail_msg("second step: %s (%s)", vmux_err_name(rc), why);
    assert_int_equal(cluster_nodes_calls(first), asked);
    vmux_scan_end(it);
    env_close(&e);
}

/* Whether every key that no node but victim serves was returned (owner: scan:<i>'s primary). */
static bool all_seen_but(const struct keyset *ks, const int *owner, int victim)
{
    for (int i = 0; i < NKEYS; i++)
        if (owner[i] != victim && !ks->seen[i])
            return false;
    for (int p = 0; p < NP; p++)
        for (int i = 0; i < NTAGGED && p != victim; i++)
            if (!ks->seen_tagged[p][i])
                return false;
    return true;
}

/*
 * With the primary the scan reaches last stopped (SIGSTOP), every step (1000 ms) returns keys
 * until the keys of the other primaries have all come; then a step times out, the stopped
 * primary's slots being next. The question to every primary gives each half of what is left of
 * the step. It waited for the stopped one the whole step, and every step timed out (the first
 * after 1000 ms, no key returned).
 */
static void test_scan_one_primary_stopped(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "127.0.0.1", "");
    int *owner = calloc(NKEYS, sizeof *owner);
    regular_owners(e.c, owner);
    vmux_scan *it = scan_warm(&e);
    long long low;
    int victim = last_reached(&low), rc = 1, steps = 0;
    stop_primary(victim);
    char why[256];
    while (rc == 1 && steps++ < 1000)
        rc = timed_step(it, e.ks, 1000, why, sizeof why);
    if (rc != VMUX_ERR_TIMEOUT)
        fail_msg("step %d: %s (%s), not VMUX_ERR_TIMEOUT", steps, vmux_err_name(rc), why);
    if (!all_seen_but(e.ks, owner, victim))
        fail_msg("step %d timed out before every key of the other primaries came", steps);
    free(owner);
    vmux_scan_end(it);
    env_close(&e);
}

/* ---- nodes the map names otherwise than CLUSTER NODES does ---- */

/* Sets a configuration parameter on every node. */
static void config_all(const char *param, const char *value)
{
    for (int p = 0; p < NP; p++) {
        int port = vt_cluster_port(CLUSTER, p);
        char *t = vt_node_admin(port, false, "CONFIG SET %s %s", param, value);
        if (t == NULL || strcmp(t, "OK") != 0)
            fail_msg("CONFIG SET %s %s on %d: %s", param, value, port, t ? t : "(no answer)");
        free(t);
    }
}

/* Whether every node's CLUSTER SLOTS names every primary "localhost" (as host or metadata). */
static bool slots_name_localhost(void *arg)
{
    (void)arg;
    for (int p = 0; p < NP; p++) {
        char *t = vt_node_admin(vt_cluster_port(CLUSTER, p), false, "CLUSTER SLOTS");
        bool all = t != NULL && vt_lines_equal(t, "localhost") >= NP;
        free(t);
        if (!all)
            return false;
    }
    return true;
}

/* Every node back to the fixture's ways: IP addresses preferred, no host name announced. */
static int endpoints_reset(void **state)
{
    (void)state;
    for (int p = 0; p < NP; p++) {
        int port = vt_cluster_port(CLUSTER, p);
        free(vt_node_admin(port, false, "CONFIG SET cluster-preferred-endpoint-type ip"));
        free(vt_node_admin(port, false, "CONFIG SET cluster-announce-hostname \"\""));
    }
    return 0;
}

/* CLUSTER SLOTS gives "" (the host asked): the map names every node as the seed, localhost. */
static void test_scan_unknown_endpoint_seed_by_name(void **state)
{
    (void)state;
    config_all("cluster-preferred-endpoint-type", "unknown-endpoint");
    scan_every_key_via("localhost", "");
}

/* CLUSTER SLOTS gives the host names the nodes announce ("localhost"). */
static void test_scan_hostnames(void **state)
{
    (void)state;
    config_all("cluster-announce-hostname", "localhost");
    config_all("cluster-preferred-endpoint-type", "hostname");
    assert_true(vt_poll_until(slots_name_localhost, NULL, 60000, 50));
    scan_every_key_via("127.0.0.1", "");
}

/* ---- a one-node cluster (servers.h): the node knows no address for itself ---- */

static bool one_node_ok(void *arg)
{
    char *t = vt_node_admin(*(int *)arg, false, "CLUSTER INFO");
    bool ok = t != NULL && strstr(t, "cluster_state:ok") != NULL;
    free(t);
    return ok;
}

/* Scans pattern on m to the end; every scanone:<i> (i < n) must come. */
static void scan_all_one_node(vmux *m, int n)
{
    bool *seen = calloc((size_t)n, sizeof *seen);
    vmux_scan *it;
    vmux_scan_opts so = VMUX_INIT(vmux_scan_opts, .match = "scanone:*", .count = 50);
    assert_int_equal(vmux_scan_begin(m, &so, &it), 0);
    vmux_bytes_array batch;
    int rc;
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    while ((rc = vmux_scan_next(it, &o, &batch)) == 1) {
        for (size_t i = 0; i < batch.count; i++) {
            int k = atoi(batch.items[i].ptr + 8);
            assert_true(k >= 0 && k < n);
            seen[k] = true;
        }
        vmux_bytes_array_free(&batch);
    }
    if (rc != 0)
        fail_msg("vmux_scan_next: %s (%s)", vmux_err_name(rc), why);
    vmux_scan_end(it);
    for (int i = 0; i < n; i++)
        if (!seen[i])
            fail_msg("scanone:%d was never returned", i);
    free(seen);
}

static void test_scan_one_node_cluster(void **state)
{
    (void)state;
    vt_server s = {0};
    static const char *const args[] = {"--cluster-enabled", "yes", NULL};
    assert_int_equal(vt_server_start(&s, 0, args), 0);
    char *t = vt_node_admin(s.port, false, "CLUSTER ADDSLOTSRANGE 0 16383");
    assert_non_null(t);
    assert_string_equal(t, "OK");
    free(t);
    assert_true(vt_wait_until(one_node_ok, &s.port, 30000));
    t = vt_node_admin(s.port, false, "CLUSTER NODES");
    assert_non_null(t);
    char noip[32];
    snprintf(noip, sizeof noip, " :%d@", s.port); /* no address for itself */
    assert_non_null(strstr(t, noip));
    free(t);

    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000", s.port);
    vmux *m = vt_open_conf(conf);
    for (int i = 0; i < 300; i++) {
        char key[32];
        snprintf(key, sizeof key, "scanone:%d", i);
        set_key(m, key);
    }
    scan_all_one_node(m, 300);

    /* the node gone: a step fails, and says why */
    vt_server_stop(&s);
    vmux_scan *it;
    assert_int_equal(vmux_scan_begin(m, NULL, &it), 0);
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int rc = vmux_scan_next(it, &o, NULL);
    assert_true(rc < 0);
    if (why[0] == '\0')
        fail_msg("vmux_scan_next: %s with an empty error buffer", vmux_err_name(rc));
    vmux_scan_end(it);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_every_key),
        cmocka_unit_test(test_scan_under_small_reply_limits),
        cmocka_unit_test(test_scan_first_step_brings_keys),
        cmocka_unit_test(test_scan_across_migrations),
        cmocka_unit_test(test_scan_standalone),
        cmocka_unit_test_teardown(test_scan_open_slot, close_open_slots),
        cmocka_unit_test_teardown(test_scan_open_slots_two_targets, close_open_slots),
        cmocka_unit_test_teardown(test_scan_step_deadline, pause_over),
        cmocka_unit_test_teardown(test_scan_keeps_pick_out_of_time, resume_stopped),
        cmocka_unit_test_teardown(test_scan_one_primary_stopped, resume_stopped),
        cmocka_unit_test_teardown(test_scan_unknown_endpoint_seed_by_name, endpoints_reset),
        cmocka_unit_test_teardown(test_scan_hostnames, endpoints_reset),
        cmocka_unit_test(test_scan_one_node_cluster),
    };
    if (getenv("VT_ONLY") != NULL) /* to run one test: VT_ONLY=test_scan_every_key */
        cmocka_set_test_filter(getenv("VT_ONLY"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
