/*
 * Cluster routing's pieces against real clusters (the fixtures "cluster", three primaries with a
 * replica each, and "cluster-noreplica", three primaries alone, started side by side): the
 * fixtures' shape; vmux__slot_of() against CLUSTER KEYSLOT for random keys with and without hash
 * tags; the key rules' one slot against where the server runs or redirects a command (MOVED,
 * CROSSSLOT), shard channels included; slot maps built from every node's CLUSTER SLOTS (read
 * through vmux itself), which must cover every slot with the fixture's shards, agree with each
 * other, and send every key to the node that serves it, as the server's MOVED replies say.
 * Talks to the nodes with hiredis directly, and through a vmux handle for CLUSTER SLOTS.
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

#include "route/keyslot.h"
#include "route/keyspec.h"
#include "route/redirect.h"
#include "route/slot.h"
#include "route/slotmap.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const clusters[] = {"cluster", "cluster-noreplica"};
static const int replicas_of[] = {1, 0};

static redisReply *cmd(redisContext *c, int argc, const char *const *argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, (const char **)argv, lens);
    if (r == NULL)
        fail_msg("%s: %s", argv[0], c->errstr);
    return r;
}

/* The value of field in an INFO-style reply, or "" when absent; in a static buffer. */
static const char *info_field(const char *text, const char *field)
{
    static char value[128];
    value[0] = '\0';
    size_t n = strlen(field);
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, field, n) == 0 && p[n] == ':') {
            size_t len = strcspn(p + n + 1, "\r\n");
            snprintf(value, sizeof value, "%.*s", (int)len, p + n + 1);
            break;
        }
    return value;
}

static void check_shape(const char *name, int replicas)
{
    int n = vt_cluster_size(name), primaries = vt_cluster_primaries(name);
    assert_int_equal(primaries, 3);
    assert_int_equal(n, primaries * (1 + replicas));
    assert_int_equal(vt_server_port(name), vt_cluster_port(name, 0));
    for (int i = 0; i < n; i++) {
        redisContext *c = vt_node_connect(vt_cluster_port(name, i));
        redisReply *r = redisCommand(c, "CLUSTER INFO");
        assert_non_null(r);
        assert_string_equal(info_field(r->str, "cluster_state"), "ok");
        assert_string_equal(info_field(r->str, "cluster_slots_assigned"), "16384");
        assert_int_equal(atoi(info_field(r->str, "cluster_size")), primaries);
        assert_int_equal(atoi(info_field(r->str, "cluster_known_nodes")), n);
        freeReplyObject(r);
        r = redisCommand(c, "INFO replication");
        assert_non_null(r);
        assert_string_equal(info_field(r->str, "role"), i < primaries ? "master" : "slave");
        if (i < primaries)
            assert_int_equal(atoi(info_field(r->str, "connected_slaves")), replicas);
        else
            assert_string_equal(info_field(r->str, "master_link_status"), "up");
        freeReplyObject(r);
        redisFree(c);
    }
}

static void test_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(clusters); i++)
        check_shape(clusters[i], replicas_of[i]);
    /* Two clusters of one run share no node. */
    for (int i = 0; i < vt_cluster_size(clusters[0]); i++)
        for (int j = 0; j < vt_cluster_size(clusters[1]); j++)
            assert_int_not_equal(vt_cluster_port(clusters[0], i), vt_cluster_port(clusters[1], j));
}

/* Random bytes: letters mostly, with braces, NULs and high bytes mixed in. */
static size_t random_key(char *buf, size_t cap, bool tagged)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789:{}";
    size_t n = 1 + (size_t)rand() % (cap - 16);
    for (size_t i = 0; i < n; i++) {
        int r = rand() % 40;
        buf[i] = r < 37 ? alphabet[r % (sizeof alphabet - 1)] : r == 37 ? '\0' : (char)(0x80 + r);
    }
    if (tagged) { /* a tag somewhere: sometimes empty, sometimes not closed */
        size_t at = (size_t)rand() % n;
        int shape = rand() % 4;
        const char *tag = shape == 0 ? "{}" : shape == 1 ? "{user:42" : "{user:42}";
        size_t len = strlen(tag);
        memmove(buf + at + len, buf + at, n - at);
        memcpy(buf + at, tag, len);
        n += len;
    }
    return n;
}

static void test_slot_of_matches_keyslot(void **state)
{
    (void)state;
    unsigned seed = (unsigned)vt_now_ns();
    srand(seed);
    print_message("seed %u\n", seed);
    redisContext *c = vt_node_connect(vt_cluster_port("cluster", 0));
    enum { KEYS = 600 };
    static char keys[KEYS][64];
    static size_t lens[KEYS];
    for (int i = 0; i < KEYS; i++) {
        lens[i] = random_key(keys[i], sizeof keys[i], i % 2 == 1);
        const char *argv[] = {"CLUSTER", "KEYSLOT", keys[i]};
        size_t argl[] = {7, 7, lens[i]};
        redisAppendCommandArgv(c, 3, argv, argl);
    }
    for (int i = 0; i < KEYS; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        if ((unsigned)r->integer != vmux__slot_of(keys[i], lens[i]))
            fail_msg("key %d (%zu bytes): slot %u here, %lld from CLUSTER KEYSLOT", i, lens[i],
                     vmux__slot_of(keys[i], lens[i]), r->integer);
        freeReplyObject(r);
    }
    /* The specification's examples. */
    const char *named[] = {"{user1000}.following",
                           "foo{}{bar}",
                           "foo{{bar}}zap",
                           "foo{bar}{zap}",
                           "",
                           "{",
                           "}",
                           "{}",
                           "somekey"};
    for (size_t i = 0; i < N(named); i++) {
        const char *argv[] = {"CLUSTER", "KEYSLOT", named[i]};
        redisReply *r = cmd(c, 3, argv, NULL);
        assert_int_equal(r->integer, vmux__slot_of(named[i], strlen(named[i])));
        freeReplyObject(r);
    }
    redisFree(c);
}

/* "MOVED <slot> ..." gives the slot; -1 for another reply. */
static int moved_slot(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "MOVED ", 6) != 0)
        return -1;
    return atoi(r->str + 6);
}

/* How the server answered the vectors of check_routing(): each must have been seen. */
static int seen_crossslot, seen_moved, seen_ran;

/*
 * Sends argv to node 0 and checks the server agrees with our keys' one slot: CROSSSLOT where we
 * find two slots; else either it ran there, or MOVED names our slot.
 */
static void check_routing(redisContext *c, int argc, const char *const *argv)
{
    struct vmux_keys k;
    struct vmux_crossslot x;
    int slot;
    assert_int_equal(vmux__keys_find(argc, argv, NULL, &k), VMUX_KEYS_FOUND);
    int rc = vmux__keys_slot(&k, argv, NULL, &slot, &x);
    redisReply *r = cmd(c, argc, argv, NULL);
    if (rc == VMUX_ERR_CROSSSLOT) {
        if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "CROSSSLOT", 9) != 0)
            fail_msg("%s %s: cross-slot here, the server answered otherwise", argv[0], argv[1]);
        seen_crossslot++;
    } else {
        assert_int_equal(rc, 0);
        int moved = moved_slot(r);
        if (r->type == REDIS_REPLY_ERROR && moved < 0)
            fail_msg("%s %s: slot %d here, the server says %s", argv[0], argv[1], slot, r->str);
        if (moved >= 0 && moved != slot)
            fail_msg("%s %s: slot %d here, MOVED %d", argv[0], argv[1], slot, moved);
        seen_moved += moved >= 0;
        seen_ran += moved < 0;
    }
    freeReplyObject(r);
}

static void test_one_slot_matches_server(void **state)
{
    (void)state;
    redisContext *c = vt_node_connect(vt_cluster_port("cluster", 0));
    char a[32], b[32], t1[32], t2[32];
    for (int i = 0; i < 100; i++) {
        snprintf(a, sizeof a, "vmux:rc:a%d", i);
        snprintf(b, sizeof b, "vmux:rc:b%d", i);
        snprintf(t1, sizeof t1, "{vmux:rc:%d}1", i);
        snprintf(t2, sizeof t2, "{vmux:rc:%d}2", i);
        const char *mget[] = {"MGET", a, b};
        check_routing(c, 3, mget);
        const char *mget_tag[] = {"MGET", t1, t2};
        check_routing(c, 3, mget_tag);
        const char *mset[] = {"MSET", t1, "1", t2, "2"};
        check_routing(c, 5, mset);
        const char *del[] = {"DEL", a, t1};
        check_routing(c, 3, del);
        const char *zu[] = {"ZUNIONSTORE", t1, "2", t2, a};
        check_routing(c, 5, zu);
        const char *ev[] = {"EVAL", "return 1", "2", t1, t2};
        check_routing(c, 5, ev);
        const char *x[] = {"XREAD", "COUNT", "1", "STREAMS", t1, a, "0", "0"};
        check_routing(c, 8, x);
        /* A shard channel goes to its slot's owner, like a key. */
        const char *sp[] = {"SPUBLISH", a, "hello"};
        check_routing(c, 3, sp);
    }
    redisFree(c);
    print_message("crossslot %d, moved %d, ran %d\n", seen_crossslot, seen_moved, seen_ran);
    assert_true(seen_crossslot > 0 && seen_moved > 0 && seen_ran > 0);
}

/* The map that node port of cluster name gives, read with vmux_call() on a standalone handle. */
static struct vmux_slotmap *map_from_node(int port)
{
    char conf[64], err[256] = "";
    snprintf(conf, sizeof conf, "127.0.0.1:%d", port);
    vmux *m = NULL;
    int rc = vmux_open_str(conf, &m, err, sizeof err);
    if (rc != 0)
        fail_msg("vmux_open_str(%s): %s (%s)", conf, vmux_err_name(rc), err);
    const char *argv[] = {"CLUSTER", "SLOTS"};
    vmux_reply *reply = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &reply), 0);
    struct vmux_slotmap *map = NULL;
    rc = vmux__slotmap_from_slots(reply, "127.0.0.1", 1, &map, err, sizeof err);
    if (rc != 0)
        fail_msg("node %d: %s: %s", port, vmux_err_name(rc), err);
    vmux_reply_free(reply);
    vmux_close(m);
    return map;
}

static bool is_port_of(const char *name, int port, int from, int to)
{
    for (int i = from; i < to; i++)
        if (vt_cluster_port(name, i) == port)
            return true;
    return false;
}

static void check_map(const char *name, int replicas, const struct vmux_slotmap *map)
{
    int n = vt_cluster_size(name), primaries = vt_cluster_primaries(name);
    assert_int_equal(map->covered, VMUX_SLOTS);
    assert_int_equal(map->nshards, (size_t)primaries);
    unsigned slots = 0;
    for (size_t i = 0; i < map->nshards; i++) {
        const struct vmux_shard *s = &map->shards[i];
        assert_int_equal(s->nnodes, (size_t)(1 + replicas));
        slots += s->nslots;
        for (size_t j = 0; j < s->nnodes; j++) {
            const struct vmux_node_addr *node = &s->nodes[j];
            assert_string_equal(node->host, "127.0.0.1");
            assert_int_equal(node->flags, 0);
            assert_non_null(node->id);
            assert_int_equal(strlen(node->id), 40);
            if (!is_port_of(name, node->port, j == 0 ? 0 : primaries, j == 0 ? primaries : n))
                fail_msg("%s: port %d is no %s of the fixture", name, node->port,
                         j == 0 ? "primary" : "replica");
        }
    }
    assert_int_equal(slots, VMUX_SLOTS);
}

static void test_slotmap_from_cluster_slots(void **state)
{
    (void)state;
    for (size_t c = 0; c < N(clusters); c++) {
        struct vmux_slotmap *first = map_from_node(vt_cluster_port(clusters[c], 0));
        check_map(clusters[c], replicas_of[c], first);
        /* Every node, replicas included, gives the same map, whatever order it lists it in. */
        for (int i = 1; i < vt_cluster_size(clusters[c]); i++) {
            struct vmux_slotmap *other = map_from_node(vt_cluster_port(clusters[c], i));
            check_map(clusters[c], replicas_of[c], other);
            if (!vmux__slotmap_equal(first, other))
                fail_msg("%s: node %d's map differs from node 0's", clusters[c], i);
            vmux__slotmap_unref(other);
        }
        vmux__slotmap_unref(first);
    }
}

/* GET key on the node at port: its reply. */
static redisReply *get_at(redisContext **conns, const struct vmux_slotmap *map, int port,
                          const char *key)
{
    for (size_t i = 0; i < map->nshards; i++)
        if (map->shards[i].nodes[0].port == port) {
            redisReply *r = redisCommand(conns[i], "GET %s", key);
            if (r == NULL)
                fail_msg("GET on %d: %s", port, conns[i]->errstr);
            return r;
        }
    fail_msg("no primary on port %d", port);
    return NULL;
}

static void test_slotmap_routes_keys(void **state)
{
    (void)state;
    struct vmux_slotmap *map = map_from_node(vt_cluster_port("cluster", 0));
    redisContext *conns[8];
    assert_true(map->nshards <= 8);
    for (size_t i = 0; i < map->nshards; i++)
        conns[i] = vt_node_connect(map->shards[i].nodes[0].port);
    char key[48];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, i % 3 ? "vmux:route:%d" : "{vmux:%d}:route", i);
        unsigned slot = vmux__slot_of(key, strlen(key));
        const struct vmux_node_addr *owner = &vmux__slotmap_owner(map, slot)->nodes[0];
        /* The owner runs it. */
        redisReply *r = get_at(conns, map, owner->port, key);
        if (r->type == REDIS_REPLY_ERROR)
            fail_msg("GET %s (slot %u) on its owner %d: %s", key, slot, owner->port, r->str);
        freeReplyObject(r);
        /* Another primary redirects to the owner, and the redirect reads as such. */
        int other = map->shards[(map->owner[slot] + 1) % map->nshards].nodes[0].port;
        r = get_at(conns, map, other, key);
        assert_int_equal(r->type, REDIS_REPLY_ERROR);
        struct vmux_redirect red;
        if (vmux__redirect_parse(r->str, r->len, &red) != 1)
            fail_msg("GET %s on %d: '%s' is not read as a redirect", key, other, r->str);
        assert_int_equal(red.kind, VMUX_REDIRECT_MOVED);
        assert_int_equal(red.slot, slot);
        assert_int_equal(red.hostlen, 9);
        assert_memory_equal(red.host, "127.0.0.1", 9);
        assert_int_equal(red.port, owner->port);
        /* Patching a map with it changes nothing: the map already says so. */
        struct vmux_slotmap *patched;
        assert_int_equal(
            vmux__slotmap_moved(map, red.slot, red.host, red.hostlen, red.port, &patched), 0);
        assert_true(vmux__slotmap_equal(map, patched));
        vmux__slotmap_unref(patched);
        freeReplyObject(r);
    }
    for (size_t i = 0; i < map->nshards; i++)
        redisFree(conns[i]);
    vmux__slotmap_unref(map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_slot_of_matches_keyslot),
        cmocka_unit_test(test_one_slot_matches_server),
        cmocka_unit_test(test_slotmap_from_cluster_slots),
        cmocka_unit_test(test_slotmap_routes_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
