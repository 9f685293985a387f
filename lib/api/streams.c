/* Stream commands (streams.h). */
#include "vmux/streams.h"

#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "vmux/error.h"

/* ---- freeing ---- */

static void entry_free(vmux_stream_entry *e)
{
    vmux_bytes_free(&e->id);
    vmux_bytes_array_free(&e->fields);
}

void vmux_stream_entry_array_free(vmux_stream_entry_array *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        entry_free(&a->items[i]);
    free(a->items);
    a->items = NULL;
    a->count = 0;
}

static void batch_free(vmux_stream_batch *b)
{
    vmux_bytes_free(&b->key);
    vmux_stream_entry_array_free(&b->entries);
}

void vmux_stream_batch_array_free(vmux_stream_batch_array *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        batch_free(&a->items[i]);
    free(a->items);
    a->items = NULL;
    a->count = 0;
}

static void consumer_free(vmux_xpending_consumer *c)
{
    vmux_bytes_free(&c->name);
}

void vmux_xpending_summary_free(vmux_xpending_summary *s)
{
    if (s == NULL)
        return;
    vmux_bytes_free(&s->first_id);
    vmux_bytes_free(&s->last_id);
    for (size_t i = 0; i < s->nconsumers; i++)
        consumer_free(&s->consumers[i]);
    free(s->consumers);
    memset(s, 0, sizeof(*s));
}

static void pending_free(vmux_xpending_entry *e)
{
    vmux_bytes_free(&e->id);
    vmux_bytes_free(&e->consumer);
}

void vmux_xpending_array_free(vmux_xpending_array *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        pending_free(&a->items[i]);
    free(a->items);
    a->items = NULL;
    a->count = 0;
}

/* ---- reading replies ---- */

/* Parses one element into item: 0, a negative error, or 1 to skip the element. */
typedef int (*parse_fn)(const vmux_reply *r, void *item);
typedef void (*release_fn)(void *item);

static bool is_array(const vmux_reply *r, size_t min, size_t max)
{
    return r != NULL && vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY && vmux_reply_len(r) >= min &&
           vmux_reply_len(r) <= max;
}

/* A bulk string that must be there (nested replies: any other shape is a protocol error). */
static int string_of(const vmux_reply *r, vmux_bytes *out)
{
    memset(out, 0, sizeof(*out));
    if (r == NULL || vmux_reply_get_kind(r) != VMUX_REPLY_STRING)
        return VMUX_ERR_PROTOCOL;
    return vmux_reply_to_bytes(r, out);
}

/* A string or nil (ptr NULL). */
static int string_or_nil(const vmux_reply *r, vmux_bytes *out)
{
    memset(out, 0, sizeof(*out));
    if (r != NULL && vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return 0;
    return string_of(r, out);
}

/*
 * Parses every element of the array r into a new array of items of the given size, skipping
 * those parse skips. Returns the items (count in *count; NULL when 0) with *rc 0, or NULL with
 * *rc an error.
 */
static void *parse_items(const vmux_reply *r, size_t size, parse_fn parse, release_fn release,
                         size_t *count, int *rc)
{
    size_t n = vmux_reply_len(r), got = 0;
    char *base = calloc(n ? n : 1, size);
    *count = 0;
    *rc = base != NULL ? 0 : VMUX_ERR_NOMEM;
    for (size_t i = 0; i < n && *rc >= 0; i++) {
        *rc = parse(vmux_reply_element(r, i), base + got * size);
        got += *rc == 0;
    }
    if (*rc < 0) {
        for (size_t i = 0; i < got; i++)
            release(base + i * size);
        free(base);
        return NULL;
    }
    *rc = 0;
    *count = got;
    if (got == 0) { /* an empty result holds no memory, so forgetting to free it costs nothing */
        free(base);
        base = NULL;
    }
    return base;
}

/* [id, [field, value...]]; nil (a deleted entry, as older servers' XCLAIM gave it) skipped. */
static int parse_entry(const vmux_reply *r, void *item)
{
    vmux_stream_entry *e = item;
    if (r != NULL && vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return 1;
    if (!is_array(r, 2, 2))
        return VMUX_ERR_PROTOCOL;
    const vmux_reply *fields = vmux_reply_element(r, 1);
    int rc = string_of(vmux_reply_element(r, 0), &e->id);
    if (rc == 0 && vmux_reply_get_kind(fields) != VMUX_REPLY_NIL && !is_array(fields, 0, SIZE_MAX))
        rc = VMUX_ERR_PROTOCOL;
    if (rc == 0)
        rc = vmux_reply_to_bytes_array(fields, &e->fields);
    if (rc == 0 && e->fields.count % 2 != 0)
        rc = VMUX_ERR_PROTOCOL;
    if (rc != 0)
        entry_free(e);
    return rc;
}

static void release_entry(void *item)
{
    entry_free(item);
}

/* An array of entries (r already known to be an array). */
static int parse_entries(const vmux_reply *r, vmux_stream_entry_array *out)
{
    int rc;
    out->items = parse_items(r, sizeof(*out->items), parse_entry, release_entry, &out->count, &rc);
    return rc;
}

/* The first check of every top-level converter: 0 for an array, 1 for nil, or an error. */
static int top(const vmux_reply *r)
{
    if (r == NULL)
        return VMUX_ERR_INVALID_ARG;
    switch (vmux_reply_get_kind(r)) {
    case VMUX_REPLY_ARRAY:
        return 0;
    case VMUX_REPLY_NIL:
        return 1;
    case VMUX_REPLY_ERROR:
        return VMUX_ERR_SERVER;
    default:
        return VMUX_ERR_PROTOCOL;
    }
}

int vmux_reply_to_stream_entries(const vmux_reply *r, vmux_stream_entry_array *out)
{
    memset(out, 0, sizeof(*out));
    int rc = top(r);
    return rc != 0 ? (rc > 0 ? 0 : rc) : parse_entries(r, out);
}

/* [key, [entry...]] */
static int parse_batch(const vmux_reply *r, void *item)
{
    vmux_stream_batch *b = item;
    if (!is_array(r, 2, 2))
        return VMUX_ERR_PROTOCOL;
    const vmux_reply *entries = vmux_reply_element(r, 1);
    int rc = string_of(vmux_reply_element(r, 0), &b->key);
    if (rc == 0)
        rc = is_array(entries, 0, SIZE_MAX) ? parse_entries(entries, &b->entries)
                                            : VMUX_ERR_PROTOCOL;
    if (rc != 0)
        batch_free(b);
    return rc;
}

static void release_batch(void *item)
{
    batch_free(item);
}

int vmux_reply_to_stream_batches(const vmux_reply *r, vmux_stream_batch_array *out)
{
    memset(out, 0, sizeof(*out));
    int rc = top(r);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    out->items = parse_items(r, sizeof(*out->items), parse_batch, release_batch, &out->count, &rc);
    return rc;
}

/* [name, pending-as-text] */
static int parse_consumer(const vmux_reply *r, void *item)
{
    vmux_xpending_consumer *c = item;
    if (!is_array(r, 2, 2))
        return VMUX_ERR_PROTOCOL;
    int rc = vmux__reply_to_number(vmux_reply_element(r, 1), &c->pending);
    return rc != 0 ? rc : string_of(vmux_reply_element(r, 0), &c->name);
}

static void release_consumer(void *item)
{
    consumer_free(item);
}

/* [count, first id, last id, [[consumer, pending]...]]; the IDs and the list are nil when empty. */
static int conv_summary(const vmux_reply *r, void *out)
{
    vmux_xpending_summary *s = out;
    memset(s, 0, sizeof(*s));
    int rc = top(r);
    if (rc != 0)
        return rc > 0 ? VMUX_ERR_PROTOCOL : rc;
    if (vmux_reply_len(r) != 4)
        return VMUX_ERR_PROTOCOL;
    const vmux_reply *list = vmux_reply_element(r, 3);
    rc = vmux__reply_to_number(vmux_reply_element(r, 0), &s->count);
    if (rc == 0)
        rc = string_or_nil(vmux_reply_element(r, 1), &s->first_id);
    if (rc == 0)
        rc = string_or_nil(vmux_reply_element(r, 2), &s->last_id);
    if (rc == 0 && is_array(list, 0, SIZE_MAX))
        s->consumers = parse_items(list, sizeof(*s->consumers), parse_consumer, release_consumer,
                                   &s->nconsumers, &rc);
    else if (rc == 0 && vmux_reply_get_kind(list) != VMUX_REPLY_NIL)
        rc = VMUX_ERR_PROTOCOL;
    if (rc != 0)
        vmux_xpending_summary_free(s);
    return rc;
}

/* [id, consumer, idle ms, deliveries] */
static int parse_pending(const vmux_reply *r, void *item)
{
    vmux_xpending_entry *e = item;
    if (!is_array(r, 4, 4))
        return VMUX_ERR_PROTOCOL;
    int rc = vmux__reply_to_number(vmux_reply_element(r, 2), &e->idle_ms);
    if (rc == 0)
        rc = vmux__reply_to_number(vmux_reply_element(r, 3), &e->deliveries);
    if (rc == 0)
        rc = string_of(vmux_reply_element(r, 0), &e->id);
    if (rc == 0)
        rc = string_of(vmux_reply_element(r, 1), &e->consumer);
    if (rc != 0)
        pending_free(e);
    return rc;
}

static void release_pending(void *item)
{
    pending_free(item);
}

static int conv_pending(const vmux_reply *r, void *out)
{
    vmux_xpending_array *a = out;
    memset(a, 0, sizeof(*a));
    int rc = top(r);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    a->items = parse_items(r, sizeof(*a->items), parse_pending, release_pending, &a->count, &rc);
    return rc;
}

static int conv_entries(const vmux_reply *r, void *out)
{
    return vmux_reply_to_stream_entries(r, out);
}

static int conv_batches(const vmux_reply *r, void *out)
{
    return vmux_reply_to_stream_batches(r, out);
}

/* ---- running commands ---- */

static void release_bytes(void *p)
{
    vmux_bytes_free(p);
}

static void release_entries(void *p)
{
    vmux_stream_entry_array_free(p);
}

static void release_batches(void *p)
{
    vmux_stream_batch_array_free(p);
}

static void release_summary(void *p)
{
    vmux_xpending_summary_free(p);
}

static void release_pendings(void *p)
{
    vmux_xpending_array_free(p);
}

static int run_int(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                   int64_t *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, vmux__conv_int, out, sizeof(int64_t), NULL);
}

/* An ID argument, or its default when id.ptr is NULL. */
static void add_id(struct vmux_args *a, vmux_str id, const char *dflt)
{
    if (id.ptr != NULL)
        vmux__args_str(a, id);
    else
        vmux__args_cstr(a, dflt);
}

static void add_strs(struct vmux_args *a, const vmux_str *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vmux__args_str(a, items[i]);
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

static int build_xadd(struct vmux_args *a, vmux_str key, vmux_str id, const vmux_str *fields,
                      const vmux_str *values, size_t n, const vmux_xadd_opts *xo)
{
    vmux_xadd_opts copy;
    if (xo != NULL && vmux__sized_in(&copy, sizeof copy, xo) != 0)
        return VMUX_ERR_INVALID_ARG;
    xo = xo != NULL ? &copy : NULL; /* no further than the caller's size (abi.h) */
    if (fields == NULL || values == NULL || n == 0 || (xo != NULL && !trim_valid(&xo->trim, true)))
        return VMUX_ERR_INVALID_ARG;
    vmux__args_key_command(a, "XADD", key);
    if (xo != NULL && xo->nomkstream)
        vmux__args_cstr(a, "NOMKSTREAM");
    if (xo != NULL)
        add_trim(a, &xo->trim);
    add_id(a, id, "*");
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
    int rc = build_xadd(&a, key, id, fields, values, n, xo);
    if (rc != 0)
        return rc;
    return vmux__typed_run_into(m, opts, &a, false, vmux__conv_bytes, added_id, sizeof(vmux_bytes),
                                release_bytes);
}

int vmux_xadd_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str id,
                    const vmux_str *fields, const vmux_str *values, size_t n,
                    const vmux_xadd_opts *xo, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    int rc = build_xadd(&a, key, id, fields, values, n, xo);
    return rc != 0 ? rc : vmux__typed_async(m, opts, &a, false, cb, userdata);
}

int vmux_xlen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *length)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "XLEN", key);
    return run_int(m, opts, &a, true, length);
}

/* XRANGE key start end / XREVRANGE key end start, then COUNT. */
static int build_range(struct vmux_args *a, const char *cmd, vmux_str key, vmux_str first,
                       const char *first_dflt, vmux_str second, const char *second_dflt,
                       int64_t count)
{
    if (count < 0)
        return VMUX_ERR_INVALID_ARG;
    vmux__args_key_command(a, cmd, key);
    add_id(a, first, first_dflt);
    add_id(a, second, second_dflt);
    if (count > 0) {
        vmux__args_cstr(a, "COUNT");
        vmux__args_int(a, count);
    }
    return 0;
}

static int run_entries(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                       vmux_stream_entry_array *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, conv_entries, out,
                                sizeof(vmux_stream_entry_array), release_entries);
}

int vmux_xrange(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str start, vmux_str end,
                int64_t count, vmux_stream_entry_array *entries)
{
    struct vmux_args a;
    if (entries != NULL)
        memset(entries, 0, sizeof(*entries));
    int rc = build_range(&a, "XRANGE", key, start, "-", end, "+", count);
    return rc != 0 ? rc : run_entries(m, opts, &a, true, entries);
}

int vmux_xrange_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str start,
                      vmux_str end, int64_t count, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    int rc = build_range(&a, "XRANGE", key, start, "-", end, "+", count);
    return rc != 0 ? rc : vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_xrevrange(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str end, vmux_str start,
                   int64_t count, vmux_stream_entry_array *entries)
{
    struct vmux_args a;
    if (entries != NULL)
        memset(entries, 0, sizeof(*entries));
    int rc = build_range(&a, "XREVRANGE", key, end, "+", start, "-", count);
    return rc != 0 ? rc : run_entries(m, opts, &a, true, entries);
}

/* ---- XREAD, XREADGROUP ---- */

/* Checks the parts shared by XREAD and XREADGROUP. */
static bool read_args_valid(const vmux_str *keys, size_t n, int64_t count, int64_t block_ms)
{
    return keys != NULL && n > 0 && count >= 0 && block_ms >= 0; /* 0 is VMUX_NO_BLOCK */
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
    add_strs(a, keys, n);
    for (size_t i = 0; i < n; i++)
        add_id(a, ids != NULL ? ids[i] : VMUX_XID_DEFAULT, dflt);
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
    return vmux__typed_run_into(m, opts, a, idempotent, conv_batches, out,
                                sizeof(vmux_stream_batch_array), release_batches);
}

int vmux_xread(vmux *m, const vmux_callopts *opts, const vmux_str *keys, const vmux_str *ids,
               size_t n, int64_t count, int64_t block_ms, vmux_stream_batch_array *batches)
{
    if (batches != NULL)
        memset(batches, 0, sizeof(*batches));
    if (ids == NULL || !read_args_valid(keys, n, count, block_ms))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "XREAD");
    add_count_block(&a, count, block_ms);
    add_streams(&a, keys, ids, n, "$");
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
        return VMUX_ERR_INVALID_ARG;
    ro = &copy; /* no further than the caller's size (abi.h) */
    if (!read_args_valid(keys, n, ro->count, block_ms))
        return VMUX_ERR_INVALID_ARG;
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

/* ---- groups ---- */

int vmux_xgroup_create(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                       vmux_str id, bool mkstream)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "XGROUP");
    vmux__args_cstr(&a, "CREATE");
    vmux__args_str(&a, key);
    vmux__args_str(&a, group);
    add_id(&a, id, "$");
    if (mkstream)
        vmux__args_cstr(&a, "MKSTREAM");
    return vmux__typed_run(m, opts, &a, false, vmux__conv_ok, NULL);
}

int vmux_xgroup_destroy(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                        bool *destroyed)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "XGROUP");
    vmux__args_cstr(&a, "DESTROY");
    vmux__args_str(&a, key);
    vmux__args_str(&a, group);
    return vmux__typed_run_into(m, opts, &a, true, vmux__conv_bool, destroyed, sizeof(bool), NULL);
}

/* key group ids... with ids required. */
static int build_ids(struct vmux_args *a, const char *cmd, vmux_str key, const vmux_str *group,
                     const vmux_str *ids, size_t n)
{
    if (ids == NULL || n == 0)
        return VMUX_ERR_INVALID_ARG;
    vmux__args_key_command(a, cmd, key);
    if (group != NULL)
        vmux__args_str(a, *group);
    add_strs(a, ids, n);
    return 0;
}

int vmux_xack(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group, const vmux_str *ids,
              size_t n, int64_t *acked)
{
    struct vmux_args a;
    if (acked != NULL)
        *acked = 0;
    int rc = build_ids(&a, "XACK", key, &group, ids, n);
    return rc != 0 ? rc : run_int(m, opts, &a, true, acked);
}

int vmux_xack_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                    const vmux_str *ids, size_t n, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    int rc = build_ids(&a, "XACK", key, &group, ids, n);
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
    return vmux__typed_run_into(m, opts, &a, true, conv_summary, summary,
                                sizeof(vmux_xpending_summary), release_summary);
}

int vmux_xpending_range(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                        vmux_str start, vmux_str end, int64_t count, vmux_str consumer,
                        int64_t min_idle_ms, vmux_xpending_array *entries)
{
    if (entries != NULL)
        memset(entries, 0, sizeof(*entries));
    if (count < 1 || min_idle_ms < 0)
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    group_command(&a, "XPENDING", key, group);
    if (min_idle_ms > 0) {
        vmux__args_cstr(&a, "IDLE");
        vmux__args_int(&a, min_idle_ms);
    }
    add_id(&a, start, "-");
    add_id(&a, end, "+");
    vmux__args_int(&a, count);
    if (consumer.ptr != NULL)
        vmux__args_str(&a, consumer);
    return vmux__typed_run_into(m, opts, &a, true, conv_pending, entries,
                                sizeof(vmux_xpending_array), release_pendings);
}

/* ---- claiming ---- */

int vmux_xclaim(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group, vmux_str consumer,
                int64_t min_idle_ms, const vmux_str *ids, size_t n,
                vmux_stream_entry_array *entries)
{
    if (entries != NULL)
        memset(entries, 0, sizeof(*entries));
    if (ids == NULL || n == 0 || min_idle_ms < 0)
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    group_command(&a, "XCLAIM", key, group);
    vmux__args_str(&a, consumer);
    vmux__args_int(&a, min_idle_ms);
    add_strs(&a, ids, n);
    return run_entries(m, opts, &a, false, entries);
}

/* XAUTOCLAIM's reply, taken apart. */
struct autoclaim {
    vmux_bytes next;
    vmux_stream_entry_array entries;
    vmux_bytes_array deleted;
};

static void autoclaim_free(struct autoclaim *c)
{
    vmux_bytes_free(&c->next);
    vmux_stream_entry_array_free(&c->entries);
    vmux_bytes_array_free(&c->deleted);
}

/* [next, [entry...]] and, from Valkey 7 / Redis 7 on, [deleted id...] third. */
static int parse_autoclaim(const vmux_reply *r, struct autoclaim *c)
{
    memset(c, 0, sizeof(*c));
    if (!is_array(r, 2, 3) || !is_array(vmux_reply_element(r, 1), 0, SIZE_MAX))
        return VMUX_ERR_PROTOCOL;
    const vmux_reply *deleted = vmux_reply_element(r, 2);
    int rc = string_of(vmux_reply_element(r, 0), &c->next);
    if (rc == 0)
        rc = parse_entries(vmux_reply_element(r, 1), &c->entries);
    if (rc == 0 && deleted != NULL)
        rc = is_array(deleted, 0, SIZE_MAX) ? vmux_reply_to_bytes_array(deleted, &c->deleted)
                                            : VMUX_ERR_PROTOCOL;
    if (rc != 0)
        autoclaim_free(c);
    return rc;
}

/* Moves src into dst, or frees it when dst is NULL. */
static void give_bytes(vmux_bytes *src, vmux_bytes *dst)
{
    if (dst != NULL)
        *dst = *src;
    else
        vmux_bytes_free(src);
}

static void give_autoclaim(struct autoclaim *c, vmux_bytes *next, vmux_stream_entry_array *entries,
                           vmux_bytes_array *deleted)
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
    struct autoclaim c;
    memset(&c, 0, sizeof(c));
    give_autoclaim(&c, next, entries, deleted); /* zeroes the out-parameters */
    if (min_idle_ms < 0 || count < 0)
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    group_command(&a, "XAUTOCLAIM", key, group);
    vmux__args_str(&a, consumer);
    vmux__args_int(&a, min_idle_ms);
    add_id(&a, start, "0-0");
    if (count > 0) {
        vmux__args_cstr(&a, "COUNT");
        vmux__args_int(&a, count);
    }
    vmux_reply *r;
    int rc = vmux__typed_call(m, opts, &a, false, &r);
    if (rc == 0)
        rc = parse_autoclaim(r, &c);
    if (rc == 0)
        give_autoclaim(&c, next, entries, deleted);
    vmux_reply_free(r);
    return rc;
}

/* ---- XTRIM, XDEL ---- */

int vmux_xtrim(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_stream_trim trim,
               int64_t *removed)
{
    if (removed != NULL)
        *removed = 0;
    if (!trim_valid(&trim, false))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    vmux__args_key_command(&a, "XTRIM", key);
    add_trim(&a, &trim);
    return run_int(m, opts, &a, !trim.approximate, removed);
}

int vmux_xdel(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *ids, size_t n,
              int64_t *deleted)
{
    struct vmux_args a;
    if (deleted != NULL)
        *deleted = 0;
    int rc = build_ids(&a, "XDEL", key, NULL, ids, n);
    return rc != 0 ? rc : run_int(m, opts, &a, true, deleted);
}
