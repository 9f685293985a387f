/*
 * The bitmap commands (bitmaps.h) against a real server: SETBIT with the bit it replaced,
 * growing the string, GETBIT inside, past the end and on a missing key, BITCOUNT of the whole
 * string and of ranges in bytes and in bits (negative, open-ended), BITPOS for 1 and 0 bits with
 * and without an end (the zero padding the server reads past the end); binary keys and values
 * with NUL bytes, offsets at and past the server's limit, WRONGTYPE, every argument refused with
 * nothing sent, and results zeroed on every error. BITOP with each operation (lengths, missing
 * sources, an empty result deleting dst, dst among its sources), BITFIELD's GET, SET and INCRBY
 * under each OVERFLOW with offsets in bits and in fields (#), BITFIELD_RO, and keys in two slots.
 * Values are checked against GET through the generic API.
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
    assert_refused_words(errbuf); /* refused before anything was sent */
}

static int64_t bitop(vmux_bitop_op op, vmux_str dst, const vmux_str *keys, size_t n)
{
    int64_t len = -1;
    assert_int_equal(vmux_bitop(M, NULL, op, dst, keys, n, &len), 0);
    return len;
}

static void test_bitop(void **state)
{
    (void)state;
    vmux_str a = key("op-a"), b = key("op-b"), dst = key("op-dst"), none = key("op-none");
    set_value(a, VMUX_STRN("\xf0\x0f\xff", 3));
    set_value(b, VMUX_STRN("\x3c\x3c", 2));
    DO(S("DEL"), none);
    const vmux_str ab[] = {a, b};
    assert_int_equal(bitop(VMUX_BITOP_AND, dst, ab, 2), 3); /* the longest source's length */
    assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\x30\x0c\0", 3));
    assert_int_equal(bitop(VMUX_BITOP_OR, dst, ab, 2), 3);
    assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\xfc\x3f\xff", 3));
    assert_int_equal(bitop(VMUX_BITOP_XOR, dst, ab, 2), 3);
    assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\xcc\x33\xff", 3));
    assert_int_equal(bitop(VMUX_BITOP_NOT, dst, &b, 1), 2);
    assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\xc3\xc3", 2));
    assert_int_equal(vmux_bitop(M, NULL, VMUX_BITOP_OR, dst, &a, 1, NULL), 0);
    assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\xf0\x0f\xff", 3));
    /* a missing source reads as 0 bytes */
    const vmux_str with_none[] = {b, none};
    assert_int_equal(bitop(VMUX_BITOP_OR, dst, with_none, 2), 2);
    assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\x3c\x3c", 2));
    /* no source holds a byte: dst is deleted */
    assert_int_equal(bitop(VMUX_BITOP_AND, dst, &none, 1), 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
    /* into a source: AND twice leaves what once did, XOR twice undoes it */
    set_value(dst, VMUX_STRN("\xff", 1));
    const vmux_str dst_b[] = {dst, b};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(bitop(VMUX_BITOP_AND, dst, dst_b, 2), 2);
        assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\x3c\0", 2));
    }
    assert_int_equal(bitop(VMUX_BITOP_XOR, dst, dst_b, 2), 2);
    assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\0\x3c", 2));
    assert_int_equal(bitop(VMUX_BITOP_XOR, dst, dst_b, 2), 2);
    assert_raw_str(RAW(S("GET"), dst), VMUX_STRN("\x3c\0", 2));
}

/* A vmux_bitfield_op of kind k (GET, SET, INCRBY) on a field of n bits at off, and any more. */
#define FIELD_OP(k, sig, n, off, ...)                                                              \
    ((vmux_bitfield_op){                                                                           \
        .kind = VMUX_BITFIELD_##k, .is_signed = (sig), .bits = (n), .offset = (off), __VA_ARGS__})
#define GET_OP(sig, n, off, ...) FIELD_OP(GET, sig, n, off, __VA_ARGS__)
#define SET_OP(sig, n, off, v, ...) FIELD_OP(SET, sig, n, off, .value = (v), __VA_ARGS__)
#define INCR_OP(sig, n, off, v, ...) FIELD_OP(INCRBY, sig, n, off, .value = (v), __VA_ARGS__)

static void test_bitfield(void **state)
{
    (void)state;
    vmux_str k = binkey("field");
    DO(S("DEL"), k);
    const vmux_bitfield_op ops[] = {
        SET_OP(false, 8, 0, 200),                                  /* 0: the missing key's 0 */
        INCR_OP(false, 8, 0, 100),                                 /* wraps: 300 - 256 */
        INCR_OP(false, 8, 0, 250, .overflow = VMUX_BITFIELD_FAIL), /* 294: nil, nothing written */
        GET_OP(true, 8, 0),                                        /* 44 as i8 */
        INCR_OP(false, 8, 1, 300, .in_fields = true, .overflow = VMUX_BITFIELD_SAT), /* 255 */
        SET_OP(true, 4, 16, -9, .overflow = VMUX_BITFIELD_SAT), /* 0; -9 saturates to -8 */
        INCR_OP(true, 4, 16, -1),                               /* WRAP again: -9 wraps to 7 */
        GET_OP(false, 63, 0),
        GET_OP(true, 64, 0, .in_fields = true),
    };
    int64_t v[9];
    bool found[9];
    memset(found, 0, sizeof found);
    assert_int_equal(vmux_bitfield(M, NULL, k, ops, 9, v, found), 0);
    const int64_t want[] = {0, 44, 0, 44, 255, 0, 7};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(v[i], want[i]);
        assert_int_equal(found[i], i != 2);
    }
    assert_true(found[7] && found[8]);
    assert_raw_str(RAW(S("GET"), k), VMUX_STRN("\x2c\xff\x70", 3));
    assert_int_equal(v[7], INT64_C(0x2cff700000000000) >> 1); /* the first 63 bits, unsigned */
    assert_int_equal(v[8], INT64_C(0x2cff700000000000));
    /* results dropped, and one array without the other */
    assert_int_equal(vmux_bitfield(M, NULL, k, ops, 1, NULL, NULL), 0);
    assert_int_equal(vmux_bitfield(M, NULL, k, &ops[3], 1, NULL, found), 0);
    assert_true(found[0]);
    assert_raw_str(RAW(S("GET"), k), VMUX_STRN("\xc8\xff\x70", 3));

    /* BITFIELD_RO: GETs only, the same values */
    const vmux_bitfield_op gets[] = {GET_OP(false, 8, 0), GET_OP(true, 12, 4),
                                     GET_OP(false, 8, 2, .in_fields = true)};
    assert_int_equal(vmux_bitfield_ro(M, NULL, k, gets, 3, v), 0);
    assert_int_equal(v[0], 0xc8);
    assert_int_equal(v[1], 0x8ff - 4096); /* 0x8ff as i12 */
    assert_int_equal(v[2], 0x70);
    assert_int_equal(vmux_bitfield_ro(M, NULL, k, gets, 1, NULL), 0);
    vmux_str missing = key("field-missing");
    DO(S("DEL"), missing);
    v[0] = 7;
    assert_int_equal(vmux_bitfield_ro(M, NULL, missing, gets, 1, v), 0);
    assert_int_equal(v[0], 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), missing)), 0);
}

static void test_bits_two_slots(void **state)
{
    (void)state;
    vmux_str a = slot_key("a", "op"), b = slot_key("b", "op"), dst = slot_key("a", "dst");
    set_value(a, S("x"));
    set_value(b, S("y"));
    DO(S("DEL"), dst);
    const vmux_str two[] = {a, b};
    int64_t len = 7;
    errbuf[0] = '\0';
    int rc = vmux_bitop(M, &EO, VMUX_BITOP_OR, dst, two, 2, &len);
    if (!refused_crossslot(rc, len)) {
        assert_int_equal(len, 1);
        return;
    }
    assert_int_equal(vmux_bitop(M, NULL, VMUX_BITOP_NOT, dst, &b, 1, &len), VMUX_ERR_CROSSSLOT);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
    assert_int_equal(vmux_bitop(M, NULL, VMUX_BITOP_NOT, dst, &a, 1, &len), 0);
    assert_int_equal(len, 1);
}

static void test_bitop_bitfield_refused(void **state)
{
    (void)state;
    vmux_str k = key("refused"), nul = VMUX_STRN(NULL, 3);
    DO(S("DEL"), k);
    strcpy(errbuf, "untouched");
    const vmux_str two[] = {k, k};
    int64_t len = 7;
    assert_int_equal(vmux_bitop(M, &EO, VMUX_BITOP_NOT, k, two, 2, &len), VMUX_ERR_INVALID_ARG);
    assert_int_equal(len, 0);
    assert_int_equal(vmux_bitop(M, &EO, VMUX_BITOP_AND, k, NULL, 1, &len), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_bitop(M, &EO, VMUX_BITOP_AND, k, two, 0, &len), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_bitop(M, &EO, (vmux_bitop_op)4, k, two, 1, &len), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_bitop(M, &EO, VMUX_BITOP_OR, nul, two, 1, &len), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_bitop(M, &EO, VMUX_BITOP_OR, k, &nul, 1, &len), VMUX_ERR_INVALID_ARG);

    const vmux_bitfield_op refused[] = {
        GET_OP(false, 64, 0), /* no u64 */
        GET_OP(true, 65, 0),
        GET_OP(true, 0, 0),
        GET_OP(false, 0, 0),
        GET_OP(true, 8, -1),
        SET_OP(false, 8, -1, 1, .in_fields = true),
        SET_OP(false, 8, 0, 1, .overflow = (vmux_bitfield_overflow)3),
        ((vmux_bitfield_op){.kind = (vmux_bitfield_kind)3, .bits = 8}),
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        /* the refused one after a good SET: nothing at all is sent */
        const vmux_bitfield_op ops[] = {SET_OP(false, 8, 0, 1), refused[i]};
        int64_t v[2] = {7, 7};
        bool found[2] = {true, true};
        assert_int_equal(vmux_bitfield(M, &EO, k, ops, 2, v, found), VMUX_ERR_INVALID_ARG);
        assert_true(v[0] == 0 && v[1] == 0 && !found[0] && !found[1]);
        if (refused[i].kind == VMUX_BITFIELD_GET) {
            v[0] = 7;
            assert_int_equal(vmux_bitfield_ro(M, &EO, k, &refused[i], 1, v), VMUX_ERR_INVALID_ARG);
            assert_int_equal(v[0], 0);
        }
    }
    int64_t v[2] = {7, 7};
    bool found[2] = {true, true};
    const vmux_bitfield_op set = SET_OP(false, 8, 0, 1), get = GET_OP(false, 8, 0);
    assert_int_equal(vmux_bitfield(M, &EO, k, NULL, 2, v, found), VMUX_ERR_INVALID_ARG);
    assert_true(v[0] == 0 && v[1] == 0 && !found[0] && !found[1]);
    assert_int_equal(vmux_bitfield(M, &EO, k, &set, 0, v, found), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_bitfield(M, &EO, nul, &get, 1, v, found), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_bitfield_ro(M, &EO, k, &set, 1, v), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_bitfield_ro(M, &EO, k, NULL, 1, v), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_bitfield_ro(M, &EO, k, &get, 0, v), VMUX_ERR_INVALID_ARG);
    assert_refused_words(errbuf); /* refused before anything was sent */
    assert_int_equal(raw_int(RAW(S("EXISTS"), k)), 0);

    DO(S("RPUSH"), k, S("x"));
    assert_wrongtype(vmux_bitfield(M, &EO, k, &get, 1, v, found));
    assert_true(v[0] == 0 && !found[0]);
    assert_wrongtype(vmux_bitfield_ro(M, &EO, k, &get, 1, v));
    assert_wrongtype(vmux_bitop(M, &EO, VMUX_BITOP_NOT, key("refused-dst"), &k, 1, &len));
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setbit_getbit),  cmocka_unit_test(test_offset_past_the_limit),
        cmocka_unit_test(test_bitcount),       cmocka_unit_test(test_bitpos),
        cmocka_unit_test(test_wrongtype),      cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bitop),          cmocka_unit_test(test_bitfield),
        cmocka_unit_test(test_bits_two_slots), cmocka_unit_test(test_bitop_bitfield_refused),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}
