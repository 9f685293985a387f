/*
 * The near cache's encoding of an array of strings (api/near_codec.h), which HGETALL and SMEMBERS
 * entries hold: replies made by the RESP reader round-trip exactly (binary bytes, empty
 * elements, lengths that take two varint bytes, an empty array), and encodings cut short, with
 * bytes left over or with a count they cannot hold are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/near_codec.h"
#include "core/reader.h"
#include "vmux/error.h"

static const struct vmux_reader_limits big = {1u << 20, 1u << 20, 2u << 20};

static vmux_reply *parse(const char *resp, size_t len)
{
    vmux_reader *rd = vmux__reader_new(&big);
    assert_non_null(rd);
    assert_int_equal(vmux__reader_feed(rd, resp, len), 0);
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    vmux__reader_free(rd);
    return r;
}

/* Encodes resp's reply into b (which the caller frees). */
static void encode(const char *resp, size_t len, struct vmux_buf *b)
{
    vmux_reply *r = parse(resp, len);
    assert_int_equal(vmux__near_encode_strings(r, b), 0);
    vmux_reply_free(r);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char resp[] = "*3\r\n$1\r\na\r\n$0\r\n\r\n$3\r\na\0b\r\n";
    struct vmux_buf b = {0};
    encode(resp, sizeof resp - 1, &b);
    assert_int_equal(b.len, 1 + 2 + 1 + 4); /* count, then length and bytes of each */
    vmux_bytes_array a;
    assert_int_equal(vmux__near_decode_strings(b.data, b.len, &a), 0);
    assert_int_equal(a.count, 3);
    assert_int_equal(a.items[0].len, 1);
    assert_string_equal(a.items[0].ptr, "a");
    assert_int_equal(a.items[1].len, 0);
    assert_string_equal(a.items[1].ptr, "");
    assert_int_equal(a.items[2].len, 3);
    assert_memory_equal(a.items[2].ptr, "a\0b", 4); /* NUL-terminated too */
    vmux_bytes_array_free(&a);
    vmux__buf_free(&b);
}

static void test_long_element_and_empty_array(void **state)
{
    (void)state;
    char resp[400];
    char value[301];
    memset(value, 'x', 300);
    value[300] = '\0';
    int n = snprintf(resp, sizeof resp, "*1\r\n$300\r\n%s\r\n", value);
    struct vmux_buf b = {0};
    encode(resp, (size_t)n, &b);
    assert_int_equal(b.len, 1 + 2 + 300); /* 300 takes two varint bytes */
    vmux_bytes_array a;
    assert_int_equal(vmux__near_decode_strings(b.data, b.len, &a), 0);
    assert_int_equal(a.count, 1);
    assert_string_equal(a.items[0].ptr, value);
    vmux_bytes_array_free(&a);
    vmux__buf_free(&b);

    encode("*0\r\n", 4, &b);
    assert_int_equal(b.len, 1);
    assert_int_equal(vmux__near_decode_strings(b.data, b.len, &a), 0);
    assert_int_equal(a.count, 0);
    assert_non_null(a.items); /* as vmux_reply_to_bytes_array() gives an empty array */
    vmux_bytes_array_free(&a);
    vmux__buf_free(&b);
}

static void test_encode_refuses_other_replies(void **state)
{
    (void)state;
    struct vmux_buf b = {0};
    vmux_reply *r = parse("$1\r\na\r\n", 7);
    assert_int_equal(vmux__near_encode_strings(r, &b), VMUX_ERR_PROTOCOL);
    vmux_reply_free(r);
    r = parse("*2\r\n$1\r\na\r\n:1\r\n", 15);
    assert_int_equal(vmux__near_encode_strings(r, &b), VMUX_ERR_PROTOCOL);
    vmux_reply_free(r);
    vmux__buf_free(&b);
}

static void test_decode_refuses_bad_bytes(void **state)
{
    (void)state;
    static const char resp[] = "*2\r\n$2\r\nab\r\n$200\r\n";
    char resp2[300];
    char value[201];
    memset(value, 'y', 200);
    value[200] = '\0';
    int n = snprintf(resp2, sizeof resp2, "%s%s\r\n", resp, value);
    struct vmux_buf b = {0};
    encode(resp2, (size_t)n, &b);
    vmux_bytes_array a;
    for (size_t cut = 0; cut < b.len; cut++) /* every encoding cut short */
        assert_int_equal(vmux__near_decode_strings(b.data, cut, &a), VMUX_ERR_PROTOCOL);
    assert_null(a.items);
    char more[300];
    memcpy(more, b.data, b.len);
    more[b.len] = 'z'; /* a byte left over */
    assert_int_equal(vmux__near_decode_strings(more, b.len + 1, &a), VMUX_ERR_PROTOCOL);
    const unsigned char count[] = {0xff, 0xff, 0xff, 0x7f, 1, 'a'}; /* a count it cannot hold */
    assert_int_equal(vmux__near_decode_strings(count, sizeof count, &a), VMUX_ERR_PROTOCOL);
    const unsigned char endless[] = {1, 0x80, 0x80, 0x80}; /* a length that never ends */
    assert_int_equal(vmux__near_decode_strings(endless, sizeof endless, &a), VMUX_ERR_PROTOCOL);
    assert_int_equal(vmux__near_decode_strings(NULL, 0, &a), VMUX_ERR_PROTOCOL);
    vmux__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_long_element_and_empty_array),
        cmocka_unit_test(test_encode_refuses_other_replies),
        cmocka_unit_test(test_decode_refuses_bad_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
