/*
 * The bitmap commands (bitmaps.h) against a real server: SETBIT with the bit it replaced,
 * growing the string, GETBIT inside, past the end and on a missing key, BITCOUNT of the whole
 * string and of ranges in bytes and in bits (negative, open-ended), BITPOS for 1 and 0 bits with
 * and without an end (the zero padding the server reads past the end); binary keys and values
 * with NUL bytes, offsets at and past the server's limit, WRONGTYPE, every argument refused with
 * nothing sent, and results zeroed on every error. Values are checked against GET through the
 * generic API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h"

const char cmd_family[] = "bits";

/* The server's largest bit offset with the default proto-max-bulk-len (512 MB). */
#define LAST_OFFSET INT64_C(4294967295)

#define RANGE(...) VMUX_INIT(vmux_bitrange_opts, __VA_ARGS__)

static void set_value(vmux_str k, vmux_str v)
{
    DO(S("DEL"), k);
    DO(S("SET"), k, v);
}

static void test_setbit_getbit(void **state)
{
    (void)state;
    vmux_str k = binkey("set");
    DO(S("DEL"), k);
    bool old = true;
    assert_int_equal(vmux_setbit(M, NULL, k, 7, true, &old), 0);
    assert_false(old);
    assert_raw_str(RAW(S("GET"), k), VMUX_STRN("\x01", 1)); /* bit 0 is the first byte's top */
    assert_int_equal(vmux_setbit(M, NULL, k, 7, true, &old), 0);
    assert_true(old);
    assert_int_equal(vmux_setbit(M, NULL, k, 0, true, NULL), 0);
    assert_raw_str(RAW(S("GET"), k), VMUX_STRN("\x81", 1));
    assert_int_equal(vmux_setbit(M, NULL, k, 7, false, &old), 0);
    assert_true(old);
    assert_raw_str(RAW(S("GET"), k), VMUX_STRN("\x80", 1));
    /* far past the end: the string grows, zero-filled */
    assert_int_equal(vmux_setbit(M, NULL, k, 8 * 12 + 1, true, &old), 0);
    assert_false(old);
    assert_raw_str(RAW(S("GET"), k), VMUX_STRN("\x80\0\0\0\0\0\0\0\0\0\0\0\x40", 13));

    bool bit = false;
    assert_int_equal(vmux_getbit(M, NULL, k, 0, &bit), 0);
    assert_true(bit);
    assert_int_equal(vmux_getbit(M, NULL, k, 1, &bit), 0);
    assert_false(bit);
    assert_int_equal(vmux_getbit(M, NULL, k, 97, &bit), 0);
    assert_true(bit);
    bit = true;
    assert_int_equal(vmux_getbit(M, NULL, k, 98, &bit), 0);
    assert_false(bit);
    bit = true;
    assert_int_equal(vmux_getbit(M, NULL, k, LAST_OFFSET, &bit), 0); /* past the end: 0 */
    assert_false(bit);
    assert_int_equal(vmux_getbit(M, NULL, k, 0, NULL), 0);
    vmux_str missing = key("set-missing");
    DO(S("DEL"), missing);
    bit = true;
    assert_int_equal(vmux_getbit(M, NULL, missing, 5, &bit), 0);
    assert_false(bit);
    assert_int_equal(raw_int(RAW(S("EXISTS"), missing)), 0);
}

/* Past the server's limit: its error, with its words; nothing written. */
static void test_offset_past_the_limit(void **state)
{
    (void)state;
    vmux_str k = key("limit");
    DO(S("DEL"), k);
    bool b = true;
    errbuf[0] = '\0';
    assert_int_equal(vmux_setbit(M, &EO, k, LAST_OFFSET + 1, true, &b), VMUX_ERR_SERVER);
    assert_false(b);
    assert_non_null(strstr(errbuf, "bit offset is not an integer or out of range"));
    assert_int_equal(raw_int(RAW(S("EXISTS"), k)), 0);
    b = true;
    errbuf[0] = '\0';
    assert_int_equal(vmux_getbit(M, &EO, k, INT64_MAX, &b), VMUX_ERR_SERVER);
    assert_false(b);
    assert_non_null(strstr(errbuf, "bit offset"));
}

static int64_t bitcount(vmux_str k, const vmux_bitrange_opts *range)
{
    int64_t n = -1;
    assert_int_equal(vmux_bitcount(M, NULL, k, range, &n), 0);
    return n;
}

static void test_bitcount(void **state)
{
    (void)state;
    vmux_str k = binkey("count");
    set_value(k, S("foobar")); /* the server's own example: 26 bits set */
    assert_int_equal(bitcount(k, NULL), 26);
    assert_int_equal(bitcount(k, &RANGE(.start = 0, .end = 0)), 4);
    assert_int_equal(bitcount(k, &RANGE(.start = 1, .end = 1)), 6);
    assert_int_equal(bitcount(k, &RANGE(.start = -2, .end = -1)), 7); /* "ar" */
    assert_int_equal(bitcount(k, &RANGE(.start = 5, .end = 30, .unit = VMUX_BIT_UNIT_BIT)), 17);
    assert_int_equal(bitcount(k, &RANGE(.start = -8, .end = -1, .unit = VMUX_BIT_UNIT_BIT)), 4);
    assert_int_equal(bitcount(k, &RANGE(.start = 1, .no_end = true, .end = 0)), 22);
    assert_int_equal(bitcount(k, &RANGE(.start = 3, .end = 1)), 0); /* an empty range */
    assert_int_equal(vmux_bitcount(M, NULL, k, NULL, NULL), 0);

    set_value(k, VMUX_STRN("\0\xff\0", 3));
    assert_int_equal(bitcount(k, NULL), 8);
    assert_int_equal(bitcount(k, &RANGE(.start = 2, .end = 2)), 0);
    vmux_str missing = key("count-missing");
    DO(S("DEL"), missing);
    assert_int_equal(bitcount(missing, NULL), 0);
    assert_int_equal(bitcount(missing, &RANGE(.start = 0, .end = -1)), 0);
}

static int64_t bitpos(vmux_str k, bool bit, const vmux_bitrange_opts *range)
{
    int64_t pos = -2;
    assert_int_equal(vmux_bitpos(M, NULL, k, bit, range, &pos), 0);
    return pos;
}

static void test_bitpos(void **state)
{
    (void)state;
    vmux_str k = binkey("pos");
    set_value(k, VMUX_STRN("\xff\xf0\0", 3));
    assert_int_equal(bitpos(k, true, NULL), 0);
    assert_int_equal(bitpos(k, false, NULL), 12);
    assert_int_equal(bitpos(k, true, &RANGE(.start = 2, .end = -1)), -1);
    assert_int_equal(bitpos(k, false, &RANGE(.start = 2, .end = -1)), 16); /* counted from bit 0 */
    assert_int_equal(bitpos(k, true, &RANGE(.start = 1, .no_end = true)), 8);
    vmux_bitrange_opts bits = RANGE(.start = 7, .end = 15, .unit = VMUX_BIT_UNIT_BIT);
    assert_int_equal(bitpos(k, true, &bits), 7);
    assert_int_equal(bitpos(k, false, &bits), 12);
    assert_int_equal(vmux_bitpos(M, NULL, k, true, &bits, NULL), 0);

    /* every bit 1: a 0 is found past the end without an end, not with one */
    set_value(k, VMUX_STRN("\xff\xff", 2));
    assert_int_equal(bitpos(k, false, NULL), 16);
    assert_int_equal(bitpos(k, false, &RANGE(.start = 1, .no_end = true)), 16);
    assert_int_equal(bitpos(k, false, &RANGE(.start = 0, .end = -1)), -1);
    assert_int_equal(bitpos(k, false, &RANGE(.start = 0, .end = 15, .unit = VMUX_BIT_UNIT_BIT)),
                     -1);

    vmux_str missing = key("pos-missing");
    DO(S("DEL"), missing);
    assert_int_equal(bitpos(missing, false, NULL), 0);
    assert_int_equal(bitpos(missing, true, NULL), -1);
    assert_int_equal(bitpos(missing, false, &RANGE(.start = 0, .end = -1)), 0);
}

static void test_wrongtype(void **state)
{
    (void)state;
    vmux_str k = key("list");
    DO(S("DEL"), k);
    DO(S("RPUSH"), k, S("x"));
    bool b = true;
    assert_wrongtype(vmux_setbit(M, &EO, k, 1, true, &b));
    assert_false(b);
    b = true;
    assert_wrongtype(vmux_setbit(M, &EO, k, 1, true, NULL));
    assert_wrongtype(vmux_getbit(M, &EO, k, 1, &b));
    assert_false(b);
    int64_t n = 7;
    assert_wrongtype(vmux_bitcount(M, &EO, k, NULL, &n));
    assert_int_equal(n, 0);
    n = 7;
    assert_wrongtype(vmux_bitcount(M, &EO, k, &RANGE(.start = 0, .end = -1), &n));
    assert_int_equal(n, 0);
    n = 7;
    assert_wrongtype(vmux_bitpos(M, &EO, k, true, NULL, &n));
    assert_int_equal(n, 0);
    assert_raw_str(RAW(S("LPOP"), k), S("x"));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    vmux_str k = key("bad"), nul = VMUX_STRN(NULL, 3);
    DO(S("DEL"), k);
    strcpy(errbuf, "untouched");
    bool b = true;
    assert_int_equal(vmux_setbit(M, &EO, k, -1, true, &b), VMUX_ERR_INVALID_ARG);
    assert_false(b);
    assert_int_equal(vmux_setbit(M, &EO, k, INT64_MIN, true, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_setbit(M, &EO, nul, 0, true, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(raw_int(RAW(S("EXISTS"), k)), 0);
    b = true;
    assert_int_equal(vmux_getbit(M, &EO, k, -8, &b), VMUX_ERR_INVALID_ARG);
    assert_false(b);
    assert_int_equal(vmux_getbit(M, &EO, nul, 0, &b), VMUX_ERR_INVALID_ARG);

    vmux_bitrange_opts bad_unit = RANGE(.unit = (vmux_bit_unit)2);
    vmux_bitrange_opts open_bits = RANGE(.no_end = true, .unit = VMUX_BIT_UNIT_BIT);
    vmux_bitrange_opts unsized = {0}; /* not made with VMUX_INIT */
    const vmux_bitrange_opts *refused[] = {&bad_unit, &open_bits, &unsized};
    for (size_t i = 0; i < 3; i++) {
        int64_t n = 7;
        assert_int_equal(vmux_bitcount(M, &EO, k, refused[i], &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        n = 7;
        assert_int_equal(vmux_bitpos(M, &EO, k, true, refused[i], &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
    }
    int64_t n = 7;
    assert_int_equal(vmux_bitcount(M, &EO, nul, NULL, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_bitpos(M, &EO, nul, false, NULL, &n), VMUX_ERR_INVALID_ARG);
    assert_string_equal(errbuf, "untouched"); /* refused before anything was sent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setbit_getbit), cmocka_unit_test(test_offset_past_the_limit),
        cmocka_unit_test(test_bitcount),      cmocka_unit_test(test_bitpos),
        cmocka_unit_test(test_wrongtype),     cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}
