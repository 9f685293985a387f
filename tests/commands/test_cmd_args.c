/*
 * The rule every call taking a vmux_str keeps (docs/api-conventions.md): a string with ptr NULL
 * and a non-zero length is no string, refused with VMUX_ERR_INVALID_ARG before anything is sent,
 * wherever it stands (key, value, member, field, message, ID, script argument, condition). The
 * typed commands get it from their argument vector (lib/api/typed.c), so this file checks a few
 * of each shape, the multi-key commands split by slot on a cluster, a transaction's conditions
 * and the leaderboard built on them; that {NULL, 0} stays an empty string; and, by reading the
 * server's state back, that nothing was written. A length no buffer can have (SIZE_MAX) is refused
 * wherever the library copies the bytes, and a transaction refuses a NULL argument.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h"

const char cmd_family[] = "args";

/* ptr NULL with a length: what every call must refuse. */
#define BAD ((vmux_str){NULL, 4})

static const vmux_expiry NO_TTL = {VMUX_EXPIRY_NONE, 0};

/* Asserts that k does not exist (nothing was written to it). */
static void assert_absent(vmux_str k)
{
    assert_int_equal(raw_int(RAW(S("EXISTS"), k)), 0);
}

static void test_strings(void **state)
{
    (void)state;
    vmux_str k = key("strings");
    vmux_bytes v = JUNK_BYTES;
    assert_int_equal(vmux_get(M, NULL, BAD, &v), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&v);
    bool set = true;
    assert_int_equal(vmux_set(M, NULL, k, BAD, NO_TTL, VMUX_COND_ALWAYS, &set),
                     VMUX_ERR_INVALID_ARG);
    assert_false(set);
    assert_int_equal(vmux_set(M, NULL, BAD, S("v"), NO_TTL, VMUX_COND_ALWAYS, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_absent(k);
    struct done d = {0};
    assert_int_equal(vmux_set_async(M, NULL, k, BAD, NO_TTL, VMUX_COND_ALWAYS, on_reply, &d),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(atomic_load(&d.fired), 0); /* refused: the callback never runs */
    assert_absent(k);
    /* {NULL, 0} is still the empty string. */
    assert_int_equal(vmux_set(M, NULL, k, VMUX_STRN(NULL, 0), NO_TTL, VMUX_COND_ALWAYS, NULL), 0);
    assert_raw_str(RAW(S("GET"), k), VMUX_STRN("", 0));
}

static void test_collections(void **state)
{
    (void)state;
    vmux_str k = key("hash");
    vmux_str good[] = {S("f")}, bad[] = {BAD};
    assert_int_equal(vmux_hset(M, NULL, k, bad, good, 1, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_hset(M, NULL, k, good, bad, 1, NULL), VMUX_ERR_INVALID_ARG);
    assert_absent(k);
    vmux_str l = key("list");
    vmux_str values[] = {S("a"), BAD};
    assert_int_equal(vmux_rpush(M, NULL, l, values, 2, NULL), VMUX_ERR_INVALID_ARG);
    assert_absent(l);
    vmux_str s = key("set");
    assert_int_equal(vmux_sadd(M, NULL, s, values, 2, NULL), VMUX_ERR_INVALID_ARG);
    assert_absent(s);
    vmux_str z = key("zset");
    vmux_zmember items[] = {{S("a"), 1}, {BAD, 2}};
    assert_int_equal(vmux_zadd(M, NULL, z, items, 2, VMUX_COND_ALWAYS, false, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_absent(z);
}

static void test_streams_pubsub_server(void **state)
{
    (void)state;
    vmux_str x = key("stream");
    vmux_str fields[] = {S("f")}, values[] = {BAD};
    vmux_bytes id = JUNK_BYTES;
    assert_int_equal(vmux_xadd(M, NULL, x, VMUX_XID_DEFAULT, fields, values, 1, NULL, &id),
                     VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&id);
    /* An ID left to its default is {NULL, 0}; with a length it is refused, not defaulted. */
    assert_int_equal(vmux_xadd(M, NULL, x, BAD, fields, fields, 1, NULL, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_absent(x);
    vmux_stream_entry_array e;
    assert_int_equal(vmux_xrange(M, NULL, x, BAD, VMUX_XID_DEFAULT, 10, &e), VMUX_ERR_INVALID_ARG);
    int64_t receivers = 99;
    assert_int_equal(vmux_publish(M, NULL, VMUX_SUB_CHANNEL, key("channel"), BAD, &receivers),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(receivers, 0);
    /* PING's and ECHO's message is optional ({NULL, 0}), never silently dropped. */
    vmux_bytes r = JUNK_BYTES;
    assert_int_equal(vmux_ping(M, NULL, BAD, &r), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&r);
    assert_int_equal(vmux_echo(M, NULL, BAD, &r), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&r);
}

/* Keys in several slots: on a cluster these take the split path, which must refuse too. */
static void test_multi_key(void **state)
{
    (void)state;
    vmux_str keys[] = {key("m1"), key("m2"), key("m3")};
    vmux_str values[] = {S("1"), BAD, S("3")};
    assert_int_equal(vmux_mset(M, NULL, keys, values, 3), VMUX_ERR_INVALID_ARG);
    for (int i = 0; i < 3; i++)
        assert_absent(keys[i]);
    vmux_str bad_keys[] = {keys[0], BAD, keys[2]};
    int64_t n = 99;
    assert_int_equal(vmux_del(M, NULL, bad_keys, 3, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    vmux_bytes_array got = JUNK_ARRAY;
    assert_int_equal(vmux_mget(M, NULL, bad_keys, 3, &got), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&got);
}

static void test_script_and_transaction(void **state)
{
    (void)state;
    vmux_str k = key("script");
    vmux_script *s = NULL;
    assert_int_equal(vmux_script_new(S("return redis.call('SET', KEYS[1], ARGV[1])"), &s), 0);
    vmux_str args[] = {BAD};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_script_run(M, NULL, s, &k, 1, args, 1, &r), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    vmux_script_free(s);
    assert_absent(k);
    vmux_tx *tx = NULL;
    assert_int_equal(vmux_tx_new(&tx), 0);
    assert_int_equal(vmux_tx_when_equal(tx, k, BAD), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_tx_when_exists(tx, BAD), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_tx_when_hash_equal(tx, k, BAD, S("v")), VMUX_ERR_INVALID_ARG);
    vmux_tx_free(tx);
}

static void test_leaderboard(void **state)
{
    (void)state;
    vmux_str k = key("board");
    vmux_leaderboard *lb = NULL;
    assert_int_equal(vmux_leaderboard_new(M, k, NULL, &lb), 0);
    assert_int_equal(vmux_leaderboard_set(lb, NULL, BAD, 1), VMUX_ERR_INVALID_ARG);
    bool flag = true;
    assert_int_equal(vmux_leaderboard_set_best(lb, NULL, BAD, 1, &flag), VMUX_ERR_INVALID_ARG);
    assert_false(flag);
    double score = 5;
    assert_int_equal(vmux_leaderboard_incr(lb, NULL, BAD, 1, &score), VMUX_ERR_INVALID_ARG);
    assert_true(score == 0);
    assert_absent(k); /* no member "" was added */
    assert_int_equal(vmux_leaderboard_set(lb, NULL, S("a"), 1), 0);
    flag = true;
    assert_int_equal(vmux_leaderboard_remove(lb, NULL, BAD, &flag), VMUX_ERR_INVALID_ARG);
    assert_false(flag);
    int64_t rank = 7;
    bool found = true;
    assert_int_equal(vmux_leaderboard_get(lb, NULL, BAD, &rank, &score, &found),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(rank, 0);
    assert_false(found);
    assert_int_equal(raw_int(RAW(S("ZCARD"), k)), 1);
    vmux_leaderboard_free(lb);
}

static void no_message(const vmux_message *msg, void *userdata)
{
    (void)msg;
    (void)userdata;
}

/* The copies of caller's bytes: a length of SIZE_MAX once wrapped len + 1 to malloc(0) and then
 * copied SIZE_MAX bytes into it; and vmux_tx_add() took a NULL argument for an empty one. */
static void test_lengths_no_buffer_has(void **state)
{
    (void)state;
    vmux_str k = key("huge"), huge = {"x", SIZE_MAX};
    vmux_tx *tx = NULL;
    assert_int_equal(vmux_tx_new(&tx), 0);
    const char *set[] = {"SET", "k", "v"}, *null_key[] = {"SET", NULL, "v"};
    const char *null_name[] = {NULL, "k"};
    const size_t huge_len[] = {3, SIZE_MAX, 1};
    assert_int_equal(vmux_tx_add(tx, 3, set, huge_len), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_tx_add(tx, 3, null_key, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_tx_add(tx, 2, null_name, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_tx_when_exists(tx, huge), VMUX_ERR_NOMEM);
    vmux_tx_free(tx);
    vmux_lock *l = NULL;
    assert_int_equal(vmux_lock_new(M, huge, NULL, &l), VMUX_ERR_NOMEM);
    assert_null(l);
    vmux_leaderboard *lb = NULL;
    assert_int_equal(vmux_leaderboard_new(M, huge, NULL, &lb), VMUX_ERR_NOMEM);
    assert_null(lb);
    int64_t n = 7;
    assert_int_equal(vmux_zlexcount(M, NULL, k, VMUX_ZBOUND_LEX(huge), VMUX_ZBOUND_LEX_MAX, &n),
                     VMUX_ERR_NOMEM);
    vmux_sub *sub = NULL;
    /* longer than maxBulkLength: its confirmation could never be read (pubsub.h) */
    assert_int_equal(vmux_subscribe(M, VMUX_SUB_CHANNEL, huge, no_message, NULL, &sub),
                     VMUX_ERR_INVALID_ARG);
    assert_non_null(strstr(vmux_last_error(), "longer than maxBulkLength"));
    assert_int_equal(strncmp(vmux_last_error(), "invalid argument: ", 18), 0);
    assert_null(sub);
}

/*
 * Expects rc VMUX_ERR_INVALID_ARG and EO's error buffer to start with "invalid argument: " and
 * words: which argument broke which rule (a typed call's refusal before sending, typed.h
 * vmux__typed_refuse()). The buffer is filled with junk first, so that words left by an earlier
 * call do not pass.
 */
#define REFUSED(call, words)                                                                       \
    do {                                                                                           \
        memset(errbuf, 'x', sizeof errbuf - 1);                                                    \
        errbuf[sizeof errbuf - 1] = '\0';                                                          \
        assert_int_equal((call), VMUX_ERR_INVALID_ARG);                                            \
        if (strncmp(errbuf, "invalid argument: " words, strlen("invalid argument: " words)) != 0)  \
            fail_msg("%s: the words: %s", #call, errbuf);                                          \
    } while (0)

/* One refusal of each file of lib/api that refuses before sending, in the words of its rule. */
static void test_refusal_words(void **state)
{
    (void)state;
    vmux_str k = key("words"), none[1] = {S("k")};
    int64_t i64;
    bool b;
    vmux_bytes v;
    vmux_bytes_array ba;
    REFUSED(vmux_wait(M, &EO, 0, 0, &i64), "block_ms is 0: the block must be at least 1 ms");
    REFUSED(vmux_wait(M, &EO, -3, 10, &i64), "replicas is -3: must be at least 0");
    REFUSED(vmux_waitaof(M, &EO, 2, 0, 10, NULL, NULL), "numlocal is 2: must be 0 or 1");
    REFUSED(vmux_bpop(M, &EO, VMUX_HEAD, none, 1, 0, NULL, NULL), "block_ms is 0");
    REFUSED(vmux_bitop(M, &EO, (vmux_bitop_op)9, k, none, 1, &i64),
            "op is 9: none of vmux_bitop_op");
    REFUSED(vmux_bitop(M, &EO, VMUX_BITOP_NOT, k, (vmux_str[]){k, k}, 2, &i64),
            "n is 2: VMUX_BITOP_NOT takes exactly one source key");
    REFUSED(vmux_geoadd(M, &EO, k, NULL, 2, VMUX_COND_ALWAYS, false, &i64),
            "items is NULL with n 2");
    vmux_geo_result_array res;
    REFUSED(vmux_geosearch(M, &EO, k, VMUX_GEO_CENTER_LONLAT(0, 0),
                           (vmux_geo_shape){VMUX_GEO_SHAPE_KIND_RADIUS, 1, 0, 0, (vmux_geo_unit)9},
                           NULL, &res),
            "unit is 9: none of vmux_geo_unit");
    REFUSED(vmux_hset(M, &EO, k, NULL, none, 1, &i64), "fields is NULL with n 1");
    REFUSED(vmux_pfadd(M, &EO, k, NULL, 2, &b), "elements is NULL with n 2");
    REFUSED(vmux_expire(M, &EO, k, 10, (vmux_cond)99, &b), "cond is 99: none of vmux_cond");
    REFUSED(vmux_exists(M, &EO, none, 0, &i64), "n is 0: the command takes at least one of keys");
    REFUSED(vmux_lpos_count(M, &EO, k, S("e"), NULL, NULL, 0, NULL),
            "max is 0: must be at least 1");
    REFUSED(vmux_lmove(M, &EO, k, k, (vmux_end)7, VMUX_HEAD, &v), "from is 7: none of vmux_end");
    REFUSED(vmux_near_hget(NULL, &EO, k, S("f"), &v), "the handle is NULL");
    REFUSED(vmux_publish(M, &EO, VMUX_SUB_PATTERN, S("c"), S("m"), &i64),
            "kind is 1: PUBLISH takes VMUX_SUB_CHANNEL or VMUX_SUB_SHARD");
    vmux_scored_array sc;
    REFUSED(vmux_zscan_next_scored(NULL, &EO, &sc), "it is NULL");
    vmux_reply *r;
    REFUSED(vmux_script_run(M, &EO, NULL, NULL, 0, NULL, 0, &r), "s is NULL");
    REFUSED(vmux_script_exists(M, &EO, NULL, 2, NULL), "sha1s is NULL with n 2");
    REFUSED(vmux_sadd(M, &EO, k, NULL, 3, &i64), "members is NULL with n 3");
    REFUSED(vmux_sintercard(M, &EO, NULL, 2, 0, &i64), "keys is NULL with n 2");
    vmux_xpending_array pe;
    REFUSED(vmux_xpending_range(M, &EO, k, S("g"), S("-"), S("+"), 0, S(""), 0, &pe),
            "count is 0: must be at least 1");
    vmux_stream_batch_array sb;
    REFUSED(vmux_xread(M, &EO, none, none, 1, 0, -1, &sb), "block_ms is -1: must be at least 0");
    REFUSED(vmux_xtrim(M, &EO, k, (vmux_stream_trim){.kind = VMUX_TRIM_NONE}, &i64),
            "trim.kind is VMUX_TRIM_NONE: XTRIM needs MAXLEN or MINID");
    REFUSED(vmux_set(M, &EO, k, S("v"), NO_TTL, VMUX_COND_GT, &b),
            "cond is 3: SET takes VMUX_COND_ALWAYS, NX or XX");
    REFUSED(vmux_getex(M, &EO, k, (vmux_expiry){VMUX_EXPIRY_KEEP, 0}, &v),
            "expiry.kind is VMUX_EXPIRY_KEEP: GETEX takes no KEEPTTL (SET's)");
    bool committed;
    REFUSED(vmux_tx_exec(M, &EO, NULL, &committed, NULL), "tx is NULL");
    /* the argument vector's own refusals (typed.c): a string at NULL, a count out of range */
    REFUSED(vmux_get(M, &EO, BAD, &v), "argument 1 of GET is at NULL with length 4");
    REFUSED(vmux_srandmember_count(M, &EO, k, INT64_MIN, &ba),
            "argument 2 of SRANDMEMBER is -9223372036854775808: must be from");
    double d;
    REFUSED(vmux_zincrby(M, &EO, k, S("m"), NAN, &d), "increment is NaN");
    vmux_zrange_opts mixed =
        VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(0), .stop = VMUX_ZBOUND_LEX_MAX);
    REFUSED(vmux_zrange(M, &EO, k, &mixed, &ba), "range->start.kind is 0 and range->stop.kind");
    REFUSED(vmux_zunion(M, &EO, NULL, 0, NULL, &ba), "keys is NULL with n 0");
    REFUSED(vmux_script_flush(M, &EO, (vmux_flush_mode)7), "mode is 7: none of vmux_flush_mode");
    assert_absent(k); /* nothing was sent */
}

static void ignore_reply(int status, vmux_reply *reply, void *userdata)
{
    (void)status, (void)userdata;
    vmux_reply_free(reply);
}

static void ignore_nodes(int status, vmux_node_replies *result, void *userdata)
{
    (void)status, (void)userdata;
    if (result != NULL)
        vmux_node_replies_free(result);
    free(result);
}

static void ignore_message(const vmux_message *msg, void *userdata)
{
    (void)msg, (void)userdata;
}

/* Expects rc VMUX_ERR_INVALID_ARG and vmux_last_error() "invalid argument: the handle is NULL"
 * (a call with no error buffer). */
#define NO_HANDLE_LAST(call)                                                                       \
    VT_LAST_ERROR(call, VMUX_ERR_INVALID_ARG, "invalid argument: the handle is NULL")

/* A NULL handle is worded alike by every family, "the handle is NULL" (the headers' m is no name
 * a user sees), after "invalid argument: ": in the error buffer, or in vmux_last_error(). */
static void test_no_handle_words(void **state)
{
    (void)state;
    const char *ping[] = {"PING"};
    vmux_reply *r;
    vmux_bytes v;
    vmux_node_replies nr;
    REFUSED(vmux_call(NULL, &EO, 1, ping, NULL, &r), "the handle is NULL");
    REFUSED(vmux_call_nodes(NULL, &EO, VMUX_NODES_ALL, 1, ping, NULL, &nr), "the handle is NULL");
    REFUSED(vmux_call_node(NULL, &EO, "127.0.0.1", 6379, 1, ping, NULL, &r), "the handle is NULL");
    REFUSED(vmux_near_get(NULL, &EO, key("nh"), &v), "the handle is NULL");
    REFUSED(vmux_call_nodes_async(NULL, &EO, VMUX_NODES_ALL, 1, ping, NULL, ignore_nodes, NULL),
            "the handle is NULL");
    vmux_script *s;
    assert_int_equal(vmux_script_new(S("return 1"), &s), 0);
    REFUSED(vmux_script_run_async(NULL, &EO, s, NULL, 0, NULL, 0, ignore_reply, NULL),
            "the handle is NULL");
    vmux_script_free(s);
    vmux_lock *l;
    vmux_cache *c;
    vmux_ratelimit *rl;
    vmux_sub *sub;
    vmux_ratelimit_opts ro = VMUX_INIT(vmux_ratelimit_opts, .limit = 1, .period_ms = 1000);
    NO_HANDLE_LAST(vmux_lock_new(NULL, key("nh"), NULL, &l));
    NO_HANDLE_LAST(vmux_cache_new(NULL, NULL, &c));
    NO_HANDLE_LAST(vmux_ratelimit_new(NULL, &ro, &rl));
    NO_HANDLE_LAST(vmux_subscribe(NULL, VMUX_SUB_CHANNEL, S("c"), ignore_message, NULL, &sub));
}

/* vmux_call_nodes_async() refuses in vmux_call_nodes()'s words (its callback never runs). */
static void test_nodes_async_words(void **state)
{
    (void)state;
    const char *ping[] = {"PING"}, *blpop[] = {"BLPOP", "k", "1"}, *sub[] = {"SUBSCRIBE", "c"};
    REFUSED(vmux_call_nodes_async(M, &EO, VMUX_NODES_ALL, 1, ping, NULL, NULL, NULL), "cb is NULL");
    REFUSED(vmux_call_nodes_async(M, &EO, (vmux_node_set)9, 1, ping, NULL, ignore_nodes, NULL),
            "nodes is 9, none of VMUX_NODES_PRIMARIES");
    REFUSED(vmux_call_nodes_async(M, &EO, VMUX_NODES_ALL, 0, ping, NULL, ignore_nodes, NULL),
            "argc is 0");
    vmux_callopts bad = EO;
    bad.flags = VMUX_CALL_PRIMARY;
    REFUSED(vmux_call_nodes_async(M, &bad, VMUX_NODES_ALL, 1, ping, NULL, ignore_nodes, NULL),
            "opts->flags has bits this call does not take");
    struct {
        const char *const *argv;
        int argc;
        const char *words;
    } unsupported[] = {
        {blpop, 3, "this command cannot run on a shared, multiplexed connection: BLPOP blocks"},
        {sub, 2, "this command cannot run on a shared, multiplexed connection: SUBSCRIBE"},
    };
    for (size_t i = 0; i < 2; i++) {
        memset(errbuf, 'x', sizeof errbuf - 1);
        errbuf[sizeof errbuf - 1] = '\0';
        int rc = vmux_call_nodes_async(M, &EO, VMUX_NODES_ALL, unsupported[i].argc,
                                       unsupported[i].argv, NULL, ignore_nodes, NULL);
        if (rc != VMUX_ERR_UNSUPPORTED ||
            strncmp(errbuf, unsupported[i].words, strlen(unsupported[i].words)) != 0)
            fail_msg("%s: %s, words '%s'", unsupported[i].argv[0], vmux_err_name(rc), errbuf);
    }
}

/* VT_LAST_ERROR() for a call refused its timeout_ms, n (a literal below VMUX_FOREVER). */
#define TIMEOUT_WORDS(call, n)                                                                     \
    VT_LAST_ERROR(call, VMUX_ERR_INVALID_ARG,                                                      \
                  "invalid argument: timeout_ms is " #n ": must be VMUX_FOREVER (-1), to wait as " \
                  "long as it takes, or at least 0")

/* The handle's calls that take no error buffer (client.h, pubsub.h) leave their words in
 * vmux_last_error(): which argument broke which rule, else the code's description; "" on success.
 */
static void test_no_buffer_words(void **state)
{
    (void)state;
    vmux_stats st = VMUX_INIT(vmux_stats), unsized = {0};
    VT_LAST_ERROR(vmux_drain(NULL, 0), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    TIMEOUT_WORDS(vmux_drain(M, -2), -2);
    VT_LAST_ERROR(vmux_drain(M, 1000), 0, "");
    VT_LAST_ERROR(vmux_read_stats(NULL, &st), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    VT_LAST_ERROR(vmux_read_stats(M, NULL), VMUX_ERR_INVALID_ARG, "invalid argument: out is NULL");
    VT_LAST_ERROR(vmux_read_stats(M, &unsized), VMUX_ERR_INVALID_ARG,
                  "invalid argument: out->size is 0: out not made with VMUX_INIT (abi.h)");
    VT_LAST_ERROR(vmux_read_stats(M, &st), 0, "");
    VT_LAST_ERROR(vmux_read_node_stats(M, NULL, 6379, &st), VMUX_ERR_INVALID_ARG,
                  "invalid argument: host is NULL");
    VT_LAST_ERROR(vmux_read_node_stats(M, "127.0.0.1", 0, &st), VMUX_ERR_INVALID_ARG,
                  "invalid argument: port is 0: outside 1..65535");
    VT_LAST_ERROR(vmux_read_node_stats(M, "192.0.2.1", 1, &st), VMUX_ERR_INVALID_ARG,
                  "invalid argument: 192.0.2.1:1: a node the handle never dialled");
    vmux_msgq *q = NULL;
    vmux_message msg;
    VT_LAST_ERROR(vmux_msgq_new(1, VMUX_OVERFLOW_DROP_OLDEST, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: out is NULL");
    VT_LAST_ERROR(vmux_msgq_new(0, VMUX_OVERFLOW_DROP_OLDEST, &q), VMUX_ERR_INVALID_ARG,
                  "invalid argument: bound is 0: a queue holds at least 1 message");
    VT_LAST_ERROR(vmux_msgq_new(1, (vmux_overflow)5, &q), VMUX_ERR_INVALID_ARG,
                  "invalid argument: policy is 5: none of vmux_overflow");
    VT_LAST_ERROR(vmux_msgq_new(4, VMUX_OVERFLOW_DROP_OLDEST, &q), 0, "");
    VT_LAST_ERROR(vmux_msgq_pop(NULL, 0, &msg), VMUX_ERR_INVALID_ARG,
                  "invalid argument: q is NULL");
    VT_LAST_ERROR(vmux_msgq_pop(q, 0, NULL), VMUX_ERR_INVALID_ARG, "invalid argument: msg is NULL");
    TIMEOUT_WORDS(vmux_msgq_pop(q, -5, &msg), -5);
    VT_LAST_ERROR(vmux_msgq_pop(q, 0, &msg), VMUX_ERR_TIMEOUT, vmux_strerror(VMUX_ERR_TIMEOUT));
    vmux_sub *sub = NULL;
    assert_int_equal(vmux_subscribe_queue(M, VMUX_SUB_CHANNEL, S("args:words"), q, &sub), 0);
    VT_LAST_ERROR(vmux_sub_wait_live(NULL, 0), VMUX_ERR_INVALID_ARG,
                  "invalid argument: sub is NULL");
    TIMEOUT_WORDS(vmux_sub_wait_live(sub, -3), -3);
    VT_LAST_ERROR(vmux_sub_wait_live(sub, 10000), 0, "");
    VT_LAST_ERROR(vmux_unsubscribe(NULL, sub), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    VT_LAST_ERROR(vmux_unsubscribe(M, NULL), VMUX_ERR_INVALID_ARG, "invalid argument: sub is NULL");
    VT_LAST_ERROR(vmux_unsubscribe(M, sub), 0, "");
    vmux_msgq_free(q);
    VT_LAST_ERROR(vmux_near_forget(NULL, S("k")), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    VT_LAST_ERROR(vmux_near_forget(M, VMUX_STRN(NULL, 2)), VMUX_ERR_INVALID_ARG,
                  "invalid argument: key is at NULL with length 2 (a vmux_str {NULL, len > 0} is "
                  "no string)");
    VT_LAST_ERROR(vmux_near_forget(M, S("k")), VMUX_ERR_UNSUPPORTED,
                  "the handle keeps no near cache (nearCache is off): nothing to forget");
    /* vmux_near_read_stats() too (review helper-271: no words before) */
    vmux_near_stats ns = VMUX_INIT(vmux_near_stats), ns0 = {0};
    VT_LAST_ERROR(vmux_near_read_stats(NULL, &ns), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    VT_LAST_ERROR(vmux_near_read_stats(M, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: out is NULL");
    VT_LAST_ERROR(vmux_near_read_stats(M, &ns0), VMUX_ERR_INVALID_ARG,
                  "invalid argument: out->size is 0: out not made with VMUX_INIT (abi.h)");
    VT_LAST_ERROR(vmux_near_read_stats(M, &ns), VMUX_ERR_UNSUPPORTED,
                  "the handle keeps no near cache (nearCache is off): no counters");
    char text[16];
    VT_LAST_ERROR(vmux_format_metrics(NULL, text, sizeof text), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    VT_LAST_ERROR(vmux_format_metrics(M, NULL, 5), VMUX_ERR_INVALID_ARG,
                  "invalid argument: buf is NULL with len 5 (NULL and 0 measure)");
    assert_true(vmux_format_metrics(M, NULL, 0) > 0);
    assert_string_equal(vmux_last_error(), "");
    vmux_session_store *ss = NULL;
    vmux_session_opts so = VMUX_INIT(vmux_session_opts, .prefix = "args:s:"); /* 16-byte ids */
    assert_int_equal(vmux_session_store_new(M, &so, &ss), 0);
    const char *id = "0123456789abcdef0123456789abcdef";
    char skey[64];
    VT_LAST_ERROR(vmux_session_key(NULL, id, skey, sizeof skey), VMUX_ERR_INVALID_ARG,
                  "invalid argument: s is NULL");
    VT_LAST_ERROR(vmux_session_key(ss, "abcd", skey, sizeof skey), VMUX_ERR_INVALID_ARG,
                  "invalid argument: id is no id of this store (32 lowercase hex digits)");
    VT_LAST_ERROR(vmux_session_key(ss, id, skey, 5), VMUX_ERR_INVALID_ARG,
                  "invalid argument: keylen is 5: the key needs 40 bytes with its NUL");
    assert_int_equal(vmux_session_key(ss, id, skey, sizeof skey), 39);
    assert_string_equal(vmux_last_error(), "");
    vmux_session_store_free(ss);
}

/* Options whose size does not reach errbuf: the words have nowhere to go (abi.h), and none are
 * written past the caller's size. */
static void test_refusal_words_short_opts(void **state)
{
    (void)state;
    char buf[64] = "untouched";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = buf, .errlen = sizeof buf);
    o.size = offsetof(vmux_callopts, errbuf);
    int64_t acked;
    assert_int_equal(vmux_wait(M, &o, 0, 0, &acked), VMUX_ERR_INVALID_ARG);
    assert_string_equal(buf, "untouched");
    assert_int_equal(vmux_wait(M, NULL, 0, 0, &acked), VMUX_ERR_INVALID_ARG); /* no buffer */
    /* vmux_call()'s refusals before it reads the options (no handle, no out, on the I/O thread)
     * write through them too: nothing past the caller's size */
    const char *ping[] = {"PING"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(NULL, &o, 1, ping, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_string_equal(buf, "untouched");
    assert_int_equal(vmux_call(M, &o, 1, ping, NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_string_equal(buf, "untouched");
    o.size = sizeof o;
    assert_int_equal(vmux_call(NULL, &o, 1, ping, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_string_equal(buf, "invalid argument: the handle is NULL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_collections),
        cmocka_unit_test(test_streams_pubsub_server),
        cmocka_unit_test(test_multi_key),
        cmocka_unit_test(test_script_and_transaction),
        cmocka_unit_test(test_leaderboard),
        cmocka_unit_test(test_lengths_no_buffer_has),
        cmocka_unit_test(test_refusal_words),
        cmocka_unit_test(test_refusal_words_short_opts),
        cmocka_unit_test(test_no_handle_words),
        cmocka_unit_test(test_nodes_async_words),
        cmocka_unit_test(test_no_buffer_words),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}
