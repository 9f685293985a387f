/*
 * The public API's edges against a real server: NULL and bad arguments to every call,
 * vmux_command's format strings, server error replies (distinct from transport errors), the
 * reply accessors on every kind of reply, the error-code table, and the version.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

static int setup_handle(void **state)
{
    *state = vt_open("plain", NULL);
    return *state ? 0 : -1;
}

static int teardown_handle(void **state)
{
    vmux_close(*state);
    return 0;
}

static void unique_key(char *buf, size_t size, const char *what)
{
    snprintf(buf, size, "args:%d:%s", (int)getpid(), what);
}

/* A callback for submissions that must be refused: it must never run. */
static atomic_int refused_runs;

static void refused_cb(int status, vmux_reply *reply, void *userdata)
{
    (void)status;
    (void)userdata;
    vmux_reply_free(reply);
    atomic_fetch_add(&refused_runs, 1);
}

/* ---- bad arguments ---- */

static void test_call_bad_arguments(void **state)
{
    vmux *m = *state;
    const char *ping[] = {"PING"};
    const char *holes[] = {"ECHO", NULL};
    vmux_reply *marker = (vmux_reply *)&refused_runs; /* never dereferenced */
    vmux_reply *r = marker;
    assert_int_equal(vmux_call(NULL, NULL, 1, ping, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    r = marker;
    assert_int_equal(vmux_call(m, NULL, 0, ping, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    r = marker;
    assert_int_equal(vmux_call(m, NULL, -1, ping, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    r = marker;
    assert_int_equal(vmux_call(m, NULL, 1, NULL, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    r = marker;
    assert_int_equal(vmux_call(m, NULL, 2, holes, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    assert_int_equal(vmux_call(m, NULL, 1, ping, NULL, NULL), VMUX_ERR_INVALID_ARG);

    /* The error buffer names what was refused. */
    const size_t lens[] = {4, 3};
    struct {
        vmux *m;
        int argc;
        const char *const *argv;
        const size_t *argvlen;
        bool out;
        const char *words;
    } cases[] = {
        {NULL, 1, ping, NULL, true, "invalid argument: the handle is NULL"},
        {m, 1, ping, NULL, false,
         "invalid argument: out is NULL (vmux_call_forget() is the call "
         "that drops its reply)"},
        {m, 0, ping, NULL, true, "invalid argument: argc is 0 (a command has at least its name)"},
        {m, 1, NULL, NULL, true, "invalid argument: argv is NULL"},
        {m, 2, holes, NULL, true,
         "invalid argument: argv[1] is NULL (argvlen is NULL: every argument a C string)"},
        {m, 2, holes, lens, true, "invalid argument: argv[1] is NULL with a length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[160] = "";
        vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
        r = NULL;
        assert_int_equal(vmux_call(cases[i].m, &o, cases[i].argc, cases[i].argv, cases[i].argvlen,
                                   cases[i].out ? &r : NULL),
                         VMUX_ERR_INVALID_ARG);
        assert_string_equal(err, cases[i].words);
    }
    struct {
        vmux_callopts o;
        const char *words;
    } bad[] = {
        {VMUX_INIT(vmux_callopts, .flags = 1u << 30),
         "invalid argument: opts->flags has bits this call does not take (0x40000000)"},
        {VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PRIMARY | VMUX_CALL_PREFER_REPLICA),
         "invalid argument: opts->flags has two of VMUX_CALL_PRIMARY, VMUX_CALL_REPLICA and "
         "VMUX_CALL_PREFER_REPLICA (one at most)"},
        {VMUX_INIT(vmux_callopts, .timeout_ms = -1),
         "invalid argument: opts->timeout_ms is negative (-1)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[160] = "";
        bad[i].o.errbuf = err;
        bad[i].o.errlen = sizeof err;
        assert_int_equal(vmux_call(m, &bad[i].o, 2, holes, NULL, &r), VMUX_ERR_INVALID_ARG);
        assert_string_equal(err, bad[i].words); /* the options, checked before argv */
    }

    /* The handle still works after all that. */
    r = NULL;
    assert_int_equal(vmux_call(m, NULL, 1, ping, NULL, &r), 0);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STATUS);
    assert_string_equal(vmux_reply_str(r, NULL), "PONG");
    vmux_reply_free(r);
}

static void test_async_and_forget_bad_arguments(void **state)
{
    vmux *m = *state;
    const char *ping[] = {"PING"};
    vmux_callopts flagged = VMUX_INIT(vmux_callopts, .flags = 0x80); /* not a VMUX_CALL_* flag */
    atomic_store(&refused_runs, 0);
    assert_int_equal(vmux_call_async(NULL, NULL, 1, ping, NULL, refused_cb, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_call_async(m, NULL, 1, ping, NULL, NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_call_async(m, NULL, 0, ping, NULL, refused_cb, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_call_async(m, NULL, 1, NULL, NULL, refused_cb, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_call_async(m, &flagged, 1, ping, NULL, refused_cb, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_call_forget(NULL, NULL, 1, ping, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_call_forget(m, NULL, 0, ping, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_call_forget(m, NULL, 1, NULL, NULL), VMUX_ERR_INVALID_ARG);

    /* The error buffer names what was refused, in vmux_call()'s words (no callback runs). */
    const char *holes[] = {"ECHO", NULL};
    const char *sub[] = {"SUBSCRIBE", "c"};
    struct {
        vmux *m;
        vmux_callopts o;
        int argc;
        const char *const *argv;
        bool cb;
        int rc;
        const char *words;
    } cases[] = {
        {NULL, VMUX_INIT(vmux_callopts), 1, ping, true, VMUX_ERR_INVALID_ARG,
         "invalid argument: the handle is NULL"},
        {m, VMUX_INIT(vmux_callopts), 1, ping, false, VMUX_ERR_INVALID_ARG,
         "invalid argument: cb is NULL"},
        {m, VMUX_INIT(vmux_callopts), 0, ping, true, VMUX_ERR_INVALID_ARG,
         "invalid argument: argc is 0 (a command has at least its name)"},
        {m, VMUX_INIT(vmux_callopts), 2, holes, true, VMUX_ERR_INVALID_ARG,
         "invalid argument: argv[1] is NULL (argvlen is NULL: every argument a C string)"},
        {m, flagged, 1, ping, true, VMUX_ERR_INVALID_ARG,
         "invalid argument: opts->flags has bits this call does not take (0x80)"},
        {m, VMUX_INIT(vmux_callopts, .timeout_ms = -1), 1, ping, true, VMUX_ERR_INVALID_ARG,
         "invalid argument: opts->timeout_ms is negative (-1)"},
        {m, VMUX_INIT(vmux_callopts), 2, sub, true, VMUX_ERR_UNSUPPORTED,
         "this command cannot run on a shared, multiplexed connection: SUBSCRIBE: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int forget = 0; forget < 2; forget++) {
            if (forget && !cases[i].cb)
                continue; /* vmux_call_forget() takes no callback */
            char err[200];
            memset(err, 'x', sizeof err - 1); /* an earlier call's words must not pass */
            err[sizeof err - 1] = '\0';
            cases[i].o.errbuf = err;
            cases[i].o.errlen = sizeof err;
            int rc = forget ? vmux_call_forget(cases[i].m, &cases[i].o, cases[i].argc,
                                               cases[i].argv, NULL)
                            : vmux_call_async(cases[i].m, &cases[i].o, cases[i].argc, cases[i].argv,
                                              NULL, cases[i].cb ? refused_cb : NULL, NULL);
            if (rc != cases[i].rc || strncmp(err, cases[i].words, strlen(cases[i].words)) != 0)
                fail_msg("%s case %zu: %s, words '%s'; expected %s, '%s...'",
                         forget ? "vmux_call_forget" : "vmux_call_async", i, vmux_err_name(rc), err,
                         vmux_err_name(cases[i].rc), cases[i].words);
        }
    }

    /* A later command's reply comes after anything those could have caused. */
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 1, ping, NULL, &r), 0);
    vmux_reply_free(r);
    assert_int_equal(atomic_load(&refused_runs), 0);
}

static void test_open_bad_arguments(void **state)
{
    (void)state;
    vmux *marker = (vmux *)&refused_runs; /* never dereferenced */
    vmux *m = marker;
    char err[256] = "";
    assert_int_equal(vmux_open(NULL, &m, err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_null(m);

    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_int_equal(vmux_open(cfg, NULL, err, sizeof err), VMUX_ERR_INVALID_ARG);
    m = marker;
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), VMUX_ERR_CONFIG); /* no endpoint */
    assert_null(m);
    vmux_config_free(cfg);

    m = marker;
    assert_int_equal(vmux_open_str(NULL, &m, err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_null(m);
    assert_int_equal(vmux_open_str("127.0.0.1", NULL, err, sizeof err), VMUX_ERR_INVALID_ARG);
}

static void test_open_str_bad_config(void **state)
{
    (void)state;
    char err[256] = "";
    vmux *m = (vmux *)&refused_runs;
    assert_int_equal(vmux_open_str("127.0.0.1:1,bogusKey=1", &m, err, sizeof err), VMUX_ERR_CONFIG);
    assert_null(m);
    if (strstr(err, "bogusKey") == NULL)
        fail_msg("errbuf does not name the token: '%s'", err);

    /* No error buffer, or a tiny one: still the code, and a terminated, truncated message. */
    assert_int_equal(vmux_open_str("127.0.0.1:1,bogusKey=1", &m, NULL, 0), VMUX_ERR_CONFIG);
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    assert_int_equal(vmux_open_str("127.0.0.1:1,bogusKey=1", &m, tiny, sizeof tiny),
                     VMUX_ERR_CONFIG);
    assert_true(memchr(tiny, '\0', sizeof tiny) != NULL);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_memory_equal(tiny, err, sizeof tiny - 1);
    assert_int_equal(vmux_open_str("127.0.0.1:99999", &m, err, sizeof err), VMUX_ERR_CONFIG);
}

/* ---- vmux_command ---- */

static void check_string(vmux_reply *r, const char *want, size_t wantlen)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STRING);
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    assert_int_equal(len, wantlen);
    assert_memory_equal(s, want, wantlen);
    vmux_reply_free(r);
}

static void test_command_formats(void **state)
{
    vmux *m = *state;
    char key[64];
    unique_key(key, sizeof key, "fmt");
    const char bin[] = {'a', '\0', '\r', '\n', 'b', ' ', '%'};
    vmux_reply *r = NULL;

    assert_int_equal(vmux_command(m, &r, "SET %s %b", key, bin, sizeof bin), 0);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STATUS);
    vmux_reply_free(r);
    assert_int_equal(vmux_command(m, &r, "GET %s", key), 0);
    check_string(r, bin, sizeof bin);

    /* An inserted string is one argument, spaces and all. */
    assert_int_equal(vmux_command(m, &r, "ECHO %s", "two words"), 0);
    check_string(r, "two words", 9);
    assert_int_equal(vmux_command(m, &r, "ECHO 100%%"), 0);
    check_string(r, "100%", 4);
    assert_int_equal(vmux_command(m, &r, "ECHO pre%sfix", "-mid-"), 0);
    check_string(r, "pre-mid-fix", 11);
    assert_int_equal(vmux_command(m, &r, "ECHO %b", "", (size_t)0), 0);
    check_string(r, "", 0);
    /* Runs of spaces separate arguments; they make no empty ones. */
    assert_int_equal(vmux_command(m, &r, "  ECHO    spaced  "), 0);
    check_string(r, "spaced", 6);
}

static void test_command_bad_arguments(void **state)
{
    vmux *m = *state;
    vmux_reply *r = (vmux_reply *)&refused_runs;
    assert_int_equal(vmux_command(NULL, &r, "PING"), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    assert_int_equal(vmux_command(m, NULL, "PING"), VMUX_ERR_INVALID_ARG);
    r = (vmux_reply *)&refused_runs;
    assert_int_equal(vmux_command(m, &r, NULL), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    r = (vmux_reply *)&refused_runs;
    assert_int_equal(vmux_command(m, &r, ""), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    r = (vmux_reply *)&refused_runs;
    assert_int_equal(vmux_command(m, &r, "   "), VMUX_ERR_INVALID_ARG);
    assert_null(r);
}

/* A printf-style wrapper of the caller's own, as vmux_vcommand() is for. */
static int traced_command(vmux *m, const vmux_callopts *opts, vmux_reply **out, const char *format,
                          ...)
{
    va_list ap;
    va_start(ap, format);
    int rc = vmux_vcommand(m, opts, out, format, ap);
    va_end(ap);
    return rc;
}

static void test_command_with_options(void **state)
{
    vmux *m = *state;
    char key[64], err[160] = "";
    unique_key(key, sizeof key, "fmtopts");
    vmux_reply *r = NULL;

    /* The options reach the call: a 100 ms deadline ends a BLPOP that would wait for ever. */
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 100, .errbuf = err, .errlen = sizeof err);
    assert_int_equal(vmux_command_opts(m, &o, &r, "BLPOP %s 0", key), VMUX_ERR_TIMEOUT);
    assert_null(r);
    assert_true(err[0] != '\0');

    /* Options vmux_call() refuses are refused in its words, with nothing sent. */
    vmux_callopts bad =
        VMUX_INIT(vmux_callopts, .timeout_ms = -1, .errbuf = err, .errlen = sizeof err);
    r = (vmux_reply *)&refused_runs;
    assert_int_equal(vmux_command_opts(m, &bad, &r, "SET %s x", key), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    assert_string_equal(err, "invalid argument: opts->timeout_ms is negative (-1)");
    assert_int_equal(vmux_command(m, &r, "EXISTS %s", key), 0);
    assert_int_equal(vmux_reply_integer(r), 0);
    vmux_reply_free(r);

    /* Through a va_list, binary arguments and numbers as vmux_command() takes them. */
    const char bin[] = {'x', '\0', 'y'};
    assert_int_equal(traced_command(m, NULL, &r, "SET %s %b", key, bin, sizeof bin), 0);
    vmux_reply_free(r);
    assert_int_equal(traced_command(m, NULL, &r, "GET %s", key), 0);
    check_string(r, bin, sizeof bin);
    assert_int_equal(traced_command(m, &o, &r, "APPEND %s %lld", key, 42LL), 0);
    assert_int_equal(vmux_reply_integer(r), (int64_t)sizeof bin + 2);
    vmux_reply_free(r);
    assert_int_equal(traced_command(m, &bad, &r, NULL), VMUX_ERR_INVALID_ARG);
    assert_string_equal(err, "invalid argument: opts->timeout_ms is negative (-1)");
    assert_int_equal(traced_command(m, &o, &r, NULL), VMUX_ERR_INVALID_ARG);
    assert_string_equal(err, "invalid argument: the format string is NULL");
    assert_int_equal(traced_command(m, &o, &r, "ECHO %y"), VMUX_ERR_INVALID_ARG);
    assert_string_equal(err, "invalid argument: the format string is malformed: unknown "
                             "conversion %y at offset 5");
    assert_int_equal(traced_command(m, &o, &r, "  "), VMUX_ERR_INVALID_ARG);
    assert_string_equal(err, "invalid argument: the format string makes no argument (a command has "
                             "at least its name)");
    assert_int_equal(vmux_command_opts(NULL, NULL, &r, "PING"), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_command_opts(m, NULL, NULL, "PING"), VMUX_ERR_INVALID_ARG);
}

/* ---- server error replies ---- */

static void expect_server_error(int rc, vmux_reply *r, const char *prefix)
{
    assert_int_equal(rc, VMUX_ERR_SERVER);
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ERROR);
    size_t len = 0;
    const char *msg = vmux_reply_str(r, &len);
    assert_non_null(msg);
    assert_int_equal(len, strlen(msg));
    assert_int_equal(vmux_reply_len(r), len);
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
        fail_msg("error reply '%s' does not start with '%s'", msg, prefix);
    assert_int_equal(vmux_reply_integer(r), 0);
    assert_null(vmux_reply_element(r, 0));
    vmux_reply_free(r);
}

struct async_error {
    atomic_int runs, status;
    char msg[128];
};

static void async_error_cb(int status, vmux_reply *reply, void *userdata)
{
    struct async_error *e = userdata;
    const char *s = reply && vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR
                        ? vmux_reply_str(reply, NULL)
                        : NULL;
    snprintf(e->msg, sizeof e->msg, "%s", s ? s : "(no error reply)");
    vmux_reply_free(reply);
    atomic_store(&e->status, status);
    atomic_fetch_add(&e->runs, 1);
}

static bool async_error_ran(void *arg)
{
    struct async_error *e = arg;
    return atomic_load(&e->runs) > 0;
}

static void test_server_error_replies(void **state)
{
    vmux *m = *state;
    char key[64];
    unique_key(key, sizeof key, "list");
    const char *unknown[] = {"NOSUCHCOMMAND", "x"};
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, 2, unknown, NULL, &r);
    expect_server_error(rc, r, "ERR unknown command");

    const char *push[] = {"RPUSH", key, "x"};
    assert_int_equal(vmux_call(m, NULL, 3, push, NULL, &r), 0);
    vmux_reply_free(r);
    const char *get[] = {"GET", key};
    rc = vmux_call(m, NULL, 2, get, NULL, &r);
    expect_server_error(rc, r, "WRONGTYPE");
    rc = vmux_command(m, &r, "INCR %s", key);
    expect_server_error(rc, r, "WRONGTYPE");
    rc = vmux_command(m, &r, "EVAL %s 0", "return redis.error_reply('MYERR custom words')");
    expect_server_error(rc, r, "MYERR custom words");

    struct async_error e = {0};
    atomic_init(&e.runs, 0);
    atomic_init(&e.status, 0);
    assert_int_equal(vmux_call_async(m, NULL, 2, unknown, NULL, async_error_cb, &e), 0);
    assert_true(vt_wait_until(async_error_ran, &e, 10000));
    assert_int_equal(atomic_load(&e.status), VMUX_ERR_SERVER);
    if (strncmp(e.msg, "ERR unknown command", 19) != 0)
        fail_msg("async error reply: '%s'", e.msg);

    /* An error reply is the command's outcome, not the handle's: the next call is fine. */
    assert_int_equal(vmux_command(m, &r, "ECHO fine"), 0);
    check_string(r, "fine", 4);
}

/* ---- reply accessors ---- */

static vmux_reply *command(vmux *m, const char *format, const char *arg)
{
    vmux_reply *r = NULL;
    int rc = vmux_command(m, &r, format, arg);
    if (rc != 0)
        fail_msg("%s: %s", format, vmux_err_name(rc));
    return r;
}

/* Accessors that do not apply to a kind give their documented neutral values. */
static void check_not_string(const vmux_reply *r)
{
    size_t len = 99;
    assert_null(vmux_reply_str(r, &len));
    assert_int_equal(len, 0);
    assert_null(vmux_reply_str(r, NULL));
}

static void expect_integer(const vmux_reply *r, int64_t v)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_INTEGER);
    assert_true(vmux_reply_integer(r) == v);
    assert_int_equal(vmux_reply_len(r), 0);
    assert_null(vmux_reply_element(r, 0));
    check_not_string(r);
}

static void test_integer_replies(void **state)
{
    vmux *m = *state;
    char key[64];
    unique_key(key, sizeof key, "int");
    vmux_reply *r = command(m, "SET %s 9223372036854775806", key);
    vmux_reply_free(r);
    r = command(m, "INCR %s", key);
    expect_integer(r, INT64_MAX);
    vmux_reply_free(r);
    r = command(m, "SET %s -9223372036854775807", key);
    vmux_reply_free(r);
    r = command(m, "DECR %s", key);
    expect_integer(r, INT64_MIN);
    vmux_reply_free(r);
    r = command(m, "EXISTS %s", "args:no-such-key");
    expect_integer(r, 0);
    vmux_reply_free(r);
}

static void expect_nil(const vmux_reply *r)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_NIL);
    assert_int_equal(vmux_reply_len(r), 0);
    assert_int_equal(vmux_reply_integer(r), 0);
    assert_null(vmux_reply_element(r, 0));
    check_not_string(r);
}

static void test_nil_replies(void **state)
{
    vmux *m = *state;
    vmux_reply *r = command(m, "GET %s", "args:no-such-key");
    expect_nil(r);
    vmux_reply_free(r);
    /* A nil array (*-1), from a BLPOP that times out at once on an empty list. */
    r = command(m, "BLPOP %s 0.01", "args:no-such-list");
    expect_nil(r);
    vmux_reply_free(r);
}

static void test_status_replies(void **state)
{
    vmux *m = *state;
    vmux_reply *r = command(m, "EVAL %s 0", "return redis.status_reply('FINE')");
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STATUS);
    size_t len = 0;
    assert_string_equal(vmux_reply_str(r, &len), "FINE");
    assert_int_equal(len, 4);
    assert_int_equal(vmux_reply_len(r), 4);
    assert_int_equal(vmux_reply_integer(r), 0);
    assert_null(vmux_reply_element(r, 0));
    vmux_reply_free(r);
}

static void expect_array(const vmux_reply *r, size_t n)
{
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ARRAY);
    assert_int_equal(vmux_reply_len(r), n);
    assert_null(vmux_reply_element(r, n));
    assert_null(vmux_reply_element(r, SIZE_MAX));
    assert_int_equal(vmux_reply_integer(r), 0);
    check_not_string(r);
}

static void test_array_replies(void **state)
{
    vmux *m = *state;
    /* {1, 'a', {2}, false}: integer, string, nested array, nil. */
    vmux_reply *r = command(m, "EVAL %s 0", "return {1,'a',{2,'bb'},false,'z'}");
    expect_array(r, 5);
    expect_integer(vmux_reply_element(r, 0), 1);
    const vmux_reply *a = vmux_reply_element(r, 1);
    assert_int_equal(vmux_reply_get_kind(a), VMUX_REPLY_STRING);
    assert_string_equal(vmux_reply_str(a, NULL), "a");
    const vmux_reply *inner = vmux_reply_element(r, 2);
    expect_array(inner, 2);
    expect_integer(vmux_reply_element(inner, 0), 2);
    assert_string_equal(vmux_reply_str(vmux_reply_element(inner, 1), NULL), "bb");
    expect_nil(vmux_reply_element(r, 3));
    assert_string_equal(vmux_reply_str(vmux_reply_element(r, 4), NULL), "z");
    vmux_reply_free(r);

    r = command(m, "LRANGE %s 0 -1", "args:no-such-list");
    expect_array(r, 0);
    vmux_reply_free(r);
    vmux_reply_free(NULL);
}

static void test_reply_type_names(void **state)
{
    (void)state;
    assert_string_equal(vmux_reply_kind_name(VMUX_REPLY_STRING), "string");
    assert_string_equal(vmux_reply_kind_name(VMUX_REPLY_ARRAY), "array");
    assert_string_equal(vmux_reply_kind_name(VMUX_REPLY_INTEGER), "integer");
    assert_string_equal(vmux_reply_kind_name(VMUX_REPLY_NIL), "nil");
    assert_string_equal(vmux_reply_kind_name(VMUX_REPLY_STATUS), "status");
    assert_string_equal(vmux_reply_kind_name(VMUX_REPLY_ERROR), "error");
}

/* ---- commands that cannot share the connection ---- */

static int refused_count;

static void count_refused(int status, vmux_reply *reply, void *userdata)
{
    (void)status;
    (void)userdata;
    vmux_reply_free(reply);
    refused_count++;
}

static void test_unshareable_commands_refused(void **state)
{
    vmux *m = *state;
    const char *names[] = {"SUBSCRIBE", "psubscribe", "SSubscribe", "UNSUBSCRIBE", "MONITOR",
                           "MULTI",     "EXEC",       "WATCH",      "SELECT",      "AUTH",
                           "HELLO",     "RESET",      "QUIT",       "SYNC",        "PSYNC",
                           "readwrite", "READONLY",   "Asking",     "replconf"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *argv[] = {names[i], "x"};
        vmux_reply *r = (vmux_reply *)&refused_count;
        assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &r), VMUX_ERR_UNSUPPORTED);
        assert_null(r);
        assert_int_equal(vmux_call_async(m, NULL, 2, argv, NULL, count_refused, NULL),
                         VMUX_ERR_UNSUPPORTED);
        assert_int_equal(vmux_call_forget(m, NULL, 2, argv, NULL), VMUX_ERR_UNSUPPORTED);
    }
    vmux_reply *r;
    assert_int_equal(vmux_command(m, &r, "client reply off"), VMUX_ERR_UNSUPPORTED);
    assert_int_equal(vmux_command(m, &r, "SELECT 1"), VMUX_ERR_UNSUPPORTED);
    /* probe36: the server answers no client's REPLCONF ACK, so every later reply went to the
     * command before it */
    assert_int_equal(vmux_command(m, &r, "REPLCONF ACK 0"), VMUX_ERR_UNSUPPORTED);
    /* the error buffer names the command and what to use instead (probe 47: HELLO 3) */
    char err[300] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    assert_int_equal(vmux_call(m, &o, 2, (const char *[]){"MULTI", "x"}, NULL, &r),
                     VMUX_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, ": MULTI: the callers' commands interleave"));
    assert_int_equal(vmux_command_opts(m, &o, &r, "HELLO %d", 3), VMUX_ERR_UNSUPPORTED);
    assert_string_equal(err, "this command cannot run on a shared, multiplexed connection: HELLO: "
                             "vmux speaks RESP2 on its connections and sets each one up itself: "
                             "RESP3 is not supported");
    /* the same words as arguments, or other CLIENT subcommands, are fine */
    assert_int_equal(vmux_command(m, &r, "ECHO SUBSCRIBE"), 0);
    vmux_reply_free(r);
    assert_int_equal(vmux_command(m, &r, "CLIENT GETNAME"), 0);
    vmux_reply_free(r);
    assert_int_equal(refused_count, 0);
}

static void test_fail_fast_without_connection(void **state)
{
    (void)state;
    /* a port where nothing listens: the handle opens, commands fail at once, unsent */
    vmux *m;
    char err[256];
    assert_int_equal(
        vmux_open_str("127.0.0.1:1,abortConnect=false,backlogPolicy=failFast", &m, err, sizeof err),
        0);
    const char *argv[] = {"PING"};
    vmux_reply *r;
    assert_int_equal(vmux_call(m, NULL, 1, argv, NULL, &r), VMUX_ERR_NOT_CONNECTED);
    assert_null(r);
    vmux_close(m);
}

/* ---- errors and version ---- */

static void test_error_table(void **state)
{
    (void)state;
    int codes = 0;
#define CHECK_CODE(name, value, text)                                                              \
    assert_int_equal(VMUX_ERR_##name, value);                                                      \
    assert_string_equal(vmux_err_name(value), "VMUX_ERR_" #name);                                  \
    assert_string_equal(vmux_strerror(value), text);                                               \
    codes++;
    VMUX_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
    assert_int_equal(codes, 20);
    assert_string_equal(vmux_err_name(VMUX_OK), "VMUX_OK");
    assert_non_null(vmux_strerror(VMUX_OK));
    const int unknown[] = {1, -21, -999, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal(vmux_err_name(unknown[i]), "VMUX_ERR_UNKNOWN");
        assert_string_equal(vmux_strerror(unknown[i]), "unknown error");
    }
}

static void test_version(void **state)
{
    (void)state;
    assert_string_equal(vmux_version(), VMUX_VERSION_STRING);
    assert_int_equal(vmux_version_hex(), VMUX_VERSION_HEX);
}

#define HANDLE_TEST(f) cmocka_unit_test_setup_teardown(f, setup_handle, teardown_handle)

int main(void)
{
    const struct CMUnitTest tests[] = {
        HANDLE_TEST(test_call_bad_arguments),
        HANDLE_TEST(test_async_and_forget_bad_arguments),
        cmocka_unit_test(test_open_bad_arguments),
        cmocka_unit_test(test_open_str_bad_config),
        HANDLE_TEST(test_command_formats),
        HANDLE_TEST(test_command_bad_arguments),
        HANDLE_TEST(test_command_with_options),
        HANDLE_TEST(test_server_error_replies),
        HANDLE_TEST(test_integer_replies),
        HANDLE_TEST(test_nil_replies),
        HANDLE_TEST(test_status_replies),
        HANDLE_TEST(test_array_replies),
        HANDLE_TEST(test_unshareable_commands_refused),
        cmocka_unit_test(test_fail_fast_without_connection),
        cmocka_unit_test(test_reply_type_names),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
