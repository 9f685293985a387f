/*
 * A configuration string written for StackExchange.Redis, against a real server of the test's
 * own (requirepass set, as in production): the handle opens, serves SET and GET, applies the keys
 * vmux maps (password, name, defaultDatabase, setlib...) and logs the keys it accepted and
 * ignored (INFO) and the unknown ones ignoreUnknown ignored (WARN). setlib=false keeps the
 * library's name from the server (CLIENT INFO's lib-name). docs/configuration.md, "Coming from
 * StackExchange.Redis".
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
#include "testutil.h"
#include "vmux/vmux.h"

#define PASSWORD "pr0d-S3cret"

/* The log lines a handle wrote, from its I/O thread. */
static struct {
    pthread_mutex_t lock;
    char text[8192];
} seen = {PTHREAD_MUTEX_INITIALIZER, ""};

static void keep_line(vmux_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    pthread_mutex_lock(&seen.lock);
    size_t n = strlen(seen.text);
    snprintf(seen.text + n, sizeof seen.text - n, "[%d] %s\n", (int)level, message);
    pthread_mutex_unlock(&seen.lock);
}

static bool log_has(const char *line)
{
    pthread_mutex_lock(&seen.lock);
    bool has = strstr(seen.text, line) != NULL;
    pthread_mutex_unlock(&seen.lock);
    return has;
}

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
    assert_int_equal(vmux_config_set_log(cfg, keep_line, VMUX_LOG_INFO, NULL), 0);
    pthread_mutex_lock(&seen.lock);
    seen.text[0] = '\0';
    pthread_mutex_unlock(&seen.lock);
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
    assert_true(log_has("[1] StackExchange.Redis keys accepted and ignored"));
    assert_true(log_has(": allowAdmin, channelPrefix, checkCertificateRevocation, configChannel, "
                        "configCheckSeconds, protocol, resolveDns, responseTimeout, tiebreaker, "
                        "version\n"));
    assert_true(log_has("[2] ignoreUnknown=true: unknown keys ignored: heartbeatInterval\n"));
}

/* setlib=false: the connection does not name the library (CLIENT SETINFO is not sent). */
static void test_setlib_off(void **state)
{
    vmux *m = open_with(*state, "password=" PASSWORD ",setlib=false");
    assert_field(m, "lib-name", "");
    assert_field(m, "lib-ver", "");
    vmux_close(m);
    assert_false(log_has("accepted and ignored"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_production_string),
        cmocka_unit_test(test_setlib_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
