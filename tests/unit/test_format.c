/*
 * Commands from format strings (core/format.c): byte for byte what hiredis 0.14's
 * redisvFormatCommand() makes of the same format and arguments, where hiredis is well defined;
 * the refusals, with their reasons; and out of memory, with nothing leaked (the allocations made
 * to fail: tests/support/failalloc.h).
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "core/format.h"
#include "core/op.h"
#include "failalloc.h"
#include "vmux/error.h"

static int compared; /* format strings compared with hiredis */

/* What both formatters made of one format string and argument list. */
struct both {
    int n;      /* hiredis's length, or its -1, -2 */
    char *want; /* hiredis's bytes */
    int rc;     /* ours */
    struct vmux_op *op;
    char why[VMUX_FORMAT_WHY_SIZE];
};

/* Both formatters on one argument list, hiredis's on its own copy. */
static void format_both(const char *format, va_list ap, struct both *b)
{
    va_list theirs;
    va_copy(theirs, ap);
    b->want = NULL;
    b->n = redisvFormatCommand(&b->want, format, theirs);
    va_end(theirs);
    b->op = NULL;
    b->rc = vmux__format_op(format, ap, &b->op, b->why, sizeof b->why);
}

/* Formats with both (each through its own copy of the arguments) and compares the bytes. */
static void same(const char *format, ...)
{
    struct both b;
    va_list ap;
    va_start(ap, format);
    format_both(format, ap, &b);
    va_end(ap);
    if (b.n <= 0 || b.rc != 0)
        fail_msg("'%s': hiredis %d, ours %d (%s)", format, b.n, b.rc, b.why);
    if (b.op->len != (size_t)b.n || memcmp(b.op->cmd, b.want, (size_t)b.n) != 0)
        fail_msg("'%s': ours %.*s, hiredis %s", format, (int)b.op->len, b.op->cmd, b.want);
    redisFreeCommand(b.want);
    vmux__op_free(b.op);
    compared++;
}

/* Refused by both: hiredis's -2, ours VMUX_ERR_INVALID_ARG with why. */
static void refused(const char *format, const char *why_want, ...)
{
    struct both b;
    va_list ap;
    va_start(ap, why_want);
    format_both(format, ap, &b);
    va_end(ap);
    if (b.n != -2)
        fail_msg("'%s': hiredis %d, not -2", format, b.n);
    assert_int_equal(b.rc, VMUX_ERR_INVALID_ARG);
    assert_null(b.op);
    if (why_want != NULL)
        assert_string_equal(b.why, why_want);
}

/* Ours alone: refused with why (hiredis crashes or reads past the string). */
static void ours_refuses(const char *format, const char *why_want, ...)
{
    va_list ap;
    va_start(ap, why_want);
    struct vmux_op *op = NULL;
    char why[VMUX_FORMAT_WHY_SIZE];
    int rc = vmux__format_op(format, ap, &op, why, sizeof why);
    va_end(ap);
    assert_int_equal(rc, VMUX_ERR_INVALID_ARG);
    assert_null(op);
    assert_string_equal(why, why_want);
}

/* Ours alone: the bytes want (NUL-terminated). */
static void ours_makes(const char *want, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    struct vmux_op *op = NULL;
    int rc = vmux__format_op(format, ap, &op, NULL, 0);
    va_end(ap);
    assert_int_equal(rc, 0);
    assert_int_equal(op->len, strlen(want));
    assert_memory_equal(op->cmd, want, op->len);
    vmux__op_free(op);
}

static void test_literal_text(void **state)
{
    (void)state;
    same("PING");
    same("SET key value");
    same("SET  key     value");
    same("   SET key value   ");
    same(" PING");
    same("ECHO 100%"); /* a % that ends the string is literal, in hiredis too */
    same("ECHO %");
    same("ECHO %%");
    same("ECHO a%%b");
    same("ECHO %%%%");
    same("ECHO %% %%");
    same("ECHO \r\n\t\x01\xff");
}

static void test_strings(void **state)
{
    (void)state;
    same("SET %s %s", "key", "value");
    same("SET %s %s", "key", "");
    same("ECHO %s", "");
    same("ECHO %s%s", "", "");
    same("ECHO %s %s", "", "");
    same("SET key:%s value", "x");
    same("SET %s:%s:%s v", "a", "b", "c");
    same("ECHO %s", "has spaces  inside");
    same("ECHO pre%spost", "mid");
    same("ECHO %s%%%s", "a", "b");
    same("%s %s %s", "SET", "k", "v");
    same("  %s  ", "PING");
}

static void test_binary(void **state)
{
    (void)state;
    same("SET %b %b", "k", (size_t)1, "v\0x", (size_t)3);
    same("SET k %b", "", (size_t)0);
    same("SET k %b", (const char *)NULL, (size_t)0);
    same("ECHO %b%b", "ab", (size_t)2, "\0\0", (size_t)2);
    same("ECHO x%by", "\r\n", (size_t)2);
    same("ECHO %b %b", " ", (size_t)1, "%s", (size_t)2);
    same("ECHO %s%b%s", "a", "\0", (size_t)1, "c");
}

static void test_integers(void **state)
{
    (void)state;
    same("INCRBY k %d", 42);
    same("INCRBY k %d", INT_MIN);
    same("INCRBY k %i", -7);
    same("ECHO %o", 8);
    same("ECHO %u", 4000000000u);
    same("ECHO %u", 0u);
    same("ECHO %x", 255);
    same("ECHO %X", 0xABCDEF);
    same("ECHO %hhd", 300);
    same("ECHO %hhu", 255);
    same("ECHO %hhx", -1);
    same("ECHO %hd", 70000);
    same("ECHO %hu", 65535);
    same("ECHO %hi %ho %hX", -2, 9, 0xBEEF);
    same("ECHO %ld", LONG_MIN);
    same("ECHO %lu", ULONG_MAX);
    same("ECHO %lx %lo %li %lX", 1L, 2L, 3L, 4L);
    same("ECHO %lld", LLONG_MIN);
    same("ECHO %lli", LLONG_MAX);
    same("ECHO %llu", ULLONG_MAX);
    same("ECHO %llx %llo %llX", 0x1234567890abcdefLL, 8LL, -1LL);
}

static void test_flags_width_precision(void **state)
{
    (void)state;
    same("ECHO %5d", 42);
    same("ECHO %-5d|", 42);
    same("ECHO %05d", 42);
    same("ECHO %+d", 42);
    same("ECHO % d", 42); /* the space flag: its space is not a separator */
    same("ECHO %#x", 255);
    same("ECHO %#o", 8);
    same("ECHO %.3d", 7);
    same("ECHO %8.3d", 7);
    same("ECHO %-+8.3d", 7);
    same("ECHO %012lld", -5LL);
    same("ECHO %#llX", 0xfeedLL);
    same("ECHO %.0d", 0);
    same("ECHO %.d", 0);
    same("ECHO %+ d", 1);
    same("ECHO %-05hd|", 3);
    same("ECHO %#10.6hhx", 17);
    same("ECHO %300d", 1); /* wider than any fixed buffer of hiredis's or ours */
}

static void test_doubles(void **state)
{
    (void)state;
    same("ECHO %f", 3.14159);
    same("ECHO %F", INFINITY);
    same("ECHO %f", -INFINITY);
    same("ECHO %f", NAN);
    same("ECHO %e", 12345.678);
    same("ECHO %E", -0.000123);
    same("ECHO %g", 0.0001);
    same("ECHO %G", 1e-10);
    same("ECHO %a", 1.0);
    same("ECHO %A", -0.5);
    same("ECHO %.2f", 2.675);
    same("ECHO %10.4f|", 2.5);
    same("ECHO %-12.3e|", 6.02e23);
    same("ECHO %+g", 1.5);
    same("ECHO %#g", 1.0);
    same("ECHO %.0f", 0.5);
    same("ECHO %f", DBL_MAX);
    same("ECHO %g", DBL_MIN);
    same("ECHO %.17g", 0.1);
}

static void test_mixed(void **state)
{
    (void)state;
    same("ECHO %d%d%d", 1, 2, 3);
    same("ECHO %s%d%b", "a", 1, "b", (size_t)1);
    same("SET key:%d:%s v", 7, "x");
    same("HSET h %s %lld %s %f", "a", 1LL, "b", 2.5);
    same("ECHO %d %s %lld %f %b %u", -1, "s", LLONG_MIN, 0.25, "\0b", (size_t)2, 5u);
    same("ECHO %hhd %hd %ld %lld %d %g", 1, 2, 3L, 4LL, 5, 6.0);
    same("ECHO %f%d%f", 1.0, 2, 3.0); /* doubles and ints interleaved: each taken by its type */
    same("ECHO %%d %d", 3);
    same("ECHO a%db%sc%bd", 1, "2", "3", (size_t)1);
}

static void test_large(void **state)
{
    (void)state;
    size_t big = (size_t)1 << 20;
    char *v = malloc(big + 1);
    assert_non_null(v);
    for (size_t i = 0; i < big; i++)
        v[i] = (char)(i * 7 % 251); /* NULs, spaces and % among them */
    same("SET %s %b", "key", v, big);
    memset(v, 'x', big);
    v[big] = '\0';
    same("SET k:%s %s", v, v);
    same(v); /* a 1 MiB literal argument */
    /* 20,000 arguments (hiredis grows its vector one argument at a time: not half a million) */
    for (size_t i = 1; i < 40000; i += 2)
        v[i] = ' ';
    v[40000] = '\0';
    same(v);
    free(v);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("ECHO %y", "the format string is malformed: unknown conversion %y at offset 5");
    refused("ECHO %5s", "the format string is malformed: unknown conversion %5s at offset 5", "x");
    refused("ECHO %lf", "the format string is malformed: unknown conversion %lf at offset 5", 1.0);
    refused("ECHO %Lf", NULL, 1.0L);
    refused("ECHO %hs", NULL, "x");
    refused("ECHO %hhs", NULL, "x");
    refused("ECHO %lls", NULL, "x");
    refused("ECHO %c", NULL, 'c');
    refused("ECHO %p", NULL, (void *)0);
    refused("ECHO %n", NULL, (int *)NULL);
    refused("ECHO %zu", NULL, (size_t)1);
    refused("ECHO %jd", NULL, (intmax_t)1);
    refused("ECHO %*d", NULL, 3, 4);
    refused("ECHO %.*d", NULL, 3, 4);
    refused("ECHO 100% sure", "the format string is malformed: unknown conversion % s at offset 8");
    refused("ECHO %lld %q", "the format string is malformed: unknown conversion %q at offset 10",
            1LL);
    refused("ECHO %\x01", "the format string is malformed: unknown conversion %\\x01 at offset 5");
    /* hiredis reads past the end of these: ours refuses them */
    ours_refuses("ECHO %5",
                 "the format string is malformed: the conversion %5 at offset 5 is cut short by "
                 "the end of the string",
                 1);
    ours_refuses("ECHO %-", "the format string is malformed: the conversion %- at offset 5 is cut "
                            "short by the end of the string");
    ours_refuses("ECHO % ", "the format string is malformed: the conversion %  at offset 5 is cut "
                            "short by the end of the string");
    ours_refuses("ECHO %.", "the format string is malformed: the conversion %. at offset 5 is cut "
                            "short by the end of the string");
    ours_refuses("ECHO %ll", "the format string is malformed: the conversion %ll at offset 5 is "
                             "cut short by the end of the string");
    /* no argument: hiredis makes "*0\r\n", which the server would never answer */
    const char *none = "the format string makes no argument (a command has at least its name)";
    ours_refuses("", none);
    ours_refuses("    ", none);
    /* NULL arguments: hiredis crashes */
    ours_refuses("SET k %s", "the argument of %s at offset 6 is NULL", (const char *)NULL);
    ours_refuses("SET k %b", "the argument of %b at offset 6 is NULL", (const char *)NULL,
                 (size_t)1);
    /* wider than vsnprintf() can print (INT_MAX) */
    ours_refuses("ECHO %99999999999d", "the conversion at offset 5 cannot be formatted (too wide)",
                 1);
}

/* A spec of 14 bytes or more hiredis leaves unformatted (its fixed buffer): ours formats it. */
static void test_long_specs(void **state)
{
    (void)state;
    ours_makes("*2\r\n$4\r\nECHO\r\n$20\r\n-0000012345         \r\n", "ECHO %-++ 020.10lld",
               -12345LL);
    ours_makes("*2\r\n$4\r\nECHO\r\n$8\r\n00000005\r\n",
               "ECHO %000000000000000000000000000000000000000008d", 5); /* a 44-byte spec */
    /* hiredis: "*3\r\n$4\r\nECHO\r\n$16\r\n000000000000000d\r\n$1\r\nx\r\n" */
    ours_makes("*3\r\n$4\r\nECHO\r\n$1\r\n5\r\n$1\r\nx\r\n", "ECHO %0000000000000000d %s", 5, "x");
}

static int format_with(struct vmux_op **op, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int rc = vmux__format_op(format, ap, op, NULL, 0);
    va_end(ap);
    return rc;
}

/* Many arguments and a long spec: every allocation the formatter makes, failed in turn. */
static void test_out_of_memory(void **state)
{
    (void)state;
    char format[512];
    size_t at = 0;
    for (int i = 0; i < 40; i++)
        at += (size_t)snprintf(format + at, sizeof format - at, "a%d ", i);
    snprintf(format + at, sizeof format - at, "%%00000000000000000000000000000000000007d");
    long nth;
    for (nth = 1;; nth++) {
        struct vmux_op *op = NULL;
        vt_failalloc_arm(nth, 1, VT_FA_ARMER);
        int rc = format_with(&op, format, 7);
        long failed = vt_failalloc_failed();
        vt_failalloc_disarm();
        if (failed == 0) {
            assert_int_equal(rc, 0);
            /* "*41\r\n", ten "$2\r\na<n>\r\n", thirty "$3\r\na<nn>\r\n", "$7\r\n0000007\r\n" */
            assert_int_equal(op->len, 5 + 10 * 8 + 30 * 9 + 13);
            vmux__op_free(op);
            break;
        }
        assert_int_equal(rc, VMUX_ERR_NOMEM);
        assert_null(op);
    }
    /* the lengths' array grown twice, the spec copied in each pass, the op */
    assert_int_equal(nth, 6);
    struct vmux_op *op = NULL;
    vt_failalloc_arm(1, -1, VT_FA_ARMER);
    assert_int_equal(format_with(&op, format, 7), VMUX_ERR_NOMEM);
    vt_failalloc_disarm();
    assert_null(op);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_text),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_flags_width_precision),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_long_specs),
        cmocka_unit_test(test_out_of_memory),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    printf("format strings compared with hiredis: %d\n", compared);
    return failed != 0 || compared < 60;
}
