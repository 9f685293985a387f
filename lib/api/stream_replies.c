/*
 * The replies of the stream commands (streams.h): freeing the result types, taking the nested
 * replies apart (entries, per-stream batches, XPENDING's summary and its entries, XAUTOCLAIM's
 * three parts), and the runners that give the commands these shapes.
 */
#include <stdlib.h>
#include <string.h>

#include "api/streams_internal.h"
#include "vmux/error.h"

/* ---- freeing ---- */

void vmux__stream_entry_free(vmux_stream_entry *e)
{
    vmux_bytes_free(&e->id);
    vmux_bytes_array_free(&e->fields);
}

void vmux_stream_entry_array_free(vmux_stream_entry_array *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        vmux__stream_entry_free(&a->items[i]);
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

static bool is_array(const vmux_reply *r, size_t min, size_t max)
{
    return r != NULL && vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY && vmux_reply_len(r) >= min &&
           vmux_reply_len(r) <= max;
}

int vmux__stream_string(const vmux_reply *r, vmux_bytes *out)
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
    return vmux__stream_string(r, out);
}

void *vmux__stream_parse_items(const vmux_reply *r, size_t size, vmux__stream_parse_fn parse,
                               void (*release)(void *item), size_t *count, int *rc)
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

int vmux__stream_parse_entry(const vmux_reply *r, void *item)
{
    vmux_stream_entry *e = item;
    if (r != NULL && vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return 1;
    if (!is_array(r, 2, 2))
        return VMUX_ERR_PROTOCOL;
    const vmux_reply *fields = vmux_reply_element(r, 1);
    int rc = vmux__stream_string(vmux_reply_element(r, 0), &e->id);
    if (rc == 0 && vmux_reply_get_kind(fields) != VMUX_REPLY_NIL && !is_array(fields, 0, SIZE_MAX))
        rc = VMUX_ERR_PROTOCOL;
    if (rc == 0)
        rc = vmux_reply_to_bytes_array(fields, &e->fields);
    if (rc == 0 && e->fields.count % 2 != 0)
        rc = VMUX_ERR_PROTOCOL;
    if (rc != 0)
        vmux__stream_entry_free(e);
    return rc;
}

static void release_entry(void *item)
{
    vmux__stream_entry_free(item);
}

/* An array of entries (r already known to be an array). */
static int parse_entries(const vmux_reply *r, vmux_stream_entry_array *out)
{
    int rc;
    out->items = vmux__stream_parse_items(r, sizeof(*out->items), vmux__stream_parse_entry,
                                          release_entry, &out->count, &rc);
    return rc;
}

int vmux__stream_top(const vmux_reply *r)
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

/* The converters under one signature, and their release functions (below, with the runners):
 * an out-parameter NULL converts into a scratch value they free. */
static int conv_entries(const vmux_reply *r, void *out);
static int conv_batches(const vmux_reply *r, void *out);
static void release_entries(void *p);
static void release_batches(void *p);

int vmux_reply_to_stream_entries(const vmux_reply *r, vmux_stream_entry_array *out)
{
    if (out == NULL)
        return vmux__convert_into(r, conv_entries, NULL, sizeof *out, release_entries);
    memset(out, 0, sizeof(*out));
    int rc = vmux__stream_top(r);
    return rc != 0 ? (rc > 0 ? 0 : rc) : parse_entries(r, out);
}

/* [key, [entry...]] */
static int parse_batch(const vmux_reply *r, void *item)
{
    vmux_stream_batch *b = item;
    if (!is_array(r, 2, 2))
        return VMUX_ERR_PROTOCOL;
    const vmux_reply *entries = vmux_reply_element(r, 1);
    int rc = vmux__stream_string(vmux_reply_element(r, 0), &b->key);
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
    if (out == NULL)
        return vmux__convert_into(r, conv_batches, NULL, sizeof *out, release_batches);
    memset(out, 0, sizeof(*out));
    int rc = vmux__stream_top(r);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    out->items = vmux__stream_parse_items(r, sizeof(*out->items), parse_batch, release_batch,
                                          &out->count, &rc);
    return rc;
}

/* [name, pending-as-text] */
static int parse_consumer(const vmux_reply *r, void *item)
{
    vmux_xpending_consumer *c = item;
    if (!is_array(r, 2, 2))
        return VMUX_ERR_PROTOCOL;
    int rc = vmux__reply_to_number(vmux_reply_element(r, 1), &c->pending);
    return rc != 0 ? rc : vmux__stream_string(vmux_reply_element(r, 0), &c->name);
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
    int rc = vmux__stream_top(r);
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
        s->consumers = vmux__stream_parse_items(list, sizeof(*s->consumers), parse_consumer,
                                                release_consumer, &s->nconsumers, &rc);
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
        rc = vmux__stream_string(vmux_reply_element(r, 0), &e->id);
    if (rc == 0)
        rc = vmux__stream_string(vmux_reply_element(r, 1), &e->consumer);
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
    int rc = vmux__stream_top(r);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    a->items = vmux__stream_parse_items(r, sizeof(*a->items), parse_pending, release_pending,
                                        &a->count, &rc);
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

/* ---- runners for these shapes ---- */

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

int vmux__run_stream_entries(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                             bool idempotent, vmux_stream_entry_array *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, conv_entries, out,
                                sizeof(vmux_stream_entry_array), release_entries);
}

int vmux__run_stream_batches(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                             bool idempotent, vmux_stream_batch_array *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, conv_batches, out,
                                sizeof(vmux_stream_batch_array), release_batches);
}

int vmux__run_xpending_summary(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                               bool idempotent, vmux_xpending_summary *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, conv_summary, out,
                                sizeof(vmux_xpending_summary), release_summary);
}

int vmux__run_xpending_array(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                             bool idempotent, vmux_xpending_array *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, conv_pending, out,
                                sizeof(vmux_xpending_array), release_pendings);
}

/* ---- XAUTOCLAIM ---- */

void vmux__xautoclaim_free(struct vmux_xautoclaim *c)
{
    vmux_bytes_free(&c->next);
    vmux_stream_entry_array_free(&c->entries);
    vmux_bytes_array_free(&c->deleted);
}

/* [next, [entry...]] and, from Valkey 7 / Redis 7 on, [deleted id...] third. */
int vmux__xautoclaim_parse(const vmux_reply *r, struct vmux_xautoclaim *c)
{
    memset(c, 0, sizeof(*c));
    if (!is_array(r, 2, 3) || !is_array(vmux_reply_element(r, 1), 0, SIZE_MAX))
        return VMUX_ERR_PROTOCOL;
    const vmux_reply *deleted = vmux_reply_element(r, 2);
    int rc = vmux__stream_string(vmux_reply_element(r, 0), &c->next);
    if (rc == 0)
        rc = parse_entries(vmux_reply_element(r, 1), &c->entries);
    if (rc == 0 && deleted != NULL)
        rc = is_array(deleted, 0, SIZE_MAX) ? vmux_reply_to_bytes_array(deleted, &c->deleted)
                                            : VMUX_ERR_PROTOCOL;
    if (rc != 0)
        vmux__xautoclaim_free(c);
    return rc;
}
