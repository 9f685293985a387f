/*
 * The submit path: any thread → queue → I/O thread → inbox → deadline index → link.
 *
 * Admission comes first, at the door, in O(1): a call that would make the handle hold more than
 * maxPending commands or maxPendingBytes bytes is refused there (VMUX_ERR_BACKLOG_FULL) before
 * it is queued, so memory is bounded by configuration whatever callers do.
 *
 * The queue is a lock-free stack: a submitter pushes with one compare-and-swap, so 32 threads
 * submitting at once never sleep on each other. Only the submitter that finds the stack empty
 * wakes the loop (uv_async_send, which also coalesces), and it does so under qlock, so that the
 * wake-up can never reach a handle the I/O thread has already closed: the I/O thread closes it
 * only after it has seen `closing` and then held the lock once. The I/O thread takes the whole
 * stack with one exchange and reverses it, so each thread's ops keep their order; at shutdown it
 * leaves VMUX_SUBQ_SHUT in its place, which refuses every later push.
 *
 * The I/O thread moves what it took into its inbox and routes at most ROUTE_BATCH ops per
 * loop turn, so timers (deadlines, reconnects, heartbeats) run between slices however much is
 * queued. An op whose deadline passed while it waited in the queue or the inbox is timed out
 * when it reaches the front, before it is sent.
 */
#include <string.h>

#include "core/assert.h"
#include "core/errbuf.h"
#include "core/reply_internal.h"
#include "mux/mux.h"

#include "vmux/error.h"

#define ROUTE_BATCH 1024

/* The stack's value once the I/O thread has shut it: no push is accepted any more. */
#define VMUX_SUBQ_SHUT ((struct vmux_op *)(uintptr_t)1)

static void arm_deadline_timer(vmux *m);

void vmux__publish_wake_by(vmux *m)
{
    uint64_t tick = m->last_tick_ns + 1000000000u;
    vmux__lane_wake_by(m->link, m->timer_due_ns < tick ? m->timer_due_ns : tick);
}

/*
 * The lane stays shut until the next wake-up is published (the bracket): a caller woken by an
 * expiry here may write its next command through the lane at once, and compares its deadline
 * with the published wake-up to decide whether to wake the loop. Opened before arm_deadline_timer()
 * published, the lane showed it this wake-up's time, already passed, and the command went
 * unwatched until the once-a-second tick.
 */
static void on_deadline_timer(uv_timer_t *t)
{
    vmux *m = t->data;
    vmux__lane_wake_spent(m->link);
    vmux__lane_enter(m->link);
    vmux__lane_poke(m->link); /* adopts the direct ops whose deadlines this may be */
    m->timer_due_ns = UINT64_MAX;
    uint64_t now = uv_hrtime();
    struct vmux_op *op;
    while ((op = vmux__deadlines_expired(&m->deadlines, now)) != NULL)
        vmux__op_expire(op, now);
    arm_deadline_timer(m);
    vmux__lane_leave(m->link);
}

static void arm_deadline_timer(vmux *m)
{
    uint64_t next = vmux__deadlines_next(&m->deadlines);
    if (next == UINT64_MAX) {
        uv_timer_stop(&m->deadline_timer);
        m->timer_due_ns = UINT64_MAX;
        vmux__publish_wake_by(m);
        return;
    }
    if (next >= m->timer_due_ns)
        return;
    uint64_t now = uv_hrtime();
    uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
    m->timer_due_ns = next;
    uv_timer_start(&m->deadline_timer, on_deadline_timer, ms, 0);
    vmux__publish_wake_by(m);
}

void vmux__adopt_direct(struct vmux_op *op, void *arg)
{
    vmux *m = arg;
    vmux__deadlines_add(&m->deadlines, op); /* never fails: op was written, it must not fail */
    if (op->deadline_ns < m->timer_due_ns)
        arm_deadline_timer(m);
}

/* Puts op's deadline in the index (once), so the timer completes it wherever it waits. */
static void index_deadline(vmux *m, struct vmux_op *op)
{
    if (op->dclass != NULL)
        return;
    vmux__deadlines_add(&m->deadlines, op);
    if (op->deadline_ns < m->timer_due_ns)
        arm_deadline_timer(m);
}

/*
 * FAILED (cluster=yes against a server that is no cluster node, say): op fails with detection's
 * code and, as an error reply, its reason, the words vmux_open() gave: the caller's error buffer,
 * vmux_last_error() or an async callback's reply then say why, not only "invalid configuration".
 * Out of memory, the code alone. Off the hot path: a handle that failed detection serves nothing.
 */
__attribute__((noinline)) static void fail_detected(vmux *m, struct vmux_op *op)
{
    const char *why = m->router.fail_reason;
    vmux_reply *words =
        why[0] != '\0' ? vmux__reply_new_str(VMUX_REPLY_ERROR, why, strlen(why)) : NULL;
    vmux__op_finish(op, m->router.fail_code, words);
}

void vmux__route(vmux *m, struct vmux_op *op)
{
    if (op->flags & VMUX_OP_CONTROL) {
        vmux__run_control(m, op);
        return;
    }
    index_deadline(m, op);
    enum vmux_router_mode mode = vmux__router_mode(&m->router);
    struct vmux_link *link;
    if ((op->flags & VMUX_OP_BLOCKING) && mode != VMUX_ROUTER_CLUSTER) {
        vmux__pool_submit(&m->pool, op);
        return;
    }
    switch (mode) {
    case VMUX_ROUTER_STANDALONE:
        if (op->flags & VMUX_OP_READONLY)
            vmux__router_send(&m->router, op); /* readFrom: perhaps a replica's */
        else
            vmux__link_submit(m->link, op);
        break;
    case VMUX_ROUTER_CLUSTER:
        if (op->slot == VMUX_OP_SLOT_PUBLISH && (link = vmux__pubsub_publish_link(m)) != NULL)
            vmux__router_forward(&m->router, link, op); /* beside the handle's subscriptions */
        else
            vmux__router_send(&m->router, op);
        break;
    case VMUX_ROUTER_DETECTING:
        /* Nothing connected yet: the link's backlog, with its bounds and policy, which the first
         * connection writes before the question (cluster=auto serves either kind of server; a
         * backlogged op that a cluster redirects waits too). Connected and asking, or
         * cluster=yes, whose ops must never reach a server that is no cluster node: wait for the
         * answer. */
        if (vmux__link_ready(m->link) || m->cfg->cluster == VMUX_CLUSTER_YES)
            vmux__wait_settled(m, op);
        else
            vmux__link_submit(m->link, op);
        break;
    default:
        fail_detected(m, op);
    }
}

void vmux__wait_settled(vmux *m, struct vmux_op *op)
{
    if (m->cfg->backlog_policy == VMUX_BACKLOG_FAIL_FAST && !vmux__link_ready(m->link))
        vmux__op_finish(op, VMUX_ERR_NOT_CONNECTED,
                        vmux__op_why(op, vmux__link_last_failure(m->link)));
    else if (op->deadline_ns <= uv_hrtime())
        vmux__op_finish(op, vmux__op_unsent_timeout(op), NULL);
    else {
        index_deadline(m, op);
        vmux__router_park(&m->router, op);
    }
}

void vmux__wait_refresh(vmux *m, struct vmux_op *op)
{
    if (m->io_closing) {
        vmux__op_finish(op, VMUX_ERR_CLOSED, vmux__op_closed_why(op)); /* never written */
    } else if (op->deadline_ns <= uv_hrtime()) {
        vmux__op_finish(op, VMUX_ERR_TIMEOUT, NULL);
    } else {
        index_deadline(m, op);
        vmux__router_wait_refresh(&m->router, op);
    }
}

void vmux__submit_on_link(vmux *m, struct vmux_link *link, struct vmux_op *op)
{
    if (m->io_closing) {
        vmux__op_finish(op, VMUX_ERR_CLOSED, vmux__op_closed_why(op)); /* never written */
    } else if (op->deadline_ns <= uv_hrtime()) {
        vmux__op_finish(op, vmux__op_unsent_timeout(op), NULL);
    } else if (!vmux__counters_admit(&m->ctr, op->len, (uint64_t)m->cfg->max_pending,
                                     m->cfg->max_pending_bytes)) {
        vmux__op_finish(op, VMUX_ERR_BACKLOG_FULL, NULL);
    } else {
        op->ctr = &m->ctr;
        op->flags |= VMUX_OP_ADMITTED;
        vmux__count(&m->ctr.submitted, 1);
        index_deadline(m, op);
        vmux__link_submit(link, op);
    }
}

void vmux__submit_own_on_link(vmux *m, struct vmux_link *link, struct vmux_op *op)
{
    if (m->io_closing) {
        vmux__op_finish(op, VMUX_ERR_CLOSED, vmux__op_closed_why(op)); /* never written */
    } else if (op->deadline_ns <= uv_hrtime()) {
        vmux__op_finish(op, vmux__op_unsent_timeout(op), NULL);
    } else {
        index_deadline(m, op);
        vmux__link_submit(link, op);
    }
}

/* Fixes op's deadline from now, unless its caller fixed it already (at the call's entry). */
static void set_deadline(struct vmux_op *op, uint64_t now_ns)
{
    if (op->deadline_ns == 0)
        op->deadline_ns = now_ns + (uint64_t)op->timeout_ms * 1000000u;
}

int vmux__reserve(vmux *m, size_t len)
{
    return vmux__reserve_n(m, 1, len);
}

void vmux__unreserve(vmux *m, size_t len)
{
    vmux__counters_release(&m->ctr, len);
}

int vmux__reserve_n(vmux *m, size_t n, size_t bytes)
{
    return vmux__counters_admit_n(&m->ctr, n, bytes, (uint64_t)m->cfg->max_pending,
                                  m->cfg->max_pending_bytes)
               ? 0
               : VMUX_ERR_BACKLOG_FULL;
}

void vmux__door_why(const vmux *m, size_t n, size_t size, char *buf, size_t len)
{
    uint64_t held = atomic_load_explicit(&m->ctr.pending, memory_order_relaxed);
    uint64_t bytes = atomic_load_explicit(&m->ctr.pending_bytes, memory_order_relaxed);
    uint64_t max = (uint64_t)m->cfg->max_pending, max_bytes = m->cfg->max_pending_bytes;
    const char *full = vmux_strerror(VMUX_ERR_BACKLOG_FULL);
    if (n > max)
        vmux__errbuf_set(buf, len, "%s: %zu commands at once are more than maxPending (%llu)", full,
                         n, (unsigned long long)max);
    else if (held + n > max)
        vmux__errbuf_set(buf, len,
                         "%s: the handle holds maxPending (%llu) commands already, each until it "
                         "completes (one written and timed out: until its late reply or the "
                         "connection ends)",
                         full, (unsigned long long)max);
    else if (size > max_bytes && n == 1)
        vmux__errbuf_set(buf, len,
                         "%s: %zu bytes of commands are more than maxPendingBytes (%llu): one "
                         "command that large is taken only while nothing else is pending (%llu "
                         "bytes are)",
                         full, size, (unsigned long long)max_bytes, (unsigned long long)bytes);
    else if (size > max_bytes)
        vmux__errbuf_set(buf, len,
                         "%s: %zu commands of %zu bytes are more than maxPendingBytes (%llu) "
                         "allows at once: split them",
                         full, n, size, (unsigned long long)max_bytes);
    else
        vmux__errbuf_set(buf, len,
                         "%s: the handle holds %llu of maxPendingBytes (%llu) bytes of commands "
                         "already, each until it completes (one written and timed out: until its "
                         "late reply or the connection ends)%s",
                         full, (unsigned long long)bytes, (unsigned long long)max_bytes,
                         size > 0 ? "; this needs more" : "");
}

void vmux__unreserve_n(vmux *m, size_t n, size_t bytes)
{
    vmux__counters_release_n(&m->ctr, n, bytes);
}

void vmux__reserved(vmux *m, struct vmux_op *op)
{
    VMUX_ASSERT(!(op->flags & VMUX_OP_ADMITTED));
    op->ctr = &m->ctr;
    op->flags |= VMUX_OP_ADMITTED;
}

/*
 * Counts op against the handle's bounds, or refuses it; an op reserved at the door
 * (vmux__reserved()) is counted already. Control ops are never refused.
 */
static int admit(vmux *m, struct vmux_op *op)
{
    if (op->flags & VMUX_OP_CONTROL)
        return 0;
    if (!(op->flags & VMUX_OP_ADMITTED)) {
        if (vmux__reserve(m, op->len) != 0)
            return VMUX_ERR_BACKLOG_FULL;
        vmux__reserved(m, op);
    }
    vmux__count(&m->ctr.submitted, 1);
    return 0;
}

/* Gives an op back to its submitter after admit() took it. */
static void unadmit(struct vmux_op *op)
{
    if (op->flags & VMUX_OP_ADMITTED) {
        vmux__counters_release(op->ctr, op->len);
        atomic_fetch_sub_explicit(&op->ctr->submitted, 1, memory_order_relaxed);
    }
    op->flags &= ~(uint32_t)VMUX_OP_ADMITTED;
}

/*
 * Routes op from the I/O thread, its deadline set from now (the loop's clock, read once per turn:
 * close enough here, and free). A deadline set already (a large command's or a batch's, fixed
 * before it was encoded) may have passed since: then op is not sent. *hr caches the precise
 * clock, read only for such a deadline (0: not read yet).
 */
static void route_on_io(vmux *m, struct vmux_op *op, uint64_t now, uint64_t *hr)
{
    bool early = op->deadline_ns != 0;
    set_deadline(op, now);
    if (early && *hr == 0)
        *hr = uv_hrtime();
    if (early && op->deadline_ns <= *hr)
        vmux__op_finish(op, vmux__op_unsent_timeout(op), NULL); /* spent encoding it: not sent */
    else
        vmux__route(m, op);
}

static int submit_on_io(vmux *m, struct vmux_op *op)
{
    /* From a callback: route at once; the link's flush writes it this loop turn. */
    if (m->io_closing)
        return VMUX_ERR_CLOSED;
    int rc = admit(m, op);
    if (rc != 0)
        return rc;
    uint64_t hr = 0;
    route_on_io(m, op, uv_now(&m->loop) * 1000000u, &hr);
    return 0;
}

/*
 * What this thread last pushed on a handle's queue: the direct lane may carry its next command
 * only once that op has been routed (rule: one thread's commands are written in order). take is
 * the handle's take count read after the push: the op is in that take or the next one.
 */
static _Thread_local struct {
    const vmux *m;
    uint64_t take;
} last_queued;

/* Wakes the I/O thread for a queue that was empty; not once it has begun to close. */
static void wake_loop(vmux *m)
{
    uv_mutex_lock(&m->qlock);
    if (!atomic_load_explicit(&m->closing, memory_order_relaxed))
        uv_async_send(&m->wakeup);
    uv_mutex_unlock(&m->qlock);
}

/* Whether vmux_close() has begun (from then on other threads' submissions are refused). */
static bool closing(const vmux *m)
{
    return atomic_load_explicit(&m->closing, memory_order_acquire);
}

/* Pushes admitted ops[0..n) on the queue, in order, with one compare-and-swap. */
static int enqueue_all(vmux *m, struct vmux_op **ops, size_t n)
{
    if (closing(m))
        return VMUX_ERR_CLOSED;
    uint64_t now = uv_hrtime();
    for (size_t i = 0; i < n; i++) {
        set_deadline(ops[i], now);
        ops[i]->next = i > 0 ? ops[i - 1] : NULL; /* newest first */
    }
    struct vmux_op *head = atomic_load_explicit(&m->subq, memory_order_relaxed);
    do {
        if (head == VMUX_SUBQ_SHUT)
            return VMUX_ERR_CLOSED;
        ops[0]->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&m->subq, &head, ops[n - 1],
                                                    memory_order_seq_cst, memory_order_relaxed));
    last_queued.m = m;
    last_queued.take = atomic_load_explicit(&m->takes, memory_order_seq_cst);
    if (head == NULL)
        wake_loop(m);
    return 0;
}

/* Queues an admitted op for the I/O thread; refused (the handle is closing), it is unadmitted. */
static int enqueue(vmux *m, struct vmux_op *op)
{
    int rc = enqueue_all(m, &op, 1);
    if (rc != 0)
        unadmit(op);
    return rc;
}

/*
 * One of the close handshake's counters (m->entered, m->calls) counts this caller in, unless the
 * handle is closing (then nothing is counted). Either the closing side's read of the counter
 * (after it set closing) sees this one, or this sees closing: both sequentially consistent. The
 * I/O thread is let in while closing: it joins nothing while it runs a callback.
 */
static inline bool count_in(vmux *m, atomic_uint *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&m->closing, memory_order_seq_cst) || vmux__on_io_thread(m))
        return true;
    atomic_fetch_sub_explicit(counter, 1, memory_order_release);
    return false;
}

static inline void count_out(atomic_uint *counter)
{
    unsigned was = atomic_fetch_sub_explicit(counter, 1, memory_order_release);
    VMUX_ASSERT(was > 0); /* one out per in; m may be gone after */
    (void)was;
}

/* The closing side: waits until the counter has no caller left (none waits for it). */
static void wait_none_in(atomic_uint *counter)
{
    while (atomic_load_explicit(counter, memory_order_seq_cst) != 0)
        uv_sleep(0);
}

bool vmux__hold(vmux *m)
{
    return count_in(m, &m->entered);
}

void vmux__leave(vmux *m)
{
    count_out(&m->entered);
}

bool vmux__call_begin(vmux *m)
{
    return count_in(m, &m->calls);
}

void vmux__call_end(vmux *m)
{
    count_out(&m->calls);
}

void vmux__wait_calls_ended(vmux *m)
{
    wait_none_in(&m->calls);
}

/* I/O thread, closing: every caller inside the submit path has left it (none waits for us). */
static void wait_callers_out(vmux *m)
{
    wait_none_in(&m->entered);
}

int vmux__submit(vmux *m, struct vmux_op *op)
{
    int rc;
    if (vmux__forked(m))
        rc = VMUX_ERR_FORKED;
    else if (vmux__on_io_thread(m))
        rc = submit_on_io(m, op);
    else if ((rc = admit(m, op)) == 0)
        rc = enqueue(m, op);
    if (rc != 0)
        vmux__op_free(op); /* refused: never accepted, so no callback runs (core/op.h) */
    return rc;
}

/* From a callback: routes admitted ops at once, so this loop turn's flush writes them. */
static int route_all_on_io(vmux *m, struct vmux_op **ops, size_t n)
{
    if (m->io_closing)
        return VMUX_ERR_CLOSED;
    uint64_t now = uv_now(&m->loop) * 1000000u, hr = 0;
    for (size_t i = 0; i < n; i++)
        route_on_io(m, ops[i], now, &hr);
    return 0;
}

/* Whether every op this thread queued on m has been routed (written, when the lane is open). */
static bool own_queue_empty(vmux *m)
{
    if (last_queued.m != m)
        return true; /* order is per handle: what it queued on another one does not matter */
    if (atomic_load_explicit(&m->routed_takes, memory_order_seq_cst) > last_queued.take)
        return true;
    /* An empty queue: whatever this thread pushed went in a take already counted, and every
     * counted take has been routed. */
    if (atomic_load_explicit(&m->subq, memory_order_seq_cst) != NULL)
        return false;
    uint64_t takes = atomic_load_explicit(&m->takes, memory_order_seq_cst);
    return atomic_load_explicit(&m->routed_takes, memory_order_seq_cst) >= takes;
}

/*
 * Writes an admitted op through the direct lane when it may; false leaves op with the caller.
 * *reader is set to the link whose reply the caller then reads itself (vmux__lane_read()).
 */
static bool submit_direct(vmux *m, struct vmux_op *op, struct vmux_link **reader)
{
    bool alone = atomic_load_explicit(&m->sync_waiting, memory_order_relaxed) <= 1;
    /* Only standalone: in cluster mode the op's node decides, and the I/O thread routes. Not once
     * the handle is closing: enqueue_all() refuses it then, unsent, as architecture.md says. */
    if (!alone || vmux__router_mode(&m->router) != VMUX_ROUTER_STANDALONE || closing(m) ||
        (op->flags & (VMUX_OP_BLOCKING | VMUX_OP_CONTROL | VMUX_OP_READONLY)) ||
        !own_queue_empty(m))
        return false;
    uint64_t now = uv_hrtime();
    set_deadline(op, now);
    if (op->deadline_ns <= now)
        return false;                 /* spent encoding it: the I/O thread times it out, unsent */
    struct vmux_link *link = m->link; /* the caller holds m: the shutdown, which clears it, waits */
    bool reading;
    if (vmux__lane_write(link, op, &reading) != 0)
        return false;
    if (reading)
        *reader = link;
    return true;
}

/* submit_direct() for a batch's admitted ops[0..n): all through the lane in one write, or none. */
static bool submit_direct_all(vmux *m, struct vmux_op **ops, size_t n, struct vmux_link **reader)
{
    bool alone = atomic_load_explicit(&m->sync_waiting, memory_order_relaxed) <= 1;
    if (!alone || n > VMUX_LANE_MAX_OPS || closing(m) ||
        vmux__router_mode(&m->router) != VMUX_ROUTER_STANDALONE || !own_queue_empty(m))
        return false;
    uint64_t now = uv_hrtime();
    for (size_t i = 0; i < n; i++) {
        if (ops[i]->flags & (VMUX_OP_BLOCKING | VMUX_OP_CONTROL | VMUX_OP_READONLY))
            return false;
        set_deadline(ops[i], now);
        if (ops[i]->deadline_ns <= now)
            return false; /* the I/O thread times it out, unsent */
    }
    bool reading;
    if (vmux__lane_write_all(m->link, ops, n, &reading) != 0)
        return false;
    if (reading)
        *reader = m->link;
    return true;
}

/*
 * Admits ops[0..n) all or none and places them: routed at once on the I/O thread, else through
 * the direct lane when reader is not NULL and the lane takes them (submit_direct_all()), else on
 * the submit queue. Refused, every op is freed and no callback runs.
 */
static int submit_all(vmux *m, struct vmux_op **ops, size_t n, struct vmux_link **reader)
{
    bool io = !vmux__forked(m) && vmux__on_io_thread(m);
    int rc = vmux__forked(m) ? VMUX_ERR_FORKED : 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = admit(m, ops[i]);
    if (rc == 0 && io)
        rc = route_all_on_io(m, ops, n);
    else if (rc == 0 && (reader == NULL || !submit_direct_all(m, ops, n, reader)))
        rc = enqueue_all(m, ops, n);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            unadmit(ops[i]);
            vmux__op_free(ops[i]); /* refused: never accepted, so no callback runs */
        }
    }
    return rc;
}

int vmux__submit_all(vmux *m, struct vmux_op **ops, size_t n)
{
    return submit_all(m, ops, n, NULL);
}

int vmux__submit_sync_all(vmux *m, struct vmux_op **ops, size_t n, struct vmux_link **reader)
{
    *reader = NULL;
    return submit_all(m, ops, n, reader);
}

int vmux__submit_sync(vmux *m, struct vmux_op *op, struct vmux_link **reader)
{
    *reader = NULL;
    int rc = vmux__forked(m) ? VMUX_ERR_FORKED : admit(m, op);
    if (rc == 0 && !submit_direct(m, op, reader))
        rc = enqueue(m, op);
    if (rc != 0)
        vmux__op_free(op); /* refused: never accepted, so no callback runs (core/op.h) */
    return rc;             /* a reader holds the lane, which keeps the link open until it is done */
}

static void on_route_more(uv_idle_t *idle);

/* Routes up to ROUTE_BATCH ops of the inbox; what is left waits for the next loop turn. */
static void route_some(vmux *m)
{
    uint64_t now = uv_hrtime();
    struct vmux_op *op;
    int n = 0;
    for (; n < ROUTE_BATCH && (op = vmux__opq_pop(&m->inbox)) != NULL; n++) {
        if (!(op->flags & VMUX_OP_CONTROL) && op->deadline_ns <= now) {
            /* its time ran out while it waited to be routed */
            vmux__op_finish(op, vmux__op_unsent_timeout(op), NULL);
        } else {
            vmux__route(m, op);
        }
    }
    if (m->inbox.head != NULL) {
        uv_idle_start(&m->route_more, on_route_more);
    } else {
        atomic_store_explicit(&m->routed_takes, m->takes_io, memory_order_seq_cst);
        uv_idle_stop(&m->route_more);
    }
}

static void on_route_more(uv_idle_t *idle)
{
    vmux *m = idle->data;
    if (!m->io_closing)
        route_some(m);
}

/*
 * Takes everything pushed so far, or (shut) everything and every later push, and returns it
 * oldest first, linked through next.
 */
static struct vmux_op *take_queue(vmux *m, bool shut)
{
    /* Counted before the exchange: a pusher that reads the count after its push knows its op is
     * in that take or the next one (own_queue_empty()). */
    atomic_store_explicit(&m->takes, ++m->takes_io, memory_order_seq_cst);
    struct vmux_op *op =
        atomic_exchange_explicit(&m->subq, shut ? VMUX_SUBQ_SHUT : NULL, memory_order_seq_cst);
    struct vmux_op *oldest = NULL;
    while (op != NULL && op != VMUX_SUBQ_SHUT) { /* newest first: reverse */
        struct vmux_op *next = op->next;
        op->next = oldest;
        oldest = op;
        op = next;
    }
    return oldest;
}

/* The drain once closing is set: what was pushed goes to the inbox, which the shutdown fails. */
static void drain_closing(vmux *m)
{
    /* Every submitter that saw the handle open under the lock has sent its wake-up: the shutdown
     * may close the async handle after this. And every caller holding m has let go: none reads a
     * link the shutdown closes. */
    uv_mutex_lock(&m->qlock);
    uv_mutex_unlock(&m->qlock);
    wait_callers_out(m);
    for (struct vmux_op *op = take_queue(m, true), *next; op != NULL; op = next) {
        next = op->next;
        vmux__opq_push(&m->inbox, op);
    }
    vmux__shutdown(m);
}

void vmux__drain_queue(vmux *m)
{
    VMUX_ASSERT(!m->io_closing); /* the shutdown closes the wake-up that calls this */
    if (atomic_load_explicit(&m->closing, memory_order_acquire)) {
        drain_closing(m);
        return;
    }
    for (struct vmux_op *op = take_queue(m, false), *next; op != NULL; op = next) {
        next = op->next;
        /* Deadlines are indexed as ops arrive, not when they are routed: an op that waits in the
         * inbox behind a long queue times out on time, and leaves the inbox then. */
        if (!(op->flags & VMUX_OP_CONTROL))
            index_deadline(m, op);
        vmux__opq_push(&m->inbox, op);
    }
    route_some(m);
}
