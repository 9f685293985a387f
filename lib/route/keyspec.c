#include "route/keyspec.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "core/assert.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* One argument: its bytes and length (a NULL argument reads as empty). */
struct arg {
    const char *p;
    size_t len;
};

static struct arg arg_at(const char *const *argv, const size_t *argvlen, int i)
{
    const char *p = argv[i] != NULL ? argv[i] : "";
    return (struct arg){p, argvlen != NULL && argv[i] != NULL ? argvlen[i] : strlen(p)};
}

static unsigned char upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* Compares an upper-case name with an argument read in upper case, in strcmp's order. */
static int name_cmp(const char *name, struct arg a)
{
    size_t i = 0;
    for (; name[i] != '\0' && i < a.len; i++) {
        int d = (unsigned char)name[i] - upper((unsigned char)a.p[i]);
        if (d != 0)
            return d;
    }
    if (name[i] != '\0')
        return 1;
    return i < a.len ? -1 : 0;
}

static bool arg_is(const char *const *argv, const size_t *argvlen, int i, const char *word)
{
    return name_cmp(word, arg_at(argv, argvlen, i)) == 0;
}

static const struct vmux_keyspec *lookup(const struct vmux_keyspec *t, size_t n, struct arg name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(t[mid].name, name);
        if (c == 0)
            return &t[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void malformed(struct vmux_keys *out, const char *why)
{
    out->kind = VMUX_KEYS_MALFORMED;
    out->nranges = 0;
    out->why = why;
}

static void add_range(struct vmux_keys *out, int first, int last, int step)
{
    VMUX_ASSERT(out->nranges < VMUX_KEYS_MAX_RANGES && first <= last && step >= 1);
    out->range[out->nranges++] = (struct vmux_keyrange){first, last, step};
    out->kind = VMUX_KEYS_FOUND;
}

/*
 * Reads a decimal integer as the server does (string2ll): an optional '-', then "0" alone or
 * digits without a leading zero; no '+', no spaces, nothing after, within a long long.
 */
static bool parse_int(struct arg a, long long *v)
{
    size_t i = a.len > 0 && a.p[0] == '-' ? 1 : 0;
    bool neg = i == 1;
    if (i == a.len || a.len > 20)
        return false;
    if (a.p[i] == '0') {
        *v = 0;
        return a.len == 1;
    }
    unsigned long long u = 0;
    for (; i < a.len; i++) {
        if (a.p[i] < '0' || a.p[i] > '9' || u > (ULLONG_MAX - 9) / 10)
            return false;
        u = u * 10 + (unsigned)(a.p[i] - '0');
    }
    if (u > (unsigned long long)LLONG_MAX + (neg ? 1u : 0u))
        return false;
    *v = neg ? (long long)(0 - u) : (long long)u;
    return true;
}

/*
 * The first occurrence of word among argv[from .. argc - 2], or 0: the server's keyword search,
 * which never looks at the last argument (a keyword there could not be followed by its key).
 */
static int keyword(int argc, const char *const *argv, const size_t *argvlen, int from,
                   const char *word)
{
    for (int i = from; i < argc - 1; i++)
        if (arg_is(argv, argvlen, i, word))
            return i;
    return 0;
}

/*
 * SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dest]:
 * as the server's sortGetKeys, which skips the values of BY, LIMIT and GET but not STORE's, and
 * keeps the last STORE that has an argument after it.
 */
static void parse_sort(int argc, const char *const *argv, const size_t *argvlen,
                       struct vmux_keys *out)
{
    int store = 0;
    for (int i = 2; i < argc; i++) {
        if (arg_is(argv, argvlen, i, "LIMIT"))
            i += 2;
        else if (arg_is(argv, argvlen, i, "GET") || arg_is(argv, argvlen, i, "BY"))
            i += 1;
        else if (arg_is(argv, argvlen, i, "STORE") && i + 1 < argc)
            store = i + 1;
    }
    add_range(out, 1, 1, 1);
    if (store > 0)
        add_range(out, store, store, 1);
}

/*
 * MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS key...]:
 * the keys after the first KEYS when a key follows it, else the key argument (which may itself
 * be the empty key), as the server's migrateGetKeys; KEYS needs the key argument empty.
 */
static void parse_migrate(int argc, const char *const *argv, const size_t *argvlen,
                          struct vmux_keys *out)
{
    for (int i = 6; i < argc; i++) {
        if (arg_is(argv, argvlen, i, "KEYS")) {
            if (arg_at(argv, argvlen, 3).len > 0) {
                malformed(out, "KEYS needs an empty key argument");
                return;
            }
            if (i + 1 < argc) {
                add_range(out, i + 1, argc - 1, 1);
                return;
            }
            break;
        }
        if (arg_is(argv, argvlen, i, "AUTH"))
            i += 1;
        else if (arg_is(argv, argvlen, i, "AUTH2"))
            i += 2;
    }
    add_range(out, 3, 3, 1);
}

/* GEORADIUS*: the key, then the keys after the first STORE and the first STOREDIST from from. */
static void georadius_keys(int argc, const char *const *argv, const size_t *argvlen, int from,
                           struct vmux_keys *out)
{
    int store = keyword(argc, argv, argvlen, from, "STORE");
    int dist = keyword(argc, argv, argvlen, from, "STOREDIST");
    add_range(out, 1, 1, 1);
    if (store > 0)
        add_range(out, store + 1, store + 1, 1);
    if (dist > 0)
        add_range(out, dist + 1, dist + 1, 1);
}

/* GEORADIUS key longitude latitude radius unit [options]: options from argument 6. */
static void parse_georadius(int argc, const char *const *argv, const size_t *argvlen,
                            struct vmux_keys *out)
{
    georadius_keys(argc, argv, argvlen, 6, out);
}

/* GEORADIUSBYMEMBER key member radius unit [options]: options from argument 5. */
static void parse_georadiusbymember(int argc, const char *const *argv, const size_t *argvlen,
                                    struct vmux_keys *out)
{
    georadius_keys(argc, argv, argvlen, 5, out);
}

/* ... STREAMS key... id...: the first half of what follows the first STREAMS from from. */
static void streams_keys(int argc, const char *const *argv, const size_t *argvlen, int from,
                         struct vmux_keys *out)
{
    int at = keyword(argc, argv, argvlen, from, "STREAMS");
    int n = argc - at - 1;
    if (at == 0)
        malformed(out, "STREAMS is missing, or is not followed by a key");
    else if (n % 2 != 0)
        malformed(out, "the keys and IDs after STREAMS are unbalanced");
    else
        add_range(out, at + 1, at + n / 2, 1);
}

/* XREAD [COUNT n] [BLOCK ms] STREAMS key... id...: STREAMS looked for from argument 1. */
static void parse_xread(int argc, const char *const *argv, const size_t *argvlen,
                        struct vmux_keys *out)
{
    streams_keys(argc, argv, argvlen, 1, out);
}

/* XREADGROUP GROUP group consumer [...] STREAMS key... id...: past the group, from 4. */
static void parse_xreadgroup(int argc, const char *const *argv, const size_t *argvlen,
                             struct vmux_keys *out)
{
    streams_keys(argc, argv, argvlen, 4, out);
}

#define NONE .rule = VMUX_KEYRULE_NONE
#define RANGE(f, l, s) .rule = VMUX_KEYRULE_RANGE, .a = (f), .b = (l), .c = (s)
#define NUMKEYS(i, k, m) .rule = VMUX_KEYRULE_NUMKEYS, .a = (i), .b = (k), .c = (m)
#define PARSED(fn) .rule = VMUX_KEYRULE_PARSED, .parse = (fn)
#define SUB(t) .rule = VMUX_KEYRULE_SUBCOMMAND, .nsub = (uint8_t)N(t), .sub = (t)

/*
 * The rules, sorted by name; the arities are the server's (COMMAND INFO), and
 * tests/integration/test_route_keyspec.c checks every entry against a server.
 */
static const struct vmux_keyspec memory_subcommands[] = {
    {"DOCTOR", 2, NONE}, {"HELP", 2, NONE},  {"MALLOC-STATS", 2, NONE},
    {"PURGE", 2, NONE},  {"STATS", 2, NONE}, {"USAGE", -3, RANGE(2, 2, 1)},
};

static const struct vmux_keyspec object_subcommands[] = {
    {"ENCODING", 3, RANGE(2, 2, 1)}, {"FREQ", 3, RANGE(2, 2, 1)},     {"HELP", 2, NONE},
    {"IDLETIME", 3, RANGE(2, 2, 1)}, {"REFCOUNT", 3, RANGE(2, 2, 1)},
};

static const struct vmux_keyspec xgroup_subcommands[] = {
    {"CREATE", -5, RANGE(2, 2, 1)},
    {"CREATECONSUMER", 5, RANGE(2, 2, 1)},
    {"DELCONSUMER", 5, RANGE(2, 2, 1)},
    {"DESTROY", 4, RANGE(2, 2, 1)},
    {"HELP", 2, NONE},
    {"SETID", -5, RANGE(2, 2, 1)},
};

static const struct vmux_keyspec xinfo_subcommands[] = {
    {"CONSUMERS", 4, RANGE(2, 2, 1)},
    {"GROUPS", 3, RANGE(2, 2, 1)},
    {"HELP", 2, NONE},
    {"STREAM", -3, RANGE(2, 2, 1)},
};

static const struct vmux_keyspec commands[] = {
    {"ACL", -2, NONE},
    {"APPEND", 3, RANGE(1, 1, 1)},
    {"ASKING", 1, NONE},
    {"AUTH", -2, NONE},
    {"BGREWRITEAOF", 1, NONE},
    {"BGSAVE", -1, NONE},
    {"BITCOUNT", -2, RANGE(1, 1, 1)},
    {"BITFIELD", -2, RANGE(1, 1, 1)},
    {"BITFIELD_RO", -2, RANGE(1, 1, 1)},
    {"BITOP", -4, RANGE(2, -1, 1)},
    {"BITPOS", -3, RANGE(1, 1, 1)},
    {"BLMOVE", 6, RANGE(1, 2, 1)},
    {"BLMPOP", -5, NUMKEYS(2, 0, 1)},
    {"BLPOP", -3, RANGE(1, -2, 1)},
    {"BRPOP", -3, RANGE(1, -2, 1)},
    {"BRPOPLPUSH", 4, RANGE(1, 2, 1)},
    {"BZMPOP", -5, NUMKEYS(2, 0, 1)},
    {"BZPOPMAX", -3, RANGE(1, -2, 1)},
    {"BZPOPMIN", -3, RANGE(1, -2, 1)},
    {"CLIENT", -2, NONE},
    {"CLUSTER", -2, NONE},
    {"COMMAND", -1, NONE},
    {"CONFIG", -2, NONE},
    {"COPY", -3, RANGE(1, 2, 1)},
    {"DBSIZE", 1, NONE},
    {"DEBUG", -2, NONE},
    {"DECR", 2, RANGE(1, 1, 1)},
    {"DECRBY", 3, RANGE(1, 1, 1)},
    {"DEL", -2, RANGE(1, -1, 1)},
    {"DISCARD", 1, NONE},
    {"DUMP", 2, RANGE(1, 1, 1)},
    {"ECHO", 2, NONE},
    {"EVAL", -3, NUMKEYS(2, 0, 0)},
    {"EVALSHA", -3, NUMKEYS(2, 0, 0)},
    {"EVALSHA_RO", -3, NUMKEYS(2, 0, 0)},
    {"EVAL_RO", -3, NUMKEYS(2, 0, 0)},
    {"EXEC", 1, NONE},
    {"EXISTS", -2, RANGE(1, -1, 1)},
    {"EXPIRE", -3, RANGE(1, 1, 1)},
    {"EXPIREAT", -3, RANGE(1, 1, 1)},
    {"EXPIRETIME", 2, RANGE(1, 1, 1)},
    {"FAILOVER", -1, NONE},
    {"FCALL", -3, NUMKEYS(2, 0, 0)},
    {"FCALL_RO", -3, NUMKEYS(2, 0, 0)},
    {"FLUSHALL", -1, NONE},
    {"FLUSHDB", -1, NONE},
    {"FUNCTION", -2, NONE},
    {"GEOADD", -5, RANGE(1, 1, 1)},
    {"GEODIST", -4, RANGE(1, 1, 1)},
    {"GEOHASH", -2, RANGE(1, 1, 1)},
    {"GEOPOS", -2, RANGE(1, 1, 1)},
    {"GEORADIUS", -6, PARSED(parse_georadius)},
    {"GEORADIUSBYMEMBER", -5, PARSED(parse_georadiusbymember)},
    {"GEORADIUSBYMEMBER_RO", -5, RANGE(1, 1, 1)},
    {"GEORADIUS_RO", -6, RANGE(1, 1, 1)},
    {"GEOSEARCH", -7, RANGE(1, 1, 1)},
    {"GEOSEARCHSTORE", -8, RANGE(1, 2, 1)},
    {"GET", 2, RANGE(1, 1, 1)},
    {"GETBIT", 3, RANGE(1, 1, 1)},
    {"GETDEL", 2, RANGE(1, 1, 1)},
    {"GETEX", -2, RANGE(1, 1, 1)},
    {"GETRANGE", 4, RANGE(1, 1, 1)},
    {"GETSET", 3, RANGE(1, 1, 1)},
    {"HDEL", -3, RANGE(1, 1, 1)},
    {"HELLO", -1, NONE},
    {"HEXISTS", 3, RANGE(1, 1, 1)},
    {"HGET", 3, RANGE(1, 1, 1)},
    {"HGETALL", 2, RANGE(1, 1, 1)},
    {"HINCRBY", 4, RANGE(1, 1, 1)},
    {"HINCRBYFLOAT", 4, RANGE(1, 1, 1)},
    {"HKEYS", 2, RANGE(1, 1, 1)},
    {"HLEN", 2, RANGE(1, 1, 1)},
    {"HMGET", -3, RANGE(1, 1, 1)},
    {"HMSET", -4, RANGE(1, 1, 1)},
    {"HRANDFIELD", -2, RANGE(1, 1, 1)},
    {"HSCAN", -3, RANGE(1, 1, 1)},
    {"HSET", -4, RANGE(1, 1, 1)},
    {"HSETNX", 4, RANGE(1, 1, 1)},
    {"HSTRLEN", 3, RANGE(1, 1, 1)},
    {"HVALS", 2, RANGE(1, 1, 1)},
    {"INCR", 2, RANGE(1, 1, 1)},
    {"INCRBY", 3, RANGE(1, 1, 1)},
    {"INCRBYFLOAT", 3, RANGE(1, 1, 1)},
    {"INFO", -1, NONE},
    {"KEYS", 2, NONE},
    {"LASTSAVE", 1, NONE},
    {"LATENCY", -2, NONE},
    {"LCS", -3, RANGE(1, 2, 1)},
    {"LINDEX", 3, RANGE(1, 1, 1)},
    {"LINSERT", 5, RANGE(1, 1, 1)},
    {"LLEN", 2, RANGE(1, 1, 1)},
    {"LMOVE", 5, RANGE(1, 2, 1)},
    {"LMPOP", -4, NUMKEYS(1, 0, 1)},
    {"LOLWUT", -1, NONE},
    {"LPOP", -2, RANGE(1, 1, 1)},
    {"LPOS", -3, RANGE(1, 1, 1)},
    {"LPUSH", -3, RANGE(1, 1, 1)},
    {"LPUSHX", -3, RANGE(1, 1, 1)},
    {"LRANGE", 4, RANGE(1, 1, 1)},
    {"LREM", 4, RANGE(1, 1, 1)},
    {"LSET", 4, RANGE(1, 1, 1)},
    {"LTRIM", 4, RANGE(1, 1, 1)},
    {"MEMORY", -2, SUB(memory_subcommands)},
    {"MGET", -2, RANGE(1, -1, 1)},
    {"MIGRATE", -6, PARSED(parse_migrate)},
    {"MODULE", -2, NONE},
    {"MONITOR", 1, NONE},
    {"MOVE", 3, RANGE(1, 1, 1)},
    {"MSET", -3, RANGE(1, -1, 2)},
    {"MSETNX", -3, RANGE(1, -1, 2)},
    {"MULTI", 1, NONE},
    {"OBJECT", -2, SUB(object_subcommands)},
    {"PERSIST", 2, RANGE(1, 1, 1)},
    {"PEXPIRE", -3, RANGE(1, 1, 1)},
    {"PEXPIREAT", -3, RANGE(1, 1, 1)},
    {"PEXPIRETIME", 2, RANGE(1, 1, 1)},
    {"PFADD", -2, RANGE(1, 1, 1)},
    {"PFCOUNT", -2, RANGE(1, -1, 1)},
    {"PFDEBUG", 3, RANGE(2, 2, 1)},
    {"PFMERGE", -2, RANGE(1, -1, 1)},
    {"PFSELFTEST", 1, NONE},
    {"PING", -1, NONE},
    {"PSETEX", 4, RANGE(1, 1, 1)},
    {"PSUBSCRIBE", -2, NONE},
    {"PSYNC", -3, NONE},
    {"PTTL", 2, RANGE(1, 1, 1)},
    {"PUBLISH", 3, NONE},
    {"PUBSUB", -2, NONE},
    {"PUNSUBSCRIBE", -1, NONE},
    {"QUIT", -1, NONE},
    {"RANDOMKEY", 1, NONE},
    {"READONLY", 1, NONE},
    {"READWRITE", 1, NONE},
    {"RENAME", 3, RANGE(1, 2, 1)},
    {"RENAMENX", 3, RANGE(1, 2, 1)},
    {"REPLCONF", -1, NONE},
    {"REPLICAOF", 3, NONE},
    {"RESET", 1, NONE},
    {"RESTORE", -4, RANGE(1, 1, 1)},
    {"RESTORE-ASKING", -4, RANGE(1, 1, 1)},
    {"ROLE", 1, NONE},
    {"RPOP", -2, RANGE(1, 1, 1)},
    {"RPOPLPUSH", 3, RANGE(1, 2, 1)},
    {"RPUSH", -3, RANGE(1, 1, 1)},
    {"RPUSHX", -3, RANGE(1, 1, 1)},
    {"SADD", -3, RANGE(1, 1, 1)},
    {"SAVE", 1, NONE},
    {"SCAN", -2, NONE},
    {"SCARD", 2, RANGE(1, 1, 1)},
    {"SCRIPT", -2, NONE},
    {"SDIFF", -2, RANGE(1, -1, 1)},
    {"SDIFFSTORE", -3, RANGE(1, -1, 1)},
    {"SELECT", 2, NONE},
    {"SET", -3, RANGE(1, 1, 1)},
    {"SETBIT", 4, RANGE(1, 1, 1)},
    {"SETEX", 4, RANGE(1, 1, 1)},
    {"SETNX", 3, RANGE(1, 1, 1)},
    {"SETRANGE", 4, RANGE(1, 1, 1)},
    {"SHUTDOWN", -1, NONE},
    {"SINTER", -2, RANGE(1, -1, 1)},
    {"SINTERCARD", -3, NUMKEYS(1, 0, 1)},
    {"SINTERSTORE", -3, RANGE(1, -1, 1)},
    {"SISMEMBER", 3, RANGE(1, 1, 1)},
    {"SLAVEOF", 3, NONE},
    {"SLOWLOG", -2, NONE},
    {"SMEMBERS", 2, RANGE(1, 1, 1)},
    {"SMISMEMBER", -3, RANGE(1, 1, 1)},
    {"SMOVE", 4, RANGE(1, 2, 1)},
    {"SORT", -2, PARSED(parse_sort)},
    {"SORT_RO", -2, RANGE(1, 1, 1)},
    {"SPOP", -2, RANGE(1, 1, 1)},
    {"SPUBLISH", 3, RANGE(1, 1, 1)},
    {"SRANDMEMBER", -2, RANGE(1, 1, 1)},
    {"SREM", -3, RANGE(1, 1, 1)},
    {"SSCAN", -3, RANGE(1, 1, 1)},
    {"SSUBSCRIBE", -2, RANGE(1, -1, 1)},
    {"STRLEN", 2, RANGE(1, 1, 1)},
    {"SUBSCRIBE", -2, NONE},
    {"SUBSTR", 4, RANGE(1, 1, 1)},
    {"SUNION", -2, RANGE(1, -1, 1)},
    {"SUNIONSTORE", -3, RANGE(1, -1, 1)},
    {"SUNSUBSCRIBE", -1, RANGE(1, -1, 1)},
    {"SWAPDB", 3, NONE},
    {"SYNC", 1, NONE},
    {"TIME", 1, NONE},
    {"TOUCH", -2, RANGE(1, -1, 1)},
    {"TTL", 2, RANGE(1, 1, 1)},
    {"TYPE", 2, RANGE(1, 1, 1)},
    {"UNLINK", -2, RANGE(1, -1, 1)},
    {"UNSUBSCRIBE", -1, NONE},
    {"UNWATCH", 1, NONE},
    {"WAIT", 3, NONE},
    {"WAITAOF", 4, NONE},
    {"WATCH", -2, RANGE(1, -1, 1)},
    {"XACK", -4, RANGE(1, 1, 1)},
    {"XADD", -5, RANGE(1, 1, 1)},
    {"XAUTOCLAIM", -6, RANGE(1, 1, 1)},
    {"XCLAIM", -6, RANGE(1, 1, 1)},
    {"XDEL", -3, RANGE(1, 1, 1)},
    {"XGROUP", -2, SUB(xgroup_subcommands)},
    {"XINFO", -2, SUB(xinfo_subcommands)},
    {"XLEN", 2, RANGE(1, 1, 1)},
    {"XPENDING", -3, RANGE(1, 1, 1)},
    {"XRANGE", -4, RANGE(1, 1, 1)},
    {"XREAD", -4, PARSED(parse_xread)},
    {"XREADGROUP", -7, PARSED(parse_xreadgroup)},
    {"XREVRANGE", -4, RANGE(1, 1, 1)},
    {"XSETID", -3, RANGE(1, 1, 1)},
    {"XTRIM", -4, RANGE(1, 1, 1)},
    {"ZADD", -4, RANGE(1, 1, 1)},
    {"ZCARD", 2, RANGE(1, 1, 1)},
    {"ZCOUNT", 4, RANGE(1, 1, 1)},
    {"ZDIFF", -3, NUMKEYS(1, 0, 1)},
    {"ZDIFFSTORE", -4, NUMKEYS(2, 1, 1)},
    {"ZINCRBY", 4, RANGE(1, 1, 1)},
    {"ZINTER", -3, NUMKEYS(1, 0, 1)},
    {"ZINTERCARD", -3, NUMKEYS(1, 0, 1)},
    {"ZINTERSTORE", -4, NUMKEYS(2, 1, 1)},
    {"ZLEXCOUNT", 4, RANGE(1, 1, 1)},
    {"ZMPOP", -4, NUMKEYS(1, 0, 1)},
    {"ZMSCORE", -3, RANGE(1, 1, 1)},
    {"ZPOPMAX", -2, RANGE(1, 1, 1)},
    {"ZPOPMIN", -2, RANGE(1, 1, 1)},
    {"ZRANDMEMBER", -2, RANGE(1, 1, 1)},
    {"ZRANGE", -4, RANGE(1, 1, 1)},
    {"ZRANGEBYLEX", -4, RANGE(1, 1, 1)},
    {"ZRANGEBYSCORE", -4, RANGE(1, 1, 1)},
    {"ZRANGESTORE", -5, RANGE(1, 2, 1)},
    {"ZRANK", -3, RANGE(1, 1, 1)},
    {"ZREM", -3, RANGE(1, 1, 1)},
    {"ZREMRANGEBYLEX", 4, RANGE(1, 1, 1)},
    {"ZREMRANGEBYRANK", 4, RANGE(1, 1, 1)},
    {"ZREMRANGEBYSCORE", 4, RANGE(1, 1, 1)},
    {"ZREVRANGE", -4, RANGE(1, 1, 1)},
    {"ZREVRANGEBYLEX", -4, RANGE(1, 1, 1)},
    {"ZREVRANGEBYSCORE", -4, RANGE(1, 1, 1)},
    {"ZREVRANK", -3, RANGE(1, 1, 1)},
    {"ZSCAN", -3, RANGE(1, 1, 1)},
    {"ZSCORE", 3, RANGE(1, 1, 1)},
    {"ZUNION", -3, NUMKEYS(1, 0, 1)},
    {"ZUNIONSTORE", -4, NUMKEYS(2, 1, 1)},
};

static bool arity_ok(int arity, int argc)
{
    return arity >= 0 ? argc == arity : argc >= -arity;
}

static void apply(const struct vmux_keyspec *s, int argc, const char *const *argv,
                  const size_t *argvlen, struct vmux_keys *out);

/* A range: fixed positions, or counted from the end (BLPOP's keys before the timeout). */
static void rule_range(const struct vmux_keyspec *s, int argc, struct vmux_keys *out)
{
    int last = s->b < 0 ? argc + s->b : s->b;
    if (s->b < 0 && s->c > 1 && (argc - s->a) % s->c != 0)
        malformed(out, "a key has no value: the keys and values are unbalanced");
    else if (last >= argc)
        malformed(out, "wrong number of arguments");
    else if (last >= s->a)
        add_range(out, s->a, last, s->c);
}

/* numkeys at argument a, the keys right after it, and a key at b before it when b > 0. */
static void rule_numkeys(const struct vmux_keyspec *s, int argc, const char *const *argv,
                         const size_t *argvlen, struct vmux_keys *out)
{
    long long n;
    if (!parse_int(arg_at(argv, argvlen, s->a), &n))
        malformed(out, "numkeys is not an integer");
    else if (n < 0)
        malformed(out, "numkeys is negative");
    else if (n < s->c)
        malformed(out, "numkeys must be at least 1");
    else if (n > argc - s->a - 1)
        malformed(out, "numkeys is greater than the number of arguments after it");
    else {
        if (s->b > 0)
            add_range(out, s->b, s->b, 1);
        if (n > 0)
            add_range(out, s->a + 1, s->a + (int)n, 1);
    }
}

static void rule_subcommand(const struct vmux_keyspec *s, int argc, const char *const *argv,
                            const size_t *argvlen, struct vmux_keys *out)
{
    const struct vmux_keyspec *sub = lookup(s->sub, s->nsub, arg_at(argv, argvlen, 1));
    if (sub == NULL)
        out->kind = VMUX_KEYS_UNKNOWN;
    else
        apply(sub, argc, argv, argvlen, out);
}

static void apply(const struct vmux_keyspec *s, int argc, const char *const *argv,
                  const size_t *argvlen, struct vmux_keys *out)
{
    if (!arity_ok(s->arity, argc)) {
        malformed(out, "wrong number of arguments");
        return;
    }
    switch (s->rule) {
    case VMUX_KEYRULE_RANGE:
        rule_range(s, argc, out);
        break;
    case VMUX_KEYRULE_NUMKEYS:
        rule_numkeys(s, argc, argv, argvlen, out);
        break;
    case VMUX_KEYRULE_PARSED:
        s->parse(argc, argv, argvlen, out);
        break;
    case VMUX_KEYRULE_SUBCOMMAND:
        rule_subcommand(s, argc, argv, argvlen, out);
        break;
    default:
        break;
    }
}

enum vmux_keys_kind vmux__keys_find(int argc, const char *const *argv, const size_t *argvlen,
                                    struct vmux_keys *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = VMUX_KEYS_NONE;
    if (argv == NULL || argc < 1) {
        malformed(out, "empty command");
        return out->kind;
    }
    const struct vmux_keyspec *s = lookup(commands, N(commands), arg_at(argv, argvlen, 0));
    if (s == NULL)
        out->kind = VMUX_KEYS_UNKNOWN;
    else
        apply(s, argc, argv, argvlen, out);
    return out->kind;
}

static size_t range_count(const struct vmux_keyrange *r)
{
    return (size_t)((r->last - r->first) / r->step) + 1;
}

size_t vmux__keys_count(const struct vmux_keys *k)
{
    size_t n = 0;
    for (int r = 0; k->kind == VMUX_KEYS_FOUND && r < k->nranges; r++)
        n += range_count(&k->range[r]);
    return n;
}

int vmux__keys_arg(const struct vmux_keys *k, size_t n)
{
    for (int r = 0; k->kind == VMUX_KEYS_FOUND && r < k->nranges; r++) {
        size_t c = range_count(&k->range[r]);
        if (n < c)
            return k->range[r].first + (int)n * k->range[r].step;
        n -= c;
    }
    return -1;
}

const struct vmux_keyspec *vmux__keyspec_table(size_t *n)
{
    *n = N(commands);
    return commands;
}
