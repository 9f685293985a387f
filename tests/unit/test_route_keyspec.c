/*
 * Key positions (route/keyspec.h) and the one slot of a command (route/keyslot.h): the table's
 * order, every kind of rule, malformed vectors, and VMUX_ERR_CROSSSLOT's message.
 * tests/integration/test_route_keyspec.c checks the table against a real server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "route/keyslot.h"
#include "route/keyspec.h"
#include "route/slot.h"
#include "vmux/error.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* V("GET", "k") is an argument count and vector; P(1) a count and positions. */
#define V(...)                                                                                     \
    (int)N(((const char *[]){__VA_ARGS__})), (const char *const[])                                 \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define P(...)                                                                                     \
    (int)N(((int[]){__VA_ARGS__})), (const int[])                                                  \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }

static const char *kind_name(enum vmux_keys_kind k)
{
    switch (k) {
    case VMUX_KEYS_FOUND:
        return "found";
    case VMUX_KEYS_NONE:
        return "none";
    case VMUX_KEYS_UNKNOWN:
        return "unknown";
    case VMUX_KEYS_MALFORMED:
        return "malformed";
    }
    return "?";
}

static enum vmux_keys_kind find(int argc, const char *const *argv, struct vmux_keys *k)
{
    enum vmux_keys_kind kind = vmux__keys_find(argc, argv, NULL, k);
    assert_int_equal(kind, k->kind);
    assert_true((k->why != NULL) == (kind == VMUX_KEYS_MALFORMED));
    assert_true((k->nranges > 0) == (kind == VMUX_KEYS_FOUND));
    return kind;
}

static void expect_found(int argc, const char *const *argv, int npos, const int *pos)
{
    struct vmux_keys k;
    enum vmux_keys_kind kind = find(argc, argv, &k);
    if (kind != VMUX_KEYS_FOUND)
        fail_msg("%s: %s (%s), expected keys", argv[0], kind_name(kind), k.why ? k.why : "");
    if (vmux__keys_count(&k) != (size_t)npos)
        fail_msg("%s: %zu keys, expected %d", argv[0], vmux__keys_count(&k), npos);
    for (int i = 0; i < npos; i++)
        if (vmux__keys_arg(&k, (size_t)i) != pos[i])
            fail_msg("%s: key %d at %d, expected %d", argv[0], i, vmux__keys_arg(&k, (size_t)i),
                     pos[i]);
    assert_int_equal(vmux__keys_arg(&k, (size_t)npos), -1);
}

static void expect_kind(int argc, const char *const *argv, enum vmux_keys_kind want)
{
    struct vmux_keys k;
    enum vmux_keys_kind kind = find(argc, argv, &k);
    if (kind != want)
        fail_msg("%s%s%s: %s, expected %s", argc > 0 ? argv[0] : "(empty)", argc > 1 ? " " : "",
                 argc > 1 ? argv[1] : "", kind_name(kind), kind_name(want));
    assert_int_equal(vmux__keys_count(&k), 0);
    assert_int_equal(vmux__keys_arg(&k, 0), -1);
}

static void expect_malformed(int argc, const char *const *argv, const char *why)
{
    struct vmux_keys k;
    expect_kind(argc, argv, VMUX_KEYS_MALFORMED);
    find(argc, argv, &k);
    if (strstr(k.why, why) == NULL)
        fail_msg("%s: says '%s', expected '%s'", argv[0], k.why, why);
}

static void check_table(const struct vmux_keyspec *t, size_t n, bool top)
{
    for (size_t i = 0; i < n; i++) {
        const struct vmux_keyspec *s = &t[i];
        for (const char *c = s->name; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                fail_msg("%s is not upper case", s->name);
        if (i > 0 && strcmp(t[i - 1].name, s->name) >= 0)
            fail_msg("table out of order: %s before %s", t[i - 1].name, s->name);
        assert_true(s->arity != 0);
        switch (s->rule) {
        case VMUX_KEYRULE_NONE:
            break;
        case VMUX_KEYRULE_RANGE:
            assert_true(s->a >= 1 && s->b != 0 && s->c >= 1);
            assert_true(s->b < 0 || s->b >= s->a);
            break;
        case VMUX_KEYRULE_NUMKEYS:
            assert_true(s->a >= 1 && s->b >= 0 && s->b < s->a && (s->c == 0 || s->c == 1));
            break;
        case VMUX_KEYRULE_PARSED:
            assert_non_null(s->parse);
            break;
        case VMUX_KEYRULE_SUBCOMMAND:
            if (!top)
                fail_msg("%s: subcommands of a subcommand", s->name);
            assert_non_null(s->sub);
            assert_true(s->nsub > 0);
            check_table(s->sub, s->nsub, false);
            break;
        default:
            fail_msg("%s: rule %d", s->name, s->rule);
        }
    }
}

static void test_table(void **state)
{
    (void)state;
    size_t n;
    const struct vmux_keyspec *t = vmux__keyspec_table(&n);
    assert_true(n > 200);
    check_table(t, n, true);
    /* Every name is found, in any case. */
    for (size_t i = 0; i < n; i++) {
        char lower[64];
        size_t len = strlen(t[i].name);
        assert_true(len < sizeof lower);
        for (size_t j = 0; j <= len; j++)
            lower[j] = (char)(t[i].name[j] >= 'A' && t[i].name[j] <= 'Z' ? t[i].name[j] + 32
                                                                         : t[i].name[j]);
        const char *argv[] = {lower};
        struct vmux_keys k;
        vmux__keys_find(1, argv, NULL, &k);
        if (k.kind == VMUX_KEYS_UNKNOWN)
            fail_msg("%s is in the table but not found", lower);
    }
}

/* Whether name (len bytes) is a name of the table, read the plain way (letters in any case). */
static bool in_table(const struct vmux_keyspec *t, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].name) == len && strncasecmp(t[i].name, name, len) == 0)
            return true;
    return false;
}

/* The name is found by a word made of its bytes, exact for each byte: a name with any one byte
 * changed (its letter's case flipped, or bit 0, 5, 6 or 7 of any byte) is found if and only if
 * the table has it, at every length the words are made for (1 to 3, 4 to 8, longer). */
static void test_lookup_exact(void **state)
{
    (void)state;
    size_t n, mutants = 0;
    const struct vmux_keyspec *t = vmux__keyspec_table(&n);
    const unsigned char flips[] = {0x01, 0x20, 0x40, 0x80};
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(t[i].name);
        for (size_t j = 0; j < len; j++)
            for (size_t f = 0; f < sizeof flips; f++) {
                char name[64];
                memcpy(name, t[i].name, len);
                name[j] = (char)((unsigned char)name[j] ^ flips[f]);
                const char *argv[] = {name};
                size_t lens[] = {len};
                struct vmux_keys k; /* alone, a subcommand's parent is malformed, not unknown */
                bool found = vmux__keys_find(1, argv, lens, &k) != VMUX_KEYS_UNKNOWN;
                if (found != in_table(t, n, name, len))
                    fail_msg("%s with byte %zu XOR 0x%02x: found %d", t[i].name, j, flips[f],
                             found);
                mutants++;
            }
    }
    assert_true(mutants > 4000);
}

/* vmux__keys_single() answers, where it answers, as vmux__keys_find() does: every command of the
 * table, at every argument count up to 8. */
static void test_single(void **state)
{
    (void)state;
    size_t n, singles = 0;
    const struct vmux_keyspec *t = vmux__keyspec_table(&n);
    const char *argv[8] = {NULL, "k1", "k2", "k3", "k4", "k5", "k6", "k7"};
    for (size_t i = 0; i < n; i++) {
        argv[0] = t[i].name;
        for (int argc = 1; argc <= 8; argc++) {
            struct vmux_keys k;
            enum vmux_keys_kind kind = vmux__keys_find(argc, argv, NULL, &k);
            bool ro = !k.readonly;
            int at = vmux__keys_single(argc, argv, NULL, &ro);
            if (at == 0)
                continue;
            singles++;
            if (kind != VMUX_KEYS_FOUND || k.nranges != 1 || k.range[0].first != at ||
                k.range[0].last != at || ro != k.readonly)
                fail_msg("%s with %d arguments: the shortcut says key %d", t[i].name, argc, at);
        }
    }
    assert_true(singles > 300); /* GET, SET, INCR... at their valid argument counts */
    bool ro = false;
    const char *get[] = {"get", "k"};
    assert_int_equal(vmux__keys_single(2, get, NULL, &ro), 1);
    assert_true(ro);
    assert_int_equal(vmux__keys_single(1, get, NULL, &ro), 0);  /* no key: malformed */
    assert_int_equal(vmux__keys_single(2, NULL, NULL, &ro), 0); /* no vector */
    const char *mget[] = {"MGET", "a", "b"};
    assert_int_equal(vmux__keys_single(3, mget, NULL, &ro), 0); /* several keys: keys_find's */
    const char *folded[] = {"EVAL\x7fRO", "s", "0"};            /* hashes as EVAL_RO, is not it */
    assert_int_equal(vmux__keys_single(3, folded, NULL, &ro), 0);
    struct vmux_keys k;
    assert_int_equal(vmux__keys_find(3, folded, NULL, &k), VMUX_KEYS_UNKNOWN);
    /* Read-only: by command, and by subcommand where the command has several. */
    const char *set[] = {"SET", "k", "v"};
    assert_int_equal(vmux__keys_single(3, set, NULL, &ro), 1);
    assert_false(ro);
    const char *enc[] = {"object", "encoding", "k"}, *eval[] = {"EVAL", "s", "1", "k"},
               *eval_ro[] = {"EVAL_RO", "s", "1", "k"};
    assert_int_equal(vmux__keys_find(3, enc, NULL, &k), VMUX_KEYS_FOUND);
    assert_true(k.readonly);
    assert_int_equal(vmux__keys_find(4, eval, NULL, &k), VMUX_KEYS_FOUND);
    assert_false(k.readonly);
    assert_int_equal(vmux__keys_find(4, eval_ro, NULL, &k), VMUX_KEYS_FOUND);
    assert_true(k.readonly);
}

static void test_lookup(void **state)
{
    (void)state;
    expect_found(V("GET", "k"), P(1));
    expect_found(V("get", "k"), P(1));
    expect_found(V("gEt", "k"), P(1));
    expect_kind(V("GETX", "k"), VMUX_KEYS_UNKNOWN);
    expect_kind(V("GE", "k"), VMUX_KEYS_UNKNOWN);
    expect_kind(V("", "k"), VMUX_KEYS_UNKNOWN);
    expect_kind(V("NOSUCHCOMMAND"), VMUX_KEYS_UNKNOWN);
    expect_kind(V("ZZZZ"), VMUX_KEYS_UNKNOWN);
    expect_kind(V("AAA"), VMUX_KEYS_UNKNOWN);
    expect_kind(V("\xff"), VMUX_KEYS_UNKNOWN);
    /* First and last entries of the table. */
    expect_kind(V("acl", "whoami"), VMUX_KEYS_NONE);
    expect_found(V("zunionstore", "d", "1", "a"), P(1, 3));
    /* Lengths are honoured: "GETxx" cut to 3 bytes is GET, and a NUL inside a name is no end. */
    const char *argv[] = {"GETxx", "k"};
    size_t lens[] = {3, 1};
    struct vmux_keys k;
    assert_int_equal(vmux__keys_find(2, argv, lens, &k), VMUX_KEYS_FOUND);
    const char *nul[] = {"GET\0X", "k"};
    size_t nlens[] = {5, 1};
    assert_int_equal(vmux__keys_find(2, nul, nlens, &k), VMUX_KEYS_UNKNOWN);
    /* An empty vector is malformed; a NULL argument reads as empty. */
    expect_malformed(0, argv, "empty");
    assert_int_equal(vmux__keys_find(1, NULL, NULL, &k), VMUX_KEYS_MALFORMED);
    const char *null_key[] = {"GET", NULL};
    expect_found(2, null_key, P(1));
    const char *null_name[] = {NULL, "k"};
    expect_kind(2, null_name, VMUX_KEYS_UNKNOWN);
}

static void test_keyless(void **state)
{
    (void)state;
    expect_kind(V("PING"), VMUX_KEYS_NONE);
    expect_kind(V("PING", "hello"), VMUX_KEYS_NONE);
    expect_kind(V("INFO", "server"), VMUX_KEYS_NONE);
    expect_kind(V("PUBLISH", "ch", "msg"), VMUX_KEYS_NONE);
    expect_kind(V("KEYS", "*"), VMUX_KEYS_NONE);
    expect_kind(V("SCAN", "0", "MATCH", "k*"), VMUX_KEYS_NONE);
    expect_kind(V("DBSIZE"), VMUX_KEYS_NONE);
    expect_kind(V("FLUSHALL", "ASYNC"), VMUX_KEYS_NONE);
    expect_kind(V("CLIENT", "LIST"), VMUX_KEYS_NONE);
    expect_kind(V("CLIENT", "NOSUCHSUB"), VMUX_KEYS_NONE);
    expect_kind(V("SCRIPT", "LOAD", "return 1"), VMUX_KEYS_NONE);
    expect_kind(V("CLUSTER", "KEYSLOT", "k"), VMUX_KEYS_NONE);
    expect_kind(V("WAIT", "1", "0"), VMUX_KEYS_NONE);
    /* Keys that may be absent: SUNSUBSCRIBE alone, EVAL with numkeys 0. */
    expect_kind(V("SUNSUBSCRIBE"), VMUX_KEYS_NONE);
    expect_kind(V("EVAL", "return 1", "0"), VMUX_KEYS_NONE);
    expect_kind(V("FCALL", "f", "0", "arg"), VMUX_KEYS_NONE);
}

static void test_ranges(void **state)
{
    (void)state;
    expect_found(V("SET", "k", "v", "EX", "10"), P(1));
    expect_found(V("MGET", "a", "b", "c"), P(1, 2, 3));
    expect_found(V("DEL", "a"), P(1));
    expect_found(V("EXISTS", "a", "b"), P(1, 2));
    expect_found(V("UNLINK", "a", "b"), P(1, 2));
    expect_found(V("TOUCH", "a", "b", "c", "d"), P(1, 2, 3, 4));
    expect_found(V("MSET", "a", "1", "b", "2", "c", "3"), P(1, 3, 5));
    expect_found(V("MSETNX", "a", "1", "b", "2"), P(1, 3));
    expect_found(V("BLPOP", "a", "b", "0"), P(1, 2));
    expect_found(V("BRPOP", "a", "1.5"), P(1));
    expect_found(V("BZPOPMIN", "a", "b", "c", "0"), P(1, 2, 3));
    expect_found(V("BLMOVE", "a", "b", "LEFT", "RIGHT", "0"), P(1, 2));
    expect_found(V("LMOVE", "a", "b", "LEFT", "RIGHT"), P(1, 2));
    expect_found(V("RPOPLPUSH", "a", "b"), P(1, 2));
    expect_found(V("SMOVE", "a", "b", "m"), P(1, 2));
    expect_found(V("COPY", "a", "b", "DB", "1", "REPLACE"), P(1, 2));
    expect_found(V("RENAME", "a", "b"), P(1, 2));
    expect_found(V("BITOP", "AND", "d", "a", "b"), P(2, 3, 4));
    expect_found(V("SPUBLISH", "ch", "msg"), P(1));
    expect_found(V("SSUBSCRIBE", "a", "b"), P(1, 2));
    expect_found(V("SUNSUBSCRIBE", "a"), P(1));
    expect_found(V("SORT_RO", "k", "BY", "x", "STORE", "d"), P(1));
    expect_found(V("GEORADIUS_RO", "k", "1", "2", "3", "m", "STORE", "d"), P(1));
}

static void test_arity(void **state)
{
    (void)state;
    expect_malformed(V("GET"), "wrong number of arguments");
    expect_malformed(V("GET", "a", "b"), "wrong number of arguments");
    expect_malformed(V("MGET"), "wrong number of arguments");
    expect_malformed(V("BLPOP", "a"), "wrong number of arguments");
    expect_malformed(V("RENAME", "a"), "wrong number of arguments");
    expect_malformed(V("MSET", "a"), "wrong number of arguments");
    expect_malformed(V("MSET", "a", "1", "b"), "unbalanced");
    expect_malformed(V("MSETNX", "a", "1", "b", "2", "c"), "unbalanced");
    expect_malformed(V("TIME", "x"), "wrong number of arguments");
    expect_malformed(V("CLIENT"), "wrong number of arguments");
}

static void test_numkeys(void **state)
{
    (void)state;
    expect_found(V("EVAL", "s", "2", "a", "b", "arg"), P(3, 4));
    expect_found(V("EVALSHA", "sha", "1", "a"), P(3));
    expect_found(V("EVAL_RO", "s", "1", "a", "b"), P(3));
    expect_found(V("EVALSHA_RO", "s", "2", "a", "b"), P(3, 4));
    expect_found(V("FCALL", "f", "1", "a", "arg"), P(3));
    expect_found(V("FCALL_RO", "f", "2", "a", "b"), P(3, 4));
    expect_found(V("ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"), P(1, 3, 4));
    expect_found(V("ZINTERSTORE", "d", "1", "a"), P(1, 3));
    expect_found(V("ZDIFFSTORE", "d", "2", "a", "b"), P(1, 3, 4));
    expect_found(V("ZUNION", "2", "a", "b", "WITHSCORES"), P(2, 3));
    expect_found(V("ZINTER", "1", "a", "b"), P(2));
    expect_found(V("ZDIFF", "2", "a", "b"), P(2, 3));
    expect_found(V("ZINTERCARD", "2", "a", "b", "LIMIT", "5"), P(2, 3));
    expect_found(V("SINTERCARD", "1", "a"), P(2));
    expect_found(V("LMPOP", "2", "a", "b", "LEFT", "COUNT", "2"), P(2, 3));
    expect_found(V("ZMPOP", "1", "a", "MIN"), P(2));
    expect_found(V("BLMPOP", "0", "2", "a", "b", "RIGHT"), P(3, 4));
    expect_found(V("BZMPOP", "1.5", "1", "a", "MAX"), P(3));
    expect_found(V("eval", "s", "3", "a", "b", "c"), P(3, 4, 5));

    expect_malformed(V("EVAL", "s", "3", "a"), "greater than the number");
    expect_malformed(V("EVAL", "s", "-1"), "negative");
    expect_malformed(V("EVAL", "s", "x"), "not an integer");
    expect_malformed(V("EVAL", "s", "01", "a"), "not an integer");
    expect_malformed(V("EVAL", "s", "+1", "a"), "not an integer");
    expect_malformed(V("EVAL", "s", " 1", "a"), "not an integer");
    expect_malformed(V("EVAL", "s", "1 ", "a"), "not an integer");
    expect_malformed(V("EVAL", "s", "-0"), "not an integer");
    expect_malformed(V("EVAL", "s", "-"), "not an integer");
    expect_malformed(V("EVAL", "s", ""), "not an integer");
    expect_malformed(V("EVAL", "s", "99999999999999999999"), "not an integer");
    expect_malformed(V("EVAL", "s", "9223372036854775807", "a"), "greater than the number");
    expect_malformed(V("EVAL", "s", "-9223372036854775808"), "negative");
    expect_malformed(V("EVAL", "s", "9223372036854775808", "a"), "not an integer");
    expect_malformed(V("EVAL", "s", "2147483648", "a"), "greater than the number");
    expect_malformed(V("ZUNIONSTORE", "d", "2", "a"), "greater than the number");
    expect_malformed(V("ZUNIONSTORE", "d", "0", "a"), "at least 1");
    expect_malformed(V("ZUNION", "0", "a"), "at least 1");
    expect_malformed(V("LMPOP", "0", "a", "LEFT"), "at least 1");
    expect_malformed(V("SINTERCARD", "0", "a"), "at least 1");
    expect_malformed(V("BLMPOP", "0", "3", "a", "LEFT"), "greater than the number");
}

static void test_sort(void **state)
{
    (void)state;
    expect_found(V("SORT", "k"), P(1));
    expect_found(V("SORT", "k", "STORE", "d"), P(1, 3));
    expect_found(V("sort", "k", "by", "w_*", "limit", "0", "10", "get", "o_*", "desc", "alpha",
                   "store", "d"),
                 P(1, 12));
    /* The last STORE wins; STORE's own value is not skipped, as in the server. */
    expect_found(V("SORT", "k", "STORE", "a", "STORE", "b"), P(1, 5));
    expect_found(V("SORT", "k", "STORE", "store", "x"), P(1, 4));
    /* Values of BY, GET and LIMIT are skipped, even when they read "store". */
    expect_found(V("SORT", "k", "BY", "store", "STORE", "a"), P(1, 5));
    expect_found(V("SORT", "k", "LIMIT", "store", "1", "STORE", "b"), P(1, 6));
    expect_found(V("SORT", "k", "GET", "store"), P(1));
    /* STORE without a value is none. */
    expect_found(V("SORT", "k", "STORE"), P(1));
}

static void test_migrate(void **state)
{
    (void)state;
    expect_found(V("MIGRATE", "h", "6379", "k", "0", "5000"), P(3));
    expect_found(V("MIGRATE", "h", "6379", "k", "0", "5000", "COPY", "REPLACE"), P(3));
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000", "KEYS", "a", "b"), P(7, 8));
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000", "COPY", "keys", "a"), P(8));
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000", "AUTH", "pw", "KEYS", "a"), P(9));
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000", "AUTH2", "u", "pw", "KEYS", "a", "b"),
                 P(10, 11));
    /* AUTH's value is a password even when it reads KEYS; AUTH2 takes two. */
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000", "AUTH", "KEYS", "a"), P(3));
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000", "AUTH2", "KEYS", "x", "KEYS", "a"),
                 P(10));
    /* Everything after the first KEYS is a key. */
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000", "KEYS", "a", "KEYS", "b"), P(7, 8, 9));
    /* KEYS with nothing after it: the key argument, as the server; KEYS with a key: refused. */
    expect_malformed(V("MIGRATE", "h", "6379", "k", "0", "5000", "KEYS", "a"), "empty key");
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000", "KEYS"), P(3));
    expect_found(V("MIGRATE", "h", "6379", "", "0", "5000"), P(3));
    expect_malformed(V("MIGRATE", "h", "6379", "k", "0"), "wrong number of arguments");
}

static void test_georadius(void **state)
{
    (void)state;
    expect_found(V("GEORADIUS", "k", "1", "2", "3", "m"), P(1));
    expect_found(V("GEORADIUS", "k", "1", "2", "3", "m", "STORE", "a"), P(1, 7));
    expect_found(V("GEORADIUS", "k", "1", "2", "3", "m", "COUNT", "5", "STOREDIST", "b"), P(1, 9));
    /* Both, the first of each, STORE's before STOREDIST's whatever their order. */
    expect_found(V("GEORADIUS", "k", "1", "2", "3", "m", "STOREDIST", "b", "STORE", "a"),
                 P(1, 9, 7));
    expect_found(V("GEORADIUS", "k", "1", "2", "3", "m", "STORE", "a", "STORE", "b"), P(1, 7));
    /* Options start after the unit; a STORE last has no key. */
    expect_found(V("GEORADIUS", "k", "1", "2", "3", "store", "a"), P(1));
    expect_found(V("GEORADIUS", "k", "1", "2", "3", "m", "store"), P(1));
    expect_found(V("GEORADIUSBYMEMBER", "k", "m", "1", "km", "STORE", "a"), P(1, 6));
    expect_found(V("GEORADIUSBYMEMBER", "k", "m", "1", "store", "a", "b"), P(1));
    expect_found(V("GEORADIUSBYMEMBER", "k", "m", "1", "km", "STORE", "a", "STOREDIST", "b"),
                 P(1, 6, 8));
}

static void test_streams(void **state)
{
    (void)state;
    expect_found(V("XREAD", "STREAMS", "a", "0"), P(2));
    expect_found(V("XREAD", "COUNT", "5", "BLOCK", "5", "STREAMS", "a", "b", "0", "0"), P(6, 7));
    expect_found(V("xread", "streams", "streams", "a", "0", "0"), P(2, 3));
    expect_found(V("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "0"), P(5));
    expect_found(
        V("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK", "STREAMS", "a", "b", ">", ">"),
        P(8, 9));
    /* A group or consumer named "streams" is skipped: the search starts after them. */
    expect_found(V("XREADGROUP", "GROUP", "streams", "streams", "STREAMS", "a", ">"), P(5));
    expect_malformed(V("XREAD", "COUNT", "1", "STREAMS", "a", "b", "0"), "unbalanced");
    expect_malformed(V("XREAD", "COUNT", "1", "BLOCK", "0"), "STREAMS is missing");
    expect_malformed(V("XREAD", "COUNT", "1", "STREAMS"), "STREAMS is missing");
    expect_malformed(V("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", "0"), "unbalanced");
    expect_malformed(V("XREAD", "STREAMS", "a"), "wrong number of arguments");
}

static void test_subcommands(void **state)
{
    (void)state;
    expect_found(V("OBJECT", "ENCODING", "k"), P(2));
    expect_found(V("object", "freq", "k"), P(2));
    expect_found(V("OBJECT", "IDLETIME", "k"), P(2));
    expect_found(V("OBJECT", "REFCOUNT", "k"), P(2));
    expect_kind(V("OBJECT", "HELP"), VMUX_KEYS_NONE);
    expect_kind(V("OBJECT", "NOSUCHSUB", "k"), VMUX_KEYS_UNKNOWN);
    expect_malformed(V("OBJECT"), "wrong number of arguments");
    expect_malformed(V("OBJECT", "ENCODING"), "wrong number of arguments");
    expect_malformed(V("OBJECT", "ENCODING", "a", "b"), "wrong number of arguments");
    expect_found(V("MEMORY", "USAGE", "k"), P(2));
    expect_found(V("MEMORY", "USAGE", "k", "SAMPLES", "5"), P(2));
    expect_kind(V("MEMORY", "STATS"), VMUX_KEYS_NONE);
    expect_kind(V("MEMORY", "MALLOC-STATS"), VMUX_KEYS_NONE);
    expect_found(V("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"), P(2));
    expect_found(V("XGROUP", "DESTROY", "s", "g"), P(2));
    expect_found(V("XINFO", "STREAM", "s", "FULL"), P(2));
    expect_found(V("XINFO", "CONSUMERS", "s", "g"), P(2));
    expect_kind(V("XINFO", "HELP"), VMUX_KEYS_NONE);
}

static void test_one_slot(void **state)
{
    (void)state;
    struct vmux_keys k;
    struct vmux_crossslot c;
    int slot = 12345;

    const char *ping[] = {"PING"};
    vmux__keys_find(1, ping, NULL, &k);
    assert_int_equal(vmux__keys_slot(&k, ping, NULL, &slot, &c), 0);
    assert_int_equal(slot, VMUX_SLOT_ANY);
    const char *unknown[] = {"NOSUCH", "k"};
    vmux__keys_find(2, unknown, NULL, &k);
    assert_int_equal(vmux__keys_slot(&k, unknown, NULL, &slot, &c), 0);
    assert_int_equal(slot, VMUX_SLOT_ANY);

    const char *get[] = {"GET", "foo"};
    vmux__keys_find(2, get, NULL, &k);
    assert_int_equal(vmux__keys_slot(&k, get, NULL, &slot, NULL), 0);
    assert_int_equal(slot, 12182);

    const char *mget[] = {"MGET", "{user1}:a", "{user1}:b", "x{user1}y"};
    vmux__keys_find(4, mget, NULL, &k);
    assert_int_equal(vmux__keys_slot(&k, mget, NULL, &slot, &c), 0);
    assert_int_equal(slot, (int)vmux__slot_of("user1", 5));

    /* The values of MSET do not count, only its keys. */
    const char *mset[] = {"MSET", "{t}a", "foo", "{t}b", "bar"};
    vmux__keys_find(5, mset, NULL, &k);
    assert_int_equal(vmux__keys_slot(&k, mset, NULL, &slot, &c), 0);
    assert_int_equal(slot, (int)vmux__slot_of("t", 1));
}

static void test_crossslot(void **state)
{
    (void)state;
    struct vmux_keys k;
    struct vmux_crossslot c;
    int slot;
    char msg[256];

    const char *mget[] = {"MGET", "{a}1", "{a}2", "b", "c"};
    vmux__keys_find(5, mget, NULL, &k);
    assert_int_equal(vmux__keys_slot(&k, mget, NULL, &slot, &c), VMUX_ERR_CROSSSLOT);
    assert_int_equal(slot, 15495);
    assert_int_equal(c.arg_a, 1);
    assert_int_equal(c.arg_b, 3);
    assert_int_equal(c.slot_a, 15495);
    assert_int_equal(c.slot_b, vmux__slot_of("b", 1));
    assert_int_equal(vmux__keys_slot(&k, mget, NULL, &slot, NULL), VMUX_ERR_CROSSSLOT);
    vmux__crossslot_message(msg, sizeof msg, &c, mget, NULL);
    char want[256];
    snprintf(want, sizeof want,
             "keys '{a}1' (slot 15495) and 'b' (slot %u) hash to different slots; keys used "
             "together need a common {hash tag}",
             vmux__slot_of("b", 1));
    assert_string_equal(msg, want);

    /* ZUNIONSTORE: the destination counts. */
    const char *zu[] = {"ZUNIONSTORE", "foo", "2", "{foo}x", "bar"};
    vmux__keys_find(5, zu, NULL, &k);
    assert_int_equal(vmux__keys_slot(&k, zu, NULL, &slot, &c), VMUX_ERR_CROSSSLOT);
    assert_int_equal(c.arg_a, 1);
    assert_int_equal(c.arg_b, 4);
    assert_int_equal(c.slot_b, 5061);
}

static void test_crossslot_message(void **state)
{
    (void)state;
    struct vmux_keys k;
    struct vmux_crossslot c;
    int slot;
    char msg[512];

    /* Bytes outside printable ASCII, quotes and backslashes are escaped. */
    const char *argv[] = {"DEL", "a\0'\\\n", "b"};
    size_t lens[] = {3, 5, 1};
    vmux__keys_find(3, argv, lens, &k);
    assert_int_equal(vmux__keys_slot(&k, argv, lens, &slot, &c), VMUX_ERR_CROSSSLOT);
    assert_int_equal(c.slot_a, vmux__slot_of("a\0'\\\n", 5));
    vmux__crossslot_message(msg, sizeof msg, &c, argv, lens);
    assert_non_null(strstr(msg, "keys 'a\\x00\\x27\\x5c\\x0a' (slot "));

    /* A long key is cut, and says so. */
    char longkey[200];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    const char *cut[] = {"DEL", "foo", longkey};
    vmux__keys_find(3, cut, NULL, &k);
    assert_int_equal(vmux__keys_slot(&k, cut, NULL, &slot, &c), VMUX_ERR_CROSSSLOT);
    vmux__crossslot_message(msg, sizeof msg, &c, cut, NULL);
    char shown[64];
    memset(shown, 'x', 48);
    memcpy(shown + 48, "...' (slot", 11);
    assert_non_null(strstr(msg, shown));
    assert_true(strlen(msg) < 200);

    /* A short buffer is cut and terminated; none is left alone. */
    char small[16];
    memset(small, '#', sizeof small);
    vmux__crossslot_message(small, sizeof small, &c, cut, NULL);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "keys 'foo' (slo", 15);
    vmux__crossslot_message(NULL, 0, &c, cut, NULL);
    small[0] = '#';
    vmux__crossslot_message(small, 0, &c, cut, NULL);
    assert_int_equal(small[0], '#');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),        cmocka_unit_test(test_single),
        cmocka_unit_test(test_lookup_exact), cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_keyless),      cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_arity),        cmocka_unit_test(test_numkeys),
        cmocka_unit_test(test_sort),         cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_georadius),    cmocka_unit_test(test_streams),
        cmocka_unit_test(test_subcommands),  cmocka_unit_test(test_one_slot),
        cmocka_unit_test(test_crossslot),    cmocka_unit_test(test_crossslot_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
