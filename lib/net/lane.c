/*
 * The direct lane: a synchronous caller writes its own command on the shared connection while
 * the I/O thread is idle, instead of queueing it and waking the I/O thread to write it; and,
 * when it is the connection's only user, it reads its own reply too.
 *
 * A lone synchronous caller otherwise costs two wake-ups of the I/O thread per call (one to
 * write, one to read) and one of its own. Writing through the lane saves the first; reading
 * through it saves the second, so that a call costs what a blocking client's call costs: one
 * send(), one sleep in poll() until the reply arrives, one recv(). StackExchange.Redis's callers
 * write their own commands in the same way when the connection is uncontended.
 *
 * The lane is a lock on the connection that the I/O thread lends out while it does not use it:
 *
 *   LANE_SHUT     the I/O thread may touch the connection (the default);
 *   LANE_OPEN     the I/O thread is done with it for now and nothing waits to be written: a
 *                 caller may take it to write (replies are still the I/O thread's to read);
 *   LANE_IDLE     as OPEN, and nothing waits for a reply either, and a synchronous caller used
 *                 the lane lately: the I/O thread stopped reading the socket, so a caller may
 *                 take it to write and then read its own reply;
 *   LANE_HELD     a caller is writing one command: it sends the bytes, puts the op at the tail
 *                 of the in-flight FIFO, and either gives the lane back (OPEN) or, having taken
 *                 it IDLE, keeps it to read (READING);
 *   LANE_READING  a caller waits in poll() for its reply on the socket (and on the lane's kick
 *                 descriptor), reads it, completes its op and gives the lane back (IDLE);
 *   LANE_TAKING   the I/O thread wants the connection back from a reader: it wrote the kick
 *                 descriptor and sleeps on the lane word until the reader gives it back (SHUT).
 *
 * Every I/O-thread entry that touches the connection's socket, buffers, FIFO or byte counters
 * shuts the lane first (vmux__lane_shut), and opens it again when it is done and the connection
 * is idle. Since replies are read either by the I/O thread with the lane shut or by the caller
 * that holds it, an op is always in the FIFO before its reply can be matched. TLS connections
 * never open the lane: their bytes go through one SSL object that only the I/O thread may use.
 * A read turn and a flush turn bracket their work (vmux__lane_enter/leave): an open asked for
 * inside the bracket (the link made ready by a reply) waits for the bracket's end, so no caller
 * takes the lane while the I/O thread is still reading.
 *
 * A reader hands anything out of the ordinary to the I/O thread, unparsed: an error reply (which
 * may mean READONLY, LOADING or a redirect), a reader failure, the end of the connection, its
 * deadline, or the I/O thread's kick. It then waits for its op like any synchronous caller.
 *
 * Once its op is on the FIFO and the lane is given back, the caller never touches the handle
 * again (vmux_close() may free it as soon as the op completes): the I/O thread adopts the op
 * when it next shuts the lane, indexing its deadline as if it had routed it. It wakes for that
 * in time because the caller, while it still holds the lane (which the handle's shutdown must
 * take first), wakes it when the op's deadline comes before the I/O thread's next planned
 * wake-up (lane_wake_by), or when bytes were left for it to write. A reader keeps its own
 * deadline, and wakes the I/O thread when it passes.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/assert.h"
#include "net/link_internal.h"
#include "vmux/error.h"

enum { LANE_SHUT, LANE_OPEN, LANE_IDLE, LANE_HELD, LANE_READING, LANE_TAKING };

/* ---- the I/O thread's side ---- */

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
    /* The ops written since the lane was last shut are the FIFO's tail, oldest first: nothing
     * the I/O thread writes joins the FIFO before it has shut the lane and come here. */
    struct vmux_op *first = c->fifo.tail;
    if (first == NULL || !(first->flags & VMUX_OP_DIRECT))
        return; /* answered already, by the caller that wrote it */
    while (first->prev != NULL && (first->prev->flags & VMUX_OP_DIRECT))
        first = first->prev;
    for (struct vmux_op *op = first; op != NULL; op = op->next) {
        op->flags &= ~(uint32_t)VMUX_OP_DIRECT;
        link->lane_adopt(op, link->lane_arg);
    }
}

static void futex_wait(atomic_int *word, int expected)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(atomic_int *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Asks the reader that holds the lane to give it back, and sleeps until it has. */
static void lane_take_from_reader(struct vmux_link *link)
{
    uint64_t one = 1, drained;
    if (write(link->lane_kick, &one, sizeof(one)) < 0) {
        /* An eventfd's counter cannot overflow from one write per reader: nothing to do but
         * wait for the reader's own reasons (its reply, or its deadline) to give it back. */
    }
    while (atomic_load_explicit(&link->lane, memory_order_acquire) == LANE_TAKING)
        futex_wait(&link->lane, LANE_TAKING);
    if (read(link->lane_kick, &drained, sizeof(drained)) < 0) {
        /* EAGAIN: the reader consumed nothing, and the counter is already zero */
    }
}

/*
 * The I/O thread has the connection back from a lane that let callers read: it reads the socket
 * again, and has the replies a reader left in the reader parsed on this loop turn. Deciding
 * later whether to lend the reading again: not if nobody used it since it was last lent.
 */
static void lane_reclaim(struct vmux_link *link, int was)
{
    struct vmux_conn *c = link->conn;
    if (c == NULL)
        return;
    if (was == LANE_IDLE && !c->lane_wrote)
        c->lane_sync = false;
    if (c->read_lent)
        vmux__conn_reads_back(c);
}

void vmux__lane_shut(struct vmux_link *link)
{
    /* Most calls find it shut already (the I/O thread writes many ops per turn): a plain load,
     * not a locked compare-and-swap. Only the I/O thread opens the lane, so SHUT stays SHUT.
     * Shut need not mean untouched: a caller that hands work over shuts the lane itself. */
    int seen = atomic_load_explicit(&link->lane, memory_order_acquire);
    int was = seen;
    for (unsigned spins = 0; seen != LANE_SHUT; spins++) {
        if (seen == LANE_OPEN || seen == LANE_IDLE) {
            was = seen;
            if (atomic_compare_exchange_weak_explicit(&link->lane, &seen, LANE_SHUT,
                                                      memory_order_acquire, memory_order_acquire))
                break;
            continue;
        }
        if (seen == LANE_READING &&
            atomic_compare_exchange_strong_explicit(&link->lane, &seen, LANE_TAKING,
                                                    memory_order_acquire, memory_order_acquire))
            seen = LANE_TAKING;
        if (seen == LANE_TAKING) {
            lane_take_from_reader(link);
            was = LANE_READING;
            break;
        }
        /* HELD: a caller is inside one send(); let it finish (it may have been preempted). */
        if (spins > 64)
            sched_yield();
        seen = atomic_load_explicit(&link->lane, memory_order_acquire);
    }
    lane_reclaim(link, was);
    lane_stamp(link);
    /* A caller's command cut short (lane_hand_over()): whatever the I/O thread writes next would
     * become the rest of it, so the connection takes the mark before anything can be flushed. */
    if (atomic_exchange_explicit(&link->lane_broken, false, memory_order_acquire) &&
        link->conn != NULL)
        link->conn->lane_broke = true;
}

/* Whether the I/O thread may lend the connection: idle, ready, plain, the handle's main link. */
static bool lane_eligible(const struct vmux_link *link)
{
    const struct vmux_conn *c = link->conn;
    return link->lane_ok && link->state == LINK_READY && c != NULL && c->tls == NULL &&
           c->fd >= 0 && vmux__conn_set_up(c) && !c->hung_up && !vmux__conn_retiring(c) &&
           !c->write_pending && !c->flush_armed && c->out.off == c->out.len && c->lent.count == 0;
}

/* Whether a caller may read on it too: nothing in flight, nothing unparsed, a sync caller about. */
static bool lane_readable(const struct vmux_conn *c)
{
    return c->lane_sync && c->link->lane_kick >= 0 && c->fifo.head == NULL && !c->paused &&
           c->link->push_fn == NULL && vmux__reader_idle(c->reader);
}

void vmux__lane_open(struct vmux_link *link)
{
    if (link->lane_depth > 0 || !lane_eligible(link))
        return; /* inside a bracket: vmux__lane_leave() opens it */
    struct vmux_conn *c = link->conn;
    VMUX_ASSERT(!link->lane_wake_spent);
    int to = LANE_OPEN;
    if (lane_readable(c) && vmux__conn_lend_reads(c))
        to = LANE_IDLE;
    atomic_store_explicit(&link->lane, to, memory_order_release);
}

void vmux__lane_enter(struct vmux_link *link)
{
    link->lane_depth++;
    vmux__lane_shut(link);
}

void vmux__lane_leave(struct vmux_link *link)
{
    VMUX_ASSERT(link->lane_depth > 0);
    if (--link->lane_depth == 0)
        vmux__lane_open(link);
}

void vmux__lane_poke(struct vmux_link *link)
{
    vmux__lane_shut(link); /* adopts what callers wrote */
    if (link->conn != NULL && link->conn->lane_broke) {
        vmux__conn_fail(link->conn, VMUX_ERR_NOMEM, LANE_BROKE_WHY);
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
    link->lane_wake_spent = false;
}

void vmux__lane_wake_spent(struct vmux_link *link)
{
    link->lane_wake_spent = true;
}

void vmux__lane_enable(struct vmux_link *link, uv_async_t *wake, int kick,
                       void (*adopt)(struct vmux_op *op, void *arg), void *arg)
{
    link->lane_wake = wake;
    link->lane_kick = kick;
    link->lane_adopt = adopt;
    link->lane_arg = arg;
    link->lane_ok = true;
}

/* ---- the caller's side ---- */

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
    c->lane_sync = true;  /* a synchronous caller is about: lend the reading when idle */
    op->flags |= VMUX_OP_DIRECT;
    op->wstart = c->queued;
    c->queued += op->len;
    c->flushed += sent;
    vmux__count(&c->link->ctr->bytes_out, sent);
    vmux__opq_push(&c->fifo, op);
    return vmux__conn_queue_rest(c, op, sent);
}

/* Takes the lane to write op: from OPEN, or from IDLE when the caller can read op's reply. */
static int lane_take(struct vmux_link *link, const struct vmux_op *op)
{
    int seen = atomic_load_explicit(&link->lane, memory_order_relaxed);
    if (seen != LANE_OPEN && (seen != LANE_IDLE || op->nreplies != 1))
        return -1;
    if (!atomic_compare_exchange_strong_explicit(&link->lane, &seen, LANE_HELD,
                                                 memory_order_acquire, memory_order_relaxed))
        return -1;
    return seen;
}

/*
 * A caller gave the lane back this recently: the connection is not asked whether the server hung
 * up. The poll() costs about 0.6 us, 3% of a lone caller's 19 us round trip (vmux-bench
 * vmux-sync@1), whose back-to-back calls skip it; a caller that did anything between two calls
 * (the test: another connection's CLIENT KILL, 70 us or more) asks.
 */
#define LANE_FRESH_NS 20000

/*
 * Whether the server already hung up the lane's connection. The I/O thread learns it a turn
 * later at best (its read, or with the reading lent the hang-up watcher on a copy of the
 * socket); a caller that wrote there meanwhile sent a command the server never read, and it came
 * back "outcome unknown" (CLIENT KILL of the idle connection, then INCR: 37 of 200
 * CONNECTION_LOST, none of which ran). POLLHUP and POLLERR, reported whatever is asked, count too.
 */
static bool lane_hung_up(const struct vmux_conn *c)
{
    return uv_hrtime() - c->lane_back_ns >= LANE_FRESH_NS && vmux__conn_peer_gone(c);
}

/*
 * lane_take(), but never a lane whose connection the server hung up: that one goes back as it
 * was, and the command to the queue path, unsent. The I/O thread reads the end before it writes
 * the command: the end is there to read when the command's wake-up comes, and commands are
 * written after the turn's reads (and none on a connection hung up: conn_flush()).
 */
static int lane_take_live(struct vmux_link *link, const struct vmux_op *op)
{
    int from = lane_take(link, op);
    if (from < 0 || !lane_hung_up(link->conn))
        return from;
    atomic_store_explicit(&link->lane, from, memory_order_release);
    return -1;
}

/*
 * After a caller's send(): the lane's next state. whole: every byte went out; kept: what did not
 * is queued on the connection, in c->out or lent (else the connection cannot go on); deadline: the
 * soonest of the ops sent. With everything sent on an idle lane the replies are the caller's to
 * read (*reading, LANE_READING: vmux__lane_read() or vmux__lane_read_all()); otherwise the I/O
 * thread is woken when it must be (bytes left, or a deadline before its next wake-up) and the lane
 * opens, or stays shut while the connection holds the rest. Still holding the lane, so the handle
 * and its wake-up are there.
 */
static void lane_hand_over(struct vmux_link *link, int from, bool whole, bool kept,
                           uint64_t deadline, bool *reading)
{
    link->conn->lane_back_ns = uv_hrtime();
    if (!kept)
        atomic_store_explicit(&link->lane_broken, true, memory_order_relaxed);
    else if (!whole)
        atomic_store_explicit(&link->lane_rest, true, memory_order_relaxed);
    if (whole && from == LANE_IDLE) {
        *reading = true;
        atomic_store_explicit(&link->lane, LANE_READING, memory_order_release);
        return;
    }
    if (!whole || deadline < atomic_load_explicit(&link->lane_wake_by, memory_order_relaxed))
        uv_async_send(link->lane_wake);
    atomic_store_explicit(&link->lane, whole ? LANE_OPEN : LANE_SHUT, memory_order_release);
}

int vmux__lane_write(struct vmux_link *link, struct vmux_op *op, bool *reading)
{
    *reading = false;
    int from = lane_take_live(link, op);
    if (from < 0)
        return VMUX_ERR_NOT_CONNECTED;
    struct vmux_conn *c = link->conn;
    ssize_t n = lane_send(c, op);
    if (n <= 0) { /* nothing left: the queue path takes it, and finds any error itself */
        atomic_store_explicit(&link->lane, from, memory_order_release);
        return VMUX_ERR_NOT_CONNECTED;
    }
    uint64_t deadline = op->deadline_ns; /* op is the FIFO's now: read before letting go */
    bool whole = (size_t)n == op->len;
    bool kept = lane_track(c, op, (size_t)n); /* false: part of it left, the conn cannot go on */
    lane_hand_over(link, from, whole, kept, deadline, reading);
    return 0;
}

/* Sends ops[0..n)'s bytes in one sendmsg(); how many went out, or -1 when none could. */
static ssize_t lane_send_all(struct vmux_conn *c, struct vmux_op *const *ops, size_t n)
{
    struct iovec iov[VMUX_LANE_MAX_OPS];
    for (size_t i = 0; i < n; i++)
        iov[i] = (struct iovec){ops[i]->cmd, ops[i]->len};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n};
    ssize_t sent;
    do {
        sent = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent;
}

int vmux__lane_write_all(struct vmux_link *link, struct vmux_op *const *ops, size_t n,
                         bool *reading)
{
    *reading = false;
    if (n == 0 || n > VMUX_LANE_MAX_OPS)
        return VMUX_ERR_NOT_CONNECTED;
    int from = lane_take_live(link, ops[0]); /* every op of a batch expects one reply */
    if (from < 0)
        return VMUX_ERR_NOT_CONNECTED;
    struct vmux_conn *c = link->conn;
    ssize_t sent = lane_send_all(c, ops, n);
    if (sent <= 0) { /* nothing left: the queue path takes them */
        atomic_store_explicit(&link->lane, from, memory_order_release);
        return VMUX_ERR_NOT_CONNECTED;
    }
    uint64_t deadline = UINT64_MAX; /* the ops are the FIFO's now: read before letting go */
    size_t left = (size_t)sent, total = 0;
    bool kept = true;
    for (size_t i = 0; i < n; i++) {
        size_t part = left < ops[i]->len ? left : ops[i]->len;
        left -= part;
        total += ops[i]->len;
        deadline = ops[i]->deadline_ns < deadline ? ops[i]->deadline_ns : deadline;
        kept = lane_track(c, ops[i], part) && kept; /* the unsent rest: the I/O thread's */
    }
    lane_hand_over(link, from, (size_t)sent == total, kept, deadline, reading);
    return 0;
}

/*
 * Gives the lane back from a reader: IDLE when its op is complete and nothing is left to do,
 * else SHUT, waking the I/O thread to take it from there (adopt the op, read, parse). If the
 * I/O thread asked for it meanwhile (TAKING), it is waiting: SHUT, and wake it.
 */
static void lane_give_back(struct vmux_link *link, bool done)
{
    int seen = LANE_READING;
    link->conn->lane_back_ns = uv_hrtime();
    if (!done)
        uv_async_send(link->lane_wake); /* while the lane is held, the handle is there */
    if (atomic_compare_exchange_strong_explicit(&link->lane, &seen, done ? LANE_IDLE : LANE_SHUT,
                                                memory_order_release, memory_order_relaxed))
        return;
    VMUX_ASSERT(seen == LANE_TAKING);
    atomic_store_explicit(&link->lane, LANE_SHUT, memory_order_release);
    futex_wake(&link->lane);
}

/* Milliseconds poll() may wait for a reply due by deadline (hrtime ns); 0 once it has passed. */
static int wait_ms(uint64_t deadline)
{
    uint64_t now = uv_hrtime();
    if (deadline == UINT64_MAX)
        return -1;
    if (deadline <= now)
        return 0;
    uint64_t ms = (deadline - now + 999999) / 1000000;
    return ms < INT_MAX ? (int)ms : INT_MAX;
}

/*
 * Waits for the socket to be readable and reads what it has into the reader. Returns true when
 * bytes came; false when the lane must go back to the I/O thread: the kick, the deadline, the
 * end of the connection or a failure, any of which the I/O thread then finds for itself.
 */
static bool lane_fill(struct vmux_link *link, struct vmux_conn *c, uint64_t deadline)
{
    struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
                          {.fd = link->lane_kick, .events = POLLIN}};
    for (;;) {
        int n = poll(p, 2, wait_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || p[1].revents != 0 || p[0].revents == 0)
            return false;
        ssize_t got;
        do {
            got = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT);
        } while (got < 0 && errno == EINTR);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (got <= 0)
            return false;
        vmux__count(&c->link->ctr->bytes_in, (uint64_t)got);
        return vmux__reader_feed(c->reader, c->rbuf, (size_t)got) == 0;
    }
}

void vmux__lane_read(struct vmux_link *link, struct vmux_op *op)
{
    struct vmux_conn *c = link->conn;
    VMUX_ASSERT(c->fifo.head == op && op->next == NULL && op->nreplies == 1);
    uint64_t deadline = op->deadline_ns;
    vmux_reply *reply = NULL;
    while (reply == NULL && lane_fill(link, c, deadline)) {
        if (vmux__reader_peek(c->reader) == '-')
            break; /* an error reply: the I/O thread's rules for those apply */
        int rc = vmux__conn_next_reply(c, &reply);
        if (rc < 0 || rc == VMUX__READER_REFUSED)
            break; /* the I/O thread's parse finds the same, and fails the op or the connection */
    }
    if (reply != NULL) {
        vmux__opq_pop(&c->fifo);
        c->served = true;
        vmux__op_finish_reply(op, reply); /* still holding the lane: the handle is still there */
    }
    /* Bytes behind the reply, an error reply, a failure: for the I/O thread to parse. */
    c->lane_parse = !vmux__reader_idle(c->reader);
    lane_give_back(link, reply != NULL && !c->lane_parse);
}

void vmux__lane_read_all(struct vmux_link *link, struct vmux_op *const *ops, size_t n)
{
    struct vmux_conn *c = link->conn;
    VMUX_ASSERT(n >= 1 && c->fifo.head == ops[0] && ops[n - 1]->next == NULL);
    uint64_t deadline = ops[0]->deadline_ns; /* a batch's ops share one deadline */
    size_t done = 0;
    bool more = true;
    while (done < n && more) {
        vmux_reply *reply = NULL;
        if (vmux__reader_peek(c->reader) == '-')
            break; /* an error reply: the I/O thread's rules for those apply */
        int rc = vmux__conn_next_reply(c, &reply);
        if (rc < 0 || rc == VMUX__READER_REFUSED)
            break; /* the I/O thread's parse finds the same, and fails the op or the connection */
        if (rc == 0) {
            more = lane_fill(link, c, deadline);
            continue;
        }
        VMUX_ASSERT(c->fifo.head == ops[done]);
        vmux__opq_pop(&c->fifo);
        c->served = true;
        vmux__op_finish_reply(ops[done++], reply); /* holding the lane: the handle is there */
    }
    c->lane_parse = !vmux__reader_idle(c->reader);
    lane_give_back(link, done == n && !c->lane_parse);
}
