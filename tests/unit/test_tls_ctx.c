/*
 * TLS contexts (net/tls.c): every handle that trusts the system store shares one copy of it,
 * loaded once per process (each handle loaded its own before: ~1 MB and ~22 ms a handle,
 * probe40); a handle with sslVerify=false loads none, and one with sslCaFile its own. An sslHost
 * longer than TLS takes is a configuration error (it read as out of memory at every connection).
 */
#include <openssl/ssl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/tls.h"
#include "vmux/config.h"
#include "vmux/error.h"

static vmux_tls_ctx *ctx_for(const char *conf)
{
    char err[256] = "";
    vmux_config *cfg = NULL;
    if (vmux_config_parse(conf, &cfg, err, sizeof err) != 0)
        fail_msg("%s: %s", conf, err);
    vmux_tls_ctx *ctx = NULL;
    int rc = vmux__tls_ctx_new(cfg, &ctx, err, sizeof err);
    vmux_config_free(cfg);
    if (rc != 0)
        fail_msg("%s: %d %s", conf, rc, err);
    return ctx;
}

static void test_system_store_shared(void **state)
{
    (void)state;
    vmux_tls_ctx *a = ctx_for("localhost:6380,ssl=true");
    vmux_tls_ctx *b = ctx_for("localhost:6381,ssl=true,sslHost=cache.example.com");
    vmux_tls_ctx *off = ctx_for("localhost:6380,ssl=true,sslVerify=false");
    X509_STORE *shared = SSL_CTX_get_cert_store(a);
    assert_non_null(shared);
    assert_ptr_equal(SSL_CTX_get_cert_store(b), shared);
    assert_ptr_not_equal(SSL_CTX_get_cert_store(off), shared); /* an empty store of its own */
    vmux__tls_ctx_free(a);
    vmux__tls_ctx_free(b);
    /* The store outlives the contexts that used it: the next one gets it again. */
    vmux_tls_ctx *c = ctx_for("localhost:6380,ssl=true");
    assert_ptr_equal(SSL_CTX_get_cert_store(c), shared);
    vmux__tls_ctx_free(c);
    vmux__tls_ctx_free(off);
}

static void test_ssl_host_too_long(void **state)
{
    (void)state;
    char conf[400], err[256] = "";
    int n = snprintf(conf, sizeof conf, "localhost:6380,ssl=true,sslHost=");
    memset(conf + n, 'a', 300);
    snprintf(conf + n + 300, sizeof conf - (size_t)n - 300, ".example.com");
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_parse(conf, &cfg, err, sizeof err), 0);
    vmux_tls_ctx *ctx = NULL;
    assert_int_equal(vmux__tls_ctx_new(cfg, &ctx, err, sizeof err), VMUX_ERR_CONFIG);
    assert_null(ctx);
    assert_non_null(strstr(err, "sslHost is 312 bytes"));
    vmux_config_free(cfg);
    conf[n + 255 - 12] = '\0'; /* 255 bytes with the suffix: taken */
    snprintf(conf + strlen(conf), sizeof conf - strlen(conf), ".example.com");
    vmux_tls_ctx *ok = ctx_for(conf);
    vmux__tls_ctx_free(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_system_store_shared),
        cmocka_unit_test(test_ssl_host_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
