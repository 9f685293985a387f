/*
 * The cursor iterators (scan.h) against a real server: SCAN over 10,000 keys and HSCAN over a
 * 10,000-field hash, each element seen at least once and none missing (SCAN may repeat
 * elements, so they are deduplicated); MATCH, COUNT and TYPE; SSCAN and ZSCAN (with scores as
 * text and parsed) over binary and empty members; missing keys; WRONGTYPE, after which the
 * iterator repeats the failed step; and bad arguments.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h"

const char cmd_family[] = "scan";

enum { NBIG = 10000, BATCH = 1000 };

static bool bytes_eq(const vmux_bytes *b, vmux_str want)
{
    return b->ptr != NULL && b->len == want.len && memcmp(b->ptr, want.ptr, want.len) == 0;
}

/* Garbage for a scored array that must be zeroed on error (junk: cmd_common.h). */
#define JUNK_SCORED ((vmux_scored_array){(vmux_scored *)junk, 99})

/* Strings made of a prefix and a number, and the number back from one. */
static vmux_str numbered(char *buf, size_t size, const char *prefix, int i)
{
    return VMUX_STRN(buf, (size_t)snprintf(buf, size, "%s%d", prefix, i));
}

/* The number after prefix in b, or -1 when b is not prefix followed by a number < NBIG. */
static int number_of(const vmux_bytes *b, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (b->ptr == NULL || b->len <= plen || b->len > plen + 5 || memcmp(b->ptr, prefix, plen) != 0)
        return -1;
    int v = 0;
    for (size_t i = plen; i < b->len; i++) {
        if (b->ptr[i] < '0' || b->ptr[i] > '9')
            return -1;
        v = v * 10 + (b->ptr[i] - '0');
    }
    return v < NBIG ? v : -1;
}

/* n strings prefix0..prefix<n-1> in one allocation (buf), as vmux_str. */
struct numbers {
    char (*buf)[32];
    vmux_str *s;
};

static struct numbers make_numbers(const char *prefix, int from, int n)
{
    struct numbers ns = {malloc((size_t)n * 32), malloc((size_t)n * sizeof(vmux_str))};
    assert_non_null(ns.buf);
    assert_non_null(ns.s);
    for (int i = 0; i < n; i++)
        ns.s[i] = numbered(ns.buf[i], 32, prefix, from + i);
    return ns;
}

static void free_numbers(struct numbers *ns)
{
    free(ns->buf);
    free(ns->s);
}

/* Runs an iterator to the end; calls each(element, arg) for every element (or pair). */
static int drain(vmux_scan *it, size_t stride, void (*each)(const vmux_bytes *, void *), void *arg)
{
    vmux_bytes_array batch;
    int rc, steps = 0;
    while ((rc = vmux_scan_next(it, &EO, &batch)) == 1) {
        assert_int_equal(batch.count % stride, 0);
        for (size_t i = 0; i < batch.count; i += stride)
            each(&batch.items[i], arg);
        vmux_bytes_array_free(&batch);
        steps++;
    }
    if (rc != 0)
        fail_msg("vmux_scan_next: %s (%s)", vmux_err_name(rc), errbuf);
    assert_null(batch.items);
    assert_int_equal(batch.count, 0);
    return steps;
}

/* Which numbered elements an iteration returned, and how often. */
struct tally {
    const char *prefix;    /* of the element (or of the field) */
    const char *valprefix; /* of the value that must follow it, or NULL */
    int counts[NBIG];
    int strangers; /* elements that are not ours */
    int total;
};

static void count_one(const vmux_bytes *e, void *arg)
{
    struct tally *t = arg;
    int i = number_of(e, t->prefix);
    t->total++;
    if (i < 0) {
        t->strangers++;
        return;
    }
    t->counts[i]++;
    if (t->valprefix != NULL)
        assert_int_equal(number_of(e + 1, t->valprefix), i);
}

/* Every one of the first n numbers was seen at least once, and no other. */
static void assert_all_seen(const struct tally *t, int n)
{
    int missing = 0, dups = 0;
    for (int i = 0; i < NBIG; i++) {
        if (i < n && t->counts[i] == 0)
            missing++;
        if (i >= n && t->counts[i] != 0)
            fail_msg("element %d is not in the set but was returned", i);
        if (t->counts[i] > 1)
            dups++;
    }
    if (missing != 0)
        fail_msg("%d of %d elements never returned (%d repeated)", missing, n, dups);
    assert_int_equal(t->strangers, 0);
}

static struct tally *new_tally(const char *prefix, const char *valprefix)
{
    struct tally *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->prefix = prefix;
    t->valprefix = valprefix;
    return t;
}

/* ---- SCAN over 10,000 keys ---- */

static char bigprefix[96];

static void make_big_keyspace(void)
{
    snprintf(bigprefix, sizeof bigprefix, "vt:scan:%d:big:", (int)getpid());
    for (int from = 0; from < NBIG; from += BATCH) {
        struct numbers ks = make_numbers(bigprefix, from, BATCH);
        struct numbers vs = make_numbers("v", from, BATCH);
        assert_int_equal(vmux_mset(M, NULL, ks.s, vs.s, BATCH), 0);
        free_numbers(&ks);
        free_numbers(&vs);
    }
}

static void drop_big_keyspace(void)
{
    for (int from = 0; from < NBIG; from += BATCH) {
        struct numbers ks = make_numbers(bigprefix, from, BATCH);
        int64_t n = 0;
        assert_int_equal(vmux_unlink(M, NULL, ks.s, BATCH, &n), 0);
        assert_int_equal(n, BATCH);
        free_numbers(&ks);
    }
}

static void test_scan_10000_keys(void **state)
{
    (void)state;
    make_big_keyspace();
    char match[128];
    snprintf(match, sizeof match, "%s*", bigprefix);

    /* COUNT 500 */
    vmux_scan *it = NULL;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = match, .count = 500);
    assert_int_equal(vmux_scan_begin(M, &o, &it), 0);
    struct tally *t = new_tally(bigprefix, NULL);
    int steps = drain(it, 1, count_one, t);
    assert_true(steps > 1); /* the cursor really went round */
    assert_all_seen(t, NBIG);
    vmux_scan_end(it);
    free(t);

    /* the server's default COUNT, and TYPE string */
    vmux_scan_opts o2 = VMUX_INIT(vmux_scan_opts, .match = match, .type = "string");
    assert_int_equal(vmux_scan_begin(M, &o2, &it), 0);
    t = new_tally(bigprefix, NULL);
    drain(it, 1, count_one, t);
    assert_all_seen(t, NBIG);
    vmux_scan_end(it);
    free(t);

    /* TYPE hash: none of them */
    vmux_scan_opts o3 = VMUX_INIT(vmux_scan_opts, .match = match, .count = 1000, .type = "hash");
    assert_int_equal(vmux_scan_begin(M, &o3, &it), 0);
    t = new_tally(bigprefix, NULL);
    drain(it, 1, count_one, t);
    assert_int_equal(t->total, 0);
    vmux_scan_end(it);
    free(t);

    drop_big_keyspace();
}

/* ---- SCAN with TYPE, binary keys ---- */

struct collected {
    vmux_bytes items[64];
    int n;
};

static void collect(const vmux_bytes *e, void *arg)
{
    struct collected *c = arg;
    assert_true(c->n < 64);
    for (int i = 0; i < c->n; i++)
        if (c->items[i].len == e->len && memcmp(c->items[i].ptr, e->ptr, e->len) == 0)
            return; /* a repeat */
    c->items[c->n].ptr = malloc(e->len + 1);
    assert_non_null(c->items[c->n].ptr);
    memcpy(c->items[c->n].ptr, e->ptr, e->len + 1);
    c->items[c->n++].len = e->len;
}

static bool collected_has(const struct collected *c, vmux_str s)
{
    for (int i = 0; i < c->n; i++)
        if (bytes_eq(&c->items[i], s))
            return true;
    return false;
}

static void collected_free(struct collected *c)
{
    for (int i = 0; i < c->n; i++)
        vmux_bytes_free(&c->items[i]);
    c->n = 0;
}

static void test_scan_type_and_binary_keys(void **state)
{
    (void)state;
    char prefix[96], match[128];
    snprintf(prefix, sizeof prefix, "vt:scan:%d:typed:", (int)getpid());
    snprintf(match, sizeof match, "%s*", prefix);
    char kb[8][128];
    vmux_str keys[8];
    for (int i = 0; i < 8; i++) {
        int n = snprintf(kb[i], sizeof kb[i], "%s%d", prefix, i);
        kb[i][n] = '\0';
        kb[i][n + 1] = (char)i; /* every key ends in a NUL and a byte */
        keys[i] = VMUX_STRN(kb[i], (size_t)n + 2);
        DO(S("DEL"), keys[i]);
        if (i % 2 == 0)
            DO(S("SET"), keys[i], S(""));
        else
            DO(S("RPUSH"), keys[i], S("x"));
    }
    vmux_scan *it;
    vmux_scan_opts o =
        VMUX_INIT(vmux_scan_opts, .match = match, .type = vmux_key_type_name(VMUX_TYPE_LIST));
    assert_int_equal(vmux_scan_begin(M, &o, &it), 0);
    struct collected c = {0};
    drain(it, 1, collect, &c);
    vmux_scan_end(it);
    assert_int_equal(c.n, 4);
    for (int i = 1; i < 8; i += 2)
        assert_true(collected_has(&c, keys[i]));
    collected_free(&c);

    vmux_scan_opts all = VMUX_INIT(vmux_scan_opts, .match = match, .count = 3);
    assert_int_equal(vmux_scan_begin(M, &all, &it), 0);
    drain(it, 1, collect, &c);
    vmux_scan_end(it);
    assert_int_equal(c.n, 8);
    for (int i = 0; i < 8; i++)
        assert_true(collected_has(&c, keys[i]));
    collected_free(&c);

    /* an unknown type is the server's error, and the iterator stays at its start */
    vmux_scan_opts bad = VMUX_INIT(vmux_scan_opts, .match = match, .type = "bogus");
    assert_int_equal(vmux_scan_begin(M, &bad, &it), 0);
    vmux_bytes_array batch = JUNK_ARRAY;
    errbuf[0] = '\0';
    int rc;
    /* a cluster's iterator may first return empty batches (steps that find the next node) */
    while ((rc = vmux_scan_next(it, &EO, &batch)) == 1) {
        assert_int_equal(batch.count, 0);
        vmux_bytes_array_free(&batch);
    }
    assert_int_equal(rc, VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "unknown type"));
    assert_null(batch.items);
    assert_int_equal(batch.count, 0);
    vmux_scan_end(it);
}

/* ---- HSCAN over 10,000 fields ---- */

static void test_hscan_10000_fields(void **state)
{
    (void)state;
    vmux_str k = key("bighash");
    DO(S("DEL"), k);
    for (int from = 0; from < NBIG; from += BATCH) {
        struct numbers fs = make_numbers("f", from, BATCH);
        struct numbers vs = make_numbers("v", from, BATCH);
        int64_t added = 0;
        assert_int_equal(vmux_hset(M, NULL, k, fs.s, vs.s, BATCH, &added), 0);
        assert_int_equal(added, BATCH);
        free_numbers(&fs);
        free_numbers(&vs);
    }

    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .count = 200);
    assert_int_equal(vmux_hscan_begin(M, k, &o, &it), 0);
    struct tally *t = new_tally("f", "v");
    int steps = drain(it, 2, count_one, t);
    assert_true(steps > 1);
    assert_all_seen(t, NBIG);
    vmux_scan_end(it);
    free(t);

    /* MATCH f1*: f1, f10-f19, f100-f199, f1000-f1999 */
    vmux_scan_opts m1 = VMUX_INIT(vmux_scan_opts, .match = "f1*", .count = 1000);
    assert_int_equal(vmux_hscan_begin(M, k, &m1, &it), 0);
    t = new_tally("f", "v");
    drain(it, 2, count_one, t);
    vmux_scan_end(it);
    int distinct = 0;
    for (int i = 0; i < NBIG; i++) {
        char d[16];
        snprintf(d, sizeof d, "%d", i);
        bool want = d[0] == '1';
        assert_int_equal(t->counts[i] > 0, want);
        distinct += t->counts[i] > 0;
    }
    assert_int_equal(distinct, 1111);
    free(t);
    DO(S("UNLINK"), k);
}

/* ---- SSCAN, ZSCAN ---- */

static const char BINM[] = "\0m\0";

static void test_sscan(void **state)
{
    (void)state;
    vmux_str k = key("set");
    DO(S("DEL"), k);
    for (int from = 0; from < 1000; from += 100) {
        struct numbers ms = make_numbers("m", from, 100);
        const char *argv[102] = {"SADD", k.ptr};
        size_t lens[102] = {4, k.len};
        for (int i = 0; i < 100; i++) {
            argv[i + 2] = ms.s[i].ptr;
            lens[i + 2] = ms.s[i].len;
        }
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(M, NULL, 102, argv, lens, &r), 0);
        vmux_reply_free(r);
        free_numbers(&ms);
    }
    DO(S("SADD"), k, VMUX_STRN(BINM, 3), S(""));

    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .count = 50);
    assert_int_equal(vmux_sscan_begin(M, k, &o, &it), 0);
    struct tally *t = new_tally("m", NULL);
    drain(it, 1, count_one, t);
    vmux_scan_end(it);
    assert_int_equal(t->strangers, 2); /* the binary and the empty member */
    t->strangers = 0;
    assert_all_seen(t, 1000);
    free(t);

    /* the binary and empty members come back as they are */
    vmux_scan_opts none = VMUX_INIT(vmux_scan_opts, .match = "m*");
    assert_int_equal(vmux_sscan_begin(M, k, &none, &it), 0);
    t = new_tally("m", NULL);
    drain(it, 1, count_one, t);
    vmux_scan_end(it);
    assert_int_equal(t->strangers, 0);
    free(t);

    vmux_str small = key("set-small"); /* UNLINKed with k below: one slot */
    DO(S("DEL"), small);
    DO(S("SADD"), small, VMUX_STRN(BINM, 3), S(""), S("x"));
    assert_int_equal(vmux_sscan_begin(M, small, NULL, &it), 0);
    struct collected c = {0};
    drain(it, 1, collect, &c);
    vmux_scan_end(it);
    assert_int_equal(c.n, 3);
    assert_true(collected_has(&c, VMUX_STRN(BINM, 3)));
    assert_true(collected_has(&c, S("")));
    assert_true(collected_has(&c, S("x")));
    collected_free(&c);
    DO(S("UNLINK"), k, small);
}

static void test_zscan(void **state)
{
    (void)state;
    vmux_str k = key("zset");
    DO(S("DEL"), k);
    for (int i = 0; i < 300; i++) {
        char m[32], sc[32];
        vmux_str mem = numbered(m, sizeof m, "z", i);
        snprintf(sc, sizeof sc, "%d.5", i - 100);
        DO(S("ZADD"), k, S(sc), mem);
    }
    DO(S("ZADD"), k, S("inf"), VMUX_STRN(BINM, 3), S("-inf"), S(""));

    /* scored */
    vmux_scan *it;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .count = 40);
    assert_int_equal(vmux_zscan_begin(M, k, &o, &it), 0);
    int seen[300] = {0}, specials = 0, rc;
    vmux_scored_array batch;
    while ((rc = vmux_zscan_next_scored(it, NULL, &batch)) == 1) {
        for (size_t i = 0; i < batch.count; i++) {
            const vmux_scored *e = &batch.items[i];
            int n = number_of(&e->member, "z");
            if (n >= 0 && n < 300) {
                assert_true(e->score == n - 100 + (n - 100 < 0 ? -0.5 : 0.5));
                seen[n]++;
            } else if (bytes_eq(&e->member, VMUX_STRN(BINM, 3))) {
                assert_true(isinf(e->score) && e->score > 0);
                specials++;
            } else {
                assert_true(bytes_eq(&e->member, S("")));
                assert_true(isinf(e->score) && e->score < 0);
                specials++;
            }
        }
        vmux_scored_array_free(&batch);
    }
    assert_int_equal(rc, 0);
    assert_null(batch.items);
    vmux_scan_end(it);
    for (int i = 0; i < 300; i++)
        assert_true(seen[i] >= 1);
    assert_true(specials >= 2);

    /* as text pairs */
    vmux_scan_opts m = VMUX_INIT(vmux_scan_opts, .match = "z1?");
    assert_int_equal(vmux_zscan_begin(M, k, &m, &it), 0);
    vmux_bytes_array pairs;
    int found = 0;
    while ((rc = vmux_scan_next(it, NULL, &pairs)) == 1) {
        assert_int_equal(pairs.count % 2, 0);
        for (size_t i = 0; i < pairs.count; i += 2) {
            int n = number_of(&pairs.items[i], "z");
            assert_true(n >= 10 && n <= 19);
            char want[32];
            snprintf(want, sizeof want, "%d.5", n - 100);
            assert_string_equal(pairs.items[i + 1].ptr, want);
            found++;
        }
        vmux_bytes_array_free(&pairs);
    }
    assert_int_equal(rc, 0);
    vmux_scan_end(it);
    assert_true(found >= 10);
    DO(S("UNLINK"), k);
}

/* ---- edges ---- */

static void test_missing_keys(void **state)
{
    (void)state;
    vmux_str k = key("missing");
    DO(S("DEL"), k);
    int (*begins[3])(vmux *, vmux_str, const vmux_scan_opts *,
                     vmux_scan **) = {vmux_hscan_begin, vmux_sscan_begin, vmux_zscan_begin};
    for (int b = 0; b < 3; b++) {
        vmux_scan *it;
        assert_int_equal(begins[b](M, k, NULL, &it), 0);
        struct collected c = {0};
        drain(it, b == 1 ? 1 : 2, collect, &c);
        assert_int_equal(c.n, 0);
        vmux_bytes_array batch = JUNK_ARRAY;
        assert_int_equal(vmux_scan_next(it, NULL, &batch), 0); /* and again */
        assert_null(batch.items);
        vmux_scan_end(it);
    }
}

static void test_wrongtype_then_retry(void **state)
{
    (void)state;
    vmux_str k = key("wrongtype");
    DO(S("SET"), k, S("s"));
    int (*begins[3])(vmux *, vmux_str, const vmux_scan_opts *,
                     vmux_scan **) = {vmux_hscan_begin, vmux_sscan_begin, vmux_zscan_begin};
    for (int b = 0; b < 3; b++) {
        DO(S("SET"), k, S("s"));
        vmux_scan *it;
        assert_int_equal(begins[b](M, k, NULL, &it), 0);
        vmux_bytes_array batch = JUNK_ARRAY;
        assert_wrongtype(vmux_scan_next(it, &EO, &batch));
        assert_null(batch.items);
        assert_int_equal(batch.count, 0);
        assert_wrongtype(vmux_scan_next(it, &EO, NULL));
        if (b == 2) {
            vmux_scored_array sc = JUNK_SCORED;
            assert_wrongtype(vmux_zscan_next_scored(it, &EO, &sc));
            assert_null(sc.items);
            assert_int_equal(sc.count, 0);
        }
        /* the failed step is repeated once the key holds the right type */
        DO(S("DEL"), k);
        if (b == 0)
            DO(S("HSET"), k, S("f"), S("v"));
        else if (b == 1)
            DO(S("SADD"), k, S("f"));
        else
            DO(S("ZADD"), k, S("1"), S("f"));
        struct collected c = {0};
        drain(it, b == 1 ? 1 : 2, collect, &c);
        assert_int_equal(c.n, 1);
        assert_true(collected_has(&c, S("f")));
        collected_free(&c);
        vmux_scan_end(it);
    }
    DO(S("DEL"), k);
}

static void test_null_batch(void **state)
{
    (void)state;
    vmux_str k = key("nullbatch");
    DO(S("DEL"), k);
    DO(S("SADD"), k, S("a"), S("b"));
    vmux_scan *it;
    assert_int_equal(vmux_sscan_begin(M, k, NULL, &it), 0);
    int rc, steps = 0;
    while ((rc = vmux_scan_next(it, NULL, NULL)) == 1)
        steps++;
    assert_int_equal(rc, 0);
    assert_int_equal(steps, 1); /* a small set comes in one step */
    vmux_scan_end(it);
    assert_int_equal(vmux_zscan_begin(M, k, NULL, &it), 0);
    assert_wrongtype(vmux_zscan_next_scored(it, &EO, NULL));
    vmux_scan_end(it);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    vmux_str k = key("bad");
    vmux_scan *it = (vmux_scan *)junk;
    assert_int_equal(vmux_scan_begin(NULL, NULL, &it), VMUX_ERR_INVALID_ARG);
    assert_null(it);
    assert_int_equal(vmux_scan_begin(M, NULL, NULL), VMUX_ERR_INVALID_ARG);
    vmux_scan_opts neg = VMUX_INIT(vmux_scan_opts, .count = -1);
    it = (vmux_scan *)junk;
    assert_int_equal(vmux_scan_begin(M, &neg, &it), VMUX_ERR_INVALID_ARG);
    assert_null(it);
    assert_int_equal(vmux_hscan_begin(M, k, &neg, &it), VMUX_ERR_INVALID_ARG);
    vmux_scan_opts typed = VMUX_INIT(vmux_scan_opts, .type = "hash");
    assert_int_equal(vmux_hscan_begin(M, k, &typed, &it), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_sscan_begin(M, k, &typed, &it), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_zscan_begin(M, k, &typed, &it), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_sscan_begin(M, VMUX_STRN(NULL, 3), NULL, &it), VMUX_ERR_INVALID_ARG);
    assert_null(it);
    assert_int_equal(vmux_zscan_begin(NULL, k, NULL, &it), VMUX_ERR_INVALID_ARG);

    vmux_bytes_array batch = JUNK_ARRAY;
    assert_int_equal(vmux_scan_next(NULL, NULL, &batch), VMUX_ERR_INVALID_ARG);
    assert_null(batch.items);
    assert_int_equal(batch.count, 0);
    vmux_scored_array sc = JUNK_SCORED;
    assert_int_equal(vmux_zscan_next_scored(NULL, NULL, &sc), VMUX_ERR_INVALID_ARG);
    assert_null(sc.items);

    /* scored batches only from ZSCAN */
    assert_int_equal(vmux_scan_begin(M, NULL, &it), 0);
    sc = JUNK_SCORED;
    assert_int_equal(vmux_zscan_next_scored(it, NULL, &sc), VMUX_ERR_INVALID_ARG);
    assert_null(sc.items);
    assert_int_equal(sc.count, 0);
    vmux_scan_end(it);
    assert_int_equal(vmux_hscan_begin(M, k, NULL, &it), 0);
    assert_int_equal(vmux_zscan_next_scored(it, NULL, &sc), VMUX_ERR_INVALID_ARG);
    vmux_scan_end(it);
    vmux_scan_end(NULL);
}

/* Options are copied by begin: the caller's strings may go away. */
/* A refused vmux_*scan_begin() says which argument broke which rule in vmux_last_error() (they
 * take no error buffer), naming it as scan.h does; a success clears it. */
static void test_begin_words(void **state)
{
    (void)state;
    vmux_str k = key("words");
    vmux_scan *it;
    vmux_scan_opts neg = VMUX_INIT(vmux_scan_opts, .count = -1);
    vmux_scan_opts typed = VMUX_INIT(vmux_scan_opts, .type = "hash");
    vmux_scan_opts unsized = {0};
    VT_LAST_ERROR(vmux_scan_begin(M, NULL, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: out is NULL");
    VT_LAST_ERROR(vmux_scan_begin(NULL, NULL, &it), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    VT_LAST_ERROR(vmux_scan_begin(M, &unsized, &it), VMUX_ERR_INVALID_ARG,
                  "invalid argument: o->size is 0: o not made with VMUX_INIT (abi.h)");
    VT_LAST_ERROR(vmux_scan_begin(M, &neg, &it), VMUX_ERR_INVALID_ARG,
                  "invalid argument: o->count is -1: must be at least 0");
    VT_LAST_ERROR(
        vmux_sscan_begin(M, k, &typed, &it), VMUX_ERR_INVALID_ARG,
        "invalid argument: o->type is set: only SCAN takes TYPE, not HSCAN, SSCAN or ZSCAN");
    VT_LAST_ERROR(
        vmux_zscan_begin(M, VMUX_STRN(NULL, 3), NULL, &it), VMUX_ERR_INVALID_ARG,
        "invalid argument: key is at NULL with length 3 (a vmux_str {NULL, len > 0} is no string)");
    VT_LAST_ERROR(vmux_hscan_begin(M, k, &neg, &it), VMUX_ERR_INVALID_ARG,
                  "invalid argument: o->count is -1: must be at least 0");
    VT_LAST_ERROR(vmux_scan_begin(M, &typed, &it), 0, "");
    vmux_scan_end(it);
}

static void test_options_copied(void **state)
{
    (void)state;
    vmux_scan *it;
    vmux_str k = key("bad");
    char match[64];
    snprintf(match, sizeof match, "%.*s", (int)k.len, (const char *)k.ptr);
    DO(S("SET"), k, S("v"));
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = match, .count = 1000);
    assert_int_equal(vmux_scan_begin(M, &o, &it), 0);
    memset(match, 'x', sizeof match - 1);
    match[sizeof match - 1] = '\0';
    struct collected c = {0};
    drain(it, 1, collect, &c);
    vmux_scan_end(it);
    assert_int_equal(c.n, 1);
    assert_true(collected_has(&c, k));
    collected_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_10000_keys),
        cmocka_unit_test(test_scan_type_and_binary_keys),
        cmocka_unit_test(test_hscan_10000_fields),
        cmocka_unit_test(test_sscan),
        cmocka_unit_test(test_zscan),
        cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_wrongtype_then_retry),
        cmocka_unit_test(test_null_batch),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_options_copied),
        cmocka_unit_test(test_begin_words),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}
