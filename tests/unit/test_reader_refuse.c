/*
 * The reply reader's refusals (vmux__reader_refuse_over_limit()): a user's reply over a limit is
 * told once (VMUX__READER_REFUSED, the limit named), the rest of it skipped, and the replies
 * behind it read as if it had not been there, however the bytes are split; nothing of it is
 * kept (a skipped bulk string is dropped as it is fed) but its outermost array's first elements
 * until the refusal is taken (vmux__reader_refused_part()); a reply claiming more than a server
 * sends (2^32 values, a 4 GiB string), the library's own
 * replies and a reader without refusals still fail.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/reader.h"
#include "vmux/error.h"

/* maxBulkLength 8, maxReplyElements 4, maxReplyBuffer 1024 */
static const struct vmux_reader_limits small = {8, 4, 1024};

/* A reader under small, refusing. */
static vmux_reader *refusing_reader(void)
{
    vmux_reader *rd = vmux__reader_new(&small);
    assert_non_null(rd);
    vmux__reader_refuse_over_limit(rd, true);
    return rd;
}

/* Feeds the string s. */
static void feed(vmux_reader *rd, const char *s)
{
    assert_int_equal(vmux__reader_feed(rd, s, strlen(s)), 0);
}

/* The next reply is the integer want. */
static void next_int(vmux_reader *rd, long long want)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    assert_int_equal(vmux_reply_integer(r), want);
    vmux_reply_free(r);
}

/* The next thing told is a refusal: taken. */
static void take_refusal(vmux_reader *rd)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_next(rd, &r), VMUX__READER_REFUSED);
    vmux__reader_take_refusal(rd);
}

/* Appends what next() gives until it wants bytes: integers as "iN;", statuses as "sTEXT;", a
 * refusal as "R;" (taken, its reason checked for words when given). */
static void drain(vmux_reader *rd, char *out, size_t cap, const char *words)
{
    for (;;) {
        vmux_reply *r = NULL;
        int rc = vmux__reader_next(rd, &r);
        size_t len = strlen(out);
        if (rc == 0)
            return;
        if (rc == VMUX__READER_REFUSED) {
            if (words != NULL && strstr(vmux__reader_error(rd), words) == NULL)
                fail_msg("refused for '%s', where '%s' was due", vmux__reader_error(rd), words);
            vmux__reader_take_refusal(rd);
            snprintf(out + len, cap - len, "R;");
            continue;
        }
        if (rc != 1)
            fail_msg("next() returned %d: %s", rc, vmux__reader_error(rd));
        if (vmux_reply_get_kind(r) == VMUX_REPLY_INTEGER)
            snprintf(out + len, cap - len, "i%lld;", (long long)vmux_reply_integer(r));
        else
            snprintf(out + len, cap - len, "s%s;", vmux_reply_str(r, NULL));
        vmux_reply_free(r);
    }
}

/* Feeds in, cut at cut (0: whole) then in steps of step, draining after each feed. */
static void parse(const char *in, size_t n, size_t cut, size_t step, const char *words, char *out,
                  size_t cap)
{
    vmux_reader *rd = refusing_reader();
    out[0] = '\0';
    for (size_t pos = 0; pos < n;) {
        size_t chunk = cut > pos ? cut - pos : step;
        chunk = chunk < n - pos ? chunk : n - pos;
        assert_int_equal(vmux__reader_feed(rd, in + pos, chunk), 0);
        pos += chunk;
        drain(rd, out, cap, words);
    }
    assert_true(vmux__reader_idle(rd));
    vmux__reader_free(rd);
}

/* in must read as want whole, byte by byte, and cut at every offset. */
static void reads_as(const char *in, const char *words, const char *want)
{
    size_t n = strlen(in);
    char got[512];
    parse(in, n, 0, n, words, got, sizeof got);
    assert_string_equal(got, want);
    parse(in, n, 0, 1, words, got, sizeof got);
    assert_string_equal(got, want);
    for (size_t cut = 1; cut < n; cut++) {
        parse(in, n, cut, n, words, got, sizeof got);
        if (strcmp(got, want) != 0)
            fail_msg("cut at %zu: '%s', where '%s' was due", cut, got, want);
    }
}

static void test_bulk_over_limit_skipped(void **state)
{
    (void)state;
    reads_as(":1\r\n$12\r\n0123456789ab\r\n:2\r\n",
             "bulk string of 12 bytes exceeds maxBulkLength 8", "i1;R;i2;");
    /* a status line and CRs inside the skipped body do not end it early */
    reads_as("$10\r\n+ok\r\n\r\n\r\n.\r\n+next\r\n", "maxBulkLength", "R;snext;");
}

static void test_bulk_inside_arrays_skipped(void **state)
{
    (void)state;
    /* the refused bulk is the second element of a nested array: the open arrays' rest skipped */
    reads_as("*3\r\n:1\r\n*3\r\n$2\r\nab\r\n$9\r\n123456789\r\n-ERR x\r\n*2\r\n$-1\r\n:5\r\n"
             "+after\r\n",
             "maxBulkLength", "R;safter;");
}

static void test_array_over_limit_skipped(void **state)
{
    (void)state;
    reads_as("*5\r\n:1\r\n*2\r\n+a\r\n+b\r\n$3\r\nabc\r\n*-1\r\n$20\r\n01234567890123456789\r\n"
             ":9\r\n",
             "array of 5 elements exceeds maxReplyElements 4", "R;i9;");
}

static void test_buffer_over_limit_skipped(void **state)
{
    (void)state;
    /* four arrays of four statuses: each value counts its bytes and its overhead */
    char in[1024] = "*4\r\n";
    for (int i = 0; i < 4; i++) {
        strcat(in, "*4\r\n");
        for (int j = 0; j < 4; j++)
            strcat(in, "+abcdefgh\r\n");
    }
    strcat(in, ":3\r\n");
    reads_as(in, "exceeds maxReplyBuffer 1024", "R;i3;");
}

/* Two refused replies in a row, then an accepted one. */
static void test_refusals_in_a_row(void **state)
{
    (void)state;
    reads_as("$9\r\n123456789\r\n*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n+ok\r\n", NULL, "R;R;sok;");
}

/* The refusal is told until taken: next() says it again, and skips nothing meanwhile. */
static void test_refusal_told_until_taken(void **state)
{
    (void)state;
    vmux_reader *rd = refusing_reader();
    const char in[] = "$9\r\n123456789\r\n:1\r\n";
    assert_int_equal(vmux__reader_feed(rd, in, sizeof in - 1), 0);
    vmux_reply *r = NULL;
    assert_int_equal(vmux__reader_next(rd, &r), VMUX__READER_REFUSED);
    assert_int_equal(vmux__reader_next(rd, &r), VMUX__READER_REFUSED);
    assert_null(r);
    assert_false(vmux__reader_idle(rd));
    assert_int_equal(vmux__reader_peek(rd), -1);
    vmux__reader_take_refusal(rd);
    next_int(rd, 1);
    assert_true(vmux__reader_idle(rd));
    vmux__reader_free(rd);
}

/*
 * Feeds in one byte at a time (whole when whole) until the refusal, and returns a description
 * of vmux__reader_refused_part() then: "-" for NULL, else its elements as "sTEXT;" or "iN;"
 * (an array: "a;"). Checks that the part is gone once the refusal is taken; frees the reader
 * with the part still held when keep is true (a connection that fails on it).
 */
static void part_of(const char *in, bool whole, bool keep, char *out, size_t cap)
{
    vmux_reader *rd = refusing_reader();
    size_t n = strlen(in), pos = 0;
    vmux_reply *r = NULL;
    int rc = 0;
    while (rc == 0 && pos < n) {
        size_t chunk = whole ? n : 1;
        assert_int_equal(vmux__reader_feed(rd, in + pos, chunk), 0);
        pos += chunk;
        while ((rc = vmux__reader_next(rd, &r)) == 1)
            vmux_reply_free(r);
    }
    assert_int_equal(rc, VMUX__READER_REFUSED);
    const vmux_reply *part = vmux__reader_refused_part(rd);
    out[0] = '\0';
    if (part == NULL)
        snprintf(out, cap, "-");
    for (size_t i = 0; part != NULL && i < vmux_reply_len(part); i++) {
        const vmux_reply *e = vmux_reply_element(part, i);
        size_t len = strlen(out);
        if (vmux_reply_get_kind(e) == VMUX_REPLY_INTEGER)
            snprintf(out + len, cap - len, "i%lld;", (long long)vmux_reply_integer(e));
        else if (vmux_reply_get_kind(e) == VMUX_REPLY_ARRAY)
            snprintf(out + len, cap - len, "a;");
        else
            snprintf(out + len, cap - len, "s%s;", vmux_reply_str(e, NULL));
    }
    if (!keep) {
        vmux__reader_take_refusal(rd);
        assert_null(vmux__reader_refused_part(rd));
    }
    vmux__reader_free(rd);
}

static void part_is(const char *in, const char *want)
{
    char got[256];
    for (int i = 0; i < 4; i++) { /* whole or byte by byte; taken or freed with the reader */
        part_of(in, i & 1, i & 2, got, sizeof got);
        if (strcmp(got, want) != 0)
            fail_msg("%s, %s: part '%s', where '%s' was due", i & 1 ? "whole" : "byte by byte",
                     i & 2 ? "kept" : "taken", got, want);
    }
}

/*
 * What was built of a refused reply, its outermost array's first elements, is there while the
 * refusal is told: a subscriber's message refused for its payload still names its channel.
 */
static void test_refused_part(void **state)
{
    (void)state;
    part_is("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$12\r\n0123456789ab\r\n:1\r\n", "smessage;sch;");
    part_is("*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npq\r\n$9\r\n123456789\r\n",
            "spmessage;sp*;spq;");
    /* an array open inside it is not attached to it yet: the part holds what came before */
    part_is("*3\r\n:1\r\n*3\r\n$2\r\nab\r\n$9\r\n123456789\r\n-ERR x\r\n+after\r\n", "i1;");
    part_is("*2\r\n*1\r\n:7\r\n$9\r\n123456789\r\n", "a;");
    part_is("$9\r\n123456789\r\n", "-");                  /* no array */
    part_is("*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n", "-"); /* refused at its header */
}

/* The heap's blocks in use, mapped ones included (0 under ASan, whose malloc glibc's does not
 * see: the plain build checks). */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/*
 * A refused bulk string of 64 MiB fed in 64 KiB reads: dropped as it comes, the heap never
 * above a read's worth more than before; the status line behind it is read.
 */
static void test_large_refused_bulk_dropped_as_fed(void **state)
{
    (void)state;
    enum { BODY = 64 << 20, READ = 64 << 10 };
    vmux_reader *rd = refusing_reader();
    static char chunk[READ];
    memset(chunk, 'x', sizeof chunk);
    char head[32];
    int hn = snprintf(head, sizeof head, "$%d\r\n", BODY);
    assert_int_equal(vmux__reader_feed(rd, head, (size_t)hn), 0);
    take_refusal(rd);
    vmux_reply *r = NULL;
    size_t before = heap_in_use();
    for (size_t fed = 0; fed < BODY; fed += READ) {
        assert_int_equal(vmux__reader_feed(rd, chunk, READ), 0);
        assert_int_equal(vmux__reader_next(rd, &r), 0);
        assert_true(heap_in_use() <= before + 2 * READ);
    }
    feed(rd, "\r\n+done\r\n");
    assert_int_equal(vmux__reader_next(rd, &r), 1);
    assert_string_equal(vmux_reply_str(r, NULL), "done");
    vmux_reply_free(r);
    vmux__reader_free(rd);
}

/*
 * A status line longer than maxReplyBuffer (a script's status_reply can be as long as it likes)
 * is refused and dropped as it comes, however it arrives; the reply behind it is read. It failed
 * the reader before when it came in pieces (review helper-192: an INCR behind a 200 KB status
 * reply came back VMUX_ERR_PROTOCOL), and was refused when it came in one read.
 */
static void test_long_status_line_refused(void **state)
{
    (void)state;
    static char line[4096];
    memset(line, 'a', sizeof line);
    line[0] = '+';
    for (size_t step = 1; step <= sizeof line; step *= 4) { /* 1, 4, 16 ... 4096 bytes a read */
        vmux_reader *rd = refusing_reader();
        vmux_reply *r = NULL;
        int refused = 0;
        for (size_t pos = 0; pos < sizeof line; pos += step) {
            size_t n = sizeof line - pos < step ? sizeof line - pos : step;
            assert_int_equal(vmux__reader_feed(rd, line + pos, n), 0);
            int rc = vmux__reader_next(rd, &r);
            if (rc == VMUX__READER_REFUSED) {
                vmux__reader_take_refusal(rd);
                refused++;
                rc = vmux__reader_next(rd, &r);
            }
            assert_int_equal(rc, 0);
        }
        assert_int_equal(refused, 1);
        feed(rd, "\r\n:7\r\n");
        next_int(rd, 7);
        vmux__reader_free(rd);
    }
}

/* A long error line inside a refused reply (4 MiB) is dropped as it comes. */
static void test_long_line_in_refused_reply(void **state)
{
    (void)state;
    vmux_reader *rd = refusing_reader();
    feed(rd, "*5\r\n-");
    take_refusal(rd);
    vmux_reply *r = NULL;
    char chunk[4096];
    memset(chunk, 'e', sizeof chunk);
    size_t before = heap_in_use();
    chunk[sizeof chunk - 1] = '\r'; /* a CR whose LF is not next */
    for (int i = 0; i < 1024; i++) {
        assert_int_equal(vmux__reader_feed(rd, chunk, sizeof chunk), 0);
        assert_int_equal(vmux__reader_next(rd, &r), 0);
    }
    feed(rd, "\r\n:1\r\n:2\r\n:3\r\n:4\r\n:42\r\n");
    next_int(rd, 42);
    assert_true(heap_in_use() <= before + 4 * sizeof chunk); /* dropped as it came */
    vmux__reader_free(rd);
}

/* Runs next() until it does not give a reply; returns what it returned. */
static int next_until_not_reply(vmux_reader *rd)
{
    int rc;
    vmux_reply *r = NULL;
    while ((rc = vmux__reader_next(rd, &r)) == 1)
        vmux_reply_free(r);
    return rc;
}

/* A refusal, then the reader fails on what follows in; returns whether it failed over a limit. */
static bool refused_then_fails(const char *in)
{
    vmux_reader *rd = refusing_reader();
    feed(rd, in);
    assert_int_equal(next_until_not_reply(rd), VMUX__READER_REFUSED);
    vmux__reader_take_refusal(rd);
    assert_int_equal(next_until_not_reply(rd), VMUX_ERR_PROTOCOL);
    bool over = vmux__reader_over_limit(rd);
    vmux__reader_free(rd);
    return over;
}

static void test_what_still_fails(void **state)
{
    (void)state;
    /* a reader not refusing, as before */
    vmux_reader *rd = vmux__reader_new(&small);
    assert_int_equal(vmux__reader_feed(rd, "$9\r\n", 4), 0);
    assert_int_equal(next_until_not_reply(rd), VMUX_ERR_PROTOCOL);
    assert_true(vmux__reader_over_limit(rd));
    vmux__reader_free(rd);
    /* the library's own reply, under its own limits */
    rd = refusing_reader();
    vmux__reader_set_own_limits(rd, &small);
    vmux__reader_own(rd, true);
    assert_int_equal(vmux__reader_feed(rd, "$9\r\n", 4), 0);
    assert_int_equal(next_until_not_reply(rd), VMUX_ERR_PROTOCOL);
    assert_non_null(strstr(vmux__reader_error(rd), "maxBulkLength 8"));
    vmux__reader_free(rd);
    /* an array claiming more values than a refusal skips */
    rd = refusing_reader();
    const char huge[] = "*9223372036854775807\r\n";
    assert_int_equal(vmux__reader_feed(rd, huge, sizeof huge - 1), 0);
    assert_int_equal(next_until_not_reply(rd), VMUX_ERR_PROTOCOL);
    vmux__reader_free(rd);
    /* ... or arrays nested inside a refused one that claim that many together */
    rd = refusing_reader();
    const char nested[] = "*5\r\n*1099511627776\r\n";
    assert_int_equal(vmux__reader_feed(rd, nested, sizeof nested - 1), 0);
    assert_int_equal(next_until_not_reply(rd), VMUX__READER_REFUSED);
    vmux__reader_take_refusal(rd);
    assert_int_equal(next_until_not_reply(rd), VMUX_ERR_PROTOCOL);
    assert_non_null(strstr(vmux__reader_error(rd), "claims more than"));
    vmux__reader_free(rd);
    /* a bulk string longer than any server sends, refused or inside a refused reply */
    rd = refusing_reader();
    assert_int_equal(vmux__reader_feed(rd, "$5000000000\r\n", 14), 0);
    assert_int_equal(next_until_not_reply(rd), VMUX_ERR_PROTOCOL);
    assert_true(vmux__reader_over_limit(rd));
    vmux__reader_free(rd);
    (void)refused_then_fails("*5\r\n$5000000000\r\n");
    /* bytes that are no RESP inside a refused reply */
    assert_false(refused_then_fails("*5\r\n:1\r\n?\r\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_over_limit_skipped),
        cmocka_unit_test(test_bulk_inside_arrays_skipped),
        cmocka_unit_test(test_array_over_limit_skipped),
        cmocka_unit_test(test_buffer_over_limit_skipped),
        cmocka_unit_test(test_refusals_in_a_row),
        cmocka_unit_test(test_refusal_told_until_taken),
        cmocka_unit_test(test_refused_part),
        cmocka_unit_test(test_large_refused_bulk_dropped_as_fed),
        cmocka_unit_test(test_long_status_line_refused),
        cmocka_unit_test(test_long_line_in_refused_reply),
        cmocka_unit_test(test_what_still_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
