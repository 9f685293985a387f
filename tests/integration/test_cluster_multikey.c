/*
 * Typed multi-key commands on a real cluster (fixture "cluster": three primaries with a replica
 * each), through a handle opened on one node:
 *
 * - MSET of 200 keys over every shard (60 hash tags, so several keys share each slot), then MGET
 *   of them in a shuffled order, with repeats and missing keys mixed in: each value (or NULL) at
 *   its place; INFO commandstats on every node shows one MSET and one MGET per slot its primary
 *   serves, not one per key, and no MGET on the replicas;
 * - DEL, UNLINK, EXISTS and TOUCH across slots, repeats included: the counts the server gives
 *   for one command (EXISTS and TOUCH count a repeated key twice, DEL and UNLINK once); the async
 *   forms of DEL and EXISTS give the same sums;
 * - keys in one slot ({hash tag}) still go as exactly one command;
 * - MSETNX across slots, vmux_call() and vmux_command() with MGET across slots: VMUX_ERR_CROSSSLOT,
 *   nothing written;
 * - a deadline that expires on one part (its primary paused with CLIENT PAUSE ... WRITE): the call
 *   fails with VMUX_ERR_TIMEOUT, the error buffer names the part's slot and node (written, not
 *   answered), the other parts ran;
 * - an async DEL across slots with one primary stopped (SIGSTOP): its callback's
 *   vmux_last_error() names the stopped node's failure and the part's slot;
 * - each form called right after vmux_open() with abortConnect=false (the seed behind a fault
 *   proxy), before the handle knows it is on a cluster: split all the same, under cluster=auto
 *   (they wait for the answer) and cluster=yes (split at once); vmux_call() refused naming the
 *   keys and their slots; an async count that times out waiting says so, and one that waits is
 *   waited for by vmux_drain(); on a standalone server (a fake) they wait and go whole; under
 *   cluster=yes a call whose deadline passes before the answer says none of its parts was sent;
 *   an async count over maxPending before the answer is refused at the call, as after it.
 *
 * It counts the commands each node ran and pauses a node, so it runs alone (RUN_SERIAL).
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
#include <sys/types.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "fakeserver.h"
#include "faultproxy.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster"
#define NKEYS 200
#define NTAGS 60 /* the spread keys share 60 hash tags */
#define NMISSING 20
#define NSLOTS 16384
#define MAXNODES 16

/* The cluster as the test sees it behind the library's back. */
static int nnodes;
static int ports[MAXNODES];
static int owner[NSLOTS]; /* the port of the primary serving each slot */

static vmux *open_seed(void)
{
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d", vt_cluster_port(CLUSTER, 0));
    return vt_open_conf(conf);
}

/* Reads CLUSTER SLOTS from node 0 into owner[]. */
static void load_owners(void)
{
    nnodes = vt_cluster_size(CLUSTER);
    assert_true(nnodes <= MAXNODES);
    for (int i = 0; i < nnodes; i++)
        ports[i] = vt_cluster_port(CLUSTER, i);
    memset(owner, 0, sizeof owner);
    redisContext *c = vt_node_connect(ports[0]);
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *range = r->element[i];
        long long from = range->element[0]->integer, to = range->element[1]->integer;
        int port = (int)range->element[2]->element[1]->integer;
        for (long long s = from; s <= to; s++)
            owner[s] = port;
    }
    freeReplyObject(r);
    redisFree(c);
}

/* The server's slot of each key (CLUSTER KEYSLOT, pipelined). */
static void slots_of(char **keys, int n, int *slots)
{
    redisContext *c = vt_node_connect(ports[0]);
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, "CLUSTER KEYSLOT %s", keys[i]);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        slots[i] = (int)r->integer;
        freeReplyObject(r);
    }
    redisFree(c);
}

/* How many times node port ran cmd (lower case), from INFO commandstats. */
static long long calls_of(int port, const char *cmd)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = redisCommand(c, "INFO commandstats");
    assert_non_null(r);
    assert_non_null(r->str);
    char needle[64];
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(r->str, needle);
    long long calls = at != NULL ? atoll(at + strlen(needle)) : 0;
    freeReplyObject(r);
    redisFree(c);
    return calls;
}

static void calls_all(const char *cmd, long long *out)
{
    for (int i = 0; i < nnodes; i++)
        out[i] = calls_of(ports[i], cmd);
}

/* For each node, how many distinct slots of slots[0..n) it serves as primary. */
static void slots_per_node(const int *slots, int n, long long *out)
{
    static bool seen[NSLOTS];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < nnodes; i++)
        out[i] = 0;
    for (int k = 0; k < n; k++) {
        if (seen[slots[k]])
            continue;
        seen[slots[k]] = true;
        for (int i = 0; i < nnodes; i++)
            out[i] += owner[slots[k]] == ports[i];
    }
}

/* Whether node i serves slots as a primary. */
static bool is_primary(int i)
{
    for (int s = 0; s < NSLOTS; s++)
        if (owner[s] == ports[i])
            return true;
    return false;
}

/*
 * Asserts that each node ran cmd exactly expected[i] times since before[i]; for a write, only
 * the primaries (a replica runs what its primary replicates to it, when it comes).
 */
static void assert_calls(const char *cmd, const long long *before, const long long *expected)
{
    bool write = strcmp(cmd, "mget") != 0;
    long long after[MAXNODES];
    calls_all(cmd, after);
    for (int i = 0; i < nnodes; i++) {
        if (write && !is_primary(i))
            continue;
        if (after[i] - before[i] != expected[i])
            fail_msg("node %d (port %d): %lld %s commands, expected %lld", i, ports[i],
                     after[i] - before[i], cmd, expected[i]);
    }
}

static char *fmt(const char *format, int i)
{
    char buf[64];
    snprintf(buf, sizeof buf, format, i);
    return strdup(buf);
}

static char *fmt2(const char *format, int i, int j)
{
    char buf[64];
    snprintf(buf, sizeof buf, format, i, j);
    return strdup(buf);
}

static vmux_str str_of(const char *s)
{
    return VMUX_STRN(s, strlen(s));
}

/* A fixed shuffle (the test must be repeatable): Fisher-Yates with a small LCG. */
static void shuffle(int *a, int n)
{
    uint32_t x = 12345;
    for (int i = n - 1; i > 0; i--) {
        x = x * 1103515245u + 12345u;
        int j = (int)((x >> 8) % (uint32_t)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void free_all(char **p, int n)
{
    for (int i = 0; i < n; i++)
        free(p[i]);
}

#define MAXSET 30 /* the most keys a struct keyset holds */

/* n keys named after one format, for the tests that need a few: keys[i] is the format with i,
 * k[i] its string, slots[i] its slot (the server's). Made by make_keys(), freed by keys_free(). */
struct keyset {
    int n;
    char *keys[MAXSET];
    vmux_str k[MAXSET];
    int slots[MAXSET];
};

static void make_keys(const char *format, int n, struct keyset *ks)
{
    assert_true(n <= MAXSET);
    ks->n = n;
    for (int i = 0; i < n; i++) {
        ks->keys[i] = fmt(format, i);
        ks->k[i] = str_of(ks->keys[i]);
    }
    slots_of(ks->keys, n, ks->slots);
}

static void keys_free(struct keyset *ks)
{
    free_all(ks->keys, ks->n);
}

static void test_mset_mget_spread(void **state)
{
    (void)state;
    load_owners();
    vmux *m = open_seed();
    char *keys[NKEYS], *values[NKEYS];
    vmux_str k[NKEYS], v[NKEYS];
    int slots[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        keys[i] = fmt2("{mk:%d}:%d", i % NTAGS, i); /* NTAGS slots: several keys in each */
        values[i] = fmt("value-%d", i);
        k[i] = str_of(keys[i]);
        v[i] = str_of(values[i]);
    }
    slots_of(keys, NKEYS, slots);
    long long per_node[MAXNODES], before[MAXNODES];
    slots_per_node(slots, NKEYS, per_node);
    long long total = 0;
    for (int i = 0; i < nnodes; i++) {
        if (is_primary(i))
            assert_true(per_node[i] > 0); /* every shard holds some of the keys */
        total += per_node[i];
    }
    assert_true(total > vt_cluster_primaries(CLUSTER) && total < NKEYS); /* split, not per key */

    calls_all("mset", before);
    assert_int_equal(vmux_mset(m, NULL, k, v, NKEYS), 0);
    assert_calls("mset", before, per_node);

    /* Read back in a shuffled order, with every tenth key asked twice and missing keys mixed
     * in: positions 0..NKEYS-1 of `pick` are keys, the rest repeats and missing ones. */
    enum { NASK = NKEYS + NKEYS / 10 + NMISSING };
    int pick[NASK];
    char *missing[NMISSING];
    for (int i = 0; i < NASK; i++)
        pick[i] = i < NKEYS ? i : i < NKEYS + NKEYS / 10 ? (i - NKEYS) * 10 : -1 - (i % NMISSING);
    shuffle(pick, NASK);
    vmux_str ask[NASK];
    char *ask_names[NASK];
    int ask_slots[NASK];
    for (int i = 0; i < NMISSING; i++)
        missing[i] = fmt("mk:missing:%d", i);
    for (int i = 0; i < NASK; i++) {
        ask_names[i] = pick[i] >= 0 ? keys[pick[i]] : missing[-1 - pick[i]];
        ask[i] = str_of(ask_names[i]);
    }
    slots_of(ask_names, NASK, ask_slots);
    slots_per_node(ask_slots, NASK, per_node);

    calls_all("mget", before);
    vmux_bytes_array got;
    assert_int_equal(vmux_mget(m, NULL, ask, NASK, &got), 0);
    assert_calls("mget", before, per_node);
    assert_int_equal(got.count, NASK);
    for (int i = 0; i < NASK; i++) {
        if (pick[i] < 0) {
            assert_null(got.items[i].ptr);
            continue;
        }
        assert_non_null(got.items[i].ptr);
        assert_int_equal(got.items[i].len, strlen(values[pick[i]]));
        assert_memory_equal(got.items[i].ptr, values[pick[i]], got.items[i].len);
    }
    vmux_bytes_array_free(&got);

    int64_t deleted = 0;
    assert_int_equal(vmux_del(m, NULL, k, NKEYS, &deleted), 0);
    assert_int_equal(deleted, NKEYS);
    free_all(keys, NKEYS);
    free_all(values, NKEYS);
    free_all(missing, NMISSING);
    vmux_close(m);
}

/* Writes keys[0..n) (value "x") through a direct connection to each key's primary. */
static void write_direct(char **keys, int n)
{
    int slots[64];
    assert_true(n <= 64);
    slots_of(keys, n, slots);
    for (int i = 0; i < n; i++) {
        redisContext *c = vt_node_connect(owner[slots[i]]);
        redisReply *r = redisCommand(c, "SET %s x", keys[i]);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
        redisFree(c);
    }
}

/* An async count's outcome. */
struct count_box {
    atomic_bool done;
    int status;
    int64_t count;
    char why[512]; /* vmux_last_error() in the callback, when status is not 0 */
};

static void count_cb(int status, vmux_reply *reply, void *userdata)
{
    struct count_box *b = userdata;
    b->status = status;
    if (status != 0)
        snprintf(b->why, sizeof b->why, "%s", vmux_last_error());
    if (status == 0)
        b->status = vmux_reply_to_int(reply, &b->count);
    vmux_reply_free(reply);
    atomic_store(&b->done, true);
}

static bool box_done(void *arg)
{
    return atomic_load(&((struct count_box *)arg)->done);
}

/* Runs an async count form and waits for its callback. */
static int64_t count_async(int (*fn)(vmux *, const vmux_callopts *, const vmux_str *, size_t,
                                     vmux_reply_cb, void *),
                           vmux *m, const vmux_str *k, size_t n)
{
    struct count_box b = {.status = -1};
    assert_int_equal(fn(m, NULL, k, n, count_cb, &b), 0);
    assert_true(vt_wait_until(box_done, &b, 10000));
    assert_int_equal(b.status, 0);
    return b.count;
}

/* From a callback (on the I/O thread): the split parts are routed at once, in that loop turn. */
struct nested {
    vmux *m;
    const vmux_str *keys;
    size_t n;
    struct count_box *box;
    atomic_int submitted; /* what vmux_exists_async() returned there, +1 (0: not yet) */
};

static void nested_cb(int status, vmux_reply *reply, void *userdata)
{
    struct nested *t = userdata;
    vmux_reply_free(reply);
    int rc = status != 0 ? status : vmux_exists_async(t->m, NULL, t->keys, t->n, count_cb, t->box);
    atomic_store(&t->submitted, rc + 1);
}

static void test_counts_across_slots(void **state)
{
    (void)state;
    load_owners();
    vmux *m = open_seed();
    /* 24 keys, 16 of them present; the list names six present ones twice and two missing ones
     * twice: 16 + 6 present entries, 8 + 2 missing ones. */
    enum { NPRESENT = 16, NABSENT = 8, NLIST = NPRESENT + NABSENT + 6 + 2 };
    char *present[NPRESENT], *absent[NABSENT];
    for (int i = 0; i < NPRESENT; i++)
        present[i] = fmt("mk:count:%d", i);
    for (int i = 0; i < NABSENT; i++)
        absent[i] = fmt("mk:absent:%d", i);
    write_direct(present, NPRESENT);
    vmux_str list[NLIST];
    int n = 0;
    for (int i = 0; i < NPRESENT; i++) {
        list[n++] = str_of(present[i]);
        if (i < NABSENT)
            list[n++] = str_of(absent[i]);
        if (i % 3 == 0 && i < 18)
            list[n++] = str_of(present[i]); /* i = 0, 3, ... 15: six repeats */
    }
    list[n++] = str_of(absent[1]);
    list[n++] = str_of(absent[5]);
    assert_int_equal(n, NLIST);

    int64_t count = -1;
    assert_int_equal(vmux_exists(m, NULL, list, NLIST, &count), 0);
    assert_int_equal(count, NPRESENT + 6); /* a repeated key counts twice */
    assert_int_equal(count_async(vmux_exists_async, m, list, NLIST), NPRESENT + 6);
    struct count_box box = {.status = -1};
    struct nested t = {m, list, NLIST, &box, 0};
    const char *ping[] = {"PING"};
    assert_int_equal(vmux_call_async(m, NULL, 1, ping, NULL, nested_cb, &t), 0);
    assert_true(vt_wait_until(box_done, &box, 10000));
    assert_int_equal(atomic_load(&t.submitted), 1);
    assert_int_equal(box.status, 0);
    assert_int_equal(box.count, NPRESENT + 6);
    assert_int_equal(vmux_touch(m, NULL, list, NLIST, &count), 0);
    assert_int_equal(count, NPRESENT + 6);
    assert_int_equal(vmux_unlink(m, NULL, list, NLIST, &count), 0);
    assert_int_equal(count, NPRESENT); /* deleted once each */
    assert_int_equal(vmux_exists(m, NULL, list, NLIST, &count), 0);
    assert_int_equal(count, 0);

    write_direct(present, NPRESENT);
    assert_int_equal(vmux_del(m, NULL, list, NLIST, &count), 0);
    assert_int_equal(count, NPRESENT);
    write_direct(present, NPRESENT);
    assert_int_equal(count_async(vmux_del_async, m, list, NLIST), NPRESENT);
    assert_int_equal(count_async(vmux_exists_async, m, list, NLIST), 0);
    free_all(present, NPRESENT);
    free_all(absent, NABSENT);
    vmux_close(m);
}

static void test_one_slot_one_command(void **state)
{
    (void)state;
    load_owners();
    vmux *m = open_seed();
    enum { N = 10 };
    struct keyset ks;
    make_keys("{mk:tag}:%d", N, &ks);
    long long before[MAXNODES], one[MAXNODES];
    slots_per_node(ks.slots, N, one); /* 1 on the tag's primary, 0 elsewhere */
    calls_all("mset", before);
    assert_int_equal(vmux_mset(m, NULL, ks.k, ks.k, N), 0);
    assert_calls("mset", before, one);
    calls_all("mget", before);
    vmux_bytes_array got;
    assert_int_equal(vmux_mget(m, NULL, ks.k, N, &got), 0);
    assert_calls("mget", before, one);
    for (int i = 0; i < N; i++)
        assert_memory_equal(got.items[i].ptr, ks.keys[i], strlen(ks.keys[i]));
    vmux_bytes_array_free(&got);
    calls_all("del", before);
    int64_t deleted = 0;
    assert_int_equal(vmux_del(m, NULL, ks.k, N, &deleted), 0);
    assert_int_equal(deleted, N);
    assert_calls("del", before, one);
    keys_free(&ks);
    vmux_close(m);
}

/* A split over more parts than maxPending is refused at the door, with the bound's words (they
 * read "too many commands pending" while nothing was). */
static void test_split_door_words(void **state)
{
    (void)state;
    load_owners();
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,maxPending=2", vt_cluster_port(CLUSTER, 0));
    vmux *m = vt_open_conf(conf);
    char *names[3] = {"mk:door:a", "mk:door:b", "mk:door:c"};
    int slots[3];
    slots_of(names, 3, slots);
    assert_true(slots[0] != slots[1] && slots[1] != slots[2] && slots[0] != slots[2]);
    vmux_str k[3] = {str_of(names[0]), str_of(names[1]), str_of(names[2])};
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    vmux_bytes_array values;
    assert_int_equal(vmux_mget(m, &o, k, 3, &values), VMUX_ERR_BACKLOG_FULL);
    if (strstr(why, "maxPending (2)") == NULL)
        fail_msg("the refusal read \"%s\"", why);
    vmux_close(m);
}

static void test_strict_forms_refuse_crossslot(void **state)
{
    (void)state;
    load_owners();
    vmux *m = open_seed();
    char *names[2] = {"mk:strict:a", "mk:strict:b"};
    int slots[2];
    slots_of(names, 2, slots);
    assert_int_not_equal(slots[0], slots[1]);
    vmux_str k[2] = {str_of(names[0]), str_of(names[1])};
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    bool all_set = true;
    assert_int_equal(vmux_msetnx(m, &o, k, k, 2, &all_set), VMUX_ERR_CROSSSLOT);
    assert_false(all_set);
    assert_non_null(strstr(why, "mk:strict:a"));
    assert_non_null(strstr(why, "mk:strict:b"));
    int64_t count = -1;
    assert_int_equal(vmux_exists(m, NULL, k, 2, &count), 0);
    assert_int_equal(count, 0); /* nothing written */

    const char *mget[] = {"MGET", names[0], names[1]};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, mget, NULL, &r), VMUX_ERR_CROSSSLOT);
    assert_null(r);
    assert_int_equal(vmux_command(m, &r, "MGET %s %s", names[0], names[1]), VMUX_ERR_CROSSSLOT);
    assert_null(r);

    /* MSETNX within one slot is one command, all or nothing, as before. */
    vmux_str tagged[2] = {str_of("{mk:nx}a"), str_of("{mk:nx}b")};
    assert_int_equal(vmux_msetnx(m, NULL, tagged, tagged, 2, &all_set), 0);
    assert_true(all_set);
    assert_int_equal(vmux_msetnx(m, NULL, tagged, tagged, 2, &all_set), 0);
    assert_false(all_set);
    assert_int_equal(vmux_del(m, NULL, tagged, 2, &count), 0);
    assert_int_equal(count, 2);
    vmux_close(m);
}

/* Whether a direct SET of a key the paused node serves has gone through (the pause is over). */
static bool node_writable(void *arg)
{
    redisContext *c = arg;
    redisReply *r = redisCommand(c, "SET mk:pause:0 x");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok;
}

static void test_part_deadline(void **state)
{
    (void)state;
    load_owners();
    vmux *m = open_seed();
    enum { N = 30 };
    struct keyset ks;
    make_keys("mk:pause:%d", N, &ks);
    int paused = owner[ks.slots[0]];
    int other = -1; /* a key on another primary */
    for (int i = 0; i < N && other < 0; i++)
        other = owner[ks.slots[i]] != paused ? i : -1;
    assert_true(other >= 0);

    redisContext *c = vt_node_connect(paused);
    redisReply *r = redisCommand(c, "CLIENT PAUSE 20000 WRITE");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    char why[256] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 300, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_mset(m, &o, ks.k, ks.k, N), VMUX_ERR_TIMEOUT);
    assert_non_null(strstr(why, "slot"));
    /* the part's own words: which node, and that it was written (review helper-196 F1) */
    char where[64];
    snprintf(where, sizeof where, "written to 127.0.0.1:%d and not answered in time", paused);
    if (strstr(why, where) == NULL)
        fail_msg("the split MSET read \"%s\"", why);
    /* The other parts ran: reads are not paused. */
    vmux_bytes v;
    assert_int_equal(vmux_get(m, NULL, ks.k[other], &v), 0);
    assert_non_null(v.ptr);
    assert_memory_equal(v.ptr, ks.keys[other], strlen(ks.keys[other]));
    vmux_bytes_free(&v);
    int64_t count = -1;
    assert_int_equal(vmux_del(m, &o, ks.k, N, &count), VMUX_ERR_TIMEOUT);
    assert_int_equal(count, 0);
    /* A refused INCRBY leaves its words on the I/O thread just before: the split's callback
     * gets its own (it got the INCRBY's). */
    struct count_box incr = {.status = -1};
    const char *incr_argv[] = {"INCRBY", ks.keys[other], "x"};
    assert_int_equal(vmux_call_async(m, NULL, 3, incr_argv, NULL, count_cb, &incr), 0);
    assert_true(vt_wait_until(box_done, &incr, 10000));
    assert_int_equal(incr.status, VMUX_ERR_SERVER);
    struct count_box b = {.status = -1};
    assert_int_equal(vmux_del_async(m, &o, ks.k, N, count_cb, &b), 0);
    assert_true(vt_wait_until(box_done, &b, 10000));
    assert_int_equal(b.status, VMUX_ERR_TIMEOUT);

    r = redisCommand(c, "CLIENT UNPAUSE");
    assert_non_null(r);
    freeReplyObject(r);
    assert_true(vt_wait_until(node_writable, c, 10000));
    redisFree(c);
    /* the async split's words are vmux_mset()'s (checked unpaused: the next test needs the node) */
    if (strstr(b.why, where) == NULL || strstr(b.why, "(the command for slot ") == NULL)
        fail_msg("the split DEL's callback read \"%s\"", b.why);
    assert_int_equal(vmux_del(m, NULL, ks.k, N, &count), 0);
    keys_free(&ks);
    vmux_close(m);
}

/* Teardown: every primary unpaused, so that a failed assertion in a test that paused one does
 * not fail the tests after it too (CLIENT PAUSE 20000 outlives the test). */
static int unpause_primaries(void **state)
{
    (void)state;
    for (int s = 0; s < NSLOTS; s++) {
        if (owner[s] <= 0 || (s > 0 && owner[s] == owner[s - 1]))
            continue;
        redisContext *c = vt_node_connect(owner[s]);
        freeReplyObject(redisCommand(c, "CLIENT UNPAUSE"));
        redisFree(c);
    }
    return 0;
}

/* Whether the node at arg (a redisContext) answers PING: running again after SIGCONT. */
static bool node_answers(void *arg)
{
    redisReply *r = redisCommand(arg, "PING");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok;
}

/* Whether the words of a failed part of the stopped node at port (slot) say what became of it,
 * as vmux_del()'s error buffer would: written there and not answered, or (its connection not
 * ready) never sent and its last connection failure; and which part it was. */
static bool stopped_part_words(const char *why, int port, int slot)
{
    char where[64], part[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", port);
    snprintf(part, sizeof part, "(the command for slot %d, one of the ", slot);
    bool told = strstr(why, "not answered in time") != NULL ||
                strstr(why, "(never sent); last connection failure: ") != NULL;
    return told && strstr(why, where) != NULL && strstr(why, part) != NULL;
}

/* An async DEL across slots while one primary is stopped (SIGSTOP, well under the cluster's 2 s
 * node timeout): its callback reads the stopped part's words in vmux_last_error(), as the
 * synchronous vmux_del() gets them in its error buffer (the async split count gave "timed out"
 * alone: its parts did not carry VMUX_OP_TELL_WHY). */
static void test_stopped_primary_async_words(void **state)
{
    (void)state;
    load_owners();
    vmux *m = open_seed();
    enum { N = 30 };
    struct keyset ks;
    make_keys("mk:stop:%d", N, &ks);
    int stopped = owner[ks.slots[0]]; /* the first key's part, the first to fail */
    int64_t count = -1;
    assert_int_equal(vmux_mset(m, NULL, ks.k, ks.k, N), 0); /* every primary's link is connected */
    long pid = vt_node_pid(stopped);
    assert_true(pid > 0);

    struct count_box b = {.status = -1};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 300);
    assert_int_equal(kill((pid_t)pid, SIGSTOP), 0);
    int rc = vmux_del_async(m, &o, ks.k, N, count_cb, &b);
    bool done = rc == 0 && vt_wait_until(box_done, &b, 10000);
    assert_int_equal(kill((pid_t)pid, SIGCONT), 0); /* before any assertion can end the test */
    redisContext *c = vt_node_connect(stopped);
    assert_true(vt_wait_until(node_answers, c, 10000));
    redisFree(c);

    assert_int_equal(rc, 0);
    assert_true(done);
    assert_int_equal(b.status, VMUX_ERR_TIMEOUT);
    if (!stopped_part_words(b.why, stopped, ks.slots[0]))
        fail_msg("the split DEL's callback read \"%s\"", b.why);
    assert_int_equal(vmux_del(m, NULL, ks.k, N, &count), 0);
    keys_free(&ks);
    vmux_close(m);
}

/* ---- before the handle knows it is on a cluster (abortConnect=false) ---- */

/* Two keys in the slots of "a" (15495) and "b" (3300). */
static const char *early_names[] = {"{a}mk:early", "{b}mk:early"};

static void early_keys(vmux_str *k)
{
    for (int i = 0; i < 2; i++)
        k[i] = str_of(early_names[i]);
}

/* A handle on the seed behind p, opened with extra ("cluster=yes", ...) and abortConnect=false:
 * it returns before a byte has crossed, so the caller's next call is made before the answer. */
static vmux *open_early(vt_proxy *p, const char *extra)
{
    char conf[160];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false%s%s", vt_proxy_port(p),
             extra[0] != '\0' ? "," : "", extra);
    return vt_open_conf(conf);
}

/* Each typed multi-key form, called at once on a fresh handle: split as on a known cluster. */
static void typed_forms_early(vt_proxy *p, const char *extra)
{
    vmux_str k[2], v[2] = {str_of("1"), str_of("2")};
    early_keys(k);
    char err[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux *m = open_early(p, extra);
    if (vmux_mset(m, &o, k, v, 2) != 0)
        fail_msg("%s: vmux_mset() at once: %s", extra, err);
    vmux_close(m);
    m = open_early(p, extra);
    vmux_bytes_array got = {0};
    if (vmux_mget(m, &o, k, 2, &got) != 0)
        fail_msg("%s: vmux_mget() at once: %s", extra, err);
    assert_int_equal(got.count, 2);
    assert_memory_equal(got.items[0].ptr, "1", 1);
    assert_memory_equal(got.items[1].ptr, "2", 1);
    vmux_bytes_array_free(&got);
    vmux_close(m);
    int64_t n = -1;
    m = open_early(p, extra);
    if (vmux_exists(m, &o, k, 2, &n) != 0)
        fail_msg("%s: vmux_exists() at once: %s", extra, err);
    assert_int_equal(n, 2);
    vmux_close(m);
    m = open_early(p, extra);
    assert_int_equal(count_async(vmux_exists_async, m, k, 2), 2);
    vmux_close(m);
    m = open_early(p, extra);
    assert_int_equal(count_async(vmux_del_async, m, k, 2), 2);
    assert_int_equal(vmux_mset(m, &o, k, v, 2), 0);
    vmux_close(m);
    m = open_early(p, extra);
    if (vmux_del(m, &o, k, 2, &n) != 0)
        fail_msg("%s: vmux_del() at once: %s", extra, err);
    assert_int_equal(n, 2);
    vmux_close(m);
}

/*
 * Typed multi-key calls made before the handle knows it is on a cluster (the seed behind a proxy
 * that holds every byte 50 ms, abortConnect=false) split as they do after: cluster=auto waits
 * for the answer, cluster=yes splits at once (its parts wait for it). Sent whole, a node refused
 * them CROSSSLOT (cluster=auto: VMUX_ERR_SERVER; cluster=yes: VMUX_ERR_CROSSSLOT). vmux_call()
 * stays strict, and under cluster=yes vmux's refusal names the keys and their slots. An async
 * count whose deadline passes while the answer is out says so in vmux_last_error().
 */
static void test_split_before_detection(void **state)
{
    (void)state;
    vt_proxy *p = vt_proxy_start("127.0.0.1", vt_cluster_port(CLUSTER, 0));
    assert_non_null(p);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_DELAY, 50), 0);
    typed_forms_early(p, "");
    typed_forms_early(p, "cluster=yes");

    const char *mget[] = {"MGET", early_names[0], early_names[1]};
    char err[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    vmux *m = open_early(p, "cluster=yes");
    assert_int_equal(vmux_call(m, &o, 3, mget, NULL, &r), VMUX_ERR_CROSSSLOT);
    assert_null(r);
    if (strstr(err, "keys '{a}mk:early' (slot 15495) and '{b}mk:early' (slot 3300) hash to "
                    "different slots") == NULL)
        fail_msg("vmux_call() MGET across slots before the answer (cluster=yes): \"%s\"", err);
    vmux_close(m);

    /* an async count waiting for the answer meets its deadline: never sent, and says why */
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_BLACKHOLE, 0), 0);
    m = open_early(p, "");
    vmux_str k[2];
    early_keys(k);
    struct count_box b = {.status = -1};
    vmux_callopts brief = VMUX_INIT(vmux_callopts, .timeout_ms = 200);
    assert_int_equal(vmux_exists_async(m, &brief, k, 2, count_cb, &b), 0);
    assert_true(vt_wait_until(box_done, &b, 10000));
    assert_int_equal(b.status, VMUX_ERR_TIMEOUT);
    if (strstr(b.why, "whether") == NULL || strstr(b.why, "is a cluster node") == NULL)
        fail_msg("an async EXISTS timed out waiting for the answer read \"%s\"", b.why);
    /* one that waits is a call vmux_drain() waits for, and goes split once the answer comes */
    struct count_box later = {.status = -1};
    vmux_callopts patient = VMUX_INIT(vmux_callopts, .timeout_ms = 60000);
    assert_int_equal(vmux_exists_async(m, &patient, k, 2, count_cb, &later), 0);
    assert_int_equal(vmux_drain(m, 100), VMUX_ERR_TIMEOUT);
    assert_false(atomic_load(&later.done));
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_PASS, 0), 0);
    assert_int_equal(vmux_drain(m, 60000), 0);
    assert_true(atomic_load(&later.done)); /* its callback ran before the drain returned */
    if (later.status != 0)
        fail_msg("the async EXISTS that waited for the answer: %d %s", later.status, later.why);
    assert_int_equal(later.count, 0); /* the cluster=yes round deleted both */
    vmux_close(m);
    vt_proxy_stop(p);
}

/*
 * cluster=yes splits at once, and its parts wait for the answer unsent: a call whose deadline
 * passes first says that none of them was sent, synchronous (error buffer) or async
 * (vmux_last_error()), not that "the others may have run" (review helper-257 F5 a).
 */
static void test_split_before_detection_unsent_words(void **state)
{
    (void)state;
    vt_proxy *p = vt_proxy_start("127.0.0.1", vt_cluster_port(CLUSTER, 0));
    assert_non_null(p);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_BLACKHOLE, 0), 0);
    vmux_str k[2];
    early_keys(k);
    char err[512] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 200, .errbuf = err, .errlen = sizeof err);
    vmux *m = open_early(p, "cluster=yes");
    int64_t n = -1;
    assert_int_equal(vmux_del(m, &o, k, 2, &n), VMUX_ERR_TIMEOUT);
    if (strstr(err, "none of them was sent: not executed)") == NULL ||
        strstr(err, "may have run") != NULL)
        fail_msg("vmux_del() timed out before the answer (cluster=yes): \"%s\"", err);
    struct count_box b = {.status = -1};
    vmux_callopts brief = VMUX_INIT(vmux_callopts, .timeout_ms = 200);
    assert_int_equal(vmux_del_async(m, &brief, k, 2, count_cb, &b), 0);
    assert_true(vt_wait_until(box_done, &b, 10000));
    assert_int_equal(b.status, VMUX_ERR_TIMEOUT);
    if (strstr(b.why, "none of them was sent: not executed)") == NULL ||
        strstr(b.why, "may have run") != NULL)
        fail_msg("vmux_del_async() timed out before the answer (cluster=yes): \"%s\"", b.why);
    vmux_close(m);
    vt_proxy_stop(p);
}

/* What vmux_del_async() of keys (n) returns on m, its error buffer's words in why (cap bytes). */
static int del_async_words(vmux *m, const vmux_str *keys, size_t n, struct count_box *b, char *why,
                           size_t cap)
{
    why[0] = '\0';
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 60000, .errbuf = why, .errlen = cap);
    return vmux_del_async(m, &o, keys, n, count_cb, b);
}

/*
 * An async split count made before the answer (cluster=auto, the seed behind a proxy that holds
 * every byte) takes its parts' room at the door at once, as it does after the answer: over
 * maxPending it is refused at the call, VMUX_ERR_BACKLOG_FULL with the door's words, never
 * called back (it called back VMUX_ERR_BACKLOG_FULL once the answer came: review helper-257 F5 b).
 * One that waits holds its room until it goes, and goes once the answer comes.
 */
static void test_split_before_detection_door(void **state)
{
    (void)state;
    char *names[3] = {"mk:door:a", "mk:door:b", "mk:door:c"}; /* three slots */
    vmux_str k[3] = {str_of(names[0]), str_of(names[1]), str_of(names[2])};
    char after[256], before[256], conf[128];
    struct count_box never = {.status = -1};
    snprintf(conf, sizeof conf, "127.0.0.1:%d,maxPending=2", vt_cluster_port(CLUSTER, 0));
    vmux *m = vt_open_conf(conf); /* a handle that knows: the words to match */
    assert_int_equal(del_async_words(m, k, 3, &never, after, sizeof after), VMUX_ERR_BACKLOG_FULL);
    vmux_close(m);

    vt_proxy *p = vt_proxy_start("127.0.0.1", vt_cluster_port(CLUSTER, 0));
    assert_non_null(p);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_BLACKHOLE, 0), 0);
    m = open_early(p, "maxPending=2");
    int rc = del_async_words(m, k, 3, &never, before, sizeof before);
    if (rc != VMUX_ERR_BACKLOG_FULL || strcmp(before, after) != 0)
        fail_msg("vmux_del_async() of 3 slots over maxPending=2 before the answer: %s \"%s\" "
                 "(after it: \"%s\")",
                 vmux_err_name(rc), before, after);
    struct count_box waits = {.status = -1};
    assert_int_equal(del_async_words(m, k, 2, &waits, before, sizeof before), 0);
    rc = del_async_words(m, k + 1, 2, &never, before, sizeof before);
    if (rc != VMUX_ERR_BACKLOG_FULL || strstr(before, "holds maxPending (2) commands") == NULL)
        fail_msg("a second vmux_del_async() while the first waits with its 2 parts: %s \"%s\"",
                 vmux_err_name(rc), before);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_PASS, 0), 0);
    assert_int_equal(vmux_drain(m, 60000), 0);
    assert_true(atomic_load(&waits.done));
    if (waits.status != 0)
        fail_msg("the vmux_del_async() that waited: %d %s", waits.status, waits.why);
    assert_false(atomic_load(&never.done));
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.pending, 0); /* its room given back */
    vmux_close(m);
    vt_proxy_stop(p);
}

/* INFO cluster's answer on a standalone server: a bulk string. */
#define INFO_STANDALONE "$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n"

/*
 * On a standalone server (a fake that says cluster_enabled:0, behind a proxy that holds each byte
 * 50 ms), a typed multi-key call made before the answer waits for it and then goes as ONE
 * command, atomic as ever: one MSET, one DEL (async), one EXISTS, never one per slot.
 */
static void test_standalone_before_detection_whole(void **state)
{
    (void)state;
    vt_fake *f = vt_fake_start();
    assert_non_null(f);
    assert_int_equal(vt_fake_answer(f, "INFO", INFO_STANDALONE, 0), 0);
    assert_int_equal(vt_fake_answer(f, "MSET", "+OK\r\n", 0), 0);
    assert_int_equal(vt_fake_answer(f, "DEL", ":2\r\n", 0), 0);
    assert_int_equal(vt_fake_answer(f, "EXISTS", ":2\r\n", 0), 0);
    vt_proxy *p = vt_proxy_start("127.0.0.1", vt_fake_port(f));
    assert_non_null(p);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_DELAY, 50), 0);
    vmux_str k[2], v[2] = {str_of("1"), str_of("2")};
    early_keys(k);
    char err[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux *m = open_early(p, "");
    if (vmux_mset(m, &o, k, v, 2) != 0)
        fail_msg("vmux_mset() at once on a standalone server: %s", err);
    vmux_close(m);
    m = open_early(p, "");
    assert_int_equal(count_async(vmux_del_async, m, k, 2), 2);
    vmux_close(m);
    m = open_early(p, "");
    int64_t n = -1;
    assert_int_equal(vmux_exists(m, &o, k, 2, &n), 0);
    assert_int_equal(n, 2);
    vmux_close(m);
    vt_proxy_stop(p);
    assert_int_equal(vt_fake_count(f, "MSET"), 1);
    assert_int_equal(vt_fake_count(f, "DEL"), 1);
    assert_int_equal(vt_fake_count(f, "EXISTS"), 1);
    vt_fake_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mset_mget_spread),
        cmocka_unit_test(test_counts_across_slots),
        cmocka_unit_test(test_one_slot_one_command),
        cmocka_unit_test(test_strict_forms_refuse_crossslot),
        cmocka_unit_test(test_split_door_words),
        cmocka_unit_test_teardown(test_part_deadline, unpause_primaries),
        cmocka_unit_test(test_stopped_primary_async_words),
        cmocka_unit_test(test_split_before_detection),
        cmocka_unit_test(test_split_before_detection_unsent_words),
        cmocka_unit_test(test_split_before_detection_door),
        cmocka_unit_test(test_standalone_before_detection_whole),
    };
    vt_filter_tests();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
