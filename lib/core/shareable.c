#include "core/shareable.h"

#include <strings.h>
#include <string.h>

#include "vmux/error.h"

static const char *const refused[] = {
    "SUBSCRIBE",    "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
    "SUNSUBSCRIBE", "MONITOR",    "SYNC",       "PSYNC",       "MULTI",
    "EXEC",         "DISCARD",    "WATCH",      "UNWATCH",     "SELECT",
    "AUTH",         "HELLO",      "RESET",      "QUIT",
};

/* Finds argument i of a RESP command; returns its start and length, or NULL. */
static const char *argument(const struct vmux_op *op, int i, size_t *len)
{
    const char *p = op->cmd, *end = op->cmd + op->len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    for (int k = 0; nl != NULL && nl + 1 < end; k++) {
        p = nl + 1; /* at "$<len>\r\n" */
        if (*p != '$')
            return NULL;
        size_t n = 0;
        for (const char *d = p + 1; d < end && *d >= '0' && *d <= '9'; d++)
            n = n * 10 + (size_t)(*d - '0');
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || (size_t)(end - nl - 1) < n)
            return NULL;
        if (k == i) {
            *len = n;
            return nl + 1;
        }
        nl += n + 2; /* skip the argument and its "\r\n"; nl then points at its '\n' */
    }
    return NULL;
}

static bool is(const char *arg, size_t len, const char *name)
{
    return arg != NULL && strlen(name) == len && strncasecmp(arg, name, len) == 0;
}

int vmux_op_check_shareable(const struct vmux_op *op)
{
    size_t len;
    const char *name = argument(op, 0, &len);
    /* On the submit path: GET, SET and most other commands leave at the length test. */
    if (name == NULL || len < 4 || len > 12)
        return 0;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (is(name, len, refused[i]))
            return VMUX_ERR_UNSUPPORTED;
    if (is(name, len, "CLIENT")) {
        const char *sub = argument(op, 1, &len);
        if (is(sub, len, "REPLY"))
            return VMUX_ERR_UNSUPPORTED;
    }
    return 0;
}

static const char *const blocking[] = {
    "BLPOP",    "BRPOP",    "BRPOPLPUSH", "BLMOVE", "BLMPOP",
    "BZPOPMIN", "BZPOPMAX", "BZMPOP",     "WAIT",   "WAITAOF",
};

/* XREAD and XREADGROUP block only when given BLOCK, before STREAMS. */
static bool has_block_option(const struct vmux_op *op)
{
    size_t len;
    const char *arg;
    for (int i = 1; (arg = argument(op, i, &len)) != NULL; i++) {
        if (is(arg, len, "BLOCK"))
            return true;
        if (is(arg, len, "STREAMS"))
            return false;
    }
    return false;
}

bool vmux_op_is_blocking(const struct vmux_op *op)
{
    size_t len;
    const char *name = argument(op, 0, &len);
    if (name == NULL || len < 4 || len > 10 || (name[0] | 0x20) == 'g' || (name[0] | 0x20) == 's')
        return false;
    for (size_t i = 0; i < sizeof(blocking) / sizeof(blocking[0]); i++)
        if (is(name, len, blocking[i]))
            return true;
    return (is(name, len, "XREAD") || is(name, len, "XREADGROUP")) && has_block_option(op);
}
