/*
 * A connection's writing: ops and raw bytes queue in its output buffer, and the flush turn (an
 * idle handle, once per loop turn, before the loop polls) hands them to the socket, through TLS
 * when there is TLS; what the socket does not take at once goes to a uv_write.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/assert.h"
#include "core/counters.h"
#include "net/link_internal.h"
#include "vmux/error.h"

static void conn_flush(struct vmux_conn *c);

/* A command this large is written from its op's own bytes instead of copied into c->out. */
#define LEND_MIN ((size_t)64 * 1024)

/* Buffers gathered for one write on the stack; more lent ops than fit take an allocation. */
enum { IOV_STACK = 32 };

/* A buffer for uv_write (uv_buf_init() takes an unsigned length, too short for some values). */
static uv_buf_t span(char *base, size_t len)
{
    uv_buf_t b;
    b.base = base;
    b.len = len;
    return b;
}

/* ---- lent ops: large commands written from their own bytes ---- */

/* Queues op's bytes by reference after what c->out holds so far. False when out of memory. */
static bool lend(struct vmux_conn *c, struct vmux_op *op)
{
    if (c->lent.count == c->lent.cap && c->lent.head > 0) { /* room at the front: close up */
        size_t n = c->lent.count - c->lent.head;
        memmove(c->lent.v, c->lent.v + c->lent.head, n * sizeof *c->lent.v);
        c->lent.head = 0;
        c->lent.count = n;
    }
    if (c->lent.count == c->lent.cap) {
        size_t cap = c->lent.cap ? 2 * c->lent.cap : 8;
        struct vmux_op **v = realloc(c->lent.v, cap * sizeof *v);
        if (v == NULL)
            return false;
        c->lent.v = v;
        c->lent.cap = cap;
    }
    op->flags |= VMUX_OP_LENT;
    c->lent.v[c->lent.count++] = op;
    return true;
}

/* The lent ops not yet handed to a write. */
static size_t lent_waiting(const struct vmux_conn *c)
{
    return c->lent.count - c->lent.head - c->lent.writing;
}

/* Gives back the first n lent ops: their bytes have left. A slot is NULL for an op let go early. */
static void lent_release(struct vmux_conn *c, size_t n)
{
    for (size_t i = c->lent.head; i < c->lent.head + n; i++)
        if (c->lent.v[i] != NULL)
            c->lent.v[i]->flags &= ~(uint32_t)VMUX_OP_LENT;
    c->lent.head += n;
    if (c->lent.head == c->lent.count)
        c->lent.head = c->lent.count = 0;
}

void vmux__conn_lent_forget(struct vmux_conn *c)
{
    c->lent.writing = 0;
    lent_release(c, c->lent.count - c->lent.head);
}

bool vmux__conn_unlend(struct vmux_conn *c, struct vmux_op *op)
{
    size_t i = c->lent.head, in_write = c->lent.head + c->lent.writing;
    while (i < in_write && c->lent.v[i] != op)
        i++;
    /* The pending uv_write's last write_queue_size bytes have not left yet. */
    size_t unsent = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    if (i == in_write || op->wstart + op->len > c->flushed - unsent)
        return false;
    op->flags &= ~(uint32_t)VMUX_OP_LENT;
    c->lent.v[i] = NULL;
    return true;
}

/*
 * The bytes waiting to be written, in order, as iov[0, returned): c->out's and, between them, the
 * waiting lent ops' own. iov has room for 2 * lent_waiting(c) + 1 buffers. *total gets the bytes.
 */
static size_t gather(const struct vmux_conn *c, uv_buf_t *iov, size_t *total)
{
    uint64_t pos = c->flushed; /* the position of c->out's first waiting byte in what is queued */
    size_t at = c->out.off, n = 0;
    for (size_t i = c->lent.head + c->lent.writing; i < c->lent.count; i++) {
        struct vmux_op *op = c->lent.v[i];
        if (op->wstart > pos) {
            iov[n++] = span(c->out.data + at, (size_t)(op->wstart - pos));
            at += op->wstart - pos;
            pos = op->wstart;
        }
        size_t done = (size_t)(pos - op->wstart); /* what the direct lane sent of it */
        iov[n++] = span(op->cmd + done, op->len - done);
        pos = op->wstart + op->len;
    }
    if (at < c->out.len)
        iov[n++] = span(c->out.data + at, c->out.len - at);
    *total = (size_t)(c->queued - c->flushed);
    VMUX_ASSERT(pos <= c->queued && *total == (size_t)(pos - c->flushed) + (c->out.len - at));
    return n;
}

bool vmux__conn_queue_rest(struct vmux_conn *c, struct vmux_op *op, size_t sent)
{
    if (sent == op->len)
        return true;
    if (op->len >= LEND_MIN && !(op->flags & VMUX_OP_SECRET) && lend(c, op))
        return true;
    return vmux__buf_append(&c->out, op->cmd + sent, op->len - sent) == 0;
}

/* ---- writing ---- */

/*
 * The server is gone (a write failed, or a poll before one saw its end): what it sent before its
 * end is read first, then c fails with why. A connection paused out of its slice (a slow
 * subscriber's messages, replies waiting in the reader) is left to its resume, which reads on to
 * the end and fails it then, its unsent ops held meanwhile (hung_up): failed here, it dropped what
 * it had not dispatched (review helper-192: 16 of 300 messages delivered to a slow subscriber
 * whose connection was killed as it subscribed again, against 282 to 300 before the poll).
 */
static void conn_fail_after_reading(struct vmux_conn *c, const char *why)
{
    if (c->paused) {
        c->hung_up = true;
        return;
    }
    vmux__conn_read_last(c);
    if (c->phase != CONN_ENDED)
        vmux__conn_fail(c, VMUX_ERR_IO, "%s", why);
}

static void on_written(uv_write_t *req, int status)
{
    struct vmux_conn *c = req->data;
    if (c->phase == CONN_ENDED) {
        /* Ended: its link may be gone already (a write cancelled while the handle closes), and
         * the lane is not this connection's any more. */
        c->write_pending = false;
        vmux__buf_drained(&c->writing);
        return;
    }
    vmux__lane_shut(c->link);
    c->write_pending = false;
    vmux__buf_drained(&c->writing);
    size_t lent = c->lent.writing;
    c->lent.writing = 0;
    lent_release(c, lent);
    if (status < 0) { /* a refusal sent before the close goes first */
        char why[64];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        conn_fail_after_reading(c, why);
        return;
    }
    conn_flush(c);
    vmux__lane_open(c->link);
}

/*
 * Hands to uv_write what the socket did not take at once: iov[0, n) less its first done bytes.
 * New bytes then queue in a fresh c->out, the lent ops so far stay lent until it is written, and
 * on a TLS connection wire (the ciphertext) goes to c->writing.
 */
static void conn_write_rest(struct vmux_conn *c, struct vmux_buf *wire, uv_buf_t *iov, size_t n,
                            size_t done)
{
    size_t rest = 0, sent = done;
    while (done >= iov->len) { /* a try_write takes less than all, so a buffer is left */
        done -= iov->len;
        iov++;
        n--;
    }
    iov->base += done;
    iov->len -= done;
    for (size_t i = 0; i < n; i++)
        rest += iov[i].len;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, iov, (unsigned)n, on_written);
    if (rc < 0) {
        /* Refused before writing anything; what the socket took may reach the server. */
        if (c->tls == NULL)
            c->flushed += sent;
        vmux__conn_fail(c, VMUX_ERR_IO, "write failed: %s", uv_strerror(rc));
        return;
    }
    struct vmux_buf spare = c->writing; /* drained: no write is pending */
    c->writing = *wire;
    *wire = spare;
    if (c->tls == NULL) {
        c->flushed = c->queued; /* from here on these bytes may reach the server */
        c->lent.writing = c->lent.count - c->lent.head;
    }
    vmux__count(&c->link->ctr->bytes_out, rest);
    c->write_pending = true;
}

/*
 * The most plaintext one flush encrypts. A 64 MiB command encrypted at once held the loop for a
 * turn of ~240 ms, every deadline with it, and doubled the memory it took (probe40); a part at a
 * time, each written by uv_write before the next is encrypted, lets the loop turn between parts.
 */
#define TLS_PART VMUX_TLS_PART

/* The most plaintext one flush has encrypted in this process (vmux__conn_tls_largest_part()). */
static _Atomic size_t largest_part;

size_t vmux__conn_tls_largest_part(void)
{
    return atomic_load_explicit(&largest_part, memory_order_relaxed);
}

/* Raises largest_part to done: one relaxed load per flush, a store only for a new largest. */
static void note_part(size_t done)
{
    size_t was = atomic_load_explicit(&largest_part, memory_order_relaxed);
    while (done > was &&
           !atomic_compare_exchange_weak_explicit(&largest_part, &was, done, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* Whether p points into c->out's bytes (else into a lent op's). */
static bool in_out(const struct vmux_conn *c, const char *p)
{
    return c->out.data != NULL && p >= c->out.data && p < c->out.data + c->out.len;
}

/* How many lent ops from the head have left whole (their bytes are all flushed). */
static size_t lent_flushed(const struct vmux_conn *c)
{
    size_t i = c->lent.head;
    while (i < c->lent.count &&
           (c->lent.v[i] == NULL || c->lent.v[i]->wstart + c->lent.v[i]->len <= c->flushed))
        i++;
    return i - c->lent.head;
}

/*
 * TLS: encrypts up to TLS_PART of the queued commands into the ciphertext buffer (the rest waits
 * for the next flush). Returns false on failure.
 */
static bool conn_encrypt(struct vmux_conn *c, uv_buf_t *iov)
{
    char why[160];
    size_t total, n = gather(c, iov, &total);
    size_t part = total < TLS_PART ? total : TLS_PART, done = 0, from_out = 0;
    for (size_t i = 0; i < n && done < part; i++) {
        size_t len = iov[i].len < part - done ? iov[i].len : part - done;
        int rc = vmux__tls_write(c->tls, iov[i].base, len, why, sizeof(why));
        if (rc != 0) {
            vmux__conn_fail(c, rc, "%s", why);
            return false;
        }
        from_out += in_out(c, iov[i].base) ? len : 0;
        done += len;
    }
    c->flushed += done;
    note_part(done);
    if (c->out.off + from_out == c->out.len)
        vmux__buf_drained(&c->out);
    else
        c->out.off += from_out;
    lent_release(c, lent_flushed(c));
    if (vmux__tls_take_output(c->tls, &c->cipher) != 0) {
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for TLS output");
        return false;
    }
    return true;
}

/* Writes iov[0, n) (total bytes, from wire and the lent ops) as far as the socket takes it. */
static void conn_send(struct vmux_conn *c, struct vmux_buf *wire, uv_buf_t *iov, size_t n,
                      size_t total)
{
    int sent = uv_try_write((uv_stream_t *)&c->tcp, iov, (unsigned)n);
    if (sent == UV_EAGAIN)
        sent = 0;
    if (sent < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "write failed: %s", uv_strerror(sent));
        return;
    }
    vmux__count(&c->link->ctr->bytes_out, (uint64_t)sent);
    if ((size_t)sent < total) {
        conn_write_rest(c, wire, iov, n, (size_t)sent);
        return;
    }
    if (c->tls == NULL) {
        c->flushed = c->queued;
        lent_release(c, c->lent.count - c->lent.head);
    }
    vmux__buf_drained(wire);
}

void vmux__conn_send_alert(struct vmux_conn *c)
{
    if (c->write_pending || vmux__tls_take_output(c->tls, &c->cipher) != 0)
        return; /* a write under way holds the socket; out of memory: only the alert is lost */
    uv_buf_t b = span(c->cipher.data + c->cipher.off, c->cipher.len - c->cipher.off);
    if (b.len > 0)
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort: the socket closes */
    vmux__buf_drained(&c->cipher);
}

/*
 * A connection with nothing in flight and no bytes read for this long is asked whether the server
 * hung up before the I/O thread writes on it. Busy ones are not: the poll() costs a system call
 * (~0.6 us) per write, and a reply read this recently says the server was there a moment ago.
 */
#define QUIET_NS 20000

/*
 * Whether c has been quiet: no byte of the FIFO's ops has left (each is unsent, its reply not
 * owed), and nothing was read, or written through the direct lane, for QUIET_NS. The I/O thread
 * learns of a hang-up only when its loop polls, and the flush runs before that poll: a command
 * queued in a turn whose poll came before the server's end was written into the closed socket,
 * and came back "outcome unknown" (test_async_command_after_the_server_hung_up: 200 of 200).
 */
static bool conn_quiet(const struct vmux_conn *c)
{
    const struct vmux_op *head = c->fifo.head;
    if (head != NULL && head->wstart < c->flushed)
        return false; /* a reply is owed: the server's answer or its end comes next anyway */
    uint64_t last = c->read_ns > c->lane_back_ns ? c->read_ns : c->lane_back_ns;
    return uv_hrtime() - last >= QUIET_NS;
}

/*
 * The server hung up before anything waiting was written: what it sent before its end is read
 * first, then the connection fails, and the ops it holds, none of them written, go to the next
 * connection whatever the command.
 */
static void conn_found_gone(struct vmux_conn *c)
{
    conn_fail_after_reading(c, "the server closed the connection");
}

/*
 * Whether c, a subscriber connection that fell behind its messages (paused out of its slice: its
 * callbacks are slower than the messages come), is behind still: paused, or its socket holding
 * bytes not yet read. Its writes wait meanwhile, queued; once it is found caught up, it is not
 * asked again until it next pauses. A byte written then could cost the messages the server's
 * kernel still holds for it: the server that closed the connection (CLIENT KILL, its output
 * buffer limit) sends its FIN behind them, and they wait for the subscriber to read, so nothing
 * says the server is gone; its kernel answers a byte that comes to a closed socket with a reset
 * and drops what it had not sent (a 5 ms callback, 300 messages of 2 KB, CLIENT KILL, then a
 * SUBSCRIBE: 590 KB in the server's send queue, TcpExtTCPAbortOnData, 60 of 300 delivered). A
 * command on a subscriber connection is answered behind the messages anyway. Costs one ioctl()
 * per flush while behind.
 */
static bool conn_behind(struct vmux_conn *c)
{
    int unread = 0;
    if (c->paused || (c->fd >= 0 && ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0))
        return true;
    c->behind = false;
    return false;
}

static void conn_flush(struct vmux_conn *c)
{
    if (c->phase == CONN_ENDED || c->write_pending)
        return;
    if (c->lane_broke) { /* the next byte would be read as the rest of a cut command */
        vmux__conn_fail(c, VMUX_ERR_NOMEM, LANE_BROKE_WHY);
        return;
    }
    /* The server hung up while a caller had the reading (on_hangup()): the next read finds the
     * end, and what waits here goes to the next connection, unsent. Written, it was lost: the
     * server never read it, yet it came back "outcome unknown". */
    if (c->hung_up || (c->behind && conn_behind(c)))
        return;
    if (conn_quiet(c) && vmux__conn_peer_gone(c)) {
        conn_found_gone(c);
        return;
    }
    uv_buf_t stack[2 * IOV_STACK + 1], *iov = stack;
    if (lent_waiting(c) > IOV_STACK) {
        iov = malloc((2 * lent_waiting(c) + 1) * sizeof *iov);
        if (iov == NULL) {
            vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for the list of what to write");
            return;
        }
    }
    size_t total, n;
    struct vmux_buf *wire = &c->out;
    if (c->tls != NULL) {
        if (!conn_encrypt(c, iov))
            goto done;
        wire = &c->cipher;
        total = wire->len - wire->off;
        n = total > 0;
        iov[0] = span(wire->data + wire->off, total);
        if (total > 0 && c->queued > c->flushed) {
            /* More to encrypt: uv_write's callback, in a later loop turn, does it. */
            conn_write_rest(c, wire, iov, n, 0);
            goto done;
        }
    } else {
        n = gather(c, iov, &total);
    }
    if (total > 0)
        conn_send(c, wire, iov, n, total);
done:
    if (iov != stack)
        free(iov);
}

static void on_flush_turn(uv_idle_t *h)
{
    struct vmux_conn *c = h->data;
    struct vmux_link *link = c->link;
    uv_idle_stop(h);
    vmux__lane_enter(link);
    c->flush_armed = false;
    if (c->read_error != 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "cannot read: %s", uv_strerror(c->read_error));
    } else {
        if (c->lane_parse) { /* what a caller reading through the direct lane left (lane.c) */
            c->lane_parse = false;
            vmux__conn_parse(c); /* may complete the setup, whose ready opens the lane */
        }
        conn_flush(c);
    }
    vmux__lane_leave(link);
}

/*
 * An idle handle, not a prepare handle: libuv runs a handle started during its own phase only on
 * the next loop turn, and an active idle handle keeps that turn's poll from sleeping. So a flush
 * armed while the flush turns run (a flush that fails its connection completes ops whose
 * callbacks may submit to another connection) is written at once. A prepare handle armed there
 * waited for the next wake-up unless something else kept the loop awake (today the failed
 * connection's closing handles do: libuv does not sleep while a handle closes).
 */
void vmux__conn_arm_flush(struct vmux_conn *c)
{
    if (!c->flush_armed && c->phase != CONN_ENDED) {
        c->flush_armed = true;
        uv_idle_start(&c->flusher, on_flush_turn);
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
    if ((op->flags & VMUX_OP_NEAR) && c->link->tracking.writing != NULL)
        c->link->tracking.writing(c->link, op, c->link->tracking.arg);
    bool lent = op->len >= LEND_MIN && !(op->flags & VMUX_OP_SECRET) && lend(c, op);
    int rc = lent ? 0 : vmux__buf_append(&c->out, op->cmd, op->len);
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
    op->partial = 0; /* a block sent again is answered whole again */
    vmux_reply_free(op->first_error);
    op->first_error = NULL;
    if (op->refusal != NULL) { /* written again: it may run this time */
        vmux_reply_free(op->refusal);
        op->refusal = NULL;
    }
    c->queued += op->len;
    vmux__opq_push(&c->fifo, op);
    vmux__conn_arm_flush(c);
    return 0;
}
