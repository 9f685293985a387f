/* The handle as lib/api sees it (mux/handle.h): no struct vmux beyond this file's functions. */
#include "mux/handle.h"

#include <string.h>

#include "core/assert.h"
#include "mux/mux.h"
#include "mux/near.h"
#include "vmux/error.h"

uint32_t vmux__sync_timeout(const vmux *m)
{
    return (uint32_t)vmux_config_sync_timeout(m->cfg);
}

uint32_t vmux__async_timeout(const vmux *m)
{
    return (uint32_t)vmux_config_async_timeout(m->cfg);
}

uint64_t vmux__max_bulk_length(const vmux *m)
{
    return vmux_config_max_bulk_length(m->cfg);
}

bool vmux__handle_forked(const vmux *m)
{
    return vmux__forked(m);
}

bool vmux__routes_by_slot(vmux *m)
{
    return m != NULL && vmux__router_mode(&m->router) == VMUX_ROUTER_CLUSTER;
}

/* The op of a pre-encoded block; *op NULL on a refusal (bad arguments, out of memory). */
static int block_op(const char *resp, size_t len, uint32_t nreplies, vmux_reply **out,
                    struct vmux_op **op)
{
    *op = NULL;
    if (out != NULL)
        *out = NULL;
    if (resp == NULL || len == 0 || nreplies == 0)
        return VMUX_ERR_INVALID_ARG;
    if ((*op = vmux__op_new(len)) == NULL)
        return VMUX_ERR_NOMEM;
    memcpy((*op)->cmd, resp, len);
    (*op)->nreplies = nreplies;
    return 0;
}

int vmux__call_block(vmux *m, const vmux_callopts *opts, const char *resp, size_t len,
                     uint32_t nreplies, vmux_reply **out)
{
    struct vmux_op *op;
    int rc = block_op(resp, len, nreplies, out, &op);
    if (rc != 0)
        return rc;
    return vmux__call_prepared(m, opts, op, out); /* takes op, and refuses NULL m or out */
}

int vmux__call_block_near(vmux *m, const vmux_callopts *opts, const char *resp, size_t len,
                          uint32_t nreplies, uint64_t hash, uint64_t id, unsigned node,
                          unsigned slot, vmux_reply **out)
{
    struct vmux_op *op;
    int rc = block_op(resp, len, nreplies, out, &op);
    if (rc != 0)
        return rc;
    op->flags |= VMUX_OP_NEAR;
    if (vmux__near_replica_reads(m))
        op->flags |= VMUX_OP_READONLY; /* it only reads: readFrom may send it to a replica */
    op->near.hash = hash;
    op->near.id = id;
    op->near.node = node;
    if (slot != VMUX_BLOCK_NO_SLOT) { /* what vmux__router_slot() would read back from the bytes */
        VMUX_ASSERT(slot < VMUX_NEAR_SLOTS);
        op->slot = (int32_t)slot;
    }
    return vmux__call_prepared(m, opts, op, out);
}
