/*
 * The slot map (route/slotmap.h): built from CLUSTER SLOTS replies of every legal shape, the
 * endpoint rules, clear errors for malformed replies, robustness against mangled replies (as
 * trees, and as RESP bytes through the reader), MOVED patches, comparison, and references.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/reader.h"
#include "core/reply_internal.h"
#include "route/slotmap.h"
#include "vmux/error.h"

/* ---- building replies ---- */

static vmux_reply *S(const char *s)
{
    return vmux__reply_new_str(VMUX_REPLY_STRING, s, strlen(s));
}

static vmux_reply *I(int64_t v)
{
    return vmux__reply_new_integer(v);
}

static vmux_reply *NIL(void)
{
    return vmux__reply_new_nil();
}

static vmux_reply *arr_of(vmux_reply **e, size_t n)
{
    vmux_reply *r = vmux__reply_new_array(n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(vmux__reply_array_set(r, i, e[i]), 0);
    return r;
}

#define A(...)                                                                                     \
    arr_of((vmux_reply *[]){__VA_ARGS__},                                                          \
           sizeof((vmux_reply *[]){__VA_ARGS__}) / sizeof(vmux_reply *))
#define A0() vmux__reply_new_array(0)

#define ID0 "1f3a3ddd50fe2ef74e2dccfc13f2d7404b06d08c"
#define ID1 "dd87213161cd9194b24e9bc38c41a85be72d21ff"
#define ID2 "91734b0ec222dc941f4a1e21dae5d54232237015"
#define ID3 "68d991302c736e197d1f316b24c1183ba8c9f4d3"
#define ID4 "352ca769e429f88dc1b2dacaed22a5b2e51c4520"
#define ID5 "8f1165e162ff5969312c94176595cd04307b4ff9"

static vmux_reply *node(const char *host, int port, const char *id)
{
    return A(S(host), I(port), S(id), A0());
}

/* What a 3-primary, 3-replica cluster answers (the fixture's shape). */
static vmux_reply *three_shards(void)
{
    return A(A(I(0), I(5460), node("127.0.0.1", 7000, ID0), node("127.0.0.1", 7003, ID3)),
             A(I(5461), I(10922), node("127.0.0.1", 7001, ID1), node("127.0.0.1", 7004, ID4)),
             A(I(10923), I(16383), node("127.0.0.1", 7002, ID2), node("127.0.0.1", 7005, ID5)));
}

/* ---- checks ---- */

static void check_invariants(const struct vmux_slotmap *m)
{
    unsigned covered = 0, *count = calloc(m->nshards + 1, sizeof(*count));
    assert_non_null(count);
    for (unsigned s = 0; s < VMUX_SLOTS; s++) {
        unsigned o = m->owner[s];
        if (o == VMUX_SLOT_NO_OWNER) {
            assert_null(vmux__slotmap_owner(m, s));
            continue;
        }
        assert_true(o < m->nshards);
        assert_ptr_equal(vmux__slotmap_owner(m, s), &m->shards[o]);
        count[o]++;
        covered++;
    }
    assert_int_equal(covered, m->covered);
    for (size_t i = 0; i < m->nshards; i++) {
        assert_int_equal(count[i], m->shards[i].nslots);
        assert_true(m->shards[i].nnodes >= 1);
        for (size_t j = 0; j < m->shards[i].nnodes; j++) {
            const struct vmux_node_addr *n = &m->shards[i].nodes[j];
            if (n->flags & VMUX_NODE_UNKNOWN)
                assert_true(n->host == NULL && n->port == 0);
            else
                assert_true(n->host != NULL && n->port >= 1 && n->port <= 65535);
            if (!(n->flags & VMUX_NODE_UNKNOWN)) /* the index names every node with an address */
                assert_true(vmux__slotmap_names(m, n->host, n->port));
        }
    }
    free(count);
}

static struct vmux_slotmap *build(vmux_reply *r, const char *asked)
{
    struct vmux_slotmap *m = NULL;
    char err[256] = "";
    int rc = vmux__slotmap_from_slots(r, asked, 7, &m, err, sizeof err);
    if (rc != 0)
        fail_msg("from_slots: %s: %s", vmux_err_name(rc), err);
    vmux_reply_free(r);
    check_invariants(m);
    assert_int_equal(m->epoch, 7);
    return m;
}

static const struct vmux_node_addr *primary_of(const struct vmux_slotmap *m, unsigned slot)
{
    const struct vmux_shard *s = vmux__slotmap_owner(m, slot);
    assert_non_null(s);
    return &s->nodes[0];
}

/* ---- tests ---- */

static void test_three_shards(void **state)
{
    (void)state;
    struct vmux_slotmap *m = build(three_shards(), "127.0.0.1");
    assert_int_equal(m->covered, VMUX_SLOTS);
    assert_int_equal(m->nshards, 3);
    const int primaries[] = {7000, 7001, 7002}, replicas[] = {7003, 7004, 7005};
    const unsigned first[] = {0, 5461, 10923}, last[] = {5460, 10922, 16383};
    for (int i = 0; i < 3; i++) {
        const struct vmux_shard *s = vmux__slotmap_owner(m, first[i]);
        assert_ptr_equal(s, vmux__slotmap_owner(m, last[i]));
        assert_int_equal(s->nnodes, 2);
        assert_int_equal(s->nslots, last[i] - first[i] + 1);
        assert_int_equal(s->nodes[0].port, primaries[i]);
        assert_int_equal(s->nodes[1].port, replicas[i]);
        assert_string_equal(s->nodes[0].host, "127.0.0.1");
        assert_int_equal(s->nodes[0].flags, 0);
        assert_null(s->nodes[0].hostname);
        assert_int_equal(s->nodes[0].tls_port, 0);
    }
    assert_string_equal(primary_of(m, 0)->id, ID0);
    assert_string_equal(vmux__slotmap_owner(m, 16383)->nodes[1].id, ID5);
    assert_null(vmux__slotmap_owner(m, VMUX_SLOTS));
    assert_int_equal(vmux__slotmap_find_primary(m, "127.0.0.1", 9, 7001), m->owner[5461]);
    assert_int_equal(vmux__slotmap_find_primary(m, "127.0.0.1", 9, 7003), -1);
    assert_int_equal(vmux__slotmap_find_primary(m, "127.0.0.2", 9, 7001), -1);
    vmux__slotmap_unref(m);
}

static void test_ranges_and_holes(void **state)
{
    (void)state;
    /* One primary serving two ranges is one shard; the slots between are a hole; ranges may
     * come in any order; a shard without replicas is fine. */
    struct vmux_slotmap *m =
        build(A(A(I(200), I(300), node("10.0.0.1", 7000, ID0), node("10.0.0.2", 7000, ID3)),
                A(I(0), I(100), node("10.0.0.1", 7000, ID0), node("10.0.0.2", 7000, ID3)),
                A(I(16383), I(16383), node("10.0.0.3", 7000, ID1))),
              "seed");
    assert_int_equal(m->nshards, 2);
    assert_int_equal(m->covered, 101 + 101 + 1);
    assert_ptr_equal(vmux__slotmap_owner(m, 0), vmux__slotmap_owner(m, 250));
    assert_int_equal(vmux__slotmap_owner(m, 0)->nslots, 202);
    assert_null(vmux__slotmap_owner(m, 101));
    assert_null(vmux__slotmap_owner(m, 199));
    assert_null(vmux__slotmap_owner(m, 16382));
    assert_int_equal(vmux__slotmap_owner(m, 16383)->nnodes, 1);
    vmux__slotmap_unref(m);

    /* An empty reply: a map without slots (a node that serves none yet). */
    m = build(A0(), "seed");
    assert_int_equal(m->nshards, 0);
    assert_int_equal(m->covered, 0);
    assert_null(vmux__slotmap_owner(m, 0));
    vmux__slotmap_unref(m);

    /* Without ids, a primary is known by its address. */
    m = build(A(A(I(0), I(1), A(S("h"), I(1))), A(I(2), I(3), A(S("H"), I(1)))), "seed");
    assert_int_equal(m->nshards, 1);
    assert_null(primary_of(m, 0)->id);
    vmux__slotmap_unref(m);
}

static void test_endpoint_rules(void **state)
{
    (void)state;
    struct vmux_slotmap *m =
        build(A(A(I(0), I(9), A(NIL(), I(7000), S(ID0)), A(S(""), I(7001), S(ID1), A0())),
                A(I(10), I(19), A(S("?"), I(7002), S(ID2)), A(S("127.0.0.1"), I(0), S(ID3))),
                A(I(20), I(29), A(S("2001:db8::1"), I(7004), NIL(), A(S("ip"), S("2001:db8::1"))),
                  A(S("10.1.2.3"), I(7005), S(ID5),
                    A(S("hostname"), S("node-5.example.com"), S("tls-port"), I(17005), S("future"),
                      A(I(1))))),
                A(I(30), I(39), A(S("?"), I(7006), S(ID4), A(S("ip"), S("10.9.9.9"))),
                  A(S("?"), I(0), NIL(), A(S("ip"), S("10.9.9.8"))))),
              "seed.example.com");
    const struct vmux_shard *s = vmux__slotmap_owner(m, 0);
    /* NULL and "" hosts: the host asked. */
    assert_string_equal(s->nodes[0].host, "seed.example.com");
    assert_int_equal(s->nodes[0].flags, VMUX_NODE_ASKED_HOST);
    assert_int_equal(s->nodes[0].port, 7000);
    assert_string_equal(s->nodes[1].host, "seed.example.com");
    assert_int_equal(s->nodes[1].flags, VMUX_NODE_ASKED_HOST);
    /* "?" and port 0: unknown, no address at all. */
    s = vmux__slotmap_owner(m, 10);
    assert_int_equal(s->nodes[0].flags, VMUX_NODE_UNKNOWN);
    assert_null(s->nodes[0].host);
    assert_int_equal(s->nodes[0].port, 0);
    assert_string_equal(s->nodes[0].id, ID2);
    assert_int_equal(s->nodes[1].flags, VMUX_NODE_UNKNOWN);
    assert_null(s->nodes[1].host);
    /* IPv6 kept whole; no id; metadata read, unknown names skipped. */
    s = vmux__slotmap_owner(m, 20);
    assert_string_equal(s->nodes[0].host, "2001:db8::1");
    assert_null(s->nodes[0].id);
    assert_null(s->nodes[0].hostname);
    assert_string_equal(s->nodes[1].host, "10.1.2.3");
    assert_string_equal(s->nodes[1].hostname, "node-5.example.com");
    assert_int_equal(s->nodes[1].tls_port, 17005);
    assert_int_equal(vmux__slotmap_find_primary(m, "2001:DB8::1", 11, 7004), m->owner[20]);
    /* "?" with an ip in the metadata (a hostname-preferring cluster, no name announced): the ip */
    s = vmux__slotmap_owner(m, 30);
    assert_int_equal(s->nodes[0].flags, 0);
    assert_string_equal(s->nodes[0].host, "10.9.9.9");
    assert_int_equal(s->nodes[0].port, 7006);
    assert_int_equal(s->nodes[1].flags, VMUX_NODE_UNKNOWN); /* port 0: still no address */
    assert_null(s->nodes[1].host);
    vmux__slotmap_unref(m);
}

struct bad_case {
    vmux_reply *reply;
    const char *says;
};

static void expect_refused(vmux_reply *r, int want, const char *says)
{
    struct vmux_slotmap *m = (struct vmux_slotmap *)&m; /* must become NULL */
    char err[256] = "";
    int rc = vmux__slotmap_from_slots(r, "seed", 1, &m, err, sizeof err);
    if (rc != want || strstr(err, says) == NULL)
        fail_msg("%s '%s', expected %s '%s'", vmux_err_name(rc), err, vmux_err_name(want), says);
    assert_null(m);
    vmux_reply_free(r);
}

static void test_malformed(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {S("x"), "the reply: string, not an array of ranges"},
        {I(3), "the reply: integer, not an array"},
        {NIL(), "the reply: nil, not an array"},
        {A(S("x")), "range 0: is string, not an array of start, end, primary"},
        {A(A(I(0), I(1))), "range 0: is a short array"},
        {A(A0()), "range 0: is a short array"},
        {A(A(S("0"), I(1), node("h", 1, ID0))), "range 0: its bounds are string and integer"},
        {A(A(I(0), NIL(), node("h", 1, ID0))), "its bounds are integer and nil"},
        {A(A(I(5), I(4), node("h", 1, ID0))), "its start 5 is after its end 4"},
        {A(A(I(0), I(16384), node("h", 1, ID0))), "slots 0-16384 are outside 0-16383"},
        {A(A(I(-1), I(10), node("h", 1, ID0))), "slots -1-10 are outside"},
        {A(A(I(INT64_MAX), I(INT64_MAX), node("h", 1, ID0))), "are outside 0-16383"},
        {A(A(I(0), I(100), node("h", 1, ID0)), A(I(100), I(200), node("h", 2, ID1))),
         "range 1: slots 100-200 overlap an earlier range (at slot 100)"},
        {A(A(I(0), I(100), node("h", 1, ID0)), A(I(50), I(60), node("h", 1, ID0))),
         "range 1: slots 50-60 overlap"},
        {A(A(I(0), I(1), S("h:1"))), "range 0, node 0: is string, not an array of host, port"},
        {A(A(I(0), I(1), A(S("h")))), "range 0, node 0: is a short array"},
        {A(A(I(0), I(1), node("h", 1, ID0), A(I(1), I(2)))),
         "range 0, node 1: the host is integer, not a string"},
        {A(A(I(0), I(1), A(S("h"), S("6379")))), "range 0, node 0: the port is string"},
        {A(A(I(0), I(1), A(S("h"), I(65536)))), "port 65536 is outside 0-65535"},
        {A(A(I(0), I(1), A(S("h"), I(-1)))), "port -1 is outside 0-65535"},
        {A(A(I(0), I(1), A(S("h"), I(1), I(5)))), "the node id is integer, not a string"},
        {A(A(I(0), I(1), A(S("h"), I(1), S(ID0), S("x")))), "the metadata is string"},
        {A(A(I(0), I(1), A(S("h"), I(1), S(ID0), A(S("hostname"))))),
         "the metadata is an array of odd length"},
        {A(A(I(0), I(1), A(S("h"), I(1), S(ID0), A(I(1), S("x"))))), "a metadata name is integer"},
        {A(A(I(0), I(1), A(S("h"), I(1), S(ID0), A(S("hostname"), I(1))))),
         "the hostname is integer"},
        {A(A(I(0), I(1), A(S("h"), I(1), S(ID0), A(S("tls-port"), S("1"))))), "the port is string"},
        {A(A(I(0), I(1), A(S("?"), I(1), S(ID0), A(S("ip"), I(1))))), "the ip is integer"},
        {A(A(I(0), I(1), A(S("h"), I(1), S(ID0), A(S("tls-port"), I(70000))))),
         "port 70000 is outside"},
        {A(A(I(0), I(1), A(vmux__reply_new_str(VMUX_REPLY_STRING, "h\0x", 3), I(1)))),
         "the host holds a NUL byte"},
        {A(A(I(0), I(1), A(vmux__reply_new_str(VMUX_REPLY_STATUS, "h", 1), I(1)))),
         "the host is status"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_refused(cases[i].reply, VMUX_ERR_PROTOCOL, cases[i].says);

    expect_refused(vmux__reply_new_str(VMUX_REPLY_ERROR,
                                       "ERR This instance has cluster support "
                                       "disabled",
                                       strlen("ERR This instance has cluster support disabled")),
                   VMUX_ERR_SERVER, "CLUSTER SLOTS: ERR This instance has cluster support");
    struct vmux_slotmap *m;
    char err[64];
    assert_int_equal(vmux__slotmap_from_slots(NULL, "seed", 1, &m, err, sizeof err),
                     VMUX_ERR_INVALID_ARG);
    vmux_reply *r = three_shards();
    assert_int_equal(vmux__slotmap_from_slots(r, NULL, 1, &m, NULL, 0), VMUX_ERR_INVALID_ARG);
    /* No error buffer, or a tiny one: still refused, the buffer terminated. */
    vmux_reply *bad = A(A(I(5), I(4), node("h", 1, ID0)));
    assert_int_equal(vmux__slotmap_from_slots(bad, "seed", 1, &m, NULL, 0), VMUX_ERR_PROTOCOL);
    char tiny[8];
    assert_int_equal(vmux__slotmap_from_slots(bad, "seed", 1, &m, tiny, sizeof tiny),
                     VMUX_ERR_PROTOCOL);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    vmux_reply_free(bad);
    vmux_reply_free(r);
}

/* ---- robustness: mangled trees ---- */

static unsigned rng_state;

static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

static vmux_reply *junk(int depth)
{
    static const int64_t ints[] = {-1, 0, 1, 2, 5460, 16383, 16384, 65535, 65536, INT64_MIN};
    static const char *const strs[] = {"", "?", "127.0.0.1", "::1", "hostname", "tls-port", "x"};
    switch (rnd(depth > 2 ? 4 : 6)) {
    case 0:
        return I(ints[rnd(sizeof ints / sizeof ints[0])]);
    case 1:
        return S(strs[rnd(sizeof strs / sizeof strs[0])]);
    case 2:
        return NIL();
    case 3:
        return vmux__reply_new_str(rnd(2) ? VMUX_REPLY_STATUS : VMUX_REPLY_ERROR, "e", 1);
    case 4:
        return A0();
    default:
        return A(junk(depth + 1), junk(depth + 1), junk(depth + 1));
    }
}

/* Every element slot of the tree under r (r itself excluded), in a caller-sized table. */
static size_t slots_of(vmux_reply *r, vmux_reply ***out, size_t n, size_t cap)
{
    for (size_t i = 0; r->type == VMUX_REPLY_ARRAY && i < r->len; i++) {
        if (n < cap)
            out[n++] = &r->u.array.element[i];
        n = slots_of(r->u.array.element[i], out, n, cap);
    }
    return n;
}

static void mangle(vmux_reply *root)
{
    vmux_reply **slots[512];
    size_t n = slots_of(root, slots, 0, 512);
    if (n == 0)
        return;
    vmux_reply **at = slots[rnd((unsigned)n)];
    if (rnd(3) == 0 && (*at)->type == VMUX_REPLY_ARRAY && (*at)->len > 0) {
        size_t keep = rnd((unsigned)(*at)->len); /* cut the array short */
        for (size_t i = keep; i < (*at)->len; i++)
            vmux_reply_free((*at)->u.array.element[i]);
        (*at)->len = keep;
        (*at)->u.array.expected = keep;
    } else {
        vmux_reply_free(*at);
        *at = junk(0);
    }
}

static void test_fuzz_trees(void **state)
{
    (void)state;
    int built = 0, refused = 0;
    for (unsigned iter = 0; iter < 20000; iter++) {
        unsigned seed = rng_state = iter * 7919u + 1;
        vmux_reply *r = three_shards();
        for (unsigned k = 1 + rnd(3); k > 0; k--)
            mangle(r);
        struct vmux_slotmap *m;
        char err[256];
        int rc = vmux__slotmap_from_slots(r, "seed", 1, &m, err, sizeof err);
        if (rc == 0) {
            check_invariants(m);
            vmux__slotmap_unref(m);
            built++;
        } else {
            if (rc != VMUX_ERR_PROTOCOL || strncmp(err, "CLUSTER SLOTS: ", 15) != 0)
                fail_msg("seed %u: %s '%s'", seed, vmux_err_name(rc), err);
            assert_null(m);
            refused++;
        }
        vmux_reply_free(r);
    }
    print_message("mangled trees: %d built, %d refused\n", built, refused);
    assert_true(built > 0 && refused > 0);
}

/* ---- robustness: mangled bytes through the reader ---- */

struct out {
    char buf[8192];
    size_t len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, sizeof o->buf - o->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof o->buf - o->len);
    o->len += (size_t)n;
}

static void to_resp(const vmux_reply *r, struct out *o)
{
    switch (r->type) {
    case VMUX_REPLY_STRING:
        put(o, "$%zu\r\n%.*s\r\n", r->len, (int)r->len, r->str);
        break;
    case VMUX_REPLY_INTEGER:
        put(o, ":%lld\r\n", (long long)r->u.integer);
        break;
    case VMUX_REPLY_NIL:
        put(o, "$-1\r\n");
        break;
    case VMUX_REPLY_STATUS:
    case VMUX_REPLY_ERROR:
        put(o, "%c%s\r\n", r->type == VMUX_REPLY_STATUS ? '+' : '-', r->str);
        break;
    case VMUX_REPLY_ARRAY:
        put(o, "*%zu\r\n", r->len);
        for (size_t i = 0; i < r->len; i++)
            to_resp(r->u.array.element[i], o);
        break;
    }
}

/* Feeds len bytes to a fresh reader and builds a map from every reply it gives. */
static void feed_bytes(const char *bytes, size_t len, int *maps, int *replies)
{
    const struct vmux_reader_limits limits = {1 << 20, 1 << 16, 1 << 22};
    vmux_reader *rd = vmux__reader_new(&limits);
    assert_non_null(rd);
    vmux_reply *r;
    if (vmux__reader_feed(rd, bytes, len) == 0)
        while (vmux__reader_next(rd, &r) == 1) {
            struct vmux_slotmap *m;
            char err[128];
            int rc = vmux__slotmap_from_slots(r, "seed", 1, &m, err, sizeof err);
            assert_true(rc == 0 || rc == VMUX_ERR_PROTOCOL || rc == VMUX_ERR_SERVER);
            if (rc == 0) {
                check_invariants(m);
                vmux__slotmap_unref(m);
                (*maps)++;
            }
            (*replies)++;
            vmux_reply_free(r);
        }
    vmux__reader_free(rd);
}

static void test_fuzz_bytes(void **state)
{
    (void)state;
    vmux_reply *valid = three_shards();
    static struct out o;
    o.len = 0;
    to_resp(valid, &o);
    vmux_reply_free(valid);
    int maps = 0, replies = 0;
    /* Every prefix: no reply until the last byte, then the whole map. */
    for (size_t cut = 0; cut <= o.len; cut++)
        feed_bytes(o.buf, cut, &maps, &replies);
    assert_int_equal(maps, 1);
    /* Bytes changed at random, a few at a time. */
    static const char repl[] = "0123456789-:$*+\r\n?x";
    static char buf[8192];
    rng_state = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, o.buf, o.len);
        for (unsigned k = 1 + rnd(3); k > 0; k--)
            buf[rnd((unsigned)o.len)] = repl[rnd(sizeof repl - 1)];
        feed_bytes(buf, o.len, &maps, &replies);
    }
    print_message("mangled bytes: %d replies, %d maps\n", replies, maps);
    assert_true(replies > 1000 && maps > 1);
}

/* ---- patches, comparison, references ---- */

static void test_moved(void **state)
{
    (void)state;
    struct vmux_slotmap *m = build(three_shards(), "127.0.0.1"), *p, *q;
    /* To a known primary: the slot moves, the old map stays as it was. */
    assert_int_equal(vmux__slotmap_moved(m, 0, "127.0.0.1", 9, 7001, &p), 0);
    check_invariants(p);
    assert_int_equal(p->epoch, m->epoch + 1);
    assert_int_equal(primary_of(p, 0)->port, 7001);
    assert_int_equal(primary_of(p, 1)->port, 7000);
    assert_int_equal(vmux__slotmap_owner(p, 0)->nslots, 5462 + 1);
    assert_int_equal(vmux__slotmap_owner(p, 1)->nslots, 5461 - 1);
    assert_int_equal(primary_of(m, 0)->port, 7000);
    assert_int_equal(p->covered, VMUX_SLOTS);
    assert_false(vmux__slotmap_equal(m, p));
    /* To a node the map does not know: a shard of its own (its replicas are not known yet). */
    assert_int_equal(vmux__slotmap_moved(p, 16383, "fd00::9", 7, 7010, &q), 0);
    check_invariants(q);
    assert_int_equal(q->nshards, 4);
    assert_string_equal(primary_of(q, 16383)->host, "fd00::9");
    assert_int_equal(vmux__slotmap_owner(q, 16383)->nnodes, 1);
    assert_int_equal(q->epoch, m->epoch + 2);
    vmux__slotmap_unref(p);
    vmux__slotmap_unref(q);
    /* To a replica of the slot's own shard, a failover's sign unknown: the one slot moves, to a
     * shard of that node alone; the rest of the shard stays (a replica reused as a primary). */
    assert_int_equal(vmux__slotmap_moved(m, 100, "127.0.0.1", 9, 7003, &p), 0);
    check_invariants(p);
    assert_int_equal(p->nshards, m->nshards + 1);
    assert_int_equal(primary_of(p, 100)->port, 7003);
    assert_int_equal(vmux__slotmap_owner(p, 100)->nnodes, 1);
    assert_int_equal(primary_of(p, 0)->port, 7000);
    assert_int_equal(primary_of(p, 5460)->port, 7000);
    vmux__slotmap_unref(p);
    /* The same as a failover: the whole shard follows. */
    assert_int_equal(vmux__slotmap_failover(m, 100, "127.0.0.1", 9, 7003, &p), 0);
    check_invariants(p);
    assert_int_equal(p->nshards, m->nshards);
    assert_int_equal(primary_of(p, 0)->port, 7003);
    assert_int_equal(primary_of(p, 5460)->port, 7003);
    assert_int_equal(vmux__slotmap_owner(p, 0)->nodes[1].port, 7000); /* demoted: a replica */
    assert_int_equal(vmux__slotmap_owner(p, 0)->nslots, 5461);
    assert_int_equal(vmux__slotmap_find_primary(p, "127.0.0.1", 9, 7000), -1);
    assert_int_equal(primary_of(p, 5461)->port, 7001); /* the other shards as they were */
    assert_int_equal(primary_of(m, 0)->port, 7000);
    vmux__slotmap_unref(p);
    /* A replica of another shard is not promoted: the slot moves to a shard of its own. */
    assert_int_equal(vmux__slotmap_failover(m, 100, "127.0.0.1", 9, 7004, &p), 0);
    check_invariants(p);
    assert_int_equal(p->nshards, m->nshards + 1);
    assert_int_equal(primary_of(p, 100)->port, 7004);
    assert_int_equal(primary_of(p, 5461)->port, 7001);
    vmux__slotmap_unref(p);
    /* A hole gets an owner. */
    vmux__slotmap_unref(m);
    m = build(A(A(I(0), I(10), node("h", 1, ID0))), "seed");
    assert_int_equal(vmux__slotmap_moved(m, 11, "h", 1, 1, &p), 0);
    assert_int_equal(p->covered, 12);
    assert_int_equal(p->nshards, 1);
    check_invariants(p);
    vmux__slotmap_unref(p);
    assert_int_equal(vmux__slotmap_moved(m, VMUX_SLOTS, "h", 1, 1, &p), VMUX_ERR_INVALID_ARG);
    assert_null(p);
    assert_int_equal(vmux__slotmap_moved(m, 1, "", 0, 1, &p), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux__slotmap_moved(m, 1, "h", 1, 0, &p), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux__slotmap_failover(m, VMUX_SLOTS, "h", 1, 1, &p), VMUX_ERR_INVALID_ARG);
    vmux__slotmap_unref(m);
}

/* The slots whose primary differs, by a walk that compares every slot's addresses. */
static unsigned moved_model(const struct vmux_slotmap *a, const struct vmux_slotmap *b)
{
    unsigned n = 0;
    for (unsigned slot = 0; slot < VMUX_SLOTS; slot++) {
        const struct vmux_shard *x = vmux__slotmap_owner(a, slot),
                                *y = vmux__slotmap_owner(b, slot);
        if (x == NULL || y == NULL)
            n += x != y;
        else
            n += x->nodes[0].port != y->nodes[0].port ||
                 strcasecmp(x->nodes[0].host, y->nodes[0].host) != 0;
    }
    return n;
}

/*
 * vmux__slotmap_moved_slots() compares addresses once per run of slots the two maps give to the
 * same pair of shards: the same counts as comparing every slot, for single moves, a failover, a
 * hole filled, shards listed in another order (other indexes, the same primaries), and a chain
 * of random patches.
 */
static void test_moved_slots(void **state)
{
    (void)state;
    struct vmux_slotmap *m = build(three_shards(), "127.0.0.1"), *p, *q;
    assert_int_equal(vmux__slotmap_moved_slots(m, m), 0);
    q = build(A(A(I(10923), I(16383), node("127.0.0.1", 7002, ID2), node("127.0.0.1", 7005, ID5)),
                A(I(0), I(5460), node("127.0.0.1", 7000, ID0), node("127.0.0.1", 7003, ID3)),
                A(I(5461), I(10922), node("127.0.0.1", 7001, ID1), node("127.0.0.1", 7004, ID4))),
              "127.0.0.1");
    assert_int_equal(vmux__slotmap_moved_slots(m, q), 0); /* other indexes, same primaries */
    vmux__slotmap_unref(q);
    assert_int_equal(vmux__slotmap_moved(m, 0, "127.0.0.1", 9, 7001, &p), 0);
    assert_int_equal(vmux__slotmap_moved_slots(m, p), 1);
    assert_int_equal(vmux__slotmap_moved_slots(p, m), 1);
    vmux__slotmap_unref(p);
    assert_int_equal(vmux__slotmap_failover(m, 100, "127.0.0.1", 9, 7003, &p), 0);
    assert_int_equal(vmux__slotmap_moved_slots(m, p), 5461);
    vmux__slotmap_unref(p);
    q = build(A(A(I(0), I(10), node("127.0.0.1", 7000, ID0))), "127.0.0.1");
    assert_int_equal(vmux__slotmap_moved_slots(q, m), VMUX_SLOTS - 11); /* holes filled */
    assert_int_equal(vmux__slotmap_moved_slots(m, q), VMUX_SLOTS - 11);
    vmux__slotmap_unref(q);
    /* A chain of patches, as a reshard's MOVEDs make, each against the model. */
    unsigned seed = 7;
    p = m;
    vmux__slotmap_ref(p);
    for (int i = 0; i < 300; i++) {
        unsigned slot = (unsigned)rand_r(&seed) % VMUX_SLOTS;
        int port = 7000 + rand_r(&seed) % 7; /* 7006: a node the map does not know */
        int rc = (i % 7 == 0) ? vmux__slotmap_failover(p, slot, "127.0.0.1", 9, port, &q)
                              : vmux__slotmap_moved(p, slot, "127.0.0.1", 9, port, &q);
        assert_int_equal(rc, 0);
        assert_int_equal(vmux__slotmap_moved_slots(p, q), moved_model(p, q));
        assert_int_equal(vmux__slotmap_moved_slots(m, q), moved_model(m, q));
        vmux__slotmap_unref(p);
        p = q;
    }
    vmux__slotmap_unref(p);
    vmux__slotmap_unref(m);
}

static void test_equal(void **state)
{
    (void)state;
    struct vmux_slotmap *a = build(three_shards(), "127.0.0.1");
    struct vmux_slotmap *b = build(three_shards(), "127.0.0.1");
    assert_true(vmux__slotmap_equal(a, b));
    vmux__slotmap_unref(b);
    /* Ranges and replicas in another order: the same map. */
    b = build(A(A(I(10923), I(16383), node("127.0.0.1", 7002, ID2), node("127.0.0.1", 7005, ID5)),
                A(I(0), I(5460), node("127.0.0.1", 7000, ID0), node("127.0.0.1", 7003, ID3)),
                A(I(5461), I(10922), node("127.0.0.1", 7001, ID1), node("127.0.0.1", 7004, ID4))),
              "127.0.0.1");
    assert_true(vmux__slotmap_equal(a, b));
    assert_true(vmux__slotmap_equal(b, a));
    vmux__slotmap_unref(b);
    /* Another replica, a missing replica, a hole: different. */
    b = build(A(A(I(0), I(5460), node("127.0.0.1", 7000, ID0), node("127.0.0.1", 7009, ID3)),
                A(I(5461), I(10922), node("127.0.0.1", 7001, ID1), node("127.0.0.1", 7004, ID4)),
                A(I(10923), I(16383), node("127.0.0.1", 7002, ID2), node("127.0.0.1", 7005, ID5))),
              "127.0.0.1");
    assert_false(vmux__slotmap_equal(a, b));
    vmux__slotmap_unref(b);
    b = build(A(A(I(0), I(5460), node("127.0.0.1", 7000, ID0)),
                A(I(5461), I(10922), node("127.0.0.1", 7001, ID1), node("127.0.0.1", 7004, ID4)),
                A(I(10923), I(16383), node("127.0.0.1", 7002, ID2), node("127.0.0.1", 7005, ID5))),
              "127.0.0.1");
    assert_false(vmux__slotmap_equal(a, b));
    vmux__slotmap_unref(b);
    b = build(A(A(I(0), I(5460), node("127.0.0.1", 7000, ID0), node("127.0.0.1", 7003, ID3)),
                A(I(5461), I(10921), node("127.0.0.1", 7001, ID1), node("127.0.0.1", 7004, ID4)),
                A(I(10923), I(16383), node("127.0.0.1", 7002, ID2), node("127.0.0.1", 7005, ID5))),
              "127.0.0.1");
    assert_false(vmux__slotmap_equal(a, b));
    vmux__slotmap_unref(b);
    vmux__slotmap_unref(a);
}

/*
 * A MOVED that takes a shard's last slot keeps the shard and its nodes named; a map without them
 * (CLUSTER SLOTS lists no shard without slots) is another map, and its two nodes left, once each.
 * A node a map names twice (a replica of one shard made the primary of another) is new once.
 */
static void test_drained_shard(void **state)
{
    (void)state;
    struct vmux_slotmap *m =
        build(A(A(I(0), I(16382), node("127.0.0.1", 7000, ID0)),
                A(I(16383), I(16383), node("127.0.0.1", 7001, ID1), node("127.0.0.1", 7004, ID4))),
              "127.0.0.1");
    struct vmux_slotmap *p, *fresh, *twice;
    assert_int_equal(vmux__slotmap_moved(m, 16383, "127.0.0.1", 9, 7002, &p), 0);
    check_invariants(p);
    assert_int_equal(p->nshards, 3); /* 7001's shard kept, without slots */
    assert_true(vmux__slotmap_names(p, "127.0.0.1", 7001));
    assert_true(vmux__slotmap_names(p, "127.0.0.1", 7004));
    /* 7002 as the patch named it (no id): the maps differ only by the drained shard */
    fresh = build(A(A(I(0), I(16382), node("127.0.0.1", 7000, ID0)),
                    A(I(16383), I(16383), A(S("127.0.0.1"), I(7002)))),
                  "127.0.0.1");
    assert_false(vmux__slotmap_equal(p, fresh));
    assert_false(vmux__slotmap_equal(fresh, p));
    assert_int_equal(vmux__slotmap_new_nodes(fresh, p, NULL, NULL), 2);
    assert_int_equal(vmux__slotmap_new_nodes(p, fresh, NULL, NULL), 0);
    /* 7000's replica 7009 patched the primary of slot 16383 too: named twice, new once */
    twice = build(A(A(I(0), I(16382), node("127.0.0.1", 7000, ID0), node("127.0.0.1", 7009, ID3)),
                    A(I(16383), I(16383), node("127.0.0.1", 7009, ID3))),
                  "127.0.0.1");
    assert_int_equal(vmux__slotmap_new_nodes(fresh, twice, NULL, NULL), 1);
    assert_int_equal(vmux__slotmap_new_nodes(twice, fresh, NULL, NULL), 1);
    vmux__slotmap_unref(twice);
    vmux__slotmap_unref(fresh);
    vmux__slotmap_unref(p);
    vmux__slotmap_unref(m);
}

/* The index by address: hosts without case, ports apart, "?" never named, each node once. */
static void test_names_by_address(void **state)
{
    (void)state;
    struct vmux_slotmap *m = build(
        A(A(I(0), I(8191), A(S("Node-A.example"), I(7000)), A(S("?"), I(7001))),
          A(I(8192), I(16383), A(S("node-b.example"), I(7000)), A(S("node-a.example"), I(7002)))),
        "seed");
    assert_true(vmux__slotmap_names(m, "node-a.EXAMPLE", 7000));
    assert_true(vmux__slotmap_names(m, "NODE-B.example", 7000));
    assert_true(vmux__slotmap_names(m, "node-a.example", 7002));
    assert_false(vmux__slotmap_names(m, "node-a.example", 7001));
    assert_false(vmux__slotmap_names(m, "?", 7001));
    assert_false(vmux__slotmap_names(m, NULL, 7000));
    assert_false(vmux__slotmap_names(NULL, "node-a.example", 7000));
    assert_int_equal(m->nbyaddr, 3);
    struct vmux_slotmap *p; /* node-b's replica made the primary of slot 0: named twice, once */
    assert_int_equal(vmux__slotmap_moved(m, 0, "node-a.example", 14, 7002, &p), 0);
    check_invariants(p);
    assert_int_equal(p->nbyaddr, 3);
    assert_true(vmux__slotmap_equal(m, m));
    assert_int_equal(vmux__slotmap_new_nodes(m, p, NULL, NULL), 0);
    vmux__slotmap_unref(p);
    vmux__slotmap_unref(m);
}

static void test_single(void **state)
{
    (void)state;
    struct vmux_slotmap *m;
    assert_int_equal(vmux__slotmap_single("cache.example.com", 6379, 3, &m), 0);
    check_invariants(m);
    assert_int_equal(m->covered, VMUX_SLOTS);
    assert_int_equal(m->nshards, 1);
    assert_int_equal(m->epoch, 3);
    assert_string_equal(primary_of(m, 0)->host, "cache.example.com");
    assert_int_equal(primary_of(m, 16383)->port, 6379);
    vmux__slotmap_unref(m);
}

/* A standalone primary with replicas: one shard, the primary's own address left out of them. */
static void test_standalone(void **state)
{
    (void)state;
    struct vmux_node_addr eps[] = {{.host = "10.0.0.2", .port = 6380},
                                   {.host = "10.0.0.1", .port = 6379},
                                   {.host = "10.0.0.3", .port = 6381}};
    struct vmux_slotmap *m;
    assert_int_equal(vmux__slotmap_standalone("10.0.0.1", 6379, eps, 3, 2, &m), 0);
    check_invariants(m);
    assert_int_equal(m->covered, VMUX_SLOTS);
    assert_int_equal(m->nshards, 1);
    assert_int_equal(m->epoch, 2);
    assert_int_equal(m->shards[0].nnodes, 3);
    assert_string_equal(m->shards[0].nodes[0].host, "10.0.0.1");
    assert_int_equal(m->shards[0].nodes[0].port, 6379);
    assert_string_equal(m->shards[0].nodes[1].host, "10.0.0.2");
    assert_int_equal(m->shards[0].nodes[2].port, 6381);
    assert_true(vmux__slotmap_names(m, "10.0.0.3", 6381));
    vmux__slotmap_unref(m);
    assert_int_equal(vmux__slotmap_standalone("10.0.0.9", 7000, NULL, 0, 1, &m), 0);
    assert_int_equal(m->shards[0].nnodes, 1);
    vmux__slotmap_unref(m);
}

static void *ref_unref(void *arg)
{
    struct vmux_slotmap *m = arg;
    for (int i = 0; i < 100000; i++)
        vmux__slotmap_unref(vmux__slotmap_ref(m));
    vmux__slotmap_unref(m); /* the reference its creator took for it */
    return NULL;
}

static void test_references(void **state)
{
    (void)state;
    struct vmux_slotmap *m = build(three_shards(), "127.0.0.1");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ref_unref, vmux__slotmap_ref(m)), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&m->refs), 1);
    vmux__slotmap_unref(m); /* the last: freed (the sanitizer builds see a leak otherwise) */
    vmux__slotmap_unref(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_shards),   cmocka_unit_test(test_ranges_and_holes),
        cmocka_unit_test(test_endpoint_rules), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fuzz_trees),     cmocka_unit_test(test_fuzz_bytes),
        cmocka_unit_test(test_moved),          cmocka_unit_test(test_equal),
        cmocka_unit_test(test_drained_shard),  cmocka_unit_test(test_names_by_address),
        cmocka_unit_test(test_single),         cmocka_unit_test(test_references),
        cmocka_unit_test(test_standalone),     cmocka_unit_test(test_moved_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
