/*
 * Scripts: EVALSHA with EVAL fallback, surviving SCRIPT FLUSH, synchronously and
 * asynchronously (one callback per run, with the final outcome); errors, and an error buffer that
 * a recovered NOSCRIPT leaves untouched (a conditional transaction's too); binary arguments.
 * Functions: FUNCTION LOAD [REPLACE], DELETE and FLUSH through their helpers reach every primary
 * (FCALL and FCALL_RO on keys of every shard work), the server's errors, refused input.
 */
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

#include "faultproxy.h"
#include "testutil.h"
#include "vmux/vmux.h"

static int setup(void **state)
{
    *state = vt_open("plain", NULL);
    return 0;
}

static int teardown(void **state)
{
    vmux_close(*state);
    return 0;
}

static const char SRC[] = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";

/* SCRIPT FLUSH on the server (on every primary of a cluster). */
static void script_flush(void)
{
    free(vt_admin_all("plain", "SCRIPT FLUSH"));
}

/* Whether the server (in a cluster, some primary: the one that ran it) has the script. */
static bool script_exists(const vmux_script *s)
{
    char *exists = vt_admin_all("plain", "SCRIPT EXISTS %s", vmux_script_sha1(s));
    assert_non_null(exists);
    bool yes = strchr(exists, '1') != NULL;
    free(exists);
    return yes;
}

static vmux_stats stats_of(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st;
}

static void test_sha1_is_computed_locally(void **state)
{
    (void)state;
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR("return 1"), &s), 0);
    /* sha1("return 1"), as SCRIPT LOAD would report it */
    assert_string_equal(vmux_script_sha1(s), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    vmux_script_free(s);
    assert_int_equal(vmux_script_new(VMUX_STRN("", 0), &s), VMUX_ERR_INVALID_ARG);
    /* it takes no error buffer: its words are in vmux_last_error() (error.h) */
    VT_LAST_ERROR(vmux_script_new(VMUX_STRN("", 0), &s), VMUX_ERR_INVALID_ARG,
                  "invalid argument: source is empty: a script needs its Lua source");
    VT_LAST_ERROR(vmux_script_new(VMUX_STRN(NULL, 4), &s), VMUX_ERR_INVALID_ARG,
                  "invalid argument: source is at NULL with length 4 (a vmux_str {NULL, len > 0} "
                  "is no string)");
    VT_LAST_ERROR(vmux_script_new(VMUX_STR("return 1"), NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: out is NULL");
    VT_LAST_ERROR(vmux_script_new(VMUX_STR("return 1"), &s), 0, "");
    vmux_script_free(s);
    /* NULL takes NULL, as for every getter (it read through NULL: UBSan in the sanitizer build) */
    assert_null(vmux_script_sha1(NULL));
    vmux_script_free(NULL);
}

static void test_runs_and_survives_script_flush(void **state)
{
    vmux *m = *state;
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR(SRC), &s), 0);
    vmux_str keys[] = {VMUX_STR("scr:k")};
    vmux_str args[] = {VMUX_STRN("v\0one", 5)};
    vmux_reply *r;
    assert_int_equal(vmux_script_run(m, NULL, s, keys, 1, args, 1, &r), 0);
    size_t len;
    assert_memory_equal(vmux_reply_str(r, &len), "v\0one", 5);
    assert_int_equal(len, 5);
    vmux_reply_free(r);
    /* the server forgets every script; the next run loads it again by itself, and the NOSCRIPT
     * it met on the way is no failure: the error buffer stays as it was (call.h) */
    script_flush();
    assert_false(script_exists(s));
    args[0] = VMUX_STR("two");
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    vmux_stats before = stats_of(m);
    assert_int_equal(vmux_script_run(m, &o, s, keys, 1, args, 1, &r), 0);
    assert_string_equal(vmux_reply_str(r, NULL), "two");
    assert_string_equal(why, "");
    vmux_reply_free(r);
    /* the counters count commands, not runs (reliability.md): the EVALSHA and the EVAL */
    vmux_stats after = stats_of(m);
    assert_int_equal(after.submitted - before.submitted, 2);
    assert_int_equal(after.replied - before.replied, 2);
    assert_true(script_exists(s));
    vmux_script_free(s);
}

static void test_script_errors(void **state)
{
    vmux *m = *state;
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR("return redis.call('NOSUCHCOMMAND')"), &s), 0);
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    vmux_reply *r;
    assert_int_equal(vmux_script_run(m, &o, s, NULL, 0, NULL, 0, &r), VMUX_ERR_SERVER);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ERROR);
    assert_non_null(strstr(why, "Unknown") ? why : strstr(why, "unknown"));
    vmux_reply_free(r);
    /* loaded now: the error comes from the EVALSHA itself, and still reaches the buffer */
    why[0] = '\0';
    assert_int_equal(vmux_script_run(m, &o, s, NULL, 0, NULL, 0, &r), VMUX_ERR_SERVER);
    assert_non_null(strstr(why, "Unknown") ? why : strstr(why, "unknown"));
    vmux_reply_free(r);
    if (vt_cluster_mode() != NULL) {
        /* keys in two slots: refused before the EVALSHA is sent, in the router's words */
        vmux_str two[] = {VMUX_STR("scr:{a}"), VMUX_STR("scr:{b}")};
        why[0] = '\0';
        assert_int_equal(vmux_script_run(m, &o, s, two, 2, NULL, 0, &r), VMUX_ERR_CROSSSLOT);
        assert_null(r);
        assert_non_null(strstr(why, "scr:{a}"));
    }
    assert_int_equal(vmux_script_run(m, NULL, s, NULL, 1, NULL, 0, &r), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_script_run(m, NULL, NULL, NULL, 0, NULL, 0, &r), VMUX_ERR_INVALID_ARG);
    vmux_script_free(s);
}

/*
 * A transaction with a condition runs as a generated script (transaction.h): after SCRIPT FLUSH
 * it is loaded again as any script is, and its error buffer stays as it was. Here rather than in
 * the transaction tests, as SCRIPT FLUSH runs alone (CMakeLists.txt).
 */
static void test_conditional_tx_after_script_flush(void **state)
{
    vmux *m = *state;
    const char *set[] = {"SET", "scr:{t}:k", "v"};
    script_flush(); /* so the EVALSHA of the generated script is answered NOSCRIPT */
    vmux_tx *tx = NULL;
    assert_int_equal(vmux_tx_new(&tx), 0);
    assert_int_equal(vmux_tx_when_not_exists(tx, VMUX_STR("scr:{t}:none")), 0);
    assert_int_equal(vmux_tx_add(tx, 3, set, NULL), 0);
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    bool committed = false;
    assert_int_equal(vmux_tx_exec(m, &o, tx, &committed, NULL), 0);
    assert_true(committed);
    assert_string_equal(why, "");
    vmux_tx_free(tx);
}

/* ---- one deadline for the whole run, through a fault proxy ---- */

/*
 * Each byte is held this long by the proxy, each way, and a run gets 3 times as long: the
 * EVALSHA's NOSCRIPT is back after 2 * HOLD_MS (HOLD_MS before the deadline), while the EVAL
 * after it needs 2 * HOLD_MS more (HOLD_MS past the deadline). Without one deadline for both
 * sends, the EVAL would get the whole 3 * HOLD_MS of its own, and the run would succeed.
 */
enum { HOLD_MS = 300, RUN_MS = 3 * HOLD_MS };

static int proxy_setup(void **state)
{
    return vt_proxied_setup(state, "");
}

/*
 * One deadline covers a run (script.h): with slow replies, the EVAL after a NOSCRIPT gets what
 * is left of it, so the run fails with VMUX_ERR_TIMEOUT by its deadline, a conditional
 * transaction (run as a script) too. The counters count the EVAL as a command of its own: two
 * submitted, the NOSCRIPT replied, the EVAL timed out.
 */
static void test_one_deadline_covers_the_run(void **state)
{
    VT_SKIP_ON_CLUSTER("the fault proxy stands in front of the seed node only");
    struct vt_proxied *p = *state;
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR(SRC), &s), 0);
    vmux_str keys[] = {VMUX_STR("scr:slow")};
    vmux_str args[] = {VMUX_STR("v")};
    char why[256] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = RUN_MS, .errbuf = why, .errlen = sizeof why);
    script_flush();
    assert_false(script_exists(s)); /* so the EVALSHA is answered NOSCRIPT */
    assert_int_equal(vt_proxy_set_mode(p->proxy, VT_PROXY_DELAY, HOLD_MS), 0);
    vmux_stats before = stats_of(p->m);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_script_run(p->m, &o, s, keys, 1, args, 1, &r), VMUX_ERR_TIMEOUT);
    assert_null(r);
    /* written, and left unanswered by the delaying proxy: which server, and that it may have run */
    if (strncmp(why, "timed out: written to 127.0.0.1:", 32) != 0 ||
        strstr(why, "not answered in time, so it may have run") == NULL)
        fail_msg("the run's words: %s", why);
    vmux_stats after = stats_of(p->m);
    assert_int_equal(after.submitted - before.submitted, 2);
    assert_int_equal(after.replied - before.replied, 1);
    assert_int_equal(after.error_replies - before.error_replies, 1); /* the NOSCRIPT */
    assert_int_equal(after.timed_out - before.timed_out, 1);

    const char *set[] = {"SET", "scr:slow:tx", "v"};
    vmux_tx *tx = NULL;
    assert_int_equal(vmux_tx_new(&tx), 0);
    assert_int_equal(vmux_tx_when_not_exists(tx, VMUX_STR("scr:slow:none")), 0);
    assert_int_equal(vmux_tx_add(tx, 3, set, NULL), 0);
    script_flush(); /* the generated script too is unknown to the server */
    bool committed = true;
    assert_int_equal(vmux_tx_exec(p->m, &o, tx, &committed, NULL), VMUX_ERR_TIMEOUT);
    assert_false(committed);
    vmux_tx_free(tx);
    vmux_script_free(s);
}

/* Long enough for a sanitizer build on a busy machine: these tests are about outcomes. */
enum { WAIT_MS = 60000 };

/* What an asynchronous run's callback saw: how often it ran, and what it got the first time. */
struct seen {
    atomic_int runs;
    int status;
    int kind; /* vmux_reply_kind, or -1 for no reply */
    size_t len;
    char text[128];
};

static void seen_cb(int status, vmux_reply *r, void *userdata)
{
    struct seen *seen = userdata;
    if (atomic_load(&seen->runs) == 0) {
        size_t len = 0;
        const char *s = r != NULL ? vmux_reply_str(r, &len) : NULL;
        seen->status = status;
        seen->kind = r != NULL ? (int)vmux_reply_get_kind(r) : -1;
        seen->len = len;
        if (s != NULL)
            memcpy(seen->text, s, len < sizeof seen->text ? len : sizeof seen->text);
    }
    vmux_reply_free(r);
    atomic_fetch_add(&seen->runs, 1); /* last: the fields above are written when runs reads 1 */
}

static bool ran(void *arg)
{
    return atomic_load(&((struct seen *)arg)->runs) > 0;
}

static void test_async_runs_after_script_flush(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR(SRC), &s), 0);
    script_flush();
    assert_false(script_exists(s)); /* so the EVALSHA is answered NOSCRIPT */
    char key[] = "scr:async", value[] = "v\0async";
    vmux_str keys[] = {VMUX_STRN(key, sizeof key - 1)};
    vmux_str args[] = {VMUX_STRN(value, sizeof value - 1)};
    struct seen first = {0}, second = {0};
    assert_int_equal(vmux_script_run_async(m, NULL, s, keys, 1, args, 1, seen_cb, &first), 0);
    /* The run keeps its own copies: the EVAL it sends after NOSCRIPT must not read these. */
    memset(key, 'x', sizeof key - 1);
    memset(value, 'x', sizeof value - 1);
    bool done = vt_wait_until(ran, &first, WAIT_MS);
    args[0] = VMUX_STR("again"); /* the script is loaded now: EVALSHA alone */
    keys[0] = VMUX_STR("scr:async");
    int rc2 = vmux_script_run_async(m, NULL, s, keys, 1, args, 1, seen_cb, &second);
    bool done2 = rc2 == 0 && vt_wait_until(ran, &second, WAIT_MS);
    vmux_close(m); /* joins the I/O thread: a second run of a callback would be counted by now */

    assert_true(done);
    assert_int_equal(atomic_load(&first.runs), 1);
    assert_int_equal(first.status, 0);
    assert_int_equal(first.kind, VMUX_REPLY_STRING);
    assert_int_equal(first.len, 7);
    assert_memory_equal(first.text, "v\0async", 7);
    assert_true(script_exists(s)); /* the EVAL loaded it */
    assert_int_equal(rc2, 0);
    assert_true(done2);
    assert_int_equal(atomic_load(&second.runs), 1);
    assert_int_equal(second.status, 0);
    assert_int_equal(second.len, 5);
    assert_memory_equal(second.text, "again", 5);
    vmux_script_free(s);
}

static void test_async_script_errors(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR("return redis.call('NOSUCHCOMMAND')"), &s), 0);
    script_flush(); /* NOSCRIPT first, then the script's own error */
    struct seen failed = {0}, refused = {0};
    assert_int_equal(vmux_script_run_async(m, NULL, s, NULL, 0, NULL, 0, seen_cb, &failed), 0);
    bool done = vt_wait_until(ran, &failed, WAIT_MS);
    /* Refused runs never call back. */
    vmux_callopts bad_flags = VMUX_INIT(vmux_callopts, .flags = 0x80);
    vmux_callopts unsized = {0};
    int r1 = vmux_script_run_async(m, NULL, s, NULL, 1, NULL, 0, seen_cb, &refused);
    int r2 = vmux_script_run_async(m, NULL, s, NULL, 0, NULL, 1, seen_cb, &refused);
    int r3 = vmux_script_run_async(m, NULL, NULL, NULL, 0, NULL, 0, seen_cb, &refused);
    int r4 = vmux_script_run_async(m, NULL, s, NULL, 0, NULL, 0, NULL, &refused);
    int r5 = vmux_script_run_async(m, &bad_flags, s, NULL, 0, NULL, 0, seen_cb, &refused);
    int r6 = vmux_script_run_async(m, &unsized, s, NULL, 0, NULL, 0, seen_cb, &refused);
    int r7 = vmux_script_run_async(NULL, NULL, s, NULL, 0, NULL, 0, seen_cb, &refused);
    vmux_close(m);

    assert_true(done);
    assert_int_equal(atomic_load(&failed.runs), 1);
    assert_int_equal(failed.status, VMUX_ERR_SERVER);
    assert_int_equal(failed.kind, VMUX_REPLY_ERROR);
    failed.text[sizeof failed.text - 1] = '\0';
    assert_true(strncmp(failed.text, "NOSCRIPT", 8) != 0);
    assert_non_null(strstr(failed.text, "nknown"));
    int refusals[] = {r1, r2, r3, r4, r5, r6, r7};
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        assert_int_equal(refusals[i], VMUX_ERR_INVALID_ARG);
    assert_int_equal(atomic_load(&refused.runs), 0);
    vmux_script_free(s);
}

/* ---- a script's own error: its reply, not the server's "did not run" ---- */

/*
 * The errors a script (or function) returns after its INCR: the first word of each is one the
 * server sends before running anything (a "not now", a redirect), the rest its own words; the
 * redirects name slot 0, not the key's ({a}: 15495), and a real node (%d: the seed's port).
 */
static const char *const own_errors[] = {
    "TRYAGAIN raised by the script after its write",
    "LOADING raised by the script after its write",
    "MASTERDOWN raised by the script after its write",
    "CLUSTERDOWN raised by the script after its write",
    "READONLY raised by the script after its write",
    "MOVED 0 127.0.0.1:%d",
    "ASK 0 127.0.0.1:%d",
};

static const char OWN_KEY[] = "{a}scr:own";

/* The key's counter: how many times the script ran since own_reset(). */
static long long own_runs(vmux *m)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"GET", OWN_KEY}, NULL, &r), 0);
    const char *text = vmux_reply_str(r, NULL);
    long long n = text != NULL ? atoll(text) : 0;
    vmux_reply_free(r);
    return n;
}

static void own_reset(vmux *m)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"DEL", OWN_KEY}, NULL, &r), 0);
    vmux_reply_free(r);
}

/* Checks one run that answered err's text (rc, r, why): VMUX_ERR_SERVER with the script's words,
 * never "not executed", and the script ran exactly once. */
static void assert_own_error(vmux *m, const char *how, const char *err, int rc, vmux_reply *r,
                             const char *why)
{
    if (rc != VMUX_ERR_SERVER || r == NULL || vmux_reply_get_kind(r) != VMUX_REPLY_ERROR ||
        strcmp(vmux_reply_str(r, NULL), err) != 0)
        fail_msg("%s returning '%s': %s, '%s'", how, err, vmux_err_name(rc), why);
    assert_non_null(strstr(why, err));
    assert_null(strstr(why, "not executed"));
    long long runs = own_runs(m);
    if (runs != 1)
        fail_msg("%s returning '%s' ran %lld times: %s", how, err, runs, why);
}

/*
 * A script or function that writes, then returns redis.error_reply('TRYAGAIN ...') (or LOADING,
 * MASTERDOWN, CLUSTERDOWN, a MOVED or ASK naming another slot) ran: its error is its reply, not
 * the server's refusal, so it is neither sent again nor redirected (core/script_err.h).
 */
static void test_script_own_busy_errors(void **state)
{
    vmux *m = *state;
    vmux_script *s;
    assert_int_equal(vmux_script_new(VMUX_STR("redis.call('INCR', KEYS[1]) "
                                              "return redis.error_reply(ARGV[1])"),
                                     &s),
                     0);
    const char *lib = "#!lua name=vmuxown\n"
                      "redis.register_function('vmuxown_err', function(keys, args)\n"
                      "  redis.call('INCR', keys[1]) return redis.error_reply(args[1]) end)\n";
    assert_int_equal(vmux_function_load(m, NULL, VMUX_STR(lib), true, NULL), 0);
    int port = vt_server_port("plain");
    for (size_t i = 0; i < sizeof(own_errors) / sizeof(own_errors[0]); i++) {
        char err[128], why[512];
        snprintf(err, sizeof err, own_errors[i], port);
        vmux_callopts o =
            VMUX_INIT(vmux_callopts, .timeout_ms = 3000, .errbuf = why, .errlen = sizeof why);
        vmux_str key = VMUX_STR(OWN_KEY), arg = VMUX_STR(err);
        vmux_reply *r = NULL;
        own_reset(m);
        why[0] = '\0';
        int rc = vmux_script_run(m, &o, s, &key, 1, &arg, 1, &r);
        assert_own_error(m, "a script", err, rc, r, why);
        vmux_reply_free(r);
        r = NULL;
        own_reset(m);
        why[0] = '\0';
        const char *fcall[] = {"FCALL", "vmuxown_err", "1", OWN_KEY, err};
        rc = vmux_call(m, &o, 5, fcall, NULL, &r);
        assert_own_error(m, "FCALL", err, rc, r, why);
        vmux_reply_free(r);
    }
    assert_int_equal(vmux_function_delete(m, NULL, VMUX_STR("vmuxown")), 0);
    vmux_script_free(s);
}

/* ---- functions: FUNCTION LOAD, DELETE and FLUSH on every primary ---- */

/*
 * A library of version v: vmuxfn_set key value (SET, returns "v<v>"), vmuxfn_get key (no-writes:
 * for FCALL_RO) and vmuxfn_version (keyless, no-writes: any node runs it, to ask each primary).
 */
static const char *fn_library(int v)
{
    static char code[512];
    snprintf(code, sizeof code,
             "#!lua name=vmuxfn\n"
             "redis.register_function('vmuxfn_set', function(keys, args)\n"
             "  redis.call('SET', keys[1], args[1]) return 'v%d' end)\n"
             "redis.register_function{function_name='vmuxfn_get', flags={'no-writes'},\n"
             "  callback=function(keys, args) return redis.call('GET', keys[1]) end}\n"
             "redis.register_function{function_name='vmuxfn_version', flags={'no-writes'},\n"
             "  callback=function() return %d end}\n",
             v, v);
    return code;
}

/* Whether every primary (the server, standalone) answers vmuxfn_version with want ("1", or
 * "ERR Function not found" when none should have it), asked behind the library's back. */
static bool fn_everywhere(const char *want)
{
    char *text = vt_admin_all("plain", "FCALL_RO vmuxfn_version 0");
    assert_non_null(text);
    int lines = 1;
    for (const char *c = text; *c != '\0'; c++)
        lines += *c == '\n';
    bool all = vt_lines_equal(text, want) == lines;
    if (!all)
        print_message("vmuxfn_version on the primaries: %s\n", text);
    free(text);
    return all;
}

/* A command through vmux_call(), routed as any command is: its status, errbuf why. */
static int call(vmux *m, char *why, size_t whylen, int argc, const char **argv, vmux_reply **r)
{
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = whylen);
    why[0] = '\0';
    return vmux_call(m, &o, argc, argv, NULL, r);
}

/* FCALL vmuxfn_set and FCALL_RO vmuxfn_get on 60 keys, spread over every shard of a cluster:
 * each works, and the set returns "v<v>". */
static void fn_calls_everywhere(vmux *m, int v)
{
    char want[8];
    snprintf(want, sizeof want, "v%d", v);
    for (int i = 0; i < 60; i++) {
        char key[32], why[256];
        snprintf(key, sizeof key, "fn:%d", i);
        const char *set[] = {"FCALL", "vmuxfn_set", "1", key, key};
        const char *get[] = {"FCALL_RO", "vmuxfn_get", "1", key};
        vmux_reply *r = NULL;
        if (call(m, why, sizeof why, 5, set, &r) != 0)
            fail_msg("FCALL on %s: %s", key, why);
        assert_string_equal(vmux_reply_str(r, NULL), want);
        vmux_reply_free(r);
        if (call(m, why, sizeof why, 4, get, &r) != 0)
            fail_msg("FCALL_RO on %s: %s", key, why);
        assert_string_equal(vmux_reply_str(r, NULL), key);
        vmux_reply_free(r);
    }
}

/* errbuf of a primary's server error: "host:port: <message> (N of the other M primaries
 * succeeded...)" on a cluster (others: those words, NULL to not check them), the message alone
 * on a standalone server (as any typed command's). */
static void assert_server_said(const char *why, const char *message, const char *others)
{
    if (vt_cluster_mode() == NULL) {
        assert_string_equal(why, message);
        return;
    }
    const char *said = strstr(why, ": ");
    assert_true(strncmp(why, "127.0.0.1:", 10) == 0);
    assert_non_null(said);
    size_t n = strlen(message);
    if (strncmp(said + 2, message, n) != 0 || strncmp(said + 2 + n, " (", 2) != 0 ||
        strstr(said + 2 + n, " primaries succeeded") == NULL ||
        (others != NULL && strcmp(said + 2 + n + 1, others) != 0))
        fail_msg("expected '%s' then the other primaries' outcome%s%s, got '%s'", message,
                 others != NULL ? ": " : "", others != NULL ? others : "", why);
}

/*
 * The library is loaded on every primary, so FCALL and FCALL_RO work on keys of every shard
 * (through vmux_call, FUNCTION LOAD reaches one primary: the others answer "Function not found").
 * Without REPLACE a library that exists is refused, by the primary that has it; with REPLACE it
 * is replaced everywhere.
 */
static void test_function_load_everywhere(void **state)
{
    vmux *m = *state;
    assert_int_equal(vmux_function_flush(m, NULL, VMUX_FLUSH_SYNC), 0);
    assert_true(fn_everywhere("ERR Function not found"));
    vmux_bytes lib;
    assert_int_equal(vmux_function_load(m, NULL, VMUX_STR(fn_library(1)), false, &lib), 0);
    assert_string_equal(lib.ptr, "vmuxfn");
    assert_int_equal(lib.len, 6);
    vmux_bytes_free(&lib);
    fn_calls_everywhere(m, 1);
    assert_true(fn_everywhere("1"));

    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    lib = (vmux_bytes){(char *)"stale", 5};
    assert_int_equal(vmux_function_load(m, &o, VMUX_STR(fn_library(2)), false, &lib),
                     VMUX_ERR_SERVER);
    assert_null(lib.ptr);
    assert_server_said(why, "ERR Library 'vmuxfn' already exists",
                       "(none of the other 2 primaries succeeded)");
    assert_true(fn_everywhere("1"));
    assert_int_equal(vmux_function_load(m, &o, VMUX_STR(fn_library(2)), true, NULL), 0);
    assert_true(fn_everywhere("2"));
    fn_calls_everywhere(m, 2);
    assert_int_equal(vmux_function_flush(m, NULL, VMUX_FLUSH_DEFAULT), 0);
}

/*
 * A library that one primary has (FUNCTION LOAD through vmux_call) is refused by it without
 * REPLACE, its address in errbuf; REPLACE loads it on every primary.
 */
static void test_function_load_where_one_has_it(void **state)
{
    vmux *m = *state;
    assert_int_equal(vmux_function_flush(m, NULL, VMUX_FLUSH_DEFAULT), 0);
    char why[256];
    const char *load[] = {"FUNCTION", "LOAD", fn_library(1)};
    vmux_reply *r = NULL;
    assert_int_equal(call(m, why, sizeof why, 3, load, &r), 0);
    vmux_reply_free(r);
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_function_load(m, &o, VMUX_STR(fn_library(1)), false, NULL),
                     VMUX_ERR_SERVER);
    assert_server_said(why, "ERR Library 'vmuxfn' already exists",
                       "(2 of the other 2 primaries succeeded: it ran there)");
    vmux_bytes lib;
    assert_int_equal(vmux_function_load(m, &o, VMUX_STR(fn_library(1)), true, &lib), 0);
    assert_string_equal(lib.ptr, "vmuxfn");
    vmux_bytes_free(&lib);
    assert_true(fn_everywhere("1"));
    fn_calls_everywhere(m, 1);
    assert_int_equal(vmux_function_flush(m, NULL, VMUX_FLUSH_DEFAULT), 0);
}

/*
 * FUNCTION DELETE deletes the library from every primary, also when some lacked it (deleted
 * through vmux_call from one primary first: on a standalone server, that was the only one);
 * a library that no primary has is the server's error.
 */
static void test_function_delete(void **state)
{
    vmux *m = *state;
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_function_flush(m, NULL, VMUX_FLUSH_DEFAULT), 0);
    assert_int_equal(vmux_function_load(m, NULL, VMUX_STR(fn_library(1)), false, NULL), 0);
    assert_int_equal(vmux_function_delete(m, &o, VMUX_STR("vmuxfn")), 0);
    assert_true(fn_everywhere("ERR Function not found"));
    const char *set[] = {"FCALL", "vmuxfn_set", "1", "fn:gone", "x"};
    vmux_reply *r = NULL;
    assert_int_equal(call(m, why, sizeof why, 5, set, &r), VMUX_ERR_SERVER);
    assert_string_equal(why, "ERR Function not found");
    vmux_reply_free(r);
    assert_int_equal(vmux_function_delete(m, &o, VMUX_STR("vmuxfn")), VMUX_ERR_SERVER);
    assert_server_said(why, "ERR Library not found", "(none of the other 2 primaries succeeded)");

    assert_int_equal(vmux_function_load(m, NULL, VMUX_STR(fn_library(1)), false, NULL), 0);
    const char *del[] = {"FUNCTION", "DELETE", "vmuxfn"};
    assert_int_equal(call(m, why, sizeof why, 3, del, &r), 0);
    vmux_reply_free(r);
    why[0] = '\0';
    int rc = vmux_function_delete(m, &o, VMUX_STR("vmuxfn"));
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(rc, VMUX_ERR_SERVER);
        assert_string_equal(why, "ERR Library not found");
    } else {
        assert_int_equal(rc, 0); /* deleted where it was, missing elsewhere */
        assert_string_equal(why, "");
    }
    assert_true(fn_everywhere("ERR Function not found"));
}

/* FUNCTION FLUSH in each mode empties every primary. */
static void test_function_flush(void **state)
{
    vmux *m = *state;
    for (vmux_flush_mode mode = VMUX_FLUSH_DEFAULT; mode <= VMUX_FLUSH_ASYNC; mode++) {
        assert_int_equal(vmux_function_load(m, NULL, VMUX_STR(fn_library(mode)), true, NULL), 0);
        assert_true(fn_everywhere(mode == 0 ? "0" : mode == 1 ? "1" : "2"));
        assert_int_equal(vmux_function_flush(m, NULL, mode), 0);
        assert_true(fn_everywhere("ERR Function not found"));
    }
}

/* Code the server cannot load is its error, in errbuf; bad input is refused, nothing sent. */
static void test_function_errors(void **state)
{
    vmux *m = *state;
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    vmux_bytes lib = {(char *)"stale", 5};
    assert_int_equal(vmux_function_load(m, &o, VMUX_STR("return 1"), false, &lib), VMUX_ERR_SERVER);
    assert_null(lib.ptr);
    assert_int_equal(lib.len, 0);
    assert_server_said(why, "ERR Missing library metadata", NULL);
    assert_int_equal(
        vmux_function_load(m, &o, VMUX_STR("#!lua name=vmuxbad\nreturn nosuch("), true, &lib),
        VMUX_ERR_SERVER);
    assert_non_null(strstr(why, "ERR Error compiling function"));

    why[0] = '\0';
    lib = (vmux_bytes){(char *)"stale", 5};
    assert_int_equal(vmux_function_load(NULL, &o, VMUX_STR(fn_library(1)), false, &lib),
                     VMUX_ERR_INVALID_ARG);
    assert_null(lib.ptr);
    assert_int_equal(vmux_function_load(m, &o, VMUX_STRN(NULL, 5), false, &lib),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_function_delete(NULL, &o, VMUX_STR("vmuxfn")), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_function_delete(m, &o, VMUX_STRN(NULL, 3)), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_function_flush(NULL, &o, VMUX_FLUSH_DEFAULT), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_function_flush(m, &o, (vmux_flush_mode)-1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_function_flush(m, &o, (vmux_flush_mode)3), VMUX_ERR_INVALID_ARG);
    vmux_callopts unsized = {0};
    assert_int_equal(vmux_function_flush(m, &unsized, VMUX_FLUSH_DEFAULT), VMUX_ERR_INVALID_ARG);
    assert_true(fn_everywhere("ERR Function not found")); /* nothing was loaded */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_is_computed_locally),
        cmocka_unit_test_setup_teardown(test_runs_and_survives_script_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conditional_tx_after_script_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_own_busy_errors, setup, teardown),
        cmocka_unit_test(test_async_runs_after_script_flush),
        cmocka_unit_test(test_async_script_errors),
        cmocka_unit_test_setup_teardown(test_one_deadline_covers_the_run, proxy_setup,
                                        vt_proxied_teardown),
        cmocka_unit_test_setup_teardown(test_function_load_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_load_where_one_has_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
