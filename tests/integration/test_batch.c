/*
 * Batches (batch.h) against a real server, and again over TLS and on a cluster:
 * - each command's own outcome, in order: a WRONGTYPE in the middle fails alone, nil, integers,
 *   a keyless PING; the return value is the first failure's code and the error buffer names it;
 * - 1 and 1000 commands; reuse after vmux_batch_clear(); statuses or replies not wanted;
 * - values larger than the socket takes at once, and 1500 commands (more than the direct lane's
 *   one write carries: a lone standalone caller writes and reads its batch itself);
 * - argument errors: NULL handle, batch, callback, an empty batch, commands the generic API
 *   refuses (SUBSCRIBE, MULTI, EXEC, READONLY...) and blocking ones, which add nothing;
 * - a deadline that passes (a server of its own with CLIENT PAUSE WRITE): the read before the
 *   paused write has its reply, the writes time out; run async then, each command's reply says
 *   it was written and not answered;
 * - a batch waiting on a stopped server (SIGSTOP) while an async command times out, ended by
 *   vmux_close() with VMUX_ERR_CLOSED for each command;
 * - the async form from the test thread and from a callback on the I/O thread (where the
 *   synchronous form refuses);
 * - 8 threads running batches at once (TSan), each reading back its own writes in the same batch;
 *   one thread's batches while another floods the handle with async PINGs;
 * - cluster: keys over every shard land on their own slot's primary with no MOVED; a command whose
 *   own keys span two slots fails alone with VMUX_ERR_CROSSSLOT;
 * - a batch over maxPendingBytes or maxPending refused at the door before a byte of it is copied
 *   (peak RSS); the deadline counting from the exec call's entry, so that a 64 MiB SET with a 1 ms
 *   timeout is never sent (VMUX_ERR_NOT_CONNECTED with VMUX_CALL_TELL_UNSENT); errbuf saying what
 *   vmux_call() says (no server: the last connection failure); VMUX_CALL_BLOCKING refused;
 * - the async form's commands that failed unsent carry those words in their replies.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum { WAIT_MS = 60000, NTHREADS = 8, ROUNDS = 100, PAIRS = 10 };

/* "batch:<pid>:<tag>:<i>" in buf. */
static const char *key_of(char *buf, size_t len, const char *tag, int i)
{
    snprintf(buf, len, "batch:%d:%s:%d", (int)getpid(), tag, i);
    return buf;
}

static void add(vmux_batch *b, int argc, const char *const *argv)
{
    assert_int_equal(vmux_batch_add(b, argc, argv, NULL), 0);
}

/* Empties b and runs it again with a DEL of each of the n keys key_of(tag, i) made. */
static void drop_keys(vmux *m, vmux_batch *b, const char *tag, int n)
{
    char key[96];
    vmux_batch_clear(b);
    for (int i = 0; i < n; i++)
        add(b, 2, (const char *[]){"DEL", key_of(key, sizeof key, tag, i)});
    assert_int_equal(vmux_batch_exec(m, NULL, b, NULL, NULL), 0);
}

static void assert_str_reply(const vmux_reply *r, const char *want)
{
    assert_non_null(r);
    const char *s = vmux_reply_str(r, NULL);
    assert_non_null(s);
    assert_string_equal(s, want);
}

static void free_replies(vmux_reply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vmux_reply_free(replies[i]);
}

static void test_mixed_in_order(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char k[64], c[64], missing[64], h[64];
    key_of(k, sizeof k, "mixed", 0);
    key_of(c, sizeof c, "counter", 0);
    key_of(missing, sizeof missing, "missing", 0);
    key_of(h, sizeof h, "hash", 0);
    vmux_batch *del = NULL; /* one DEL each: on a cluster the keys are in several slots */
    assert_int_equal(vmux_batch_new(&del), 0);
    add(del, 2, (const char *[]){"DEL", k});
    add(del, 2, (const char *[]){"DEL", c});
    add(del, 2, (const char *[]){"DEL", h});
    assert_int_equal(vmux_batch_exec(m, NULL, del, NULL, NULL), 0);

    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 3, (const char *[]){"SET", k, "v1"});
    add(b, 2, (const char *[]){"GET", k});
    add(b, 3, (const char *[]){"LPUSH", k, "x"}); /* WRONGTYPE */
    add(b, 2, (const char *[]){"INCR", c});
    add(b, 2, (const char *[]){"GET", missing});
    add(b, 1, (const char *[]){"PING"});
    add(b, 4, (const char *[]){"HSET", h, "f", "v"});
    add(b, 2, (const char *[]){"INCR", c});
    assert_int_equal(vmux_batch_count(b), 8);

    int st[8];
    vmux_reply *rep[8];
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_batch_exec(m, &o, b, st, rep), VMUX_ERR_SERVER);
    int want[8] = {0, 0, VMUX_ERR_SERVER, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        assert_int_equal(st[i], want[i]);
    assert_str_reply(rep[0], "OK");
    assert_str_reply(rep[1], "v1");
    assert_int_equal(vmux_reply_get_kind(rep[2]), VMUX_REPLY_ERROR);
    assert_non_null(strstr(vmux_reply_str(rep[2], NULL), "WRONGTYPE"));
    assert_int_equal(vmux_reply_get_kind(rep[3]), VMUX_REPLY_INTEGER);
    assert_int_equal(vmux_reply_integer(rep[3]), 1);
    assert_int_equal(vmux_reply_get_kind(rep[4]), VMUX_REPLY_NIL);
    assert_str_reply(rep[5], "PONG");
    assert_int_equal(vmux_reply_integer(rep[6]), 1);
    assert_int_equal(vmux_reply_integer(rep[7]), 2);
    assert_non_null(strstr(why, "command 2: WRONGTYPE"));
    free_replies(rep, 8);

    /* Run again, wanting neither statuses nor replies: they are freed for the caller. */
    assert_int_equal(vmux_batch_exec(m, NULL, b, NULL, NULL), VMUX_ERR_SERVER);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"GET", c}, NULL, &r), 0);
    assert_str_reply(r, "4");
    vmux_reply_free(r);
    assert_int_equal(vmux_batch_exec(m, NULL, del, NULL, NULL), 0);
    vmux_batch_free(del);
    vmux_batch_free(b);
    vmux_close(m);
}

/* One command; then 1000 writes and 1000 reads of the values written, with reuse after clear. */
static void test_one_and_thousand(void **state)
{
    (void)state;
    enum { N = 1000 };
    vmux *m = vt_open("plain", NULL);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 1, (const char *[]){"PING"});
    int st[N];
    vmux_reply *rep[N];
    assert_int_equal(vmux_batch_exec(m, NULL, b, st, rep), 0);
    assert_int_equal(st[0], 0);
    assert_str_reply(rep[0], "PONG");
    vmux_reply_free(rep[0]);

    vmux_batch_clear(b);
    assert_int_equal(vmux_batch_count(b), 0);
    char key[64], val[32];
    for (int i = 0; i < N; i++) {
        snprintf(val, sizeof val, "value-%d", i);
        add(b, 3, (const char *[]){"SET", key_of(key, sizeof key, "thousand", i), val});
    }
    assert_int_equal(vmux_batch_count(b), N);
    assert_int_equal(vmux_batch_exec(m, NULL, b, st, rep), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(st[i], 0);
        assert_str_reply(rep[i], "OK");
    }
    free_replies(rep, N);

    vmux_batch_clear(b);
    for (int i = 0; i < N; i++)
        add(b, 2, (const char *[]){"GET", key_of(key, sizeof key, "thousand", i)});
    assert_int_equal(vmux_batch_exec(m, NULL, b, st, rep), 0);
    for (int i = 0; i < N; i++) {
        snprintf(val, sizeof val, "value-%d", i);
        assert_int_equal(st[i], 0);
        assert_str_reply(rep[i], val);
    }
    free_replies(rep, N);

    drop_keys(m, b, "thousand", N);
    vmux_batch_free(b);
    vmux_close(m);
}

/* Large values: more bytes than the socket takes at once (the rest is written for the caller),
 * and more commands than one write of the direct lane carries (1024): both complete in order. */
static void test_large_and_many(void **state)
{
    (void)state;
    enum { BIG = 8, SIZE = 1 << 20, MANY = 1500 };
    vmux *m = vt_open("plain", NULL);
    char *value = malloc(SIZE);
    assert_non_null(value);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    char key[64];
    for (int i = 0; i < BIG; i++) {
        memset(value, 'a' + i, SIZE);
        key_of(key, sizeof key, "big", i);
        const char *set[] = {"SET", key, value};
        assert_int_equal(vmux_batch_add(b, 3, set, (size_t[]){3, strlen(key), SIZE}), 0);
    }
    for (int i = 0; i < BIG; i++)
        add(b, 2, (const char *[]){"STRLEN", key_of(key, sizeof key, "big", i)});
    int st[MANY];
    vmux_reply *rep[MANY];
    assert_int_equal(vmux_batch_exec(m, NULL, b, st, rep), 0);
    for (int i = 0; i < BIG; i++) {
        assert_str_reply(rep[i], "OK");
        assert_int_equal(vmux_reply_integer(rep[BIG + i]), SIZE);
    }
    free_replies(rep, 2 * BIG);
    drop_keys(m, b, "big", BIG);
    free(value);

    vmux_batch_clear(b);
    char text[32];
    for (int i = 0; i < MANY; i++) {
        snprintf(text, sizeof text, "echo-%d", i);
        add(b, 2, (const char *[]){"ECHO", text});
    }
    assert_int_equal(vmux_batch_exec(m, NULL, b, st, rep), 0);
    for (int i = 0; i < MANY; i++) {
        snprintf(text, sizeof text, "echo-%d", i);
        assert_str_reply(rep[i], text);
    }
    free_replies(rep, MANY);
    vmux_batch_free(b);
    vmux_close(m);
}

static void never_called(size_t n, const int *statuses, vmux_reply **replies, void *userdata)
{
    (void)n;
    (void)statuses;
    (void)replies;
    (void)userdata;
    fail_msg("a refused batch's callback ran");
}

static void test_argument_errors(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_batch_new(&b), 0);
    const char *ping[] = {"PING"};
    /* NULL batch, argv, argument; argc < 1 */
    assert_int_equal(vmux_batch_add(NULL, 1, ping, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_batch_add(b, 1, NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_batch_add(b, 0, ping, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_batch_add(b, 2, (const char *[]){"GET", NULL}, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_batch_add(b, 2, (const char *[]){"GET", NULL}, (size_t[]){3, 1}),
                     VMUX_ERR_INVALID_ARG);
    /* What the generic API refuses, and blocking commands. */
    const char *const refused[][4] = {
        {"SUBSCRIBE", "ch"},
        {"MULTI"},
        {"EXEC"},
        {"WATCH", "k"},
        {"READONLY"},
        {"SELECT", "1"},
        {"BLPOP", "k", "1"},
        {"XREAD", "BLOCK", "0"},
        {"PSUBSCRIBE", "p*"},
        {"CLIENT", "REPLY", "OFF"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int argc = 0;
        while (argc < 4 && refused[i][argc] != NULL)
            argc++;
        assert_int_equal(vmux_batch_add(b, argc, refused[i], NULL), VMUX_ERR_UNSUPPORTED);
        /* vmux_call() refuses the same ones with the same code (blocking ones it runs) */
        vmux_reply *r = NULL;
        if (strcmp(refused[i][0], "BLPOP") != 0 && strcmp(refused[i][0], "XREAD") != 0)
            assert_int_equal(vmux_call(m, NULL, argc, refused[i], NULL, &r), VMUX_ERR_UNSUPPORTED);
    }
    assert_int_equal(vmux_batch_count(b), 0);
    assert_int_equal(vmux_batch_count(NULL), 0);

    /* An empty batch; NULL handle, batch, callback. Nothing is written for an empty batch. */
    int st[1] = {12345};
    vmux_reply *rep[1] = {(vmux_reply *)&st};
    assert_int_equal(vmux_batch_exec(m, NULL, b, st, rep), VMUX_ERR_INVALID_ARG);
    assert_int_equal(st[0], 12345);
    assert_int_equal(vmux_batch_exec(m, NULL, NULL, st, rep), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_batch_exec_async(m, NULL, b, never_called, NULL), VMUX_ERR_INVALID_ARG);
    add(b, 1, ping);
    assert_int_equal(vmux_batch_exec(NULL, NULL, b, st, rep), VMUX_ERR_INVALID_ARG);
    assert_int_equal(st[0], VMUX_ERR_INVALID_ARG); /* a refused batch: every status is the code */
    assert_null(rep[0]);
    assert_int_equal(vmux_batch_exec_async(NULL, NULL, b, never_called, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_batch_exec_async(m, NULL, NULL, never_called, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_batch_exec_async(m, NULL, b, NULL, NULL), VMUX_ERR_INVALID_ARG);
    /* Bad options: an unknown flag, both directions, a negative deadline. */
    vmux_callopts bad = VMUX_INIT(vmux_callopts, .flags = 0x8000u);
    assert_int_equal(vmux_batch_exec(m, &bad, b, st, rep), VMUX_ERR_INVALID_ARG);
    bad = (vmux_callopts)VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PRIMARY | VMUX_CALL_REPLICA);
    assert_int_equal(vmux_batch_exec_async(m, &bad, b, never_called, NULL), VMUX_ERR_INVALID_ARG);
    bad = (vmux_callopts)VMUX_INIT(vmux_callopts, .timeout_ms = -1);
    assert_int_equal(vmux_batch_exec(m, &bad, b, st, rep), VMUX_ERR_INVALID_ARG);
    /* Empty arguments and binary ones are fine. */
    vmux_batch_clear(b);
    char key[64];
    key_of(key, sizeof key, "binary", 0);
    const char *set[] = {"SET", key, "a\0b"};
    assert_int_equal(vmux_batch_add(b, 3, set, (size_t[]){3, strlen(key), 3}), 0);
    assert_int_equal(vmux_batch_add(b, 2, (const char *[]){"ECHO", NULL}, (size_t[]){4, 0}), 0);
    assert_int_equal(vmux_batch_add(b, 2, (const char *[]){"GET", key}, NULL), 0);
    vmux_reply *rep3[3];
    assert_int_equal(vmux_batch_exec(m, NULL, b, NULL, rep3), 0);
    size_t len = 99;
    assert_non_null(vmux_reply_str(rep3[1], &len));
    assert_int_equal(len, 0);
    assert_non_null(vmux_reply_str(rep3[2], &len));
    assert_int_equal(len, 3);
    assert_memory_equal(vmux_reply_str(rep3[2], NULL), "a\0b", 3);
    free_replies(rep3, 3);
    vmux_batch_free(b);
    vmux_batch_free(NULL);
    vmux_batch_clear(NULL);
    vmux_close(m);
}

/* An async batch's outcome, captured for the test thread. */
struct box {
    atomic_bool done;
    size_t n;
    int status[4];
    vmux_reply *reply[4];
};

static void box_cb(size_t n, const int *statuses, vmux_reply **replies, void *userdata)
{
    struct box *x = userdata;
    x->n = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        x->status[i] = statuses[i];
        x->reply[i] = replies[i];
    }
    atomic_store(&x->done, true);
}

static bool box_done(void *arg)
{
    return atomic_load(&((struct box *)arg)->done);
}

/* Whether r is an error reply that begins with start and holds part. */
static void assert_words(const vmux_reply *r, const char *start, const char *part)
{
    const char *words = r != NULL ? vmux_reply_str(r, NULL) : NULL;
    if (r == NULL || vmux_reply_get_kind(r) != VMUX_REPLY_ERROR)
        fail_msg("no error reply holding its words: %s", words != NULL ? words : "NULL");
    if (strncmp(words, start, strlen(start)) != 0 || strstr(words, part) == NULL)
        fail_msg("its words '%s' do not begin '%s' and hold '%s'", words, start, part);
}

/* CLIENT PAUSE WRITE on a server of the test's own (a shared fixture would stall other suites):
 * the read that comes first is answered, the writes behind it wait and miss the deadline. The
 * async form then: every command waits behind them, and each one's reply holds its words. */
/* A refused vmux_batch_new() or vmux_batch_add() says which argument broke which rule in
 * vmux_last_error(), in vmux_call()'s words for the same argument (without "invalid argument: "),
 * and a success clears it. */
static void test_argument_words(void **state)
{
    (void)state;
    vmux_batch *b = NULL;
    const char *ping[] = {"PING"}, *get[] = {"GET", NULL}, *two[] = {"GET", "xx"};
    VT_LAST_ERROR(vmux_batch_new(NULL), VMUX_ERR_INVALID_ARG, "invalid argument: out is NULL");
    VT_LAST_ERROR(vmux_batch_new(&b), 0, "");
    VT_LAST_ERROR(vmux_batch_add(NULL, 1, ping, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: b is NULL");
    VT_LAST_ERROR(vmux_batch_add(b, 1, NULL, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: argv is NULL");
    VT_LAST_ERROR(vmux_batch_add(b, 0, ping, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: argc is 0 (a command has at least its name)");
    VT_LAST_ERROR(vmux_batch_add(b, 2, get, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: argv[1] is NULL (argvlen is NULL: every argument a C string)");
    VT_LAST_ERROR(vmux_batch_add(b, 2, get, (size_t[]){3, 1}), VMUX_ERR_INVALID_ARG,
                  "invalid argument: argv[1] is NULL with a length");
    VT_LAST_ERROR(vmux_batch_add(b, 2, two, (size_t[]){SIZE_MAX, 2}), VMUX_ERR_INVALID_ARG,
                  "invalid argument: argvlen[1] is 2: the arguments' lengths add up past SIZE_MAX");
    /* a command it refuses is named, with why */
    VT_LAST_ERROR(
        vmux_batch_add(b, 1, (const char *[]){"MULTI"}, NULL), VMUX_ERR_UNSUPPORTED,
        "this command cannot run on a shared, multiplexed connection: MULTI: the callers' "
        "commands interleave on the shared connection: vmux_tx_new(), vmux_tx_add() "
        "and vmux_tx_exec() (transaction.h) send a transaction whole, "
        "vmux_tx_when_*() checking what WATCH would");
    VT_LAST_ERROR(vmux_batch_add(b, 3, (const char *[]){"BLPOP", "k", "1"}, NULL),
                  VMUX_ERR_UNSUPPORTED,
                  "this command cannot run on a shared, multiplexed connection: BLPOP blocks on "
                  "the server: it would hold the batch's connection");
    VT_LAST_ERROR(vmux_batch_add(b, 1, ping, NULL), 0, "");
    assert_int_equal(vmux_batch_count(b), 1);
    vmux_batch_free(b);
}

static void test_deadline(void **state)
{
    (void)state;
    if (vt_tls_mode() || vt_cluster_mode() != NULL) {
        skip(); /* a plain server of its own: the plain run covers it */
        return;
    }
    vt_server s = {0};
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    vmux *m = vt_server_open(&s, NULL);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 3, (const char *[]){"SET", "k", "before"});
    assert_int_equal(vmux_batch_exec(m, NULL, b, NULL, NULL), 0);

    redisContext *c = vt_node_connect(s.port);
    redisReply *pr = redisCommand(c, "CLIENT PAUSE 20000 WRITE");
    assert_non_null(pr);
    assert_int_equal(pr->type, REDIS_REPLY_STATUS);
    freeReplyObject(pr);

    vmux_batch_clear(b);
    add(b, 2, (const char *[]){"GET", "k"});
    add(b, 3, (const char *[]){"SET", "k", "paused"});
    add(b, 3, (const char *[]){"SET", "k2", "paused"});
    int st[3];
    vmux_reply *rep[3];
    char why[256] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 300, .errbuf = why, .errlen = sizeof why);
    uint64_t t0 = vt_now_ms();
    assert_int_equal(vmux_batch_exec(m, &o, b, st, rep), VMUX_ERR_TIMEOUT);
    uint64_t took = vt_now_ms() - t0;
    assert_true(took >= 250); /* it waited for its deadline, not less */
    assert_int_equal(st[0], 0);
    assert_str_reply(rep[0], "before");
    assert_int_equal(st[1], VMUX_ERR_TIMEOUT);
    assert_int_equal(st[2], VMUX_ERR_TIMEOUT);
    assert_null(rep[1]);
    assert_null(rep[2]);
    assert_non_null(strstr(why, "command 1: "));
    free_replies(rep, 3);
    /* The async form: each command's words are its reply (the GET too waits behind the SETs). */
    struct box bx = {.done = false};
    assert_int_equal(vmux_batch_exec_async(m, &o, b, box_cb, &bx), 0);
    assert_true(vt_wait_until(box_done, &bx, WAIT_MS));
    char written[96];
    snprintf(written, sizeof written, "timed out: written to 127.0.0.1:%d and not answered in time",
             s.port);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bx.status[i], VMUX_ERR_TIMEOUT);
        assert_words(bx.reply[i], written, "so it may have run");
    }
    free_replies(bx.reply, 3);

    pr = redisCommand(c, "CLIENT UNPAUSE");
    assert_non_null(pr);
    freeReplyObject(pr);
    redisFree(c);
    vmux_batch_clear(b);
    add(b, 2, (const char *[]){"GET", "k2"});
    assert_int_equal(vmux_batch_exec(m, NULL, b, st, rep), 0);
    assert_str_reply(rep[0], "paused"); /* timed out, yet ran: the outcome was unknown */
    vmux_reply_free(rep[0]);
    vmux_batch_free(b);
    vmux_close(m);
    vt_server_stop(&s);
}

/* A batch waiting on a stopped server (SIGSTOP), in a thread of its own with a long deadline. */
struct stopped_batch {
    vmux *m;
    vmux_batch *b;
    pthread_t thread;
    int rc, status[3];
    atomic_bool returned;
};

static void *stopped_batch_main(void *arg)
{
    struct stopped_batch *sb = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 60000);
    sb->rc = vmux_batch_exec(sb->m, &o, sb->b, sb->status, NULL);
    atomic_store(&sb->returned, true);
    return NULL;
}

/* The I/O thread takes the connection back from a batch that reads its own replies (a lone caller
 * on an idle standalone connection): an async command times out meanwhile, and vmux_close() ends
 * the batch with VMUX_ERR_CLOSED for each command instead of waiting for its deadline. */
static void test_closed_while_waiting(void **state)
{
    (void)state;
    if (vt_tls_mode() || vt_cluster_mode() != NULL) {
        skip(); /* a plain server of its own: the plain run covers it */
        return;
    }
    vt_server s = {0};
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    struct stopped_batch sb = {.m = vt_server_open(&s, NULL), .returned = false};
    assert_int_equal(vmux_batch_new(&sb.b), 0);
    add(sb.b, 3, (const char *[]){"SET", "k", "v"});
    add(sb.b, 2, (const char *[]){"GET", "k"});
    add(sb.b, 2, (const char *[]){"INCR", "n"});
    for (int i = 0; i < 10; i++) /* the lane lends its reading to callers that use it */
        assert_int_equal(vmux_batch_exec(sb.m, NULL, sb.b, NULL, NULL), 0);
    kill(s.pid, SIGSTOP);
    assert_int_equal(pthread_create(&sb.thread, NULL, stopped_batch_main, &sb), 0);
    vmux_stats st = VMUX_INIT(vmux_stats);
    uint64_t until = vt_now_ms() + 10000;
    do { /* the batch is admitted once the handle counts it pending */
        assert_int_equal(vmux_read_stats(sb.m, &st), 0);
        assert_true(vt_now_ms() < until);
    } while (st.pending < 3);
    struct vt_async a = {.done = false};
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 200);
    assert_int_equal(
        vmux_call_async(sb.m, &quick, 2, (const char *[]){"GET", "k"}, NULL, vt_on_async, &a), 0);
    assert_true(vt_wait_until(vt_async_done, &a, 20000));
    assert_int_equal(a.status, VMUX_ERR_TIMEOUT);
    assert_false(atomic_load(&sb.returned)); /* its deadline is a minute away */

    vmux_close(sb.m);
    assert_int_equal(pthread_join(sb.thread, NULL), 0);
    assert_int_equal(sb.rc, VMUX_ERR_CLOSED);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sb.status[i], VMUX_ERR_CLOSED);
    kill(s.pid, SIGCONT);
    vmux_batch_free(sb.b);
    vt_server_stop(&s);
}

/* A port nothing listens on: a server of the test's own, started and stopped. */
static int closed_port(void)
{
    vt_server s = {0};
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    int port = s.port;
    vt_server_stop(&s);
    return port;
}

/* A value of some /proc/self/status line ("VmHWM:", "VmRSS:"), in KiB. */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long kib = -1;
    while (kib < 0 && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kib = atol(line + strlen(field));
    fclose(f);
    assert_true(kib >= 0);
    return kib;
}

/* Sets this process's peak RSS (VmHWM) back to its RSS now (proc(5), clear_refs "5"). */
static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    assert_non_null(f);
    assert_int_equal(fputs("5", f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/*
 * A batch over maxPendingBytes is refused at the door, before a byte of it is copied: its peak
 * RSS does not grow by the value, as it did when every command was encoded first (a copy of the
 * 64 MiB value, then the refusal). Over maxPending likewise, whole.
 * On a closed port, so that what is pending stays pending.
 */
static void test_refused_before_copy(void **state)
{
    (void)state;
    if (vt_tls_mode() || vt_cluster_mode() != NULL) {
        skip(); /* no server at all: the plain run covers it */
        return;
    }
    enum { BIG = 64 << 20 };
    char conf[160];
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,abortConnect=false,maxPending=3,maxPendingBytes=1048576,"
             "asyncTimeout=60000",
             closed_port());
    vmux *m = vt_open_conf(conf);
    struct vt_async a = {.done = false};
    assert_int_equal(
        vmux_call_async(m, NULL, 2, (const char *[]){"GET", "k"}, NULL, vt_on_async, &a),
        0); /* pending: the bytes bound applies from here on */
    char *value = malloc(BIG);
    assert_non_null(value);
    memset(value, 'v', BIG);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    assert_int_equal(
        vmux_batch_add(b, 3, (const char *[]){"SET", "k", value}, (const size_t[]){3, 1, BIG}), 0);
    free(value);

    reset_peak_rss();
    long before = status_kib("VmRSS:");
    int st[1];
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_batch_exec(m, &o, b, st, NULL), VMUX_ERR_BACKLOG_FULL);
    assert_int_equal(st[0], VMUX_ERR_BACKLOG_FULL);
    if (strstr(why, "are more than maxPendingBytes (1048576)") == NULL) /* its size, not one's */
        fail_msg("the refusal does not say the batch is too large: '%s'", why);
    assert_int_equal(vmux_batch_exec_async(m, NULL, b, never_called, NULL), VMUX_ERR_BACKLOG_FULL);
    long grown = status_kib("VmHWM:") - before;
    assert_true(grown < (BIG / 2) / 1024); /* no copy of the value was made */

    vmux_batch_clear(b); /* 1 pending + 3 > maxPending: refused whole */
    for (int i = 0; i < 3; i++)
        add(b, 2, (const char *[]){"GET", "k"});
    assert_int_equal(vmux_batch_exec_async(m, NULL, b, never_called, NULL), VMUX_ERR_BACKLOG_FULL);
    add(b, 2, (const char *[]){"GET", "k"}); /* 4 > maxPending, whatever is pending */
    assert_int_equal(vmux_batch_exec(m, &o, b, NULL, NULL), VMUX_ERR_BACKLOG_FULL);
    if (strstr(why, "4 commands at once are more than maxPending (3)") == NULL)
        fail_msg("the refusal does not say the batch is too large: '%s'", why);
    vmux_stats stats = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &stats), 0);
    assert_int_equal(stats.pending, 1); /* nothing of the refused batches is held */
    assert_int_equal(stats.refused, 4);
    vmux_batch_free(b);
    vmux_close(m);
    assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS));
    assert_int_equal(a.status, VMUX_ERR_CLOSED);
}

/*
 * The error buffer says of a batch's command what vmux_call() says of the same command: with no
 * server, that it timed out waiting for a connection, never sent, and the link's last connection
 * failure; the reply stays NULL (the words are the buffer's). It said only "command 0: timed out".
 * With VMUX_CALL_TELL_UNSENT, VMUX_ERR_NOT_CONNECTED's words say the deadline may be why.
 */
static void test_errbuf_as_call(void **state)
{
    (void)state;
    if (vt_tls_mode() || vt_cluster_mode() != NULL) {
        skip(); /* no server at all: the plain run covers it */
        return;
    }
    char conf[160];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false", closed_port());
    vmux *m = vt_open_conf(conf);
    char said[512] = "", why[600] = "", want[600];
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 300, .errbuf = said, .errlen = sizeof said);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, &o, 2, (const char *[]){"GET", "k"}, NULL, &r), VMUX_ERR_TIMEOUT);
    assert_null(r);
    assert_non_null(strstr(said, "(never sent); last connection failure: "));

    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 2, (const char *[]){"GET", "k"});
    add(b, 3, (const char *[]){"SET", "k", "v"});
    int st[2];
    vmux_reply *rep[2];
    o.errbuf = why;
    o.errlen = sizeof why;
    assert_int_equal(vmux_batch_exec(m, &o, b, st, rep), VMUX_ERR_TIMEOUT);
    snprintf(want, sizeof want, "command 0: %s", said);
    assert_string_equal(why, want);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(st[i], VMUX_ERR_TIMEOUT);
        assert_null(rep[i]);
    }
    why[0] = '\0';
    assert_int_equal(vmux_batch_exec(m, &o, b, NULL, NULL), VMUX_ERR_TIMEOUT);
    assert_string_equal(why, want);

    /* Told unsent, the words say the deadline passed first: "no connection is ready" was all it
     * said, also of the commands of a large batch left unwritten on a ready connection. */
    o.flags = VMUX_CALL_TELL_UNSENT;
    assert_int_equal(vmux_batch_exec(m, &o, b, st, NULL), VMUX_ERR_NOT_CONNECTED);
    assert_int_equal(st[1], VMUX_ERR_NOT_CONNECTED);
    assert_non_null(strstr(why, "command 0: not sent: no connection was ready, or its deadline "
                                "passed first; last connection failure: "));
    vmux_batch_free(b);
    vmux_close(m);
}

/* VMUX_CALL_BLOCKING is refused, with nothing sent: it spread the batch's commands over the
 * blocking pool's connections, one each, and they arrived out of order. */
static void test_blocking_flag_refused(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char key[96], why[320] = "";
    key_of(key, sizeof key, "blocking", 0);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 2, (const char *[]){"DEL", key});
    assert_int_equal(vmux_batch_exec(m, NULL, b, NULL, NULL), 0);
    vmux_batch_clear(b);
    for (int i = 0; i < 20; i++)
        add(b, 3, (const char *[]){"RPUSH", key, "x"});
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_BLOCKING, .errbuf = why, .errlen = sizeof why);
    int st[20];
    vmux_reply *rep[20];
    assert_int_equal(vmux_batch_exec(m, &o, b, st, rep), VMUX_ERR_INVALID_ARG);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(st[i], VMUX_ERR_INVALID_ARG);
        assert_null(rep[i]);
    }
    /* the batch's option, not command 0, is to blame: it said "command 0: invalid argument"
     * (review helper-235 F4) */
    if (strstr(why, "invalid argument: opts->flags has VMUX_CALL_BLOCKING, which a batch "
                    "refuses") != why)
        fail_msg("the words: %s", why);
    assert_int_equal(vmux_batch_exec(NULL, &o, b, st, rep), VMUX_ERR_INVALID_ARG);
    assert_string_equal(why, "invalid argument: the handle is NULL");
    assert_int_equal(vmux_batch_exec_async(m, &o, b, never_called, NULL), VMUX_ERR_INVALID_ARG);
    if (strstr(why, "invalid argument: opts->flags has VMUX_CALL_BLOCKING") != why)
        fail_msg("the async words: %s", why);
    /* other bad options are the batch's too, not command 0's (review helper-240) */
    o.flags = 0;
    o.timeout_ms = -1;
    assert_int_equal(vmux_batch_exec(m, &o, b, st, rep), VMUX_ERR_INVALID_ARG);
    assert_string_equal(why, "invalid argument: opts->timeout_ms is negative (-1)");
    o.timeout_ms = 0;
    o.flags = 1u << 30; /* no such flag */
    assert_int_equal(vmux_batch_exec(m, &o, b, st, rep), VMUX_ERR_INVALID_ARG);
    if (strstr(why, "invalid argument: opts->flags has bits this call does not take") != why)
        fail_msg("the words: %s", why);
    o.flags = 0;
    assert_int_equal(vmux_batch_exec(m, &o, NULL, st, rep), VMUX_ERR_INVALID_ARG);
    assert_string_equal(why, "invalid argument: b is NULL");
    assert_int_equal(vmux_batch_exec_async(NULL, &o, b, never_called, NULL), VMUX_ERR_INVALID_ARG);
    assert_string_equal(why, "invalid argument: the handle is NULL");
    assert_int_equal(vt_exists(m, key), 0);
    vmux_batch_free(b);
    vmux_close(m);
}

static void check_box(struct box *x, const char *key)
{
    assert_true(vt_wait_until(box_done, x, WAIT_MS));
    assert_int_equal(x->n, 3);
    assert_int_equal(x->status[0], 0);
    assert_int_equal(x->status[1], 0);
    assert_int_equal(x->status[2], VMUX_ERR_SERVER);
    assert_str_reply(x->reply[0], "OK");
    assert_str_reply(x->reply[1], key);
    assert_non_null(strstr(vmux_reply_str(x->reply[2], NULL), "WRONGTYPE"));
    free_replies(x->reply, 3);
}

static vmux_batch *async_batch(const char *key)
{
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 3, (const char *[]){"SET", key, key});
    add(b, 2, (const char *[]){"GET", key});
    add(b, 2, (const char *[]){"HLEN", key});
    return b;
}

/*
 * An async batch's callback has no error buffer, and one vmux_last_error() for all its commands:
 * each command that failed unsent carries its own words in its reply, an error reply holding what
 * vmux_batch_exec() puts in its error buffer for it. No server and backlogSize=1: the first
 * command waits in the backlog and times out, never sent; the two behind it find the backlog
 * full. Each names the link's last connection failure. Their replies were NULL, the words lost.
 */
static void test_async_words(void **state)
{
    (void)state;
    if (vt_tls_mode() || vt_cluster_mode() != NULL) {
        skip(); /* no server at all: the plain run covers it */
        return;
    }
    int port = closed_port();
    char conf[160], said[640] = "", failure[96];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false,backlogSize=1", port);
    vmux *m = vt_open_conf(conf);
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 300, .errbuf = said, .errlen = sizeof said);
    vmux_reply *r = NULL; /* after it, the link has a failure to tell */
    assert_int_equal(vmux_call(m, &o, 2, (const char *[]){"GET", "k"}, NULL, &r), VMUX_ERR_TIMEOUT);
    snprintf(failure, sizeof failure, "; last connection failure: 127.0.0.1:%d: ", port);
    assert_non_null(strstr(said, failure));

    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 2, (const char *[]){"GET", "k"});
    add(b, 3, (const char *[]){"SET", "k", "v"});
    add(b, 2, (const char *[]){"INCR", "n"});
    struct box bx = {.done = false};
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 300);
    assert_int_equal(vmux_batch_exec_async(m, &quick, b, box_cb, &bx), 0);
    vmux_batch_free(b);
    assert_true(vt_wait_until(box_done, &bx, WAIT_MS));
    assert_int_equal(bx.n, 3);
    assert_int_equal(bx.status[0], VMUX_ERR_TIMEOUT);
    assert_words(bx.reply[0], "timed out waiting for a connection (never sent)", failure);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(bx.status[i], VMUX_ERR_BACKLOG_FULL);
        assert_words(bx.reply[i],
                     "too many commands pending; never sent: the backlog holds backlogSize (1) "
                     "commands waiting for a connection",
                     failure);
    }
    free_replies(bx.reply, 3);
    vmux_close(m);
}

/*
 * The deadline runs from the exec call's entry, so the time spent encoding counts: a batch of a
 * 64 MiB SET with a 1 ms timeout (copying 64 MiB takes longer than that on any machine) times out
 * before it is written, and never runs. Measured from after encoding, it was written (at once,
 * through the direct lane or by the I/O thread) and ran; EXISTS tells. Sync and async; with
 * VMUX_CALL_TELL_UNSENT it fails VMUX_ERR_NOT_CONNECTED.
 */
static void test_deadline_covers_encoding(void **state)
{
    (void)state;
    enum { BIG = 64 << 20 };
    vmux *m = vt_open("plain", NULL);
    char key[96];
    key_of(key, sizeof key, "encoding", 0);
    char *value = malloc(BIG);
    assert_non_null(value);
    memset(value, 'v', BIG);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    assert_int_equal(vmux_batch_add(b, 3, (const char *[]){"SET", key, value},
                                    (const size_t[]){3, strlen(key), BIG}),
                     0);
    free(value);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"DEL", key}, NULL, &r), 0);
    vmux_reply_free(r);
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 1);
    int st[1];
    assert_int_equal(vmux_batch_exec(m, &quick, b, st, NULL), VMUX_ERR_TIMEOUT);
    assert_int_equal(vt_exists(m, key), 0);

    struct box bx = {.done = false};
    assert_int_equal(vmux_batch_exec_async(m, &quick, b, box_cb, &bx), 0);
    assert_true(vt_wait_until(box_done, &bx, WAIT_MS));
    assert_int_equal(bx.status[0], VMUX_ERR_TIMEOUT);
    assert_words(bx.reply[0], "timed out", ""); /* its words, not a reply (test_async_words) */
    vmux_reply_free(bx.reply[0]);
    assert_int_equal(vt_exists(m, key), 0);

    /* Told unsent, it says it was never sent: VMUX_ERR_TIMEOUT would mean "written, outcome
     * unknown" (call.h), which it said when its deadline passed before it reached the I/O thread.
     */
    quick.flags = VMUX_CALL_TELL_UNSENT;
    assert_int_equal(vmux_batch_exec(m, &quick, b, st, NULL), VMUX_ERR_NOT_CONNECTED);
    assert_int_equal(vt_exists(m, key), 0);
    vmux_batch_free(b);
    vmux_close(m);
}

static void test_async_from_thread(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char key[64];
    key_of(key, sizeof key, "async", 0);
    vmux_batch *b = async_batch(key);
    struct box x = {.done = false};
    assert_int_equal(vmux_batch_exec_async(m, NULL, b, box_cb, &x), 0);
    vmux_batch_free(b); /* copied: freeing it now changes nothing */
    check_box(&x, key);
    vmux_close(m);
}

/* From a callback on the I/O thread: the async form works, the synchronous one refuses (every
 * status set to the refusal's code). */
struct from_cb {
    vmux *m;
    vmux_batch *b, *one;
    struct box x;
    int rc, sync_rc, sync_status;
};

static void ping_done(int status, vmux_reply *reply, void *userdata)
{
    struct from_cb *f = userdata;
    (void)status;
    vmux_reply_free(reply);
    vmux_reply *rep = (vmux_reply *)f;
    f->sync_rc = vmux_batch_exec(f->m, NULL, f->one, &f->sync_status, &rep);
    if (rep != NULL)
        f->sync_status = 1; /* not NULLed */
    f->rc = vmux_batch_exec_async(f->m, NULL, f->b, box_cb, &f->x);
}

static void test_async_from_callback(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char key[64];
    key_of(key, sizeof key, "fromcb", 0);
    struct from_cb f = {.m = m, .b = async_batch(key), .rc = 1, .sync_status = 1};
    assert_int_equal(vmux_batch_new(&f.one), 0);
    add(f.one, 1, (const char *[]){"PING"});
    assert_int_equal(vmux_call_async(m, NULL, 1, (const char *[]){"PING"}, NULL, ping_done, &f), 0);
    check_box(&f.x, key);
    assert_int_equal(f.rc, 0);
    assert_int_equal(f.sync_rc, VMUX_ERR_INVALID_ARG);
    assert_int_equal(f.sync_status, VMUX_ERR_INVALID_ARG);
    vmux_batch_free(f.one);
    vmux_batch_free(f.b);
    vmux_close(m);
}

/* Threads running batches at once: each writes its own keys and reads them back in the same
 * batch (one key's commands go to one connection, in batch order), and runs a shared batch. */
struct worker {
    vmux *m;
    const vmux_batch *shared;
    int id;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    vmux_batch *b = NULL;
    if (vmux_batch_new(&b) != 0)
        return (void *)1;
    char key[64], val[64];
    int st[2 * PAIRS];
    vmux_reply *rep[2 * PAIRS];
    for (int round = 0; round < ROUNDS; round++) {
        vmux_batch_clear(b);
        for (int i = 0; i < PAIRS; i++) {
            snprintf(key, sizeof key, "batch:%d:t%d:%d", (int)getpid(), w->id, i);
            snprintf(val, sizeof val, "%d-%d-%d", w->id, round, i);
            const char *set[] = {"SET", key, val};
            const char *get[] = {"GET", key};
            w->failures += vmux_batch_add(b, 3, set, NULL) != 0;
            w->failures += vmux_batch_add(b, 2, get, NULL) != 0;
        }
        if (vmux_batch_exec(w->m, NULL, b, st, rep) != 0)
            w->failures++;
        for (int i = 0; i < PAIRS; i++) {
            snprintf(val, sizeof val, "%d-%d-%d", w->id, round, i);
            const char *got = st[2 * i + 1] == 0 ? vmux_reply_str(rep[2 * i + 1], NULL) : NULL;
            w->failures += got == NULL || strcmp(got, val) != 0;
        }
        free_replies(rep, 2 * PAIRS);
        w->failures += vmux_batch_exec(w->m, NULL, w->shared, NULL, NULL) != 0;
    }
    vmux_batch_free(b);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_batch *shared = NULL;
    assert_int_equal(vmux_batch_new(&shared), 0);
    add(shared, 1, (const char *[]){"PING"});
    add(shared, 2, (const char *[]){"ECHO", "shared"});
    pthread_t t[NTHREADS];
    struct worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.m = m, .shared = shared, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
        assert_int_equal(w[i].failures, 0);
    }
    vmux_batch_free(shared);
    vmux_close(m);
}

/* One thread's batches (through the direct lane whenever it is alone) while another keeps the
 * I/O thread busy with async commands, which takes the connection back from the batch's reading
 * (LANE_TAKING): every batch still reads back its own writes, in order. */
struct pinger {
    vmux *m;
    atomic_bool stop;
    atomic_long answered;
    long sent;
};

static void pinged(int status, vmux_reply *reply, void *userdata)
{
    struct pinger *p = userdata;
    vmux_reply_free(reply);
    if (status == 0)
        atomic_fetch_add(&p->answered, 1);
}

/* At most this many PINGs in flight: an unbounded flood fills maxPending (faster than TLS
 * drains it), and the batches are then refused at the door with VMUX_ERR_BACKLOG_FULL, rightly. */
enum { PINGS_IN_FLIGHT = 256 };

static void *pinger_main(void *arg)
{
    struct pinger *p = arg;
    while (!atomic_load(&p->stop)) {
        if (p->sent - atomic_load(&p->answered) >= PINGS_IN_FLIGHT) {
            sched_yield();
            continue;
        }
        if (vmux_call_async(p->m, NULL, 1, (const char *[]){"PING"}, NULL, pinged, p) == 0)
            p->sent++;
        if ((p->sent & 63) == 0)
            sched_yield();
    }
    return NULL;
}

static bool all_answered(void *arg)
{
    struct pinger *p = arg;
    return atomic_load(&p->answered) == p->sent;
}

static void test_lane_contended(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    struct pinger p = {.m = m, .stop = false};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pinger_main, &p), 0);
    struct worker w = {.m = m, .id = 100};
    vmux_batch *shared = NULL;
    assert_int_equal(vmux_batch_new(&shared), 0);
    add(shared, 1, (const char *[]){"PING"});
    w.shared = shared;
    assert_null(worker_main(&w));
    atomic_store(&p.stop, true);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.failures, 0);
    assert_true(vt_wait_until(all_answered, &p, WAIT_MS));
    vmux_batch_free(shared);
    vmux_close(m);
}

/* Cluster: keys over every shard, each on its own slot's primary, with no MOVED followed. */
static void test_cluster_spread(void **state)
{
    (void)state;
    enum { N = 300 };
    const char *cluster = vt_cluster_mode();
    if (cluster == NULL) {
        skip();
        return;
    }
    vmux *m = vt_open("plain", NULL);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 1, (const char *[]){"PING"}, NULL, &r), 0);
    vmux_reply_free(r);
    vmux_stats before = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &before), 0);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    char key[64];
    for (int i = 0; i < N; i++)
        add(b, 3, (const char *[]){"SET", key_of(key, sizeof key, "spread", i), "x"});
    assert_int_equal(vmux_batch_exec(m, NULL, b, NULL, NULL), 0);
    vmux_stats after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &after), 0);
    assert_int_equal(after.cluster_moved, before.cluster_moved);

    /* Each primary holds its own share (KEYS lists only a node's own keys), all N in all. */
    char pattern[64];
    snprintf(pattern, sizeof pattern, "batch:%d:spread:*", (int)getpid());
    int total = 0, holders = 0;
    for (int i = 0; i < vt_cluster_size(cluster); i++) {
        int port = vt_cluster_port(cluster, i);
        if (!vt_node_is_primary(port))
            continue;
        redisReply *kr = vt_node_command(port, false, "KEYS %s", pattern);
        assert_non_null(kr);
        assert_int_equal(kr->type, REDIS_REPLY_ARRAY);
        total += (int)kr->elements;
        holders += kr->elements > 0;
        freeReplyObject(kr);
    }
    assert_int_equal(total, N);
    assert_int_equal(holders, vt_cluster_primaries(cluster));
    drop_keys(m, b, "spread", N);
    vmux_batch_free(b);
    vmux_close(m);
}

/* A command whose own keys span two slots fails alone; standalone it simply runs. */
static void test_crossslot_alone(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char a[64], x[64], y[64];
    key_of(a, sizeof a, "cs", 0);
    snprintf(x, sizeof x, "{batch-x}%d", (int)getpid()); /* slots of "batch-x" and "batch-y" */
    snprintf(y, sizeof y, "{batch-y}%d", (int)getpid());
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 3, (const char *[]){"SET", a, "1"});
    add(b, 5, (const char *[]){"MSET", x, "1", y, "2"});
    add(b, 2, (const char *[]){"GET", a});
    add(b, 3, (const char *[]){"DEL", x, y});
    int st[4];
    vmux_reply *rep[4];
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int rc = vmux_batch_exec(m, &o, b, st, rep);
    assert_int_equal(st[0], 0);
    assert_int_equal(st[2], 0);
    assert_str_reply(rep[2], "1");
    if (vt_cluster_mode() != NULL) {
        assert_int_equal(rc, VMUX_ERR_CROSSSLOT);
        assert_int_equal(st[1], VMUX_ERR_CROSSSLOT);
        assert_int_equal(st[3], VMUX_ERR_CROSSSLOT);
        assert_int_equal(vmux_reply_get_kind(rep[1]), VMUX_REPLY_ERROR);
        assert_non_null(strstr(vmux_reply_str(rep[1], NULL), x));
        assert_non_null(strstr(why, "command 1: "));
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(st[1], 0);
        assert_int_equal(st[3], 0);
    }
    free_replies(rep, 4);
    /* Every command crossing slots: the batch still completes, each with its own code. */
    vmux_batch_clear(b);
    add(b, 5, (const char *[]){"MSET", x, "1", y, "2"});
    add(b, 3, (const char *[]){"DEL", x, y});
    assert_int_equal(vmux_batch_exec(m, NULL, b, st, NULL),
                     vt_cluster_mode() != NULL ? VMUX_ERR_CROSSSLOT : 0);
    struct box bx = {.done = false};
    assert_int_equal(vmux_batch_exec_async(m, NULL, b, box_cb, &bx), 0);
    assert_true(vt_wait_until(box_done, &bx, WAIT_MS));
    assert_int_equal(bx.n, 2);
    assert_int_equal(bx.status[0], vt_cluster_mode() != NULL ? VMUX_ERR_CROSSSLOT : 0);
    free_replies(bx.reply, 2);
    vmux_batch_free(b);
    vmux_close(m);
}

/* A message callback that holds the I/O thread until released (or 60 s passed). */
struct hold_io {
    atomic_bool entered;
    bool release;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void on_hold_message(const vmux_message *msg, void *userdata)
{
    (void)msg;
    struct hold_io *h = userdata;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->entered, true);
    int rc = 0;
    while (!h->release && rc == 0)
        rc = pthread_cond_timedwait(&h->cv, &h->mu, &until);
    pthread_mutex_unlock(&h->mu);
}

static void release_io(struct hold_io *h)
{
    pthread_mutex_lock(&h->mu);
    h->release = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static bool io_held(void *arg)
{
    return atomic_load(&((struct hold_io *)arg)->entered);
}

/*
 * A batch whose every command crosses slots holds vmux_drain() until its callback ran: its parts
 * are control ops, which nothing counted, and the drain returned 0 at once. The I/O thread is
 * held in a message callback meanwhile, so that the parts cannot run before the drain looks.
 */
static void test_crossslot_drain(void **state)
{
    (void)state;
    if (vt_cluster_mode() == NULL)
        skip(); /* no slots: nothing crosses them */
    vmux *m = vt_open("plain", NULL);
    char ch[64], x[64], y[64];
    snprintf(ch, sizeof ch, "batch-hold-%d", (int)getpid());
    snprintf(x, sizeof x, "{batch-x}%d", (int)getpid());
    snprintf(y, sizeof y, "{batch-y}%d", (int)getpid());
    struct hold_io h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    vmux_sub *sub = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(ch), on_hold_message, &h, &sub),
                     0);
    assert_int_equal(vmux_sub_wait_live(sub, WAIT_MS), 0);
    free(vt_admin("plain", "PUBLISH %s hold", ch)); /* not through m: its reply could be held */
    assert_true(vt_wait_until(io_held, &h, WAIT_MS));
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    add(b, 5, (const char *[]){"MSET", x, "1", y, "2"});
    add(b, 3, (const char *[]){"DEL", x, y});
    struct box bx = {.done = false};
    assert_int_equal(vmux_batch_exec_async(m, NULL, b, box_cb, &bx), 0);
    assert_int_equal(vmux_drain(m, 100), VMUX_ERR_TIMEOUT); /* 0 without: nothing counted it */
    release_io(&h);
    assert_int_equal(vmux_drain(m, WAIT_MS), 0);
    assert_true(atomic_load(&bx.done)); /* its callback ran before the drain returned */
    assert_int_equal(bx.status[0], VMUX_ERR_CROSSSLOT);
    assert_int_equal(bx.status[1], VMUX_ERR_CROSSSLOT);
    free_replies(bx.reply, 2);
    vmux_batch_free(b);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_in_order),
        cmocka_unit_test(test_one_and_thousand),
        cmocka_unit_test(test_large_and_many),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_argument_words),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_closed_while_waiting),
        cmocka_unit_test(test_async_from_thread),
        cmocka_unit_test(test_async_from_callback),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_lane_contended),
        cmocka_unit_test(test_cluster_spread),
        cmocka_unit_test(test_crossslot_alone),
        cmocka_unit_test(test_crossslot_drain),
        cmocka_unit_test(test_refused_before_copy),
        cmocka_unit_test(test_deadline_covers_encoding),
        cmocka_unit_test(test_errbuf_as_call),
        cmocka_unit_test(test_async_words),
        cmocka_unit_test(test_blocking_flag_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
