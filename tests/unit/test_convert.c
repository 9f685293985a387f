/*
 * The reply converters of types.h, hashes.h and streams.h, on replies parsed from RESP text: an
 * out-parameter NULL drops the value and still gives the status the converter would give with
 * one (api-conventions.md: any out-parameter may be NULL); a reply NULL is VMUX_ERR_INVALID_ARG;
 * a subnormal score, as the server writes it ("1e-310"), reads back as that double. Also the
 * message queue's counters with a NULL queue.
 */
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
}

static void test_subnormal_scores(void **state)
{
    (void)state;
    double d = 0;
    vmux_reply *r = parse("$6\r\n1e-310\r\n");
    assert_int_equal(vmux_reply_to_double(r, &d), 0);
    assert_true(d == 1e-310);
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
    const char *refused[] = {"$4\r\n 3.5\r\n",   "$4\r\n0x10\r\n",
                             "$6\r\n-0X1p3\r\n", "$1\r\n-\r\n",
                             "$5\r\n2e308\r\n",  "$23\r\n1.9999999999999999e+308\r\n",
                             "$6\r\n-1e999\r\n"};
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
                           "$23\r\n1.7976931348623157e+308\r\n"};
    const double want[] = {INFINITY, -INFINITY, INFINITY, NAN, -0.5, .5e10, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        vmux_reply *r = parse(taken[i]);
        double d = 0;
        assert_int_equal(vmux_reply_to_double(r, &d), 0);
        if (isnan(want[i]) ? !isnan(d) : d != want[i])
            fail_msg("%s: read as %g", taken[i], d);
        vmux_reply_free(r);
    }
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
        cmocka_unit_test(test_out_null_drops_the_value), cmocka_unit_test(test_reply_null),
        cmocka_unit_test(test_subnormal_scores),         cmocka_unit_test(test_long_number_text),
        cmocka_unit_test(test_number_text_strict),       cmocka_unit_test(test_msgq_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
