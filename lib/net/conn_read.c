/*
 * A connection's reading: bytes from the socket (decrypted first on a TLS connection) are parsed
 * into replies, each matched to the op at the head of the FIFO, or on a subscriber connection
 * handed to the link as a push, in slices so that slow callbacks cannot hold the loop. While the
 * direct lane (lane.c) lends the reading to callers, a second descriptor watches for the
 * server's hang-up.
 */
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/counters.h"
#include "core/errbuf.h"
#include "core/expect.h"
#include "core/reply_internal.h"
#include "core/wait.h"
#include "net/link_internal.h"
#include "vmux/error.h"

/* The words that begin a block's error when its MULTI was refused and its commands ran. */
static const char MULTI_REFUSED[] = "MULTI was refused";

/*
 * Whether reply, a block's reply after MULTI's, is one a transaction gives: +QUEUED, or an error
 * (a command refused as it was queued, or, with MULTI refused, a command's own error, which
 * changed nothing). Any other reply is a command's result: MULTI was refused and the command
 * ran on its own.
 */
static bool queued_or_error(const vmux_reply *reply)
{
    enum vmux_reply_kind kind = vmux_reply_get_kind(reply);
    return kind == VMUX_REPLY_ERROR ||
           (kind == VMUX_REPLY_STATUS && reply->len == 6 && memcmp(reply->str, "QUEUED", 6) == 0);
}

/*
 * A block whose MULTI was refused (an ACL without MULTI: NOPERM) and whose commands then ran one
 * by one, as commands outside a transaction (one of them answered with a result): its kept error,
 * MULTI's, becomes words that say so, reported in place of EXEC's "EXEC without MULTI". They do
 * not begin with MULTI's error class, so nothing takes the block for refused whole and sends it
 * again. Out of memory: MULTI's error as it was.
 */
static void multi_refused_ran(struct vmux_op *op)
{
    size_t len = 0;
    const char *said = vmux_reply_str(op->first_error, &len);
    if (said == NULL || strncmp(said, MULTI_REFUSED, sizeof MULTI_REFUSED - 1) == 0)
        return; /* no error kept (MULTI answered neither OK nor an error), or worded already */
    char words[VMUX_REASON_SIZE + 256];
    vmux__errbuf_set(words, sizeof words,
                     "%s (%.*s): the commands after it ran one by one outside a transaction, not "
                     "atomically, and their replies are not kept; EXEC answered that there was no "
                     "MULTI",
                     MULTI_REFUSED, (int)(len < VMUX_REASON_SIZE ? len : VMUX_REASON_SIZE), said);
    vmux_reply *worded = vmux__reply_new_str(VMUX_REPLY_ERROR, words, strlen(words));
    if (worded == NULL)
        return;
    vmux_reply_free(op->first_error);
    op->first_error = worded;
}

/*
 * A block of several commands (MULTI ... EXEC) is one op that gets several replies; all but the
 * last are consumed here. The first error among them is kept: it says why EXEC aborts. They are
 * counted apart from nreplies, which a block sent again (a MOVED or ASK, a broken connection)
 * needs whole. A reply after MULTI's that is neither +QUEUED nor an error says that MULTI was
 * refused and the commands ran (multi_refused_ran()). Cost: a compare of each +QUEUED.
 */
static bool conn_partial_reply(struct vmux_op *op, vmux_reply *reply)
{
    VMUX_ASSERT(op->nreplies >= 1); /* the last reply pops the op: none comes after it */
    if (op->partial + 1 >= op->nreplies)
        return false;
    if (op->partial++ > 0 && !queued_or_error(reply) && op->first_error != NULL)
        multi_refused_ran(op);
    if (vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR && op->first_error == NULL)
        op->first_error = reply;
    else
        vmux_reply_free(reply);
    return true;
}

/* Whether an error's text names the PING command ('ping' or 'PING', quoted, as the server's
 * refusals do: "NOPERM User u has no permissions to run the 'ping' command"). */
static bool names_ping(const char *msg)
{
    for (const char *q = msg != NULL ? strchr(msg, '\'') : NULL; q != NULL; q = strchr(q + 1, '\''))
        if (strncasecmp(q, "'ping'", 6) == 0)
            return true;
    return false;
}

/*
 * A subscribed connection's answer to its heartbeat PING: ["pong", ""], or, while one is
 * unanswered, an error that names PING (a user without +ping, a renamed PING): the server
 * answered, so the connection is alive. The error went to the subscriptions before, taken for
 * the answer to a request, and the PING for unanswered: the link was failed as dead every
 * 2 x syncTimeout (probe39: every ~69 s by default, every 3 s with keepAlive=2).
 *
 * A connection of a subscriber link that is not in subscribed mode (its SUBSCRIBE refused, as a
 * Sentinel watcher's or a near cache's by an ACL; no subscription left) answers +PONG, which
 * went to the link's push callback and was dropped: the link was failed as dead every keepAlive
 * + 2 x syncTimeout, for good. While a PING is unanswered, +PONG is its answer: a message or a
 * subscription's answer is an array (or an error), never a status.
 */
static bool is_pong(const struct vmux_conn *c, const vmux_reply *r)
{
    enum vmux_reply_kind got = vmux_reply_get_kind(r);
    if (got == VMUX_REPLY_ERROR)
        return c->push_ping_sent != 0 && names_ping(vmux_reply_str(r, NULL));
    if (got == VMUX_REPLY_STATUS) {
        const char *text = vmux_reply_str(r, NULL);
        return c->push_ping_sent != 0 && text != NULL && strcmp(text, "PONG") == 0;
    }
    const char *kind = vmux_reply_str(vmux_reply_element(r, 0), NULL);
    return kind != NULL && strcmp(kind, "pong") == 0;
}

/* Takes reply if it is a subscriber connection's push (a message, or its heartbeat's answer). */
static bool dispatch_push(struct vmux_conn *c, vmux_reply *reply)
{
    if (c->link->push_fn == NULL || c->fifo.head != NULL || c->setup_left != 0)
        return false;
    if (is_pong(c, reply)) { /* the heartbeat's answer (setup.c) */
        c->push_ping_sent = 0;
        vmux_reply_free(reply);
        return true;
    }
    c->link->push_fn(reply, c->link->push_arg); /* a subscriber connection's message */
    return true;
}

/* Whether reply can be the answer of op, the FIFO head; if not, it frees reply and fails c. */
static bool reply_fits_head(struct vmux_conn *c, const struct vmux_op *op, vmux_reply *reply)
{
    if (op == NULL) {
        vmux_reply_free(reply);
        vmux__conn_fail(c, VMUX_ERR_PROTOCOL, "the server sent a reply no command was waiting for");
        return false;
    }
    if (!vmux__expect_met(op->expect, reply)) { /* the library's own command (core/expect.h) */
        const char *got = vmux_reply_kind_name(vmux_reply_get_kind(reply));
        vmux_reply_free(reply);
        vmux__conn_fail(c, VMUX_ERR_PROTOCOL,
                        "the server sent a %s reply where a %s was due: its replies are out of "
                        "step with the commands (a surplus reply?)",
                        got, vmux__expect_name(op->expect));
        return false;
    }
    return true;
}

/* Pops op, answered whole, off the FIFO; returns its reply (EXECABORT: the first error). */
static vmux_reply *pop_answered(struct vmux_conn *c, struct vmux_op *op, vmux_reply *reply)
{
    vmux__opq_pop(&c->fifo);
    if (!(op->flags & VMUX_OP_INTERNAL))
        c->served = true;
    if ((op->flags & VMUX_OP_LENT) && !vmux__conn_unlend(c, op)) {
        /* Answered before all of it left (a protocol error: the server stops reading): what is
         * left of it must not reach the server as commands. The socket closes before op goes. */
        vmux__conn_fail(c, VMUX_ERR_PROTOCOL,
                        "the server answered a command before it was sent whole");
    }
    if (op->first_error != NULL && vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR) {
        vmux_reply_free(reply); /* EXECABORT: the queued command's own error says more; EXEC
                                 * without MULTI: MULTI's refusal (multi_refused_ran()) */
        reply = op->first_error;
        op->first_error = NULL;
    }
    c->waiting_since = c->fifo.head != NULL ? uv_now(c->link->loop) : 0;
    return reply;
}

/* Whether op's command is SPUBLISH (its encoder said so) and reply is 0: nobody counted. */
static bool spublish_none(const struct vmux_op *op, const vmux_reply *reply)
{
    return (op->flags & VMUX_OP_SPUBLISH) && vmux_reply_get_kind(reply) == VMUX_REPLY_INTEGER &&
           vmux_reply_integer(reply) == 0;
}

/* Gives op its reply: to setup.c, dropped (timed out), to the link (MOVED...), or completes. */
static void deliver_reply(struct vmux_conn *c, struct vmux_op *op, vmux_reply *reply)
{
    if (op->flags & VMUX_OP_INTERNAL) {
        vmux__setup_reply(c, op, reply);
    } else if (op->done) { /* timed out earlier: its late reply is dropped here */
        vmux_reply_free(reply);
        vmux__op_free(op);
    } else if (!vmux__link_reply_rejected(c->link, op, reply)) {
        if (c->link->events.none_counted != NULL && spublish_none(op, reply))
            c->link->events.none_counted(c->link, c->link->arg); /* a stale map? */
        vmux__op_finish_reply(op, reply);
    }
}

/* One whole reply read on c: a subscriber's push, or the answer to the FIFO head's op. */
static void conn_dispatch(struct vmux_conn *c, vmux_reply *reply)
{
    if (dispatch_push(c, reply))
        return;
    struct vmux_op *op = c->fifo.head;
    if (!reply_fits_head(c, op, reply) || conn_partial_reply(op, reply))
        return;
    deliver_reply(c, op, pop_answered(c, op, reply));
    if (vmux__conn_retiring(c) && c->phase != CONN_ENDED && c->fifo.head == NULL)
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "%s", c->retire_why);
}

/* What the caller of a refused reply's command hears besides VMUX_ERR_PROTOCOL. */
static vmux_reply *refused_why(const struct vmux_conn *c, const struct vmux_op *op)
{
    if (!(op->flags & VMUX_OP_TELL_WHY))
        return NULL;
    char why[VMUX_REASON_SIZE];
    vmux__errbuf_set(why, sizeof why,
                     "%s: the reply was refused: %s (the command ran; the rest of its reply was "
                     "skipped, and the connection goes on)",
                     c->where, vmux__reader_error(c->reader));
    return vmux__reply_new_str(VMUX_REPLY_ERROR, why, strlen(why));
}

/*
 * A subscriber connection's push refused over a limit (a message whose payload is over
 * maxBulkLength), which the link's owner drops: true, the rest of it skipped and the connection
 * kept. False when the owner does not (the near cache's and the sentinels' links, a push that
 * answers the owner's request), or when it is no push: the connection fails as before.
 */
static bool push_refused(struct vmux_conn *c)
{
    const struct vmux_link *link = c->link;
    if (link->push_over_limit == NULL || c->setup_left != 0 ||
        !link->push_over_limit(vmux__reader_refused_part(c->reader), vmux__reader_error(c->reader),
                               link->push_arg))
        return false;
    vmux__reader_take_refusal(c->reader);
    return true;
}

/*
 * A reply over a reply limit, refused by the reader, which skips the rest of it (core/reader.h):
 * the command it answers fails with VMUX_ERR_PROTOCOL and the limit's words, and the connection
 * goes on, the commands behind it answered as usual. Before, the connection was closed, and the
 * commands in flight behind the refused one with it: resent if retry-safe, the others failed
 * outcome unknown (an INCR pipelined behind a GET over maxBulkLength came back
 * VMUX_ERR_PROTOCOL, though it had run). The refused reply of a block's earlier command
 * completes the block at once; its later replies are dropped as a timed-out op's are.
 */
static void conn_refused(struct vmux_conn *c)
{
    struct vmux_op *op = c->fifo.head;
    if (op == NULL && push_refused(c))
        return;
    if (op == NULL || (op->flags & VMUX_OP_INTERNAL)) { /* the reader refuses only users' */
        vmux__conn_fail(c, VMUX_ERR_PROTOCOL, "bad reply: %s", vmux__reader_error(c->reader));
        return;
    }
    vmux_reply *why = op->done ? NULL : refused_why(c, op);
    vmux__reader_take_refusal(c->reader);
    if (op->partial + 1 < op->nreplies) {
        op->partial++;      /* the block's later replies are dropped as a done op's */
        if (!op->done) {    /* last: a pooled op's job may close the link, freeing op (a husk) */
            c->fifo.left++; /* a husk now, no longer live: as vmux__op_expire() counts one */
            vmux__op_complete_refused(op, why);
        }
        return;
    }
    (void)pop_answered(c, op, NULL);
    if (!op->done)
        vmux__op_complete_refused(op, why);
    vmux__op_free(op);
    if (vmux__conn_retiring(c) && c->phase != CONN_ENDED && c->fifo.head == NULL)
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "%s", c->retire_why);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct vmux_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

/*
 * A loop turn dispatches one connection's replies (and runs their callbacks, or a subscriber's
 * message callbacks) for at most this long, plus the stride below, so that a flood of replies
 * or slow callbacks cannot keep the loop from the handle's other sockets and its deadline timers
 * (probe35: 100,000 small replies, read 2 MiB a turn, held the timers 90 to 640 ms).
 */
#define SLICE_NS (2u * 1000u * 1000u)

/*
 * A command connection reads the clock once per this many replies at most (a subscriber's at
 * each): a stride of replies dispatched in under SLICE_FAST_NS doubles the next one, up to
 * SLICE_STRIDE, and a slower one sets it back to 1. So a flood of small replies reads the clock
 * seldom, and slow callbacks end the slice after the one under way, not up to 31 more later.
 */
#define SLICE_STRIDE 32u
#define SLICE_FAST_NS (SLICE_NS / 16u)

static void on_resume(uv_idle_t *h);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/*
 * Out of time for this turn: what is parsed and not dispatched stays in the reader (or TLS),
 * reading stops so the backlog stays in the kernel and the server's output buffer, and the next
 * loop turns go on (on_resume), timers first.
 */
static void conn_pause(struct vmux_conn *c)
{
    c->paused = true;
    if (c->link->push_fn != NULL)
        c->behind = true; /* its writes wait until it catches up (conn_write.c) */
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_idle_start(&c->resumer, on_resume);
}

static bool slice_over(struct vmux_conn *c)
{
    if (c->slice_until == 0 || (c->link->push_fn == NULL && ++c->slice_seen < c->slice_stride))
        return false;
    uint64_t now = uv_hrtime();
    unsigned longer = c->slice_stride * 2 < SLICE_STRIDE ? c->slice_stride * 2 : SLICE_STRIDE;
    c->slice_stride = now - c->slice_checked < SLICE_FAST_NS ? longer : 1;
    c->slice_seen = 0;
    c->slice_checked = now;
    return now >= c->slice_until;
}

/* The slice of this loop turn (uv_now() moves once a turn): it starts at the turn's first read. */
static void slice_begin(struct vmux_conn *c, bool fresh)
{
    uint64_t turn = uv_now(c->link->loop);
    if (fresh || c->slice_turn != turn) {
        c->slice_turn = turn;
        c->slice_checked = uv_hrtime();
        c->slice_until = c->slice_checked + SLICE_NS;
    }
}

int vmux__conn_next_reply(struct vmux_conn *c, vmux_reply **out)
{
    const struct vmux_op *head = c->fifo.head;
    vmux__reader_own(c->reader, head != NULL && (head->flags & VMUX_OP_OWN));
    return vmux__reader_next(c->reader, out);
}

/* Dispatches the replies the reader holds, pausing when the turn's slice ends. */
void vmux__conn_parse(struct vmux_conn *c)
{
    int rc = 0;
    vmux__wait_defer_turn(); /* the callers every read of this turn completes: woken at once */
    vmux__wait_defer();      /* and at least those of this read (a loop without the turn's end) */
    while (c->phase != CONN_ENDED) {
        if (slice_over(c)) {
            conn_pause(c);
            break;
        }
        vmux_reply *reply;
        rc = vmux__conn_next_reply(c, &reply);
        if (rc == VMUX__READER_REFUSED)
            conn_refused(c);
        else if (rc == 1)
            conn_dispatch(c, reply);
        else
            break;
    }
    vmux__wait_flush();
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
    vmux__conn_parse(c);
}

/* TLS: advances the handshake; once done, session setup starts. */
static void conn_handshake(struct vmux_conn *c)
{
    VMUX_ASSERT(c->phase == CONN_HANDSHAKING);
    char why[160];
    int rc = vmux__tls_handshake(c->tls, why, sizeof(why));
    if (rc < 0) {
        vmux__conn_send_alert(c);
        vmux__conn_fail(c, rc, "TLS handshake failed: %s", why);
        return;
    }
    vmux__conn_arm_flush(c);
    if (rc == 1) {
        c->phase = CONN_OPEN;
        vmux__setup_start(c);
    }
}

/* TLS: consumes the plaintext the TLS session holds, until it is empty or the slice ends. */
static void conn_decrypt_rest(struct vmux_conn *c)
{
    char why[160];
    while (c->phase == CONN_OPEN && !c->paused) {
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
    if (c->phase == CONN_HANDSHAKING)
        conn_handshake(c);
    conn_decrypt_rest(c);
}

/*
 * A subscriber connection behind its messages that has read on, and is not paused: the writes it
 * holds may go now, if its socket is read empty (conn_flush() asks). A flag's test per read.
 */
static void conn_read_on(struct vmux_conn *c)
{
    if (!c->paused && vmux__conn_holding(c))
        vmux__conn_arm_flush(c);
}

/* A paused connection's next slice; reading resumes once what it holds is dispatched. */
static void conn_resume(struct vmux_conn *c)
{
    c->paused = false;
    slice_begin(c, true);
    c->last_io = uv_now(c->link->loop); /* still taking in what the server sent */
    vmux__conn_parse(c);
    if (!c->paused && c->tls != NULL)
        conn_decrypt_rest(c);
    if (c->paused || c->phase == CONN_ENDED)
        return;
    uv_idle_stop(&c->resumer);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        vmux__conn_fail(c, VMUX_ERR_IO, "cannot read: %s", uv_strerror(rc));
    else
        conn_read_on(c);
}

static void on_resume(uv_idle_t *h)
{
    struct vmux_conn *c = h->data;
    struct vmux_link *link = c->link;
    vmux__lane_enter(link); /* as on_read: a caller may be putting an op on the FIFO */
    conn_resume(c);
    vmux__lane_leave(link);
}

static void conn_read(struct vmux_conn *c, ssize_t nread, const uv_buf_t *buf)
{
    c->last_io = uv_now(c->link->loop);
    if (nread > 0) {
        c->read_ns = uv_hrtime(); /* the server was there: no need to ask before a write */
        vmux__count(&c->link->ctr->bytes_in, (uint64_t)nread);
    }
    if (nread < 0) {
        if (nread == UV_EOF)
            vmux__conn_fail(c, VMUX_ERR_IO, "the server closed the connection");
        else
            vmux__conn_fail(c, VMUX_ERR_IO, "read failed: %s", uv_strerror((int)nread));
        return;
    }
    slice_begin(c, false);
    if (c->tls != NULL)
        conn_decrypt(c, buf->base, (size_t)nread);
    else
        conn_consume(c, buf->base, (size_t)nread);
    conn_read_on(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct vmux_conn *c = s->data;
    if (c->phase == CONN_ENDED || nread == 0)
        return;
    struct vmux_link *link = c->link;
    vmux__lane_enter(link); /* a caller may be putting an op on the FIFO this reply answers */
    conn_read(c, nread, buf);
    vmux__lane_leave(link);
}

void vmux__conn_read_last(struct vmux_conn *c)
{
    uv_os_fd_t fd;
    if (c->phase == CONN_ENDED || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
        return;
    struct vmux_link *link = c->link;
    vmux__lane_enter(link);
    while (c->phase != CONN_ENDED && !c->paused) {
        ssize_t n = recv(fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT);
        if (n <= 0)
            break;
        uv_buf_t buf = uv_buf_init(c->rbuf, (unsigned)n);
        conn_read(c, n, &buf);
    }
    link->lane_depth--; /* and the lane stays shut: the connection is about to fail */
}

/*
 * The start of a connected socket's reading: the TLS handshake first, when there is TLS, else at
 * once the session setup.
 */
void vmux__conn_start_reading(struct vmux_conn *c)
{
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "cannot read: %s", uv_strerror(rc));
        return;
    }
    if (c->link->tls_ctx == NULL) {
        c->phase = CONN_OPEN;
        vmux__setup_start(c);
        return;
    }
    char why[160]; /* within the cause (VMUX_CAUSE_SIZE) after the words before it */
    rc = vmux__tls_new(c->link->tls_ctx, c->link->cfg, c->ep->host, &c->tls, why, sizeof why);
    if (rc != 0) { /* the name cannot be checked (c->where names the host), or out of memory */
        vmux__conn_fail(c, rc, "cannot start a TLS session: %s", why);
        return;
    }
    c->phase = CONN_HANDSHAKING;
    conn_handshake(c);
}

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
    if (c->phase == CONN_ENDED)
        return;
    c->hung_up = true;
    vmux__lane_shut(c->link);
}

bool vmux__conn_peer_gone(const struct vmux_conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
    return c->fd >= 0 && poll(&p, 1, 0) > 0;
}

/*
 * A close-on-exec duplicate of fd. ThreadSanitizer does not intercept fcntl(), so under it a
 * descriptor made by F_DUPFD_CLOEXEC is unknown and the number's earlier owner (another thread's
 * closed socket) looks like a race; there dup() is used and close-on-exec set after it.
 */
static int dup_cloexec(int fd)
{
#if defined(__SANITIZE_THREAD__)
    int d = dup(fd);
    if (d >= 0 && fcntl(d, F_SETFD, FD_CLOEXEC) != 0) {
        close(d);
        return -1;
    }
    return d;
#else
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
#endif
}

bool vmux__conn_lend_reads(struct vmux_conn *c)
{
    if (c->hangup_fd < 0) {
        /* A descriptor of its own: libuv watches one handle per descriptor. */
        int fd = dup_cloexec(c->fd);
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
