/* A bounded, thread-safe queue of pub/sub messages: one producer (the I/O thread), any readers. */
#include "core/msgq.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/value.h"
#include "vmux/error.h"

struct vmux_msgq {
    uv_mutex_t mu;
    uv_cond_t nonempty;
    vmux_message *ring;
    size_t bound, head, count;
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

int vmux_msgq_new(size_t bound, vmux_overflow policy, vmux_msgq **out)
{
    if (out == NULL || bound == 0 ||
        (policy != VMUX_OVERFLOW_DROP_OLDEST && policy != VMUX_OVERFLOW_DROP_NEWEST))
        return VMUX_ERR_INVALID_ARG;
    vmux_msgq *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->ring = calloc(bound, sizeof(*q->ring))) == NULL) {
        free(q);
        return VMUX_ERR_NOMEM;
    }
    uv_mutex_init(&q->mu);
    uv_cond_init(&q->nonempty);
    q->bound = bound;
    q->policy = policy;
    *out = q;
    return 0;
}

void vmux_msgq_free(vmux_msgq *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->count; i++)
        vmux_message_free(&q->ring[(q->head + i) % q->bound]);
    free(q->ring);
    uv_cond_destroy(&q->nonempty);
    uv_mutex_destroy(&q->mu);
    free(q);
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

void vmux__msgq_push(vmux_msgq *q, const vmux_message *msg)
{
    vmux_message copy;
    bool copied = copy_message(msg, &copy); /* outside the lock: readers wait less */
    uv_mutex_lock(&q->mu);
    if (!copied || (q->count == q->bound && q->policy == VMUX_OVERFLOW_DROP_NEWEST)) {
        q->dropped++;
        uv_mutex_unlock(&q->mu);
        vmux_message_free(&copy);
        return;
    }
    if (q->count == q->bound) {
        vmux_message_free(&q->ring[q->head]);
        q->head = (q->head + 1) % q->bound;
        q->count--;
        q->dropped++;
    }
    q->ring[(q->head + q->count) % q->bound] = copy;
    q->count++;
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
    uint64_t until = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
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

int vmux_msgq_pop(vmux_msgq *q, int64_t timeout_ms, vmux_message *msg)
{
    if (q == NULL || msg == NULL || timeout_ms < VMUX_FOREVER)
        return VMUX_ERR_INVALID_ARG;
    memset(msg, 0, sizeof(*msg));
    uv_mutex_lock(&q->mu);
    int rc = VMUX_ERR_TIMEOUT;
    if (wait_nonempty(q, timeout_ms)) {
        if (q->count > 0) {
            *msg = q->ring[q->head];
            q->head = (q->head + 1) % q->bound;
            q->count--;
            rc = 0;
        } else {
            rc = VMUX_ERR_CLOSED;
        }
    }
    uv_mutex_unlock(&q->mu);
    return rc;
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
