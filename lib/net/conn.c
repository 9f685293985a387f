/*
 * One TCP connection of a link: resolve, connect, session setup, then pipelined writes and
 * replies matched to ops in order. A connection is used once; after any failure the link starts
 * a new one. Memory is released when libuv has let go of every handle and request (refs).
 */
#include <fcntl.h>
#include <stdarg.h>
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
#include "core/redact.h"
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
    vmux__buf_free(&c->cipher);
    vmux__buf_free(&c->writing);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

/* The whole message, malloc'ed, or NULL when out of memory. */
static char *format_whole(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text != NULL)
        vsnprintf(text, (size_t)n + 1, fmt, ap);
    return text;
}

/*
 * A reason may quote the server, which may echo the credentials: they are masked in the whole
 * message before it is cut to size, so that no prefix of a password survives the cut.
 */
void vmux__conn_fail(struct vmux_conn *c, int code, const char *fmt, ...)
{
    if (c->failing)
        return;
    const struct vmux_config *cfg = c->link->cfg;
    const char *secrets[] = {cfg->password, c->auth_pass, cfg->user, c->auth_user};
    char reason[200];
    va_list ap;
    va_start(ap, fmt);
    char *whole = format_whole(fmt, ap);
    va_end(ap);
    if (whole != NULL) {
        vmux__redact(whole, reason, sizeof(reason), secrets, 4);
        OPENSSL_cleanse(whole, strlen(whole));
        free(whole);
    } else {
        snprintf(reason, sizeof(reason), "out of memory for the failure's reason");
    }
    vmux__link_conn_failed(c->link, code, "%s: %s", c->where, reason);
}

/* ---- writing ---- */

static void conn_flush(struct vmux_conn *c);

static void on_written(uv_write_t *req, int status)
{
    struct vmux_conn *c = req->data;
    if (c->failing) {
        /* Ended: its link may be gone already (a write cancelled while the handle closes), and
         * the lane is not this connection's any more. */
        c->write_pending = false;
        vmux__buf_drained(&c->writing);
        return;
    }
    vmux__lane_shut(c->link);
    c->write_pending = false;
    vmux__buf_drained(&c->writing);
    if (status < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "write failed: %s", uv_strerror(status));
        return;
    }
    conn_flush(c);
    vmux__lane_open(c->link);
}

/* Hands what the socket did not take at once to uv_write; new bytes then queue elsewhere. */
static void conn_write_rest(struct vmux_conn *c, struct vmux_buf *wire)
{
    struct vmux_buf spare = c->writing;
    c->writing = *wire;
    *wire = spare;
    size_t rest = c->writing.len - c->writing.off;
    uv_buf_t b = uv_buf_init(c->writing.data + c->writing.off, (unsigned)rest);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "write failed: %s", uv_strerror(rc));
        return;
    }
    if (c->tls == NULL)
        c->flushed += rest; /* from here on these bytes may reach the server */
    vmux__count(&c->link->ctr->bytes_out, rest);
    c->write_pending = true;
}

/* TLS: encrypts the queued commands into the ciphertext buffer. Returns false on failure. */
static bool conn_encrypt(struct vmux_conn *c)
{
    char why[160];
    size_t n = c->out.len - c->out.off;
    if (n > 0) {
        int rc = vmux__tls_write(c->tls, c->out.data + c->out.off, n, why, sizeof(why));
        if (rc != 0) {
            vmux__conn_fail(c, rc, "%s", why);
            return false;
        }
        c->flushed += n;
        vmux__buf_drained(&c->out);
    }
    if (vmux__tls_take_output(c->tls, &c->cipher) != 0) {
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for TLS output");
        return false;
    }
    return true;
}

static void conn_flush(struct vmux_conn *c)
{
    if (c->failing || c->write_pending)
        return;
    struct vmux_buf *wire = &c->out;
    if (c->tls != NULL) {
        if (!conn_encrypt(c))
            return;
        wire = &c->cipher;
    }
    if (wire->len == wire->off)
        return;
    uv_buf_t b = uv_buf_init(wire->data + wire->off, (unsigned)(wire->len - wire->off));
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "write failed: %s", uv_strerror(n));
        return;
    }
    if (c->tls == NULL)
        c->flushed += (uint64_t)n;
    vmux__count(&c->link->ctr->bytes_out, (uint64_t)n);
    wire->off += (size_t)n;
    if (wire->off == wire->len)
        vmux__buf_drained(wire);
    else
        conn_write_rest(c, wire);
}

static void conn_parse(struct vmux_conn *c);

static void on_flush_turn(uv_prepare_t *p)
{
    struct vmux_conn *c = p->data;
    uv_prepare_stop(p);
    vmux__lane_shut(c->link);
    c->flush_armed = false;
    if (c->read_error != 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "cannot read: %s", uv_strerror(c->read_error));
        return;
    }
    if (c->lane_parse) { /* what a caller reading through the direct lane left (lane.c) */
        c->lane_parse = false;
        conn_parse(c);
    }
    conn_flush(c);
    vmux__lane_open(c->link);
}

void vmux__conn_arm_flush(struct vmux_conn *c)
{
    if (!c->flush_armed && !c->failing) {
        c->flush_armed = true;
        uv_prepare_start(&c->flusher, on_flush_turn);
    }
}

int vmux__conn_write_raw(struct vmux_conn *c, const char *bytes, size_t len)
{
    vmux__lane_shut(c->link);
    int rc = vmux__buf_append(&c->out, bytes, len);
    if (rc != 0)
        return rc;
    c->queued += len;
    c->last_io = uv_now(c->link->loop);
    vmux__conn_arm_flush(c);
    return 0;
}

/* Ends an op the connection took and cannot keep (see vmux__conn_write_op()). */
static void conn_drop_op(struct vmux_op *op, int status)
{
    if (op->flags & VMUX_OP_INTERNAL)
        vmux__op_free(op); /* the connection's own: no callback, and its caller fails the conn */
    else
        vmux__op_finish(op, status, NULL);
}

int vmux__conn_write_op(struct vmux_conn *c, struct vmux_op *op)
{
    vmux__lane_shut(c->link);
    int rc = vmux__buf_append(&c->out, op->cmd, op->len);
    if (rc != 0) {
        conn_drop_op(op, rc);
        return rc;
    }
    if (op->flags & VMUX_OP_SECRET)
        c->out.secret = c->sent_secret = true;
    c->last_io = uv_now(c->link->loop);
    if (c->fifo.head == NULL)
        c->waiting_since = c->last_io;
    op->wstart = c->queued;
    c->queued += op->len;
    vmux__opq_push(&c->fifo, op);
    vmux__conn_arm_flush(c);
    return 0;
}

/* ---- reading ---- */

/*
 * A block of several commands (MULTI ... EXEC) is one op that gets several replies; all but the
 * last are consumed here. The first error among them is kept: it says why EXEC aborts.
 */
static bool conn_partial_reply(struct vmux_op *op, vmux_reply *reply)
{
    VMUX_ASSERT(op->nreplies >= 1); /* the last reply pops the op: none comes after it */
    if (op->nreplies <= 1)
        return false;
    op->nreplies--;
    if (vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR && op->first_error == NULL)
        op->first_error = reply;
    else
        vmux_reply_free(reply);
    return true;
}

/* A subscribed connection's answer to PING: ["pong", ""]. */
static bool is_pong(const vmux_reply *r)
{
    const char *kind = vmux_reply_str(vmux_reply_element(r, 0), NULL);
    return kind != NULL && strcmp(kind, "pong") == 0;
}

static void conn_dispatch(struct vmux_conn *c, vmux_reply *reply)
{
    if (c->link->push_fn != NULL && c->fifo.head == NULL && c->setup_left == 0) {
        if (is_pong(reply)) { /* the heartbeat's answer (setup.c) */
            c->push_ping_sent = 0;
            vmux_reply_free(reply);
            return;
        }
        c->link->push_fn(reply, c->link->push_arg); /* a subscriber connection's message */
        return;
    }
    struct vmux_op *op = c->fifo.head;
    if (op == NULL) {
        vmux_reply_free(reply);
        vmux__conn_fail(c, VMUX_ERR_PROTOCOL, "the server sent a reply no command was waiting for");
        return;
    }
    if (conn_partial_reply(op, reply))
        return;
    vmux__opq_pop(&c->fifo);
    if (op->first_error != NULL && vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR) {
        vmux_reply_free(reply); /* EXECABORT: the queued command's own error says more */
        reply = op->first_error;
        op->first_error = NULL;
    }
    c->waiting_since = c->fifo.head != NULL ? uv_now(c->link->loop) : 0;
    if (op->flags & VMUX_OP_INTERNAL) {
        vmux__setup_reply(c, op, reply);
    } else if (op->done) { /* timed out earlier: its late reply is dropped here */
        vmux_reply_free(reply);
        vmux__op_free(op);
    } else if (!vmux__link_reply_rejected(c->link, op, reply)) {
        vmux__op_finish_reply(op, reply);
    }
    if (c->retiring && !c->failing && c->fifo.head == NULL)
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "the node is no longer the primary (READONLY)");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct vmux_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

/*
 * Subscriber connection: a loop turn runs message callbacks for at most this long (plus the
 * callback under way when it runs out), so that slow callbacks cannot keep the loop from the
 * handle's other sockets and timers.
 */
#define PUSH_SLICE_NS (2u * 1000u * 1000u)

static void on_resume(uv_idle_t *h);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/*
 * Subscriber connection out of time for this turn: what is parsed and not dispatched stays in
 * the reader (or TLS), reading stops so the backlog stays in the kernel and the server's output
 * buffer, and the next loop turns go on (on_resume).
 */
static void conn_pause(struct vmux_conn *c)
{
    c->paused = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_idle_start(&c->resumer, on_resume);
}

static bool slice_over(const struct vmux_conn *c)
{
    return c->slice_until != 0 && uv_hrtime() >= c->slice_until;
}

/* Dispatches the replies the reader holds; a subscriber connection pauses when its slice ends. */
static void conn_parse(struct vmux_conn *c)
{
    int rc = 0;
    while (!c->failing) {
        if (slice_over(c)) {
            conn_pause(c);
            return;
        }
        vmux_reply *reply;
        rc = vmux__reader_next(c->reader, &reply);
        if (rc != 1)
            break;
        conn_dispatch(c, reply);
    }
    if (rc < 0)
        vmux__conn_fail(c, rc, "bad reply: %s", vmux__reader_error(c->reader));
}

/* Parses plaintext from the server and completes the ops it answers. */
static void conn_consume(struct vmux_conn *c, const char *data, size_t len)
{
    int rc = vmux__reader_feed(c->reader, data, len);
    if (rc < 0) {
        vmux__conn_fail(c, rc, "bad reply: %s", vmux__reader_error(c->reader));
        return;
    }
    conn_parse(c);
}

/* TLS: advances the handshake; once done, session setup starts. */
static void conn_handshake(struct vmux_conn *c)
{
    char why[160];
    int rc = vmux__tls_handshake(c->tls, why, sizeof(why));
    if (rc < 0) {
        vmux__conn_fail(c, rc, "TLS handshake failed: %s", why);
        return;
    }
    vmux__conn_arm_flush(c);
    if (rc == 1) {
        c->handshaking = false;
        vmux__setup_start(c);
    }
}

/* TLS: consumes the plaintext the TLS session holds, until it is empty or the slice ends. */
static void conn_decrypt_rest(struct vmux_conn *c)
{
    char why[160];
    while (!c->failing && !c->handshaking && !c->paused) {
        int n = vmux__tls_read(c->tls, c->plain, sizeof(c->plain), why, sizeof(why));
        if (n < 0)
            vmux__conn_fail(c, n, "%s", why);
        if (n <= 0)
            break;
        conn_consume(c, c->plain, (size_t)n);
    }
    vmux__conn_arm_flush(c); /* reading may have produced TLS records to send (key updates) */
}

/* TLS: takes ciphertext from the socket, and consumes whatever plaintext it yields. */
static void conn_decrypt(struct vmux_conn *c, const char *data, size_t len)
{
    if (vmux__tls_feed(c->tls, data, len) != 0) {
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for TLS input");
        return;
    }
    if (c->handshaking)
        conn_handshake(c);
    conn_decrypt_rest(c);
}

/* A paused subscriber connection's next slice; reading resumes once the backlog is gone. */
static void on_resume(uv_idle_t *h)
{
    struct vmux_conn *c = h->data;
    c->paused = false;
    c->slice_until = uv_hrtime() + PUSH_SLICE_NS;
    c->last_io = uv_now(c->link->loop); /* still taking in what the server sent */
    conn_parse(c);
    if (!c->paused && c->tls != NULL)
        conn_decrypt_rest(c);
    if (c->paused || c->failing)
        return;
    uv_idle_stop(h);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        vmux__conn_fail(c, VMUX_ERR_IO, "cannot read: %s", uv_strerror(rc));
}

static void conn_read(struct vmux_conn *c, ssize_t nread, const uv_buf_t *buf);

/* ---- lending the reading to the direct lane (lane.c) ---- */

/*
 * The server closed or reset the connection while a caller may read it: take the reading back,
 * and lend it no more, so that the loop's next read finds the end and no caller sends a
 * command on a connection already known dead.
 */
static void on_hangup(uv_poll_t *p, int status, int events)
{
    struct vmux_conn *c = p->data;
    (void)status;
    (void)events;
    if (c->failing)
        return;
    c->hung_up = true;
    vmux__lane_shut(c->link);
}

bool vmux__conn_lend_reads(struct vmux_conn *c)
{
    if (c->hangup_fd < 0) {
        /* A descriptor of its own: libuv watches one handle per descriptor. */
        int fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return false;
        if (uv_poll_init(c->link->loop, &c->hangup, fd) != 0) {
            close(fd);
            return false;
        }
        c->hangup_fd = fd;
        c->hangup.data = c;
        c->refs++;
    }
    if (uv_poll_start(&c->hangup, UV_DISCONNECT, on_hangup) != 0)
        return false;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->read_lent = true;
    return true;
}

void vmux__conn_reads_back(struct vmux_conn *c)
{
    c->read_lent = false;
    uv_poll_stop(&c->hangup);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        c->read_error = rc; /* failed on the flush turn: the caller of this may be mid-write */
    if (rc < 0 || c->lane_parse)
        vmux__conn_arm_flush(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct vmux_conn *c = s->data;
    if (c->failing || nread == 0)
        return;
    vmux__lane_shut(c->link); /* a caller may be putting an op on the FIFO this reply answers */
    conn_read(c, nread, buf);
    vmux__lane_open(c->link);
}

static void conn_read(struct vmux_conn *c, ssize_t nread, const uv_buf_t *buf)
{
    c->last_io = uv_now(c->link->loop);
    if (nread > 0)
        vmux__count(&c->link->ctr->bytes_in, (uint64_t)nread);
    if (nread < 0) {
        if (nread == UV_EOF)
            vmux__conn_fail(c, VMUX_ERR_IO, "the server closed the connection");
        else
            vmux__conn_fail(c, VMUX_ERR_IO, "read failed: %s", uv_strerror((int)nread));
        return;
    }
    if (c->link->push_fn != NULL)
        c->slice_until = uv_hrtime() + PUSH_SLICE_NS;
    if (c->tls != NULL)
        conn_decrypt(c, buf->base, (size_t)nread);
    else
        conn_consume(c, buf->base, (size_t)nread);
}

/* ---- connecting ---- */

static void on_connect_timeout(uv_timer_t *t)
{
    struct vmux_conn *c = t->data;
    const char *stage = c->resolving        ? "resolving the host name"
                        : c->handshaking    ? "the TLS handshake (is the server speaking TLS?)"
                        : c->setup_left > 0 ? "session setup (AUTH, SELECT, CLIENT)"
                                            : "connecting";
    vmux__conn_fail(c, VMUX_ERR_TIMEOUT, "%s did not finish within connectTimeout (%d ms)", stage,
                    c->link->cfg->connect_timeout_ms);
}

/*
 * Bounds how long sent bytes may stay unacknowledged before the kernel gives up on the
 * connection, so a dead peer is found even while nothing is read (best effort: Linux only).
 */
static void set_user_timeout(struct vmux_conn *c)
{
#ifdef TCP_USER_TIMEOUT
    uv_os_fd_t fd;
    int sync_ms = c->link->cfg->sync_timeout_ms;
    unsigned int ms = (unsigned int)(sync_ms < 5000 ? 10000 : 2 * sync_ms);
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
#else
    (void)c;
#endif
}

static void on_connected(uv_connect_t *req, int status)
{
    struct vmux_conn *c = req->data;
    if (c->failing)
        return;
    if (status < 0) {
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "connect failed: %s", uv_strerror(status));
        return;
    }
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        c->fd = fd;
    set_user_timeout(c);
    /* Only now does the socket exist: libuv would apply its own 60 s before connecting. */
    if (c->link->cfg->keep_alive_s > 0)
        uv_tcp_keepalive(&c->tcp, 1, (unsigned)c->link->cfg->keep_alive_s);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "cannot read: %s", uv_strerror(rc));
        return;
    }
    if (c->link->tls_ctx == NULL) {
        vmux__setup_start(c);
        return;
    }
    c->tls = vmux__tls_new(c->link->tls_ctx, c->link->cfg, c->ep->host);
    if (c->tls == NULL) {
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "cannot start a TLS session");
        return;
    }
    c->handshaking = true;
    conn_handshake(c);
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
    c->resolving = false;
    if (!c->failing) {
        if (status < 0)
            vmux__conn_fail(c, VMUX_ERR_RESOLVE, "cannot resolve the host name: %s",
                            uv_strerror(status));
        else
            conn_connect(c, res->ai_addr);
    }
    uv_freeaddrinfo(res);
    conn_unref(c);
}

/* Fills addr when host is an IP literal, so that no resolver thread is needed. */
static bool parse_ip(const char *host, int port, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof(*addr));
    return uv_ip4_addr(host, port, (struct sockaddr_in *)addr) == 0 ||
           uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr) == 0;
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
    c->link = link;
    c->ep = ep;
    c->fifo.keeps_husks = true; /* a timed-out op waits here for its late reply */
    c->fd = -1;
    c->hangup_fd = -1;
    snprintf(c->where, sizeof(c->where), strchr(ep->host, ':') ? "[%s]:%d" : "%s:%d", ep->host,
             ep->port);
    uv_timer_init(link->loop, &c->timer);
    uv_prepare_init(link->loop, &c->flusher);
    uv_idle_init(link->loop, &c->resumer);
    c->timer.data = c->flusher.data = c->resumer.data = c;
    c->wreq.data = c;
    c->refs = 3;
    return c;
}

void vmux__conn_begin(struct vmux_conn *c)
{
    uv_timer_start(&c->timer, on_connect_timeout, (uint64_t)c->link->cfg->connect_timeout_ms, 0);
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
    c->resolving = true;
    c->refs++;
}

/* ---- ending ---- */

/* A sent op goes out again only if the caller said it is idempotent, and only once. */
static bool resendable(const struct vmux_op *op)
{
    return (op->flags & (VMUX_OP_RETRY_SAFE | VMUX_OP_RESENT)) == VMUX_OP_RETRY_SAFE;
}

/* Settles the ops in flight; see vmux__conn_end(). */
static void conn_settle(struct vmux_conn *c, bool requeue, int status, int sent_status)
{
    struct vmux_opq q = {0}, unsent = {0};
    vmux__opq_take(&q, &c->fifo);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        bool sent = op->wstart < c->flushed;
        if ((op->flags & VMUX_OP_INTERNAL) || op->done) {
            vmux__op_free(op);
        } else if (requeue && (!sent || resendable(op))) {
            if (sent) {
                op->flags |= VMUX_OP_RESENT;
                vmux__count(&c->link->ctr->resent, 1);
            }
            vmux__opq_push(&unsent, op);
        } else {
            vmux__op_finish(op, sent ? sent_status : status, NULL);
        }
    }
    vmux__opq_prepend(&c->link->backlog, &unsent);
}

void vmux__conn_end(struct vmux_conn *c, bool requeue, int status, int sent_status)
{
    vmux__lane_shut(c->link);
    c->failing = true;
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
    if (c->resolving)
        uv_cancel((uv_req_t *)&c->gai); /* on_resolved still runs, and lets go of c */
    conn_settle(c, requeue, status, sent_status);
}
