/*
 * The reply reader: every reply fed whole, byte by byte and split at every offset must parse to
 * the same value; hostile input must fail with PROTOCOL and a reason, never crash or buffer
 * without bound.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/reader.h"
#include "core/reply_internal.h"
#include "vmux/error.h"

static const struct vmux_reader_limits big = {1u << 20, 1u << 20, 2u << 20};

/* Prints a reply in a compact form, so whole and split parses can be compared as strings. */
static void describe(const vmux_reply *r, char *out, size_t cap)
{
    size_t len = strlen(out);
    switch (vmux_reply_get_kind(r)) {
    case VMUX_REPLY_INTEGER:
        snprintf(out + len, cap - len, "i%lld;", (long long)vmux_reply_integer(r));
        break;
    case VMUX_REPLY_NIL:
        snprintf(out + len, cap - len, "nil;");
        break;
    case VMUX_REPLY_ARRAY:
        snprintf(out + len, cap - len, "[%zu:", vmux_reply_len(r));
        for (size_t i = 0; i < vmux_reply_len(r); i++)
            describe(vmux_reply_element(r, i), out, cap);
        len = strlen(out);
        snprintf(out + len, cap - len, "]");
        break;
    default:
        snprintf(out + len, cap - len, "%s(%zu)%s;", vmux_reply_kind_name(vmux_reply_get_kind(r)),
                 vmux_reply_len(r), vmux_reply_str(r, NULL));
    }
}

/* Feeds input in chunks of at most step bytes (split once at cut when cut > 0). */
static void parse(const char *in, size_t n, size_t cut, size_t step, char *out, size_t cap)
{
    vmux_reader *rd = vmux__reader_new(&big);
    assert_non_null(rd);
    out[0] = '\0';
    size_t pos = 0;
    while (pos < n) {
        size_t chunk = cut > pos ? cut - pos : step;
        if (chunk > n - pos)
            chunk = n - pos;
        assert_int_equal(vmux__reader_feed(rd, in + pos, chunk), 0);
        pos += chunk;
        vmux_reply *r;
        int rc;
        while ((rc = vmux__reader_next(rd, &r)) == 1) {
            describe(r, out, cap);
            vmux_reply_free(r);
        }
        assert_int_equal(rc, 0);
    }
    vmux__reader_free(rd);
}

static const char corpus[] = "+OK\r\n"
                             "-ERR wrong\r\n"
                             ":-42\r\n"
                             ":9223372036854775807\r\n"
                             "$5\r\nhel\0o\r\n"
                             "$0\r\n\r\n"
                             "$-1\r\n"
                             "*-1\r\n"
                             "*0\r\n"
                             "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+st\r\n"
                             "$4\r\n\r\n\r\n\r\n"
                             "+a\rb\r\r\r\n";

static void test_whole_bytewise_and_split_agree(void **state)
{
    (void)state;
    size_t n = sizeof(corpus) - 1;
    char whole[2048], other[2048];
    parse(corpus, n, 0, n, whole, sizeof(whole));
    assert_string_equal(whole, "status(2)OK;error(9)ERR wrong;i-42;i9223372036854775807;"
                               "string(5)hel;string(0);nil;nil;[0:][3:i1;[2:string(1)a;nil;]"
                               "status(2)st;]string(4)\r\n\r\n;status(5)a\rb\r\r;");
    parse(corpus, n, 0, 1, other, sizeof(other));
    assert_string_equal(whole, other);
    for (size_t cut = 1; cut < n; cut++) {
        parse(corpus, n, cut, n, other, sizeof(other));
        assert_string_equal(whole, other);
    }
}

static void test_binary_bulk_keeps_nul(void **state)
{
    (void)state;
    vmux_reader *rd = vmux__reader_new(&big);
    assert_int_equal(vmux__reader_feed(rd, "$3\r\na\0b\r\n", 9), 0);
    vmux_reply *r;
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    size_t len;
    const char *s = vmux_reply_str(r, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 3);
    assert_int_equal(s[3], '\0');
    vmux_reply_free(r);
    vmux__reader_free(rd);
}

/* Feeds input and expects the reader to fail with code, its reason containing words. */
static void expect_failure(const struct vmux_reader_limits *lim, const char *in, size_t n, int code,
                           const char *words)
{
    vmux_reader *rd = vmux__reader_new(lim);
    int rc = vmux__reader_feed(rd, in, n);
    vmux_reply *r = NULL;
    while (rc == 0) {
        rc = vmux__reader_next(rd, &r);
        if (rc == 1) {
            vmux_reply_free(r);
            rc = 0;
        } else if (rc == 0) {
            break;
        }
    }
    assert_int_equal(rc, code);
    /* words NULL: any reason will do */
    if (words != NULL)
        assert_non_null(strstr(vmux__reader_error(rd), words));
    assert_true(strlen(vmux__reader_error(rd)) > 0);
    /* a reply over a limit, and only that, is told from bytes that are no RESP */
    assert_int_equal(vmux__reader_over_limit(rd),
                     strstr(vmux__reader_error(rd), "exceeds max") != NULL);
    /* a failed reader stays failed */
    assert_int_equal(vmux__reader_feed(rd, "+OK\r\n", 5), code);
    assert_int_equal(vmux__reader_next(rd, &r), code);
    vmux__reader_free(rd);
}

static void test_huge_bulk_header_fails_at_once(void **state)
{
    (void)state;
    const char *in = "$9223372036854775807\r\n";
    expect_failure(&big, in, strlen(in), VMUX_ERR_PROTOCOL, "maxBulkLength");
    const char *in2 = "*2\r\n$5\r\nhello\r\n$99999999999999999999999\r\nabc";
    expect_failure(&big, in2, strlen(in2), VMUX_ERR_PROTOCOL, NULL);
}

static void test_bulk_over_limit(void **state)
{
    (void)state;
    struct vmux_reader_limits lim = {4, 16, 64};
    expect_failure(&lim, "$5\r\n", 4, VMUX_ERR_PROTOCOL, "maxBulkLength 4");
}

static void test_array_over_limit_allocates_nothing(void **state)
{
    (void)state;
    expect_failure(&big, "*100000000\r\n", 12, VMUX_ERR_PROTOCOL, "maxReplyElements");
}

/* Feeds in to rd and expects next() to return want (a reply, freed, when it is 1). */
static void next_is(vmux_reader *rd, const char *in, int want)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_feed(rd, in, strlen(in)), 0);
    assert_int_equal(vmux__reader_next(rd, &r), want);
    vmux_reply_free(r);
}

/*
 * The library's own replies are read under their own limits, the user's under the user's; the
 * switch takes effect between replies only: a reply half built keeps the limits it started with.
 */
static void test_own_limits_between_replies(void **state)
{
    (void)state;
    struct vmux_reader_limits user = {4, 2, 4096};
    vmux_reader *rd = vmux__reader_new(&user);
    vmux__reader_set_own_limits(rd, &big);
    vmux__reader_own(rd, true);
    next_is(rd, "$10\r\n0123456789\r\n", 1);
    next_is(rd, "*3\r\n:1\r\n:2\r\n", 0); /* half built under the own limits... */
    vmux__reader_own(rd, false);
    next_is(rd, "$10\r\n0123456789\r\n", 1); /* ...which it keeps to its end */
    vmux__reader_own(rd, false);
    next_is(rd, "$4\r\nabcd\r\n", 1);
    vmux__reader_own(rd, true);
    vmux__reader_own(rd, false);
    assert_int_equal(vmux__reader_feed(rd, "*3\r\n", 4), 0);
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_next(rd, &r), VMUX_ERR_PROTOCOL);
    assert_non_null(
        strstr(vmux__reader_error(rd), "array of 3 elements exceeds maxReplyElements 2"));
    vmux__reader_free(rd);
}

static void test_large_array_header_grows_lazily(void **state)
{
    (void)state;
    /* An allowed but huge header followed by two elements must not allocate its full size. */
    struct vmux_reader_limits lim = {1024, 100000000, 4096};
    vmux_reader *rd = vmux__reader_new(&lim);
    const char *in = "*100000000\r\n:1\r\n:2\r\n";
    assert_int_equal(vmux__reader_feed(rd, in, strlen(in)), 0);
    vmux_reply *r;
    assert_int_equal(vmux__reader_next(rd, &r), 0);
    vmux__reader_free(rd); /* frees the partial array */
}

static void test_unterminated_line_over_buffer(void **state)
{
    (void)state;
    struct vmux_reader_limits lim = {16, 16, 64};
    char in[100];
    in[0] = '+';
    memset(in + 1, 'x', sizeof(in) - 1);
    expect_failure(&lim, in, sizeof(in), VMUX_ERR_PROTOCOL, "maxReplyBuffer");
}

static void test_bad_type_byte(void **state)
{
    (void)state;
    expect_failure(&big, "?foo\r\n", 6, VMUX_ERR_PROTOCOL, NULL);
}

/* levels arrays of one element, each in the next, around "+in": split at every 7th byte too. */
static void expect_nested(int levels, bool ok)
{
    size_t n = (size_t)levels * 4 + 5;
    char *in = malloc(n + 1), expect[64];
    assert_non_null(in);
    for (int i = 0; i < levels; i++)
        memcpy(in + 4 * i, "*1\r\n", 4);
    memcpy(in + 4 * levels, "+in\r\n", 6);
    if (!ok) {
        snprintf(expect, sizeof expect, "deeper than %d levels", VMUX_READER_MAX_DEPTH);
        expect_failure(&big, in, n, VMUX_ERR_PROTOCOL, expect);
        free(in);
        return;
    }
    for (size_t step = 7; step <= n; step += n - 7) {
        vmux_reader *rd = vmux__reader_new(&big);
        vmux_reply *r = NULL;
        for (size_t pos = 0; pos < n; pos += step) {
            assert_int_equal(vmux__reader_feed(rd, in + pos, pos + step > n ? n - pos : step), 0);
            int rc = vmux__reader_next(rd, &r);
            assert_int_equal(rc, pos + step >= n ? 1 : 0);
        }
        const vmux_reply *e = r;
        for (int i = 0; i < levels; i++) {
            assert_int_equal(vmux_reply_len(e), 1);
            e = vmux_reply_element(e, 0);
        }
        assert_string_equal(vmux_reply_str(e, NULL), "in");
        assert_true(vmux__reader_idle(rd));
        vmux_reply_free(r);
        vmux__reader_free(rd);
    }
    free(in);
}

/*
 * Valkey's own replies nest 13 levels deep (COMMAND DOCS), a script's as deep as its tables:
 * hiredis 0.14's reader refused more than 7 and failed the connection. Up to
 * VMUX_READER_MAX_DEPTH parse; one more is refused.
 */
static void test_deep_nesting(void **state)
{
    (void)state;
    expect_nested(13, true);
    expect_nested(VMUX_READER_MAX_DEPTH, true);
    expect_nested(VMUX_READER_MAX_DEPTH + 1, false);
}

/* Framing the server would never send is refused, not guessed at. */
static void test_bad_framing(void **state)
{
    (void)state;
    expect_failure(&big, "$3\r\nabcd\r\n", 11, VMUX_ERR_PROTOCOL, "not ended by CRLF");
    expect_failure(&big, ":12a\r\n", 6, VMUX_ERR_PROTOCOL, "bad integer");
    expect_failure(&big, ":\r\n", 3, VMUX_ERR_PROTOCOL, "bad integer");
    expect_failure(&big, ":9223372036854775808\r\n", 22, VMUX_ERR_PROTOCOL, "bad integer");
    expect_failure(&big, "$-2\r\n", 5, VMUX_ERR_PROTOCOL, "bulk string length");
    expect_failure(&big, "*x\r\n", 4, VMUX_ERR_PROTOCOL, "array length");
    expect_failure(&big, "\x01\r\n", 3, VMUX_ERR_PROTOCOL, "\\x01");
    expect_failure(&big, "HTTP/1.1 400\r\n", 14, VMUX_ERR_PROTOCOL, "got \"H\" as reply type byte");
    const char *http = "HTTP/1.1 400 Bad Request, a line of more than 32 bytes\r\n";
    expect_failure(&big, http, strlen(http), VMUX_ERR_PROTOCOL, "got \"H\" as reply type byte");
    /* as soon as it comes, not when (if ever) its line ends */
    expect_failure(&big, "HTTP/1.1 4", 10, VMUX_ERR_PROTOCOL, "got \"H\" as reply type byte");
    expect_failure(&big, "\0", 1, VMUX_ERR_PROTOCOL, "\\x00");
}

/* Feeds in[0..n) to rd piece bytes at a time, taking the replies as they complete into got
 * (at most 2, asserted, as every read asserts no error); returns how many came. */
static size_t feed_pieces(vmux_reader *rd, const char *in, size_t n, size_t piece,
                          vmux_reply *got[2])
{
    size_t replies = 0;
    for (size_t pos = 0; pos < n; pos += piece) {
        assert_int_equal(vmux__reader_feed(rd, in + pos, n - pos < piece ? n - pos : piece), 0);
        vmux_reply *r;
        int rc;
        while ((rc = vmux__reader_next(rd, &r)) == 1) {
            assert_true(replies < 2);
            got[replies++] = r;
        }
        assert_int_equal(rc, 0);
    }
    return replies;
}

/*
 * A large bulk string (from 64 KiB, its body fed straight into its value) in pieces of every
 * size, with a reply behind it in the same piece; then one whose CRLF is wrong.
 */
static void test_large_bulk_in_pieces(void **state)
{
    (void)state;
    enum { HEAD = 9, BODY = 100003 };
    const char tail[] = "\r\n+OK\r\n";
    size_t n = HEAD + BODY + sizeof tail - 1;
    char *in = malloc(n);
    assert_non_null(in);
    memcpy(in, "$100003\r\n", HEAD);
    for (size_t i = 0; i < BODY; i++)
        in[HEAD + i] = (char)('a' + i % 26);
    memcpy(in + HEAD + BODY, tail, sizeof tail - 1);
    const size_t steps[] = {1, 3, 8, 4096, 65536, BODY + HEAD, BODY + HEAD + 1, n};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        vmux_reader *rd = vmux__reader_new(&big);
        vmux_reply *got[2] = {NULL, NULL};
        assert_int_equal(feed_pieces(rd, in, n, steps[s], got), 2);
        size_t len;
        const char *str = vmux_reply_str(got[0], &len);
        assert_int_equal(len, BODY);
        assert_memory_equal(str, in + HEAD, BODY);
        assert_int_equal(str[BODY], '\0');
        assert_string_equal(vmux_reply_str(got[1], NULL), "OK");
        assert_true(vmux__reader_idle(rd));
        vmux_reply_free(got[0]);
        vmux_reply_free(got[1]);
        vmux__reader_free(rd);
    }
    in[HEAD + BODY] = 'x'; /* no CR where the body ends */
    vmux_reader *rd = vmux__reader_new(&big);
    vmux_reply *r;
    assert_int_equal(vmux__reader_feed(rd, in, HEAD + BODY / 2), 0);
    assert_int_equal(vmux__reader_next(rd, &r), 0);
    assert_int_equal(vmux__reader_peek(rd), -1); /* half a bulk string: not between replies */
    assert_int_equal(vmux__reader_feed(rd, in + HEAD + BODY / 2, n - HEAD - BODY / 2), 0);
    assert_int_equal(vmux__reader_next(rd, &r), VMUX_ERR_PROTOCOL);
    assert_non_null(strstr(vmux__reader_error(rd), "not ended by CRLF"));
    vmux__reader_free(rd);
    free(in);
}

/*
 * A status line of 256 KiB fed in 4,096 reads of 64 bytes is searched for its end once: the
 * search's work grows with the line, not with the line times the reads (a probe's endless 256 MB
 * line cost 23 s of CPU when each read searched it again from its start). A bare CR ends every
 * read but the last, whose line's CR ends the read before: its LF starts the last.
 */
static void test_long_line_in_pieces_searched_once(void **state)
{
    (void)state;
    enum { PIECE = 64, LINE = 4096 * PIECE - 2 }; /* "+", LINE bytes, CR: a whole number of reads */
    const char tail[] = "\r\n+OK\r\n";
    size_t n = 1 + LINE + sizeof tail - 1;
    char *in = malloc(n);
    assert_non_null(in);
    in[0] = '+';
    for (size_t i = 1; i <= LINE; i++)
        in[i] = i % PIECE == PIECE - 1 ? '\r' : (char)('a' + i % 26);
    memcpy(in + 1 + LINE, tail, sizeof tail - 1);
    vmux_reader *rd = vmux__reader_new(&big);
    vmux_reply *got[2] = {NULL, NULL};
    assert_int_equal(feed_pieces(rd, in, n, PIECE, got), 2);
    size_t len;
    const char *str = vmux_reply_str(got[0], &len);
    assert_int_equal(len, LINE);
    assert_memory_equal(str, in + 1, LINE);
    assert_string_equal(vmux_reply_str(got[1], NULL), "OK");
    /* each byte once, and a read's last CR once more; from the start each time: 2^29 bytes */
    uint64_t scanned = vmux__reader_scanned(rd);
    if (scanned > 2 * n)
        fail_msg("searched %llu bytes for the ends of %zu", (unsigned long long)scanned, n);
    vmux_reply_free(got[0]);
    vmux_reply_free(got[1]);
    vmux__reader_free(rd);
    free(in);
}

/* Feeds in (no whole reply) a byte at a time: the bytes fed when the reader failed, or 0. */
static size_t fed_until_failure(const char *in, size_t n)
{
    vmux_reader *rd = vmux__reader_new(&big);
    vmux_reply *r = NULL;
    size_t fed = 0;
    int rc = 0;
    while (rc == 0 && fed < n)
        if ((rc = vmux__reader_feed(rd, in + fed++, 1)) == 0)
            rc = vmux__reader_next(rd, &r);
    assert_true(rc == 0 || rc == VMUX_ERR_PROTOCOL);
    vmux__reader_free(rd);
    return rc == 0 ? 0 : fed;
}

/*
 * A line whose content is a number (an integer, a bulk string's or an array's length) holds at
 * most 32 bytes: a longer one is refused as soon as it is seen, whole or byte by byte, not
 * buffered up to maxReplyBuffer (2 MiB here) waiting for its end. 32 bytes still read.
 */
static void test_number_line_capped(void **state)
{
    (void)state;
    const char *at_most = ":-0000000000000000000000000000042\r\n"; /* 32 bytes: -42 */
    vmux_reader *rd = vmux__reader_new(&big);
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_feed(rd, at_most, strlen(at_most)), 0);
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    assert_int_equal(vmux_reply_integer(r), -42);
    vmux_reply_free(r);
    vmux__reader_free(rd);
    const char *over = ":-00000000000000000000000000000042\r\n"; /* 33 bytes */
    expect_failure(&big, over, strlen(over), VMUX_ERR_PROTOCOL,
                   "Protocol error, integer value longer than 32 bytes");

    enum { N = 4096 };
    char *in = malloc(N);
    assert_non_null(in);
    memset(in, '1', N);
    const char *types = ":$*", *names[] = {"integer value", "bulk string length", "array length"};
    for (int t = 0; t < 3; t++) {
        in[0] = types[t];
        expect_failure(&big, in, N, VMUX_ERR_PROTOCOL, names[t]);
        /* the type byte, 32 bytes and one that may be a CR: the next says it is too long */
        assert_int_equal(fed_until_failure(in, N), 1 + 32 + 2);
    }
    in[0] = '+'; /* a status line is bounded by maxReplyBuffer only */
    assert_int_equal(fed_until_failure(in, N), 0);
    free(in);
}

/* The smallest int64 reads back; peek sees a reply's type byte only between replies. */
static void test_int64_min_and_peek(void **state)
{
    (void)state;
    vmux_reader *rd = vmux__reader_new(&big);
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_peek(rd), -1);
    assert_int_equal(vmux__reader_feed(rd, ":-9223372036854775808\r\n-ER", 26), 0);
    assert_int_equal(vmux__reader_peek(rd), ':');
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    assert_true(vmux_reply_integer(r) == INT64_MIN);
    vmux_reply_free(r);
    assert_int_equal(vmux__reader_peek(rd), '-'); /* the error line is not whole yet */
    assert_int_equal(vmux__reader_next(rd, &r), 0);
    assert_int_equal(vmux__reader_peek(rd), '-');
    assert_int_equal(vmux__reader_feed(rd, "R\r\n*2\r\n:1\r\n", 11), 0);
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    assert_string_equal(vmux_reply_str(r, NULL), "ERR");
    vmux_reply_free(r);
    assert_int_equal(vmux__reader_next(rd, &r), 0);
    assert_int_equal(vmux__reader_peek(rd), -1); /* an array half built */
    assert_false(vmux__reader_idle(rd));
    vmux__reader_free(rd); /* frees the half-built array */
}

static void test_negative_array_count(void **state)
{
    (void)state;
    expect_failure(&big, "*-5\r\n", 5, VMUX_ERR_PROTOCOL, NULL);
}

/* vmux__reply_take_str(): only bulk strings from VMUX_REPLY_TAKE_MIN bytes on are handed over,
 * byte for byte with their NUL; anything else is left as it was. */
static void test_take_large_string(void **state)
{
    (void)state;
    vmux_bytes out = {NULL, 0};
    vmux_reply *small = vmux__reply_new_str(VMUX_REPLY_STRING, "abc", 3);
    assert_false(vmux__reply_take_str(small, &out));
    assert_null(out.ptr);
    assert_string_equal(vmux_reply_str(small, NULL), "abc");
    vmux_reply_free(small);
    assert_false(vmux__reply_take_str(NULL, &out));

    size_t n = VMUX_REPLY_TAKE_MIN;
    char *bytes = malloc(n);
    assert_non_null(bytes);
    for (size_t i = 0; i < n; i++)
        bytes[i] = (char)(i * 7 + 1);
    bytes[n / 2] = '\0';
    vmux_reply *status = vmux__reply_new_str(VMUX_REPLY_STATUS, bytes, n);
    assert_false(vmux__reply_take_str(status, &out)); /* only bulk strings */
    vmux_reply_free(status);
    vmux_reply *under = vmux__reply_new_str(VMUX_REPLY_STRING, bytes, n - 1);
    assert_false(vmux__reply_take_str(under, &out));
    vmux_reply_free(under);

    vmux_reply *whole = vmux__reply_new_str(VMUX_REPLY_STRING, bytes, n);
    assert_true(vmux__reply_take_str(whole, &out)); /* whole is gone */
    assert_int_equal(out.len, n);
    assert_memory_equal(out.ptr, bytes, n);
    assert_int_equal(out.ptr[n], '\0');
    vmux_bytes_free(&out);
    free(bytes);
}

/* The heap's blocks in use, mapped ones (a large array's slots) included. */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/*
 * maxReplyBuffer bounds what a reply takes on the heap: a reply of many small values, fed in
 * small reads (so that its unparsed bytes count for little), is refused under a limit equal to
 * the heap it took when it was allowed (measured with mallinfo2(), mapped blocks included).
 */
static void test_buffer_limit_counts_the_heap(void **state)
{
    (void)state;
    enum { N = 16384 };
    char *in = malloc(16 + (size_t)N * 4);
    assert_non_null(in);
    size_t n = (size_t)sprintf(in, "*%d\r\n", N);
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(in + n, ":%d\r\n", i % 10);
    vmux_reader *rd = vmux__reader_new(&big);
    vmux_reply *got[2] = {NULL, NULL};
    assert_int_equal(feed_pieces(rd, in, n, 64, got), 1);
    size_t with = heap_in_use();
    vmux_reply_free(got[0]);
    size_t heap = with - heap_in_use();
    vmux__reader_free(rd);
    struct vmux_reader_limits lim = {1u << 20, 1u << 20, heap};
    rd = vmux__reader_new(&lim);
    size_t replies = 0;
    int rc = 0;
    for (size_t pos = 0; pos < n && rc == 0; pos += 64) {
        rc = vmux__reader_feed(rd, in + pos, n - pos < 64 ? n - pos : 64);
        vmux_reply *r;
        while (rc == 0 && (rc = vmux__reader_next(rd, &r)) == 1) {
            vmux_reply_free(r);
            replies++;
            rc = 0;
        }
    }
    if (replies != 0 || rc != VMUX_ERR_PROTOCOL)
        fail_msg("a reply that took %zu bytes of heap was allowed under that limit", heap);
    vmux__reader_free(rd);
    free(in);
}

/* A failed call leaves its reply NULL: every accessor reads it as nil, none crashes. */
static void test_null_reply_reads_as_nil(void **state)
{
    (void)state;
    size_t len = 7;
    assert_int_equal(vmux_reply_get_kind(NULL), VMUX_REPLY_NIL);
    assert_null(vmux_reply_str(NULL, &len));
    assert_int_equal(len, 0);
    assert_int_equal(vmux_reply_integer(NULL), 0);
    assert_int_equal(vmux_reply_len(NULL), 0);
    assert_null(vmux_reply_element(NULL, 0));
    vmux_reply_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_bytewise_and_split_agree),
        cmocka_unit_test(test_binary_bulk_keeps_nul),
        cmocka_unit_test(test_huge_bulk_header_fails_at_once),
        cmocka_unit_test(test_bulk_over_limit),
        cmocka_unit_test(test_array_over_limit_allocates_nothing),
        cmocka_unit_test(test_large_array_header_grows_lazily),
        cmocka_unit_test(test_unterminated_line_over_buffer),
        cmocka_unit_test(test_buffer_limit_counts_the_heap),
        cmocka_unit_test(test_bad_type_byte),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_bad_framing),
        cmocka_unit_test(test_int64_min_and_peek),
        cmocka_unit_test(test_large_bulk_in_pieces),
        cmocka_unit_test(test_negative_array_count),
        cmocka_unit_test(test_take_large_string),
        cmocka_unit_test(test_long_line_in_pieces_searched_once),
        cmocka_unit_test(test_number_line_capped),
        cmocka_unit_test(test_own_limits_between_replies),
        cmocka_unit_test(test_null_reply_reads_as_nil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
