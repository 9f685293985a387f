/*
 * Consumer groups (streams.h): XGROUP CREATE, DESTROY, SETID, CREATECONSUMER and DELCONSUMER,
 * XACK, XPENDING, XCLAIM and XAUTOCLAIM. XREADGROUP, a read, is with XREAD in streams.c.
 */
#include <inttypes.h>
#include <string.h>

#include "api/streams_internal.h"
#include "vmux/error.h"

/* Words for a negative min_idle_ms. */
static int refuse_idle(const vmux_callopts *opts, int64_t min_idle_ms)
{
    return vmux__typed_refuse(opts, "min_idle_ms is %" PRId64 ": must be at least 0", min_idle_ms);
}

/* ---- groups ---- */

/* XGROUP sub key group: the start of every XGROUP subcommand but HELP. */
static void xgroup_command(struct vmux_args *a, const char *sub, vmux_str key, vmux_str group)
{
    vmux__args_sub_key_command(a, "XGROUP", sub, key);
    vmux__args_str(a, group);
}

/* XGROUP sub key group consumer (CREATECONSUMER, DELCONSUMER). */
static void consumer_command(struct vmux_args *a, const char *sub, vmux_str key, vmux_str group,
                             vmux_str consumer)
{
    xgroup_command(a, sub, key, group);
    vmux__args_str(a, consumer);
}

int vmux_xgroup_create(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                       vmux_str id, bool mkstream)
{
    struct vmux_args a;
    xgroup_command(&a, "CREATE", key, group);
    vmux__stream_add_id(&a, id, "$");
    if (mkstream)
        vmux__args_cstr(&a, "MKSTREAM");
    return vmux__typed_run(m, opts, &a, false, vmux__conv_ok, NULL);
}

int vmux_xgroup_destroy(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                        bool *destroyed)
{
    struct vmux_args a;
    xgroup_command(&a, "DESTROY", key, group);
    return vmux__typed_run_into(m, opts, &a, true, vmux__conv_bool, destroyed, sizeof(bool), NULL);
}

int vmux_xgroup_setid(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group, vmux_str id,
                      int64_t entries_read)
{
    if (entries_read < VMUX_STREAM_UNKNOWN) /* the server's own rule: >= 0, or -1 */
        return vmux__typed_refuse(opts,
                                  "entries_read is %" PRId64 ": must be at least 0, or "
                                  "VMUX_STREAM_UNKNOWN (-1)",
                                  entries_read);
    struct vmux_args a;
    xgroup_command(&a, "SETID", key, group);
    vmux__stream_add_id(&a, id, "$");
    if (entries_read != VMUX_STREAM_UNKNOWN) { /* left out, the server takes -1 */
        vmux__args_cstr(&a, "ENTRIESREAD");
        vmux__args_int(&a, entries_read);
    }
    /* to "$", a resend would move the group past the entries added in between */
    return vmux__typed_run(m, opts, &a, !vmux__stream_id_is_now(id), vmux__conv_ok, NULL);
}

int vmux_xgroup_createconsumer(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                               vmux_str consumer, bool *created)
{
    struct vmux_args a;
    consumer_command(&a, "CREATECONSUMER", key, group, consumer);
    /* a second run answers 0: the first one's consumer is there */
    return vmux__run_bool(m, opts, &a, false, created);
}

int vmux_xgroup_delconsumer(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                            vmux_str consumer, int64_t *pending)
{
    struct vmux_args a;
    consumer_command(&a, "DELCONSUMER", key, group, consumer);
    /* the answer is what it destroyed: a second run reports 0 */
    return vmux__run_int(m, opts, &a, false, pending);
}

int vmux_xack(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group, const vmux_str *ids,
              size_t n, int64_t *acked)
{
    struct vmux_args a;
    if (acked != NULL)
        *acked = 0;
    int rc = vmux__stream_build_ids(opts, &a, "XACK", key, &group, ids, n);
    return rc != 0 ? rc : vmux__run_int(m, opts, &a, true, acked);
}

int vmux_xack_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                    const vmux_str *ids, size_t n, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    int rc = vmux__stream_build_ids(opts, &a, "XACK", key, &group, ids, n);
    return rc != 0 ? rc : vmux__typed_async(m, opts, &a, true, cb, userdata);
}

/* key group: the start of XPENDING, XCLAIM and XAUTOCLAIM. */
static void group_command(struct vmux_args *a, const char *cmd, vmux_str key, vmux_str group)
{
    vmux__args_key_command(a, cmd, key);
    vmux__args_str(a, group);
}

int vmux_xpending(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                  vmux_xpending_summary *summary)
{
    struct vmux_args a;
    group_command(&a, "XPENDING", key, group);
    return vmux__run_xpending_summary(m, opts, &a, true, summary);
}

int vmux_xpending_range(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                        vmux_str start, vmux_str end, int64_t count, vmux_str consumer,
                        int64_t min_idle_ms, vmux_xpending_array *entries)
{
    if (entries != NULL)
        memset(entries, 0, sizeof(*entries));
    if (count < 1)
        return vmux__typed_refuse(opts, "count is %" PRId64 ": must be at least 1", count);
    if (min_idle_ms < 0)
        return refuse_idle(opts, min_idle_ms);
    struct vmux_args a;
    group_command(&a, "XPENDING", key, group);
    if (min_idle_ms > 0) {
        vmux__args_cstr(&a, "IDLE");
        vmux__args_int(&a, min_idle_ms);
    }
    vmux__stream_add_id(&a, start, "-");
    vmux__stream_add_id(&a, end, "+");
    vmux__args_int(&a, count);
    if (consumer.ptr != NULL || consumer.len > 0) /* {NULL, len > 0} goes in to be refused */
        vmux__args_str(&a, consumer);
    return vmux__run_xpending_array(m, opts, &a, true, entries);
}

/* ---- claiming ---- */

int vmux_xclaim(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group, vmux_str consumer,
                int64_t min_idle_ms, const vmux_str *ids, size_t n,
                vmux_stream_entry_array *entries)
{
    if (entries != NULL)
        memset(entries, 0, sizeof(*entries));
    if (ids == NULL || n == 0)
        return vmux__items_refuse(opts, "ids", ids, n);
    if (min_idle_ms < 0)
        return refuse_idle(opts, min_idle_ms);
    struct vmux_args a;
    group_command(&a, "XCLAIM", key, group);
    vmux__args_str(&a, consumer);
    vmux__args_int(&a, min_idle_ms);
    vmux__stream_add_strs(&a, ids, n);
    return vmux__run_stream_entries(m, opts, &a, false, entries);
}
/* Moves src into dst, or frees it when dst is NULL. */
static void give_bytes(vmux_bytes *src, vmux_bytes *dst)
{
    if (dst != NULL)
        *dst = *src;
    else
        vmux_bytes_free(src);
}

static void give_autoclaim(struct vmux_xautoclaim *c, vmux_bytes *next,
                           vmux_stream_entry_array *entries, vmux_bytes_array *deleted)
{
    give_bytes(&c->next, next);
    if (entries != NULL)
        *entries = c->entries;
    else
        vmux_stream_entry_array_free(&c->entries);
    if (deleted != NULL)
        *deleted = c->deleted;
    else
        vmux_bytes_array_free(&c->deleted);
}

int vmux_xautoclaim(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                    vmux_str consumer, int64_t min_idle_ms, vmux_str start, int64_t count,
                    vmux_bytes *next, vmux_stream_entry_array *entries, vmux_bytes_array *deleted)
{
    struct vmux_xautoclaim c;
    memset(&c, 0, sizeof(c));
    give_autoclaim(&c, next, entries, deleted); /* zeroes the out-parameters */
    if (min_idle_ms < 0)
        return refuse_idle(opts, min_idle_ms);
    if (count < 0)
        return vmux__typed_refuse(opts,
                                  "count is %" PRId64 ": must be at least 0 (0: the server's "
                                  "default)",
                                  count);
    struct vmux_args a;
    group_command(&a, "XAUTOCLAIM", key, group);
    vmux__args_str(&a, consumer);
    vmux__args_int(&a, min_idle_ms);
    vmux__stream_add_id(&a, start, "0-0");
    if (count > 0) {
        vmux__args_cstr(&a, "COUNT");
        vmux__args_int(&a, count);
    }
    vmux_reply *r;
    int rc = vmux__typed_call(m, opts, &a, false, &r);
    if (rc == 0)
        rc = vmux__xautoclaim_parse(r, &c);
    if (rc == 0)
        give_autoclaim(&c, next, entries, deleted);
    vmux_reply_free(r);
    return rc;
}
