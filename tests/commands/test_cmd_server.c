/*
 * Server commands against the real server: PING and ECHO with binary and empty messages, TIME
 * against the local clock, INFO sections, DBSIZE and FLUSHDB in a database of their own (so the
 * other test files sharing the server lose nothing), refusals by the server (an ACL user
 * without these commands), and bad arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

/*
 * The database this file flushes. No other test file uses it; the keys it checks survive are
 * in database 0.
 */
#define FLUSH_DB "11"

#define ADMIN_EQ(want, ...)                                                                        \
    do {                                                                                           \
        char *admin_ = vt_admin("plain", __VA_ARGS__);                                             \
        assert_non_null(admin_);                                                                   \
        assert_string_equal(admin_, want);                                                         \
        free(admin_);                                                                              \
    } while (0)

#define ADMIN(...) free(vt_admin("plain", __VA_ARGS__))

static void assert_bytes(vmux_bytes b, const void *want, size_t len)
{
    assert_non_null(b.ptr);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.ptr, want, len);
}

static void test_ping_echo(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_bytes r;
    assert_int_equal(vmux_ping(m, NULL, (vmux_str){NULL, 0}, &r), 0);
    assert_bytes(r, "PONG", 4);
    vmux_bytes_free(&r);
    assert_int_equal(vmux_ping(m, NULL, VMUX_STRN("a\0b", 3), &r), 0);
    assert_bytes(r, "a\0b", 3);
    vmux_bytes_free(&r);
    assert_int_equal(vmux_ping(m, NULL, VMUX_STRN("", 0), &r), 0);
    assert_bytes(r, "", 0);
    vmux_bytes_free(&r);
    assert_int_equal(vmux_ping(m, NULL, VMUX_STR("x"), NULL), 0);

    assert_int_equal(vmux_echo(m, NULL, VMUX_STRN("\0echo\0", 6), &r), 0);
    assert_bytes(r, "\0echo\0", 6);
    vmux_bytes_free(&r);
    assert_int_equal(vmux_echo(m, NULL, VMUX_STRN("", 0), &r), 0);
    assert_bytes(r, "", 0);
    vmux_bytes_free(&r);
    assert_int_equal(vmux_echo(m, NULL, (vmux_str){NULL, 0}, &r), 0);
    assert_bytes(r, "", 0);
    vmux_bytes_free(&r);
    assert_int_equal(vmux_echo(m, NULL, VMUX_STR("dropped"), NULL), 0);
    vmux_close(m);
}

struct pong {
    atomic_bool fired;
    int status, conv;
    vmux_bytes text;
};

static void on_pong(int status, vmux_reply *reply, void *userdata)
{
    struct pong *p = userdata;
    p->status = status;
    p->conv = vmux_reply_to_bytes(reply, &p->text);
    vmux_reply_free(reply);
    atomic_store(&p->fired, true);
}

static bool pong_fired(void *arg)
{
    return atomic_load(&((struct pong *)arg)->fired);
}

static void test_ping_async(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    struct pong p = {0}, q = {0};
    assert_int_equal(vmux_ping_async(m, NULL, (vmux_str){NULL, 0}, on_pong, &p), 0);
    assert_int_equal(vmux_ping_async(m, NULL, VMUX_STRN("m\0sg", 4), on_pong, &q), 0);
    assert_true(vt_wait_until(pong_fired, &p, 10000));
    assert_true(vt_wait_until(pong_fired, &q, 10000));
    assert_int_equal(p.status, 0);
    assert_int_equal(p.conv, 0);
    assert_bytes(p.text, "PONG", 4);
    assert_bytes(q.text, "m\0sg", 4);
    vmux_bytes_free(&p.text);
    vmux_bytes_free(&q.text);
    vmux_close(m);
}

static void test_time(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    int64_t s1 = 0, us1 = -1, s2 = 0, us2 = -1;
    time_t before = time(NULL);
    assert_int_equal(vmux_time(m, NULL, &s1, &us1), 0);
    assert_int_equal(vmux_time(m, NULL, &s2, &us2), 0);
    time_t after = time(NULL);
    /* The server runs on this machine: its clock is ours. */
    assert_true(s1 >= (int64_t)before - 1 && s2 <= (int64_t)after + 1);
    assert_true(us1 >= 0 && us1 < 1000000 && us2 >= 0 && us2 < 1000000);
    assert_true(s2 * 1000000 + us2 >= s1 * 1000000 + us1);
    assert_int_equal(vmux_time(m, NULL, NULL, &us1), 0);
    assert_int_equal(vmux_time(m, NULL, &s1, NULL), 0);
    assert_true(s1 >= (int64_t)before - 1);
    vmux_close(m);
}

static void test_info(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_bytes text;
    assert_int_equal(vmux_info(m, NULL, NULL, &text), 0);
    assert_non_null(strstr(text.ptr, "# Server"));
    assert_non_null(strstr(text.ptr, "# Clients"));
    assert_int_equal(strlen(text.ptr), text.len);
    vmux_bytes_free(&text);
    /* One section: its own lines only. Our process id is the one the side channel sees. */
    assert_int_equal(vmux_info(m, NULL, "server", &text), 0);
    assert_non_null(strstr(text.ptr, "process_id:"));
    assert_null(strstr(text.ptr, "# Clients"));
    char *admin = vt_admin("plain", "INFO server");
    assert_non_null(admin);
    const char *pid = strstr(admin, "process_id:");
    assert_non_null(pid);
    assert_memory_equal(strstr(text.ptr, "process_id:"), pid, strcspn(pid, "\r\n"));
    free(admin);
    vmux_bytes_free(&text);
    assert_int_equal(vmux_info(m, NULL, "clients", &text), 0);
    assert_non_null(strstr(text.ptr, "connected_clients:"));
    vmux_bytes_free(&text);
    /* An unknown section is empty, not an error. */
    assert_int_equal(vmux_info(m, NULL, "nosuchsection", &text), 0);
    assert_non_null(text.ptr);
    assert_int_equal(text.len, 0);
    vmux_bytes_free(&text);
    assert_int_equal(vmux_info(m, NULL, "memory", NULL), 0);
    vmux_close(m);
}

static void test_dbsize_and_flushdb(void **state)
{
    VT_SKIP_ON_CLUSTER(
        "SELECT: a cluster node has database 0 only, and DBSIZE/FLUSHDB reach the seed "
        "node only (no fan-out yet)");
    (void)state;
    vmux *m = vt_open("plain", "defaultDatabase=" FLUSH_DB);
    ADMIN("SET srv:survivor kept");
    assert_int_equal(vmux_flushdb_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    int64_t n = -1;
    assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
    assert_int_equal(n, 0);
    static const vmux_flush_mode modes[] = {VMUX_FLUSH_DEFAULT, VMUX_FLUSH_SYNC, VMUX_FLUSH_ASYNC};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const char *keys[] = {"srv:a", "srv:b\0x", "srv:c"};
        size_t lens[] = {5, 7, 5};
        for (int k = 0; k < 3; k++) {
            const char *argv[] = {"SET", keys[k], "v"};
            size_t argl[] = {3, lens[k], 1};
            vmux_reply *r;
            assert_int_equal(vmux_call(m, NULL, 3, argv, argl, &r), 0);
            vmux_reply_free(r);
        }
        assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(vmux_flushdb_for_tests(m, NULL, modes[i]), 0);
        /* The keys are gone at once, whatever the mode; database 0 is untouched. */
        assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
        assert_int_equal(n, 0);
        vmux_bytes v;
        assert_int_equal(vmux_get(m, NULL, VMUX_STR("srv:a"), &v), 0);
        assert_null(v.ptr);
        ADMIN_EQ("kept", "GET srv:survivor");
    }
    assert_int_equal(vmux_dbsize(m, NULL, NULL), 0);
    assert_int_equal(vmux_flushdb_for_tests(m, NULL, (vmux_flush_mode)3), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_flushdb_for_tests(m, NULL, (vmux_flush_mode)-1), VMUX_ERR_INVALID_ARG);
    ADMIN("DEL srv:survivor");
    vmux_close(m);
}

/* A user that may not run the commands under test (PING stays: the library's heartbeat). */
#define LIMITED_USER "vmux_srv_limited"

static void test_server_refusals(void **state)
{
    VT_SKIP_ON_CLUSTER("SELECT: a cluster node has database 0 only");
    (void)state;
    ADMIN_EQ("OK", "ACL SETUSER " LIMITED_USER " reset on >limitedpw ~* &* +@all -flushdb "
                   "-dbsize -info -time -echo");
    vmux *m =
        vt_open("plain", "user=" LIMITED_USER ",password=limitedpw,defaultDatabase=" FLUSH_DB);
    char err[256];
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_bytes b = {(char *)"junk", 4};
    int64_t n = 7, us = 7;

    err[0] = '\0';
    assert_int_equal(vmux_echo(m, &o, VMUX_STR("x"), &b), VMUX_ERR_SERVER);
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(err, "NOPERM"));
    b.ptr = (char *)"junk";
    err[0] = '\0';
    assert_int_equal(vmux_info(m, &o, "server", &b), VMUX_ERR_SERVER);
    assert_null(b.ptr);
    assert_non_null(strstr(err, "NOPERM"));
    err[0] = '\0';
    assert_int_equal(vmux_time(m, &o, &n, &us), VMUX_ERR_SERVER);
    assert_int_equal(n, 0);
    assert_int_equal(us, 0);
    assert_non_null(strstr(err, "NOPERM"));
    n = 7;
    err[0] = '\0';
    assert_int_equal(vmux_dbsize(m, &o, &n), VMUX_ERR_SERVER);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "NOPERM"));
    err[0] = '\0';
    assert_int_equal(vmux_flushdb_for_tests(m, &o, VMUX_FLUSH_ASYNC), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "NOPERM"));
    /* PING is allowed, and the handle still works after the refusals. */
    assert_int_equal(vmux_ping(m, &o, (vmux_str){NULL, 0}, &b), 0);
    assert_bytes(b, "PONG", 4);
    vmux_bytes_free(&b);
    vmux_close(m);
    ADMIN("ACL DELUSER " LIMITED_USER);
}

/* How many arrays deep r nests: 0 for a value that is no array. */
static int depth_of(const vmux_reply *r)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY)
        return 0;
    int deepest = 0;
    for (size_t i = 0; i < vmux_reply_len(r); i++) {
        int d = depth_of(vmux_reply_element(r, i));
        deepest = d > deepest ? d : deepest;
    }
    return deepest + 1;
}

/*
 * Replies nested deeper than hiredis 0.14's reader went (7 levels) are read: COMMAND DOCS's go
 * to 13, a script's as deep as its tables. They once failed the connection (VMUX_ERR_PROTOCOL)
 * with every command on it.
 */
static void test_deep_replies(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_reply *r = NULL;
    const char *docs[] = {"COMMAND", "DOCS"};
    assert_int_equal(vmux_call(m, NULL, 2, docs, NULL, &r), 0);
    assert_true(depth_of(r) > 7);
    vmux_reply_free(r);
    const char *eval[] = {"EVAL", "local t = {7} for i = 1, 99 do t = {t} end return t", "0"};
    assert_int_equal(vmux_call(m, NULL, 3, eval, NULL, &r), 0);
    assert_int_equal(depth_of(r), 100);
    vmux_reply_free(r);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.connection_lost, 0);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_echo),
        cmocka_unit_test(test_ping_async),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_dbsize_and_flushdb),
        cmocka_unit_test(test_server_refusals),
        cmocka_unit_test(test_deep_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
