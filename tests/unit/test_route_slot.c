/*
 * Hash slots (route/slot.h): CRC16/XMODEM with the cluster specification's test vector, the
 * table against the bitwise definition, and the hash tag rules. tests/integration/
 * test_route_cluster.c checks the same function against a real cluster's CLUSTER KEYSLOT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route/slot.h"

/* The definition, one bit at a time: what the table must reproduce. */
static uint16_t crc16_bitwise(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static unsigned slot_of(const char *key)
{
    return vmux__slot_of(key, strlen(key));
}

static void test_crc16_vector(void **state)
{
    (void)state;
    /* The cluster specification's check value for CRC16/XMODEM. */
    assert_int_equal(vmux__crc16("123456789", 9), 0x31C3);
    assert_int_equal(vmux__crc16(NULL, 0), 0);
    assert_int_equal(vmux__crc16("", 0), 0);
}

static void test_crc16_table(void **state)
{
    (void)state;
    char buf[3];
    for (int i = 0; i < 256; i++) {
        buf[0] = (char)i;
        assert_int_equal(vmux__crc16(buf, 1), crc16_bitwise(buf, 1));
    }
    /* Every pair of bytes (both tables, every entry, through the two-byte step), then a third
     * byte after them (the one-byte tail after a two-byte step). */
    for (int i = 0; i < 256; i++)
        for (int j = 0; j < 256; j++) {
            buf[0] = (char)i;
            buf[1] = (char)j;
            buf[2] = (char)(i ^ j);
            assert_int_equal(vmux__crc16(buf, 2), crc16_bitwise(buf, 2));
            assert_int_equal(vmux__crc16(buf, 3), crc16_bitwise(buf, 3));
        }
    /* Every byte at each place of a four-byte step (each of the four tables, every entry), with
     * a register already carried from an earlier step, and the one-byte tail after it. */
    char five[9];
    for (int at = 0; at < 4; at++)
        for (int i = 0; i < 256; i++) {
            memcpy(five, "\x5a\xa5\x3c\xc3\x0f\xf0\x99\x66\x42", sizeof five);
            five[4 + at] = (char)i;
            assert_int_equal(vmux__crc16(five, 8), crc16_bitwise(five, 8));
            assert_int_equal(vmux__crc16(five, 9), crc16_bitwise(five, 9));
            assert_int_equal(vmux__crc16(five + at, 4), crc16_bitwise(five + at, 4));
        }
    /* Every length up to 256, odd and even, so the register carries across many steps. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)(255 - i);
    for (size_t n = 0; n <= sizeof all; n++)
        assert_int_equal(vmux__crc16(all, n), crc16_bitwise(all, n));
}

static void test_known_slots(void **state)
{
    (void)state;
    /* Values documented for CLUSTER KEYSLOT and seen in MOVED replies. */
    assert_int_equal(slot_of("somekey"), 11058);
    assert_int_equal(slot_of("foo{hash_tag}"), 2515);
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("bar"), 5061);
    assert_int_equal(slot_of(""), 0);
    assert_int_equal(vmux__slot_of(NULL, 0), 0);
    for (int i = 0; i < 1000; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "key:%d", i);
        assert_true(vmux__slot_of(key, (size_t)n) < VMUX_SLOTS);
        assert_int_equal(vmux__slot_of(key, (size_t)n), crc16_bitwise(key, (size_t)n) % 16384);
    }
}

static void test_hash_tags(void **state)
{
    (void)state;
    /* The examples of the cluster specification. */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    assert_int_equal(slot_of("{user1000}.followers"), slot_of("user1000"));
    assert_int_equal(slot_of("{user1000}.following"), 3443);
    assert_int_equal(slot_of("foo{}{bar}"), crc16_bitwise("foo{}{bar}", 10) % 16384);
    assert_int_equal(slot_of("foo{}{bar}"), 8363);
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    /* The tag may be anywhere; only the first '{' counts, then the first '}' after it. */
    assert_int_equal(slot_of("x{a}"), slot_of("a"));
    assert_int_equal(slot_of("{a}x{b}"), slot_of("a"));
    assert_int_equal(slot_of("}{a}"), slot_of("a"));
    /* No closing brace, an empty tag, a lone brace: the whole key. */
    assert_int_equal(slot_of("{abc"), crc16_bitwise("{abc", 4) % 16384);
    assert_int_equal(slot_of("abc}"), crc16_bitwise("abc}", 4) % 16384);
    assert_int_equal(slot_of("{}"), crc16_bitwise("{}", 2) % 16384);
    assert_int_equal(slot_of("{"), crc16_bitwise("{", 1) % 16384);
    assert_int_equal(slot_of("a{}b"), crc16_bitwise("a{}b", 4) % 16384);
}

/* The rule read the plain way: the first '{', then the first '}' after it, a non-empty tag. */
static unsigned slot_reference(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t start = (size_t)(open - key) + 1;
        const char *close = memchr(key + start, '}', len - start);
        if (close != NULL && close > key + start)
            return crc16_bitwise(key + start, (size_t)(close - key) - start) % 16384;
    }
    return crc16_bitwise(key, len) % 16384;
}

static void test_brace_anywhere(void **state)
{
    (void)state;
    /* The key is scanned for '{' four bytes at a time as its CRC is computed: a '{' at every
     * offset of keys of every length up to 24, with a '}' after it or not, among bytes next to
     * '{' in value (0x7a, 0x7c, 0xfb) that a word-wise test must not take for one. */
    const char fill[] = "\x7a\x7c\xfb\x7d\x3b\x5b\xfa\x7a\x7c\xfb\x01\x00\x7a\x7c\xfb\x7d"
                        "\x3b\x5b\xfa\x7a\x7c\xfb\x01\x00";
    char key[24];
    for (size_t len = 0; len <= sizeof key; len++) {
        memcpy(key, fill, len);
        assert_int_equal(vmux__slot_of(key, len), slot_reference(key, len));
        for (size_t open = 0; open < len; open++)
            for (size_t close = open; close <= len; close++) {
                memcpy(key, fill, len);
                key[open] = '{';
                if (close < len)
                    key[close] = close == open ? '{' : '}';
                assert_int_equal(vmux__slot_of(key, len), slot_reference(key, len));
            }
    }
}

static void test_binary_keys(void **state)
{
    (void)state;
    /* NUL bytes are part of the key, inside a tag and outside. */
    assert_int_equal(vmux__slot_of("a\0b", 3), 8383);
    assert_int_not_equal(vmux__slot_of("a\0b", 3), vmux__slot_of("a", 1));
    assert_int_equal(vmux__slot_of("x{\0}y", 5), vmux__slot_of("\0", 1));
    assert_int_equal(vmux__slot_of("{a\0b}", 5), vmux__slot_of("a\0b", 3));
    /* A '}' beyond the given length does not close a tag. */
    assert_int_equal(vmux__slot_of("{ab}", 3), vmux__slot_of("{ab", 3));
    /* High bytes hash as unsigned. */
    assert_int_equal(vmux__slot_of("\xff\xfe", 2), crc16_bitwise("\xff\xfe", 2) % 16384);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_vector),   cmocka_unit_test(test_crc16_table),
        cmocka_unit_test(test_known_slots),    cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_brace_anywhere), cmocka_unit_test(test_binary_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
