/*
 * Placing an op by the router's mode (vmux__router_place(), route/router.h): the one decision
 * vmux_call(), vmux_call_async() and a batch's parts share, in the caller's thread, before the op
 * is submitted; the op is read from its encoded bytes or from the argument vector it was just
 * encoded from, whichever the caller has.
 */
#include "core/errbuf.h"
#include "route/router.h"
#include "vmux/error.h"

/* Standalone readFrom: marks op a read when it only reads and names a key (opslot.c). */
static void mark_read(struct vmux_op *op, int argc, const char *const *argv, const size_t *argvlen)
{
    if (argv == NULL)
        vmux__router_mark_read(op);
    else
        vmux__router_mark_read_argv(op, argc, argv, argvlen);
}

/* Cluster: op->slot (opslot.c); 0, or the error with its words in why. */
static int slot(struct vmux_op *op, int argc, const char *const *argv, const size_t *argvlen,
                char *why, size_t whylen)
{
    int rc = argv == NULL ? vmux__router_slot(op, why, whylen)
                          : vmux__router_slot_argv(op, argc, argv, argvlen, why, whylen);
    if (rc != 0 && rc != VMUX_ERR_CROSSSLOT) /* CROSSSLOT's words name the keys already */
        vmux__errbuf_set(why, whylen, "%s", vmux_strerror(rc));
    return rc;
}

int vmux__router_place(struct vmux_router *r, struct vmux_op *op, uint32_t flags, int argc,
                       const char *const *argv, const size_t *argvlen, char *why, size_t whylen)
{
    enum vmux_router_mode mode = vmux__router_mode(r);
    if (mode == VMUX_ROUTER_STANDALONE && vmux__router_standalone_reads(r, flags))
        mark_read(op, argc, argv, argvlen); /* readFrom: a read may go to a replica endpoint */
    if (mode != VMUX_ROUTER_CLUSTER)
        return 0;
    int rc = slot(op, argc, argv, argvlen, why, whylen);
    if (rc != 0)
        vmux__op_free(op);
    return rc;
}
