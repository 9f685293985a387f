/*
 * The command classifier (core/shareable.h): which commands may not share a connection and
 * which block, from the argument vector, from RESP bytes, and as encoding marks an op.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "core/encode.h"
#include "core/op.h"
#include "core/shareable.h"
#include "vmux/error.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/*
 * Classifies argv all three ways (vector, hiredis-formatted RESP, an encoded op), checks they
 * agree, and returns the vector's result with the blocking flag in *blocking.
 */
static int classify(int argc, const char *const *argv, bool *blocking)
{
    uint32_t flags = 0, resp_flags = 0;
    int rc = vmux__classify(argc, argv, NULL, &flags);
    char *resp;
    int n = redisFormatCommandArgv(&resp, argc, (const char **)argv, NULL);
    assert_true(n > 0);
    assert_int_equal(vmux__classify_resp(resp, (size_t)n, &resp_flags), rc);
    assert_int_equal(resp_flags, flags);
    redisFreeCommand(resp);
    struct vmux_op *op;
    assert_int_equal(vmux__encode_op(argc, argv, NULL, &op), 0);
    assert_int_equal((op->flags & VMUX_OP_UNSHAREABLE) != 0, rc != 0);
    assert_int_equal(op->flags & (VMUX_OP_BLOCKING | VMUX_OP_FROM_NOW),
                     flags & (VMUX_OP_BLOCKING | VMUX_OP_FROM_NOW));
    vmux__op_free(op);
    *blocking = (flags & VMUX_OP_BLOCKING) != 0;
    return rc;
}

/* The words of a refusal of argv (as RESP) into buf; "" when argv is not refused. */
static void words(int argc, const char *const *argv, char *buf, size_t len)
{
    buf[0] = '\0';
    char *resp;
    int n = redisFormatCommandArgv(&resp, argc, (const char **)argv, NULL);
    assert_true(n > 0);
    vmux__unshareable_explain_resp(buf, len, resp, (size_t)n);
    redisFreeCommand(resp);
}

static void expect(int argc, const char *const *argv, int rc, bool blocking)
{
    bool got;
    assert_int_equal(classify(argc, argv, &got), rc);
    if (got != blocking)
        fail_msg("%s: blocking %d, expected %d", argv[0], got, blocking);
    /* a refusal says which command and what to use; anything else has no such words */
    char buf[400];
    words(argc, argv, buf, sizeof buf);
    const char *start = "this command cannot run on a shared, multiplexed connection: ";
    if (rc != 0 && (strncmp(buf, start, strlen(start)) != 0 ||
                    strncasecmp(buf + strlen(start), argv[0], strlen(argv[0])) != 0 ||
                    strlen(buf) < strlen(start) + strlen(argv[0]) + 20))
        fail_msg("%s: '%s'", argv[0], buf);
    if (rc == 0)
        assert_string_equal(buf, "");
}

/* The words for a few refusals, whole. */
static void test_refusal_words(void **state)
{
    (void)state;
    char buf[400];
    words(2, (const char *[]){"select", "1"}, buf, sizeof buf);
    assert_string_equal(buf, "this command cannot run on a shared, multiplexed connection: "
                             "select: it would move every caller to another database: open a "
                             "handle with defaultDatabase=N");
    words(2, (const char *[]){"HELLO", "3"}, buf, sizeof buf);
    assert_string_equal(buf, "this command cannot run on a shared, multiplexed connection: "
                             "HELLO: vmux speaks RESP2 on its connections and sets each one up "
                             "itself: RESP3 is not supported");
    words(3, (const char *[]){"CLIENT", "tracking", "on"}, buf, sizeof buf);
    assert_string_equal(buf, "this command cannot run on a shared, multiplexed connection: "
                             "CLIENT tracking: client-side caching is the near cache's: open "
                             "the handle with nearCache=true");
    char small[16] = "untouched";
    words(1, (const char *[]){"MULTI"}, small, sizeof small);
    assert_string_equal(small, "this command ca"); /* cut to the buffer, terminated */
    const char multi[] = "*1\r\n$5\r\nMULTI\r\n";
    vmux__unshareable_explain_resp(NULL, 0, multi, sizeof multi - 1); /* no buffer */
    words(2, (const char *[]){"MULTI", "x"}, small, 0);               /* none written */
    assert_string_equal(small, "");
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const names[] = {
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
        "MONITOR",   "SYNC",       "PSYNC",      "MULTI",       "EXEC",         "DISCARD",
        "WATCH",     "UNWATCH",    "SELECT",     "AUTH",        "HELLO",        "RESET",
        "QUIT",      "READONLY",   "READWRITE",  "ASKING",      "REPLCONF",
    };
    for (int i = 0; i < N(names); i++) {
        const char *argv[] = {names[i], "x"};
        expect(2, argv, VMUX_ERR_UNSUPPORTED, false);
        expect(1, argv, VMUX_ERR_UNSUPPORTED, false);
    }
    const char *reply[] = {"CLIENT", "REPLY", "OFF"};
    expect(3, reply, VMUX_ERR_UNSUPPORTED, false);
    /* probe29: a user's TRACKING OFF left the near cache serving stale values */
    const char *tracking[] = {"client", "tracking", "off"};
    expect(3, tracking, VMUX_ERR_UNSUPPORTED, false);
    const char *caching[] = {"CLIENT", "CACHING", "yes"};
    expect(3, caching, VMUX_ERR_UNSUPPORTED, false);
}

static void test_shareable(void **state)
{
    (void)state;
    const char *get[] = {"GET", "k"};
    const char *set[] = {"SET", "select", "auth"};
    const char *name[] = {"CLIENT", "SETNAME", "reply"};
    const char *client[] = {"CLIENT"};
    const char *publish[] = {"PUBLISH", "c", "m"};
    const char *xadd[] = {"XADD", "s", "*", "BLOCK", "1"};
    expect(2, get, 0, false);
    expect(3, set, 0, false);
    expect(3, name, 0, false);
    expect(1, client, 0, false);
    expect(3, publish, 0, false);
    expect(5, xadd, 0, false);
}

static void test_blocking(void **state)
{
    (void)state;
    static const char *const names[] = {"BLPOP",  "BRPOP",    "BRPOPLPUSH", "BLMOVE",
                                        "BLMPOP", "BZPOPMIN", "BZPOPMAX",   "BZMPOP"};
    for (int i = 0; i < N(names); i++) {
        const char *argv[] = {names[i], "k", "0"};
        expect(3, argv, 0, true);
        assert_false(vmux__waits_for_replicas(3, argv, NULL));
    }
    const char *lpop[] = {"LPOP", "k"};
    expect(2, lpop, 0, false);
}

/* WAIT and WAITAOF count their own connection's writes: shared-link commands, not the pool's,
 * which only a transaction refuses. */
static void test_wait(void **state)
{
    (void)state;
    const char *wait[] = {"wait", "1", "100"}, *aof[] = {"WAITAOF", "1", "0", "100"};
    const char *waits[] = {"WAITS", "1", "100"};
    expect(3, wait, 0, false);
    expect(4, aof, 0, false);
    assert_true(vmux__waits_for_replicas(3, wait, NULL));
    assert_true(vmux__waits_for_replicas(4, aof, NULL));
    assert_false(vmux__waits_for_replicas(3, waits, NULL));
    size_t lens[] = {4, 1, 3};
    const char *bin[] = {"WAITAOF", "1", "100"}; /* its first 4 bytes: WAIT */
    assert_true(vmux__waits_for_replicas(3, bin, lens));
    assert_false(vmux__waits_for_replicas(0, wait, NULL));
    assert_false(vmux__waits_for_replicas(1, NULL, NULL));
}

static void test_stream_reads(void **state)
{
    (void)state;
    const char *xread[] = {"XREAD", "COUNT", "2", "BLOCK", "100", "STREAMS", "s", "$"};
    const char *plain[] = {"XREAD", "COUNT", "2", "STREAMS", "s", "$"};
    const char *late[] = {"XREAD", "STREAMS", "BLOCK", "0"}; /* a stream named BLOCK */
    const char *group[] = {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"};
    const char *named[] = {"XREADGROUP", "GROUP", "block", "BLOCK", "NOACK", "STREAMS", "s", ">"};
    const char *count[] = {"XREAD", "COUNT", "BLOCK", "STREAMS", "s", "0"};
    expect(8, xread, 0, true);
    expect(6, plain, 0, false);
    expect(4, late, 0, false);
    expect(9, group, 0, true);
    expect(8, named, 0, false); /* group "block", consumer "BLOCK": names, not the option */
    expect(6, count, 0, false); /* COUNT's value, however odd */
}

/* Whether argv is marked a read from "now" (VMUX_OP_FROM_NOW), all three ways (classify()). */
static bool from_now(int argc, const char *const *argv)
{
    bool blocking;
    uint32_t flags = 0;
    classify(argc, argv, &blocking);
    vmux__classify(argc, argv, NULL, &flags);
    return (flags & VMUX_OP_FROM_NOW) != 0;
}

/*
 * A blocking XREAD with "$" or "+" among its ids (the second half after STREAMS) is a read from
 * "now": never sent again. Not without BLOCK, nor with explicit ids, nor a key named "$", nor
 * XREADGROUP.
 */
static void test_from_now(void **state)
{
    (void)state;
    const char *one[] = {"XREAD", "BLOCK", "100", "STREAMS", "s", "$"};
    const char *second[] = {"xread", "COUNT", "5", "block", "1", "streams", "a", "b", "0-1", "$"};
    const char *ids[] = {"XREAD", "BLOCK", "100", "STREAMS", "a", "b", "0-1", "5-0"};
    const char *key[] = {"XREAD", "BLOCK", "100", "STREAMS", "$", "b", "0-1", "5-0"};
    const char *plain[] = {"XREAD", "COUNT", "2", "STREAMS", "s", "$"};
    const char *odd[] = {"XREAD", "BLOCK", "100", "STREAMS", "s", "t", "$"};
    const char *group[] = {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", "$"};
    const char *blpop[] = {"BLPOP", "$", "0"};
    const char *last[] = {"XREAD", "BLOCK", "100", "STREAMS", "a", "b", "0-1", "+"};
    const char *last_key[] = {"XREAD", "BLOCK", "100", "STREAMS", "+", "b", "0-1", "5-0"};
    assert_true(from_now(8, last)); /* "+", the last entry: on an empty stream it waits as "$" */
    assert_false(from_now(8, last_key));
    assert_true(from_now(6, one));
    assert_true(from_now(10, second));
    assert_false(from_now(8, ids));
    assert_false(from_now(8, key)); /* "$" is a key there */
    assert_false(from_now(6, plain));
    assert_false(from_now(7, odd)); /* malformed: the server says so */
    assert_false(from_now(9, group));
    assert_false(from_now(3, blpop));
}

static void test_case_insensitive(void **state)
{
    (void)state;
    const char *sub[] = {"subscribe", "c"};
    const char *multi[] = {"MuLtI"};
    const char *reply[] = {"client", "reply", "on"};
    const char *blpop[] = {"bLpOp", "k", "0"};
    const char *xread[] = {"xread", "block", "0", "streams", "s", "$"};
    expect(2, sub, VMUX_ERR_UNSUPPORTED, false);
    expect(1, multi, VMUX_ERR_UNSUPPORTED, false);
    expect(3, reply, VMUX_ERR_UNSUPPORTED, false);
    expect(3, blpop, 0, true);
    expect(6, xread, 0, true);
}

/* Prefixes and extensions of refused names are other commands. */
static void test_near_names(void **state)
{
    (void)state;
    const char *names[] = {"SUBSCRIB", "SUBSCRIBES", "EXECX", "WAITS", "BLPO", "XREADX", "CLIENTS"};
    for (int i = 0; i < N(names); i++) {
        const char *argv[] = {names[i], "REPLY", "BLOCK", "0"};
        expect(4, argv, 0, false);
    }
}

/* A long XREAD: every option is looked at once, and BLOCK at the end is still found. */
static void test_long_vectors(void **state)
{
    (void)state;
    enum { LONG = 20001 };
    const char **argv = calloc(LONG + 3, sizeof(*argv));
    assert_non_null(argv);
    argv[0] = "XREAD";
    for (int i = 1; i < LONG; i += 2) {
        argv[i] = "COUNT";
        argv[i + 1] = "7";
    }
    argv[LONG] = "BLOCK";
    argv[LONG + 1] = "0";
    argv[LONG + 2] = "STREAMS";
    expect(LONG + 3, argv, 0, true);
    argv[LONG] = "NOACK";
    expect(LONG + 3, argv, 0, false);
    argv[0] = "MSET";
    expect(LONG + 3, argv, 0, false);
    free(argv);
}

static void test_lengths_and_odd_vectors(void **state)
{
    (void)state;
    uint32_t flags = 0;
    const char *bin[] = {"BLPOP\0junk", "k", "0"};
    size_t lens[] = {5, 1, 1};
    assert_int_equal(vmux__classify(3, bin, lens, &flags), 0);
    assert_int_equal(flags, VMUX_OP_BLOCKING);
    lens[0] = 10; /* the NUL and what follows belong to the name: no such command */
    flags = 0;
    assert_int_equal(vmux__classify(3, bin, lens, &flags), 0);
    assert_int_equal(flags, 0);
    const char *holes[] = {NULL, "x"};
    size_t zero[] = {0, 1};
    assert_int_equal(vmux__classify(2, holes, zero, &flags), 0);
    assert_int_equal(vmux__classify(0, NULL, NULL, &flags), 0);
    assert_int_equal(vmux__classify_resp(NULL, 0, &flags), 0);
    assert_int_equal(vmux__classify_resp("*1\r\n$4\r\nEX", 11, &flags), 0); /* cut short */
    assert_int_equal(vmux__classify_resp("*1\r\n$4\r\nEXEC\r\n", 14, &flags), VMUX_ERR_UNSUPPORTED);
    assert_int_equal(flags, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_refusal_words),
        cmocka_unit_test(test_shareable),
        cmocka_unit_test(test_blocking),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_stream_reads),
        cmocka_unit_test(test_from_now),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_near_names),
        cmocka_unit_test(test_long_vectors),
        cmocka_unit_test(test_lengths_and_odd_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
