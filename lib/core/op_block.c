/*
 * The block time of a blocking op sent again (core/op.h, vmux__op_shorten_block()): a failover's
 * UNBLOCKED, a MOVED or ASK, a "not now" ended or refused its block, and its deadline (block time
 * plus timeout_ms) still counts from the first send. Sent with its block time whole, the deadline
 * could come before the server's answer, closing the pool connection with an element the server
 * popped as it came (helper-203 F3); its block argument is cut to what is left of it instead.
 * Read and written only on such a resend, or on a first send that waited for a connection of
 * its node's blocking pool while its deadline ran (net/pool.c, helper-272), never otherwise.
 */
#include "core/op.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One argument of an op's command: [at, end) is its "$<n>\r\n<text>\r\n" in op->cmd. */
struct arg {
    size_t at, end;
    const char *text;
    size_t len;
};

/* The unit of a block time argument. */
enum unit { SECONDS, MILLISECONDS };

/* Reads the decimal number at *pos, ended by "\r\n", past which *pos goes; false if malformed. */
static bool read_num(const struct vmux_op *op, size_t *pos, size_t *out)
{
    size_t i = *pos, v = 0;
    while (i < op->len && op->cmd[i] >= '0' && op->cmd[i] <= '9' && i - *pos < 18)
        v = v * 10 + (size_t)(op->cmd[i++] - '0');
    if (i == *pos || i + 2 > op->len || op->cmd[i] != '\r' || op->cmd[i + 1] != '\n')
        return false;
    *pos = i + 2;
    *out = v;
    return true;
}

/* The argument at *pos into a, *pos past it; false when the bytes are no bulk string there. */
static bool next_arg(const struct vmux_op *op, size_t *pos, struct arg *a)
{
    a->at = *pos;
    if (*pos >= op->len || op->cmd[(*pos)++] != '$' || !read_num(op, pos, &a->len) ||
        a->len > op->len - *pos || op->len - *pos - a->len < 2)
        return false;
    a->text = op->cmd + *pos;
    *pos += a->len + 2;
    a->end = *pos;
    return true;
}

static bool named(const struct arg *a, const char *name)
{
    return a->len == strlen(name) && strncasecmp(a->text, name, a->len) == 0;
}

/* The value of XREAD's or XREADGROUP's BLOCK among its n options at *pos, before STREAMS. */
static bool xread_block(const struct vmux_op *op, size_t *pos, size_t n, struct arg *block)
{
    struct arg a;
    size_t skip = 0;
    while (n-- > 0 && next_arg(op, pos, &a)) {
        if (skip > 0)
            skip--; /* an option's value: a consumer named "block" is none */
        else if (named(&a, "BLOCK"))
            return n > 0 && next_arg(op, pos, block);
        else if (named(&a, "STREAMS"))
            return false;
        else if (named(&a, "COUNT"))
            skip = 1;
        else if (named(&a, "GROUP"))
            skip = 2;
    }
    return false;
}

/* The block time argument of op's command, and its unit; false for another command. */
static bool find_block(const struct vmux_op *op, struct arg *block, enum unit *unit)
{
    static const char *const last[] = {"BLPOP",  "BRPOP",    "BRPOPLPUSH",
                                       "BLMOVE", "BZPOPMIN", "BZPOPMAX"};
    size_t pos = 1, n;
    struct arg name;
    if (op->len < 1 || op->cmd[0] != '*' || !read_num(op, &pos, &n) || n < 2 ||
        !next_arg(op, &pos, &name))
        return false;
    *unit = SECONDS;
    if (named(&name, "BLMPOP") || named(&name, "BZMPOP"))
        return next_arg(op, &pos, block);
    for (size_t i = 0; i < sizeof last / sizeof last[0]; i++)
        if (named(&name, last[i])) {
            for (size_t k = 1; k < n; k++)
                if (!next_arg(op, &pos, block))
                    return false;
            return true;
        }
    *unit = MILLISECONDS;
    return (named(&name, "XREAD") || named(&name, "XREADGROUP")) &&
           xread_block(op, &pos, n - 1, block);
}

/*
 * A block time's text in ms: ms digits, or seconds as digits with an optional fraction, rounded
 * up to a ms as the server rounds it. false for another form (a sign, an exponent): left as it is.
 */
static bool block_ms(const struct arg *a, enum unit unit, uint64_t *ms)
{
    uint64_t whole = 0, frac = 0;
    size_t i = 0, digits = 0, fd = 0;
    bool more = false;
    for (; i < a->len && a->text[i] >= '0' && a->text[i] <= '9' && digits < 12; i++, digits++)
        whole = whole * 10 + (uint64_t)(a->text[i] - '0');
    if (unit == SECONDS && i < a->len && a->text[i] == '.')
        for (i++; i < a->len && a->text[i] >= '0' && a->text[i] <= '9'; i++, digits++) {
            if (fd < 3)
                frac = frac * 10 + (uint64_t)(a->text[i] - '0'), fd++;
            else
                more |= a->text[i] != '0';
        }
    if (i != a->len || digits == 0)
        return false;
    for (; fd < 3; fd++)
        frac *= 10;
    *ms = unit == SECONDS ? whole * 1000 + frac + (more ? 1 : 0) : whole;
    return true;
}

/* ms as a block time argument, "$<n>\r\n<text>\r\n", into buf; returns its length. */
static size_t format_block(char *buf, size_t len, uint64_t ms, enum unit unit)
{
    char text[32];
    int n;
    if (unit == MILLISECONDS || ms % 1000 == 0)
        n = snprintf(text, sizeof text, "%" PRIu64, unit == MILLISECONDS ? ms : ms / 1000);
    else {
        n = snprintf(text, sizeof text, "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
        while (text[n - 1] == '0')
            text[--n] = '\0';
    }
    return (size_t)snprintf(buf, len, "$%d\r\n%s\r\n", n, text);
}

struct vmux_op *vmux__op_shorten_block(struct vmux_op *op, uint32_t base_ms, uint32_t left_ms)
{
    struct arg a;
    enum unit unit;
    uint64_t block;
    if (op->q != NULL || (op->flags & VMUX_OP_LENT) || op->nreplies != 1 ||
        !find_block(op, &a, &unit) || !block_ms(&a, unit, &block) ||
        block == 0) /* 0 blocks for ever: no end to keep before the deadline */
        return op;
    /* its margin, what its deadline counted beyond its block, stays whole */
    int64_t want = (int64_t)left_ms - ((int64_t)base_ms - (int64_t)block);
    if (want >= (int64_t)block)
        return op;
    /* Less than a ms left: 1 ms, the least the server reads as a block (0 is for ever). It
     * answers, nil or an element pushed meanwhile, a ms later, inside the margin, where forging
     * the command's own nil here would need its reply kind per protocol and skip that element. */
    if (want < 1)
        want = 1;
    char arg[48];
    size_t n = format_block(arg, sizeof arg, (uint64_t)want, unit);
    struct vmux_op *re = vmux__op_splice(op, a.at, a.end - a.at, arg, n);
    if (re == NULL)
        return op; /* out of memory: sent as it is, its block time whole */
    re->flags |= VMUX_OP_BLOCK_SHORTENED;
    return re;
}
