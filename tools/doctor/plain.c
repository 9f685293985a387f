/*
 * The tls step with TLS off (ssl=false): a plain-text PING. A TLS-only server does not answer
 * it (it reads the bytes as a broken handshake and closes), so when no RESP reply comes the
 * step tries a TLS handshake to tell "TLS only" from "not a Valkey server at all". A port that
 * accepts the connection and then says nothing until the deadline is neither: the server is
 * stopped or stuck, or something holds the connection in front of it.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

/* What came back for the PING. */
typedef enum ping_result {
    PING_REPLY,   /* a RESP simple string or error line */
    PING_SILENT,  /* not one byte before the deadline */
    PING_OTHER,   /* bytes that are not RESP, or the connection closed */
    PING_NO_CONN, /* the connection could not be made again */
} ping_result;

/*
 * Reads a reply's first line into buf (NUL-terminated, without CRLF). PING_REPLY when a line
 * came, PING_SILENT when nothing at all came before the socket's receive timeout.
 */
static ping_result read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && n == 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return PING_SILENT;
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        char *crlf = strstr(buf, "\r\n");
        if (crlf != NULL) {
            *crlf = '\0';
            return PING_REPLY;
        }
    }
    buf[n] = '\0';
    return PING_OTHER;
}

/* Sends PING in plain text; with PING_REPLY, line holds the reply's first line. */
static ping_result plain_ping(const doc_addr *addr, int timeout_ms, char *line, size_t len)
{
    long us = 0;
    int fd = doc_tcp_connect(addr, timeout_ms, &us);
    if (fd < 0)
        return PING_NO_CONN;
    ping_result res = PING_OTHER;
    if (write(fd, "PING\r\n", 6) == 6)
        res = read_line(fd, line, len);
    if (res == PING_REPLY && line[0] != '+' && line[0] != '-')
        res = PING_OTHER;
    close(fd);
    return res;
}

bool doc_plain_answers(const doc_addr *addr, int timeout_ms)
{
    char line[256];
    return plain_ping(addr, timeout_ms, line, sizeof(line)) == PING_REPLY;
}

void doc_silent_hint(doc_step *s)
{
    doc_step_hint(s, "the server process may be stopped (SIGSTOP, a debugger, a paused "
                     "container), hung or overloaded, blocked in one long command (DEBUG "
                     "SLEEP; a script before busy-reply-threshold), or paused (CLIENT PAUSE, "
                     "or the pause of a FAILOVER under way); or a firewall or proxy accepts "
                     "connections and holds them without reaching the server. Check that the "
                     "server runs and answers valkey-cli PING on its own machine");
}

/* The verdict when no RESP reply came: TLS only, silence, or not a Valkey server. */
static void judge_no_reply(doc_step *s, ping_result res, const doc_addr *a, int timeout_ms)
{
    if (res == PING_SILENT) {
        /* A TLS server answers those 6 bytes at once (an alert, or it closes): not TLS. */
        doc_step_set(s, DOC_FAIL,
                     "the server accepted the connection but answered nothing within "
                     "connectTimeout (%d ms)",
                     timeout_ms);
        doc_silent_hint(s);
    } else if (res != PING_NO_CONN && doc_tls_answers(a, timeout_ms)) {
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
}

bool doc_plain(doc_ctx *ctx, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "tls", ep->label);
    int timeout_ms = (int)vmux_config_connect_timeout(ctx->cfg);
    const doc_addr *a = &ep->addrs[ep->usable];
    char line[256];
    ping_result res = plain_ping(a, timeout_ms, line, sizeof(line));
    if (res == PING_REPLY && line[0] == '-' && doc_state_of(line + 1) != DOC_STATE_READY) {
        /* The path works, but the server refuses the PING for its state: say so here. */
        doc_step_set(s, DOC_OK, "TLS is off (ssl=false), and the server answers plain text");
        doc_state_step(s, ep, line + 1);
    } else if (res == PING_REPLY) {
        /* its first word only (+PONG, -NOAUTH): the rest is the server's to say, not ours */
        doc_step_set(s, DOC_SKIPPED,
                     "TLS is off (ssl=false), and the server answers plain text "
                     "(PING: %.*s)",
                     (int)strcspn(line, " "), line);
    } else {
        judge_no_reply(s, res, a, timeout_ms);
    }
    doc_step_end(&ctx->report, s);
    return res == PING_REPLY;
}
