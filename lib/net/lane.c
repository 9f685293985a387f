/*
 * The direct lane: a synchronous caller writes its own command on the shared connection while
 * the I/O thread is idle, instead of queueing it and waking the I/O thread to write it.
 *
 * A lone synchronous caller otherwise costs two wake-ups of the I/O thread per call (one to
 * write, one to read) and one of its own. With the lane it costs one of each: the caller's
 * send() puts the command on the wire at once, and the I/O thread wakes only when the reply
 * arrives, as it would for any reply. StackExchange.Redis's callers write their own commands in
 * the same way when the connection is uncontended.
 *
 * The lane is a lock on the connection that the I/O thread lends out while it does not use it:
 *
 *   LANE_SHUT  the I/O thread may touch the connection (the default);
 *   LANE_OPEN  the I/O thread is done with it for now, and it is idle: ready, plain TCP, nothing
 *              waiting to be written; a caller may take it;
 *   LANE_HELD  a caller is writing one command: it sends the bytes, puts the op at the tail of
 *              the in-flight FIFO and gives the lane back (OPEN).
 *
 * Every I/O-thread entry that touches the connection's socket, buffers, FIFO or byte counters
 * shuts the lane first (vmux__lane_shut: a compare-and-swap, or a short wait while a caller
 * finishes its send), and opens it again when it is done and the connection is idle. Since the
 * reply is read only with the lane shut, the op is always in the FIFO before its reply can be
 * matched. TLS connections never open the lane: their bytes go through one SSL object that only
 * the I/O thread may use.
 *
 * Once its op is on the FIFO the caller never touches the handle again (vmux_close() may free
 * it as soon as the op completes): the I/O thread adopts the op when it next shuts the lane,
 * indexing its deadline as if it had routed it. It wakes for that in time because the caller,
 * while it still holds the lane (which the handle's shutdown must take first), wakes it when
 * the op's deadline comes before the I/O thread's next planned wake-up (lane_wake_by), or when
 * bytes were left for it to write.
 */
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>

#include "net/link_internal.h"
#include "vmux/error.h"

enum { LANE_SHUT, LANE_OPEN, LANE_HELD };

/*
 * The times a caller's write means for the connection's idle and dead-link clocks, taken on the
 * loop's clock (which a caller thread may not read) when the I/O thread takes the lane back.
 * They may be late by as long as the loop slept, which errs on the side of a live connection.
 */
static void lane_stamp(struct vmux_link *link)
{
    struct vmux_conn *c = link->conn;
    if (c == NULL || !c->lane_wrote)
        return;
    c->lane_wrote = false;
    c->last_io = uv_now(link->loop);
    if (c->waiting_since == 0 && c->fifo.head != NULL)
        c->waiting_since = c->last_io;
    /* The ops written since the lane was last shut are at the tail, oldest first. */
    struct vmux_op *first = c->fifo.tail;
    while (first != NULL && first->prev != NULL && (first->prev->flags & VMUX_OP_DIRECT))
        first = first->prev;
    for (struct vmux_op *op = first; op != NULL; op = op->next) {
        op->flags &= ~(uint32_t)VMUX_OP_DIRECT;
        link->lane_adopt(op, link->lane_arg);
    }
}

void vmux__lane_shut(struct vmux_link *link)
{
    int expected = LANE_OPEN;
    for (unsigned spins = 0;; spins++) {
        if (atomic_compare_exchange_weak_explicit(&link->lane, &expected, LANE_SHUT,
                                                  memory_order_acquire, memory_order_acquire)) {
            lane_stamp(link);
            return;
        }
        if (expected == LANE_SHUT)
            return;
        /* HELD: a caller is inside one send(); let it finish (it may have been preempted). */
        expected = LANE_OPEN;
        if (spins > 64)
            sched_yield();
    }
}

/* Whether the I/O thread may lend the connection: idle, ready, plain, the handle's main link. */
static bool lane_eligible(const struct vmux_link *link)
{
    const struct vmux_conn *c = link->conn;
    return link->lane_ok && link->state == LINK_READY && c != NULL && c->tls == NULL &&
           c->fd >= 0 && !c->failing && !c->retiring && !c->write_pending && !c->flush_armed &&
           c->setup_left == 0 && c->out.off == c->out.len;
}

void vmux__lane_open(struct vmux_link *link)
{
    if (lane_eligible(link))
        atomic_store_explicit(&link->lane, LANE_OPEN, memory_order_release);
}

/* Writes op's bytes; returns how many went out, or -1 when none could (the socket is full). */
static ssize_t lane_send(struct vmux_conn *c, const struct vmux_op *op)
{
    ssize_t n;
    do {
        n = send(c->fd, op->cmd, op->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
}

/*
 * The bookkeeping vmux__conn_write_op() does, for an op of which sent bytes already left. Returns
 * false when the rest could not be kept for the I/O thread to write (out of memory).
 */
static bool lane_track(struct vmux_conn *c, struct vmux_op *op, size_t sent)
{
    c->lane_wrote = true; /* the clocks are stamped when the I/O thread takes the lane back */
    op->flags |= VMUX_OP_DIRECT;
    op->wstart = c->queued;
    c->queued += op->len;
    c->flushed += sent;
    vmux__count(&c->link->ctr->bytes_out, sent);
    vmux__opq_push(&c->fifo, op);
    return sent == op->len || vmux__buf_append(&c->out, op->cmd + sent, op->len - sent) == 0;
}

int vmux__lane_write(struct vmux_link *link, struct vmux_op *op)
{
    int expected = LANE_OPEN;
    if (!atomic_compare_exchange_strong_explicit(&link->lane, &expected, LANE_HELD,
                                                 memory_order_acquire, memory_order_relaxed))
        return VMUX_ERR_NOT_CONNECTED;
    struct vmux_conn *c = link->conn;
    ssize_t n = lane_send(c, op);
    if (n <= 0) { /* nothing left: the queue path takes it, and finds any error itself */
        atomic_store_explicit(&link->lane, LANE_OPEN, memory_order_release);
        return VMUX_ERR_NOT_CONNECTED;
    }
    uint64_t deadline = op->deadline_ns; /* op is the FIFO's now: read before letting go */
    if (!lane_track(c, op, (size_t)n))   /* part of it left: the connection cannot go on */
        atomic_store_explicit(&link->lane_broken, true, memory_order_relaxed);
    else if ((size_t)n < op->len)
        atomic_store_explicit(&link->lane_rest, true, memory_order_relaxed);
    bool whole = (size_t)n == op->len;
    /* Still holding the lane, so the handle and its wake-up handle are still there. */
    if (!whole || deadline < atomic_load_explicit(&link->lane_wake_by, memory_order_relaxed))
        uv_async_send(link->lane_wake);
    /* What is left in c->out keeps the lane shut until the I/O thread has written it. */
    atomic_store_explicit(&link->lane, whole ? LANE_OPEN : LANE_SHUT, memory_order_release);
    return 0;
}

void vmux__lane_poke(struct vmux_link *link)
{
    vmux__lane_shut(link); /* adopts what callers wrote */
    if (atomic_exchange_explicit(&link->lane_broken, false, memory_order_acquire) &&
        link->conn != NULL) {
        vmux__conn_fail(link->conn, VMUX_ERR_NOMEM, "out of memory for a command's last bytes");
        return;
    }
    if (atomic_exchange_explicit(&link->lane_rest, false, memory_order_acquire) &&
        link->conn != NULL)
        vmux__conn_arm_flush(link->conn);
    vmux__lane_open(link);
}

void vmux__lane_wake_by(struct vmux_link *link, uint64_t ns)
{
    atomic_store_explicit(&link->lane_wake_by, ns, memory_order_relaxed);
}

void vmux__lane_enable(struct vmux_link *link, uv_async_t *wake,
                       void (*adopt)(struct vmux_op *op, void *arg), void *arg)
{
    link->lane_wake = wake;
    link->lane_adopt = adopt;
    link->lane_arg = arg;
    link->lane_ok = true;
}
