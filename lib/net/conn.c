/*
 * One TCP connection of a link: resolve, connect, session setup, then pipelined writes and
 * replies matched to ops in order. A connection is used once; after any failure the link starts
 * a new one. Memory is released when libuv has let go of every handle and request (refs).
 *
 * This file holds its life (new, begin, connect, fail, end); conn_write.c its writing and
 * conn_read.c its reading.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "core/assert.h"
#include "core/counters.h"
#include "core/errbuf.h"
#include "core/log.h"
#include "core/redact.h"
#include "core/reply_internal.h"
#include "net/link_internal.h"
#include "vmux/error.h"

static void conn_unref(struct vmux_conn *c)
{
    VMUX_ASSERT(c->refs > 0);
    if (--c->refs > 0)
        return;
    vmux__setup_wipe(c);
    vmux__reader_free(c->reader);
    vmux__tls_free(c->tls);
    vmux__buf_free(&c->out);
    free(c->lent.v);
    vmux__buf_free(&c->cipher);
    vmux__buf_free(&c->writing);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

/* The link's reason holds "where: " and the whole cause, however long the host name. */
_Static_assert(sizeof(((struct vmux_conn *)0)->where) + 2 + VMUX_CAUSE_SIZE <= VMUX_REASON_SIZE,
               "a failure's reason must hold its host:port and its whole cause");

/*
 * A reason may quote the server, which may echo the credentials: they are masked in the whole
 * message before it is cut to size, so that no prefix of a password survives the cut.
 */
void vmux__conn_fail(struct vmux_conn *c, int code, const char *fmt, ...)
{
    if (c->phase == CONN_ENDED)
        return;
    const struct vmux_config *cfg = c->link->cfg;
    const char *secrets[] = {cfg->password, c->auth_pass, cfg->user, c->auth_user};
    char reason[VMUX_CAUSE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    (void)vmux__redact_vformat(reason, sizeof(reason), secrets, 4, fmt, ap);
    va_end(ap);
    vmux__link_conn_failed(c->link, code, "%s: %s", c->where, reason);
}

void vmux__conn_fail_unquoted(struct vmux_conn *c, int code, const char *fmt, ...)
{
    if (c->phase == CONN_ENDED)
        return;
    char reason[VMUX_CAUSE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    vmux__link_conn_failed(c->link, code, "%s: %s", c->where, reason);
}

/* ---- connecting ---- */

const char *vmux__conn_stage(const struct vmux_conn *c)
{
    return c->phase == CONN_RESOLVING     ? "resolving the host name"
           : c->phase == CONN_HANDSHAKING ? "the TLS handshake (is the server speaking TLS?)"
           : c->setup_left > 0            ? "session setup (AUTH, SELECT, CLIENT)"
                                          : "connecting";
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct vmux_conn *c = t->data;
    vmux__conn_fail(c, VMUX_ERR_TIMEOUT, "%s did not finish within connectTimeout (%d ms)",
                    vmux__conn_stage(c), c->link->cfg->connect_timeout_ms);
}

/*
 * Bounds how long sent bytes may stay unacknowledged before the kernel gives up on the
 * connection, so a dead peer is found even while nothing is read (best effort: Linux only).
 * Twice syncTimeout, at least 10 s; at most INT_MAX ms, the most the kernel takes (twice a
 * syncTimeout of 2^30 ms or more overflowed an int, and the kernel refused the negative value).
 */
static void set_user_timeout(struct vmux_conn *c)
{
#ifdef TCP_USER_TIMEOUT
    uv_os_fd_t fd;
    int64_t sync_ms = c->link->cfg->sync_timeout_ms;
    int64_t want = sync_ms < 5000 ? 10000 : 2 * sync_ms;
    unsigned int ms = (unsigned int)(want < INT_MAX ? want : INT_MAX);
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) != 0)
        vmux__log(c->link->cfg, VMUX_LOG_WARN, "TCP_USER_TIMEOUT of %u ms not set: %s", ms,
                  uv_strerror(uv_translate_sys_error(errno)));
#else
    (void)c;
#endif
}

/* Linux's MAX_TCP_KEEPIDLE: a larger TCP_KEEPIDLE is refused with EINVAL. */
#define KEEPIDLE_MAX_S 32767

/*
 * TCP keepalive with keepAlive's idle time before the kernel's probes, at most KEEPIDLE_MAX_S
 * (a larger one was refused, leaving the kernel's 2 hours). Only now does the socket exist:
 * libuv would apply its own 60 s before connecting.
 */
static void set_keepalive(struct vmux_conn *c)
{
    int s = c->link->cfg->keep_alive_s;
    if (s <= 0)
        return;
    unsigned idle = s < KEEPIDLE_MAX_S ? (unsigned)s : KEEPIDLE_MAX_S;
    int rc = uv_tcp_keepalive(&c->tcp, 1, idle);
    if (rc != 0)
        vmux__log(c->link->cfg, VMUX_LOG_WARN, "TCP keepalive (idle %u s) not set: %s", idle,
                  uv_strerror(rc));
}

/*
 * Whether the socket is connected to itself: with the server down, a connect to a loopback port
 * inside the ephemeral range can be given that very port as its source, and TCP's simultaneous
 * open then "succeeds". Such a connection would echo our own commands back as replies, and it
 * holds the port the server needs to come back on.
 */
static bool connected_to_itself(const struct vmux_conn *c)
{
    struct sockaddr_storage local, peer;
    int llen = sizeof local, plen = sizeof peer;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&local, &llen) != 0 ||
        uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen) != 0 || llen != plen)
        return false;
    return memcmp(&local, &peer, (size_t)llen) == 0;
}

static void on_connected(uv_connect_t *req, int status)
{
    struct vmux_conn *c = req->data;
    if (c->phase == CONN_ENDED)
        return;
    if (status < 0) {
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "connect failed: %s", uv_strerror(status));
        return;
    }
    if (connected_to_itself(c)) {
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "connect failed: connected to itself (no server)");
        return;
    }
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        c->fd = fd;
    set_user_timeout(c);
    set_keepalive(c);
    vmux__conn_start_reading(c);
}

static void conn_connect(struct vmux_conn *c, const struct sockaddr *addr)
{
    int rc = uv_tcp_init(c->link->loop, &c->tcp);
    if (rc < 0) {
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "cannot create a socket: %s", uv_strerror(rc));
        return;
    }
    c->tcp.data = c;
    c->tcp_open = true;
    c->refs++;
    uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    rc = uv_tcp_connect(&c->creq, &c->tcp, addr, on_connected);
    if (rc < 0)
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "connect failed: %s", uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct vmux_conn *c = req->data;
    if (c->phase != CONN_ENDED) {
        c->phase = CONN_CONNECTING; /* first: ending c must not cancel this callback's c->gai */
        if (status < 0)
            vmux__conn_fail(c, VMUX_ERR_RESOLVE, "cannot resolve the host name: %s",
                            uv_strerror(status));
        else
            conn_connect(c, res->ai_addr);
    }
    uv_freeaddrinfo(res);
    conn_unref(c);
}

/* A written op's connection, for the words of one that timed out unanswered (core/op_words.c). */
static const char *fifo_why(const struct vmux_opq *q)
{
    return ((const struct vmux_conn *)((const char *)q - offsetof(struct vmux_conn, fifo)))->where;
}

/* Fills addr when host is an IP literal, so that no resolver thread is needed. */
static bool parse_ip(const char *host, int port, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof(*addr));
    return uv_ip4_addr(host, port, (struct sockaddr_in *)addr) == 0 ||
           uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr) == 0;
}

/*
 * "host:port" ("[v6]:port"), for messages. A learned host over VMUX_HOST_MAX (a cluster map's, a
 * MOVED's, a sentinel's: the configuration refuses one) is named by its start and its length, so
 * that the port, and the reason after it, are never cut (vmux__conn_begin() refuses it).
 */
static void where_of(struct vmux_conn *c, const struct vmux_endpoint *ep)
{
    size_t n = strlen(ep->host);
    if (vmux__host_over_dns(ep->host, n))
        snprintf(c->where, sizeof(c->where), "%.32s...(%zu bytes):%d", ep->host, n, ep->port);
    else
        snprintf(c->where, sizeof(c->where), strchr(ep->host, ':') ? "[%s]:%d" : "%s:%d", ep->host,
                 ep->port);
}

struct vmux_conn *vmux__conn_new(struct vmux_link *link, const struct vmux_endpoint *ep)
{
    struct vmux_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->reader = vmux__reader_new(&link->limits);
    if (c->reader == NULL) {
        free(c);
        return NULL;
    }
    /* a reply over a limit fails its command only; a subscriber's push, which answers no
     * command, is its owner's to drop (vmux__link_set_push()), or fails the connection */
    vmux__reader_refuse_over_limit(c->reader,
                                   link->push_fn == NULL || link->push_over_limit != NULL);
    c->link = link;
    c->ep = ep;
    c->fifo.keeps_husks = true; /* a timed-out op waits here for its late reply */
    c->fifo.why = fifo_why;
    c->phase = CONN_CONNECTING; /* vmux__conn_begin() resolves a host name first */
    c->fd = -1;
    c->slice_stride = 1; /* conn_read.c: the clock read at the first reply, then less often */
    c->hangup_fd = -1;
    c->taken_in = UINT64_MAX; /* liveness.c: no wait looked at yet */
    where_of(c, ep);
    uv_timer_init(link->loop, &c->timer);
    uv_idle_init(link->loop, &c->flusher);
    uv_idle_init(link->loop, &c->resumer);
    c->timer.data = c->flusher.data = c->resumer.data = c;
    c->wreq.data = c;
    c->refs = 3;
    return c;
}

/*
 * Fails c when its host is one the configuration refuses (so a learned one: a cluster map's, a
 * MOVED's, a sentinel's), before it is looked at as an IP literal: a name over DNS's limit, which
 * no DNS holds, or an IPv6 literal whose zone id is longer than any interface name. libuv takes
 * any zone text, ignoring one that names no interface, so "::1%aaa..." was dialled as ::1, past
 * the length check (review helper-245). Costs a memchr() per connection attempt.
 */
static bool host_refused(struct vmux_conn *c)
{
    size_t n = strlen(c->ep->host), zone = vmux__host_zone_len(c->ep->host, n);
    if (zone > VMUX_ZONE_MAX)
        vmux__conn_fail(c, VMUX_ERR_RESOLVE,
                        "the IPv6 address's zone id is %zu bytes, over the %d of the longest "
                        "interface name: no interface, not dialled",
                        zone, VMUX_ZONE_MAX);
    else if (vmux__host_over_dns(c->ep->host, n))
        vmux__conn_fail(c, VMUX_ERR_RESOLVE,
                        "the host name is %zu bytes, over the %d that DNS allows (a trailing dot "
                        "not counted): not resolved",
                        n, VMUX_HOST_MAX);
    else
        return false;
    return true;
}

void vmux__conn_begin(struct vmux_conn *c)
{
    uv_timer_start(&c->timer, on_connect_timeout, (uint64_t)c->link->cfg->connect_timeout_ms, 0);
    if (host_refused(c))
        return;
    struct sockaddr_storage addr;
    if (parse_ip(c->ep->host, c->ep->port, &addr)) {
        conn_connect(c, (struct sockaddr *)&addr);
        return;
    }
    char port[8];
    snprintf(port, sizeof(port), "%d", c->ep->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    int rc = uv_getaddrinfo(c->link->loop, &c->gai, on_resolved, c->ep->host, port, &hints);
    if (rc < 0) {
        vmux__conn_fail(c, VMUX_ERR_RESOLVE, "cannot resolve the host name: %s", uv_strerror(rc));
        return;
    }
    c->phase = CONN_RESOLVING;
    c->refs++;
}

/* ---- ending ---- */

/*
 * A sent op goes out again only if the caller said it is idempotent, and only once; never a
 * blocking read from "$" (VMUX_OP_FROM_NOW), which would wait from the resend's "now".
 */
static bool resendable(const struct vmux_op *op)
{
    return (op->flags & (VMUX_OP_RETRY_SAFE | VMUX_OP_RESENT | VMUX_OP_FROM_NOW)) ==
           VMUX_OP_RETRY_SAFE;
}

/*
 * What a synchronous caller whose sent op was lost with its connection hears besides the code
 * (VMUX_ERR_CONNECTION_LOST, VMUX_ERR_PROTOCOL): why the connection failed, as its link just
 * recorded it (call.c puts it in the caller's errbuf). NULL for others, or out of memory.
 */
static vmux_reply *lost_why(const struct vmux_op *op, const struct vmux_conn *c, int sent_status)
{
    const char *why = c->link->last_reason;
    bool failed = sent_status == VMUX_ERR_CONNECTION_LOST || sent_status == VMUX_ERR_PROTOCOL;
    if (!failed || !(op->flags & VMUX_OP_TELL_WHY) || why[0] == '\0')
        return NULL;
    return vmux__reply_new_str(VMUX_REPLY_ERROR, why, strlen(why));
}

/*
 * The op whose reply ended c by being over a reply limit (the first in flight: replies come in
 * order), or NULL: it gets VMUX_ERR_PROTOCOL, not a resend, as the same command would get the same
 * reply again, and the commands behind it would follow it onto the next connection and fail
 * with it there (probe 55: a 400 MB GET over maxBulkLength read twice, and a GET behind it lost).
 * Not on a subscriber connection, whose pushes answer no op.
 */
static const struct vmux_op *refused_op(const struct vmux_conn *c)
{
    if (c->reader == NULL || !vmux__reader_over_limit(c->reader) || c->link->push_fn != NULL)
        return NULL;
    return c->fifo.head;
}

/*
 * Where the bytes the kernel was given end: on a plain connection, flushed less what libuv's
 * write queue still holds, which never reached the socket. Counted sent, an INCR queued behind
 * a half-written 64 MiB value got VMUX_ERR_CONNECTION_LOST when the server died, though over TLS
 * (whose flushed counts only what was encrypted) the same INCR went to the next connection.
 * Read before the handle closes (uv_close() leaves the queue to the next loop turn).
 */
static uint64_t kernel_took(const struct vmux_conn *c)
{
    if (c->tls != NULL || !c->tcp_open)
        return c->flushed;
    size_t queued = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    return queued < c->flushed ? c->flushed - queued : 0;
}

/* Settles the ops in flight (took: kernel_took()); see vmux__conn_end(). */
static void conn_settle(struct vmux_conn *c, uint64_t took, bool requeue, int status,
                        int sent_status)
{
    struct vmux_opq q = {0}, unsent = {0};
    const struct vmux_op *refused = refused_op(c);
    vmux__opq_take(&q, &c->fifo);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        bool sent = op->wstart < took;
        if ((op->flags & VMUX_OP_INTERNAL) || op->done) {
            vmux__op_free(op);
        } else if (op == refused) {
            vmux__op_finish(op, VMUX_ERR_PROTOCOL, lost_why(op, c, VMUX_ERR_PROTOCOL));
        } else if (requeue && (!sent || resendable(op))) {
            if (sent) {
                op->flags |= VMUX_OP_RESENT;
                vmux__count(&c->link->ctr->resent, 1);
            }
            vmux__opq_push(&unsent, op);
        } else {
            vmux__op_finish(op, sent ? sent_status : status,
                            sent ? lost_why(op, c, sent_status) : NULL);
        }
    }
    vmux__opq_prepend(&c->link->backlog, &unsent);
}

void vmux__conn_end(struct vmux_conn *c, bool requeue, int status, int sent_status)
{
    vmux__lane_shut(c->link);
    uint64_t took = kernel_took(c);
    bool resolving = c->phase == CONN_RESOLVING;
    c->phase = CONN_ENDED;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->flusher, on_handle_closed);
    uv_close((uv_handle_t *)&c->resumer, on_handle_closed);
    if (c->tcp_open)
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    if (c->hangup_fd >= 0) {
        uv_close((uv_handle_t *)&c->hangup, on_handle_closed); /* stops watching it at once */
        close(c->hangup_fd);
        c->hangup_fd = -1;
    }
    if (resolving)
        uv_cancel((uv_req_t *)&c->gai); /* on_resolved still runs, and lets go of c */
    vmux__conn_lent_forget(c); /* its socket is closed: nothing more is written from an op */
    conn_settle(c, took, requeue, status, sent_status);
}
