/*
 * Stream entries (streams.h): XADD, XLEN, XRANGE and XREVRANGE, XREAD and XREADGROUP, XTRIM,
 * XDEL. The consumer-group commands are in stream_groups.c, the replies in stream_replies.c.
 */
#include "vmux/streams.h"

#include <inttypes.h>
#include <string.h>

#include "api/streams_internal.h"
#include "core/sized.h"
#include "vmux/error.h"

/* ---- arguments ---- */

/* An ID argument, or its default when id is {NULL, 0} ({NULL, len > 0} is refused). */
void vmux__stream_add_id(struct vmux_args *a, vmux_str id, const char *dflt)
{
    if (id.ptr != NULL || id.len > 0)
        vmux__args_str(a, id);
    else
        vmux__args_cstr(a, dflt);
}

void vmux__stream_add_strs(struct vmux_args *a, const vmux_str *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vmux__args_str(a, items[i]);
}

/* key group ids... with ids required. */
int vmux__stream_build_ids(const vmux_callopts *opts, struct vmux_args *a, const char *cmd,
                           vmux_str key, const vmux_str *group, const vmux_str *ids, size_t n)
{
    if (ids == NULL || n == 0)
        return vmux__items_refuse(opts, "ids", ids, n);
    vmux__args_key_command(a, cmd, key);
    if (group != NULL)
        vmux__args_str(a, *group);
    vmux__stream_add_strs(a, ids, n);
    return 0;
}
/* ---- trimming ---- */

static bool trim_valid(const vmux_stream_trim *t, bool none_allowed)
{
    if (t->limit < 0 || (t->limit > 0 && !t->approximate))
        return false;
    switch (t->kind) {
    case VMUX_TRIM_NONE:
        return none_allowed;
    case VMUX_TRIM_MAXLEN:
        return t->maxlen >= 0;
    case VMUX_TRIM_MINID:
        return t->minid.ptr != NULL;
    }
    return false;
}

/* Words for a trim (named name) that trim_valid() refused, in its order. */
static int refuse_trim(const vmux_callopts *opts, const char *name, const vmux_stream_trim *t)
{
    if (t->limit < 0)
        return vmux__typed_refuse(opts, "%s.limit is %" PRId64 ": must be at least 0", name,
                                  t->limit);
    if (t->limit > 0 && !t->approximate)
        return vmux__typed_refuse(opts,
                                  "%s.limit is %" PRId64 " without %s.approximate: LIMIT "
                                  "takes an approximate (~) trim",
                                  name, t->limit, name);
    if (t->kind == VMUX_TRIM_NONE)
        return vmux__typed_refuse(opts, "%s.kind is VMUX_TRIM_NONE: XTRIM needs MAXLEN or MINID",
                                  name);
    if (t->kind == VMUX_TRIM_MAXLEN)
        return vmux__typed_refuse(opts, "%s.maxlen is %" PRId64 ": must be at least 0", name,
                                  t->maxlen);
    if (t->kind == VMUX_TRIM_MINID)
        return vmux__typed_refuse(opts, "%s.minid is NULL: VMUX_TRIM_MINID needs an ID", name);
    return vmux__typed_refuse(opts, "%s.kind is %d: none of vmux_stream_trim_kind", name,
                              (int)t->kind);
}

static void add_trim(struct vmux_args *a, const vmux_stream_trim *t)
{
    if (t->kind == VMUX_TRIM_NONE)
        return;
    vmux__args_cstr(a, t->kind == VMUX_TRIM_MAXLEN ? "MAXLEN" : "MINID");
    vmux__args_cstr(a, t->approximate ? "~" : "=");
    if (t->kind == VMUX_TRIM_MAXLEN)
        vmux__args_int(a, t->maxlen);
    else
        vmux__args_str(a, t->minid);
    if (t->limit > 0) {
        vmux__args_cstr(a, "LIMIT");
        vmux__args_int(a, t->limit);
    }
}

/* ---- XADD, XLEN, ranges ---- */

static int build_xadd(const vmux_callopts *opts, struct vmux_args *a, vmux_str key, vmux_str id,
                      const vmux_str *fields, const vmux_str *values, size_t n,
                      const vmux_xadd_opts *xo)
{
    vmux_xadd_opts copy;
    if (xo != NULL && vmux__sized_in(&copy, sizeof copy, xo) != 0)
        return vmux__sized_refuse(opts, "xo", xo, sizeof copy);
    xo = xo != NULL ? &copy : NULL; /* no further than the caller's size (abi.h) */
    if (fields == NULL || n == 0)
        return vmux__items_refuse(opts, "fields", fields, n);
    if (values == NULL)
        return vmux__items_refuse(opts, "values", values, n);
    if (xo != NULL && !trim_valid(&xo->trim, true))
        return refuse_trim(opts, "xo->trim", &xo->trim);
    vmux__args_key_command(a, "XADD", key);
    if (xo != NULL && xo->nomkstream)
        vmux__args_cstr(a, "NOMKSTREAM");
    if (xo != NULL)
        add_trim(a, &xo->trim);
    vmux__stream_add_id(a, id, "*");
    for (size_t i = 0; i < n; i++) {
        vmux__args_str(a, fields[i]);
        vmux__args_str(a, values[i]);
    }
    return 0;
}

int vmux_xadd(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str id, const vmux_str *fields,
              const vmux_str *values, size_t n, const vmux_xadd_opts *xo, vmux_bytes *added_id)
{
    struct vmux_args a;
    if (added_id != NULL)
        memset(added_id, 0, sizeof(*added_id));
    int rc = build_xadd(opts, &a, key, id, fields, values, n, xo);
    if (rc != 0)
        return rc;
    return vmux__run_bytes(m, opts, &a, false, added_id);
}

int vmux_xadd_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str id,
                    const vmux_str *fields, const vmux_str *values, size_t n,
                    const vmux_xadd_opts *xo, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    int rc = build_xadd(opts, &a, key, id, fields, values, n, xo);
    return rc != 0 ? rc : vmux__typed_async(m, opts, &a, false, cb, userdata);
}

int vmux_xlen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *length)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "XLEN", key);
    return vmux__run_int(m, opts, &a, true, length);
}

/* XRANGE key start end / XREVRANGE key end start, then COUNT. */
static int build_range(const vmux_callopts *opts, struct vmux_args *a, const char *cmd,
                       vmux_str key, vmux_str first, const char *first_dflt, vmux_str second,
                       const char *second_dflt, int64_t count)
{
    if (count < 0)
        return vmux__typed_refuse(opts, "count is %" PRId64 ": must be at least 0 (0: every entry)",
                                  count);
    vmux__args_key_command(a, cmd, key);
    vmux__stream_add_id(a, first, first_dflt);
    vmux__stream_add_id(a, second, second_dflt);
    if (count > 0) {
        vmux__args_cstr(a, "COUNT");
        vmux__args_int(a, count);
    }
    return 0;
}

int vmux_xrange(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str start, vmux_str end,
                int64_t count, vmux_stream_entry_array *entries)
{
    struct vmux_args a;
    if (entries != NULL)
        memset(entries, 0, sizeof(*entries));
    int rc = build_range(opts, &a, "XRANGE", key, start, "-", end, "+", count);
    return rc != 0 ? rc : vmux__run_stream_entries(m, opts, &a, true, entries);
}

int vmux_xrange_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str start,
                      vmux_str end, int64_t count, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    int rc = build_range(opts, &a, "XRANGE", key, start, "-", end, "+", count);
    return rc != 0 ? rc : vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_xrevrange(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str end, vmux_str start,
                   int64_t count, vmux_stream_entry_array *entries)
{
    struct vmux_args a;
    if (entries != NULL)
        memset(entries, 0, sizeof(*entries));
    int rc = build_range(opts, &a, "XREVRANGE", key, end, "+", start, "-", count);
    return rc != 0 ? rc : vmux__run_stream_entries(m, opts, &a, true, entries);
}

/* ---- XREAD, XREADGROUP ---- */

/* Checks the parts shared by XREAD and XREADGROUP. */
static bool read_args_valid(const vmux_str *keys, size_t n, int64_t count, int64_t block_ms)
{
    return keys != NULL && n > 0 && count >= 0 && block_ms >= 0; /* 0 is VMUX_NO_BLOCK */
}

/* Words for the parts read_args_valid() refused (count named count_name), in its order. */
static int refuse_read(const vmux_callopts *opts, const vmux_str *keys, size_t n,
                       const char *count_name, int64_t count, int64_t block_ms)
{
    if (keys == NULL || n == 0)
        return vmux__items_refuse(opts, "keys", keys, n);
    if (count < 0)
        return vmux__typed_refuse(opts, "%s is %" PRId64 ": must be at least 0 (0: no COUNT)",
                                  count_name, count);
    return vmux__typed_refuse(opts,
                              "block_ms is %" PRId64 ": must be at least 0 (VMUX_NO_BLOCK; "
                              "VMUX_FOREVER, BLOCK 0, could never meet a deadline)",
                              block_ms);
}

/* [COUNT count] [BLOCK ms] */
static void add_count_block(struct vmux_args *a, int64_t count, int64_t block_ms)
{
    if (count > 0) {
        vmux__args_cstr(a, "COUNT");
        vmux__args_int(a, count);
    }
    if (block_ms != VMUX_NO_BLOCK) {
        vmux__args_cstr(a, "BLOCK");
        vmux__args_int(a, block_ms);
    }
}

/* STREAMS keys... ids... (ids NULL: each is dflt). */
static void add_streams(struct vmux_args *a, const vmux_str *keys, const vmux_str *ids, size_t n,
                        const char *dflt)
{
    vmux__args_cstr(a, "STREAMS");
    vmux__stream_add_strs(a, keys, n);
    for (size_t i = 0; i < n; i++)
        vmux__stream_add_id(a, ids != NULL ? ids[i] : VMUX_XID_DEFAULT, dflt);
}

/* Runs a read that may block; its reply is per-stream batches. */
static int run_read(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    int64_t block_ms, vmux_stream_batch_array *out)
{
    vmux_callopts o;
    if (block_ms != VMUX_NO_BLOCK) {
        o = vmux__blocking_opts(m, opts, block_ms);
        opts = &o;
    }
    return vmux__run_stream_batches(m, opts, a, idempotent, out);
}

bool vmux__stream_id_is_now(vmux_str id)
{
    return (id.ptr == NULL && id.len == 0) ||
           (id.len == 1 && id.ptr != NULL && *(const char *)id.ptr == '$');
}

int vmux_xread(vmux *m, const vmux_callopts *opts, const vmux_str *keys, const vmux_str *ids,
               size_t n, int64_t count, int64_t block_ms, vmux_stream_batch_array *batches)
{
    if (batches != NULL)
        memset(batches, 0, sizeof(*batches));
    if (ids == NULL)
        return vmux__typed_refuse(opts, "ids is NULL with n %zu", n);
    if (!read_args_valid(keys, n, count, block_ms))
        return refuse_read(opts, keys, n, "count", count, block_ms);
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "XREAD");
    add_count_block(&a, count, block_ms);
    add_streams(&a, keys, ids, n, "$");
    /* retry-safe, but for a blocking read from "$", which the classifier marks never to be sent
     * again (VMUX_OP_FROM_NOW, core/op.h) */
    return run_read(m, opts, &a, true, block_ms, batches);
}

int vmux_xreadgroup(vmux *m, const vmux_callopts *opts, vmux_str group, vmux_str consumer,
                    const vmux_str *keys, const vmux_str *ids, size_t n,
                    const vmux_xreadgroup_opts *ro, int64_t block_ms,
                    vmux_stream_batch_array *batches)
{
    if (batches != NULL)
        memset(batches, 0, sizeof(*batches));
    vmux_xreadgroup_opts copy = {.size = sizeof copy};
    if (ro != NULL && vmux__sized_in(&copy, sizeof copy, ro) != 0)
        return vmux__sized_refuse(opts, "ro", ro, sizeof copy);
    ro = &copy; /* no further than the caller's size (abi.h) */
    if (!read_args_valid(keys, n, ro->count, block_ms))
        return refuse_read(opts, keys, n, "ro->count", ro->count, block_ms);
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "XREADGROUP");
    vmux__args_cstr(&a, "GROUP");
    vmux__args_str(&a, group);
    vmux__args_str(&a, consumer);
    add_count_block(&a, ro->count, block_ms);
    if (ro->noack)
        vmux__args_cstr(&a, "NOACK");
    add_streams(&a, keys, ids, n, ">");
    return run_read(m, opts, &a, false, block_ms, batches);
}

/* ---- XTRIM, XDEL ---- */

int vmux_xtrim(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_stream_trim trim,
               int64_t *removed)
{
    if (removed != NULL)
        *removed = 0;
    if (!trim_valid(&trim, false))
        return refuse_trim(opts, "trim", &trim);
    struct vmux_args a;
    vmux__args_key_command(&a, "XTRIM", key);
    add_trim(&a, &trim);
    return vmux__run_int(m, opts, &a, !trim.approximate, removed);
}

int vmux_xdel(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *ids, size_t n,
              int64_t *deleted)
{
    struct vmux_args a;
    if (deleted != NULL)
        *deleted = 0;
    int rc = vmux__stream_build_ids(opts, &a, "XDEL", key, NULL, ids, n);
    return rc != 0 ? rc : vmux__run_int(m, opts, &a, true, deleted);
}
