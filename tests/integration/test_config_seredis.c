/*
 * A configuration string written for StackExchange.Redis, against a real server of the test's
 * own (requirepass set, as in production): the handle opens, serves SET and GET, applies the keys
 * vmux maps (password, name, defaultDatabase, setlib...) and logs the keys it accepted and
 * ignored (INFO) and the unknown ones ignoreUnknown ignored (WARN). setlib=false keeps the
 * library's name from the server (CLIENT INFO's lib-name). docs/configuration.md, "Coming from
 * StackExchange.Redis".
 *
 * Then, against a second server of its own without a password: setlib=false with nothing else
 * to set leaves a connection's session setup nothing to send. Such a connection is ready at once:
 * the handle opens (cluster=no), serves a GET, and connects again after its connection is
 * killed; and under cluster=auto the blocking pool's connections (which send no READONLY) serve
 * a BLPOP. They waited for a setup reply that never came, failing every attempt at
 * connectTimeout: vmux_open gave VMUX_ERR_TIMEOUT, every BLPOP timed out.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "servers.h"
#include "logtext.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define PASSWORD "pr0d-S3cret"

/* The log lines a handle wrote, from its I/O thread. */
static vt_logtext seen = VT_LOGTEXT_INIT;

/* The password is set once the server runs: the fixture's readiness check sends no AUTH. */
static int setup(void **state)
{
    vt_server *s = vt_server_new((const char *const[]){NULL});
    *state = s;
    if (s == NULL)
        return -1;
    char *ok = vt_node_admin(s->port, false, "CONFIG SET requirepass %s", PASSWORD);
    bool set = ok != NULL && strcmp(ok, "OK") == 0;
    free(ok);
    return set ? 0 : -1;
}

static int teardown(void **state)
{
    if (*state != NULL)
        vt_server_stop(*state);
    free(*state);
    return 0;
}

/* Opens the server with the keys after "127.0.0.1:<port>,", logging into seen. */
static vmux *open_with(const vt_server *s, const char *keys)
{
    char conf[1024];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,%s", s->port, keys);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, vt_logtext_line, VMUX_LOG_INFO, &seen), 0);
    vt_logtext_clear(&seen);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

/* The field "<name>=" of CLIENT INFO as the handle's connection sees it ("" when empty). */
static char *client_info_field(vmux *m, const char *name)
{
    const char *argv[] = {"CLIENT", "INFO"};
    char *info = vt_call_text(m, 2, argv);
    char want[64];
    snprintf(want, sizeof want, " %s=", name);
    const char *at = strstr(info, want);
    if (at == NULL)
        fail_msg("CLIENT INFO has no %s: %s", name, info);
    at += strlen(want);
    char *field = strndup(at, strcspn(at, " \r\n"));
    free(info);
    return field;
}

static void assert_field(vmux *m, const char *name, const char *want)
{
    char *got = client_info_field(m, name);
    if (strcmp(got, want) != 0)
        fail_msg("CLIENT INFO %s=%s, want %s", name, got, want);
    free(got);
}

/* A production string of StackExchange.Redis's, as an outside tester found one. */
static void test_production_string(void **state)
{
    vmux *m = open_with(*state, "password=" PASSWORD ",ssl=false,abortConnect=false,"
                                "allowAdmin=true,connectTimeout=5000,syncTimeout=5000,"
                                "asyncTimeout=5000,configCheckSeconds=60,keepAlive=60,"
                                "connectRetry=3,tiebreaker=,version=8.0,name=orders-api,"
                                "defaultDatabase=2,responseTimeout=5000,resolveDns=false,"
                                "checkCertificateRevocation=false,protocol=resp2,setlib=true,"
                                "configChannel=,channelPrefix=,sslProtocols=Tls12|Tls13,"
                                "heartbeatInterval=1000,ignoreUnknown=true");
    const char *set[] = {"SET", "seredis:key", "ported"};
    char *ok = vt_call_text(m, 3, set);
    assert_string_equal(ok, "OK");
    free(ok);
    const char *get[] = {"GET", "seredis:key"};
    char *value = vt_call_text(m, 2, get);
    assert_string_equal(value, "ported");
    free(value);
    assert_field(m, "name", "orders-api");
    assert_field(m, "db", "2");
    assert_field(m, "lib-name", "vmux");
    vmux_close(m);
    assert_true(vt_logtext_has(&seen, "[1] StackExchange.Redis keys accepted and ignored"));
    assert_true(vt_logtext_has(
        &seen, ": allowAdmin, channelPrefix, checkCertificateRevocation, configChannel, "
               "configCheckSeconds, protocol, resolveDns, responseTimeout, tiebreaker, "
               "version\n"));
    assert_true(
        vt_logtext_has(&seen, "[2] ignoreUnknown=true: unknown keys ignored: heartbeatInterval\n"));
}

/* A key without "=value" is an endpoint, as in SE.Redis: "ssl" there once opened in plaintext,
 * the host "ssl" counted a replica, with no word of it (review 182 L3). */
static void test_key_written_as_endpoint(void **state)
{
    vmux *m = open_with(*state, "password=" PASSWORD ",connectTimeout=1000,SSL");
    vmux_close(m);
    assert_true(vt_logtext_has(&seen, "[2] endpoint SSL:6379 has no '=' and the name of the key "
                                      "ssl: it is dialled as a host; if the setting was meant, "
                                      "write ssl=<value>\n"));
    m = open_with(*state, "password=" PASSWORD ",allowAdmin");
    vmux_close(m);
    assert_true(vt_logtext_has(&seen, "the name of the key allowAdmin"));
    m = open_with(*state, "password=" PASSWORD);
    vmux_close(m);
    assert_false(vt_logtext_has(&seen, "the name of the key"));
}

/* setlib=false: the connection does not name the library (CLIENT SETINFO is not sent). */
static void test_setlib_off(void **state)
{
    vmux *m = open_with(*state, "password=" PASSWORD ",setlib=false");
    assert_field(m, "lib-name", "");
    assert_field(m, "lib-ver", "");
    vmux_close(m);
    assert_false(vt_logtext_has(&seen, "accepted and ignored"));
}

/* The second server: no password, so that setlib=false leaves the setup nothing to send. */
static int setup_open(void **state)
{
    *state = vt_server_new((const char *const[]){NULL});
    return *state != NULL ? 0 : -1;
}

static vmux_stats stats_of(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st;
}

/* Whether the handle at arg has made a second connection ready (a condition). */
static bool connected_again(void *arg)
{
    return stats_of(arg).connects >= 2;
}

/* GET key through m, asserted answered with nil. */
static void assert_get_nil(vmux *m, const char *key)
{
    vmux_bytes v = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    int rc = vmux_get(m, &o, (vmux_str){key, strlen(key)}, &v);
    if (rc != 0)
        fail_msg("GET %s: %s: %s", key, vmux_err_name(rc), vmux_last_error());
    assert_null(v.ptr);
    vmux_bytes_free(&v);
}

/*
 * setlib=false,cluster=no: no command in the session setup. The handle opens and answers, and
 * after the server kills its connection, the next one is ready too.
 */
static void test_setlib_off_nothing_to_send(void **state)
{
    vmux *m = open_with(*state, "setlib=false,cluster=no");
    assert_get_nil(m, "seredis:none");
    assert_field(m, "lib-name", "");
    free(vt_node_admin(((vt_server *)*state)->port, false, "CLIENT KILL TYPE normal"));
    if (!vt_wait_until(connected_again, m, 30000))
        fail_msg("no connection ready again within 30 s of the kill (connects %llu, failures "
                 "%llu)",
                 (unsigned long long)stats_of(m).connects,
                 (unsigned long long)stats_of(m).connect_failures);
    assert_get_nil(m, "seredis:none");
    assert_int_equal(stats_of(m).connect_failures, 1); /* the kill, and no attempt after it */
    vmux_close(m);
}

/*
 * setlib=false under cluster=auto: the handle's own link sends READONLY (its server may be a
 * cluster replica), but a blocking pool link none: its BLPOP on an empty list runs out (nil).
 */
static void test_setlib_off_blocking_pool(void **state)
{
    vmux *m = open_with(*state, "setlib=false");
    vmux_str keys[] = {VMUX_STR("seredis:empty")};
    assert_int_equal(vmux_del(m, NULL, keys, 1, NULL), 0);
    vmux_bytes k = {0}, v = {0};
    int rc = vmux_bpop(m, NULL, VMUX_HEAD, keys, 1, 1000, &k, &v);
    if (rc != 0)
        fail_msg("BLPOP: %s: %s", vmux_err_name(rc), vmux_last_error());
    assert_null(k.ptr);
    assert_null(v.ptr);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_production_string),
        cmocka_unit_test(test_setlib_off),
        cmocka_unit_test(test_key_written_as_endpoint),
    };
    const struct CMUnitTest open_tests[] = {
        cmocka_unit_test(test_setlib_off_nothing_to_send),
        cmocka_unit_test(test_setlib_off_blocking_pool),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return failed + cmocka_run_group_tests(open_tests, setup_open, teardown);
}
