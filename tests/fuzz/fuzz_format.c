/*
 * libFuzzer target for commands made from format strings (lib/core/format.c, vmux_command()'s
 * path): for a random format string built only from conversions whose meaning is safe (%s %b %d
 * %lld %%), literal bytes and spaces, our bytes are hiredis 0.14's redisFormatCommand()'s, byte
 * for byte, and our op is classified as the one made from hiredis's bytes; a format that makes
 * no argument (hiredis: "*0\r\n") is refused.
 *
 * The input: its first bytes are the values (VALUES cycles of a string, a binary value, an int
 * and a long long); the rest is the format's template, in which byte 0 places the next
 * conversion (the cycle's order: %s %b %d %lld), '%' is a literal %% and any other byte is
 * itself (space: a separator). Conversions the template did not place follow it, so that the
 * arguments passed are always the ones read, in their types.
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/format.h"
#include "vmux/error.h"
#include "fuzz.h"

enum { VALUES = 4, CONVERSIONS = 4 * VALUES, VALUE_MAX = 24, FORMAT_MAX = 2048 };

struct input {
    const uint8_t *p;
    size_t n;
};

struct values {
    char s[VALUES][VALUE_MAX + 1];
    char b[VALUES][VALUE_MAX];
    size_t blen[VALUES];
    int d[VALUES];
    long long ll[VALUES];
};

static uint8_t take(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static size_t take_bytes(struct input *in, char *dst)
{
    size_t len = take(in) % (VALUE_MAX + 1);
    if (len > in->n)
        len = in->n;
    memcpy(dst, in->p, len);
    in->p += len;
    in->n -= len;
    return len;
}

static void take_values(struct input *in, struct values *v)
{
    for (int i = 0; i < VALUES; i++) {
        size_t n = take_bytes(in, v->s[i]);
        v->s[i][n] = '\0'; /* a NUL among its bytes ends it early: a C string */
        v->blen[i] = take_bytes(in, v->b[i]);
        uint32_t d = 0;
        uint64_t ll = 0;
        for (int k = 0; k < 4; k++)
            d = d << 8 | take(in);
        for (int k = 0; k < 8; k++)
            ll = ll << 8 | take(in);
        memcpy(&v->d[i], &d, sizeof d);
        memcpy(&v->ll[i], &ll, sizeof ll);
    }
}

static const char *const conversion[] = {"%s", "%b", "%d", "%lld"};

/* The format string from the template; every conversion of the cycle placed once, in order. */
static void build_format(struct input *in, char *f)
{
    size_t at = 0, placed = 0;
    while (in->n > 0 && at + 8 < FORMAT_MAX) {
        uint8_t c = take(in);
        const char *piece = c == 0     ? (placed < CONVERSIONS ? conversion[placed++ % 4] : "")
                            : c == '%' ? "%%"
                                       : NULL;
        if (piece == NULL) {
            f[at++] = (char)c;
            continue;
        }
        memcpy(f + at, piece, strlen(piece));
        at += strlen(piece);
    }
    for (; placed < CONVERSIONS; placed++) {
        memcpy(f + at, conversion[placed % 4], strlen(conversion[placed % 4]));
        at += strlen(conversion[placed % 4]);
    }
    f[at] = '\0';
}

#define ARGS(v, i) (v)->s[i], (v)->b[i], (v)->blen[i], (v)->d[i], (v)->ll[i]

static int ours(struct vmux_op **op, char *why, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int rc = vmux__format_op(format, ap, op, why, VMUX_FORMAT_WHY_SIZE);
    va_end(ap);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char format[FORMAT_MAX + CONVERSIONS * 4 + 1];
    struct input in = {data, size};
    struct values v;
    take_values(&in, &v);
    build_format(&in, format);

    char *want = NULL;
    int n = redisFormatCommand(&want, format, ARGS(&v, 0), ARGS(&v, 1), ARGS(&v, 2), ARGS(&v, 3));
    CHECK(n > 0);
    struct vmux_op *op = NULL;
    char why[VMUX_FORMAT_WHY_SIZE];
    int rc = ours(&op, why, format, ARGS(&v, 0), ARGS(&v, 1), ARGS(&v, 2), ARGS(&v, 3));
    if (strcmp(want, "*0\r\n") == 0) {
        CHECK(rc == VMUX_ERR_INVALID_ARG && op == NULL);
        CHECK(strstr(why, "makes no argument") != NULL);
    } else {
        CHECK(rc == 0);
        CHECK(op->len == (size_t)n && memcmp(op->cmd, want, (size_t)n) == 0);
        struct vmux_op *raw = NULL;
        CHECK(vmux__encode_op_raw(want, (size_t)n, &raw) == 0);
        CHECK(raw->flags == op->flags);
        vmux__op_free(raw);
        vmux__op_free(op);
    }
    redisFreeCommand(want);
    return 0;
}
