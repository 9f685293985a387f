/*
 * Session setup against a real server: ACL user and password (string and URL forms), the
 * database a URL names, the client name and library info, and how opening fails: wrong
 * password (the server's words reach errbuf), an out-of-range database, nothing listening
 * (abortConnect=true fails, abortConnect=false gives a handle whose calls fail by their
 * deadline), a password refused after the handle opened, named (masked) in a call's errbuf,
 * and no password for a server that needs one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sockets under -std=c11 */
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

/*
 * A deadline that fires later than LIVENESS x its time did not fire (the loop or its timer is
 * stuck): a liveness guard, not a speed claim, that a loaded machine cannot trip.
 */
enum { LIVENESS = 10 };

/* Calls a command of NUL-terminated words and returns its text (string or status reply). */
static void expect_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("'%s' not found in '%s'", needle, haystack);
}

static void test_user_and_password(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "user=vmuxtest,password=vmuxpass");
    const char *whoami[] = {"ACL", "WHOAMI"};
    char *who = vt_call_text(m, 2, whoami);
    assert_string_equal(who, "vmuxtest");
    free(who);
    vmux_close(m);
}

static void test_wrong_password_is_auth_error(void **state)
{
    (void)state;
    char *conf = vt_server_config("plain", "user=vmuxtest,password=wrong,connectRetry=1");
    char err[256] = "";
    vmux *m = (vmux *)conf; /* a non-NULL marker that a failed open must clear */
    int rc = vmux_open_str(conf, &m, err, sizeof err);
    free(conf);
    assert_int_equal(rc, VMUX_ERR_AUTH);
    assert_null(m);
    expect_contains(err, "WRONGPASS");
}

/* A password that is a piece of the error code ("PASS", "WRONG") leaves the code whole: AUTH's
 * reason quotes only the code, so nothing in it is masked (it read "AUTH failed: *****PASS"). */
static void test_wrong_password_inside_the_code(void **state)
{
    (void)state;
    const char *const passwords[] = {"PASS", "WRONG", "WRONGPASS"};
    for (size_t i = 0; i < sizeof passwords / sizeof passwords[0]; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, "user=vmuxtest,password=%s,connectRetry=1", passwords[i]);
        char *conf = vt_server_config("plain", extra);
        char err[256] = "";
        vmux *m = NULL;
        assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), VMUX_ERR_AUTH);
        free(conf);
        expect_contains(err, "AUTH failed: WRONGPASS (the server's message is not shown");
    }
}

/* The URL's user, password and database all take effect on the session. */
static void test_url_credentials_and_database(void **state)
{
    (void)state;
    char key[64];
    char *url = vt_server_url("plain", "vmuxtest:vmuxpass", "/2");
    vmux *m = vt_open_conf(url);
    free(url);
    const char *info[] = {"CLIENT", "INFO"};
    char *text = vt_call_text(m, 2, info);
    expect_contains(text, " db=2 ");
    expect_contains(text, " user=vmuxtest ");
    free(text);

    /* A key written through the handle lives in database 2, not in the default one. */
    snprintf(key, sizeof key, "acl:%d:db2", (int)getpid());
    const char *set[] = {"SET", key, "in2"};
    free(vt_call_text(m, 3, set));
    char *in0 = vt_admin("plain", "EXISTS %s", key);
    assert_non_null(in0);
    assert_string_equal(in0, "0");
    free(in0);
    const char *get[] = {"GET", key};
    text = vt_call_text(m, 2, get);
    assert_string_equal(text, "in2");
    free(text);
    vmux_close(m);
}

static void test_name_and_library_info(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "name=myapp");
    const char *getname[] = {"CLIENT", "GETNAME"};
    char *name = vt_call_text(m, 2, getname);
    assert_string_equal(name, "myapp");
    free(name);

    const char *info[] = {"CLIENT", "INFO"};
    char *text = vt_call_text(m, 2, info);
    expect_contains(text, " name=myapp ");
    expect_contains(text, " lib-name=vmux ");
    char ver[64];
    snprintf(ver, sizeof ver, " lib-ver=%s ", vmux_version());
    expect_contains(text, ver);
    free(text);
    vmux_close(m);
}

static void test_database_out_of_range_is_setup_error(void **state)
{
    (void)state;
    char *conf = vt_server_config("plain", "defaultDatabase=99,connectRetry=1");
    char err[256] = "";
    vmux *m = NULL;
    int rc = vmux_open_str(conf, &m, err, sizeof err);
    free(conf);
    assert_int_equal(rc, VMUX_ERR_SETUP);
    assert_null(m);
    expect_contains(err, "DB index is out of range"); /* the server's words */
}

/*
 * A loopback port where nothing listens: the socket is bound but never listens, so connecting
 * is refused, and no other process can take the port while it stays open.
 */
static int dead_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void count_failures(const vmux_event *ev, void *userdata)
{
    if (ev->type == VMUX_EVENT_CONNECTION_FAILED)
        atomic_fetch_add((atomic_int *)userdata, 1);
}

/*
 * One attempt, not an endless retry: the handle's FAILED events count its attempts. The next
 * attempt is 30 s away (reconnectMin), so none can start between the failure vmux_open() gives
 * up on and the end of the handle, however slow the machine.
 */
static void test_nothing_listening_fails_to_open(void **state)
{
    (void)state;
    int fd;
    char conf[160], err[256] = "";
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,connectRetry=1,connectTimeout=1000,reconnectMin=30000,"
             "reconnectMax=30000",
             dead_port(&fd));
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_parse(conf, &cfg, err, sizeof err), 0);
    atomic_int failures;
    atomic_init(&failures, 0);
    assert_int_equal(vmux_config_set_event_handler(cfg, count_failures, &failures), 0);
    vmux *m = NULL;
    uint64_t t0 = vt_now_ms();
    int rc = vmux_open(cfg, &m, err, sizeof err);
    uint64_t elapsed = vt_now_ms() - t0;
    vmux_config_free(cfg);
    close(fd);
    assert_int_equal(rc, VMUX_ERR_CONNECT);
    assert_null(m);
    assert_true(err[0] != '\0');
    assert_int_equal(atomic_load(&failures), 1);
    assert_in_range(elapsed, 0, LIVENESS * 1000);
}

static bool is_connection_failure(int rc)
{
    return rc == VMUX_ERR_TIMEOUT || rc == VMUX_ERR_CONNECT || rc == VMUX_ERR_IO;
}

struct outcome {
    atomic_int runs, status;
    atomic_bool had_reply;
};

static void outcome_cb(int status, vmux_reply *reply, void *userdata)
{
    struct outcome *o = userdata;
    atomic_store(&o->had_reply, reply != NULL);
    vmux_reply_free(reply);
    atomic_store(&o->status, status);
    atomic_fetch_add(&o->runs, 1);
}

static bool outcome_ran(void *arg)
{
    struct outcome *o = arg;
    return atomic_load(&o->runs) > 0;
}

static void test_nothing_listening_without_abort(void **state)
{
    (void)state;
    int fd;
    char conf[160];
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,abortConnect=false,connectRetry=1,connectTimeout=1000", dead_port(&fd));
    vmux *m = vt_open_conf(conf);

    const char *ping[] = {"PING"};
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .timeout_ms = 500);
    vmux_reply *r = NULL;
    uint64_t t0 = vt_now_ms();
    int rc = vmux_call(m, &opts, 1, ping, NULL, &r);
    uint64_t elapsed = vt_now_ms() - t0;
    if (!is_connection_failure(rc))
        fail_msg("sync PING: %s", vmux_err_name(rc));
    assert_null(r);
    /* its deadline, never before it; and it did fire */
    assert_in_range(elapsed, rc == VMUX_ERR_TIMEOUT ? 500 : 0, LIVENESS * 500);

    struct outcome o;
    atomic_init(&o.runs, 0);
    atomic_init(&o.status, 0);
    atomic_init(&o.had_reply, false);
    assert_int_equal(vmux_call_async(m, &opts, 1, ping, NULL, outcome_cb, &o), 0);
    assert_true(vt_wait_until(outcome_ran, &o, LIVENESS * 500));
    if (!is_connection_failure(atomic_load(&o.status)))
        fail_msg("async PING: %s", vmux_err_name(atomic_load(&o.status)));
    assert_false(atomic_load(&o.had_reply));
    vmux_close(m);
    close(fd);
    assert_int_equal(atomic_load(&o.runs), 1);
}

static void count_refusals(const vmux_event *ev, void *userdata)
{
    if (ev->type == VMUX_EVENT_CONNECTION_FAILED && strstr(ev->reason, "WRONGPASS") != NULL)
        atomic_fetch_add((atomic_int *)userdata, 1);
}

static bool refused_once(void *arg)
{
    return atomic_load((atomic_int *)arg) > 0;
}

/* r, a vt_admin() reply to what, must be OK; frees it. */
static void expect_ok(char *r, const char *what)
{
    if (r == NULL || strcmp(r, "OK") != 0)
        fail_msg("%s: %s", what, r != NULL ? r : "(no reply)");
    free(r);
}

/*
 * A password that the server stops taking after the handle opened (ACL SETUSER ... resetpass,
 * then CLIENT KILL USER): every new connection's AUTH is refused, and a call that fails unsent for
 * want of a connection names that refusal, the link's last failure, after the usual text, masked
 * as every AUTH failure is (the server's code only, no password).
 */
static void test_refused_password_call_says_why(void **state)
{
    (void)state;
    expect_ok(vt_admin("plain", "ACL SETUSER vmuxwhy on resetpass >why-pass-one ~* &* +@all"),
              "ACL SETUSER");
    char *conf = vt_server_config("plain", "user=vmuxwhy,password=why-pass-one");
    vmux_config *cfg = vt_config(conf);
    atomic_int refusals;
    atomic_init(&refusals, 0);
    assert_int_equal(vmux_config_set_event_handler(cfg, count_refusals, &refusals), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    free(conf);
    const char *ping[] = {"PING"};
    free(vt_call_text(m, 1, ping));

    expect_ok(vt_admin("plain", "ACL SETUSER vmuxwhy resetpass >why-pass-two"), "ACL SETUSER");
    free(vt_admin("plain", "CLIENT KILL USER vmuxwhy"));
    assert_true(vt_wait_until(refused_once, &refusals, LIVENESS * 1000));

    char err[512] = "";
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .timeout_ms = 300, .flags = VMUX_CALL_TELL_UNSENT,
                                   .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &opts, 1, ping, NULL, &r);
    /* an async caller hears the same words, from vmux_last_error() in its callback */
    struct vt_async a = {.status = 1};
    opts.errbuf = NULL;
    assert_int_equal(vmux_call_async(m, &opts, 1, ping, NULL, vt_on_async, &a), 0);
    assert_true(vt_wait_until(vt_async_done, &a, LIVENESS * 1000));
    vmux_close(m);
    free(vt_admin("plain", "ACL DELUSER vmuxwhy"));
    if (rc != VMUX_ERR_NOT_CONNECTED)
        fail_msg("PING: %s (%s)", vmux_err_name(rc), err);
    assert_null(r);
    const char *start = vmux_strerror(VMUX_ERR_NOT_CONNECTED);
    if (strncmp(err, start, strlen(start)) != 0)
        fail_msg("errbuf '%s' does not start with '%s'", err, start);
    expect_contains(err, "; last connection failure: 127.0.0.1:");
    expect_contains(err, ": AUTH failed: WRONGPASS (the server's message is not shown");
    if (strstr(err, "why-pass") != NULL)
        fail_msg("errbuf '%s' shows a password", err);
    assert_int_equal(a.status, VMUX_ERR_NOT_CONNECTED);
    assert_null(a.reply);
    assert_string_equal(a.words, err);
}

/*
 * A least-privilege ACL user opens a handle and runs its commands: the server refuses the
 * library's CLIENT SETINFO (and INFO, detection) with NOPERM, which setup ignores, as it does
 * every error to CLIENT SETINFO (it failed the connection with VMUX_ERR_AUTH: "CLIENT SETINFO
 * failed: NOPERM ...").
 */
static void open_as_lean_user(const char *user, const char *rules)
{
    char extra[128], err[256] = "", key[64];
    snprintf(extra, sizeof extra, "user=%s,password=lean-pass,connectRetry=1", user);
    char *conf = vt_server_config("plain", extra);
    vmux *m = NULL;
    int rc = vmux_open_str(conf, &m, err, sizeof err);
    free(conf);
    if (rc != 0) {
        free(vt_admin("plain", "ACL DELUSER %s", user));
        fail_msg("%s (%s): open: %s (%s)", user, rules, vmux_err_name(rc), err);
    }
    snprintf(key, sizeof key, "acl:%d:%s", (int)getpid(), user);
    const char *set[] = {"SET", key, "lean"}, *get[] = {"GET", key};
    free(vt_call_text(m, 3, set));
    char *text = vt_call_text(m, 2, get);
    assert_string_equal(text, "lean");
    free(text);
    vmux_close(m);
    free(vt_admin("plain", "DEL %s", key));
    free(vt_admin("plain", "ACL DELUSER %s", user));
}

static void test_user_without_client_setinfo(void **state)
{
    (void)state;
    expect_ok(vt_admin("plain", "ACL SETUSER vmuxnosetinfo reset on >lean-pass ~* &* +@all "
                                "-client|setinfo"),
              "ACL SETUSER");
    open_as_lean_user("vmuxnosetinfo", "+@all -client|setinfo");
}

static void test_user_with_only_get_and_set(void **state)
{
    (void)state;
    expect_ok(vt_admin("plain", "ACL SETUSER vmuxgetset reset on >lean-pass ~* +get +set"),
              "ACL SETUSER");
    open_as_lean_user("vmuxgetset", "+get +set ~*");
}

/*
 * A server that needs a password, none configured (a server of its own: the fixture's default
 * user is shared): vmux_open() fails VMUX_ERR_AUTH and says so, in cluster=auto as in
 * cluster=no. Every setup command was allowed to fail and NOAUTH was taken for that (probe39:
 * the handle opened, and every command was then refused "NOAUTH Authentication required.").
 */
static void test_no_password_for_a_server_that_needs_one(void **state)
{
    (void)state;
    vt_server *s = vt_server_new(NULL);
    assert_non_null(s);
    vmux *admin = vt_server_open(s, NULL);
    const char *require[] = {"CONFIG", "SET", "requirepass", "need-pass"};
    free(vt_call_text(admin, 4, require));
    vmux_close(admin);
    const char *const extras[] = {"connectRetry=1", "connectRetry=1,cluster=no"};
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        char *conf = vt_server_conf(s, extras[i]);
        char err[256] = "";
        vmux *m = NULL;
        int rc = vmux_open_str(conf, &m, err, sizeof err);
        free(conf);
        if (rc != VMUX_ERR_AUTH)
            fail_msg("%s: %s (%s)", extras[i], vmux_err_name(rc), err);
        assert_null(m);
        expect_contains(err, "NOAUTH");
        expect_contains(err, "configure user and password");
    }
    vmux *m = vt_server_open(s, "password=need-pass");
    const char *ping[] = {"PING"};
    char *pong = vt_call_text(m, 1, ping);
    assert_string_equal(pong, "PONG");
    free(pong);
    vmux_close(m);
    vt_server_stop(s);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_and_password),
        cmocka_unit_test(test_wrong_password_is_auth_error),
        cmocka_unit_test(test_wrong_password_inside_the_code),
        cmocka_unit_test(test_url_credentials_and_database),
        cmocka_unit_test(test_name_and_library_info),
        cmocka_unit_test(test_database_out_of_range_is_setup_error),
        cmocka_unit_test(test_nothing_listening_fails_to_open),
        cmocka_unit_test(test_nothing_listening_without_abort),
        cmocka_unit_test(test_refused_password_call_says_why),
        cmocka_unit_test(test_user_without_client_setinfo),
        cmocka_unit_test(test_user_with_only_get_and_set),
        cmocka_unit_test(test_no_password_for_a_server_that_needs_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
