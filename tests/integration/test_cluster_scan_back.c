/*
 * Cluster SCAN (scan.h, docs/cluster.md "Scanning a cluster") when a slot's keys leave the node
 * being scanned and come back during its scan, against a real cluster (fixture
 * "cluster-scan-back": three primaries, its own, since it moves a slot). 300 keys in one slot of
 * primary A, 300 more over every slot; a scan with COUNT 1 returns a few of the slot's keys (its
 * cursor is in the slot's dict: a Valkey 8 node scans slot by slot), then every key of the slot
 * moves to primary B; the scan goes on until it returns a key of A beyond the slot (its cursor
 * passed the slot, empty on A), then the keys come back to A; the iteration must return every
 * key of the slot:
 *
 * - the slot moved away and back (SETSLOT IMPORTING / MIGRATING, MIGRATE, SETSLOT NODE on every
 *   primary, both ways): A owns it, stable, at both ends of its scan;
 * - a cancelled migration: the slot MIGRATING to B and its keys moved there, then STABLE on A
 *   again and the keys moved back (ASKING MIGRATE from B) and STABLE on B: the slot never
 *   changed owner, and no config epoch changed. Closed again by the teardown, whatever the
 *   outcome.
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

#include "node.h"
#include "readkeys.h"
#include "route/slot.h"
#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-scan-back"
#define NP 3
#define NBACK 300   /* back:{tag}:<i>, in the slot that leaves and comes back */
#define NSPREAD 300 /* back:<i>, over every slot: where the cursor is */
#define MAX_STEPS 100000

/* A test's cluster: a connection to each primary and its id, a handle, and its keys. */
struct env {
    redisContext *c[NP];
    char id[NP][64];
    vmux *m;
    char tag[16];
    long long slot;     /* the tag's */
    int a, b;           /* its owner, and the primary its keys go to */
    long long *slot_of; /* back:<i>'s slot */
    int *owner;         /* back:<i>'s primary */
    bool seen[NBACK];   /* back:{tag}:<i> returned */
    bool passed;        /* a key of A beyond the slot returned after the keys left */
};

/* The slot the cancelled migration left open, for the teardown that closes it. */
static struct {
    bool open;
    int a, b;
    long long slot;
} opened;

/* The slot of key, as the library hashes it. */
static long long keyslot(const char *key)
{
    return (long long)vmux__slot_of(key, strlen(key));
}

/* The index of the primary that serves slot, as CLUSTER SLOTS says. */
static int owner_of(long long slot)
{
    int port = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, (int)slot);
    int p = 0;
    while (p < NP && vt_cluster_port(CLUSTER, p) != port)
        p++;
    if (p == NP)
        fail_msg("no primary serves slot %lld", slot);
    return p;
}

/* How many keys back:<i> primary p holds beyond slot. */
static int beyond(const struct env *e, int p, long long slot)
{
    int n = 0;
    for (int i = 0; i < NSPREAD; i++)
        n += e->owner[i] == p && e->slot_of[i] > slot;
    return n;
}

/* Writes the spread keys, then a tag whose owner holds at least 5 of them beyond its slot, and
 * its keys. */
static void write_keys(struct env *e)
{
    assert_int_equal(vmux_flushall_for_tests(e->m, NULL, VMUX_FLUSH_SYNC), 0);
    char key[64];
    for (int i = 0; i < NSPREAD; i++) {
        snprintf(key, sizeof key, "back:%d", i);
        assert_int_equal(vt_try_set(e->m, key, "v", 0), 0);
        e->slot_of[i] = keyslot(key);
        e->owner[i] = owner_of(e->slot_of[i]);
    }
    for (int t = 0; e->tag[0] == '\0' && t < 1000; t++) {
        char tag[16];
        snprintf(tag, sizeof tag, "{q%d}", t);
        long long slot = keyslot(tag);
        int p = owner_of(slot);
        if (beyond(e, p, slot) >= 5) {
            memcpy(e->tag, tag, sizeof tag);
            e->slot = slot;
            e->a = p;
            e->b = (p + 1) % NP;
        }
    }
    assert_true(e->tag[0] != '\0');
    for (int i = 0; i < NBACK; i++) {
        snprintf(key, sizeof key, "back:%s:%d", e->tag, i);
        assert_int_equal(vt_try_set(e->m, key, "v", 0), 0);
    }
}

static void env_open(struct env *e)
{
    memset(e, 0, sizeof *e);
    for (int p = 0; p < NP; p++) {
        e->c[p] = vt_node_connect(vt_cluster_port(CLUSTER, p));
        redisReply *r = vt_must(e->c[p], "CLUSTER MYID");
        snprintf(e->id[p], sizeof e->id[p], "%s", r->str);
        freeReplyObject(r);
    }
    char conf[64];
    snprintf(conf, sizeof conf, "127.0.0.1:%d", vt_cluster_port(CLUSTER, 0));
    e->m = vt_open_conf(conf);
    e->slot_of = calloc(NSPREAD, sizeof *e->slot_of);
    e->owner = calloc(NSPREAD, sizeof *e->owner);
    assert_true(e->slot_of != NULL && e->owner != NULL);
    write_keys(e);
}

static void env_close(struct env *e)
{
    free(e->slot_of);
    free(e->owner);
    vmux_close(e->m);
    for (int p = 0; p < NP; p++)
        redisFree(e->c[p]);
}

/* Notes a returned key: one of the slot's, or a spread key of A beyond the slot. */
static void mark(void *arg, const vmux_bytes *k)
{
    struct env *e = arg;
    size_t n = strlen(e->tag);
    assert_true(k->len > 5 && strncmp(k->ptr, "back:", 5) == 0);
    const char *rest = k->ptr + 5;
    if (strncmp(rest, e->tag, n) == 0) {
        int i = atoi(rest + n + 1);
        assert_true(i >= 0 && i < NBACK);
        e->seen[i] = true;
        return;
    }
    int i = atoi(rest);
    assert_true(i >= 0 && i < NSPREAD);
    if (e->owner[i] == e->a && e->slot_of[i] > e->slot)
        e->passed = true;
}

/* One step; marks its keys; returns what vmux_scan_next() returned (1 or 0). */
static int scan_step(vmux_scan *it, struct env *e)
{
    return vt_scan_step(it, mark, e);
}

static int seen_count(const struct env *e)
{
    int n = 0;
    for (int i = 0; i < NBACK; i++)
        n += e->seen[i];
    return n;
}

/* The slot moves from primary from to primary to, as a reshard does (every primary told). */
static void migrate_slot(struct env *e, int from, int to)
{
    redisContext **c = e->c;
    vt_must_ok(c[to], "CLUSTER SETSLOT %lld IMPORTING %s", e->slot, e->id[from]);
    vt_must_ok(c[from], "CLUSTER SETSLOT %lld MIGRATING %s", e->slot, e->id[to]);
    vt_migrate_keys(c[from], e->slot, vt_cluster_port(CLUSTER, to), NULL, NULL);
    vt_must_ok(c[to], "CLUSTER SETSLOT %lld NODE %s", e->slot, e->id[to]);
    vt_must_ok(c[from], "CLUSTER SETSLOT %lld NODE %s", e->slot, e->id[to]);
    for (int p = 0; p < NP; p++)
        if (p != from && p != to)
            vt_must_ok(c[p], "CLUSTER SETSLOT %lld NODE %s", e->slot, e->id[to]);
}

/* The slot opened from A to B (noted for the teardown first), and every key of it moved to B. */
static void keys_out(struct env *e)
{
    opened.a = e->a;
    opened.b = e->b;
    opened.slot = e->slot;
    opened.open = true;
    vt_must_ok(e->c[e->b], "CLUSTER SETSLOT %lld IMPORTING %s", e->slot, e->id[e->a]);
    vt_must_ok(e->c[e->a], "CLUSTER SETSLOT %lld MIGRATING %s", e->slot, e->id[e->b]);
    vt_migrate_keys(e->c[e->a], e->slot, vt_cluster_port(CLUSTER, e->b), NULL, NULL);
}

/* The migration cancelled: STABLE on A, the keys back from B, STABLE on B. */
static int close_open_slot(void **state)
{
    (void)state;
    if (!opened.open)
        return 0;
    int a = vt_cluster_port(CLUSTER, opened.a);
    int b = vt_cluster_port(CLUSTER, opened.b);
    free(vt_node_admin(a, false, "CLUSTER SETSLOT %lld STABLE", opened.slot));
    redisContext *c = vt_node_connect(b);
    vt_migrate_keys_asking(c, opened.slot, a); /* ASKING: B does not own the slot */
    redisFree(c);
    free(vt_node_admin(b, false, "CLUSTER SETSLOT %lld STABLE", opened.slot));
    opened.open = false;
    return 0;
}

/*
 * The scan returns some of the slot's keys, away() moves them off A, the scan goes on past the
 * slot on A, back() brings them back, and the scan ends: every key of the slot came.
 */
static void scan_away_and_back(void (*away)(struct env *), void (*back)(struct env *),
                               const char *what)
{
    struct env e;
    env_open(&e);
    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "back:*", .count = 1);
    assert_int_equal(vmux_scan_begin(e.m, &o, &it), 0);
    int rc = 1, steps = 0;
    while (rc == 1 && seen_count(&e) == 0 && steps++ < MAX_STEPS)
        rc = scan_step(it, &e);
    assert_int_equal(rc, 1);
    int before = seen_count(&e);
    assert_true(before < NBACK);

    away(&e);
    e.passed = false;
    while (rc == 1 && !e.passed && steps++ < MAX_STEPS)
        rc = scan_step(it, &e);
    if (!e.passed)
        fail_msg("the scan of primary %d never passed slot %lld (rc %d)", e.a, e.slot, rc);
    back(&e);
    while (rc == 1 && steps++ < MAX_STEPS)
        rc = scan_step(it, &e);
    vmux_scan_end(it);
    assert_int_equal(rc, 0);
    int missing = NBACK - seen_count(&e);
    if (missing > 0)
        fail_msg("%d of the %d keys of slot %lld (%s) were never returned, though the iteration "
                 "ended (%d returned before the keys left)",
                 missing, NBACK, e.slot, what, before);
    env_close(&e);
}

static void owner_away(struct env *e)
{
    migrate_slot(e, e->a, e->b);
}

static void owner_back(struct env *e)
{
    migrate_slot(e, e->b, e->a);
}

/* A slot's keys moved to another primary and back, the slot with them, while its owner's cursor
 * passed it: every key of it comes. 295 of 300 were missed: A owned the slot, stable, at both
 * ends of its scan, so the slot was marked done. */
static void test_scan_slot_moved_away_and_back(void **state)
{
    (void)state;
    scan_away_and_back(owner_away, owner_back, "moved to another primary and back");
}

static void cancelled_back(struct env *e)
{
    (void)close_open_slot(NULL);
    (void)e;
}

/* A slot's keys moved to another primary (MIGRATING) and back (the migration cancelled, the slot
 * never changed owner) while its owner's cursor passed it: every key of it comes. */
static void test_scan_cancelled_migration(void **state)
{
    (void)state;
    scan_away_and_back(keys_out, cancelled_back, "migration cancelled: keys moved away and back");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_slot_moved_away_and_back),
        cmocka_unit_test_teardown(test_scan_cancelled_migration, close_open_slot),
    };
    vt_filter_tests();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
