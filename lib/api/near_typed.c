/*
 * Typed tracked reads through the near cache (vmux/near.h): HGET, HGETALL and SMEMBERS as kinds
 * of api/near_read.h. Each is held under its key and a variant of its own: "f" and the field
 * (HGET), "h" (HGETALL), "s" (SMEMBERS); GET's variant is empty. The variants cannot collide:
 * only HGET's is longer than one byte. HGETALL and SMEMBERS keep their replies encoded
 * (api/near_codec.h); a hash or set that does not exist is not stored, as GET's nil.
 */
#include "vmux/near.h"

#include <stdlib.h>
#include <string.h>

#include "api/near_codec.h"
#include "api/near_read.h"
#include "api/typed.h"
#include "vmux/error.h"

/* HGET: the value's bytes as they are; nil is a missing field (the key may exist). */
static int hget_image(const vmux_reply *r, struct vmux_near_image *img)
{
    return vmux__near_string_image(r, VMUX_NEAR_FOUND_NONE, img);
}

/* HGETALL, SMEMBERS: an array of strings, encoded; empty is a missing key. */
static int array_image(const vmux_reply *r, struct vmux_near_image *img, size_t multiple)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) % multiple != 0)
        return VMUX_ERR_PROTOCOL;
    if (vmux_reply_len(r) == 0) {
        img->found = VMUX_NEAR_FOUND_GONE;
        return 0;
    }
    int rc = vmux__near_encode_strings(r, &img->enc);
    img->found = VMUX_NEAR_FOUND_VALUE;
    img->bytes = img->enc.data;
    img->len = img->enc.len;
    return rc;
}

static int hgetall_image(const vmux_reply *r, struct vmux_near_image *img)
{
    return array_image(r, img, 2);
}

static int smembers_image(const vmux_reply *r, struct vmux_near_image *img)
{
    return array_image(r, img, 1);
}

/* SMEMBERS' result: the members; none (items not NULL) for a missing key, as vmux_smembers(). */
static int give_members(const void *bytes, size_t len, void *out)
{
    vmux_bytes_array *a = out;
    if (bytes != NULL)
        return vmux__near_decode_strings(bytes, len, a);
    a->count = 0;
    a->items = calloc(1, sizeof(*a->items));
    return a->items != NULL ? 0 : VMUX_ERR_NOMEM;
}

/* HGETALL's result: the pairs in the server's order; none for a missing key, as vmux_hgetall(). */
static int give_fields(const void *bytes, size_t len, void *out)
{
    vmux_bytes_array flat;
    int rc = give_members(bytes, len, &flat);
    if (rc != 0) {
        memset(out, 0, sizeof(vmux_field_array));
        return rc;
    }
    return vmux__pair_up(&flat, out);
}

static const struct vmux_near_kind HGET_KIND = {hget_image, vmux__near_give_bytes};
static const struct vmux_near_kind HGETALL_KIND = {hgetall_image, give_fields};
static const struct vmux_near_kind SMEMBERS_KIND = {smembers_image, give_members};

static bool bad_str(vmux_str s)
{
    return s.ptr == NULL && s.len > 0;
}

/* Words for a refused near read: the handle, then out (named out_name), key, field (in that order).
 */
static int refuse(const vmux_callopts *opts, const vmux *m, const void *out, const char *out_name,
                  vmux_str key, vmux_str field)
{
    if (m == NULL)
        return vmux__typed_refuse(opts, "the handle is NULL");
    if (out == NULL)
        return vmux__typed_refuse(opts, "%s is NULL", out_name);
    return vmux__typed_refuse(opts,
                              "%s is at NULL with length %zu (a vmux_str {NULL, len > 0} is "
                              "no string)",
                              bad_str(key) ? "key" : "field", bad_str(key) ? key.len : field.len);
}

/* A read of one key and no other argument: HGETALL or SMEMBERS. */
static int read_key(vmux *m, const vmux_callopts *opts, const struct vmux_near_kind *kind,
                    const char *cmd, const char *tag, vmux_str key, void *out)
{
    const char *argv[] = {cmd, vmux__near_key_bytes(key)};
    const size_t lens[] = {strlen(cmd), key.len};
    const struct vmux_near_read rd = {kind, key, tag, 1, 2, argv, lens};
    return vmux__near_read(m, opts, &rd, out);
}

int vmux_near_hgetall(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_field_array *fields)
{
    if (fields != NULL)
        memset(fields, 0, sizeof(*fields));
    if (m == NULL || fields == NULL || bad_str(key))
        return refuse(opts, m, fields, "fields", key, (vmux_str){0});
    return read_key(m, opts, &HGETALL_KIND, "HGETALL", "h", key, fields);
}

int vmux_near_smembers(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes_array *members)
{
    if (members != NULL)
        memset(members, 0, sizeof(*members));
    if (m == NULL || members == NULL || bad_str(key))
        return refuse(opts, m, members, "members", key, (vmux_str){0});
    return read_key(m, opts, &SMEMBERS_KIND, "SMEMBERS", "s", key, members);
}

/* HGET's variant: "f" and the field, in buf when it fits (else allocated: *owned). */
static const char *field_variant(vmux_str field, char *buf, size_t cap, char **owned)
{
    char *v = field.len < cap ? buf : malloc(field.len + 1);
    *owned = v != buf ? v : NULL;
    if (v == NULL)
        return NULL;
    v[0] = 'f';
    if (field.len > 0)
        memcpy(v + 1, field.ptr, field.len);
    return v;
}

int vmux_near_hget(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                   vmux_bytes *value)
{
    if (value != NULL)
        memset(value, 0, sizeof(*value));
    if (m == NULL || value == NULL || bad_str(key) || bad_str(field))
        return refuse(opts, m, value, "value", key, field);
    if (field.len == SIZE_MAX)
        return vmux__typed_refuse(opts, "field's length is SIZE_MAX: no buffer has it");
    char buf[256], *owned;
    const char *var = field_variant(field, buf, sizeof(buf), &owned);
    if (var == NULL)
        return VMUX_ERR_NOMEM;
    const char *argv[] = {"HGET", vmux__near_key_bytes(key), field.ptr != NULL ? field.ptr : ""};
    const size_t lens[] = {4, key.len, field.len};
    const struct vmux_near_read rd = {&HGET_KIND, key, var, field.len + 1, 3, argv, lens};
    int rc = vmux__near_read(m, opts, &rd, value);
    free(owned);
    return rc;
}
