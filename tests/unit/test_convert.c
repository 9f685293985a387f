/*
 * The reply converters of types.h, hashes.h and streams.h, on replies parsed from RESP text: an
 * out-parameter NULL drops the value and still gives the status the converter would give with
 * one (api-conventions.md: any out-parameter may be NULL); a reply NULL is VMUX_ERR_INVALID_ARG;
 * a subnormal score, as the server writes it ("1e-310"), reads back as that double; XINFO's
 * replies are read by field name (in any order, unknown fields skipped, older servers' shorter
 * objects taken) and refused in every wrong shape. Also the message queue's counters with a
 * NULL queue.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "core/reader.h"
#include "vmux/vmux.h"

static const struct vmux_reader_limits limits = {1u << 20, 1u << 20, 2u << 20};

/* The one reply in resp (the caller frees it). */
static vmux_reply *parse(const char *resp)
{
    vmux_reader *rd = vmux__reader_new(&limits);
    assert_non_null(rd);
    assert_int_equal(vmux__reader_feed(rd, resp, strlen(resp)), 0);
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    vmux__reader_free(rd);
    return r;
}

/* A converter with a real out-parameter, and with NULL: the same status. */
#define SAME_STATUS(conv, type, reply, free_fn)                                                    \
    do {                                                                                           \
        type out_;                                                                                 \
        int with_ = conv((reply), &out_);                                                          \
        free_fn(&out_);                                                                            \
        assert_int_equal(conv((reply), NULL), with_);                                              \
    } while (0)

static void no_free(void *p)
{
    (void)p;
}

/* Every converter on one reply, out NULL against out given. */
static void check_reply(const char *resp)
{
    vmux_reply *r = parse(resp);
    SAME_STATUS(vmux_reply_to_bytes, vmux_bytes, r, vmux_bytes_free);
    SAME_STATUS(vmux_reply_to_int, int64_t, r, no_free);
    SAME_STATUS(vmux_reply_to_double, double, r, no_free);
    SAME_STATUS(vmux_reply_to_bool, bool, r, no_free);
    SAME_STATUS(vmux_reply_to_bytes_array, vmux_bytes_array, r, vmux_bytes_array_free);
    SAME_STATUS(vmux_reply_to_scored_array, vmux_scored_array, r, vmux_scored_array_free);
    SAME_STATUS(vmux_reply_to_field_array, vmux_field_array, r, vmux_field_array_free);
    SAME_STATUS(vmux_reply_to_stream_entries, vmux_stream_entry_array, r,
                vmux_stream_entry_array_free);
    SAME_STATUS(vmux_reply_to_stream_batches, vmux_stream_batch_array, r,
                vmux_stream_batch_array_free);
    SAME_STATUS(vmux_reply_to_stream_info, vmux_stream_info, r, vmux_stream_info_free);
    SAME_STATUS(vmux_reply_to_stream_groups, vmux_stream_group_info_array, r,
                vmux_stream_group_info_array_free);
    SAME_STATUS(vmux_reply_to_stream_consumers, vmux_stream_consumer_info_array, r,
                vmux_stream_consumer_info_array_free);
    vmux_reply_free(r);
}

static void test_out_null_drops_the_value(void **state)
{
    (void)state;
    check_reply("$5\r\nhello\r\n");
    check_reply(":42\r\n");
    check_reply("+OK\r\n");
    check_reply("$-1\r\n");
    check_reply("-ERR no\r\n");
    check_reply("*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$3\r\n2.5\r\n");
    check_reply("*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    check_reply("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    /* the statuses themselves, for the shapes that matter */
    vmux_reply *pairs = parse("*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$3\r\n2.5\r\n");
    assert_int_equal(vmux_reply_to_scored_array(pairs, NULL), 0);
    assert_int_equal(vmux_reply_to_field_array(pairs, NULL), 0);
    assert_int_equal(vmux_reply_to_int(pairs, NULL), VMUX_ERR_PROTOCOL);
    vmux_reply_free(pairs);
    vmux_reply *err = parse("-ERR no\r\n");
    assert_int_equal(vmux_reply_to_bytes(err, NULL), VMUX_ERR_SERVER);
    vmux_reply_free(err);
}

static void test_reply_null(void **state)
{
    (void)state;
    int64_t n = 7;
    assert_int_equal(vmux_reply_to_int(NULL, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_reply_to_int(NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_reply_to_bytes_array(NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_reply_to_stream_batches(NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_reply_to_stream_info(NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_reply_to_stream_groups(NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_reply_to_stream_consumers(NULL, NULL), VMUX_ERR_INVALID_ARG);
}

static void test_subnormal_scores(void **state)
{
    (void)state;
    double d = 0;
    vmux_reply *r = parse("$6\r\n1e-310\r\n");
    errno = EINTR;
    assert_int_equal(vmux_reply_to_double(r, &d), 0);
    assert_true(d == 1e-310);
    assert_int_equal(errno, EINTR); /* strtod's ERANGE is not left to the caller */
    vmux_reply_free(r);
    r = parse("$6\r\n5e-324\r\n"); /* the smallest subnormal */
    assert_int_equal(vmux_reply_to_double(r, &d), 0);
    assert_true(d == 5e-324);
    vmux_reply_free(r);
    r = parse("*2\r\n$1\r\nm\r\n$6\r\n1e-310\r\n"); /* ZRANGE ... WITHSCORES, ZPOPMIN */
    vmux_scored_array a;
    assert_int_equal(vmux_reply_to_scored_array(r, &a), 0);
    assert_int_equal(a.count, 1);
    assert_true(a.items[0].score == 1e-310);
    vmux_scored_array_free(&a);
    vmux_reply_free(r);
    r = parse("$5\r\n1e-3x\r\n"); /* still not a number */
    assert_int_equal(vmux_reply_to_double(r, &d), VMUX_ERR_PROTOCOL);
    vmux_reply_free(r);
}

/* INCRBYFLOAT writes a large result in full (1e300: 301 digits): read, however long. */
static void test_long_number_text(void **state)
{
    (void)state;
    char resp[400], digits[302];
    memset(digits, '0', sizeof digits - 1);
    digits[0] = '1';
    digits[301] = '\0';
    snprintf(resp, sizeof resp, "$301\r\n%s\r\n", digits);
    vmux_reply *r = parse(resp);
    double d = 0;
    assert_int_equal(vmux_reply_to_double(r, &d), 0);
    assert_true(d == 1e300);
    vmux_reply_free(r);
    r = parse("$4\r\n1.5 \r\n"); /* text after the number */
    assert_int_equal(vmux_reply_to_double(r, &d), VMUX_ERR_PROTOCOL);
    vmux_reply_free(r);
}

/* probe36: strtod's other inputs are not the server's numbers, and a finite number beyond a
 * double (INCRBYFLOAT computes in long double: 1e308 twice is 2e308) is no infinity. */
static void test_number_text_strict(void **state)
{
    (void)state;
    const char *refused[] = {
        "$4\r\n 3.5\r\n",   "$4\r\n0x10\r\n",     "$6\r\n-0X1p3\r\n",
        "$1\r\n-\r\n",      "$5\r\n2e308\r\n",    "$23\r\n1.9999999999999999e+308\r\n",
        "$6\r\n-1e999\r\n", "$8\r\ninfinity\r\n", "$9\r\n-Infinity\r\n",
        "$6\r\nnan(1)\r\n", "$6\r\n1e-400\r\n",   "$7\r\n-1e-400\r\n",
        "$2\r\nin\r\n"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        vmux_reply *r = parse(refused[i]);
        double d = 1;
        if (vmux_reply_to_double(r, &d) != VMUX_ERR_PROTOCOL || d != 0)
            fail_msg("%s: taken as %g", refused[i], d);
        vmux_reply_free(r);
    }
    const char *taken[] = {"$3\r\ninf\r\n",
                           "$4\r\n-inf\r\n",
                           "$4\r\n+inf\r\n",
                           "$3\r\nnan\r\n",
                           "$4\r\n-0.5\r\n",
                           "$6\r\n.5e+10\r\n",
                           "$23\r\n1.7976931348623157e+308\r\n",
                           "$3\r\nINF\r\n",
                           "$6\r\n0e-400\r\n"};
    const double want[] = {INFINITY, -INFINITY, INFINITY, NAN, -0.5, .5e10, 1.7976931348623157e308,
                           INFINITY, 0};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        vmux_reply *r = parse(taken[i]);
        double d = 0;
        assert_int_equal(vmux_reply_to_double(r, &d), 0);
        if (isnan(want[i]) ? !isnan(d) : d != want[i])
            fail_msg("%s: read as %g", taken[i], d);
        vmux_reply_free(r);
    }
}

/*
 * RESP text from tokens, for replies built by hand: ":n" an integer, "_" nil, "*n" an array
 * header (its n elements follow), "+s" a status, "-s" an error, anything else a bulk string.
 */
static vmux_reply *parse_tokens(const char *const *tokens, size_t n)
{
    char resp[4096];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = tokens[i];
        int w = strchr(":*+-", t[0]) != NULL && t[1] != '\0'
                    ? snprintf(resp + len, sizeof resp - len, "%s\r\n", t)
                : strcmp(t, "_") == 0
                    ? snprintf(resp + len, sizeof resp - len, "$-1\r\n")
                    : snprintf(resp + len, sizeof resp - len, "$%zu\r\n%s\r\n", strlen(t), t);
        assert_true(w > 0 && (size_t)w < sizeof resp - len);
        len += (size_t)w;
    }
    return parse(resp);
}
#define TOKENS(...)                                                                                \
    parse_tokens((const char *const[]){__VA_ARGS__},                                               \
                 sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static void assert_text(vmux_bytes b, const char *want)
{
    assert_non_null(b.ptr);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.ptr, want, b.len);
}

/* XINFO STREAM: fields in another order than the server's, with fields no server sends yet. */
static void test_xinfo_stream_by_name(void **state)
{
    (void)state;
    vmux_reply *r =
        TOKENS("*26", "last-entry", "*2", "2-1", "*2", "b", "2", "future-map", "*4", "k", ":1", "v",
               "_", "groups", ":1", "entries-added", ":3", "first-entry", "*2", "1-1", "*2", "a",
               "1", "length", ":2", "radix-tree-nodes", ":2", "future-count", ":9",
               "radix-tree-keys", ":1", "recorded-first-entry-id", "1-1", "max-deleted-entry-id",
               "3-1", "last-generated-id", "3-1", "future-nil", "_");
    vmux_stream_info info;
    assert_int_equal(vmux_reply_to_stream_info(r, &info), 0);
    assert_int_equal(info.length, 2);
    assert_int_equal(info.radix_tree_keys, 1);
    assert_int_equal(info.radix_tree_nodes, 2);
    assert_int_equal(info.groups, 1);
    assert_int_equal(info.entries_added, 3);
    assert_text(info.last_generated_id, "3-1");
    assert_text(info.max_deleted_entry_id, "3-1");
    assert_text(info.recorded_first_entry_id, "1-1");
    assert_text(info.first_entry.id, "1-1");
    assert_int_equal(info.first_entry.fields.count, 2);
    assert_text(info.first_entry.fields.items[1], "1");
    assert_text(info.last_entry.id, "2-1");
    assert_text(info.last_entry.fields.items[0], "b");
    vmux_stream_info_free(&info);
    assert_null(info.first_entry.id.ptr);
    assert_int_equal(vmux_reply_to_stream_info(r, NULL), 0);
    vmux_reply_free(r);
    /* A server before 7.0, an empty stream: what it leaves out reads as unknown. */
    r = TOKENS("*14", "length", ":0", "radix-tree-keys", ":0", "radix-tree-nodes", ":1", "groups",
               ":0", "last-generated-id", "0-0", "first-entry", "_", "last-entry", "_");
    assert_int_equal(vmux_reply_to_stream_info(r, &info), 0);
    assert_int_equal(info.entries_added, VMUX_STREAM_UNKNOWN);
    assert_null(info.max_deleted_entry_id.ptr);
    assert_null(info.recorded_first_entry_id.ptr);
    assert_null(info.first_entry.id.ptr);
    assert_null(info.last_entry.id.ptr);
    vmux_stream_info_free(&info);
    vmux_reply_free(r);
}

/* XINFO GROUPS and CONSUMERS: nil counts, older servers' shorter objects, extra fields. */
static void test_xinfo_groups_consumers_by_name(void **state)
{
    (void)state;
    vmux_reply *r =
        TOKENS("*2", "*12", "name", "g", "consumers", ":1", "pending", ":2", "last-delivered-id",
               "5-0", "entries-read", "_", "lag", "_", "*10", "pending", ":0", "name", "h",
               "future", "x", "consumers", ":0", "last-delivered-id", "0-0");
    vmux_stream_group_info_array g;
    assert_int_equal(vmux_reply_to_stream_groups(r, &g), 0);
    assert_int_equal(g.count, 2);
    assert_text(g.items[0].name, "g");
    assert_int_equal(g.items[0].consumers, 1);
    assert_int_equal(g.items[0].pending, 2);
    assert_text(g.items[0].last_delivered_id, "5-0");
    assert_int_equal(g.items[0].entries_read, VMUX_STREAM_UNKNOWN); /* nil */
    assert_int_equal(g.items[0].lag, VMUX_STREAM_UNKNOWN);
    assert_text(g.items[1].name, "h");
    assert_int_equal(g.items[1].entries_read, VMUX_STREAM_UNKNOWN); /* left out (6.2) */
    vmux_stream_group_info_array_free(&g);
    assert_int_equal(vmux_reply_to_stream_groups(r, NULL), 0);
    vmux_reply_free(r);
    r = TOKENS("*2", "*8", "name", "a", "pending", ":1", "idle", ":30", "inactive", ":-1", "*8",
               "idle", ":5", "seen-by", "*1", "x", "name", "b", "pending", ":0");
    vmux_stream_consumer_info_array c;
    assert_int_equal(vmux_reply_to_stream_consumers(r, &c), 0);
    assert_int_equal(c.count, 2);
    assert_text(c.items[0].name, "a");
    assert_int_equal(c.items[0].pending, 1);
    assert_int_equal(c.items[0].idle_ms, 30);
    assert_int_equal(c.items[0].inactive_ms, -1);
    assert_text(c.items[1].name, "b");
    assert_int_equal(c.items[1].idle_ms, 5);
    assert_int_equal(c.items[1].inactive_ms, VMUX_STREAM_UNKNOWN); /* left out (before 7.2) */
    vmux_stream_consumer_info_array_free(&c);
    vmux_reply_free(r);
    r = TOKENS("*0");
    assert_int_equal(vmux_reply_to_stream_consumers(r, &c), 0);
    assert_int_equal(c.count, 0);
    assert_null(c.items);
    vmux_reply_free(r);
}

/* Each converter on a reply of the wrong shape: VMUX_ERR_PROTOCOL, out zeroed, nothing leaked. */
static void refused_by_all(vmux_reply *r, int want)
{
    vmux_stream_info info = {.length = 5};
    assert_int_equal(vmux_reply_to_stream_info(r, &info), want);
    assert_int_equal(info.length, 0);
    assert_null(info.last_generated_id.ptr);
    assert_null(info.first_entry.id.ptr);
    vmux_stream_group_info_array g = {(vmux_stream_group_info *)1, 3};
    assert_int_equal(vmux_reply_to_stream_groups(r, &g), want);
    assert_null(g.items);
    assert_int_equal(g.count, 0);
    vmux_stream_consumer_info_array c = {(vmux_stream_consumer_info *)1, 3};
    assert_int_equal(vmux_reply_to_stream_consumers(r, &c), want);
    assert_null(c.items);
    assert_int_equal(c.count, 0);
    vmux_reply_free(r);
}

/* XINFO STREAM's converter on r: VMUX_ERR_PROTOCOL (with out NULL too), nothing left in out. */
static void info_refused(vmux_reply *r)
{
    vmux_stream_info info;
    assert_int_equal(vmux_reply_to_stream_info(r, &info), VMUX_ERR_PROTOCOL);
    assert_null(info.last_generated_id.ptr);
    assert_null(info.first_entry.id.ptr);
    assert_null(info.first_entry.fields.items);
    assert_int_equal(vmux_reply_to_stream_info(r, NULL), VMUX_ERR_PROTOCOL);
    vmux_reply_free(r);
}

/* A stream's first fields, all good, before the field a malformed reply gets wrong. */
#define STREAM_START                                                                               \
    "length", ":1", "radix-tree-keys", ":1", "radix-tree-nodes", ":1", "groups", ":0"

static void test_xinfo_malformed(void **state)
{
    (void)state;
    refused_by_all(TOKENS("_"), VMUX_ERR_PROTOCOL);
    refused_by_all(TOKENS("+OK"), VMUX_ERR_PROTOCOL);
    refused_by_all(TOKENS(":3"), VMUX_ERR_PROTOCOL);
    refused_by_all(TOKENS("-ERR no such key"), VMUX_ERR_SERVER);
    /* the objects themselves (a stream; a list of one group or consumer) */
    refused_by_all(TOKENS("*3", "length", ":1", "groups"), VMUX_ERR_PROTOCOL);     /* odd */
    refused_by_all(TOKENS("*1", "*3", "name", "g", "pending"), VMUX_ERR_PROTOCOL); /* odd */
    refused_by_all(TOKENS("*1", "*2", ":1", "name"), VMUX_ERR_PROTOCOL); /* a name no string */
    refused_by_all(TOKENS("*1", "x"), VMUX_ERR_PROTOCOL);                /* an element no object */
    refused_by_all(TOKENS("*1", "_"), VMUX_ERR_PROTOCOL);
    /* a name twice, a value of the wrong kind, a required field missing: each kind of object */
    vmux_reply *r = TOKENS("*1", "*10", "name", "g", "name", "h", "consumers", ":0", "pending",
                           ":0", "last-delivered-id", "0-0");
    vmux_stream_group_info_array g;
    assert_int_equal(vmux_reply_to_stream_groups(r, &g), VMUX_ERR_PROTOCOL);
    vmux_reply_free(r);
    r = TOKENS("*2", "*6", "name", "a", "pending", ":0", "idle", ":1", "*6", "name", "b", "pending",
               "0", "idle", ":1"); /* the second's count as text */
    vmux_stream_consumer_info_array c;
    assert_int_equal(vmux_reply_to_stream_consumers(r, &c), VMUX_ERR_PROTOCOL);
    assert_null(c.items);
    vmux_reply_free(r);
    r = TOKENS("*1", "*4", "name", "a", "pending", ":0"); /* no idle */
    assert_int_equal(vmux_reply_to_stream_consumers(r, &c), VMUX_ERR_PROTOCOL);
    vmux_reply_free(r);
    info_refused(TOKENS("*14", STREAM_START, "last-generated-id", "1-1", "first-entry", "*1", "1-1",
                        "last-entry", "_")); /* an entry without its fields */
    info_refused(TOKENS("*14", STREAM_START, "last-generated-id", "1-1", "first-entry", "*2", "1-1",
                        "*2", "a", "1", "last-entry", ":7")); /* a good entry, a bad one */
    info_refused(TOKENS("*12", STREAM_START, "last-generated-id", "1-1", "first-entry",
                        "_")); /* no last entry */
    info_refused(TOKENS("*16", STREAM_START, "last-generated-id", "1-1", "last-generated-id", "2-2",
                        "first-entry", "_", "last-entry",
                        "_")); /* twice: the second would leak the first */
    info_refused(TOKENS("*14", STREAM_START, "last-generated-id", ":1", "first-entry", "_",
                        "last-entry", "_")); /* an ID as a number */
}

static void test_msgq_null(void **state)
{
    (void)state;
    assert_int_equal(vmux_msgq_length(NULL), 0);
    assert_int_equal(vmux_msgq_dropped(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_null_drops_the_value),
        cmocka_unit_test(test_reply_null),
        cmocka_unit_test(test_subnormal_scores),
        cmocka_unit_test(test_long_number_text),
        cmocka_unit_test(test_number_text_strict),
        cmocka_unit_test(test_msgq_null),
        cmocka_unit_test(test_xinfo_stream_by_name),
        cmocka_unit_test(test_xinfo_groups_consumers_by_name),
        cmocka_unit_test(test_xinfo_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
