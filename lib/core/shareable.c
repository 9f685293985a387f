#include "core/shareable.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "core/errbuf.h"
#include "core/op.h"
#include "vmux/error.h"

/* What to use instead, for the caller's error buffer. */
#define USE_SUBSCRIBE                                                                              \
    "it makes the connection a subscriber's for every caller: vmux_subscribe() and "               \
    "vmux_unsubscribe() (pubsub.h) keep a connection of their own"
#define USE_OWN_CONNECTION                                                                         \
    "it turns the connection into a stream for one reader: open a connection of your own for it"
#define USE_TX                                                                                     \
    "the callers' commands interleave on the shared connection: vmux_tx_new(), vmux_tx_add() "     \
    "and vmux_tx_exec() (transaction.h) send a transaction whole, vmux_tx_when_*() checking "      \
    "what WATCH would"
#define USE_CLOSE                                                                                  \
    "it would end or reset the connection every caller shares: vmux_close() ends the handle"
#define SENT_BY_VMUX "the handle sends it itself where it is needed (readFrom, ASK redirects)"

static const struct refusal {
    const char *name, *why;
} refused[] = {
    {"SUBSCRIBE", USE_SUBSCRIBE},
    {"PSUBSCRIBE", USE_SUBSCRIBE},
    {"SSUBSCRIBE", USE_SUBSCRIBE},
    {"UNSUBSCRIBE", USE_SUBSCRIBE},
    {"PUNSUBSCRIBE", USE_SUBSCRIBE},
    {"SUNSUBSCRIBE", USE_SUBSCRIBE},
    {"MONITOR", USE_OWN_CONNECTION},
    {"SYNC", USE_OWN_CONNECTION},
    {"PSYNC", USE_OWN_CONNECTION},
    {"REPLCONF", USE_OWN_CONNECTION},
    {"MULTI", USE_TX},
    {"EXEC", USE_TX},
    {"DISCARD", USE_TX},
    {"WATCH", USE_TX},
    {"UNWATCH", USE_TX},
    {"SELECT", "it would move every caller to another database: open a handle with "
               "defaultDatabase=N"},
    {"AUTH", "credentials belong to the configuration (user=, password=) or a credentials "
             "provider (config.h), which every connection is set up with"},
    {"HELLO", "vmux speaks RESP2 on its connections and sets each one up itself: RESP3 is not "
              "supported"},
    {"RESET", USE_CLOSE},
    {"QUIT", USE_CLOSE},
    {"READONLY", SENT_BY_VMUX},
    {"READWRITE", SENT_BY_VMUX},
    {"ASKING", SENT_BY_VMUX},
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
 * when given BLOCK among their options, before STREAMS; option values (COUNT's and BLOCK's, and
 * GROUP's group and consumer names) are skipped, so a consumer named "block" is no BLOCK option.
 * A blocking XREAD goes on past STREAMS to its ids (the second half of what follows), for a "$"
 * or a "+" (VMUX_OP_FROM_NOW): "+" (Valkey 8, Redis 7.4) is the stream's last entry, and on a
 * stream with none yet it waits for the next as "$" does; sent again once entries were added, it
 * would return the newest alone.
 */
struct classifier {
    enum { AT_NAME, AT_CLIENT_SUB, AT_STREAM_OPTS, AT_STREAM_IDS, DECIDED } state;
    bool group_allowed; /* XREADGROUP: GROUP takes two values */
    int skip;           /* option values still to pass over */
    size_t first_id;    /* AT_STREAM_IDS: the index of a blocking XREAD's first id */
    uint32_t flags;
    int rc;
    const char *why;        /* with rc VMUX_ERR_UNSUPPORTED: what to use instead */
    const char *name, *sub; /* the command's name, and CLIENT's subcommand, not terminated */
    size_t namelen, sublen;
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

/* The refusal of the command named arg, or NULL. */
static const struct refusal *refusal_of(const char *arg, size_t len)
{
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (is(arg, len, refused[i].name))
            return &refused[i];
    return NULL;
}

static void feed_name(struct classifier *c, const char *arg, size_t len)
{
    c->state = DECIDED;
    c->name = arg;
    c->namelen = len;
    if (len < NAME_MIN || len > NAME_MAX)
        return; /* GET, SET, HSET and most other commands */
    const struct refusal *r = refusal_of(arg, len);
    if (r != NULL) {
        c->rc = VMUX_ERR_UNSUPPORTED;
        c->why = r->why;
    } else if (in(blocking, sizeof(blocking) / sizeof(blocking[0]), arg, len))
        c->flags |= VMUX_OP_BLOCKING;
    else if (is(arg, len, "SPUBLISH"))
        c->flags |= VMUX_OP_SPUBLISH;
    else if (is(arg, len, "CLIENT"))
        c->state = AT_CLIENT_SUB;
    else if (is(arg, len, "XREAD") || is(arg, len, "XREADGROUP")) {
        c->state = AT_STREAM_OPTS;
        c->group_allowed = len == strlen("XREADGROUP");
    }
}

/*
 * STREAMS of a blocking XREAD: its ids are the second half of the arguments after it (an odd
 * count is malformed, which the server reports).
 */
static void at_streams(struct classifier *c, size_t at, size_t nargs)
{
    size_t rest = nargs - at - 1;
    bool xread_blocks = !c->group_allowed && (c->flags & VMUX_OP_BLOCKING);
    c->state = xread_blocks && rest > 0 && rest % 2 == 0 ? AT_STREAM_IDS : DECIDED;
    c->first_id = at + 1 + rest / 2;
}

static void feed_stream_opt(struct classifier *c, const char *arg, size_t len, size_t at,
                            size_t nargs)
{
    if (c->skip > 0)
        c->skip--;
    else if (is(arg, len, "BLOCK")) {
        c->flags |= VMUX_OP_BLOCKING;
        c->skip = 1;
        if (c->group_allowed)
            c->state = DECIDED; /* XREADGROUP refuses "$" */
    } else if (is(arg, len, "STREAMS"))
        at_streams(c, at, nargs);
    else if (is(arg, len, "COUNT"))
        c->skip = 1;
    else if (c->group_allowed && is(arg, len, "GROUP"))
        c->skip = 2;
}

/* Takes the next argument; returns whether the classifier wants more. */
static bool feed(struct classifier *c, const char *arg, size_t len, size_t at, size_t nargs)
{
    switch (c->state) {
    case AT_NAME:
        feed_name(c, arg, len);
        break;
    case AT_CLIENT_SUB: /* TRACKING and CACHING: client-side caching is the near cache's */
        c->sub = arg;
        c->sublen = len;
        if (is(arg, len, "REPLY"))
            c->why = "replies are matched to callers one for one: vmux_call_forget() sends a "
                     "command whose reply you do not want";
        else if (is(arg, len, "TRACKING") || is(arg, len, "CACHING"))
            c->why = "client-side caching is the near cache's: open the handle with "
                     "nearCache=true";
        c->rc = c->why != NULL ? VMUX_ERR_UNSUPPORTED : 0;
        c->state = DECIDED;
        break;
    case AT_STREAM_OPTS:
        feed_stream_opt(c, arg, len, at, nargs);
        break;
    case AT_STREAM_IDS: /* the keys are passed over; one "$" or "+" among the ids decides */
        if (at >= c->first_id && len == 1 && (arg[0] == '$' || arg[0] == '+')) {
            c->flags |= VMUX_OP_FROM_NOW;
            c->state = DECIDED;
        }
        break;
    case DECIDED:
        break;
    }
    return c->state != DECIDED;
}

static struct classifier classify(int argc, const char *const *argv, const size_t *argvlen)
{
    struct classifier c = {.state = AT_NAME};
    bool more = argv != NULL;
    for (int i = 0; more && i < argc; i++) {
        const char *arg = argv[i] != NULL ? argv[i] : "";
        more = feed(&c, arg, argvlen != NULL && argv[i] != NULL ? argvlen[i] : strlen(arg),
                    (size_t)i, (size_t)argc);
    }
    return c;
}

int vmux__classify(int argc, const char *const *argv, const size_t *argvlen, uint32_t *flags)
{
    struct classifier c = classify(argc, argv, argvlen);
    *flags |= c.flags;
    return c.rc;
}

/* The words of c's refusal, if it refused (see vmux__unshareable_explain_resp()). */
static void explain(const struct classifier *c, char *buf, size_t len)
{
    if (c->why != NULL)
        vmux__errbuf_set(buf, len, "%s: %.*s%s%.*s: %s", vmux_strerror(VMUX_ERR_UNSUPPORTED),
                         (int)c->namelen, c->name, c->sub != NULL ? " " : "", (int)c->sublen,
                         c->sub != NULL ? c->sub : "", c->why);
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

static struct classifier classify_resp(const char *resp, size_t len)
{
    struct classifier c = {.state = AT_NAME};
    const char *p = resp, *end = resp + len;
    size_t argc, n;
    bool more = resp != NULL && header(&p, end, '*', &argc);
    for (size_t i = 0; more && i < argc && header(&p, end, '$', &n); i++) {
        if ((size_t)(end - p) < n + 2)
            break;
        more = feed(&c, p, n, i, argc);
        p += n + 2;
    }
    return c;
}

int vmux__classify_resp(const char *resp, size_t len, uint32_t *flags)
{
    struct classifier c = classify_resp(resp, len);
    *flags |= c.flags;
    return c.rc;
}

void vmux__unshareable_explain(char *buf, size_t len, int argc, const char *const *argv,
                               const size_t *argvlen)
{
    struct classifier c = classify(argc, argv, argvlen);
    explain(&c, buf, len);
}

void vmux__unshareable_explain_resp(char *buf, size_t len, const char *resp, size_t resplen)
{
    struct classifier c = classify_resp(resp, resplen);
    explain(&c, buf, len);
}

bool vmux__waits_for_replicas(int argc, const char *const *argv, const size_t *argvlen)
{
    if (argc < 1 || argv == NULL || argv[0] == NULL)
        return false;
    size_t len = argvlen != NULL ? argvlen[0] : strlen(argv[0]);
    return is(argv[0], len, "WAIT") || is(argv[0], len, "WAITAOF");
}
