/* A bounded, thread-safe queue of pub/sub messages: one producer (the I/O thread), any readers. */
#include "core/msgq.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/io_thread.h"
#include "core/nocancel.h"
#include "core/until.h"
#include "core/value.h"
#include "core/why.h"
#include "vmux/error.h"

/*
 * The messages live in a ring of cap slots that follows what the queue holds, not its bound: it
 * starts at MSGQ_MIN_SLOTS (or bound, if smaller), doubles when a message finds it full (up to
 * bound), and halves once the readers have taken as many messages as it has slots while the
 * queue never held more than a quarter of them. Each resize copies the waiting messages' slots,
 * oldest first, so the cost per message stays constant however the queue is used.
 */
#define MSGQ_MIN_SLOTS 16

struct vmux_msgq {
    uv_mutex_t mu;
    uv_cond_t nonempty;
    vmux_message *ring; /* cap slots; count messages from head, wrapping */
    size_t bound, cap, head, count;
    size_t peak, taken; /* since the last resize: the most held, and the messages taken */
    vmux_overflow policy;
    uint64_t dropped;
    bool closed;
};

void vmux_message_free(vmux_message *msg)
{
    if (msg == NULL)
        return;
    vmux_bytes_free(&msg->channel);
    vmux_bytes_free(&msg->pattern);
    vmux_bytes_free(&msg->payload);
}

/* vmux_msgq_new()'s refusal of its arguments, with words (vmux_last_error()); 0 if none. */
static int refuse_new(size_t bound, vmux_overflow policy, vmux_msgq **out)
{
    if (out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "out is NULL");
    if (bound == 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "bound is 0: a queue holds at least 1 message");
    if (policy != VMUX_OVERFLOW_DROP_OLDEST && policy != VMUX_OVERFLOW_DROP_NEWEST)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "policy is %d: none of vmux_overflow",
                             (int)policy);
    return 0;
}

/* vmux_msgq_new() but for clearing and ending its words. */
static int msgq_new(size_t bound, vmux_overflow policy, vmux_msgq **out)
{
    int rc = refuse_new(bound, policy, out);
    if (rc != 0)
        return rc;
    vmux_msgq *q = calloc(1, sizeof(*q));
    size_t cap = bound < MSGQ_MIN_SLOTS ? bound : MSGQ_MIN_SLOTS;
    if (q == NULL || (q->ring = malloc(cap * sizeof(*q->ring))) == NULL) {
        free(q);
        return VMUX_ERR_NOMEM;
    }
    uv_mutex_init(&q->mu);
    uv_cond_init(&q->nonempty);
    q->bound = bound;
    q->cap = cap;
    q->policy = policy;
    *out = q;
    return 0;
}

int vmux_msgq_new(size_t bound, vmux_overflow policy, vmux_msgq **out)
{
    vmux__why_begin();
    return vmux__why_end(msgq_new(bound, policy, out));
}

/* The ring index of the i-th waiting message (i < cap; head < cap, so no division). */
static size_t slot_of(const vmux_msgq *q, size_t i)
{
    size_t at = q->head + i;
    return at >= q->cap ? at - q->cap : at;
}

void vmux_msgq_free(vmux_msgq *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->count; i++)
        vmux_message_free(&q->ring[slot_of(q, i)]);
    free(q->ring);
    uv_cond_destroy(&q->nonempty);
    uv_mutex_destroy(&q->mu);
    free(q);
}

/*
 * Moves the waiting messages, oldest first, into a new ring of cap slots (cap >= count) and
 * starts a new shrink window. Returns false, leaving the ring and its messages as they were,
 * when the new ring cannot be allocated. Holds q->mu.
 */
static bool resize(vmux_msgq *q, size_t cap)
{
    vmux_message *ring = cap <= SIZE_MAX / sizeof(*ring) ? malloc(cap * sizeof(*ring)) : NULL;
    if (ring == NULL)
        return false;
    size_t first = q->cap - q->head < q->count ? q->cap - q->head : q->count;
    memcpy(ring, q->ring + q->head, first * sizeof(*ring));
    memcpy(ring + first, q->ring, (q->count - first) * sizeof(*ring));
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    q->peak = q->count;
    q->taken = 0;
    return true;
}

/* True when a slot is free for one more message, doubling the ring (up to bound) if it must. */
static bool has_slot(vmux_msgq *q)
{
    if (q->count < q->cap)
        return true;
    return resize(q, q->cap > q->bound / 2 ? q->bound : q->cap * 2);
}

/* Halves the ring at the end of a window in which the queue stayed at most a quarter full. */
static void maybe_shrink(vmux_msgq *q)
{
    if (++q->taken < q->cap)
        return;
    if (q->peak <= q->cap / 4 && q->cap > MSGQ_MIN_SLOTS &&
        resize(q, q->cap / 2 > MSGQ_MIN_SLOTS ? q->cap / 2 : MSGQ_MIN_SLOTS))
        return;
    q->peak = q->count; /* a failed shrink just waits for the next window */
    q->taken = 0;
}

/* Takes the oldest message out of the ring into *msg. Holds q->mu; count > 0. */
static void take_oldest(vmux_msgq *q, vmux_message *msg)
{
    *msg = q->ring[q->head];
    q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
    q->count--;
}

size_t vmux__msgq_slots(const vmux_msgq *cq)
{
    vmux_msgq *q = (vmux_msgq *)cq; /* only its mutex changes, and is back as it was */
    uv_mutex_lock(&q->mu);
    size_t n = q->cap;
    uv_mutex_unlock(&q->mu);
    return n;
}

/* A message's absent pattern (ptr NULL) stays absent in the copy. */
static bool copy_bytes(const vmux_bytes *from, vmux_bytes *to)
{
    if (from->ptr == NULL) {
        *to = *from;
        return true;
    }
    return vmux__bytes_copy(from->ptr, from->len, to) == 0;
}

static bool copy_message(const vmux_message *from, vmux_message *to)
{
    memset(to, 0, sizeof(*to));
    if (copy_bytes(&from->channel, &to->channel) && copy_bytes(&from->pattern, &to->pattern) &&
        copy_bytes(&from->payload, &to->payload))
        return true;
    vmux_message_free(to);
    return false;
}

/* Counts a message the queue does not keep, releases q->mu (held on entry), frees the copy. */
static void drop_new(vmux_msgq *q, vmux_message *copy)
{
    q->dropped++;
    uv_mutex_unlock(&q->mu);
    vmux_message_free(copy);
}

void vmux__msgq_push(vmux_msgq *q, const vmux_message *msg)
{
    vmux_message copy;
    bool copied = copy_message(msg, &copy); /* outside the lock: readers wait less */
    uv_mutex_lock(&q->mu);
    bool full = q->count == q->bound;
    if (!copied || (full && q->policy == VMUX_OVERFLOW_DROP_NEWEST) || (!full && !has_slot(q))) {
        drop_new(q, &copy); /* no copy, no room by policy, or no memory to grow the ring */
        return;
    }
    if (full) {
        vmux_message oldest;
        take_oldest(q, &oldest);
        vmux_message_free(&oldest);
        q->dropped++;
    }
    q->ring[slot_of(q, q->count)] = copy;
    q->count++;
    if (q->count > q->peak)
        q->peak = q->count;
    uv_cond_signal(&q->nonempty);
    uv_mutex_unlock(&q->mu);
}

void vmux_msgq_close(vmux_msgq *q)
{
    if (q == NULL)
        return;
    uv_mutex_lock(&q->mu);
    q->closed = true;
    uv_cond_broadcast(&q->nonempty);
    uv_mutex_unlock(&q->mu);
}

/* Waits for a message or the end; returns false when the time ran out. Holds q->mu. */
static bool wait_nonempty(vmux_msgq *q, int64_t timeout_ms)
{
    uint64_t until = vmux__until_ms(timeout_ms);
    while (q->count == 0 && !q->closed) {
        if (timeout_ms < 0) {
            uv_cond_wait(&q->nonempty, &q->mu);
            continue;
        }
        uint64_t now = uv_hrtime();
        if (now >= until || uv_cond_timedwait(&q->nonempty, &q->mu, until - now) != 0)
            return q->count > 0 || q->closed;
    }
    return true;
}

/* vmux_msgq_pop()'s refusal of its arguments, with words (vmux_last_error()); 0 if none. */
static int refuse_pop(const vmux_msgq *q, int64_t timeout_ms, const vmux_message *msg)
{
    if (q == NULL || msg == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", q == NULL ? "q" : "msg");
    return vmux__why_timeout("timeout_ms", timeout_ms);
}

/* vmux_msgq_pop() but for clearing and ending its words. */
static int msgq_pop(vmux_msgq *q, int64_t timeout_ms, vmux_message *msg)
{
    int rc = refuse_pop(q, timeout_ms, msg);
    if (rc != 0)
        return rc;
    memset(msg, 0, sizeof(*msg));
    if (timeout_ms != 0 && vmux__io_thread_any()) /* only I/O threads feed q: it would wait for
                                                   * itself */
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "timeout_ms is %lld on an I/O thread (in a vmux callback): the "
                             "messages come from I/O threads, so the wait could never end; only 0 "
                             "there",
                             (long long)timeout_ms);
    int cancel = vmux__nocancel();
    uv_mutex_lock(&q->mu);
    rc = VMUX_ERR_TIMEOUT;
    if (wait_nonempty(q, timeout_ms)) {
        if (q->count > 0) {
            take_oldest(q, msg);
            maybe_shrink(q);
            rc = 0;
        } else {
            rc = VMUX_ERR_CLOSED;
        }
    }
    uv_mutex_unlock(&q->mu);
    vmux__cancel_restore(cancel);
    return rc;
}

int vmux_msgq_pop(vmux_msgq *q, int64_t timeout_ms, vmux_message *msg)
{
    vmux__why_begin();
    return vmux__why_end(msgq_pop(q, timeout_ms, msg));
}

uint64_t vmux_msgq_dropped(const vmux_msgq *cq)
{
    if (cq == NULL)
        return 0;
    vmux_msgq *q = (vmux_msgq *)cq; /* only its mutex changes, and is back as it was */
    uv_mutex_lock(&q->mu);
    uint64_t n = q->dropped;
    uv_mutex_unlock(&q->mu);
    return n;
}

size_t vmux_msgq_length(const vmux_msgq *cq)
{
    if (cq == NULL)
        return 0;
    vmux_msgq *q = (vmux_msgq *)cq; /* only its mutex changes, and is back as it was */
    uv_mutex_lock(&q->mu);
    size_t n = q->count;
    uv_mutex_unlock(&q->mu);
    return n;
}
