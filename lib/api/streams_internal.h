/*
 * What the four stream files share (private to lib/api): streams.c (entries: XADD, ranges,
 * XREAD/XREADGROUP, XTRIM, XDEL), stream_groups.c (the consumer-group commands),
 * stream_replies.c (freeing and parsing the replies, and the runners for their shapes) and
 * stream_info.c (XINFO, whose replies are read by field name).
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
/*
 * Whether id means the stream's last entry at the time the command runs ("$", or the default
 * id where "$" is the default): such a command, sent again, runs from a later "now".
 */
bool vmux__stream_id_is_now(vmux_str id);
/* n arguments. */
void vmux__stream_add_strs(struct vmux_args *a, const vmux_str *items, size_t n);
/*
 * cmd key [group] ids... (group NULL: none): XACK and XDEL. VMUX_ERR_INVALID_ARG, nothing built,
 * when ids is NULL or n is 0, with words for opts' error buffer (vmux__items_refuse()).
 */
int vmux__stream_build_ids(const vmux_callopts *opts, struct vmux_args *a, const char *cmd,
                           vmux_str key, const vmux_str *group, const vmux_str *ids, size_t n);

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

/* ---- parts of the replies (stream_replies.c), for stream_info.c too ---- */

/* Frees an entry's ID and fields (not the entry itself). */
void vmux__stream_entry_free(vmux_stream_entry *e);

/* The first check of every top-level converter: 0 for an array, 1 for nil, or an error. */
int vmux__stream_top(const vmux_reply *r);

/* A bulk string that must be there (nested replies: any other shape is a protocol error). */
int vmux__stream_string(const vmux_reply *r, vmux_bytes *out);

/*
 * [id, [field, value...]] into the vmux_stream_entry at item: 0, or a negative error with it
 * zeroed; nil (a deleted entry, as older servers' XCLAIM gave it) is 1, item untouched.
 */
int vmux__stream_parse_entry(const vmux_reply *r, void *item);

/* Parses one element into item: 0, a negative error, or 1 to skip the element. */
typedef int (*vmux__stream_parse_fn)(const vmux_reply *r, void *item);

/*
 * Parses every element of the array r into a new array of items of the given size, skipping
 * those parse skips. Returns the items (count in *count; NULL when 0) with *rc 0, or NULL with
 * *rc an error (every item parsed so far released).
 */
void *vmux__stream_parse_items(const vmux_reply *r, size_t size, vmux__stream_parse_fn parse,
                               void (*release)(void *item), size_t *count, int *rc);

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
