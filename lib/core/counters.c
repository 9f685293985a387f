#include "core/counters.h"

#include "vmux/error.h"

void vmux__count_completion(struct vmux_counters *c, int status)
{
    switch (status) {
    case 0:
    case VMUX_ERR_SERVER:
        vmux__count(&c->replied, 1);
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

void vmux__counters_release(struct vmux_counters *c, uint64_t len)
{
    vmux__counters_release_n(c, 1, len);
}

void vmux__counters_release_n(struct vmux_counters *c, uint64_t n, uint64_t bytes)
{
    atomic_fetch_sub_explicit(&c->pending, n, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->pending_bytes, bytes, memory_order_relaxed);
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
}

void vmux__counters_add_links(const struct vmux_counters *c, vmux_stats *out)
{
    out->resent += get(&c->resent);
    out->retried += get(&c->retried);
    out->connects += get(&c->connects);
    out->connect_failures += get(&c->connect_failures);
    out->backlog += get(&c->backlog);
    out->in_flight += get(&c->in_flight);
    out->bytes_in += get(&c->bytes_in);
    out->bytes_out += get(&c->bytes_out);
}
