#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "core/errbuf.h"
#include "core/buf.h"
#include "vmux/error.h"

struct vmux_tls {
    SSL *ssl;
    BIO *in;        /* ciphertext from the server, read by OpenSSL */
    BIO *out;       /* ciphertext OpenSSL wrote, for the socket */
    char peer[256]; /* the name verified (sslHost, or the host: at most 255 bytes), for messages */
};

/*
 * OpenSSL's reason for the most recent failure in this thread, or fallback. A failed system
 * call (a file that cannot be opened) is reported with the system's own words.
 */
static void openssl_reason(char *buf, size_t len, const char *fallback)
{
    const char *why = NULL, *sys = NULL;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (ERR_SYSTEM_ERROR(e))
            sys = strerror(ERR_GET_REASON(e));
        else if (ERR_reason_error_string(e) != NULL)
            why = ERR_reason_error_string(e);
    }
    vmux__errbuf_set(buf, len, "%s", sys != NULL ? sys : why != NULL ? why : fallback);
}

/* Refuses to ask for a pass phrase: OpenSSL would otherwise prompt on the terminal and wait. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return -1;
}

static int ctx_fail(SSL_CTX *ctx, char *errbuf, size_t errlen, const char *what, const char *path)
{
    char why[160];
    openssl_reason(why, sizeof(why), "unknown error");
    vmux__errbuf_set(errbuf, errlen, "%s '%s': %s", what, path ? path : "", why);
    SSL_CTX_free(ctx);
    return VMUX_ERR_TLS;
}

/*
 * OpenSSL reads sslCaPath's certificates only as it verifies one, so a directory it cannot read
 * would fail every handshake as "certificate verify failed", blaming the server (probe28): it is
 * checked as the handle opens instead.
 */
static int check_ca_dir(SSL_CTX *ctx, const char *dir, char *errbuf, size_t errlen)
{
    struct stat st;
    const char *why = NULL;
    if (stat(dir, &st) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    else if (access(dir, R_OK | X_OK) != 0)
        why = strerror(errno);
    if (why == NULL)
        return 0;
    vmux__errbuf_set(errbuf, errlen, "cannot load sslCaPath '%s': %s", dir, why);
    SSL_CTX_free(ctx);
    return VMUX_ERR_TLS;
}

/* sslCaFile naming a directory (/etc/ssl/certs, say): OpenSSL's words do not say what to do. */
static int check_ca_file(SSL_CTX *ctx, const char *file, char *errbuf, size_t errlen)
{
    struct stat st;
    if (stat(file, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0; /* a missing or unreadable file: the load says so, with the system's words */
    vmux__errbuf_set(errbuf, errlen,
                     "cannot load sslCaFile '%s': a directory (give a directory as sslCaPath)",
                     file);
    SSL_CTX_free(ctx);
    return VMUX_ERR_TLS;
}

/*
 * The system trust store, loaded once per process and shared by every handle that trusts it
 * (each context takes a reference): a copy per handle cost ~1 MB and ~22 ms to load (probe40:
 * 144 certificates), where sslCaFile with one CA costs 0.24 MB and 1.7 ms. Certificates added
 * to the system store later are seen by the next process.
 */
static uv_once_t system_once = UV_ONCE_INIT;
static X509_STORE *system_store; /* NULL if it could not be loaded */

static void load_system_store(void)
{
    X509_STORE *st = X509_STORE_new();
    if (st != NULL && X509_STORE_set_default_paths(st) != 1) {
        X509_STORE_free(st);
        st = NULL;
    }
    system_store = st;
}

/* The shared system store for ctx (which sslVerify=false does not need: nothing is loaded). */
static int ctx_use_system_store(SSL_CTX *ctx, const struct vmux_config *cfg, char *errbuf,
                                size_t errlen)
{
    if (!cfg->ssl_verify)
        return 0;
    uv_once(&system_once, load_system_store);
    if (system_store == NULL || X509_STORE_up_ref(system_store) != 1)
        return ctx_fail(ctx, errbuf, errlen, "cannot load the system trust store", "");
    SSL_CTX_set_cert_store(ctx, system_store); /* takes the reference */
    return 0;
}

static int ctx_load_trust(SSL_CTX *ctx, const struct vmux_config *cfg, char *errbuf, size_t errlen)
{
    if (cfg->ssl_ca_file == NULL && cfg->ssl_ca_path == NULL)
        return ctx_use_system_store(ctx, cfg, errbuf, errlen);
    if (cfg->ssl_ca_path != NULL && check_ca_dir(ctx, cfg->ssl_ca_path, errbuf, errlen) != 0)
        return VMUX_ERR_TLS;
    if (cfg->ssl_ca_file != NULL && check_ca_file(ctx, cfg->ssl_ca_file, errbuf, errlen) != 0)
        return VMUX_ERR_TLS;
    if (SSL_CTX_load_verify_locations(ctx, cfg->ssl_ca_file, cfg->ssl_ca_path) != 1)
        return ctx_fail(ctx, errbuf, errlen, "cannot load sslCaFile/sslCaPath",
                        cfg->ssl_ca_file ? cfg->ssl_ca_file : cfg->ssl_ca_path);
    return 0;
}

/*
 * Whether the key just refused was read but belongs to another certificate: loading it already
 * checks it against the loaded certificate, so this failure comes from the load, not from
 * SSL_CTX_check_private_key(), and the PEM hint would mislead.
 */
static bool key_mismatch(void)
{
    unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
}

static int ctx_load_client_cert(SSL_CTX *ctx, const struct vmux_config *cfg, char *errbuf,
                                size_t errlen)
{
    if (cfg->ssl_cert == NULL && cfg->ssl_key == NULL)
        return 0;
    if (cfg->ssl_cert == NULL || cfg->ssl_key == NULL) {
        vmux__errbuf_set(errbuf, errlen, "sslCert and sslKey must be given together");
        SSL_CTX_free(ctx);
        return VMUX_ERR_CONFIG;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->ssl_cert) != 1)
        return ctx_fail(ctx, errbuf, errlen, "cannot load sslCert", cfg->ssl_cert);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->ssl_key, SSL_FILETYPE_PEM) != 1)
        return ctx_fail(ctx, errbuf, errlen,
                        key_mismatch() ? "sslKey does not match sslCert"
                                       : "cannot load sslKey (it must be PEM and not encrypted)",
                        cfg->ssl_key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return ctx_fail(ctx, errbuf, errlen, "sslKey does not match sslCert", cfg->ssl_key);
    return 0;
}

int vmux__tls_ctx_new(const struct vmux_config *cfg, vmux_tls_ctx **out, char *errbuf,
                      size_t errlen)
{
    if (cfg->ssl_host != NULL && strlen(cfg->ssl_host) > VMUX_TLS_NAME_MAX) {
        /* probe40: refused by OpenSSL at every connection, it read as out of memory */
        vmux__errbuf_set(errbuf, errlen, "sslHost is %zu bytes: a name for TLS has at most %d",
                         strlen(cfg->ssl_host), VMUX_TLS_NAME_MAX);
        return VMUX_ERR_CONFIG;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        vmux__errbuf_set(errbuf, errlen, "cannot create a TLS context");
        return VMUX_ERR_NOMEM;
    }
    /* sslProtocols: TLS 1.2 and 1.3, or one of them (never older: vmux__config_keys). */
    SSL_CTX_set_min_proto_version(ctx, (cfg->ssl_protocols & VMUX_TLS_1_2) != 0 ? TLS1_2_VERSION
                                                                                : TLS1_3_VERSION);
    if ((cfg->ssl_protocols & VMUX_TLS_1_3) == 0)
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, cfg->ssl_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    int rc = ctx_load_trust(ctx, cfg, errbuf, errlen);
    if (rc == 0)
        rc = ctx_load_client_cert(ctx, cfg, errbuf, errlen);
    if (rc != 0)
        return rc; /* ctx freed */
    *out = ctx;
    return 0;
}

void vmux__tls_ctx_free(vmux_tls_ctx *ctx)
{
    SSL_CTX_free(ctx);
}

/*
 * The address an IP literal names, in buf (cap bytes): name itself, or an IPv6 literal without
 * its zone id ("fe80::1%eth0", "::1%lo": the zone names the local interface to use, not an
 * address a certificate holds, and OpenSSL refuses it as an IP to check: curl checks the address
 * alone too). NULL when name is not an IP literal.
 */
static const char *ip_address(const char *name, char *buf, size_t cap)
{
    unsigned char bin[sizeof(struct in6_addr)];
    const char *zone = strchr(name, '%');
    size_t n = zone != NULL ? (size_t)(zone - name) : strlen(name);
    if (n >= cap)
        return NULL;
    memcpy(buf, name, n);
    buf[n] = '\0';
    if (uv_inet_pton(AF_INET6, buf, bin) == 0 ||
        (zone == NULL && uv_inet_pton(AF_INET, buf, bin) == 0))
        return buf;
    return NULL;
}

/* An IP literal: checked against the certificate's IP entries; no SNI (RFC 6066). */
static int check_ip(struct vmux_tls *t, const struct vmux_config *cfg, const char *ip, char *reason,
                    size_t len)
{
    if (!cfg->ssl_verify || X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), ip) == 1)
        return 0;
    char why[160];
    openssl_reason(why, sizeof why, "refused");
    vmux__errbuf_set(reason, len, "cannot check the certificate against the IP address '%s': %s",
                     ip, why);
    return VMUX_ERR_TLS;
}

/* A host name: sent as SNI, and matched against the certificate's DNS names. */
static int check_name(struct vmux_tls *t, const struct vmux_config *cfg, const char *name,
                      char *reason, size_t len)
{
    size_t n = strlen(name);
    if (n > VMUX_TLS_NAME_MAX) { /* OpenSSL refuses it, for SNI and for the check alike */
        vmux__errbuf_set(reason, len,
                         "the name '%.32s...' is %zu bytes: a name for TLS has at most %d", name, n,
                         VMUX_TLS_NAME_MAX);
        return VMUX_ERR_TLS;
    }
    bool ok = SSL_set_tlsext_host_name(t->ssl, name) == 1;
    if (ok && cfg->ssl_verify) {
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(t->ssl, name) == 1;
    }
    if (ok)
        return 0;
    char why[160];
    openssl_reason(why, sizeof why, "refused");
    vmux__errbuf_set(reason, len, "cannot check the certificate against the name '%s': %s", name,
                     why);
    return VMUX_ERR_TLS;
}

/* The peer name to verify, and SNI: sslHost, or the endpoint's host. */
static int set_peer_name(struct vmux_tls *t, const struct vmux_config *cfg, const char *host,
                         char *reason, size_t len)
{
    const char *name = cfg->ssl_host != NULL ? cfg->ssl_host : host;
    char addr[INET6_ADDRSTRLEN];
    const char *ip = ip_address(name, addr, sizeof addr);
    vmux__errbuf_set(t->peer, sizeof t->peer, "%s", ip != NULL ? ip : name);
    return ip != NULL ? check_ip(t, cfg, ip, reason, len) : check_name(t, cfg, name, reason, len);
}

int vmux__tls_new(vmux_tls_ctx *ctx, const struct vmux_config *cfg, const char *host,
                  struct vmux_tls **out, char *reason, size_t len)
{
    *out = NULL;
    struct vmux_tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        vmux__errbuf_set(reason, len, "out of memory");
        return VMUX_ERR_NOMEM;
    }
    ERR_clear_error();
    t->ssl = SSL_new(ctx);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        free(t);
        vmux__errbuf_set(reason, len, "out of memory");
        return VMUX_ERR_NOMEM;
    }
    BIO_set_mem_eof_return(t->in, -1); /* an empty input BIO means "wait", not EOF */
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_connect_state(t->ssl);
    int rc = set_peer_name(t, cfg, host, reason, len);
    if (rc != 0) {
        vmux__tls_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void vmux__tls_free(struct vmux_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

/* Explains a failed SSL call: verification result first, as it is what a person can act on. */
static int tls_error(struct vmux_tls *t, int rc, char *reason, size_t len)
{
    int err = SSL_get_error(t->ssl, rc);
    /* Without verification OpenSSL still records what it would have refused: ignore it. */
    long verify =
        SSL_get_verify_mode(t->ssl) == SSL_VERIFY_NONE ? X509_V_OK : SSL_get_verify_result(t->ssl);
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        /* the name checked: a cluster node's announced name differs from its address */
        vmux__errbuf_set(reason, len,
                         "certificate verify failed: %s (the certificate does not "
                         "name '%s')",
                         X509_verify_cert_error_string(verify), t->peer);
        ERR_clear_error();
    } else if (verify != X509_V_OK) {
        vmux__errbuf_set(reason, len, "certificate verify failed: %s",
                         X509_verify_cert_error_string(verify));
        ERR_clear_error();
    } else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
        vmux__errbuf_set(reason, len, "the server ended the TLS session");
        ERR_clear_error();
    } else {
        openssl_reason(reason, len, "TLS protocol error");
    }
    return VMUX_ERR_TLS;
}

int vmux__tls_handshake(struct vmux_tls *t, char *reason, size_t len)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1)
        return 1;
    int err = SSL_get_error(t->ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return 0;
    return tls_error(t, rc, reason, len);
}

int vmux__tls_feed(struct vmux_tls *t, const char *data, size_t len)
{
    return BIO_write(t->in, data, (int)len) == (int)len ? 0 : VMUX_ERR_NOMEM;
}

int vmux__tls_read(struct vmux_tls *t, char *buf, size_t cap, char *reason, size_t len)
{
    ERR_clear_error();
    int n = SSL_read(t->ssl, buf, (int)cap);
    if (n > 0)
        return n;
    int err = SSL_get_error(t->ssl, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return 0;
    if (err == SSL_ERROR_ZERO_RETURN) {
        vmux__errbuf_set(reason, len, "the server closed the TLS session");
        return VMUX_ERR_IO;
    }
    return tls_error(t, n, reason, len);
}

int vmux__tls_write(struct vmux_tls *t, const char *data, size_t len, char *reason, size_t rlen)
{
    while (len > 0) {
        ERR_clear_error();
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        int n = SSL_write(t->ssl, data, chunk);
        if (n <= 0)
            return tls_error(t, n, reason, rlen);
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int vmux__tls_take_output(struct vmux_tls *t, struct vmux_buf *out)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(t->out)) > 0) {
        if (vmux__buf_reserve(out, pending) != 0)
            return VMUX_ERR_NOMEM;
        int n = BIO_read(t->out, out->data + out->len, (int)pending);
        if (n <= 0)
            break;
        out->len += (size_t)n;
    }
    return 0;
}
