/*
 * The name a TLS session checks and sends as SNI (net/tls.c), read from the ClientHello it
 * writes, which a server-side OpenSSL session of the test's own parses: a host name is sent as
 * SNI; an IP literal is not (RFC 6066), nor an IPv6 literal with a zone id ("::1%lo"), which
 * failed to start a session as "out of memory" under sslVerify (OpenSSL refused the zone as an IP
 * to check; review helper-245); a name TLS cannot carry fails VMUX_ERR_TLS, in words naming it.
 * The certificate checks themselves run against real servers (integration.tls).
 */
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "net/tls.h"
#include "vmux/config.h"
#include "vmux/error.h"

/* What the server side saw: whether the ClientHello had a server_name, and which. */
struct hello {
    bool seen, sni;
    char name[300];
};

/* server_name's extension: list length (2), name type (1), name length (2), the name. */
static int on_client_hello(SSL *s, int *alert, void *arg)
{
    struct hello *h = arg;
    const unsigned char *ext;
    size_t n;
    (void)alert;
    h->seen = true;
    h->sni = SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &ext, &n) == 1;
    if (h->sni && n >= 5) {
        size_t len = ((size_t)ext[3] << 8) | ext[4];
        snprintf(h->name, sizeof h->name, "%.*s", (int)(len <= n - 5 ? len : n - 5), ext + 5);
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Hands the ClientHello in out to a server session, which tells what it holds. */
static struct hello server_reads(const struct vmux_buf *out)
{
    struct hello h = {0};
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(sctx);
    SSL_CTX_set_client_hello_cb(sctx, on_client_hello, &h);
    SSL *s = SSL_new(sctx);
    BIO *in = BIO_new(BIO_s_mem()), *sout = BIO_new(BIO_s_mem());
    assert_true(s != NULL && in != NULL && sout != NULL);
    SSL_set_bio(s, in, sout);
    assert_int_equal(BIO_write(in, out->data + out->off, (int)(out->len - out->off)),
                     (int)(out->len - out->off));
    (void)SSL_accept(s); /* fails later (no certificate): the hello was read first */
    SSL_free(s);
    SSL_CTX_free(sctx);
    assert_true(h.seen);
    return h;
}

static vmux_config *config_of(const char *conf)
{
    char err[256] = "";
    vmux_config *cfg = NULL;
    if (vmux_config_parse(conf, &cfg, err, sizeof err) != 0)
        fail_msg("%s: %s", conf, err);
    return cfg;
}

/* The hello a session to host under conf (verification on unless it says otherwise) sends. */
static struct hello hello_to(const char *conf, const char *host)
{
    vmux_config *cfg = config_of(conf);
    char err[256] = "";
    vmux_tls_ctx *ctx = NULL;
    assert_int_equal(vmux__tls_ctx_new(cfg, &ctx, err, sizeof err), 0);
    struct vmux_tls *t = NULL;
    int rc = vmux__tls_new(ctx, cfg, host, &t, err, sizeof err);
    if (rc != 0)
        fail_msg("a session to '%s' (%s): %s '%s'", host, conf, vmux_err_name(rc), err);
    assert_int_equal(vmux__tls_handshake(t, err, sizeof err), 0); /* waits for the server */
    struct vmux_buf out = {0};
    assert_int_equal(vmux__tls_take_output(t, &out), 0);
    struct hello h = server_reads(&out);
    vmux__buf_free(&out);
    vmux__tls_free(t);
    vmux__tls_ctx_free(ctx);
    vmux_config_free(cfg);
    return h;
}

static void expect_sni(const char *conf, const char *host, const char *want)
{
    struct hello h = hello_to(conf, host);
    if (want == NULL && h.sni)
        fail_msg("'%s' (%s) sent SNI '%s': an IP literal sends none", host, conf, h.name);
    if (want != NULL && (!h.sni || strcmp(h.name, want) != 0))
        fail_msg("'%s' (%s) sent %s '%s', expected SNI '%s'", host, conf, h.sni ? "SNI" : "no SNI",
                 h.name, want);
}

static void test_names_send_sni(void **state)
{
    (void)state;
    expect_sni("h,ssl=true", "localhost", "localhost");
    expect_sni("h,ssl=true,sslHost=cache.example.com", "::1%lo", "cache.example.com");
    expect_sni("h,ssl=true,sslVerify=false", "db.example.com", "db.example.com");
}

/* Also with a zone id, whether verifying or not; the zone is not a part of the name checked. */
static void test_ip_literals_send_none(void **state)
{
    (void)state;
    const char *hosts[] = {"127.0.0.1", "::1", "::1%lo", "fe80::1%eth0", "fe80::1%25"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        expect_sni("h,ssl=true", hosts[i], NULL);
        expect_sni("h,ssl=true,sslVerify=false", hosts[i], NULL);
        expect_sni("h,ssl=true,sslHost=10.0.0.5", hosts[i], NULL);
    }
    expect_sni("h,ssl=true,sslHost=fe80::7%lo", "localhost", NULL);
}

/* A name TLS cannot carry fails as a TLS failure naming it, not as out of memory. */
static void test_name_too_long(void **state)
{
    (void)state;
    vmux_config *cfg = config_of("h,ssl=true");
    char err[256] = "", host[301];
    memset(host, 'a', 300);
    host[300] = '\0';
    vmux_tls_ctx *ctx = NULL;
    assert_int_equal(vmux__tls_ctx_new(cfg, &ctx, err, sizeof err), 0);
    struct vmux_tls *t = (struct vmux_tls *)&err; /* a marker a failure must clear */
    assert_int_equal(vmux__tls_new(ctx, cfg, host, &t, err, sizeof err), VMUX_ERR_TLS);
    assert_null(t);
    if (strstr(err, "is 300 bytes: a name for TLS has at most 255") == NULL ||
        strstr(err, "'aaaaaaaa") == NULL)
        fail_msg("the words: '%s'", err);
    vmux__tls_ctx_free(ctx);
    vmux_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_send_sni),
        cmocka_unit_test(test_ip_literals_send_none),
        cmocka_unit_test(test_name_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
