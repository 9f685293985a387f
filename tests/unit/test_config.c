/*
 * Unit tests for the configuration module: strings, URLs, errors, to_string, dup, apply and
 * the typed setters and getters. The internal struct is read only to compare two configs
 * field by field and to check the password, which has no public getter.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config_internal.h"
#include "vmux/client.h"
#include "vmux/config.h"
#include "vmux/error.h"
#include "vmux/types.h"

#define MIB (1024ull * 1024)

/* ---- helpers ---- */

static vmux_config *parse_ok(const char *text)
{
    char err[256] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(text, &cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("parsing '%s' failed: %s (%s)", text, vmux_err_name(rc), err);
    assert_non_null(cfg);
    return cfg;
}

static void assert_str_or_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_endpoint(const vmux_config *cfg, size_t i, const char *host, int port)
{
    const char *h = NULL;
    int p = 0;
    assert_int_equal(vmux_config_endpoint(cfg, i, &h, &p), 0);
    assert_string_equal(h, host);
    assert_int_equal(p, port);
}

/* Every field equal; the password only by presence unless with_password. */
static void assert_config_equal(const vmux_config *a, const vmux_config *b, bool with_password)
{
    assert_int_equal(a->nendpoints, b->nendpoints);
    for (size_t i = 0; i < a->nendpoints; i++) {
        assert_string_equal(a->endpoints[i].host, b->endpoints[i].host);
        assert_int_equal(a->endpoints[i].port, b->endpoints[i].port);
    }
    assert_int_equal(a->ssl, b->ssl);
    assert_int_equal(a->ssl_verify, b->ssl_verify);
    assert_str_or_null(a->ssl_host, b->ssl_host);
    assert_str_or_null(a->ssl_ca_file, b->ssl_ca_file);
    assert_str_or_null(a->ssl_ca_path, b->ssl_ca_path);
    assert_str_or_null(a->ssl_cert, b->ssl_cert);
    assert_str_or_null(a->ssl_key, b->ssl_key);
    assert_str_or_null(a->user, b->user);
    if (with_password)
        assert_str_or_null(a->password, b->password);
    else
        assert_int_equal(a->password != NULL, b->password != NULL);
    assert_str_or_null(a->name, b->name);
    assert_int_equal(a->default_database, b->default_database);
    assert_int_equal(a->abort_connect, b->abort_connect);
    assert_int_equal(a->connect_retry, b->connect_retry);
    assert_int_equal(a->connect_timeout_ms, b->connect_timeout_ms);
    assert_int_equal(a->sync_timeout_ms, b->sync_timeout_ms);
    assert_int_equal(a->async_timeout_ms, b->async_timeout_ms);
    assert_int_equal(a->keep_alive_s, b->keep_alive_s);
    assert_int_equal(a->backlog_size, b->backlog_size);
    assert_int_equal(a->backlog_policy, b->backlog_policy);
    assert_int_equal(a->cluster, b->cluster);
    assert_int_equal(a->reconnect_min_ms, b->reconnect_min_ms);
    assert_int_equal(a->reconnect_max_ms, b->reconnect_max_ms);
    assert_str_or_null(a->service_name, b->service_name);
    assert_str_or_null(a->sentinel_user, b->sentinel_user);
    assert_int_equal(a->sentinel_tls, b->sentinel_tls);
    assert_true(a->max_bulk_length == b->max_bulk_length);
    assert_true(a->max_reply_elements == b->max_reply_elements);
    assert_true(a->max_reply_buffer == b->max_reply_buffer);
}

/* to_string into a fresh heap buffer sized from a first measuring call. */
static char *to_string(const vmux_config *cfg)
{
    int n = vmux_config_to_string(cfg, NULL, 0);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(vmux_config_to_string(cfg, s, (size_t)n + 1), n);
    assert_int_equal(strlen(s), n);
    return s;
}

static void assert_defaults(const vmux_config *cfg)
{
    assert_false(vmux_config_ssl(cfg));
    assert_null(vmux_config_ssl_host(cfg));
    assert_null(vmux_config_ssl_ca_file(cfg));
    assert_null(vmux_config_ssl_ca_path(cfg));
    assert_null(vmux_config_ssl_cert(cfg));
    assert_null(vmux_config_ssl_key(cfg));
    assert_true(vmux_config_ssl_verify(cfg));
    assert_null(vmux_config_user(cfg));
    assert_false(vmux_config_has_password(cfg));
    assert_null(vmux_config_name(cfg));
    assert_int_equal(vmux_config_default_database(cfg), 0);
    assert_true(vmux_config_abort_connect(cfg));
    assert_int_equal(vmux_config_connect_retry(cfg), 3);
    assert_int_equal(vmux_config_connect_timeout(cfg), 5000);
    assert_int_equal(vmux_config_sync_timeout(cfg), 5000);
    assert_int_equal(vmux_config_async_timeout(cfg), 5000);
    assert_int_equal(vmux_config_keep_alive(cfg), 60);
    assert_int_equal(vmux_config_reauth_interval(cfg), 3600);
    assert_int_equal(vmux_config_backlog_size(cfg), 100000);
    assert_int_equal(vmux_config_backlog_policy(cfg), VMUX_BACKLOG_QUEUE);
    assert_int_equal(vmux_config_reconnect_min(cfg), 100);
    assert_int_equal(vmux_config_reconnect_max(cfg), 5000);
    assert_true(vmux_config_max_bulk_length(cfg) == 512 * MIB);
    assert_true(vmux_config_max_reply_elements(cfg) == 16 * MIB);
    assert_true(vmux_config_max_reply_buffer(cfg) == 513 * MIB);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_defaults(cfg);
    assert_int_equal(vmux_config_endpoint_count(cfg), 0);
    char buf[8] = "junk";
    assert_int_equal(vmux_config_to_string(cfg, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    vmux_config_free(cfg);

    assert_defaults(NULL);
    assert_int_equal(vmux_config_endpoint_count(NULL), 0);

    cfg = parse_ok("localhost");
    assert_defaults(cfg);
    assert_int_equal(vmux_config_endpoint_count(cfg), 1);
    assert_endpoint(cfg, 0, "localhost", 6379);
    vmux_config_free(cfg);
}

/* ---- every key ---- */

static void assert_every_key(const vmux_config *cfg)
{
    assert_true(vmux_config_ssl(cfg));
    assert_string_equal(vmux_config_ssl_host(cfg), "tls.example.com");
    assert_string_equal(vmux_config_ssl_ca_file(cfg), "/etc/ca.pem");
    assert_string_equal(vmux_config_ssl_ca_path(cfg), "/etc/certs");
    assert_string_equal(vmux_config_ssl_cert(cfg), "/etc/client.pem");
    assert_string_equal(vmux_config_ssl_key(cfg), "/etc/client.key");
    assert_false(vmux_config_ssl_verify(cfg));
    assert_string_equal(vmux_config_user(cfg), "alice");
    assert_true(vmux_config_has_password(cfg));
    assert_string_equal(cfg->password, "s3cret");
    assert_string_equal(vmux_config_name(cfg), "worker-7");
    assert_int_equal(vmux_config_default_database(cfg), 9);
    assert_false(vmux_config_abort_connect(cfg));
    assert_int_equal(vmux_config_connect_retry(cfg), 7);
    assert_int_equal(vmux_config_connect_timeout(cfg), 1234);
    assert_int_equal(vmux_config_sync_timeout(cfg), 2345);
    assert_int_equal(vmux_config_async_timeout(cfg), 3456);
    assert_int_equal(vmux_config_keep_alive(cfg), 0);
    assert_int_equal(vmux_config_backlog_size(cfg), 42);
    assert_int_equal(vmux_config_backlog_policy(cfg), VMUX_BACKLOG_FAIL_FAST);
    assert_int_equal(vmux_config_cluster(cfg), VMUX_CLUSTER_NO);
    assert_int_equal(vmux_config_cluster_refresh_min_interval(cfg), 250);
    assert_int_equal(vmux_config_reconnect_min(cfg), 50);
    assert_int_equal(vmux_config_reconnect_max(cfg), 60000);
    assert_true(vmux_config_max_bulk_length(cfg) == 1000);
    assert_true(vmux_config_max_reply_elements(cfg) == 2000);
    assert_true(vmux_config_max_reply_buffer(cfg) == 18446744073709551615ull);
}

static void test_every_key(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok(
        "h1,ssl=true,sslHost=tls.example.com,sslCaFile=/etc/ca.pem,sslCaPath=/etc/certs,"
        "sslCert=/etc/client.pem,sslKey=/etc/client.key,sslVerify=false,user=alice,"
        "password=s3cret,name=worker-7,defaultDatabase=9,abortConnect=false,connectRetry=7,"
        "connectTimeout=1234,syncTimeout=2345,asyncTimeout=3456,keepAlive=0,backlogSize=42,"
        "backlogPolicy=failFast,reconnectMin=50,reconnectMax=60000,maxBulkLength=1000,"
        "maxReplyElements=2000,maxReplyBuffer=18446744073709551615,cluster=no,"
        "clusterRefreshMinInterval=250");
    assert_every_key(cfg);
    vmux_config_free(cfg);

    /* Keys and booleans and the policy are case-insensitive; spaces around tokens go. */
    cfg = parse_ok(
        " h1 , SSL = TRUE ,SSLHOST=tls.example.com,sslcafile=/etc/ca.pem,SslCaPath=/etc/certs,"
        "SSLCERT=/etc/client.pem,sslkey=/etc/client.key,SSLVERIFY=False,USER=alice,"
        "PASSWORD=s3cret,NAME=worker-7,DEFAULTDATABASE=9,abortconnect=FALSE,CONNECTRETRY=7,"
        "connecttimeout=1234,SYNCTIMEOUT=2345,asynctimeout=3456,KEEPALIVE=0,backlogsize=42,"
        "BACKLOGPOLICY=FAILFAST,reconnectmin=50,RECONNECTMAX=60000,maxbulklength=1000,"
        "MAXREPLYELEMENTS=2000,maxreplybuffer=18446744073709551615 , CLUSTER=NO,"
        "CLUSTERREFRESHMININTERVAL=250,, ");
    assert_every_key(cfg);
    vmux_config_free(cfg);
}

static void test_bool_forms(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"true", true}, {"TRUE", true}, {"True", true},   {"1", true},
        {"yes", true},  {"YES", true},  {"false", false}, {"FALSE", false},
        {"0", false},   {"no", false},  {"No", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "h,ssl=%s,sslVerify=%s", cases[i].text, cases[i].text);
        vmux_config *cfg = parse_ok(text);
        assert_int_equal(vmux_config_ssl(cfg), cases[i].value);
        assert_int_equal(vmux_config_ssl_verify(cfg), cases[i].value);
        vmux_config_free(cfg);
    }
}

static void test_backlog_policy_values(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("h,backlogPolicy=failfast");
    assert_int_equal(vmux_config_backlog_policy(cfg), VMUX_BACKLOG_FAIL_FAST);
    assert_int_equal(vmux_config_apply(cfg, "backlogPolicy=Queue", NULL, 0), 0);
    assert_int_equal(vmux_config_backlog_policy(cfg), VMUX_BACKLOG_QUEUE);
    vmux_config_free(cfg);
}

/* ---- endpoints and literal values ---- */

static void test_endpoints(void **state)
{
    (void)state;
    vmux_config *cfg =
        parse_ok("  cache.example.com , 10.0.0.1:6380,,[::1]:7000,[fe80::1%eth0],h_2:65535,"
                 "ssl=true,LAST-HOST:1 ");
    assert_int_equal(vmux_config_endpoint_count(cfg), 6);
    assert_endpoint(cfg, 0, "cache.example.com", 6379);
    assert_endpoint(cfg, 1, "10.0.0.1", 6380);
    assert_endpoint(cfg, 2, "::1", 7000);
    assert_endpoint(cfg, 3, "fe80::1%eth0", 6379);
    assert_endpoint(cfg, 4, "h_2", 65535);
    assert_endpoint(cfg, 5, "LAST-HOST", 1);
    vmux_config_free(cfg);
}

static void test_values_literal(void **state)
{
    (void)state;
    /* Split at the first '='; the rest, '=' included, is the value. */
    vmux_config *cfg = parse_ok("h,password=a=b==c,user=x=y");
    assert_string_equal(cfg->password, "a=b==c");
    assert_string_equal(vmux_config_user(cfg), "x=y");
    /* An empty value clears a string; later keys overwrite earlier ones. */
    assert_int_equal(vmux_config_apply(cfg, "user=,connectRetry=2,connectRetry=5", NULL, 0), 0);
    assert_null(vmux_config_user(cfg));
    assert_int_equal(vmux_config_connect_retry(cfg), 5);
    assert_int_equal(vmux_config_apply(cfg, "password=", NULL, 0), 0);
    assert_false(vmux_config_has_password(cfg));
    vmux_config_free(cfg);

    /* Leading zeros are still decimal. */
    cfg = parse_ok("h:00080,connectTimeout=0010");
    assert_endpoint(cfg, 0, "h", 80);
    assert_int_equal(vmux_config_connect_timeout(cfg), 10);
    vmux_config_free(cfg);
}

static void test_async_follows_sync(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("h,syncTimeout=700");
    assert_int_equal(vmux_config_async_timeout(cfg), 700);
    assert_int_equal(vmux_config_set_sync_timeout(cfg, 900), 0);
    assert_int_equal(vmux_config_async_timeout(cfg), 900);
    assert_int_equal(vmux_config_set_async_timeout(cfg, 100), 0);
    assert_int_equal(vmux_config_set_sync_timeout(cfg, 300), 0);
    assert_int_equal(vmux_config_async_timeout(cfg), 100);
    vmux_config_free(cfg);
}

/* ---- URLs ---- */

struct url_case {
    const char *url;
    const char *host;
    int port;
    bool ssl;
    const char *user;
    const char *password;
    int db;
};

static void check_url(const struct url_case *c)
{
    vmux_config *cfg = parse_ok(c->url);
    assert_int_equal(vmux_config_endpoint_count(cfg), 1);
    assert_endpoint(cfg, 0, c->host, c->port);
    assert_int_equal(vmux_config_ssl(cfg), c->ssl);
    assert_str_or_null(vmux_config_user(cfg), c->user);
    assert_str_or_null(cfg->password, c->password);
    assert_int_equal(vmux_config_default_database(cfg), c->db);
    vmux_config_free(cfg);
}

static void test_urls(void **state)
{
    (void)state;
    static const struct url_case cases[] = {
        {"redis://localhost", "localhost", 6379, false, NULL, NULL, 0},
        {"rediss://user:pass@host:6380/0", "host", 6380, true, "user", "pass", 0},
        {"valkey://h:7000/3", "h", 7000, false, NULL, NULL, 3},
        {"valkeys://bob:pw@h", "h", 6379, true, "bob", "pw", 0},
        {"REDIS://H/", "H", 6379, false, NULL, NULL, 0},
        {"redis://:onlypass@h:1", "h", 1, false, NULL, "onlypass", 0},
        {"redis://justuser@h", "h", 6379, false, "justuser", NULL, 0},
        {"redis://[::1]:6390/2", "::1", 6390, false, NULL, NULL, 2},
        {"rediss://u:p@[2001:db8::7]", "2001:db8::7", 6379, true, "u", "p", 0},
        {"redis://us%65r:p%40ss%3Aw%2Fd@h/15", "h", 6379, false, "user", "p@ss:w/d", 15},
        {"redis://u:p@ss@h", "h", 6379, false, "u", "p@ss", 0},
        /* an unencoded '/' in the password: the path begins after the user info */
        {"valkey://app:S3cret/Pw@h/4", "h", 6379, false, "app", "S3cret/Pw", 4},
        {"  redis://h:1/2147483647  ", "h", 1, false, NULL, NULL, 2147483647},
        {"redis://h?", "h", 6379, false, NULL, NULL, 0},
        /* RFC 6874's zone id, after "%25"; a bare '%' works too, as in a string */
        {"redis://[fe80::1%25eth0]:6380", "fe80::1%eth0", 6380, false, NULL, NULL, 0},
        {"redis://[fe80::1%eth0]", "fe80::1%eth0", 6379, false, NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_url(&cases[i]);
}

static void test_url_query(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("redis://h:1/4?connectTimeout=250&&sslCaFile=/etc/ca%20dir/ca.pem"
                                "&NAME=app&backlogPolicy=failFast&password=q%26r&ssl=yes");
    assert_int_equal(vmux_config_connect_timeout(cfg), 250);
    assert_string_equal(vmux_config_ssl_ca_file(cfg), "/etc/ca dir/ca.pem");
    assert_string_equal(vmux_config_name(cfg), "app");
    assert_int_equal(vmux_config_backlog_policy(cfg), VMUX_BACKLOG_FAIL_FAST);
    assert_string_equal(cfg->password, "q&r");
    assert_true(vmux_config_ssl(cfg));
    assert_int_equal(vmux_config_default_database(cfg), 4);
    vmux_config_free(cfg);

    /* A query may turn off the TLS that the scheme turned on. */
    cfg = parse_ok("rediss://h?ssl=false");
    assert_false(vmux_config_ssl(cfg));
    vmux_config_free(cfg);
}

/* Sentinel: the keys, and the +sentinel URLs (hosts are sentinels, the path names the service). */
static void test_sentinel_keys_and_urls(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("s1:26379,s2:26380,serviceName=mymaster,sentinelUser=su,"
                                "sentinelPassword=sp,sentinelTls=true,password=data");
    assert_int_equal(cfg->nendpoints, 2);
    assert_string_equal(cfg->service_name, "mymaster");
    assert_string_equal(cfg->sentinel_user, "su");
    assert_string_equal(cfg->sentinel_password, "sp");
    assert_true(cfg->sentinel_tls);
    assert_false(cfg->ssl);
    char *text = to_string(cfg);
    assert_non_null(strstr(text, "serviceName=mymaster"));
    assert_non_null(strstr(text, "sentinelPassword=*****"));
    assert_null(strstr(text, "sp,"));
    free(text);
    vmux_config_free(cfg);

    cfg = parse_ok("valkey+sentinel://u:p@s1:1,s2,[::1]:3/my%2Dservice/2?sentinelPassword=x");
    assert_int_equal(cfg->nendpoints, 3);
    assert_int_equal(cfg->endpoints[0].port, 1);
    assert_string_equal(cfg->endpoints[1].host, "s2");
    assert_int_equal(cfg->endpoints[1].port, 26379);
    assert_string_equal(cfg->endpoints[2].host, "::1");
    assert_string_equal(cfg->service_name, "my-service");
    assert_string_equal(cfg->user, "u");
    assert_string_equal(cfg->password, "p");
    assert_string_equal(cfg->sentinel_password, "x");
    assert_int_equal(cfg->default_database, 2);
    assert_false(cfg->ssl || cfg->sentinel_tls);
    vmux_config_free(cfg);

    /* The typed setters and getters. */
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_null(vmux_config_service_name(cfg));
    assert_int_equal(vmux_config_set_service_name(cfg, "svc"), 0);
    assert_int_equal(vmux_config_set_service_name(cfg, "s v"), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_set_sentinel_user(cfg, "su"), 0);
    assert_int_equal(vmux_config_set_sentinel_password(cfg, "sp"), 0);
    assert_int_equal(vmux_config_set_sentinel_tls(cfg, true), 0);
    assert_string_equal(vmux_config_service_name(cfg), "svc");
    assert_string_equal(vmux_config_sentinel_user(cfg), "su");
    assert_true(vmux_config_has_sentinel_password(cfg));
    assert_true(vmux_config_sentinel_tls(cfg));
    assert_false(vmux_config_sentinel_tls(NULL));
    vmux_config_free(cfg);

    cfg = parse_ok("REDISS+SENTINEL://s/svc");
    assert_true(cfg->ssl && cfg->sentinel_tls);
    assert_int_equal(cfg->default_database, 0);
    vmux_config_free(cfg);
    cfg = parse_ok("valkeys+sentinel://s/svc?sentinelTls=false");
    assert_true(cfg->ssl);
    assert_false(cfg->sentinel_tls);
    vmux_config_free(cfg);
}

/*
 * ---- a port left out: 6379, or 26379 while serviceName is set, however serviceName was set or
 * cleared, for every reader (vmux_config_endpoint(), to_string and its re-parse, vmux_open()) ----
 */

/* The ways to set serviceName (NULL clears it). */
static int svc_by_setter(vmux_config *cfg, const char *name)
{
    return vmux_config_set_service_name(cfg, name);
}

static int svc_by_set(vmux_config *cfg, const char *name)
{
    return vmux_config_set(cfg, "serviceName", name != NULL ? name : "", NULL, 0);
}

static int svc_by_apply(vmux_config *cfg, const char *name)
{
    char text[64];
    snprintf(text, sizeof text, "serviceName=%s", name != NULL ? name : "");
    return vmux_config_apply(cfg, text, NULL, 0);
}

static int (*const svc_ways[])(vmux_config *, const char *) = {svc_by_setter, svc_by_set,
                                                               svc_by_apply};

/* cfg's one endpoint is 127.0.0.1:port, printed as printed, which parses back to the same. */
static void assert_port_seen(const vmux_config *cfg, int port, const char *printed)
{
    assert_endpoint(cfg, 0, "127.0.0.1", port);
    char *s = to_string(cfg);
    assert_string_equal(s, printed);
    vmux_config *back = parse_ok(s);
    assert_config_equal(cfg, back, false);
    assert_endpoint(back, 0, "127.0.0.1", port);
    free(s);
    vmux_config_free(back);
}

static void test_left_out_port_follows_service_name(void **state)
{
    (void)state;
    for (size_t w = 0; w < sizeof svc_ways / sizeof svc_ways[0]; w++) {
        vmux_config *cfg = parse_ok("127.0.0.1");
        assert_port_seen(cfg, 6379, "127.0.0.1:6379");
        assert_int_equal(svc_ways[w](cfg, "mymaster"), 0);
        assert_port_seen(cfg, 26379, "127.0.0.1:26379,serviceName=mymaster");
        assert_int_equal(svc_ways[w](cfg, NULL), 0);
        assert_port_seen(cfg, 6379, "127.0.0.1:6379");
        vmux_config_free(cfg);

        /* serviceName from the string, cleared afterwards */
        cfg = parse_ok("127.0.0.1,serviceName=x");
        assert_port_seen(cfg, 26379, "127.0.0.1:26379,serviceName=x");
        assert_int_equal(svc_ways[w](cfg, NULL), 0);
        assert_port_seen(cfg, 6379, "127.0.0.1:6379");
        vmux_config_free(cfg);

        /* vmux_config_add_endpoint(..., 0) leaves the port out too */
        assert_int_equal(vmux_config_new(&cfg), 0);
        assert_int_equal(vmux_config_add_endpoint(cfg, "127.0.0.1", 0), 0);
        assert_int_equal(svc_ways[w](cfg, "m"), 0);
        assert_port_seen(cfg, 26379, "127.0.0.1:26379,serviceName=m");
        assert_int_equal(svc_ways[w](cfg, NULL), 0);
        assert_port_seen(cfg, 6379, "127.0.0.1:6379");
        vmux_config_free(cfg);
    }
}

static void test_given_port_stays(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("127.0.0.1:6379,serviceName=m");
    assert_port_seen(cfg, 6379, "127.0.0.1:6379,serviceName=m");
    assert_int_equal(vmux_config_set_service_name(cfg, NULL), 0);
    assert_port_seen(cfg, 6379, "127.0.0.1:6379");
    vmux_config_free(cfg);

    cfg = parse_ok("valkey+sentinel://127.0.0.1/m");
    assert_port_seen(cfg, 26379, "127.0.0.1:26379,serviceName=m");
    vmux_config_free(cfg);

    cfg = parse_ok("127.0.0.1:26379");
    assert_int_equal(vmux_config_set_service_name(cfg, "m"), 0);
    assert_int_equal(vmux_config_set_service_name(cfg, NULL), 0);
    assert_port_seen(cfg, 26379, "127.0.0.1:26379");
    vmux_config_free(cfg);
}

/* A copy keeps the port left out: it follows the copy's own serviceName. */
static void test_dup_keeps_port_left_out(void **state)
{
    (void)state;
    vmux_config *a = parse_ok("127.0.0.1,serviceName=m");
    vmux_config *b = vmux_config_dup(a);
    assert_non_null(b);
    assert_config_equal(a, b, true);
    assert_int_equal(vmux_config_set_service_name(b, NULL), 0);
    assert_port_seen(b, 6379, "127.0.0.1:6379");
    assert_port_seen(a, 26379, "127.0.0.1:26379,serviceName=m");
    vmux_config_free(b);
    vmux_config_free(a);
}

/* Whether something accepts connections on 127.0.0.1:port (then what is dialled cannot fail). */
static bool port_busy(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool busy = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return busy;
}

/* The port vmux_open() dials for cfg's endpoint 127.0.0.1, read from its failure. */
static int dialled_port(const vmux_config *cfg)
{
    vmux_config *c = vmux_config_dup(cfg);
    assert_non_null(c);
    assert_int_equal(vmux_config_set_connect_retry(c, 1), 0);
    assert_int_equal(vmux_config_set_connect_timeout(c, 300), 0);
    char err[512] = "";
    vmux *m = NULL;
    assert_int_not_equal(vmux_open(c, &m, err, sizeof err), 0);
    assert_null(m);
    vmux_config_free(c);
    const char *at = strstr(err, "127.0.0.1:");
    if (at == NULL)
        fail_msg("vmux_open's error names no address: %s", err);
    return atoi(at + strlen("127.0.0.1:"));
}

static void test_open_dials_port_seen(void **state)
{
    (void)state;
    if (port_busy(6379) || port_busy(26379))
        skip(); /* a server there: the dial would not fail and say where it went */
    for (size_t w = 0; w < sizeof svc_ways / sizeof svc_ways[0]; w++) {
        vmux_config *cfg = parse_ok("127.0.0.1");
        assert_int_equal(svc_ways[w](cfg, "mymaster"), 0);
        assert_int_equal(dialled_port(cfg), 26379);
        char *s = to_string(cfg);
        vmux_config *back = parse_ok(s);
        assert_int_equal(dialled_port(back), 26379);
        vmux_config_free(back);
        free(s);
        assert_int_equal(svc_ways[w](cfg, NULL), 0);
        assert_int_equal(dialled_port(cfg), 6379);
        vmux_config_free(cfg);
    }
    vmux_config *cfg = parse_ok("127.0.0.1,serviceName=x");
    assert_int_equal(vmux_config_set_service_name(cfg, NULL), 0);
    assert_int_equal(dialled_port(cfg), 6379);
    vmux_config_free(cfg);
}

/* ---- errors ---- */

struct bad_case {
    const char *text;
    int code;
    const char *message; /* a substring the error message must contain */
};

static const struct bad_case bad_cases[] = {
    {"valkey+sentinel://s1:26379", VMUX_ERR_CONFIG, "a Sentinel URL names its service"},
    {"valkey+sentinel://s1,,s2/svc", VMUX_ERR_CONFIG, "empty sentinel address"},
    {"valkey+sentinel://s1/svc/x", VMUX_ERR_CONFIG, "bad database 'x'"},
    {"foo+sentinel://s1/svc", VMUX_ERR_CONFIG, "unsupported scheme 'foo+sentinel'"},
    {"h,serviceName=a b", VMUX_ERR_CONFIG, "printable ASCII without spaces"},
    {"h,sentinelTls=perhaps", VMUX_ERR_CONFIG, "sentinelTls: 'perhaps' is not a boolean"},
    {"h,sslVerfy=true", VMUX_ERR_CONFIG, "unknown key 'sslVerfy'"},
    {"h,=5", VMUX_ERR_CONFIG, "empty key"},
    {"h,ssl=maybe", VMUX_ERR_CONFIG, "ssl: 'maybe' is not a boolean"},
    {"h,abortConnect=", VMUX_ERR_CONFIG, "abortConnect: '' is not a boolean"},
    {"h,connectTimeout=abc", VMUX_ERR_CONFIG,
     "connectTimeout: 'abc' is not a whole number of milliseconds"},
    {"h,connectTimeout=", VMUX_ERR_CONFIG, "connectTimeout: '' is not a whole number"},
    {"h,syncTimeout=12ms", VMUX_ERR_CONFIG, "syncTimeout: '12ms' is not a whole number"},
    {"h,keepAlive=+5", VMUX_ERR_CONFIG, "keepAlive: '+5' is not a whole number of seconds"},
    {"h,keepAlive=0x10", VMUX_ERR_CONFIG, "keepAlive: '0x10' is not a whole number"},
    {"h,connectRetry=-1", VMUX_ERR_CONFIG, "connectRetry: '-1' is negative"},
    {"h,replicaMaxLag=-1", VMUX_ERR_CONFIG, "replicaMaxLag: '-1' is negative"},
    {"h,replicaMaxLag=2s", VMUX_ERR_CONFIG,
     "replicaMaxLag: '2s' is not a whole number of milliseconds"},
    {"h,connectRetry=0", VMUX_ERR_CONFIG, "connectRetry: '0' is out of range (expected 1.."},
    {"h,asyncTimeout=0", VMUX_ERR_CONFIG, "asyncTimeout: '0' is out of range"},
    {"h,backlogSize=2147483648", VMUX_ERR_CONFIG, "backlogSize: '2147483648' is out of range"},
    {"h,defaultDatabase=99999999999999999999", VMUX_ERR_CONFIG,
     "defaultDatabase: '99999999999999999999' is out of range"},
    {"h,maxBulkLength=18446744073709551616", VMUX_ERR_CONFIG,
     "maxBulkLength: '18446744073709551616' is out of range"},
    {"h,maxReplyElements=0", VMUX_ERR_CONFIG, "maxReplyElements: '0' is out of range"},
    {"h,backlogPolicy=drop", VMUX_ERR_CONFIG, "backlogPolicy: 'drop' is not queue or failFast"},
    {"h,cluster=maybe", VMUX_ERR_CONFIG, "cluster: 'maybe' is not auto, yes or no"},
    {"h,readFrom=replicas", VMUX_ERR_CONFIG,
     "readFrom: 'replicas' is not primary, preferReplica, replica, azAffinity or "
     "azAffinityReplicasAndPrimary"},
    {"h,name=two words", VMUX_ERR_CONFIG, "name: 'two words' may hold only printable ASCII"},
    {"h:x", VMUX_ERR_CONFIG, "bad port 'x' in endpoint 'h:x'"},
    {"h:0", VMUX_ERR_CONFIG, "bad port '0' in endpoint 'h:0'"},
    {"h:65536", VMUX_ERR_CONFIG, "bad port '65536' in endpoint 'h:65536'"},
    {"h:-1", VMUX_ERR_CONFIG, "bad port '-1'"},
    {"h:", VMUX_ERR_CONFIG, "bad port '' in endpoint 'h:'"},
    {":6379", VMUX_ERR_CONFIG, "empty host in endpoint ':6379'"},
    {"[]:6379", VMUX_ERR_CONFIG, "empty host in endpoint '[]:6379'"},
    {"::1", VMUX_ERR_CONFIG, "IPv6 addresses must be in brackets"},
    {"[::1", VMUX_ERR_CONFIG, "bad endpoint '[::1'"},
    {"[::1]6379", VMUX_ERR_CONFIG, "bad endpoint '[::1]6379'"},
    {"bad host:1", VMUX_ERR_CONFIG, "bad host 'bad host'"},
    {"", VMUX_ERR_CONFIG, "no endpoint"},
    {" , ,", VMUX_ERR_CONFIG, "no endpoint"},
    {"ssl=true,abortConnect=false", VMUX_ERR_CONFIG, "no endpoint"},
    {"http://h", VMUX_ERR_CONFIG, "unsupported scheme 'http'"},
    {"redis://h/abc", VMUX_ERR_CONFIG, "bad database 'abc' in URL"},
    {"redis://h/-1", VMUX_ERR_CONFIG, "bad database '-1' in URL"},
    {"redis://h/2147483648", VMUX_ERR_CONFIG, "bad database '2147483648' in URL"},
    {"redis://h/1/2", VMUX_ERR_CONFIG, "bad database '1/2' in URL"},
    {"redis://", VMUX_ERR_CONFIG, "no host in URL"},
    {"redis://u:p@/0", VMUX_ERR_CONFIG, "no host in URL"},
    {"redis://:6379", VMUX_ERR_CONFIG, "empty host in endpoint ':6379'"},
    {"redis://h:99999", VMUX_ERR_CONFIG, "bad port '99999'"},
    {"redis://h?bogus=1", VMUX_ERR_CONFIG, "unknown key 'bogus'"},
    {"redis://h?connectTimeout", VMUX_ERR_CONFIG, "'connectTimeout' is not key=value"},
    {"redis://h?connectTimeout=0", VMUX_ERR_CONFIG, "connectTimeout: '0' is out of range"},
    {"redis://h?name=%zz", VMUX_ERR_CONFIG, "bad percent-encoding in URL query"},
    {"redis://u%2:p@h", VMUX_ERR_CONFIG, "bad percent-encoding in the URL's user"},
    {"redis://u:p%00@h", VMUX_ERR_CONFIG, "bad percent-encoding in the URL's password"},
    {"redis://a%2Cb@h", VMUX_ERR_CONFIG, "user: 'a,b' may not contain ','"},
};

static void test_bad_strings(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        char err[256] = "";
        vmux_config *cfg = (vmux_config *)&err; /* must be overwritten with NULL */
        int rc = vmux_config_parse(c->text, &cfg, err, sizeof err);
        if (rc != c->code || strstr(err, c->message) == NULL)
            fail_msg("'%s': got %s \"%s\", want %s containing \"%s\"", c->text, vmux_err_name(rc),
                     err, vmux_err_name(c->code), c->message);
        assert_null(cfg);
        /* Without an error buffer the code is the same. */
        assert_int_equal(vmux_config_parse(c->text, &cfg, NULL, 0), c->code);
        assert_null(cfg);
    }
}

static void test_errors_hide_password(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "h,password=hunter2,bogus=1",
        "redis://u:hunter2@h:x",
        "redis://u:hunter2@h/abc",
        "redis://u:hunter2@h?password=hunter2&connectRetry=0",
        /* user info in a plain endpoint, and a URL that breaks after its password */
        "u:hunter2@127.0.0.1:6379",
        "h,app:hunter2@h2:6379",
        "valkey://u:hunter2/x@h:badport",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char err[256] = "";
        vmux_config *cfg = NULL;
        assert_int_equal(vmux_config_parse(texts[i], &cfg, err, sizeof err), VMUX_ERR_CONFIG);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "hunter2"));
    }
    /* An unencoded '?' in the user info or '&' in a query's password cuts it: neither piece may
     * come back (review 182 M2: "bad port 'hun' in endpoint 'app:hun'" and the like). */
    static const char *const cut[] = {
        "redis://app:hun?ter2@cache.example.com:6379",
        "redis://:hun?ter2@cache.example.com:6379/0",
        "redis://app:6379?ter2@cache.example.com",
        "redis://app:hun?ter2=1@cache.example.com:6379",
        "rediss://cache.example.com:6380?user=app&password=hun&ter2",
        "redis://cache.example.com?sentinelPassword=hun&ter2=1",
        "redis://cache.example.com?password=hun&ter2&connectRetry=0",
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        char err[256] = "";
        vmux_config *cfg = NULL;
        assert_int_equal(vmux_config_parse(cut[i], &cfg, err, sizeof err), VMUX_ERR_CONFIG);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "hun"));
        assert_null(strstr(err, "ter2"));
    }
}

static void test_small_errbuf(void **state)
{
    (void)state;
    char err[8];
    memset(err, 'x', sizeof err);
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_parse("h,sslVerfy=1", &cfg, err, sizeof err), VMUX_ERR_CONFIG);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_memory_equal(err, "unknown", 7);
}

/* ---- to_string ---- */

static void test_to_string_exact(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"h", "h:6379"},
        {"a:1, [::1]:2 ,b", "a:1,[::1]:2,b:6379"},
        {"h,SSL=yes,connectTimeout=5000,backlogPolicy=failfast,asyncTimeout=5000",
         "h:6379,ssl=true,asyncTimeout=5000,backlogPolicy=failFast"},
        {"rediss://al:pw@h:6380/2", "h:6380,ssl=true,user=al,password=*****,defaultDatabase=2"},
        {"h,sslVerify=false,keepAlive=0", "h:6379,sslVerify=false,keepAlive=0"},
        {"h,cluster=auto", "h:6379"},
        {"h,CLUSTER=Yes", "h:6379,cluster=yes"},
        {"h,cluster=no", "h:6379,cluster=no"},
        {"h,readFrom=primary", "h:6379"},
        /* under serviceName, the endpoints are sentinels: 26379 where no port is given */
        {"s1,s2:26380,[::1],serviceName=m", "s1:26379,s2:26380,[::1]:26379,serviceName=m"},
        {"serviceName=m,s1", "s1:26379,serviceName=m"},
        {"s1,s2:6379", "s1:6379,s2:6379"},
        {"h,READFROM=preferreplica,clientAz=use1-az2",
         "h:6379,readFrom=preferReplica,clientAz=use1-az2"},
        {"h,readFrom=replica", "h:6379,readFrom=replica"},
        {"h,replicaMaxLag=0,readFrom=replica", "h:6379,readFrom=replica"},
        {"h,REPLICAMAXLAG=5000,readFrom=replica", "h:6379,readFrom=replica,replicaMaxLag=5000"},
        {"h,readFrom=AZAFFINITY", "h:6379,readFrom=azAffinity"},
        {"h,readFrom=azAffinityReplicasAndPrimary", "h:6379,readFrom=azAffinityReplicasAndPrimary"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vmux_config *cfg = parse_ok(cases[i].in);
        char *s = to_string(cfg);
        assert_string_equal(s, cases[i].out);
        free(s);
        vmux_config_free(cfg);
    }
}

static void check_round_trip(const char *text)
{
    vmux_config *a = parse_ok(text);
    char *s = to_string(a);
    assert_null(strstr(s, "TopSecret"));
    vmux_config *b = parse_ok(s);
    assert_config_equal(a, b, false);
    char *s2 = to_string(b);
    assert_string_equal(s, s2);
    free(s2);
    free(s);
    vmux_config_free(b);
    vmux_config_free(a);
}

static void test_to_string_round_trip(void **state)
{
    (void)state;
    check_round_trip("h");
    check_round_trip("a:1,[::1]:2,[fe80::1%eth0]:3,b,password=TopSecret");
    check_round_trip("valkeys://me:TopSecret@[::1]:6380/5?sslCaFile=/p/ca.pem&name=n");
    check_round_trip(
        "h1,ssl=true,sslHost=tls.example.com,sslCaFile=/etc/ca.pem,sslCaPath=/etc/certs,"
        "sslCert=/etc/client.pem,sslKey=/etc/client.key,sslVerify=false,user=alice,"
        "password=TopSecret,name=worker-7,defaultDatabase=9,abortConnect=false,connectRetry=7,"
        "connectTimeout=1234,syncTimeout=2345,asyncTimeout=3456,keepAlive=0,backlogSize=42,"
        "backlogPolicy=failFast,reconnectMin=50,reconnectMax=60000,maxBulkLength=1000,"
        "maxReplyElements=2000,maxReplyBuffer=18446744073709551615,cluster=yes,"
        "clusterRefreshMinInterval=250");
}

static void test_to_string_truncates(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("host.example:6379,ssl=true,password=TopSecret");
    const char *full = "host.example:6379,ssl=true,password=*****";
    int n = (int)strlen(full);
    assert_int_equal(vmux_config_to_string(cfg, NULL, 0), n);
    char buf[64];
    for (size_t len = 1; len <= sizeof buf; len++) {
        memset(buf, '#', sizeof buf);
        assert_int_equal(vmux_config_to_string(cfg, buf, len), n);
        size_t want = len - 1 < (size_t)n ? len - 1 : (size_t)n;
        assert_int_equal(strlen(buf), want);
        assert_memory_equal(buf, full, want);
    }
    vmux_config_free(cfg);
}

/* ---- dup and apply ---- */

static void test_dup(void **state)
{
    (void)state;
    vmux_config *a = parse_ok("a:1,b:2,user=u,password=p,name=n,sslCaFile=/x,connectRetry=9");
    vmux_config *b = vmux_config_dup(a);
    assert_non_null(b);
    assert_config_equal(a, b, true);
    assert_ptr_not_equal(a->endpoints, b->endpoints);
    assert_ptr_not_equal(a->endpoints[0].host, b->endpoints[0].host);
    assert_ptr_not_equal(a->user, b->user);
    assert_ptr_not_equal(a->password, b->password);
    /* The copy lives on after the original is changed and freed. */
    assert_int_equal(vmux_config_set_user(a, "other"), 0);
    vmux_config_clear_endpoints(a);
    vmux_config_free(a);
    assert_string_equal(vmux_config_user(b), "u");
    assert_endpoint(b, 1, "b", 2);
    assert_string_equal(b->password, "p");
    vmux_config_free(b);
    assert_null(vmux_config_dup(NULL));
}

static void test_apply(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("a:1,connectRetry=4,name=first");
    char err[256] = "";
    assert_int_equal(vmux_config_apply(cfg, "b:2,name=second,ssl=true", err, sizeof err), 0);
    assert_int_equal(vmux_config_endpoint_count(cfg), 2);
    assert_endpoint(cfg, 0, "a", 1);
    assert_endpoint(cfg, 1, "b", 2);
    assert_string_equal(vmux_config_name(cfg), "second");
    assert_int_equal(vmux_config_connect_retry(cfg), 4);
    assert_true(vmux_config_ssl(cfg));
    /* Keys only: fine when the config has endpoints. Empty text changes nothing. */
    assert_int_equal(vmux_config_apply(cfg, "keepAlive=5", err, sizeof err), 0);
    assert_int_equal(vmux_config_keep_alive(cfg), 5);
    assert_int_equal(vmux_config_apply(cfg, "", err, sizeof err), 0);
    /* A URL adds its endpoint too. */
    assert_int_equal(vmux_config_apply(cfg, "redis://:pw@c:3/1", err, sizeof err), 0);
    assert_int_equal(vmux_config_endpoint_count(cfg), 3);
    assert_endpoint(cfg, 2, "c", 3);
    assert_int_equal(vmux_config_default_database(cfg), 1);
    assert_string_equal(cfg->password, "pw");
    vmux_config_free(cfg);
}

static void test_apply_unchanged_on_error(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("a:1,connectRetry=4,name=first,password=pw");
    vmux_config *before = vmux_config_dup(cfg);
    assert_non_null(before);
    const struct vmux_endpoint *eps = cfg->endpoints;
    static const char *const bad[] = {
        "b:2,name=second,connectRetry=5,bogus=1", /* good tokens before the bad one */
        "c:3,connectTimeout=abc",
        "d:0",
        "redis://u:p@e:5/7?name=x&sslVerify=perhaps",
        "ftp://x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        assert_int_equal(vmux_config_apply(cfg, bad[i], err, sizeof err), VMUX_ERR_CONFIG);
        assert_true(err[0] != '\0');
        assert_config_equal(cfg, before, true);
        assert_ptr_equal(cfg->endpoints, eps);
    }
    vmux_config_free(before);
    vmux_config_free(cfg);

    /* Keys alone on a config with no endpoint: "no endpoint", and nothing set. */
    assert_int_equal(vmux_config_new(&cfg), 0);
    char err[256] = "";
    assert_int_equal(vmux_config_apply(cfg, "ssl=true", err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "no endpoint"));
    assert_false(vmux_config_ssl(cfg));
    vmux_config_free(cfg);
}

/* ---- vmux_config_set ---- */

static void test_set_by_name(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    char err[256] = "";
    assert_int_equal(vmux_config_set(cfg, "connectTimeout", "2500", err, sizeof err), 0);
    assert_int_equal(vmux_config_connect_timeout(cfg), 2500);
    assert_int_equal(vmux_config_set(cfg, "SSL", "true", err, sizeof err), 0);
    assert_true(vmux_config_ssl(cfg));
    assert_int_equal(vmux_config_set(cfg, "password", " spaces kept ", err, sizeof err), 0);
    assert_string_equal(cfg->password, " spaces kept ");
    assert_int_equal(vmux_config_set(cfg, "connectTimeoutt", "1", err, sizeof err),
                     VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "unknown key 'connectTimeoutt'"));
    assert_int_equal(vmux_config_set(cfg, "connectTimeout", "-3", err, sizeof err),
                     VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "connectTimeout: '-3' is negative"));
    assert_int_equal(vmux_config_connect_timeout(cfg), 2500);
    assert_int_equal(vmux_config_set(cfg, "sslHost", " padded", err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "may not begin or end with a space"));
    assert_null(vmux_config_ssl_host(cfg));
    assert_int_equal(vmux_config_set(NULL, "ssl", "true", err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_set(cfg, NULL, "true", err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_set(cfg, "ssl", NULL, err, sizeof err), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
}

/* ---- typed setters ---- */

typedef int (*int_setter)(vmux_config *, int);
typedef int (*int_getter)(const vmux_config *);

static void check_int_setter(int_setter set, int_getter get, int min)
{
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_int_equal(set(cfg, min), 0);
    assert_int_equal(get(cfg), min);
    assert_int_equal(set(cfg, INT_MAX), 0);
    assert_int_equal(get(cfg), INT_MAX);
    assert_int_equal(set(cfg, min - 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(set(cfg, INT_MIN), VMUX_ERR_INVALID_ARG);
    assert_int_equal(get(cfg), INT_MAX);
    assert_int_equal(set(NULL, min), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
}

static void test_int_setters(void **state)
{
    (void)state;
    check_int_setter(vmux_config_set_default_database, vmux_config_default_database, 0);
    check_int_setter(vmux_config_set_connect_retry, vmux_config_connect_retry, 1);
    check_int_setter(vmux_config_set_backlog_size, vmux_config_backlog_size, 1);
}

typedef int (*duration_setter)(vmux_config *, int64_t);
typedef int64_t (*duration_getter)(const vmux_config *);

/* Durations are int64_t (docs/api-conventions.md), from min to 2^31-1; none can be "forever". */
static void check_duration_setter(duration_setter set, duration_getter get, int64_t min)
{
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_int_equal(set(cfg, min), 0);
    assert_int_equal(get(cfg), min);
    assert_int_equal(set(cfg, INT32_MAX), 0);
    assert_int_equal(get(cfg), INT32_MAX);
    assert_int_equal(set(cfg, (int64_t)INT32_MAX + 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(set(cfg, INT64_MAX), VMUX_ERR_INVALID_ARG);
    assert_int_equal(set(cfg, min - 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(set(cfg, VMUX_FOREVER), VMUX_ERR_INVALID_ARG);
    assert_int_equal(set(cfg, INT64_MIN), VMUX_ERR_INVALID_ARG);
    assert_int_equal(get(cfg), INT32_MAX);
    assert_int_equal(set(NULL, min), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
}

static void test_duration_setters(void **state)
{
    (void)state;
    check_duration_setter(vmux_config_set_connect_timeout, vmux_config_connect_timeout, 1);
    check_duration_setter(vmux_config_set_sync_timeout, vmux_config_sync_timeout, 1);
    check_duration_setter(vmux_config_set_async_timeout, vmux_config_async_timeout, 1);
    check_duration_setter(vmux_config_set_keep_alive, vmux_config_keep_alive, 0);
    check_duration_setter(vmux_config_set_reauth_interval, vmux_config_reauth_interval, 0);
    check_duration_setter(vmux_config_set_reconnect_min, vmux_config_reconnect_min, 1);
    check_duration_setter(vmux_config_set_reconnect_max, vmux_config_reconnect_max, 1);
    check_duration_setter(vmux_config_set_replica_max_lag, vmux_config_replica_max_lag, 0);
    assert_int_equal(vmux_config_replica_max_lag(NULL), 0); /* off by default */
}

typedef int (*u64_setter)(vmux_config *, uint64_t);
typedef uint64_t (*u64_getter)(const vmux_config *);

static void check_u64_setter(u64_setter set, u64_getter get)
{
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_int_equal(set(cfg, 1), 0);
    assert_true(get(cfg) == 1);
    assert_int_equal(set(cfg, UINT64_MAX), 0);
    assert_true(get(cfg) == UINT64_MAX);
    assert_int_equal(set(cfg, 0), VMUX_ERR_INVALID_ARG);
    assert_true(get(cfg) == UINT64_MAX);
    assert_int_equal(set(NULL, 1), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
}

static void test_u64_setters(void **state)
{
    (void)state;
    check_u64_setter(vmux_config_set_max_bulk_length, vmux_config_max_bulk_length);
    check_u64_setter(vmux_config_set_max_reply_elements, vmux_config_max_reply_elements);
    check_u64_setter(vmux_config_set_max_reply_buffer, vmux_config_max_reply_buffer);
}

typedef int (*bool_setter)(vmux_config *, bool);
typedef bool (*bool_getter)(const vmux_config *);

static void check_bool_setter(bool_setter set, bool_getter get)
{
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    bool initial = get(cfg);
    assert_int_equal(set(cfg, !initial), 0);
    assert_int_equal(get(cfg), !initial);
    assert_int_equal(set(cfg, initial), 0);
    assert_int_equal(get(cfg), initial);
    assert_int_equal(set(NULL, true), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
}

static void test_bool_and_policy_setters(void **state)
{
    (void)state;
    check_bool_setter(vmux_config_set_ssl, vmux_config_ssl);
    check_bool_setter(vmux_config_set_ssl_verify, vmux_config_ssl_verify);
    check_bool_setter(vmux_config_set_abort_connect, vmux_config_abort_connect);
    check_bool_setter(vmux_config_set_iam_serverless, vmux_config_iam_serverless);

    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_int_equal(vmux_config_set_backlog_policy(cfg, VMUX_BACKLOG_FAIL_FAST), 0);
    assert_int_equal(vmux_config_backlog_policy(cfg), VMUX_BACKLOG_FAIL_FAST);
    assert_int_equal(vmux_config_set_backlog_policy(cfg, (vmux_backlog_policy)7),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_backlog_policy(cfg), VMUX_BACKLOG_FAIL_FAST);
    assert_int_equal(vmux_config_set_backlog_policy(NULL, VMUX_BACKLOG_QUEUE),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_cluster(cfg), VMUX_CLUSTER_AUTO);
    assert_int_equal(vmux_config_set_cluster(cfg, VMUX_CLUSTER_YES), 0);
    assert_int_equal(vmux_config_cluster(cfg), VMUX_CLUSTER_YES);
    assert_int_equal(vmux_config_set_cluster(cfg, (vmux_cluster_mode)3), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_cluster(cfg), VMUX_CLUSTER_YES);
    assert_int_equal(vmux_config_set_cluster(NULL, VMUX_CLUSTER_NO), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_read_from(cfg), VMUX_READ_PRIMARY);
    assert_int_equal(vmux_config_set_read_from(cfg, VMUX_READ_AZ_AFFINITY), 0);
    assert_int_equal(vmux_config_read_from(cfg), VMUX_READ_AZ_AFFINITY);
    assert_int_equal(vmux_config_set_read_from(cfg, (vmux_read_from)5), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_set_read_from(cfg, (vmux_read_from)-1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_read_from(cfg), VMUX_READ_AZ_AFFINITY);
    assert_int_equal(vmux_config_set_read_from(NULL, VMUX_READ_REPLICA), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
}

typedef int (*str_setter)(vmux_config *, const char *);
typedef const char *(*str_getter)(const vmux_config *);

static void check_str_setter(str_setter set, str_getter get)
{
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    char value[] = "value-1";
    assert_int_equal(set(cfg, value), 0);
    value[0] = 'X'; /* the config holds its own copy */
    assert_string_equal(get(cfg), "value-1");
    assert_int_equal(set(cfg, "a,b"), VMUX_ERR_INVALID_ARG);
    assert_int_equal(set(cfg, "tab\there"), VMUX_ERR_INVALID_ARG);
    assert_int_equal(set(cfg, "trailing "), VMUX_ERR_INVALID_ARG);
    assert_string_equal(get(cfg), "value-1");
    assert_int_equal(set(cfg, ""), 0);
    assert_null(get(cfg));
    assert_int_equal(set(cfg, "again"), 0);
    assert_int_equal(set(cfg, NULL), 0);
    assert_null(get(cfg));
    assert_int_equal(set(NULL, "x"), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
}

static void test_string_setters(void **state)
{
    (void)state;
    check_str_setter(vmux_config_set_name, vmux_config_name);
    check_str_setter(vmux_config_set_client_az, vmux_config_client_az);
    check_str_setter(vmux_config_set_ssl_host, vmux_config_ssl_host);
    check_str_setter(vmux_config_set_ssl_ca_file, vmux_config_ssl_ca_file);
    check_str_setter(vmux_config_set_ssl_ca_path, vmux_config_ssl_ca_path);
    check_str_setter(vmux_config_set_ssl_cert, vmux_config_ssl_cert);
    check_str_setter(vmux_config_set_ssl_key, vmux_config_ssl_key);
    check_str_setter(vmux_config_set_user, vmux_config_user);
    check_str_setter(vmux_config_set_name, vmux_config_name);
    /* the IAM keys have theirs too, as docs/configuration.md says of every key */
    check_str_setter(vmux_config_set_iam_user, vmux_config_iam_user);
    check_str_setter(vmux_config_set_iam_cache, vmux_config_iam_cache);
    check_str_setter(vmux_config_set_iam_region, vmux_config_iam_region);

    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_int_equal(vmux_config_set_name(cfg, "with space"), VMUX_ERR_INVALID_ARG);
    /* A password may hold anything, and to_string still hides it. */
    assert_int_equal(vmux_config_set_password(cfg, " a,b=c\t"), 0);
    assert_true(vmux_config_has_password(cfg));
    assert_string_equal(cfg->password, " a,b=c\t");
    assert_int_equal(vmux_config_add_endpoint(cfg, "h", 0), 0);
    char *s = to_string(cfg);
    assert_string_equal(s, "h:6379,password=*****");
    free(s);
    assert_int_equal(vmux_config_set_password(cfg, NULL), 0);
    assert_false(vmux_config_has_password(cfg));
    assert_int_equal(vmux_config_set_password(NULL, "x"), VMUX_ERR_INVALID_ARG);
    vmux_config_free(cfg);
}

/* A text whose host is n bytes of 'a': fmt holds one %s for it. */
static char *with_long_host(const char *fmt, size_t n)
{
    char *host = malloc(n + 1);
    assert_non_null(host);
    memset(host, 'a', n);
    host[n] = '\0';
    size_t len = strlen(fmt) + n + 1;
    char *text = malloc(len);
    assert_non_null(text);
    snprintf(text, len, fmt, host);
    free(host);
    return text;
}

/* Parses fmt with a host of n bytes: 0, or the error naming want (a substring). */
static void long_host_case(const char *fmt, size_t n, const char *want)
{
    char *text = with_long_host(fmt, n);
    char err[256] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(text, &cfg, err, sizeof err);
    if (want == NULL && rc != 0)
        fail_msg("host of %zu bytes in '%s': %s \"%s\"", n, fmt, vmux_err_name(rc), err);
    if (want != NULL && (rc != VMUX_ERR_CONFIG || strstr(err, want) == NULL))
        fail_msg("host of %zu bytes in '%s': got %s \"%s\", want VMUX_ERR_CONFIG with \"%s\"", n,
                 fmt, vmux_err_name(rc), err, want);
    vmux_config_free(cfg);
    free(text);
}

/* vmux_config_add_endpoint() with the host fmt makes of n bytes: refused for n over, taken for
 * n ok. */
static void add_long_host_case(const char *fmt, size_t ok_n, size_t over_n)
{
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    char *ok = with_long_host(fmt, ok_n), *over = with_long_host(fmt, over_n);
    assert_int_equal(vmux_config_add_endpoint(cfg, over, 6379), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_add_endpoint(cfg, ok, 6379), 0);
    assert_endpoint(cfg, 0, ok, 6379);
    free(ok);
    free(over);
    vmux_config_free(cfg);
}

/* A host name over DNS's 253 bytes is refused as it is given, not when vmux_open() resolves it
 * (review 235: it failed there, with a message cut before the port). */
static void test_host_length(void **state)
{
    (void)state;
    long_host_case("%s:6379", 253, NULL);
    long_host_case("redis://%s:6380/1", 253, NULL);
    const char *over =
        "its host of 254 bytes ('aaaaaaaaaaaaaaaaaaaa...') is over 253, the most DNS "
        "allows";
    long_host_case("%s:6379", 254, over);
    long_host_case("%s", 254, "endpoint 1: its host of 254 bytes");
    long_host_case("h1:1,h2,%s:6379,name=x", 254, "endpoint 3: its host of 254 bytes");
    long_host_case("redis://u:p@%s:6380/1", 4000, "endpoint 1: its host of 4000 bytes");
    long_host_case("valkey+sentinel://s1,%s/svc", 254, "endpoint 2: its host of 254 bytes");
    long_host_case("[%s]:6379", 254, "endpoint 1: its host of 254 bytes");

    add_long_host_case("%s", 253, 254);
}

/* An absolute name's trailing dot is not counted: 253 bytes and the dot (254) is a valid DNS name
 * (it was refused as over 253); two dots, or 254 bytes and a dot, are still over. */
static void test_host_trailing_dot(void **state)
{
    (void)state;
    long_host_case("%s.:6379", 253, NULL);
    long_host_case("%s.", 253, NULL);
    long_host_case("redis://%s.:6380/1", 253, NULL);
    long_host_case("valkey+sentinel://s1,%s./svc", 253, NULL);
    long_host_case("%s.:6379", 254, "endpoint 1: its host of 255 bytes");
    long_host_case("%s..:6379", 253, "endpoint 1: its host of 255 bytes");
    long_host_case("%s.:6379", 254, "(an absolute name's trailing dot not counted)");

    add_long_host_case("%s.", 253, 254);
}

/* add_endpoint()'s refusal is worded, naming the endpoint and the rule (vmux_last_error()). */
static void refused_words(vmux_config *cfg, const char *host, int port, const char *want)
{
    int rc = vmux_config_add_endpoint(cfg, host, port);
    if (rc != VMUX_ERR_INVALID_ARG || strncmp(vmux_last_error(), "invalid argument: ", 18) != 0 ||
        strstr(vmux_last_error(), want) == NULL)
        fail_msg("add_endpoint('%.40s', %d): %s \"%s\", expected VMUX_ERR_INVALID_ARG \"%s\"",
                 host != NULL ? host : "(null)", port, vmux_err_name(rc), vmux_last_error(), want);
}

/*
 * An IPv6 literal's zone id names a network interface: at most 15 bytes (IF_NAMESIZE - 1). A
 * longer one is refused as it is given, in words naming the endpoint, the address and the rule,
 * also when the whole host is over 253 (review helper-245: such a host, learned, was dialled;
 * faults.cluster_fake test_moved_zone_too_long).
 */
static void test_zone_length(void **state)
{
    (void)state;
    assert_int_equal(vmux__host_zone_len("fe80::1%eth0", 12), 4);
    assert_int_equal(vmux__host_zone_len("fe80::1%eth0", 7), 0); /* n bytes only */
    assert_int_equal(vmux__host_zone_len("fe80::1", 7), 0);
    assert_int_equal(vmux__host_zone_len("db%eth0", 7), 0);       /* not an IP literal */
    assert_int_equal(vmux__host_zone_len("127.0.0.1%lo", 12), 0); /* IPv4 has no zone */
    long_host_case("[fe80::1%%%s]:6379", 15, NULL);
    long_host_case("redis://[fe80::1%%25%s]:6380", 15, NULL);
    const char *over = "endpoint 1: its IPv6 address 'fe80::1' has a zone id of 16 bytes "
                       "('aaaaaaaaaaaaaaaa'), over 15, the longest name of a network interface";
    long_host_case("[fe80::1%%%s]:6379", 16, over);
    long_host_case("[fe80::1%%%s]", 16, over);
    long_host_case("redis://[fe80::1%%25%s]:6380", 16, over);
    long_host_case("h1,[::1%%%s]:6379", 300,
                   "endpoint 2: its IPv6 address '::1' has a zone id of "
                   "300 bytes");
    add_long_host_case("fe80::1%%%s", 15, 16);
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    char *host = with_long_host("::1%%%s", 20);
    refused_words(cfg, host, 6379, "endpoint 1: its IPv6 address '::1' has a zone id of 20 bytes");
    free(host);
    vmux_config_free(cfg);
}

static void test_add_endpoint_words(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_int_equal(vmux_config_add_endpoint(cfg, "a", 0), 0);
    assert_string_equal(vmux_last_error(), "");
    refused_words(cfg, "b", 65536, "endpoint 2 ('b'): port 65536 out of range 0 .. 65535");
    refused_words(cfg, "b", -1, "endpoint 2 ('b'): port -1 out of range 0 .. 65535");
    refused_words(cfg, "", 1, "endpoint 2: host is empty");
    refused_words(cfg, "a,b", 1, "endpoint 2: bad host 'a,b' (letters, digits");
    refused_words(cfg, "[::1]", 1, "endpoint 2: bad host '[::1]'");
    char *long_host = with_long_host("%s", 254);
    refused_words(cfg, long_host, 1,
                  "endpoint 2: its host of 254 bytes ('aaaaaaaaaaaaaaaaaaaa...') is over 253, the "
                  "most DNS allows");
    free(long_host);
    refused_words(cfg, NULL, 1, "host is NULL");
    refused_words(NULL, "a", 1, "cfg is NULL");
    assert_int_equal(vmux_config_add_endpoint(cfg, "b", 2), 0);
    assert_string_equal(vmux_last_error(), ""); /* a success leaves none */
    assert_int_equal(vmux_config_endpoint_count(cfg), 2);
    vmux_config_free(cfg);
}

/* Expects call to return rc and leave words in vmux_last_error(), as add_endpoint() does. */
#define SETTER_WORDS(call, rc, words)                                                              \
    do {                                                                                           \
        int got_ = (call);                                                                         \
        if (got_ != (rc) || strcmp(vmux_last_error(), (words)) != 0)                               \
            fail_msg("%s: %s, vmux_last_error() '%s'; expected %s, '%s'", #call,                   \
                     vmux_err_name(got_), vmux_last_error(), vmux_err_name(rc), (words));          \
    } while (0)

/* The typed setters and the callback setters word their refusals (vmux_last_error()), in the
 * parser's words for the key; a success leaves the words as they were (config_access.c). */
static void test_setter_words(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    const int bad = VMUX_ERR_INVALID_ARG;
    assert_int_equal(vmux_config_new(&cfg), 0);
    SETTER_WORDS(vmux_config_set_ssl(NULL, true), bad, "invalid argument: cfg is NULL");
    SETTER_WORDS(vmux_config_set_connect_timeout(cfg, 0), bad,
                 "invalid argument: connectTimeout: 0 is out of range (expected 1..2147483647 "
                 "milliseconds)");
    SETTER_WORDS(
        vmux_config_set_sync_timeout(cfg, VMUX_FOREVER), bad,
        "invalid argument: syncTimeout: -1 is negative (expected 1..2147483647 milliseconds)");
    SETTER_WORDS(
        vmux_config_set_connect_timeout(cfg, 250), 0,
        "invalid argument: syncTimeout: -1 is negative (expected 1..2147483647 milliseconds)");
    SETTER_WORDS(vmux_config_set_name(cfg, "a b"), bad,
                 "invalid argument: name: 'a b' may hold only printable ASCII without spaces "
                 "(CLIENT SETNAME refuses "
                 "others)");
    SETTER_WORDS(vmux_config_set_backlog_policy(cfg, (vmux_backlog_policy)7), bad,
                 "invalid argument: policy is 7: none of vmux_backlog_policy");
    SETTER_WORDS(vmux_config_set_read_from(cfg, (vmux_read_from)42), bad,
                 "invalid argument: read_from is 42: none of vmux_read_from");
    SETTER_WORDS(vmux_config_set_ssl_protocols(cfg, 0), bad,
                 "invalid argument: versions is 0x0: VMUX_TLS_1_2, VMUX_TLS_1_3 or both");
    SETTER_WORDS(vmux_config_set_log(cfg, NULL, (vmux_log_level)99, NULL), bad,
                 "invalid argument: min_level is 99: none of vmux_log_level");
    SETTER_WORDS(vmux_config_set_event_handler(NULL, NULL, NULL), bad,
                 "invalid argument: cfg is NULL");
    SETTER_WORDS(vmux_config_set_cluster(cfg, VMUX_CLUSTER_NO), 0, "invalid argument: cfg is NULL");
    vmux_config_free(cfg);
}

/* The config functions' other refusals start "invalid argument: " too, in vmux_last_error() or,
 * for the parser's, in their error buffer: they returned a bare code, or words without it. */
static void test_other_refusal_words(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    const char *host = NULL;
    int port = 0;
    char err[128] = "";
    SETTER_WORDS(vmux_config_new(NULL), VMUX_ERR_INVALID_ARG, "invalid argument: out is NULL");
    assert_int_equal(vmux_config_parse("h:1", &cfg, NULL, 0), 0);
    SETTER_WORDS(vmux_config_endpoint(cfg, 1, &host, &port), VMUX_ERR_INVALID_ARG,
                 "invalid argument: i is 1: the config has 1 endpoints");
    SETTER_WORDS(vmux_config_endpoint(cfg, 0, NULL, &port), VMUX_ERR_INVALID_ARG,
                 "invalid argument: host is NULL");
    SETTER_WORDS(vmux_config_to_string(NULL, NULL, 0), VMUX_ERR_INVALID_ARG,
                 "invalid argument: cfg is NULL");
    SETTER_WORDS(vmux_config_to_string(cfg, NULL, 5), VMUX_ERR_INVALID_ARG,
                 "invalid argument: buf is NULL with len 5 (NULL and 0 measure)");
    assert_int_equal(vmux_config_set(cfg, NULL, "1", err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_string_equal(err, "invalid argument: vmux_config_set(): key is NULL");
    assert_int_equal(vmux_config_apply(NULL, "x", err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_string_equal(err, "invalid argument: vmux_config_apply(): cfg is NULL");
    vmux_config *none = NULL;
    assert_int_equal(vmux_config_parse(NULL, &none, err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_string_equal(err, "invalid argument: vmux_config_parse(): text is NULL");
    vmux_config_free(cfg);
}

/* Opening a Sentinel handle (its watchers' configs are made with one endpoint each) leaves the
 * opening thread's vmux_last_error() as it was: only the caller's own add_endpoint() words it. */
static void test_open_keeps_last_error(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_parse("127.0.0.1:1,127.0.0.1:2,serviceName=svc,abortConnect=false,"
                                       "connectTimeout=100",
                                       &cfg, NULL, 0),
                     0);
    refused_words(cfg, "b", -1, "endpoint 3 ('b'): port -1 out of range");
    char before[256];
    snprintf(before, sizeof before, "%s", vmux_last_error());
    vmux *m = NULL;
    char err[256] = "";
    if (vmux_open(cfg, &m, err, sizeof err) != 0)
        fail_msg("vmux_open: %s", err);
    assert_string_equal(vmux_last_error(), before);
    vmux_close(m);
    vmux_config_free(cfg);
}

static void test_endpoint_api(void **state)
{
    (void)state;
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_new(&cfg), 0);
    assert_int_equal(vmux_config_add_endpoint(cfg, "a", 0), 0);
    assert_int_equal(vmux_config_add_endpoint(cfg, "::1", 65535), 0);
    assert_int_equal(vmux_config_add_endpoint(cfg, "b", -1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_add_endpoint(cfg, "b", 65536), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_add_endpoint(cfg, "", 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_add_endpoint(cfg, "a,b", 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_add_endpoint(cfg, "[::1]", 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_add_endpoint(cfg, NULL, 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_add_endpoint(NULL, "a", 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_endpoint_count(cfg), 2);
    assert_endpoint(cfg, 0, "a", 6379);
    assert_endpoint(cfg, 1, "::1", 65535);
    char *s = to_string(cfg);
    assert_string_equal(s, "a:6379,[::1]:65535");
    free(s);

    const char *host = NULL;
    int port = 0;
    assert_int_equal(vmux_config_endpoint(cfg, 2, &host, &port), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_endpoint(cfg, 0, NULL, &port), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_endpoint(cfg, 0, &host, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_endpoint(NULL, 0, &host, &port), VMUX_ERR_INVALID_ARG);

    vmux_config_clear_endpoints(cfg);
    assert_int_equal(vmux_config_endpoint_count(cfg), 0);
    assert_int_equal(vmux_config_endpoint(cfg, 0, &host, &port), VMUX_ERR_INVALID_ARG);
    vmux_config_clear_endpoints(NULL);
    vmux_config_free(cfg);
}

/* ---- the near cache's mode and BCAST prefixes ---- */

static void test_near_mode_and_prefixes(void **state)
{
    (void)state;
    vmux_config *cfg = parse_ok("h,nearCache=true,nearCacheMode=BCAST,"
                                "nearCachePrefixes=user:;session:;a b");
    assert_int_equal(vmux_config_near_cache_mode(cfg), VMUX_NEAR_BCAST);
    assert_string_equal(vmux_config_near_cache_prefixes(cfg), "user:;session:;a b");
    char *s = to_string(cfg);
    assert_string_equal(s, "h:6379,nearCache=true,nearCacheMode=bcast,"
                           "nearCachePrefixes=user:;session:;a b");
    vmux_config *again = parse_ok(s);
    assert_string_equal(vmux_config_near_cache_prefixes(again), "user:;session:;a b");
    assert_int_equal(vmux_config_near_cache_mode(again), VMUX_NEAR_BCAST);
    vmux_config *copy = vmux_config_dup(again);
    assert_string_equal(vmux_config_near_cache_prefixes(copy), "user:;session:;a b");
    vmux_config_free(copy);
    vmux_config_free(again);
    free(s);
    vmux_config_free(cfg);

    /* BCAST without prefixes tracks every key; optin is the default and is not printed. */
    cfg = parse_ok("redis://h?nearCacheMode=bcast&nearCachePrefixes=u%3B1;v");
    assert_string_equal(vmux_config_near_cache_prefixes(cfg), "u;1;v");
    vmux_config_free(cfg);
    cfg = parse_ok("h,nearCacheMode=bcast");
    assert_null(vmux_config_near_cache_prefixes(cfg));
    vmux_config_free(cfg);
    cfg = parse_ok("h,nearCacheMode=optin");
    assert_int_equal(vmux_config_near_cache_mode(cfg), VMUX_NEAR_OPTIN);
    s = to_string(cfg);
    assert_string_equal(s, "h:6379");
    free(s);
    assert_int_equal(vmux_config_near_cache_mode(NULL), VMUX_NEAR_OPTIN);
    assert_null(vmux_config_near_cache_prefixes(NULL));

    /* The setters check what the parser checks; "" and NULL clear the prefixes. */
    assert_int_equal(vmux_config_set_near_cache_mode(cfg, VMUX_NEAR_BCAST), 0);
    assert_int_equal(vmux_config_near_cache_mode(cfg), VMUX_NEAR_BCAST);
    assert_int_equal(vmux_config_set_near_cache_mode(cfg, (vmux_near_mode)2), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_set_near_cache_mode(NULL, VMUX_NEAR_BCAST), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_set_near_cache_prefixes(cfg, "a:;b:"), 0);
    assert_string_equal(vmux_config_near_cache_prefixes(cfg), "a:;b:");
    static const char *const bad[] = {"a;ab", "ab;a", "a;;b", ";a", "a;", "x;x", "a,b", " a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vmux_config_set_near_cache_prefixes(cfg, bad[i]), VMUX_ERR_INVALID_ARG);
    assert_string_equal(vmux_config_near_cache_prefixes(cfg), "a:;b:"); /* unchanged */
    assert_int_equal(vmux_config_set_near_cache_prefixes(cfg, ""), 0);
    assert_null(vmux_config_near_cache_prefixes(cfg));
    vmux_config_free(cfg);
}

/* 64 prefixes p00; p01; ... (none the start of another), and a 65th when more is true. */
static void prefix_list(char *buf, size_t len, bool more)
{
    size_t at = 0;
    for (int i = 0; i < 64 + (more ? 1 : 0); i++)
        at += (size_t)snprintf(buf + at, len - at, "%sp%02d", i > 0 ? ";" : "", i);
}

static void test_near_bad_values(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"h,nearCacheMode=broadcast", VMUX_ERR_CONFIG,
         "nearCacheMode: 'broadcast' is not optin or bcast"},
        {"h,nearCacheMode=bcast,nearCachePrefixes=user:;user:42", VMUX_ERR_CONFIG,
         "nearCachePrefixes: 'user:;user:42' has overlapping prefixes 'user:' and 'user:42'"},
        {"h,nearCacheMode=bcast,nearCachePrefixes=a;b;a", VMUX_ERR_CONFIG,
         "overlapping prefixes 'a' and 'a'"},
        {"h,nearCacheMode=bcast,nearCachePrefixes=a;;b", VMUX_ERR_CONFIG,
         "nearCachePrefixes: 'a;;b' holds an empty prefix (leave nearCachePrefixes unset"},
        {"h,nearCacheMode=bcast,nearCachePrefixes=a;", VMUX_ERR_CONFIG, "holds an empty prefix"},
        {"h,nearCachePrefixes=user:", VMUX_ERR_CONFIG,
         "nearCachePrefixes is set, but nearCacheMode is not bcast"},
        {"h,nearCachePrefixes=user:,nearCacheMode=optin", VMUX_ERR_CONFIG,
         "nearCacheMode is not bcast"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        vmux_config *cfg = NULL;
        int rc = vmux_config_parse(cases[i].text, &cfg, err, sizeof err);
        if (rc != cases[i].code || strstr(err, cases[i].message) == NULL)
            fail_msg("'%s': got %s \"%s\"", cases[i].text, vmux_err_name(rc), err);
        assert_null(cfg);
    }
    /* Order does not matter: the mode may come after the prefixes. */
    vmux_config *cfg = parse_ok("h,nearCachePrefixes=user:,nearCacheMode=bcast");
    vmux_config_free(cfg);

    char list[512], text[600], err[1024] = "";
    prefix_list(list, sizeof list, false);
    snprintf(text, sizeof text, "h,nearCacheMode=bcast,nearCachePrefixes=%s", list);
    cfg = parse_ok(text);
    vmux_config_free(cfg);
    prefix_list(list, sizeof list, true);
    snprintf(text, sizeof text, "h,nearCacheMode=bcast,nearCachePrefixes=%s", list);
    assert_int_equal(vmux_config_parse(text, &cfg, err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "has more than 64 prefixes"));
}

/* ---- NULL arguments ---- */

static void test_null_arguments(void **state)
{
    (void)state;
    char err[128] = "";
    vmux_config *cfg = (vmux_config *)&err;
    assert_int_equal(vmux_config_parse(NULL, &cfg, err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_null(cfg);
    assert_true(err[0] != '\0');
    assert_int_equal(vmux_config_parse("h", NULL, NULL, 0), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_new(NULL), VMUX_ERR_INVALID_ARG);

    cfg = parse_ok("h");
    assert_int_equal(vmux_config_apply(NULL, "h", NULL, 0), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_apply(cfg, NULL, NULL, 0), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_to_string(NULL, err, sizeof err), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_to_string(cfg, NULL, 5), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_config_to_string(cfg, NULL, 0), (int)strlen("h:6379"));
    vmux_config_free(cfg);
    vmux_config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_bool_forms),
        cmocka_unit_test(test_backlog_policy_values),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_values_literal),
        cmocka_unit_test(test_async_follows_sync),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_url_query),
        cmocka_unit_test(test_sentinel_keys_and_urls),
        cmocka_unit_test(test_left_out_port_follows_service_name),
        cmocka_unit_test(test_given_port_stays),
        cmocka_unit_test(test_dup_keeps_port_left_out),
        cmocka_unit_test(test_open_dials_port_seen),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_errors_hide_password),
        cmocka_unit_test(test_small_errbuf),
        cmocka_unit_test(test_to_string_exact),
        cmocka_unit_test(test_to_string_round_trip),
        cmocka_unit_test(test_to_string_truncates),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_apply_unchanged_on_error),
        cmocka_unit_test(test_set_by_name),
        cmocka_unit_test(test_int_setters),
        cmocka_unit_test(test_duration_setters),
        cmocka_unit_test(test_u64_setters),
        cmocka_unit_test(test_bool_and_policy_setters),
        cmocka_unit_test(test_string_setters),
        cmocka_unit_test(test_endpoint_api),
        cmocka_unit_test(test_host_length),
        cmocka_unit_test(test_add_endpoint_words),
        cmocka_unit_test(test_open_keeps_last_error),
        cmocka_unit_test(test_host_trailing_dot),
        cmocka_unit_test(test_zone_length),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_near_mode_and_prefixes),
        cmocka_unit_test(test_near_bad_values),
        cmocka_unit_test(test_setter_words),
        cmocka_unit_test(test_other_refusal_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
