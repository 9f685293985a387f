/*
 * Transactions: MULTI ... EXEC blocks never interleave with other threads' commands; conditions
 * decide atomically whether the commands run; errors inside and before the block.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

static void add(vmux_tx *tx, const char *a, const char *b, const char *c)
{
    const char *argv[] = {a, b, c};
    assert_int_equal(vmux_tx_add(tx, c ? 3 : b ? 2 : 1, argv, NULL), 0);
}

static const char *str_at(const vmux_reply *r, size_t i)
{
    return vmux_reply_str(vmux_reply_element(r, i), NULL);
}

static void test_block_returns_each_reply(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_tx *tx;
    assert_int_equal(vmux_tx_new(&tx), 0);
    add(tx, "SET", "tx:{a}:k", "v1");
    add(tx, "INCR", "tx:{a}:n", NULL);
    add(tx, "GET", "tx:{a}:k", NULL);
    add(tx, "GET", "tx:{a}:missing", NULL);
    free(vt_admin("plain", "DEL tx:{a}:n"));
    bool committed = false;
    vmux_reply *r;
    assert_int_equal(vmux_tx_exec(m, NULL, tx, &committed, &r), 0);
    assert_true(committed);
    assert_int_equal(vmux_reply_len(r), 4);
    assert_string_equal(str_at(r, 0), "OK");
    assert_int_equal(vmux_reply_integer(vmux_reply_element(r, 1)), 1);
    assert_string_equal(str_at(r, 2), "v1");
    assert_int_equal(vmux_reply_get_kind(vmux_reply_element(r, 3)), VMUX_REPLY_NIL);
    vmux_reply_free(r);
    vmux_tx_free(tx);
    vmux_close(m);
}

struct worker {
    vmux *m;
    int id;
    atomic_int *bad;
};

/* Each transaction sets a key to a value naming its thread and round, then reads it back:
 * another thread's command inside the block would show up as a foreign value or reply. */
static void *tx_worker(void *arg)
{
    struct worker *w = arg;
    char key[32], val[32];
    snprintf(key, sizeof key, "tx:{b}:%d", w->id);
    for (int i = 0; i < 300; i++) {
        snprintf(val, sizeof val, "t%d:%d", w->id, i);
        vmux_tx *tx;
        vmux_tx_new(&tx);
        const char *set[] = {"SET", key, val}, *get[] = {"GET", key}, *echo[] = {"ECHO", val};
        vmux_tx_add(tx, 3, set, NULL);
        vmux_tx_add(tx, 2, get, NULL);
        vmux_tx_add(tx, 2, echo, NULL);
        bool committed;
        vmux_reply *r = NULL;
        int rc = vmux_tx_exec(w->m, NULL, tx, &committed, &r);
        if (rc != 0 || !committed || vmux_reply_len(r) != 3 || strcmp(str_at(r, 1), val) != 0 ||
            strcmp(str_at(r, 2), val) != 0)
            atomic_fetch_add(w->bad, 1);
        vmux_reply_free(r);
        vmux_tx_free(tx);
        /* plain commands from the same thread mix with other threads' blocks */
        vmux_bytes v;
        vmux_get(w->m, NULL, VMUX_STR(key), &v);
        vmux_bytes_free(&v);
    }
    return NULL;
}

static void test_blocks_never_interleave(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    atomic_int bad = 0;
    struct worker w[16];
    pthread_t t[16];
    for (int i = 0; i < 16; i++) {
        w[i] = (struct worker){m, i, &bad};
        pthread_create(&t[i], NULL, tx_worker, &w[i]);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&bad), 0);
    vmux_close(m);
}

static void test_conditions(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    free(vt_admin("plain", "DEL tx:{c}:k tx:{c}:out tx:{c}:h tx:{c}:l"));
    free(vt_admin("plain", "SET tx:{c}:k expected"));
    free(vt_admin("plain", "HSET tx:{c}:h f 1"));
    free(vt_admin("plain", "RPUSH tx:{c}:l a b c"));
    vmux_tx *tx;
    assert_int_equal(vmux_tx_new(&tx), 0);
    assert_int_equal(vmux_tx_when_equal(tx, VMUX_STR("tx:{c}:k"), VMUX_STR("expected")), 0);
    assert_int_equal(vmux_tx_when_exists(tx, VMUX_STR("tx:{c}:k")), 0);
    assert_int_equal(vmux_tx_when_not_exists(tx, VMUX_STR("tx:{c}:none")), 0);
    assert_int_equal(
        vmux_tx_when_hash_equal(tx, VMUX_STR("tx:{c}:h"), VMUX_STR("f"), VMUX_STR("1")), 0);
    assert_int_equal(vmux_tx_when_hash_exists(tx, VMUX_STR("tx:{c}:h"), VMUX_STR("f")), 0);
    assert_int_equal(vmux_tx_when_hash_not_exists(tx, VMUX_STR("tx:{c}:h"), VMUX_STR("g")), 0);
    assert_int_equal(
        vmux_tx_when_length(tx, VMUX_LENGTH_LIST, VMUX_STR("tx:{c}:l"), VMUX_CMP_EQ, 3), 0);
    add(tx, "SET", "tx:{c}:out", "ran");
    add(tx, "GET", "tx:{c}:none", NULL);
    add(tx, "INCR", "tx:{c}:k", NULL); /* fails inside: not an integer */
    bool committed = false;
    vmux_reply *r;
    assert_int_equal(vmux_tx_exec(m, NULL, tx, &committed, &r), 0);
    assert_true(committed);
    assert_int_equal(vmux_reply_len(r), 3);
    assert_string_equal(str_at(r, 0), "OK");
    assert_int_equal(vmux_reply_get_kind(vmux_reply_element(r, 1)), VMUX_REPLY_NIL);
    assert_int_equal(vmux_reply_get_kind(vmux_reply_element(r, 2)), VMUX_REPLY_ERROR);
    vmux_reply_free(r);
    char *out = vt_admin("plain", "GET tx:{c}:out");
    assert_string_equal(out, "ran");
    free(out);

    /* the same transaction once a condition no longer holds: nothing runs */
    free(vt_admin("plain", "DEL tx:{c}:out"));
    free(vt_admin("plain", "SET tx:{c}:k changed"));
    assert_int_equal(vmux_tx_exec(m, NULL, tx, &committed, &r), 0);
    assert_false(committed);
    assert_null(r);
    out = vt_admin("plain", "EXISTS tx:{c}:out");
    assert_string_equal(out, "0");
    free(out);
    vmux_tx_free(tx);
    vmux_close(m);
}

/*
 * A conditional transaction on a replica (a demoted primary, a lone replica endpoint): refused
 * whole with READONLY, nothing run and committed false, as MULTI is; it ran with every write's
 * READONLY caught inside and reported committed.
 */
static void test_conditional_on_replica(void **state)
{
    (void)state;
    VT_SKIP_ON_CLUSTER("a standalone replica of its own");
    const char *const extra[] = {"--replicaof", "127.0.0.1", "1", NULL}; /* no primary there */
    vt_server *replica = vt_server_new(extra);
    assert_non_null(replica);
    vmux *m = vt_server_open(replica, NULL);
    vmux_tx *tx;
    assert_int_equal(vmux_tx_new(&tx), 0);
    assert_int_equal(vmux_tx_when_not_exists(tx, VMUX_STR("tx:{r}:none")), 0);
    add(tx, "INCR", "tx:{r}:n", NULL);
    add(tx, "SET", "tx:{r}:out", "ran");
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    bool committed = true;
    vmux_reply *r = NULL;
    assert_int_equal(vmux_tx_exec(m, &o, tx, &committed, &r), VMUX_ERR_SERVER);
    assert_false(committed);
    assert_non_null(strstr(err, "READONLY"));
    vmux_reply_free(r);
    vmux_tx_free(tx);
    vmux_close(m);
    vt_server_stop(replica);
    free(replica);
}

/*
 * A conditional transaction declares every command's keys, however many arguments it has: an
 * MSET of 40 pairs (81 arguments) in another slot than the condition's key is refused whole on a
 * cluster (VMUX_ERR_CROSSSLOT, nothing run) and committed on a standalone server. Past 64
 * arguments its keys went undeclared: the script ran on the condition's node, the MSET failed
 * inside it and the transaction reported committed.
 */
static void test_conditional_declares_long_commands(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    free(vt_admin("plain", "SET tx:{c}:long yes"));
    free(vt_admin("plain", "DEL tx:{l}:0 tx:{l}:39"));
    vmux_tx *tx;
    assert_int_equal(vmux_tx_new(&tx), 0);
    assert_int_equal(vmux_tx_when_exists(tx, VMUX_STR("tx:{c}:long")), 0);
    const char *argv[81];
    char keys[40][16];
    argv[0] = "MSET";
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof keys[i], "tx:{l}:%d", i);
        argv[1 + 2 * i] = keys[i];
        argv[2 + 2 * i] = "v";
    }
    assert_int_equal(vmux_tx_add(tx, 81, argv, NULL), 0);
    add(tx, "SET", "tx:{c}:out", "ran");
    bool committed = false;
    vmux_reply *r = NULL;
    int rc = vmux_tx_exec(m, NULL, tx, &committed, &r);
    char *last = vt_admin("plain", "EXISTS tx:{l}:39");
    if (vt_cluster_mode() != NULL) {
        assert_int_equal(rc, VMUX_ERR_CROSSSLOT);
        assert_false(committed);
        assert_string_equal(last, "0");
    } else {
        assert_int_equal(rc, 0);
        assert_true(committed);
        assert_string_equal(last, "1");
    }
    free(last);
    vmux_reply_free(r);
    vmux_tx_free(tx);
    vmux_close(m);
}

/*
 * A command the key table does not know: its keys are asked of the server (COMMAND GETKEYS), and
 * one the server does not know either refuses the transaction before anything runs, as MULTI's
 * EXECABORT does; it ran the other commands and reported committed.
 */
static void test_conditional_unknown_command(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    free(vt_admin("plain", "SET tx:{u}:k yes"));
    free(vt_admin("plain", "DEL tx:{u}:out"));
    vmux_tx *tx;
    assert_int_equal(vmux_tx_new(&tx), 0);
    assert_int_equal(vmux_tx_when_exists(tx, VMUX_STR("tx:{u}:k")), 0);
    add(tx, "SET", "tx:{u}:out", "ran");
    add(tx, "NOSUCHCOMMAND", "tx:{u}:k", NULL);
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    bool committed = true;
    vmux_reply *r = NULL;
    assert_int_equal(vmux_tx_exec(m, &o, tx, &committed, &r), VMUX_ERR_SERVER);
    assert_false(committed);
    assert_null(r);
    assert_non_null(strstr(why, "nvalid command"));
    char *out = vt_admin("plain", "EXISTS tx:{u}:out");
    assert_string_equal(out, "0");
    free(out);
    vmux_tx_free(tx);
    vmux_close(m);
}

/* A refused vmux_tx_new(), vmux_tx_add() or condition says which argument broke which rule in
 * vmux_last_error() (they take no error buffer), naming it as transaction.h does; a success
 * clears it. */
static void test_argument_words(void **state)
{
    (void)state;
    vmux_tx *tx = NULL;
    const char *get[] = {"GET", NULL}, *ping[] = {"PING"};
    const vmux_str k = VMUX_STR("k"), none = VMUX_STRN(NULL, 2);
    const char *no_string = " is at NULL with length 2 (a vmux_str {NULL, len > 0} is no string)";
    char words[128];
    VT_LAST_ERROR(vmux_tx_new(NULL), VMUX_ERR_INVALID_ARG, "invalid argument: out is NULL");
    VT_LAST_ERROR(vmux_tx_new(&tx), 0, "");
    VT_LAST_ERROR(vmux_tx_add(NULL, 1, ping, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: tx is NULL");
    VT_LAST_ERROR(vmux_tx_add(tx, 1, NULL, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: argv is NULL");
    VT_LAST_ERROR(vmux_tx_add(tx, 0, ping, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: argc is 0 (a command has at least its name)");
    VT_LAST_ERROR(vmux_tx_add(tx, 2, get, (size_t[]){3, 1}), VMUX_ERR_INVALID_ARG,
                  "invalid argument: argv[1] is NULL with a length");
    /* a command it refuses is named, with why */
    VT_LAST_ERROR(vmux_tx_add(tx, 2, (const char *[]){"SELECT", "1"}, NULL), VMUX_ERR_UNSUPPORTED,
                  "this command cannot run on a shared, multiplexed connection: SELECT: it would "
                  "move every caller to another database: open a handle with defaultDatabase=N");
    VT_LAST_ERROR(vmux_tx_add(tx, 3, (const char *[]){"BRPOP", "k", "1"}, NULL),
                  VMUX_ERR_UNSUPPORTED,
                  "this command cannot run on a shared, multiplexed connection: BRPOP blocks on "
                  "the server: inside MULTI the server answers it at once, as if its block had "
                  "ended");
    VT_LAST_ERROR(vmux_tx_add(tx, 3, (const char *[]){"WAIT", "1", "0"}, NULL),
                  VMUX_ERR_UNSUPPORTED,
                  "this command cannot run on a shared, multiplexed connection: WAIT waits for "
                  "replicas: inside MULTI the server answers it at once without waiting "
                  "(vmux_wait() after the transaction)");
    VT_LAST_ERROR(vmux_tx_when_exists(NULL, k), VMUX_ERR_INVALID_ARG,
                  "invalid argument: tx is NULL");
    snprintf(words, sizeof words, "invalid argument: key%s", no_string);
    VT_LAST_ERROR(vmux_tx_when_not_exists(tx, none), VMUX_ERR_INVALID_ARG, words);
    snprintf(words, sizeof words, "invalid argument: value%s", no_string);
    VT_LAST_ERROR(vmux_tx_when_equal(tx, k, none), VMUX_ERR_INVALID_ARG, words);
    snprintf(words, sizeof words, "invalid argument: field%s", no_string);
    VT_LAST_ERROR(vmux_tx_when_hash_exists(tx, k, none), VMUX_ERR_INVALID_ARG, words);
    VT_LAST_ERROR(vmux_tx_when_length(tx, (vmux_length_of)9, k, VMUX_CMP_EQ, 1),
                  VMUX_ERR_INVALID_ARG, "invalid argument: kind is 9: none of vmux_length_of");
    VT_LAST_ERROR(vmux_tx_when_length(tx, VMUX_LENGTH_LIST, k, (vmux_cmp)-1, 1),
                  VMUX_ERR_INVALID_ARG, "invalid argument: cmp is -1: none of vmux_cmp");
    VT_LAST_ERROR(vmux_tx_when_length(tx, VMUX_LENGTH_LIST, k, VMUX_CMP_GT, 1), 0, "");
    VT_LAST_ERROR(vmux_tx_add(tx, 1, ping, NULL), 0, "");
    vmux_tx_free(tx);
}

static void test_bad_block_and_arguments(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_tx *tx;
    assert_int_equal(vmux_tx_new(&tx), 0);
    bool committed = true;
    vmux_reply *r = (vmux_reply *)tx;
    assert_int_equal(vmux_tx_exec(m, NULL, tx, &committed, &r), VMUX_ERR_INVALID_ARG);
    assert_false(committed);
    assert_null(r);
    const char *multi[] = {"MULTI"}, *blpop[] = {"BLPOP", "k", "1"}, *wait[] = {"WAIT", "1", "1"};
    assert_int_equal(vmux_tx_add(tx, 1, multi, NULL), VMUX_ERR_UNSUPPORTED);
    assert_int_equal(vmux_tx_add(tx, 3, blpop, NULL), VMUX_ERR_UNSUPPORTED);
    assert_int_equal(vmux_tx_add(tx, 3, wait, NULL), VMUX_ERR_UNSUPPORTED); /* MULTI: no wait */
    assert_int_equal(vmux_tx_add(tx, 0, multi, NULL), VMUX_ERR_INVALID_ARG);
    /* a command the server refuses while queueing aborts the block: nothing runs */
    free(vt_admin("plain", "DEL tx:{d}:k"));
    add(tx, "SET", "tx:{d}:k", "x");
    add(tx, "NOSUCHCOMMAND", NULL, NULL);
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_tx_exec(m, &o, tx, &committed, &r), VMUX_ERR_SERVER);
    assert_false(committed);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ERROR);
    assert_non_null(strstr(why, "unknown command"));
    vmux_reply_free(r);
    char *exists = vt_admin("plain", "EXISTS tx:{d}:k");
    assert_string_equal(exists, "0");
    free(exists);
    /* the connection is still in step: a plain command gets its own reply */
    vmux_bytes v;
    assert_int_equal(vmux_get(m, NULL, VMUX_STR("tx:{d}:k"), &v), 0);
    assert_null(v.ptr);
    vmux_tx_free(tx);
    vmux_close(m);
}

/* The transaction suite's fixture: the cluster in cluster mode (in its TLS twin in TLS mode). */
static const char *cluster_name(char *name, size_t len)
{
    const char *cluster = vt_cluster_mode();
    if (cluster != NULL)
        snprintf(name, len, "%s%s", cluster, vt_tls_mode() ? "-tls" : "");
    return cluster != NULL ? name : NULL;
}

/*
 * Makes user, with every command but MULTI, and with the rules plus1 and plus2 (+incr, -incr...):
 * on the server, or on every node of the cluster in cluster mode (ACL rules are per node, and
 * the handle may connect to any of them). With plus1 NULL, deletes user instead.
 */
static void acl_user(const char *user, const char *plus1, const char *plus2)
{
    char name[64];
    const char *cluster = cluster_name(name, sizeof name);
    for (int i = 0; i < (cluster != NULL ? vt_cluster_size(cluster) : 1); i++) {
        int port = cluster != NULL ? vt_cluster_port(cluster, i) : vt_server_port("plain");
        char *r = plus1 != NULL ? vt_node_admin(port, vt_tls_mode(),
                                                "ACL SETUSER %s reset on >tx-pass ~* &* +@all "
                                                "-multi %s %s",
                                                user, plus1, plus2)
                                : vt_node_admin(port, vt_tls_mode(), "ACL DELUSER %s", user);
        if (r == NULL || (plus1 != NULL && strcmp(r, "OK") != 0))
            fail_msg("ACL SETUSER %s on %d: %s", user, port, r != NULL ? r : "(no reply)");
        free(r);
    }
}

/* A transaction of INCR and RPUSH run by user (acl_user() with plus1 and plus2); returns
 * vmux_tx_exec()'s code, its words in why and its replies in *r. */
static int tx_as(const char *user, const char *plus1, const char *plus2, char *why, size_t whylen,
                 bool *committed, vmux_reply **r)
{
    char extra[128];
    acl_user(user, plus1, plus2);
    snprintf(extra, sizeof extra, "user=%s,password=tx-pass", user);
    vmux *m = vt_open("plain", extra);
    vmux_tx *tx;
    assert_int_equal(vmux_tx_new(&tx), 0);
    add(tx, "INCR", "tx:{m}:n", NULL);
    add(tx, "RPUSH", "tx:{m}:log", "tx-1");
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = whylen);
    int rc = vmux_tx_exec(m, &o, tx, committed, r);
    /* the connection is still in step: a plain command gets its own reply */
    vmux_bytes v;
    assert_int_equal(vmux_get(m, NULL, VMUX_STR("tx:{m}:missing"), &v), 0);
    assert_null(v.ptr);
    vmux_tx_free(tx);
    vmux_close(m);
    acl_user(user, NULL, NULL);
    return rc;
}

/* Fails unless got, a vt_admin() reply to what, is want; frees it. */
static void expect_text(char *got, const char *what, const char *want)
{
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: '%s', expected '%s'", what, got != NULL ? got : "(no reply)", want);
    free(got);
}

/*
 * A user whose ACL refuses MULTI (NOPERM) but allows the commands: the block's commands ran one
 * by one, outside a transaction, and the outcome says so; it said the server had refused the
 * whole block (MULTI's NOPERM), which the documentation read as "nothing ran". When the commands
 * are refused too, nothing ran, and MULTI's error is the outcome as before.
 */
static void test_multi_refused(void **state)
{
    (void)state;
    free(vt_admin("plain", "DEL tx:{m}:n tx:{m}:log"));
    char why[512] = "";
    bool committed = true;
    vmux_reply *r = NULL;
    int rc = tx_as("vmuxtxnomulti", "+incr", "+rpush", why, sizeof why, &committed, &r);
    expect_text(vt_admin("plain", "GET tx:{m}:n"), "INCR's counter", "1");
    expect_text(vt_admin("plain", "LRANGE tx:{m}:log 0 -1"), "RPUSH's list", "tx-1");
    if (rc != VMUX_ERR_SERVER || strstr(why, "ran one by one outside a transaction") == NULL ||
        strncmp(why, "MULTI was refused (NOPERM", 25) != 0)
        fail_msg("MULTI refused, the commands ran: %s (%s)", vmux_err_name(rc), why);
    assert_false(committed);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ERROR);
    assert_string_equal(vmux_reply_str(r, NULL), why);
    vmux_reply_free(r);

    why[0] = '\0';
    rc = tx_as("vmuxtxnothing", "-incr", "-rpush", why, sizeof why, &committed, &r);
    expect_text(vt_admin("plain", "GET tx:{m}:n"), "INCR's counter", "1");
    if (rc != VMUX_ERR_SERVER || strncmp(why, "NOPERM", 6) != 0 || strstr(why, "multi") == NULL)
        fail_msg("MULTI and the commands refused: %s (%s)", vmux_err_name(rc), why);
    assert_false(committed);
    vmux_reply_free(r);
    free(vt_admin("plain", "DEL tx:{m}:n tx:{m}:log"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_returns_each_reply),
        cmocka_unit_test(test_blocks_never_interleave),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_conditional_on_replica),
        cmocka_unit_test(test_conditional_declares_long_commands),
        cmocka_unit_test(test_conditional_unknown_command),
        cmocka_unit_test(test_bad_block_and_arguments),
        cmocka_unit_test(test_argument_words),
        cmocka_unit_test(test_multi_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
