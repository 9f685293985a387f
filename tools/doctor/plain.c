/*
 * The tls step with TLS off (ssl=false): a plain-text PING. A TLS-only server does not answer
 * it (it reads the bytes as a broken handshake and closes), so when no RESP reply comes the
 * step tries a TLS handshake to tell "TLS only" from "not a Valkey server at all".
 */
#include <string.h>
#include <unistd.h>

#include "doctor.h"

/* Reads a reply's first line into buf (NUL-terminated, without CRLF); false when none came. */
static bool read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        char *crlf = strstr(buf, "\r\n");
        if (crlf != NULL) {
            *crlf = '\0';
            return true;
        }
    }
    buf[n] = '\0';
    return false;
}

/* Sends PING in plain text; true with its reply's first line when a RESP line came back. */
static bool plain_ping(const doc_addr *addr, int timeout_ms, char *line, size_t len)
{
    long us = 0;
    int fd = doc_tcp_connect(addr, timeout_ms, &us);
    if (fd < 0)
        return false;
    bool ok = write(fd, "PING\r\n", 6) == 6 && read_line(fd, line, len) &&
              (line[0] == '+' || line[0] == '-');
    close(fd);
    return ok;
}

bool doc_plain_answers(const doc_addr *addr, int timeout_ms)
{
    char line[256];
    return plain_ping(addr, timeout_ms, line, sizeof(line));
}

bool doc_plain(doc_ctx *ctx, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "tls", ep->label);
    int timeout_ms = (int)vmux_config_connect_timeout(ctx->cfg);
    const doc_addr *a = &ep->addrs[ep->usable];
    char line[256];
    bool ok = plain_ping(a, timeout_ms, line, sizeof(line));
    if (ok) {
        doc_step_set(s, DOC_SKIPPED,
                     "TLS is off (ssl=false), and the server answers plain text "
                     "(PING: %s)",
                     line);
    } else if (doc_tls_answers(a, timeout_ms)) {
        doc_step_set(s, DOC_FAIL, "TLS is off (ssl=false), but this port speaks TLS only");
        doc_step_hint(s, "set ssl=true (or use a rediss:// or valkeys:// URL), with sslCaFile "
                         "for a private CA; ElastiCache with in-transit encryption accepts TLS "
                         "only");
    } else {
        doc_step_set(s, DOC_FAIL,
                     "the server does not answer a plain-text PING, nor a TLS "
                     "handshake");
        doc_step_hint(s, "is this port a Valkey server? Something else may listen on it (a "
                         "proxy, another service)");
    }
    doc_step_end(&ctx->report, s);
    return ok;
}
