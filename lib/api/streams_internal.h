/*
 * What the three stream files share (private to lib/api): streams.c (entries: XADD, ranges,
 * XREAD/XREADGROUP, XTRIM, XDEL), stream_groups.c (the consumer-group commands) and
 * stream_replies.c (freeing and parsing the replies, and the runners for their shapes).
 */
#ifndef VMUX_STREAMS_INTERNAL_H
#define VMUX_STREAMS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/typed.h"
#include "vmux/streams.h"

/* ---- arguments (streams.c) ---- */

/* An ID argument, or dflt when id.ptr is NULL. */
void vmux__stream_add_id(struct vmux_args *a, vmux_str id, const char *dflt);
/* n arguments. */
void vmux__stream_add_strs(struct vmux_args *a, const vmux_str *items, size_t n);
/*
 * cmd key [group] ids... (group NULL: none): XACK and XDEL. VMUX_ERR_INVALID_ARG, nothing built,
 * when ids is NULL or n is 0.
 */
int vmux__stream_build_ids(struct vmux_args *a, const char *cmd, vmux_str key,
                           const vmux_str *group, const vmux_str *ids, size_t n);

/* ---- runners for the stream reply shapes (stream_replies.c) ---- */

/*
 * As vmux__run_bytes() and its kin (typed.h): each zeroes *out, drops the result when out is
 * NULL, and returns as vmux__typed_run().
 */
int vmux__run_stream_entries(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                             bool idempotent, vmux_stream_entry_array *out);
int vmux__run_stream_batches(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                             bool idempotent, vmux_stream_batch_array *out);
int vmux__run_xpending_summary(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                               bool idempotent, vmux_xpending_summary *out);
int vmux__run_xpending_array(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                             bool idempotent, vmux_xpending_array *out);

/* ---- XAUTOCLAIM's reply (stream_replies.c) ---- */

/* XAUTOCLAIM's reply, taken apart. */
struct vmux_xautoclaim {
    vmux_bytes next;
    vmux_stream_entry_array entries;
    vmux_bytes_array deleted;
};

void vmux__xautoclaim_free(struct vmux_xautoclaim *c);

/*
 * [next, [entry...]] and, from Valkey 7 / Redis 7 on, [deleted id...] third, into *c (zeroed
 * first, and freed again on error). Returns 0 or VMUX_ERR_PROTOCOL, VMUX_ERR_NOMEM.
 */
int vmux__xautoclaim_parse(const vmux_reply *r, struct vmux_xautoclaim *c);

#endif
