/*
 * XINFO STREAM, GROUPS and CONSUMERS (streams.h): the commands, and their replies read by field
 * name. Each object the server describes is a list of name, value, name, value...; servers add
 * fields (7.0 gave streams three and groups two, 7.2 consumers one) and the order is theirs, so
 * a field is found by its name, an unknown one is skipped, and one an older server leaves out
 * reads as unknown. Only the fields every server since 5.0 sends are required.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/streams_internal.h"
#include "vmux/error.h"

/* ---- freeing ---- */

void vmux_stream_info_free(vmux_stream_info *info)
{
    if (info == NULL)
        return;
    vmux_bytes_free(&info->last_generated_id);
    vmux_bytes_free(&info->max_deleted_entry_id);
    vmux_bytes_free(&info->recorded_first_entry_id);
    vmux__stream_entry_free(&info->first_entry);
    vmux__stream_entry_free(&info->last_entry);
    memset(info, 0, sizeof(*info));
}

static void group_free(void *item)
{
    vmux_stream_group_info *g = item;
    vmux_bytes_free(&g->name);
    vmux_bytes_free(&g->last_delivered_id);
}

void vmux_stream_group_info_array_free(vmux_stream_group_info_array *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        group_free(&a->items[i]);
    free(a->items);
    a->items = NULL;
    a->count = 0;
}

static void consumer_free(void *item)
{
    vmux_stream_consumer_info *c = item;
    vmux_bytes_free(&c->name);
}

void vmux_stream_consumer_info_array_free(vmux_stream_consumer_info_array *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        consumer_free(&a->items[i]);
    free(a->items);
    a->items = NULL;
    a->count = 0;
}

/* ---- reading an object by field name ---- */

/* What a field's value is, and so how it is read and what it reads as when left out. */
enum field_kind {
    COUNT,        /* an integer (int64_t); left out: VMUX_STREAM_UNKNOWN */
    COUNT_OR_NIL, /* an integer or nil (int64_t); nil or left out: VMUX_STREAM_UNKNOWN */
    ID,           /* a bulk string (vmux_bytes); left out: ptr NULL */
    ENTRY,        /* [id, [field, value...]] or nil (vmux_stream_entry); nil: id.ptr NULL */
};

struct field {
    const char *name;
    enum field_kind kind;
    size_t offset; /* in the struct being filled */
    bool required; /* sent by every server since 5.0 */
};

static int read_value(const vmux_reply *v, enum field_kind kind, void *dst)
{
    bool nil = vmux_reply_get_kind(v) == VMUX_REPLY_NIL;
    switch (kind) {
    case COUNT_OR_NIL:
        if (nil)
            return 0; /* still VMUX_STREAM_UNKNOWN */
        /* fall through */
    case COUNT:
        return vmux_reply_get_kind(v) == VMUX_REPLY_INTEGER ? vmux_reply_to_int(v, dst)
                                                            : VMUX_ERR_PROTOCOL;
    case ID:
        return vmux__stream_string(v, dst);
    case ENTRY:
        return nil ? 0 : vmux__stream_parse_entry(v, dst);
    }
    return VMUX_ERR_PROTOCOL;
}

/* The field called name (a string reply), or NULL when it is none of fields'. */
static const struct field *find_field(const vmux_reply *name, const struct field *fields, size_t n)
{
    size_t len;
    const char *s = vmux_reply_str(name, &len);
    for (size_t i = 0; i < n; i++)
        if (strlen(fields[i].name) == len && memcmp(fields[i].name, s, len) == 0)
            return &fields[i];
    return NULL;
}

/* Every count field of base at VMUX_STREAM_UNKNOWN, for those the reply leaves out. */
static void preset(const struct field *fields, size_t n, char *base)
{
    for (size_t i = 0; i < n; i++)
        if (fields[i].kind == COUNT || fields[i].kind == COUNT_OR_NIL)
            memcpy(base + fields[i].offset, &(int64_t){VMUX_STREAM_UNKNOWN}, sizeof(int64_t));
}

/* Whether every required field of fields (n <= 32) has its bit in seen. */
static bool all_required(const struct field *fields, size_t n, uint32_t seen)
{
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !(seen & (UINT32_C(1) << i)))
            return false;
    return true;
}

/*
 * Reads the object r (name, value, name, value...) into the zeroed struct at base: each value
 * whose name is among fields (at most 32) at its offset; other names skipped. Returns 0, or
 * VMUX_ERR_PROTOCOL for another shape (not an array, an odd count, a name that is no string, a
 * name twice, a value of the wrong kind, a required field missing) or VMUX_ERR_NOMEM; on an
 * error what was read stays in base for the caller to free.
 */
static int read_object(const vmux_reply *r, const struct field *fields, size_t n, void *base)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) % 2 != 0)
        return VMUX_ERR_PROTOCOL;
    preset(fields, n, base);
    uint32_t seen = 0;
    for (size_t i = 0; i < vmux_reply_len(r); i += 2) {
        const vmux_reply *name = vmux_reply_element(r, i);
        if (vmux_reply_get_kind(name) != VMUX_REPLY_STRING)
            return VMUX_ERR_PROTOCOL;
        const struct field *f = find_field(name, fields, n);
        if (f == NULL)
            continue; /* a field this library does not know yet */
        uint32_t bit = UINT32_C(1) << (f - fields);
        if (seen & bit)
            return VMUX_ERR_PROTOCOL; /* the second value would leak the first */
        seen |= bit;
        int rc = read_value(vmux_reply_element(r, i + 1), f->kind, (char *)base + f->offset);
        if (rc != 0)
            return rc == VMUX_ERR_NOMEM ? rc : VMUX_ERR_PROTOCOL;
    }
    return all_required(fields, n, seen) ? 0 : VMUX_ERR_PROTOCOL;
}

#define FIELD(type, name, kind, member, required)                                                  \
    {                                                                                              \
        name, kind, offsetof(type, member), required                                               \
    }
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static const struct field STREAM_FIELDS[] = {
    FIELD(vmux_stream_info, "length", COUNT, length, true),
    FIELD(vmux_stream_info, "radix-tree-keys", COUNT, radix_tree_keys, true),
    FIELD(vmux_stream_info, "radix-tree-nodes", COUNT, radix_tree_nodes, true),
    FIELD(vmux_stream_info, "groups", COUNT, groups, true),
    FIELD(vmux_stream_info, "last-generated-id", ID, last_generated_id, true),
    FIELD(vmux_stream_info, "max-deleted-entry-id", ID, max_deleted_entry_id, false),
    FIELD(vmux_stream_info, "entries-added", COUNT, entries_added, false),
    FIELD(vmux_stream_info, "recorded-first-entry-id", ID, recorded_first_entry_id, false),
    FIELD(vmux_stream_info, "first-entry", ENTRY, first_entry, true),
    FIELD(vmux_stream_info, "last-entry", ENTRY, last_entry, true),
};

static const struct field GROUP_FIELDS[] = {
    FIELD(vmux_stream_group_info, "name", ID, name, true),
    FIELD(vmux_stream_group_info, "consumers", COUNT, consumers, true),
    FIELD(vmux_stream_group_info, "pending", COUNT, pending, true),
    FIELD(vmux_stream_group_info, "last-delivered-id", ID, last_delivered_id, true),
    FIELD(vmux_stream_group_info, "entries-read", COUNT_OR_NIL, entries_read, false),
    FIELD(vmux_stream_group_info, "lag", COUNT_OR_NIL, lag, false),
};

static const struct field CONSUMER_FIELDS[] = {
    FIELD(vmux_stream_consumer_info, "name", ID, name, true),
    FIELD(vmux_stream_consumer_info, "pending", COUNT, pending, true),
    FIELD(vmux_stream_consumer_info, "idle", COUNT, idle_ms, true),
    FIELD(vmux_stream_consumer_info, "inactive", COUNT, inactive_ms, false),
};

/* ---- the converters ---- */

/* The first check of a converter: 0 for an array, else its error (nil is no XINFO reply). */
static int top_array(const vmux_reply *r)
{
    int rc = vmux__stream_top(r);
    return rc > 0 ? VMUX_ERR_PROTOCOL : rc;
}

static int conv_info(const vmux_reply *r, void *out)
{
    memset(out, 0, sizeof(vmux_stream_info));
    int rc = top_array(r);
    if (rc == 0)
        rc = read_object(r, STREAM_FIELDS, NFIELDS(STREAM_FIELDS), out);
    if (rc != 0)
        vmux_stream_info_free(out);
    return rc;
}

static int parse_group(const vmux_reply *r, void *item)
{
    int rc = read_object(r, GROUP_FIELDS, NFIELDS(GROUP_FIELDS), item);
    if (rc != 0)
        group_free(item);
    return rc;
}

static int parse_consumer(const vmux_reply *r, void *item)
{
    int rc = read_object(r, CONSUMER_FIELDS, NFIELDS(CONSUMER_FIELDS), item);
    if (rc != 0)
        consumer_free(item);
    return rc;
}

/* An array of objects into items (count in *count), as vmux__stream_parse_items() does. */
static int conv_list(const vmux_reply *r, void **items, size_t *count, size_t size,
                     vmux__stream_parse_fn parse, void (*release)(void *item))
{
    *items = NULL;
    *count = 0;
    int rc = top_array(r);
    if (rc == 0)
        *items = vmux__stream_parse_items(r, size, parse, release, count, &rc);
    return rc;
}

static int conv_groups(const vmux_reply *r, void *out)
{
    vmux_stream_group_info_array *a = out;
    void *items;
    int rc = conv_list(r, &items, &a->count, sizeof(*a->items), parse_group, group_free);
    a->items = items;
    return rc;
}

static int conv_consumers(const vmux_reply *r, void *out)
{
    vmux_stream_consumer_info_array *a = out;
    void *items;
    int rc = conv_list(r, &items, &a->count, sizeof(*a->items), parse_consumer, consumer_free);
    a->items = items;
    return rc;
}

static void release_groups(void *p)
{
    vmux_stream_group_info_array_free(p);
}

static void release_info(void *p)
{
    vmux_stream_info_free(p);
}

static void release_consumers(void *p)
{
    vmux_stream_consumer_info_array_free(p);
}

int vmux_reply_to_stream_info(const vmux_reply *r, vmux_stream_info *out)
{
    return vmux__convert_into(r, conv_info, out, sizeof(*out), release_info);
}

int vmux_reply_to_stream_groups(const vmux_reply *r, vmux_stream_group_info_array *out)
{
    return vmux__convert_into(r, conv_groups, out, sizeof(*out), release_groups);
}

int vmux_reply_to_stream_consumers(const vmux_reply *r, vmux_stream_consumer_info_array *out)
{
    return vmux__convert_into(r, conv_consumers, out, sizeof(*out), release_consumers);
}

/* ---- the commands: reads, retry-safe ---- */

int vmux_xinfo_stream(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_stream_info *info)
{
    struct vmux_args a;
    vmux__args_sub_key_command(&a, "XINFO", "STREAM", key);
    return vmux__typed_run_into(m, opts, &a, true, conv_info, info, sizeof(*info), release_info);
}

int vmux_xinfo_groups(vmux *m, const vmux_callopts *opts, vmux_str key,
                      vmux_stream_group_info_array *groups)
{
    struct vmux_args a;
    vmux__args_sub_key_command(&a, "XINFO", "GROUPS", key);
    return vmux__typed_run_into(m, opts, &a, true, conv_groups, groups, sizeof(*groups),
                                release_groups);
}

int vmux_xinfo_consumers(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                         vmux_stream_consumer_info_array *consumers)
{
    struct vmux_args a;
    vmux__args_sub_key_command(&a, "XINFO", "CONSUMERS", key);
    vmux__args_str(&a, group);
    return vmux__typed_run_into(m, opts, &a, true, conv_consumers, consumers, sizeof(*consumers),
                                release_consumers);
}
