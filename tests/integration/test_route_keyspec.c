/*
 * The key-position table (route/keyspec.h) against a real server: every entry exists with the
 * server's arity and positions (COMMAND INFO), every command the server knows with keys is in
 * the table, and for every entry and for hand-picked vectors of the parsed and counted rules,
 * the keys we find are exactly those of COMMAND GETKEYS. Vectors we call malformed are run on
 * the server, which must refuse each one. Talks to the "plain" fixture with hiredis directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "route/keyspec.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAXARGS 32

/* What COMMAND says of one command or subcommand. */
struct server_cmd {
    char name[64]; /* lower case; a subcommand as "object|encoding" */
    long long arity, first, last, step;
    bool movable;
    bool readonly; /* flagged "readonly" */
    size_t nsub;
};

static redisContext *ctx;
static struct server_cmd *cmds;
static size_t ncmds, capcmds;

static redisReply *run(int argc, const char *const *argv)
{
    redisReply *r = redisCommandArgv(ctx, argc, (const char **)argv, NULL);
    if (r == NULL)
        fail_msg("%s: connection error: %s", argv[0], ctx->errstr);
    return r;
}

static void add_cmd(const redisReply *e)
{
    assert_true(e->type == REDIS_REPLY_ARRAY && e->elements >= 6);
    assert_true(ncmds < capcmds);
    struct server_cmd *c = &cmds[ncmds++];
    snprintf(c->name, sizeof c->name, "%s", e->element[0]->str);
    c->arity = e->element[1]->integer;
    c->first = e->element[3]->integer;
    c->last = e->element[4]->integer;
    c->step = e->element[5]->integer;
    const redisReply *flags = e->element[2];
    for (size_t i = 0; i < flags->elements; i++)
        if (strcmp(flags->element[i]->str, "movablekeys") == 0)
            c->movable = true;
        else if (strcmp(flags->element[i]->str, "readonly") == 0)
            c->readonly = true;
    const redisReply *subs = e->elements > 9 ? e->element[9] : NULL;
    c->nsub = subs != NULL && subs->type == REDIS_REPLY_ARRAY ? subs->elements : 0;
    for (size_t i = 0; i < c->nsub; i++)
        add_cmd(subs->element[i]);
}

static int setup(void **state)
{
    (void)state;
    struct timeval tv = {10, 0};
    ctx = redisConnectWithTimeout("127.0.0.1", vt_server_port("plain"), tv);
    if (ctx == NULL || ctx->err)
        fail_msg("connect: %s", ctx ? ctx->errstr : "out of memory");
    redisSetTimeout(ctx, tv);
    const char *argv[] = {"COMMAND"};
    redisReply *r = run(1, argv);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    capcmds = r->elements * 40; /* room for subcommands: no command has 40 */
    cmds = calloc(capcmds, sizeof(*cmds));
    assert_non_null(cmds);
    for (size_t i = 0; i < r->elements; i++)
        add_cmd(r->element[i]);
    freeReplyObject(r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    redisFree(ctx);
    free(cmds);
    return 0;
}

static const struct server_cmd *server_find(const char *name, const char *sub)
{
    char want[64];
    snprintf(want, sizeof want, "%s%s%s", name, sub ? "|" : "", sub ? sub : "");
    for (size_t i = 0; i < ncmds; i++)
        if (strcasecmp(cmds[i].name, want) == 0)
            return &cmds[i];
    return NULL;
}

static const struct vmux_keyspec *table_find(const char *name, const struct vmux_keyspec *t,
                                             size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

/*
 * One entry against COMMAND INFO: it exists, same arity, same read-only flag (what may go to a
 * replica), same positions for a plain range.
 */
static void check_entry(const struct vmux_keyspec *s, const char *top)
{
    const struct server_cmd *c = server_find(top ? top : s->name, top ? s->name : NULL);
    if (c == NULL)
        fail_msg("%s%s%s is in the table but not on the server", top ? top : "", top ? " " : "",
                 s->name);
    if (c->arity != s->arity)
        fail_msg("%s: arity %d, the server says %lld", c->name, s->arity, c->arity);
    if (c->readonly != s->readonly)
        fail_msg("%s: read-only %d here, the server says %d", c->name, s->readonly, c->readonly);
    switch (s->rule) {
    case VMUX_KEYRULE_NONE:
        if (c->first != 0 || c->movable)
            fail_msg("%s: keyless here, the server gives keys", c->name);
        break;
    case VMUX_KEYRULE_RANGE:
        if (c->first != s->a || c->last != s->b || c->step != s->c)
            fail_msg("%s: range %d %d %d, the server says %lld %lld %lld", c->name, s->a, s->b,
                     s->c, c->first, c->last, c->step);
        break;
    case VMUX_KEYRULE_NUMKEYS:
    case VMUX_KEYRULE_PARSED:
        if (!c->movable)
            fail_msg("%s: parsed here, but its keys do not move on the server", c->name);
        break;
    case VMUX_KEYRULE_SUBCOMMAND:
        if (c->nsub != s->nsub)
            fail_msg("%s: %u subcommands here, %zu on the server", c->name, s->nsub, c->nsub);
        for (size_t i = 0; i < s->nsub; i++)
            check_entry(&s->sub[i], s->name);
        break;
    }
}

static void test_table_matches_command_info(void **state)
{
    (void)state;
    size_t n;
    const struct vmux_keyspec *t = vmux__keyspec_table(&n);
    for (size_t i = 0; i < n; i++)
        check_entry(&t[i], NULL);
    /* Every command of the server with keys is in the table (keyless ones fall back well). */
    int missing = 0;
    for (size_t i = 0; i < ncmds; i++) {
        if (strchr(cmds[i].name, '|') != NULL || table_find(cmds[i].name, t, n) != NULL)
            continue;
        bool keys = cmds[i].first != 0 || cmds[i].movable;
        print_message("%s: %s is not in the table\n", keys ? "missing" : "note", cmds[i].name);
        missing += keys;
    }
    assert_int_equal(missing, 0);
}

/* A vector to check: its arguments, and what our table must say of it. */
struct vec {
    const char *argv[MAXARGS];
};

/*
 * Vectors for the rules that read arguments (counted and parsed), and for shapes worth a look.
 * Argument names are unique within a vector, so keys compare by name.
 */
static const struct vec hand[] = {
    {{"EVAL", "return 1", "2", "k1", "k2", "arg"}},
    {{"EVAL", "return 1", "0"}},
    {{"EVAL", "return 1", "0", "arg"}},
    {{"EVAL_RO", "return 1", "1", "k1"}},
    {{"EVALSHA", "abc", "3", "k1", "k2", "k3"}},
    {{"EVALSHA_RO", "abc", "1", "k1", "arg"}},
    {{"FCALL", "f", "1", "k1", "arg"}},
    {{"FCALL", "f", "0"}},
    {{"FCALL_RO", "f", "2", "k1", "k2"}},
    {{"ZUNIONSTORE", "dst", "2", "k1", "k2", "WEIGHTS", "1", "2"}},
    {{"ZINTERSTORE", "dst", "1", "k1"}},
    {{"ZDIFFSTORE", "dst", "2", "k1", "k2"}},
    {{"ZUNION", "2", "k1", "k2", "WITHSCORES"}},
    {{"ZINTER", "1", "k1", "AGGREGATE", "MAX"}},
    {{"ZDIFF", "3", "k1", "k2", "k3"}},
    {{"ZINTERCARD", "2", "k1", "k2", "LIMIT", "3"}},
    {{"SINTERCARD", "1", "k1"}},
    {{"LMPOP", "2", "k1", "k2", "LEFT", "COUNT", "3"}},
    {{"ZMPOP", "1", "k1", "MIN"}},
    {{"BLMPOP", "0", "2", "k1", "k2", "RIGHT"}},
    {{"BZMPOP", "1.5", "1", "k1", "MAX", "COUNT", "2"}},
    {{"SORT", "k1"}},
    {{"SORT", "k1", "BY", "w_*", "LIMIT", "0", "5", "GET", "#", "DESC", "ALPHA", "STORE", "dst"}},
    {{"SORT", "k1", "STORE", "d1", "STORE", "d2"}},
    {{"SORT", "k1", "STORE", "store", "d2"}},
    {{"SORT", "k1", "BY", "store", "STORE", "dst"}},
    {{"SORT", "k1", "LIMIT", "store", "1", "STORE", "dst"}},
    {{"SORT", "k1", "STORE"}},
    {{"SORT_RO", "k1", "BY", "w_*", "GET", "#"}},
    {{"MIGRATE", "h", "1", "k1", "0", "5000"}},
    {{"MIGRATE", "h", "1", "k1", "0", "5000", "COPY", "REPLACE"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "KEYS", "k1", "k2"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "COPY", "keys", "k1"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "AUTH", "pw", "KEYS", "k1"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "AUTH2", "u", "pw", "KEYS", "k1", "k2"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "AUTH", "KEYS", "k1"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "AUTH2", "KEYS", "x", "KEYS", "k1"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "KEYS", "k1", "KEYS", "k2"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "KEYS"}},
    {{"MIGRATE", "h", "1", "", "0", "5000", "x", "KEYS", "k1"}},
    {{"GEORADIUS", "k1", "1", "2", "3", "m"}},
    {{"GEORADIUS", "k1", "1", "2", "3", "m", "WITHDIST", "STORE", "d1"}},
    {{"GEORADIUS", "k1", "1", "2", "3", "m", "COUNT", "5", "STOREDIST", "d2"}},
    {{"GEORADIUS", "k1", "1", "2", "3", "m", "STOREDIST", "d2", "STORE", "d1"}},
    {{"GEORADIUS", "k1", "1", "2", "3", "m", "STORE", "d1", "STORE", "d2"}},
    {{"GEORADIUS", "k1", "1", "2", "3", "store", "d1"}},
    {{"GEORADIUS", "k1", "1", "2", "3", "m", "store"}},
    {{"GEORADIUSBYMEMBER", "k1", "m", "1", "km", "STORE", "d1"}},
    {{"GEORADIUSBYMEMBER", "k1", "m", "1", "store", "d1", "x"}},
    {{"GEORADIUSBYMEMBER", "k1", "m", "1", "km", "STORE", "d1", "STOREDIST", "d2"}},
    {{"GEORADIUS_RO", "k1", "1", "2", "3", "m", "STORE", "d1"}},
    {{"XREAD", "STREAMS", "k1", "0"}},
    {{"XREAD", "COUNT", "5", "BLOCK", "5", "STREAMS", "k1", "k2", "0", "1"}},
    {{"XREAD", "STREAMS", "streams", "k2", "0", "1"}},
    {{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "k1", ">"}},
    {{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK", "STREAMS", "k1", "k2", ">", ">"}},
    {{"XREADGROUP", "GROUP", "streams", "streams", "STREAMS", "k1", ">"}},
    {{"MSET", "k1", "v1", "k2", "v2", "k3", "v3"}},
    {{"BLPOP", "k1", "k2", "0"}},
    {{"BZPOPMAX", "k1", "0"}},
    {{"BITOP", "AND", "dst", "k1", "k2"}},
    {{"COPY", "k1", "k2", "DB", "1", "REPLACE"}},
    {{"OBJECT", "ENCODING", "k1"}},
    {{"OBJECT", "HELP"}},
    {{"MEMORY", "USAGE", "k1", "SAMPLES", "5"}},
    {{"XGROUP", "CREATE", "k1", "g", "$", "MKSTREAM"}},
    {{"XINFO", "STREAM", "k1", "FULL"}},
    {{"get", "k1"}},
    {{"mGeT", "k1", "k2"}},
};

/* Vectors we call malformed; the server must refuse to run each. */
static const struct vec refused[] = {
    {{"EVAL", "return 1", "3", "vmux:ks:k1"}},
    {{"EVAL", "return 1", "-1"}},
    {{"EVAL", "return 1", "x", "vmux:ks:k1"}},
    {{"EVAL", "return 1", "01", "vmux:ks:k1"}},
    {{"EVAL", "return 1", "+1", "vmux:ks:k1"}},
    {{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "2", "vmux:ks:k1"}},
    {{"FCALL", "nosuchfunction", "2", "vmux:ks:k1"}},
    {{"ZUNIONSTORE", "vmux:ks:d", "2", "vmux:ks:k1"}},
    {{"ZUNIONSTORE", "vmux:ks:d", "0", "vmux:ks:k1"}},
    {{"ZINTER", "0", "vmux:ks:k1"}},
    {{"ZDIFF", "3", "vmux:ks:k1", "vmux:ks:k2"}},
    {{"ZINTERCARD", "0", "vmux:ks:k1"}},
    {{"SINTERCARD", "0", "vmux:ks:k1"}},
    {{"LMPOP", "0", "vmux:ks:k1", "LEFT"}},
    {{"LMPOP", "3", "vmux:ks:k1", "LEFT"}},
    {{"ZMPOP", "-1", "vmux:ks:k1", "MIN"}},
    {{"BLMPOP", "0", "0", "vmux:ks:k1", "LEFT"}},
    {{"MSET", "vmux:ks:k1", "v", "vmux:ks:k2"}},
    {{"MSETNX", "vmux:ks:k1", "v", "vmux:ks:k2", "v", "vmux:ks:k3"}},
    {{"XREAD", "STREAMS", "vmux:ks:s1", "vmux:ks:s2", "0"}},
    {{"XREAD", "COUNT", "1", "STREAMS"}},
    {{"XREAD", "COUNT", "1", "BLOCK", "0"}},
    {{"MIGRATE", "127.0.0.1", "1", "vmux:ks:k0", "0", "100", "KEYS", "vmux:ks:k1"}},
    {{"GET"}},
    {{"GET", "vmux:ks:k1", "vmux:ks:k2"}},
    {{"TIME", "x"}},
    {{"OBJECT", "ENCODING"}},
    {{"XINFO", "GROUPS"}},
};

static int vec_argc(const struct vec *v)
{
    int n = 0;
    while (n < MAXARGS && v->argv[n] != NULL)
        n++;
    return n;
}

static void vec_text(const char *const *argv, int argc, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < argc && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s'%s'", i ? " " : "", argv[i]);
}

/* Our keys for argv must be exactly COMMAND GETKEYS's, in order; keyless is no key. */
static void compare_getkeys(int argc, const char *const *argv)
{
    char text[512];
    vec_text(argv, argc, text, sizeof text);
    struct vmux_keys k;
    enum vmux_keys_kind kind = vmux__keys_find(argc, argv, NULL, &k);
    if (kind != VMUX_KEYS_FOUND && kind != VMUX_KEYS_NONE)
        fail_msg("%s: kind %d (%s)", text, kind, k.why ? k.why : "");
    const char *args[MAXARGS + 2] = {"COMMAND", "GETKEYS"};
    for (int i = 0; i < argc; i++)
        args[i + 2] = argv[i];
    redisReply *r = run(argc + 2, args);
    if (kind == VMUX_KEYS_NONE) {
        bool none = (r->type == REDIS_REPLY_ARRAY && r->elements == 0) ||
                    (r->type == REDIS_REPLY_ERROR && strstr(r->str, "no key arguments"));
        if (!none)
            fail_msg("%s: keyless here, GETKEYS says %s", text,
                     r->type == REDIS_REPLY_ERROR ? r->str : "keys");
        freeReplyObject(r);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY)
        fail_msg("%s: GETKEYS says %s", text, r->type == REDIS_REPLY_ERROR ? r->str : "?");
    size_t n = vmux__keys_count(&k);
    if (r->elements != n)
        fail_msg("%s: %zu keys here, %zu from GETKEYS", text, n, r->elements);
    for (size_t i = 0; i < n; i++) {
        const char *ours = argv[vmux__keys_arg(&k, i)];
        if (strcmp(ours, r->element[i]->str) != 0)
            fail_msg("%s: key %zu is '%s' here, '%s' from GETKEYS", text, i, ours,
                     r->element[i]->str);
    }
    freeReplyObject(r);
}

/* Shard channels are routed like keys, although GETKEYS does not list them. */
static bool is_shard_channel_command(const char *name)
{
    return strcasecmp(name, "SPUBLISH") == 0 || strcasecmp(name, "SSUBSCRIBE") == 0 ||
           strcasecmp(name, "SUNSUBSCRIBE") == 0;
}

static bool hand_has(const char *name)
{
    for (size_t i = 0; i < N(hand); i++)
        if (strcasecmp(hand[i].argv[0], name) == 0)
            return true;
    return false;
}

/*
 * A vector for entry s (of command top when s is a subcommand): the names, then as many
 * arguments a1, a2... as the arity wants (two more when it is a minimum, so a range ending
 * from the end has keys; a step-2 range then still pairs up). A container is asked for HELP.
 */
static int auto_vector(const struct vmux_keyspec *s, const char *top, const char **argv,
                       char names[][16])
{
    int argc = 0;
    if (top != NULL)
        argv[argc++] = top;
    argv[argc++] = s->name;
    const struct server_cmd *c = server_find(top ? top : s->name, top ? s->name : NULL);
    if (top == NULL && c->nsub > 0 && s->rule == VMUX_KEYRULE_NONE) {
        argv[argc++] = "HELP";
        return argc;
    }
    int want = s->arity > 0 ? s->arity : -s->arity + 2;
    for (int i = 1; argc < want; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        argv[argc++] = names[i];
    }
    return argc;
}

static void check_entry_keys(const struct vmux_keyspec *s, const char *top)
{
    if (s->rule == VMUX_KEYRULE_SUBCOMMAND) {
        for (size_t i = 0; i < s->nsub; i++)
            check_entry_keys(&s->sub[i], s->name);
        return;
    }
    if (s->rule == VMUX_KEYRULE_NUMKEYS || s->rule == VMUX_KEYRULE_PARSED) {
        if (!hand_has(s->name))
            fail_msg("%s has no hand-made vector in this test", s->name);
        return;
    }
    if (is_shard_channel_command(s->name))
        return; /* their positions were checked against COMMAND INFO */
    const char *argv[MAXARGS];
    char names[MAXARGS][16];
    int argc = auto_vector(s, top, argv, names);
    compare_getkeys(argc, argv);
}

static void test_every_entry_against_getkeys(void **state)
{
    (void)state;
    size_t n;
    const struct vmux_keyspec *t = vmux__keyspec_table(&n);
    for (size_t i = 0; i < n; i++)
        check_entry_keys(&t[i], NULL);
}

static void test_hand_vectors_against_getkeys(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(hand); i++)
        compare_getkeys(vec_argc(&hand[i]), hand[i].argv);
}

static void test_malformed_refused_by_server(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(refused); i++) {
        int argc = vec_argc(&refused[i]);
        char text[512];
        vec_text(refused[i].argv, argc, text, sizeof text);
        struct vmux_keys k;
        if (vmux__keys_find(argc, refused[i].argv, NULL, &k) != VMUX_KEYS_MALFORMED)
            fail_msg("%s: not malformed here", text);
        redisReply *r = run(argc, refused[i].argv);
        if (r->type != REDIS_REPLY_ERROR)
            fail_msg("%s: malformed here (%s), but the server ran it", text, k.why);
        freeReplyObject(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_command_info),
        cmocka_unit_test(test_every_entry_against_getkeys),
        cmocka_unit_test(test_hand_vectors_against_getkeys),
        cmocka_unit_test(test_malformed_refused_by_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
