#include "core/counters.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/until.h"
#include "vmux/error.h"

void vmux__count_completion(struct vmux_counters *c, int status)
{
    switch (status) {
    case 0:
        vmux__count(&c->replied, 1);
        break;
    case VMUX_ERR_SERVER: /* a reply all the same */
        vmux__count(&c->replied, 1);
        vmux__count(&c->error_replies, 1);
        break;
    case VMUX_ERR_TIMEOUT:
        vmux__count(&c->timed_out, 1);
        break;
    case VMUX_ERR_CONNECTION_LOST:
    case VMUX_ERR_PROTOCOL:
        vmux__count(&c->connection_lost, 1);
        break;
    case VMUX_ERR_CLOSED:
        vmux__count(&c->closed, 1);
        break;
    default:
        vmux__count(&c->failed_other, 1);
    }
}

bool vmux__counters_admit(struct vmux_counters *c, uint64_t len, uint64_t max_ops,
                          uint64_t max_bytes)
{
    return vmux__counters_admit_n(c, 1, len, max_ops, max_bytes);
}

bool vmux__counters_admit_n(struct vmux_counters *c, uint64_t n, uint64_t bytes, uint64_t max_ops,
                            uint64_t max_bytes)
{
    uint64_t held = atomic_fetch_add_explicit(&c->pending, n, memory_order_relaxed);
    uint64_t held_bytes = atomic_fetch_add_explicit(&c->pending_bytes, bytes, memory_order_relaxed);
    /* One by one, op i needs held + i < max_ops, and held_bytes plus the bytes up to it within
     * max_bytes unless nothing came before it: only the first op of a batch, with nothing held. */
    bool alone = n == 1 && held_bytes == 0;
    if (n <= max_ops && held <= max_ops - n &&
        (alone || (bytes <= max_bytes && held_bytes <= max_bytes - bytes)))
        return true;
    vmux__counters_release_n(c, n, bytes);
    vmux__count(&c->refused, 1);
    return false;
}

void vmux__counters_resize(struct vmux_counters *c, uint64_t from, uint64_t to)
{
    if (to >= from)
        atomic_fetch_add_explicit(&c->pending_bytes, to - from, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&c->pending_bytes, from - to, memory_order_relaxed);
}

void vmux__counters_release(struct vmux_counters *c, uint64_t len)
{
    vmux__counters_release_n(c, 1, len);
}

/* Wakes the drainers, if any, after a release took pending or calls_held to 0. */
static void wake_drainers(struct vmux_counters *c)
{
    if (atomic_load_explicit(&c->drainers, memory_order_seq_cst) == 0)
        return;
    atomic_fetch_add_explicit(&c->drained, 1, memory_order_seq_cst);
    syscall(SYS_futex, &c->drained, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void vmux__counters_release_n(struct vmux_counters *c, uint64_t n, uint64_t bytes)
{
    atomic_fetch_sub_explicit(&c->pending_bytes, bytes, memory_order_relaxed);
    /* seq_cst (the same locked instruction on x86): a drainer that saw pending above 0 is seen */
    if (atomic_fetch_sub_explicit(&c->pending, n, memory_order_seq_cst) == n)
        wake_drainers(c);
}

void vmux__counters_call_held(struct vmux_counters *c)
{
    atomic_fetch_add_explicit(&c->calls_held, 1, memory_order_seq_cst);
}

void vmux__counters_call_done(struct vmux_counters *c)
{
    if (atomic_fetch_sub_explicit(&c->calls_held, 1, memory_order_seq_cst) == 1)
        wake_drainers(c);
}

/* Whether c holds nothing a drain waits for. */
static bool drained(const struct vmux_counters *c)
{
    return atomic_load_explicit(&c->pending, memory_order_seq_cst) == 0 &&
           atomic_load_explicit(&c->calls_held, memory_order_seq_cst) == 0;
}

bool vmux__counters_drain(struct vmux_counters *c, int64_t timeout_ms)
{
    uint64_t until = vmux__until_ms(timeout_ms);
    atomic_fetch_add_explicit(&c->drainers, 1, memory_order_seq_cst);
    for (;;) {
        unsigned seen = atomic_load_explicit(&c->drained, memory_order_seq_cst);
        if (drained(c))
            break;
        uint64_t now = uv_hrtime();
        if (timeout_ms >= 0 && now >= until)
            break;
        struct timespec left = {.tv_sec = (time_t)((until - now) / 1000000000u),
                                .tv_nsec = (long)((until - now) % 1000000000u)};
        /* returns at once if a release bumped drained after seen was read */
        syscall(SYS_futex, &c->drained, FUTEX_WAIT_PRIVATE, seen, timeout_ms >= 0 ? &left : NULL,
                NULL, 0);
    }
    atomic_fetch_sub_explicit(&c->drainers, 1, memory_order_seq_cst);
    return drained(c);
}

static uint64_t get(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

void vmux__counters_read(const struct vmux_counters *c, vmux_stats *out)
{
    out->submitted = get(&c->submitted);
    out->replied = get(&c->replied);
    out->timed_out = get(&c->timed_out);
    out->connection_lost = get(&c->connection_lost);
    out->closed = get(&c->closed);
    out->failed_other = get(&c->failed_other);
    out->resent = get(&c->resent);
    out->retried = get(&c->retried);
    out->connects = get(&c->connects);
    out->connect_failures = get(&c->connect_failures);
    out->backlog = get(&c->backlog);
    out->in_flight = get(&c->in_flight);
    out->connected = get(&c->connected);
    out->bytes_in = get(&c->bytes_in);
    out->bytes_out = get(&c->bytes_out);
    out->pending = get(&c->pending);
    out->pending_bytes = get(&c->pending_bytes);
    out->refused = get(&c->refused);
    out->subscriber_lost = get(&c->subscriber_lost);
    out->pubsub_dropped = get(&c->pubsub_dropped);
    out->cluster_moved = get(&c->moved);
    out->cluster_asked = get(&c->asked);
    out->cluster_refreshes = get(&c->refreshes);
    out->error_replies = get(&c->error_replies);
    out->pubsub_over_limit = get(&c->pubsub_over_limit);
}

void vmux__stats_add_links(vmux_stats *to, const vmux_stats *from)
{
    to->resent += from->resent;
    to->retried += from->retried;
    to->connects += from->connects;
    to->connect_failures += from->connect_failures;
    to->backlog += from->backlog;
    to->in_flight += from->in_flight;
    to->connected += from->connected;
    to->bytes_in += from->bytes_in;
    to->bytes_out += from->bytes_out;
}

void vmux__counters_add_links(const struct vmux_counters *c, vmux_stats *out)
{
    vmux_stats links = {.size = sizeof links};
    vmux__counters_read(c, &links);
    vmux__stats_add_links(out, &links);
}
