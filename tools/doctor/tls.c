/*
 * The tls step with TLS on: its own handshake with OpenSSL (not the library's), so it can show
 * what a session hides: the protocol and cipher, the certificate's subject, names and expiry,
 * and why verification failed. The handshake runs without enforcing verification, so the
 * certificate can be shown even when it would be refused; OpenSSL still verifies the chain and
 * the name and keeps the result (SSL_get_verify_result), which decides the verdict as the
 * library would (sslVerify).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "doctor.h"

/* The most recent OpenSSL error as text ("" when the queue is empty); clears the queue. */
static void last_error(char *out, size_t len)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    const char *reason = last ? ERR_reason_error_string(last) : NULL;
    out[0] = '\0';
    if (reason != NULL)
        snprintf(out, len, "%s", reason);
    else if (last)
        ERR_error_string_n(last, out, len);
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * True, with the step failed, when the file the key names cannot be read: OpenSSL's own
 * message for that is only "system lib".
 */
static bool unreadable(doc_step *s, const char *key, const char *path)
{
    if (path == NULL || access(path, R_OK) == 0)
        return false;
    doc_step_set(s, DOC_FAIL, "cannot read %s=%s: %s", key, path, strerror(errno));
    doc_step_hint(s, "check the path and the file's permissions for the user that runs the "
                     "application");
    return true;
}

/* Loads what the configuration names; on failure sets the step's verdict and hint. */
static bool load_files(SSL_CTX *tc, const vmux_config *cfg, doc_step *s)
{
    const char *ca = vmux_config_ssl_ca_file(cfg), *cap = vmux_config_ssl_ca_path(cfg);
    const char *cert = vmux_config_ssl_cert(cfg), *key = vmux_config_ssl_key(cfg);
    char why[256];
    if (unreadable(s, "sslCaFile", ca) || unreadable(s, "sslCaPath", cap) ||
        unreadable(s, "sslCert", cert) || unreadable(s, "sslKey", key))
        return false;
    bool ok = (ca || cap) ? SSL_CTX_load_verify_locations(tc, ca, cap) == 1
                          : SSL_CTX_set_default_verify_paths(tc) == 1;
    if (!ok) {
        last_error(why, sizeof(why));
        doc_step_set(s, DOC_FAIL, "cannot load the CA (%s): %s",
                     ca    ? ca
                     : cap ? cap
                           : "system",
                     why);
        doc_step_hint(s, "sslCaFile must name a readable PEM file of CA certificates (sslCaPath "
                         "a directory made by openssl rehash)");
        return false;
    }
    if (cert == NULL && key == NULL)
        return true;
    if (cert == NULL || key == NULL) {
        doc_step_set(s, DOC_FAIL, "sslCert and sslKey go together; only one is set");
        doc_step_hint(s, "set both, the client certificate and its private key");
        return false;
    }
    if (SSL_CTX_use_certificate_chain_file(tc, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(tc, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tc) != 1) {
        last_error(why, sizeof(why));
        doc_step_set(s, DOC_FAIL, "cannot load the client certificate %s with key %s: %s", cert,
                     key, why);
        doc_step_hint(s, "sslCert and sslKey must be readable PEM files, the key matching the "
                         "certificate");
        return false;
    }
    return true;
}

/* The name to check and send as SNI, as the library does: sslHost, or the endpoint's host. */
static const char *peer_name(const vmux_config *cfg, const doc_endpoint *ep)
{
    const char *h = vmux_config_ssl_host(cfg);
    return h != NULL ? h : ep->host;
}

static void set_peer_name(SSL *ssl, const char *name)
{
    if (is_ip_literal(name)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
        return;
    }
    SSL_set_tlsext_host_name(ssl, name);
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, name);
}

/* The certificate's DNS names and IP addresses, comma-separated. */
static void cert_names(X509 *cert, char *out, size_t len)
{
    out[0] = '\0';
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        char one[300] = "";
        if (g->type == GEN_DNS) {
            snprintf(one, sizeof(one), "DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            int n = ASN1_STRING_length(g->d.iPAddress);
            char ip[INET6_ADDRSTRLEN] = "?";
            inet_ntop(n == 16 ? AF_INET6 : AF_INET, ASN1_STRING_get0_data(g->d.iPAddress), ip,
                      sizeof(ip));
            snprintf(one, sizeof(one), "IP:%s", ip);
        }
        if (one[0])
            snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? ", " : "", one);
    }
    GENERAL_NAMES_free(names);
}

/* notAfter as text, and the whole days left until then (negative once past). */
static int cert_expiry(X509 *cert, char *out, size_t len)
{
    const ASN1_TIME *end = X509_get0_notAfter(cert);
    BIO *b = BIO_new(BIO_s_mem());
    out[0] = '\0';
    if (b != NULL && ASN1_TIME_print(b, end) == 1) {
        int n = BIO_read(b, out, (int)len - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    int days = 0, secs = 0;
    ASN1_TIME_diff(&days, &secs, NULL, end);
    return days - (secs < 0 && days <= 0);
}

/* Records what the handshake settled and the certificate says; returns the days left. */
static int describe(doc_step *s, SSL *ssl, X509 *cert, char *names, size_t nlen)
{
    char subject[256] = "", issuer[256] = "", expiry[64];
    doc_step_fact(s, "protocol", "%s", SSL_get_version(ssl));
    doc_step_fact(s, "cipher", "%s", SSL_get_cipher_name(ssl));
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
    X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
    cert_names(cert, names, nlen);
    int days = cert_expiry(cert, expiry, sizeof(expiry));
    doc_step_fact(s, "subject", "%s", subject);
    doc_step_fact(s, "issuer", "%s", issuer);
    doc_step_fact(s, "names", "%s", names[0] ? names : "(none)");
    doc_step_fact(s, "expires", "%s", expiry);
    doc_step_fact(s, "days_left", "%d", days);
    return days;
}

/* The hint for a verification failure, by its code. */
static void verify_hint(doc_step *s, long res, X509 *cert, const char *name, const char *names,
                        const vmux_config *cfg)
{
    char issuer[256] = "";
    X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
    const char *ca = vmux_config_ssl_ca_file(cfg)   ? vmux_config_ssl_ca_file(cfg)
                     : vmux_config_ssl_ca_path(cfg) ? vmux_config_ssl_ca_path(cfg)
                                                    : "the system's CAs";
    switch (res) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        doc_step_hint(s,
                      "wrong CA: the certificate was issued by %s, which %s does not include. "
                      "Set sslCaFile to the CA that signed the server's certificate (for "
                      "ElastiCache and other public CAs, leave sslCaFile unset)",
                      issuer, ca);
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        doc_step_hint(s, "the server's certificate has expired: the server needs a new one (or "
                         "this machine's clock is wrong)");
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        doc_step_hint(s, "the certificate is not valid yet: check this machine's clock");
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        doc_step_hint(s,
                      "the certificate is for %s, not \"%s\": connect by one of those names, or "
                      "set sslHost= to one of them when you connect by another address",
                      names[0] ? names : "other names", name);
        break;
    default:
        break;
    }
}

/* The verdict on the certificate, as the library would judge it. */
static void judge_cert(doc_step *s, SSL *ssl, const doc_ctx *ctx, const doc_endpoint *ep)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL) {
        doc_step_set(s, DOC_FAIL, "the server sent no certificate");
        return;
    }
    char names[512];
    int days = describe(s, ssl, cert, names, sizeof(names));
    long res = SSL_get_verify_result(ssl);
    const char *name = peer_name(ctx->cfg, ep);
    doc_step_fact(s, "verify", "%s", X509_verify_cert_error_string(res));
    bool verify = vmux_config_ssl_verify(ctx->cfg);
    if (res != X509_V_OK) {
        doc_step_set(s, verify ? DOC_FAIL : DOC_WARN,
                     "%s, %s; the certificate does not verify for \"%s\": %s%s",
                     SSL_get_version(ssl), SSL_get_cipher_name(ssl), name,
                     X509_verify_cert_error_string(res),
                     verify ? "" : " (ignored: sslVerify=false)");
        verify_hint(s, res, cert, name, names, ctx->cfg);
    } else if (days < 14) {
        doc_step_set(s, DOC_WARN,
                     "%s, %s; certificate verified for \"%s\", but it expires in %d days",
                     SSL_get_version(ssl), SSL_get_cipher_name(ssl), name, days);
        doc_step_hint(s, "renew the server's certificate before it expires");
    } else {
        doc_step_set(s, DOC_OK, "%s, %s; certificate verified for \"%s\" (%d days left)",
                     SSL_get_version(ssl), SSL_get_cipher_name(ssl), name, days);
    }
    X509_free(cert);
}

/* The hint for a handshake (or first exchange) that failed with the reason why. */
static void handshake_hint(doc_step *s, const char *why, const doc_ctx *ctx, const doc_endpoint *ep)
{
    bool has_cert = vmux_config_ssl_cert(ctx->cfg) != NULL;
    const doc_addr *a = &ep->addrs[ep->usable];
    if (strstr(why, "certificate required") || (!has_cert && strstr(why, "handshake failure")))
        doc_step_hint(s, "the server wants a client certificate (tls-auth-clients yes): set "
                         "sslCert and sslKey to a certificate its tls-ca-cert-file trusts");
    else if (has_cert && (strstr(why, "unknown ca") || strstr(why, "bad certificate") ||
                          strstr(why, "certificate unknown")))
        doc_step_hint(s, "the server refused the client certificate (sslCert): it must be "
                         "signed by a CA in the server's tls-ca-cert-file");
    else if (doc_plain_answers(a, (int)vmux_config_connect_timeout(ctx->cfg)))
        doc_step_hint(s, "TLS is on (ssl=true), but this port answers plain text: set "
                         "ssl=false (redis:// or valkey://), or use the server's tls-port");
    else if (strstr(why, "wrong version number") || strstr(why, "packet length too long") ||
             strstr(why, "record layer failure"))
        doc_step_hint(s, "what answers on this port does not speak TLS: check the port");
}

/*
 * One PING over the new session. A server that requires a client certificate refuses a
 * TLS 1.3 client only after the client considers the handshake done, so the refusal shows on
 * the first read. True, with the reply's first line in line, when a RESP reply came back.
 */
static bool exchange_ping(SSL *ssl, char *why, size_t len, char *line, size_t linelen)
{
    char buf[128];
    /* Read even when the write failed: the server's alert saying why may be waiting. */
    int n = SSL_write(ssl, "PING\r\n", 6);
    int r = SSL_read(ssl, buf, sizeof(buf));
    n = n == 6 ? r : (r > 0 ? n : r);
    if (n > 0 && (buf[0] == '+' || buf[0] == '-')) {
        int k = 0; /* buf is not NUL-terminated */
        while (k < n && buf[k] != '\r' && buf[k] != '\n')
            k++;
        snprintf(line, linelen, "%.*s", k, buf);
        return true;
    }
    int code = SSL_get_error(ssl, n);
    last_error(why, len);
    if (!why[0])
        snprintf(why, len, "%s",
                 code == SSL_ERROR_ZERO_RETURN || code == SSL_ERROR_SYSCALL
                     ? "the server closed the connection"
                     : "no reply within connectTimeout");
    return false;
}

/*
 * True when a handshake that returned rc failed because nothing at all came back before the
 * socket's receive timeout. errno_after is errno as SSL_connect left it.
 */
static bool handshake_silent(SSL *ssl, int rc, int errno_after)
{
    int code = SSL_get_error(ssl, rc);
    bool timed_out =
        code == SSL_ERROR_WANT_READ ||
        (code == SSL_ERROR_SYSCALL && (errno_after == EAGAIN || errno_after == EWOULDBLOCK));
    return timed_out && BIO_number_read(SSL_get_rbio(ssl)) == 0;
}

/*
 * The step's verdict when the handshake failed. Silence alone does not mean a stopped server:
 * a plain-text server reads a ClientHello as the start of a command and waits for its end.
 */
static void handshake_failed(doc_step *s, SSL *ssl, int rc, doc_ctx *ctx, const doc_endpoint *ep)
{
    int errno_after = errno, timeout_ms = (int)vmux_config_connect_timeout(ctx->cfg);
    char why[256] = "";
    bool silent = handshake_silent(ssl, rc, errno_after);
    last_error(why, sizeof(why));
    if (silent && !doc_plain_answers(&ep->addrs[ep->usable], timeout_ms)) {
        doc_step_set(s, DOC_FAIL,
                     "the TLS handshake got no answer: the server accepted the connection but "
                     "answered nothing within connectTimeout (%d ms)",
                     timeout_ms);
        doc_silent_hint(s);
        return;
    }
    if (!why[0])
        snprintf(why, sizeof(why),
                 "the server closed the connection or did not answer "
                 "within connectTimeout");
    doc_step_set(s, DOC_FAIL, "the TLS handshake failed: %s", why);
    handshake_hint(s, why, ctx, ep);
}

/*
 * Handshake, first exchange and the certificate's verdict; on failure sets the step's verdict
 * and hint. A PING refused for the server's state (BUSY...) is reported here, the first step
 * to see it (doc_state_step). Returns whether a session could use this path.
 */
static bool run_session(doc_step *s, SSL *ssl, doc_ctx *ctx, doc_endpoint *ep)
{
    char why[256] = "", line[128] = "";
    int rc = SSL_connect(ssl);
    if (rc != 1) {
        handshake_failed(s, ssl, rc, ctx, ep);
        return false;
    }
    bool answered = exchange_ping(ssl, why, sizeof(why), line, sizeof(line));
    judge_cert(s, ssl, ctx, ep);
    if (!answered) {
        doc_step_set(s, DOC_FAIL,
                     "the handshake completed (%s), then the server refused the "
                     "session: %s",
                     SSL_get_version(ssl), why);
        handshake_hint(s, why, ctx, ep);
        return false;
    }
    if (s->verdict == DOC_FAIL)
        return false;
    if (line[0] == '-')
        doc_state_step(s, ep, line + 1);
    return true;
}

bool doc_tls(doc_ctx *ctx, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "tls", ep->label);
    int timeout_ms = (int)vmux_config_connect_timeout(ctx->cfg);
    SSL_CTX *tc = SSL_CTX_new(TLS_client_method());
    bool usable = false;
    if (tc == NULL) {
        doc_step_set(s, DOC_FAIL, "OpenSSL could not make a context");
    } else if (load_files(tc, ctx->cfg, s)) {
        SSL_CTX_set_min_proto_version(tc, TLS1_2_VERSION);
        SSL_CTX_set_verify(tc, SSL_VERIFY_NONE, NULL);
        long us = 0;
        int fd = doc_tcp_connect(&ep->addrs[ep->usable], timeout_ms, &us);
        SSL *ssl = fd >= 0 ? SSL_new(tc) : NULL;
        if (ssl == NULL) {
            doc_step_set(s, DOC_FAIL, "could not connect again for the handshake");
        } else {
            SSL_set_fd(ssl, fd);
            set_peer_name(ssl, peer_name(ctx->cfg, ep));
            usable = run_session(s, ssl, ctx, ep);
            SSL_free(ssl);
        }
        if (fd >= 0)
            close(fd);
    }
    SSL_CTX_free(tc);
    doc_step_end(&ctx->report, s);
    return usable;
}

bool doc_tls_answers(const doc_addr *addr, int timeout_ms)
{
    long us = 0;
    int fd = doc_tcp_connect(addr, timeout_ms, &us);
    if (fd < 0)
        return false;
    SSL_CTX *tc = SSL_CTX_new(TLS_client_method());
    SSL *ssl = tc ? SSL_new(tc) : NULL;
    bool tls = false;
    if (ssl != NULL) {
        SSL_set_fd(ssl, fd);
        char why[256];
        tls = SSL_connect(ssl) == 1;
        last_error(why, sizeof(why));
        /* An alert is a TLS record: the server speaks TLS, even if it refused us. */
        tls = tls || strstr(why, "alert") != NULL;
    }
    SSL_free(ssl);
    SSL_CTX_free(tc);
    close(fd);
    return tls;
}
