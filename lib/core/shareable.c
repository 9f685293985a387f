#include "core/shareable.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "core/op.h"
#include "vmux/error.h"

static const char *const refused[] = {
    "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
    "MONITOR",   "SYNC",       "PSYNC",      "MULTI",       "EXEC",         "DISCARD",
    "WATCH",     "UNWATCH",    "SELECT",     "AUTH",        "HELLO",        "RESET",
    "QUIT",      "READONLY",   "READWRITE",  "ASKING",      "REPLCONF",
};

/*
 * Not WAIT and WAITAOF: they count the acknowledged writes of the connection they run on, so
 * they go where the handle's writes went (the shared link); on a pool connection, which wrote
 * nothing, they would answer at once with every replica.
 */
static const char *const blocking[] = {
    "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP",
};

/* The shortest and longest names in the two tables: the rest leave at once. */
enum { NAME_MIN = 4, NAME_MAX = 12 };

/*
 * What the classifier knows after the arguments fed so far. XREAD and XREADGROUP block only
 * when given BLOCK among their options, before STREAMS; option values (COUNT's, and GROUP's
 * group and consumer names) are skipped, so a consumer named "block" is no BLOCK option.
 */
struct classifier {
    enum { AT_NAME, AT_CLIENT_SUB, AT_STREAM_OPTS, DECIDED } state;
    bool group_allowed; /* XREADGROUP: GROUP takes two values */
    int skip;           /* option values still to pass over */
    uint32_t flags;
    int rc;
};

static bool is(const char *arg, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(arg, name, len) == 0;
}

static bool in(const char *const *table, size_t n, const char *arg, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (is(arg, len, table[i]))
            return true;
    return false;
}

static void feed_name(struct classifier *c, const char *arg, size_t len)
{
    c->state = DECIDED;
    if (len < NAME_MIN || len > NAME_MAX)
        return; /* GET, SET, HSET and most other commands */
    if (in(refused, sizeof(refused) / sizeof(refused[0]), arg, len))
        c->rc = VMUX_ERR_UNSUPPORTED;
    else if (in(blocking, sizeof(blocking) / sizeof(blocking[0]), arg, len))
        c->flags |= VMUX_OP_BLOCKING;
    else if (is(arg, len, "CLIENT"))
        c->state = AT_CLIENT_SUB;
    else if (is(arg, len, "XREAD") || is(arg, len, "XREADGROUP")) {
        c->state = AT_STREAM_OPTS;
        c->group_allowed = len == strlen("XREADGROUP");
    }
}

static void feed_stream_opt(struct classifier *c, const char *arg, size_t len)
{
    if (c->skip > 0)
        c->skip--;
    else if (is(arg, len, "BLOCK")) {
        c->flags |= VMUX_OP_BLOCKING;
        c->state = DECIDED;
    } else if (is(arg, len, "STREAMS"))
        c->state = DECIDED;
    else if (is(arg, len, "COUNT"))
        c->skip = 1;
    else if (c->group_allowed && is(arg, len, "GROUP"))
        c->skip = 2;
}

/* Takes the next argument; returns whether the classifier wants more. */
static bool feed(struct classifier *c, const char *arg, size_t len)
{
    switch (c->state) {
    case AT_NAME:
        feed_name(c, arg, len);
        break;
    case AT_CLIENT_SUB: /* TRACKING and CACHING: client-side caching is the near cache's */
        c->rc = is(arg, len, "REPLY") || is(arg, len, "TRACKING") || is(arg, len, "CACHING")
                    ? VMUX_ERR_UNSUPPORTED
                    : 0;
        c->state = DECIDED;
        break;
    case AT_STREAM_OPTS:
        feed_stream_opt(c, arg, len);
        break;
    case DECIDED:
        break;
    }
    return c->state != DECIDED;
}

int vmux__classify(int argc, const char *const *argv, const size_t *argvlen, uint32_t *flags)
{
    struct classifier c = {.state = AT_NAME};
    bool more = argv != NULL;
    for (int i = 0; more && i < argc; i++) {
        const char *arg = argv[i] != NULL ? argv[i] : "";
        more = feed(&c, arg, argvlen != NULL && argv[i] != NULL ? argvlen[i] : strlen(arg));
    }
    *flags |= c.flags;
    return c.rc;
}

/* Reads the decimal length after a '$' or '*' at *p, moving *p past its "\r\n". */
static bool header(const char **p, const char *end, char kind, size_t *n)
{
    const char *s = *p;
    if (s >= end || *s++ != kind)
        return false;
    for (*n = 0; s < end && *s >= '0' && *s <= '9'; s++)
        *n = *n * 10 + (size_t)(*s - '0');
    if (end - s < 2 || s[0] != '\r' || s[1] != '\n')
        return false;
    *p = s + 2;
    return true;
}

int vmux__classify_resp(const char *resp, size_t len, uint32_t *flags)
{
    struct classifier c = {.state = AT_NAME};
    const char *p = resp, *end = resp + len;
    size_t argc, n;
    bool more = resp != NULL && header(&p, end, '*', &argc);
    for (size_t i = 0; more && i < argc && header(&p, end, '$', &n); i++) {
        if ((size_t)(end - p) < n + 2)
            break;
        more = feed(&c, p, n);
        p += n + 2;
    }
    *flags |= c.flags;
    return c.rc;
}

bool vmux__waits_for_replicas(int argc, const char *const *argv, const size_t *argvlen)
{
    if (argc < 1 || argv == NULL || argv[0] == NULL)
        return false;
    size_t len = argvlen != NULL ? argvlen[0] : strlen(argv[0]);
    return is(argv[0], len, "WAIT") || is(argv[0], len, "WAITAOF");
}
