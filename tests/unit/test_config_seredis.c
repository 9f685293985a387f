/*
 * Unit tests for StackExchange.Redis's keys (docs/configuration.md, "Coming from
 * StackExchange.Redis"): the keys accepted and ignored (their values still checked), the keys
 * refused and why, the keys mapped to new settings (sslProtocols, setlib) with their round trips,
 * ignoreUnknown in any position, and what vmux_open() logs of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config_internal.h"
#include "vmux/config.h"
#include "vmux/error.h"

/* ---- helpers ---- */

static vmux_config *parse_ok(const char *text)
{
    char err[256] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(text, &cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("parsing '%s' failed: %s (%s)", text, vmux_err_name(rc), err);
    return cfg;
}

/* text must fail with VMUX_ERR_CONFIG and a message containing phrase. */
struct failing {
    const char *text, *phrase;
};

static void parse_fails(const char *text, const char *phrase)
{
    char err[512] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(text, &cfg, err, sizeof err);
    if (rc != VMUX_ERR_CONFIG || strstr(err, phrase) == NULL)
        fail_msg("'%s': got %s \"%s\", want VMUX_ERR_CONFIG containing \"%s\"", text,
                 vmux_err_name(rc), err, phrase);
    assert_null(cfg);
}

static void all_fail(const struct failing *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        parse_fails(cases[i].text, cases[i].phrase);
}

static void assert_prints(const vmux_config *cfg, const char *want)
{
    char buf[1024];
    assert_int_equal(vmux_config_to_string(cfg, buf, sizeof buf), (int)strlen(want));
    assert_string_equal(buf, want);
}

/* Prints cfg, parses the print and prints that: the same text, the same setting. */
static void assert_round_trip(const vmux_config *cfg, const char *want)
{
    assert_prints(cfg, want);
    vmux_config *again = parse_ok(want);
    assert_prints(again, want);
    assert_int_equal(vmux_config_ssl_protocols(again), vmux_config_ssl_protocols(cfg));
    assert_int_equal(vmux_config_client_library(again), vmux_config_client_library(cfg));
    assert_int_equal(vmux_config_ignore_unknown(again), vmux_config_ignore_unknown(cfg));
    vmux_config_free(again);
}

/* ---- accepted and ignored ---- */

static const char *const ignored_valid[] = {
    "allowAdmin=true",
    "allowAdmin=false",
    "ALLOWADMIN=Yes",
    "configCheckSeconds=60",
    "configCheckSeconds=-1",
    "configcheckseconds=+5",
    "configCheckSeconds=2147483647",
    "configCheckSeconds=-2147483648",
    "tiebreaker=",
    "tiebreaker=__Booksleeve_TieBreak",
    "TieBreaker=custom key",
    "configChannel=",
    "configChannel=__Booksleeve_MasterChanged",
    "version=8",
    "version=8.0",
    "Version=7.2.4",
    "version=1.2.3.4",
    "resolveDns=false",
    "RESOLVEDNS=on",
    "tcpKeepAlive=true",
    "tcpKeepAlive=0",
    "responseTimeout=5000",
    "responseTimeout=anything", /* obsolete: SE.Redis reads no value */
    "writeBuffer=4096",
    "highPriorityThreads=true",
    "preserveAsyncOrder=false",
    "checkCertificateRevocation=false",
    "CheckCertificateRevocation=FALSE",
    "highIntegrity=false",
    "protocol=resp2",
    "protocol=RESP2",
    "protocol=2",
    "proxy=None",
    "proxy=none",
    "tunnel=",
    "channelPrefix=",
};

/* Each is accepted, changes no setting (the print is the bare endpoint's) and is recorded. */
static void test_ignored_keys_accepted(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ignored_valid / sizeof ignored_valid[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "h:6379,%s", ignored_valid[i]);
        vmux_config *cfg = parse_ok(text);
        assert_prints(cfg, "h:6379");
        if (cfg->compat_ignored == 0)
            fail_msg("'%s' was not recorded as ignored", text);
        vmux_config_free(cfg);
        /* vmux_config_set() takes them too. */
        cfg = parse_ok("h");
        char key[64];
        const char *eq = strchr(ignored_valid[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - ignored_valid[i]), ignored_valid[i]);
        assert_int_equal(vmux_config_set(cfg, key, eq + 1, NULL, 0), 0);
        assert_int_not_equal(cfg->compat_ignored, 0);
        vmux_config_free(cfg);
    }
}

/* A value StackExchange.Redis would refuse is refused: a bool is still a bool. */
static void test_ignored_keys_checked(void **state)
{
    (void)state;
    static const struct failing cases[] = {
        {"h,allowAdmin=maybe", "allowAdmin: 'maybe' is not a boolean"},
        {"h,allowAdmin=", "allowAdmin: '' is not a boolean"},
        {"h,resolveDns=2", "resolveDns: '2' is not a boolean"},
        {"h,tcpKeepAlive=sometimes", "tcpKeepAlive: 'sometimes' is not a boolean"},
        {"h,configCheckSeconds=abc", "configCheckSeconds: 'abc' is not a whole number"},
        {"h,configCheckSeconds=", "configCheckSeconds: '' is not a whole number"},
        {"h,configCheckSeconds=2147483648", "is not a whole number (32 bits)"},
        {"h,configCheckSeconds=-2147483649", "is not a whole number (32 bits)"},
        {"h,configCheckSeconds=1.5", "is not a whole number"},
        {"h,version=eight", "version: 'eight' is not a version"},
        {"h,version=8.", "is not a version"},
        {"h,version=1.2.3.4.5", "is not a version"},
        {"h,version=", "is not a version"},
        {"h,protocol=resp4", "protocol: 'resp4' is not resp2 or resp3"},
        {"h,protocol=", "is not resp2 or resp3"},
        {"h,proxy=nginx", "proxy: 'nginx' is not None, Twemproxy or Envoyproxy"},
        {"h,checkCertificateRevocation=perhaps", "is not a boolean"},
        {"h,highIntegrity=x", "highIntegrity: 'x' is not a boolean"},
    };
    all_fail(cases, sizeof cases / sizeof cases[0]);
}

/* ---- refused ---- */

static void test_refused_keys(void **state)
{
    (void)state;
    static const struct failing cases[] = {
        {"h,channelPrefix=app1-", "channelPrefix: 'app1-' is refused: vmux does not prefix"},
        {"h,CHANNELPREFIX=x", "channelPrefix: 'x' is refused"},
        {"h,checkCertificateRevocation=true",
         "is refused: vmux does not check certificate revocation"},
        {"h,checkcertificaterevocation=1", "checkCertificateRevocation=false"},
        {"h,highIntegrity=true", "highIntegrity: 'true' is refused"},
        {"h,protocol=resp3", "protocol: 'resp3' is refused: vmux speaks RESP2 only"},
        {"h,protocol=RESP3", "vmux speaks RESP2 only"},
        {"h,protocol=3", "vmux speaks RESP2 only"},
        {"h,proxy=twemproxy", "proxy: 'twemproxy' is refused: vmux has no proxy mode"},
        {"h,proxy=Envoyproxy", "vmux has no proxy mode"},
        {"h,tunnel=http:proxy.example.com:8080", "vmux cannot connect through an HTTP proxy"},
        {"h,$INFO=", "$INFO: command maps are refused"},
        {"h,$select=use", "command maps are refused"},
        /* ignoreUnknown covers unknown keys only, as in StackExchange.Redis */
        {"h,ignoreUnknown=true,channelPrefix=app1-", "channelPrefix: 'app1-' is refused"},
        {"h,ignoreUnknown=true,$INFO=", "command maps are refused"},
        {"h,ignoreUnknown=true,allowAdmin=maybe", "allowAdmin: 'maybe' is not a boolean"},
        {"redis://h?channelPrefix=app1-", "channelPrefix: 'app1-' is refused"},
    };
    all_fail(cases, sizeof cases / sizeof cases[0]);
    /* vmux_config_set() refuses the same, and leaves the config as it was. */
    vmux_config *cfg = parse_ok("h");
    char err[512] = "";
    assert_int_equal(vmux_config_set(cfg, "channelPrefix", "app1-", err, sizeof err),
                     VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "does not prefix channel names"));
    assert_int_equal(cfg->compat_ignored, 0);
    vmux_config_free(cfg);
}

/* ---- sslProtocols ---- */

static void test_ssl_protocols(void **state)
{
    (void)state;
    const unsigned both = VMUX_TLS_1_2 | VMUX_TLS_1_3;
    static const struct {
        const char *value;
        unsigned versions;
    } cases[] = {
        {"Tls12", VMUX_TLS_1_2},
        {"tls12", VMUX_TLS_1_2},
        {"TLS13", VMUX_TLS_1_3},
        {"Tls12|Tls13", VMUX_TLS_1_2 | VMUX_TLS_1_3},
        {" tls13 | TLS12 ", VMUX_TLS_1_2 | VMUX_TLS_1_3},
        {"Tls|Tls11|Tls12", VMUX_TLS_1_2}, /* the older ones: vmux never speaks them */
        {"Ssl3|Tls13", VMUX_TLS_1_3},
        {"None", VMUX_TLS_1_2 | VMUX_TLS_1_3}, /* .NET: the system's choice */
        {"none|Tls13", VMUX_TLS_1_3},          /* None is 0: the other names decide */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "h,sslProtocols=%s", cases[i].value);
        vmux_config *cfg = parse_ok(text);
        assert_int_equal(vmux_config_ssl_protocols(cfg), cases[i].versions);
        vmux_config_free(cfg);
    }
    parse_fails("h,sslProtocols=Tls11", "names no version vmux speaks: vmux speaks TLS 1.2");
    parse_fails("h,sslProtocols=Default|Ssl2", "names no version vmux speaks");
    parse_fails("h,sslProtocols=tls12|", "sslProtocols: 'tls12|' is not a list of Tls12, Tls13");
    parse_fails("h,sslProtocols=", "is not a list of Tls12");
    parse_fails("h,sslProtocols=3072", "is not a list of Tls12");
    parse_fails("h,sslProtocols=tls1.3", "is not a list of Tls12");

    /* Printed only when not both; the print parses back to the same set. */
    vmux_config *cfg = parse_ok("h:6379,sslProtocols=Tls12|Tls13");
    assert_prints(cfg, "h:6379");
    assert_int_equal(vmux_config_set(cfg, "SSLPROTOCOLS", "Tls13", NULL, 0), 0);
    assert_round_trip(cfg, "h:6379,sslProtocols=tls13");
    assert_int_equal(vmux_config_set_ssl_protocols(cfg, VMUX_TLS_1_2), 0);
    assert_round_trip(cfg, "h:6379,sslProtocols=tls12");
    assert_int_equal(vmux_config_set_ssl_protocols(cfg, both), 0);
    assert_round_trip(cfg, "h:6379");

    /* The typed setter refuses an empty set and unknown bits, leaving the setting. */
    assert_int_equal(vmux_config_set_ssl_protocols(cfg, VMUX_TLS_1_3), 0);
    assert_int_equal(vmux_config_set_ssl_protocols(cfg, 0), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_set_ssl_protocols(cfg, 4), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_set_ssl_protocols(NULL, both), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_ssl_protocols(cfg), VMUX_TLS_1_3);
    assert_int_equal(vmux_config_ssl_protocols(NULL), both);
    /* A failed vmux_config_set() too. */
    assert_int_equal(vmux_config_set(cfg, "sslProtocols", "Tls11", NULL, 0), VMUX_ERR_CONFIG);
    assert_int_equal(vmux_config_ssl_protocols(cfg), VMUX_TLS_1_3);
    vmux_config_free(cfg);

    cfg = parse_ok("rediss://h:6380?sslProtocols=Tls13");
    assert_int_equal(vmux_config_ssl_protocols(cfg), VMUX_TLS_1_3);
    vmux_config_free(cfg);
}

/* ---- setlib ---- */

static void test_setlib(void **state)
{
    (void)state;
    assert_true(vmux_config_client_library(NULL));
    vmux_config *cfg = parse_ok("h:6379");
    assert_true(vmux_config_client_library(cfg));
    vmux_config_free(cfg);

    cfg = parse_ok("h:6379,SETLIB=False");
    assert_false(vmux_config_client_library(cfg));
    assert_round_trip(cfg, "h:6379,setlib=false");
    assert_int_equal(vmux_config_set_client_library(cfg, true), 0);
    assert_round_trip(cfg, "h:6379");
    assert_int_equal(vmux_config_set_client_library(NULL, true), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
    parse_fails("h,setlib=perhaps", "setlib: 'perhaps' is not a boolean");
}

/* ---- ignoreUnknown ---- */

static void test_ignore_unknown(void **state)
{
    (void)state;
    parse_fails("h,foo=1", "unknown key 'foo' (ignoreUnknown=true ignores unknown keys)");
    parse_fails("h,heartbeatInterval=1000", "unknown key 'heartbeatInterval'");
    /* The last ignoreUnknown of the text decides, wherever the unknown keys are. */
    parse_fails("h,ignoreUnknown=true,foo=1,ignoreUnknown=false", "unknown key 'foo'");
    parse_fails("h,foo=1,bar=2", "unknown key 'foo'");

    static const char *const covered[] = {
        "h:6379,foo=1,ignoreUnknown=true",
        "h:6379,IGNOREUNKNOWN=yes,foo=1",
        "h:6379,ignoreUnknown=false,foo=1,ignoreUnknown=true",
        "redis://h:6379?foo=1&ignoreUnknown=true",
    };
    for (size_t i = 0; i < sizeof covered / sizeof covered[0]; i++) {
        vmux_config *cfg = parse_ok(covered[i]);
        assert_true(vmux_config_ignore_unknown(cfg));
        assert_string_equal(cfg->unknown_keys, "foo");
        assert_round_trip(cfg, "h:6379,ignoreUnknown=true");
        vmux_config_free(cfg);
    }

    /* The unknown keys are named in order; a long list is cut. */
    vmux_config *cfg = parse_ok("h,heartbeatInterval=1000,foo=1,ignoreUnknown=true,bar=");
    assert_string_equal(cfg->unknown_keys, "heartbeatInterval, foo, bar");
    vmux_config_free(cfg);
    char text[2048] = "h,ignoreUnknown=true";
    for (int i = 0; i < 100; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), ",unknownKey%d=1", i);
    cfg = parse_ok(text);
    size_t n = strlen(cfg->unknown_keys);
    assert_true(n < sizeof cfg->unknown_keys);
    assert_string_equal(cfg->unknown_keys + n - 3, "...");
    assert_int_equal(strncmp(cfg->unknown_keys, "unknownKey0, unknownKey1, ", 26), 0);
    vmux_config_free(cfg);

    /* vmux_config_set() and vmux_config_apply() read the config's setting. */
    cfg = parse_ok("h");
    char err[256] = "";
    assert_int_equal(vmux_config_set(cfg, "foo", "1", err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "unknown key 'foo'"));
    assert_string_equal(cfg->unknown_keys, "");
    assert_int_equal(vmux_config_apply(cfg, "foo=1", err, sizeof err), VMUX_ERR_CONFIG);
    assert_string_equal(cfg->unknown_keys, "");
    assert_int_equal(vmux_config_apply(cfg, "foo=1,ignoreUnknown=true", NULL, 0), 0);
    assert_string_equal(cfg->unknown_keys, "foo");
    assert_int_equal(vmux_config_set(cfg, "Bar", "2", NULL, 0), 0);
    assert_int_equal(vmux_config_apply(cfg, "baz=3", NULL, 0), 0);
    assert_string_equal(cfg->unknown_keys, "foo, Bar, baz");
    assert_int_equal(vmux_config_set_ignore_unknown(cfg, false), 0);
    assert_false(vmux_config_ignore_unknown(cfg));
    assert_int_equal(vmux_config_set(cfg, "qux", "4", NULL, 0), VMUX_ERR_CONFIG);
    vmux_config_free(cfg);
    assert_int_equal(vmux_config_set_ignore_unknown(NULL, true), VMUX_ERR_INVALID_ARG);
    assert_false(vmux_config_ignore_unknown(NULL));
    parse_fails("h,ignoreUnknown=maybe", "ignoreUnknown: 'maybe' is not a boolean");
}

/* ---- the log as a handle opens ---- */

struct lines {
    char text[4][512];
    vmux_log_level level[4];
    int n;
};

static void keep_line(vmux_log_level level, const char *message, void *userdata)
{
    struct lines *l = userdata;
    if (l->n < 4) {
        snprintf(l->text[l->n], sizeof l->text[0], "%s", message);
        l->level[l->n++] = level;
    }
}

static void test_log(void **state)
{
    (void)state;
    struct lines l = {0};
    vmux_config *cfg = parse_ok("h,allowAdmin=true,version=8.0,Tiebreaker=,foo=1,"
                                "ignoreUnknown=true,configCheckSeconds=60,bar=2");
    assert_int_equal(vmux_config_set_log(cfg, keep_line, VMUX_LOG_DEBUG, &l), 0);
    vmux__config_log_compat(cfg);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.level[0], VMUX_LOG_INFO);
    assert_non_null(strstr(l.text[0], "accepted and ignored"));
    assert_non_null(strstr(l.text[0], ": allowAdmin, configCheckSeconds, tiebreaker, version"));
    assert_int_equal(l.level[1], VMUX_LOG_WARN);
    assert_non_null(strstr(l.text[1], "unknown keys ignored: foo, bar"));
    /* A copy logs the same; a config without them logs nothing. */
    vmux_config *copy = vmux_config_dup(cfg);
    l.n = 0;
    vmux__config_log_compat(copy);
    assert_int_equal(l.n, 2);
    vmux_config_free(copy);
    vmux_config_free(cfg);
    cfg = parse_ok("h,ssl=true");
    assert_int_equal(vmux_config_set_log(cfg, keep_line, VMUX_LOG_DEBUG, &l), 0);
    l.n = 0;
    vmux__config_log_compat(cfg);
    assert_int_equal(l.n, 0);
    vmux_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ignored_keys_accepted),
        cmocka_unit_test(test_ignored_keys_checked),
        cmocka_unit_test(test_refused_keys),
        cmocka_unit_test(test_ssl_protocols),
        cmocka_unit_test(test_setlib),
        cmocka_unit_test(test_ignore_unknown),
        cmocka_unit_test(test_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
